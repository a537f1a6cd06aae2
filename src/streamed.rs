//! [`Streamed`], the one responder behind pages, files and proxied media: a
//! status, headers, an optional length and a body stream (or a complete
//! body), turned into an actix response, compressed as the request accepts
//! when its type is compressible.

use std::io;

use actix_web::body::{BodyStream, BoxBody, MessageBody, SizedStream};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{ConnectionType, Method, StatusCode, Version};
use actix_web::{HttpRequest, HttpResponse, Responder};
use bytes::Bytes;
use futures_util::stream::{self, LocalBoxStream};
use futures_util::{Stream, StreamExt as _};

use crate::client::ClientSide;
use crate::encoding::{self, Coding, Compression, NotAcceptable, Offer, cache, negotiate, pieces};

/// A response whose body is a stream of bytes.
///
/// With a [length](Streamed::length) the response carries `Content-Length`;
/// without one it is chunked, or, for an HTTP/1.0 client (which cannot take
/// chunks), delimited by closing the connection; such a body names its
/// coding even when it is `identity`, so that actix's `Compress` middleware
/// cannot turn chunking back on. A `HEAD` request gets the headers only and
/// the body is never polled.
///
/// A body whose `Content-Type` is compressible (HTML, text, JSON, …) is
/// compressed in the coding the request prefers (see [`Compression`]),
/// chunk by chunk for a stream, so each chunk decodes as it arrives.
pub struct Streamed {
    status: StatusCode,
    headers: HeaderMap,
    length: Option<u64>,
    body: Payload,
    /// Whether the body may be compressed for the request.
    compress: bool,
    /// Whether a stream without a length ends when the client finishes
    /// sending (pages end on their own, complete).
    ends_at_fin: bool,
}

/// A response body: streamed, or complete in memory.
enum Payload {
    Stream(LocalBoxStream<'static, io::Result<Bytes>>),
    Complete(Bytes),
}

impl Streamed {
    /// A `200 OK` response streaming `body`.
    ///
    /// Served by pagepipe's [`Server`](crate::Server), a body without a
    /// [length](Streamed::length) ends between two of its chunks once the
    /// client has finished sending (it went away, or half-closed the
    /// connection), and `body` is dropped: a feed stops working for a client
    /// that left. A body with a length is always written whole.
    pub fn new(body: impl Stream<Item = io::Result<Bytes>> + 'static) -> Self {
        Self {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            length: None,
            body: Payload::Stream(body.boxed_local()),
            compress: true,
            ends_at_fin: true,
        }
    }

    /// A response whose whole body is `bytes`, with its length.
    pub fn complete(bytes: Bytes) -> Self {
        let length = bytes.len() as u64;
        let mut streamed = Self::new(stream::empty()).length(length);
        streamed.body = Payload::Complete(bytes);
        streamed
    }

    /// A complete plain-text response, such as an error message.
    pub fn text(status: StatusCode, message: impl Into<String>) -> Self {
        Self::complete(Bytes::from(message.into()))
            .status(status)
            .header(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            )
    }

    /// A streamed HTML page, with the headers a progressive page needs:
    /// a charset, no caching, no proxy buffering, no sniffing.
    pub fn html(body: impl Stream<Item = io::Result<Bytes>> + 'static) -> Self {
        Self::new(body).with_html_headers()
    }

    fn with_html_headers(self) -> Self {
        self.header(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )
        .header(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
        .header(
            HeaderName::from_static("x-accel-buffering"),
            HeaderValue::from_static("no"),
        )
        .header(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        )
    }

    /// A complete HTML page: [`Streamed::html`]'s headers and a known length
    /// (kept when it is compressed).
    pub fn html_complete(bytes: Bytes) -> Self {
        Self::complete(bytes).with_html_headers()
    }

    /// Keeps writing the stream after the client finished sending: for a
    /// page, which then ends at once and complete on its own.
    pub(crate) fn keep_past_fin(mut self) -> Self {
        self.ends_at_fin = false;
        self
    }

    /// A stream without a length ends once the client of `req` has
    /// finished sending, unless it is to be written whole.
    fn bound_to(mut self, req: &HttpRequest) -> Self {
        if !self.ends_at_fin || self.length.is_some() {
            return self;
        }
        let Some(client) = ClientSide::of(req) else {
            return self;
        };
        if let Payload::Stream(body) = self.body {
            let finished = async move { client.finished().await };
            self.body = Payload::Stream(body.take_until(finished).boxed_local());
        }
        self
    }

    /// Sets the status.
    #[must_use]
    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Sets a header, replacing any earlier value.
    #[must_use]
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// Declares the body's exact length, sent as `Content-Length`.
    #[must_use]
    pub fn length(mut self, length: u64) -> Self {
        self.length = Some(length);
        self
    }
}

impl std::fmt::Debug for Streamed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streamed")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("length", &self.length)
            .finish_non_exhaustive()
    }
}

