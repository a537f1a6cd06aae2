//! File bodies as streams: large positioned reads on tokio's blocking pool,
//! one chunk at a time, so memory stays flat whatever the file size and a
//! slow reader holds back the reads (actix pulls the stream).

use std::fs::File;
use std::io;
use std::ops::RangeInclusive;
use std::os::unix::fs::FileExt as _;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::stream::{self, Stream, StreamExt as _};

use super::range::Multipart;

/// Bytes read from disk per chunk.
pub(crate) const CHUNK: usize = 128 * 1024;

/// The bytes of `range` in `file`, chunk by chunk. A file that shrinks
/// meanwhile ends the stream with an error, so the response is cut short
/// rather than padded.
pub(crate) fn section(
    file: Arc<File>,
    range: RangeInclusive<u64>,
) -> impl Stream<Item = io::Result<Bytes>> {
    let end = range.end().saturating_add(1);
    stream::try_unfold((file, *range.start()), move |(file, offset)| async move {
        if offset >= end {
            return Ok(None);
        }
        let len = usize::try_from(end - offset).map_or(CHUNK, |left| left.min(CHUNK));
        let (file, chunk) = read_at(file, offset, len).await?;
        Ok(Some((chunk, (file, offset + len as u64))))
    })
}

/// A `multipart/byteranges` body: each range's framing, then its bytes.
pub(crate) fn multipart(
    file: Arc<File>,
    framing: Multipart,
    ranges: Vec<RangeInclusive<u64>>,
) -> impl Stream<Item = io::Result<Bytes>> {
    let tail = framing.tail();
    let parts = ranges.into_iter().enumerate().map(move |(index, range)| {
        let head = framing.head(index, &range);
        stream::once(async move { Ok(head) }).chain(section(Arc::clone(&file), range))
    });
    stream::iter(parts)
        .flatten()
        .chain(stream::once(async move { Ok(tail) }))
}

/// Reads exactly `len` bytes at `offset` off the async threads.
async fn read_at(file: Arc<File>, offset: u64, len: usize) -> io::Result<(Arc<File>, Bytes)> {
    let read = tokio::task::spawn_blocking(move || {
        let mut buf = BytesMut::zeroed(len);
        file.read_exact_at(&mut buf, offset)?;
        Ok::<_, io::Error>((file, buf.freeze()))
    });
    read.await.map_err(io::Error::other)?
}
