//! Running an actix application the way progressive pages need it.
//! [`Server`] is pagepipe's server for an actix-web `App`, HTTP/1.1 and,
//! with TLS, HTTP/2: chunks leave at once, every request head is bounded in
//! time (actix bounds only a connection's first), a client that finishes
//! sending ends its pages at once (a half-closed client still gets complete
//! responses), and a graceful stop lets open pages end as complete
//! documents. [`configure_server`] is the nearest an actix `HttpServer` can
//! come to it.

mod configure;
mod fin;
mod framing;
mod timed;

use std::any::Any;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::path::Path;
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix_http::{HttpService, Protocol, Request, error::DispatchError};
use actix_service::{
    IntoServiceFactory, Service, ServiceFactory, ServiceFactoryExt as _, apply_fn_factory,
    fn_service, map_config,
};
use actix_web::body::MessageBody;
use actix_web::dev::{AppConfig, Extensions, Response};
use actix_web::rt::net::TcpStream;
use actix_web::{Error, HttpRequest};
use tokio_rustls::server::TlsStream;

#[cfg(feature = "send-timeout")]
pub use configure::drop_stalled_after;
pub use configure::{DEFAULT_SEND_TIMEOUT, configure_server};
use fin::Fin;
pub use framing::MAX_TARGET;
use timed::{Limits, Responses, Timed, Tracked};

use crate::client::ClientSide;
use crate::clock;

/// The application types a [`Server`] runs, as `fn` pointers so the
/// server stays `Send` whatever they are.
type App<I, S, B> = fn() -> (I, S, B);

/// How long a request head may take, from its first byte, by default.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a request body may go without a byte arriving, by default.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an idle connection is kept open between requests by default.
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(5);

/// Most worker threads: actix refuses more.
const MAX_WORKERS: usize = 512;

/// The listen backlog of sockets the server binds, by default.
pub(crate) const DEFAULT_BACKLOG: u32 = 2048;

/// How much sooner than the grace period open pages are asked to end when
/// a graceful stop begins, so their last bytes leave before it runs out.
const SHUTDOWN_MARGIN: Duration = Duration::from_millis(500);

/// What `on_connect` calls with each new connection.
type ConnectFn = dyn Fn(&dyn Any, &mut Extensions) + Send + Sync;

/// A callback for each new connection.
#[derive(Clone)]
struct OnConnect(Arc<ConnectFn>);

impl fmt::Debug for OnConnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OnConnect")
    }
}

/// The settings each worker reads when it starts, whenever they were set.
#[derive(Debug, Clone)]
struct WorkerSettings {
    request_timeout: Duration,
    body_timeout: Duration,
    max_target: usize,
    keep_alive: Duration,
    disconnect_timeout: Duration,
    grace: Duration,
    #[cfg(feature = "send-timeout")]
    send_timeout: Option<Duration>,
    on_connect: Option<OnConnect>,
}

impl WorkerSettings {
    /// What a client may take, and how long: zero is unbounded; a body
    /// left unread lingers for the keep-alive time after its response, as
    /// long as the connection would have been kept anyway.
    fn limits(&self) -> Limits {
        let bounded = |bound: Duration| (!bound.is_zero()).then_some(bound);
        Limits {
            head: bounded(self.request_timeout),
            body: bounded(self.body_timeout),
            linger: self.keep_alive,
            max_target: self.max_target,
        }
    }
}

/// An HTTP server for an actix-web application, built for progressive
/// pages. Use it as `HttpServer`:
///
/// ```no_run
/// use actix_web::App;
///
/// # async fn run() -> std::io::Result<()> {
/// pagepipe::Server::new(|| App::new())
///     .bind(("127.0.0.1", 8080))?
///     .run()
///     .await
/// # }
/// ```
///
/// What it does that `HttpServer` does not:
///
/// - every request head on a connection must arrive within the
///   [request timeout](Self::request_timeout) of its first byte, or the
///   connection is closed (a connection's first head gets `408`, as in
///   actix); `HttpServer` bounds only the first, so a client could hold a
///   kept-alive connection forever by trickling its second;
/// - when the client finishes sending (`FIN`: it went away, or half-closed
///   the connection after its request), the pages being written to it end
///   at once, their pending sections showing their timeout markup and their
///   loaders dropped; files and complete documents are still written, so a
///   half-closed client (`nc -N`) gets whole responses. A
///   [`Streamed`](crate::Streamed) body without a length (a feed) ends
///   between two chunks. Other handlers run on, as in actix, until their
///   response cannot be written, unless they stop on [`client_finished`];
/// - when a graceful stop begins (a signal, or `ServerHandle::stop(true)`),
///   open pages are asked to end ([`begin_shutdown`](crate::begin_shutdown))
///   half a second before the [grace period](Self::shutdown_timeout) does
///   (process-wide: with several servers in one process, the pages of all
///   of them end);
/// - `TCP_NODELAY` on every connection, so a section's chunk leaves at once
///   (no Nagle delay); with the `send-timeout` feature, a client that stops
///   reading is dropped after [`DEFAULT_SEND_TIMEOUT`].
///
/// With [`bind_tls`](Self::bind_tls) it serves HTTPS, HTTP/2 or HTTP/1.1 as
/// the client's ALPN chooses ([`tls_config`] reads PEM files).
pub struct Server<F, I, S, B> {
    factory: F,
    builder: actix_server::ServerBuilder,
    settings: Arc<Mutex<WorkerSettings>>,
    backlog: u32,
    addrs: Vec<SocketAddr>,
    _app: PhantomData<App<I, S, B>>,
}

