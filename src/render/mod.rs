//! The generator that turns a [`Page`] into a stream of HTML bytes: every
//! section future starts at once, and each [`Mode`] decides when the bytes of
//! the shell and of each section are yielded. It knows nothing about HTTP.

use std::io;
use std::rc::Rc;
use std::time::Duration;

use async_stream::stream;
use bytes::Bytes;
use futures_util::stream::LocalBoxStream;
use futures_util::{FutureExt as _, StreamExt as _};
use tokio::time::Instant;

use crate::client::ClientSide;
use crate::clock;
use crate::error::Error;
use crate::mode::Mode;
use crate::page::Fragment;
use crate::wire::{self, Wire};

mod body_end;
mod first_chunk;
mod sections;
#[cfg(test)]
mod tests;
mod writer;

use first_chunk::FirstChunk;
use sections::{Part, Resolved, Sections};
use writer::{Next, PIECE, Waiting, Writer};

/// The byte stream of a rendered page. It never yields an error: failures
/// after the shell become error markup in their slots.
pub type Body = LocalBoxStream<'static, io::Result<Bytes>>;

/// What rendering needs of a page besides its shell, and the client's side
/// of its connection.
#[derive(Debug)]
pub(crate) struct Options {
    pub(crate) nonce: Option<String>,
    pub(crate) deadline: Duration,
    pub(crate) max_sections: usize,
    pub(crate) shell_budget: Duration,
    pub(crate) max_held_bytes: usize,
    pub(crate) client: Option<Rc<ClientSide>>,
}

