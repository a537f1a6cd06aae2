//! Files through the streaming responder: the media routes of the real
//! binary, a differential test against actix-files' `NamedFile`, the
//! traversal corpus, and a 1 GiB sparse file to a slow reader (flat memory,
//! HEAD at once).

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use actix_web::body::{BodySize, MessageBody as _};
use actix_web::dev::{ServerHandle, Service as _};
use actix_web::http::header::{self, HeaderMap};
use actix_web::http::{Method, StatusCode};
use actix_web::{App, HttpRequest, HttpServer, test, web};
use bytes::Bytes;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::util::{Client, Server, assets_dir};

/// An actix server on 127.0.0.1, port 0, in its own thread; stopped on drop.
pub struct Local {
    pub addr: SocketAddr,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
}

impl Local {
    /// Starts one worker serving the routes that `configure` registers.
    pub fn start<F>(configure: F) -> Local
    where
        F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binds");
        let addr = listener.local_addr().expect("an address");
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let system = actix_web::rt::System::new();
            let server = HttpServer::new(move || App::new().configure(configure.clone()))
                .workers(1)
                .h1_allow_half_closed(false)
                .disable_signals()
                .listen(listener)
                .expect("listens")
                .run();
            tx.send(server.handle()).expect("handle sent");
            let _ = system.block_on(server);
        });
        let handle = rx.recv().expect("server started");
        Local {
            addr,
            handle,
            thread: Some(thread),
        }
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        // `stop` sends its command at once; the returned future only waits.
        drop(self.handle.stop(false));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `serve_file` over `root` at `/f/{path}`.
fn files(root: PathBuf) -> impl Fn(&mut web::ServiceConfig) + Send + Clone + 'static {
    move |cfg| {
        cfg.app_data(web::Data::new(root.clone()))
            .route("/f/{path:.*}", web::route().to(serve_under_root));
    }
}

async fn serve_under_root(req: HttpRequest, root: web::Data<PathBuf>) -> pagepipe::Streamed {
    let path = req.match_info().get("path").unwrap_or_default().to_owned();
    pagepipe::serve_file(root.as_path(), &path, &req).await
}

fn file_len(name: &str) -> u64 {
    std::fs::metadata(assets_dir().join(name))
        .expect("bundled asset")
        .len()
}

// ---- the demo's media routes, against the real binary ----

#[tokio::test]
async fn stream_video_answers_the_safari_probe_with_exactly_two_bytes() {
    let server = Server::start();
    let mut client = Client::connect(server.addr).await;
    let response = client
        .request("GET", "/stream-video", "Range: bytes=0-1\r\n")
        .await;
    assert_eq!(response.status, 206);
    let len = file_len("video.mp4");
    let content_range = format!("bytes 0-1/{len}");
    assert_eq!(response.header("content-range"), Some(&*content_range));
    assert_eq!(response.header("content-length"), Some("2"));
    assert_eq!(response.header("content-type"), Some("video/mp4"));
    assert_eq!(response.header("accept-ranges"), Some("bytes"));
    assert_eq!(response.header("content-encoding"), None);
    let body: Vec<u8> = response
        .chunks
        .iter()
        .flat_map(|(_, c)| c.clone())
        .collect();
    assert_eq!(body, [0, 0]);
    // The same connection goes on to the open-ended request a player sends.
    let response = client
        .request("GET", "/stream-video", "Range: bytes=0-\r\n")
        .await;
    assert_eq!(response.status, 206);
    let whole = format!("bytes 0-{}/{len}", len - 1);
    assert_eq!(response.header("content-range"), Some(&*whole));
    let body: Vec<u8> = response
        .chunks
        .iter()
        .flat_map(|(_, c)| c.clone())
        .collect();
    assert_eq!(body, std::fs::read(assets_dir().join("video.mp4")).unwrap());
}

