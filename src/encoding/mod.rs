//! Content coding owned by pagepipe: which of zstd, brotli and gzip a
//! response gets ([`negotiate`]), how a streamed body is compressed chunk by
//! chunk without holding an encoder while it waits ([`pieces`]), and the
//! cache of files compressed once at a high level ([`cache`]). The design and
//! its measurements are in `docs/performance.md`.

use std::fmt;
use std::sync::{Arc, LazyLock};

use actix_web::HttpRequest;
use actix_web::http::header::HeaderValue;

pub(crate) mod cache;
mod negotiate;
pub(crate) mod pieces;
mod pool;

pub(crate) use negotiate::{NotAcceptable, Offer, negotiate};

/// A content coding pagepipe can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Coding {
    /// `zstd` (RFC 8878).
    Zstd,
    /// `br` (RFC 7932).
    Brotli,
    /// `gzip` (RFC 1952).
    Gzip,
    /// No content coding.
    Identity,
}

impl Coding {
    /// The coding's token in `Content-Encoding` and `Accept-Encoding`.
    pub fn as_str(self) -> &'static str {
        match self {
            Coding::Zstd => "zstd",
            Coding::Brotli => "br",
            Coding::Gzip => "gzip",
            Coding::Identity => "identity",
        }
    }

    /// The file-name suffix of a precompressed sibling (`site.css.br`).
    pub(crate) fn suffix(self) -> Option<&'static str> {
        match self {
            Coding::Zstd => Some("zst"),
            Coding::Brotli => Some("br"),
            Coding::Gzip => Some("gz"),
            Coding::Identity => None,
        }
    }

    pub(crate) fn header_value(self) -> HeaderValue {
        HeaderValue::from_static(self.as_str())
    }
}

impl fmt::Display for Coding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an application's responses are compressed. Compression is on by
/// default; register one of these as app data to change that:
///
/// ```
/// use actix_web::App;
/// // Behind a CDN or nginx that compresses responses itself:
/// let app = App::new().app_data(pagepipe::Compression::off());
/// ```
///
/// Every response built by [`Streamed`](crate::Streamed) whose type is
/// compressible (HTML, text, JSON, NDJSON, JavaScript, SVG, …) is
/// negotiated by the request's `Accept-Encoding` and carries `Vary:
/// Accept-Encoding`; media, `206` responses to them, and bodies that already
/// have a `Content-Encoding` are left alone (so actix's own `Compress`
/// middleware, if the application also adds it, skips them too).
#[derive(Clone)]
pub struct Compression {
    inner: Arc<Settings>,
}

struct Settings {
    enabled: bool,
    cache: cache::Cache,
}

/// What the static-file cache may hold unless [`Compression::cache_bytes`]
/// says otherwise.
pub const DEFAULT_CACHE_BYTES: usize = 32 * 1024 * 1024;

impl Compression {
    /// Compression on, with a file cache of [`DEFAULT_CACHE_BYTES`].
    pub fn new() -> Self {
        Self::with(true, DEFAULT_CACHE_BYTES)
    }

    /// No compression by pagepipe: every response goes out as it is.
    pub fn off() -> Self {
        Self::with(false, 0)
    }

    /// Bounds the memory holding compressed copies of static files to
    /// `bytes`; the least recently used copies make room for new ones.
    #[must_use]
    pub fn cache_bytes(self, bytes: usize) -> Self {
        Self::with(self.inner.enabled, bytes)
    }

    fn with(enabled: bool, cache_bytes: usize) -> Self {
        Self {
            inner: Arc::new(Settings {
                enabled,
                cache: cache::Cache::new(cache_bytes),
            }),
        }
    }

    /// Whether pagepipe compresses at all.
    pub fn enabled(&self) -> bool {
        self.inner.enabled
    }

    /// The settings `req`'s application registered, or the defaults.
    pub(crate) fn of(req: &HttpRequest) -> &Compression {
        static DEFAULT: LazyLock<Compression> = LazyLock::new(Compression::new);
        req.app_data::<Compression>().unwrap_or(&DEFAULT)
    }

    pub(crate) fn cache(&self) -> &cache::Cache {
        &self.inner.cache
    }
}

impl Default for Compression {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compression")
            .field("enabled", &self.inner.enabled)
            .field("cache", &self.inner.cache)
            .finish()
    }
}

/// Whether a body of `content_type` is worth compressing: text and
/// structured text, never images (but SVG), audio, video, fonts other than
/// TrueType/OpenType, or archives, which are compressed already.
pub(crate) fn compressible(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    // Media types are case-insensitive, but nearly always lower case: copy
    // only when they are not (this runs for every response).
    let lower;
    let essence = if essence.bytes().any(|b| b.is_ascii_uppercase()) {
        lower = essence.to_ascii_lowercase();
        lower.as_str()
    } else {
        essence
    };
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    match kind {
        "text" => true,
        "image" => subtype == "svg+xml",
        "font" => matches!(subtype, "ttf" | "otf" | "sfnt"),
        "application" => {
            subtype.ends_with("+json")
                || subtype.ends_with("+xml")
                || matches!(
                    subtype,
                    "json"
                        | "x-ndjson"
                        | "jsonl"
                        | "javascript"
                        | "x-javascript"
                        | "ecmascript"
                        | "xml"
                        | "wasm"
                        | "x-sh"
                        | "x-tar"
                        | "graphql"
                )
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_structured_text_are_compressible() {
        for ty in [
            "text/html; charset=utf-8",
            "text/css",
            "application/javascript",
            "application/json",
            "application/x-ndjson",
            "image/svg+xml",
            "application/manifest+json",
            "application/atom+xml",
            "application/wasm",
            "TEXT/PLAIN",
        ] {
            assert!(compressible(ty), "{ty}");
        }
    }

    #[test]
    fn media_and_compressed_formats_are_not() {
        for ty in [
            "image/jpeg",
            "image/png",
            "image/webp",
            "video/mp4",
            "audio/mpeg",
            "font/woff2",
            "application/zip",
            "application/gzip",
            "application/octet-stream",
            "",
            "nonsense",
        ] {
            assert!(!compressible(ty), "{ty}");
        }
    }
}
