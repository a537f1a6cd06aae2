//! The generator that turns a [`Page`] into a stream of HTML bytes: every
//! section future starts at once, and each [`Mode`] decides when the bytes of
//! the shell and of each section are yielded. It knows nothing about HTTP.

use std::collections::HashMap;
use std::io;
use std::time::Duration;

use async_stream::stream;
use bytes::{Bytes, BytesMut};
use futures_util::stream::LocalBoxStream;
use futures_util::{FutureExt as _, StreamExt as _};
use tokio::time::Instant;

use crate::error::Error;
use crate::mode::Mode;
use crate::page::{Fragment, Page};
use crate::wire::{self, Wire};

mod body_end;
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
        shell_budget,
        client,
        ..
    } = page;
    if let Some(nonce) = &nonce {
        wire::validate_nonce(nonce)?;
    }
    // Debug-level, like every pagepipe span: at the default level they would
    // cost ~28% of a small page's instructions while printing nothing.
    let span = tracing::debug_span!("page", mode = mode.as_str());
    let now = Instant::now();
    // A deadline past what the clock can count is no deadline.
    let deadline = now
        .checked_add(deadline)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600));
    let mut sections = Sections::new(deadline, max_sections, span, client);
    let mut shell = shell;
    // Found once, in the shell: data blocks and late sections go before it.
    let tail = take_tail(&mut shell);
    let parts = sections.adopt(shell, None)?;
    let wire = Wire::new(nonce.as_deref());
    let shell = Shell {
        parts,
        tail,
        budget: shell_budget,
    };
    Ok(match mode {
        Mode::OutOfOrder => out_of_order(shell, sections, wire).boxed_local(),
        Mode::InOrder => in_order(shell, sections, wire, false).boxed_local(),
        Mode::Buffered => in_order(shell, sections, wire, true).boxed_local(),
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

/// The shell's markup split at its slots, what follows its `</body>`, and
/// how long it may wait for sections to resolve before it is sent.
struct Shell {
    parts: Vec<Part>,
    tail: Option<Bytes>,
    budget: Duration,
}

/// Sections resolved before the shell is sent, by key: written in place.
type Ready = HashMap<usize, Resolved>;

/// Waits up to `budget` for sections to resolve (nested ones included) and
/// returns those that did. With no budget it takes only what has resolved
/// already, without waiting; it returns as soon as every section resolved.
async fn ready_by(sections: &mut Sections, budget: Duration) -> Ready {
    let mut ready = Ready::new();
    // Whatever is ready now, without waiting.
    while let Some(Some((key, resolved))) = sections.next().now_or_never() {
        ready.insert(key, resolved);
    }
    if budget.is_zero() || sections.all_resolved() {
        return ready;
    }
    let end = Instant::now() + budget;
    // Boxed: a page waiting for its sections later keeps the generator's
    // state, and this wait's timers need not be part of it.
    while let Ok(Some((key, resolved))) =
        Box::pin(tokio::time::timeout_at(end, sections.next())).await
    {
        ready.insert(key, resolved);
    }
    ready
}

/// How many bytes [`write_shell`] writes for `parts`, so a chunk is
/// allocated once rather than grown and copied as it fills.
fn shell_len(parts: &[Part], sections: &Sections, ready: &Ready) -> usize {
    parts
        .iter()
        .map(|part| match part {
            Part::Html(html) => html.len(),
            Part::Slot(key) => {
                let meta = &sections.meta[*key];
                match ready.get(key) {
                    Some(resolved) => {
                        wire::SLOT_MARKUP
                            + meta.id.len()
                            + match resolved {
                                Resolved::Content(parts) => shell_len(parts, sections, ready),
                                Resolved::Failed(html) => html.len(),
                            }
                    }
                    None => wire::PLACEHOLDER_MARKUP + 2 * meta.id.len() + meta.loading.len(),
                }
            }
            Part::CloseSlot => wire::CLOSE_SLOT.len(),
        })
        .sum()
}

/// Writes `parts`: every section in `ready` in place (its content, or its
/// error markup, in its slot), every other one as a placeholder holding its
/// loading markup.
fn write_shell(
    buf: &mut BytesMut,
    parts: &[Part],
    sections: &Sections,
    wire: &Wire,
    ready: &mut Ready,
) {
    for part in parts {
        match part {
            Part::Html(html) => buf.extend_from_slice(html),
            Part::Slot(key) => {
                let id = &sections.meta[*key].id;
                match ready.remove(key) {
                    Some(Resolved::Content(inner)) => {
                        wire.open_slot(buf, id);
                        write_shell(buf, &inner, sections, wire, ready);
                        wire.close_slot(buf);
                    }
                    Some(Resolved::Failed(html)) => {
                        wire.open_slot(buf, id);
                        buf.extend_from_slice(&html);
                        wire.close_slot(buf);
                    }
                    None => wire.placeholder(buf, id, &sections.meta[*key].loading),
                }
            }
            Part::CloseSlot => wire.close_slot(buf),
        }
    }
}

fn out_of_order(
    shell: Shell,
    mut sections: Sections,
    mut wire: Wire,
) -> impl futures_util::Stream<Item = io::Result<Bytes>> {
    stream! {
        let Shell { parts, tail, budget } = shell;
        let mut ready = ready_by(&mut sections, budget).await;
        // Ready sections that may not show yet (they come after a section
        // still pending) wait with those that resolve later.
        let in_place = placeable(&sections, &ready);
        let mut held: Ready = ready.extract_if(|key, _| !in_place.contains(key)).collect();
        let mut shown = Shown::default();
        for key in in_place {
            shown.insert(key);
        }
        let mut buf = BytesMut::with_capacity(shell_len(&parts, &sections, &ready));
        write_shell(&mut buf, &parts, &sections, &wire, &mut ready);
        // The shell's markup is sent: free it rather than hold it while
        // sections are pending. Each chunk takes its buffer along (`take`,
        // not `split`, which would keep the rest of the allocation alive).
        drop(parts);
        if sections.all_resolved() && held.is_empty() {
            // Every section is in place: the page is one chunk.
            if let Some(tail) = &tail {
                buf.extend_from_slice(tail);
            }
            yield Ok(std::mem::take(&mut buf).freeze());
            return;
        }
        yield Ok(std::mem::take(&mut buf).freeze());
        loop {
            // Every held section that may show now goes out, in one chunk;
            // each one shown may let others follow.
            while let Some(key) = held
                .keys()
                .copied()
                .filter(|key| sections.may_show(*key, |dep| shown.contains(dep)))
                .min()
            {
                let Some(resolved) = held.remove(&key) else { break };
                write_late(&mut buf, key, resolved, &sections, &mut wire);
                shown.insert(key);
            }
            if !buf.is_empty() {
                yield Ok(std::mem::take(&mut buf).freeze());
            }
            match sections.next().await {
                Some((key, resolved)) => {
                    held.insert(key, resolved);
                }
                None => break,
            }
        }
        if let Some(tail) = tail {
            yield Ok(tail);
        }
    }
}

/// Sections already sent, by key.
#[derive(Debug, Default)]
struct Shown(Vec<bool>);

impl Shown {
    fn insert(&mut self, key: usize) {
        if self.0.len() <= key {
            self.0.resize(key + 1, false);
        }
        self.0[key] = true;
    }

    fn contains(&self, key: usize) -> bool {
        self.0.get(key).copied().unwrap_or(false)
    }
}

/// The ready sections that can be written in the shell: those whose parent
/// is in it too (or that are in the shell's own markup) and whose reveal
/// target is in it too.
fn placeable(sections: &Sections, ready: &Ready) -> std::collections::HashSet<usize> {
    let mut placed = std::collections::HashSet::with_capacity(ready.len());
    loop {
        let before = placed.len();
        for &key in ready.keys() {
            if !placed.contains(&key) && sections.may_show(key, |dep| placed.contains(&dep)) {
                placed.insert(key);
            }
        }
        if placed.len() == before {
            return placed;
        }
    }
}

/// Writes section `key`'s late chunk: its template and the call that moves
/// it into its slot.
fn write_late(
    buf: &mut BytesMut,
    key: usize,
    resolved: Resolved,
    sections: &Sections,
    wire: &mut Wire,
) {
    let content_len = match &resolved {
        Resolved::Content(parts) => shell_len(parts, sections, &Ready::new()),
        Resolved::Failed(html) => html.len(),
    };
    buf.reserve(wire.late_markup_len(sections.id(key)) + content_len);
    wire.open_late(buf, sections.id(key));
    match resolved {
        Resolved::Content(parts) => write_shell(buf, &parts, sections, wire, &mut Ready::new()),
        Resolved::Failed(html) => buf.extend_from_slice(&html),
    }
    wire.close_late(buf);
}

fn in_order(
    shell: Shell,
    mut sections: Sections,
    wire: Wire,
    buffered: bool,
) -> impl futures_util::Stream<Item = io::Result<Bytes>> {
    stream! {
        let Shell { parts, tail, budget } = shell;
        // Parts still to write, the next one last.
        let mut todo: Vec<Part> = parts.into_iter().rev().collect();
        let mut ready = if buffered {
            Ready::new()
        } else {
            ready_by(&mut sections, budget).await
        };
        let mut buf = BytesMut::new();
        // Sections written so far, and those written whose reveal target is
        // not: the buffer is not flushed while any of those is in it.
        let mut written = Shown::default();
        let mut early: Vec<usize> = Vec::new();
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
                if !buffered && !buf.is_empty() && early.is_empty() {
                    yield Ok(std::mem::take(&mut buf).freeze());
                }
                match sections.next().await {
                    Some((done, resolved)) => {
                        ready.insert(done, resolved);
                    }
                    None => unreachable!("an unresolved section is pending or expired"),
                }
            };
            written.insert(key);
            early.retain(|waiting| sections.meta[*waiting].after != Some(key));
            if sections.meta[key].after.is_some_and(|target| !written.contains(target)) {
                early.push(key);
            }
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

/// Where the shell's real closing body tag starts: the last one in markup,
/// not in a comment, script, style or attribute value (`body_end.rs`).
fn rfind_body_end(html: &[u8]) -> Option<usize> {
    body_end::body_end(html)
}
