//! Content Security Policy support: a fresh nonce per request for the inline
//! scripts pagepipe writes, and the hashes that allow them without one.

use std::fmt;
use std::future::{Ready, ready};
use std::rc::Rc;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage as _, HttpRequest};

/// CSP sources that allow pagepipe's inline scripts (the runtime and the
/// per-section call) by hash, for a policy without a nonce: their bytes are
/// the same on every page, so the policy can be cached with the page.
pub const SCRIPT_HASHES: &str = "'sha256-vGMkEIpHEO80DPUj/kK+38UcNFZhs7vhc2c3PCgDfRM=' 'sha256-y2+/5reHH/m8xt/ysSdWEKzK7U/yb7UZ/xGcEdqgWmA='";

/// A random CSP nonce for one request: 128 bits, as hex.
///
/// As an extractor it is created on first use and shared for the rest of the
/// request, so a handler and a middleware that sets the
/// `Content-Security-Policy` header see the same value (read it back with
/// [`Nonce::of`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nonce(Rc<str>);

impl Nonce {
    /// A fresh random nonce.
    ///
    /// # Panics
    ///
    /// If the operating system has no random source: no nonce would be safe.
    #[allow(
        clippy::expect_used,
        reason = "without OS randomness there is no safe nonce to hand out"
    )]
    pub fn new() -> Self {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).expect("the OS provides randomness");
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let hex: String = bytes
            .iter()
            .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 0xf)]])
            .map(char::from)
            .collect();
        Self(hex.into())
    }

    /// The nonce's text, as it goes into `nonce="…"` and `'nonce-…'`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The nonce a handler took for `req`, if any.
    pub fn of(req: &HttpRequest) -> Option<Nonce> {
        req.extensions().get::<Nonce>().cloned()
    }

    /// A strict `Content-Security-Policy` built on this nonce: scripts only
    /// from this origin or with the nonce, styles, images, media, fonts and
    /// fetches only from this origin (and `data:` images), no plugins, no
    /// `<base>`, no framing. pagepipe's own scripts carry the nonce.
    pub fn strict_policy(&self) -> String {
        format!(
            "default-src 'self'; script-src 'self' 'nonce-{self}'; style-src 'self'; \
             img-src 'self' data:; media-src 'self'; font-src 'self'; connect-src 'self'; \
             object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        )
    }
}

impl Default for Nonce {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&Nonce> for String {
    fn from(nonce: &Nonce) -> String {
        nonce.0.to_string()
    }
}

impl From<Nonce> for String {
    fn from(nonce: Nonce) -> String {
        nonce.0.to_string()
    }
}

impl FromRequest for Nonce {
    type Error = std::convert::Infallible;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let nonce = Nonce::of(req).unwrap_or_else(|| {
            let nonce = Nonce::new();
            req.extensions_mut().insert(nonce.clone());
            nonce
        });
        ready(Ok(nonce))
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::wire;

    fn source(script: &str) -> String {
        let digest = Sha256::digest(script.as_bytes());
        format!(
            "'sha256-{}'",
            base64::engine::general_purpose::STANDARD.encode(digest)
        )
    }

    #[test]
    fn script_hashes_match_the_runtime_and_the_call() {
        assert_eq!(
            SCRIPT_HASHES,
            format!("{} {}", source(wire::RUNTIME), source(wire::CALL))
        );
    }

    #[test]
    fn nonces_are_fresh_and_valid() {
        let (a, b) = (Nonce::new(), Nonce::new());
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 32);
        assert!(wire::validate_nonce(a.as_str()).is_ok());
    }

    #[test]
    fn nonces_are_32_lowercase_hex_digits() {
        for _ in 0..100 {
            let nonce = Nonce::new();
            assert_eq!(nonce.as_str().len(), 32);
            assert!(
                nonce
                    .as_str()
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{nonce}"
            );
        }
    }

    #[actix_web::test]
    async fn one_request_shares_one_nonce() {
        let req = actix_web::test::TestRequest::default().to_http_request();
        assert_eq!(Nonce::of(&req), None);
        let taken = Nonce::extract(&req).await.unwrap();
        assert_eq!(Nonce::extract(&req).await.unwrap(), taken);
        assert_eq!(Nonce::of(&req), Some(taken));
    }
}
