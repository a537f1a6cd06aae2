//! `pagepipe::Server` over TLS, with a certificate made in the test: HTTP/2
//! and HTTP/1.1 chosen by ALPN, a page's sections arriving over HTTP/2 as
//! they resolve, and a reset HTTP/2 stream dropping its page's loaders.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a failed unwrap is a failed test"
)]

use std::sync::{Arc, Mutex};

use std::time::Duration;

use actix_web::{App, web};
use askama::Template;
use bytes::Bytes;
use pagepipe::{BoxError, Page, Section, Slot, slot};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::{mpsc, oneshot};

#[path = "support/tls.rs"]
mod support;
#[path = "support/templates.rs"]
mod templates;
use pagepipe::rustls;
use templates::{Shell, Text};

/// Sends on its channel when dropped: the loader was cancelled.
struct Dropped(mpsc::UnboundedSender<()>);

impl Drop for Dropped {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

#[derive(Template)]
#[template(source = "never", ext = "html")]
struct Never;

/// A page of one section, `s0`, loaded by `content`.
fn one_section<T: pagepipe::IntoFragment + 'static>(
    content: impl Future<Output = Result<T, BoxError>> + 'static,
) -> Page {
    let slots: Vec<Slot> = vec![slot("s0")];
    Page::new(Shell { slots }).section(Section::new(
        "s0",
        Text {
            text: "loading".into(),
        },
        content,
    ))
}

/// A server on 127.0.0.1 with a fresh self-signed certificate for
/// `localhost`: `/page` waits for `release` to fill its one section,
/// `/slow` never does and reports its loader's drop on `drops`.
struct Running {
    addr: std::net::SocketAddr,
    handle: actix_web::dev::ServerHandle,
    cert: rustls::pki_types::CertificateDer<'static>,
    drops: mpsc::UnboundedReceiver<()>,
    release: oneshot::Sender<String>,
}

fn start() -> Running {
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path, cert) = support::certificate(dir.path());
    let config = pagepipe::tls_config(&cert_path, &key_path).unwrap();
    let (tx, drops) = mpsc::unbounded_channel();
    let (release, released) = oneshot::channel::<String>();
    let released = Arc::new(Mutex::new(Some(released)));
    let server = pagepipe::Server::new(move || {
        let tx = tx.clone();
        let released = Arc::clone(&released);
        App::new()
            .route(
                "/page",
                web::get().to(move || {
                    let released = released.lock().unwrap().take();
                    async move {
                        one_section(async move {
                            let text = released.expect("one request").await.unwrap_or_default();
                            Ok::<_, BoxError>(Text { text })
                        })
                    }
                }),
            )
            .route(
                "/slow",
                web::get().to(move || {
                    let guard = Dropped(tx.clone());
                    async move {
                        one_section(async move {
                            let _guard = guard;
                            std::future::pending::<()>().await;
                            Ok::<_, BoxError>(Never)
                        })
                    }
                }),
            )
            .route("/ok", web::get().to(|| async { "ok" }))
    })
    .workers(1)
    .disable_signals()
    .bind_tls("127.0.0.1:0", config)
    .unwrap();
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    Running {
        addr,
        handle,
        cert,
        drops,
        release,
    }
}

/// A TLS connection to `server` offering `alpn`.
async fn connect(
    server: &Running,
    alpn: &[u8],
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    support::connect(server.addr, &server.cert, &[alpn]).await
}

/// An HTTP/2 connection to `server`.
async fn h2(server: &Running) -> h2::client::SendRequest<Bytes> {
    let tls = connect(server, b"h2").await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (send, connection) = h2::client::handshake(tls).await.unwrap();
    actix_web::rt::spawn(async move {
        let _ = connection.await;
    });
    send
}

fn get(path: &str) -> http::Request<()> {
    http::Request::get(format!("https://localhost{path}"))
        .body(())
        .unwrap()
}

#[actix_web::test]
async fn http_1_1_is_served_over_tls_when_the_client_asks_for_it() {
    let server = start();
    let mut tls = connect(&server, b"http/1.1").await;
    tls.write_all(b"GET /ok HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    tls.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.ends_with("\r\n\r\nok"), "{response}");
    server.handle.stop(false).await;
}

#[actix_web::test]
async fn over_http_2_a_section_arrives_when_it_resolves() {
    let server = start();
    let mut send = h2(&server).await;
    let (response, _) = send.send_request(get("/page"), true).unwrap();
    let response = response.await.unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let shell = body.data().await.unwrap().unwrap();
    let shell = String::from_utf8_lossy(&shell).into_owned();
    assert!(
        shell.contains("loading") && !shell.contains("ready now"),
        "{shell}"
    );
    let early = tokio::time::timeout(Duration::from_millis(200), body.data()).await;
    assert!(early.is_err(), "nothing more before the section resolves");
    server.release.send("ready now".into()).unwrap();
    let mut rest = String::new();
    while let Some(data) = body.data().await {
        rest.push_str(&String::from_utf8_lossy(&data.unwrap()));
    }
    assert!(
        rest.contains("<template for=\"s0\">ready now</template>"),
        "{rest}"
    );
    server.handle.stop(false).await;
}

/// A client that closes its HTTP/2 connection while a section waits drops
/// the page's loaders at once. (A reset of the page's stream alone is seen
/// only when the page next writes: actix's HTTP/2 dispatcher does not watch
/// for `RST_STREAM` while a body waits, so those loaders end with the page's
/// deadline; see `docs/deploying.md`.)
#[actix_web::test]
async fn closing_an_http_2_connection_drops_its_pages_loaders_at_once() {
    let mut server = start();
    let tls = connect(&server, b"h2").await;
    let (mut send, connection) = h2::client::handshake(tls).await.unwrap();
    let connection = actix_web::rt::spawn(async move {
        let _ = connection.await;
    });
    let (response, _) = send.send_request(get("/slow"), true).unwrap();
    let mut body = response.await.unwrap().into_body();
    let shell = body.data().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&shell).contains("loading"));
    connection.abort();
    drop((send, body));
    let dropped = tokio::time::timeout(Duration::from_secs(5), server.drops.recv()).await;
    assert!(matches!(dropped, Ok(Some(()))), "the loader was dropped");
    server.handle.stop(false).await;
}
