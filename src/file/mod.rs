//! Files through the streaming responder: a path under a root plus the
//! request become a [`Streamed`] (safe path resolution, MIME type,
//! validators, conditional requests, byte ranges, HEAD without reading, and
//! compressible files as a precompressed sibling or a cached compressed
//! copy, each with its own ETag). Every outcome is first an [`Output`], then
//! a response.

use std::fs::{File, Metadata};
use std::io;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix_web::HttpRequest;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use bytes::Bytes;
use futures_util::stream;

use crate::Streamed;
use crate::encoding::{self, Coding, Compression, NotAcceptable, Offer, cache, negotiate};
use conditional::{Precondition, Validators};
use path::PathError;
use range::{Multipart, Selection};

pub use mount::Files;

mod body;
mod conditional;
mod mount;
mod path;
mod range;
#[cfg(test)]
mod tests;

/// `Cache-Control` sent with every file: caches may keep it an hour, then
/// revalidate with its ETag.
pub(crate) const CACHE_CONTROL: &str = "public, max-age=3600";

/// Serves the file that `path` names under `root` as a [`Streamed`].
///
/// `path` is the request's path tail as actix matched it (still partly
/// percent-encoded); it is decoded once and refused (`400`) if it leaves
/// `root`. The file is opened beneath `root`: symlinks are followed only
/// while they stay under it (one leading out is `404`), and a name followed
/// by `/` or `/.` is `404`. Answers GET and HEAD (`405` otherwise),
/// conditional requests (`304`, `412`) and single or multiple byte ranges
/// (`206`, `416`; overlapping or adjacent ranges are sent as one).
/// Responses carry a strong ETag, Last-Modified, `Accept-Ranges: bytes` and
/// `Cache-Control: public, max-age=3600`.
pub async fn serve_file(root: impl AsRef<Path>, path: &str, req: &HttpRequest) -> Streamed {
    let output = match open(root.as_ref(), path, req).await {
        Ok(opened) => decide(req, opened),
        Err(refusal) => Output::Refused(refusal),
    };
    output.into_streamed()
}

/// Files up to this size are read whole in the same trip to the blocking
/// pool that opens them, when the request is a plain GET, so the response
/// needs no second trip and goes out in one write.
pub(crate) const SMALL_FILE: u64 = 64 * 1024;

/// Where a representation's bytes are.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// Read from the open file as the response is sent.
    File(Arc<File>),
    /// In memory: a small file read as it was opened, or a compressed copy.
    Memory(Bytes),
}

/// One representation of a file (as it is, or compressed) and what its
/// responses say about it.
#[derive(Debug)]
pub(crate) struct Opened {
    source: Source,
    /// The representation's length.
    len: u64,
    content_type: String,
    /// The representation's validators: each coding has its own ETag.
    validators: Validators,
    /// The `Content-Encoding` of a compressed representation.
    coding: Option<Coding>,
    /// Whether the representation depends on `Accept-Encoding`.
    vary: bool,
}

/// Why a file is not served.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refusal {
    /// Neither GET nor HEAD.
    #[error("method not allowed: files answer GET and HEAD only")]
    MethodNotAllowed,
    /// A malformed path, or one leaving the root.
    #[error("bad request: the path {0}")]
    BadPath(&'static str),
    /// Nothing to serve there.
    #[error("not found")]
    NotFound,
    /// The file exists but may not be read.
    #[error("forbidden")]
    Forbidden,
    /// `Accept-Encoding` refuses every coding the file is available in.
    #[error(
        "not acceptable: Accept-Encoding refuses every coding this file is available in \
         (br, zstd, gzip, identity)"
    )]
    NotAcceptable,
    /// The file could not be opened for another reason.
    #[error("file could not be opened")]
    Unreadable(#[source] io::Error),
}

