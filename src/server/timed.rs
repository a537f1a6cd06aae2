//! The client's socket as [`Server`](super::Server) hands it to actix, with
//! every byte the client owes timed: each request head from its first byte
//! (actix times only a connection's first), each body between two of its
//! reads, and a body its handler left unread for a short linger after the
//! response (actix would drain a chunked one for ever). Past a bound the
//! client is no longer read: for actix its input has ended, so it finishes
//! the response under way and closes the connection.

use std::cell::{Cell, RefCell};
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use actix_web::body::{BodySize, MessageBody};
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::framing::{Framing, LongTarget, Phase};
use crate::clock;

/// How long a client may take over what it owes, and how long a request
/// target may be.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Each head, from its first byte; `None`: unbounded.
    pub(crate) head: Option<Duration>,
    /// Each gap between two reads of a body; `None`: unbounded.
    pub(crate) body: Option<Duration>,
    /// The rest of a body, once its response has ended.
    pub(crate) linger: Duration,
    /// The longest request target, in bytes: a longer one gets `414`.
    pub(crate) max_target: usize,
}

impl Limits {
    /// No bound at all, for a connection that is not followed.
    pub(crate) const UNTIMED: Limits = Limits {
        head: None,
        body: None,
        linger: Duration::ZERO,
        max_target: usize::MAX,
    };
}

/// What the client is being timed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    /// Nothing owed, or nothing bounded.
    Off,
    /// The head with this number, due by the deadline.
    Head(u64, Instant),
    /// A body, whose next bytes are due by the deadline.
    Body(Instant),
    /// A body whose response has ended, due whole by the deadline.
    Linger(Instant),
    /// A bound passed: nothing more is read.
    Expired,
}

impl Timer {
    fn deadline(self) -> Option<Instant> {
        match self {
            Timer::Head(_, deadline) | Timer::Body(deadline) | Timer::Linger(deadline) => {
                Some(deadline)
            }
            Timer::Off | Timer::Expired => None,
        }
    }
}

/// How many responses on a connection have ended, and when the last did:
/// told by each response's body as it is dropped (`Tracked`), so the
/// connection knows when a body is owed for a request already answered.
#[derive(Debug, Default)]
pub(crate) struct Responses {
    ended: Cell<u64>,
    last: Cell<Option<Instant>>,
    /// The connection's task, while it waits on a body.
    waiting: RefCell<Option<Waker>>,
}

impl Responses {
    /// Notes that the next response ended.
    pub(crate) fn end(&self) {
        self.ended.set(self.ended.get() + 1);
        self.last.set(Some(Instant::now()));
        if let Some(waker) = self.waiting.take() {
            waker.wake();
        }
    }

    /// When response `n` (counted from 1) ended, if it has.
    fn ended(&self, n: u64) -> Option<Instant> {
        (self.ended.get() >= n).then(|| self.last.get()).flatten()
    }
}

pin_project_lite::pin_project! {
    /// A response body that tells its connection's [`Responses`] when it
    /// is dropped: written whole, cut, or never polled (`HEAD`, `204`).
    pub(crate) struct Tracked<B> {
        #[pin]
        body: B,
        end: EndOnDrop,
    }
}

impl<B> Tracked<B> {
    /// `body`, telling `responses` (if its connection has them) when it ends.
    pub(crate) fn new(body: B, responses: Option<Rc<Responses>>) -> Self {
        Self {
            body,
            end: EndOnDrop(responses),
        }
    }
}

impl<B: MessageBody> MessageBody for Tracked<B> {
    type Error = B::Error;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        self.project().body.poll_next(cx)
    }
}

/// Tells [`Responses`] that a response ended, when dropped.
struct EndOnDrop(Option<Rc<Responses>>);

impl Drop for EndOnDrop {
    fn drop(&mut self) {
        if let Some(responses) = &self.0 {
            responses.end();
        }
    }
}

/// The time, read from the clock once and only if asked: most reads of a
/// connection (a whole head, the time between requests) need none.
#[derive(Default)]
struct Now(Option<Instant>);

impl Now {
    fn get(&mut self) -> Instant {
        *self.0.get_or_insert_with(Instant::now)
    }
}

/// A client connection whose every owed byte is bounded in time.
#[derive(Debug)]
pub(crate) struct Timed<T> {
    io: T,
    framing: Framing,
    /// Shared by the connections of a worker.
    limits: Rc<Limits>,
    timer: Timer,
    /// Wakes the connection at the timer's deadline.
    sleep: Option<Pin<Box<Sleep>>>,
    responses: Rc<Responses>,
    /// A `414` still to write before the connection closes: what is left
    /// of it (boxed: most connections never have one).
    refusal: Option<Box<Bytes>>,
}

