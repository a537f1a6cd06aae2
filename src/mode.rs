//! How a page's sections reach the client ([`Mode`]), and which mode a
//! request gets: HTTP/1.0 clients and known crawlers the complete document,
//! everyone else the progressive page.

use std::str::FromStr;

use actix_web::HttpRequest;
use actix_web::http::{Version, header};

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