#[tokio::test]
async fn stream_image_is_a_jpeg_and_head_has_its_length() {
    let server = Server::start();
    let mut client = Client::connect(server.addr).await;
    let head = client.request("HEAD", "/stream-image", "").await;
    assert_eq!(head.status, 200);
    let len = file_len("image.jpg").to_string();
    assert_eq!(head.header("content-length"), Some(&*len));
    assert_eq!(head.header("content-type"), Some("image/jpeg"));
    let get = client.request("GET", "/stream-image", "").await;
    let body: Vec<u8> = get.chunks.iter().flat_map(|(_, c)| c.clone()).collect();
    assert_eq!(body.len().to_string(), len);
    assert!(body.starts_with(&[0xFF, 0xD8, 0xFF]) && body.ends_with(&[0xFF, 0xD9]));
}

#[tokio::test]
async fn assets_route_serves_sample_html_with_validators_and_304() {
    let server = Server::start();
    let mut client = Client::connect(server.addr).await;
    let response = client.request("GET", "/assets/sample.html", "").await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(response.header("cache-control").is_some());
    assert!(response.text().starts_with("<!doctype html>"));
    let etag = response.header("etag").expect("an etag").to_owned();
    let revalidate = format!("If-None-Match: {etag}\r\n");
    let not_modified = client
        .request("GET", "/assets/sample.html", &revalidate)
        .await;
    assert_eq!(not_modified.status, 304);
    assert_eq!(not_modified.header("etag"), Some(&*etag));
    // The connection is still usable: the 304 carried no body.
    assert_eq!(
        client.request("HEAD", "/stream-video", "").await.status,
        200
    );
}

#[tokio::test]
async fn media_routes_refuse_other_methods_with_405_and_allow() {
    let server = Server::start();
    let mut client = Client::connect(server.addr).await;
    for target in ["/stream-image", "/stream-video", "/assets/sample.html"] {
        let response = client
            .request("POST", target, "Content-Length: 0\r\n")
            .await;
        assert_eq!(response.status, 405, "{target}");
        let allow = response.header("allow").unwrap_or_default();
        assert!(
            allow.contains("GET") && allow.contains("HEAD"),
            "{target}: {allow}"
        );
    }
}

// ---- traversal ----

#[tokio::test]
async fn traversal_corpus_never_leaves_the_assets_folder() {
    let server = Server::start();
    let corpus = [
        "/assets/../Cargo.toml",
        "/assets/../../../../etc/passwd",
        "/assets/..%2fCargo.toml",
        "/assets/..%2FCargo.toml",
        "/assets/%2e%2e%2fCargo.toml",
        "/assets/%2e%2e/Cargo.toml",
        "/assets/.%2e/Cargo.toml",
        "/assets/%252e%252e%252fCargo.toml",
        "/assets/..%5cCargo.toml",
        "/assets/..\\Cargo.toml",
        "/assets/sample.html%00.png",
        "/assets/%00",
        "/assets//etc/passwd",
        "/assets/%2fetc%2fpasswd",
        "/assets/%2Fetc/passwd",
        "/assets/C:%5cWindows%5cwin.ini",
        "/assets/.gitkeep",
        "/assets/",
    ];
    for target in corpus {
        let response = Client::connect(server.addr)
            .await
            .request("GET", target, "")
            .await;
        assert!(
            matches!(response.status, 400 | 404),
            "{target}: {}",
            response.status
        );
        let body = String::from_utf8_lossy(
            &response
                .chunks
                .iter()
                .flat_map(|(_, c)| c.clone())
                .collect::<Vec<u8>>(),
        )
        .into_owned();
        assert!(
            !body.contains("[package]") && !body.contains("root:"),
            "{target}: {body}"
        );
        assert!(
            body.len() < 100,
            "{target}: only a short reason, got {body:?}"
        );
    }
}

#[tokio::test]
async fn a_symlink_out_of_the_root_is_404_and_one_inside_is_served() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "secret").unwrap();
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("inside.txt"), "inside").unwrap();
    std::os::unix::fs::symlink(outside.path(), root.path().join("out")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), root.path().join("s.txt"))
        .unwrap();
    std::os::unix::fs::symlink("inside.txt", root.path().join("alias.txt")).unwrap();
    let local = Local::start(files(root.path().to_path_buf()));
    for target in ["/f/out/secret.txt", "/f/s.txt", "/f/out/"] {
        let response = crate::util::get(local.addr, target).await;
        assert_eq!(response.status, 404, "{target}");
        assert!(!response.text().contains("secret"), "{target}");
    }
    let alias = crate::util::get(local.addr, "/f/alias.txt").await;
    assert_eq!(alias.status, 200);
    assert_eq!(alias.text(), "inside");
}