impl<T> Timed<T> {
    pub(crate) fn new(io: T, limits: Rc<Limits>) -> Self {
        Self {
            io,
            framing: Framing::new(limits.max_target),
            limits,
            timer: Timer::Off,
            sleep: None,
            responses: Rc::default(),
            refusal: None,
        }
    }

    /// `io` followed by nobody: a connection whose protocol is not
    /// HTTP/1 (HTTP/2 frames its own requests and bounds them itself);
    /// `limits` are [`Limits::UNTIMED`], shared.
    pub(crate) fn untimed(io: T, limits: Rc<Limits>) -> Self {
        let mut timed = Self::new(io, limits);
        timed.framing.stop();
        timed
    }

    /// The connection inside.
    pub(crate) fn get_ref(&self) -> &T {
        &self.io
    }

    /// Where this connection's responses tell that they ended.
    pub(crate) fn responses(&self) -> Rc<Responses> {
        Rc::clone(&self.responses)
    }

    /// What the client owes now, and by when: a head keeps the deadline
    /// of its first byte, a body's moves with each read (`read` says one
    /// just happened), a body already answered keeps the response's end
    /// plus the linger.
    fn next_timer(&self, now: &mut Now, read: bool) -> Timer {
        let mut bounded =
            |bound: Option<Duration>| bound.map(|bound| clock::after(now.get(), bound));
        match self.framing.phase() {
            Phase::Idle | Phase::Done => Timer::Off,
            Phase::Head => match self.timer {
                Timer::Head(head, _) if head == self.framing.heads() => self.timer,
                _ => bounded(self.limits.head)
                    .map_or(Timer::Off, |due| Timer::Head(self.framing.heads(), due)),
            },
            Phase::Body => match self.responses.ended(self.framing.requests()) {
                Some(ended) => Timer::Linger(clock::after(ended, self.limits.linger)),
                None if read || !matches!(self.timer, Timer::Body(_)) => {
                    bounded(self.limits.body).map_or(Timer::Off, Timer::Body)
                }
                None => self.timer,
            },
        }
    }

