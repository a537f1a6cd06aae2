//! [`Compress`]: compression for a whole actix-web app with pagepipe's
//! stream-safe encoder, in place of actix's `Compress`. Any compressible
//! response gets the coding pagepipe negotiates: a complete body compressed
//! whole and sent with its length, a stream piece by piece with no encoder
//! held while it waits, one `Vary`, and a strong `ETag` made specific to the
//! representation (so `If-None-Match` works per representation). Ranges,
//! media, responses that name their coding and pagepipe's own responses
//! (which decided theirs) pass through untouched.

use std::future::{Future, Ready};
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, ready};

use actix_web::body::{BodySize, BodyStream, BoxBody, EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::{Error, HttpResponse};
use futures_util::future::LocalBoxFuture;
use futures_util::stream;

use crate::encoding::{self, Coding, Compression, NotAcceptable, Offer, cache, negotiate, pieces};
use crate::streamed::{Decided, add_vary, not_acceptable};

/// Compresses every compressible response of an app with pagepipe's
/// encoder: `App::new().wrap(pagepipe::Compress::default())`.
///
/// - The coding is negotiated as for pagepipe's own responses (zstd, gzip,
///   then brotli for what is compressed as it is sent; `406` when
///   `Accept-Encoding` refuses every coding, identity included).
/// - A complete body (`HttpResponse::Ok().body(..)`, JSON, a file up to
///   64 KiB) is compressed whole and keeps a `Content-Length` (off the
///   worker when large); one under 256 bytes is sent as it is. A larger
///   body read in pieces (a large `NamedFile`) is compressed as a stream. A stream (`.streaming(..)`) is
///   compressed piece by piece as it arrives, holding no encoder between
///   pieces, so a page or feed stays progressive.
/// - `Vary: Accept-Encoding` is added once. A strong `ETag` of a body it
///   compresses becomes specific to the coding (`"abc"` → `"abc-br"`), and
///   an `If-None-Match` holding such a tag also names the tag the handler
///   knows, so `304` works per representation.
/// - Left alone: responses that already name a `Content-Encoding`, partial
///   content (`206`, `Content-Range`), bodies that are not text-like
///   (images, video, archives), `Cache-Control: no-transform`, and every
///   response pagepipe made ([`Page`](crate::Page), [`Streamed`](crate::Streamed),
///   [`Files`](crate::Files)), which decided its coding itself.
/// - Nothing at all when the app turned compression off
///   (`app_data(pagepipe::Compression::off())`).
///
/// ```
/// use actix_web::{App, HttpResponse, web};
///
/// let app = App::new()
///     .wrap(pagepipe::Compress::default())
///     .route("/api/health", web::get().to(|| async { HttpResponse::Ok().json("ok") }));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Compress {
    /// Room for settings to come, without a breaking change.
    _private: (),
}

impl<S, B> Transform<S, ServiceRequest> for Compress
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = CompressService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        std::future::ready(Ok(CompressService {
            service: Rc::new(service),
        }))
    }
}

/// The service [`Compress`] wraps around an app's.
#[derive(Debug)]
pub struct CompressService<S> {
    service: Rc<S>,
}

impl<S, B> Service<ServiceRequest> for CompressService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = CompressFuture<S::Future, B>;

    forward_ready!(service);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        // Only a conditional request needs the coding before the handler
        // runs; every other one is negotiated once its response is known to
        // be eligible (pagepipe's own responses never are).
        let asked = req.headers().contains_key(header::IF_NONE_MATCH)
            && Compression::of(req.request()).enabled()
            && match negotiate(req.request(), Offer::Dynamic) {
                Ok(coding) if coding != Coding::Identity => known_tags(req.headers_mut(), coding),
                _ => false,
            };
        CompressFuture {
            state: State::Call {
                response: self.service.call(req),
                asked,
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// The response of a [`CompressService`]: the app's, passed on at once
    /// when it needs no encoding (pagepipe's own, most of all), encoded
    /// otherwise.
    pub struct CompressFuture<F, B> {
        #[pin]
        state: State<F, B>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Call { #[pin] response: F, asked: bool },
        Encode { encoding: LocalBoxFuture<'static, ServiceResponse<EitherBody<B>>> },
    }
}

impl<F, B> std::fmt::Debug for CompressFuture<F, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompressFuture").finish_non_exhaustive()
    }
}

impl<F, B> Future for CompressFuture<F, B>
where
    F: Future<Output = Result<ServiceResponse<B>, Error>>,
    B: MessageBody + 'static,
{
    type Output = Result<ServiceResponse<EitherBody<B>>, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let encoding = match self.as_mut().project().state.project() {
                StateProj::Call { response, asked } => {
                    let res = ready!(response.poll(cx))?;
                    let asked = *asked;
                    if passes(&res) {
                        return Poll::Ready(Ok(res.map_into_left_body()));
                    }
                    match encode(res, asked) {
                        Encoded::Done(res) => return Poll::Ready(Ok(res)),
                        Encoded::Later(encoding) => encoding,
                    }
                }
                StateProj::Encode { encoding } => return encoding.as_mut().poll(cx).map(Ok),
            };
            self.as_mut()
                .project()
                .state
                .set(State::Encode { encoding });
        }
    }
}

