//! The client's socket as [`Server`](super::Server) reads it: when the
//! client finishes sending (`FIN`: it went away, or half-closed the
//! connection after its request), the pages being written on it are told,
//! so they end at once and cancel their loaders.

use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

use crate::client::ClientSide;

/// A connection that tells its client's `FIN` to its [`ClientSide`].
#[derive(Debug)]
pub(crate) struct Fin<T> {
    io: T,
    client: Rc<ClientSide>,
}

impl<T> Fin<T> {
    pub(crate) fn new(io: T) -> Self {
        Self {
            io,
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
}

impl<T: AsyncRead + Unpin> AsyncRead for Fin<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        let room = buf.remaining() > 0;
        let read = Pin::new(&mut this.io).poll_read(cx, buf);
        // The end of its input, or an error (a reset, a TLS stream cut
        // without its close): either way the client is gone or done. Pages
        // of HTTP/2 streams run in tasks of their own, which only this
        // ends.
        let ended = match &read {
            Poll::Ready(Ok(())) => room && buf.filled().len() == before,
            Poll::Ready(Err(_)) => true,
            Poll::Pending => false,
        };
        if ended {
            this.client.finish();
        }
        read
    }
}

super::forward_write!(Fin);

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::Fin;

    #[tokio::test(start_paused = true)]
    async fn the_client_finishing_is_told_to_its_pages() {
        let (mut client, server) = tokio::io::duplex(1024);
        let mut conn = Fin::new(server);
        let side = conn.client();
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0; 64];
        assert!(conn.read(&mut buf).await.unwrap() > 0);
        let finished = tokio::time::timeout(Duration::from_secs(5), side.finished()).await;
        assert!(finished.is_err(), "not before the client finishes");
        client.shutdown().await.unwrap();
        assert_eq!(conn.read(&mut buf).await.unwrap(), 0);
        tokio::time::timeout(Duration::from_millis(1), side.finished())
            .await
            .expect("told at once");
    }
}
