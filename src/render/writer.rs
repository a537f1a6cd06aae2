//! Writing a page's markup in pieces of bounded size: the shell with the
//! sections ready for it in place, a late section's template, or an
//! in-order document. Each section is rendered only when its slot is
//! reached, so a page holds its sections' data until then, not their
//! markup, and never more than one piece of output at a time.

use foldhash::HashMap;

use bytes::{Bytes, BytesMut};

use super::sections::{Part, Resolved, Sections};
use crate::wire::{self, Wire};

/// The most bytes of markup a streamed page yields in one chunk. actix
/// copies each chunk into its write buffer and polls for the next only
/// while that buffer has room, so this is also the most a page adds to a
/// slow client's connection. At 32 KiB, a typical page is still one chunk,
/// and a chunk is still compressed inline (`encoding::pieces`).
pub(super) const PIECE: usize = 32 * 1024;

/// Resolved sections waiting to be written, by key, and the bytes of
/// markup they hold (sections rendered when written hold none).
#[derive(Default)]
pub(super) struct Waiting {
    sections: HashMap<usize, Resolved>,
    bytes: usize,
}

impl Waiting {
    pub(super) fn insert(&mut self, key: usize, resolved: Resolved) {
        self.bytes += resolved.held_bytes();
        if let Some(old) = self.sections.insert(key, resolved) {
            self.bytes -= old.held_bytes();
        }
    }

    pub(super) fn remove(&mut self, key: usize) -> Option<Resolved> {
        let resolved = self.sections.remove(&key)?;
        self.bytes -= resolved.held_bytes();
        Some(resolved)
    }

    /// The bytes of markup held.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(super) fn contains(&self, key: usize) -> bool {
        self.sections.contains_key(&key)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.sections.is_empty()
    }

    pub(super) fn keys(&self) -> impl Iterator<Item = usize> + '_ {
        self.sections.keys().copied()
    }

    /// Moves the sections `keep` refuses into a `Waiting` of their own.
    pub(super) fn split_off(&mut self, keep: impl Fn(usize) -> bool) -> Waiting {
        let mut moved = Waiting::default();
        for (key, resolved) in self.sections.extract_if(|key, _| !keep(*key)) {
            moved.bytes += resolved.held_bytes();
            moved.sections.insert(key, resolved);
        }
        self.bytes -= moved.bytes;
        moved
    }
}

/// What is left to write, the next step last.
enum Step {
    Part(Part),
    CloseSlot,
    CloseLate,
}

/// Why [`Writer::write`] returned.
pub(super) enum Next {
    /// A piece of output is complete.
    Piece(Bytes),
    /// The slot of this section is next and it has not resolved (only when
    /// writing waits for slots, in order).
    Wait(usize),
    /// Everything pushed is written; the last bytes are still in the
    /// writer ([`Writer::take`]).
    Done,
}

/// Turns parts and sections into pieces of output.
pub(super) struct Writer {
    steps: Vec<Step>,
    buf: BytesMut,
    /// The size of a piece: [`PIECE`], or unbounded for a page sent whole.
    piece: usize,
    /// The most output held back for the reveal order before it is sent
    /// anyway.
    cap: usize,
    /// Sections written so far, and those written before the section they
    /// come after: output is not sent while one of those is in it.
    written: Vec<bool>,
    early: Vec<usize>,
}

impl Writer {
    pub(super) fn new(piece: usize, cap: usize) -> Self {
        Self {
            steps: Vec::new(),
            buf: BytesMut::new(),
            piece,
            cap,
            written: Vec::new(),
            early: Vec::new(),
        }
    }

    /// Queues `parts`, to be written before anything queued earlier.
    pub(super) fn push(&mut self, parts: Vec<Part>, sections: &Sections) {
        self.reserve(parts.iter().map(|part| match part {
            Part::Html(html) => html.len(),
            Part::Slot(key) => {
                let meta = &sections.meta[*key];
                wire::PLACEHOLDER_MARKUP + 2 * meta.id.len() + meta.loading.len()
            }
            // `ID.N`: the id, a dot and a count.
            Part::More(key) => wire::PLACEHOLDER_MARKUP + 2 * (sections.id(*key).len() + 8),
        }));
        self.steps.extend(parts.into_iter().rev().map(Step::Part));
    }

    /// Queues section `key`'s late chunk: its template and the call that
    /// moves it into its slot. Rendered now, if it was not yet.
    pub(super) fn late(
        &mut self,
        key: usize,
        resolved: Resolved,
        sections: &mut Sections,
        wire: &mut Wire,
    ) {
        // What the chunk fills is known before the section is rendered: a
        // list's next segment fills the end of its last one.
        // (An owned id only for a list: other sections fill their own.)
        let list_target = match sections.target(key) {
            std::borrow::Cow::Owned(target) => Some(target),
            std::borrow::Cow::Borrowed(_) => None,
        };
        let resolved = sections.render(key, resolved);
        let target = list_target.as_deref().unwrap_or(sections.id(key));
        self.reserve(std::iter::once(
            wire.late_markup_len(target) + resolved.held_bytes(),
        ));
        wire.open_late(&mut self.buf, target);
        self.steps.push(Step::CloseLate);
        self.open(resolved, sections);
    }

