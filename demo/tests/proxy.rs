//! `--video-upstream`: `/stream-video` relays a second local server on
//! 127.0.0.1: ranges and validators pass through, hop-by-hop headers do not,
//! a failing upstream is a 502, and a client that leaves cancels the
//! upstream request.

use std::sync::mpsc;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use bytes::Bytes;
use futures_util::stream;

use crate::media::Local;
use crate::util::{Client, Server, assets_dir};

/// Records that the upstream's body stream was dropped.
struct DropGuard(mpsc::Sender<()>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// The upstream: the bundled video through actix-files, and a few oddities
/// (those tested with HEAD too answer every method).
fn upstream(dropped: mpsc::Sender<()>) -> Local {
    Local::start(move |cfg| {
        let dropped = dropped.clone();
        cfg.route(
            "/video.mp4",
            web::route()
                .to(|| async { actix_files::NamedFile::open(assets_dir().join("video.mp4")) }),
        )
        .route("/plain", web::get().to(plain))
        .route("/redirect", web::route().to(redirect))
        .route(
            "/other",
            web::get().to(|| async {
                HttpResponse::Ok()
                    .content_type("video/mp4")
                    .body("internal only")
            }),
        )
        .route(
            "/html",
            web::route().to(|| async {
                HttpResponse::Ok()
                    .content_type("text/html; charset=utf-8")
                    .body("<script>alert(document.cookie)</script>")
            }),
        )
        .route(
            "/svg",
            web::route().to(|| async {
                HttpResponse::Ok().content_type("image/svg+xml").body(
                    "<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>",
                )
            }),
        )
        .route(
            "/octets",
            web::route().to(|| async {
                HttpResponse::Ok()
                    .content_type("application/octet-stream")
                    .body("<script>alert(1)</script>")
            }),
        )
        .route(
            "/untyped",
            web::route().to(|| async {
                HttpResponse::Ok().body(Bytes::from_static(b"<script>alert(1)</script>"))
            }),
        )
        .route(
            "/audio",
            web::get().to(|| async {
                HttpResponse::Ok()
                    .content_type("audio/mpeg")
                    .body("ID3 audio")
            }),
        )
        .route(
            "/missing",
            web::get().to(|| async {
                HttpResponse::NotFound()
                    .content_type("text/html")
                    .body("<script>alert(1)</script>")
            }),
        )
        .route(
            "/error",
            web::get().to(|| async { HttpResponse::ServiceUnavailable().body("down") }),
        )
        .route(
            "/endless",
            web::get().to(move || {
                let guard = DropGuard(dropped.clone());
                async move { endless(guard) }
            }),
        );
    })
}

/// A 200 with hop-by-hop and unknown headers and no `Accept-Ranges`.
async fn plain() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("content-type", "video/mp4"))
        .insert_header(("keep-alive", "timeout=5"))
        .insert_header(("proxy-authenticate", "Basic"))
        .insert_header(("x-upstream-internal", "secret"))
        .body("0123456789")
}

/// A `302` to another path of the same server, by its absolute URL.
async fn redirect(req: actix_web::HttpRequest) -> HttpResponse {
    let location = format!("http://{}/other", req.app_config().local_addr());
    HttpResponse::Found()
        .insert_header(("location", location))
        .finish()
}

/// A body that never ends: 16 KiB every 20 ms, holding `guard`.
fn endless(guard: DropGuard) -> HttpResponse {
    let chunks = stream::unfold(guard, |guard| async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Some((
            Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; 16 * 1024])),
            guard,
        ))
    });
    HttpResponse::Ok()
        .content_type("video/mp4")
        .streaming(chunks)
}

fn demo_relaying(upstream: &Local, path: &str) -> Server {
    let url = format!("http://{}{path}", upstream.addr);
    Server::start_with(&["--video-upstream", &url], &[])
}

fn body(response: &crate::util::Response) -> Vec<u8> {
    response
        .chunks
        .iter()
        .flat_map(|(_, c)| c.clone())
        .collect()
}

