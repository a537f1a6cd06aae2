//! Streamed bodies compressed chunk by chunk, holding no compressor while
//! the stream waits for its next chunk. Each chunk is compressed completely
//! and flushed, so the browser decodes it the moment it arrives:
//!
//! - zstd: each chunk is its own frame (RFC 8878 §3.1: a stream may be a
//!   series of frames, decoded as their concatenation).
//! - gzip: one member whose deflate blocks come from a compressor primed
//!   with the last [`PRIMER`] bytes sent, sync-flushed (as pigz joins
//!   pieces), plus a running CRC-32 and length for the trailer.
//! - brotli: the first piece starts the stream; each later one is a bare,
//!   catable piece (no header, no reference before its start), as the brotli
//!   crate's multithreaded compressor joins pieces. Priming them as gzip is
//!   primed crashes the brotli crate's encoder at qualities 2–4 on some
//!   inputs, so brotli pieces stand alone and brotli is the last choice for
//!   streams.
//!
//! Between chunks a stream keeps only those last bytes (for gzip) and a few
//! counters.

use std::io;

use bytes::Bytes;
use futures_util::stream::LocalBoxStream;
use futures_util::{FutureExt as _, Stream, StreamExt as _};

use super::Coding;
use super::pool;

/// Most bytes of plain text a gzip stream keeps between chunks to
/// prime the next chunk's compressor. Measured on `/bench` and
/// `/stream-html`: 2 KiB keeps gzip within 13% of a stateful encoder's
/// bytes, where priming with nothing costs 30–47%.
pub(crate) const PRIMER: usize = 2048;

/// Chunks larger than this are compressed on the blocking pool, so a large
/// section does not stall the other connections of the worker.
pub(crate) const INLINE_LIMIT: usize = 64 * 1024;

/// What one compressed stream keeps between its chunks.
#[derive(Debug)]
pub(crate) struct Encoder {
    coding: Coding,
    started: bool,
    crc: crc32fast::Hasher,
    /// The input length modulo 2³², as the gzip trailer wants it.
    len: u32,
    /// The last bytes of input, at most [`PRIMER`].
    recent: Vec<u8>,
}

impl Encoder {
    /// A stream in `coding` with nothing sent yet.
    pub(crate) fn new(coding: Coding) -> Self {
        Self {
            coding,
            started: false,
            crc: crc32fast::Hasher::new(),
            len: 0,
            recent: Vec::new(),
        }
    }

    /// `input` compressed so that everything so far decodes.
    #[cfg(test)]
    pub(crate) fn chunk(&mut self, input: &[u8]) -> io::Result<Bytes> {
        let mut out = Vec::new();
        self.chunk_into(input, &mut out)?;
        Ok(Bytes::from(out))
    }

    /// Appends `input` to `out`, compressed so that everything so far
    /// decodes.
    pub(crate) fn chunk_into(&mut self, input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        match self.coding {
            Coding::Zstd => pool::zstd_frame(input, out)?,
            Coding::Gzip => {
                if !self.started {
                    out.extend_from_slice(&pool::GZIP_HEADER);
                }
                pool::deflate_piece(&self.recent, input, out)?;
                self.crc.update(input);
                self.len = self.len.wrapping_add(input.len() as u32);
            }
            Coding::Brotli => pool::brotli_piece(!self.started, input, out)?,
            Coding::Identity => out.extend_from_slice(input),
        }
        self.started = true;
        self.remember(input);
        Ok(())
    }

    /// The bytes that end the stream (for an empty stream, a whole empty
    /// one); empty when the stream needs no end.
    #[cfg(test)]
    pub(crate) fn finish(self) -> io::Result<Bytes> {
        let mut out = Vec::new();
        self.finish_into(&mut out)?;
        Ok(Bytes::from(out))
    }

