//! Cached sections ([`Section::cached`]) through the generator: fresh,
//! stale and missing entries, shared loads, failures, eviction; under
//! paused time, with loaders that count their starts.

use std::sync::atomic::AtomicUsize;

use futures_util::future::join_all;
use tokio::task::LocalSet;

use super::*;
use crate::Cache;

const FRESH: Duration = Duration::from_secs(60);

/// Counts the loads started, and says what the next one gives.
#[derive(Clone, Default)]
struct Loads(Arc<AtomicUsize>);

impl Loads {
    fn started(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    /// A one-slot page whose section `s0` loads `text` after `ms` of tokio
    /// time, cached under `key`.
    fn page(&self, cache: &Cache, key: &str, text: &str, ms: u64) -> Page {
        let loads = self.0.clone();
        let text = text.to_owned();
        let section = Section::new("s0", super::text("loading"), async move {
            loads.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok::<_, BoxError>(super::text(text))
        })
        .cached(cache, key, FRESH, FRESH);
        shell(1).section(section)
    }

    /// The same, with a loader that fails with a public message.
    fn failing(&self, cache: &Cache, key: &str) -> Page {
        let loads = self.0.clone();
        let section = Section::new("s0", text("loading"), async move {
            loads.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(10)).await;
            Err::<Text, BoxError>(crate::PublicError::new("stock is offline").into())
        })
        .cached(cache, key, FRESH, FRESH)
        .error_with(|failure: &crate::Failure| text(format!("[{}]", failure.message())));
        shell(1).section(section)
    }
}

async fn whole(page: Page) -> String {
    collect_all(render(page, Mode::OutOfOrder).unwrap())
        .await
        .concat()
}

#[tokio::test(start_paused = true)]
async fn a_miss_streams_and_is_stored_a_fresh_hit_is_in_place_with_no_loader() {
    let cache = Cache::memory(1 << 20);
    let loads = Loads::default();
    let mut body = render(loads.page(&cache, "k", "ready", 50), Mode::OutOfOrder).unwrap();
    let shell = next_text(&mut body).await;
    assert!(
        shell.contains("<?start name=\"s0\">loading<?end>"),
        "a miss streams: {shell}"
    );
    assert!(
        collect_all(body)
            .await
            .concat()
            .contains("<template for=\"s0\">ready</template>")
    );
    assert_eq!(loads.started(), 1);

    tokio::time::advance(FRESH - Duration::from_secs(1)).await;
    let chunks =
        collect_all(render(loads.page(&cache, "k", "new", 50), Mode::OutOfOrder).unwrap()).await;
    assert_eq!(chunks.len(), 1, "one chunk: {chunks:?}");
    assert!(
        chunks[0].contains("<pp-slot id=\"s0\">ready</pp-slot>"),
        "{chunks:?}"
    );
    assert!(!chunks[0].contains("<script"), "in place, no late chunk");
    assert_eq!(loads.started(), 1, "no loader started for a fresh entry");
}

#[tokio::test(start_paused = true)]
async fn a_stale_entry_is_in_place_and_refreshed_once_in_the_background() {
    LocalSet::new()
        .run_until(async {
            let cache = Cache::memory(1 << 20);
            let loads = Loads::default();
            whole(loads.page(&cache, "k", "old", 0)).await;
            tokio::time::advance(FRESH + Duration::from_secs(1)).await;
            for _ in 0..3 {
                let chunks = collect_all(
                    render(loads.page(&cache, "k", "new", 100), Mode::OutOfOrder).unwrap(),
                )
                .await;
                assert_eq!(chunks.len(), 1);
                assert!(
                    chunks[0].contains("<pp-slot id=\"s0\">old</pp-slot>"),
                    "{chunks:?}"
                );
            }
            tokio::task::yield_now().await;
            assert_eq!(loads.started(), 2, "one refresh for three stale pages");
            tokio::time::sleep(Duration::from_millis(150)).await;
            let html = whole(loads.page(&cache, "k", "newer", 100)).await;
            assert!(
                html.contains("<pp-slot id=\"s0\">new</pp-slot>"),
                "refreshed: {html}"
            );
            assert_eq!(loads.started(), 2);
            // Past the stale window too, the entry is gone: a miss.
            tokio::time::advance(3 * FRESH).await;
            let html = whole(loads.page(&cache, "k", "newest", 10)).await;
            assert!(
                html.contains("<template for=\"s0\">newest</template>"),
                "{html}"
            );
            assert_eq!(loads.started(), 3);
        })
        .await;
}

#[tokio::test(start_paused = true)]
async fn concurrent_misses_of_one_key_share_one_loader() {
    let cache = Cache::memory(1 << 20);
    let loads = Loads::default();
    let pages = (0..64).map(|i| whole(loads.page(&cache, "k", &format!("from {i}"), 100)));
    let pages = join_all(pages).await;
    assert_eq!(loads.started(), 1, "one load for 64 pages");
    for html in &pages {
        assert!(
            html.contains("<template for=\"s0\">from 0</template>"),
            "{html}"
        );
    }
    // Other keys load on their own.
    whole(loads.page(&cache, "other", "x", 0)).await;
    assert_eq!(loads.started(), 2);
}

