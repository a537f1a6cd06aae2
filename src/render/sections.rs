//! The sections of one page while it renders: their futures (all started
//! at once), the deadline, and how a resolved future becomes slot content.

use std::borrow::Cow;
use std::collections::BTreeSet;

// Ids are the page author's, never the client's: no need for SipHash.
use foldhash::{HashMap, HashMapExt as _, HashSet, HashSetExt as _};
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::LocalBoxFuture;
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt as _, StreamExt as _};
use tokio::time::Instant;
use tracing::Instrument as _;
use tracing::field::Empty;

use crate::client::ClientSide;
use crate::clock;
use crate::error::Error;
use crate::page::Fragment;
use crate::section::{
    BoxError, Content, End, ErrorMarkup, Failure, FailureKind, Items, Segment, public_message,
};
use crate::wire;

/// A piece of rendered markup in document order.
#[derive(Debug)]
pub(super) enum Part {
    /// Static markup.
    Html(Bytes),
    /// The slot of the section with this key.
    Slot(usize),
    /// The rest of list section `key` ([`Section::stream`](crate::Section::stream)):
    /// its next items, written without a slot of their own, or, until they
    /// come, an empty placeholder that their late chunk fills.
    More(usize),
}

/// What a slot ends up holding.
pub(super) enum Resolved {
    /// The section's content, which may hold slots of nested sections.
    Content(Vec<Part>),
    /// The loader's value, to be rendered when the section is written
    /// ([`Sections::render`]).
    Later(Box<dyn FnOnce() -> Fragment>),
    /// The error markup of a section that failed, panicked or timed out.
    Failed(Bytes),
}

impl Resolved {
    /// The bytes of markup it holds: none until it is rendered.
    pub(super) fn held_bytes(&self) -> usize {
        match self {
            Resolved::Content(parts) => parts
                .iter()
                .map(|part| match part {
                    Part::Html(html) => html.len(),
                    Part::Slot(_) | Part::More(_) => 0,
                })
                .sum(),
            Resolved::Later(_) => 0,
            Resolved::Failed(html) => html.len(),
        }
    }
}

/// How a section's future ended.
enum Outcome {
    Ready(Result<Content, BoxError>),
    Panicked,
    TimedOut,
}

impl Outcome {
    fn name(&self) -> &'static str {
        match self {
            Outcome::Ready(Ok(_)) => "ok",
            Outcome::Ready(Err(_)) => "error",
            Outcome::Panicked => "panic",
            Outcome::TimedOut => "timeout",
        }
    }
}

/// What the renderer keeps of a section besides its future.
pub(super) struct Meta {
    pub(super) id: String,
    pub(super) loading: Bytes,
    /// The section whose content holds this one's slot.
    pub(super) parent: Option<usize>,
    /// The section this one appears no earlier than.
    pub(super) after: Option<usize>,
    error: Option<ErrorMarkup>,
    /// What a list section shows after its last item.
    end: Option<Bytes>,
    /// When the section's own timeout ends it, if it has one.
    ends_at: Option<Instant>,
    /// A cached section's lookup, which the shell waits for.
    looking: Option<Rc<crate::section::Looking>>,
    /// `section` span: id, then wait time, bytes and outcome once resolved.
    span: tracing::Span,
}

/// Every section of one page, the futures still pending, and the deadline.
pub(super) struct Sections {
    pub(super) meta: Vec<Meta>,
    ids: HashSet<String>,
    pending: FuturesUnordered<LocalBoxFuture<'static, (usize, Outcome)>>,
    unresolved: BTreeSet<usize>,
    started: Instant,
    deadline: Instant,
    expired: bool,
    /// The page ended because its client finished sending: its timeouts
    /// are nobody's failure, so they are not logged as warnings.
    quiet: bool,
    max_sections: usize,
    /// The `page` span every section span hangs from.
    span: tracing::Span,
    /// The list sections that have written items, by key.
    lists: HashMap<usize, List>,
    /// When a shutdown wants every page ended.
    shutdown: tokio::sync::watch::Receiver<Option<Instant>>,
    /// The client's side of the connection: once it has finished sending,
    /// the page ends at once.
    client: Option<Rc<ClientSide>>,
}

