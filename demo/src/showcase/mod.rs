//! `GET /stream-html`: the showcase product page. The handler awaits the one
//! piece of data that decides the status (does the product exist?), then
//! streams a shell with the product's title and meta and five deferred
//! sections read from JSON fixtures, one of them with nested sections.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use tokio::time::Instant;

use crate::query::{QueryError, params, parse_mode};
use crate::shared::{State, text_error};
use pagepipe::{Nonce, Page, Preload};

mod sections;
mod store;

use store::{Knobs, Product, SECTIONS, Store};

/// The product shown when the query names none.
const DEFAULT_ITEM: &str = "aurora-lamp";

/// How long the whole page may stream.
const DEADLINE: Duration = Duration::from_secs(5);

#[derive(Template)]
#[template(path = "showcase/page.html")]
struct Shell {
    product: Product,
}

#[derive(Template)]
#[template(path = "showcase/not_found.html")]
struct NotFound {
    item: String,
}

/// A `/stream-html` query.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Query {
    item: String,
    mode: Option<pagepipe::Mode>,
    knobs: Knobs,
}

impl Query {
    fn parse(query: &str) -> Result<Self, QueryError> {
        let [item, mode, fail, slow, panic] =
            params(query, ["item", "mode", "fail", "slow", "panic"])?;
        Ok(Self {
            item: item.unwrap_or_else(|| DEFAULT_ITEM.to_owned()),
            mode: mode.as_deref().map(parse_mode).transpose()?,
            knobs: Knobs {
                fail: section_names("fail", fail.as_deref())?,
                slow: section_names("slow", slow.as_deref())?,
                panic: section_names("panic", panic.as_deref())?,
            },
        })
    }
}

fn section_names(
    param: &'static str,
    value: Option<&str>,
) -> Result<Vec<&'static str>, QueryError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    value
        .split(',')
        .map(|name| SECTIONS.iter().copied().find(|known| *known == name.trim()))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| {
            QueryError::new(
                param,
                &format!("a comma-separated list of {}", SECTIONS.join(", ")),
                value,
            )
        })
}

/// `GET /stream-html`.
pub(crate) async fn stream_html(
    req: HttpRequest,
    state: web::Data<State>,
    nonce: Nonce,
) -> actix_web::Result<HttpResponse> {
    let start = Instant::now();
    let query = Query::parse(req.query_string()).map_err(|err| err.refuse(&req))?;
    let store = Store::new(&state.assets, start, query.knobs);
    // The status depends on this lookup, so it is awaited before the shell.
    let product = store.product(&query.item).await.map_err(|err| {
        tracing::error!(error = %err, "product catalogue unavailable");
        let status = StatusCode::INTERNAL_SERVER_ERROR;
        text_error(&req, status, "product catalogue unavailable")
    })?;
    let Some(product) = product else {
        let page = Page::new(NotFound { item: query.item }).status(StatusCode::NOT_FOUND);
        return Ok(page.respond(&req).await);
    };
    let sections = sections::all(&store, &product);
    let mut page = sections
        .into_iter()
        .fold(Page::new(Shell { product }), Page::section)
        .nonce(nonce)
        // Fetched before the shell is parsed (a CDN can send 103 Early Hints).
        .preload(Preload::style("/assets/showcase/showcase.css"))
        .deadline(DEADLINE);
    if let Some(mode) = query.mode {
        page = page.mode(mode);
    }
    Ok(page.respond(&req).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knobs_name_sections() {
        let query = Query::parse("fail=reviews,votes&slow=pricing&mode=in-order").unwrap();
        assert_eq!(query.item, DEFAULT_ITEM);
        assert_eq!(query.mode, Some(pagepipe::Mode::InOrder));
        assert_eq!(query.knobs.fail, ["reviews", "votes"]);
        assert_eq!(query.knobs.slow, ["pricing"]);
    }

    #[test]
    fn an_unknown_section_in_a_knob_is_named() {
        for (query, param) in [
            ("fail=everything", "fail"),
            ("slow=", "slow"),
            ("panic=reviews,x", "panic"),
            ("mode=x", "mode"),
        ] {
            assert_eq!(Query::parse(query).unwrap_err().param, param, "{query}");
        }
    }
}
