//! Servers built the way the README says (`pagepipe::Server`, and an actix
//! `HttpServer` with `configure_server`), over real sockets on 127.0.0.1: a
//! client that leaves cancels its page's loaders; with `Server`, every
//! request head is timed, pipelined requests of every framing are served,
//! a half-closed client gets whole pages, and no duration panics.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a failed unwrap is a failed test"
)]

use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
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
#[template(
    source = "<html><body>{{ pagepipe::slot(\"now\") }}{{ pagepipe::slot(\"slow\") }}</body></html>",
    ext = "html"
)]
struct TwoSlots;

#[derive(Template)]
#[template(source = "ready now", ext = "html")]
struct ReadyNow;

#[derive(Template)]
#[template(source = "loading", ext = "html")]
struct Loading;

#[derive(Template)]
#[template(source = "never", ext = "html")]
struct Never;

#[derive(Template)]
#[template(source = "gave up", ext = "html")]
struct GaveUp;

/// Sends on its channel when dropped: the loader was cancelled.
struct Dropped(mpsc::UnboundedSender<()>);

impl Drop for Dropped {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// The application: `/` is a page whose section never loads (and says so
/// on `drops` when its loader is dropped); `/echo` answers a request body.
fn app(
    drops: mpsc::UnboundedSender<()>,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .route(
            "/",
            web::get().to(move || {
                let guard = Dropped(drops.clone());
                async move {
                    Page::new(Shell).section(
                        Section::new("slow", Loading, async move {
                            let _guard = guard;
                            std::future::pending::<()>().await;
                            Ok::<_, BoxError>(Never)
                        })
                        .error(GaveUp),
                    )
                }
            }),
        )
        .route(
            "/work",
            web::get().to(|req: actix_web::HttpRequest| async move {
                tokio::select! {
                    () = std::future::pending::<()>() => HttpResponse::Ok().finish(),
                    () = pagepipe::client_finished(&req) => {
                        HttpResponse::Ok().body("stopped: the client finished sending")
                    }
                }
            }),
        )
        .route("/ok", web::get().to(|| async { "ok" }))
        .route(
            "/ready",
            web::get().to(|req: actix_web::HttpRequest| async move {
                let mode = if req.query_string() == "buffered" {
                    pagepipe::Mode::Buffered
                } else {
                    pagepipe::Mode::OutOfOrder
                };
                Page::new(TwoSlots)
                    .mode(mode)
                    .section(Section::infallible("now", Loading, async { ReadyNow }))
                    .section(
                        Section::infallible("slow", Loading, std::future::pending::<Never>())
                            .error(GaveUp),
                    )
                    .respond(&req)
                    .await
            }),
        )
        .route(
            "/echo",
            web::post().to(|body: web::Bytes| async move { HttpResponse::Ok().body(body) }),
        )
}

/// Reads from `client` until `needle` has arrived; returns all read.
async fn read_until(client: &mut tokio::net::TcpStream, needle: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0; 4096];
    while !String::from_utf8_lossy(&seen).contains(needle) {
        let read = client.read(&mut buf).await.unwrap();
        assert!(
            read > 0,
            "{needle:?} arrives, after {:?}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..read]);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

/// Requests the page, reads its shell, and leaves.
async fn leave_during_the_page(addr: std::net::SocketAddr) {
    let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    read_until(&mut client, "<h1>shell</h1>").await;
    drop(client);
}

/// A running server, the address it listens on, and what its loaders say
/// when they are dropped.
struct Running {
    addr: std::net::SocketAddr,
    handle: actix_web::dev::ServerHandle,
    drops: mpsc::UnboundedReceiver<()>,
}

impl Running {
    /// Starts `app` on one worker on 127.0.0.1: with pagepipe's server
    /// (given `request_timeout`), or with actix's `HttpServer` through
    /// `configure_server`.
    fn start(http_server: bool, request_timeout: Duration) -> Running {
        let (tx, drops) = mpsc::unbounded_channel();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = if http_server {
            pagepipe::configure_server(HttpServer::new(move || app(tx.clone())))
                .workers(1)
                .disable_signals()
                .listen(listener)
                .unwrap()
                .run()
        } else {
            pagepipe::Server::new(move || app(tx.clone()))
                .workers(1)
                .request_timeout(request_timeout)
                .disable_signals()
                .listen(listener)
                .unwrap()
                .run()
        };
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Running {
            addr,
            handle,
            drops,
        }
    }

    /// Asserts that a loader is dropped within 5 s (the page's deadline is
    /// 30 s away), then stops the server.
    async fn assert_loader_dropped(mut self) {
        let cancelled = tokio::time::timeout(Duration::from_secs(5), self.drops.recv()).await;
        assert!(matches!(cancelled, Ok(Some(()))), "the loader was dropped");
        self.handle.stop(false).await;
    }
}

#[actix_web::test]
async fn a_client_that_leaves_cancels_its_loaders() {
    let server = Running::start(false, pagepipe::DEFAULT_REQUEST_TIMEOUT);
    leave_during_the_page(server.addr).await;
    server.assert_loader_dropped().await;
}

#[actix_web::test]
async fn with_http_server_a_client_that_leaves_cancels_its_loaders() {
    let server = Running::start(true, pagepipe::DEFAULT_REQUEST_TIMEOUT);
    leave_during_the_page(server.addr).await;
    server.assert_loader_dropped().await;
}

#[actix_web::test]
async fn a_half_closed_client_gets_the_whole_page_at_once() {
    let server = Running::start(false, pagepipe::DEFAULT_REQUEST_TIMEOUT);
    let addr = server.addr;
    let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    client.shutdown().await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut out))
        .await
        .expect("the page ends although its section never loads")
        .unwrap();
    let response = String::from_utf8_lossy(&out);
    assert!(response.contains("gave up"), "{response}");
    assert!(
        response.ends_with("0\r\n\r\n"),
        "the chunked body ends: {response}"
    );
    server.assert_loader_dropped().await;
}

#[actix_web::test]
async fn a_half_closed_client_always_gets_the_sections_ready_before_its_fin() {
    let server = Running::start(false, pagepipe::DEFAULT_REQUEST_TIMEOUT);
    // The request and the FIN arrive together: the ready section used to
    // race the FIN and lose about one time in three.
    for path in ["/ready", "/ready?buffered"] {
        for _ in 0..20 {
            let mut client = tokio::net::TcpStream::connect(server.addr).await.unwrap();
            let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
            client.write_all(request.as_bytes()).await.unwrap();
            client.shutdown().await.unwrap();
            let mut out = Vec::new();
            tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut out))
                .await
                .expect("the page ends")
                .unwrap();
            let response = String::from_utf8_lossy(&out);
            assert!(response.contains("ready now"), "{path}: {response}");
            assert!(response.contains("gave up"), "{path}: {response}");
        }
    }
    server.handle.stop(false).await;
}

