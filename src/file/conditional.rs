//! Validators of a file (strong ETag, Last-Modified) and the conditional
//! request headers evaluated against them in RFC 9110 §13.2.2 order.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::HttpMessage as _;

use crate::encoding::Coding;
use actix_web::HttpRequest;
use actix_web::http::header::{
    self, EntityTag, HttpDate, IfMatch, IfModifiedSince, IfNoneMatch, IfRange, IfUnmodifiedSince,
};

/// The first second that an HTTP date cannot express (year 10000).
const HTTP_DATE_END: u64 = 253_402_300_800;

/// What identifies one version of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Validators {
    /// Strong: changes whenever the inode, length or mtime changes.
    pub(crate) etag: EntityTag,
    /// The mtime at one-second resolution; `None` when HTTP dates cannot
    /// express it (before 1970 or after 9999).
    pub(crate) last_modified: Option<SystemTime>,
    /// The mtime as the file system keeps it, to tell whether
    /// `last_modified` is a strong validator yet.
    modified: Option<SystemTime>,
}

impl Validators {
    /// Validators from a file's inode, length and modification time.
    pub(crate) fn new(inode: u64, len: u64, modified: Option<SystemTime>) -> Self {
        let since_epoch = modified.and_then(|time| time.duration_since(UNIX_EPOCH).ok());
        let (secs, nanos) = since_epoch.map_or((0, 0), |d| (d.as_secs(), d.subsec_nanos()));
        let etag = EntityTag::new_strong(format!("{inode:x}-{len:x}-{secs:x}.{nanos:08x}"));
        let last_modified = since_epoch
            .filter(|d| d.as_secs() < HTTP_DATE_END)
            .map(|d| UNIX_EPOCH + Duration::from_secs(d.as_secs()));
        Self {
            etag,
            last_modified,
            modified: modified.filter(|_| last_modified.is_some()),
        }
    }

    /// The validators of the same version compressed in `coding`: its own
    /// strong ETag (RFC 9110 §8.8.3: another coding is another
    /// representation), the same modification time.
    pub(crate) fn encoded(&self, coding: Coding) -> Self {
        Self {
            etag: EntityTag::new_strong(format!("{}-{coding}", self.etag.tag())),
            last_modified: self.last_modified,
            modified: self.modified,
        }
    }

    /// Whether `Last-Modified` is a strong validator at `now` (RFC 9110
    /// §8.8.2.2): the file was last modified at least one second before, so
    /// no other version written within the same second can share its date.
    /// A file modified just now (or in the future, by a clock that went
    /// back) has a weak date.
    pub(crate) fn date_is_strong(&self, now: SystemTime) -> bool {
        self.modified
            .and_then(|modified| modified.checked_add(Duration::from_secs(1)))
            .is_some_and(|settled| settled <= now)
    }

    /// `Last-Modified` as an HTTP date.
    pub(crate) fn http_date(&self) -> Option<HttpDate> {
        self.last_modified.map(HttpDate::from)
    }
}

/// The outcome of the preconditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Precondition {
    /// Serve the file (perhaps a range of it).
    Proceed,
    /// `304`: the client's copy is current.
    NotModified,
    /// `412`: `If-Match` or `If-Unmodified-Since` failed.
    Failed,
}

/// Evaluates If-Match, If-Unmodified-Since, If-None-Match and
/// If-Modified-Since for a GET or HEAD, in RFC 9110 §13.2.2 order. A field
/// that does not parse is ignored.
pub(crate) fn evaluate(req: &HttpRequest, validators: &Validators) -> Precondition {
    if let Some(if_match) = req.get_header::<IfMatch>() {
        if !matches_strong(&if_match, &validators.etag) {
            return Precondition::Failed;
        }
    } else if let Some(IfUnmodifiedSince(date)) = req.get_header::<IfUnmodifiedSince>()
        && validators
            .last_modified
            .is_some_and(|modified| modified > SystemTime::from(date))
    {
        return Precondition::Failed;
    }
    if let Some(if_none_match) = req.get_header::<IfNoneMatch>() {
        if matches_weak(&if_none_match, &validators.etag) {
            return Precondition::NotModified;
        }
    } else if let Some(IfModifiedSince(date)) = req.get_header::<IfModifiedSince>()
        && validators
            .last_modified
            .is_some_and(|modified| modified <= SystemTime::from(date))
    {
        return Precondition::NotModified;
    }
    Precondition::Proceed
}

/// Whether a `Range` may be honoured at `now`: no `If-Range`, or one that
/// names the current version (a strong ETag match, or exactly the
/// Last-Modified date while that date is strong, RFC 9110 §13.1.5). Else the
/// whole file is sent, never a range spliced from two versions.
pub(crate) fn range_allowed(req: &HttpRequest, validators: &Validators, now: SystemTime) -> bool {
    if !req.headers().contains_key(header::IF_RANGE) {
        return true;
    }
    match req.get_header::<IfRange>() {
        Some(IfRange::EntityTag(tag)) => tag.strong_eq(&validators.etag),
        Some(IfRange::Date(date)) => {
            validators.date_is_strong(now)
                && validators.last_modified == Some(SystemTime::from(date))
        }
        None => false,
    }
}

fn matches_strong(if_match: &IfMatch, etag: &EntityTag) -> bool {
    match if_match {
        IfMatch::Any => true,
        IfMatch::Items(tags) => tags.iter().any(|tag| tag.strong_eq(etag)),
    }
}

fn matches_weak(if_none_match: &IfNoneMatch, etag: &EntityTag) -> bool {
    match if_none_match {
        IfNoneMatch::Any => true,
        IfNoneMatch::Items(tags) => tags.iter().any(|tag| tag.weak_eq(etag)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_last_modified_date_is_strong_one_second_after_the_write() {
        let modified = UNIX_EPOCH + Duration::from_millis(1_700_000_000_500);
        let validators = Validators::new(1, 10, Some(modified));
        let table = [
            (Duration::ZERO, false),
            (Duration::from_millis(999), false),
            (Duration::from_secs(1), true),
            (Duration::from_secs(3600), true),
        ];
        for (after, strong) in table {
            assert_eq!(
                validators.date_is_strong(modified + after),
                strong,
                "{after:?}"
            );
        }
        assert!(!validators.date_is_strong(modified - Duration::from_secs(5)));
        assert!(
            validators
                .encoded(Coding::Gzip)
                .date_is_strong(modified + Duration::from_secs(1))
        );
        assert!(!Validators::new(1, 10, None).date_is_strong(SystemTime::now()));
    }
}
