//! Files through the streaming responder: a path under a root plus the
//! request become a [`Streamed`] (safe path resolution, MIME type,
//! validators, conditional requests, byte ranges, HEAD without reading, and
//! compressible files as a precompressed sibling or a cached compressed
//! copy, each with its own ETag). Every outcome is first an [`Output`]
//! (`open` opens, [`decide`] applies the request's conditions), then a
//! response (`response`).

use std::fs::File;
use std::io;
use std::ops::RangeInclusive;
use std::path::Path;
use std::sync::Arc;

use actix_web::HttpRequest;
use actix_web::http::Method;
use actix_web::http::header;
use bytes::Bytes;

use crate::Streamed;
use crate::encoding::Coding;
use conditional::{Precondition, Validators};
use range::Selection;

pub use mount::{DEFAULT_KEPT_BYTES, Files};

mod body;
mod conditional;
mod kept;
mod mount;
mod open;
mod path;
mod range;
mod response;
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
    serve(root.as_ref(), path, req, None).await
}

/// [`serve_file`], answering from `kept` what it holds.
async fn serve(root: &Path, path: &str, req: &HttpRequest, kept: Option<&kept::Kept>) -> Streamed {
    let output = match open::open_kept(root, path, req, kept).await {
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
#[derive(Debug, Clone)]
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
    /// The version of the file on disk its bytes come from.
    version: kept::Version,
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