#[actix_web::test]
async fn every_request_head_is_timed_after_bodies_of_each_framing() {
    let timeout = Duration::from_millis(500);
    let server = Running::start(false, timeout);
    let addr = server.addr;
    for first in [
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
         3;x=y\r\nhel\r\n2\r\nlo\r\n0\r\nTrailer: t\r\n\r\n",
        // actix reads the chunks of a request that also asks for an upgrade
        // it does not get, then the next head.
        "POST /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
         Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    ] {
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        client.write_all(first.as_bytes()).await.unwrap();
        read_until(&mut client, "\r\n\r\nhello").await;
        // A second request on the same connection is served as usual...
        client
            .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
            .await
            .unwrap();
        read_until(&mut client, "\r\n\r\nhi").await;
        // ...but a third head, trickled, is cut off at the timeout.
        let start = tokio::time::Instant::now();
        let mut closed = None;
        for byte in b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa" {
            if client.write_all(&[*byte]).await.is_err() {
                closed = Some(start.elapsed());
                break;
            }
            let mut buf = [0; 64];
            match tokio::time::timeout(Duration::from_millis(100), client.read(&mut buf)).await {
                Err(_) => {}
                Ok(Ok(0) | Err(_)) => {
                    closed = Some(start.elapsed());
                    break;
                }
                Ok(Ok(read)) => panic!("unexpected {:?}", String::from_utf8_lossy(&buf[..read])),
            }
        }
        let closed = closed.unwrap_or_else(|| panic!("{first}: the connection outlived its head"));
        assert!(
            closed >= timeout - Duration::from_millis(50),
            "{first}: {closed:?}"
        );
        assert!(closed < timeout * 6, "{first}: {closed:?}");
    }
    server.handle.stop(false).await;
}

/// Sends `request` in pieces of `piece` bytes, a moment apart; returns all
/// that comes back until the server closes the connection.
async fn exchange(addr: std::net::SocketAddr, request: &[u8], piece: usize) -> String {
    let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
    for part in request.chunks(piece) {
        client.write_all(part).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut out))
        .await
        .expect("the server closes after the last response")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[actix_web::test]
