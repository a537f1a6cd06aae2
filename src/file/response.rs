//! Turning an [`Output`] into a response: status, body, headers that
//! describe the representation (type, length, validators, caching), one
//! `Vary`, and a plain-text body naming what was refused.

use std::ops::RangeInclusive;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use futures_util::stream;

use super::range::{self, Multipart};
use super::{CACHE_CONTROL, Opened, Output, Refusal, body};
use crate::Streamed;

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
    Streamed::text(StatusCode::RANGE_NOT_SATISFIABLE, reason)
        .uncompressed()
        .varies_by_encoding(opened.vary)
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
        Refusal::NotAcceptable => streamed.varies_by_encoding(true),
        _ => streamed,
    }
}

/// A file's validators, caching and range support, on any response about it.
/// pagepipe chose its coding: nothing compresses it again.
fn described(streamed: Streamed, opened: &Opened) -> Streamed {
    let streamed = streamed
        .varies_by_encoding(opened.vary)
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
