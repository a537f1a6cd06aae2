//! Files kept in memory by a [`Files`] mount: answered without the
//! blocking pool, a change on disk served on the next request, a version
//! written just now not kept, each negotiated coding kept apart.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use actix_web::dev::Service as _;
use actix_web::http::header;
use actix_web::test::{TestRequest, init_service};
use actix_web::{App, Responder as _};
use bytes::Bytes;

use super::super::kept::Kept;
use super::super::serve;
use super::{LEN, Reply, bytes, fixture, get, mtime};
use crate::Files;

/// A runtime whose blocking pool has one thread, so a test can fill it.
fn one_blocking_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(1)
        .build()
        .expect("runtime")
}

/// The body `path` under `root` gets through `kept`, or `None` if it is
/// not answered within `wait`.
async fn body_within(
    root: &Path,
    path: &str,
    kept: Option<&Kept>,
    wait: Duration,
) -> Option<Bytes> {
    let req = TestRequest::get().to_http_request();
    let streamed = tokio::time::timeout(wait, serve(root, path, &req, kept))
        .await
        .ok()?;
    let body = streamed.respond_to(&req).into_body();
    let bytes = tokio::time::timeout(wait, actix_web::body::to_bytes(body)).await;
    match bytes.ok()? {
        Ok(bytes) => Some(bytes),
        Err(err) => panic!("the body failed: {err}"),
    }
}

/// Occupies the only blocking thread until the returned sender is dropped.
fn fill_blocking_pool() -> mpsc::Sender<()> {
    let (release, wait) = mpsc::channel::<()>();
    tokio::task::spawn_blocking(move || {
        let _ = wait.recv();
    });
    release
}

#[test]
fn a_kept_file_is_answered_while_the_blocking_pool_is_busy() {
    one_blocking_thread().block_on(async {
        let dir = fixture();
        let kept = Kept::new(1 << 20).expect("a budget");
        let long = Duration::from_secs(5);
        let first = body_within(dir.path(), "data.bin", Some(&kept), long).await;
        assert_eq!(first.as_deref(), Some(&bytes(0, LEN - 1)[..]));

        let release = fill_blocking_pool();
        let again = body_within(dir.path(), "data.bin", Some(&kept), long).await;
        assert_eq!(again.as_deref(), Some(&bytes(0, LEN - 1)[..]));
        // The control: a file not kept needs the pool, so it waits.
        let short = Duration::from_millis(300);
        let unkept = body_within(dir.path(), "page.html", Some(&kept), short).await;
        assert_eq!(unkept, None, "page.html was answered without the pool");
        let uncached = body_within(dir.path(), "data.bin", None, short).await;
        assert_eq!(uncached, None, "serving without a store used the pool");
        drop(release);
    });
}

#[test]
fn a_file_written_within_the_last_second_is_not_kept() {
    one_blocking_thread().block_on(async {
        let dir = fixture();
        // Stamped a minute ahead, so it is not yet a second old however
        // slowly this test runs (a clock set back looks the same).
        let path = dir.path().join("new.txt");
        std::fs::write(&path, "fresh").expect("write");
        let file = std::fs::File::options()
            .write(true)
            .open(&path)
            .expect("open");
        file.set_modified(std::time::SystemTime::now() + Duration::from_secs(60))
            .expect("set mtime");
        let kept = Kept::new(1 << 20).expect("a budget");
        let long = Duration::from_secs(5);
        let first = body_within(dir.path(), "new.txt", Some(&kept), long).await;
        assert_eq!(first.as_deref(), Some(&b"fresh"[..]));

        let release = fill_blocking_pool();
        let short = Duration::from_millis(300);
        let again = body_within(dir.path(), "new.txt", Some(&kept), short).await;
        assert_eq!(again, None, "a version written just now was kept");
        drop(release);
    });
}

#[test]
fn a_budget_of_zero_keeps_nothing() {
    assert!(Kept::new(0).is_none());
}

/// Writes `content` to `name` under `root` with the fixture's mtime moved
/// by `secs`, in place (same inode).
fn rewrite(root: &Path, name: &str, content: &[u8], secs: u64) {
    let path = root.join(name);
    std::fs::write(&path, content).expect("write");
    let file = std::fs::File::options()
        .write(true)
        .open(&path)
        .expect("open");
    file.set_modified(mtime() + Duration::from_secs(secs))
        .expect("set mtime");
}

