//! File bodies as streams: large positioned reads, one chunk at a time, so
//! memory stays flat whatever the file size and a slow reader holds back
//! the reads (actix pulls the stream). A chunk in the page cache is read on
//! the worker; one that would wait for the disk, on tokio's blocking pool.

use std::fs::File;
use std::io::{self, Read as _, Seek as _, SeekFrom};
use std::ops::RangeInclusive;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{self, Stream, StreamExt as _};

use super::Source;
use super::range::Multipart;

/// Bytes read from disk per chunk. actix-http copies each chunk into its
/// write buffer and reallocates that buffer after every flush once it grew
/// past 128 KiB; a chunk that fits with room for the response head and an
/// unflushed remainder keeps one buffer for the whole response (a 1 MiB
/// file took about 15% less server CPU than with 128 KiB chunks).
pub(crate) const CHUNK: usize = 112 * 1024;

/// The bytes of `range` in `source`: a slice of bytes in memory, or read
/// from the file chunk by chunk.
pub(crate) fn span(
    source: Source,
    range: RangeInclusive<u64>,
) -> impl Stream<Item = io::Result<Bytes>> {
    match source {
        Source::Memory(bytes) => {
            let start = usize::try_from(*range.start()).unwrap_or(usize::MAX);
            let end = usize::try_from(*range.end()).unwrap_or(usize::MAX);
            let slice = if start <= end && end < bytes.len() {
                Ok(bytes.slice(start..=end))
            } else {
                Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the range lies outside the bytes in memory",
                ))
            };
            stream::once(async move { slice }).left_stream()
        }
        Source::File(file) => file_span(file, range).right_stream(),
    }
}

/// The bytes of `range` in `file`, chunk by chunk. A file that shrinks
/// meanwhile ends the stream with an error, so the response is cut short
/// rather than padded.
fn file_span(file: Arc<File>, range: RangeInclusive<u64>) -> impl Stream<Item = io::Result<Bytes>> {
    let end = range.end().saturating_add(1);
    // Whether this file's file system may answer `RWF_NOWAIT` (tmpfs, for
    // one, does not): known per file, not per process.
    let state = (file, *range.start(), true);
    stream::try_unfold(state, move |(file, offset, mut nowait)| async move {
        if offset >= end {
            return Ok(None);
        }
        let len = usize::try_from(end - offset).map_or(CHUNK, |left| left.min(CHUNK));
        let cached = if nowait {
            read_cached(&file, offset, len, &mut nowait)
        } else {
            None
        };
        let (file, chunk) = match cached {
            Some(chunk) => (file, chunk),
            None => read_at(file, offset, len).await?,
        };
        Ok(Some((chunk, (file, offset + len as u64, nowait))))
    })
}

/// Exactly `len` bytes at `offset`, read on this thread if they are all in
/// the page cache (`preadv2` with `RWF_NOWAIT`, which fails rather than
/// wait for the disk), so a cached file is sent without a trip to the
/// blocking pool; `None` when the read would wait, or came short, for
/// [`read_at`] to do. A file system without `RWF_NOWAIT` clears `nowait`.
fn read_cached(file: &File, offset: u64, len: usize, nowait: &mut bool) -> Option<Bytes> {
    use rustix::io::{Errno, IoSliceMut, ReadWriteFlags, preadv2};
    let mut buf = vec![0; len];
    match preadv2(
        file,
        &mut [IoSliceMut::new(&mut buf)],
        offset,
        ReadWriteFlags::NOWAIT,
    ) {
        Ok(read) if read == len => Some(Bytes::from(buf)),
        // Partly cached, or the file shrank: the blocking read tells which.
        Ok(_) | Err(Errno::AGAIN | Errno::INTR) => None,
        Err(Errno::OPNOTSUPP | Errno::INVAL | Errno::NOSYS) => {
            *nowait = false;
            None
        }
        // A read error: the blocking read meets it again and reports it.
        Err(_) => None,
    }
}

/// A `multipart/byteranges` body: each range's layout, then its bytes.
pub(crate) fn multipart(
    source: Source,
    layout: Multipart,
    ranges: Vec<RangeInclusive<u64>>,
) -> impl Stream<Item = io::Result<Bytes>> {
    let tail = layout.tail();
    let parts = ranges.into_iter().enumerate().map(move |(index, range)| {
        let head = layout.head(index, &range);
        stream::once(async move { Ok(head) }).chain(span(source.clone(), range))
    });
    stream::iter(parts)
        .flatten()
        .chain(stream::once(async move { Ok(tail) }))
}

