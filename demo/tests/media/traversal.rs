//! Traversal corpus: encoded `..`, backslashes, NUL, absolute paths and
//! symlinks out of the root answer 400 or 404, never a byte from outside.

use crate::media::{Local, files};
use crate::util::{Client, Server};

#[tokio::test]
async fn traversal_corpus_never_leaves_the_assets_folder() {
    let server = Server::start();
    let corpus = [
        "/assets/../Cargo.toml",
        "/assets/../../../../etc/passwd",
        "/assets/..%2fCargo.toml",
        "/assets/..%2FCargo.toml",
        "/assets/%2e%2e%2fCargo.toml",
        "/assets/%2e%2e/Cargo.toml",
        "/assets/.%2e/Cargo.toml",
        "/assets/%252e%252e%252fCargo.toml",
        "/assets/..%5cCargo.toml",
        "/assets/..\\Cargo.toml",
        "/assets/sample.html%00.png",
        "/assets/%00",
        "/assets//etc/passwd",
        "/assets/%2fetc%2fpasswd",
        "/assets/%2Fetc/passwd",
        "/assets/C:%5cWindows%5cwin.ini",
        "/assets/.gitkeep",
        "/assets/",
    ];
    for target in corpus {
        let response = Client::connect(server.addr)
            .await
            .request("GET", target, "")
            .await;
        assert!(
            matches!(response.status, 400 | 404),
            "{target}: {}",
            response.status
        );
        let body = String::from_utf8_lossy(
            &response
                .chunks
                .iter()
                .flat_map(|(_, c)| c.clone())
                .collect::<Vec<u8>>(),
        )
        .into_owned();
        assert!(
            !body.contains("[package]") && !body.contains("root:"),
            "{target}: {body}"
        );
        assert!(
            body.len() < 100,
            "{target}: only a short reason, got {body:?}"
        );
    }
}

#[tokio::test]
async fn a_symlink_out_of_the_root_is_404_and_one_inside_is_served() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "secret").unwrap();
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("inside.txt"), "inside").unwrap();
    std::os::unix::fs::symlink(outside.path(), root.path().join("out")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), root.path().join("s.txt"))
        .unwrap();
    std::os::unix::fs::symlink("inside.txt", root.path().join("alias.txt")).unwrap();
    let local = Local::start(files(root.path().to_path_buf()));
    for target in ["/f/out/secret.txt", "/f/s.txt", "/f/out/"] {
        let response = crate::util::get(local.addr, target).await;
        assert_eq!(response.status, 404, "{target}");
        assert!(!response.text().contains("secret"), "{target}");
    }
    let alias = crate::util::get(local.addr, "/f/alias.txt").await;
    assert_eq!(alias.status, 200);
    assert_eq!(alias.text(), "inside");
}

#[tokio::test]
async fn a_file_name_followed_by_a_slash_or_a_dot_segment_is_404() {
    let server = Server::start();
    let mut client = Client::connect(server.addr).await;
    for target in [
        "/assets/site.css/",
        "/assets/site.css/.",
        "/assets/site.css/%2e",
        "/assets/site.css%2f",
    ] {
        let response = client.request("GET", target, "").await;
        assert_eq!(response.status, 404, "{target}");
        assert_eq!(response.text(), "not found\n", "{target}");
        assert_eq!(
            response.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
    }
    let css = client.request("GET", "/assets/site.css", "").await;
    assert_eq!(css.status, 200);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
}
