//! `/bench-list` against the real binary: items arrive as they become ready
//! in each mode, a list of any length streams to a slow reader in flat
//! memory, and bad parameters are named.

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::util::{Server, get, ms};

/// Generous slack for a noisy 2-core machine: an item is never early, and
/// is late by at most this much.
const SLACK: Duration = Duration::from_millis(400);

/// The items' ids in the order they appear in `text`.
fn item_order(text: &str) -> Vec<usize> {
    text.match_indices("<li id=\"i")
        .map(|(at, open)| {
            let digits = &text[at + open.len()..];
            let end = digits.find('"').unwrap();
            digits[..end].parse().unwrap()
        })
        .collect()
}

#[tokio::test]
async fn out_of_order_items_arrive_as_they_become_ready() {
    let server = Server::start();
    let response = get(server.addr, "/bench-list?n=100&every=10").await;
    assert_eq!(response.status, 200);
    let (shell_at, shell) = &response.chunks[0];
    let shell = String::from_utf8_lossy(shell);
    assert!(shell.contains("<ul id=\"list\">"), "{shell}");
    assert!(shell.contains("loading list"), "{shell}");
    assert!(*shell_at < ms(10) + SLACK, "shell at {shell_at:?}");
    for k in [0, 49, 99] {
        let at = response
            .arrival_of(&format!("<li id=\"i{k}\">"))
            .expect("the item");
        let due = ms(10 * (k as u64 + 1));
        assert!(at >= due, "item {k} due at {due:?} came at {at:?}");
        assert!(at < due + SLACK, "item {k} due at {due:?} came at {at:?}");
    }
    assert!(
        response.chunks.len() >= 20,
        "items came in {} chunks, not as they became ready",
        response.chunks.len()
    );
    let text = response.text();
    assert_eq!(item_order(&text), (0..100).collect::<Vec<_>>());
    assert!(
        text.contains("<li id=\"i7\">item 7 lorem ipsum dolo</li>"),
        "{text}"
    );
    let done = text.find("list done").expect("the end");
    assert!(done > text.find("<li id=\"i99\">").unwrap());
    assert!(text.ends_with("</body>\n</html>"));
}

#[tokio::test]
async fn in_order_items_are_written_in_place_without_loading_markup() {
    let server = Server::start();
    let response = get(server.addr, "/bench-list?n=5&every=100&mode=in-order").await;
    assert_eq!(response.status, 200);
    let text = response.text();
    assert!(!text.contains("loading list"), "{text}");
    assert!(!text.contains("<script"), "{text}");
    for k in 0..5 {
        let at = response
            .arrival_of(&format!("<li id=\"i{k}\">"))
            .expect("the item");
        let due = ms(100 * (k as u64 + 1));
        assert!(at >= due && at < due + SLACK, "item {k} at {at:?}");
    }
    assert_eq!(item_order(&text), (0..5).collect::<Vec<_>>());
    assert!(text.contains("<li id=\"i4\">item 4 lorem ipsum dolo</li><li class=\"done\">list done</li></pp-slot></ul>"), "{text}");
}

#[tokio::test]
async fn buffered_is_one_document_with_a_length() {
    let server = Server::start();
    let response = get(server.addr, "/bench-list?n=50&every=1&mode=buffered").await;
    assert_eq!(response.status, 200);
    let text = response.text();
    assert_eq!(
        response.header("content-length"),
        Some(&*text.len().to_string())
    );
    assert_eq!(item_order(&text), (0..50).collect::<Vec<_>>());
    assert!(text.contains("list done") && !text.contains("loading list"));
    assert!(!text.contains("<script"));
}

#[tokio::test]
async fn bad_parameters_are_named() {
    let server = Server::start();
    for (query, param) in [
        ("n=0", "n"),
        ("n=100001", "n"),
        ("every=10001", "every"),
        ("every=x", "every"),
        ("bytes=65537", "bytes"),
        ("mode=fast", "mode"),
        ("n=100000&bytes=1024&mode=buffered", "bytes"),
    ] {
        let response = get(server.addr, &format!("/bench-list?{query}")).await;
        assert_eq!(response.status, 400, "{query}");
        let text = response.text();
        assert!(text.contains(&format!("`{param}`")), "{query}: {text}");
    }
}

/// The body of a chunked response read whole, head and all.
fn dechunk(raw: &[u8]) -> Vec<u8> {
    let find = |from: usize| from + raw[from..].windows(2).position(|w| w == b"\r\n").unwrap();
    let mut at = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let mut body = Vec::with_capacity(raw.len());
    loop {
        let line_end = find(at);
        let size =
            usize::from_str_radix(std::str::from_utf8(&raw[at..line_end]).unwrap(), 16).unwrap();
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&raw[line_end + 2..line_end + 2 + size]);
        at = line_end + 2 + size + 2;
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches(" kB").parse().ok())
        .unwrap()
}

#[tokio::test]
async fn a_long_list_streams_to_a_slow_reader_in_flat_memory() {
    const MIB: usize = 1 << 20;
    let server = Server::start();
    let pid = server.pid();
    let rss_before = rss_kib(pid);
    // 100,000 items of 1 KiB, all ready at once: about 110 MiB of markup.
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /bench-list?n=100000&every=0&bytes=1024 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut received = Vec::with_capacity(128 * MIB);
    let mut buf = vec![0u8; 64 * 1024];
    let mut peak = rss_before;
    let mut stalled = false;
    loop {
        let read = stream.read(&mut buf).await.unwrap();
        if read == 0 {
            break;
        }
        received.extend_from_slice(&buf[..read]);
        if received.len() % MIB < read {
            peak = peak.max(rss_kib(pid));
        }
        if !stalled && received.len() > 4 * MIB {
            // The reader stops: the server must not run ahead of it.
            stalled = true;
            let at_stall = rss_kib(pid);
            tokio::time::sleep(Duration::from_millis(500)).await;
            let after = rss_kib(pid);
            assert!(
                after < at_stall + 4 * 1024,
                "RSS grew from {at_stall} to {after} KiB while the reader stalled"
            );
        }
    }
    let text = String::from_utf8_lossy(&dechunk(&received)).into_owned();
    assert!(text.len() > 100 * MIB, "{} bytes", text.len());
    assert_eq!(item_order(&text), (0..100_000).collect::<Vec<_>>());
    assert!(text.contains("list done"));
    eprintln!(
        "list of 100,000 items ({} MiB): RSS {rss_before} KiB before, {peak} KiB at its peak",
        text.len() / MIB
    );
    assert!(
        peak < rss_before + 16 * 1024,
        "RSS grew from {rss_before} to {peak} KiB for a {} MiB list",
        text.len() / MIB
    );
}
