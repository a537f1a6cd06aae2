//! Choosing a response's content coding from `Accept-Encoding` as RFC 9110
//! §12.5.3 says: q-values, `*`, `q=0` refusing a coding, and `identity`
//! acceptable unless refused; the server's own order breaks ties.

use actix_web::HttpRequest;
use actix_web::http::header::ACCEPT_ENCODING;

use super::Coding;

/// The codings a server offers for a kind of body, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offer {
    /// Compressed as it is sent (pages, feeds): zstd is the fastest at a
    /// good ratio, gzip the next, brotli the slowest per chunk.
    Dynamic,
    /// Compressed once and cached: brotli at its highest levels is the
    /// smallest, then zstd, then gzip.
    Static,
}

impl Offer {
    fn order(self) -> [Coding; 3] {
        match self {
            Offer::Dynamic => [Coding::Zstd, Coding::Gzip, Coding::Brotli],
            Offer::Static => [Coding::Brotli, Coding::Zstd, Coding::Gzip],
        }
    }
}

/// The request refuses every coding the server offers, identity included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NotAcceptable;

/// The coding `req` gets for a body of kind `offer`. Without an
/// `Accept-Encoding` header the body is sent as it is.
pub(crate) fn negotiate(req: &HttpRequest, offer: Offer) -> Result<Coding, NotAcceptable> {
    let mut values = req.headers().get_all(ACCEPT_ENCODING).peekable();
    if values.peek().is_none() {
        return Ok(Coding::Identity);
    }
    let mut accepted = Accepted::default();
    for value in values {
        // A value that is not text is ignored, like any unparsable item.
        if let Ok(text) = value.to_str() {
            accepted.read(text);
        }
    }
    accepted.choose(offer)
}

/// The q-values one request gave, in thousandths.
#[derive(Debug, Default)]
struct Accepted {
    zstd: Option<u16>,
    br: Option<u16>,
    gzip: Option<u16>,
    identity: Option<u16>,
    any: Option<u16>,
}

impl Accepted {
    fn read(&mut self, header: &str) {
        for item in header.split(',') {
            let mut parts = item.split(';');
            let token = parts.next().unwrap_or_default().trim();
            let mut q = Some(1000);
            for param in parts {
                if let Some((name, value)) = param.split_once('=')
                    && name.trim().eq_ignore_ascii_case("q")
                {
                    q = parse_q(value.trim());
                }
            }
            let Some(q) = q else { continue };
            if let Some(slot) = self.slot(token) {
                *slot = Some(q);
            }
        }
    }

    /// Where the q-value of coding `token` (any case) goes, if we offer it.
    fn slot(&mut self, token: &str) -> Option<&mut Option<u16>> {
        let is = |name: &str| token.eq_ignore_ascii_case(name);
        if is("zstd") {
            Some(&mut self.zstd)
        } else if is("br") {
            Some(&mut self.br)
        } else if is("gzip") || is("x-gzip") {
            Some(&mut self.gzip)
        } else if is("identity") {
            Some(&mut self.identity)
        } else if token == "*" {
            Some(&mut self.any)
        } else {
            None
        }
    }

    fn q(&self, coding: Coding) -> u16 {
        let explicit = match coding {
            Coding::Zstd => self.zstd,
            Coding::Brotli => self.br,
            Coding::Gzip => self.gzip,
            Coding::Identity => self.identity,
        };
        explicit.or(self.any).unwrap_or(0)
    }

    fn choose(&self, offer: Offer) -> Result<Coding, NotAcceptable> {
        let mut best = (Coding::Identity, 0);
        for coding in offer.order() {
            let q = self.q(coding);
            if q > best.1 {
                best = (coding, q);
            }
        }
        // Identity is acceptable unless refused (`identity;q=0`, or `*;q=0`
        // without an entry of its own); unlisted, it ranks below every
        // accepted coding.
        let identity = self.identity.or(self.any.filter(|q| *q == 0));
        match identity {
            Some(q) if q > best.1 => Ok(Coding::Identity),
            _ if best.1 > 0 => Ok(best.0),
            Some(0) => Err(NotAcceptable),
            _ => Ok(Coding::Identity),
        }
    }
}

