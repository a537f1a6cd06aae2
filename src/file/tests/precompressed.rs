//! Compressed representations of files: precompressed siblings and copies
//! compressed once and cached, each with its own strong ETag, `Vary`,
//! ranges and `304`s; binary and small files sent as they are; nothing
//! compressed when the application turns compression off.

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use actix_web::body::BodySize;
use actix_web::dev::Service as _;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{App, test, web};
use bytes::Bytes;

use super::{LEN, Reply, bytes, files, fixture, get, send};

#[path = "../../../tests/support/decode.rs"]
mod support;
use crate::encoding::{Coding, Compression, cache};

const CODINGS: [&str; 3] = ["br", "zstd", "gzip"];

/// `len` bytes of compressible HTML: one list item, repeated.
fn html(len: usize) -> Vec<u8> {
    let line = b"<li class=\"row\"><a href=\"/items/42\">pagepipe streams html</a></li>\n";
    line.iter().copied().cycle().take(len).collect()
}

/// `len` bytes of other compressible HTML, for a rewritten file.
fn other_html(len: usize) -> Vec<u8> {
    let line = b"<tr><td class=\"cell\">rewritten table row</td><td>7</td></tr>\n";
    line.iter().copied().cycle().take(len).collect()
}

fn write(dir: &Path, name: &str, content: &[u8]) {
    std::fs::write(dir.join(name), content).expect("write fixture");
}

/// A GET of `path` accepting `accept` as its content codings.
fn accepting(path: &str, accept: &str) -> test::TestRequest {
    get(path).insert_header((header::ACCEPT_ENCODING, accept))
}

/// `body` decoded from `coding` by each coding's ordinary reader.
/// `body` decoded from `coding`.
fn decode(coding: &str, body: &[u8]) -> Vec<u8> {
    support::decode(Some(coding), body)
}

fn brotli_fast(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut writer = brotli::CompressorWriter::new(&mut out, 4096, 1, 22);
        writer.write_all(input).expect("brotli");
    }
    out
}

fn gzip_fast(input: &[u8]) -> Vec<u8> {
    let mut writer = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    writer.write_all(input).expect("gzip");
    writer.finish().expect("gzip")
}

/// The ETag of the representation in `coding` of the file whose identity
/// ETag is `identity`: `"<tag>-<coding>"`.
fn encoded_etag(identity: &str, coding: &str) -> String {
    let tag = identity
        .strip_prefix('"')
        .and_then(|tag| tag.strip_suffix('"'))
        .expect("a strong ETag");
    format!("\"{tag}-{coding}\"")
}

fn assert_strong(etag: &str) {
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && !etag.starts_with("W/"),
        "{etag}"
    );
}

#[actix_web::test]
async fn a_precompressed_sibling_is_sent_byte_for_byte_with_its_own_strong_etag() {
    let dir = fixture();
    let original = html(4000);
    write(dir.path(), "site.css", &original);
    let br = brotli_fast(&original);
    let gz = gzip_fast(&original);
    // Not what the cache would make, so a body equal to them came from the
    // sibling.
    assert_ne!(br, cache::compress_high(&original, Coding::Brotli).unwrap());
    assert_ne!(gz, cache::compress_high(&original, Coding::Gzip).unwrap());
    write(dir.path(), "site.css.br", &br);
    write(dir.path(), "site.css.gz", &gz);

    let plain = send(dir.path(), get("/f/site.css")).await;
    assert_eq!(plain.status, StatusCode::OK);
    assert_eq!(plain.body, original);
    assert_eq!(plain.length, BodySize::Sized(original.len() as u64));
    assert_eq!(plain.header(header::CONTENT_ENCODING), None);
    assert_eq!(plain.header(header::VARY), Some("accept-encoding"));
    let identity = plain.header(header::ETAG).expect("etag").to_owned();
    assert_strong(&identity);

    let mut etags = vec![identity.clone()];
    for (coding, sibling) in [("br", &br), ("gzip", &gz)] {
        let reply = send(dir.path(), accepting("/f/site.css", coding)).await;
        assert_eq!(reply.status, StatusCode::OK, "{coding}");
        assert_eq!(reply.body, sibling.as_slice(), "{coding}");
        assert_eq!(decode(coding, &reply.body), original, "{coding}");
        assert_eq!(reply.header(header::CONTENT_ENCODING), Some(coding));
        assert_eq!(reply.length, BodySize::Sized(sibling.len() as u64));
        assert_eq!(reply.header(header::VARY), Some("accept-encoding"));
        assert_eq!(
            reply.header(header::CONTENT_TYPE),
            Some("text/css; charset=utf-8"),
            "the original's type, not the sibling's"
        );
        let etag = reply.header(header::ETAG).expect("etag").to_owned();
        assert_strong(&etag);
        assert!(etag.ends_with(&format!("-{coding}\"")), "{etag}");
        assert!(!etags.contains(&etag), "{etag} is another's: {etags:?}");
        etags.push(etag);
    }
}