#[tokio::test(start_paused = true)]
async fn when_the_leading_page_goes_away_a_waiting_one_loads() {
    let cache = Cache::memory(1 << 20);
    let loads = Loads::default();
    let mut first = render(loads.page(&cache, "k", "first", 100), Mode::OutOfOrder).unwrap();
    next_text(&mut first).await;
    let mut second = render(loads.page(&cache, "k", "second", 100), Mode::OutOfOrder).unwrap();
    next_text(&mut second).await;
    assert_eq!(loads.started(), 1, "the second waits for the first's load");
    drop(first);
    let rest = collect_all(second).await.concat();
    assert!(
        rest.contains("<template for=\"s0\">second</template>"),
        "{rest}"
    );
    assert_eq!(loads.started(), 2);
}

#[tokio::test(start_paused = true)]
async fn failures_are_shared_but_never_cached() {
    let cache = Cache::memory(1 << 20);
    let loads = Loads::default();
    let pages = join_all((0..8).map(|_| whole(loads.failing(&cache, "k")))).await;
    assert_eq!(
        loads.started(),
        1,
        "the waiting pages share the failed load"
    );
    for html in &pages {
        assert!(
            html.contains("<template for=\"s0\">[stock is offline]</template>"),
            "{html}"
        );
    }
    let html = whole(loads.page(&cache, "k", "back", 10)).await;
    assert!(
        html.contains("<template for=\"s0\">back</template>"),
        "loaded again: {html}"
    );
    assert_eq!(loads.started(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_stale_entry_whose_refresh_fails_is_kept_until_its_window_ends() {
    LocalSet::new()
        .run_until(async {
            let cache = Cache::memory(1 << 20);
            let loads = Loads::default();
            whole(loads.page(&cache, "k", "old", 0)).await;
            tokio::time::advance(FRESH + Duration::from_secs(1)).await;
            let html = whole(loads.failing(&cache, "k")).await;
            assert!(html.contains("<pp-slot id=\"s0\">old</pp-slot>"), "{html}");
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert_eq!(loads.started(), 2, "the refresh ran and failed");
            let html = whole(loads.failing(&cache, "k")).await;
            assert!(
                html.contains("<pp-slot id=\"s0\">old</pp-slot>"),
                "still stale: {html}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert_eq!(loads.started(), 3, "and the next stale page tried again");
        })
        .await;
}

#[tokio::test(start_paused = true)]
async fn content_with_sections_of_its_own_is_not_cached() {
    let cache = Cache::memory(1 << 20);
    let loads = Loads::default();
    for round in 1..=2 {
        let counted = loads.0.clone();
        let section = Section::new("s0", text("loading"), async move {
            counted.fetch_add(1, Ordering::SeqCst);
            let inner = Section::infallible("inner", text("…"), async { text("votes") });
            Ok::<_, BoxError>(
                Fragment::new(Shell {
                    slots: vec![slot("inner")],
                })
                .section(inner),
            )
        })
        .cached(&cache, "k", FRESH, FRESH);
        let html = whole(shell(1).section(section)).await;
        assert!(html.contains("votes"), "{html}");
        assert_eq!(loads.started(), round);
    }
}

#[tokio::test(start_paused = true)]
async fn markup_with_a_slot_and_no_section_is_never_cached_and_fails_each_time() {
    let cache = Cache::memory(1 << 20);
    let loads = Loads::default();
    for round in 1..=2 {
        let counted = loads.0.clone();
        let section = Section::new("s0", text("loading"), async move {
            counted.fetch_add(1, Ordering::SeqCst);
            Ok::<_, BoxError>(Shell {
                slots: vec![slot("orphan")],
            })
        })
        .cached(&cache, "k", FRESH, FRESH);
        let html = whole(shell(1).section(section)).await;
        assert!(html.contains(wire::DEFAULT_ERROR), "round {round}: {html}");
        assert!(
            !html.contains(wire::MARK_OPEN),
            "round {round}: a marker was sent"
        );
        assert_eq!(loads.started(), round, "the failed markup was cached");
    }
}

#[tokio::test]
async fn memory_is_bounded_by_its_byte_budget() {
    let budget = 64 * 1024;
    let cache = Cache::memory(budget);
    let loads = Loads::default();
    for i in 0..64 {
        let text = format!("{i:04}{}", "x".repeat(4 * 1024));
        whole(loads.page(&cache, &format!("k{i}"), &text, 0)).await;
    }
    let held = cache.settle().await;
    assert!(held <= budget, "{held} bytes held for a budget of {budget}");
    assert!(held > budget / 2, "the budget is used: {held}");
    // Some early entries were evicted: they load again.
    let before = loads.started();
    for i in 0..64 {
        whole(loads.page(&cache, &format!("k{i}"), "again", 0)).await;
    }
    assert!(
        loads.started() - before >= 64 - 16,
        "{} loaded again",
        loads.started() - before
    );
}
