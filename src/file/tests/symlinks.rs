//! Symlinks: one inside the root that points inside it is served, one that
//! leads out of the root is `404`, and swapping a folder for a symlink while
//! requests run never serves a byte from outside (the file opened is the
//! one checked).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::http::header;

use super::{get, send};
use crate::file::path::{Resolver, open_file_with};
use crate::file::{Refusal, Source};

/// A root with `inside.txt` and `sub/nested.txt`, and a folder outside it
/// with `secret.txt`.
struct Tree {
    root: tempfile::TempDir,
    outside: tempfile::TempDir,
}

fn tree() -> Tree {
    let root = tempfile::tempdir().expect("temp dir");
    let outside = tempfile::tempdir().expect("temp dir");
    std::fs::write(root.path().join("inside.txt"), "inside").expect("write");
    std::fs::create_dir(root.path().join("sub")).expect("mkdir");
    std::fs::write(root.path().join("sub/nested.txt"), "nested").expect("write");
    std::fs::write(outside.path().join("secret.txt"), "secret").expect("write");
    Tree { root, outside }
}

fn link(target: impl AsRef<Path>, at: impl AsRef<Path>) {
    std::os::unix::fs::symlink(target, at).expect("symlink");
}

#[actix_web::test]
async fn symlinks_that_stay_inside_the_root_are_served() {
    let tree = tree();
    let root = tree.root.path();
    link("inside.txt", root.join("alias.txt"));
    link("../inside.txt", root.join("sub/up.txt"));
    link("sub", root.join("folder"));
    link("folder/nested.txt", root.join("chain.txt"));
    // An absolute target naming a file under the root.
    let real_root = root.canonicalize().expect("canonical root");
    link(real_root.join("sub/nested.txt"), root.join("absolute.txt"));
    let table = [
        ("/f/alias.txt", "inside"),
        ("/f/sub/up.txt", "inside"),
        ("/f/folder/nested.txt", "nested"),
        ("/f/chain.txt", "nested"),
        ("/f/absolute.txt", "nested"),
    ];
    for (path, body) in table {
        let reply = send(root, get(path)).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert_eq!(reply.body, body, "{path}");
        assert_eq!(
            reply.header(header::CONTENT_TYPE),
            Some("text/plain; charset=utf-8"),
            "{path}"
        );
    }
}

#[actix_web::test]
async fn symlinks_that_lead_out_of_the_root_are_404() {
    let tree = tree();
    let root = tree.root.path();
    let outside = tree.outside.path();
    link(outside, root.join("out"));
    link(outside.join("secret.txt"), root.join("secret.txt"));
    let depth = root.components().count();
    let up = "../".repeat(depth);
    link(
        format!("{up}{}", outside.join("secret.txt").display()),
        root.join("dotdot.txt"),
    );
    link("sub/../../x", root.join("escape.txt"));
    link("/proc/self/root/etc/passwd", root.join("passwd.txt"));
    link("loop.txt", root.join("loop.txt"));
    for path in [
        "/f/out/secret.txt",
        "/f/secret.txt",
        "/f/dotdot.txt",
        "/f/escape.txt",
        "/f/passwd.txt",
        "/f/loop.txt",
        "/f/out",
    ] {
        let reply = send(root, get(path)).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(reply.body, "not found\n", "{path}");
    }
}

/// Swaps `a` and `b` (a folder and a symlink) atomically, again and again,
/// until `stop` is set.
fn keep_swapping(a: PathBuf, b: PathBuf, stop: Arc<AtomicBool>) {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    while !stop.load(Ordering::Relaxed) {
        renameat_with(CWD, &a, CWD, &b, RenameFlags::EXCHANGE).expect("renameat2 exchange");
    }
}

/// `d/file.txt` under the root ("inside"), while a thread keeps swapping the
/// folder `d` for a symlink to a folder outside holding "secret" at the same
/// name. Stops the swapping on drop.
struct Swapping {
    tree: Tree,
    stop: Arc<AtomicBool>,
    swapper: Option<std::thread::JoinHandle<()>>,
}

impl Swapping {
    fn start() -> Swapping {
        let tree = tree();
        let root = tree.root.path();
        std::fs::create_dir(tree.outside.path().join("d")).expect("mkdir");
        std::fs::write(tree.outside.path().join("d/file.txt"), "secret").expect("write");
        std::fs::create_dir(root.join("d")).expect("mkdir");
        std::fs::write(root.join("d/file.txt"), "inside").expect("write");
        link(tree.outside.path().join("d"), root.join("swap"));
        let stop = Arc::new(AtomicBool::new(false));
        let swapper = std::thread::spawn({
            let (a, b, stop) = (root.join("d"), root.join("swap"), Arc::clone(&stop));
            move || keep_swapping(a, b, stop)
        });
        Swapping {
            tree,
            stop,
            swapper: Some(swapper),
        }
    }

    fn root(&self) -> &Path {
        self.tree.root.path()
    }
}

impl Drop for Swapping {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(swapper) = self.swapper.take() {
            let _ = swapper.join();
        }
    }
}

/// What one open of `d/file.txt` gave.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Served(Vec<u8>),
    NotFound,
}

/// Opens `d/file.txt` with `open` until it was both served and refused
/// 2000 times (or 3 s passed); the first content other than "inside", if
/// any, and how often each outcome came.
async fn race<F: Future<Output = Seen>>(open: impl Fn() -> F) -> (Option<Vec<u8>>, u32, u32) {
    let (mut served, mut refused) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline && (served < 2000 || refused < 2000) {
        match open().await {
            Seen::Served(bytes) if bytes == b"inside" => served += 1,
            Seen::Served(bytes) => return (Some(bytes), served, refused),
            Seen::NotFound => refused += 1,
        }
    }
    (None, served, refused)
}

#[actix_web::test]
async fn a_folder_swapped_for_a_symlink_out_of_the_root_never_serves_what_is_outside() {
    let swapping = Swapping::start();
    let root = swapping.root().to_path_buf();
    let req = get("/f/d/file.txt").to_http_request();
    let (leaked, served, refused) = race(|| async {
        match crate::file::open::open(&root, "d/file.txt", &req).await {
            Ok(opened) => match opened.source {
                Source::Memory(bytes) => Seen::Served(bytes.to_vec()),
                Source::File(_) => panic!("a small file is read as it is opened"),
            },
            Err(Refusal::NotFound) => Seen::NotFound,
            Err(other) => panic!("{other:?}"),
        }
    })
    .await;
    assert_eq!(leaked, None, "served from outside the root");
    assert!(
        served > 0 && refused > 0,
        "{served} served, {refused} refused"
    );
}

#[actix_web::test]
async fn the_walk_without_openat2_never_serves_what_is_outside_either() {
    let swapping = Swapping::start();
    let root = swapping.root().to_path_buf();
    let (leaked, served, refused) = race(|| async {
        let opened = open_file_with(&root, Path::new("d/file.txt"), Resolver::Walk);
        match opened {
            Ok((file, _)) => Seen::Served(std::io::read_to_string(file).expect("reads").into()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Seen::NotFound,
            Err(err) => panic!("{err:?}"),
        }
    })
    .await;
    assert_eq!(leaked, None, "served from outside the root");
    assert!(
        served > 0 && refused > 0,
        "{served} served, {refused} refused"
    );
}
