//! Hostile and malformed requests against the real binary: every one gets a
//! clear 4xx (a message wherever the server, not the HTTP parser, answers),
//! never a 5xx, a panic or a hang.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::util::{Client, Response, Server, get, get_with};

/// Sends raw bytes and reads until the server closes, at most `limit`.
async fn raw(server: &Server, request: &[u8], limit: Duration) -> (String, Duration) {
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let start = Instant::now();
    // The server may answer and close before it read everything we send.
    let _ = stream.write_all(request).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(limit, stream.read_to_end(&mut out)).await;
    (String::from_utf8_lossy(&out).into_owned(), start.elapsed())
}

fn status_line(response: &str) -> &str {
    response.lines().next().unwrap_or("<no response>")
}

fn assert_clear_4xx(response: &Response, what: &str) {
    assert!(
        (400..500).contains(&response.status),
        "{what}: {}",
        response.status
    );
    assert!(
        !response.text().trim().is_empty(),
        "{what}: a message says what was wrong"
    );
}

#[tokio::test]
async fn a_slowloris_client_is_timed_out() {
    let server = Server::start_with(&["--request-timeout-ms", "1000"], &[]);
    let (response, took) = raw(
        &server,
        b"GET / HTTP/1.1\r\nHost: x\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(status_line(&response), "HTTP/1.1 408 Request Timeout");
    assert!(took < Duration::from_secs(3), "closed after {took:?}");
}

/// How the connection ended: at the end of the server's input (`FIN` or
/// reset), and how long after the trickled head began.
async fn trickle_after(server: &Server, first: &[u8], trickle: &[u8], every: Duration) -> Duration {
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(first).await.unwrap();
    let mut buf = vec![0; 64 * 1024];
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("200 OK")
        && !String::from_utf8_lossy(&seen).contains("405")
    {
        let read = stream.read(&mut buf).await.unwrap();
        assert!(read > 0, "the first request is answered");
        seen.extend_from_slice(&buf[..read]);
    }
    let start = Instant::now();
    for byte in trickle {
        if stream.write_all(&[*byte]).await.is_err() {
            return start.elapsed();
        }
        match tokio::time::timeout(every, stream.read(&mut buf)).await {
            Err(_) => {}
            Ok(Ok(0) | Err(_)) => return start.elapsed(),
            Ok(Ok(read)) => panic!("unexpected {:?}", String::from_utf8_lossy(&buf[..read])),
        }
    }
    panic!(
        "the connection outlived a {}-byte head trickled over {:?}",
        trickle.len(),
        start.elapsed()
    );
}

#[tokio::test]
async fn every_request_head_on_a_connection_is_timed_out_not_only_the_first() {
    let server = Server::start_with(&["--request-timeout-ms", "1000"], &[]);
    let head =
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    // Blank lines before a request line are ignored, and timed the same.
    let blank_lines = b"\r\n".repeat(24);
    // 48 bytes at one per 150 ms would take 7 s. (Heads after request
    // bodies are tested in the library's tests/server.rs: the demo closes
    // a connection after a request with a body.)
    for trickle in [&head[..], &blank_lines] {
        let took = trickle_after(
            &server,
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
            trickle,
            Duration::from_millis(150),
        )
        .await;
        let what = String::from_utf8_lossy(&trickle[..4]);
        assert!(
            took >= Duration::from_millis(900),
            "{what:?}…: closed early, after {took:?}"
        );
        assert!(
            took < Duration::from_secs(4),
            "{what:?}…: closed after {took:?}"
        );
    }
}

/// The body of a response with head `head`, its chunks joined if chunked;
/// panics unless the chunked body ends with its last chunk.
fn dechunk(head: &str, mut body: &[u8]) -> Vec<u8> {
    if !head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return body.to_vec();
    }
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|window| window == b"\r\n")
            .expect("a chunk size line");
        let size = std::str::from_utf8(&body[..line_end]).unwrap().trim();
        let size = usize::from_str_radix(size, 16).unwrap();
        body = &body[line_end + 2..];
        if size == 0 {
            assert_eq!(body, b"\r\n", "the last chunk ends the body");
            return out;
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

#[tokio::test]
async fn a_half_closed_client_gets_whole_files_and_documents() {
    let server = Server::start();
    let css = std::fs::read(crate::util::assets_dir().join("site.css")).unwrap();
    for (target, ends_with) in [
        ("/assets/site.css", None),
        ("/bench?delays=0,200&mode=buffered", Some("</html>")),
        // Its second section would take a minute: the page ends at once.
        ("/bench?delays=0,60000", Some("</html>")),
    ] {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        let request = format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        // What `nc -N` does: no more to send, still reading.
        stream.shutdown().await.unwrap();
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out))
            .await
            .unwrap_or_else(|_| panic!("{target}: the response ends"))
            .unwrap();
        let response = String::from_utf8_lossy(&out);
        assert_eq!(status_line(&response), "HTTP/1.1 200 OK", "{target}");
        let body_at = out
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
            .unwrap()
            + 4;
        match ends_with {
            None => assert_eq!(out[body_at..], css[..], "{target}: the whole file"),
            Some(end) => {
                let body = dechunk(&response[..body_at], &out[body_at..]);
                assert!(
                    String::from_utf8_lossy(&body).ends_with(end),
                    "{target}: {response}"
                );
            }
        }
    }
}