#[tokio::test]
async fn ranges_and_validators_pass_through_the_proxy() {
    let (tx, _dropped) = mpsc::channel();
    let upstream = upstream(tx);
    let server = demo_relaying(&upstream, "/video.mp4");
    let video = std::fs::read(assets_dir().join("video.mp4")).unwrap();
    let len = video.len();
    let mut client = Client::connect(server.addr).await;

    let probe = client
        .request("GET", "/stream-video", "Range: bytes=0-1\r\n")
        .await;
    assert_eq!(probe.status, 206);
    assert_eq!(
        probe.header("content-range"),
        Some(&*format!("bytes 0-1/{len}"))
    );
    assert_eq!(probe.header("content-length"), Some("2"));
    assert_eq!(probe.header("accept-ranges"), Some("bytes"));
    assert_eq!(probe.header("content-type"), Some("video/mp4"));
    assert_eq!(body(&probe), video[..2]);
    let etag = probe
        .header("etag")
        .expect("the upstream's etag")
        .to_owned();
    assert!(probe.header("last-modified").is_some());

    let seek = client
        .request("GET", "/stream-video", "Range: bytes=1000-\r\n")
        .await;
    assert_eq!(seek.status, 206);
    assert_eq!(body(&seek), video[1000..]);

    let stale = client
        .request(
            "GET",
            "/stream-video",
            "Range: bytes=0-1\r\nIf-Range: \"old\"\r\n",
        )
        .await;
    assert_eq!(stale.status, 200);
    assert_eq!(body(&stale), video);

    let fresh = format!("Range: bytes=0-1\r\nIf-Range: {etag}\r\n");
    let fresh = client.request("GET", "/stream-video", &fresh).await;
    assert_eq!(fresh.status, 206);

    let past_end = client
        .request("GET", "/stream-video", "Range: bytes=99999999-\r\n")
        .await;
    assert_eq!(past_end.status, 416);
    assert_eq!(
        past_end.header("content-range"),
        Some(&*format!("bytes */{len}"))
    );

    let revalidate = format!("If-None-Match: {etag}\r\n");
    let not_modified = client.request("GET", "/stream-video", &revalidate).await;
    assert_eq!(not_modified.status, 304);
    assert_eq!(not_modified.header("etag"), Some(&*etag));

    let head = client.request("HEAD", "/stream-video", "").await;
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some(&*len.to_string()));
    // Still in step: every answer above was framed right.
    assert_eq!(client.request("GET", "/healthz", "").await.text(), "ok");
}

#[tokio::test]
async fn hop_by_hop_headers_are_dropped_and_ranges_are_not_invented() {
    let (tx, _dropped) = mpsc::channel();
    let upstream = upstream(tx);
    let server = demo_relaying(&upstream, "/plain");
    let response = crate::util::get(server.addr, "/stream-video").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "0123456789");
    assert_eq!(response.header("content-type"), Some("video/mp4"));
    for name in [
        "keep-alive",
        "proxy-authenticate",
        "x-upstream-internal",
        "accept-ranges",
    ] {
        assert_eq!(response.header(name), None, "{name}");
    }
}

#[tokio::test]
async fn an_upstream_that_is_down_is_502_with_a_reason() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/video.mp4");
    let server = Server::start_with(&["--video-upstream", &url], &[]);
    let response = crate::util::get(server.addr, "/stream-video").await;
    assert_eq!(response.status, 502);
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    let text = response.text();
    assert!(
        text.starts_with("bad gateway: the upstream could not be reached"),
        "{text}"
    );
}

#[tokio::test]
async fn an_upstream_server_error_is_502() {
    let (tx, _dropped) = mpsc::channel();
    let upstream = upstream(tx);
    let server = demo_relaying(&upstream, "/error");
    let response = crate::util::get(server.addr, "/stream-video").await;
    assert_eq!(response.status, 502);
    assert!(response.text().contains("503"), "{}", response.text());
}

#[tokio::test]
async fn a_client_that_leaves_cancels_the_upstream_request() {
    let (tx, dropped) = mpsc::channel();
    let upstream = upstream(tx);
    let server = demo_relaying(&upstream, "/endless");
    let mut client = Client::connect(server.addr).await;
    client.send("GET", "/stream-video", "HTTP/1.1", "").await;
    let response = client.head().await;
    assert_eq!(response.status, 200);
    assert!(client.chunk().await.is_some_and(|chunk| !chunk.is_empty()));
    assert!(
        dropped.try_recv().is_err(),
        "the upstream stream is alive while the client reads"
    );
    client.close().await;
    let cancelled =
        tokio::task::spawn_blocking(move || dropped.recv_timeout(Duration::from_secs(5)))
            .await
            .unwrap();
    assert!(
        cancelled.is_ok(),
        "the upstream's body stream was not dropped within 5 s of the client leaving"
    );
}

#[test]
fn an_https_upstream_is_refused_at_startup() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_pagepipe"))
        .args([
            "--addr",
            "127.0.0.1:0",
            "--video-upstream",
            "https://127.0.0.1/v.mp4",
        ])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("only http:// upstreams are supported"),
        "{stderr}"
    );
}

