//! Byte ranges: single, multipart, capped, and If-Range.

use actix_web::body::BodySize;
use actix_web::http::StatusCode;
use actix_web::http::header;
use std::time::Duration;

use super::{LEN, bytes, date, etag, fixture, get, mtime, send};

#[actix_web::test]
async fn ranges_answer_the_exact_bytes() {
    let dir = fixture();
    let table: &[(&str, StatusCode, Option<&str>, Vec<u8>)] = &[
        (
            "bytes=0-1",
            StatusCode::PARTIAL_CONTENT,
            Some("bytes 0-1/1000"),
            bytes(0, 1),
        ),
        (
            "bytes=0-",
            StatusCode::PARTIAL_CONTENT,
            Some("bytes 0-999/1000"),
            bytes(0, 999),
        ),
        (
            "bytes=500-",
            StatusCode::PARTIAL_CONTENT,
            Some("bytes 500-999/1000"),
            bytes(500, 999),
        ),
        (
            "bytes=-10",
            StatusCode::PARTIAL_CONTENT,
            Some("bytes 990-999/1000"),
            bytes(990, 999),
        ),
        (
            "bytes=-5000",
            StatusCode::PARTIAL_CONTENT,
            Some("bytes 0-999/1000"),
            bytes(0, 999),
        ),
        (
            "bytes=990-5000",
            StatusCode::PARTIAL_CONTENT,
            Some("bytes 990-999/1000"),
            bytes(990, 999),
        ),
        (
            "bytes=999-999",
            StatusCode::PARTIAL_CONTENT,
            Some("bytes 999-999/1000"),
            bytes(999, 999),
        ),
        (
            "bytes=0-1,5000-",
            StatusCode::PARTIAL_CONTENT,
            Some("bytes 0-1/1000"),
            bytes(0, 1),
        ),
        (
            "bytes=1000-",
            StatusCode::RANGE_NOT_SATISFIABLE,
            Some("bytes */1000"),
            vec![],
        ),
        (
            "bytes=-0",
            StatusCode::RANGE_NOT_SATISFIABLE,
            Some("bytes */1000"),
            vec![],
        ),
        ("bytes=abc", StatusCode::OK, None, bytes(0, 999)),
        ("bytes=5-3", StatusCode::OK, None, bytes(0, 999)),
        ("items=0-1", StatusCode::OK, None, bytes(0, 999)),
        ("bytes=0-10,1-11,2-12", StatusCode::OK, None, bytes(0, 999)),
    ];
    for (range, status, content_range, body) in table {
        let reply = send(
            dir.path(),
            get("/f/data.bin").insert_header((header::RANGE, *range)),
        )
        .await;
        assert_eq!(reply.status, *status, "{range}");
        assert_eq!(
            reply.header(header::CONTENT_RANGE),
            *content_range,
            "{range}"
        );
        assert_eq!(
            reply.header(header::ACCEPT_RANGES),
            Some("bytes"),
            "{range}"
        );
        if *status == StatusCode::RANGE_NOT_SATISFIABLE {
            assert!(reply.body.starts_with(b"range not satisfiable"), "{range}");
            continue;
        }
        assert_eq!(reply.body, *body, "{range}");
        let length = BodySize::Sized(reply.body.len() as u64);
        assert_eq!(reply.length, length, "{range}");
    }
}