impl Sections {
    pub(super) fn new(
        deadline: Instant,
        max_sections: usize,
        span: tracing::Span,
        client: Option<Rc<ClientSide>>,
    ) -> Self {
        Self {
            meta: Vec::new(),
            ids: HashSet::new(),
            pending: FuturesUnordered::new(),
            unresolved: BTreeSet::new(),
            started: Instant::now(),
            deadline,
            expired: false,
            quiet: false,
            max_sections,
            span,
            lists: HashMap::new(),
            shutdown: crate::shutdown::watch(),
            client,
        }
    }

    /// Whether every section so far, nested ones included, has resolved.
    pub(super) fn all_resolved(&self) -> bool {
        self.unresolved.is_empty() && !self.lists.values().any(List::is_suspended)
    }

    pub(super) fn id(&self, key: usize) -> &str {
        &self.meta[key].id
    }

    /// The lookups of cached sections still pending, which the shell
    /// waits for (at most the longest time they may take).
    pub(super) fn lookups(&self) -> (Vec<Rc<crate::section::Looking>>, Duration) {
        let looking: Vec<_> = self
            .unresolved
            .iter()
            .filter_map(|key| self.meta[*key].looking.clone())
            .filter(|looking| !looking.is_done())
            .collect();
        let limit = looking.iter().map(|looking| looking.limit).max();
        (looking, limit.unwrap_or_default())
    }

    /// Whether section `key` may be shown once the sections `shown` says
    /// are: its parent's content and the section it comes after are out.
    pub(super) fn may_show(&self, key: usize, shown: impl Fn(usize) -> bool) -> bool {
        let meta = &self.meta[key];
        meta.parent.is_none_or(&shown) && meta.after.is_none_or(&shown)
    }

    /// Whether section `key`'s slot is out: its parent's content is.
    pub(super) fn parent_shown(&self, key: usize, shown: impl Fn(usize) -> bool) -> bool {
        self.meta[key].parent.is_none_or(shown)
    }

    /// Checks a fragment (the shell, or the content of section `parent`),
    /// starts its sections and splits its markup at its slots. Nothing is
    /// started unless the whole fragment is sound.
    pub(super) fn adopt(
        &mut self,
        fragment: Fragment,
        parent: Option<usize>,
    ) -> Result<Vec<Part>, Error> {
        let html = Bytes::from(fragment.html?);
        let first_key = self.meta.len();
        if first_key + fragment.sections.len() > self.max_sections {
            return Err(Error::TooManySections(self.max_sections));
        }
        let mut slots = self.keys(&fragment.sections, first_key)?;
        let mut parts = if fragment.slotless && fragment.sections.is_empty() {
            // Nothing to place and no marker written: no need to look.
            (!html.is_empty())
                .then(|| Part::Html(html.clone()))
                .into_iter()
                .collect()
        } else {
            place(&html, &mut slots, &fragment.sections)?
        };
        let afters = self.reveal_targets(&fragment.sections, first_key)?;
        let data_ids = self.data_blocks(fragment.data, &slots, &mut parts)?;
        let ready = self.metas(fragment.sections, afters, parent)?;
        self.ids.extend(data_ids);
        // Exactly as many as this fragment adds: a pending page keeps them all.
        self.meta.reserve_exact(ready.len());
        for (meta, content, timeout) in ready {
            self.start(meta, content, timeout);
        }
        Ok(parts)
    }