async fn pipelined_requests_of_every_framing_are_answered_in_order() {
    let server = Running::start(false, pagepipe::DEFAULT_REQUEST_TIMEOUT);
    let requests = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\none\
        POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n\
        \r\n\
        POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nthree";
    // All at once, and in pieces that split heads, sizes and bodies.
    for piece in [requests.len(), 7, 1] {
        let responses = exchange(server.addr, requests, piece).await;
        let bodies: Vec<_> = responses
            .split("HTTP/1.1 200 OK")
            .skip(1)
            .map(|response| response.rsplit("\r\n\r\n").next().unwrap())
            .collect();
        assert_eq!(
            bodies,
            ["one", "two", "three"],
            "pieces of {piece}: {responses}"
        );
    }
    server.handle.stop(false).await;
}

#[actix_web::test]
async fn settings_of_any_size_never_panic_and_zero_turns_the_head_bound_off() {
    let (tx, _drops) = mpsc::unbounded_channel();
    for timeout in [Duration::MAX, Duration::ZERO] {
        let tx = tx.clone();
        let server = pagepipe::Server::new(move || app(tx.clone()))
            .workers(0)
            .max_connections(0)
            .request_timeout(timeout)
            .keep_alive(timeout)
            .disconnect_timeout(timeout)
            .shutdown_timeout(u64::MAX)
            .backlog(u32::MAX)
            .disable_signals()
            .bind("127.0.0.1:0")
            .unwrap();
        let addr = server.addrs()[0];
        assert_ne!(addr.port(), 0, "bound to a free port");
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        // A head in pieces, so its deadline is computed.
        let request =
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
        let response = exchange(addr, request, 9).await;
        assert!(
            response.starts_with("HTTP/1.1 200 OK"),
            "{timeout:?}: {response}"
        );
        assert!(response.ends_with("\r\n\r\nok"), "{timeout:?}: {response}");
        handle.stop(false).await;
    }
}

#[actix_web::test]
async fn a_client_that_resets_the_connection_cancels_its_loaders() {
    let server = Running::start(false, pagepipe::DEFAULT_REQUEST_TIMEOUT);
    let mut client = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    read_until(&mut client, "<h1>shell</h1>").await;
    // With SO_LINGER 0, closing sends a reset, not a FIN.
    client.set_zero_linger().unwrap();
    drop(client);
    server.assert_loader_dropped().await;
}