    /// Appends the bytes that end the stream to `out` (for an empty stream,
    /// a whole empty one); nothing when the stream needs no end.
    pub(crate) fn finish_into(mut self, out: &mut Vec<u8>) -> io::Result<()> {
        match self.coding {
            Coding::Zstd if !self.started => pool::zstd_frame(&[], out)?,
            Coding::Zstd | Coding::Identity => {}
            Coding::Gzip => {
                if !self.started {
                    out.extend_from_slice(&pool::GZIP_HEADER);
                }
                out.extend_from_slice(&pool::DEFLATE_END);
                let crc = std::mem::take(&mut self.crc).finalize();
                out.extend_from_slice(&crc.to_le_bytes());
                out.extend_from_slice(&self.len.to_le_bytes());
            }
            Coding::Brotli => {
                if !self.started {
                    pool::brotli_piece(true, &[], out)?;
                }
                out.push(pool::BROTLI_END);
            }
        }
        Ok(())
    }

    /// Keeps the last [`PRIMER`] bytes of input for gzip, in an allocation
    /// no larger than they are.
    fn remember(&mut self, input: &[u8]) {
        if self.coding != Coding::Gzip {
            return;
        }
        let input = &input[input.len().saturating_sub(PRIMER)..];
        let keep = (PRIMER - input.len()).min(self.recent.len());
        self.recent.drain(..self.recent.len() - keep);
        self.recent.reserve_exact(input.len());
        self.recent.extend_from_slice(input);
    }
}

/// `body` compressed in `coding`, chunk by chunk; see the module docs.
///
/// Chunks that are ready together (a shell and the sections already
/// resolved, say) are compressed as one piece, up to [`INLINE_LIMIT`]: one
/// zstd frame or deflate flush instead of several costs a third of the CPU
/// and fewer bytes, and delays nothing, since each piece still ends where
/// the body has to wait.
pub(crate) fn encode(
    body: impl Stream<Item = io::Result<Bytes>> + 'static,
    coding: Coding,
) -> LocalBoxStream<'static, io::Result<Bytes>> {
    async_stream::try_stream! {
        let mut encoder = Encoder::new(coding);
        futures_util::pin_mut!(body);
        loop {
            let Some((input, ended)) = next_input(body.as_mut()).await? else {
                let mut end = Vec::new();
                encoder.finish_into(&mut end)?;
                if !end.is_empty() {
                    yield Bytes::from(end);
                }
                break;
            };
            let (back, mut out) = compress(encoder, input).await?;
            encoder = back;
            if ended {
                // The end goes out with the last piece, in the same write.
                std::mem::replace(&mut encoder, Encoder::new(coding)).finish_into(&mut out)?;
            }
            if !out.is_empty() {
                yield Bytes::from(out);
            }
            if ended {
                break;
            }
        }
    }
    .boxed_local()
}

/// The next chunk of `body` joined with those ready with it, up to
/// [`INLINE_LIMIT`], and whether the body ended right after them; `None`
/// once it has ended.
async fn next_input(
    mut body: std::pin::Pin<&mut impl Stream<Item = io::Result<Bytes>>>,
) -> io::Result<Option<(Bytes, bool)>> {
    let Some(first) = body.next().await else {
        return Ok(None);
    };
    let mut input = Joined::new(first?);
    while input.len() < INLINE_LIMIT {
        match body.next().now_or_never() {
            Some(Some(next)) => input.push(&next?),
            Some(None) => return Ok(Some((input.into_bytes(), true))),
            None => break,
        }
    }
    Ok(Some((input.into_bytes(), false)))
}

/// `input` compressed by `encoder`, on the blocking pool past
/// [`INLINE_LIMIT`] so a large section does not stall the worker's other
/// connections; the encoder comes back with it.
async fn compress(mut encoder: Encoder, input: Bytes) -> io::Result<(Encoder, Vec<u8>)> {
    let mut out = Vec::new();
    if input.len() > INLINE_LIMIT {
        let (back, piece) = tokio::task::spawn_blocking(move || {
            let done = encoder.chunk_into(&input, &mut out);
            (encoder, done.map(|()| out))
        })
        .await
        .map_err(io::Error::other)?;
        return Ok((back, piece?));
    }
    if !input.is_empty() {
        encoder.chunk_into(&input, &mut out)?;
    }
    Ok((encoder, out))
}

