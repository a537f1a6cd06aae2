//! `/stream-data` and `/streams-api` against the real binary: records paced
//! by `delay_ms`, NDJSON line by line, `400`s that name the parameter, and a
//! client that leaves cancels the feed.

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::util::{Client, Server, get, ms};

/// Generous slack for a noisy 2-core machine: a record is never early, and
/// late by at most this much.
const SLACK: Duration = Duration::from_millis(400);

/// Each line of `body` as JSON.
fn records(body: &str) -> Vec<serde_json::Value> {
    body.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line:?}")))
        .collect()
}

#[tokio::test]
async fn records_arrive_one_delay_apart() {
    let server = Server::start();
    let response = get(server.addr, "/stream-data?n=5&delay_ms=200").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("transfer-encoding"), Some("chunked"));
    for seq in 0..5u64 {
        let due = ms(200 * seq);
        let arrived = response
            .arrival_of(&format!("{{\"seq\":{seq},"))
            .unwrap_or_else(|| panic!("record {seq}"));
        // The first record goes out at once; later ones never early.
        assert!(
            arrived + ms(20) >= due,
            "record {seq} due at {due:?} came at {arrived:?}"
        );
        assert!(
            arrived < due + SLACK,
            "record {seq} due at {due:?} came at {arrived:?}"
        );
    }
}

#[tokio::test]
async fn the_body_is_ndjson_one_record_per_line_in_order() {
    let server = Server::start();
    let response = get(server.addr, "/stream-data?n=12&delay_ms=0").await;
    let text = response.text();
    assert!(text.ends_with('\n'), "the last record ends its line");
    let records = records(&text);
    assert_eq!(records.len(), 12);
    for (seq, record) in records.iter().enumerate() {
        assert_eq!(record["seq"], seq);
        for field in [
            "ts", "order", "sku", "product", "currency", "city", "channel",
        ] {
            assert!(record[field].is_string(), "{field} in {record}");
        }
        let qty = record["qty"].as_u64().expect("qty");
        let unit = record["unit_cents"].as_u64().expect("unit_cents");
        assert_eq!(record["total_cents"].as_u64(), Some(qty * unit));
    }
    let elapsed: Vec<u64> = records
        .iter()
        .map(|r| r["elapsed_ms"].as_u64().expect("elapsed_ms"))
        .collect();
    assert!(elapsed.is_sorted(), "{elapsed:?}");
}

#[tokio::test]
async fn the_feed_has_streaming_headers() {
    let server = Server::start();
    let response = get(server.addr, "/stream-data?n=1").await;
    assert_eq!(
        response.header("content-type"),
        Some("application/x-ndjson")
    );
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert_eq!(response.header("x-accel-buffering"), Some("no"));
    assert_eq!(response.header("content-length"), None);
}

#[tokio::test]
async fn defaults_are_twenty_records() {
    let server = Server::start();
    let response = get(server.addr, "/stream-data?delay_ms=0").await;
    assert_eq!(records(&response.text()).len(), 20);
}

#[tokio::test]
async fn head_sends_the_headers_without_waiting_for_records() {
    let server = Server::start();
    let mut client = Client::connect(server.addr).await;
    let response = client
        .request("HEAD", "/stream-data?n=3&delay_ms=10000", "")
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("application/x-ndjson")
    );
}

#[tokio::test]
async fn bad_parameters_are_400s_that_name_them() {
    let server = Server::start();
    let cases = [
        ("/stream-data?n=0", "n"),
        ("/stream-data?n=10001", "n"),
        ("/stream-data?n=lots", "n"),
        ("/stream-data?n=1&n=2", "n"),
        ("/stream-data?delay_ms=-1", "delay_ms"),
        ("/stream-data?delay_ms=10001", "delay_ms"),
        ("/stream-data?delay_ms=1.5", "delay_ms"),
        ("/stream-data?fail_after=x", "fail_after"),
        ("/streams-api?n=0", "n"),
        ("/streams-api?delay_ms=soon", "delay_ms"),
    ];
    for (target, param) in cases {
        let response = get(server.addr, target).await;
        assert_eq!(response.status, 400, "{target}");
        assert_eq!(
            response.header("content-type"),
            Some("text/plain; charset=utf-8"),
            "{target}"
        );
        let text = response.text();
        assert!(text.contains(&format!("`{param}`")), "{target}: {text}");
    }
}

#[tokio::test]
async fn fail_after_breaks_the_stream_after_that_many_records() {
    let server = Server::start();
    let mut stream = TcpStream::connect(server.addr).await.expect("connects");
    stream
        .write_all(b"GET /stream-data?n=10&delay_ms=0&fail_after=3 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("writes");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut raw))
        .await
        .expect("the server ends the connection promptly")
        .expect("reads");
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.starts_with("HTTP/1.1 200 OK"), "{raw}");
    assert_eq!(raw.matches("\"seq\":").count(), 3, "{raw}");
    assert!(
        !raw.ends_with("0\r\n\r\n"),
        "the chunked body has no clean end: {raw}"
    );
    let line = server
        .wait_for_log("breaking the feed", Duration::from_secs(5))
        .expect("the break is logged");
    assert!(line.contains("records=3"), "{line}");
}

#[tokio::test]
async fn a_client_that_leaves_cancels_its_feed() {
    let server = Server::start_with(&[], &[("RUST_LOG", "pagepipe=debug")]);
    let mut client = Client::connect(server.addr).await;
    client
        .send("GET", "/stream-data?n=100&delay_ms=5000", "HTTP/1.1", "")
        .await;
    let response = client.head().await;
    assert_eq!(response.status, 200);
    let first = client.chunk().await.expect("the first record");
    assert!(String::from_utf8_lossy(&first).contains("\"seq\":0,"));
    client.close().await;
    let line = server
        .wait_for_log("stream-data cancelled", Duration::from_secs(4))
        .expect("the feed is dropped within seconds, not at its next 5 s record");
    assert!(line.contains("sent=1") && line.contains("of=100"), "{line}");
}

#[tokio::test]
async fn the_streams_api_page_reads_the_feed_with_its_own_script() {
    let server = Server::start();
    let response = get(server.addr, "/streams-api?n=7&delay_ms=40").await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let policy = response
        .header("content-security-policy")
        .unwrap_or_default();
    assert!(policy.contains("script-src 'self'"), "{policy}");
    let html = response.text();
    assert!(
        html.contains("data-src=\"/stream-data?n=7&#38;delay_ms=40\""),
        "{html}"
    );
    assert!(html.contains("<script src=\"/assets/streams-api/streams.js\" defer></script>"));
    assert!(
        !html.contains("<script>") && !html.contains("style="),
        "no inline script or style, so a strict CSP allows the page"
    );
    for asset in [
        "/assets/streams-api/streams.js",
        "/assets/streams-api/streams.css",
    ] {
        assert_eq!(get(server.addr, asset).await.status, 200, "{asset}");
    }
    let script = get(server.addr, "/assets/streams-api/streams.js")
        .await
        .text();
    for api in [
        "TextDecoderStream",
        "TransformStream",
        "WritableStream",
        "CountQueuingStrategy",
        "pipeTo",
    ] {
        assert!(script.contains(api), "the script uses {api}");
    }
}

#[tokio::test]
async fn the_index_links_the_streams_api_demo() {
    let server = Server::start();
    let html = get(server.addr, "/").await.text();
    assert!(html.contains("href=\"/streams-api\""));
}