/// Whether `res` goes out as the app made it, without a look at its body:
/// it names its coding (pagepipe's encoded pages do), pagepipe left it
/// unencoded on purpose, or compression is off for the app.
fn passes<B>(res: &ServiceResponse<B>) -> bool {
    res.headers().contains_key(header::CONTENT_ENCODING)
        || res.response().extensions().get::<Decided>().is_some()
        || !Compression::of(res.request()).enabled()
}

/// A response encoded now, or one whose body is being compressed off the
/// worker.
enum Encoded<B> {
    Done(ServiceResponse<EitherBody<B>>),
    Later(LocalBoxFuture<'static, ServiceResponse<EitherBody<B>>>),
}

/// `res` encoded for its request; `asked`: the request's `If-None-Match`
/// held a tag of the coding it negotiates. Only a large complete body
/// waits, for the blocking pool.
fn encode<B: MessageBody + 'static>(res: ServiceResponse<B>, asked: bool) -> Encoded<B> {
    let (req, mut res) = res.into_parts();
    let left = |req, res: HttpResponse<B>| {
        Encoded::Done(ServiceResponse::new(req, res.map_into_left_body()))
    };
    if res.status() == StatusCode::NOT_MODIFIED {
        if asked && let Ok(coding) = negotiate(&req, Offer::Dynamic) {
            specific_tag(res.headers_mut(), coding);
            add_vary(res.headers_mut());
        }
        return left(req, res);
    }
    if !eligible(&res) {
        return left(req, res);
    }
    add_vary(res.headers_mut());
    let coding = match negotiate(&req, Offer::Dynamic) {
        Ok(Coding::Identity) => return left(req, res),
        Ok(coding) => coding,
        Err(NotAcceptable) => {
            let refused = actix_web::Responder::respond_to(not_acceptable(), &req);
            return Encoded::Done(ServiceResponse::new(req, refused.map_into_right_body()));
        }
    };
    let right = |req, res: HttpResponse| {
        Encoded::Done(ServiceResponse::new(req, res.map_into_right_body()))
    };
    match res.body().size() {
        BodySize::None => left(req, res),
        BodySize::Sized(len) if len < cache::MIN_COMPRESSIBLE => left(req, res),
        BodySize::Stream => right(req, streamed(res, coding)),
        BodySize::Sized(len) => {
            let (head, body) = res.into_parts();
            match body.try_into_bytes() {
                // A small body of known length read in pieces (a file):
                // read whole, so it keeps a length once compressed.
                Err(body) if len <= pieces::INLINE_LIMIT as u64 => {
                    Encoded::Later(Box::pin(async move {
                        let res = match actix_web::body::to_bytes(body).await {
                            Ok(bytes) => {
                                let compressed = pieces::compressed(&bytes, coding);
                                whole(head, coding, compressed, bytes)
                            }
                            Err(err) => {
                                let err = io::Error::other(err.into().to_string());
                                tracing::error!(error = %err, "response body could not be read");
                                let mut res = head.set_body(BoxBody::new(()));
                                *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                                res
                            }
                        };
                        ServiceResponse::new(req, res.map_into_right_body())
                    }))
                }
                Err(body) => right(req, streamed(head.set_body(body), coding)),
                Ok(bytes) if bytes.len() > pieces::INLINE_LIMIT => {
                    Encoded::Later(Box::pin(async move {
                        let compressed = pieces::compressed_off_worker(bytes.clone(), coding).await;
                        ServiceResponse::new(
                            req,
                            whole(head, coding, compressed, bytes).map_into_right_body(),
                        )
                    }))
                }
                Ok(bytes) => {
                    let compressed = pieces::compressed(&bytes, coding);
                    right(req, whole(head, coding, compressed, bytes))
                }
            }
        }
    }
}