#[tokio::test]
async fn oversized_targets_and_headers_are_refused_with_their_limit() {
    let server = Server::start();
    let long = format!("/bench?delays={}", "1,".repeat(5000));
    let response = get(server.addr, &long).await;
    assert_eq!(response.status, 414);
    assert!(response.text().contains("the limit is 8192"));
    // Past what actix's URI parser reads (65,534 bytes), and a target in
    // absolute form, whole: the same answer (an empty 400 and a 200 before).
    for (target, len) in [
        (format!("/healthz?{}", "q".repeat(70_000)), 70_009),
        (
            format!("http://{}.example/healthz", "h".repeat(60_000)),
            60_023,
        ),
    ] {
        let response = get(server.addr, &target).await;
        assert_eq!(response.status, 414, "{len}");
        assert_eq!(
            response.text(),
            format!("request target is {len} bytes; the limit is 8192\n")
        );
    }

    let big = format!("X-Big: {}\r\n", "a".repeat(20_000));
    let response = get_with(server.addr, "/healthz", &big).await;
    assert_eq!(response.status, 431);
    assert!(response.text().contains("the limit is 16384"));

    let huge = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(200_000)
    );
    let (response, _) = raw(&server, huge.as_bytes(), Duration::from_secs(5)).await;
    assert_eq!(
        status_line(&response),
        "HTTP/1.1 431 Request Header Fields Too Large"
    );

    let many: String = (0..120).map(|i| format!("X-H{i}: v\r\n")).collect();
    let response = get_with(server.addr, "/healthz", &many).await;
    assert_eq!(response.status, 431);
}

#[tokio::test]
async fn malformed_request_lines_are_400s() {
    let server = Server::start();
    let cases: [&[u8]; 5] = [
        b"GET /bench?delays=\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /assets/\xff.html HTTP/1.1\r\nHost: x\r\n\r\n",
        b"HELLO\r\n\r\n",
        b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    ];
    for request in cases {
        let (response, _) = raw(&server, request, Duration::from_secs(5)).await;
        assert!(
            status_line(&response).starts_with("HTTP/1.1 400"),
            "{request:?}: {response}"
        );
    }
}

#[tokio::test]
async fn malformed_and_out_of_range_queries_are_400s_naming_the_parameter() {
    let server = Server::start();
    let cases = [
        ("/bench?delays=%", "delays"),
        ("/bench?delays=%zz", "delays"),
        ("/bench?delays=1%00", "delays"),
        ("/bench?bytes=%FF%FE", "bytes"),
        ("/bench?bytes=99999999999999999999999", "bytes"),
        ("/bench?delays=18446744073709551616", "delays"),
        ("/bench?mode=%00", "mode"),
        ("/stream-html?fail=%E2%80%AE", "fail"),
        ("/stream-html?mode=buffered&mode=in-order", "mode"),
    ];
    for (target, param) in cases {
        let response = get(server.addr, target).await;
        assert_eq!(response.status, 400, "{target}");
        assert!(
            response.text().contains(&format!("`{param}`")),
            "{target}: {}",
            response.text()
        );
    }
    for target in [
        "/bench?;;;&&&==",
        "/bench?delays=5&=x&unknown=%FF",
        "/stream-html?item=%00%FF",
    ] {
        let response = get(server.addr, target).await;
        assert!(response.status < 500, "{target}: {}", response.status);
    }
}

