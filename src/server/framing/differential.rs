//! `Framing` against actix-http's own h1 decoder: the same random byte
//! streams (pipelined requests with every body framing, chunk extensions and
//! trailers, bodies that look like heads, blank lines, refused heads,
//! upgrades, `CONNECT`, garbage) go through both, byte by byte and in random
//! pieces, and they must agree on where every head ends and on where the
//! following stops.
//!
//! actix is driven as its dispatcher drives it: after each read, it decodes
//! until it needs more bytes, a head once the whole head is buffered, a body
//! piece by piece until its end. The two readers are compared by phase after
//! every byte (between requests, in a head, in a body, stopped) while actix
//! reads heads:
//!
//! - where actix ends a head, so must `Framing`, and the body (or none)
//!   that follows must end at the same byte;
//! - where actix makes the rest of the connection a stream (an upgrade,
//!   `CONNECT`) or refuses a body, `Framing` must stop at that byte;
//! - where actix refuses a head, `Framing` may stop or still be inside that
//!   head: actix closes the connection, so nothing after it matters. If
//!   `Framing` ended the head, actix must have refused it for what does not
//!   decide the framing (method, target, `Host`), which `Framing` does not
//!   read: made right in those, the head must be one actix reads, and the
//!   two must agree on it and on everything after it.
//!
//! The disagreement that matters most, `Framing` stopping while actix reads
//! on (a connection whose heads would go untimed), fails at the byte where
//! it happens.

use actix_codec::Decoder as _;
use actix_http::h1::{Codec, Message, MessageType};
use actix_http::{HttpMessage as _, Method, ServiceConfig};
use bytes::BytesMut;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::ValueTree as _;
use proptest::test_runner::TestRunner;

use super::{Framing, State};

/// Where a reader of a stream is after a byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Between requests: the last one ended, nothing of the next arrived.
    Idle,
    /// Inside a head (blank lines before a request line count).
    Head,
    /// Inside a body.
    Body,
    /// No further head will be read.
    Stopped,
}

/// Why actix reads no further head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// It refused a head, and closes the connection.
    Refused,
    /// A head asked for an upgrade: the rest is the upgraded protocol's.
    Upgrade,
    /// A `CONNECT` head: the rest is the tunnel's.
    Connect,
    /// It refused a body, and closes the connection.
    BadBody,
}

/// What actix's decoder produced, with the offset just past it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    /// A head ended; a body follows it, chunked or by length, or none.
    Head { body: bool, chunked: bool },
    /// A body ended.
    BodyEnd,
    /// No further head will be read.
    Stop(Stop),
}

/// actix-http's h1 decoder, fed as a connection is.
struct Actix {
    codec: Codec,
    buf: BytesMut,
    /// Bytes fed so far.
    fed: usize,
    /// Whether a body is being read.
    body: bool,
    stop: Option<Stop>,
    events: Vec<(usize, Event)>,
}

impl Actix {
    fn new() -> Self {
        // actix's configuration starts a clock task, which needs a local
        // task set to be spawned on; it is never run here, nor needed.
        let tasks = tokio::task::LocalSet::new();
        let config = {
            let _inside = tasks.enter();
            ServiceConfig::default()
        };
        Self {
            codec: Codec::new(config),
            buf: BytesMut::new(),
            fed: 0,
            body: false,
            stop: None,
            events: Vec::new(),
        }
    }

    /// Reads `bytes`, then decodes until more are needed.
    fn feed(&mut self, bytes: &[u8]) {
        if self.stop.is_some() {
            return;
        }
        self.buf.extend_from_slice(bytes);
        self.fed += bytes.len();
        loop {
            let decoded = self.codec.decode(&mut self.buf);
            let at = self.fed - self.buf.len();
            let event = match decoded {
                Ok(None) => return,
                Ok(Some(Message::Chunk(Some(_)))) => continue,
                Ok(Some(Message::Chunk(None))) => {
                    self.body = false;
                    Event::BodyEnd
                }
                Ok(Some(Message::Item(request))) => match self.codec.message_type() {
                    MessageType::Stream if request.head().method == Method::CONNECT => {
                        Event::Stop(Stop::Connect)
                    }
                    MessageType::Stream => Event::Stop(Stop::Upgrade),
                    message => {
                        self.body = message == MessageType::Payload;
                        Event::Head {
                            body: self.body,
                            chunked: request.chunked().unwrap_or(false),
                        }
                    }
                },
                Err(_) if self.body => Event::Stop(Stop::BadBody),
                Err(_) => Event::Stop(Stop::Refused),
            };
            self.events.push((at, event));
            if let Event::Stop(stop) = event {
                self.stop = Some(stop);
                return;
            }
        }
    }

