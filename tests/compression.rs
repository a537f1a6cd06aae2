//! Compressed pages stay progressive: each section can be decoded the moment
//! it is due, for gzip and brotli; media and partial responses are never
//! compressed.

use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::util::{Client, Server, get_with};

/// A section is never early, and is late by at most this much.
const SLACK: Duration = Duration::from_millis(250);

/// Where a decoder writes; the test reads it after every chunk.
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

/// Reads a compressed `/bench` page chunk by chunk, decoding as it goes, and
/// returns when `section {i} ready` first became readable, for each section.
async fn decoded_arrivals(encoding: &str) -> Vec<Duration> {
    let server = Server::start();
    let mut client = Client::connect(server.addr).await;
    let header = format!("Accept-Encoding: {encoding}\r\n");
    let sent = Instant::now();
    client
        .send(
            "GET",
            "/bench?delays=100,500,300&bytes=4096",
            "HTTP/1.1",
            &header,
        )
        .await;
    let response = client.head().await;
    assert_eq!(response.header("content-encoding"), Some(encoding));
    assert_eq!(response.header("transfer-encoding"), Some("chunked"));
    let sink = Sink::default();
    let mut decoder: Box<dyn Write> = match encoding {
        "gzip" => Box::new(flate2::write::GzDecoder::new(sink.clone())),
        _ => Box::new(brotli::DecompressorWriter::new(sink.clone(), 4096)),
    };
    let mut arrivals = [None; 3];
    while let Some(chunk) = client.chunk().await {
        decoder.write_all(&chunk).unwrap();
        decoder.flush().unwrap();
        let text = String::from_utf8_lossy(&sink.0.borrow()).into_owned();
        for (i, arrival) in arrivals.iter_mut().enumerate() {
            if arrival.is_none() && text.contains(&format!("section {i} ready")) {
                *arrival = Some(sent.elapsed());
            }
        }
    }
    drop(decoder);
    let text = String::from_utf8_lossy(&sink.0.borrow()).into_owned();
    assert!(text.ends_with("</html>"), "the whole page decodes");
    arrivals
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
