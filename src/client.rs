//! Whether the client of a connection has finished sending (`FIN`): it
//! went away, or half-closed the connection after its request. pagepipe's
//! server puts it in the connection data of its requests
//! ([`ClientSide::of`]); pages and streams without a length end on it.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::task::{Poll, Waker};

/// Whether the client has finished sending on a connection, for the pages
/// written on it (in the requests' connection data).
#[derive(Debug, Default)]
pub(crate) struct ClientSide {
    finished: Cell<bool>,
    /// The tasks waiting for it: the connection's own, in practice.
    waiting: RefCell<Vec<Waker>>,
}

impl ClientSide {
    /// The client's side of the connection `req` came on, when pagepipe's
    /// server accepted it.
    pub(crate) fn of(req: &actix_web::HttpRequest) -> Option<Rc<Self>> {
        req.conn_data::<Rc<Self>>().cloned()
    }

    /// Marks the client as done sending and wakes every page waiting on it.
    pub(crate) fn finish(&self) {
        if !self.finished.replace(true) {
            self.waiting.take().into_iter().for_each(Waker::wake);
        }
    }

    /// Resolves once `client` has finished sending; never without one (a
    /// request that pagepipe's server did not accept).
    pub(crate) async fn finished_or_never(client: Option<Rc<Self>>) {
        match client {
            Some(client) => client.finished().await,
            None => std::future::pending().await,
        }
    }

    /// Resolves once the client has finished sending: it went away, or
    /// half-closed the connection after its request.
    pub(crate) fn finished(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(|cx| {
            if self.finished.get() {
                return Poll::Ready(());
            }
            let mut waiting = self.waiting.borrow_mut();
            if !waiting.iter().any(|waker| waker.will_wake(cx.waker())) {
                waiting.push(cx.waker().clone());
            }
            Poll::Pending
        })
    }
}
