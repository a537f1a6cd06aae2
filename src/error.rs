//! The library's error type and how each error maps to an HTTP status.

use actix_web::{HttpResponse, ResponseError, http::StatusCode};

/// What can go wrong before a page's first byte is sent.
///
/// Once the shell is out, failures never surface here: a failing section
/// renders its error markup in its own slot instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A template failed to render.
    #[error("template could not be rendered: {0}")]
    Template(#[from] askama::Error),
    /// A section id is not an ASCII letter followed by letters, digits, `-` or `_`.
    #[error(
        "section id \"{0}\" is invalid: use an ASCII letter, then letters, digits, '-' or '_' (at most 128)"
    )]
    InvalidSectionId(String),
    /// Two sections of one page share an id.
    #[error("section id \"{0}\" is used twice in one page")]
    DuplicateSection(String),
    /// A data block's id is used twice in one page, or is also a section's.
    #[error("data block id \"{0}\" is used twice in one page, or by a section too")]
    DuplicateDataId(String),
    /// A section was added but its template holds no `slot` for it.
    #[error(
        "section \"{section}\" has no slot in its template{}",
        hint(unknown, section)
    )]
    MissingSlot {
        /// The section without a slot.
        section: String,
        /// Slots in the same template that have no section.
        unknown: Vec<String>,
    },
    /// A template holds a `slot` for which no section was added.
    #[error("slot \"{slot}\" has no section{}", hint(unplaced, slot))]
    UnknownSlot {
        /// The slot without a section.
        slot: String,
        /// Sections of the same template that have no slot.
        unplaced: Vec<String>,
    },
    /// A section is to appear after a section the page does not have.
    #[error(
        "section \"{section}\" is to appear after \"{after}\", which is not a section added \
         before it or beside it"
    )]
    UnknownRevealTarget {
        /// The section that waits.
        section: String,
        /// The id it waits for.
        after: String,
    },
    /// Sections are each to appear after another, in a cycle.
    #[error("sections {0} are each to appear after another: no order keeps them all")]
    RevealCycle(String),
    /// Data for page scripts could not be serialized as JSON.
    #[error("data \"{id}\" could not be serialized as JSON: {source}")]
    Data {
        /// The data block's id.
        id: String,
        /// Why serialization failed.
        source: serde_json::Error,
    },
    /// A page has more sections, nested ones included, than it allows.
    #[error("page has more than {0} sections")]
    TooManySections(usize),
    /// A header given to [`Page::header`](crate::Page::header) is not valid.
    #[error("page header is not valid: {0}")]
    InvalidHeader(String),
    /// A configured CSP nonce is not base64 text.
    #[error("CSP nonce is not base64 text")]
    InvalidNonce,
    /// A section cache could not be set up: a Redis URL that is not one.
    #[error("section cache: {0}")]
    Cache(String),
}

/// ` (did you mean "x"?)` and the other side's names, for a slot/section
/// mismatch: `others` are the names on the other side, `name` the one that
/// failed.
fn hint(others: &[String], name: &str) -> String {
    if others.is_empty() {
        return String::new();
    }
    let listed = others
        .iter()
        .map(|other| format!("\"{other}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let close = others
        .iter()
        .map(|other| (distance(name, other), other))
        .filter(|(d, other)| *d <= (other.len().max(name.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d);
    match close {
        Some((_, other)) => {
            format!(" (did you mean \"{other}\"? unmatched on the other side: {listed})")
        }
        None => format!(" (unmatched on the other side: {listed})"),
    }
}

/// The Levenshtein distance between two short ids.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substituted = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substituted.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }

    /// A bare `500`: what went wrong names the application's templates
    /// and sections, which are for its log, not for its users.
    fn error_response(&self) -> HttpResponse {
        tracing::error!(error = %self, "page could not be rendered");
        HttpResponse::build(self.status_code())
            .content_type("text/plain; charset=utf-8")
            .body("500 Internal Server Error: this page could not be rendered\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_typo_names_both_sides_and_suggests_the_close_one() {
        let err = Error::UnknownSlot {
            slot: "stock".into(),
            unplaced: vec!["stocks".into(), "news".into()],
        };
        assert_eq!(
            err.to_string(),
            "slot \"stock\" has no section (did you mean \"stocks\"? unmatched on the other \
             side: \"stocks\", \"news\")"
        );
        let err = Error::MissingSlot {
            section: "weather".into(),
            unknown: vec!["news".into()],
        };
        assert_eq!(
            err.to_string(),
            "section \"weather\" has no slot in its template (unmatched on the other side: \"news\")"
        );
        let alone = Error::MissingSlot {
            section: "weather".into(),
            unknown: vec![],
        };
        assert_eq!(
            alone.to_string(),
            "section \"weather\" has no slot in its template"
        );
    }

    #[actix_web::test]
    async fn a_user_gets_a_bare_500_and_the_log_gets_the_detail() {
        let err = Error::UnknownSlot {
            slot: "recommendation".into(),
            unplaced: vec!["recommendations".into()],
        };
        let response = err.error_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = actix_web::body::to_bytes(response.into_body())
            .await
            .unwrap_or_default();
        let body = String::from_utf8_lossy(&body);
        assert_eq!(
            body,
            "500 Internal Server Error: this page could not be rendered\n"
        );
        assert!(!body.contains("recommendation"), "{body}");
    }

    #[test]
    fn distances_count_edits() {
        assert_eq!(distance("stock", "stocks"), 1);
        assert_eq!(distance("stock", "stock"), 0);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
    }
}
