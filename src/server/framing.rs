//! Where each request head starts and ends on a connection: the request
//! framing of HTTP/1.1 (RFC 9112 §6), followed byte by byte as the client
//! sends it, so that every head, not only a connection's first, can be
//! timed. It frames bodies as actix-http does; on anything actix would
//! refuse, or that turns the connection into a plain stream (an upgrade,
//! `CONNECT`), it stops following, since no further head will be read, and
//! says why at debug level.
//!
//! The grammar followed is actix-http 3.20's (the floor in `Cargo.toml`). On
//! an upgrade of actix-http, run the differential test (`differential`: the
//! same random streams through actix's decoder and `Framing`, head boundaries
//! compared), and re-check by reading the new decoder what it may not
//! generate: the chunk-size line grammar (whitespace, extensions, trailers)
//! and the precedence of `Transfer-Encoding`, `Upgrade: websocket`,
//! `Content-Length` and `CONNECT`.

/// Most bytes a head may take: actix refuses a longer one.
const MAX_HEAD: usize = 131_072;

/// Why the following stops: a head actix refuses (and closes on).
const REFUSED: &str = "refused head";

/// The longest request target actix can read: its URI parser refuses a
/// longer one with an empty `400`.
pub const MAX_TARGET: usize = 65_534;

/// A head whose request target is longer than the limit: where it ended in
/// the bytes fed last, how long its target is, and whether it asked for
/// `HEAD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LongTarget {
    /// The offset of the head's last byte in the bytes fed last.
    pub(crate) last_byte: usize,
    pub(crate) len: usize,
    pub(crate) head_method: bool,
}

/// Follows the requests a client sends on one connection.
#[derive(Debug)]
pub(crate) struct Framing {
    state: State,
    /// Blank lines, or the start of a head, arrived: a head is under way.
    begun: bool,
    /// The start of a head that did not arrive in one read, from its
    /// request line.
    partial: Vec<u8>,
    /// How far the end of the current head has been looked for.
    newlines: Newlines,
    /// Heads begun so far: the current one's number while one is under way.
    heads: u64,
    /// Heads ended so far: the requests actix has been sent.
    requests: u64,
    /// The longest request target let through.
    max_target: usize,
    /// How many bytes the current `feed` was given.
    fed: usize,
    /// A head whose target is too long, found by the last `feed`.
    long_target: Option<LongTarget>,
}

impl Default for Framing {
    fn default() -> Self {
        Self::new(MAX_TARGET)
    }
}

/// Where a connection's client is in what it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Between requests: it owes nothing.
    Idle,
    /// Inside a head, the connection's [`Framing::heads`]th.
    Head,
    /// Inside the body of the [`Framing::requests`]th request.
    Body,
    /// No longer followed: no further head will be read.
    Done,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between requests, or inside a head.
    #[default]
    Head,
    /// Inside a body of this many more bytes.
    Length(u64),
    /// Inside a chunked body.
    Chunked(Chunk),
    /// No more heads will be read on this connection.
    Done,
}

/// Where a chunked body is (RFC 9112 §7.1), step by step as actix reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    SizeFirst,
    Size(u64),
    SizeSpace(u64),
    Extension(u64),
    SizeLf(u64),
    Data(u64),
    DataCr,
    DataLf,
    EndCr,
    EndLf,
    Trailer,
    TrailerLf,
}

/// Progress towards a blank line: the end of a head.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Newlines {
    #[default]
    None,
    /// Just after a line feed.
    Lf,
    /// Just after a line feed and a carriage return.
    LfCr,
}

impl Framing {
    /// Follows a connection whose request targets may be `max_target`
    /// bytes long at most ([`MAX_TARGET`] at most).
    pub(crate) fn new(max_target: usize) -> Self {
        Self {
            state: State::default(),
            begun: false,
            partial: Vec::new(),
            newlines: Newlines::default(),
            heads: 0,
            requests: 0,
            max_target: max_target.min(MAX_TARGET),
            fed: 0,
            long_target: None,
        }
    }

    /// Follows `bytes`, the next ones the client sent. Returns whether a
    /// head has begun and not ended: the one thing to time.
    pub(crate) fn feed(&mut self, mut bytes: &[u8]) -> bool {
        self.fed = bytes.len();
        while !bytes.is_empty() {
            bytes = match self.state {
                State::Head => self.head(bytes),
                State::Length(left) => {
                    let (left, rest) = skip(left, bytes);
                    self.state = if left == 0 {
                        State::Head
                    } else {
                        State::Length(left)
                    };
                    rest
                }
                State::Chunked(chunk) => self.chunked(chunk, bytes),
                State::Done => return false,
            };
        }
        self.in_head()
    }