#[tokio::test]
async fn an_upstream_redirect_is_not_followed_but_answered_502() {
    let (tx, _dropped) = mpsc::channel();
    let upstream = upstream(tx);
    let server = demo_relaying(&upstream, "/redirect");
    for method in ["GET", "HEAD"] {
        let response = Client::connect(server.addr)
            .await
            .request(method, "/stream-video", "")
            .await;
        assert_eq!(response.status, 502, "{method}");
        assert_eq!(
            response.header("content-type"),
            Some("text/plain; charset=utf-8"),
            "{method}"
        );
        assert_eq!(response.header("location"), None, "{method}");
        if method == "GET" {
            assert_eq!(
                response.text(),
                "bad gateway: the upstream answered with a redirect, which is not followed\n"
            );
        }
    }
    let logged = server.wait_for_log("redirect", Duration::from_secs(5));
    let logged = logged.expect("the redirect is logged");
    assert!(
        logged.contains("/other"),
        "the log names the Location: {logged}"
    );
}

#[tokio::test]
async fn a_bad_gateway_answer_never_shows_the_upstream_url() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/video.mp4?token=s3cret");
    let server = Server::start_with(&["--video-upstream", &url], &[]);
    let response = crate::util::get(server.addr, "/stream-video").await;
    assert_eq!(response.status, 502);
    assert_eq!(
        response.text(),
        "bad gateway: the upstream could not be reached\n"
    );
    let logged = server
        .wait_for_log("could not be reached", Duration::from_secs(5))
        .expect("the failure is logged");
    assert!(
        logged.contains("s3cret"),
        "the log has the details: {logged}"
    );
}

/// A raw upstream on 127.0.0.1 answering every connection with `response`
/// once it has read the request head (at most `connections` of them).
fn raw_upstream(response: &'static [u8], connections: usize) -> std::net::SocketAddr {
    use std::io::{BufRead as _, BufReader, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(connections) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                line.clear();
            }
            let _ = stream.write_all(response);
        }
    });
    addr
}

#[tokio::test]
async fn a_chunked_upstream_body_is_relayed_whole_whatever_its_content_length_says() {
    let addr = raw_upstream(
        b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: 4\r\n\
          Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
          6\r\n012345\r\n4\r\n6789\r\n0\r\n\r\n",
        4,
    );
    let url = format!("http://{addr}/video.mp4");
    let server = Server::start_with(&["--video-upstream", &url], &[]);
    let mut client = Client::connect(server.addr).await;
    let response = client.request("GET", "/stream-video", "").await;
    assert_eq!(response.status, 200);
    assert_ne!(response.header("content-length"), Some("4"));
    assert_eq!(response.text(), "0123456789");
    let head = client.request("HEAD", "/stream-video", "").await;
    assert_eq!(head.status, 200);
    assert_ne!(head.header("content-length"), Some("4"));
    // Still in step: both answers were framed by what was sent.
    assert_eq!(client.request("GET", "/healthz", "").await.text(), "ok");
}

#[tokio::test]
async fn only_audio_and_video_are_relayed_and_with_nosniff() {
    let (tx, _dropped) = mpsc::channel();
    let upstream = upstream(tx);
    for path in ["/html", "/svg", "/octets", "/untyped"] {
        let server = demo_relaying(&upstream, path);
        for method in ["GET", "HEAD"] {
            let response = Client::connect(server.addr)
                .await
                .request(method, "/stream-video", "")
                .await;
            assert_eq!(response.status, 502, "{method} {path}");
            assert_eq!(
                response.header("content-type"),
                Some("text/plain; charset=utf-8"),
                "{method} {path}"
            );
            if method == "GET" {
                assert_eq!(
                    response.text(),
                    "bad gateway: the upstream answered with a type other than audio or video, \
                     which is not relayed\n",
                    "{path}"
                );
            }
        }
    }
    for (path, content_type, body) in [
        ("/audio", "audio/mpeg", "ID3 audio"),
        ("/plain", "video/mp4", "0123456789"),
    ] {
        let server = demo_relaying(&upstream, path);
        let response = crate::util::get(server.addr, "/stream-video").await;
        assert_eq!(response.status, 200, "{path}");
        assert_eq!(
            response.header("content-type"),
            Some(content_type),
            "{path}"
        );
        assert_eq!(
            response.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(response.text(), body, "{path}");
    }
}

#[tokio::test]
async fn an_upstream_client_error_keeps_its_status_but_not_its_body() {
    let (tx, _dropped) = mpsc::channel();
    let upstream = upstream(tx);
    let server = demo_relaying(&upstream, "/missing");
    let response = crate::util::get(server.addr, "/stream-video").await;
    assert_eq!(response.status, 404);
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(response.text(), "the upstream answered 404 Not Found\n");
}