#[actix_web::test]
async fn several_ranges_are_a_multipart_body() {
    let dir = fixture();
    let reply = send(
        dir.path(),
        get("/f/data.bin").insert_header((header::RANGE, "bytes=0-1,10-12")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::PARTIAL_CONTENT);
    let content_type = reply.header(header::CONTENT_TYPE).expect("content type");
    let boundary = content_type
        .strip_prefix("multipart/byteranges; boundary=")
        .expect("multipart type");
    let mut expected = format!(
        "--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes 0-1/1000\r\n\r\n"
    )
    .into_bytes();
    expected.extend(bytes(0, 1));
    expected.extend(format!("\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes 10-12/1000\r\n\r\n").into_bytes());
    expected.extend(bytes(10, 12));
    expected.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
    assert_eq!(reply.body, expected);
    assert_eq!(reply.length, BodySize::Sized(expected.len() as u64));
    assert_eq!(reply.header(header::CONTENT_RANGE), None);
}

#[actix_web::test]
async fn too_many_ranges_get_the_whole_file() {
    let dir = fixture();
    let ranges: Vec<String> = (0..=crate::file::range::MAX_RANGES)
        .map(|i| format!("{}-{}", i * 10, i * 10))
        .collect();
    let header = format!("bytes={}", ranges.join(","));
    let reply = send(
        dir.path(),
        get("/f/data.bin").insert_header((header::RANGE, header)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, bytes(0, LEN - 1));
}

#[actix_web::test]
async fn if_range_decides_between_206_and_200() {
    let dir = fixture();
    let etag = etag(dir.path()).await;
    let table = [
        (etag.clone(), StatusCode::PARTIAL_CONTENT),
        (format!("W/{etag}"), StatusCode::OK),
        ("\"other\"".to_owned(), StatusCode::OK),
        (date(mtime()), StatusCode::PARTIAL_CONTENT),
        (date(mtime() + Duration::from_secs(1)), StatusCode::OK),
        ("garbage".to_owned(), StatusCode::OK),
    ];
    for (if_range, status) in table {
        let req = get("/f/data.bin")
            .insert_header((header::RANGE, "bytes=0-1"))
            .insert_header((header::IF_RANGE, if_range.as_str()));
        let reply = send(dir.path(), req).await;
        assert_eq!(reply.status, status, "If-Range: {if_range}");
        let expected = if status == StatusCode::OK {
            bytes(0, LEN - 1)
        } else {
            bytes(0, 1)
        };
        assert_eq!(reply.body, expected, "If-Range: {if_range}");
    }
}

#[actix_web::test]
async fn overlapping_and_adjacent_ranges_are_coalesced_into_one_part() {
    let dir = fixture();
    let table = [
        ("bytes=0-,0-", "bytes 0-999/1000", bytes(0, 999)),
        ("bytes=0-1,0-1", "bytes 0-1/1000", bytes(0, 1)),
        ("bytes=0-1,2-3", "bytes 0-3/1000", bytes(0, 3)),
        ("bytes=500-599,0-499", "bytes 0-599/1000", bytes(0, 599)),
        ("bytes=-10,980-", "bytes 980-999/1000", bytes(980, 999)),
        ("bytes=10-20,0-5,6-9", "bytes 0-20/1000", bytes(0, 20)),
    ];
    for (range, content_range, body) in table {
        let reply = send(
            dir.path(),
            get("/f/data.bin").insert_header((header::RANGE, range)),
        )
        .await;
        assert_eq!(reply.status, StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(
            reply.header(header::CONTENT_RANGE),
            Some(content_range),
            "{range}"
        );
        assert_eq!(
            reply.header(header::CONTENT_TYPE),
            Some("application/octet-stream"),
            "{range}"
        );
        assert_eq!(reply.body, body, "{range}");
        assert_eq!(reply.length, BodySize::Sized(body.len() as u64), "{range}");
    }
}

#[actix_web::test]
async fn an_if_range_date_is_weak_for_a_file_modified_less_than_a_second_ago() {
    let dir = fixture();
    let now = std::time::SystemTime::now();
    let table = [
        // Rewritten within this second: a second version could share its date.
        (now, StatusCode::OK),
        // A clock that ran backwards: no better than one modified just now.
        (now + Duration::from_secs(60), StatusCode::OK),
        // Modified two seconds before the response: the date is strong.
        (now - Duration::from_secs(2), StatusCode::PARTIAL_CONTENT),
    ];
    for (modified, status) in table {
        let path = dir.path().join("fresh.bin");
        std::fs::write(&path, bytes(0, LEN - 1)).expect("write");
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|file| file.set_modified(modified))
            .expect("set mtime");
        let last_modified = send(dir.path(), get("/f/fresh.bin"))
            .await
            .header(header::LAST_MODIFIED)
            .expect("last-modified")
            .to_owned();
        let req = get("/f/fresh.bin")
            .insert_header((header::RANGE, "bytes=0-1"))
            .insert_header((header::IF_RANGE, last_modified.as_str()));
        let reply = send(dir.path(), req).await;
        assert_eq!(reply.status, status, "If-Range: {last_modified}");
        let expected = if status == StatusCode::OK {
            bytes(0, LEN - 1)
        } else {
            bytes(0, 1)
        };
        assert_eq!(reply.body, expected, "If-Range: {last_modified}");
        assert_eq!(reply.header(header::LAST_MODIFIED), Some(&*last_modified));
    }
}

#[actix_web::test]
async fn an_if_range_etag_of_a_file_modified_just_now_still_gets_the_range() {
    let dir = fixture();
    std::fs::write(dir.path().join("fresh.bin"), bytes(0, LEN - 1)).expect("write");
    let etag = send(dir.path(), get("/f/fresh.bin"))
        .await
        .header(header::ETAG)
        .expect("etag")
        .to_owned();
    let req = get("/f/fresh.bin")
        .insert_header((header::RANGE, "bytes=0-1"))
        .insert_header((header::IF_RANGE, etag.as_str()));
    let reply = send(dir.path(), req).await;
    assert_eq!(reply.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(reply.body, bytes(0, 1));
}
