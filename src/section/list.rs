//! List sections ([`Section::stream`](super::Section::stream)): the rows
//! of a stream gathered into segments, each the rows ready together.

use futures_util::stream::LocalBoxStream;
use futures_util::{FutureExt as _, StreamExt as _};

use super::BoxError;
use crate::page::Fragment;

/// A list section's items, each rendered as it is pulled.
pub(crate) type Items = LocalBoxStream<'static, Result<Fragment, BoxError>>;

/// The most bytes of items one segment of a list gathers before it is
/// written, unless a single item is larger: the same as a page's piece.
pub(crate) const SEGMENT_BYTES: usize = 32 * 1024;

/// Items of a list that were ready together, and how the list goes on.
pub(crate) struct Segment {
    /// The items, rendered, in order.
    pub(crate) items: Vec<Fragment>,
    /// What follows them.
    pub(crate) end: End,
}

/// How a [`Segment`] ends.
pub(crate) enum End {
    /// More items may come: the rest of the list, not pulled until the
    /// segment is written.
    More(Items),
    /// The list ended.
    Done,
    /// An item failed or the stream errored: the list ends here.
    Failed(BoxError),
}

impl Segment {
    /// Waits for the next item of `items`, then takes every item that is
    /// ready at once as well, up to [`SEGMENT_BYTES`].
    pub(crate) async fn next(mut stream: Items) -> Segment {
        let mut items = Vec::new();
        let mut bytes = 0;
        let mut step = stream.next().await;
        loop {
            let end = match step {
                Some(Ok(item)) => {
                    bytes += item.html.as_ref().map_or(0, String::len);
                    items.push(item);
                    None
                }
                Some(Err(err)) => Some(End::Failed(err)),
                None => Some(End::Done),
            };
            if let Some(end) = end {
                return Segment { items, end };
            }
            if bytes >= SEGMENT_BYTES {
                break;
            }
            match stream.next().now_or_never() {
                Some(next) => step = next,
                None => break,
            }
        }
        Segment {
            items,
            end: End::More(stream),
        }
    }
}
