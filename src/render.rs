//! The generator that turns a [`Page`] into a stream of HTML bytes: every
//! section future starts at once, and each [`Mode`] decides when the bytes of
//! the shell and of each section are yielded. It knows nothing about HTTP
//! beyond choosing a mode for a request.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io;
use std::panic::AssertUnwindSafe;
use std::str::FromStr;
use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::http::Version;
use async_stream::stream;
use bytes::{Bytes, BytesMut};
use futures_util::future::LocalBoxFuture;
use futures_util::stream::{FuturesUnordered, LocalBoxStream};
use futures_util::{FutureExt as _, StreamExt as _};
use tokio::time::Instant;

use crate::error::Error;
use crate::page::{BoxError, Fragment, Page};
use crate::wire::{self, Wire};

/// How a page's sections reach the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Mode {
    /// The shell with every placeholder at once, then each section as soon
    /// as it resolves, moved into its placeholder by a tiny script.
    #[default]
    OutOfOrder,
    /// The shell up to the first unresolved section at once, then each
    /// section as soon as it and every section before it resolved, in place.
    /// Needs no script.
    InOrder,
    /// Nothing until every section resolved, then one complete document.
    /// Needs no script.
    Buffered,
}

impl Mode {
    /// The mode a request gets unless the page sets one: HTTP/1.0 clients,
    /// which cannot take chunked responses, get [`Mode::Buffered`]; everyone
    /// else [`Mode::OutOfOrder`].
    pub fn for_request(req: &HttpRequest) -> Mode {
        if req.version() < Version::HTTP_11 {
            Mode::Buffered
        } else {
            Mode::OutOfOrder
        }
    }

    /// The mode's name as the demo's `mode` parameter spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::OutOfOrder => "out-of-order",
            Mode::InOrder => "in-order",
            Mode::Buffered => "buffered",
        }
    }
}

/// The error for a mode name that is not `out-of-order`, `in-order` or
/// `buffered`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown mode: expected out-of-order, in-order or buffered")]
pub struct ParseModeError;

impl FromStr for Mode {
    type Err = ParseModeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "out-of-order" => Ok(Mode::OutOfOrder),
            "in-order" => Ok(Mode::InOrder),
            "buffered" => Ok(Mode::Buffered),
            _ => Err(ParseModeError),
        }
    }
}

/// The byte stream of a rendered page. It never yields an error: failures
/// after the shell become fallbacks in their slots.
pub type Body = LocalBoxStream<'static, io::Result<Bytes>>;

/// Renders `page` in `mode`.
///
/// Checks the page first (templates render, section ids are valid and
/// unique, every section has exactly one slot) and fails before any byte is
/// produced if it is not sound. Dropping the stream drops every pending
/// section future.
pub fn render(page: Page, mode: Mode) -> Result<Body, Error> {
    let Page {
        body,
        nonce,
        deadline,
        ..
    } = page;
    if let Some(nonce) = &nonce {
        wire::validate_nonce(nonce)?;
    }
    let mut sections = Sections::new(Instant::now() + deadline);
    let parts = sections.adopt(body)?;
    let wire = Wire::new(nonce.as_deref());
    Ok(match mode {
        Mode::OutOfOrder => out_of_order(parts, sections, wire).boxed_local(),
        Mode::InOrder => in_order(parts, sections, wire, false).boxed_local(),
        Mode::Buffered => in_order(parts, sections, wire, true).boxed_local(),
    })
}

/// Concatenates a rendered page's chunks.
pub(crate) async fn collect(mut body: Body) -> Bytes {
    let mut out = BytesMut::new();
    while let Some(Ok(chunk)) = body.next().await {
        if out.is_empty() {
            // The usual buffered case: one chunk, passed on without a copy.
            match body.next().await {
                None | Some(Err(_)) => return chunk,
                Some(Ok(next)) => {
                    out.extend_from_slice(&chunk);
                    out.extend_from_slice(&next);
                }
            }
        } else {
            out.extend_from_slice(&chunk);
        }
    }
    out.freeze()
}

/// A piece of rendered markup in document order.
#[derive(Debug)]
enum Part {
    /// Static markup.
    Html(Bytes),
    /// The slot of the section with this key.
    Slot(usize),
    /// The end of a slot opened in in-order mode.
    CloseSlot,
}

/// What a slot ends up holding.
enum Resolved {
    /// The section's content, which may hold slots of nested sections.
    Content(Vec<Part>),
    /// An error or timeout fallback.
    Fallback(Bytes),
}

