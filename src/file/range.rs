//! Byte ranges: which part of a file a `Range` header selects (through
//! `http-range-header`), and the layout of a `multipart/byteranges` body.

use std::hash::{BuildHasher as _, RandomState};
use std::ops::RangeInclusive;

use actix_web::http::header::HeaderValue;
use bytes::Bytes;
use http_range_header::{RangeUnsatisfiableError, parse_range_header_with_max_ranges};

/// Most ranges one request may ask for; more and the header is ignored.
pub(crate) const MAX_RANGES: usize = 16;

/// What a `Range` header selects from a representation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Selection {
    /// No usable range (absent, malformed, another unit, too many): all of it.
    Full,
    /// One range: a single-part `206`.
    One(RangeInclusive<u64>),
    /// Several ranges: a `multipart/byteranges` `206`.
    Many(Vec<RangeInclusive<u64>>),
    /// No requested range overlaps the representation: `416`.
    Unsatisfiable,
}

/// Reads the `Range` header for a representation of `len` bytes.
pub(crate) fn select(header: Option<&HeaderValue>, len: u64) -> Selection {
    let Some(text) = header.and_then(|value| value.to_str().ok()) else {
        return Selection::Full;
    };
    let Some(max) = std::num::NonZeroUsize::new(MAX_RANGES) else {
        return Selection::Full;
    };
    let parsed = match parse_range_header_with_max_ranges(text, max) {
        Ok(parsed) => parsed,
        Err(_) => return Selection::Full,
    };
    match parsed.validate(len).map(coalesce) {
        Ok(mut ranges) if ranges.len() == 1 => Selection::One(ranges.remove(0)),
        // Only a zero-length file validates to no range: it is sent whole.
        Ok(ranges) if ranges.is_empty() => Selection::Full,
        Ok(ranges) => Selection::Many(ranges),
        Err(RangeUnsatisfiableError::Unsatisfiable) => Selection::Unsatisfiable,
        // More than two overlapping ranges and the like: RFC 9110 §14.2
        // lets us ignore them.
        Err(_) => Selection::Full,
    }
}

/// Merges ranges that overlap or touch (RFC 9110 §14.2 allows it), so that
/// no byte is sent twice and `bytes=0-,0-` is one part, not the file twice.
/// The merged ranges keep the order in which their first piece was asked
/// for (§15.3.7.2).
fn coalesce(ranges: Vec<RangeInclusive<u64>>) -> Vec<RangeInclusive<u64>> {
    if ranges.len() < 2 {
        return ranges;
    }
    let mut by_start: Vec<(usize, RangeInclusive<u64>)> = ranges.into_iter().enumerate().collect();
    by_start.sort_by_key(|(_, range)| *range.start());
    let mut merged: Vec<(usize, RangeInclusive<u64>)> = Vec::with_capacity(by_start.len());
    for (index, range) in by_start {
        match merged.last_mut() {
            // Overlapping or adjacent: `start` is at most one past `end`.
            Some((first, last)) if *range.start() <= last.end().saturating_add(1) => {
                *first = (*first).min(index);
                *last = *last.start()..=(*last.end()).max(*range.end());
            }
            _ => merged.push((index, range)),
        }
    }
    merged.sort_by_key(|(index, _)| *index);
    merged.into_iter().map(|(_, range)| range).collect()
}

/// `bytes a-b/len`, the value of `Content-Range` for one range.
pub(crate) fn content_range(range: &RangeInclusive<u64>, len: u64) -> String {
    format!("bytes {}-{}/{len}", range.start(), range.end())
}

/// Number of bytes in `range`.
pub(crate) fn span(range: &RangeInclusive<u64>) -> u64 {
    range.end() - range.start() + 1
}

/// The layout of a `multipart/byteranges` body (RFC 9110 §14.6): each part
/// is a delimiter and headers, then its bytes; a closing delimiter ends it.
#[derive(Debug, Clone)]
pub(crate) struct Multipart {
    boundary: String,
    content_type: String,
    len: u64,
}