#[actix_web::test]
async fn a_file_changed_on_disk_is_served_new_on_the_next_request() {
    let dir = fixture();
    let app = init_service(App::new().service(Files::new("/assets", dir.path()))).await;
    let send = async |req: TestRequest| {
        Reply::of(app.call(req.to_request()).await.expect("service answers")).await
    };
    let first = send(get("/assets/data.bin")).await;
    assert_eq!(first.body, bytes(0, LEN - 1));

    // Same length, in place, another mtime.
    rewrite(dir.path(), "data.bin", &[b'x'; LEN], 60);
    let second = send(get("/assets/data.bin")).await;
    assert_eq!(second.body, vec![b'x'; LEN]);
    assert_ne!(second.header(header::ETAG), first.header(header::ETAG));

    // Same length and mtime, but another file renamed over it.
    let replacement = dir.path().join("replacement");
    std::fs::write(&replacement, [b'y'; LEN]).expect("write");
    let file = std::fs::File::options()
        .write(true)
        .open(&replacement)
        .expect("open");
    file.set_modified(mtime() + Duration::from_secs(60))
        .expect("set mtime");
    std::fs::rename(&replacement, dir.path().join("data.bin")).expect("rename");
    let third = send(get("/assets/data.bin")).await;
    assert_eq!(third.body, vec![b'y'; LEN]);

    // Gone: 404, not the kept bytes.
    std::fs::remove_file(dir.path().join("data.bin")).expect("remove");
    let gone = send(get("/assets/data.bin")).await;
    assert_eq!(gone.status, actix_web::http::StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn each_negotiated_coding_is_kept_apart() {
    let dir = fixture();
    let css = "body { color: black }\n".repeat(40);
    rewrite(dir.path(), "site.css", css.as_bytes(), 0);
    let app = init_service(App::new().service(Files::new("/assets", dir.path()))).await;
    let send = async |coding: Option<&str>| {
        let mut req = get("/assets/site.css");
        if let Some(coding) = coding {
            req = req.insert_header((header::ACCEPT_ENCODING, coding));
        }
        Reply::of(app.call(req.to_request()).await.expect("service answers")).await
    };
    for round in 0..2 {
        let br = send(Some("br")).await;
        assert_eq!(
            br.header(header::CONTENT_ENCODING),
            Some("br"),
            "round {round}"
        );
        let mut decoded = Vec::new();
        brotli::BrotliDecompress(&mut &br.body[..], &mut decoded).expect("brotli");
        assert_eq!(decoded, css.as_bytes());
        let gzip = send(Some("gzip")).await;
        assert_eq!(
            gzip.header(header::CONTENT_ENCODING),
            Some("gzip"),
            "round {round}"
        );
        let identity = send(None).await;
        assert_eq!(
            identity.header(header::CONTENT_ENCODING),
            None,
            "round {round}"
        );
        assert_eq!(identity.body, css.as_bytes());
        assert_ne!(br.header(header::ETAG), identity.header(header::ETAG));
    }
}

#[actix_web::test]
async fn a_head_or_conditional_request_is_answered_from_what_is_kept() {
    let dir = fixture();
    let app = init_service(App::new().service(Files::new("/assets", dir.path()))).await;
    let full = Reply::of(
        app.call(get("/assets/data.bin").to_request())
            .await
            .expect("answers"),
    )
    .await;
    let etag = full.header(header::ETAG).expect("etag").to_owned();
    let revalidated = app
        .call(
            get("/assets/data.bin")
                .insert_header((header::IF_NONE_MATCH, etag.as_str()))
                .to_request(),
        )
        .await
        .expect("answers");
    assert_eq!(
        revalidated.status(),
        actix_web::http::StatusCode::NOT_MODIFIED
    );
    let ranged = app
        .call(
            get("/assets/data.bin")
                .insert_header((header::RANGE, "bytes=10-19"))
                .to_request(),
        )
        .await
        .expect("answers");
    let ranged = Reply::of(ranged).await;
    assert_eq!(ranged.body, bytes(10, 19));
    assert_eq!(ranged.length, actix_web::body::BodySize::Sized(10));
}
