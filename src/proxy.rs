//! An upstream URL relayed as a [`Streamed`]: the client's range and
//! conditional headers go up, the status, validators and range headers come
//! back, and the body streams through without being buffered. Dropping the
//! response (the client left) drops the upstream request.
//!
//! Only audio and video are relayed, with `nosniff`, and framed by what the
//! upstream actually sent; redirects are not followed; a failure is a `502`
//! with a plain sentence that never names the upstream (the log does).

use std::io;
use std::str::FromStr;
use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use futures_util::{TryStreamExt as _, stream};

use crate::Streamed;

/// How long connecting to the upstream may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the upstream may stay silent, for the response head or between
/// two reads of the body. There is no total deadline: a video may stream
/// for as long as it is watched.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Request headers passed on to the upstream.
const FORWARDED: [HeaderName; 6] = [
    header::RANGE,
    header::IF_RANGE,
    header::IF_MATCH,
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
    header::IF_UNMODIFIED_SINCE,
];

/// Response headers passed back to the client. Hop-by-hop headers
/// (`Connection`, `Transfer-Encoding`, `Keep-Alive`, ...) are never among
/// them; `Content-Length` becomes the response's length.
const RELAYED: [HeaderName; 9] = [
    header::CONTENT_TYPE,
    header::CONTENT_RANGE,
    header::ACCEPT_RANGES,
    header::ETAG,
    header::LAST_MODIFIED,
    header::CACHE_CONTROL,
    header::EXPIRES,
    header::CONTENT_ENCODING,
    header::CONTENT_DISPOSITION,
];

/// Why an upstream URL is refused at startup.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// Not a URL.
    #[error("{url:?} is not a URL: {reason}")]
    InvalidUrl {
        /// What was given.
        url: String,
        /// Why it does not parse.
        reason: String,
    },
    /// A scheme other than `http` (this build has no TLS).
    #[error("{0:?}: only http:// upstreams are supported (this build has no TLS)")]
    UnsupportedScheme(String),
    /// The HTTP client could not be built.
    #[error("HTTP client could not be built: {0}")]
    Client(#[from] reqwest::Error),
}

/// An upstream whose responses are relayed to clients, e.g. a video server.
///
/// Cheap to clone. Connections are not pooled: each relayed request gets its
/// own, opened on the worker that serves it, so a seek never waits behind
/// another and nothing is shared across actix's worker runtimes.
#[derive(Debug, Clone)]
pub struct Upstream {
    url: reqwest::Url,
    client: reqwest::Client,
}

impl Upstream {
    /// An upstream at `url`, which must be an `http://` URL.
    pub fn new(url: &str) -> Result<Self, UpstreamError> {
        let parsed = reqwest::Url::parse(url).map_err(|err| UpstreamError::InvalidUrl {
            url: url.to_owned(),
            reason: err.to_string(),
        })?;
        if parsed.scheme() != "http" {
            return Err(UpstreamError::UnsupportedScheme(url.to_owned()));
        }
        let client = reqwest::Client::builder()
            // A redirect could point anywhere, the upstream's own network
            // included: it is answered 502, never followed.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(IDLE_TIMEOUT)
            .pool_max_idle_per_host(0)
            .build()?;
        Ok(Self {
            url: parsed,
            client,
        })
    }

    /// The upstream's URL.
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// Relays `req` (GET or HEAD) to the upstream and its answer back: the
    /// status, range and validator headers, and the body as a stream, with
    /// `X-Content-Type-Options: nosniff`.
    ///
    /// An unreachable or failing (`5xx`) upstream, a redirect (not
    /// followed), and a body that is not `audio/*` or `video/*` give `502`
    /// with a plain-text reason; an upstream `4xx` keeps its status with a
    /// plain-text reason instead of the upstream's body. Reasons never name
    /// the upstream's URL: it is logged instead.
    pub async fn relay(&self, req: &HttpRequest) -> Streamed {
        let method = match *req.method() {
            Method::GET => reqwest::Method::GET,
            Method::HEAD => reqwest::Method::HEAD,
            _ => return not_allowed(),
        };
        let mut upstream_req = self.client.request(method, self.url.clone());
        for name in &FORWARDED {
            for value in req.headers().get_all(name) {
                upstream_req = upstream_req.header(name.as_str(), value.as_bytes());
            }
        }
        match upstream_req.send().await {
            Ok(res) => self.relayed(res, req.method() == Method::HEAD),
            Err(err) => {
                tracing::warn!(
                    url = %self.url,
                    error = %err,
                    "the upstream could not be reached"
                );
                bad_gateway("the upstream could not be reached")
            }
        }
    }

    /// The client's response from the upstream's.
    fn relayed(&self, res: reqwest::Response, head: bool) -> Streamed {
        let upstream_status = res.status();
        let Ok(status) = StatusCode::from_u16(upstream_status.as_u16()) else {
            tracing::warn!(
                url = %self.url,
                status = %upstream_status,
                "the upstream answered an invalid status"
            );
            return bad_gateway("the upstream answered an invalid status");
        };
        if status.is_server_error() {
            tracing::warn!(url = %self.url, %status, "the upstream failed");
            return bad_gateway(&format!("the upstream answered {status}"));
        }
        if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
            let location = res
                .headers()
                .get(reqwest::header::LOCATION)
                .map(|location| String::from_utf8_lossy(location.as_bytes()).into_owned());
            tracing::warn!(
                url = %self.url,
                %status,
                location = location.as_deref().unwrap_or("(none)"),
                "the upstream answered with a redirect, which is not followed"
            );
            return bad_gateway("the upstream answered with a redirect, which is not followed");
        }
        if status.is_client_error() {
            return client_error(status, res.headers());
        }
        let has_body = !matches!(status, StatusCode::NOT_MODIFIED | StatusCode::NO_CONTENT);
        let content_type = res.headers().get(reqwest::header::CONTENT_TYPE);
        if has_body && !is_media(content_type) {
            let content_type = content_type.map(|value| String::from_utf8_lossy(value.as_bytes()));
            tracing::warn!(
                url = %self.url,
                content_type = content_type.as_deref().unwrap_or("(none)"),
                "the upstream answered with a type other than audio or video"
            );
            return bad_gateway(
                "the upstream answered with a type other than audio or video, which is not relayed",
            );
        }
        relayed(status, res, head)
    }
}