impl Multipart {
    /// The layout of parts of a `len`-byte file of `content_type`, with a
    /// random boundary.
    pub(crate) fn new(content_type: &str, len: u64) -> Self {
        let boundary = format!("{:016x}", RandomState::new().hash_one(len));
        Self {
            boundary: format!("pagepipe-{boundary}"),
            content_type: content_type.to_owned(),
            len,
        }
    }

    /// The response's `Content-Type`.
    pub(crate) fn content_type(&self) -> String {
        format!("multipart/byteranges; boundary={}", self.boundary)
    }

    /// What precedes the bytes of part `index`, which covers `range`.
    pub(crate) fn head(&self, index: usize, range: &RangeInclusive<u64>) -> Bytes {
        let newline = if index == 0 { "" } else { "\r\n" };
        Bytes::from(format!(
            "{newline}--{}\r\nContent-Type: {}\r\nContent-Range: {}\r\n\r\n",
            self.boundary,
            self.content_type,
            content_range(range, self.len)
        ))
    }

    /// What follows the last part.
    pub(crate) fn tail(&self) -> Bytes {
        Bytes::from(format!("\r\n--{}--\r\n", self.boundary))
    }

    /// The whole body's length, for `Content-Length`.
    pub(crate) fn body_len(&self, ranges: &[RangeInclusive<u64>]) -> u64 {
        let layout: usize = ranges
            .iter()
            .enumerate()
            .map(|(index, range)| self.head(index, range).len())
            .sum::<usize>()
            + self.tail().len();
        layout as u64 + ranges.iter().map(span).sum::<u64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn select_str(range: &str, len: u64) -> Selection {
        select(Some(&HeaderValue::from_str(range).unwrap()), len)
    }

    #[test]
    fn range_forms_select_the_right_bytes() {
        let table = [
            ("bytes=0-1", Selection::One(0..=1)),
            ("bytes=0-", Selection::One(0..=99)),
            ("bytes=10-19", Selection::One(10..=19)),
            ("bytes=90-200", Selection::One(90..=99)),
            ("bytes=-10", Selection::One(90..=99)),
            ("bytes=-500", Selection::One(0..=99)),
            ("bytes=99-99", Selection::One(99..=99)),
            ("BYTES=0-0", Selection::One(0..=0)),
        ];
        for (header, expected) in table {
            assert_eq!(select_str(header, 100), expected, "{header}");
        }
    }

    #[test]
    fn unsatisfiable_ranges_are_416() {
        for header in [
            "bytes=100-",
            "bytes=100-200",
            "bytes=-0",
            "bytes=200-300,150-",
        ] {
            assert_eq!(
                select_str(header, 100),
                Selection::Unsatisfiable,
                "{header}"
            );
        }
    }

    #[test]
    fn malformed_or_foreign_ranges_are_ignored() {
        for header in [
            "abc",
            "bytes=",
            "bytes=5-3",
            "bytes=a-b",
            "items=0-1",
            "bytes=0-1 ",
        ] {
            assert_eq!(select_str(header, 100), Selection::Full, "{header}");
        }
        assert_eq!(select(None, 100), Selection::Full);
    }

    #[test]
    fn several_ranges_are_many_up_to_the_cap() {
        assert_eq!(
            select_str("bytes=0-1,10-11", 100),
            Selection::Many(vec![0..=1, 10..=11])
        );
        let at_cap = (0..MAX_RANGES)
            .map(|i| format!("{}-{}", i * 2, i * 2))
            .collect::<Vec<_>>();
        let header = format!("bytes={}", at_cap.join(","));
        assert!(matches!(select_str(&header, 100), Selection::Many(r) if r.len() == MAX_RANGES));
        let over_cap = format!("{header},90-91");
        assert_eq!(select_str(&over_cap, 100), Selection::Full);
    }

    #[test]
    fn unsatisfiable_parts_of_a_multi_range_are_dropped() {
        assert_eq!(select_str("bytes=0-1,500-", 100), Selection::One(0..=1));
    }

    #[test]
    fn overlapping_and_adjacent_ranges_are_coalesced_in_the_order_asked() {
        let table = [
            ("bytes=0-,0-", Selection::One(0..=99)),
            ("bytes=0-1,0-1", Selection::One(0..=1)),
            ("bytes=0-1,2-3", Selection::One(0..=3)),
            ("bytes=2-3,0-1", Selection::One(0..=3)),
            ("bytes=0-10,5-20", Selection::One(0..=20)),
            ("bytes=-10,80-", Selection::One(80..=99)),
            ("bytes=0-1,50-60,2-3", Selection::Many(vec![0..=3, 50..=60])),
            ("bytes=50-60,0-1,2-3", Selection::Many(vec![50..=60, 0..=3])),
            (
                "bytes=50-60,3-4,0-1",
                Selection::Many(vec![50..=60, 3..=4, 0..=1]),
            ),
            ("bytes=0-1,3-4", Selection::Many(vec![0..=1, 3..=4])),
        ];
        for (header, expected) in table {
            assert_eq!(select_str(header, 100), expected, "{header}");
        }
    }

    #[test]
    fn overlapping_ranges_beyond_two_are_ignored() {
        assert_eq!(select_str("bytes=0-50,10-60,20-70", 100), Selection::Full);
    }

    #[test]
    fn a_zero_length_file_is_sent_whole_or_416() {
        assert_eq!(select_str("bytes=-5", 0), Selection::Full);
        assert_eq!(select_str("bytes=0-", 0), Selection::Unsatisfiable);
    }

    #[test]
    fn multipart_length_counts_every_byte_of_layout() {
        let multipart = Multipart::new("text/plain", 100);
        let ranges = [0..=1, 10..=12];
        let mut body = Vec::new();
        for (index, range) in ranges.iter().enumerate() {
            body.extend_from_slice(&multipart.head(index, range));
            body.extend(std::iter::repeat_n(b'x', span(range) as usize));
        }
        body.extend_from_slice(&multipart.tail());
        assert_eq!(multipart.body_len(&ranges), body.len() as u64);
        let text = String::from_utf8(body).unwrap();
        assert!(text.starts_with(&format!("--{}\r\n", multipart.boundary)));
        assert!(text.contains("Content-Range: bytes 10-12/100\r\n\r\nxxx\r\n--"));
    }
}

#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::*;