/// What the request gets, before it becomes a response.
#[derive(Debug)]
pub(crate) enum Output {
    /// `200` with the whole file.
    Full(Opened),
    /// `206` with one range.
    Partial(Opened, RangeInclusive<u64>),
    /// `206` with several ranges as `multipart/byteranges`.
    Multipart(Opened, Vec<RangeInclusive<u64>>),
    /// `304`: the client's copy is current.
    NotModified(Opened),
    /// `412`: If-Match or If-Unmodified-Since failed.
    PreconditionFailed(Opened),
    /// `416`: no requested range lies within the file.
    RangeNotSatisfiable(Opened),
    /// `4xx`/`5xx` with a plain-text reason.
    Refused(Refusal),
}

/// What an open needs to know of the request.
struct Wanted {
    read_small: bool,
    /// The coding the request prefers for a compressible file, with the
    /// cache to take it from; `None` when compression is off.
    coding: Option<(Result<Coding, NotAcceptable>, Compression)>,
}

/// Resolves `path` under `root` and opens the representation the request
/// gets, off the async threads.
async fn open(root: &Path, path: &str, req: &HttpRequest) -> Result<Opened, Refusal> {
    let method = req.method();
    if method != Method::GET && method != Method::HEAD {
        return Err(Refusal::MethodNotAllowed);
    }
    let relative = path::sanitize(path)?;
    let root = root.to_path_buf();
    // A conditional or range request usually needs no body, or only part.
    let read_small = method == Method::GET
        && [
            header::RANGE,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            header::IF_MODIFIED_SINCE,
            header::IF_UNMODIFIED_SINCE,
        ]
        .iter()
        .all(|name| !req.headers().contains_key(name));
    let compression = Compression::of(req);
    let wanted = Wanted {
        read_small,
        coding: compression
            .enabled()
            .then(|| (negotiate(req, Offer::Static), compression.clone())),
    };
    let opening = tokio::task::spawn_blocking(move || open_blocking(&root, relative, wanted));
    opening
        .await
        .map_err(|err| Refusal::Unreadable(io::Error::other(err)))?
}

fn open_blocking(root: &Path, relative: PathBuf, wanted: Wanted) -> Result<Opened, Refusal> {
    let (file, metadata) = path::open_file(root, &relative)?;
    let content_type = content_type(&relative);
    let validators = validators_of(&metadata);
    // Whether the response depends on Accept-Encoding: for a compressible
    // type, even when this version is too small to compress.
    let vary = wanted.coding.is_some() && encoding::compressible(&content_type);
    if let Some((coding, compression)) = wanted.coding
        && vary
    {
        // Refused whatever its size, as a small complete `Streamed` body is.
        let coding = coding.map_err(|NotAcceptable| Refusal::NotAcceptable)?;
        if coding != Coding::Identity && metadata.len() >= cache::MIN_COMPRESSIBLE {
            let compressed = sibling(root, &relative, coding, &content_type).or_else(|| {
                // Keyed by the path asked for: the ETag tells versions apart.
                let bytes = compression.cache().get(
                    &root.join(&relative),
                    validators.etag.tag(),
                    coding,
                    &file,
                    metadata.len(),
                )?;
                Some(Opened {
                    len: bytes.len() as u64,
                    source: Source::Memory(bytes),
                    content_type: content_type.clone(),
                    validators: validators.encoded(coding),
                    coding: Some(coding),
                    vary: true,
                })
            });
            if let Some(compressed) = compressed {
                return Ok(compressed);
            }
        }
    }
    identity(
        file,
        &metadata,
        content_type,
        validators,
        wanted.read_small,
        vary,
    )
}

/// The file as it is.
fn identity(
    file: File,
    metadata: &Metadata,
    content_type: String,
    validators: Validators,
    read_small: bool,
    vary: bool,
) -> Result<Opened, Refusal> {
    let contents = if read_small && metadata.len() <= SMALL_FILE {
        body::read_whole(&file, metadata.len())?
    } else {
        None
    };
    Ok(Opened {
        source: contents.map_or_else(|| Source::File(Arc::new(file)), Source::Memory),
        len: metadata.len(),
        content_type,
        validators,
        coding: None,
        vary,
    })
}