    /// Whether a head has begun and not ended. Blank lines before a request
    /// line count: a server ignores them (RFC 9112 §2.2), but a client
    /// trickling them must not hold its connection untimed.
    pub(crate) fn in_head(&self) -> bool {
        self.state == State::Head && self.begun
    }

    /// Where the client is, after the bytes fed so far.
    pub(crate) fn phase(&self) -> Phase {
        match self.state {
            State::Head if self.begun => Phase::Head,
            State::Head => Phase::Idle,
            State::Length(_) | State::Chunked(_) => Phase::Body,
            State::Done => Phase::Done,
        }
    }

    /// The head with a request target over the limit that the last
    /// `feed` ended, if any: it is not to reach actix, which would refuse
    /// a target over [`MAX_TARGET`] with an empty `400`. No further head
    /// is followed after it.
    pub(crate) fn take_long_target(&mut self) -> Option<LongTarget> {
        self.long_target.take()
    }

    /// How many heads have begun: a pipelined head that begins in the read
    /// that ends the one before it is told from it by its number.
    pub(crate) fn heads(&self) -> u64 {
        self.heads
    }

    /// How many heads have ended: the number of the request whose body is
    /// under way, if one is.
    pub(crate) fn requests(&self) -> u64 {
        self.requests
    }

    /// Reads head bytes until the head ends; returns what follows it.
    fn head<'a>(&mut self, mut bytes: &'a [u8]) -> &'a [u8] {
        if !self.begun {
            self.heads += 1;
        }
        self.begun = true;
        if self.partial.is_empty() {
            // Blank lines before the request line are skipped, not kept.
            let blank = bytes
                .iter()
                .take_while(|byte| matches!(byte, b'\r' | b'\n'))
                .count();
            bytes = &bytes[blank..];
            if bytes.is_empty() {
                return bytes;
            }
        }
        let before = self.partial.len();
        let Some(end) = self.find_end(bytes) else {
            if before + bytes.len() > MAX_HEAD {
                // actix refuses the request and closes the connection.
                self.finish("head over 128 KiB");
            } else {
                self.partial.extend_from_slice(bytes);
            }
            return &[];
        };
        // Most heads arrive in one read and are parsed where they are.
        let head = if self.partial.is_empty() {
            &bytes[..end]
        } else {
            self.partial.extend_from_slice(&bytes[..end]);
            &self.partial
        };
        // A head no longer than the limit cannot hold a longer target.
        let (method, target) = if head.len() > self.max_target {
            request_target(head)
        } else {
            (&[][..], 0)
        };
        if target > self.max_target {
            self.long_target = Some(LongTarget {
                last_byte: self.fed - bytes.len() + end - 1,
                len: target,
                head_method: method == b"HEAD",
            });
            self.finish("request target over the limit");
            return &[];
        }
        let parsed = parse(head);
        match parsed {
            Ok(state) => {
                self.partial.clear();
                self.begun = false;
                self.requests += 1;
                self.state = state;
            }
            Err(why) => self.finish(why),
        }
        &bytes[end..]
    }

    /// The length of `bytes` up to and including the blank line that ends
    /// the head, if it is there. A blank line may begin in an earlier read.
    fn find_end(&mut self, bytes: &[u8]) -> Option<usize> {
        let carried = std::mem::take(&mut self.newlines);
        match (carried, bytes) {
            (Newlines::Lf | Newlines::LfCr, [b'\n', ..]) => return Some(1),
            (Newlines::Lf, [b'\r', b'\n', ..]) => return Some(2),
            (Newlines::Lf, [b'\r']) => {
                self.newlines = Newlines::LfCr;
                return None;
            }
            _ => {}
        }
        for lf in memchr::memchr_iter(b'\n', bytes) {
            match (bytes.get(lf + 1), bytes.get(lf + 2)) {
                (Some(b'\n'), _) => return Some(lf + 2),
                (Some(b'\r'), Some(b'\n')) => return Some(lf + 3),
                (Some(b'\r'), None) => self.newlines = Newlines::LfCr,
                (None, _) => self.newlines = Newlines::Lf,
                _ => {}
            }
        }
        None
    }

    /// Follows a chunked body; returns what follows it.
    fn chunked<'a>(&mut self, chunk: Chunk, bytes: &'a [u8]) -> &'a [u8] {
        if let Chunk::Data(left) = chunk {
            let (left, rest) = skip(left, bytes);
            self.state = State::Chunked(if left == 0 {
                Chunk::DataCr
            } else {
                Chunk::Data(left)
            });
            return rest;
        }
        let byte = bytes[0];
        let digit = hex(byte);
        let next = match (chunk, byte) {
            (Chunk::SizeFirst, _) => digit.map(|digit| Chunk::Size(u64::from(digit))),
            (Chunk::Size(size), _) if digit.is_some() => digit
                .and_then(|digit| size.checked_mul(16)?.checked_add(u64::from(digit)))
                .map(Chunk::Size),
            (Chunk::Size(size) | Chunk::SizeSpace(size), b' ' | b'\t') => {
                Some(Chunk::SizeSpace(size))
            }
            (Chunk::Size(size) | Chunk::SizeSpace(size) | Chunk::Extension(size), b';') => {
                Some(Chunk::Extension(size))
            }
            (Chunk::Size(size) | Chunk::SizeSpace(size) | Chunk::Extension(size), b'\r') => {
                Some(Chunk::SizeLf(size))
            }
            (Chunk::Extension(_), 0x00..=0x08 | 0x0a..=0x1f | 0x7f) => None,
            (Chunk::Extension(size), _) => Some(Chunk::Extension(size)),
            (Chunk::SizeLf(0), b'\n') => Some(Chunk::EndCr),
            (Chunk::SizeLf(size), b'\n') => Some(Chunk::Data(size)),
            (Chunk::DataCr, b'\r') => Some(Chunk::DataLf),
            (Chunk::DataLf, b'\n') => Some(Chunk::SizeFirst),
            (Chunk::EndCr, b'\r') => Some(Chunk::EndLf),
            // A trailer field: its line ends at its carriage return.
            (Chunk::Trailer, b'\r') => Some(Chunk::TrailerLf),
            (Chunk::EndCr | Chunk::Trailer, _) => Some(Chunk::Trailer),
            (Chunk::TrailerLf, b'\n') => Some(Chunk::EndCr),
            (Chunk::EndLf, b'\n') => {
                self.state = State::Head;
                return &bytes[1..];
            }
            _ => None,
        };
        match next {
            Some(next) => self.state = State::Chunked(next),
            // actix refuses the body and closes the connection.
            None => self.finish("bad chunk"),
        }
        &bytes[1..]
    }

    /// Follows nothing more: the connection does not speak HTTP/1.
    pub(crate) fn stop(&mut self) {
        self.state = State::Done;
    }

    /// Stops following, for `why`: no further head will be read. Said at
    /// debug level, so that a connection left untimed is never silent.
    #[cold]
    fn finish(&mut self, why: &'static str) {
        tracing::debug!(
            reason = why,
            "request heads on this connection are no longer followed nor timed"
        );
        self.state = State::Done;
        self.partial = Vec::new();
    }
}

