//! Compression owned by pagepipe, against the real binary: pages stay
//! progressive in every coding (each section decodes the moment it is due),
//! negotiation honours q-values, files go out as cached compressed
//! representations with their own length and ETag, and media and HTTP/1.0
//! clients get what they can take.

use std::time::Duration;

use crate::util::{Client, Server, decode, get_decoding, get_with};

/// A section is never early, and is late by at most this much.
const SLACK: Duration = Duration::from_millis(400);

const CHROMIUM: &str = "Accept-Encoding: gzip, deflate, br, zstd\r\n";

/// When each section of a compressed `/bench` page became readable.
async fn decoded_arrivals(encoding: &str) -> Vec<Duration> {
    let server = Server::start();
    let needles: Vec<String> = (0..3).map(|i| format!("section {i} ready")).collect();
    let target = "/bench?delays=100,500,300&bytes=4096";
    let decoded = get_decoding(server.addr, target, encoding, &needles).await;
    assert!(decoded.text.ends_with("</html>"), "the whole page decodes");
    assert_eq!(
        decoded.head.header("vary"),
        Some("accept-encoding"),
        "{encoding}"
    );
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
async fn zstd_pages_decode_each_section_when_it_is_due() {
    assert_on_time(&decoded_arrivals("zstd").await);
}

#[tokio::test]
async fn every_coding_decodes_to_exactly_the_identity_page() {
    let server = Server::start();
    // Targets whose bytes do not depend on when sections resolve: all ready
    // at once (one chunk), or in document order (several chunks, one past
    // 64 KiB compressed off the worker).
    for target in [
        "/bench?delays=0,0,0&bytes=3000",
        "/bench?delays=5,0,20&bytes=70000&mode=in-order",
        "/stream-html?mode=in-order",
        "/stream-data?n=5&delay_ms=0",
    ] {
        let identity = get_with(server.addr, target, "").await;
        assert_eq!(identity.header("content-encoding"), None);
        let plain = identity.body();
        for encoding in ["gzip", "br", "zstd"] {
            let header = format!("Accept-Encoding: {encoding}\r\n");
            let response = get_with(server.addr, target, &header).await;
            assert_eq!(
                response.header("content-encoding"),
                Some(encoding),
                "{target}"
            );
            let decoded = decode(Some(encoding), &response.body());
            // Nonces and the feed's clock differ per response; nothing else does.
            assert_eq!(
                without_per_response_values(&decoded),
                without_per_response_values(&plain),
                "{target} {encoding}"
            );
        }
    }
}

/// `body` with every nonce attribute's value blanked, and a feed's records
/// without their clock fields (`ts`, `elapsed_ms`).
fn without_per_response_values(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if text.starts_with('{') {
        return text
            .lines()
            .map(|line| {
                let mut record: serde_json::Value = serde_json::from_str(line).unwrap();
                let fields = record.as_object_mut().unwrap();
                fields.remove("ts");
                fields.remove("elapsed_ms");
                record.to_string()
            })
            .collect::<Vec<_>>()
            .join("\n");
    }
    without_nonces(body)
}

/// `html` with every nonce attribute's value blanked.
fn without_nonces(html: &[u8]) -> String {
    let text = String::from_utf8_lossy(html);
    let mut parts = text.split("nonce=\"");
    let mut out = parts.next().unwrap_or_default().to_owned();
    for part in parts {
        out.push_str("nonce=\"");
        out.push_str(part.split_once('"').map_or(part, |(_, rest)| rest));
    }
    out
}

#[tokio::test]
async fn browsers_get_zstd_or_gzip_for_pages_and_brotli_for_files() {
    let server = Server::start();
    let safari = "Accept-Encoding: gzip, deflate, br\r\n";
    let page = "/bench?delays=0&bytes=2048";
    let chromium_page = get_with(server.addr, page, CHROMIUM).await;
    assert_eq!(chromium_page.header("content-encoding"), Some("zstd"));
    let safari_page = get_with(server.addr, page, safari).await;
    assert_eq!(safari_page.header("content-encoding"), Some("gzip"));
    for header in [CHROMIUM, safari] {
        let file = get_with(server.addr, "/assets/sample.html", header).await;
        assert_eq!(file.header("content-encoding"), Some("br"));
    }
}

#[tokio::test]
async fn q_values_choose_the_coding_and_refusing_everything_is_406() {
    let server = Server::start();
    let page = "/bench?delays=0&bytes=2048";
    for (accept, expected) in [
        ("zstd;q=0, br;q=0.5, gzip;q=0.4", Some("br")),
        ("gzip;q=0.2, identity;q=0.9", None),
        ("deflate", None),
        ("*", Some("zstd")),
        ("identity;q=0, gzip", Some("gzip")),
    ] {
        let response = get_with(server.addr, page, &format!("Accept-Encoding: {accept}\r\n")).await;
        assert_eq!(response.status, 200, "{accept}");
        assert_eq!(response.header("content-encoding"), expected, "{accept}");
        assert_eq!(response.header("vary"), Some("accept-encoding"), "{accept}");
    }
    for target in [page, "/assets/sample.html"] {
        let refused = get_with(server.addr, target, "Accept-Encoding: identity;q=0\r\n").await;
        assert_eq!(refused.status, 406, "{target}");
        assert!(refused.text().contains("Accept-Encoding"), "{target}");
    }
}

#[tokio::test]
async fn media_and_partial_responses_to_media_are_never_compressed() {
    let server = Server::start();
    for target in ["/stream-video", "/stream-image"] {
        let response = get_with(server.addr, target, CHROMIUM).await;
        assert_eq!(response.status, 200, "{target}");
        assert!(response.header("content-encoding").is_none(), "{target}");
        assert!(response.header("vary").is_none(), "{target}");
        let range = format!("{CHROMIUM}Range: bytes=0-99\r\n");
        let partial = get_with(server.addr, target, &range).await;
        assert_eq!(partial.status, 206);
        assert!(partial.header("content-encoding").is_none());
        assert_eq!(partial.body().len(), 100);
    }
}

#[tokio::test]
async fn a_compressed_file_has_its_own_length_and_strong_etag_per_coding() {
    let server = Server::start();
    let original = std::fs::read(crate::util::assets_dir().join("sample.html")).unwrap();
    let plain = get_with(server.addr, "/assets/sample.html", "").await;
    let identity_tag = plain.header("etag").unwrap().to_owned();
    assert_eq!(plain.header("vary"), Some("accept-encoding"));
    let mut tags = vec![identity_tag.clone()];
    for encoding in ["br", "zstd", "gzip"] {
        let header = format!("Accept-Encoding: {encoding}\r\n");
        let response = get_with(server.addr, "/assets/sample.html", &header).await;
        assert_eq!(response.header("content-encoding"), Some(encoding));
        assert!(response.header("transfer-encoding").is_none(), "{encoding}");
        let body = response.body();
        assert_eq!(
            response.header("content-length"),
            Some(body.len().to_string().as_str()),
            "{encoding}"
        );
        assert!(
            body.len() * 8 < original.len(),
            "{encoding}: {}",
            body.len()
        );
        assert_eq!(decode(Some(encoding), &body), original, "{encoding}");
        let tag = response.header("etag").unwrap().to_owned();
        assert!(!tag.starts_with("W/"), "{encoding}: {tag}");
        assert!(!tags.contains(&tag), "{encoding}: {tag} is its own");
        tags.push(tag.clone());

        // Conditional requests and ranges apply to this representation.
        let revalidate = format!("{header}If-None-Match: {tag}\r\n");
        let not_modified = get_with(server.addr, "/assets/sample.html", &revalidate).await;
        assert_eq!(not_modified.status, 304, "{encoding}");
        assert_eq!(not_modified.header("etag"), Some(tag.as_str()));
        assert_eq!(not_modified.header("vary"), Some("accept-encoding"));
        let other = format!("{header}If-None-Match: {identity_tag}\r\n");
        let changed = get_with(server.addr, "/assets/sample.html", &other).await;
        assert_eq!(
            changed.status, 200,
            "the identity tag does not match {encoding}"
        );
        let range = format!("{header}Range: bytes=10-19\r\nIf-Range: {tag}\r\n");
        let partial = get_with(server.addr, "/assets/sample.html", &range).await;
        assert_eq!(partial.status, 206, "{encoding}");
        assert_eq!(partial.header("content-encoding"), Some(encoding));
        let expected_range = format!("bytes 10-19/{}", body.len());
        assert_eq!(
            partial.header("content-range"),
            Some(expected_range.as_str())
        );
        assert_eq!(partial.body(), body[10..20]);
    }
}

#[tokio::test]
async fn head_of_a_compressed_file_has_the_headers_of_its_get() {
    let server = Server::start();
    let mut client = Client::connect(server.addr).await;
    let get = client
        .request("GET", "/assets/sample.html", "Accept-Encoding: br\r\n")
        .await;
    let head = client
        .request("HEAD", "/assets/sample.html", "Accept-Encoding: br\r\n")
        .await;
    for name in ["content-encoding", "content-length", "etag", "vary"] {
        assert_eq!(head.header(name), get.header(name), "{name}");
    }
    assert!(head.body().is_empty());
}

#[tokio::test]
async fn http_1_0_clients_get_compressed_bodies_without_chunks() {
    let server = Server::start();
    for target in [
        "/bench?delays=10,20&bytes=2048",
        "/assets/sample.html",
        "/stream-data?n=3&delay_ms=0",
    ] {
        let mut client = Client::connect(server.addr).await;
        client
            .send("GET", target, "HTTP/1.0", "Accept-Encoding: gzip\r\n")
            .await;
        let mut response = client.head().await;
        client.body(&mut response, "GET").await;
        assert!(response.header("transfer-encoding").is_none(), "{target}");
        assert_eq!(
            response.header("content-encoding"),
            Some("gzip"),
            "{target}"
        );
        let decoded = decode(Some("gzip"), &response.body());
        assert!(!decoded.is_empty(), "{target}");
    }
}

#[tokio::test]
async fn a_buffered_page_is_compressed_whole_and_keeps_its_length() {
    let server = Server::start();
    for encoding in ["gzip", "br", "zstd"] {
        let header = format!("Accept-Encoding: {encoding}\r\n");
        let response = get_with(
            server.addr,
            "/bench?delays=10,20&bytes=40000&mode=buffered",
            &header,
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
        let text = String::from_utf8(decode(Some(encoding), &body)).unwrap();
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