    fn phase(&self) -> Phase {
        if self.stop.is_some() {
            Phase::Stopped
        } else if self.body {
            Phase::Body
        } else if self.buf.is_empty() {
            Phase::Idle
        } else {
            Phase::Head
        }
    }
}

/// Where `framing` is, in the same terms.
fn phase(framing: &Framing) -> Phase {
    match framing.state {
        State::Done => Phase::Stopped,
        State::Length(_) | State::Chunked(_) => Phase::Body,
        State::Head if framing.begun => Phase::Head,
        State::Head => Phase::Idle,
    }
}

/// The offsets just past each head that ends into a request (a body or the
/// next request), from each reader's phases after every byte.
fn head_ends(phases: &[Phase]) -> Vec<usize> {
    let mut before = Phase::Idle;
    let mut ends = Vec::new();
    for (at, &now) in phases.iter().enumerate() {
        if before == Phase::Head && matches!(now, Phase::Idle | Phase::Body) {
            ends.push(at + 1);
        }
        before = now;
    }
    ends
}

/// Feeds `stream` to actix and to `Framing`, byte by byte and in the pieces
/// `cuts` makes, and fails where they disagree. Returns actix's events.
fn check(stream: &[u8], cuts: &[usize]) -> Result<Vec<(usize, Event)>, TestCaseError> {
    let shown = stream.escape_ascii().to_string();
    let mut actix = Actix::new();
    let mut framing = Framing::default();
    let mut actix_phases = Vec::with_capacity(stream.len());
    let mut framing_phases = Vec::with_capacity(stream.len());
    for byte in stream {
        actix.feed(std::slice::from_ref(byte));
        let in_head = framing.feed(std::slice::from_ref(byte));
        actix_phases.push(actix.phase());
        framing_phases.push(phase(&framing));
        prop_assert_eq!(in_head, phase(&framing) == Phase::Head);
    }

    // Where actix reads heads: up to the byte at which it stops, if it does.
    let followed = actix_phases
        .iter()
        .position(|phase| *phase == Phase::Stopped)
        .unwrap_or(stream.len());
    let before_stop = |ends: Vec<usize>| -> Vec<usize> {
        ends.into_iter().filter(|end| *end <= followed).collect()
    };
    prop_assert_eq!(
        before_stop(head_ends(&framing_phases)),
        before_stop(head_ends(&actix_phases)),
        "head ends (Framing, actix) in {} (actix: {:?})",
        shown,
        actix.events
    );
    for at in 0..followed {
        prop_assert_eq!(
            framing_phases[at],
            actix_phases[at],
            "after byte {} ({:?}) of {} (actix: {:?})",
            at,
            stream[..=at].escape_ascii().to_string(),
            shown,
            actix.events
        );
    }
    match actix.stop {
        Some(Stop::Upgrade | Stop::Connect | Stop::BadBody) => prop_assert_eq!(
            framing_phases[followed],
            Phase::Stopped,
            "actix stops after byte {} of {} (actix: {:?})",
            followed,
            shown,
            actix.events
        ),
        // `Framing` read to the end of a head actix refused: it must be for
        // what does not decide the framing. Made right in that, the head is
        // one actix reads, and the two must agree on it and what follows.
        Some(Stop::Refused) if matches!(framing_phases[followed], Phase::Idle | Phase::Body) => {
            let start = actix_phases[..followed]
                .iter()
                .rposition(|phase| *phase != Phase::Head)
                .map_or(0, |at| at + 1);
            let head = [&stream[..start], &repaired(&stream[start..=followed])].concat();
            let mut alone = Actix::new();
            alone.feed(&head);
            prop_assert!(
                matches!(alone.events.last(), Some((end, Event::Head { .. })) if *end == head.len()),
                "actix refuses the head ending at byte {} for its framing, which Framing \
                 followed, in {} (as made right: {:?})",
                followed,
                shown,
                alone.events.last()
            );
            check(&[&head[..], &stream[followed + 1..]].concat(), &[])?;
        }
        // Refused while `Framing` is in the head or stopped: actix closes the
        // connection.
        Some(Stop::Refused) | None => {}
    }

    // In pieces: actix decodes the same, `Framing` follows the same.
    let mut pieces = Actix::new();
    let mut framing = Framing::default();
    let mut from = 0;
    for &cut in cuts.iter().chain(std::iter::once(&stream.len())) {
        pieces.feed(&stream[from..cut]);
        let in_head = framing.feed(&stream[from..cut]);
        if cut > 0 {
            prop_assert_eq!(
                phase(&framing),
                framing_phases[cut - 1],
                "Framing, cut at {:?}, after byte {} of {}",
                cuts,
                cut - 1,
                shown
            );
            prop_assert_eq!(in_head, phase(&framing) == Phase::Head);
        }
        from = cut;
    }
    prop_assert_eq!(
        &pieces.events,
        &actix.events,
        "actix, cut at {:?}, in {}",
        cuts,
        shown
    );
    Ok(actix.events)
}