/// Reads all `len` bytes of a small file just opened (so its cursor is at
/// the start), on the blocking thread that opened it. `None` if the file is
/// no longer `len` bytes long: the streaming path then sends what is there
/// or fails as it would.
pub(crate) fn read_whole(file: &File, len: u64) -> io::Result<Option<Bytes>> {
    let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    // One byte more than expected tells a grown file from an exact one.
    file.take(len + 1).read_to_end(&mut buf)?;
    Ok((buf.len() as u64 == len).then(|| Bytes::from(buf)))
}

/// Reads exactly `len` bytes at `offset` off the async threads, into a
/// buffer that is never zeroed first. Only one read of a response runs at a
/// time, so moving the shared file's cursor is safe.
async fn read_at(file: Arc<File>, offset: u64, len: usize) -> io::Result<(Arc<File>, Bytes)> {
    let read = tokio::task::spawn_blocking(move || {
        let mut buf = Vec::with_capacity(len);
        let mut cursor = &*file;
        cursor.seek(SeekFrom::Start(offset))?;
        cursor.take(len as u64).read_to_end(&mut buf)?;
        if buf.len() < len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file shrank while it was being sent",
            ));
        }
        Ok::<_, io::Error>((file, Bytes::from(buf)))
    });
    read.await.map_err(io::Error::other)?
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use futures_util::TryStreamExt as _;

    use super::*;

    fn file_of(bytes: &[u8]) -> (tempfile::NamedTempFile, Arc<File>) {
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        tmp.write_all(bytes).unwrap();
        let file = Arc::new(File::open(tmp.path()).unwrap());
        (tmp, file)
    }

    #[tokio::test]
    async fn chunks_hold_exactly_the_range() {
        let bytes: Vec<u8> = (0..CHUNK * 2 + 100).map(|i| (i % 251) as u8).collect();
        let (_tmp, file) = file_of(&bytes);
        let end = (CHUNK * 2 + 10) as u64;
        let chunks: Vec<Bytes> = file_span(file, 5..=end).try_collect().await.unwrap();
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks.concat(), &bytes[5..=end as usize]);
    }

    #[test]
    fn a_chunk_in_the_page_cache_is_read_without_the_blocking_pool() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .max_blocking_threads(1)
            .build()
            .unwrap();
        runtime.block_on(async {
            // A file on tmpfs first, which refuses RWF_NOWAIT: that is its
            // file system's answer, not every file's.
            let mut shm = tempfile::Builder::new().tempfile_in("/dev/shm").unwrap();
            shm.write_all(&[1; 1000]).unwrap();
            let on_shm = Arc::new(File::open(shm.path()).unwrap());
            let _: Vec<Bytes> = file_span(on_shm, 0..=999).try_collect().await.unwrap();
            // Just written: in the page cache.
            let bytes: Vec<u8> = (0..CHUNK * 2 + 100).map(|i| (i % 251) as u8).collect();
            let (_tmp, file) = file_of(&bytes);
            let (release, wait) = std::sync::mpsc::channel::<()>();
            tokio::task::spawn_blocking(move || {
                let _ = wait.recv();
            });
            let read = file_span(file, 0..=(bytes.len() as u64 - 1)).try_collect::<Vec<Bytes>>();
            let chunks = tokio::time::timeout(std::time::Duration::from_secs(5), read)
                .await
                .expect("read while the blocking pool was busy")
                .unwrap();
            assert_eq!(chunks.concat(), bytes);
            drop(release);
        });
    }

    #[tokio::test]
    async fn a_file_system_without_nowait_reads_go_to_the_blocking_pool() {
        // tmpfs answers RWF_NOWAIT with EOPNOTSUPP: every chunk still comes.
        let bytes: Vec<u8> = (0..CHUNK * 2 + 7).map(|i| (i % 241) as u8).collect();
        let mut tmp = tempfile::Builder::new().tempfile_in("/dev/shm").unwrap();
        tmp.write_all(&bytes).unwrap();
        let file = Arc::new(File::open(tmp.path()).unwrap());
        let end = bytes.len() as u64 - 1;
        let chunks: Vec<Bytes> = file_span(file, 0..=end).try_collect().await.unwrap();
        assert_eq!(chunks.concat(), bytes);
    }

    #[tokio::test]
    async fn a_file_shorter_than_the_range_ends_the_stream_with_an_error() {
        let (_tmp, file) = file_of(&[7; 1000]);
        let err = file_span(file, 0..=1999)
            .try_collect::<Vec<Bytes>>()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
