//! A handler that returns a `Page` itself (the `Responder` path, which the
//! demo does not use), over a real socket: HTTP/1.1 streams it chunked,
//! HTTP/1.0 gets the complete document delimited by closing the connection.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::{App, HttpServer, web};
use askama::Template;
use pagepipe::{BoxError, Page, Section};

use crate::util::Client;

#[derive(Template)]
#[template(
    source = "<body><h1>{{ title }}</h1>{{ pagepipe::slot(\"late\") }}</body>",
    ext = "html"
)]
struct Shell {
    title: &'static str,
}

#[derive(Template)]
#[template(source = "{{ text }}", ext = "html")]
struct Text {
    text: &'static str,
}

async fn page() -> Page {
    let late = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        Ok::<_, BoxError>(Text {
            text: "late content",
        })
    };
    Page::new(Shell { title: "Direct" }).section(Section::new(
        "late",
        Text { text: "waiting" },
        late,
    ))
}

/// Serves `page` on 127.0.0.1 from this test's own actix system.
fn start() -> (std::net::SocketAddr, actix_web::dev::ServerHandle) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = HttpServer::new(|| App::new().route("/", web::get().to(page)))
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    (addr, handle)
}

#[actix_web::test]
async fn a_returned_page_streams_over_http_1_1() {
    let (addr, handle) = start();
    let mut client = Client::connect(addr).await;
    let response = client.request("GET", "/", "").await;
    assert_eq!(response.header("transfer-encoding"), Some("chunked"));
    let shell = String::from_utf8_lossy(&response.chunks[0].1).into_owned();
    assert!(
        shell.contains("waiting") && !shell.contains("late content"),
        "{shell}"
    );
    assert!(response.arrival_of("late content").unwrap() >= Duration::from_millis(200));
    handle.stop(false).await;
}

#[actix_web::test]
async fn a_returned_page_is_whole_and_close_delimited_for_http_1_0() {
    let (addr, handle) = start();
    let mut client = Client::connect(addr).await;
    client.send("GET", "/", "HTTP/1.0", "").await;
    let mut response = client.head().await;
    assert!(
        response.header("transfer-encoding").is_none(),
        "HTTP/1.0 forbids chunking"
    );
    client.body(&mut response, "GET").await;
    let text = response.text();
    assert!(
        text.contains("<pp-slot id=\"late\">late content</pp-slot>"),
        "{text}"
    );
    assert!(!text.contains("<script"), "buffered: no script");
    handle.stop(false).await;
}