/// `head`, a complete one, made right in what actix may refuse a head for
/// that does not decide its framing: its method and target (`PUT /`, which
/// keeps any body) and its `Host` (exactly one).
fn repaired(head: &[u8]) -> Vec<u8> {
    let blank = head
        .iter()
        .take_while(|byte| matches!(byte, b'\r' | b'\n'))
        .count();
    let mut lines = head[blank..]
        .split(|byte| *byte == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line));
    let request_line = lines.next().unwrap_or_default();
    let version = request_line
        .rsplit(|byte| *byte == b' ')
        .next()
        .unwrap_or_default();
    let mut repaired = [&b"PUT / "[..], version, b"\r\nHost: x\r\n"].concat();
    for line in lines.take_while(|line| !line.is_empty()) {
        let name = line.split(|byte| *byte == b':').next().unwrap_or_default();
        if !name.eq_ignore_ascii_case(b"host") {
            repaired.extend_from_slice(line);
            repaired.extend_from_slice(b"\r\n");
        }
    }
    repaired.extend_from_slice(b"\r\n");
    repaired
}

/// What a body made to pass for heads holds.
const LOOKALIKES: &[&str] = &[
    "GET / HTTP/1.1\r\n",
    "Host: x\r\n",
    "Content-Length: 3\r\n",
    "Transfer-Encoding: chunked\r\n",
    "\r\n",
    "\r\n\r\n",
    "\n",
    "\r",
    "0\r\n\r\n",
    "5;a=b\r\n",
    "x",
    ":",
];

/// Bytes that look like heads and chunk lines, from `least` pieces.
fn lookalikes(least: usize, most: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(select(LOOKALIKES), least..most).prop_map(|parts| parts.concat().into_bytes())
}

/// Headers that do not decide the framing, those that do (or refuse it),
/// and malformed ones, about 80:4:1.
fn header() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        80 => select(&[
            "Accept: */*",
            "Cookie: a=b; c=d",
            "X-Colons: a:b:c",
            "X-Empty:",
            "X-Padded: \t padded \t",
            "Connection: keep-alive",
            "Connection: close",
            "Connection: Upgrade",
            "Upgrade: h2c",
            "Expect: 100-continue",
        ][..]),
        4 => select(&[
            "Upgrade: websocket",
            "upgrade:  WebSocket ",
            "Content-Length: 0",
            "Content-Length: 2",
            "Transfer-Encoding: chunked",
            "Transfer-Encoding: identity",
            "Host: y",
        ][..]),
        1 => select(&[
            "no colon",
            " folded: x",
            "Bad Name: x",
            "X-Ctl: a\u{1}b",
            "Content-Length : 3",
            ": no name",
        ][..]),
    ]
}

/// How a `Content-Length` value is written.
#[derive(Debug, Clone, Copy)]
enum LengthForm {
    Exact,
    Padded,
    Zeros,
    Plus,
    Pair,
    Huge,
    Max,
    Minus,
    Empty,
    Hex,
    /// One more than the body: the next head's first byte is body.
    Over,
}

