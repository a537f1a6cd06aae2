//! In-process HTTP tests of [`serve_file`], checked on status, headers and
//! exact bytes: the fixture and client here, with the plain cases; ranges
//! and conditional requests in their own files.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::body::{BodySize, MessageBody as _};
use actix_web::dev::Service as _;
use actix_web::http::header::{self, HeaderMap, HttpDate};
use actix_web::http::{Method, StatusCode};
use actix_web::{App, HttpRequest, test, web};
use bytes::Bytes;

use super::serve_file;

mod conditional;
mod kept;
mod mount;
mod precompressed;
mod ranges;
mod symlinks;

/// Length of the fixture file `data.bin`.
const LEN: usize = 1000;

/// The fixture's byte at `index`: a pattern that tells ranges apart.
fn byte(index: usize) -> u8 {
    (index % 251) as u8
}

fn bytes(from: usize, to: usize) -> Vec<u8> {
    (from..=to).map(byte).collect()
}

/// The fixture files' mtime: whole seconds plus a fraction, which HTTP
/// dates drop.
fn mtime() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_700_000_000_500)
}

fn date(time: SystemTime) -> String {
    HttpDate::from(time).to_string()
}

fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let data: Vec<u8> = (0..LEN).map(byte).collect();
    for (name, content) in [
        ("data.bin", data.as_slice()),
        ("page.html", b"<p>hi</p>".as_slice()),
        ("empty.txt", b"".as_slice()),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, content).expect("write fixture");
        let file = std::fs::File::options()
            .write(true)
            .open(&path)
            .expect("open");
        file.set_modified(mtime()).expect("set mtime");
    }
    std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
    dir
}

async fn files(req: HttpRequest, root: web::Data<PathBuf>) -> crate::Streamed {
    let path = req.match_info().get("path").unwrap_or_default().to_owned();
    serve_file(root.as_path(), &path, &req).await
}

/// A response, read whole.
#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    /// What actix will send as `Content-Length` (it adds the header when
    /// it writes the response, so it is not in `headers` yet).
    length: BodySize,
    body: Bytes,
}

impl Reply {
    /// Reads a response whole.
    async fn of(res: actix_web::dev::ServiceResponse) -> Reply {
        let status = res.status();
        let headers = res.headers().clone();
        let length = res.response().body().size();
        let body = test::read_body(res).await;
        Reply {
            status,
            headers,
            length,
            body,
        }
    }

    fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

/// Sends `req` to an app serving `root` at `/f/`.
async fn send(root: &Path, req: test::TestRequest) -> Reply {
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(root.to_path_buf()))
            .route("/f/{path:.*}", web::route().to(files)),
    )
    .await;
    Reply::of(app.call(req.to_request()).await.expect("service answers")).await
}

fn get(path: &str) -> test::TestRequest {
    test::TestRequest::get().uri(path)
}

async fn etag(root: &Path) -> String {
    let reply = send(root, get("/f/data.bin")).await;
    reply.header(header::ETAG).expect("etag").to_owned()
}

#[actix_web::test]
async fn whole_file_is_200_with_validators_and_range_support() {
    let dir = fixture();
    let reply = send(dir.path(), get("/f/data.bin")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, bytes(0, LEN - 1));
    assert_eq!(reply.length, BodySize::Sized(1000));
    assert_eq!(reply.header(header::ACCEPT_RANGES), Some("bytes"));
    assert_eq!(
        reply.header(header::CONTENT_TYPE),
        Some("application/octet-stream")
    );
    assert_eq!(
        reply.header(header::CACHE_CONTROL),
        Some(super::CACHE_CONTROL)
    );
    assert_eq!(reply.header(header::LAST_MODIFIED), Some(&*date(mtime())));
    let etag = reply.header(header::ETAG).expect("etag");
    assert!(etag.starts_with('"') && !etag.starts_with("W/"), "{etag}");
}