impl Streamed {
    /// Turns this into a response to `req`, as returning it from a handler
    /// does, except that a large complete body is compressed on the
    /// blocking pool and still sent with its `Content-Length` (a
    /// [`Responder`] cannot wait, so it streams such a body instead).
    pub async fn respond(self, req: &HttpRequest) -> HttpResponse {
        let mut this = self.bound_to(req);
        match this.plan(req) {
            Plan::NotAcceptable => not_acceptable().respond_to(req),
            Plan::OffThread(coding) => this.compressed_off_thread(coding).await.into_response(req),
            plan => this.encoded(plan).into_response(req),
        }
    }

    /// Leaves the body as it is whatever the request accepts: for bodies
    /// that are compressed already, or must keep their exact bytes.
    #[must_use]
    pub fn uncompressed(mut self) -> Self {
        self.compress = false;
        self
    }

    /// How this response's body is encoded for `req`, decided once: the
    /// coding, and for a complete body whether it is compressed at once,
    /// off the worker (only [`respond`](Self::respond) can wait for that)
    /// or as a stream. Adds `Vary: Accept-Encoding` whenever the answer
    /// depends on that header.
    fn plan(&mut self, req: &HttpRequest) -> Plan {
        let eligible = self.compress
            && has_body(self.status)
            && self.status != StatusCode::PARTIAL_CONTENT
            && !self.headers.contains_key(header::CONTENT_ENCODING)
            && self
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|value| value.to_str().ok())
                .is_some_and(encoding::compressible)
            && Compression::of(req).enabled();
        if !eligible {
            return Plan::AsIs;
        }
        add_vary(&mut self.headers);
        let coding = match negotiate(req, Offer::Dynamic) {
            Ok(Coding::Identity) => return Plan::AsIs,
            Ok(coding) => coding,
            Err(NotAcceptable) => return Plan::NotAcceptable,
        };
        match &self.body {
            Payload::Complete(bytes) if (bytes.len() as u64) < cache::MIN_COMPRESSIBLE => {
                Plan::AsIs
            }
            Payload::Complete(bytes) if bytes.len() <= pieces::INLINE_LIMIT => Plan::Now(coding),
            Payload::Complete(_) => Plan::OffThread(coding),
            Payload::Stream(_) => Plan::Stream(coding),
        }
    }

    /// The body encoded as `plan` says, except off the worker: a large
    /// complete body is then compressed as a stream.
    fn encoded(self, plan: Plan) -> Self {
        let coding = match plan {
            Plan::AsIs | Plan::NotAcceptable => return self,
            Plan::Now(coding) => {
                let compressed = match &self.body {
                    Payload::Complete(bytes) => pieces::compressed(bytes, coding),
                    Payload::Stream(_) => return self.streamed_in(coding),
                };
                return self.with_compressed(coding, compressed);
            }
            Plan::OffThread(coding) | Plan::Stream(coding) => coding,
        };
        self.streamed_in(coding)
    }

    /// A large complete body compressed whole on the blocking pool, still
    /// sent with its length.
    async fn compressed_off_thread(self, coding: Coding) -> Self {
        let Payload::Complete(bytes) = &self.body else {
            return self.streamed_in(coding);
        };
        let compressed = pieces::compressed_off_worker(bytes.clone(), coding).await;
        self.with_compressed(coding, compressed)
    }

    /// The complete body replaced by `compressed`, in `coding`; left as it
    /// is if compressing failed.
    fn with_compressed(mut self, coding: Coding, compressed: Option<Bytes>) -> Self {
        if let Some(compressed) = compressed {
            self.length = Some(compressed.len() as u64);
            self.body = Payload::Complete(compressed);
            self.headers
                .insert(header::CONTENT_ENCODING, coding.header_value());
        }
        self
    }

    /// The body compressed in `coding` as a stream, piece by piece.
    fn streamed_in(mut self, coding: Coding) -> Self {
        self.length = None;
        let body = match self.body {
            Payload::Complete(bytes) => stream::once(async { Ok(bytes) }).boxed_local(),
            Payload::Stream(body) => body,
        };
        self.body = Payload::Stream(pieces::encode(body, coding));
        self.headers
            .insert(header::CONTENT_ENCODING, coding.header_value());
        self
    }

    /// Says the response depends on `Accept-Encoding` (once, whatever else
    /// `Vary` holds), when `varies`.
    #[must_use]
    pub(crate) fn varies_by_encoding(mut self, varies: bool) -> Self {
        if varies {
            add_vary(&mut self.headers);
        }
        self
    }

    /// The actix response, framed by length, chunks, or (HTTP/1.0 without
    /// a length) the connection's close.
    fn into_response(self, req: &HttpRequest) -> HttpResponse {
        // These statuses never have a body, so they get no length or chunks either.
        if !has_body(self.status) {
            let mut res = HttpResponse::with_body(self.status, BoxBody::new(()));
            *res.headers_mut() = self.headers;
            res.extensions_mut().insert(Decided);
            return res;
        }
        let head_only = req.method() == Method::HEAD;
        let body = match (self.body, self.length, head_only) {
            (_, Some(length), true) => {
                SizedStream::new(length, stream::empty::<io::Result<Bytes>>()).boxed()
            }
            (_, None, true) => BodyStream::new(stream::empty::<io::Result<Bytes>>()).boxed(),
            (Payload::Complete(bytes), _, false) => BoxBody::new(bytes),
            (Payload::Stream(body), Some(length), false) => SizedStream::new(length, body).boxed(),
            (Payload::Stream(body), None, false) => BodyStream::new(body).boxed(),
        };
        let mut headers = self.headers;
        let close_delimited = self.length.is_none() && req.version() < Version::HTTP_11;
        if close_delimited && !headers.contains_key(header::CONTENT_ENCODING) {
            // actix's `Compress` middleware, if the application also wraps
            // it, compresses any body without a `Content-Encoding` and turns
            // chunking back on (`no_chunking(false)`), which an HTTP/1.0
            // client cannot read. It skips a response that names its coding,
            // so an uncompressed body without a length names `identity`.
            headers.insert(header::CONTENT_ENCODING, Coding::Identity.header_value());
        }
        let mut res = HttpResponse::with_body(self.status, body);
        *res.headers_mut() = headers;
        if !res.headers().contains_key(header::CONTENT_ENCODING) {
            // Left as it is on purpose: `Compress` must not encode it. (An
            // encoded body names its coding, which says as much.)
            res.extensions_mut().insert(Decided);
        }
        if close_delimited {
            let head = res.head_mut();
            head.no_chunking(true);
            head.set_connection_type(ConnectionType::Close);
        }
        res
    }
}

