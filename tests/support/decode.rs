//! Decoding a response body for tests, shared by the library's unit tests
//! and the demo's integration tests (each includes this file with
//! `#[path]`): one decoder per coding pagepipe sends.

use std::io::Read as _;

/// `body` decoded from `encoding` (`gzip`, `br`, `zstd`, or `None` for
/// none); panics naming a coding it cannot decode.
pub(crate) fn decode(encoding: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match encoding {
        None | Some("identity") => out.extend_from_slice(body),
        Some("gzip") => {
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut out)
                .expect("gzip decodes");
        }
        Some("br") => {
            brotli::Decompressor::new(body, 4096)
                .read_to_end(&mut out)
                .expect("br decodes");
        }
        Some("zstd") => out = zstd::stream::decode_all(body).expect("zstd decodes"),
        Some(other) => panic!("no decoder for {other}"),
    }
    out
}
