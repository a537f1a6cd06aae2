//! Clients that read slowly, or not at all, for the memory a page holds per
//! stalled client (`docs/performance.md`, "Slow readers").
//!
//! Opens `--connections` HTTP/1.1 connections to `--url`, sends one GET on
//! each, and reads each response at `--rate` bytes per second (0: never
//! reads) for `--secs` seconds, then closes them all. With `--server-pid` it
//! samples the server's `VmRSS` before the first connection (the start),
//! every 100 ms while the clients are open (the peak) and 2 s after they
//! closed (the end), and reports the peak's rise per client. With
//! `--accept-encoding VALUE` it asks for a compressed response as a browser
//! does. With `--chunked` each request announces a chunked body and never
//! sends it, and the report says how many connections the server closed and
//! when the last one was closed, from its request. Prints one JSON object
//! on stdout.
//!
//! ```sh
//! cargo run --release --example slow_readers -- --url \
//!     'http://127.0.0.1:3000/bench?delays=0&bytes=1048576' \
//!     --connections 10 --rate 102400 --secs 20 --server-pid 1234
//! ```

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test tool: a failed unwrap is a failed run"
)]

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// How often a reading client reads: its rate is spread over these ticks.
const TICK: Duration = Duration::from_millis(50);

struct Args {
    addr: SocketAddr,
    host: String,
    target: String,
    connections: usize,
    rate: u64,
    secs: u64,
    server_pid: Option<u32>,
    accept_encoding: Option<String>,
    chunked: bool,
}

/// What the clients saw: bytes read, connections the server closed, and
/// the longest a connection stayed open after its request.
#[derive(Default)]
struct Seen {
    read: AtomicU64,
    open: AtomicUsize,
    closed: AtomicUsize,
    last_closed_ms: AtomicU64,
}

fn usage() -> ! {
    eprintln!(
        "usage: slow_readers --url http://HOST:PORT/PATH [--connections N] [--rate BYTES_PER_SEC] \
         [--secs S] [--server-pid PID] [--accept-encoding VALUE] [--chunked]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut url = None;
    let mut args = Args {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        host: String::new(),
        target: String::new(),
        connections: 10,
        rate: 100 * 1024,
        secs: 20,
        server_pid: None,
        accept_encoding: None,
        chunked: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--chunked" {
            args.chunked = true;
            continue;
        }
        let value = it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--url" => url = Some(value),
            "--connections" => args.connections = value.parse().unwrap_or_else(|_| usage()),
            "--rate" => args.rate = value.parse().unwrap_or_else(|_| usage()),
            "--secs" => args.secs = value.parse().unwrap_or_else(|_| usage()),
            "--server-pid" => args.server_pid = Some(value.parse().unwrap_or_else(|_| usage())),
            "--accept-encoding" => args.accept_encoding = Some(value),
            _ => usage(),
        }
    }
    let url = url.unwrap_or_else(|| usage());
    let rest = url.strip_prefix("http://").unwrap_or_else(|| usage());
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    args.addr = host.parse().unwrap_or_else(|_| usage());
    args.host = host.to_owned();
    args.target = if path.is_empty() {
        "/".into()
    } else {
        path.into()
    };
    args
}

/// The server's resident memory in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// One client: sends its request, then reads at `rate` until `until` or
/// until the server closes the connection.
async fn client(args: Rc<Args>, until: Instant, seen: Rc<Seen>) {
    let mut stream = TcpStream::connect(args.addr).await.unwrap();
    let encoding = args
        .accept_encoding
        .as_deref()
        .map(|value| format!("Accept-Encoding: {value}\r\n"))
        .unwrap_or_default();
    let body = if args.chunked {
        "Transfer-Encoding: chunked\r\n"
    } else {
        ""
    };
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\n{encoding}{body}\r\n",
        args.target, args.host
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let sent = Instant::now();
    seen.open.fetch_add(1, Ordering::Relaxed);
    let per_tick =
        usize::try_from(args.rate * TICK.as_millis() as u64 / 1000).unwrap_or(usize::MAX);
    let mut buf = vec![0; per_tick.clamp(1, 1 << 20)];
    while Instant::now() < until {
        if per_tick == 0 {
            tokio::time::sleep(TICK).await;
            continue;
        }
        let mut left = per_tick;
        while left > 0 {
            let want = left.min(buf.len());
            match tokio::time::timeout(TICK, stream.read(&mut buf[..want])).await {
                Ok(Ok(0) | Err(_)) => {
                    let ms = u64::try_from(sent.elapsed().as_millis()).unwrap_or(u64::MAX);
                    seen.closed.fetch_add(1, Ordering::Relaxed);
                    seen.last_closed_ms.fetch_max(ms, Ordering::Relaxed);
                    return;
                }
                Ok(Ok(n)) => {
                    left -= n;
                    seen.read.fetch_add(n as u64, Ordering::Relaxed);
                }
                Err(_) => break,
            }
        }
        tokio::time::sleep(TICK).await;
    }
}

fn main() {
    let args = Rc::new(parse_args());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let sample = |pid: Option<u32>| pid.and_then(rss_kib);
    let start_kib = sample(args.server_pid);
    let seen = Rc::new(Seen::default());
    let until = Instant::now() + Duration::from_secs(args.secs);
    let peak_kib = local.block_on(&runtime, async {
        for _ in 0..args.connections {
            tokio::task::spawn_local(client(args.clone(), until, seen.clone()));
        }
        let mut peak = start_kib.unwrap_or(0);
        while Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(100)).await;
            peak = peak.max(sample(args.server_pid).unwrap_or(0));
        }
        peak
    });
    // The clients' tasks end with the runtime: every connection closes.
    drop(local);
    drop(runtime);
    std::thread::sleep(Duration::from_secs(2));
    let end_kib = sample(args.server_pid);
    let per_client = start_kib.map(|start| {
        (peak_kib.saturating_sub(start)) as f64 / 1024.0 / args.connections.max(1) as f64
    });
    println!(
        "{{\"connections\":{},\"opened\":{},\"rate\":{},\"secs\":{},\"read_bytes\":{},\
         \"closed_by_server\":{},\"last_closed_ms\":{},\"rss_start_kib\":{},\"rss_peak_kib\":{peak_kib},\"rss_end_kib\":{},\
         \"peak_rise_mib_per_client\":{}}}",
        args.connections,
        seen.open.load(Ordering::Relaxed),
        args.rate,
        args.secs,
        seen.read.load(Ordering::Relaxed),
        seen.closed.load(Ordering::Relaxed),
        seen.last_closed_ms.load(Ordering::Relaxed),
        start_kib.map_or("null".into(), |v| v.to_string()),
        end_kib.map_or("null".into(), |v| v.to_string()),
        per_client.map_or("null".into(), |v| format!("{v:.2}")),
    );
}