impl FromStr for Upstream {
    type Err = UpstreamError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        Self::new(url)
    }
}

/// Whether a `Content-Type` is audio or video media, the only bodies
/// relayed: anything else (HTML, SVG, scripts, no type at all) would be
/// served on this origin as the upstream wrote it.
fn is_media(content_type: Option<&reqwest::header::HeaderValue>) -> bool {
    let Some(mime) = content_type
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<mime_guess::mime::Mime>().ok())
    else {
        return false;
    };
    let media = mime.type_() == mime_guess::mime::VIDEO || mime.type_() == mime_guess::mime::AUDIO;
    media && !mime.subtype().as_str().is_empty()
}

/// The upstream's `4xx` with its status and a plain-text reason of ours in
/// place of its body; a `416` keeps its `Content-Range`.
fn client_error(status: StatusCode, headers: &reqwest::header::HeaderMap) -> Streamed {
    let reason = format!("the upstream answered {status}\n");
    let streamed = Streamed::text(status, reason).header(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    match headers
        .get(reqwest::header::CONTENT_RANGE)
        .and_then(|value| HeaderValue::from_bytes(value.as_bytes()).ok())
    {
        Some(range) if status == StatusCode::RANGE_NOT_SATISFIABLE => {
            streamed.header(header::CONTENT_RANGE, range)
        }
        _ => streamed,
    }
}

/// The client's response from the upstream's, whose status and type were
/// checked.
fn relayed(status: StatusCode, res: reqwest::Response, head: bool) -> Streamed {
    let chunked = res
        .headers()
        .contains_key(reqwest::header::TRANSFER_ENCODING);
    let length = match status {
        // No body, whatever Content-Length says about the representation.
        StatusCode::NOT_MODIFIED | StatusCode::NO_CONTENT => Some(0),
        // Framed by chunks as they arrive: a Content-Length beside
        // Transfer-Encoding says nothing about the body (RFC 9112 §6.3).
        _ if chunked => None,
        // A HEAD has no body: the header still gives the representation's
        // length.
        _ if head => content_length(res.headers()),
        // The length the body is read with: exactly that many bytes arrive.
        _ => res.content_length(),
    };
    let mut headers = Vec::new();
    for name in &RELAYED {
        let value = res.headers().get(name.as_str());
        if let Some(value) = value.and_then(|value| HeaderValue::from_bytes(value.as_bytes()).ok())
        {
            headers.push((name.clone(), value));
        }
    }
    let body = res.bytes_stream().map_err(io::Error::other);
    let mut streamed = match length {
        Some(0) => Streamed::new(stream::empty()).length(0),
        Some(length) => Streamed::new(body).length(length),
        None => Streamed::new(body),
    };
    for (name, value) in headers {
        streamed = streamed.header(name, value);
    }
    streamed.status(status).header(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    )
}

/// The upstream's `Content-Length`, read from the header.
fn content_length(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    headers
        .get(reqwest::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// A `502` saying `reason`, which must not name the upstream: the caller
/// logs the details.
fn bad_gateway(reason: &str) -> Streamed {
    Streamed::text(StatusCode::BAD_GATEWAY, format!("bad gateway: {reason}\n"))
}

fn not_allowed() -> Streamed {
    Streamed::text(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed: the upstream is relayed for GET and HEAD only\n".to_owned(),
    )
    .header(header::ALLOW, HeaderValue::from_static("GET, HEAD"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_audio_and_video_types_are_media() {
        let table = [
            ("video/mp4", true),
            ("VIDEO/WebM", true),
            ("audio/mpeg", true),
            ("audio/ogg; codecs=opus", true),
            ("video/mp2t;charset=binary", true),
            ("text/html", false),
            ("text/html; x=video/mp4", false),
            ("image/svg+xml", false),
            ("image/jpeg", false),
            ("application/octet-stream", false),
            ("multipart/byteranges; boundary=x", false),
            ("video", false),
            ("video/", false),
            ("", false),
        ];
        for (value, media) in table {
            let value = reqwest::header::HeaderValue::from_static(value);
            assert_eq!(is_media(Some(&value)), media, "{value:?}");
        }
        assert!(!is_media(None));
    }

    #[test]
    fn https_and_garbage_upstreams_are_refused_at_startup() {
        assert!(matches!(
            Upstream::new("https://example.com/v.mp4"),
            Err(UpstreamError::UnsupportedScheme(_))
        ));
        assert!(matches!(
            Upstream::new("not a url"),
            Err(UpstreamError::InvalidUrl { .. })
        ));
        let upstream = Upstream::new("http://127.0.0.1:9/v.mp4").map_err(|err| err.to_string());
        assert_eq!(
            upstream.as_ref().map(Upstream::url),
            Ok("http://127.0.0.1:9/v.mp4")
        );
    }
}