    /// Makes room for a whole piece at once: for output whose size is not
    /// known before it is rendered (sections written in place), one
    /// allocation rather than one per section.
    pub(super) fn reserve_piece(&mut self) {
        self.reserve(std::iter::once(self.piece.min(PIECE)));
    }

    /// The most output held back for the reveal order before it is sent.
    pub(super) fn cap(&self) -> usize {
        self.cap
    }

    /// Appends `bytes` after everything written.
    pub(super) fn extend(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Whatever output is in the writer, if any.
    pub(super) fn take(&mut self) -> Option<Bytes> {
        (!self.buf.is_empty()).then(|| std::mem::take(&mut self.buf).freeze())
    }

    /// Whether the output may be sent now: no section in it comes after
    /// one not yet written.
    pub(super) fn may_send(&self) -> bool {
        self.early.is_empty()
    }

    /// Writes what is queued until a piece is complete, until a slot whose
    /// section has not resolved is next (with `wait`; without it, such a
    /// slot gets its placeholder), or until everything is written. A
    /// section in `ready` is rendered and written in its slot.
    pub(super) fn write(
        &mut self,
        sections: &mut Sections,
        wire: &Wire,
        ready: &mut Waiting,
        wait: bool,
    ) -> Next {
        loop {
            if self.buf.len() >= self.piece && self.release() {
                return Next::Piece(std::mem::take(&mut self.buf).freeze());
            }
            let Some(step) = self.steps.pop() else {
                // Not kept while the page waits for its sections.
                self.steps = Vec::new();
                return Next::Done;
            };
            match step {
                Step::Part(Part::Html(html)) => self.html(html),
                Step::Part(Part::Slot(key)) => match ready.remove(key) {
                    Some(resolved) => {
                        let resolved = sections.render(key, resolved);
                        self.written(key, sections);
                        wire.open_slot(&mut self.buf, sections.id(key));
                        self.steps.push(Step::CloseSlot);
                        self.open(resolved, sections);
                    }
                    None if wait => {
                        self.steps.push(Step::Part(Part::Slot(key)));
                        return Next::Wait(key);
                    }
                    None => {
                        let meta = &sections.meta[key];
                        wire.placeholder(&mut self.buf, &meta.id, &meta.loading);
                    }
                },
                Step::Part(Part::More(key)) => match ready.remove(key) {
                    // A list's next items, in place after the ones before.
                    Some(resolved) => {
                        let resolved = sections.render(key, resolved);
                        self.open(resolved, sections);
                    }
                    None if wait => {
                        self.steps.push(Step::Part(Part::More(key)));
                        return Next::Wait(key);
                    }
                    None => wire.placeholder(&mut self.buf, &sections.target(key), b""),
                },
                Step::CloseSlot => wire.close_slot(&mut self.buf),
                Step::CloseLate => wire.close_late(&mut self.buf),
            }
        }
    }

    /// Whether a complete piece may go: at once, unless the reveal order
    /// holds it back, and then once the held output reaches the cap.
    fn release(&mut self) -> bool {
        if self.early.is_empty() {
            return true;
        }
        if self.buf.len() < self.cap {
            return false;
        }
        tracing::warn!(
            cap = self.cap,
            "reveal order given up: the output held for it reached the page's cap"
        );
        self.early.clear();
        true
    }

    /// Queues a section's rendered content (or writes its error markup).
    fn open(&mut self, resolved: Resolved, sections: &Sections) {
        match resolved {
            Resolved::Content(parts) => self.push(parts, sections),
            Resolved::Failed(html) => self.steps.push(Step::Part(Part::Html(html))),
            Resolved::Later(_) => unreachable!("rendered before it is opened"),
        }
    }

    /// Writes markup, up to the end of the current piece: the rest is
    /// queued, so no piece is larger than [`PIECE`] however large the
    /// markup.
    fn html(&mut self, html: Bytes) {
        let room = self.piece.saturating_sub(self.buf.len());
        if html.len() <= room || !self.early.is_empty() {
            self.buf.extend_from_slice(&html);
        } else {
            self.buf.extend_from_slice(&html[..room]);
            self.steps.push(Step::Part(Part::Html(html.slice(room..))));
        }
    }

    /// Notes that section `key` is written, and whether it is early.
    fn written(&mut self, key: usize, sections: &Sections) {
        if self.written.len() <= key {
            self.written.resize(key + 1, false);
        }
        self.written[key] = true;
        self.early
            .retain(|waiting| sections.meta[*waiting].after != Some(key));
        let is_written = |target: usize| self.written.get(target).copied().unwrap_or(false);
        if sections.meta[key]
            .after
            .is_some_and(|target| !is_written(target))
        {
            self.early.push(key);
        }
    }

    /// Makes room for what is about to be written, up to a piece: one
    /// allocation per piece rather than one per doubling.
    fn reserve(&mut self, sizes: impl Iterator<Item = usize>) {
        let want = sizes.sum::<usize>().min(self.piece);
        if self.buf.capacity() - self.buf.len() < want {
            self.buf.reserve(want);
        }
    }
}