/// Skips up to `left` bytes of a body in `bytes`: how many are left after
/// them, and what follows.
fn skip(left: u64, bytes: &[u8]) -> (u64, &[u8]) {
    let taken = usize::try_from(left).map_or(bytes.len(), |left| left.min(bytes.len()));
    (left - taken as u64, &bytes[taken..])
}

/// The value of a hexadecimal digit.
fn hex(byte: u8) -> Option<u8> {
    (byte as char)
        .to_digit(16)
        .and_then(|digit| u8::try_from(digit).ok())
}

/// What follows `head`, a complete head from its request line: a body
/// framed as actix frames it (chunked, by `Content-Length`, or none, then
/// the next head), or why no head follows: actix refuses this one, or
/// reads no other after it. Only what decides the framing is read: a head
/// actix refuses for any other reason ends the connection anyway, so what
/// follows it does not matter.
fn parse(head: &[u8]) -> Result<State, &'static str> {
    let mut lines = Lines { rest: head };
    let request_line = lines.next().unwrap_or_default();
    let method = request_line
        .split(|byte| *byte == b' ')
        .next()
        .unwrap_or_default();
    let http_11 = request_line.ends_with(b"HTTP/1.1");
    let mut length = None;
    let mut chunked = false;
    let mut websocket = false;
    for line in lines {
        let colon = memchr::memchr(b':', line).ok_or(REFUSED)?;
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if name.eq_ignore_ascii_case(b"content-length") {
            match (length, std::str::from_utf8(value).map(str::parse::<u64>)) {
                (None, Ok(Ok(len))) if !value.starts_with(b"+") => length = Some(len),
                _ => return Err(REFUSED),
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            // Only one, only `chunked`, only in HTTP/1.1.
            if chunked || !http_11 || !value.eq_ignore_ascii_case(b"chunked") {
                return Err(REFUSED);
            }
            chunked = true;
        } else if name.eq_ignore_ascii_case(b"upgrade") && value.eq_ignore_ascii_case(b"websocket")
        {
            websocket = true;
        }
    }
    // In actix's order: chunks, then an upgrade (the rest of the connection
    // is the upgraded protocol's), then the length.
    match (chunked, length) {
        (true, None) => Ok(State::Chunked(Chunk::SizeFirst)),
        (true, Some(_)) => Err(REFUSED),
        (false, _) if websocket => Err("upgrade"),
        (false, Some(0) | None) if method == b"CONNECT" => Err("CONNECT"),
        (false, Some(0) | None) => Ok(State::Head),
        (false, Some(len)) => Ok(State::Length(len)),
    }
}

