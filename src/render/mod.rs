//! The generator that turns a [`Page`] into a stream of HTML bytes: every
//! section future starts at once, and each [`Mode`] decides when the bytes of
//! the shell and of each section are yielded. It knows nothing about HTTP.

use std::collections::HashMap;
use std::io;

use async_stream::stream;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt as _;
use futures_util::stream::LocalBoxStream;
use tokio::time::Instant;

use crate::error::Error;
use crate::mode::Mode;
use crate::page::{Fragment, Page};
use crate::wire::{self, Wire};

mod sections;
#[cfg(test)]
mod tests;

use sections::{Part, Resolved, Sections};

/// The byte stream of a rendered page. It never yields an error: failures
/// after the shell become error markup in their slots.
pub type Body = LocalBoxStream<'static, io::Result<Bytes>>;

/// Renders `page` in `mode`.
///
/// Checks the page first (templates render, section ids are valid and
/// unique, every section has exactly one slot) and fails before any byte is
/// produced if it is not sound. Dropping the stream drops every pending
/// section future.
pub fn render(page: Page, mode: Mode) -> Result<Body, Error> {
    let Page {
        shell,
        nonce,
        deadline,
        max_sections,
        ..
    } = page;
    if let Some(nonce) = &nonce {
        wire::validate_nonce(nonce)?;
    }
    // Debug-level, like every pagepipe span: at the default level they would
    // cost ~28% of a small page's instructions while printing nothing.
    let span = tracing::debug_span!("page", mode = mode.as_str());
    let mut sections = Sections::new(Instant::now() + deadline, max_sections, span);
    let mut shell = shell;
    // Found once, in the shell: data blocks and late sections go before it.
    let tail = take_tail(&mut shell);
    let parts = sections.adopt(shell)?;
    let wire = Wire::new(nonce.as_deref());
    Ok(match mode {
        Mode::OutOfOrder => out_of_order(parts, tail, sections, wire).boxed_local(),
        Mode::InOrder => in_order(parts, tail, sections, wire, false).boxed_local(),
        Mode::Buffered => in_order(parts, tail, sections, wire, true).boxed_local(),
    })
}

/// Concatenates a rendered page's chunks; a buffered page's one chunk is
/// passed on without a copy.
pub(crate) async fn collect(body: Body) -> Bytes {
    let mut chunks: Vec<Bytes> = body
        .filter_map(|chunk| async { chunk.ok() })
        .collect()
        .await;
    match chunks.len() {
        1 => chunks.pop().unwrap_or_default(),
        _ => Bytes::from(chunks.concat()),
    }
}

/// How many bytes [`write_placeholders`] writes for `parts`, so a chunk is
/// allocated once rather than grown and copied as it fills.
fn placeholders_len(parts: &[Part], sections: &Sections) -> usize {
    parts
        .iter()
        .map(|part| match part {
            Part::Html(html) => html.len(),
            Part::Slot(key) => {
                let meta = &sections.meta[*key];
                wire::PLACEHOLDER_MARKUP + 2 * meta.id.len() + meta.loading.len()
            }
            Part::CloseSlot => wire::CLOSE_SLOT.len(),
        })
        .sum()
}

/// Writes `parts` with a placeholder (slot + loading markup) for every slot.
fn write_placeholders(buf: &mut BytesMut, parts: &[Part], sections: &Sections, wire: &Wire) {
    for part in parts {
        match part {
            Part::Html(html) => buf.extend_from_slice(html),
            Part::Slot(key) => {
                let meta = &sections.meta[*key];
                wire.placeholder(buf, &meta.id, &meta.loading);
            }
            Part::CloseSlot => wire.close_slot(buf),
        }
    }
}

