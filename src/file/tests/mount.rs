//! [`Files`](crate::Files) mounted in an app: the files under its folder
//! with their validators, ranges and compression, traversal and missing
//! files refused, other methods `405`, and mounts at the root or with a
//! trailing slash.

use std::io::Read as _;
use std::path::Path;

use actix_web::body::BodySize;
use actix_web::dev::Service as _;
use actix_web::http::header;
use actix_web::http::{Method, StatusCode};
use actix_web::{App, test, web};

use super::{LEN, Reply, bytes, date, fixture, get, mtime};
use crate::Files;

/// Sends `req` to an app serving `root` with `Files` mounted at `mount`.
async fn mounted(mount: &str, root: &Path, req: test::TestRequest) -> Reply {
    let app = test::init_service(App::new().service(Files::new(mount, root))).await;
    Reply::of(app.call(req.to_request()).await.expect("service answers")).await
}

/// Sends `req` to an app serving `root` at `/assets`.
async fn assets(root: &Path, req: test::TestRequest) -> Reply {
    mounted("/assets", root, req).await
}

/// Every header of `reply`, sorted, to compare two responses' headers.
fn all_headers(reply: &Reply) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = reply
        .headers
        .iter()
        .map(|(name, value)| {
            let value = value.to_str().expect("ASCII header").to_owned();
            (name.as_str().to_owned(), value)
        })
        .collect();
    pairs.sort();
    pairs
}

/// `len` bytes of compressible CSS.
fn css(len: usize) -> Vec<u8> {
    let rule = b".row > a.item { color: #333; margin: 0 auto; padding: 4px 8px; }\n";
    rule.iter().copied().cycle().take(len).collect()
}

#[actix_web::test]
async fn a_get_under_the_mount_is_the_file_with_its_validators() {
    let dir = fixture();
    let reply = assets(dir.path(), get("/assets/data.bin")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, bytes(0, LEN - 1));
    assert_eq!(reply.length, BodySize::Sized(LEN as u64));
    assert_eq!(
        reply.header(header::CONTENT_TYPE),
        Some("application/octet-stream")
    );
    assert_eq!(reply.header(header::ACCEPT_RANGES), Some("bytes"));
    assert_eq!(
        reply.header(header::CACHE_CONTROL),
        Some(crate::file::CACHE_CONTROL)
    );
    assert_eq!(reply.header(header::LAST_MODIFIED), Some(&*date(mtime())));
    let etag = reply.header(header::ETAG).expect("etag");
    assert!(etag.starts_with('"') && !etag.starts_with("W/"), "{etag}");
}

#[actix_web::test]
async fn the_mount_serves_what_serve_file_serves_byte_for_byte_and_header_for_header() {
    let dir = fixture();
    let via_mount = assets(dir.path(), get("/assets/page.html")).await;
    let direct = super::send(dir.path(), get("/f/page.html")).await;
    assert_eq!(via_mount.status, direct.status);
    assert_eq!(via_mount.body, "<p>hi</p>");
    assert_eq!(via_mount.body, direct.body);
    assert_eq!(all_headers(&via_mount), all_headers(&direct));
}

#[actix_web::test]
async fn a_head_has_the_get_headers_and_no_body() {
    let dir = fixture();
    let get_reply = assets(dir.path(), get("/assets/data.bin")).await;
    let head = assets(dir.path(), get("/assets/data.bin").method(Method::HEAD)).await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    assert_eq!(head.length, BodySize::Sized(LEN as u64));
    assert_eq!(all_headers(&head), all_headers(&get_reply));
    assert_eq!(head.header(header::ETAG), get_reply.header(header::ETAG));
    assert!(head.header(header::ETAG).is_some());
}