/// A body framed by `Content-Length`: its headers and its bytes.
fn length_body() -> impl Strategy<Value = (Vec<String>, Vec<u8>)> {
    let forms = prop_oneof![
        40 => Just(LengthForm::Exact),
        2 => select(&[LengthForm::Padded, LengthForm::Zeros, LengthForm::Over][..]),
        4 => select(&[
            LengthForm::Plus,
            LengthForm::Pair,
            LengthForm::Huge,
            LengthForm::Max,
            LengthForm::Minus,
            LengthForm::Empty,
            LengthForm::Hex,
        ][..]),
    ];
    let duplicate = prop_oneof![40 => Just(None), 1 => Just(Some("Content-Length: 1"))];
    (lookalikes(0, 8), spelling(), forms, duplicate).prop_map(|(body, spell, form, duplicate)| {
        let n = body.len();
        let value = match form {
            LengthForm::Exact => n.to_string(),
            LengthForm::Padded => format!(" {n}\t "),
            LengthForm::Zeros => format!("00{n}"),
            LengthForm::Plus => format!("+{n}"),
            LengthForm::Pair => format!("{n}, {n}"),
            LengthForm::Huge => "18446744073709551616".to_owned(),
            LengthForm::Max => u64::MAX.to_string(),
            LengthForm::Minus => "-1".to_owned(),
            LengthForm::Empty => String::new(),
            LengthForm::Hex => format!("0x{n:x}"),
            LengthForm::Over => (n + 1).to_string(),
        };
        let mut headers = vec![format!("{}: {value}", spell("Content-Length"))];
        headers.extend(duplicate.map(str::to_owned));
        (headers, body)
    })
}

/// How a chunk's size is written.
#[derive(Debug, Clone, Copy)]
enum SizeForm {
    Lower,
    Upper,
    Zeros,
    /// Off by one either way: both readers follow the size, not the data.
    Over,
    Under,
    /// Written as is: most are refused.
    Literal(&'static str),
}

/// One chunk of a chunked body, size line to its closing line end: never
/// empty, which would be the last.
fn chunk() -> impl Strategy<Value = Vec<u8>> {
    let size = prop_oneof![
        60 => select(&[SizeForm::Lower, SizeForm::Lower, SizeForm::Upper, SizeForm::Zeros][..]),
        2 => select(&[SizeForm::Over, SizeForm::Under][..]),
        1 => select(&[
            SizeForm::Literal("g"),
            SizeForm::Literal(""),
            SizeForm::Literal(" 5"),
            SizeForm::Literal("0x5"),
            SizeForm::Literal("1 2"),
            SizeForm::Literal("10000000000000000"),
            SizeForm::Literal("ffffffffffffffff"),
            SizeForm::Literal("-1"),
        ][..]),
    ];
    (
        lookalikes(1, 6),
        size,
        space(),
        extension(),
        prop_oneof![60 => Just("\r\n"), 1 => select(&["\n", "\r\r\n", "\r"][..])],
        prop_oneof![60 => Just("\r\n"), 1 => select(&["\n", "", "\r", "\r\r\n"][..])],
    )
        .prop_map(|(data, form, space, extension, line_end, data_end)| {
            let n = data.len();
            let size = match form {
                SizeForm::Lower => format!("{n:x}"),
                SizeForm::Upper => format!("{n:X}"),
                SizeForm::Zeros => format!("000{n:x}"),
                SizeForm::Over => format!("{:x}", n + 1),
                SizeForm::Under => format!("{:x}", n.saturating_sub(1)),
                SizeForm::Literal(size) => size.to_owned(),
            };
            let mut chunk = format!("{size}{space}{extension}{line_end}").into_bytes();
            chunk.extend_from_slice(&data);
            chunk.extend_from_slice(data_end.as_bytes());
            chunk
        })
}

/// Whitespace after a chunk size.
fn space() -> impl Strategy<Value = &'static str> {
    prop_oneof![6 => Just(""), 1 => select(&[" ", "\t", " \t  "][..])]
}

/// A chunk extension, most often none; some refused (control bytes).
fn extension() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        24 => Just(""),
        12 => select(&[
            ";a=b",
            ";a",
            ";name=\"quoted;value\"",
            ";q=\"a\\\"b\\\\\"",
            "; a = b",
            ";a=b;c=d",
            ";\t",
            ";\u{e9}t\u{e9}",
        ][..]),
        1 => select(&[";a\u{1}", ";a\nb", ";a\u{7f}", ";\0", ";a=\r"][..]),
    ]
}

/// How a header's name is spelled: names are told apart without regard
/// to case.
fn spelling() -> impl Strategy<Value = fn(&str) -> String> {
    prop_oneof![
        8 => Just(str::to_owned as fn(&str) -> String),
        1 => Just(str::to_ascii_lowercase as fn(&str) -> String),
        1 => Just(str::to_ascii_uppercase as fn(&str) -> String),
    ]
}

