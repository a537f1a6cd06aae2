//! `pagepipe::Compress` over plain actix handlers and pagepipe's own
//! responses: complete bodies compressed whole with their length, streams
//! piece by piece as they arrive, one `Vary`, representation-specific
//! `ETag`s with `304` per representation, and what must pass untouched.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a failed unwrap is a failed test"
)]

use std::pin::Pin;
use std::task::Poll;

use actix_web::body::MessageBody;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::test::{TestRequest, call_service, init_service};
use actix_web::{App, HttpRequest, HttpResponse, web};
use bytes::Bytes;
use tokio::sync::mpsc;

#[path = "support/decode.rs"]
mod support;
use support::decode;

const CHROMIUM: &str = "gzip, deflate, br, zstd";

fn text(len: usize) -> String {
    "pagepipe compresses every route ".repeat(len / 32 + 1)[..len].to_owned()
}

/// A handler that answers a large text with a strong `ETag`, or `304` when
/// `If-None-Match` names it, as a handler of static content would.
async fn tagged(req: HttpRequest) -> HttpResponse {
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == "\"v1\""));
    if matches {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, "\"v1\""))
            .finish();
    }
    HttpResponse::Ok()
        .insert_header((header::ETAG, "\"v1\""))
        .content_type("text/plain; charset=utf-8")
        .body(text(4000))
}

fn vary(headers: &header::HeaderMap) -> Vec<String> {
    headers
        .get_all(header::VARY)
        .map(|value| value.to_str().unwrap().to_owned())
        .collect()
}

macro_rules! app {
    () => {
        init_service(
            App::new()
                .wrap(pagepipe::Compress::default())
                .route("/tagged", web::get().to(tagged))
                .route(
                    "/json",
                    web::get().to(|| async { HttpResponse::Ok().json(text(2000)) }),
                )
                .route(
                    "/small",
                    web::get().to(|| async { HttpResponse::Ok().json("ok") }),
                )
                .route(
                    "/image",
                    web::get().to(|| async {
                        HttpResponse::Ok().content_type("image/png").body(vec![7u8; 4000])
                    }),
                )
                .route(
                    "/partial",
                    web::get().to(|| async {
                        HttpResponse::PartialContent()
                            .content_type("text/plain")
                            .insert_header((header::CONTENT_RANGE, "bytes 0-3999/8000"))
                            .body(text(4000))
                    }),
                )
                .route(
                    "/page",
                    web::get().to(|| async {
                        pagepipe::Streamed::text(StatusCode::OK, text(4000))
                    }),
                ),
        )
        .await
    };
}

#[actix_web::test]
async fn a_complete_body_is_compressed_whole_with_its_length_and_one_vary() {
    let app = app!();
    for path in ["/tagged", "/json"] {
        let req = TestRequest::get()
            .uri(path)
            .insert_header((header::ACCEPT_ENCODING, CHROMIUM))
            .to_request();
        let res = call_service(&app, req).await;
        assert_eq!(res.status(), StatusCode::OK);
        let coding = res
            .headers()
            .get(header::CONTENT_ENCODING)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(coding, "zstd", "{path}");
        assert_eq!(vary(res.headers()), ["accept-encoding"], "{path}");
        let body = res.into_body();
        assert!(
            matches!(body.size(), actix_web::body::BodySize::Sized(_)),
            "{path}: a length"
        );
        let bytes = actix_web::body::to_bytes(body).await.unwrap();
        let plain = String::from_utf8(decode(Some(&coding), &bytes)).unwrap();
        assert!(plain.contains("pagepipe compresses every route"), "{path}");
        assert!(bytes.len() < plain.len() / 4, "{path}: compressed");
    }
}

