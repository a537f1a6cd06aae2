//! What the demo logs about malformed requests: a client's mistake is
//! answered and logged at `DEBUG`, never as an `ERROR` a client can repeat at
//! will; a server's own failure is still an `ERROR`.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::util::Server;

/// Requests that are not HTTP, and the statuses each may get.
fn malformed() -> Vec<(&'static str, Vec<u8>, &'static [u16])> {
    let mut big_head = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..140 {
        big_head.extend_from_slice(format!("X-Pad-{i}: {}\r\n", "0".repeat(1000)).as_bytes());
    }
    big_head.extend_from_slice(b"\r\n");
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000));
    let mut garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
    garbage.splice(
        0..0,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"
            .iter()
            .copied(),
    );
    vec![
        ("a bad request line", b"GARBAGE\r\n\r\n".to_vec(), &[400]),
        (
            "a bad header",
            b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n".to_vec(),
            &[400],
        ),
        ("a head over 128 KiB", big_head, &[431]),
        (
            "an invalid Content-Length",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n".to_vec(),
            &[400],
        ),
        (
            "two Content-Lengths",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"
                .to_vec(),
            &[400],
        ),
        (
            "HTTP/1.0 with chunked Transfer-Encoding",
            b"POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(),
            &[400],
        ),
        // Longer than actix reads (an empty 400): pagepipe's server may
        // answer 414 first.
        (
            "a 70,000-byte target",
            long_target.into_bytes(),
            &[400, 414],
        ),
        ("garbage (a TLS hello)", garbage, &[400]),
    ]
}

/// Sends `request` on a new connection; the response's status once the
/// server closed the connection (it logs why before it closes).
async fn status_of(addr: SocketAddr, request: &[u8]) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // The server may answer and close before it read everything we send.
    let _ = stream.write_all(request).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out)
        .strip_prefix("HTTP/1.1 ")?
        .get(..3)?
        .parse()
        .ok()
}

/// An upstream on 127.0.0.1 that promises 100,000 bytes of video, sends
/// ten and closes: the relay fails mid-body, a server-side error.
fn truncating_upstream() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                line.clear();
            }
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: 100000\r\n\r\n\
                  0123456789",
            );
        }
    });
    addr
}

#[tokio::test]
async fn malformed_requests_log_no_error_but_a_server_error_does() {
    let upstream = format!("http://{}/video.mp4", truncating_upstream());
    // The demo's default filter.
    let server = Server::start_with(&["--video-upstream", &upstream], &[("RUST_LOG", "info")]);
    for (what, request, statuses) in malformed() {
        let status = status_of(server.addr, &request).await;
        assert!(
            status.is_some_and(|status| statuses.contains(&status)),
            "{what}: {status:?}"
        );
    }
    // Every malformed connection was closed, after its log line if any; the
    // server's failure comes after them, and must be logged.
    let get = b"GET /stream-video HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_eq!(status_of(server.addr, get).await, Some(200));
    let first_error = server
        .wait_for_log("ERROR", Duration::from_secs(10))
        .expect("the failed relay is logged as an ERROR");
    assert!(
        first_error.contains("actix_http::h1::dispatcher")
            && first_error.contains("Response payload stream error"),
        "the first ERROR logged is the failed relay's, not a client's mistake: {first_error}"
    );
}

#[tokio::test]
async fn a_malformed_request_is_logged_at_debug() {
    let server = Server::start_with(&[], &[("RUST_LOG", "info,pagepipe=debug")]);
    let request = b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n";
    assert_eq!(status_of(server.addr, request).await, Some(400));
    let logged = server
        .wait_for_log("could not be parsed", Duration::from_secs(10))
        .expect("the refusal is logged");
    assert!(
        logged.contains("DEBUG") && logged.contains("invalid Header provided"),
        "{logged}"
    );
}