#[actix_web::test]
async fn a_compressible_file_without_a_sibling_is_compressed_once_and_sent_the_same_again() {
    let dir = fixture();
    let original = html(6000);
    write(dir.path(), "list.html", &original);
    let identity = send(dir.path(), get("/f/list.html")).await;
    assert_eq!(identity.body, original);
    let identity_etag = identity.header(header::ETAG).expect("etag").to_owned();

    for coding in CODINGS {
        let first = send(dir.path(), accepting("/f/list.html", coding)).await;
        assert_eq!(first.status, StatusCode::OK, "{coding}");
        assert_eq!(first.header(header::CONTENT_ENCODING), Some(coding));
        assert_eq!(first.header(header::VARY), Some("accept-encoding"));
        assert_eq!(
            first.header(header::CONTENT_TYPE),
            Some("text/html; charset=utf-8")
        );
        assert!(first.body.len() < original.len() / 4, "{coding}");
        assert_eq!(first.length, BodySize::Sized(first.body.len() as u64));
        assert_eq!(decode(coding, &first.body), original, "{coding}");
        let etag = first.header(header::ETAG).expect("etag");
        assert_eq!(etag, encoded_etag(&identity_etag, coding));

        let again = send(dir.path(), accepting("/f/list.html", coding)).await;
        assert_eq!(again.body, first.body, "{coding}");
        assert_eq!(again.header(header::ETAG), Some(etag), "{coding}");
    }
}

#[actix_web::test]
async fn a_rewritten_file_is_compressed_anew_from_its_new_contents() {
    let dir = fixture();
    write(dir.path(), "list.html", &html(6000));
    let mut before = Vec::new();
    for coding in CODINGS {
        let reply = send(dir.path(), accepting("/f/list.html", coding)).await;
        assert_eq!(decode(coding, &reply.body), html(6000), "{coding}");
        before.push(reply.header(header::ETAG).expect("etag").to_owned());
    }

    // New contents, another length.
    let rewritten = other_html(4321);
    write(dir.path(), "list.html", &rewritten);
    for (coding, old_etag) in CODINGS.into_iter().zip(&before) {
        let reply = send(dir.path(), accepting("/f/list.html", coding)).await;
        assert_eq!(reply.header(header::CONTENT_ENCODING), Some(coding));
        assert_eq!(decode(coding, &reply.body), rewritten, "{coding}");
        assert_ne!(reply.header(header::ETAG), Some(old_etag.as_str()));
    }

    // New contents of the same length, with another mtime.
    let same_length = html(4321);
    let path = dir.path().join("list.html");
    std::fs::write(&path, &same_length).expect("rewrite");
    std::fs::File::options()
        .write(true)
        .open(&path)
        .expect("open")
        .set_modified(super::mtime())
        .expect("set mtime");
    for coding in CODINGS {
        let reply = send(dir.path(), accepting("/f/list.html", coding)).await;
        assert_eq!(decode(coding, &reply.body), same_length, "{coding}");
    }
}