#[actix_web::test]
async fn a_strong_etag_is_specific_to_the_coding_and_304_works_per_representation() {
    let app = app!();
    let get = |tag: Option<&'static str>, encoding: &'static str| {
        let mut req = TestRequest::get()
            .uri("/tagged")
            .insert_header((header::ACCEPT_ENCODING, encoding));
        if let Some(tag) = tag {
            req = req.insert_header((header::IF_NONE_MATCH, tag));
        }
        req.to_request()
    };
    let res = call_service(&app, get(None, CHROMIUM)).await;
    assert_eq!(res.headers().get(header::ETAG).unwrap(), "\"v1-zstd\"");
    let res = call_service(&app, get(Some("\"v1-zstd\""), CHROMIUM)).await;
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(res.headers().get(header::ETAG).unwrap(), "\"v1-zstd\"");
    assert_eq!(vary(res.headers()), ["accept-encoding"]);
    // The gzip copy's tag does not revalidate the zstd one, nor the
    // reverse; identity keeps the handler's own tag.
    let res = call_service(&app, get(Some("\"v1-gzip\""), CHROMIUM)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = call_service(&app, get(Some("\"v1-gzip\""), "gzip")).await;
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    let res = call_service(&app, get(None, "identity")).await;
    assert_eq!(res.headers().get(header::ETAG).unwrap(), "\"v1\"");
    assert!(res.headers().get(header::CONTENT_ENCODING).is_none());
}

#[actix_web::test]
async fn a_stream_is_compressed_piece_by_piece_as_it_arrives() {
    let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
    let rx = std::sync::Arc::new(std::sync::Mutex::new(Some(rx)));
    let app = init_service(App::new().wrap(pagepipe::Compress::default()).route(
        "/feed",
        web::get().to(move || {
            let rx = rx.lock().unwrap().take().expect("one request");
            async move {
                let chunks = futures_util::stream::unfold(rx, |mut rx| async move {
                    rx.recv()
                        .await
                        .map(|chunk| (Ok::<_, std::io::Error>(chunk), rx))
                });
                HttpResponse::Ok()
                    .content_type("text/html")
                    .streaming(chunks)
            }
        }),
    ))
    .await;
    let req = TestRequest::get()
        .uri("/feed")
        .insert_header((header::ACCEPT_ENCODING, "gzip"))
        .to_request();
    let res = call_service(&app, req).await;
    assert_eq!(res.headers().get(header::CONTENT_ENCODING).unwrap(), "gzip");
    assert_eq!(vary(res.headers()), ["accept-encoding"]);
    let mut body = res.into_body();
    let mut wire = Vec::new();
    for piece in ["<p>first</p>", "<p>second</p>"] {
        tx.send(Bytes::from(piece)).unwrap();
        let next = std::future::poll_fn(|cx| Pin::new(&mut body).poll_next(cx)).await;
        wire.extend_from_slice(&next.unwrap().unwrap());
        // What arrived so far decodes to every piece sent so far.
        let mut decoder = flate2::write::GzDecoder::new(Vec::new());
        std::io::Write::write_all(&mut decoder, &wire).unwrap();
        std::io::Write::flush(&mut decoder).unwrap();
        let sent = String::from_utf8(decoder.get_ref().clone()).unwrap();
        assert!(sent.ends_with(piece), "{sent}");
        let waiting = std::future::poll_fn(|cx| {
            Poll::Ready(matches!(Pin::new(&mut body).poll_next(cx), Poll::Pending))
        })
        .await;
        assert!(waiting, "the body waits for the next piece");
    }
}

#[actix_web::test]
async fn what_must_keep_its_bytes_passes_untouched() {
    let app = app!();
    for path in ["/small", "/image", "/partial", "/page"] {
        let req = TestRequest::get()
            .uri(path)
            .insert_header((header::ACCEPT_ENCODING, CHROMIUM))
            .to_request();
        let res = call_service(&app, req).await;
        let coding = res.headers().get(header::CONTENT_ENCODING).cloned();
        match path {
            // Small: varies, but not worth compressing.
            "/small" => {
                assert!(coding.is_none(), "{path}");
                assert_eq!(vary(res.headers()), ["accept-encoding"], "{path}");
            }
            "/image" | "/partial" => {
                assert!(coding.is_none(), "{path}");
                assert!(vary(res.headers()).is_empty(), "{path}");
            }
            // pagepipe's own response decided its coding: one Vary, not two.
            _ => {
                assert_eq!(coding, Some(HeaderValue::from_static("zstd")), "{path}");
                assert_eq!(vary(res.headers()), ["accept-encoding"], "{path}");
            }
        }
    }
}

#[actix_web::test]
async fn a_request_that_refuses_every_coding_gets_406() {
    let app = app!();
    let req = TestRequest::get()
        .uri("/json")
        .insert_header((header::ACCEPT_ENCODING, "identity;q=0, *;q=0"))
        .to_request();
    let res = call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::NOT_ACCEPTABLE);
}

