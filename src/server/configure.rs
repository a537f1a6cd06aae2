//! The `HttpServer` settings progressive pages need, in one call: chunks
//! leave at once, a client that leaves cancels its page, and (with the
//! `send-timeout` feature) a client that stops reading is dropped. For
//! applications that must keep actix's `HttpServer` (TLS, HTTP/2);
//! [`Server`](super::Server) does more.

use std::fmt;

use actix_http::Request;
use actix_service::{IntoServiceFactory, Service, ServiceFactory};
use actix_web::body::MessageBody;
use actix_web::dev::{AppConfig, Response};
use actix_web::{Error, HttpServer};

/// How long sent data may stay unacknowledged before the connection is
/// dropped, with the `send-timeout` feature.
pub const DEFAULT_SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Configures `server` the way pagepipe needs it:
///
/// - `TCP_NODELAY`, so a section's chunk leaves at once instead of waiting
///   up to 40 ms for the previous one to be acknowledged (Nagle);
/// - half-closed connections are closed, so a client that goes away
///   (`FIN`) cancels its page's pending loaders at once rather than when the
///   next section is written. The cost: a client that half-closes on
///   purpose after sending its request (`nc -N`, some scripts; never a
///   browser) is treated as gone too;
/// - with the `send-timeout` feature, `TCP_USER_TIMEOUT` of
///   [`DEFAULT_SEND_TIMEOUT`], so a client that stops reading is dropped
///   instead of holding its connection forever (this sets the server's
///   `on_connect` callback; an application that sets its own replaces it).
///
/// ```no_run
/// use actix_web::{App, HttpServer};
///
/// # async fn run() -> std::io::Result<()> {
/// pagepipe::configure_server(HttpServer::new(|| App::new()))
///     .bind(("127.0.0.1", 8080))?
///     .run()
///     .await
/// # }
/// ```
pub fn configure_server<F, I, S, B>(server: HttpServer<F, I, S, B>) -> HttpServer<F, I, S, B>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<Error> + 'static,
    S::InitError: fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as Service<Request>>::Future: 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    let server = server.tcp_nodelay(true).h1_allow_half_closed(false);
    #[cfg(feature = "send-timeout")]
    let server = server.on_connect(|conn, _| drop_stalled_after(conn, DEFAULT_SEND_TIMEOUT));
    server
}

/// Has the kernel drop the connection when data it sent stays
/// unacknowledged for `timeout` (`TCP_USER_TIMEOUT`): actix has no write
/// timeout, and a client that stops reading would otherwise hold its
/// connection forever. For an `on_connect` callback.
#[cfg(feature = "send-timeout")]
pub fn drop_stalled_after(conn: &dyn std::any::Any, timeout: std::time::Duration) {
    if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>()
        && let Err(err) = socket2::SockRef::from(tcp).set_tcp_user_timeout(Some(timeout))
    {
        tracing::warn!(error = %err, "TCP_USER_TIMEOUT could not be set");
    }
}