impl<F, I, S, B> fmt::Debug for Server<F, I, S, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("addrs", &self.addrs)
            .field(
                "settings",
                &*self.settings.lock().unwrap_or_else(PoisonError::into_inner),
            )
            .finish_non_exhaustive()
    }
}

impl<F, I, S, B> Server<F, I, S, B>
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
    /// A server running the application `factory` builds, once per worker.
    pub fn new(factory: F) -> Self {
        Self {
            factory,
            builder: actix_server::ServerBuilder::default(),
            settings: Arc::new(Mutex::new(WorkerSettings {
                request_timeout: DEFAULT_REQUEST_TIMEOUT,
                body_timeout: DEFAULT_BODY_TIMEOUT,
                max_target: MAX_TARGET,
                keep_alive: DEFAULT_KEEP_ALIVE,
                disconnect_timeout: Duration::from_secs(1),
                grace: Duration::from_secs(30),
                #[cfg(feature = "send-timeout")]
                send_timeout: Some(DEFAULT_SEND_TIMEOUT),
                on_connect: None,
            })),
            backlog: DEFAULT_BACKLOG,
            addrs: Vec::new(),
            _app: PhantomData,
        }
    }

    fn set(self, change: impl FnOnce(&mut WorkerSettings)) -> Self {
        change(&mut self.settings.lock().unwrap_or_else(PoisonError::into_inner));
        self
    }

    /// How long each request head may take from its first byte
    /// ([`DEFAULT_REQUEST_TIMEOUT`]); zero turns the bound off. This and
    /// the other durations are taken as a year at most.
    #[must_use]
    pub fn request_timeout(self, timeout: Duration) -> Self {
        self.set(|settings| settings.request_timeout = clock::capped(timeout))
    }

    /// How long a request body may go without a byte arriving
    /// ([`DEFAULT_BODY_TIMEOUT`]), as nginx's `client_body_timeout`; zero
    /// turns the bound off. A body its handler leaves unread must end
    /// within the [keep-alive](Self::keep_alive) time after the response,
    /// however it trickles. Past either, the client is no longer read: the
    /// response under way is finished and the connection closed.
    #[must_use]
    pub fn body_timeout(self, timeout: Duration) -> Self {
        self.set(|settings| settings.body_timeout = clock::capped(timeout))
    }

    /// The longest request target (path and query, or an absolute URL as
    /// sent), in bytes: a longer one gets `414` naming its size and the
    /// limit, and the connection is closed. At most, and by default,
    /// [`MAX_TARGET`] (65,534), the longest actix reads: without this a
    /// longer one got an empty `400`.
    #[must_use]
    pub fn max_target_bytes(self, max: usize) -> Self {
        self.set(|settings| settings.max_target = max.min(MAX_TARGET))
    }

    /// How long an idle connection stays open between requests
    /// ([`DEFAULT_KEEP_ALIVE`]); zero closes it after each response.
    #[must_use]
    pub fn keep_alive(self, keep_alive: Duration) -> Self {
        self.set(|settings| settings.keep_alive = clock::capped(keep_alive))
    }

    /// How long a closing connection may take to flush and shut down
    /// (1 s).
    #[must_use]
    pub fn disconnect_timeout(self, timeout: Duration) -> Self {
        self.set(|settings| settings.disconnect_timeout = clock::capped(timeout))
    }

    /// With the `send-timeout` feature: how long sent data may stay
    /// unacknowledged before the connection is dropped (`TCP_USER_TIMEOUT`,
    /// [`DEFAULT_SEND_TIMEOUT`]); `None` leaves it to the kernel.
    #[cfg(feature = "send-timeout")]
    #[must_use]
    pub fn send_timeout(self, timeout: Option<Duration>) -> Self {
        self.set(|settings| settings.send_timeout = timeout.map(clock::capped))
    }

    /// Worker threads, each running its own copy of the application (the
    /// number of CPUs by default; from 1 to 512).
    #[must_use]
    pub fn workers(mut self, workers: usize) -> Self {
        self.builder = self.builder.workers(workers.clamp(1, MAX_WORKERS));
        self
    }

    /// Open connections per worker (25,000 by default; at least 1); more
    /// wait in the listen backlog.
    #[must_use]
    pub fn max_connections(mut self, max: usize) -> Self {
        self.builder = self.builder.max_concurrent_connections(max.max(1));
        self
    }

    /// The listen backlog of the sockets [`bind`](Self::bind) makes after
    /// this call (2,048 by default).
    #[must_use]
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.backlog = backlog;
        self
    }

    /// Seconds open responses get to finish once a graceful stop begins
    /// (30 by default); open pages are asked to end half a second sooner.
    #[must_use]
    pub fn shutdown_timeout(mut self, secs: u64) -> Self {
        let grace = clock::capped(Duration::from_secs(secs));
        self.builder = self.builder.shutdown_timeout(grace.as_secs());
        self.set(|settings| settings.grace = grace)
    }

    /// Calls `on_connect` with each new connection (the `TcpStream`, as
    /// `&dyn Any`) and the data its requests will find in
    /// `HttpRequest::conn_data`, as `HttpServer::on_connect` does.
    #[must_use]
    pub fn on_connect<C>(self, on_connect: C) -> Self
    where
        C: Fn(&dyn Any, &mut Extensions) + Send + Sync + 'static,
    {
        self.set(|settings| settings.on_connect = Some(OnConnect(Arc::new(on_connect))))
    }

    /// Leaves `SIGINT`/`SIGTERM` alone: stop the server through its handle.
    #[must_use]
    pub fn disable_signals(mut self) -> Self {
        self.builder = self.builder.disable_signals();
        self
    }

    /// Listens on every address `addrs` resolves to.
    pub fn bind(self, addrs: impl ToSocketAddrs) -> io::Result<Self> {
        self.bind_with(addrs, None)
    }

    /// Binds every address `addrs` resolves to and listens on it, with TLS
    /// when `tls` is given; fails only if none could be bound.
    fn bind_with(
        mut self,
        addrs: impl ToSocketAddrs,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> io::Result<Self> {
        let mut bound = false;
        let mut last_err = None;
        for addr in addrs.to_socket_addrs()? {
            match bind(addr, self.backlog) {
                Ok(listener) => {
                    self = self.listen_with(listener, tls.clone())?;
                    bound = true;
                }
                Err(err) => last_err = Some(io::Error::new(err.kind(), format!("{addr}: {err}"))),
            }
        }
        match (bound, last_err) {
            (true, _) => Ok(self),
            (false, Some(err)) => Err(err),
            (false, None) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the address resolved to nothing to bind",
            )),
        }
    }

    /// Listens on `listener`, bound already.
    pub fn listen(self, listener: TcpListener) -> io::Result<Self> {
        self.listen_with(listener, None)
    }

    /// Listens on `listener` with TLS: HTTPS, with HTTP/2 or HTTP/1.1 as the
    /// client's ALPN chooses ([`tls_config`] makes a configuration that
    /// offers both). Pages stream as on HTTP/1.1: each section in its own
    /// DATA frames, and a client that resets a page's stream or closes the
    /// connection drops its pending loaders at once. Over HTTP/1.1 every
    /// byte a client owes is timed as without TLS; over HTTP/2 the
    /// handshake is bounded by the [request timeout](Self::request_timeout)
    /// and idle connections by the [keep-alive](Self::keep_alive).
    pub fn listen_tls(
        self,
        listener: TcpListener,
        config: rustls::ServerConfig,
    ) -> io::Result<Self> {
        self.listen_with(listener, Some(Arc::new(config)))
    }

    /// Listens with TLS on every address `addrs` resolves to; see
    /// [`listen_tls`](Self::listen_tls).
    pub fn bind_tls(
        self,
        addrs: impl ToSocketAddrs,
        config: rustls::ServerConfig,
    ) -> io::Result<Self> {
        self.bind_with(addrs, Some(Arc::new(config)))
    }

    fn listen_with(
        mut self,
        listener: TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> io::Result<Self> {
        let addr = listener.local_addr()?;
        self.addrs.push(addr);
        let factory = self.factory.clone();
        let settings = Arc::clone(&self.settings);
        let shutdown = self.builder.graceful_shutdown_signal();
        self.builder = self
            .builder
            .listen(format!("pagepipe-{addr}"), listener, move || {
                let settings = settings
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                let shutdown = shutdown.clone();
                let app = factory()
                    .into_factory()
                    .map_err(|err| err.into().error_response());
                // Each response tells its connection when it ends, so a body
                // its handler left unread is bounded from then on.
                let app = apply_fn_factory(app, |req: Request, service: &_| {
                    let responses = req.conn_data::<Rc<Responses>>().cloned();
                    // Boxed: held inline, the application's future would make
                    // every connection's state larger for its whole life.
                    let response = Box::pin(service.call(req));
                    async move {
                        let response: Response<B> = response.await?.into();
                        Ok(response.map_body(|_, body| Tracked::new(body, responses)))
                    }
                });
                let app = map_config(app, |_| AppConfig::default());
                let limits = Rc::new(settings.limits());
                let untimed = Rc::new(Limits::UNTIMED);
                /// The HTTP service for connections of type `$io`.
                macro_rules! http {
                    ($io:ty) => {
                        HttpService::build()
                            .keep_alive(settings.keep_alive)
                            .client_request_timeout(settings.request_timeout)
                            .client_disconnect_timeout(settings.disconnect_timeout)
                            // A client that finished sending still gets its
                            // responses; its pages end at once (`ClientSide`).
                            .h1_allow_half_closed(true)
                            .local_addr(addr)
                            // What `HttpServer` does so that idle kept-alive
                            // connections close when a graceful stop begins.
                            .graceful_shutdown_signal({
                                let shutdown = shutdown.clone();
                                move || {
                                    let shutdown = shutdown.clone();
                                    async move { shutdown.notified().await }
                                }
                            })
                            .on_connect_ext({
                                let on_connect = settings.on_connect.clone();
                                move |conn: &Timed<Fin<$io>>, data: &mut Extensions| {
                                    data.insert(conn.get_ref().client());
                                    data.insert(conn.responses());
                                    if let Some(OnConnect(on_connect)) = &on_connect {
                                        on_connect(conn.get_ref().io(), data);
                                    }
                                }
                            })
                    };
                }
                let Some(config) = tls.clone() else {
                    let http = http!(TcpStream).h1(app);
                    return actix_service::boxed::factory(
                        fn_service(move |tcp: TcpStream| {
                            let peer = tcp.peer_addr().ok();
                            prepare(&tcp, &settings);
                            std::future::ready(Ok::<_, DispatchError>((
                                Timed::new(Fin::new(tcp), Rc::clone(&limits)),
                                peer,
                            )))
                        })
                        .and_then(http),
                    );
                };
                let http = http!(TlsStream<TcpStream>).finish(app);
                let acceptor = tokio_rustls::TlsAcceptor::from(config);
                let handshake = settings.request_timeout;
                actix_service::boxed::factory(
                    fn_service(move |tcp: TcpStream| {
                        let peer = tcp.peer_addr().ok();
                        prepare(&tcp, &settings);
                        let accept = acceptor.accept(tcp);
                        let limits = Rc::clone(&limits);
                        let untimed = Rc::clone(&untimed);
                        async move {
                            let tls = tls_handshake(accept, handshake).await?;
                            let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                            Ok::<_, DispatchError>(if h2 {
                                (
                                    Timed::untimed(Fin::new(tls), untimed),
                                    Protocol::Http2,
                                    peer,
                                )
                            } else {
                                (Timed::new(Fin::new(tls), limits), Protocol::Http1, peer)
                            })
                        }
                    })
                    .and_then(http),
                )
            })?;
        Ok(self)
    }

    /// The addresses the server listens on.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Starts the server; await it to run until it stops. Call it within an
    /// actix system (`#[actix_web::main]`).
    pub fn run(self) -> actix_web::dev::Server {
        let grace = self
            .settings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .grace;
        let stopping = self.builder.graceful_shutdown_signal();
        actix_web::rt::spawn(async move {
            stopping.notified().await;
            crate::begin_shutdown(grace.saturating_sub(SHUTDOWN_MARGIN));
        });
        self.builder.run()
    }
}