// ---- a large file to a slow reader ----

/// A line of `/proc/self/status` or `/proc/self/io`, as a number.
fn proc_number(file: &str, key: &str) -> u64 {
    let text = std::fs::read_to_string(file).expect("procfs");
    text.lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| rest.trim().trim_end_matches(" kB").parse().ok())
        .unwrap_or_else(|| panic!("{key} in {file}"))
}

fn rss_kib() -> u64 {
    proc_number("/proc/self/status", "VmRSS:")
}

/// Bytes this process has read with read(2)/pread(2): the server's file
/// reads, not the client's recv(2) from its socket.
fn bytes_read() -> u64 {
    proc_number("/proc/self/io", "rchar:")
}

/// Waits (at most 5 s) until this process all but stops reading (reading
/// procfs itself counts, so a trickle is allowed); the total read.
async fn reads_settled() -> u64 {
    let mut last = bytes_read();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = bytes_read();
        if now - last < 64 * 1024 {
            return now;
        }
        last = now;
    }
    panic!("the process kept reading for 5 s after the client stopped");
}

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

#[tokio::test]
async fn a_sparse_gigabyte_file_streams_to_a_slow_reader_in_flat_memory() {
    let root = tempfile::tempdir().unwrap();
    let file = std::fs::File::create(root.path().join("big.bin")).unwrap();
    file.set_len(GIB).unwrap();
    let local = Local::start(files(root.path().to_path_buf()));

    // HEAD answers at once, from metadata: the file is not read.
    let before = bytes_read();
    let started = Instant::now();
    let head = Client::connect(local.addr)
        .await
        .request("HEAD", "/f/big.bin", "")
        .await;
    let head_time = started.elapsed();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some(&*GIB.to_string()));
    assert!(
        head_time < Duration::from_secs(1),
        "HEAD took {head_time:?}"
    );
    assert!(bytes_read() - before < MIB, "HEAD read the file");

    let rss_before = rss_kib();
    let mut stream = tokio::net::TcpStream::connect(local.addr).await.unwrap();
    stream
        .write_all(b"GET /f/big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let before = bytes_read();
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
            peak_rss = peak_rss.max(rss_kib());
        }
    }
    // Then it stops reading altogether: the server must stop too.
    let settled = reads_settled().await;
    // Socket reads (recv) do not count in rchar: the growth is the file.
    let read_ahead = (settled - before).saturating_sub(received);
    peak_rss = peak_rss.max(rss_kib());
    let growth_mib = peak_rss.saturating_sub(rss_before) / 1024;
    eprintln!(
        "1 GiB file: HEAD {head_time:?}; client read {} MiB; server read ahead {} KiB; RSS {} MiB -> peak {} MiB",
        received / MIB,
        read_ahead / 1024,
        rss_before / 1024,
        peak_rss / 1024
    );
    assert!(
        read_ahead < 32 * MIB,
        "the server read {read_ahead} bytes ahead of the client"
    );
    assert!(growth_mib < 64, "memory grew by {growth_mib} MiB");
    drop(stream);
}

// ---- differential test against actix-files ----

async fn ours(req: HttpRequest) -> pagepipe::Streamed {
    pagepipe::serve_file(assets_dir(), "video.mp4", &req).await
}

async fn theirs(req: HttpRequest) -> actix_web::HttpResponse {
    let file =
        actix_files::NamedFile::open(assets_dir().join("video.mp4")).expect("the bundled video");
    actix_web::Responder::respond_to(file, &req).map_into_boxed_body()
}

/// One side's answer, read whole in-process.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    length: BodySize,
    body: Bytes,
}

