//! Bytes on the wire for compressed pages, against what a stateful encoder
//! of the same coding and level sends for the same chunks, for the load test
//! (`scripts/load-test`) and `docs/performance.md`.
//!
//! For each path it GETs the page once without compression, keeping the
//! server's chunks, then once per coding (zstd, gzip, br), and compresses the
//! identity chunks with one stateful encoder per coding, flushed after every
//! chunk as a compressing proxy or actix's `Compress` would. Prints one JSON
//! object per line.
//!
//! ```sh
//! cargo run --release --example wire_bytes -- --url http://127.0.0.1:3000
//! ```

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test tool: a failed unwrap is a failed run"
)]

use std::io::{Read as _, Write as _};
use std::net::TcpStream;

/// The levels pagepipe uses for dynamic content (`src/encoding/pool.rs`).
const ZSTD_LEVEL: i32 = 1;
const GZIP_LEVEL: u32 = 1;
const BROTLI_QUALITY: u32 = 3;
const BROTLI_LGWIN: u32 = 18;

const PATHS: [&str; 3] = [
    "/bench?delays=0,0,0&bytes=2048",
    "/bench?delays=10,20,30&bytes=2048",
    "/stream-html",
];

fn main() {
    let mut url = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match (flag.as_str(), args.next()) {
            ("--url", Some(value)) => url = Some(value),
            _ => usage(),
        }
    }
    let url = url.unwrap_or_else(|| usage());
    let host = url.strip_prefix("http://").unwrap_or_else(|| usage());
    let host = host.trim_end_matches('/');
    for path in PATHS {
        let (_, chunks) = get(host, path, None);
        let identity: usize = chunks.iter().map(Vec::len).sum();
        for coding in ["zstd", "gzip", "br"] {
            let (head, ours) = get(host, path, Some(coding));
            assert!(
                head.contains(&format!("content-encoding: {coding}")),
                "{path}: no {coding} in {head}"
            );
            let ours: usize = ours.iter().map(Vec::len).sum();
            let stateful = stateful(coding, &chunks);
            println!(
                "{{\"path\":\"{path}\",\"coding\":\"{coding}\",\"chunks\":{},\"identity\":{identity},\
                 \"pagepipe\":{ours},\"stateful\":{stateful},\"ratio\":{:.3}}}",
                chunks.len(),
                ours as f64 / stateful as f64
            );
        }
    }
}

fn usage() -> ! {
    eprintln!("usage: wire_bytes --url http://HOST:PORT");
    std::process::exit(2)
}

/// GETs `path`, returning the lower-cased head and the body's chunks.
fn get(host: &str, path: &str, coding: Option<&str>) -> (String, Vec<Vec<u8>>) {
    let mut stream = TcpStream::connect(host).expect("the server accepts");
    let accept = coding.map_or(String::new(), |c| format!("Accept-Encoding: {c}\r\n"));
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\n{accept}Connection: close\r\n\r\n"
    )
    .expect("request sent");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("response read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let mut rest = &raw[split + 4..];
    let mut chunks = Vec::new();
    while let Some(end) = rest.windows(2).position(|w| w == b"\r\n") {
        let len = usize::from_str_radix(&String::from_utf8_lossy(&rest[..end]), 16)
            .expect("a chunk size");
        if len == 0 {
            break;
        }
        chunks.push(rest[end + 2..end + 2 + len].to_vec());
        rest = &rest[end + 2 + len + 2..];
    }
    (head, chunks)
}

/// Bytes a stateful encoder sends for `chunks`, flushed after each.
fn stateful(coding: &str, chunks: &[Vec<u8>]) -> usize {
    let mut out = Vec::new();
    match coding {
        "zstd" => {
            let mut encoder = zstd::stream::write::Encoder::new(&mut out, ZSTD_LEVEL).unwrap();
            for chunk in chunks {
                encoder.write_all(chunk).unwrap();
                encoder.flush().unwrap();
            }
            encoder.finish().unwrap();
        }
        "gzip" => {
            let mut encoder =
                flate2::write::GzEncoder::new(&mut out, flate2::Compression::new(GZIP_LEVEL));
            for chunk in chunks {
                encoder.write_all(chunk).unwrap();
                encoder.flush().unwrap();
            }
            encoder.finish().unwrap();
        }
        _ => {
            let mut encoder =
                brotli::CompressorWriter::new(&mut out, 4096, BROTLI_QUALITY, BROTLI_LGWIN);
            for chunk in chunks {
                encoder.write_all(chunk).unwrap();
                encoder.flush().unwrap();
            }
        }
    }
    out.len()
}