/// A precompressed sibling of the file (`site.css.br` for `site.css`), as
/// nginx's `gzip_static` serves them, if one is there and is a plain file
/// under the root.
fn sibling(root: &Path, relative: &Path, coding: Coding, content_type: &str) -> Option<Opened> {
    let mut name = relative.file_name()?.to_os_string();
    name.push(".");
    name.push(coding.suffix()?);
    let (file, metadata) = path::open_file(root, &relative.with_file_name(name)).ok()?;
    Some(Opened {
        len: metadata.len(),
        source: Source::File(Arc::new(file)),
        content_type: content_type.to_owned(),
        validators: validators_of(&metadata).encoded(coding),
        coding: Some(coding),
        vary: true,
    })
}

fn validators_of(metadata: &Metadata) -> Validators {
    Validators::new(
        std::os::unix::fs::MetadataExt::ino(metadata),
        metadata.len(),
        metadata.modified().ok(),
    )
}

/// The MIME type from the extension, with `charset=utf-8` on text.
fn content_type(path: &Path) -> String {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let textual = mime.type_() == mime_guess::mime::TEXT
        || mime == mime_guess::mime::APPLICATION_JAVASCRIPT
        || mime == mime_guess::mime::APPLICATION_JSON;
    if textual && mime.get_param(mime_guess::mime::CHARSET).is_none() {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    }
}

/// Applies the preconditions, then `If-Range` and `Range` (GET only).
fn decide(req: &HttpRequest, opened: Opened) -> Output {
    match conditional::evaluate(req, &opened.validators) {
        Precondition::Failed => return Output::PreconditionFailed(opened),
        Precondition::NotModified => return Output::NotModified(opened),
        Precondition::Proceed => {}
    }
    let now = std::time::SystemTime::now();
    if req.method() != Method::GET || !conditional::range_allowed(req, &opened.validators, now) {
        return Output::Full(opened);
    }
    match range::select(req.headers().get(header::RANGE), opened.len) {
        Selection::Full => Output::Full(opened),
        Selection::One(range) => Output::Partial(opened, range),
        Selection::Many(ranges) => Output::Multipart(opened, ranges),
        Selection::Unsatisfiable => Output::RangeNotSatisfiable(opened),
    }
}

impl Output {
    /// The response for this outcome.
    pub(crate) fn into_streamed(self) -> Streamed {
        match self {
            Output::Full(opened) => full(opened),
            Output::Partial(opened, range) => partial(opened, range),
            Output::Multipart(opened, ranges) => multipart(opened, ranges),
            Output::NotModified(opened) => not_modified(&opened),
            Output::PreconditionFailed(opened) => precondition_failed(&opened),
            Output::RangeNotSatisfiable(opened) => unsatisfiable(&opened),
            Output::Refused(refusal) => refused(&refusal),
        }
    }
}

fn full(opened: Opened) -> Streamed {
    let streamed = match opened.len.checked_sub(1) {
        Some(last) => Streamed::new(body::span(opened.source.clone(), 0..=last)),
        None => Streamed::new(stream::empty()),
    };
    represented(streamed.length(opened.len), &opened)
}

fn partial(opened: Opened, range: RangeInclusive<u64>) -> Streamed {
    let content_range = range::content_range(&range, opened.len);
    let len = range::span(&range);
    let streamed = Streamed::new(body::span(opened.source.clone(), range))
        .length(len)
        .status(StatusCode::PARTIAL_CONTENT);
    represented(streamed, &opened).header(header::CONTENT_RANGE, value(&content_range))
}

fn multipart(opened: Opened, ranges: Vec<RangeInclusive<u64>>) -> Streamed {
    let layout = Multipart::new(&opened.content_type, opened.len);
    let len = layout.body_len(&ranges);
    let content_type = layout.content_type();
    let body = body::multipart(opened.source.clone(), layout, ranges);
    let streamed = Streamed::new(body)
        .length(len)
        .status(StatusCode::PARTIAL_CONTENT);
    described(streamed, &opened).header(header::CONTENT_TYPE, value(&content_type))
}

