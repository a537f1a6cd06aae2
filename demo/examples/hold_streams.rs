//! Holds many progressive responses open at once, for the load test's
//! memory-per-stream scenario (`scripts/load-test`).
//!
//! Opens `--connections` plain HTTP/1.1 connections to `--url` (spread over
//! `--sources` loopback addresses), sends one GET on each, and reads each
//! response slowly in small reads. It checks that every shell arrives (the
//! `--shell-marker` text) and that every response completes (the chunked
//! terminator after the `--done-marker` text). With `--server-pid` it reads
//! the server's `VmRSS` from `/proc` before the first connection, at the
//! moment every shell has arrived, and every 100 ms in between, and reports
//! bytes per open stream. With `--accept-encoding VALUE` it asks for a
//! compressed response as a browser does (`gzip, deflate, br, zstd`) and
//! looks for the markers in the decoded body. Everything is bounded by
//! `--timeout-secs`. Prints
//! one JSON object on stdout; progress goes to stderr.
//!
//! ```sh
//! cargo run --release --example hold_streams -- \
//!     --url 'http://127.0.0.1:3000/bench?delays=5000' --connections 10000 --server-pid 1234
//! ```

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test tool: a failed unwrap is a failed run"
)]

use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpSocket;
use tokio::sync::{Notify, Semaphore};

/// Bytes asked for per read: small, so a response takes many reads.
const READ_SIZE: usize = 256;
/// Pause between two reads of one connection.
const READ_PAUSE: Duration = Duration::from_millis(5);
/// Connections dialling at once, so the listen backlog never overflows.
const DIAL_AT_ONCE: usize = 256;

#[derive(Debug)]
struct Args {
    addr: SocketAddr,
    host: String,
    target: String,
    connections: usize,
    sources: Vec<IpAddr>,
    server_pid: Option<u32>,
    shell_marker: String,
    done_marker: String,
    timeout: Duration,
    accept_encoding: Option<String>,
}

fn usage() -> ! {
    eprintln!(
        "usage: hold_streams --url http://HOST:PORT/PATH [--connections N] \
         [--sources 127.0.0.1,127.0.0.2] [--server-pid PID] [--shell-marker TEXT] \
         [--done-marker TEXT] [--timeout-secs S] [--accept-encoding VALUE]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut url = None;
    let mut connections = 10_000;
    let mut sources = vec![IpAddr::from([127, 0, 0, 1])];
    let mut server_pid = None;
    let mut shell_marker = "<pp-slot id=\"s0\">".to_owned();
    let mut done_marker = "section 0 ready".to_owned();
    let mut timeout = Duration::from_secs(60);
    let mut accept_encoding = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--url" => url = Some(value),
            "--connections" => connections = value.parse().unwrap_or_else(|_| usage()),
            "--sources" => {
                sources = value
                    .split(',')
                    .map(|ip| ip.trim().parse().unwrap_or_else(|_| usage()))
                    .collect();
            }
            "--server-pid" => server_pid = Some(value.parse().unwrap_or_else(|_| usage())),
            "--shell-marker" => shell_marker = value,
            "--done-marker" => done_marker = value,
            "--accept-encoding" => accept_encoding = Some(value),
            "--timeout-secs" => {
                timeout = Duration::from_secs(value.parse().unwrap_or_else(|_| usage()));
            }
            _ => usage(),
        }
    }
    let url = url.unwrap_or_else(|| usage());
    let rest = url.strip_prefix("http://").unwrap_or_else(|| usage());
    let (host, target) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let addr = host.parse().unwrap_or_else(|_| usage());
    Args {
        addr,
        host: host.to_owned(),
        target: if target.is_empty() { "/" } else { target }.to_owned(),
        connections,
        sources,
        server_pid,
        shell_marker,
        done_marker,
        timeout,
        accept_encoding,
    }
}

/// What happened to one connection.
#[derive(Debug, Default, Clone, Copy)]
struct Outcome {
    connected: bool,
    shell: bool,
    complete: bool,
}

