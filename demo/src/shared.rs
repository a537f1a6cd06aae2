//! What every route of the demo uses: the server's shared [`State`] and
//! [`Limits`], resources whose other methods get a plain-text `405`, and
//! plain-text answers. Below the routes and the server: it imports neither.

use std::fmt::{Debug, Display};
use std::path::PathBuf;

use actix_web::error::InternalError;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, Responder as _, Route, guard, web};
use pagepipe::Streamed;

/// Limits on what a client may ask of the server.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// Time a client has to send a request's head (slowloris guard).
    pub(crate) request_timeout: std::time::Duration,
    /// How long an idle keep-alive connection stays open.
    pub(crate) keep_alive: std::time::Duration,
    /// Open connections per worker; further ones wait in the backlog.
    pub(crate) max_connections: usize,
    /// Longest request target as sent, in bytes; longer is a `414`.
    pub(crate) max_target: usize,
    /// Most bytes of request header names and values; more is a `431`.
    pub(crate) max_headers: usize,
    /// How long sent data may go unacknowledged (a client that stopped
    /// reading) before the connection is dropped (`TCP_USER_TIMEOUT`).
    pub(crate) send_timeout: std::time::Duration,
}

/// Shared by every request.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) limits: Limits,
    pub(crate) assets: PathBuf,
    pub(crate) video_upstream: Option<pagepipe::Upstream>,
    /// `/bench`'s section cache: in the process, or `--cache-redis`'s.
    pub(crate) cache: pagepipe::Cache,
    /// `/bench` section loaders started, for `/bench-loads`.
    pub(crate) bench_loads: std::sync::atomic::AtomicU64,
}

/// A resource at `path` whose unsupported methods get a plain-text `405`.
pub(crate) fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

/// The `405` of every demo resource, with `Allow`.
async fn method_not_allowed(req: HttpRequest) -> Streamed {
    let message = format!(
        "method {} is not allowed on {}: use GET or HEAD\n",
        req.method(),
        req.path()
    );
    text(StatusCode::METHOD_NOT_ALLOWED, message)
        .header(header::ALLOW, HeaderValue::from_static("GET, HEAD"))
}

/// Every plain-text answer of the demo (its `400`s, `404`, `405`, `414`,
/// `431`, the showcase's `500`, `/healthz`): a complete `text/plain;
/// charset=utf-8` body, never compressed, so it stays readable whatever
/// `Accept-Encoding` says.
pub(crate) fn text(status: StatusCode, message: impl Into<String>) -> Streamed {
    Streamed::text(status, message).uncompressed()
}

/// A handler's error answered with [`text`]: `cause` on a line of its own.
pub(crate) fn text_error(
    req: &HttpRequest,
    status: StatusCode,
    cause: impl Debug + Display + 'static,
) -> actix_web::Error {
    let response = text(status, format!("{cause}\n")).respond_to(req);
    InternalError::from_response(cause, response).into()
}

/// A route for GET and HEAD: actix's `web::get()` alone answers HEAD with 404.
pub(crate) fn get_or_head() -> Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}
