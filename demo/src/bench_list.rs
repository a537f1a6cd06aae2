//! `GET /bench-list`: the synthetic page with one section that streams a
//! list, item `k` ready `(k + 1) × every` ms after the request started.

use std::convert::Infallible;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use futures_util::{StreamExt as _, stream};
use tokio::time::{Instant, sleep_until};

use crate::bench::filler;
use crate::query::{QueryError, int_in, params, parse_mode};
use pagepipe::{Mode, Nonce, Page, Section, Slot, slot};

/// Most items in a list.
const MAX_ITEMS: usize = 100_000;
/// Longest time between items, in ms.
const MAX_EVERY_MS: u64 = 10_000;
/// Most filler bytes in one item.
const MAX_BYTES: usize = 65_536;
/// Most filler bytes in a list sent whole (`bytes` × `n`), as `/bench`.
const MAX_PAGE_BYTES: usize = 8 * 1_048_576;
/// How long a list may stream beyond its last item.
const DEADLINE_MARGIN: Duration = Duration::from_secs(10);

/// A validated `/bench-list` query.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ListQuery {
    n: usize,
    every: u64,
    bytes: usize,
    mode: Option<Mode>,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self {
            n: 10,
            every: 100,
            bytes: 16,
            mode: None,
        }
    }
}

impl ListQuery {
    /// Parses and validates a query string.
    fn parse(query: &str) -> Result<Self, QueryError> {
        let [n, every, bytes, mode] = params(query, ["n", "every", "bytes", "mode"])?;
        let defaults = Self::default();
        Ok(Self {
            n: n.map_or(Ok(defaults.n), |v| int_in("n", &v, 1..=MAX_ITEMS))?,
            every: every.map_or(Ok(defaults.every), |v| {
                int_in("every", &v, 0..=MAX_EVERY_MS)
            })?,
            bytes: bytes.map_or(Ok(defaults.bytes), |v| int_in("bytes", &v, 0..=MAX_BYTES))?,
            mode: mode.map(|v| parse_mode(&v)).transpose()?,
        })
    }

    /// Refuses a list sent whole whose filler passes [`MAX_PAGE_BYTES`],
    /// naming `bytes`: only such a page is held whole in memory.
    fn check_page_bytes(&self) -> Result<(), QueryError> {
        if self.bytes.saturating_mul(self.n) <= MAX_PAGE_BYTES {
            return Ok(());
        }
        let expected = format!(
            "at most {} with {} items: a list sent whole holds at most {MAX_PAGE_BYTES} \
             bytes (8 MiB) of filler (bytes × n)",
            MAX_PAGE_BYTES / self.n,
            self.n
        );
        Err(QueryError::new("bytes", &expected, &self.bytes.to_string()))
    }

    /// When the last item is ready, from the request's start.
    fn last_item(&self) -> Duration {
        Duration::from_millis(self.every.saturating_mul(self.n as u64))
    }
}

#[derive(Template)]
#[template(path = "bench_list.html")]
struct ListShell {
    n: usize,
    items: Slot,
    mode: &'static str,
}

#[derive(Template)]
#[template(source = "<li class=\"loading\">loading list</li>", ext = "html")]
struct Loading;

#[derive(Template)]
#[template(source = "<li class=\"done\">list done</li>", ext = "html")]
struct Done;

#[derive(Template)]
#[template(
    source = "<li id=\"i{{ k }}\">item {{ k }} {{ filler|safe }}</li>",
    ext = "html"
)]
struct Item {
    k: usize,
    filler: &'static str,
}

/// `GET /bench-list`.
pub(crate) async fn bench_list(req: HttpRequest, nonce: Nonce) -> actix_web::Result<HttpResponse> {
    let start = Instant::now();
    let query = ListQuery::parse(req.query_string()).map_err(|err| err.refuse(&req))?;
    let mode = Mode::choose(&req, query.mode);
    if mode == Mode::Buffered {
        query.check_page_bytes().map_err(|err| err.refuse(&req))?;
    }
    let filler = filler(query.bytes);
    let every = query.every;
    let items = stream::iter(0..query.n).then(move |k| async move {
        // With no wait, every item is ready at once (no timer tick).
        if every > 0 {
            sleep_until(start + Duration::from_millis(every * (k as u64 + 1))).await;
        }
        Ok::<_, Infallible>(Item { k, filler })
    });
    let items_slot = slot("items");
    let list = Section::stream(items_slot.id(), Loading, items).end(Done);
    let page = Page::new(ListShell {
        n: query.n,
        items: items_slot,
        mode: mode.as_str(),
    })
    .section(list)
    .nonce(nonce)
    .mode(mode)
    .deadline(query.last_item() + DEADLINE_MARGIN);
    Ok(page.respond(&req).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_ten_items_100_ms_apart_of_16_bytes() {
        assert_eq!(ListQuery::parse("").unwrap(), ListQuery::default());
        let q = ListQuery::parse("n=100000&every=0&bytes=65536&mode=in-order").unwrap();
        assert_eq!((q.n, q.every, q.bytes), (100_000, 0, 65_536));
        assert_eq!(q.mode, Some(Mode::InOrder));
        assert_eq!(ListQuery::parse("every=10000&n=1").unwrap().every, 10_000);
    }

    #[test]
    fn each_bad_parameter_is_named() {
        for (query, param) in [
            ("n=0", "n"),
            ("n=100001", "n"),
            ("n=ten", "n"),
            ("n=", "n"),
            ("every=10001", "every"),
            ("every=-1", "every"),
            ("bytes=65537", "bytes"),
            ("bytes=x", "bytes"),
            ("mode=fast", "mode"),
            ("n=1&n=2", "n"),
        ] {
            assert_eq!(ListQuery::parse(query).unwrap_err().param, param, "{query}");
        }
    }

    #[test]
    fn a_list_sent_whole_holds_at_most_8_mib_of_filler() {
        let fits = ListQuery::parse("n=128&bytes=65536").unwrap();
        assert!(fits.check_page_bytes().is_ok());
        let over = ListQuery::parse("n=100000&bytes=100").unwrap();
        assert_eq!(over.check_page_bytes().unwrap_err().param, "bytes");
    }
}
