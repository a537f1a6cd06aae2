//! An upstream URL relayed as a [`Streamed`]: the client's range and
//! conditional headers go up, the status, validators and range headers come
//! back, and the body streams through without being buffered. Dropping the
//! response (the client left) drops the upstream request.

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
    /// status, range and validator headers, and the body as a stream. An
    /// unreachable or failing upstream gives `502` with a plain-text reason.
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
            Ok(res) if res.status().is_server_error() => {
                bad_gateway(&format!("the upstream answered {}", res.status()))
            }
            Ok(res) => relayed(res),
            Err(err) => bad_gateway(&format!("the upstream could not be reached: {err}")),
        }
    }
}

impl FromStr for Upstream {
    type Err = UpstreamError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        Self::new(url)
    }
}

/// The client's response from the upstream's.
fn relayed(res: reqwest::Response) -> Streamed {
    let status = StatusCode::from_u16(res.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let length = match status {
        // No body, whatever Content-Length says about the representation.
        StatusCode::NOT_MODIFIED | StatusCode::NO_CONTENT => Some(0),
        _ => content_length(res.headers()),
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
    streamed.status(status)
}

/// The upstream's `Content-Length`, read from the header: for a HEAD the
/// body is empty, but the header still gives the representation's length.
fn content_length(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    headers
        .get(reqwest::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn bad_gateway(reason: &str) -> Streamed {
    tracing::warn!(reason, "upstream failed");
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