    /// Each of `sections`' key (from `first_key`), by id, not yet placed;
    /// or why an id cannot be used.
    fn keys<'a>(
        &self,
        sections: &'a [crate::section::Section],
        first_key: usize,
    ) -> Result<Slots<'a>, Error> {
        let mut slots = Slots::with_capacity(sections.len());
        for (offset, section) in sections.iter().enumerate() {
            wire::validate_id(&section.id)?;
            let id = section.id.as_str();
            if self.ids.contains(id) || slots.insert(id, (first_key + offset, false)).is_some() {
                return Err(Error::DuplicateSection(section.id.clone()));
            }
        }
        Ok(slots)
    }

    /// Appends a fragment's data blocks to its parts; returns their ids,
    /// checked against every id of the page and of `slots`.
    fn data_blocks(
        &self,
        data: Vec<(String, Result<String, serde_json::Error>)>,
        slots: &Slots<'_>,
        parts: &mut Vec<Part>,
    ) -> Result<HashSet<String>, Error> {
        let mut data_ids = HashSet::with_capacity(data.len());
        for (id, json) in data {
            wire::validate_id(&id)?;
            if self.ids.contains(&id) || slots.contains_key(id.as_str()) || data_ids.contains(&id) {
                return Err(Error::DuplicateDataId(id));
            }
            let json = json.map_err(|source| Error::Data {
                id: id.clone(),
                source,
            })?;
            parts.push(Part::Html(Bytes::from(wire::data_block(&id, &json))));
            data_ids.insert(id);
        }
        Ok(data_ids)
    }

    /// What the renderer keeps of each of `sections`, with its loader and
    /// timeout; fails if a loading or fixed error template does not render.
    fn metas(
        &self,
        sections: Vec<crate::section::Section>,
        afters: Vec<Option<usize>>,
        parent: Option<usize>,
    ) -> Result<Vec<Pending>, Error> {
        sections
            .into_iter()
            .zip(afters)
            .map(|(section, after)| {
                let meta = Meta {
                    parent,
                    after,
                    loading: Bytes::from(section.loading?),
                    error: match section.error {
                        // A fixed template that does not render fails the page now.
                        Some(ErrorMarkup::Fixed(html)) => Some(ErrorMarkup::Fixed(Ok(html?))),
                        other => other,
                    },
                    end: section.end.transpose()?.map(Bytes::from),
                    ends_at: None,
                    looking: section.looking,
                    span: tracing::debug_span!(
                        parent: &self.span,
                        "section",
                        id = %section.id,
                        wait_ms = Empty,
                        bytes = Empty,
                        outcome = Empty
                    ),
                    id: section.id,
                };
                Ok((meta, section.content, section.timeout))
            })
            .collect()
    }

    /// The key of the section each of `sections` (keys from `first_key`)
    /// comes after: a section already adopted or one of them, with no cycle.
    fn reveal_targets(
        &self,
        sections: &[crate::section::Section],
        first_key: usize,
    ) -> Result<Vec<Option<usize>>, Error> {
        let afters = sections
            .iter()
            .map(|section| {
                let Some(target) = &section.after else {
                    return Ok(None);
                };
                let sibling = sections.iter().position(|other| &other.id == target);
                sibling
                    .map(|offset| first_key + offset)
                    .or_else(|| self.meta.iter().position(|meta| &meta.id == target))
                    .map(Some)
                    .ok_or_else(|| Error::UnknownRevealTarget {
                        section: section.id.clone(),
                        after: target.clone(),
                    })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        // Earlier sections' targets are acyclic already; only siblings can
        // close a cycle. Each chain is followed at most `len` steps.
        for start in 0..sections.len() {
            let mut at = start;
            for _ in 0..=sections.len() {
                match afters[at] {
                    Some(target) if target >= first_key => at = target - first_key,
                    _ => break,
                }
                if at == start {
                    let mut cycle = vec![format!("\"{}\"", sections[start].id)];
                    let mut next = afters[start].map(|target| target - first_key);
                    while let Some(i) = next.filter(|i| *i != start) {
                        cycle.push(format!("\"{}\"", sections[i].id));
                        next = afters[i].map(|target| target - first_key);
                    }
                    return Err(Error::RevealCycle(cycle.join(", ")));
                }
            }
        }
        Ok(afters)
    }

    fn start(
        &mut self,
        mut meta: Meta,
        content: LocalBoxFuture<'static, Result<Content, BoxError>>,
        timeout: Option<Duration>,
    ) {
        let key = self.meta.len();
        meta.ends_at = timeout.map(|limit| clock::after(Instant::now(), limit));
        self.ids.insert(meta.id.clone());
        self.meta.push(meta);
        self.run(key, content);
    }

    /// Runs section `key`'s `content` (or the rest of its list) until its
    /// timeout, a panic caught.
    fn run(&mut self, key: usize, content: LocalBoxFuture<'static, Result<Content, BoxError>>) {
        let meta = &self.meta[key];
        let run = AssertUnwindSafe(content.instrument(meta.span.clone())).catch_unwind();
        let ends_at = meta.ends_at;
        self.unresolved.insert(key);
        self.pending.push(
            async move {
                let outcome = match ends_at {
                    Some(end) => match tokio::time::timeout_at(end, run).await {
                        Ok(finished) => finished.map_or(Outcome::Panicked, Outcome::Ready),
                        Err(_) => Outcome::TimedOut,
                    },
                    None => run.await.map_or(Outcome::Panicked, Outcome::Ready),
                };
                (key, outcome)
            }
            .boxed_local(),
        );
    }

    /// Waits for the next section to resolve, or for the deadline, after
    /// which every unresolved section resolves at once to its error markup.
    /// `None` once every section has resolved.
    pub(super) async fn next(&mut self) -> Option<(usize, Resolved)> {
        while !self.expired {
            // The page's deadline, or a shutdown's if that is sooner.
            let ends_by = (*self.shutdown.borrow_and_update())
                .map_or(self.deadline, |ends_by| ends_by.min(self.deadline));
            let shutdown = &mut self.shutdown;
            let next = tokio::time::timeout_at(ends_by, self.pending.next());
            let client_finished = ClientSide::finished_or_never(self.client.clone());
            let outcome = tokio::select! {
                // A section that resolved before the client finished is
                // written: resolved sections are taken before anything ends
                // the wait.
                biased;
                outcome = next => outcome,
                // A shutdown began: wait again, for the sooner deadline.
                Ok(()) = shutdown.changed() => continue,
                () = client_finished => {
                    // Gone, or half-closed after its request: either way
                    // the loaders' work is not waited for.
                    tracing::debug!(
                        parent: &self.span,
                        pending = self.unresolved.len(),
                        "the client finished sending: pending sections cancelled, the page ends with their timeout markup"
                    );
                    self.expired = true;
                    self.quiet = true;
                    self.pending = FuturesUnordered::new();
                    self.end_lists();
                    break;
                }
            };
            match outcome {
                Ok(Some((key, outcome))) => {
                    self.unresolved.remove(&key);
                    return Some((key, self.resolve(key, outcome)));
                }
                Ok(None) => return None,
                Err(_) => {
                    tracing::warn!(
                        parent: &self.span,
                        pending = self.unresolved.len(),
                        "page deadline or shutdown passed; pending sections show their error markup"
                    );
                    self.expired = true;
                    self.pending = FuturesUnordered::new();
                    self.end_lists();
                }
            }
        }
        let key = self.unresolved.pop_first()?;
        Some((key, self.resolve(key, Outcome::TimedOut)))
    }

    fn resolve(&mut self, key: usize, outcome: Outcome) -> Resolved {
        let span = self.meta[key].span.clone();
        let wait_ms = self.started.elapsed().as_secs_f64() * 1e3;
        let outcome_name = outcome.name();
        let resolved = match outcome {
            Outcome::Ready(Ok(Content::Later(render))) => Resolved::Later(render),
            Outcome::Ready(Ok(Content::Fragment(fragment))) => self.adopt_content(key, fragment),
            Outcome::Ready(Ok(Content::List(segment))) => self.segment(key, segment),
            Outcome::Ready(Err(err)) => {
                self.log_failure(key, &span, &err, "section failed");
                let public = public_message(&*err);
                self.failure(key, Failure::new(FailureKind::Error, public))
            }
            Outcome::Panicked => {
                self.log_failure(key, &span, &"the loader panicked", "section panicked");
                self.failure(key, Failure::new(FailureKind::Panic, None))
            }
            Outcome::TimedOut => {
                let section = &self.meta[key].id;
                if self.quiet {
                    tracing::debug!(parent: &span, %section, wait_ms, "section ended with its page");
                } else {
                    tracing::warn!(parent: &span, %section, wait_ms, "section timed out");
                }
                self.failure(key, Failure::new(FailureKind::Timeout, None))
            }
        };
        span.record("wait_ms", wait_ms);
        span.record("outcome", outcome_name);
        tracing::debug!(parent: &span, wait_ms, outcome = outcome_name, "section resolved");
        resolved
    }

    /// Renders section `key`'s content if it is not yet: just before it is
    /// written. A template that fails to render, or panics, gives the
    /// section's error markup.
    pub(super) fn render(&mut self, key: usize, resolved: Resolved) -> Resolved {
        if !self.lists.is_empty() {
            self.resume(key);
        }
        let Resolved::Later(render) = resolved else {
            return resolved;
        };
        match std::panic::catch_unwind(AssertUnwindSafe(render)) {
            Ok(fragment) => self.adopt_content(key, fragment),
            Err(_) => {
                let span = self.meta[key].span.clone();
                self.log_failure(key, &span, &"rendering panicked", "section panicked");
                self.failure(key, Failure::new(FailureKind::Panic, None))
            }
        }
    }

    /// Section `key`'s content: `fragment` split at its slots, its nested
    /// sections started; or its error markup if the fragment is unsound.
    fn adopt_content(&mut self, key: usize, fragment: Fragment) -> Resolved {
        let span = self.meta[key].span.clone();
        let bytes = fragment.html.as_ref().map_or(0, String::len);
        span.record("bytes", bytes);
        tracing::debug!(parent: &span, bytes, "section rendered");
        match self.adopt(fragment, Some(key)) {
            Ok(parts) => Resolved::Content(parts),
            Err(err) => {
                self.log_failure(key, &span, &err, "section content could not be rendered");
                self.failure(key, Failure::new(FailureKind::Error, None))
            }
        }
    }

    /// Section `key`'s error markup in place of content the page cannot
    /// hold: it would take the markup held for its client past the page's
    /// cap ([`Page::max_held_bytes`](crate::Page::max_held_bytes)).
    pub(super) fn over_cap(&mut self, key: usize, cap: usize) -> Resolved {
        let span = self.meta[key].span.clone();
        let section = &self.meta[key].id;
        tracing::warn!(
            parent: &span,
            %section,
            cap,
            "section dropped for its error markup: the page already holds its cap of markup its client has not read"
        );
        if let Some(list) = self.lists.get_mut(&key) {
            list.state = ListState::Ended;
        }
        self.failure(key, Failure::new(FailureKind::Error, None))
    }

    /// Logs a failed section. The event names the section itself: spans are
    /// debug-level, so at the default level it has no span to take the id from.
    fn log_failure(
        &self,
        key: usize,
        span: &tracing::Span,
        err: &dyn std::fmt::Display,
        message: &str,
    ) {
        let section = &self.meta[key].id;
        tracing::error!(parent: span, %section, error = %err, "{message}");
    }

    /// The section's error markup for `failure`, and its length: its own
    /// template, or a short default for the kind of failure.
    fn failure(&mut self, key: usize, failure: Failure) -> Resolved {
        let default = match failure.kind() {
            FailureKind::Timeout => wire::DEFAULT_TIMEOUT,
            _ => wire::DEFAULT_ERROR,
        };
        let html = match self.meta[key].error.take() {
            Some(ErrorMarkup::Fixed(Ok(html))) => Bytes::from(html),
            Some(ErrorMarkup::Render(render)) => match render(&failure) {
                Ok(html) => Bytes::from(html),
                Err(err) => {
                    let span = self.meta[key].span.clone();
                    self.log_failure(key, &span, &err, "error template could not be rendered");
                    Bytes::from_static(default.as_bytes())
                }
            },
            Some(ErrorMarkup::Fixed(Err(_))) | None => Bytes::from_static(default.as_bytes()),
        };
        Resolved::Failed(html)
    }
}

impl Drop for Sections {
    fn drop(&mut self) {
        if !self.unresolved.is_empty() && !self.expired {
            tracing::debug!(
                parent: &self.span,
                pending = self.unresolved.len(),
                "page stream dropped; pending sections cancelled"
            );
        }
    }
}

/// The error for a template whose slots and sections do not match, naming
/// both sides: the first slot without a section (or, if none, the first
/// section without a slot) and what is unmatched on the other side.
fn mismatch(html: &Bytes, sections: &[crate::section::Section]) -> Error {
    let placed: Vec<String> = wire::find_slot_markers(html)
        .map(|marker| marker.id.escape_debug().to_string())
        .collect();
    let unknown: Vec<String> = placed
        .iter()
        .filter(|slot| !sections.iter().any(|section| section.id == **slot))
        .cloned()
        .collect();
    let unplaced: Vec<String> = sections
        .iter()
        .filter(|section| !placed.contains(&section.id))
        .map(|section| section.id.clone())
        .collect();
    match (unknown.first(), unplaced.first()) {
        (Some(slot), _) => Error::UnknownSlot {
            slot: slot.clone(),
            unplaced,
        },
        (None, Some(section)) => Error::MissingSlot {
            section: section.clone(),
            unknown,
        },
        (None, None) => Error::UnknownSlot {
            slot: String::new(),
            unplaced,
        },
    }
}

/// A fragment's sections by id: each one's key, and whether its slot was
/// seen yet.
type Slots<'a> = HashMap<&'a str, (usize, bool)>;

/// A section about to start: what is kept of it, its loader, its timeout.
type Pending = (
    Meta,
    LocalBoxFuture<'static, Result<Content, BoxError>>,
    Option<Duration>,
);

/// `html` split at its slots, each of which must be one of `slots`' and
/// appear once; every one of `slots` must be placed.
fn place(
    html: &Bytes,
    slots: &mut Slots<'_>,
    sections: &[crate::section::Section],
) -> Result<Vec<Part>, Error> {
    let placed = split(html, |id| match slots.get_mut(id) {
        Some((key, seen @ false)) => {
            *seen = true;
            Ok(*key)
        }
        Some(_) => Err(Error::DuplicateSection(id.to_owned())),
        None => Err(Error::UnknownSlot {
            slot: id.escape_debug().to_string(),
            unplaced: Vec::new(),
        }),
    });
    let unmatched = slots.values().any(|(_, seen)| !seen);
    match placed {
        Ok(_) if unmatched => Err(mismatch(html, sections)),
        Err(Error::UnknownSlot { .. }) => Err(mismatch(html, sections)),
        other => other,
    }
}

/// Splits rendered markup at its slot markers, checking each slot's id.
fn split(
    html: &Bytes,
    mut key_of: impl FnMut(&str) -> Result<usize, Error>,
) -> Result<Vec<Part>, Error> {
    let mut parts = Vec::new();
    let mut pos = 0;
    for marker in wire::find_slot_markers(html) {
        let key = key_of(&marker.id)?;
        if marker.start > pos {
            parts.push(Part::Html(html.slice(pos..marker.start)));
        }
        parts.push(Part::Slot(key));
        pos = marker.end;
    }
    if pos < html.len() {
        parts.push(Part::Html(html.slice(pos..)));
    }
    Ok(parts)
}

/// Where a list section is: how many of its segments were written, and
/// whether the rest of it waits for the last one to be written.
#[derive(Default)]
struct List {
    written: usize,
    state: ListState,
}

#[derive(Default)]
enum ListState {
    /// Its next items are being pulled (or it has not written any yet).
    #[default]
    Running,
    /// A segment waits to be written; the rest of the list is not pulled
    /// until it is: a client that reads slowly holds one segment.
    Suspended(Items),
    /// The page's deadline passed while the list was suspended: it ends
    /// with its timeout markup once its last segment is written.
    Expired,
    /// It ended.
    Ended,
}

impl List {
    fn is_suspended(&self) -> bool {
        matches!(self.state, ListState::Suspended(_) | ListState::Expired)
    }
}

/// List sections ([`Section::stream`](crate::Section::stream)): each
/// segment of items resolves like a section's content, ending in
/// [`Part::More`] while the list goes on; the rest is pulled once that
/// segment is written.
impl Sections {
    /// The id that section `key`'s next late chunk fills: the section's
    /// own, or for a list that has written items, the empty placeholder
    /// after them (`ID.N`, which no section id can be).
    pub(super) fn target(&self, key: usize) -> Cow<'_, str> {
        let id = &self.meta[key].id;
        match self.lists.get(&key) {
            Some(list) if list.written > 0 => Cow::Owned(format!("{id}.{}", list.written)),
            _ => Cow::Borrowed(id),
        }
    }

    /// A segment of list `key` as slot content: its items, then the rest
    /// of the list, its end markup, or its error markup.
    fn segment(&mut self, key: usize, segment: Segment) -> Resolved {
        let mut parts = Vec::with_capacity(segment.items.len() + 1);
        for item in segment.items {
            // An item's own sections start now; an item that cannot be
            // rendered, or holds unsound sections, ends the list.
            if let Err(err) = self.adopt(item, Some(key)).map(|item| parts.extend(item)) {
                let span = self.meta[key].span.clone();
                self.log_failure(key, &span, &err, "list item could not be rendered");
                return self.list_failed(key, parts, Failure::new(FailureKind::Error, None));
            }
        }
        match segment.end {
            End::More(items) => {
                self.lists.entry(key).or_default().state = ListState::Suspended(items);
                parts.push(Part::More(key));
            }
            End::Done => {
                self.lists.entry(key).or_default().state = ListState::Ended;
                parts.extend(self.meta[key].end.clone().map(Part::Html));
            }
            End::Failed(err) => {
                let span = self.meta[key].span.clone();
                self.log_failure(key, &span, &err, "list section failed");
                let public = public_message(&*err);
                return self.list_failed(key, parts, Failure::new(FailureKind::Error, public));
            }
        }
        Resolved::Content(parts)
    }

    /// List `key`'s `parts` ended by its error markup: the list is over.
    fn list_failed(&mut self, key: usize, mut parts: Vec<Part>, failure: Failure) -> Resolved {
        self.lists.entry(key).or_default().state = ListState::Ended;
        if let Resolved::Failed(html) = self.failure(key, failure) {
            parts.push(Part::Html(html));
        }
        Resolved::Content(parts)
    }

    /// Counts a segment of list `key` written and starts pulling the rest
    /// of it; past the page's deadline, the rest is its timeout markup.
    fn resume(&mut self, key: usize) {
        let Some(list) = self.lists.get_mut(&key) else {
            return;
        };
        list.written += 1;
        match std::mem::take(&mut list.state) {
            ListState::Suspended(items) => {
                self.run(
                    key,
                    Segment::next(items)
                        .map(|s| Ok(Content::List(s)))
                        .boxed_local(),
                );
            }
            ListState::Expired => {
                // `next` resolves every unresolved section as timed out.
                self.unresolved.insert(key);
            }
            other => list.state = other,
        }
    }

    /// Pulls the rest of list `key` before its rows are written: while the
    /// shell waits for its budget, so the rows ready by then are in place.
    pub(super) fn pull(&mut self, key: usize) {
        let Some(list) = self.lists.get_mut(&key) else {
            return;
        };
        if !matches!(list.state, ListState::Suspended(_)) {
            return;
        }
        if let ListState::Suspended(items) = std::mem::take(&mut list.state) {
            self.run(
                key,
                Segment::next(items)
                    .map(|s| Ok(Content::List(s)))
                    .boxed_local(),
            );
        }
    }

    /// List `key`'s rows `earlier`, not yet written, followed by the rows
    /// (or the end) that came after them.
    pub(super) fn join_rows(&self, earlier: Resolved, later: Resolved) -> Resolved {
        let Resolved::Content(mut parts) = earlier else {
            return later;
        };
        if matches!(parts.last(), Some(Part::More(_))) {
            parts.pop();
        }
        match later {
            Resolved::Content(more) => parts.extend(more),
            Resolved::Failed(html) => parts.push(Part::Html(html)),
            Resolved::Later(_) => return later,
        }
        Resolved::Content(parts)
    }

    /// Drops the streams of suspended lists: the page's time is up.
    fn end_lists(&mut self) {
        for list in self.lists.values_mut() {
            if let ListState::Suspended(_) = list.state {
                list.state = ListState::Expired;
            }
        }
    }
}
