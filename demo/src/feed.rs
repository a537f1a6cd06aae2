//! `GET /stream-data`, a paced feed of newline-delimited JSON order records,
//! and `GET /streams-api`, the page whose script reads that feed with the
//! browser's Streams API and renders each record as it arrives.

use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, Responder as _};
use askama::Template;
use bytes::Bytes;
use futures_util::Stream;
use tokio::time::{Instant, sleep_until};

use crate::query::{QueryError, int_in, params};
use pagepipe::{Nonce, Streamed};

/// Most records one feed may have.
const MAX_RECORDS: u32 = 10_000;
/// Longest gap between two records, in ms.
const MAX_DELAY_MS: u64 = 10_000;

/// A validated `/stream-data` (or `/streams-api`) query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DataQuery {
    /// How many records the feed sends.
    n: u32,
    /// The gap between two records, in ms; the first is sent at once.
    delay_ms: u64,
    /// Break the connection after this many records, to show what a reader
    /// does with a stream that fails midway.
    fail_after: Option<u32>,
}

impl Default for DataQuery {
    fn default() -> Self {
        Self {
            n: 20,
            delay_ms: 150,
            fail_after: None,
        }
    }
}

impl DataQuery {
    /// Parses and validates a query string.
    fn parse(query: &str) -> Result<Self, QueryError> {
        let [n, delay_ms, fail_after] = params(query, ["n", "delay_ms", "fail_after"])?;
        let defaults = Self::default();
        Ok(Self {
            n: n.map_or(Ok(defaults.n), |v| int_in("n", &v, 1..=MAX_RECORDS))?,
            delay_ms: delay_ms.map_or(Ok(defaults.delay_ms), |v| {
                int_in("delay_ms", &v, 0..=MAX_DELAY_MS)
            })?,
            fail_after: fail_after
                .map(|v| int_in("fail_after", &v, 0..=MAX_RECORDS - 1))
                .transpose()?,
        })
    }

    /// The same query as `/stream-data` reads it.
    fn to_query_string(self) -> String {
        let mut query = format!("n={}&delay_ms={}", self.n, self.delay_ms);
        if let Some(k) = self.fail_after {
            query.push_str(&format!("&fail_after={k}"));
        }
        query
    }
}

/// `GET /stream-data`.
pub(crate) async fn stream_data(req: HttpRequest) -> actix_web::Result<HttpResponse> {
    let start = Instant::now();
    let query = DataQuery::parse(req.query_string()).map_err(|err| err.refuse(&req))?;
    // A live feed needs what a progressive page needs (no caching, no proxy
    // buffering, no sniffing), under its own type.
    let streamed = Streamed::html(feed(query, start)).header(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(streamed.respond_to(&req))
}

/// The records of `query`, record `seq` due `seq × delay_ms` after `start`.
///
/// The generator is pulled by actix: it sleeps only while the client waits,
/// and is dropped, with its timer, as soon as the client leaves. A server
/// shutdown ends it at a record boundary.
fn feed(query: DataQuery, start: Instant) -> impl Stream<Item = io::Result<Bytes>> {
    let gap = Duration::from_millis(query.delay_ms);
    async_stream::stream! {
        let mut progress = Progress { sent: 0, of: query.n };
        for seq in 0..query.n {
            // A shutdown ends the feed between two records.
            tokio::select! {
                () = sleep_until(start + gap * seq) => {}
                () = pagepipe::shutdown_begun() => {
                    progress.of = seq;
                    tracing::info!(records = seq, "stream-data: ended by the shutdown");
                    return;
                }
            }
            if query.fail_after == Some(seq) {
                progress.of = seq;
                tracing::info!(records = seq, "stream-data: breaking the feed as asked");
                // Pending once, so actix writes out the records already
                // yielded: on an error it drops its unwritten buffer.
                tokio::task::yield_now().await;
                yield Err(io::Error::other("fail_after: feed broken on purpose"));
                return;
            }
            let elapsed = start.elapsed();
            yield Ok(Bytes::from(Order::new(seq, elapsed).to_line()));
            progress.sent += 1;
        }
    }
}

/// Logs a feed that ended before its last record: its client left.
struct Progress {
    sent: u32,
    of: u32,
}

impl Drop for Progress {
    fn drop(&mut self) {
        if self.sent < self.of {
            tracing::debug!(
                sent = self.sent,
                of = self.of,
                "stream-data cancelled: the client left"
            );
        }
    }
}

/// What the store sells, as (sku, name, price in cents).
const CATALOGUE: [(&str, &str, u32); 6] = [
    ("aurora-lamp", "Aurora Desk Lamp", 12_900),
    ("nimbus-chair", "Nimbus Task Chair", 48_900),
    ("tide-kettle", "Tide Pour-Over Kettle", 8_900),
    ("ember-mug", "Ember Stoneware Mug", 2_400),
    ("drift-rug", "Drift Wool Rug", 21_500),
    ("halo-shelf", "Halo Oak Wall Shelf", 6_900),
];

/// Where orders ship to.
const CITIES: [&str; 10] = [
    "Lisbon", "Utrecht", "Lyon", "Kraków", "Bilbao", "Aarhus", "Graz", "Turin", "Ghent", "Tallinn",
];

/// How an order was placed.
const CHANNELS: [&str; 3] = ["web", "app", "store"];

/// One record of the feed: an order placed in the demo's store.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
struct Order {
    seq: u32,
    /// When the record was sent, RFC 3339 in UTC.
    ts: String,
    /// Milliseconds since the request started.
    elapsed_ms: u64,
    order: String,
    sku: &'static str,
    product: &'static str,
    qty: u32,
    unit_cents: u32,
    total_cents: u32,
    currency: &'static str,
    city: &'static str,
    channel: &'static str,
}

impl Order {
    /// Record `seq`: the same order for the same `seq`, varied across them.
    fn new(seq: u32, elapsed: Duration) -> Self {
        let mut dice = Dice(u64::from(seq).wrapping_add(0x5eed));
        let (sku, product, unit_cents) = CATALOGUE[dice.below(CATALOGUE.len())];
        let qty = 1 + dice.below(3) as u32;
        Self {
            seq,
            ts: rfc3339(SystemTime::now()),
            elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            order: format!("PH-{}", 240_100 + u64::from(seq) * 7 + dice.below(7) as u64),
            sku,
            product,
            qty,
            unit_cents,
            total_cents: unit_cents * qty,
            currency: "EUR",
            city: CITIES[dice.below(CITIES.len())],
            channel: CHANNELS[dice.below(CHANNELS.len())],
        }
    }

    /// The record as one line of NDJSON.
    fn to_line(&self) -> String {
        // Only strings and integers: serializing cannot fail.
        let mut line = serde_json::to_string(self).unwrap_or_default();
        line.push('\n');
        line
    }
}

/// A small deterministic generator (SplitMix64), so records vary but a
/// given `seq` always describes the same order.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z % n as u64) as usize
    }
}

