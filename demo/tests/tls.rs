//! The demo over TLS (`--tls-cert`, `--tls-key`, PEM files made in the
//! test): it says `https://`, negotiates HTTP/2 or HTTP/1.1 by ALPN, streams
//! its pages, and refuses files that are not a certificate and key.

use pagepipe::rustls;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::util::Server;

#[path = "../../tests/support/tls.rs"]
#[allow(
    clippy::unwrap_used,
    reason = "test support: a failed unwrap is a failed test"
)]
mod support;
use support::{certificate, connect};

#[tokio::test]
async fn with_a_certificate_the_demo_serves_https_and_offers_http_2() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, der) = certificate(dir.path());
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let server = Server::start_with(&["--tls-cert", &cert, "--tls-key", &key], &[]);
    let h2 = connect(server.addr, &der, &[b"h2", b"http/1.1"]).await;
    assert_eq!(h2.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let mut tls = connect(server.addr, &der, &[b"http/1.1"]).await;
    tls.write_all(
        b"GET /bench?delays=0,50&bytes=8 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut page = String::new();
    tls.read_to_string(&mut page).await.unwrap();
    assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
    assert!(
        page.contains("section 0 ready") && page.contains("section 1 ready"),
        "{page}"
    );
}

#[test]
fn files_that_are_not_a_certificate_and_key_are_refused_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("bogus.pem");
    std::fs::write(&bogus, "not a certificate").unwrap();
    let bogus = bogus.display().to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pagepipe"))
        .args([
            "--addr",
            "127.0.0.1:0",
            "--tls-cert",
            &bogus,
            "--tls-key",
            &bogus,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--tls-cert/--tls-key") && err.contains("bogus.pem"),
        "{err}"
    );
    let only_cert = std::process::Command::new(env!("CARGO_BIN_EXE_pagepipe"))
        .args(["--addr", "127.0.0.1:0", "--tls-cert", &bogus])
        .output()
        .unwrap();
    assert_eq!(
        only_cert.status.code(),
        Some(2),
        "clap refuses a cert without a key"
    );
}
