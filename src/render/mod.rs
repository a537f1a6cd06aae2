//! The generator that turns a [`Page`] into a stream of HTML bytes: every
//! section future starts at once, and each [`Mode`] decides when the bytes of
//! the shell and of each section are yielded. It knows nothing about HTTP
//! beyond choosing a mode for a request.

use std::collections::HashMap;
use std::io;
use std::str::FromStr;

use actix_web::HttpRequest;
use actix_web::http::{Version, header};
use async_stream::stream;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt as _;
use futures_util::stream::LocalBoxStream;
use tokio::time::Instant;

use crate::error::Error;
use crate::page::Page;
use crate::wire::{self, Wire};

mod sections;
#[cfg(test)]
mod tests;

use sections::{Part, Resolved, Sections, take_tail};

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
    /// which cannot take chunked responses, and known crawlers, which index
    /// what the first complete document holds, get [`Mode::Buffered`];
    /// everyone else gets [`Mode::OutOfOrder`].
    pub fn for_request(req: &HttpRequest) -> Mode {
        let user_agent = req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        if req.version() < Version::HTTP_11 || is_crawler(user_agent) {
            Mode::Buffered
        } else {
            Mode::OutOfOrder
        }
    }

    /// The mode a page that prefers `preferred` is delivered in to `req`:
    /// the preference wins over [`Mode::for_request`], except that HTTP/1.0
    /// clients always get [`Mode::Buffered`].
    pub fn choose(req: &HttpRequest, preferred: Option<Mode>) -> Mode {
        match Mode::for_request(req) {
            Mode::Buffered if req.version() < Version::HTTP_11 => Mode::Buffered,
            chosen => preferred.unwrap_or(chosen),
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

/// Tokens of the user agents of search, social-preview and AI crawlers,
/// lower case. Deliberately short: generic words like "bot" or "headless"
/// would also catch phones, test browsers and HTTP tools, which stream fine.
const CRAWLERS: [&str; 32] = [
    "googlebot",
    "google-inspectiontool",
    "storebot-google",
    "adsbot-google",
    "mediapartners-google",
    "bingbot",
    "bingpreview",
    "duckduckbot",
    "baiduspider",
    "yandexbot",
    "yandex.com/bots",
    "slurp",
    "applebot",
    "petalbot",
    "seznambot",
    "facebookexternalhit",
    "facebot",
    "twitterbot",
    "linkedinbot",
    "slackbot",
    "discordbot",
    "telegrambot",
    "whatsapp",
    "pinterestbot",
    "redditbot",
    "embedly",
    "gptbot",
    "oai-searchbot",
    "claudebot",
    "perplexitybot",
    "amazonbot",
    "ccbot",
];

/// Whether `user_agent` is a known crawler's.
pub(crate) fn is_crawler(user_agent: &str) -> bool {
    if user_agent.is_empty() {
        return false;
    }
    let lower = user_agent.to_ascii_lowercase();
    CRAWLERS.iter().any(|token| lower.contains(token))
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
    let parts = sections.adopt(body)?;
    let wire = Wire::new(nonce.as_deref());
    Ok(match mode {
        Mode::OutOfOrder => out_of_order(parts, sections, wire).boxed_local(),
        Mode::InOrder => in_order(parts, sections, wire, false).boxed_local(),
        Mode::Buffered => in_order(parts, sections, wire, true).boxed_local(),
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
                wire::PLACEHOLDER_MARKUP + 2 * meta.id.len() + meta.fallback.len()
            }
            Part::CloseSlot => wire::CLOSE_SLOT.len(),
        })
        .sum()
}

/// Writes `parts` with a placeholder (slot + fallback) for every slot.
fn write_placeholders(buf: &mut BytesMut, parts: &[Part], sections: &Sections, wire: &Wire) {
    for part in parts {
        match part {
            Part::Html(html) => buf.extend_from_slice(html),
            Part::Slot(key) => {
                let meta = &sections.meta[*key];
                wire.placeholder(buf, &meta.id, &meta.fallback);
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
                Resolved::Fallback(html) => html.len(),
            };
            buf.reserve(wire.late_markup_len(sections.id(key)) + content_len);
            wire.open_late(&mut buf, sections.id(key));
            match resolved {
                Resolved::Content(parts) => write_placeholders(&mut buf, &parts, &sections, &wire),
                Resolved::Fallback(html) => buf.extend_from_slice(&html),
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
