//! Stopping the demo server: open streams finish within the grace period,
//! new connections are refused, and the process exits 0.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::{Client, Server};

/// When the open page's last section is due.
const LAST_SECTION_MS: u64 = 1500;

fn signal(server: &Server, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &server.pid().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

/// Polls for a refused connection, at most 1 s.
async fn connection_refused(server: &Server) -> bool {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(server.addr).await.is_err() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

async fn open_stream_finishes_after(name: &str) {
    let mut server = Server::start();
    let mut client = Client::connect(server.addr).await;
    let sent = Instant::now();
    let target = format!("/bench?delays=0,{LAST_SECTION_MS}");
    client.send("GET", &target, "HTTP/1.1", "").await;
    let mut response = client.head().await;
    let shell = client.chunk().await.expect("the shell");
    response.chunks.push((Duration::ZERO, shell));

    signal(&server, name);
    assert!(
        connection_refused(&server).await,
        "new connections are refused"
    );
    assert!(
        sent.elapsed() < Duration::from_millis(LAST_SECTION_MS),
        "refused while the open page's last section is still pending"
    );
    client.body(&mut response, "GET").await;
    let text = response.text();
    assert!(text.contains("section 1 ready"), "the open page completes");
    assert!(text.ends_with("</html>"));
    assert_eq!(server.wait_exit(Duration::from_secs(5)), Some(0));
}

#[tokio::test]
async fn sigterm_lets_open_streams_finish_then_exits_0() {
    open_stream_finishes_after("TERM").await;
}

#[tokio::test]
async fn sigint_lets_open_streams_finish_then_exits_0() {
    open_stream_finishes_after("INT").await;
}

#[tokio::test]
async fn a_page_still_waiting_at_shutdown_ends_complete_before_the_grace_period() {
    let mut server = Server::start_with(&["--shutdown-timeout", "3"], &[]);
    let mut client = Client::connect(server.addr).await;
    client
        .send("GET", "/bench?delays=0,30000", "HTTP/1.1", "")
        .await;
    let mut response = client.head().await;
    let shell = client.chunk().await.expect("the shell");
    response.chunks.push((Duration::ZERO, shell));
    let signalled = Instant::now();
    signal(&server, "TERM");
    client.body(&mut response, "GET").await;
    let ended = signalled.elapsed();
    let text = response.text();
    assert!(text.contains("section 0 ready"), "{text}");
    assert!(
        text.contains("pp-timeout"),
        "the pending section shows its timeout markup: {text}"
    );
    assert!(
        text.ends_with("</body>\n</html>"),
        "a complete document: {text}"
    );
    assert!(
        ended < Duration::from_secs(3),
        "ended at {ended:?}, within the 3 s grace period"
    );
    assert_eq!(server.wait_exit(Duration::from_secs(5)), Some(0));
}

#[tokio::test]
async fn a_feed_ends_at_a_record_boundary_at_shutdown() {
    let mut server = Server::start_with(&["--shutdown-timeout", "3"], &[]);
    let mut client = Client::connect(server.addr).await;
    client
        .send("GET", "/stream-data?n=1000&delay_ms=100", "HTTP/1.1", "")
        .await;
    let mut response = client.head().await;
    let first = client.chunk().await.expect("a first record");
    response.chunks.push((Duration::ZERO, first));
    signal(&server, "TERM");
    client.body(&mut response, "GET").await;
    let text = response.text();
    assert!(text.ends_with('\n'), "ends after a whole record: {text:?}");
    let records: Vec<&str> = text.lines().collect();
    assert!(
        !records.is_empty() && records.len() < 1000,
        "{}",
        records.len()
    );
    for record in records {
        assert!(
            serde_json::from_str::<serde_json::Value>(record).is_ok(),
            "every line is a whole record: {record}"
        );
    }
    assert_eq!(server.wait_exit(Duration::from_secs(5)), Some(0));
}