/// A chunked body: its headers and its bytes (chunks, last chunk, trailers).
fn chunked_body() -> impl Strategy<Value = (Vec<String>, Vec<u8>)> {
    let coding = prop_oneof![
        40 => Just("chunked"),
        4 => select(&["Chunked", " chunked ", "CHUNKED"][..]),
        1 => select(&["identity", "gzip", "gzip, chunked", "chunked, gzip", ""][..]),
    ];
    let trailer = prop_oneof![
        40 => select(&["Trailer: yes\r\n", "X-T: a b\r\n", "x\r\n", "T:\r\n"][..]),
        1 => select(&["T: 1\r\r\n", "T: 1\n", "\u{1}\r\n"][..]),
    ];
    let end = prop_oneof![40 => Just("\r\n"), 1 => select(&["\n", "", "\r\r\n"][..])];
    (
        spelling(),
        coding,
        vec(chunk(), 0..4),
        select(&["0", "0", "000"][..]),
        space(),
        extension(),
        vec(trailer, 0..3),
        end,
    )
        .prop_map(
            |(spell, coding, chunks, last, space, extension, trailers, end)| {
                let mut body = chunks.concat();
                body.extend_from_slice(format!("{last}{space}{extension}\r\n").as_bytes());
                body.extend_from_slice(trailers.concat().as_bytes());
                body.extend_from_slice(end.as_bytes());
                (
                    vec![format!("{}: {coding}", spell("Transfer-Encoding"))],
                    body,
                )
            },
        )
}

/// A request: blank lines, request line, headers, the body they frame.
fn request() -> impl Strategy<Value = Vec<u8>> {
    let blank = prop_oneof![6 => Just(Vec::new()), 1 => vec(select(&["\r\n", "\n"][..]), 1..3)];
    let method = prop_oneof![
        12 => select(&["GET", "POST", "POST", "PUT", "HEAD"][..]),
        2 => select(&["CONNECT", "CONNECT", "OPTIONS", "PATCH", "get", "M-SEARCH"][..]),
    ];
    let target = select(&["/", "/a/b?c=d", "*", "http://x/y"][..]);
    let version = prop_oneof![
        40 => Just("HTTP/1.1"),
        3 => Just("HTTP/1.0"),
        1 => select(&["HTTP/1.2", "HTTP/2.0", "http/1.1"][..]),
    ];
    // The lines' ends, and the blank line's: mostly alike.
    let line_end = || prop_oneof![6 => Just("\r\n"), 1 => Just("\n")];
    let line_ends = prop_oneof![
        6 => line_end().prop_map(|end| (end, end)),
        1 => (line_end(), line_end()),
    ];
    let hosts = prop_oneof![80 => Just(1usize), 1 => Just(0usize), 1 => Just(2usize)];
    // No body, one framed either way, or the upgraded protocol's bytes.
    let upgrade = || {
        let headers = vec![
            "Upgrade: websocket".to_owned(),
            "Connection: Upgrade".to_owned(),
        ];
        (headers, b"\x81\x05hello".to_vec())
    };
    let body = prop_oneof![
        9 => Just((Vec::new(), Vec::new())),
        9 => length_body(),
        9 => chunked_body(),
        1 => Just(upgrade()),
    ];
    (
        blank,
        method,
        target,
        version,
        line_ends,
        hosts,
        vec(header(), 0..3),
        any::<usize>(),
        body,
    )
        .prop_map(
            |(
                blank,
                method,
                target,
                version,
                (line_end, last),
                hosts,
                extra,
                at,
                (framing, body),
            )| {
                let mut lines: Vec<String> = std::iter::repeat_n("Host: x", hosts)
                    .chain(extra)
                    .map(str::to_owned)
                    .collect();
                let at = at % (lines.len() + 1);
                lines.splice(at..at, framing);
                // An authority is what `CONNECT` asks for; actix refuses it
                // as any other method's target.
                let target = if method == "CONNECT" { "x:443" } else { target };
                let mut message = blank.concat();
                message.push_str(&format!("{method} {target} {version}{line_end}"));
                for line in lines {
                    message.push_str(&line);
                    message.push_str(line_end);
                }
                message.push_str(last);
                let mut message = message.into_bytes();
                message.extend_from_slice(&body);
                message
            },
        )
}