#[tokio::test]
async fn bad_range_headers_never_break_a_file_response() {
    let server = Server::start();
    let many = (0..1000)
        .map(|i| format!("{i}-{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let ranges = [
        "bytes=abc",
        "bytes=5-3",
        "bytes=-",
        "bytes=--1",
        "bytes=99999999999999999999999-",
        "bytes=0-99999999999999999999999",
        "chars=0-1",
        "bytes=0-1,",
        "bytes= 0 - 1",
        &format!("bytes={many}"),
    ];
    for range in ranges {
        let header = format!("Range: {range}\r\n");
        let response = get_with(server.addr, "/stream-video", &header).await;
        assert!(
            matches!(response.status, 200 | 206 | 416),
            "{range}: {}",
            response.status
        );
    }
}

#[tokio::test]
async fn other_methods_and_unknown_paths_are_clear_4xx() {
    let server = Server::start();
    for route in [
        "/",
        "/bench",
        "/stream-html",
        "/stream-video",
        "/assets/site.css",
        "/healthz",
    ] {
        for method in ["POST", "PUT", "DELETE", "PATCH"] {
            let mut client = Client::connect(server.addr).await;
            let response = client.request(method, route, "Content-Length: 0\r\n").await;
            assert_eq!(response.status, 405, "{method} {route}");
            assert_eq!(response.header("allow"), Some("GET, HEAD"));
            assert_clear_4xx(&response, &format!("{method} {route}"));
        }
    }
    for route in [
        "/nope",
        "/assets/../Cargo.toml",
        "/assets/%2e%2e/Cargo.toml",
        "/stream-html/extra",
    ] {
        let response = get(server.addr, route).await;
        assert!(
            matches!(response.status, 400 | 404),
            "{route}: {}",
            response.status
        );
        assert_clear_4xx(&response, route);
        assert!(
            !response.text().contains("[package]"),
            "{route}: nothing from outside the assets"
        );
    }
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_after_the_send_timeout() {
    let server = Server::start_with(&["--send-timeout-secs", "1"], &[]);
    // 64 sections of 1 MiB: far more than the kernel's socket buffers hold.
    let delays = vec!["0"; 64].join(",");
    let target = format!("/bench?delays={delays}&bytes=1048576&mode=in-order");
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    // Not reading: the server's data stays unacknowledged once our buffer is full.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut sink = vec![0u8; 1 << 20];
    let mut read = 0usize;
    let outcome = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match stream.read(&mut sink).await {
                Ok(0) => return "closed",
                Ok(n) => read += n,
                Err(_) => return "reset",
            }
        }
    })
    .await
    .unwrap_or("still open");
    assert!(
        read < 64 << 20,
        "the whole page arrived ({read} bytes): the connection was kept"
    );
    assert_ne!(outcome, "still open");
}

#[test]
fn out_of_range_durations_are_refused_at_startup_naming_the_flag() {
    let huge = u64::MAX.to_string();
    for flag in [
        "--keep-alive-secs",
        "--request-timeout-ms",
        "--send-timeout-secs",
        "--shutdown-timeout",
    ] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pagepipe"))
            .args(["--addr", "127.0.0.1:0", flag, &huge])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("runs");
        let deadline = Instant::now() + Duration::from_secs(5);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if Instant::now() > deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let Some(status) = status else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{flag} {huge}: the server started instead of refusing the value");
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert_eq!(status.code(), Some(2), "{flag}: {stderr}");
        assert!(
            stderr.contains(&format!("invalid value '{huge}' for '{flag} <")),
            "{flag}: {stderr}"
        );
        assert!(stderr.contains(" is not in "), "{flag}: {stderr}");
    }
}

#[tokio::test]
async fn the_largest_keep_alive_accepted_serves_requests() {
    let server = Server::start_with(&["--keep-alive-secs", "86400"], &[]);
    let mut client = Client::connect(server.addr).await;
    for _ in 0..2 {
        let response = client.request("GET", "/healthz", "").await;
        assert_eq!(response.status, 200);
        assert_eq!(response.text(), "ok");
    }
}
