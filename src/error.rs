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
    /// A section was added but its template holds no `slot` for it.
    #[error("section \"{0}\" has no slot in its template")]
    MissingSlot(String),
    /// A template holds a `slot` for which no section was added.
    #[error("slot \"{0}\" has no section")]
    UnknownSlot(String),
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
    /// A configured CSP nonce is not base64 text.
    #[error("CSP nonce is not base64 text")]
    InvalidNonce,
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }

    fn error_response(&self) -> HttpResponse {
        tracing::error!(error = %self, "page could not be rendered");
        HttpResponse::build(self.status_code())
            .content_type("text/plain; charset=utf-8")
            .body(format!("page could not be rendered: {self}\n"))
    }
}