/// Resolves once the client of `req` has finished sending: it went away,
/// or half-closed the connection after its request. For work of a handler
/// that should stop then, as pages and feeds do; never resolves unless
/// [`Server`] serves the request.
///
/// ```
/// use actix_web::{HttpRequest, HttpResponse};
///
/// async fn report(req: HttpRequest) -> HttpResponse {
///     tokio::select! {
///         body = build_report() => HttpResponse::Ok().body(body),
///         () = pagepipe::client_finished(&req) => HttpResponse::NoContent().finish(),
///     }
/// }
/// # async fn build_report() -> String { String::new() }
/// ```
pub fn client_finished(req: &HttpRequest) -> impl Future<Output = ()> + 'static {
    ClientSide::finished_or_never(ClientSide::of(req))
}

/// The TLS handshake of a connection, bounded by `timeout` (zero: not).
async fn tls_handshake(
    accept: tokio_rustls::Accept<TcpStream>,
    timeout: Duration,
) -> Result<TlsStream<TcpStream>, DispatchError> {
    let handshake = if timeout.is_zero() {
        accept.await
    } else {
        tokio::time::timeout(timeout, accept)
            .await
            .unwrap_or_else(|_| Err(io::Error::from(io::ErrorKind::TimedOut)))
    };
    handshake.map_err(|err| {
        tracing::debug!(error = %err, "TLS handshake failed");
        DispatchError::Io(err)
    })
}

