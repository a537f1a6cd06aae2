//! [`Streamed`], the one responder behind pages, files and proxied media: a
//! status, headers, an optional length and a body stream (or a complete
//! body), turned into an actix response.

use std::io;

use actix_web::body::{BodyStream, BoxBody, MessageBody, SizedStream};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{ConnectionType, Method, StatusCode, Version};
use actix_web::{HttpMessage as _, HttpRequest, HttpResponse, Responder};
use bytes::Bytes;
use futures_util::stream::{self, LocalBoxStream};
use futures_util::{Stream, StreamExt as _};

/// A response whose body is a stream of bytes.
///
/// With a [length](Streamed::length) the response carries `Content-Length`;
/// without one it is chunked, or, for an HTTP/1.0 client (which cannot take
/// chunks), delimited by closing the connection. A `HEAD` request gets the
/// headers only and the body is never polled.
pub struct Streamed {
    status: StatusCode,
    headers: HeaderMap,
    length: Option<u64>,
    body: Body,
    /// Compress a complete body here, by the request's `Accept-Encoding`.
    compress: bool,
}

/// A response body: streamed, or complete in memory.
enum Body {
    Stream(LocalBoxStream<'static, io::Result<Bytes>>),
    Complete(Bytes),
}

impl Streamed {
    /// A `200 OK` response streaming `body`.
    pub fn new(body: impl Stream<Item = io::Result<Bytes>> + 'static) -> Self {
        Self {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            length: None,
            body: Body::Stream(body.boxed_local()),
            compress: false,
        }
    }

    /// A response whose whole body is `bytes`, with its length.
    pub fn complete(bytes: Bytes) -> Self {
        let length = bytes.len() as u64;
        let mut streamed = Self::new(stream::empty()).length(length);
        streamed.body = Body::Complete(bytes);
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

    /// A complete HTML page: [`Streamed::html`]'s headers and a known length.
    ///
    /// It is compressed here when the request accepts brotli or gzip, so it
    /// keeps an exact `Content-Length` (a compressing middleware would turn
    /// it into a chunked stream).
    pub fn html_complete(bytes: Bytes) -> Self {
        let mut streamed = Self::complete(bytes).with_html_headers();
        streamed.compress = true;
        streamed
    }

    /// Sets the status.
    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Sets a header, replacing any earlier value.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// Declares the body's exact length, sent as `Content-Length`.
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

impl Responder for Streamed {
    type Body = BoxBody;

    fn respond_to(mut self, req: &HttpRequest) -> HttpResponse {
        // These statuses never have a body, so they get no framing either.
        if matches!(
            self.status,
            StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED
        ) || self.status.is_informational()
        {
            let mut res = HttpResponse::with_body(self.status, BoxBody::new(()));
            *res.headers_mut() = self.headers;
            return res;
        }
        if let Body::Complete(bytes) = &self.body
            && self.compress
            && !self.headers.contains_key(header::CONTENT_ENCODING)
        {
            self.headers
                .insert(header::VARY, HeaderValue::from_static("accept-encoding"));
            if let Some((coding, compressed)) = compress(req, bytes) {
                self.headers
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
                self.length = Some(compressed.len() as u64);
                self.body = Body::Complete(compressed);
            }
        }
        let head_only = req.method() == Method::HEAD;
        let body = match (self.body, self.length, head_only) {
            (_, Some(length), true) => {
                SizedStream::new(length, stream::empty::<io::Result<Bytes>>()).boxed()
            }
            (_, None, true) => BodyStream::new(stream::empty::<io::Result<Bytes>>()).boxed(),
            (Body::Complete(bytes), _, false) => BoxBody::new(bytes),
            (Body::Stream(body), Some(length), false) => SizedStream::new(length, body).boxed(),
            (Body::Stream(body), None, false) => BodyStream::new(body).boxed(),
        };
        let mut res = HttpResponse::with_body(self.status, body);
        *res.headers_mut() = self.headers;
        if self.length.is_none() && req.version() < Version::HTTP_11 {
            let head = res.head_mut();
            head.no_chunking(true);
            head.set_connection_type(ConnectionType::Close);
        }
        res
    }
}

/// `bytes` compressed with the coding `req` prefers among brotli and gzip, at
/// the fast levels actix's `Compress` uses; `None` when it accepts neither.
/// Small bodies are compressed too: left alone, a compressing middleware
/// would take them and drop their length.
fn compress(req: &HttpRequest, bytes: &[u8]) -> Option<(&'static str, Bytes)> {
    use std::io::Write as _;

    let accepted = req.get_header::<header::AcceptEncoding>()?;
    let supported = [header::Encoding::brotli(), header::Encoding::gzip()];
    let chosen = accepted.negotiate(supported.iter())?;
    if chosen == header::Encoding::brotli() {
        let mut out = Vec::with_capacity(bytes.len() / 3);
        let mut writer = brotli::CompressorWriter::new(&mut out, 4096, 3, 22);
        writer.write_all(bytes).ok()?;
        drop(writer);
        Some(("br", Bytes::from(out)))
    } else if chosen == header::Encoding::gzip() {
        let mut writer = flate2::write::GzEncoder::new(
            Vec::with_capacity(bytes.len() / 3),
            flate2::Compression::fast(),
        );
        writer.write_all(bytes).ok()?;
        Some(("gzip", Bytes::from(writer.finish().ok()?)))
    } else {
        None
    }
}