    /// `Range` values shaped like real ones, with the odd broken piece.
    fn range_header() -> impl Strategy<Value = String> {
        let bound = prop_oneof![
            Just(String::new()),
            (0u64..3000).prop_map(|n| n.to_string()),
            "[0-9]{15,25}"
        ];
        let spec = (bound.clone(), bound).prop_map(|(a, b)| format!("{a}-{b}"));
        let unit = prop_oneof![Just("bytes="), Just("bytes= "), Just("items="), Just("")];
        prop_oneof![
            (
                unit,
                prop::collection::vec(spec, 0..24),
                prop_oneof![Just(","), Just(", "), Just(",,")]
            )
                .prop_map(|(unit, specs, sep)| format!("{unit}{}", specs.join(sep))),
            ".*",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn any_range_header_selects_bytes_inside_the_file(text in range_header(), len in 0u64..2500) {
            let Ok(header) = HeaderValue::from_str(&text) else {
                return Ok(());
            };
            let inside = |range: &RangeInclusive<u64>| range.start() <= range.end() && *range.end() < len;
            match select(Some(&header), len) {
                Selection::Full | Selection::Unsatisfiable => {}
                Selection::One(range) => prop_assert!(inside(&range), "{range:?} of {len}"),
                Selection::Many(ranges) => {
                    prop_assert!(ranges.len() > 1 && ranges.len() <= MAX_RANGES);
                    prop_assert!(ranges.iter().all(inside), "{ranges:?} of {len}");
                    let mut sorted = ranges.clone();
                    sorted.sort_by_key(|range| *range.start());
                    prop_assert!(
                        sorted.windows(2).all(|pair| *pair[0].end() + 1 < *pair[1].start()),
                        "{ranges:?} overlap or touch"
                    );
                }
            }
        }
    }
}
