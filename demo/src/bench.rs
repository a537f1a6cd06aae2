//! `GET /bench`: the synthetic progressive page for load tests, with one
//! section per entry of `delays`, each resolving that many ms after the
//! request started.

use std::convert::Infallible;
use std::sync::OnceLock;
use std::time::Duration;

use std::sync::atomic::Ordering;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use tokio::time::{Instant, sleep_until};

use crate::query::{QueryError, int_in, params, parse_mode};
use crate::shared::{State, text};
use pagepipe::{Mode, Nonce, Page, Section, Slot, Streamed, slot};

/// Most sections a bench page may have.
const MAX_SECTIONS: usize = 64;
/// Longest delay of one section, in ms.
const MAX_DELAY_MS: u64 = 60_000;
/// Most filler bytes in one section.
const MAX_BYTES: usize = 1_048_576;
/// Most filler bytes in one page (`bytes` × sections): a buffered page is
/// built whole in memory and held there until its client has read it.
const MAX_PAGE_BYTES: usize = 8 * 1_048_576;
/// Longest shell budget (`wait`), in ms.
const MAX_WAIT_MS: u64 = 10_000;
/// Longest time a cached section stays fresh (`cache`), in seconds; it
/// stays stale as long again.
const MAX_CACHE_SECS: u64 = 3600;
/// Longest `key`.
const MAX_KEY_LEN: usize = 64;
/// How long a bench page may stream beyond its slowest section.
const DEADLINE_MARGIN: Duration = Duration::from_secs(10);

/// A validated `/bench` query.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BenchQuery {
    delays: Vec<u64>,
    bytes: usize,
    /// The mode asked for with `?mode=`, if any.
    mode: Option<Mode>,
    /// The shell budget in ms: sections resolved by then are in place.
    wait: u64,
    /// Seconds a section's content stays fresh in the cache; 0: uncached.
    cache: u64,
    /// Part of each section's cache key.
    key: String,
}

impl Default for BenchQuery {
    fn default() -> Self {
        Self {
            delays: vec![0],
            bytes: 256,
            mode: None,
            wait: 0,
            cache: 0,
            key: String::new(),
        }
    }
}

impl BenchQuery {
    /// Parses and validates a query string.
    fn parse(query: &str) -> Result<Self, QueryError> {
        let [delays, bytes, mode, wait, cache, key] =
            params(query, ["delays", "bytes", "mode", "wait", "cache", "key"])?;
        let defaults = Self::default();
        let query = Self {
            delays: delays.map_or(Ok(defaults.delays), |v| parse_delays(&v))?,
            bytes: bytes.map_or(Ok(defaults.bytes), |v| int_in("bytes", &v, 0..=MAX_BYTES))?,
            mode: mode.map(|v| parse_mode(&v)).transpose()?.or(defaults.mode),
            wait: wait.map_or(Ok(defaults.wait), |v| int_in("wait", &v, 0..=MAX_WAIT_MS))?,
            cache: cache.map_or(Ok(defaults.cache), |v| {
                int_in("cache", &v, 0..=MAX_CACHE_SECS)
            })?,
            key: key.map_or(Ok(defaults.key), |v| parse_key(&v))?,
        };
        Ok(query)
    }

    /// Refuses a page whose filler in all (`bytes` × sections) passes
    /// [`MAX_PAGE_BYTES`], naming `bytes` and the most it may be here. Only a
    /// page sent whole is held whole in memory, so only such a page is
    /// checked: a streamed one holds a chunk at a time.
    fn check_page_bytes(&self) -> Result<(), QueryError> {
        let sections = self.delays.len().max(1);
        if self.bytes.saturating_mul(sections) <= MAX_PAGE_BYTES {
            return Ok(());
        }
        let expected = format!(
            "at most {} with {sections} section(s): a page's filler (bytes × sections) \
             is at most {MAX_PAGE_BYTES} bytes (8 MiB)",
            MAX_PAGE_BYTES / sections
        );
        Err(QueryError::new("bytes", &expected, &self.bytes.to_string()))
    }
}

/// Parses `key`: up to 64 characters of `[A-Za-z0-9_-]`.
fn parse_key(value: &str) -> Result<String, QueryError> {
    let ok = value.len() <= MAX_KEY_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(value.to_owned())
    } else {
        let expected = format!("up to {MAX_KEY_LEN} characters of A-Z, a-z, 0-9, - and _");
        Err(QueryError::new("key", &expected, value))
    }
}

/// Parses `delays`; an error names the whole list, not the entry at fault.
fn parse_delays(value: &str) -> Result<Vec<u64>, QueryError> {
    let error = || {
        let expected =
            format!("1 to {MAX_SECTIONS} comma-separated integers, each 0 to {MAX_DELAY_MS}");
        QueryError::new("delays", &expected, value)
    };
    let delays = value
        .split(',')
        .map(|entry| int_in("delays", entry, 0..=MAX_DELAY_MS))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| error())?;
    if delays.len() > MAX_SECTIONS {
        return Err(error());
    }
    Ok(delays)
}

