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

/// Whether `user_agent` is a known crawler's: one pass over it for all of
/// [`CRAWLERS`], in any case.
pub(crate) fn is_crawler(user_agent: &str) -> bool {
    static TOKENS: std::sync::LazyLock<Option<aho_corasick::AhoCorasick>> =
        std::sync::LazyLock::new(|| {
            aho_corasick::AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build(CRAWLERS)
                .ok()
        });
    match &*TOKENS {
        Some(tokens) => tokens.is_match(user_agent),
        // Not reached: the tokens are a few short literals.
        None => {
            let lower = user_agent.to_ascii_lowercase();
            CRAWLERS.iter().any(|token| lower.contains(token))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_crawler_token_is_found_in_any_case_and_position() {
        for token in CRAWLERS {
            let upper = token.to_ascii_uppercase();
            assert!(is_crawler(token), "{token}");
            assert!(
                is_crawler(&format!("Mozilla/5.0 (compatible; {upper}/1.0)")),
                "{upper}"
            );
        }
        assert!(!is_crawler("Mozilla/5.0 (X11; Linux x86_64) Firefox/153.0"));
        assert!(!is_crawler(""));
    }
}
