//! Opening what a request for a file gets: the path resolved under the
//! root, the representation chosen (as it is, a precompressed sibling, or a
//! cached compressed copy), its metadata and validators, off the async
//! threads; every way it can fail as a [`Refusal`].

use std::fs::{File, Metadata};
use std::io;
use std::path::Path;
use std::sync::Arc;

use actix_web::HttpRequest;
use actix_web::http::Method;
use actix_web::http::header;

use super::conditional::Validators;
use super::kept::{Kept, Version};
use super::path::{self, PathError};
use super::{Opened, Refusal, SMALL_FILE, Source, body};
use crate::encoding::{self, Coding, Compression, NotAcceptable, Offer, cache, negotiate};

/// What an open needs to know of the request.
struct Wanted {
    read_small: bool,
    /// The coding the request prefers for a compressible file, with the
    /// cache to take it from; `None` when compression is off.
    coding: Option<(Result<Coding, NotAcceptable>, Compression)>,
}

/// Resolves `path` under `root` and opens the representation the request
/// gets, off the async threads.
#[cfg(test)]
pub(super) async fn open(root: &Path, path: &str, req: &HttpRequest) -> Result<Opened, Refusal> {
    open_kept(root, path, req, None).await
}

/// [`open`], taking the representation from `kept` when it holds the
/// current version, and keeping what it opens there.
pub(super) async fn open_kept(
    root: &Path,
    path: &str,
    req: &HttpRequest,
    kept: Option<&Kept>,
) -> Result<Opened, Refusal> {
    let method = req.method();
    if method != Method::GET && method != Method::HEAD {
        return Err(Refusal::MethodNotAllowed);
    }
    let relative = path::sanitize(path)?;
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
    // The coding negotiated is part of what is kept; a refusal is not kept.
    let kept = match &wanted.coding {
        None => kept.map(|kept| (kept, None)),
        Some((Ok(coding), _)) => kept.map(|kept| (kept, Some(*coding))),
        Some((Err(NotAcceptable), _)) => None,
    };
    if let Some((kept, coding)) = kept
        && let Some(opened) = kept.get(&relative, coding)
    {
        return Ok(opened);
    }
    let root = root.to_path_buf();
    let opening = tokio::task::spawn_blocking(move || {
        let opened = open_blocking(&root, &relative, wanted);
        (opened, root, relative)
    });
    let (opened, root, relative) = opening
        .await
        .map_err(|err| Refusal::Unreadable(io::Error::other(err)))?;
    if let (Some((kept, coding)), Ok(opened)) = (kept, &opened) {
        kept.keep(&root, relative, coding, opened);
    }
    opened
}

fn open_blocking(root: &Path, relative: &Path, wanted: Wanted) -> Result<Opened, Refusal> {
    let (file, metadata) = path::open_file(root, relative)?;
    let content_type = content_type(relative);
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
            let compressed = sibling(root, relative, coding, &content_type).or_else(|| {
                // Keyed by the path asked for: the ETag tells versions apart.
                let bytes = compression.cache().get(
                    &root.join(relative),
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
                    version: Version::of(&metadata),
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
        version: Version::of(metadata),
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
        version: Version::of(&metadata),
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