/// A qvalue (`0`, `0.5`, `1.000`) in thousandths; `None` if malformed.
fn parse_q(value: &str) -> Option<u16> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let fraction_value = fraction
        .bytes()
        .zip([100, 10, 1])
        .map(|(digit, weight)| u16::from(digit - b'0') * weight)
        .sum::<u16>();
    match whole {
        "0" => Some(fraction_value),
        "1" if fraction_value == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn chosen(accept: Option<&str>, offer: Offer) -> Result<Coding, NotAcceptable> {
        let mut req = TestRequest::default();
        if let Some(accept) = accept {
            req = req.insert_header((ACCEPT_ENCODING, accept));
        }
        negotiate(&req.to_http_request(), offer)
    }

    #[test]
    fn browsers_get_the_servers_first_choice() {
        let chromium = Some("gzip, deflate, br, zstd");
        let safari = Some("gzip, deflate, br");
        assert_eq!(chosen(chromium, Offer::Dynamic), Ok(Coding::Zstd));
        assert_eq!(chosen(safari, Offer::Dynamic), Ok(Coding::Gzip));
        assert_eq!(chosen(chromium, Offer::Static), Ok(Coding::Brotli));
        assert_eq!(chosen(safari, Offer::Static), Ok(Coding::Brotli));
    }

    #[test]
    fn no_header_and_an_empty_header_mean_identity() {
        assert_eq!(chosen(None, Offer::Dynamic), Ok(Coding::Identity));
        assert_eq!(chosen(Some(""), Offer::Dynamic), Ok(Coding::Identity));
    }

    #[test]
    fn the_highest_q_value_wins() {
        let accept = Some("zstd;q=0.5, br;q=0.9, gzip;q=0.8");
        assert_eq!(chosen(accept, Offer::Dynamic), Ok(Coding::Brotli));
        assert_eq!(
            chosen(Some("gzip;q=1.000, zstd;q=0.999"), Offer::Dynamic),
            Ok(Coding::Gzip)
        );
    }

    #[test]
    fn q_zero_refuses_a_coding() {
        let accept = Some("zstd;q=0, gzip, br");
        assert_eq!(chosen(accept, Offer::Dynamic), Ok(Coding::Gzip));
        assert_eq!(
            chosen(Some("gzip;q=0"), Offer::Dynamic),
            Ok(Coding::Identity)
        );
    }

    #[test]
    fn a_wildcard_stands_for_every_unlisted_coding() {
        assert_eq!(chosen(Some("*"), Offer::Dynamic), Ok(Coding::Zstd));
        assert_eq!(
            chosen(Some("zstd;q=0, *"), Offer::Dynamic),
            Ok(Coding::Gzip)
        );
        assert_eq!(
            chosen(Some("*;q=0, br"), Offer::Dynamic),
            Ok(Coding::Brotli)
        );
    }

    #[test]
    fn identity_is_acceptable_unless_refused() {
        assert_eq!(
            chosen(Some("deflate"), Offer::Dynamic),
            Ok(Coding::Identity)
        );
        assert_eq!(
            chosen(Some("identity;q=0, gzip"), Offer::Dynamic),
            Ok(Coding::Gzip)
        );
        assert_eq!(
            chosen(Some("identity;q=0, deflate"), Offer::Dynamic),
            Err(NotAcceptable)
        );
        assert_eq!(chosen(Some("*;q=0"), Offer::Dynamic), Err(NotAcceptable));
        assert_eq!(
            chosen(Some("*;q=0, identity"), Offer::Dynamic),
            Ok(Coding::Identity)
        );
    }

    #[test]
    fn identity_preferred_by_q_value_wins() {
        let accept = Some("identity;q=1, gzip;q=0.5");
        assert_eq!(chosen(accept, Offer::Dynamic), Ok(Coding::Identity));
        let accept = Some("identity;q=0.5, gzip;q=0.5");
        assert_eq!(chosen(accept, Offer::Dynamic), Ok(Coding::Gzip));
    }

    #[test]
    fn tokens_are_case_insensitive_and_x_gzip_is_gzip() {
        assert_eq!(chosen(Some("GZIP"), Offer::Dynamic), Ok(Coding::Gzip));
        assert_eq!(chosen(Some("x-gzip"), Offer::Dynamic), Ok(Coding::Gzip));
        assert_eq!(
            chosen(Some("Br ; Q=0.4"), Offer::Dynamic),
            Ok(Coding::Brotli)
        );
    }

    #[test]
    fn malformed_q_values_drop_their_item() {
        for q in ["2", "0.1234", "-1", "x", "1.5", ""] {
            let accept = format!("zstd;q={q}, gzip;q=0.1");
            assert_eq!(
                chosen(Some(&accept), Offer::Dynamic),
                Ok(Coding::Gzip),
                "q={q}"
            );
        }
    }

    #[test]
    fn q_values_parse_to_thousandths() {
        assert_eq!(parse_q("0"), Some(0));
        assert_eq!(parse_q("0.5"), Some(500));
        assert_eq!(parse_q("0.05"), Some(50));
        assert_eq!(parse_q("0.001"), Some(1));
        assert_eq!(parse_q("1"), Some(1000));
        assert_eq!(parse_q("1.0"), Some(1000));
        assert_eq!(parse_q("1.001"), None);
    }
}
