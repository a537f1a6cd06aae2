//! [`Streamed`], the one responder behind pages, files and proxied media: a
//! status, headers, an optional length and a body stream, turned into an
//! actix response.

use std::io;

use actix_web::body::{BodyStream, BoxBody, MessageBody, SizedStream};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{ConnectionType, Method, StatusCode, Version};
use actix_web::{HttpRequest, HttpResponse, Responder};
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
    body: LocalBoxStream<'static, io::Result<Bytes>>,
}

impl Streamed {
    /// A `200 OK` response streaming `body`.
    pub fn new(body: impl Stream<Item = io::Result<Bytes>> + 'static) -> Self {
        Self {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            length: None,
            body: body.boxed_local(),
        }
    }

    /// A response whose whole body is `bytes`, with its length.
    pub fn complete(bytes: Bytes) -> Self {
        let length = bytes.len() as u64;
        Self::new(stream::once(async { Ok(bytes) })).length(length)
    }

    /// A streamed HTML page, with the headers a progressive page needs:
    /// a charset, no caching, no proxy buffering, no sniffing.
    pub fn html(body: impl Stream<Item = io::Result<Bytes>> + 'static) -> Self {
        Self::new(body)
            .header(
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

    /// A complete HTML page: [`Streamed::html`] with a known length.
    pub fn html_complete(bytes: Bytes) -> Self {
        let length = bytes.len() as u64;
        Self::html(stream::once(async { Ok(bytes) })).length(length)
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

    fn respond_to(self, req: &HttpRequest) -> HttpResponse {
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
        let head_only = req.method() == Method::HEAD;
        let body = match (self.length, head_only) {
            (Some(length), true) => {
                SizedStream::new(length, stream::empty::<io::Result<Bytes>>()).boxed()
            }
            (Some(length), false) => SizedStream::new(length, self.body).boxed(),
            (None, true) => BodyStream::new(stream::empty::<io::Result<Bytes>>()).boxed(),
            (None, false) => BodyStream::new(self.body).boxed(),
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
