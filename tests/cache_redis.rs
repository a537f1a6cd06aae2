//! The section cache in a real Redis (feature `redis`): two caches on one
//! Redis share entries as two instances of an app would, and a Redis that
//! is down, stalls or dies makes sections load as if uncached, without
//! failing or stalling the page.

#![cfg(feature = "redis")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a failed unwrap is a failed test"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use pagepipe::{BoxError, Cache, Mode, Page, Section, Slot, slot};

#[path = "support/redis.rs"]
mod redis;
#[path = "support/templates.rs"]
mod templates;
use redis::Redis;
use templates::{Shell, Text};

const FRESH: Duration = Duration::from_secs(60);
const TIMEOUT: Duration = Duration::from_millis(200);

/// A page whose one section loads `text` (counting in `loads`) after
/// 50 ms, cached under `key`.
fn page(cache: &Cache, key: &str, text: &str, loads: &Arc<AtomicUsize>) -> Page {
    let loads = loads.clone();
    let text = text.to_owned();
    let section = Section::new(
        "s0",
        Text {
            text: "loading".into(),
        },
        async move {
            loads.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok::<_, BoxError>(Text { text })
        },
    )
    .cached(cache, key, FRESH, FRESH);
    Page::new(Shell {
        slots: vec![slot("s0")],
    })
    .section(section)
}

async fn whole(page: Page) -> Vec<String> {
    pagepipe::render(page, Mode::OutOfOrder)
        .unwrap()
        .map(|chunk| String::from_utf8(chunk.unwrap().to_vec()).unwrap())
        .collect()
        .await
}

fn key(name: &str) -> String {
    format!("{name}-{}", std::process::id())
}

#[tokio::test]
async fn two_instances_share_entries_through_redis() {
    let redis = Redis::start();
    let one = Cache::redis(&redis.url(), TIMEOUT).unwrap();
    let other = Cache::redis(&redis.url(), TIMEOUT).unwrap();
    let loads = Arc::new(AtomicUsize::new(0));
    let key = key("shared");
    let first = whole(page(&one, &key, "from one", &loads)).await;
    assert!(first.len() > 1, "a miss streams: {first:?}");
    assert!(
        first[0].contains("<?start name=\"s0\">loading<?end>"),
        "{first:?}"
    );
    assert!(
        first
            .concat()
            .contains("<template for=\"s0\">from one</template>")
    );
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    let chunks = whole(page(&other, &key, "from the other", &loads)).await;
    // The shell waited for the lookup: the hit is in place, as in memory.
    assert_eq!(chunks.len(), 1, "{chunks:?}");
    assert!(
        chunks[0].contains("<pp-slot id=\"s0\">from one</pp-slot>"),
        "{chunks:?}"
    );
    assert_eq!(
        loads.load(Ordering::SeqCst),
        1,
        "the other instance started no loader"
    );
}

#[tokio::test]
async fn a_redis_that_is_down_makes_sections_load_at_once() {
    let port = redis::free_port();
    let cache = Cache::redis(&format!("redis://127.0.0.1:{port}"), TIMEOUT).unwrap();
    let loads = Arc::new(AtomicUsize::new(0));
    for round in 1..=3 {
        let started = Instant::now();
        let html = whole(page(&cache, &key("down"), "loaded", &loads))
            .await
            .concat();
        assert!(html.contains("loaded"), "{html}");
        assert!(
            started.elapsed() < 3 * TIMEOUT,
            "round {round} took {:?}",
            started.elapsed()
        );
        assert_eq!(loads.load(Ordering::SeqCst), round);
    }
}

#[tokio::test]
async fn a_redis_that_does_not_answer_costs_at_most_its_timeout() {
    // Accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let cache = Cache::redis(&format!("redis://{addr}"), TIMEOUT).unwrap();
    let loads = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let html = whole(page(&cache, &key("silent"), "loaded", &loads))
        .await
        .concat();
    let took = started.elapsed();
    assert!(html.contains("loaded"), "{html}");
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    // The lookup's timeout, then the store's: never the page's deadline.
    assert!(took < 4 * TIMEOUT, "the page took {took:?}");
    held.abort();
}

#[tokio::test]
async fn a_redis_that_dies_makes_sections_load_again() {
    let mut redis = Redis::start();
    let cache = Cache::redis(&redis.url(), TIMEOUT).unwrap();
    let loads = Arc::new(AtomicUsize::new(0));
    let key = key("dies");
    whole(page(&cache, &key, "stored", &loads)).await;
    let hit = whole(page(&cache, &key, "again", &loads)).await.concat();
    assert!(hit.contains("stored"));
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    redis.kill();
    let started = Instant::now();
    let html = whole(page(&cache, &key, "loaded", &loads)).await.concat();
    assert!(html.contains("loaded"), "{html}");
    assert_eq!(loads.load(Ordering::SeqCst), 2);
    assert!(started.elapsed() < 4 * TIMEOUT, "{:?}", started.elapsed());
}