/// Chunks that were ready at once, joined only when there is more than one.
enum Joined {
    One(Bytes),
    Many(Vec<u8>),
}

impl Joined {
    fn new(first: Bytes) -> Self {
        Joined::One(first)
    }

    fn len(&self) -> usize {
        match self {
            Joined::One(bytes) => bytes.len(),
            Joined::Many(bytes) => bytes.len(),
        }
    }

    fn push(&mut self, next: &[u8]) {
        if next.is_empty() {
            return;
        }
        match self {
            Joined::One(first) => {
                let mut joined = Vec::with_capacity(first.len() + next.len());
                joined.extend_from_slice(first);
                joined.extend_from_slice(next);
                *self = Joined::Many(joined);
            }
            Joined::Many(joined) => joined.extend_from_slice(next),
        }
    }

    fn into_bytes(self) -> Bytes {
        match self {
            Joined::One(bytes) => bytes,
            Joined::Many(joined) => Bytes::from(joined),
        }
    }
}

/// `bytes`, a complete body, compressed in `coding` as one piece; `None`,
/// the failure logged, if it could not be (the body then goes as it is).
pub(crate) fn compressed(bytes: &[u8], coding: Coding) -> Option<Bytes> {
    logged(complete(bytes, coding))
}

/// [`compressed`] on the blocking pool, for a body over
/// [`INLINE_LIMIT`]: a large body does not stall the worker's other
/// connections.
pub(crate) async fn compressed_off_worker(bytes: Bytes, coding: Coding) -> Option<Bytes> {
    let done = tokio::task::spawn_blocking(move || complete(&bytes, coding))
        .await
        .unwrap_or_else(|err| Err(io::Error::other(err)));
    logged(done)
}

fn logged(compressed: io::Result<Bytes>) -> Option<Bytes> {
    compressed
        .inspect_err(|err| tracing::error!(error = %err, "body could not be compressed"))
        .ok()
}