fn out_of_order(
    parts: Vec<Part>,
    tail: Option<Bytes>,
    mut sections: Sections,
    mut wire: Wire,
) -> impl futures_util::Stream<Item = io::Result<Bytes>> {
    stream! {
        let mut buf = BytesMut::with_capacity(placeholders_len(&parts, &sections));
        write_placeholders(&mut buf, &parts, &sections, &wire);
        // The shell's markup is sent: free it rather than hold it while
        // sections are pending. Each chunk takes its buffer along (`take`,
        // not `split`, which would keep the rest of the allocation alive).
        drop(parts);
        yield Ok(std::mem::take(&mut buf).freeze());
        while let Some((key, resolved)) = sections.next().await {
            let content_len = match &resolved {
                Resolved::Content(parts) => placeholders_len(parts, &sections),
                Resolved::Failed(html) => html.len(),
            };
            buf.reserve(wire.late_markup_len(sections.id(key)) + content_len);
            wire.open_late(&mut buf, sections.id(key));
            match resolved {
                Resolved::Content(parts) => write_placeholders(&mut buf, &parts, &sections, &wire),
                Resolved::Failed(html) => buf.extend_from_slice(&html),
            }
            wire.close_late(&mut buf);
            yield Ok(std::mem::take(&mut buf).freeze());
        }
        if let Some(tail) = tail {
            yield Ok(tail);
        }
    }
}

fn in_order(
    parts: Vec<Part>,
    tail: Option<Bytes>,
    mut sections: Sections,
    wire: Wire,
    buffered: bool,
) -> impl futures_util::Stream<Item = io::Result<Bytes>> {
    stream! {
        // Parts still to write, the next one last.
        let mut todo: Vec<Part> = parts.into_iter().rev().collect();
        let mut ready: HashMap<usize, Resolved> = HashMap::new();
        let mut buf = BytesMut::new();
        while let Some(part) = todo.pop() {
            let key = match part {
                Part::Html(html) => {
                    buf.extend_from_slice(&html);
                    continue;
                }
                Part::CloseSlot => {
                    wire.close_slot(&mut buf);
                    continue;
                }
                Part::Slot(key) => key,
            };
            let resolved = loop {
                if let Some(resolved) = ready.remove(&key) {
                    break resolved;
                }
                if !buffered && !buf.is_empty() {
                    yield Ok(std::mem::take(&mut buf).freeze());
                }
                match sections.next().await {
                    Some((done, resolved)) => {
                        ready.insert(done, resolved);
                    }
                    None => unreachable!("an unresolved section is pending or expired"),
                }
            };
            wire.open_slot(&mut buf, sections.id(key));
            match resolved {
                Resolved::Content(parts) => {
                    todo.push(Part::CloseSlot);
                    todo.extend(parts.into_iter().rev());
                }
                Resolved::Failed(html) => {
                    buf.extend_from_slice(&html);
                    wire.close_slot(&mut buf);
                }
            }
        }
        if let Some(tail) = tail {
            buf.extend_from_slice(&tail);
        }
        if !buf.is_empty() {
            yield Ok(buf.freeze());
        }
    }
}

/// Takes the closing `</body>` and what follows it off the end of the
/// shell's markup, so data blocks and late sections are written inside the
/// body; nothing is taken if a slot follows it. The tail is copied, so the
/// shell's markup can be freed once it is sent.
fn take_tail(shell: &mut Fragment) -> Option<Bytes> {
    let html = shell.html.as_mut().ok()?;
    let at = rfind_body_end(html.as_bytes())?;
    if wire::find_slot_markers(&html.as_bytes()[at..])
        .next()
        .is_some()
    {
        return None;
    }
    let tail = Bytes::copy_from_slice(&html.as_bytes()[at..]);
    html.truncate(at);
    Some(tail)
}

/// Where the last `</body` in any case starts, searching back from the end
/// `<` by `<` without copying the markup.
fn rfind_body_end(html: &[u8]) -> Option<usize> {
    memchr::memrchr_iter(b'<', html).find(|&at| {
        html[at..]
            .get(..6)
            .is_some_and(|tag| tag.eq_ignore_ascii_case(b"</body"))
    })
}