/// `time` as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_millis()
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[derive(Template)]
#[template(path = "streams_api.html")]
struct StreamsApi {
    query: DataQuery,
    /// The feed's URL, relative to the page.
    src: String,
}

/// `GET /streams-api`: its `n`, `delay_ms` and `fail_after` are passed on to
/// the feed it reads.
///
/// Taking a [`Nonce`] puts the page under the demo's strict CSP; it has no
/// inline script or style to use it on, which is the point.
pub(crate) async fn streams_api(req: HttpRequest, _csp: Nonce) -> actix_web::Result<HttpResponse> {
    let query = DataQuery::parse(req.query_string()).map_err(|err| err.refuse(&req))?;
    let page = StreamsApi {
        query,
        src: format!("/stream-data?{}", query.to_query_string()),
    };
    let html = page
        .render()
        .map_err(actix_web::error::ErrorInternalServerError)?;
    Ok(Streamed::html_complete(Bytes::from(html)).respond_to(&req))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param_of(query: &str) -> &'static str {
        DataQuery::parse(query).expect_err(query).param
    }

    #[test]
    fn defaults_are_twenty_records_150_ms_apart() {
        assert_eq!(DataQuery::parse("").unwrap(), DataQuery::default());
        assert_eq!(DataQuery::default().n, 20);
        assert_eq!(DataQuery::default().delay_ms, 150);
    }

    #[test]
    fn valid_queries_parse() {
        let q = DataQuery::parse("n=10000&delay_ms=0&other=x").unwrap();
        assert_eq!((q.n, q.delay_ms, q.fail_after), (10_000, 0, None));
        let q = DataQuery::parse("n=1&delay_ms=10000&fail_after=0").unwrap();
        assert_eq!((q.n, q.delay_ms, q.fail_after), (1, 10_000, Some(0)));
    }

    #[test]
    fn each_bad_parameter_is_named() {
        let cases = [
            ("n=", "n"),
            ("n=0", "n"),
            ("n=10001", "n"),
            ("n=-1", "n"),
            ("n=ten", "n"),
            ("n=1.5", "n"),
            ("n=1&n=2", "n"),
            ("delay_ms=", "delay_ms"),
            ("delay_ms=10001", "delay_ms"),
            ("delay_ms=-5", "delay_ms"),
            ("delay_ms=1e3", "delay_ms"),
            ("fail_after=10000", "fail_after"),
            ("fail_after=x", "fail_after"),
        ];
        for (query, param) in cases {
            assert_eq!(param_of(query), param, "{query}");
        }
    }

    #[test]
    fn a_record_is_one_line_of_json_with_its_fields() {
        let line = Order::new(3, Duration::from_millis(450)).to_line();
        assert!(line.ends_with('\n'));
        assert_eq!(line.matches('\n').count(), 1);
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["seq"], 3);
        assert_eq!(value["elapsed_ms"], 450);
        let qty = value["qty"].as_u64().unwrap();
        let unit = value["unit_cents"].as_u64().unwrap();
        assert_eq!(value["total_cents"].as_u64().unwrap(), qty * unit);
        assert!(value["order"].as_str().unwrap().starts_with("PH-"));
    }

    #[test]
    fn the_same_seq_describes_the_same_order() {
        let a = Order::new(7, Duration::ZERO);
        let b = Order::new(7, Duration::from_secs(1));
        assert_eq!(
            (a.order, a.sku, a.qty, a.city),
            (b.order, b.sku, b.qty, b.city)
        );
        let skus: std::collections::HashSet<_> = (0..50)
            .map(|seq| Order::new(seq, Duration::ZERO).sku)
            .collect();
        assert!(skus.len() > 3, "records vary: {skus:?}");
    }

    #[test]
    fn timestamps_are_rfc3339_in_utc() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap_day = UNIX_EPOCH + Duration::from_millis(951_782_400_123);
        assert_eq!(rfc3339(leap_day), "2000-02-29T00:00:00.123Z");
        let late = UNIX_EPOCH + Duration::from_secs(1_767_225_599);
        assert_eq!(rfc3339(late), "2025-12-31T23:59:59.000Z");
    }

    #[test]
    fn the_page_passes_its_query_on_to_the_feed() {
        let q = DataQuery::parse("n=5&delay_ms=0&fail_after=2").unwrap();
        assert_eq!(q.to_query_string(), "n=5&delay_ms=0&fail_after=2");
        assert_eq!(DataQuery::default().to_query_string(), "n=20&delay_ms=150");
    }
}