    /// Moves to `timer`, setting the wake-up to its deadline.
    fn set(&mut self, timer: Timer) {
        if timer == self.timer {
            return;
        }
        self.timer = timer;
        if let Some(deadline) = timer.deadline() {
            match &mut self.sleep {
                Some(sleep) => sleep.as_mut().reset(deadline),
                None => self.sleep = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
        }
    }

    /// Stops reading the client, whose time for what it owes ran out.
    fn expire(&mut self) {
        let (owed, bound) = match self.timer {
            Timer::Head(..) => ("a request head", self.limits.head),
            Timer::Body(_) => ("a request body", self.limits.body),
            _ => ("an unread request body", Some(self.limits.linger)),
        };
        // A client's doing, and the client's to repeat: not a warning.
        tracing::debug!(
            owed,
            bound_ms = bound.unwrap_or_default().as_millis(),
            "the client took too long; closing the connection"
        );
        self.timer = Timer::Expired;
        self.sleep = None;
    }

    /// Answers a head whose request target is too long with `414`,
    /// written once actix has written what it had to and closes the
    /// connection; nothing more is read.
    fn refuse(&mut self, long: LongTarget) {
        tracing::debug!(
            target_bytes = long.len,
            limit = self.limits.max_target,
            "request target over the limit: 414, closing the connection"
        );
        let body = format!(
            "request target is {} bytes; the limit is {}\n",
            long.len, self.limits.max_target
        );
        let mut response = format!(
            "HTTP/1.1 414 URI Too Long\r\ncontent-type: text/plain; charset=utf-8\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        if !long.head_method {
            response.push_str(&body);
        }
        self.refusal = Some(Box::new(Bytes::from(response)));
        self.timer = Timer::Expired;
        self.sleep = None;
    }

    /// Whether the timer's deadline has passed; registers for its wake-up
    /// (and, for a body, for its response's end) otherwise.
    fn due(&mut self, cx: &mut Context<'_>) -> bool {
        if matches!(self.timer, Timer::Body(_)) {
            *self.responses.waiting.borrow_mut() = Some(cx.waker().clone());
        }
        match (&mut self.sleep, self.timer.deadline()) {
            (Some(sleep), Some(_)) => sleep.as_mut().poll(cx).is_ready(),
            _ => false,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Timed<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.timer == Timer::Expired {
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                this.framing.feed(&buf.filled()[before..]);
                if let Some(long) = this.framing.take_long_target() {
                    // actix never sees the head end: it is answered here.
                    buf.set_filled(before + long.last_byte);
                    this.refuse(long);
                    return Poll::Ready(Ok(()));
                }
                let mut now = Now::default();
                let timer = this.next_timer(&mut now, true);
                this.set(timer);
                // A head or an unread body trickled past its deadline ends
                // here, even if the wake-up has not fired yet.
                if timer.deadline().is_some_and(|due| now.get() >= due) {
                    this.expire();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                // A response that ended since the last read turns a body's
                // timer into the linger.
                let timer = this.next_timer(&mut Now::default(), false);
                this.set(timer);
                if this.due(cx) {
                    this.expire();
                    return Poll::Ready(Ok(()));
                }
                Poll::Pending
            }
            // The client's end of input, or a reset: actix takes it from here.
            other => other,
        }
    }
}

impl<T: AsyncWrite + Unpin> Timed<T> {
    /// Writes what is left of a refusal, then shuts the connection down.
    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some(refusal) = self.refusal.as_mut().filter(|left| !left.is_empty()) {
            match Pin::new(&mut self.io).poll_write(cx, refusal) {
                Poll::Ready(Ok(0)) => break,
                Poll::Ready(Ok(written)) => {
                    let _ = refusal.split_to(written);
                }
                // The client is gone: there is no one to tell.
                Poll::Ready(Err(_)) => break,
                Poll::Pending => return Poll::Pending,
            }
        }
        self.refusal = None;
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

super::forward_write!(Timed, shutdown: poll_close);

#[cfg(test)]
mod tests {
    use std::rc::Rc;
    use std::time::Duration;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, DuplexStream};

    use super::{Limits, Responses, Timed};

    const HEAD: Duration = Duration::from_secs(5);
    const BODY: Duration = Duration::from_secs(10);
    const LINGER: Duration = Duration::from_secs(3);

    fn connection() -> (DuplexStream, Timed<DuplexStream>) {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let limits = Limits {
            head: Some(HEAD),
            body: Some(BODY),
            linger: LINGER,
            max_target: 100,
        };
        (client, Timed::new(server, Rc::new(limits)))
    }

    /// Reads what is there; `None` once the reader was told the input ended.
    async fn read(conn: &mut Timed<DuplexStream>) -> Option<Vec<u8>> {
        let mut buf = vec![0; 4096];
        let read = conn.read(&mut buf).await.unwrap();
        (read > 0).then(|| buf[..read].to_vec())
    }

    /// How long the connection is read until its input ends.
    async fn until_cut(conn: &mut Timed<DuplexStream>) -> Duration {
        let started = tokio::time::Instant::now();
        while read(conn).await.is_some() {}
        started.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn a_second_head_that_does_not_end_in_time_ends_the_input() {
        let (mut client, mut conn) = connection();
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /second HTTP/1.1\r\n")
            .await
            .unwrap();
        assert!(read(&mut conn).await.is_some());
        assert_eq!(until_cut(&mut conn).await, HEAD, "the head's time ran out");
        client.write_all(b"Host: x\r\n\r\n").await.unwrap();
        assert_eq!(read(&mut conn).await, None, "and nothing more is read");
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_trickled_byte_by_byte_is_bounded_too() {
        let (mut client, mut conn) = connection();
        let started = tokio::time::Instant::now();
        let mut ended = None;
        for byte in b"GET / HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaa" {
            client.write_all(&[*byte]).await.unwrap();
            if read(&mut conn).await.is_none() {
                ended = Some(started.elapsed());
                break;
            }
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        let ended = ended.expect("the input ended");
        assert!(
            ended >= HEAD && ended <= HEAD + Duration::from_secs(1),
            "{ended:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_pipelined_head_gets_the_whole_timeout_from_its_own_first_byte() {
        let (mut client, mut conn) = connection();
        client.write_all(b"GET /1 HTTP/1.1\r\n").await.unwrap();
        assert!(read(&mut conn).await.is_some());
        tokio::time::advance(HEAD - Duration::from_secs(1)).await;
        // The read that ends head 1 begins head 2.
        client
            .write_all(b"Host: x\r\n\r\nGET /2 HTTP/1.1\r\n")
            .await
            .unwrap();
        assert!(read(&mut conn).await.is_some());
        let waited = tokio::time::timeout(HEAD - Duration::from_millis(1), read(&mut conn)).await;
        assert!(waited.is_err(), "cut with head 1's deadline: {waited:?}");
        client.write_all(b"Host: x\r\n\r\n").await.unwrap();
        assert!(read(&mut conn).await.is_some(), "head 2 ended in its time");
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_may_take_its_time_between_reads_up_to_its_bound() {
        let (mut client, mut conn) = connection();
        client
            .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
            .await
            .unwrap();
        assert!(read(&mut conn).await.is_some());
        for _ in 0..3 {
            tokio::time::advance(BODY - Duration::from_secs(1)).await;
            client.write_all(b"w").await.unwrap();
            assert!(read(&mut conn).await.is_some(), "each gap within the bound");
        }
        assert_eq!(until_cut(&mut conn).await, BODY, "an idle body is cut");
    }

    #[tokio::test(start_paused = true)]
    async fn a_chunked_body_never_sent_is_cut_a_linger_after_its_response() {
        let (mut client, mut conn) = connection();
        let responses: Rc<Responses> = conn.responses();
        client
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            .await
            .unwrap();
        assert!(read(&mut conn).await.is_some());
        let reading = async {
            let started = tokio::time::Instant::now();
            while read(&mut conn).await.is_some() {}
            started.elapsed()
        };
        let answering = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            responses.end();
        };
        let (cut_after, ()) = tokio::join!(reading, answering);
        assert_eq!(cut_after, Duration::from_secs(1) + LINGER);
    }

    #[tokio::test(start_paused = true)]
    async fn an_unread_body_trickled_is_cut_a_linger_after_its_response_however_it_trickles() {
        let (mut client, mut conn) = connection();
        let responses = conn.responses();
        client
            .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            .await
            .unwrap();
        assert!(read(&mut conn).await.is_some());
        responses.end();
        let started = tokio::time::Instant::now();
        let mut cut = None;
        for byte in b"5;ext=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
            .iter()
            .cycle()
            .take(200)
        {
            tokio::time::advance(Duration::from_secs(1)).await;
            client.write_all(&[*byte]).await.unwrap();
            if read(&mut conn).await.is_none() {
                cut = Some(started.elapsed());
                break;
            }
        }
        let cut = cut.expect("cut");
        assert!(
            cut >= LINGER && cut <= LINGER + Duration::from_secs(1),
            "{cut:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn whole_requests_and_the_time_between_them_are_never_timed() {
        let (mut client, mut conn) = connection();
        client
            .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
            .await
            .unwrap();
        assert!(read(&mut conn).await.is_some());
        // Between requests, keep-alive is actix's to bound.
        let waited = tokio::time::timeout(BODY * 10, read(&mut conn)).await;
        assert!(waited.is_err(), "still reading: {waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn unbounded_heads_and_bodies_are_never_cut() {
        let (mut client, server) = tokio::io::duplex(1024);
        let limits = Limits {
            head: None,
            body: None,
            linger: LINGER,
            max_target: 100,
        };
        let mut conn = Timed::new(server, Rc::new(limits));
        client.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        assert!(read(&mut conn).await.is_some());
        let waited = tokio::time::timeout(HEAD * 100, read(&mut conn)).await;
        assert!(waited.is_err(), "still reading: {waited:?}");
        client
            .write_all(b"Host: x\r\nContent-Length: 9\r\n\r\n")
            .await
            .unwrap();
        assert!(read(&mut conn).await.is_some());
        let waited = tokio::time::timeout(BODY * 100, read(&mut conn)).await;
        assert!(waited.is_err(), "still reading: {waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_whose_target_is_too_long_never_reaches_the_reader_and_gets_414_at_close() {
        let (mut client, mut conn) = connection();
        let target = format!("/{}", "a".repeat(150));
        let request = format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n");
        client.write_all(request.as_bytes()).await.unwrap();
        let passed = read(&mut conn).await.unwrap();
        assert_eq!(
            passed,
            request.as_bytes()[..request.len() - 1],
            "all but its last byte"
        );
        assert_eq!(read(&mut conn).await, None, "then the input ends");
        conn.shutdown().await.unwrap();
        let mut answer = String::new();
        client.read_to_string(&mut answer).await.unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 414 URI Too Long\r\n"),
            "{answer}"
        );
        assert!(answer.contains("connection: close\r\n"), "{answer}");
        assert!(
            answer.ends_with("\r\n\r\nrequest target is 151 bytes; the limit is 100\n"),
            "{answer}"
        );
    }
}