impl Answer {
    fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

async fn ask(path: &str, method: &Method, headers: &[(&str, String)]) -> Answer {
    let app = test::init_service(
        App::new()
            .route("/ours", web::route().to(ours))
            .route("/theirs", web::route().to(theirs)),
    )
    .await;
    let mut req = test::TestRequest::default()
        .method(method.clone())
        .uri(path);
    for (name, value) in headers {
        req = req.insert_header((*name, value.as_str()));
    }
    let res = app.call(req.to_request()).await.expect("answers");
    let status = res.status();
    let headers = res.headers().clone();
    let length = res.response().body().size();
    let body = test::read_body(res).await;
    Answer {
        status,
        headers,
        length,
        body,
    }
}

/// How our answer to a case compares with `NamedFile`'s.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Same status, Content-Range, length and bytes.
    Same,
    /// Multi-range: `NamedFile` sends the first range alone, we send
    /// every range as `multipart/byteranges`.
    MultipartInsteadOfFirstRange,
    /// A malformed Range: `NamedFile` answers 416, we ignore it (200).
    IgnoredInsteadOf416,
    /// HEAD: `NamedFile` builds a body that reads the whole file (the
    /// server then discards it); ours has the length and no body at all.
    HeadWithoutReading,
    /// Not GET/HEAD: `NamedFile` as a handler serves the file; we answer 405.
    MethodNotAllowed,
}

/// A method, request headers (`{etag}` and `{date}` are filled in with each
/// side's own validators) and how the answers compare.
type Case = (Method, Vec<(&'static str, &'static str)>, Expect);