#[actix_web::test]
async fn conditional_and_range_requests_apply_to_the_compressed_representation() {
    let dir = fixture();
    let original = html(6000);
    write(dir.path(), "list.html", &original);
    let full = send(dir.path(), accepting("/f/list.html", "br")).await;
    assert_eq!(full.header(header::CONTENT_ENCODING), Some("br"));
    let etag = full.header(header::ETAG).expect("etag").to_owned();
    let compressed_len = full.body.len();

    // 304 on the compressed representation's own ETag.
    let reply = send(
        dir.path(),
        accepting("/f/list.html", "br").insert_header((header::IF_NONE_MATCH, etag.as_str())),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_MODIFIED);
    assert!(reply.body.is_empty());
    assert_eq!(reply.header(header::ETAG), Some(etag.as_str()));
    assert_eq!(reply.header(header::VARY), Some("accept-encoding"));

    // The identity representation is another one: that tag does not match it.
    let reply = send(
        dir.path(),
        get("/f/list.html").insert_header((header::IF_NONE_MATCH, etag.as_str())),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, original);
    assert_ne!(reply.header(header::ETAG), Some(etag.as_str()));

    // Ranges count bytes of the compressed representation.
    for (range, from, to) in [
        ("bytes=0-9", 0, 9),
        ("bytes=-5", compressed_len - 5, compressed_len - 1),
        ("bytes=10-", 10, compressed_len - 1),
    ] {
        let reply = send(
            dir.path(),
            accepting("/f/list.html", "br").insert_header((header::RANGE, range)),
        )
        .await;
        assert_eq!(reply.status, StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(reply.header(header::CONTENT_ENCODING), Some("br"));
        assert_eq!(
            reply.header(header::CONTENT_RANGE),
            Some(&*format!("bytes {from}-{to}/{compressed_len}")),
            "{range}"
        );
        assert_eq!(reply.body, full.body[from..=to], "{range}");
        assert_eq!(reply.length, BodySize::Sized((to - from + 1) as u64));
        assert_eq!(reply.header(header::ETAG), Some(etag.as_str()));
        assert_eq!(reply.header(header::VARY), Some("accept-encoding"));
    }

    // If-Range: the compressed tag allows the range; another gets it all.
    let ranged = |if_range: &str| {
        accepting("/f/list.html", "br")
            .insert_header((header::RANGE, "bytes=0-9"))
            .insert_header((header::IF_RANGE, if_range.to_owned()))
    };
    let reply = send(dir.path(), ranged(&etag)).await;
    assert_eq!(reply.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(reply.body, full.body[..10]);
    let identity_etag = send(dir.path(), get("/f/list.html"))
        .await
        .header(header::ETAG)
        .expect("etag")
        .to_owned();
    let reply = send(dir.path(), ranged(&identity_etag)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, full.body);
}

#[actix_web::test]
async fn refusing_identity_is_406_for_a_compressible_file_but_binary_files_are_sent_as_they_are() {
    let dir = fixture();
    write(dir.path(), "list.html", &html(6000));
    // Too small to compress: refused all the same.
    write(dir.path(), "tiny.html", &html(100));
    for (path, refusal) in [
        ("/f/list.html", "identity;q=0"),
        ("/f/list.html", "*;q=0"),
        ("/f/list.html", "identity;q=0, deflate"),
        ("/f/tiny.html", "identity;q=0"),
    ] {
        let reply = send(dir.path(), accepting(path, refusal)).await;
        assert_eq!(reply.status, StatusCode::NOT_ACCEPTABLE, "{refusal}");
        assert_eq!(
            reply.header(header::CONTENT_TYPE),
            Some("text/plain; charset=utf-8")
        );
        let text = String::from_utf8_lossy(&reply.body);
        assert!(text.contains("Accept-Encoding"), "{text}");
        assert_eq!(reply.header(header::CONTENT_ENCODING), None);
        assert_eq!(reply.header(header::VARY), Some("accept-encoding"));
    }

    // Binary files are never compressed, so even a sibling is ignored.
    write(dir.path(), "data.bin.gz", &gzip_fast(&bytes(0, LEN - 1)));
    for accept in ["identity;q=0", "br, gzip, zstd", "gzip", "*"] {
        let reply = send(dir.path(), accepting("/f/data.bin", accept)).await;
        assert_eq!(reply.status, StatusCode::OK, "{accept}");
        assert_eq!(reply.body, bytes(0, LEN - 1), "{accept}");
        assert_eq!(reply.length, BodySize::Sized(LEN as u64), "{accept}");
        assert_eq!(reply.header(header::CONTENT_ENCODING), None, "{accept}");
        assert_eq!(reply.header(header::VARY), None, "{accept}");
    }
}

#[actix_web::test]
async fn files_under_256_bytes_are_sent_as_they_are_but_still_vary_on_accept_encoding() {
    let dir = fixture();
    let small = html(cache::MIN_COMPRESSIBLE as usize - 1);
    write(dir.path(), "small.html", &small);
    write(
        dir.path(),
        "edge.html",
        &html(cache::MIN_COMPRESSIBLE as usize),
    );
    for (path, content) in [
        ("/f/page.html", b"<p>hi</p>".as_slice()),
        ("/f/small.html", small.as_slice()),
    ] {
        let reply = send(dir.path(), accepting(path, "br, gzip, zstd")).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert_eq!(reply.body, content, "{path}");
        assert_eq!(reply.header(header::CONTENT_ENCODING), None, "{path}");
        assert_eq!(
            reply.header(header::VARY),
            Some("accept-encoding"),
            "{path}"
        );
    }
    // At the threshold a file is compressed.
    let reply = send(dir.path(), accepting("/f/edge.html", "br")).await;
    assert_eq!(reply.header(header::CONTENT_ENCODING), Some("br"));
    assert_eq!(
        decode("br", &reply.body),
        html(cache::MIN_COMPRESSIBLE as usize)
    );
}

#[actix_web::test]
async fn a_sibling_that_is_not_a_plain_file_is_passed_over_without_waiting() {
    let dir = fixture();
    let original = html(6000);
    write(dir.path(), "list.html", &original);
    // Opening a FIFO for reading waits for a writer, unless it is opened
    // without blocking (then found not to be a plain file).
    let fifo = dir.path().join("list.html.br");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    std::fs::create_dir(dir.path().join("list.html.gz")).expect("mkdir");

    let request = send(dir.path(), accepting("/f/list.html", "br"));
    let Ok(reply) = tokio::time::timeout(Duration::from_secs(5), request).await else {
        // Frees the blocking thread stuck opening the FIFO, so the runtime
        // can shut down, then fails. On Linux opening a FIFO for reading and
        // writing never blocks, and wakes a reader waiting for a writer.
        drop(
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&fifo),
        );
        panic!("the request waited on opening a FIFO sibling");
    };
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header(header::CONTENT_ENCODING), Some("br"));
    assert_eq!(
        decode("br", &reply.body),
        original,
        "compressed from the file"
    );

    let reply = send(dir.path(), accepting("/f/list.html", "gzip")).await;
    assert_eq!(reply.header(header::CONTENT_ENCODING), Some("gzip"));
    assert_eq!(
        decode("gzip", &reply.body),
        original,
        "compressed from the file"
    );
}

