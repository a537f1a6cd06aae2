//! Compressed pages stay progressive: each section can be decoded the moment
//! it is due, for gzip and brotli; media and partial responses are never
//! compressed.

use std::time::Duration;

use crate::util::{Server, get_decoding, get_with};

/// A section is never early, and is late by at most this much.
const SLACK: Duration = Duration::from_millis(400);

/// When each section of a compressed `/bench` page became readable.
async fn decoded_arrivals(encoding: &str) -> Vec<Duration> {
    let server = Server::start();
    let needles: Vec<String> = (0..3).map(|i| format!("section {i} ready")).collect();
    let target = "/bench?delays=100,500,300&bytes=4096";
    let decoded = get_decoding(server.addr, target, encoding, &needles).await;
    assert!(decoded.text.ends_with("</html>"), "the whole page decodes");
    decoded
        .arrivals
        .into_iter()
        .map(|at| at.expect("every section decoded"))
        .collect()
}

fn assert_on_time(arrivals: &[Duration]) {
    for (arrived, due) in arrivals.iter().zip([100, 500, 300]) {
        let due = Duration::from_millis(due);
        assert!(
            *arrived >= due && *arrived < due + SLACK,
            "due at {due:?}, decoded at {arrived:?}"
        );
    }
}

#[tokio::test]
async fn gzip_pages_decode_each_section_when_it_is_due() {
    assert_on_time(&decoded_arrivals("gzip").await);
}

#[tokio::test]
async fn brotli_pages_decode_each_section_when_it_is_due() {
    assert_on_time(&decoded_arrivals("br").await);
}

#[tokio::test]
async fn media_and_partial_responses_are_never_compressed() {
    let server = Server::start();
    let gzip = "Accept-Encoding: gzip, br\r\n";
    for target in ["/stream-video", "/stream-image"] {
        let response = get_with(server.addr, target, gzip).await;
        assert_eq!(response.status, 200, "{target}");
        assert!(response.header("content-encoding").is_none(), "{target}");
    }
    let range = format!("{gzip}Range: bytes=0-99\r\n");
    let partial = get_with(server.addr, "/assets/sample.html", &range).await;
    assert_eq!(partial.status, 206);
    assert!(partial.header("content-encoding").is_none());
    assert_eq!(partial.text().len(), 100);
}

#[tokio::test]
async fn a_compressed_file_gets_a_weak_etag() {
    let server = Server::start();
    let plain = get_with(server.addr, "/assets/sample.html", "").await;
    let strong = plain.header("etag").unwrap().to_owned();
    assert!(!strong.starts_with("W/"));
    let gzipped = get_with(
        server.addr,
        "/assets/sample.html",
        "Accept-Encoding: gzip\r\n",
    )
    .await;
    assert_eq!(gzipped.header("content-encoding"), Some("gzip"));
    assert_eq!(gzipped.header("etag"), Some(format!("W/{strong}").as_str()));
}

#[tokio::test]
async fn a_buffered_page_is_compressed_whole_and_keeps_its_length() {
    use std::io::Read as _;
    let server = Server::start();
    for (encoding, header) in [
        ("gzip", "Accept-Encoding: gzip\r\n"),
        ("br", "Accept-Encoding: gzip, br\r\n"),
    ] {
        let response = get_with(
            server.addr,
            "/bench?delays=10,20&bytes=4096&mode=buffered",
            header,
        )
        .await;
        assert_eq!(response.header("content-encoding"), Some(encoding));
        assert!(
            response.header("transfer-encoding").is_none(),
            "{encoding}: not chunked"
        );
        let body = response.body();
        assert_eq!(
            response.header("content-length"),
            Some(body.len().to_string().as_str())
        );
        let mut text = String::new();
        match encoding {
            "gzip" => flate2::read::GzDecoder::new(&body[..]).read_to_string(&mut text),
            _ => brotli::Decompressor::new(&body[..], 4096).read_to_string(&mut text),
        }
        .unwrap();
        assert!(
            text.contains("section 1 ready") && text.ends_with("</html>"),
            "{encoding}"
        );
    }
    let identity = get_with(server.addr, "/bench?delays=10&mode=buffered", "").await;
    assert!(identity.header("content-encoding").is_none());
    assert_eq!(
        identity.header("content-length"),
        Some(identity.body().len().to_string().as_str())
    );
}