/// How a section's future ended.
enum Outcome {
    Ready(Result<Fragment, BoxError>),
    Panicked,
    TimedOut,
}

/// What the renderer keeps of a section besides its future.
struct Meta {
    id: String,
    fallback: Bytes,
    error: Option<Bytes>,
}

/// Every section of one page, the futures still pending, and the deadline.
struct Sections {
    meta: Vec<Meta>,
    ids: HashSet<String>,
    pending: FuturesUnordered<LocalBoxFuture<'static, (usize, Outcome)>>,
    unresolved: BTreeSet<usize>,
    deadline: Instant,
    expired: bool,
}

impl Sections {
    fn new(deadline: Instant) -> Self {
        Self {
            meta: Vec::new(),
            ids: HashSet::new(),
            pending: FuturesUnordered::new(),
            unresolved: BTreeSet::new(),
            deadline,
            expired: false,
        }
    }

    fn id(&self, key: usize) -> &str {
        &self.meta[key].id
    }

    /// Checks a fragment, starts its sections and splits its markup at its
    /// slots. Nothing is started unless the whole fragment is sound.
    fn adopt(&mut self, fragment: Fragment) -> Result<Vec<Part>, Error> {
        let html = fragment.html?;
        let first_key = self.meta.len();
        // Each section's key, and whether its slot was seen yet.
        let mut slots = HashMap::with_capacity(fragment.sections.len());
        for (offset, section) in fragment.sections.iter().enumerate() {
            wire::validate_id(&section.id)?;
            let id = section.id.as_str();
            if self.ids.contains(id) || slots.insert(id, (first_key + offset, false)).is_some() {
                return Err(Error::DuplicateSection(section.id.clone()));
            }
        }
        let parts = split(html, |id| match slots.get_mut(id) {
            Some((key, seen @ false)) => {
                *seen = true;
                Ok(*key)
            }
            Some(_) => Err(Error::DuplicateSection(id.to_owned())),
            None => Err(Error::UnknownSlot(id.escape_debug().to_string())),
        })?;
        if let Some((id, _)) = slots.iter().find(|(_, (_, seen))| !seen) {
            return Err(Error::MissingSlot((*id).to_owned()));
        }
        let ready = fragment
            .sections
            .into_iter()
            .map(|section| {
                let meta = Meta {
                    fallback: Bytes::from(section.fallback?),
                    error: section.error.transpose()?.map(Bytes::from),
                    id: section.id,
                };
                Ok((meta, section.content, section.timeout))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        for (meta, content, timeout) in ready {
            self.start(meta, content, timeout);
        }
        Ok(parts)
    }

    fn start(
        &mut self,
        meta: Meta,
        content: LocalBoxFuture<'static, Result<Fragment, BoxError>>,
        timeout: Option<Duration>,
    ) {
        let key = self.meta.len();
        self.ids.insert(meta.id.clone());
        self.meta.push(meta);
        self.unresolved.insert(key);
        let run = AssertUnwindSafe(content).catch_unwind();
        self.pending.push(
            async move {
                let outcome = match timeout {
                    Some(limit) => match tokio::time::timeout(limit, run).await {
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
    /// which every unresolved section resolves at once to its timeout
    /// fallback. `None` once every section has resolved.
    async fn next(&mut self) -> Option<(usize, Resolved)> {
        if !self.expired {
            match tokio::time::timeout_at(self.deadline, self.pending.next()).await {
                Ok(Some((key, outcome))) => {
                    self.unresolved.remove(&key);
                    return Some((key, self.resolve(key, outcome)));
                }
                Ok(None) => return None,
                Err(_) => {
                    tracing::warn!(
                        pending = self.unresolved.len(),
                        "page deadline passed; pending sections show their timeout fallback"
                    );
                    self.expired = true;
                    self.pending = FuturesUnordered::new();
                }
            }
        }
        let key = self.unresolved.pop_first()?;
        Some((key, self.resolve(key, Outcome::TimedOut)))
    }

    fn resolve(&mut self, key: usize, outcome: Outcome) -> Resolved {
        let id = self.meta[key].id.clone();
        let failure = match outcome {
            Outcome::Ready(Ok(fragment)) => match self.adopt(fragment) {
                Ok(parts) => return Resolved::Content(parts),
                Err(err) => {
                    tracing::error!(section = %id, error = %err, "section content could not be rendered");
                    wire::DEFAULT_ERROR
                }
            },
            Outcome::Ready(Err(err)) => {
                tracing::error!(section = %id, error = %err, "section failed");
                wire::DEFAULT_ERROR
            }
            Outcome::Panicked => {
                tracing::error!(section = %id, "section panicked");
                wire::DEFAULT_ERROR
            }
            Outcome::TimedOut => {
                tracing::warn!(section = %id, "section timed out");
                wire::DEFAULT_TIMEOUT
            }
        };
        let meta = &self.meta[key];
        Resolved::Fallback(
            meta.error
                .clone()
                .unwrap_or(Bytes::from_static(failure.as_bytes())),
        )
    }
}

impl Drop for Sections {
    fn drop(&mut self) {
        if !self.unresolved.is_empty() && !self.expired {
            tracing::debug!(
                pending = self.unresolved.len(),
                "page stream dropped; pending sections cancelled"
            );
        }
    }
}

/// Splits rendered markup at its slot markers, checking each slot's id.
fn split(
    html: String,
    mut key_of: impl FnMut(&str) -> Result<usize, Error>,
) -> Result<Vec<Part>, Error> {
    let html = Bytes::from(html);
    let mut open = [0u8; 4];
    let open = wire::MARK_OPEN.encode_utf8(&mut open).as_bytes().to_vec();
    let needle = [open.as_slice(), wire::mark_token().as_bytes()].concat();
    let mut close = [0u8; 4];
    let close = wire::MARK_CLOSE.encode_utf8(&mut close).as_bytes().to_vec();

    let mut parts = Vec::new();
    let mut pos = 0;
    while let Some(found) = memchr::memmem::find(&html[pos..], &needle) {
        let start = pos + found;
        let id_start = start + needle.len();
        let Some(len) = memchr::memmem::find(&html[id_start..], &close) else {
            break;
        };
        let id = std::str::from_utf8(&html[id_start..id_start + len]).expect("slot marker is text");
        let key = key_of(id)?;
        if start > pos {
            parts.push(Part::Html(html.slice(pos..start)));
        }
        parts.push(Part::Slot(key));
        pos = id_start + len + close.len();
    }
    if pos < html.len() {
        parts.push(Part::Html(html.slice(pos..)));
    }
    Ok(parts)
}

/// Takes the closing `</body>` and what follows it off the end of the shell,
/// so late sections can be written inside the body.
fn take_tail(parts: &mut Vec<Part>) -> Option<Bytes> {
    let Some(Part::Html(last)) = parts.last_mut() else {
        return None;
    };
    let at = memchr::memmem::rfind(&last.to_ascii_lowercase(), b"</body")?;
    let tail = last.split_off(at);
    if last.is_empty() {
        parts.pop();
    }
    Some(tail)
}

/// Writes `parts` with a placeholder (slot + fallback) for every slot.
fn write_placeholders(buf: &mut BytesMut, parts: &[Part], sections: &Sections, wire: &Wire) {
    for part in parts {
        match part {
            Part::Html(html) => buf.extend_from_slice(html),
            Part::Slot(key) => {
                let meta = &sections.meta[*key];
                wire.open_slot(buf, &meta.id);
                buf.extend_from_slice(&meta.fallback);
                wire.close_slot(buf);
            }
            Part::CloseSlot => wire.close_slot(buf),
        }
    }
}

fn out_of_order(
    mut parts: Vec<Part>,
    mut sections: Sections,
    mut wire: Wire,
) -> impl futures_util::Stream<Item = io::Result<Bytes>> {
    stream! {
        let tail = take_tail(&mut parts);
        let mut buf = BytesMut::new();
        write_placeholders(&mut buf, &parts, &sections, &wire);
        yield Ok(buf.split().freeze());
        while let Some((key, resolved)) = sections.next().await {
            wire.open_late(&mut buf, sections.id(key));
            match resolved {
                Resolved::Content(parts) => write_placeholders(&mut buf, &parts, &sections, &wire),
                Resolved::Fallback(html) => buf.extend_from_slice(&html),
            }
            wire.close_late(&mut buf);
            yield Ok(buf.split().freeze());
        }
        if let Some(tail) = tail {
            yield Ok(tail);
        }
    }
}

fn in_order(
    parts: Vec<Part>,
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
                    yield Ok(buf.split().freeze());
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
                Resolved::Fallback(html) => {
                    buf.extend_from_slice(&html);
                    wire.close_slot(&mut buf);
                }
            }
        }
        if !buf.is_empty() {
            yield Ok(buf.freeze());
        }
    }
}
