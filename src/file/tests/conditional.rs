//! Conditional requests in RFC 9110 §13.2.2 order.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header;

use super::{date, etag, fixture, get, mtime, send};

#[actix_web::test]
async fn conditional_requests_follow_rfc_9110_order() {
    let dir = fixture();
    let etag = etag(dir.path()).await;
    let later = date(mtime() + Duration::from_secs(10));
    let earlier = date(mtime() - Duration::from_secs(10));
    let same = date(mtime());
    let weak = format!("W/{etag}");
    let table: Vec<(Vec<(header::HeaderName, &str)>, StatusCode)> = vec![
        (vec![(header::IF_MATCH, &*etag)], StatusCode::OK),
        (vec![(header::IF_MATCH, "*")], StatusCode::OK),
        (
            vec![(header::IF_MATCH, "\"other\"")],
            StatusCode::PRECONDITION_FAILED,
        ),
        (
            vec![(header::IF_MATCH, &*weak)],
            StatusCode::PRECONDITION_FAILED,
        ),
        (
            vec![(header::IF_UNMODIFIED_SINCE, &*earlier)],
            StatusCode::PRECONDITION_FAILED,
        ),
        (vec![(header::IF_UNMODIFIED_SINCE, &*same)], StatusCode::OK),
        // If-Match decides alone: If-Unmodified-Since is then ignored.
        (
            vec![
                (header::IF_MATCH, &*etag),
                (header::IF_UNMODIFIED_SINCE, &*earlier),
            ],
            StatusCode::OK,
        ),
        (
            vec![(header::IF_NONE_MATCH, &*etag)],
            StatusCode::NOT_MODIFIED,
        ),
        (
            vec![(header::IF_NONE_MATCH, &*weak)],
            StatusCode::NOT_MODIFIED,
        ),
        (vec![(header::IF_NONE_MATCH, "*")], StatusCode::NOT_MODIFIED),
        (vec![(header::IF_NONE_MATCH, "\"other\"")], StatusCode::OK),
        (
            vec![(header::IF_MODIFIED_SINCE, &*same)],
            StatusCode::NOT_MODIFIED,
        ),
        (
            vec![(header::IF_MODIFIED_SINCE, &*later)],
            StatusCode::NOT_MODIFIED,
        ),
        (vec![(header::IF_MODIFIED_SINCE, &*earlier)], StatusCode::OK),
        (
            vec![(header::IF_MODIFIED_SINCE, "not a date")],
            StatusCode::OK,
        ),
        // If-None-Match decides alone: If-Modified-Since is then ignored.
        (
            vec![
                (header::IF_NONE_MATCH, "\"other\""),
                (header::IF_MODIFIED_SINCE, &*later),
            ],
            StatusCode::OK,
        ),
        // A failed If-Match wins over a matching If-None-Match.
        (
            vec![
                (header::IF_MATCH, "\"other\""),
                (header::IF_NONE_MATCH, &*etag),
            ],
            StatusCode::PRECONDITION_FAILED,
        ),
        // 304 wins over a Range.
        (
            vec![
                (header::IF_NONE_MATCH, &*etag),
                (header::RANGE, "bytes=0-1"),
            ],
            StatusCode::NOT_MODIFIED,
        ),
    ];
    for (headers, status) in table {
        let mut req = get("/f/data.bin");
        for (name, value) in &headers {
            req = req.insert_header((name.clone(), *value));
        }
        let reply = send(dir.path(), req).await;
        assert_eq!(reply.status, status, "{headers:?}");
        if status == StatusCode::NOT_MODIFIED {
            assert!(reply.body.is_empty(), "{headers:?}");
            assert_eq!(reply.header(header::ETAG), Some(&*etag), "{headers:?}");
            assert_eq!(
                reply.header(header::LAST_MODIFIED),
                Some(&*same),
                "{headers:?}"
            );
        }
    }
}