/// Random bytes, most of them ones that matter to a head or a chunk.
fn garbage() -> impl Strategy<Value = Vec<u8>> {
    vec(
        prop_oneof![
            4 => select(&b"\r\n \t:;0aZG/\"\\"[..]),
            1 => any::<u8>(),
        ],
        1..16,
    )
}

/// A connection's bytes: pipelined requests, now and then garbage.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    vec(prop_oneof![50 => request(), 1 => garbage()], 1..8).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn framing_agrees_with_actix_on_every_head(
        stream in stream(),
        cuts in vec(any::<usize>(), 0..8),
    ) {
        let mut cuts: Vec<usize> = cuts.into_iter().map(|cut| cut % (stream.len() + 1)).collect();
        cuts.sort_unstable();
        cuts.dedup();
        check(&stream, &cuts)?;
    }
}

/// The streams reach what the test is for: several heads deep, every body
/// framing to its end, every way actix stops. Deterministic: a fixed seed.
#[test]
fn the_streams_reach_every_case() {
    let mut runner = TestRunner::deterministic();
    let strategy = stream();
    let (mut deep, mut length, mut chunked, mut bodies) = (0, 0, 0, 0);
    let mut stops = Vec::new();
    for _ in 0..512 {
        let stream = strategy.new_tree(&mut runner).unwrap().current();
        let mut actix = Actix::new();
        actix.feed(&stream);
        let mut heads = 0;
        let mut last_chunked = false;
        for (_, event) in &actix.events {
            match *event {
                Event::Head {
                    body,
                    chunked: is_chunked,
                } => {
                    heads += 1;
                    last_chunked = body && is_chunked;
                    if body && !is_chunked {
                        length += 1;
                    }
                }
                Event::BodyEnd if last_chunked => chunked += 1,
                Event::BodyEnd => bodies += 1,
                Event::Stop(stop) => stops.push(stop),
            }
        }
        if heads >= 3 {
            deep += 1;
        }
    }
    let count = |stop: Stop| stops.iter().filter(|seen| **seen == stop).count();
    let seen = format!(
        "{deep} streams of 3+ heads, {length} length bodies ({bodies} ended), \
         {chunked} chunked bodies ended, stops: {} refused, {} upgrade, {} CONNECT, {} bad body",
        count(Stop::Refused),
        count(Stop::Upgrade),
        count(Stop::Connect),
        count(Stop::BadBody),
    );
    assert!(deep >= 100, "{seen}");
    assert!(bodies >= 100 && chunked >= 100, "{seen}");
    for stop in [Stop::Refused, Stop::Upgrade, Stop::Connect, Stop::BadBody] {
        assert!(count(stop) >= 5, "{seen}");
    }
}

/// A head past actix's 128 KiB: both give up on it, `Framing` never before
/// actix; a long head that arrives whole is read by both.
#[test]
fn a_head_over_the_limit_is_given_up_by_both() {
    let head = [
        &b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: "[..],
        &vec![b'a'; 140 * 1024],
        b"\r\n\r\n",
    ]
    .concat();
    for piece in [1024, 8 * 1024, 64 * 1024 + 1] {
        let mut actix = Actix::new();
        let mut framing = Framing::default();
        for bytes in head.chunks(piece) {
            actix.feed(bytes);
            framing.feed(bytes);
            let (actix, framing) = (actix.phase(), phase(&framing));
            assert!(
                framing != Phase::Stopped || actix == Phase::Stopped,
                "Framing gave up first, in pieces of {piece}"
            );
            assert!(
                actix != Phase::Stopped || matches!(framing, Phase::Head | Phase::Stopped),
                "in pieces of {piece}: {framing:?}"
            );
        }
        assert_eq!(actix.stop, Some(Stop::Refused));
        assert_eq!(phase(&framing), Phase::Stopped);
    }

    let stream = [&head[..], b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"].concat();
    let mut actix = Actix::new();
    let mut framing = Framing::default();
    actix.feed(&stream);
    framing.feed(&stream);
    assert_eq!(
        actix.events,
        [
            (
                head.len(),
                Event::Head {
                    body: false,
                    chunked: false
                }
            ),
            (
                stream.len(),
                Event::Head {
                    body: false,
                    chunked: false
                }
            ),
        ]
    );
    assert_eq!(phase(&framing), Phase::Idle);
}