#[actix_web::test]
async fn serve_file_agrees_with_named_file_except_where_listed() {
    let len = file_len("video.mp4");
    let etag_of = |answer: Answer| answer.header(header::ETAG).unwrap().to_owned();
    let our_etag = etag_of(ask("/ours", &Method::GET, &[]).await);
    let their_etag = etag_of(ask("/theirs", &Method::GET, &[]).await);
    let base = ask("/ours", &Method::GET, &[]).await;
    let date = base.header(header::LAST_MODIFIED).unwrap().to_owned();
    let old = "Mon, 01 Jan 2001 00:00:00 GMT";
    let future = "Fri, 01 Jan 2100 00:00:00 GMT";
    use Expect::*;
    let get = Method::GET;
    let corpus: Vec<Case> = vec![
        (get.clone(), vec![], Same),
        (get.clone(), vec![("range", "bytes=0-1")], Same),
        (get.clone(), vec![("range", "bytes=0-")], Same),
        (get.clone(), vec![("range", "bytes=100-199")], Same),
        (get.clone(), vec![("range", "bytes=-100")], Same),
        (get.clone(), vec![("range", "bytes=400000-999999999")], Same),
        (get.clone(), vec![("range", "bytes=999999999-")], Same),
        (get.clone(), vec![("range", "items=0-1")], Same),
        (
            get.clone(),
            vec![("range", "bytes=0-1,100-199")],
            MultipartInsteadOfFirstRange,
        ),
        (
            get.clone(),
            vec![("range", "bytes=abc")],
            IgnoredInsteadOf416,
        ),
        (
            get.clone(),
            vec![("range", "bytes=5-3")],
            IgnoredInsteadOf416,
        ),
        (get.clone(), vec![("if-none-match", "{etag}")], Same),
        (get.clone(), vec![("if-none-match", "\"other\"")], Same),
        (get.clone(), vec![("if-none-match", "*")], Same),
        (get.clone(), vec![("if-modified-since", "{date}")], Same),
        (get.clone(), vec![("if-modified-since", old)], Same),
        (get.clone(), vec![("if-match", "{etag}")], Same),
        (get.clone(), vec![("if-match", "\"other\"")], Same),
        (get.clone(), vec![("if-unmodified-since", old)], Same),
        (get.clone(), vec![("if-unmodified-since", future)], Same),
        (
            get.clone(),
            vec![("if-none-match", "{etag}"), ("range", "bytes=0-1")],
            Same,
        ),
        (
            get.clone(),
            vec![("range", "bytes=0-1"), ("if-range", "{etag}")],
            Same,
        ),
        (
            get.clone(),
            vec![("range", "bytes=0-1"), ("if-range", "\"other\"")],
            Same,
        ),
        (
            get.clone(),
            vec![("range", "bytes=0-1"), ("if-range", "{date}")],
            Same,
        ),
        (
            get.clone(),
            vec![("range", "bytes=0-1"), ("if-range", old)],
            Same,
        ),
        (Method::HEAD, vec![], HeadWithoutReading),
        (
            Method::HEAD,
            vec![("range", "bytes=0-1")],
            HeadWithoutReading,
        ),
        (Method::POST, vec![], MethodNotAllowed),
    ];
    for (method, case, expect) in corpus {
        let fill = |etag: &str| -> Vec<(&str, String)> {
            case.iter()
                .map(|(name, value)| {
                    (
                        *name,
                        value.replace("{etag}", etag).replace("{date}", &date),
                    )
                })
                .collect()
        };
        let ours = ask("/ours", &method, &fill(&our_etag)).await;
        let theirs = ask("/theirs", &method, &fill(&their_etag)).await;
        let what = format!("{method} {case:?}");
        match expect {
            Same => {
                assert_eq!(ours.status, theirs.status, "{what}");
                assert_eq!(
                    ours.header(header::CONTENT_RANGE),
                    theirs.header(header::CONTENT_RANGE),
                    "{what}"
                );
                if ours.status != StatusCode::RANGE_NOT_SATISFIABLE
                    && ours.status != StatusCode::PRECONDITION_FAILED
                {
                    // Error bodies differ on purpose: ours name the problem.
                    // A 304 has no body either way (actix sends no length).
                    if ours.status != StatusCode::NOT_MODIFIED {
                        assert_eq!(ours.length, theirs.length, "{what}");
                    }
                    assert_eq!(ours.body, theirs.body, "{what}");
                }
            }
            MultipartInsteadOfFirstRange => {
                assert_eq!(theirs.status, StatusCode::PARTIAL_CONTENT, "{what}");
                assert_eq!(
                    theirs.header(header::CONTENT_RANGE),
                    Some(&*format!("bytes 0-1/{len}"))
                );
                assert_eq!(ours.status, StatusCode::PARTIAL_CONTENT, "{what}");
                let content_type = ours.header(header::CONTENT_TYPE).unwrap_or_default();
                assert!(
                    content_type.starts_with("multipart/byteranges; boundary="),
                    "{what}"
                );
                assert!(ours.body.len() > 102, "{what}: both ranges are there");
            }
            IgnoredInsteadOf416 => {
                assert_eq!(theirs.status, StatusCode::RANGE_NOT_SATISFIABLE, "{what}");
                assert_eq!(ours.status, StatusCode::OK, "{what}");
                assert_eq!(ours.length, BodySize::Sized(len), "{what}");
            }
            HeadWithoutReading => {
                assert_eq!(ours.status, theirs.status, "{what}");
                assert_eq!(ours.length, BodySize::Sized(len), "{what}");
                assert_eq!(theirs.length, BodySize::Sized(len), "{what}");
                assert!(ours.body.is_empty(), "{what}");
                assert_eq!(
                    theirs.body.len() as u64,
                    len,
                    "{what}: NamedFile reads it all"
                );
            }
            MethodNotAllowed => {
                assert_eq!(theirs.status, StatusCode::OK, "{what}");
                assert_eq!(ours.status, StatusCode::METHOD_NOT_ALLOWED, "{what}");
                assert_eq!(ours.header(header::ALLOW), Some("GET, HEAD"), "{what}");
            }
        }
    }
}

#[actix_web::test]
async fn named_file_differs_in_headers_only_where_listed() {
    let ours = ask("/ours", &Method::GET, &[]).await;
    let theirs = ask("/theirs", &Method::GET, &[]).await;
    for name in [
        header::CONTENT_TYPE,
        header::LAST_MODIFIED,
        header::ACCEPT_RANGES,
    ] {
        assert_eq!(
            ours.header(name.clone()),
            theirs.header(name.clone()),
            "{name}"
        );
    }
    // We add caching and nosniff; NamedFile adds a Content-Disposition.
    assert_eq!(theirs.header(header::CACHE_CONTROL), None);
    assert!(ours.header(header::CACHE_CONTROL).is_some());
    assert_eq!(ours.header(header::X_CONTENT_TYPE_OPTIONS), Some("nosniff"));
    assert!(theirs.header(header::CONTENT_DISPOSITION).is_some());
    assert_eq!(ours.header(header::CONTENT_DISPOSITION), None);
    // Both ETags are strong, in different formats.
    for etag in [ours.header(header::ETAG), theirs.header(header::ETAG)] {
        assert!(etag.is_some_and(|tag| tag.starts_with('"')), "{etag:?}");
    }
}