/// Filler text: ASCII words, so any prefix is valid UTF-8 and needs no escaping.
pub(crate) fn filler(bytes: usize) -> &'static str {
    static FILLER: OnceLock<String> = OnceLock::new();
    let text = FILLER.get_or_init(|| {
        const WORDS: &str =
            "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor ";
        WORDS.repeat(MAX_BYTES / WORDS.len() + 1)
    });
    &text[..bytes]
}

#[derive(Template)]
#[template(path = "bench.html")]
struct BenchShell {
    slots: Vec<Slot>,
    mode: &'static str,
}

#[derive(Template)]
#[template(source = "<p>loading {{ i }}</p>", ext = "html")]
struct BenchFallback {
    i: usize,
}

#[derive(Template)]
#[template(
    source = "<p class=\"ready\">section {{ i }} ready</p><p class=\"filler\">{{ filler|safe }}</p>",
    ext = "html"
)]
struct BenchSection {
    i: usize,
    filler: &'static str,
}

/// `GET /bench-loads`: how many `/bench` section loaders have started.
pub(crate) async fn bench_loads(state: web::Data<State>) -> Streamed {
    let loads = state.bench_loads.load(Ordering::Relaxed);
    text(StatusCode::OK, format!("{loads}\n"))
}

/// `GET /bench`.
pub(crate) async fn bench(
    req: HttpRequest,
    nonce: Nonce,
    state: web::Data<State>,
) -> actix_web::Result<HttpResponse> {
    let start = Instant::now();
    let query = BenchQuery::parse(req.query_string()).map_err(|err| err.refuse(&req))?;
    let filler = filler(query.bytes);
    let mode = Mode::choose(&req, query.mode);
    if mode == Mode::Buffered {
        query.check_page_bytes().map_err(|err| err.refuse(&req))?;
    }
    let slowest = query.delays.iter().copied().max().unwrap_or(0);
    let shell = BenchShell {
        slots: (0..query.delays.len())
            .map(|i| slot(format!("s{i}")))
            .collect(),
        mode: mode.as_str(),
    };
    let mut page = Page::new(shell)
        .nonce(nonce)
        .mode(mode)
        .shell_budget(Duration::from_millis(query.wait))
        .deadline(Duration::from_millis(slowest.max(query.wait)) + DEADLINE_MARGIN);
    for (i, delay) in query.delays.iter().enumerate() {
        // A zero delay is ready at once: sleeping until an instant already
        // passed still waits for the timer's next tick, about 1 ms.
        let ready_at = (*delay > 0).then(|| start + Duration::from_millis(*delay));
        let counted = state.clone();
        let content = async move {
            counted.bench_loads.fetch_add(1, Ordering::Relaxed);
            if let Some(ready_at) = ready_at {
                sleep_until(ready_at).await;
            }
            Ok::<_, Infallible>(BenchSection { i, filler })
        };
        let mut section = Section::new(format!("s{i}"), BenchFallback { i }, content);
        if query.cache > 0 {
            let key = format!("bench:{i}:{delay}:{}:{}", query.bytes, query.key);
            let fresh = Duration::from_secs(query.cache);
            section = section.cached(&state.cache, key, fresh, fresh);
        }
        page = page.section(section);
    }
    Ok(page.respond(&req).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param_of(query: &str) -> &'static str {
        BenchQuery::parse(query).expect_err(query).param
    }

    #[test]
    fn defaults_are_one_instant_section_of_256_bytes_out_of_order() {
        assert_eq!(BenchQuery::parse("").unwrap(), BenchQuery::default());
        assert_eq!(BenchQuery::default().delays, vec![0]);
    }

    #[test]
    fn valid_queries_parse() {
        let q = BenchQuery::parse("delays=100,600,300&bytes=2048&mode=in-order").unwrap();
        assert_eq!(q.delays, vec![100, 600, 300]);
        assert_eq!(q.bytes, 2048);
        assert_eq!(q.mode, Some(Mode::InOrder));
        assert_eq!(BenchQuery::parse("wait=100").unwrap().wait, 100);
        assert_eq!(BenchQuery::parse("wait=10000").unwrap().wait, 10_000);
        let cached = BenchQuery::parse("cache=3600&key=Ab-9_z").unwrap();
        assert_eq!((cached.cache, cached.key.as_str()), (3600, "Ab-9_z"));
        let long = "k".repeat(64);
        assert_eq!(BenchQuery::parse(&format!("key={long}")).unwrap().key, long);
        let max = vec!["60000"; 64].join(",");
        assert_eq!(
            BenchQuery::parse(&format!("delays={max}&bytes=131072"))
                .unwrap()
                .delays
                .len(),
            64
        );
        assert_eq!(
            BenchQuery::parse("mode=buffered&other=1").unwrap().mode,
            Some(Mode::Buffered)
        );
    }

    #[test]
    fn each_bad_parameter_is_named() {
        let too_many = vec!["0"; 65].join(",");
        let cases = [
            ("delays=", "delays"),
            ("delays=abc", "delays"),
            ("delays=1,,2", "delays"),
            ("delays=-1", "delays"),
            ("delays=60001", "delays"),
            ("delays=1.5", "delays"),
            (&format!("delays={too_many}"), "delays"),
            ("delays=1&delays=2", "delays"),
            ("bytes=", "bytes"),
            ("bytes=1048577", "bytes"),
            ("bytes=-1", "bytes"),
            ("bytes=lots", "bytes"),
            ("wait=", "wait"),
            ("wait=10001", "wait"),
            ("wait=-5", "wait"),
            ("wait=soon", "wait"),
            ("mode=", "mode"),
            ("mode=fast", "mode"),
            ("mode=OUT-OF-ORDER", "mode"),
            ("cache=3601", "cache"),
            ("cache=-1", "cache"),
            ("cache=soon", "cache"),
            (&format!("key={}", "k".repeat(65)), "key"),
            ("key=a%20b", "key"),
            ("key=caf%C3%A9", "key"),
        ];
        for (query, param) in cases {
            assert_eq!(param_of(query), param, "{query}");
        }
    }

    #[test]
    fn a_page_may_hold_at_most_8_mib_of_filler_in_all() {
        let sections = |n: usize| vec!["0"; n].join(",");
        for (n, bytes) in [(64, 131_072), (8, 1_048_576), (1, 1_048_576), (64, 0)] {
            let query = format!("delays={}&bytes={bytes}", sections(n));
            let parsed = BenchQuery::parse(&query).unwrap();
            assert!(parsed.check_page_bytes().is_ok(), "{n} × {bytes}");
        }
        for (n, bytes) in [(64, 1_048_576), (64, 131_073), (9, 1_048_576)] {
            let query = format!("delays={}&bytes={bytes}&mode=buffered", sections(n));
            let parsed = BenchQuery::parse(&query).expect("within each parameter's range");
            let err = parsed.check_page_bytes().expect_err(&query);
            assert_eq!(err.param, "bytes", "{n} × {bytes}");
            let text = err.to_string();
            assert!(
                text.contains("8388608")
                    && text.contains(&format!("at most {}", MAX_PAGE_BYTES / n)),
                "{text}"
            );
        }
    }

    #[actix_web::test]
    async fn zero_delays_resolve_without_waiting_for_a_timer() {
        use std::pin::Pin;
        use std::task::{Context, Poll};

        use actix_web::body::MessageBody as _;

        let req = actix_web::test::TestRequest::get()
            .uri("/bench?delays=0,0,0&bytes=16")
            .to_http_request();
        let state = web::Data::new(State {
            limits: crate::shared::Limits {
                request_timeout: Duration::from_secs(5),
                keep_alive: Duration::from_secs(5),
                max_connections: 1,
                max_target: 8192,
                max_headers: 16_384,
                send_timeout: Duration::from_secs(60),
            },
            assets: std::path::PathBuf::new(),
            video_upstream: None,
            cache: pagepipe::Cache::memory(1 << 20),
            bench_loads: std::sync::atomic::AtomicU64::new(0),
        });
        let mut body = bench(req, Nonce::new(), state.clone())
            .await
            .unwrap()
            .into_body();
        let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
        let mut html = Vec::new();
        loop {
            match Pin::new(&mut body).poll_next(&mut cx) {
                Poll::Ready(Some(chunk)) => html.extend_from_slice(&chunk.unwrap()),
                Poll::Ready(None) => break,
                Poll::Pending => panic!("a page of zero delays waited after {} bytes", html.len()),
            }
        }
        let html = String::from_utf8(html).unwrap();
        for i in 0..3 {
            assert!(html.contains(&format!("section {i} ready")), "{html}");
        }
        assert_eq!(state.bench_loads.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn filler_has_the_asked_length() {
        assert_eq!(filler(0), "");
        assert_eq!(filler(2048).len(), 2048);
        assert_eq!(filler(MAX_BYTES).len(), MAX_BYTES);
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(2000))]

        #[test]
        fn any_query_is_parsed_or_refused_naming_a_parameter(
            query in proptest::prop_oneof![
                "(delays|bytes|mode|x)=[0-9,%A-Za-z+-]{0,40}(&(delays|bytes|mode)=[0-9,a-z-]{0,12}){0,3}",
                ".{0,80}",
            ]
        ) {
            match BenchQuery::parse(&query) {
                Ok(q) => {
                    proptest::prop_assert!((1..=MAX_SECTIONS).contains(&q.delays.len()));
                    proptest::prop_assert!(q.delays.iter().all(|ms| *ms <= MAX_DELAY_MS));
                    proptest::prop_assert!(q.bytes <= MAX_BYTES);
                }
                Err(err) => proptest::prop_assert!(["query", "delays", "bytes", "mode", "wait", "cache", "key"].contains(&err.param)),
            }
        }
    }
}