/// Renders `shell` in `mode`.
///
/// Checks the page first (templates render, section ids are valid and
/// unique, every section has exactly one slot) and fails before any byte is
/// produced if it is not sound. Dropping the stream drops every pending
/// section future.
pub(crate) fn render(shell: Fragment, options: Options, mode: Mode) -> Result<Body, Error> {
    let Options {
        nonce,
        deadline,
        max_sections,
        shell_budget,
        max_held_bytes,
        client,
    } = options;
    if let Some(nonce) = &nonce {
        wire::validate_nonce(nonce)?;
    }
    // Debug-level, like every pagepipe span: at the default level they would
    // cost ~28% of a small page's instructions while printing nothing.
    let span = tracing::debug_span!("page", mode = mode.as_str());
    let deadline = clock::after(Instant::now(), deadline);
    let mut sections = Sections::new(deadline, max_sections, span, client);
    let mut shell = shell;
    let first = match mode {
        Mode::Buffered => FirstChunk::none(),
        Mode::OutOfOrder | Mode::InOrder => FirstChunk::new(shell.template),
    };
    // Found once, in the shell: data blocks and late sections go before it.
    let tail = take_tail(&mut shell);
    let parts = sections.adopt(shell, None)?;
    let wire = Wire::new(nonce.as_deref());
    let shell = Shell {
        parts,
        tail,
        budget: shell_budget,
        cap: max_held_bytes,
        first,
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

/// The shell's markup split at its slots, what follows its `</body>`, how
/// long it may wait for sections to resolve before it is sent, and how much
/// markup of resolved sections the page may hold for its client.
struct Shell {
    parts: Vec<Part>,
    tail: Option<Bytes>,
    budget: Duration,
    cap: usize,
    /// Pads the first chunk when it is too short to be parsed at once.
    first: FirstChunk,
}

/// Waits up to `budget` for sections to resolve (nested ones included) and
/// returns those that did. With no budget it takes only what has resolved
/// already, without waiting; it returns as soon as every section resolved,
/// or once what it holds reaches `cap` bytes of markup.
async fn ready_by(sections: &mut Sections, budget: Duration, cap: usize) -> Waiting {
    let mut ready = Waiting::default();
    // Whatever is ready now, without waiting.
    while ready.bytes() < cap
        && let Some(Some((key, resolved))) = sections.next().now_or_never()
    {
        ready.insert(key, resolved);
    }
    wait_for_lookups(sections, &mut ready, cap).await;
    if budget.is_zero() || sections.all_resolved() || ready.bytes() >= cap {
        return ready;
    }
    let end = clock::after(Instant::now(), budget);
    // Lists go on while the shell waits: their rows by then are in place.
    for key in ready.keys().collect::<Vec<_>>() {
        sections.pull(key);
    }
    // Boxed: a page waiting for its sections later keeps the generator's
    // state, and this wait's timers need not be part of it.
    while ready.bytes() < cap
        && let Ok(Some((key, resolved))) =
            Box::pin(tokio::time::timeout_at(end, sections.next())).await
    {
        let resolved = match ready.remove(key) {
            Some(earlier) => sections.join_rows(earlier, resolved),
            None => resolved,
        };
        ready.insert(key, resolved);
        sections.pull(key);
    }
    ready
}

/// Waits for the lookups of cached sections in a store across the network
/// (each bounded by the store's timeout): a hit is then written in place,
/// as one in memory is, and a miss streams as usual. Sections that resolve
/// meanwhile are kept in `ready`.
async fn wait_for_lookups(sections: &mut Sections, ready: &mut Waiting, cap: usize) {
    let (looking, limit) = sections.lookups();
    if looking.is_empty() {
        return;
    }
    let end = clock::after(Instant::now(), limit);
    let all_done = async {
        for looking in &looking {
            looking.done().await;
        }
    };
    let mut all_done = std::pin::pin!(all_done);
    while ready.bytes() < cap {
        let next = tokio::select! {
            biased;
            next = tokio::time::timeout_at(end, sections.next()) => next,
            () = &mut all_done => break,
        };
        match next {
            Ok(Some((key, resolved))) => ready.insert(key, resolved),
            _ => break,
        }
    }
    // Sections resolved by the time the last lookup ended.
    while ready.bytes() < cap
        && let Some(Some((key, resolved))) = sections.next().now_or_never()
    {
        ready.insert(key, resolved);
    }
}

fn out_of_order(
    shell: Shell,
    mut sections: Sections,
    mut wire: Wire,
) -> impl futures_util::Stream<Item = io::Result<Bytes>> {
    stream! {
        let Shell { parts, tail, budget, cap, mut first } = shell;
        let mut ready = ready_by(&mut sections, budget, cap).await;
        let (mut held, mut shown) = hold_back(&sections, &mut ready);
        let mut writer = start(PIECE, cap, parts, &sections, &ready);
        while let Next::Piece(piece) = writer.write(&mut sections, &wire, &mut ready, false) {
            yield Ok(first.pass(piece, true));
        }
        // Every section in place: the page ends with this chunk.
        let complete = sections.all_resolved() && held.is_empty();
        if complete && let Some(tail) = &tail {
            writer.extend(tail);
        }
        if let Some(piece) = writer.take() {
            yield Ok(first.pass(piece, !complete));
        }
        if complete {
            return;
        }
        loop {
            while release(&mut held, &mut shown, &mut sections, &mut writer, &mut wire) {
                while let Next::Piece(piece) = writer.write(&mut sections, &wire, &mut ready, false) {
                    yield Ok(piece);
                }
            }
            if let Some(piece) = writer.take() {
                yield Ok(piece);
            }
            match sections.next().await {
                Some((key, resolved)) => held.insert(key, resolved),
                None => break,
            }
        }
        if let Some(tail) = tail {
            yield Ok(tail);
        }
    }
}

/// A writer for pieces of `piece` bytes that starts with `parts`, room made
/// at once if sections are to be written in place.
fn start(
    piece: usize,
    cap: usize,
    parts: Vec<Part>,
    sections: &Sections,
    ready: &Waiting,
) -> Writer {
    let mut writer = Writer::new(piece, cap);
    if !ready.is_empty() {
        writer.reserve_piece();
    }
    // The shell's parts are dropped as they are written: the page does not
    // hold its markup while sections are pending.
    writer.push(parts, sections);
    writer
}

/// Splits the sections ready by shell time into those written in place
/// (left in `ready`, and shown) and those held back, returned: they come
/// after a section still pending.
fn hold_back(sections: &Sections, ready: &mut Waiting) -> (Waiting, Shown) {
    let in_place = placeable(sections, ready);
    let held = ready.split_off(|key| in_place.contains(&key));
    let mut shown = Shown::default();
    for key in in_place {
        shown.insert(key);
    }
    (held, shown)
}

/// Queues the first held section that may show now as a late chunk;
/// whether there was one. Past the page's cap, a held section goes out
/// without waiting for the one it comes after (its parent must be out).
fn release(
    held: &mut Waiting,
    shown: &mut Shown,
    sections: &mut Sections,
    writer: &mut Writer,
    wire: &mut Wire,
) -> bool {
    let over = held.bytes() > writer.cap();
    let may_show = |key: usize| sections.may_show(key, |dep| shown.contains(dep));
    let Some(key) = held
        .keys()
        .filter(|key| {
            may_show(*key) || (over && sections.parent_shown(*key, |dep| shown.contains(dep)))
        })
        .min()
    else {
        return false;
    };
    if !may_show(key) {
        tracing::warn!(
            section = sections.id(key),
            cap = writer.cap(),
            "section sent before the one it comes after: the page held its cap of markup"
        );
    }
    let Some(resolved) = held.remove(key) else {
        return false;
    };
    writer.late(key, resolved, sections, wire);
    shown.insert(key);
    true
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
fn placeable(sections: &Sections, ready: &Waiting) -> foldhash::HashSet<usize> {
    let mut placed = foldhash::HashSet::default();
    loop {
        let before = placed.len();
        for key in ready.keys() {
            if !placed.contains(&key) && sections.may_show(key, |dep| placed.contains(&dep)) {
                placed.insert(key);
            }
        }
        if placed.len() == before {
            return placed;
        }
    }
}

fn in_order(
    shell: Shell,
    mut sections: Sections,
    wire: Wire,
    buffered: bool,
) -> impl futures_util::Stream<Item = io::Result<Bytes>> {
    stream! {
        let Shell { parts, tail, budget, cap, mut first } = shell;
        let mut ready = if buffered {
            Waiting::default()
        } else {
            ready_by(&mut sections, budget, cap).await
        };
        // A buffered page is one chunk: it is held whole by design.
        let (piece, cap) = if buffered { (usize::MAX, usize::MAX) } else { (PIECE, cap) };
        let mut writer = start(piece, cap, parts, &sections, &ready);
        loop {
            let key = match writer.write(&mut sections, &wire, &mut ready, true) {
                Next::Piece(piece) => {
                    yield Ok(first.pass(piece, true));
                    continue;
                }
                Next::Wait(key) => key,
                Next::Done => break,
            };
            // What is written so far goes out while the next slot waits.
            if !buffered && writer.may_send() && let Some(piece) = writer.take() {
                yield Ok(first.pass(piece, true));
            }
            wait_for(key, &mut sections, &mut ready, cap).await;
        }
        if let Some(tail) = tail {
            writer.extend(&tail);
        }
        if let Some(piece) = writer.take() {
            yield Ok(piece);
        }
    }
}

/// Waits until section `key` has resolved, keeping the sections that
/// resolve meanwhile for their turn: past `cap` bytes of markup held, with
/// their error markup rather than their markup.
async fn wait_for(key: usize, sections: &mut Sections, ready: &mut Waiting, cap: usize) {
    while let Some((done, resolved)) = sections.next().await {
        if done == key {
            ready.insert(done, resolved);
            return;
        }
        let resolved = if ready.bytes() + resolved.held_bytes() > cap {
            sections.over_cap(done, cap)
        } else {
            resolved
        };
        ready.insert(done, resolved);
    }
    if !ready.contains(key) {
        // Every section resolves before the stream ends; should one not,
        // its slot still closes.
        let timeout = Bytes::from_static(wire::DEFAULT_TIMEOUT.as_bytes());
        ready.insert(key, Resolved::Failed(timeout));
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
