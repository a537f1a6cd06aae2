//! `/bench`'s section cache against the real binary: 256 concurrent cold
//! requests cost one load per section, the next request is one chunk with
//! every section in place, `/bench-loads` counts, bad `cache` and `key`
//! are named, and two processes with `--cache-redis` share entries.

use std::time::{Duration, Instant};

use crate::util::{Server, get};

#[path = "../../tests/support/redis.rs"]
mod redis;

/// `/bench-loads` as a number.
async fn loads(server: &Server) -> u64 {
    let response = get(server.addr, "/bench-loads").await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    response.text().trim().parse().expect("a number")
}

/// A key no other test or run uses.
fn key(name: &str) -> String {
    format!("{name}-{}", std::process::id())
}

/// Whether `text` is a complete `/bench` page with sections `0..n` in place.
fn all_in_place(text: &str, n: usize) -> bool {
    (0..n).all(|i| {
        text.contains(&format!(
            "<pp-slot id=\"s{i}\"><p class=\"ready\">section {i} ready</p>"
        ))
    }) && !text.contains("<template")
        && text.ends_with("</html>")
}

#[tokio::test]
async fn cold_concurrent_requests_share_one_load_per_section() {
    let server = Server::start();
    let before = loads(&server).await;
    let page = format!("/bench?delays=300,300,300&cache=60&key={}", key("cold"));
    let requests = (0..256).map(|_| {
        let page = page.clone();
        let addr = server.addr;
        tokio::spawn(async move { get(addr, &page).await })
    });
    for response in futures_util::future::join_all(requests).await {
        let response = response.unwrap();
        assert_eq!(response.status, 200);
        let text = response.text();
        assert!(text.contains("section 2 ready") && text.ends_with("</html>"));
    }
    assert_eq!(
        loads(&server).await,
        before + 3,
        "one loader per section for 256 requests"
    );

    let started = Instant::now();
    let response = get(server.addr, &page).await;
    let took = started.elapsed();
    assert_eq!(response.chunks.len(), 1, "one chunk");
    assert!(all_in_place(&response.text(), 3), "{}", response.text());
    assert_eq!(
        loads(&server).await,
        before + 3,
        "a fresh hit starts no loader"
    );
    // One chunk with every section in place is the proof that no loader was
    // waited for; the time is reported, not bounded (a busy machine moves it).
    eprintln!("a cached /bench?delays=300,300,300 page: {took:?} from request to last byte");
}

#[tokio::test]
async fn uncached_pages_load_every_time_and_keys_keep_entries_apart() {
    let server = Server::start();
    let before = loads(&server).await;
    for _ in 0..2 {
        get(server.addr, "/bench?delays=0,0").await;
    }
    assert_eq!(loads(&server).await, before + 4);
    for name in ["a", "b"] {
        let page = format!("/bench?delays=0,0&cache=60&key={}", key(name));
        get(server.addr, &page).await;
        get(server.addr, &page).await;
    }
    assert_eq!(
        loads(&server).await,
        before + 8,
        "two keys, two loads each, then hits"
    );
}

#[tokio::test]
async fn bad_cache_and_key_are_named() {
    let server = Server::start();
    let long = "k".repeat(65);
    for (query, param) in [
        ("cache=3601", "cache"),
        ("cache=x", "cache"),
        (&*format!("key={long}"), "key"),
        ("key=a.b", "key"),
    ] {
        let response = get(server.addr, &format!("/bench?{query}")).await;
        assert_eq!(response.status, 400, "{query}");
        assert!(
            response.text().contains(&format!("`{param}`")),
            "{query}: {}",
            response.text()
        );
    }
}

#[tokio::test]
async fn two_processes_with_cache_redis_share_entries() {
    let redis = redis::Redis::start();
    let url = redis.url();
    let one = Server::start_with(&["--cache-redis", &url], &[]);
    let other = Server::start_with(&["--cache-redis", &url], &[]);
    let page = format!("/bench?delays=200,200&cache=60&key={}", key("redis"));
    let first = get(one.addr, &page).await;
    let text = first.text();
    assert!(
        text.contains("<template for=\"s1\">"),
        "a miss streams: {text}"
    );
    assert_eq!(loads(&one).await, 2);
    let started = Instant::now();
    let shared = get(other.addr, &page).await;
    // The shell waited for the Redis lookups: the hits are in place.
    assert_eq!(shared.chunks.len(), 1, "one chunk");
    assert!(all_in_place(&shared.text(), 2), "{}", shared.text());
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "not loaded again: {:?}",
        started.elapsed()
    );
    assert_eq!(
        loads(&other).await,
        0,
        "the other process started no loader"
    );
}

#[tokio::test]
async fn a_redis_that_is_down_degrades_to_loading() {
    let port = redis::free_port();
    let server = Server::start_with(
        &["--cache-redis", &format!("redis://127.0.0.1:{port}")],
        &[],
    );
    let page = format!("/bench?delays=50,50&cache=60&key={}", key("down"));
    for round in 1..=2 {
        let started = Instant::now();
        let response = get(server.addr, &page).await;
        assert_eq!(response.status, 200);
        let text = response.text();
        assert!(
            text.contains("section 1 ready") && text.ends_with("</html>"),
            "{text}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(loads(&server).await, 2 * round);
    }
}