/// A TLS configuration from a PEM certificate chain and a PEM private key
/// (the files a certificate authority or `certbot` gives), offering HTTP/2
/// and HTTP/1.1 by ALPN, for [`Server::bind_tls`]. The error names the
/// file at fault.
pub fn tls_config(
    cert_pem: impl AsRef<Path>,
    key_pem: impl AsRef<Path>,
) -> io::Result<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject as _;
    let (cert_pem, key_pem) = (cert_pem.as_ref(), key_pem.as_ref());
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let named = |path: &Path, what: &str, err: &dyn std::fmt::Display| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {what}: {err}", path.display()),
        )
    };
    let certs = CertificateDer::pem_file_iter(cert_pem)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|err| named(cert_pem, "no PEM certificate chain", &err))?;
    if certs.is_empty() {
        return Err(named(
            cert_pem,
            "no PEM certificate chain",
            &"no certificate in it",
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key_pem)
        .map_err(|err| named(key_pem, "no PEM private key", &err))?;
    // ring: no C toolchain beyond the compiler, unlike aws-lc.
    #[allow(
        deprecated,
        reason = "ring's provider, without post-quantum key exchange"
    )]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|err| named(key_pem, "the key does not fit the certificate", &err))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// A listening socket on `addr` with `backlog`, its address reusable at