#[actix_web::test]
async fn a_range_request_is_206_with_only_those_bytes() {
    let dir = fixture();
    let reply = assets(
        dir.path(),
        get("/assets/data.bin").insert_header((header::RANGE, "bytes=100-199")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(reply.body, bytes(100, 199));
    assert_eq!(reply.length, BodySize::Sized(100));
    assert_eq!(
        reply.header(header::CONTENT_RANGE),
        Some(&*format!("bytes 100-199/{LEN}"))
    );
}

#[actix_web::test]
async fn a_conditional_get_with_the_current_etag_is_304() {
    let dir = fixture();
    let first = assets(dir.path(), get("/assets/data.bin")).await;
    let etag = first.header(header::ETAG).expect("etag").to_owned();
    let again = assets(
        dir.path(),
        get("/assets/data.bin").insert_header((header::IF_NONE_MATCH, etag.as_str())),
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    assert_eq!(again.header(header::ETAG), Some(etag.as_str()));
}

#[actix_web::test]
async fn a_nested_path_is_the_file_in_that_subfolder() {
    let dir = fixture();
    std::fs::create_dir(dir.path().join("sub").join("deeper")).expect("mkdir");
    std::fs::write(dir.path().join("sub/deeper/note.txt"), "nested note").expect("write");
    let reply = assets(dir.path(), get("/assets/sub/deeper/note.txt")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "nested note");
    assert_eq!(
        reply.header(header::CONTENT_TYPE),
        Some("text/plain; charset=utf-8")
    );
}

#[actix_web::test]
async fn a_percent_encoded_name_is_decoded_once() {
    let dir = fixture();
    std::fs::write(dir.path().join("a b.txt"), "spaced").expect("write");
    let reply = assets(dir.path(), get("/assets/a%20b.txt")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "spaced");
}

#[actix_web::test]
async fn plain_and_encoded_traversal_is_400_naming_the_problem() {
    let dir = fixture();
    for (path, reason) in [
        ("/assets/../data.bin", "contains `..`"),
        ("/assets/sub/../../data.bin", "contains `..`"),
        ("/assets/%2e%2e%2fdata.bin", "contains `..`"),
        ("/assets/..%2F..%2Fetc%2Fpasswd", "contains `..`"),
        ("/assets/..%5cdata.bin", "contains a backslash"),
        ("/assets//etc/passwd", "is absolute"),
    ] {
        let reply = assets(dir.path(), get(path)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(
            String::from_utf8_lossy(&reply.body),
            format!("bad request: the path {reason}\n"),
            "{path}"
        );
    }
}

#[actix_web::test]
async fn a_missing_file_or_a_folder_is_404_not_found() {
    let dir = fixture();
    for path in [
        "/assets/nope.bin",
        "/assets/sub",
        "/assets/sub/",
        "/assets/",
    ] {
        let reply = assets(dir.path(), get(path)).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(reply.body, "not found\n", "{path}");
    }
}

#[actix_web::test]
async fn paths_outside_the_mount_are_left_to_the_app() {
    let dir = fixture();
    for path in ["/data.bin", "/assets", "/assetsdata.bin", "/other/data.bin"] {
        let reply = assets(dir.path(), get(path)).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert!(reply.body.is_empty(), "{path}: actix's own empty 404");
    }
}

#[actix_web::test]
async fn other_methods_are_405_with_allow_naming_the_method_and_path() {
    let dir = fixture();
    for method in [Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS] {
        let reply = assets(dir.path(), get("/assets/data.bin").method(method.clone())).await;
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(reply.header(header::ALLOW), Some("GET, HEAD"), "{method}");
        assert_eq!(
            reply.header(header::CONTENT_TYPE),
            Some("text/plain; charset=utf-8"),
            "{method}"
        );
        assert_eq!(
            String::from_utf8_lossy(&reply.body),
            format!("method {method} is not allowed on /assets/data.bin: use GET or HEAD\n")
        );
    }
}

#[actix_web::test]
async fn a_long_405_stays_plain_text_when_the_client_accepts_gzip() {
    let dir = fixture();
    let path = format!("/assets/{}.css", "long-name-".repeat(60));
    let reply = assets(
        dir.path(),
        get(&path)
            .method(Method::DELETE)
            .insert_header((header::ACCEPT_ENCODING, "gzip")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.header(header::CONTENT_ENCODING), None);
    assert_eq!(
        String::from_utf8_lossy(&reply.body),
        format!("method DELETE is not allowed on {path}: use GET or HEAD\n")
    );
}

#[actix_web::test]
async fn a_post_to_a_missing_file_is_still_405() {
    let dir = fixture();
    let reply = assets(dir.path(), get("/assets/nope.bin").method(Method::POST)).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.header(header::ALLOW), Some("GET, HEAD"));
}

#[actix_web::test]
async fn a_mount_at_the_root_serves_the_folder_at_the_root() {
    let dir = fixture();
    for mount in ["/", ""] {
        let reply = mounted(mount, dir.path(), get("/data.bin")).await;
        assert_eq!(reply.status, StatusCode::OK, "{mount:?}");
        assert_eq!(reply.body, bytes(0, LEN - 1), "{mount:?}");
        let reply = mounted(mount, dir.path(), get("/sub/missing.txt")).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{mount:?}");
        assert_eq!(reply.body, "not found\n", "{mount:?}");
        let reply = mounted(mount, dir.path(), get("/").method(Method::PUT)).await;
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{mount:?}");
    }
}

#[actix_web::test]
async fn a_trailing_slash_on_the_mount_is_ignored() {
    let dir = fixture();
    for mount in ["/assets/", "/assets//"] {
        let reply = mounted(mount, dir.path(), get("/assets/page.html")).await;
        assert_eq!(reply.status, StatusCode::OK, "{mount:?}");
        assert_eq!(reply.body, "<p>hi</p>", "{mount:?}");
    }
}

#[actix_web::test]
async fn a_mount_inside_a_scope_serves_under_the_scope() {
    let dir = fixture();
    let app = test::init_service(
        App::new().service(web::scope("/{tail}").service(Files::new("/files", dir.path()))),
    )
    .await;
    let req = get("/v1/files/page.html").to_request();
    let reply = Reply::of(app.call(req).await.expect("service answers")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "<p>hi</p>");
}

#[actix_web::test]
async fn a_compressible_file_is_sent_gzipped_when_the_client_accepts_gzip() {
    let dir = fixture();
    let original = css(4000);
    std::fs::write(dir.path().join("site.css"), &original).expect("write");
    let reply = assets(
        dir.path(),
        get("/assets/site.css").insert_header((header::ACCEPT_ENCODING, "gzip")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header(header::CONTENT_ENCODING), Some("gzip"));
    assert_eq!(reply.header(header::VARY), Some("accept-encoding"));
    assert_eq!(
        reply.header(header::CONTENT_TYPE),
        Some("text/css; charset=utf-8")
    );
    assert!(
        reply.body.len() < original.len() / 4,
        "{}",
        reply.body.len()
    );
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(&reply.body[..])
        .read_to_end(&mut decoded)
        .expect("gzip decodes");
    assert_eq!(decoded, original);
}

#[actix_web::test]
async fn a_precompressed_sibling_is_sent_for_the_coding_it_is_in() {
    let dir = fixture();
    std::fs::write(dir.path().join("app.js"), css(1000)).expect("write");
    // Not a valid brotli stream: a body equal to it can only be the sibling.
    std::fs::write(dir.path().join("app.js.br"), b"sibling bytes").expect("write");
    let reply = assets(
        dir.path(),
        get("/assets/app.js").insert_header((header::ACCEPT_ENCODING, "br")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header(header::CONTENT_ENCODING), Some("br"));
    assert_eq!(reply.body, "sibling bytes");
}

#[actix_web::test]
async fn without_accept_encoding_a_compressible_file_is_sent_as_it_is() {
    let dir = fixture();
    let original = css(4000);
    std::fs::write(dir.path().join("site.css"), &original).expect("write");
    let reply = assets(dir.path(), get("/assets/site.css")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header(header::CONTENT_ENCODING), None);
    assert_eq!(reply.header(header::VARY), Some("accept-encoding"));
    assert_eq!(reply.body, original);
}