/// `bytes`, a complete body, compressed in `coding` as one piece.
fn complete(bytes: &[u8], coding: Coding) -> io::Result<Bytes> {
    let mut encoder = Encoder::new(coding);
    let mut out = Vec::new();
    if !bytes.is_empty() {
        encoder.chunk_into(bytes, &mut out)?;
    }
    encoder.finish_into(&mut out)?;
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};

    use proptest::prelude::*;

    use super::*;

    const CODINGS: [Coding; 3] = [Coding::Zstd, Coding::Gzip, Coding::Brotli];

    /// A streaming decoder for `coding`, writing into a buffer.
    fn decoder(coding: Coding) -> Box<dyn DecodeInto> {
        match coding {
            Coding::Zstd => Box::new(zstd::stream::write::Decoder::new(Vec::new()).unwrap()),
            Coding::Gzip => Box::new(flate2::write::GzDecoder::new(Vec::new())),
            Coding::Brotli => Box::new(brotli::DecompressorWriter::new(Vec::new(), 4096)),
            Coding::Identity => unreachable!(),
        }
    }

    /// A decoder whose output so far can be read after every write.
    trait DecodeInto: io::Write {
        fn decoded(&self) -> &[u8];
    }
    impl DecodeInto for zstd::stream::write::Decoder<'static, Vec<u8>> {
        fn decoded(&self) -> &[u8] {
            self.get_ref()
        }
    }
    impl DecodeInto for flate2::write::GzDecoder<Vec<u8>> {
        fn decoded(&self) -> &[u8] {
            self.get_ref()
        }
    }
    impl DecodeInto for brotli::DecompressorWriter<Vec<u8>> {
        fn decoded(&self) -> &[u8] {
            self.get_ref()
        }
    }

    /// Encodes `chunks` one by one and checks that after each the decoder
    /// has produced exactly the input so far; returns the whole encoding.
    fn encode_checking_each_chunk(chunks: &[Vec<u8>], coding: Coding) -> Vec<u8> {
        let mut encoder = Encoder::new(coding);
        let mut decoder = decoder(coding);
        let mut sent = Vec::new();
        let mut wire = Vec::new();
        for chunk in chunks {
            let out = encoder.chunk(chunk).unwrap();
            wire.extend_from_slice(&out);
            sent.extend_from_slice(chunk);
            decoder.write_all(&out).unwrap();
            decoder.flush().unwrap();
            assert_eq!(decoder.decoded(), &sent[..], "{coding} after a chunk");
        }
        let end = encoder.finish().unwrap();
        wire.extend_from_slice(&end);
        decoder.write_all(&end).unwrap();
        decoder.flush().unwrap();
        assert_eq!(decoder.decoded(), &sent[..], "{coding} at the end");
        wire
    }

    /// Decodes a whole body with each coding's ordinary reader.
    fn decode(coding: Coding, wire: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        match coding {
            Coding::Zstd => {
                out = zstd::stream::decode_all(wire).unwrap();
            }
            Coding::Gzip => {
                flate2::read::GzDecoder::new(wire)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Coding::Brotli => {
                brotli::Decompressor::new(wire, 4096)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Coding::Identity => out = wire.to_vec(),
        }
        out
    }

    fn html_chunks() -> Vec<Vec<u8>> {
        // Words that do not repeat within a section, but do across them.
        let words: String = (0..300).map(|i| format!("w{} ", i * 7919 % 1000)).collect();
        let section = |i: usize| {
            format!(
                "<template for=\"s{i}\"><p class=\"ready\">section {i} ready</p>{words}</template>"
            )
        };
        vec![
            b"<!doctype html><html><head><title>t</title></head><body>".to_vec(),
            section(0).into_bytes(),
            section(1).into_bytes(),
            section(2).into_bytes(),
            b"</body></html>".to_vec(),
        ]
    }

    #[test]
    fn every_chunk_decodes_as_soon_as_it_is_sent() {
        for coding in CODINGS {
            let wire = encode_checking_each_chunk(&html_chunks(), coding);
            assert_eq!(decode(coding, &wire), html_chunks().concat(), "{coding}");
        }
    }

    #[test]
    fn an_empty_stream_is_a_valid_empty_encoding() {
        for coding in CODINGS {
            let end = Encoder::new(coding).finish().unwrap();
            assert!(!end.is_empty(), "{coding}");
            assert_eq!(decode(coding, &end), b"", "{coding}");
        }
    }

    #[test]
    fn priming_with_the_previous_chunk_shrinks_repeated_content() {
        let chunks = html_chunks();
        let primed = encode_checking_each_chunk(&chunks, Coding::Gzip).len();
        let alone: usize = chunks
            .iter()
            .map(|c| complete(c, Coding::Gzip).unwrap().len())
            .sum();
        assert!(primed * 10 < alone * 7, "{primed} vs {alone}");
    }

    #[test]
    fn the_primer_never_exceeds_its_bound() {
        let mut encoder = Encoder::new(Coding::Gzip);
        for len in [10, 5000, 100, 2047, 1, 3000] {
            encoder.chunk(&vec![b'a'; len]).unwrap();
            assert!(encoder.recent.len() <= PRIMER);
            assert!(
                encoder.recent.capacity() <= 2 * PRIMER,
                "{}",
                encoder.recent.capacity()
            );
        }
        for coding in [Coding::Zstd, Coding::Brotli] {
            let mut encoder = Encoder::new(coding);
            encoder.chunk(&[b'a'; 100]).unwrap();
            assert_eq!(encoder.recent.capacity(), 0, "{coding} keeps nothing");
        }
    }

    #[test]
    fn the_primer_holds_the_latest_bytes_in_order() {
        let mut encoder = Encoder::new(Coding::Gzip);
        encoder.chunk(&[1; 1500]).unwrap();
        encoder.chunk(&[2; 1000]).unwrap();
        assert_eq!(encoder.recent.len(), PRIMER);
        assert_eq!(encoder.recent[..PRIMER - 1000], [1; PRIMER - 1000]);
        assert_eq!(encoder.recent[PRIMER - 1000..], [2; 1000]);
    }

    #[tokio::test]
    async fn large_chunks_are_encoded_off_the_worker_and_still_in_order() {
        let big: Vec<u8> = (0..INLINE_LIMIT * 3).map(|i| (i % 97) as u8).collect();
        let chunks = vec![b"head".to_vec(), big, b"tail".to_vec()];
        for coding in CODINGS {
            let body =
                futures_util::stream::iter(chunks.clone().into_iter().map(|c| Ok(Bytes::from(c))));
            let wire: Vec<Bytes> = encode(body, coding)
                .map(|chunk| chunk.unwrap())
                .collect()
                .await;
            assert_eq!(decode(coding, &wire.concat()), chunks.concat(), "{coding}");
        }
    }

    #[tokio::test]
    async fn chunks_ready_together_go_out_as_one_piece() {
        let chunks = html_chunks();
        for coding in CODINGS {
            let body =
                futures_util::stream::iter(chunks.clone().into_iter().map(|c| Ok(Bytes::from(c))));
            let pieces: Vec<Bytes> = encode(body, coding)
                .map(|piece| piece.unwrap())
                .collect()
                .await;
            assert_eq!(pieces.len(), 1, "{coding}: one piece, its end included");
            assert_eq!(decode(coding, &pieces[0]), chunks.concat(), "{coding}");
        }
    }

    #[tokio::test]
    async fn a_chunk_goes_out_as_soon_as_the_body_waits() {
        for coding in CODINGS {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<io::Result<Bytes>>();
            let body = futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|chunk| (chunk, rx))
            });
            let mut encoded = encode(body, coding);
            let mut decoder = decoder(coding);
            tx.send(Ok(Bytes::from_static(b"<p>shell</p>"))).unwrap();
            tx.send(Ok(Bytes::from_static(b"<p>more</p>"))).unwrap();
            let first = encoded.next().await.unwrap().unwrap();
            decoder.write_all(&first).unwrap();
            decoder.flush().unwrap();
            assert_eq!(decoder.decoded(), b"<p>shell</p><p>more</p>", "{coding}");
            assert!(
                encoded.next().now_or_never().is_none(),
                "{coding}: nothing more until the body has more"
            );
            tx.send(Ok(Bytes::from_static(b"<p>late</p>"))).unwrap();
            drop(tx);
            let rest: Vec<Bytes> = encoded.map(|piece| piece.unwrap()).collect().await;
            for piece in rest {
                decoder.write_all(&piece).unwrap();
            }
            decoder.flush().unwrap();
            assert_eq!(
                decoder.decoded(),
                b"<p>shell</p><p>more</p><p>late</p>",
                "{coding}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn any_chunking_decodes_to_the_input(
            chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..3000), 0..8),
            text in prop::bool::ANY,
        ) {
            // Text-like input exercises matches into the primer; random bytes
            // exercise stored blocks.
            let chunks: Vec<Vec<u8>> = if text {
                chunks.iter().map(|c| c.iter().map(|b| b"<p>ab cd</p>"[usize::from(*b) % 12]).collect()).collect()
            } else {
                chunks
            };
            for coding in CODINGS {
                let wire = encode_checking_each_chunk(&chunks, coding);
                prop_assert_eq!(decode(coding, &wire), chunks.concat());
            }
        }
    }
}
