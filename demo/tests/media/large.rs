//! A 1 GiB sparse file over a real socket: HEAD answers from metadata, and
//! a slow reader holds the server's reads and memory flat.
//!
//! The server is the demo binary in its own process, so its procfs counters
//! (`rchar`: bytes read from files; `VmRSS`) measure it alone, not the tests
//! running beside this one.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::util::Client;

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

/// The demo binary serving `assets`; killed (by PID) on drop.
/// (`util::Server` always serves the bundled folder.)
struct Demo {
    child: Child,
    addr: SocketAddr,
}

impl Demo {
    fn start(assets: &Path) -> Demo {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pagepipe"))
            .args(["--addr", "127.0.0.1:0", "--workers", "1", "--assets"])
            .arg(assets)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("demo binary starts");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout).read_line(&mut line).expect("a line");
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        Demo { child, addr }
    }

    /// A number from the server's `/proc/<pid>/{file}` line `key`.
    fn proc_number(&self, file: &str, key: &str) -> u64 {
        let path = format!("/proc/{}/{file}", self.child.id());
        let text = std::fs::read_to_string(&path).expect("procfs");
        text.lines()
            .find_map(|line| line.strip_prefix(key))
            .and_then(|rest| rest.trim().trim_end_matches(" kB").parse().ok())
            .unwrap_or_else(|| panic!("{key} in {path}"))
    }

    fn rss_kib(&self) -> u64 {
        self.proc_number("status", "VmRSS:")
    }

    /// Bytes the server has read with read(2)/pread(2): its file reads
    /// (socket recv(2) does not count).
    fn bytes_read(&self) -> u64 {
        self.proc_number("io", "rchar:")
    }

    /// Waits (at most 5 s) until the server stops reading; its total.
    async fn reads_settled(&self) -> u64 {
        let mut last = self.bytes_read();
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = self.bytes_read();
            if now == last {
                return now;
            }
            last = now;
        }
        panic!("the server kept reading for 5 s after the client stopped");
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn head_on_a_sparse_gigabyte_file_answers_at_once_without_reading_it() {
    let root = tempfile::tempdir().unwrap();
    let file = std::fs::File::create(root.path().join("big.bin")).unwrap();
    file.set_len(GIB).unwrap();
    let demo = Demo::start(root.path());
    let before = demo.bytes_read();
    let started = Instant::now();
    let mut client = Client::connect(demo.addr).await;
    let head = client.request("HEAD", "/assets/big.bin", "").await;
    let head_time = started.elapsed();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some(&*GIB.to_string()));
    // The connection is free at once for the next request (NamedFile would
    // first read and discard the whole file).
    let range = client
        .request("GET", "/assets/big.bin", "Range: bytes=-2\r\n")
        .await;
    let both = started.elapsed();
    assert_eq!(range.status, 206);
    let read = demo.bytes_read() - before;
    eprintln!("1 GiB file: HEAD {head_time:?}, HEAD + range {both:?}, {read} bytes read");
    assert!(both < Duration::from_secs(1), "HEAD took {head_time:?}");
    assert!(read < MIB, "HEAD read {read} bytes of the file");
}

#[tokio::test]
async fn a_sparse_gigabyte_file_streams_to_a_slow_reader_in_flat_memory() {
    let root = tempfile::tempdir().unwrap();
    let file = std::fs::File::create(root.path().join("big.bin")).unwrap();
    file.set_len(GIB).unwrap();
    let demo = Demo::start(root.path());
    let rss_before = demo.rss_kib();
    let before = demo.bytes_read();
    let mut stream = tokio::net::TcpStream::connect(demo.addr).await.unwrap();
    stream
        .write_all(b"GET /assets/big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut peak_rss = rss_before;
    let mut received = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    // A slow reader: 64 MiB in 64 KiB reads, pausing after every MiB.
    while received < 64 * MIB {
        let read = stream.read(&mut buf).await.unwrap();
        assert!(read > 0, "the server closed early");
        received += read as u64;
        if received % MIB < read as u64 {
            tokio::time::sleep(Duration::from_millis(2)).await;
            peak_rss = peak_rss.max(demo.rss_kib());
        }
    }
    // Then it stops reading altogether: the server must stop too, having
    // read no more than what the socket buffers hold.
    let read_ahead = (demo.reads_settled().await - before).saturating_sub(received);
    peak_rss = peak_rss.max(demo.rss_kib());
    let growth_mib = peak_rss.saturating_sub(rss_before) / 1024;
    eprintln!(
        "1 GiB file: client read {} MiB; server read {} KiB ahead; server RSS {} MiB -> peak {} MiB",
        received / MIB,
        read_ahead / 1024,
        rss_before / 1024,
        peak_rss / 1024
    );
    assert!(
        read_ahead < 32 * MIB,
        "the server read {read_ahead} bytes ahead of the client"
    );
    assert!(growth_mib < 32, "server memory grew by {growth_mib} MiB");
}