/// Counters shared by every connection's task.
#[derive(Default)]
struct Progress {
    connected: AtomicUsize,
    shells: AtomicUsize,
    /// Shells in minus responses finished: streams open and pending.
    open: AtomicUsize,
    peak_open: AtomicUsize,
    all_shells: Notify,
}

/// The server's resident set size in bytes, from `/proc/PID/status`.
fn rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Whether `haystack` holds `needle`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// The response body in `seen` (head, then chunks, perhaps incomplete),
/// decoded by its `Content-Encoding`; what decodes so far when cut short.
fn decoded_body(seen: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let Some(split) = seen.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Vec::new();
    };
    let head = String::from_utf8_lossy(&seen[..split]).to_ascii_lowercase();
    let mut rest = &seen[split + 4..];
    let mut body = Vec::new();
    while let Some(end) = rest.windows(2).position(|w| w == b"\r\n") {
        let Ok(len) = usize::from_str_radix(&String::from_utf8_lossy(&rest[..end]), 16) else {
            break;
        };
        let start = end + 2;
        if len == 0 || rest.len() < start + len {
            break;
        }
        body.extend_from_slice(&rest[start..start + len]);
        rest = &rest[(start + len + 2).min(rest.len())..];
    }
    let coding = head
        .lines()
        .find_map(|line| line.strip_prefix("content-encoding:"))
        .map(str::trim);
    let sink = Sink::default();
    let mut decoder: Box<dyn std::io::Write> = match coding {
        Some("gzip") => Box::new(flate2::write::GzDecoder::new(sink.clone())),
        Some("br") => Box::new(brotli::DecompressorWriter::new(sink.clone(), 4096)),
        Some("zstd") => match zstd::stream::write::Decoder::new(sink.clone()) {
            Ok(decoder) => Box::new(decoder),
            Err(_) => return Vec::new(),
        },
        _ => return body,
    };
    // A cut-short body decodes as far as it goes.
    let _ = decoder.write_all(&body);
    let _ = decoder.flush();
    drop(decoder);
    sink.0.take()
}

