//! The connection as [`Server`](super::Server) hands it to actix: the
//! client's socket, with every request head timed (actix times only a
//! connection's first) and the client's end of sending (`FIN`) told to the
//! pages being written on it, so they end at once and cancel their loaders.

use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::framing::Framing;
use crate::client::ClientSide;

/// A client connection whose request heads are each bounded in time.
#[derive(Debug)]
pub(crate) struct Conn<T> {
    io: T,
    framing: Framing,
    /// How long a request head may take from its first byte, if bounded.
    head_timeout: Option<Duration>,
    /// The current head's deadline, once a head spans reads.
    timer: Option<Pin<Box<Sleep>>>,
    /// When the current head must have ended, while one is under way.
    deadline: Option<Instant>,
    /// A head took too long: the client's further bytes are not read.
    timed_out: bool,
    client: Rc<ClientSide>,
}

impl<T> Conn<T> {
    /// `io`, each request head on it bounded by `head_timeout` (`None`: not
    /// bounded).
    pub(crate) fn new(io: T, head_timeout: Option<Duration>) -> Self {
        Self {
            io,
            framing: Framing::default(),
            head_timeout,
            timer: None,
            deadline: None,
            timed_out: false,
            client: Rc::default(),
        }
    }

    /// The connection itself.
    pub(crate) fn io(&self) -> &T {
        &self.io
    }

    /// The client's side of this connection, for its requests.
    pub(crate) fn client(&self) -> Rc<ClientSide> {
        Rc::clone(&self.client)
    }

    /// Starts or stops the head timer after a read: it runs from the read
    /// that began a head to the one that ends it. Returns whether the head
    /// is still under way past its deadline (a client trickling it).
    fn time_head(&mut self, in_head: bool) -> bool {
        match (in_head, self.deadline) {
            (true, None) => {
                let Some(deadline) = self
                    .head_timeout
                    .and_then(|timeout| Instant::now().checked_add(timeout))
                else {
                    return false;
                };
                match &mut self.timer {
                    Some(timer) => timer.as_mut().reset(deadline),
                    None => self.timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
                }
                self.deadline = Some(deadline);
                false
            }
            (true, Some(deadline)) => Instant::now() >= deadline,
            (false, _) => {
                self.deadline = None;
                false
            }
        }
    }

    /// Whether the current head's time is up; registers for its wake-up
    /// otherwise.
    fn head_expired(&mut self, cx: &mut Context<'_>) -> bool {
        match (&mut self.timer, self.deadline) {
            (Some(timer), Some(_)) => timer.as_mut().poll(cx).is_ready(),
            _ => false,
        }
    }

    /// Stops reading the client: for actix, its input has ended, so it
    /// finishes any response under way and then closes the connection.
    fn give_up_on_head(&mut self) {
        tracing::info!(
            timeout_ms = self.head_timeout.unwrap_or_default().as_millis(),
            "a request head did not arrive in time; closing the connection"
        );
        self.timed_out = true;
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Conn<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.timed_out {
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let room = buf.remaining() > 0;
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let read = &buf.filled()[before..];
                if read.is_empty() && room {
                    this.client.finish();
                } else {
                    let in_head = this.framing.feed(read);
                    if this.time_head(in_head) {
                        this.give_up_on_head();
                    }
                }
                Poll::Ready(Ok(()))
            }
            // A reset: actix ends the connection, dropping its pages.
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
            Poll::Pending if this.head_expired(cx) => {
                this.give_up_on_head();
                Poll::Ready(Ok(()))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Conn<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, DuplexStream};

    use super::Conn;

    const TIMEOUT: Duration = Duration::from_secs(5);

    fn connection() -> (DuplexStream, Conn<DuplexStream>) {
        let (client, server) = tokio::io::duplex(64 * 1024);
        (client, Conn::new(server, Some(TIMEOUT)))
    }

    /// Reads what is there; `None` once the reader was told the input ended.
    async fn read(conn: &mut Conn<DuplexStream>) -> Option<Vec<u8>> {
        let mut buf = vec![0; 4096];
        let read = conn.read(&mut buf).await.unwrap();
        (read > 0).then(|| buf[..read].to_vec())
    }

    #[tokio::test(start_paused = true)]
    async fn a_second_head_that_does_not_end_in_time_ends_the_input() {
        let (mut client, mut conn) = connection();
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /second HTTP/1.1\r\n")
            .await
            .unwrap();
        assert!(read(&mut conn).await.is_some());
        let started = tokio::time::Instant::now();
        assert_eq!(read(&mut conn).await, None, "the head's time ran out");
        assert_eq!(started.elapsed(), TIMEOUT);
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
            ended >= TIMEOUT && ended <= TIMEOUT + Duration::from_secs(1),
            "{ended:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn whole_heads_and_bodies_are_never_timed() {
        let (mut client, mut conn) = connection();
        client
            .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
            .await
            .unwrap();
        assert!(read(&mut conn).await.is_some());
        // A body may take its time; so may the client between requests.
        let waited = tokio::time::timeout(TIMEOUT * 10, read(&mut conn)).await;
        assert!(waited.is_err(), "still reading: {waited:?}");
        client.write_all(b"world").await.unwrap();
        assert!(read(&mut conn).await.is_some());
        let waited = tokio::time::timeout(TIMEOUT * 10, read(&mut conn)).await;
        assert!(waited.is_err(), "still reading: {waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_unbounded_head_is_never_cut() {
        let (mut client, server) = tokio::io::duplex(1024);
        let mut conn = Conn::new(server, None);
        client.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        assert!(read(&mut conn).await.is_some());
        let waited = tokio::time::timeout(TIMEOUT * 100, read(&mut conn)).await;
        assert!(waited.is_err(), "still reading: {waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_client_finishing_is_told_to_its_pages() {
        let (mut client, mut conn) = connection();
        let side = conn.client();
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        assert!(read(&mut conn).await.is_some());
        let finished = tokio::time::timeout(TIMEOUT, side.finished()).await;
        assert!(finished.is_err(), "not before the client finishes");
        client.shutdown().await.unwrap();
        assert_eq!(read(&mut conn).await, None);
        tokio::time::timeout(Duration::from_millis(1), side.finished())
            .await
            .expect("told at once");
    }
}