/// once after a restart.
fn bind(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType, sockopt};
    let family = if addr.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    // Not inherited by processes the application starts, as std's sockets.
    let socket = rustix::net::socket_with(family, SocketType::STREAM, SocketFlags::CLOEXEC, None)?;
    sockopt::set_socket_reuseaddr(&socket, true)?;
    rustix::net::bind(&socket, &addr)?;
    rustix::net::listen(&socket, i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok(TcpListener::from(socket))
}

/// Socket options for an accepted connection.
fn prepare(tcp: &TcpStream, settings: &WorkerSettings) {
    if let Err(err) = tcp.set_nodelay(true) {
        tracing::warn!(error = %err, "TCP_NODELAY could not be set");
    }
    #[cfg(feature = "send-timeout")]
    if let Some(timeout) = settings.send_timeout {
        drop_stalled_after(tcp, timeout);
    }
    #[cfg(not(feature = "send-timeout"))]
    let _ = settings;
}

/// Implements `AsyncWrite` for a connection wrapper `$wrapper<T>` by
/// passing every call to its field `io` (`shutdown: method` goes through
/// the wrapper's own `method` instead).
macro_rules! forward_write {
    ($wrapper:ident) => {
        $crate::server::forward_write!($wrapper, shutdown: poll_shutdown_io);

        impl<T: tokio::io::AsyncWrite + Unpin> $wrapper<T> {
            fn poll_shutdown_io(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Pin::new(&mut self.io).poll_shutdown(cx)
            }
        }
    };
    ($wrapper:ident, shutdown: $shutdown:ident) => {
        impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for $wrapper<T> {
            fn poll_write(
                mut self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut self.io).poll_write(cx, buf)
            }

            fn poll_write_vectored(
                mut self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                self.io.is_write_vectored()
            }

            fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Pin::new(&mut self.io).poll_flush(cx)
            }

            fn poll_shutdown(
                mut self: Pin<&mut Self>,
                cx: &mut Context<'_>,
            ) -> Poll<io::Result<()>> {
                self.$shutdown(cx)
            }
        }
    };
}
use forward_write;
