//! Files through the streaming responder: the media routes of the real
//! binary, a differential test against actix-files' `NamedFile`, the
//! traversal corpus, and a 1 GiB sparse file to a slow reader (flat memory,
//! HEAD at once).

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::thread::JoinHandle;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpServer, web};

use crate::util::{Client, Server, assets_dir};

// Ranges, conditionals and HEAD against actix-files' `NamedFile`.
mod differential;
// A 1 GiB sparse file: HEAD at once, flat memory to a slow reader.
mod large;
// Traversal attempts never serve a byte from outside the root.
mod traversal;

/// An actix server on 127.0.0.1, port 0, in its own thread; stopped on drop.
pub struct Local {
    pub addr: SocketAddr,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
}

impl Local {
    /// Starts one worker serving the routes that `configure` registers.
    pub fn start<F>(configure: F) -> Local
    where
        F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binds");
        let addr = listener.local_addr().expect("an address");
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let system = actix_web::rt::System::new();
            let server = HttpServer::new(move || App::new().configure(configure.clone()))
                .workers(1)
                .h1_allow_half_closed(false)
                .disable_signals()
                .listen(listener)
                .expect("listens")
                .run();
            tx.send(server.handle()).expect("handle sent");
            let _ = system.block_on(server);
        });
        let handle = rx.recv().expect("server started");
        Local {
            addr,
            handle,
            thread: Some(thread),
        }
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        // `stop` sends its command at once; the returned future only waits.
        drop(self.handle.stop(false));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `serve_file` over `root` at `/f/{path}`.
pub fn files(root: PathBuf) -> impl Fn(&mut web::ServiceConfig) + Send + Clone + 'static {
    move |cfg| {
        cfg.app_data(web::Data::new(root.clone()))
            .route("/f/{path:.*}", web::route().to(serve_under_root));
    }
}

async fn serve_under_root(req: HttpRequest, root: web::Data<PathBuf>) -> pagepipe::Streamed {
    let path = req.match_info().get("path").unwrap_or_default().to_owned();
    pagepipe::serve_file(root.as_path(), &path, &req).await
}

pub fn file_len(name: &str) -> u64 {
    std::fs::metadata(assets_dir().join(name))
        .expect("bundled asset")
        .len()
}

// ---- the demo's media routes, against the real binary ----

#[tokio::test]
async fn stream_video_answers_the_safari_probe_with_exactly_two_bytes() {
    let server = Server::start();
    let mut client = Client::connect(server.addr).await;
    let response = client
        .request("GET", "/stream-video", "Range: bytes=0-1\r\n")
        .await;
    assert_eq!(response.status, 206);
    let len = file_len("video.mp4");
    let content_range = format!("bytes 0-1/{len}");
    assert_eq!(response.header("content-range"), Some(&*content_range));
    assert_eq!(response.header("content-length"), Some("2"));
    assert_eq!(response.header("content-type"), Some("video/mp4"));
    assert_eq!(response.header("accept-ranges"), Some("bytes"));
    assert_eq!(response.header("content-encoding"), None);
    let body: Vec<u8> = response
        .chunks
        .iter()
        .flat_map(|(_, c)| c.clone())
        .collect();
    assert_eq!(body, [0, 0]);
    // The same connection goes on to the open-ended request a player sends.
    let response = client
        .request("GET", "/stream-video", "Range: bytes=0-\r\n")
        .await;
    assert_eq!(response.status, 206);
    let whole = format!("bytes 0-{}/{len}", len - 1);
    assert_eq!(response.header("content-range"), Some(&*whole));
    let body: Vec<u8> = response
        .chunks
        .iter()
        .flat_map(|(_, c)| c.clone())
        .collect();
    assert_eq!(body, std::fs::read(assets_dir().join("video.mp4")).unwrap());
}

#[tokio::test]
async fn stream_image_is_a_jpeg_and_head_has_its_length() {
    let server = Server::start();
    let mut client = Client::connect(server.addr).await;
    let head = client.request("HEAD", "/stream-image", "").await;
    assert_eq!(head.status, 200);
    let len = file_len("image.jpg").to_string();
    assert_eq!(head.header("content-length"), Some(&*len));
    assert_eq!(head.header("content-type"), Some("image/jpeg"));
    let get = client.request("GET", "/stream-image", "").await;
    let body: Vec<u8> = get.chunks.iter().flat_map(|(_, c)| c.clone()).collect();
    assert_eq!(body.len().to_string(), len);
    assert!(body.starts_with(&[0xFF, 0xD8, 0xFF]) && body.ends_with(&[0xFF, 0xD9]));
}

#[tokio::test]
async fn assets_route_serves_sample_html_with_validators_and_304() {
    let server = Server::start();
    let mut client = Client::connect(server.addr).await;
    let response = client.request("GET", "/assets/sample.html", "").await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(response.header("cache-control").is_some());
    assert!(response.text().starts_with("<!doctype html>"));
    let etag = response.header("etag").expect("an etag").to_owned();
    let revalidate = format!("If-None-Match: {etag}\r\n");
    let not_modified = client
        .request("GET", "/assets/sample.html", &revalidate)
        .await;
    assert_eq!(not_modified.status, 304);
    assert_eq!(not_modified.header("etag"), Some(&*etag));
    // The connection is still usable: the 304 carried no body.
    assert_eq!(
        client.request("HEAD", "/stream-video", "").await.status,
        200
    );
}

#[tokio::test]
async fn media_routes_refuse_other_methods_with_405_and_allow() {
    let server = Server::start();
    let mut client = Client::connect(server.addr).await;
    for target in ["/stream-image", "/stream-video", "/assets/sample.html"] {
        let response = client
            .request("POST", target, "Content-Length: 0\r\n")
            .await;
        assert_eq!(response.status, 405, "{target}");
        let allow = response.header("allow").unwrap_or_default();
        assert!(
            allow.contains("GET") && allow.contains("HEAD"),
            "{target}: {allow}"
        );
    }
}