/// The method of `head`, a complete head, and the length of its request
/// target as sent (an absolute-form target whole).
fn request_target(head: &[u8]) -> (&[u8], usize) {
    let line = Lines { rest: head }.next().unwrap_or_default();
    let mut words = line.split(|byte| *byte == b' ');
    let method = words.next().unwrap_or_default();
    (method, words.next().map_or(0, <[u8]>::len))
}

/// The lines of a head up to its blank line, without their line endings.
struct Lines<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let end = memchr::memchr(b'\n', self.rest)?;
        let line = &self.rest[..end];
        self.rest = &self.rest[end + 1..];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        (!line.is_empty()).then_some(line)
    }
}

#[cfg(test)]
mod differential;

#[cfg(test)]
mod tests {
    use super::Framing;

    /// Whether a head is under way after each byte, fed one at a time.
    fn per_byte(stream: &[u8]) -> Vec<bool> {
        let mut framing = Framing::default();
        stream.iter().map(|byte| framing.feed(&[*byte])).collect()
    }

    /// The same, fed in pieces split at `cuts`.
    fn after_pieces(stream: &[u8], cuts: &[usize]) -> Vec<(usize, bool)> {
        let mut framing = Framing::default();
        let mut from = 0;
        let mut seen = Vec::new();
        for &cut in cuts.iter().chain(std::iter::once(&stream.len())) {
            seen.push((cut, framing.feed(&stream[from..cut])));
            from = cut;
        }
        seen
    }

    const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    const POST: &[u8] = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
    const CHUNKED: &[u8] = b"POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
        5;name=value\r\nhello\r\n3 \r\nGET\r\n0\r\nTrailer: yes\r\n\r\n";

    /// The head is under way from its first byte to just before its last;
    /// bodies are not heads.
    #[test]
    fn heads_are_told_from_bodies_byte_by_byte() {
        let stream = [GET, POST, CHUNKED, GET].concat();
        let seen = per_byte(&stream);
        let mut at = 0;
        for message in [GET, POST, CHUNKED, GET] {
            let head = message
                .windows(4)
                .position(|window| window == b"\r\n\r\n")
                .unwrap()
                + 4;
            for (offset, &in_head) in seen[at..at + message.len()].iter().enumerate() {
                let expected = offset < head - 1;
                assert_eq!(
                    in_head,
                    expected,
                    "byte {offset} of {:?}",
                    String::from_utf8_lossy(message)
                );
            }
            at += message.len();
        }
    }

    #[test]
    fn any_split_of_a_stream_tells_the_same() {
        let stream = [POST, CHUNKED, GET, b"GET / HT"].concat();
        let one_by_one = per_byte(&stream);
        for first in 0..stream.len() {
            for second in (first..stream.len()).step_by(7) {
                for (end, in_head) in after_pieces(&stream, &[first, second]) {
                    if end > 0 {
                        assert_eq!(
                            in_head,
                            one_by_one[end - 1],
                            "cut at {first}, {second}, {end}"
                        );
                    }
                }
            }
        }
        assert!(one_by_one[stream.len() - 1], "the last head is unfinished");
    }

