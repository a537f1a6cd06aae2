//! Test support: the demo server binary on an ephemeral port, and a raw
//! HTTP/1.1 client that records when each chunk of a response arrives.

#![allow(dead_code)]

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The bundled assets folder.
pub fn assets_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../assets")
}

/// The demo server, started from its binary; killed (by PID) on drop.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    stderr: mpsc::Receiver<String>,
}

impl Server {
    /// Starts the demo with the bundled assets on 127.0.0.1, port 0.
    pub fn start() -> Server {
        Server::start_with(&[], &[])
    }

    /// Starts the demo with extra flags and environment variables.
    pub fn start_with(args: &[&str], envs: &[(&str, &str)]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pagepipe"));
        command
            .args(["--addr", "127.0.0.1:0", "--workers", "2", "--assets"])
            .arg(assets_dir())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in envs {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("demo binary starts");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("a first line");
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .or_else(|| line.trim().strip_prefix("listening on https://"))
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .expect("an address");
        let (tx, stderr) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Server {
            child,
            addr,
            stderr,
        }
    }

    /// Waits up to `limit` for a log line containing `needle`.
    pub fn wait_for_log(&self, needle: &str, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.stderr.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    }

    /// The process id, to signal it.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `limit` for the process to exit; its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response read off the socket: its head and each chunk with the time it
/// arrived, measured from just before the request was written.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub version: String,
    pub headers: Vec<(String, String)>,
    pub chunks: Vec<(Duration, Vec<u8>)>,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The whole body.
    pub fn body(&self) -> Vec<u8> {
        self.chunks.iter().flat_map(|(_, c)| c.clone()).collect()
    }

    /// The whole body as text.
    pub fn text(&self) -> String {
        String::from_utf8(self.body()).expect("utf-8 body")
    }

    /// When the first chunk containing `needle` arrived.
    pub fn arrival_of(&self, needle: &str) -> Option<Duration> {
        self.chunks
            .iter()
            .position(|(_, chunk)| String::from_utf8_lossy(chunk).contains(needle))
            .map(|i| self.chunks[i].0)
    }
}

/// An open HTTP/1.1 connection.
pub struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
    started: Instant,
}

impl Client {
    /// Connects to `addr`.
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.expect("connects");
        stream.set_nodelay(true).unwrap();
        Client {
            stream,
            buf: Vec::new(),
            started: Instant::now(),
        }
    }

    /// Writes a request with `extra` header lines (each ending in `\r\n`).
    pub async fn send(&mut self, method: &str, target: &str, version: &str, extra: &str) {
        let request = format!("{method} {target} {version}\r\nHost: 127.0.0.1\r\n{extra}\r\n");
        self.started = Instant::now();
        self.stream.write_all(request.as_bytes()).await.unwrap();
    }

    /// Reads until at least `n` bytes are buffered; false at end of stream.
    async fn fill(&mut self, n: usize) -> bool {
        while self.buf.len() < n {
            let mut chunk = [0u8; 16 * 1024];
            let read = self.stream.read(&mut chunk).await.expect("reads");
            if read == 0 {
                return false;
            }
            self.buf.extend_from_slice(&chunk[..read]);
        }
        true
    }

    async fn line(&mut self) -> String {
        loop {
            if let Some(at) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..at]).into_owned();
                self.buf.drain(..at + 2);
                return line;
            }
            let need = self.buf.len() + 1;
            assert!(self.fill(need).await, "connection closed mid-line");
        }
    }

    /// Reads the status line and headers.
    pub async fn head(&mut self) -> Response {
        let status_line = self.line().await;
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default().to_owned();
        let status = parts.next().and_then(|s| s.parse().ok()).expect("a status");
        let mut headers = Vec::new();
        loop {
            let line = self.line().await;
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').expect("a header");
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
        Response {
            status,
            version,
            headers,
            chunks: Vec::new(),
        }
    }

    /// Reads the next body chunk of a chunked response; `None` at its end.
    pub async fn chunk(&mut self) -> Option<Vec<u8>> {
        let size_line = self.line().await;
        let size = usize::from_str_radix(size_line.split(';').next().unwrap().trim(), 16)
            .expect("a chunk size");
        assert!(self.fill(size + 2).await, "connection closed mid-chunk");
        let data: Vec<u8> = self.buf.drain(..size).collect();
        self.buf.drain(..2);
        (size > 0).then_some(data)
    }

    /// Reads the body of `response` whatever its framing, timestamping chunks.
    pub async fn body(&mut self, response: &mut Response, method: &str) {
        let no_body = method == "HEAD" || matches!(response.status, 204 | 304);
        if no_body {
            return;
        }
        if response.header("transfer-encoding") == Some("chunked") {
            while let Some(chunk) = self.chunk().await {
                response.chunks.push((self.started.elapsed(), chunk));
            }
        } else if let Some(len) = response.header("content-length") {
            let len: usize = len.parse().unwrap();
            assert!(self.fill(len).await, "connection closed mid-body");
            let body = self.buf.drain(..len).collect();
            response.chunks.push((self.started.elapsed(), body));
        } else {
            while self.fill(self.buf.len() + 1).await {}
            let body = std::mem::take(&mut self.buf);
            response.chunks.push((self.started.elapsed(), body));
        }
    }

    /// Sends one request and reads its whole response.
    pub async fn request(&mut self, method: &str, target: &str, extra: &str) -> Response {
        self.send(method, target, "HTTP/1.1", extra).await;
        let mut response = self.head().await;
        self.body(&mut response, method).await;
        response
    }

    /// Closes the connection cleanly (FIN), as a browser tab does.
    pub async fn close(mut self) {
        let _ = self.stream.shutdown().await;
    }
}