/// Whether `res` is one this middleware encodes: a body of a compressible
/// type that nothing has encoded or ruled out encoding.
fn eligible<B>(res: &HttpResponse<B>) -> bool {
    let headers = res.headers();
    let text = |name| {
        headers
            .get(name)
            .and_then(|value: &HeaderValue| value.to_str().ok())
    };
    res.status() != StatusCode::PARTIAL_CONTENT
        && !res.status().is_informational()
        && res.status() != StatusCode::NO_CONTENT
        && !headers.contains_key(header::CONTENT_ENCODING)
        && !headers.contains_key(header::CONTENT_RANGE)
        && text(header::CONTENT_TYPE).is_some_and(encoding::compressible)
        && !text(header::CACHE_CONTROL).is_some_and(|value| value.contains("no-transform"))
}

/// A complete body as `compressed` in `coding`, with its length; left as
/// `original` if compressing failed.
fn whole(
    mut res: HttpResponse<()>,
    coding: Coding,
    compressed: Option<bytes::Bytes>,
    original: bytes::Bytes,
) -> HttpResponse {
    match compressed {
        Some(compressed) => {
            encoded_headers(res.headers_mut(), coding);
            res.set_body(BoxBody::new(compressed))
        }
        None => res.set_body(BoxBody::new(original)),
    }
}

/// A streamed body compressed piece by piece as it arrives.
fn streamed<B: MessageBody + 'static>(res: HttpResponse<B>, coding: Coding) -> HttpResponse {
    let (mut res, body) = res.into_parts();
    let mut body = Box::pin(body);
    let chunks = stream::poll_fn(move |cx| {
        body.as_mut().poll_next(cx).map(|next| {
            next.map(|chunk| chunk.map_err(|err| io::Error::other(err.into().to_string())))
        })
    });
    encoded_headers(res.headers_mut(), coding);
    res.headers_mut().remove(header::CONTENT_LENGTH);
    res.set_body(BodyStream::new(pieces::encode(chunks, coding)).boxed())
}

/// `Content-Encoding: coding`, and a strong `ETag` made specific to it.
fn encoded_headers(headers: &mut HeaderMap, coding: Coding) {
    headers.insert(header::CONTENT_ENCODING, coding.header_value());
    specific_tag(headers, coding);
}

/// A strong `ETag` `"x"` as `"x-coding"`; weak ones (`W/"x"`) stay: they
/// already say the bytes may differ.
fn specific_tag(headers: &mut HeaderMap, coding: Coding) {
    let Some(tag) = headers
        .get(header::ETAG)
        .and_then(|value| value.to_str().ok())
    else {
        return;
    };
    let Some(opaque) = tag.strip_prefix('"').and_then(|tag| tag.strip_suffix('"')) else {
        return;
    };
    if let Ok(value) = HeaderValue::from_str(&format!("\"{opaque}-{}\"", coding.as_str())) {
        headers.insert(header::ETAG, value);
    }
}

/// Adds to the request's `If-None-Match` the tags the handler made: a tag
/// specific to `coding` is followed by the same without its suffix (kept as
/// well, for handlers that tag their representations themselves, as
/// pagepipe's files do). Whether any was.
fn known_tags(headers: &mut HeaderMap, coding: Coding) -> bool {
    let suffix = format!("-{}\"", coding.as_str());
    let Some(value) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    let mut changed = false;
    let tags: Vec<String> = value
        .split(',')
        .map(|tag| {
            let tag = tag.trim();
            match tag.strip_suffix(&suffix) {
                Some(known) if !tag.starts_with("W/") => {
                    changed = true;
                    format!("{tag}, {known}\"")
                }
                _ => tag.to_owned(),
            }
        })
        .collect();
    if changed && let Ok(value) = HeaderValue::from_str(&tags.join(", ")) {
        headers.insert(header::IF_NONE_MATCH, value);
    }
    changed
}