#[actix_web::test]
async fn text_gets_a_utf8_charset() {
    let dir = fixture();
    let reply = send(dir.path(), get("/f/page.html")).await;
    assert_eq!(
        reply.header(header::CONTENT_TYPE),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(reply.body, "<p>hi</p>");
}

#[actix_web::test]
async fn head_has_the_get_headers_and_no_body() {
    let dir = fixture();
    let get_reply = send(dir.path(), get("/f/data.bin")).await;
    let head = send(
        dir.path(),
        get("/f/data.bin")
            .method(Method::HEAD)
            .insert_header((header::RANGE, "bytes=0-1")),
    )
    .await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    assert_eq!(head.length, get_reply.length);
    for name in [
        header::CONTENT_TYPE,
        header::ETAG,
        header::LAST_MODIFIED,
        header::ACCEPT_RANGES,
    ] {
        assert_eq!(
            head.header(name.clone()),
            get_reply.header(name.clone()),
            "{name}"
        );
    }
}

#[actix_web::test]
async fn other_methods_are_405_with_allow() {
    let dir = fixture();
    for method in [Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS] {
        let reply = send(dir.path(), get("/f/data.bin").method(method.clone())).await;
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(reply.header(header::ALLOW), Some("GET, HEAD"), "{method}");
    }
}

#[actix_web::test]
async fn missing_files_folders_and_hidden_names_are_404() {
    let dir = fixture();
    for path in [
        "/f/nope.bin",
        "/f/sub",
        "/f/sub/",
        "/f/",
        "/f/.hidden",
        "/f/data.bin/x",
    ] {
        let reply = send(dir.path(), get(path)).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(reply.body, "not found\n", "{path}");
    }
}

#[actix_web::test]
async fn a_file_name_followed_by_a_slash_or_a_dot_segment_is_404() {
    let dir = fixture();
    for path in [
        "/f/data.bin/",
        "/f/data.bin/.",
        "/f/data.bin/./",
        "/f/data.bin/%2e",
        "/f/data.bin%2f",
        "/f/data.bin%2f.",
        "/f/data.bin//",
        "/f/sub/../data.bin/",
    ] {
        let reply = send(dir.path(), get(path)).await;
        let expected = if path.contains("..") {
            (
                StatusCode::BAD_REQUEST,
                "bad request: the path contains `..`\n",
            )
        } else {
            (StatusCode::NOT_FOUND, "not found\n")
        };
        let body = String::from_utf8_lossy(&reply.body);
        assert_eq!((reply.status, &*body), expected, "{path}");
    }
    // The same file without the trailing slash or dot is served.
    let reply = send(dir.path(), get("/f/./data.bin")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, bytes(0, LEN - 1));
}

#[actix_web::test]
async fn traversal_is_400_and_names_the_problem() {
    let dir = fixture();
    let table = [
        ("/f/../data.bin", "contains `..`"),
        ("/f/%2e%2e%2fdata.bin", "contains `..`"),
        ("/f/sub/..%2F..%2Fetc%2Fpasswd", "contains `..`"),
        ("/f/..%5cdata.bin", "contains a backslash"),
        ("/f/data.bin%00.txt", "contains a NUL byte"),
        ("/f//etc/passwd", "is absolute"),
    ];
    for (path, reason) in table {
        let reply = send(dir.path(), get(path)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{path}");
        let text = String::from_utf8_lossy(&reply.body);
        assert_eq!(text, format!("bad request: the path {reason}\n"), "{path}");
    }
}

#[actix_web::test]
async fn an_empty_file_is_200_empty_and_its_ranges_416() {
    let dir = fixture();
    let reply = send(dir.path(), get("/f/empty.txt")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body.is_empty());
    assert_eq!(reply.length, BodySize::Sized(0));
    let reply = send(
        dir.path(),
        get("/f/empty.txt").insert_header((header::RANGE, "bytes=0-")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(reply.header(header::CONTENT_RANGE), Some("bytes */0"));
}

/// Polls a response body once: `Some` with its first chunk if that was ready
/// without waiting.
fn first_chunk_at_once(streamed: crate::Streamed, req: &HttpRequest) -> Option<Bytes> {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use actix_web::Responder as _;

    let mut body = streamed.respond_to(req).into_body();
    let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
    match Pin::new(&mut body).poll_next(&mut cx) {
        Poll::Ready(Some(chunk)) => Some(chunk.expect("no error")),
        Poll::Ready(None) => panic!("empty body"),
        Poll::Pending => None,
    }
}

#[actix_web::test]
async fn a_small_file_is_read_as_it_is_opened_so_its_body_is_ready_at_once() {
    let dir = fixture();
    let req = get("/f/data.bin").to_http_request();
    let streamed = serve_file(dir.path(), "data.bin", &req).await;
    assert_eq!(
        first_chunk_at_once(streamed, &req).expect("ready"),
        bytes(0, LEN - 1)
    );
}

#[actix_web::test]
async fn only_small_files_asked_for_whole_by_a_plain_get_are_read_as_they_are_opened() {
    let dir = fixture();
    let big = vec![7u8; super::SMALL_FILE as usize + 1];
    std::fs::write(dir.path().join("big.bin"), &big).expect("write");
    let read_whole = |path: &'static str, req: test::TestRequest| {
        let root = dir.path().to_path_buf();
        async move {
            let req = req.to_http_request();
            let opened = super::open::open(&root, path, &req).await.expect("opens");
            matches!(opened.source, super::Source::Memory(_))
        }
    };
    assert!(read_whole("data.bin", get("/f/data.bin")).await);
    assert!(!read_whole("big.bin", get("/f/big.bin")).await);
    assert!(!read_whole("data.bin", get("/f/data.bin").method(Method::HEAD)).await);
    for (name, value) in [
        (header::RANGE, "bytes=0-1"),
        (header::IF_NONE_MATCH, "\"x\""),
        (header::IF_MATCH, "\"x\""),
        (header::IF_MODIFIED_SINCE, "Sun, 06 Nov 1994 08:49:37 GMT"),
        (header::IF_UNMODIFIED_SINCE, "Sun, 06 Nov 1994 08:49:37 GMT"),
    ] {
        let req = get("/f/data.bin").insert_header((name.clone(), value));
        assert!(!read_whole("data.bin", req).await, "{name}");
    }
    assert_eq!(send(dir.path(), get("/f/big.bin")).await.body, big);
}
