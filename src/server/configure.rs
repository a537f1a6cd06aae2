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
/// - a listen backlog of 2,048, as [`Server`](super::Server) binds with,
///   instead of actix's 1,024 (std's `TcpListener::bind` gives 128): a
///   burst of connections beyond the backlog waits a second for the
///   kernel to take their `SYN` again. It applies to the sockets
///   `HttpServer`'s `bind` methods make after this call, so call it first (a
///   listener passed to `listen` keeps the backlog it was made with; the
///   kernel caps every backlog at `net.core.somaxconn`);
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
    let server = server
        .backlog(super::DEFAULT_BACKLOG)
        .tcp_nodelay(true)
        .h1_allow_half_closed(false);
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

#[cfg(test)]
mod tests {
    use std::net::{SocketAddr, TcpStream};
    use std::time::Duration;

    use actix_web::{App, HttpServer};

    use super::configure_server;

    /// The backlog the kernel gives `listen(DEFAULT_BACKLOG)`: it caps
    /// every backlog at `net.core.somaxconn`.
    fn expected_backlog() -> usize {
        let backlog = usize::try_from(super::super::DEFAULT_BACKLOG).unwrap();
        std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|somaxconn| somaxconn.trim().parse().ok())
            .map_or(backlog, |somaxconn: usize| backlog.min(somaxconn))
    }

    /// How many connections to `addr`, which nothing accepts, the kernel
    /// completes: one more than its listen backlog (Linux queues a
    /// connection while the queue holds no more than the backlog, then
    /// drops `SYN`s, so the next connect waits for a retransmit). Each is
    /// closed once made: a closed connection stays queued.
    fn queued_connections(addr: SocketAddr, most: usize) -> usize {
        (0..most)
            .take_while(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok())
            .count()
    }

    #[test]
    fn an_http_server_gets_the_servers_backlog() {
        let server = configure_server(HttpServer::new(App::new))
            .bind(("127.0.0.1", 0))
            .unwrap();
        // Bound, listening, never run: nothing accepts.
        let addr = server.addrs()[0];
        let backlog = expected_backlog();
        assert_eq!(queued_connections(addr, backlog + 10), backlog + 1);
    }
}
