//! The demo server of `docs/DEMO_CONTRACT.md`: its routes and how it is started.
//! It uses only pagepipe's public API, as any application would.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use actix_web::dev::Server;
use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, middleware, web};
use askama::Template;

use crate::shared::{Limits, State, get_or_head, resource, text};
use crate::{bench, bench_list, feed, headers, media, showcase};
use pagepipe::Streamed;

/// What the demo server needs to run.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// Folder of static files: media, sample HTML, JSON fixtures.
    pub(crate) assets: PathBuf,
    /// Worker threads.
    pub(crate) workers: usize,
    /// Seconds that open responses may take to finish after a shutdown signal.
    pub(crate) shutdown_timeout: u64,
    /// Limits on clients.
    pub(crate) limits: Limits,
    /// Where `/stream-video` relays from instead of the bundled MP4.
    pub(crate) video_upstream: Option<pagepipe::Upstream>,
    /// HTTPS (HTTP/2 and HTTP/1.1 by ALPN) instead of plain HTTP/1.1.
    pub(crate) tls: Option<pagepipe::rustls::ServerConfig>,
    /// `/bench`'s section cache.
    pub(crate) cache: pagepipe::Cache,
}

/// Registers every demo route, with the folder `assets` at `/assets/`.
fn routes(cfg: &mut web::ServiceConfig, assets: &Path) {
    cfg.service(resource("/").route(get_or_head().to(index)))
        .service(resource("/healthz").route(get_or_head().to(healthz)))
        .service(resource("/bench").route(get_or_head().to(bench::bench)))
        .service(resource("/bench-loads").route(get_or_head().to(bench::bench_loads)))
        .service(resource("/bench-list").route(get_or_head().to(bench_list::bench_list)))
        .service(resource("/stream-html").route(get_or_head().to(showcase::stream_html)))
        .service(resource("/stream-data").route(get_or_head().to(feed::stream_data)))
        .service(resource("/streams-api").route(get_or_head().to(feed::streams_api)))
        .configure(|cfg| media::routes(cfg, assets));
}

/// Starts the demo server on every address `addr` resolves to (`HOST:PORT`;
/// port 0 picks a free one), bound by pagepipe's server with its listen
/// backlog. Returns the first address bound (`listening on` names one;
/// actix logs each) and the running server. It does not handle signals:
/// call `stop` on the server's handle to shut it down gracefully.
pub(crate) fn serve(addr: &str, options: Options) -> io::Result<(SocketAddr, Server)> {
    let limits = options.limits.clone();
    let assets = options.assets.clone();
    let state = web::Data::new(State {
        limits: options.limits,
        assets: options.assets,
        video_upstream: options.video_upstream,
        cache: options.cache,
        bench_loads: std::sync::atomic::AtomicU64::new(0),
    });
    // Every request head bounded, pages ended when their client finishes
    // sending, TCP_NODELAY: pagepipe's server, with the demo's limits.
    let server = pagepipe::Server::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(middleware::from_fn(headers::finish))
            .wrap(pagepipe::Compress::default())
            .configure(|cfg| routes(cfg, &assets))
            .default_service(web::to(not_found))
    })
    .send_timeout(Some(limits.send_timeout))
    .workers(options.workers.max(1))
    .request_timeout(limits.request_timeout)
    .max_target_bytes(limits.max_target)
    .keep_alive(limits.keep_alive)
    .max_connections(limits.max_connections)
    .shutdown_timeout(options.shutdown_timeout)
    .disable_signals();
    let server = match options.tls {
        Some(config) => server.bind_tls(addr, config)?,
        None => server.bind(addr)?,
    };
    let first = *server
        .addrs()
        .first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::AddrNotAvailable, "no address bound"))?;
    Ok((first, server.run()))
}

async fn not_found(req: HttpRequest) -> Streamed {
    let message = format!("no page at {}; the demos are listed at /\n", req.path());
    text(StatusCode::NOT_FOUND, message)
}

#[derive(Template)]
#[template(path = "index.html")]
struct Index;

async fn index() -> actix_web::Result<Streamed> {
    let html = Index
        .render()
        .map_err(actix_web::error::ErrorInternalServerError)?;
    Ok(Streamed::html_complete(html.into()))
}

async fn healthz() -> Streamed {
    text(StatusCode::OK, "ok")
}