    /// A request whose body is `body`, framed by length or in chunks of
    /// `chunk` bytes (with an extension and a trailer); returns it and the
    /// length of its head.
    fn request(body: &[u8], chunk: Option<usize>) -> (Vec<u8>, usize) {
        let mut message = b"POST /x HTTP/1.1\r\nHost: x\r\n".to_vec();
        match chunk {
            None => message
                .extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes()),
            Some(_) => message.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n"),
        }
        let head = message.len();
        match chunk {
            None => message.extend_from_slice(body),
            Some(size) => {
                for piece in body.chunks(size.max(1)) {
                    message.extend_from_slice(format!("{:x};e=1\r\n", piece.len()).as_bytes());
                    message.extend_from_slice(piece);
                    message.extend_from_slice(b"\r\n");
                }
                message.extend_from_slice(b"0\r\nT: 1\r\n\r\n");
            }
        }
        (message, head)
    }

    proptest::proptest! {
        /// Bodies that look like heads (blank lines, request lines) and any
        /// split of the stream: a head is under way exactly within heads.
        #[test]
        fn bodies_never_pass_for_heads(
            bodies in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::sample::select(&b"\r\nGET / HTTP/1.1:0a"[..]),
                    0..40,
                ),
                1..5,
            ),
            chunks in proptest::collection::vec(proptest::option::of(1usize..9), 5),
            cuts in proptest::collection::vec(0usize..400, 0..6),
        ) {
            let mut stream = Vec::new();
            let mut expected = Vec::new();
            for (body, chunk) in bodies.iter().zip(&chunks) {
                let (message, head) = request(body, *chunk);
                expected.extend((0..message.len()).map(|at| at + 1 < head));
                stream.extend_from_slice(&message);
            }
            proptest::prop_assert_eq!(&per_byte(&stream), &expected);
            let mut cuts: Vec<usize> = cuts.into_iter().filter(|cut| *cut < stream.len()).collect();
            cuts.sort_unstable();
            cuts.dedup();
            for (end, in_head) in after_pieces(&stream, &cuts) {
                if end > 0 {
                    proptest::prop_assert_eq!(in_head, expected[end - 1]);
                }
            }
        }
    }

    #[test]
    fn blank_lines_before_a_request_line_are_head_time_and_are_not_kept() {
        let mut framing = Framing::default();
        assert!(!framing.feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        // A stray line end, then nothing: timed, as a trickled head is.
        assert!(framing.feed(b"\r\n"));
        assert!(framing.feed(b"\r\n\r\n\n"));
        assert!(framing.partial.is_empty(), "nothing kept of them");
        assert!(framing.feed(b"GET / HTTP/1.1\r\n"));
        assert!(!framing.feed(b"Host: x\r\n\r\n"));
    }

    #[test]
    fn a_connection_that_leaves_http_is_no_longer_followed() {
        for head in [
            &b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n"[..],
            b"CONNECT x:443 HTTP/1.1\r\nHost: x\r\n\r\n",
            // Refused by actix: it closes the connection.
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n",
        ] {
            let mut framing = Framing::default();
            framing.feed(head);
            assert!(!framing.feed(b"GET / HTTP/1.1\r\n"), "{:?}", String::from_utf8_lossy(head));
        }
    }

    #[test]
    fn a_chunked_body_is_followed_even_with_an_upgrade_header() {
        // actix reads the chunks, then the next head: so must the timer.
        let mut framing = Framing::default();
        framing.feed(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nTransfer-Encoding: chunked\r\n\r\n",
        );
        assert!(!framing.feed(b"0\r\n\r\n"));
        assert!(
            framing.feed(b"GET / HTTP/1.1\r\n"),
            "the next head is timed"
        );
    }

    #[test]
    fn a_bad_chunk_size_ends_the_following() {
        let mut framing = Framing::default();
        framing.feed(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
        framing.feed(b"zz\r\n");
        assert!(!framing.feed(b"GET / HTTP/1.1\r\n"));
    }

    #[test]
    fn an_endless_head_is_dropped_at_actix_limit() {
        let mut framing = Framing::default();
        assert!(framing.feed(b"GET / HTTP/1.1\r\nX: "));
        let line = vec![b'a'; 16 * 1024];
        for _ in 0..8 {
            framing.feed(&line);
        }
        assert!(!framing.in_head(), "past 128 KiB actix refuses the head");
        assert!(framing.partial.capacity() == 0, "and nothing is kept of it");
    }
}