impl Responder for Streamed {
    type Body = BoxBody;

    fn respond_to(self, req: &HttpRequest) -> HttpResponse {
        let mut this = self.bound_to(req);
        match this.plan(req) {
            Plan::NotAcceptable => not_acceptable().respond_to(req),
            plan => this.encoded(plan).into_response(req),
        }
    }
}

/// Marks a response pagepipe left unencoded on purpose (identity was
/// negotiated, the body is small, a file chose its representation, a
/// plain-text answer): [`Compress`](crate::Compress) passes it on
/// untouched, as it does any response that names its coding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Decided;

/// How a response's body is encoded ([`Streamed::plan`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// Sent as it is.
    AsIs,
    /// Refused: the request accepts none of the codings it is available in.
    NotAcceptable,
    /// A small complete body, compressed whole at once.
    Now(Coding),
    /// A large complete body, compressed whole off the worker if the caller
    /// can wait, else as a stream.
    OffThread(Coding),
    /// A stream, compressed piece by piece.
    Stream(Coding),
}

/// Whether a response with `status` may have a body at all.
fn has_body(status: StatusCode) -> bool {
    !(matches!(status, StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED)
        || status.is_informational())
}

/// Adds `accept-encoding` to `Vary` unless it is there already.
pub(crate) fn add_vary(headers: &mut HeaderMap) {
    let present = headers.get_all(header::VARY).any(|value| {
        value.to_str().is_ok_and(|text| {
            text.split(',').any(|name| {
                matches!(name.trim(), "*") || name.trim().eq_ignore_ascii_case("accept-encoding")
            })
        })
    });
    if !present {
        headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
}

/// The `406` for a request whose `Accept-Encoding` refuses every coding,
/// identity included.
pub(crate) fn not_acceptable() -> Streamed {
    let message = "not acceptable: Accept-Encoding refuses every coding this response \
                   is available in (zstd, br, gzip, identity)\n";
    Streamed::text(StatusCode::NOT_ACCEPTABLE, message)
        .uncompressed()
        .varies_by_encoding(true)
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use actix_web::http::header;
    use actix_web::middleware::Compress;
    use actix_web::{App, test, web};

    use super::*;

    /// A page body well over the size worth compressing.
    fn page_body() -> Vec<u8> {
        b"<section><h2>ready</h2><p>pagepipe streams html</p></section>\n".repeat(40)
    }

    async fn page() -> Streamed {
        let body = Bytes::from(page_body());
        Streamed::html(stream::once(async move { Ok::<_, io::Error>(body) }))
    }

    #[actix_web::test]
    async fn a_page_behind_actix_compress_is_compressed_exactly_once() {
        assert!(page_body().len() as u64 > cache::MIN_COMPRESSIBLE);
        let app = test::init_service(
            App::new()
                .wrap(Compress::default())
                .route("/", web::get().to(page)),
        )
        .await;
        let req = test::TestRequest::get()
            .uri("/")
            .insert_header((header::ACCEPT_ENCODING, "gzip"))
            .to_request();
        let res = test::call_service(&app, req).await;
        assert_eq!(res.status(), StatusCode::OK);
        let codings: Vec<_> = res
            .headers()
            .get_all(header::CONTENT_ENCODING)
            .map(|value| value.to_str().unwrap().to_owned())
            .collect();
        assert_eq!(codings, ["gzip"]);
        let body = test::read_body(res).await;
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut decoded)
            .expect("gzip decodes");
        assert_eq!(decoded, page_body(), "one decoding gives the page");
    }

    /// The raw response an HTTP/1.0 client gets, over a real socket, from
    /// an app behind actix's `Compress` with pagepipe's compression off.
    async fn http_1_0_response_behind_compress(request: &str) -> Vec<u8> {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = actix_web::HttpServer::new(|| {
            App::new()
                .wrap(Compress::default())
                .app_data(Compression::off())
                .route("/", web::get().to(page))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            stream.read_to_end(&mut raw),
        )
        .await
        .expect("the server closes the connection to end the body")
        .unwrap();
        handle.stop(false).await;
        raw
    }

    #[actix_web::test]
    async fn no_response_to_an_http_1_0_client_may_ever_be_chunked_whatever_the_middleware_stack() {
        let raw = http_1_0_response_behind_compress(
            "GET / HTTP/1.0\r\nHost: localhost\r\nAccept-Encoding: gzip\r\n\r\n",
        )
        .await;
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a complete head")
            + 4;
        let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
        assert!(head.starts_with("http/1.0 200 "), "{head}");
        assert!(!head.contains("transfer-encoding"), "{head}");
        assert!(!head.contains("content-length"), "{head}");
        assert!(head.contains("content-encoding: identity\r\n"), "{head}");
        assert_eq!(
            &raw[split..],
            &page_body()[..],
            "the body as it is, delimited by the close"
        );
    }
}
