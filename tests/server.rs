//! A server built the way the README says (`configure_server`), over real
//! sockets on 127.0.0.1: a client that leaves cancels its page's loaders.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a failed unwrap is a failed test"
)]

use std::time::Duration;

use actix_web::{App, HttpServer, web};
use askama::Template;
use pagepipe::{BoxError, Page, Section};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::mpsc;

#[derive(Template)]
#[template(
    source = "<html><body><h1>shell</h1>{{ pagepipe::slot(\"slow\") }}</body></html>",
    ext = "html"
)]
struct Shell;

#[derive(Template)]
#[template(source = "loading", ext = "html")]
struct Loading;

#[derive(Template)]
#[template(source = "never", ext = "html")]
struct Never;

/// Sends on its channel when dropped: the loader was cancelled.
struct Dropped(mpsc::UnboundedSender<()>);

impl Drop for Dropped {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

#[actix_web::test]
async fn a_client_that_leaves_cancels_its_loaders() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = pagepipe::configure_server(HttpServer::new(move || {
        let tx = tx.clone();
        App::new().route(
            "/",
            web::get().to(move || {
                let guard = Dropped(tx.clone());
                async move {
                    Page::new(Shell).section(Section::new("slow", Loading, async move {
                        let _guard = guard;
                        std::future::pending::<()>().await;
                        Ok::<_, BoxError>(Never)
                    }))
                }
            }),
        )
    }))
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);

    let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0; 4096];
    while !String::from_utf8_lossy(&seen).contains("<h1>shell</h1>") {
        let read = client.read(&mut buf).await.unwrap();
        assert!(read > 0, "the shell arrives");
        seen.extend_from_slice(&buf[..read]);
    }
    drop(client);

    // The page's deadline is 30 s away; only the client leaving ends it.
    let cancelled = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
    assert!(matches!(cancelled, Ok(Some(()))), "the loader was dropped");
    handle.stop(false).await;
}
