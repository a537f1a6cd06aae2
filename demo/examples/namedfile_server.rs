//! Baselines for the load test (`scripts/load-test`), in plain actix-web
//! with the same worker count and socket options as the demo server:
//!
//! - `/assets/{path}`: actix-files' `NamedFile` serving a folder, against
//!   which the file responder is compared;
//! - `/hold?ms=N`: the least a streamed page can cost, a hand-written
//!   chunked response whose first chunk is a fixed shell and whose second
//!   comes `N` ms later, against which memory per open `/bench` stream is
//!   compared;
//! - `/preloaded`: the file given with `--preload FILE`, read once at
//!   startup and answered from memory: the least any server on this stack
//!   can do for the same bytes.
//!
//! ```sh
//! cargo run --release --example namedfile_server -- --addr 127.0.0.1:0 --assets assets --workers 1 \
//!     [--preload target/page.html]
//! ```
//!
//! Prints `listening on http://HOST:PORT` once it accepts connections, like
//! the demo server; stops on SIGINT/SIGTERM.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test tool: a failed unwrap is a failed run"
)]

use std::io::Write as _;
use std::path::PathBuf;

use std::convert::Infallible;
use std::time::Duration;

use actix_files::NamedFile;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use bytes::Bytes;
use futures_util::stream;

/// The first chunk of `/hold`: what `/bench?delays=N` sends as its shell.
const SHELL: &str = "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<title>hold</title>\n</head>\n<body>\n<section><pp-slot id=\"s0\"><p>loading 0</p></pp-slot></section>\n";
/// The second chunk of `/hold`.
const SECTION: &str =
    "<template for=\"s0\"><p class=\"ready\">section 0 ready</p></template>\n</body>\n</html>\n";

fn usage() -> ! {
    eprintln!(
        "usage: namedfile_server [--addr HOST:PORT] [--assets DIR] [--workers N] [--preload FILE]"
    );
    std::process::exit(2)
}

async fn asset(req: HttpRequest, root: web::Data<PathBuf>) -> actix_web::Result<NamedFile> {
    let tail: PathBuf = req.match_info().query("path").parse()?;
    // Only plain names below the root; the comparison needs nothing more.
    if tail
        .components()
        .any(|part| !matches!(part, std::path::Component::Normal(_)))
    {
        return Err(actix_web::error::ErrorBadRequest("bad path"));
    }
    Ok(NamedFile::open(root.join(tail))?)
}

/// `GET /hold?ms=N`: the shell at once, the rest `N` ms later.
async fn hold(req: HttpRequest) -> HttpResponse {
    let ms = req
        .query_string()
        .strip_prefix("ms=")
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(0);
    let shell = stream::once(async { Ok::<_, Infallible>(Bytes::from_static(SHELL.as_bytes())) });
    let section = stream::once(async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok::<_, Infallible>(Bytes::from_static(SECTION.as_bytes()))
    });
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .streaming(futures_util::StreamExt::chain(shell, section))
}

/// `GET /preloaded`: the preloaded bytes, as HTML.
async fn preloaded(bytes: web::Data<Bytes>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(bytes.get_ref().clone())
}

fn main() -> std::io::Result<()> {
    let mut addr = "127.0.0.1:0".to_owned();
    let mut assets = PathBuf::from("assets");
    let mut workers = std::thread::available_parallelism().map_or(1, usize::from);
    let mut preload = Bytes::new();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--addr" => addr = value,
            "--assets" => assets = PathBuf::from(value),
            "--workers" => workers = value.parse().unwrap_or_else(|_| usage()),
            "--preload" => preload = Bytes::from(std::fs::read(value)?),
            _ => usage(),
        }
    }
    actix_web::rt::System::new().block_on(async move {
        // Bound by HttpServer with the backlog pagepipe's server uses
        // (2,048), so a burst of connections meets the same queue.
        let addr: std::net::SocketAddr = addr.parse().map_err(|err| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("--addr {addr}: {err}"),
            )
        })?;
        let root = web::Data::new(assets);
        let preload = web::Data::new(preload);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(root.clone())
                .app_data(preload.clone())
                .route("/assets/{path:.*}", web::get().to(asset))
                .route("/hold", web::get().to(hold))
                .route("/preloaded", web::get().to(preloaded))
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