fn not_modified(opened: &Opened) -> Streamed {
    // A length of 0 keeps actix from framing a body: a 304 has none.
    let empty = Streamed::new(stream::empty()).length(0);
    described(empty, opened).status(StatusCode::NOT_MODIFIED)
}

fn precondition_failed(opened: &Opened) -> Streamed {
    let reason = "precondition failed: If-Match or If-Unmodified-Since does not hold \
                  for the current file\n";
    described(
        Streamed::text(StatusCode::PRECONDITION_FAILED, reason.to_owned()),
        opened,
    )
}

fn unsatisfiable(opened: &Opened) -> Streamed {
    let reason = format!(
        "range not satisfiable: the file is {} bytes long\n",
        opened.len
    );
    let streamed = Streamed::text(StatusCode::RANGE_NOT_SATISFIABLE, reason).uncompressed();
    let streamed = if opened.vary {
        streamed.header(header::VARY, HeaderValue::from_static("accept-encoding"))
    } else {
        streamed
    };
    streamed
        .header(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"))
        .header(
            header::CONTENT_RANGE,
            value(&format!("bytes */{}", opened.len)),
        )
}

fn refused(refusal: &Refusal) -> Streamed {
    let status = match refusal {
        Refusal::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        Refusal::BadPath(_) => StatusCode::BAD_REQUEST,
        Refusal::NotFound => StatusCode::NOT_FOUND,
        Refusal::Forbidden => StatusCode::FORBIDDEN,
        Refusal::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
        Refusal::Unreadable(err) => {
            tracing::error!(error = %err, "file could not be opened");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    let streamed = Streamed::text(status, format!("{refusal}\n")).uncompressed();
    match refusal {
        Refusal::MethodNotAllowed => {
            streamed.header(header::ALLOW, HeaderValue::from_static("GET, HEAD"))
        }
        Refusal::NotAcceptable => {
            streamed.header(header::VARY, HeaderValue::from_static("accept-encoding"))
        }
        _ => streamed,
    }
}

/// A file's validators, caching and range support, on any response about it.
/// pagepipe chose its coding: nothing compresses it again.
fn described(streamed: Streamed, opened: &Opened) -> Streamed {
    let streamed = if opened.vary {
        streamed.header(header::VARY, HeaderValue::from_static("accept-encoding"))
    } else {
        streamed
    };
    let streamed = streamed
        .uncompressed()
        .header(header::ETAG, value(&opened.validators.etag.to_string()))
        .header(
            header::CACHE_CONTROL,
            HeaderValue::from_static(CACHE_CONTROL),
        )
        .header(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    match opened.validators.http_date() {
        Some(date) => streamed.header(header::LAST_MODIFIED, value(&date.to_string())),
        None => streamed,
    }
}

/// [`described`] plus the file's own type and coding, for responses
/// carrying its bytes.
fn represented(streamed: Streamed, opened: &Opened) -> Streamed {
    let streamed = match opened.coding {
        Some(coding) => streamed.header(header::CONTENT_ENCODING, coding.header_value()),
        None => streamed,
    };
    described(streamed, opened)
        .header(header::CONTENT_TYPE, value(&opened.content_type))
        .header(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        )
}

/// A header value from text we built ourselves; never fails in practice,
/// and an empty value is sent rather than panicking if it ever did.
fn value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

impl From<PathError> for Refusal {
    fn from(err: PathError) -> Self {
        match err {
            PathError::Invalid(reason) => Refusal::BadPath(reason),
            PathError::NotFound => Refusal::NotFound,
        }
    }
}

impl From<io::Error> for Refusal {
    fn from(err: io::Error) -> Self {
        match err.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => Refusal::NotFound,
            io::ErrorKind::PermissionDenied => Refusal::Forbidden,
            _ => Refusal::Unreadable(err),
        }
    }
}
