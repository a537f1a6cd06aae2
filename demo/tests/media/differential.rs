//! `serve_file` against actix-files' `NamedFile` on the bundled video, over
//! a corpus of Range / If-* / HEAD requests: the same status, Content-Range,
//! length and bytes, except for the deliberate differences in [`Expect`].

use actix_web::body::{BodySize, MessageBody as _};
use actix_web::dev::Service as _;
use actix_web::http::header::{self, HeaderMap};
use actix_web::http::{Method, StatusCode};
use actix_web::{App, HttpRequest, test, web};
use bytes::Bytes;

use crate::media::file_len;
use crate::util::assets_dir;

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