/// Where a decoder writes.
#[derive(Clone, Default)]
struct Sink(Rc<std::cell::RefCell<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One connection: dial, send, read the shell, then read slowly to the end.
async fn hold(
    args: Rc<Args>,
    source: IpAddr,
    dial: Rc<Semaphore>,
    progress: Rc<Progress>,
) -> Outcome {
    let mut outcome = Outcome::default();
    let permit = dial.acquire().await.expect("semaphore stays open");
    let socket = match TcpSocket::new_v4() {
        Ok(socket) => socket,
        Err(err) => {
            eprintln!("socket: {err}");
            return outcome;
        }
    };
    if let Err(err) = socket.bind(SocketAddr::new(source, 0)) {
        eprintln!("bind {source}: {err}");
        return outcome;
    }
    let mut stream = match socket.connect(args.addr).await {
        Ok(stream) => stream,
        Err(err) => {
            eprintln!("connect: {err}");
            return outcome;
        }
    };
    let accept = args
        .accept_encoding
        .as_ref()
        .map(|value| format!("Accept-Encoding: {value}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: hold_streams\r\n{accept}Connection: close\r\n\r\n",
        args.target, args.host
    );
    if stream.write_all(request.as_bytes()).await.is_err() {
        return outcome;
    }
    outcome.connected = true;
    progress.connected.fetch_add(1, Ordering::Relaxed);
    let shell_marker = args.shell_marker.as_bytes();
    let done_marker = args.done_marker.as_bytes();
    // Everything read so far: a response is a few KiB.
    let mut seen = Vec::with_capacity(4096);
    let mut buf = [0u8; READ_SIZE];
    let mut dial_permit = Some(permit);
    loop {
        let read = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        seen.extend_from_slice(&buf[..read]);
        let found = |marker: &[u8]| match args.accept_encoding {
            Some(_) => contains(&decoded_body(&seen), marker),
            None => contains(&seen, marker),
        };
        if !outcome.shell && found(shell_marker) {
            // Only the head and the shell count; free the dial slot now.
            dial_permit.take();
            outcome.shell = seen.starts_with(b"HTTP/1.1 200 ");
            if outcome.shell {
                let shells = progress.shells.fetch_add(1, Ordering::Relaxed) + 1;
                let open = progress.open.fetch_add(1, Ordering::Relaxed) + 1;
                progress.peak_open.fetch_max(open, Ordering::Relaxed);
                if shells == args.connections {
                    progress.all_shells.notify_one();
                }
            }
        }
        if seen.ends_with(b"\r\n0\r\n\r\n") {
            outcome.complete = outcome.shell && found(done_marker);
            break;
        }
        tokio::time::sleep(READ_PAUSE).await;
    }
    if outcome.shell {
        progress.open.fetch_sub(1, Ordering::Relaxed);
    }
    outcome
}

fn main() {
    let args = Rc::new(parse_args());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime builds");
    let local = tokio::task::LocalSet::new();
    let report = local.block_on(&runtime, run(Rc::clone(&args)));
    println!("{report}");
}

async fn run(args: Rc<Args>) -> String {
    let started = Instant::now();
    let rss_before = args.server_pid.and_then(rss);
    let progress = Rc::new(Progress::default());
    let dial = Rc::new(Semaphore::new(DIAL_AT_ONCE));
    let mut tasks = Vec::with_capacity(args.connections);
    for index in 0..args.connections {
        let source = args.sources[index % args.sources.len()];
        tasks.push(tokio::task::spawn_local(hold(
            Rc::clone(&args),
            source,
            Rc::clone(&dial),
            Rc::clone(&progress),
        )));
    }

    // Sample the server while the connections open and until every shell is in.
    let mut rss_peak = rss_before;
    let mut rss_at_all_shells = None;
    let mut shells_at = None;
    let deadline = tokio::time::Instant::now() + args.timeout;
    let all_shells = progress.all_shells.notified();
    tokio::pin!(all_shells);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            () = &mut all_shells => {
                shells_at = Some(started.elapsed());
                rss_at_all_shells = args.server_pid.and_then(rss);
                rss_peak = rss_peak.max(rss_at_all_shells);
                break;
            }
            _ = tick.tick() => {
                rss_peak = rss_peak.max(args.server_pid.and_then(rss));
                if tokio::time::Instant::now() >= deadline {
                    break;
                }
                if tasks.iter().all(|task| task.is_finished()) {
                    break;
                }
            }
        }
    }
    eprintln!(
        "hold_streams: {} connected, {} shells in {:.2?}; waiting for the responses to end",
        progress.connected.load(Ordering::Relaxed),
        progress.shells.load(Ordering::Relaxed),
        started.elapsed()
    );

    let mut outcomes = Vec::with_capacity(tasks.len());
    for task in tasks {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, task).await {
            Ok(Ok(outcome)) => outcomes.push(outcome),
            Ok(Err(_)) | Err(_) => outcomes.push(Outcome::default()),
        }
    }
    let connected = outcomes.iter().filter(|o| o.connected).count();
    let shells = outcomes.iter().filter(|o| o.shell).count();
    let complete = outcomes.iter().filter(|o| o.complete).count();
    let peak_open = progress.peak_open.load(Ordering::Relaxed);
    let per_stream = match (rss_before, rss_peak) {
        (Some(before), Some(peak)) if peak_open > 0 => {
            format!("{}", peak.saturating_sub(before) / peak_open as u64)
        }
        _ => "null".to_owned(),
    };
    let json = |value: Option<u64>| value.map_or("null".to_owned(), |v| v.to_string());
    format!(
        "{{\"connections\":{},\"connected\":{connected},\"shells\":{shells},\"complete\":{complete},\
         \"peak_open\":{peak_open},\"all_shells_ms\":{},\"elapsed_ms\":{},\
         \"rss_before\":{},\"rss_at_all_shells\":{},\"rss_peak\":{},\"bytes_per_stream\":{per_stream}}}",
        args.connections,
        json(shells_at.map(|d| d.as_millis() as u64)),
        started.elapsed().as_millis(),
        json(rss_before),
        json(rss_at_all_shells),
        json(rss_peak),
    )
}
