//! The load test's page baseline (`scripts/load-test`): `/bench` written by
//! hand in plain actix-web, the way an experienced actix user would stream
//! the same contract without pagepipe, so pagepipe's cost over the stack it
//! runs on is measured in the same run.
//!
//! - `GET /bench?delays=…&bytes=…`: the out-of-order `/bench` of
//!   `docs/DEMO_CONTRACT.md`, byte for byte the same document shape (shell,
//!   placeholders, the same 230-byte runtime, a section's `<template>` and
//!   script when it resolves, sections resolved by shell time written in
//!   place), the same response headers (a fresh nonce and its CSP); `format!`
//!   for markup, a static filler, `FuturesUnordered` for the sections,
//!   `HttpServer` with the same worker count, backlog and `TCP_NODELAY`;
//! - `GET /compressed/bench?…`: the same behind actix-web's
//!   `middleware::Compress`, the baseline for browsers' `Accept-Encoding`.
//!
//! Out-of-order only; a bad parameter answers `400` naming it.
//!
//! ```sh
//! cargo run --release --example handwritten_bench -- --addr 127.0.0.1:0 --workers 1
//! ```
//!
//! Prints `listening on http://HOST:PORT` once it accepts connections.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test tool: a failed unwrap is a failed run"
)]

use std::convert::Infallible;
use std::fmt::Write as _;
use std::io::Write as _;
use std::time::Duration;

use actix_web::http::header;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, middleware, web};
use bytes::Bytes;
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;

/// The same 230-byte script pagepipe's pages carry.
const RUNTIME: &str = "function $pp(){var s=document.currentScript,t=s.previousElementSibling,e;\
if(t&&t.localName==\"template\"&&t.hasAttribute(\"for\")&&(e=document.getElementById(t.getAttribute(\"for\")))){\
e.replaceChildren(t.content);t.remove()}s.remove()}";
/// The paragraph after the heading (text for WebKit to paint the shell).
const INTRO: &str = "<p>The synthetic page for load tests. Section i resolves delays[i] milliseconds \
after the request and holds about the number of filler bytes asked for; until it does, its slot shows \
the shell's fallback. Sections end in document order, whatever order they resolve in.</p>\n";
/// A static filler as long as the longest section may ask for.
static FILLER: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "
        .chars()
        .cycle()
        .take(1_048_576)
        .collect()
});

/// A `/bench` query: section delays in ms and filler bytes per section.
struct Query {
    delays: Vec<u64>,
    bytes: usize,
}

fn parse(query: &str) -> Result<Query, String> {
    let mut parsed = Query {
        delays: vec![0],
        bytes: 256,
    };
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "delays" => {
                parsed.delays = value
                    .split(',')
                    .map(|d| d.parse().ok().filter(|d| *d <= 60_000))
                    .collect::<Option<_>>()
                    .filter(|d: &Vec<u64>| (1..=64).contains(&d.len()))
                    .ok_or("delays: 1 to 64 integers, each 0 to 60000")?;
            }
            "bytes" => {
                parsed.bytes = value
                    .parse()
                    .ok()
                    .filter(|b| *b <= 1_048_576)
                    .ok_or("bytes: an integer 0 to 1048576")?;
            }
            "mode" if value == "out-of-order" => {}
            other => return Err(format!("{other}: not a parameter of this page")),
        }
    }
    Ok(parsed)
}

/// A resolved section's markup.
fn section(i: usize, bytes: usize) -> String {
    format!(
        "<p class=\"ready\">section {i} ready</p><p class=\"filler\">{}</p>",
        &FILLER[..bytes]
    )
}

async fn bench(req: HttpRequest) -> HttpResponse {
    let query = match parse(req.query_string()) {
        Ok(query) => query,
        Err(message) => return HttpResponse::BadRequest().body(message),
    };
    let start = tokio::time::Instant::now();
    let nonce = {
        let mut raw = [0u8; 16];
        getrandom::fill(&mut raw).unwrap();
        raw.iter().fold(String::with_capacity(32), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
    };
    let csp = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self'; \
         img-src 'self' data:; media-src 'self'; connect-src 'self'; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    );
    let n = query.delays.len();
    let bytes = query.bytes;
    let ready = |i: usize| query.delays[i] == 0;
    let mut shell = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <link rel=\"icon\" href=\"/assets/favicon.svg\" type=\"image/svg+xml\">\n\
         <title>pagepipe bench</title>\n</head>\n<body>\n\
         <h1>pagepipe bench: {n} sections, out-of-order</h1>\n{INTRO}"
    );
    for i in 0..n {
        if ready(i) {
            let _ = writeln!(
                shell,
                "<section><pp-slot id=\"s{i}\">{}</pp-slot></section>",
                section(i, bytes)
            );
        } else {
            let _ = writeln!(
                shell,
                "<section><pp-slot id=\"s{i}\"><?start name=\"s{i}\"><p>loading {i}</p><?end></pp-slot></section>"
            );
        }
    }
    let pending: FuturesUnordered<_> = (0..n)
        .filter(|i| !ready(*i))
        .map(|i| {
            let due = start + Duration::from_millis(query.delays[i]);
            async move {
                tokio::time::sleep_until(due).await;
                i
            }
        })
        .collect();
    let body = async_stream::stream! {
        if pending.is_empty() {
            shell.push_str("</body>\n</html>");
            yield Ok::<_, Infallible>(Bytes::from(shell));
            return;
        }
        let _ = write!(shell, "<script nonce=\"{nonce}\">{RUNTIME}</script>");
        yield Ok(Bytes::from(shell));
        let mut pending = pending;
        while let Some(i) = pending.next().await {
            let mut chunk = format!(
                "<template for=\"s{i}\">{}</template><script nonce=\"{nonce}\">$pp()</script>",
                section(i, bytes)
            );
            if pending.is_empty() {
                chunk.push_str("</body>\n</html>");
            }
            yield Ok(Bytes::from(chunk));
        }
    };
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header(("x-accel-buffering", "no"))
        .insert_header((header::REFERRER_POLICY, "strict-origin-when-cross-origin"))
        .insert_header((header::CONTENT_SECURITY_POLICY, csp))
        .streaming(body)
}

fn main() -> std::io::Result<()> {
    let mut addr = "127.0.0.1:0".to_owned();
    let mut workers = std::thread::available_parallelism().map_or(1, usize::from);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_default();
        match flag.as_str() {
            "--addr" => addr = value,
            "--workers" => workers = value.parse().unwrap_or(1),
            _ => {
                eprintln!("usage: handwritten_bench [--addr HOST:PORT] [--workers N]");
                std::process::exit(2)
            }
        }
    }
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(|| {
            App::new().route("/bench", web::get().to(bench)).service(
                web::scope("/compressed")
                    .wrap(middleware::Compress::default())
                    .route("/bench", web::get().to(bench)),
            )
        })
        .workers(workers.max(1))
        .tcp_nodelay(true)
        .backlog(2048)
        .bind(addr)?;
        let local = server.addrs()[0];
        let server = server.run();
        println!("listening on http://{local}");
        std::io::stdout().flush()?;
        server.await
    })
}