async fn page() -> crate::Streamed {
    let body = Bytes::from(html(3000));
    crate::Streamed::html(futures_util::stream::once(async move {
        Ok::<_, io::Error>(body)
    }))
}

/// Sends `req` to an app serving `root` at `/f/` and a page at `/page`,
/// with `compression` registered if there is one.
async fn send_to_app(
    root: &Path,
    compression: Option<Compression>,
    req: test::TestRequest,
) -> Reply {
    let mut app = App::new()
        .app_data(web::Data::new(PathBuf::from(root)))
        .route("/f/{path:.*}", web::route().to(files))
        .route("/page", web::get().to(page));
    if let Some(compression) = compression {
        app = app.app_data(compression);
    }
    let app = test::init_service(app).await;
    Reply::of(app.call(req.to_request()).await.expect("service answers")).await
}

#[actix_web::test]
async fn with_compression_off_files_and_pages_go_out_as_they_are() {
    let dir = fixture();
    let original = html(6000);
    write(dir.path(), "list.html", &original);
    write(dir.path(), "list.html.br", &brotli_fast(&original));
    let accept = "br, gzip, zstd";

    // On by default: both are compressed.
    let on = send_to_app(dir.path(), None, accepting("/f/list.html", accept)).await;
    assert_eq!(on.header(header::CONTENT_ENCODING), Some("br"));
    let on = send_to_app(dir.path(), None, accepting("/page", accept)).await;
    assert_eq!(on.header(header::CONTENT_ENCODING), Some("zstd"));

    let off = Some(Compression::off());
    let file = send_to_app(dir.path(), off.clone(), accepting("/f/list.html", accept)).await;
    assert_eq!(file.status, StatusCode::OK);
    assert_eq!(file.body, original);
    assert_eq!(file.length, BodySize::Sized(original.len() as u64));
    assert_eq!(file.header(header::CONTENT_ENCODING), None);
    assert_eq!(file.header(header::VARY), None);
    let identity_etag = send(dir.path(), get("/f/list.html"))
        .await
        .header(header::ETAG)
        .expect("etag")
        .to_owned();
    assert_eq!(file.header(header::ETAG), Some(identity_etag.as_str()));

    // Refusing identity cannot be honoured either way: the file is sent.
    let file = send_to_app(
        dir.path(),
        off.clone(),
        accepting("/f/list.html", "identity;q=0"),
    )
    .await;
    assert_eq!(file.status, StatusCode::OK);
    assert_eq!(file.body, original);

    let page = send_to_app(dir.path(), off, accepting("/page", accept)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.header(header::CONTENT_ENCODING), None);
    assert_eq!(page.header(header::VARY), None);
    assert_eq!(
        page.header(header::CONTENT_TYPE),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(page.body, html(3000));
}
