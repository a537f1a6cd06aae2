//! Query strings of the demo's pages: splitting them into parameters, and the
//! `400` answer that names the parameter at fault.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use pagepipe::Mode;

/// A query parameter that is malformed, out of range or repeated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid `{param}`: {reason}")]
pub(crate) struct QueryError {
    pub(crate) param: &'static str,
    pub(crate) reason: String,
}

impl QueryError {
    /// `param` is wrong because it should be `expected`; shows what was sent.
    pub(crate) fn new(param: &'static str, expected: &str, value: &str) -> Self {
        let shown: String = value.chars().take(64).collect();
        let more = if shown.len() < value.len() { "…" } else { "" };
        Self {
            param,
            reason: format!(
                "expected {expected}; got \"{}{more}\"",
                shown.escape_debug()
            ),
        }
    }
}

impl ResponseError for QueryError {
    fn status_code(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::BadRequest()
            .content_type("text/plain; charset=utf-8")
            .body(format!("{self}\n"))
    }
}

/// The value of each of `names` in `query`, or `None` where it is absent.
/// Other parameters are ignored; a repeated one is an error.
pub(crate) fn params<const N: usize>(
    query: &str,
    names: [&'static str; N],
) -> Result<[Option<String>; N], QueryError> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query).map_err(|err| QueryError {
            param: "query",
            reason: err.to_string(),
        })?;
    let mut values = [const { None }; N];
    for (key, value) in pairs {
        let Some(index) = names.iter().position(|name| *name == key) else {
            continue;
        };
        if values[index].replace(value).is_some() {
            return Err(QueryError {
                param: names[index],
                reason: "given more than once".into(),
            });
        }
    }
    Ok(values)
}

/// Parses a `mode` parameter.
pub(crate) fn parse_mode(value: &str) -> Result<Mode, QueryError> {
    value
        .parse()
        .map_err(|_| QueryError::new("mode", "out-of-order, in-order or buffered", value))
}