#[actix_web::test]
async fn on_connect_sees_each_connection_and_hands_its_data_to_requests() {
    /// What the application finds in every request of a connection.
    #[derive(Clone)]
    struct Peer(std::net::SocketAddr);

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = pagepipe::Server::new(|| {
        App::new().route(
            "/peer",
            web::get().to(|req: actix_web::HttpRequest| async move {
                let peer = req.conn_data::<Peer>().map(|peer| peer.0.to_string());
                HttpResponse::Ok().body(peer.unwrap_or_default())
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    // Like every setting, it applies whenever it is set before `run`.
    .on_connect(|conn, data| {
        if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
            data.insert(Peer(tcp.peer_addr().unwrap()));
        }
    })
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);

    let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
    let local = client.local_addr().unwrap().to_string();
    client
        .write_all(b"GET /peer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    client.read_to_string(&mut out).await.unwrap();
    assert!(out.ends_with(&format!("\r\n\r\n{local}")), "{out}");
    handle.stop(false).await;
}

#[actix_web::test]
async fn a_handler_learns_that_its_client_finished_sending() {
    let server = Running::start(false, pagepipe::DEFAULT_REQUEST_TIMEOUT);
    let mut client = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    client
        .write_all(b"GET /work HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    client.shutdown().await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(5), client.read_to_string(&mut out))
        .await
        .expect("the handler stops at once")
        .unwrap();
    assert!(
        out.ends_with("stopped: the client finished sending"),
        "{out}"
    );
    server.handle.stop(false).await;
}

/// Starts `app` on one worker with at most `max_connections` open, heads
/// and bodies bounded by `bound`, keep-alive (the linger of an unread body)
/// of `keep_alive` and request targets of `max_target` bytes at most;
/// returns its address and handle.
fn start_bounded(
    max_connections: usize,
    bound: Duration,
    keep_alive: Duration,
    max_target: usize,
) -> (std::net::SocketAddr, actix_web::dev::ServerHandle) {
    let (tx, _) = mpsc::unbounded_channel();
    let server = pagepipe::Server::new(move || app(tx.clone()))
        .workers(1)
        .max_connections(max_connections)
        .request_timeout(bound)
        .body_timeout(bound)
        .keep_alive(keep_alive)
        .max_target_bytes(max_target)
        .disable_signals()
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    (addr, handle)
}

/// Reads `client` until the server closes it; returns how long that took.
async fn until_closed(client: &mut tokio::net::TcpStream, within: Duration) -> Duration {
    let start = tokio::time::Instant::now();
    let mut buf = [0; 4096];
    loop {
        match tokio::time::timeout_at(start + within, client.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return start.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("the connection is still open after {within:?}"),
        }
    }
}

#[actix_web::test]
async fn chunked_bodies_never_sent_close_their_connections_and_free_their_slots() {
    let keep_alive = Duration::from_secs(1);
    let (addr, handle) = start_bounded(5, Duration::from_secs(1), keep_alive, pagepipe::MAX_TARGET);
    let mut held = Vec::new();
    for _ in 0..5 {
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        client
            .write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            .await
            .unwrap();
        read_until(&mut client, "\r\n\r\nok").await;
        held.push(client);
    }
    // A sixth client waits for a slot: it gets one once the unread bodies'
    // linger (the keep-alive time) has passed.
    let mut sixth = tokio::net::TcpStream::connect(addr).await.unwrap();
    sixth
        .write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let served = tokio::time::timeout(keep_alive * 4, read_until(&mut sixth, "\r\n\r\nok")).await;
    assert!(served.is_ok(), "a normal request was starved");
    for client in &mut held {
        until_closed(client, Duration::from_secs(1)).await;
    }
    handle.stop(false).await;
}

#[actix_web::test]
async fn a_body_that_stops_arriving_is_cut_at_its_bound() {
    let bound = Duration::from_secs(1);
    let (addr, handle) = start_bounded(16, bound, Duration::from_secs(5), pagepipe::MAX_TARGET);
    let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
    client
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc")
        .await
        .unwrap();
    let closed = until_closed(&mut client, bound * 4).await;
    assert!(closed >= bound - Duration::from_millis(50), "{closed:?}");
    handle.stop(false).await;
}

#[actix_web::test]
async fn a_pipelined_head_gets_the_whole_timeout_from_its_own_first_byte() {
    // Margins of a second on each side, for a noisy machine.
    let timeout = Duration::from_secs(3);
    let (addr, handle) = start_bounded(16, timeout, Duration::from_secs(5), pagepipe::MAX_TARGET);
    let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
    client.write_all(b"GET /ok HTTP/1.1\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(2000)).await;
    // The segment that ends head 1 begins head 2...
    client
        .write_all(b"Host: x\r\n\r\nGET /ok HTTP/1.1\r\n")
        .await
        .unwrap();
    // ...which ends 1.8 s later: past head 1's deadline, within its own.
    tokio::time::sleep(Duration::from_millis(1800)).await;
    client
        .write_all(b"Host: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut all = String::new();
    client.read_to_string(&mut all).await.unwrap();
    assert_eq!(all.matches("\r\n\r\nok").count(), 2, "{all}");
    handle.stop(false).await;
}

#[actix_web::test]
async fn a_request_target_over_the_limit_gets_414_naming_it_whatever_its_form() {
    let (addr, handle) = start_bounded(16, Duration::from_secs(5), Duration::from_secs(5), 8192);
    let long_path = format!("/ok?{}", "q".repeat(70_000));
    let long_authority = format!("http://{}.example/ok", "h".repeat(60_000));
    for (target, len) in [
        (long_path.as_str(), 70_004),
        (long_authority.as_str(), 60_018),
        ("/ok?x=12345678", 0),
    ] {
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        // A request that fits goes first on the same connection: it is
        // answered before the refusal.
        let request =
            format!("GET /ok HTTP/1.1\r\nHost: x\r\n\r\nGET {target} HTTP/1.1\r\nHost: x\r\n\r\n");
        client.write_all(request.as_bytes()).await.unwrap();
        let mut all = String::new();
        client.read_to_string(&mut all).await.unwrap();
        if len == 0 {
            // Within the limit: both are answered.
            assert_eq!(all.matches("HTTP/1.1 200 OK").count(), 2, "{all}");
            continue;
        }
        let (first, second) = all
            .split_once("\r\n\r\nok")
            .unwrap_or_else(|| panic!("{}", &all[..200.min(all.len())]));
        assert!(first.starts_with("HTTP/1.1 200 OK"), "{first}");
        assert!(second.contains("HTTP/1.1 414 URI Too Long"), "{second}");
        assert!(
            second.ends_with(&format!(
                "request target is {len} bytes; the limit is 8192\n"
            )),
            "{second}"
        );
    }
    handle.stop(false).await;
}