#[actix_web::test]
async fn a_named_file_is_compressed_with_its_etag_made_specific_and_304_per_representation() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.js"), text(6000)).unwrap();
    let root = dir.path().to_owned();
    let app = init_service(App::new().wrap(pagepipe::Compress::default()).route(
        "/app.js",
        web::get().to(move || {
            let path = root.join("app.js");
            async move { actix_files::NamedFile::open(path) }
        }),
    ))
    .await;
    let get = |tag: Option<String>| {
        let mut req = TestRequest::get()
            .uri("/app.js")
            .insert_header((header::ACCEPT_ENCODING, "gzip"));
        if let Some(tag) = tag {
            req = req.insert_header((header::IF_NONE_MATCH, tag));
        }
        req.to_request()
    };
    let res = call_service(&app, get(None)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers().get(header::CONTENT_ENCODING).unwrap(), "gzip");
    assert_eq!(vary(res.headers()), ["accept-encoding"]);
    assert!(
        matches!(
            res.response().body().size(),
            actix_web::body::BodySize::Sized(_)
        ),
        "a small file keeps a length"
    );
    let tag = res
        .headers()
        .get(header::ETAG)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(tag.ends_with("-gzip\""), "{tag}");
    let body = actix_web::body::to_bytes(res.into_body()).await.unwrap();
    assert_eq!(decode(Some("gzip"), &body), text(6000).as_bytes());
    let res = call_service(&app, get(Some(tag.clone()))).await;
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(
        res.headers().get(header::ETAG).unwrap().to_str().unwrap(),
        tag
    );
}

/// An existing app's own middleware around `Compress`: a page still
/// streams section by section in pagepipe's coding with one `Vary`, and the
/// app's JSON route is compressed.
#[actix_web::test]
async fn under_an_apps_own_middleware_a_page_streams_and_json_is_compressed() {
    use askama::Template;

    #[derive(Template)]
    #[template(
        source = "<html><body><h1>orders</h1>{{ list }}</body></html>",
        ext = "html"
    )]
    struct Shell {
        list: pagepipe::Slot,
    }

    #[derive(Template)]
    #[template(source = "{{ text }}", ext = "html")]
    struct Text {
        text: String,
    }

    let (tx, rx) = tokio::sync::oneshot::channel::<String>();
    let rx = std::sync::Arc::new(std::sync::Mutex::new(Some(rx)));
    let app = init_service(
        App::new()
            .wrap(actix_web::middleware::Logger::default())
            .wrap(pagepipe::Compress::default())
            .wrap(actix_web::middleware::DefaultHeaders::new().add(("x-app", "1")))
            .route(
                "/json",
                web::get().to(|| async { HttpResponse::Ok().json(text(2000)) }),
            )
            .route(
                "/orders",
                web::get().to(move || {
                    let rx = rx.lock().unwrap().take().expect("one request");
                    async move {
                        let list = pagepipe::slot("list");
                        let loading = Text {
                            text: "loading".into(),
                        };
                        let section = list
                            .section(loading, async move { rx.await.map(|text| Text { text }) });
                        pagepipe::Page::new(Shell { list }).section(section)
                    }
                }),
            ),
    )
    .await;
    let req = TestRequest::get()
        .uri("/orders")
        .insert_header((header::ACCEPT_ENCODING, CHROMIUM))
        .to_request();
    let res = call_service(&app, req).await;
    assert_eq!(res.headers().get(header::CONTENT_ENCODING).unwrap(), "zstd");
    assert_eq!(vary(res.headers()), ["accept-encoding"]);
    assert_eq!(res.headers().get("x-app").unwrap(), "1");
    let mut body = res.into_body();
    let shell = std::future::poll_fn(|cx| Pin::new(&mut body).poll_next(cx))
        .await
        .unwrap()
        .unwrap();
    let shell = String::from_utf8(decode(Some("zstd"), &shell)).unwrap();
    assert!(
        shell.contains("<h1>orders</h1>") && shell.contains("loading"),
        "{shell}"
    );
    let waiting = std::future::poll_fn(|cx| {
        Poll::Ready(matches!(Pin::new(&mut body).poll_next(cx), Poll::Pending))
    })
    .await;
    assert!(waiting, "the page waits for its section");
    tx.send("three orders".into()).unwrap();
    let rest = actix_web::body::to_bytes(body).await.unwrap();
    let rest = String::from_utf8(decode(Some("zstd"), &rest)).unwrap();
    assert!(rest.contains("three orders"), "{rest}");

    let req = TestRequest::get()
        .uri("/json")
        .insert_header((header::ACCEPT_ENCODING, CHROMIUM))
        .to_request();
    let res = call_service(&app, req).await;
    assert_eq!(res.headers().get(header::CONTENT_ENCODING).unwrap(), "zstd");
    assert_eq!(vary(res.headers()), ["accept-encoding"]);
}