/// GETs `target` on a fresh connection.
pub async fn get(addr: SocketAddr, target: &str) -> Response {
    get_with(addr, target, "").await
}

/// GETs `target` on a fresh connection with `extra` header lines.
pub async fn get_with(addr: SocketAddr, target: &str, extra: &str) -> Response {
    Client::connect(addr)
        .await
        .request("GET", target, extra)
        .await
}

/// Where a decoder writes; read after every chunk.
#[derive(Clone, Default)]
struct Sink(Rc<RefCell<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A compressed response decoded chunk by chunk as it arrived.
pub struct Decoded {
    /// The response head.
    pub head: Response,
    /// When each needle first became readable in the decoded text.
    pub arrivals: Vec<Option<Duration>>,
    /// The whole decoded body.
    pub text: String,
}

#[path = "../../tests/support/decode.rs"]
mod support;
pub(crate) use support::decode;

/// `n` milliseconds.
pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// GETs `target` with `Accept-Encoding: encoding` (gzip, br or zstd), decoding each
/// chunk as it arrives, and notes when each of `needles` became readable.
pub async fn get_decoding(
    addr: SocketAddr,
    target: &str,
    encoding: &str,
    needles: &[String],
) -> Decoded {
    let mut client = Client::connect(addr).await;
    let header = format!("Accept-Encoding: {encoding}\r\n");
    let sent = Instant::now();
    client.send("GET", target, "HTTP/1.1", &header).await;
    let head = client.head().await;
    assert_eq!(head.header("content-encoding"), Some(encoding));
    assert_eq!(head.header("transfer-encoding"), Some("chunked"));
    let sink = Sink::default();
    let mut decoder: Box<dyn Write> = match encoding {
        "gzip" => Box::new(flate2::write::GzDecoder::new(sink.clone())),
        "br" => Box::new(brotli::DecompressorWriter::new(sink.clone(), 4096)),
        "zstd" => Box::new(zstd::stream::write::Decoder::new(sink.clone()).unwrap()),
        other => panic!("no decoder for {other}"),
    };
    let mut arrivals = vec![None; needles.len()];
    while let Some(chunk) = client.chunk().await {
        decoder.write_all(&chunk).unwrap();
        decoder.flush().unwrap();
        let text = String::from_utf8_lossy(&sink.0.borrow()).into_owned();
        for (needle, arrival) in needles.iter().zip(&mut arrivals) {
            if arrival.is_none() && text.contains(needle.as_str()) {
                *arrival = Some(sent.elapsed());
            }
        }
    }
    drop(decoder);
    let text = String::from_utf8_lossy(&sink.0.borrow()).into_owned();
    Decoded {
        head,
        arrivals,
        text,
    }
}
