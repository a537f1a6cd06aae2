//! Query strings of the demo's pages: splitting them into parameters,
//! checking integers against their range, and the `400` answer that names
//! the parameter at fault.

use std::fmt::Display;
use std::ops::RangeInclusive;
use std::str::FromStr;

use actix_web::HttpRequest;
use actix_web::http::StatusCode;

use crate::shared::text_error;
use pagepipe::Mode;

/// A query parameter that is malformed, out of range or repeated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid `{param}`: {reason}")]
pub(crate) struct QueryError {
    pub(crate) param: &'static str,
    reason: String,
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

    /// The `400` answer to `req`, as a handler's error: this error's text on
    /// a line of its own.
    pub(crate) fn refuse(self, req: &HttpRequest) -> actix_web::Error {
        text_error(req, StatusCode::BAD_REQUEST, self)
    }
}

/// The value of each of `names` in `query`, or `None` where it is absent.
/// Other parameters are ignored; a repeated one is an error.
pub(crate) fn params<const N: usize>(
    query: &str,
    names: [&'static str; N],
) -> Result<[Option<String>; N], QueryError> {
    let mut values = [const { None }; N];
    // Decoded as browsers encode forms; only the values asked for are copied.
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let Some(index) = names.iter().position(|name| *name == key) else {
            continue;
        };
        if values[index].replace(value.into_owned()).is_some() {
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

/// Parses `value`, the parameter `name`, as an integer within `range`; the
/// error names the parameter and the range ("expected an integer from 0 to
/// 10000; got …").
pub(crate) fn int_in<T>(
    name: &'static str,
    value: &str,
    range: RangeInclusive<T>,
) -> Result<T, QueryError>
where
    T: FromStr + PartialOrd + Display,
{
    value
        .trim()
        .parse::<T>()
        .ok()
        .filter(|int| range.contains(int))
        .ok_or_else(|| {
            let expected = format!("an integer from {} to {}", range.start(), range.end());
            QueryError::new(name, &expected, value)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_in_takes_the_range_inclusive_and_names_it_when_refusing() {
        assert_eq!(int_in("n", "1", 1..=10_000_u32), Ok(1));
        assert_eq!(int_in("n", " 10000 ", 1..=10_000_u32), Ok(10_000));
        for value in ["0", "10001", "-1", "1.5", "ten", ""] {
            let err = int_in("n", value, 1..=10_000_u32).unwrap_err();
            assert_eq!(err.param, "n", "{value}");
            assert_eq!(
                err.to_string(),
                format!("invalid `n`: expected an integer from 1 to 10000; got \"{value}\"")
            );
        }
    }
}
