//! The compressors behind [`pieces`](super::pieces): each call compresses
//! one piece completely, so no compressor outlives it. zstd and deflate
//! contexts are reused per thread (a thread compresses one piece at a time),
//! so their tables are allocated once per thread, not once per response;
//! brotli has no reset, so each piece gets a fresh encoder sized for it.

use std::cell::RefCell;
use std::io;

use brotli::enc::StandardAlloc;
use brotli::enc::encode::{
    BrotliEncoderMaxCompressedSize, BrotliEncoderOperation, BrotliEncoderParameter,
    BrotliEncoderStateStruct,
};
use flate2::{Compress, Compression, FlushCompress};

/// zstd level for dynamic content: level 3 gains about 1% on a page of
/// small frames and costs more per frame.
pub(super) const ZSTD_LEVEL: i32 = 1;
/// Deflate level for dynamic content: the fastest, whose Huffman coding of
/// each piece still gets within a few percent of level 6 on HTML.
pub(super) const GZIP_LEVEL: u32 = 1;
/// Brotli quality for dynamic content: 5 and up cost twice the time for
/// about 5% fewer bytes on a page.
pub(super) const BROTLI_QUALITY: u32 = 3;
/// Brotli window for dynamic content: 256 KiB, written in the first piece's
/// header; later pieces never refer further back.
pub(super) const BROTLI_LGWIN: u32 = 18;

thread_local! {
    static ZSTD: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
    static DEFLATE: RefCell<Option<Compress>> = const { RefCell::new(None) };
}

/// Appends `input` to `out` as one complete zstd frame.
pub(super) fn zstd_frame(input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    ZSTD.with(|cell| {
        let mut cell = cell.borrow_mut();
        let compressor = match cell.as_mut() {
            Some(compressor) => compressor,
            None => {
                let mut compressor = zstd::bulk::Compressor::new(ZSTD_LEVEL)?;
                // Each frame is a few KiB sent over a checked transport.
                compressor.include_checksum(false)?;
                cell.insert(compressor)
            }
        };
        out.reserve(zstd::zstd_safe::compress_bound(input.len()));
        compressor.compress_to_buffer(input, out)?;
        Ok(())
    })
}

/// Appends `input` to `out` as raw deflate blocks ending in a sync flush
/// (so the stream is byte aligned and everything so far decodes), from a
/// compressor primed with `dictionary`: the bytes just before `input` in
/// the decoder's window, so matches may reach back into them.
pub(super) fn deflate_piece(dictionary: &[u8], input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    DEFLATE.with(|cell| {
        let mut cell = cell.borrow_mut();
        let compress =
            cell.get_or_insert_with(|| Compress::new(Compression::new(GZIP_LEVEL), false));
        compress.reset();
        if !dictionary.is_empty() {
            compress
                .set_dictionary(dictionary)
                .map_err(io::Error::other)?;
        }
        let start = compress.total_in();
        out.reserve(input.len() + input.len() / 8 + 64);
        loop {
            let consumed = usize::try_from(compress.total_in() - start).unwrap_or(input.len());
            compress
                .compress_vec(&input[consumed..], out, FlushCompress::Sync)
                .map_err(io::Error::other)?;
            let all_in = compress.total_in() - start == input.len() as u64;
            // zlib's rule: a flush is complete once it left output space.
            if all_in && out.len() < out.capacity() {
                return Ok(());
            }
            out.reserve(out.capacity().max(64));
        }
    })
}

/// Appends `input` to `out` as brotli meta-blocks that end byte aligned and
/// not last. The first piece starts the stream (its window size); later
/// ones are bare and catable: no header, no reference to anything before
/// them. A stream ends with [`BROTLI_END`].
pub(super) fn brotli_piece(first: bool, input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    use BrotliEncoderParameter as P;
    let mut state = BrotliEncoderStateStruct::new(StandardAlloc::default());
    state.set_parameter(P::BROTLI_PARAM_QUALITY, BROTLI_QUALITY);
    state.set_parameter(P::BROTLI_PARAM_LGWIN, BROTLI_LGWIN);
    state.set_parameter(
        P::BROTLI_PARAM_SIZE_HINT,
        u32::try_from(input.len()).unwrap_or(u32::MAX),
    );
    if first {
        state.set_parameter(P::BROTLI_PARAM_APPENDABLE, 1);
    } else {
        state.set_parameter(P::BROTLI_PARAM_CATABLE, 1);
        state.set_parameter(P::BROTLI_PARAM_BARE_STREAM, 1);
    }
    let start = out.len();
    out.resize(start + BrotliEncoderMaxCompressedSize(input.len()) + 16, 0);
    let (mut available_in, mut next_in) = (input.len(), 0);
    let (mut available_out, mut next_out) = (out.len() - start, start);
    loop {
        let ok = state.compress_stream(
            BrotliEncoderOperation::BROTLI_OPERATION_FLUSH,
            &mut available_in,
            input,
            &mut next_in,
            &mut available_out,
            out,
            &mut next_out,
            &mut None,
            &mut |_, _, _, _| (),
        );
        if !ok {
            out.truncate(start);
            return Err(io::Error::other("brotli encoder failed"));
        }
        if available_in == 0 && !state.has_more_output() {
            break;
        }
        if available_out == 0 {
            out.resize(out.len() + 4096, 0);
            available_out = out.len() - next_out;
        }
    }
    out.truncate(next_out);
    Ok(())
}

/// An empty last meta-block (ISLAST, ISLASTEMPTY), ending a brotli stream
/// whose pieces all ended byte aligned.
pub(super) const BROTLI_END: u8 = 0x03;

/// The start of a gzip member (RFC 1952): deflate, no name, no time,
/// unknown OS.
pub(super) const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// An empty final deflate block with fixed codes: `BFINAL=1, BTYPE=01`,
/// then the end-of-block code, padded to a byte.
pub(super) const DEFLATE_END: [u8; 2] = [0x03, 0x00];
