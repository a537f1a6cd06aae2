//! The wire format: how a section's placeholder, its late content and the
//! one runtime script look in the HTML byte stream. Every byte of markup that
//! pagepipe itself writes comes from here, so changing the format is a change
//! to this one module.
//!
//! It follows the HTML standard's declarative out-of-order streaming
//! (`<template for>`, whatwg/html#11542), so supporting browsers fill slots
//! natively, even with JavaScript off:
//!
//! - A slot is `<pp-slot id="ID">…</pp-slot>`. It holds the loading markup between
//!   `<?start name="ID">` and `<?end>` markers until the section resolves, and
//!   the section's content afterwards. In-order and buffered pages write the
//!   content in place without markers. Either way the final DOM is the same.
//! - A late section (out-of-order mode) is `<template for="ID">CONTENT</template>`:
//!   the browser's parser replaces the marked range with it and drops the
//!   template. The `<script>$pp()</script>` after it is the polyfill for
//!   browsers without that support: if the template is still in the DOM it
//!   moves its content into the slot (one `getElementById`, no document scan),
//!   and otherwise does nothing, so no section is ever applied twice.
//! - The runtime defining `$pp` is sent once, just before the first late
//!   section. Its bytes and the call's bytes never vary, so a CSP hash of each
//!   allows them; a per-response nonce is added when one is configured.

use std::fmt::Write as _;

use bytes::{BufMut, BytesMut};

use crate::error::Error;

/// The runtime script's body: defines `$pp`, which applies the
/// `<template for>` just before the running script unless the browser
/// already did, then removes the script.
pub const RUNTIME: &str = "function $pp(){var s=document.currentScript,t=s.previousElementSibling,e;\
if(t&&t.localName==\"template\"&&t.hasAttribute(\"for\")&&(e=document.getElementById(t.getAttribute(\"for\")))){\
e.replaceChildren(t.content);t.remove()}s.remove()}";

/// The body of the script that follows every late section.
pub const CALL: &str = "$pp()";

/// The longest section id accepted.
pub(crate) const MAX_ID_LEN: usize = 128;

/// Checks that `id` is usable unescaped as an HTML id, a CSS identifier and
/// an attribute value: an ASCII letter, then ASCII letters, digits, `-`, `_`.
pub(crate) fn validate_id(id: &str) -> Result<(), Error> {
    let mut bytes = id.bytes();
    let starts_with_letter = bytes.next().is_some_and(|b| b.is_ascii_alphabetic());
    let rest_ok = bytes.all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if starts_with_letter && rest_ok && id.len() <= MAX_ID_LEN {
        Ok(())
    } else {
        Err(Error::InvalidSectionId(id.escape_debug().to_string()))
    }
}

/// Checks that a CSP nonce is base64 or base64url text, so it can be written
/// into an attribute as is.
pub(crate) fn validate_nonce(nonce: &str) -> Result<(), Error> {
    let ok = !nonce.is_empty()
        && nonce.len() <= 256
        && nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_'));
    if ok { Ok(()) } else { Err(Error::InvalidNonce) }
}

/// Markup written around sections for one response: knows the nonce, and
/// whether the runtime has been sent yet.
#[derive(Debug, Default)]
pub(crate) struct Wire {
    /// ` nonce="…"`, or empty.
    nonce_attr: String,
    runtime_sent: bool,
}

impl Wire {
    /// Markup for one response; `nonce` was validated by the page.
    pub(crate) fn new(nonce: Option<&str>) -> Self {
        let nonce_attr = nonce.map(|n| format!(" nonce=\"{n}\"")).unwrap_or_default();
        Self {
            nonce_attr,
            runtime_sent: false,
        }
    }

    /// Opens the slot of section `id`, for content written in place.
    pub(crate) fn open_slot(&self, buf: &mut BytesMut, id: &str) {
        put_all(buf, &[OPEN_SLOT[0], id, OPEN_SLOT[1]]);
    }

    /// Closes a slot.
    pub(crate) fn close_slot(&self, buf: &mut BytesMut) {
        buf.put_slice(CLOSE_SLOT.as_bytes());
    }

    /// Writes the slot of section `id` holding `loading` between the
    /// markers a later `<template for>` replaces.
    pub(crate) fn placeholder(&self, buf: &mut BytesMut, id: &str, loading: &[u8]) {
        put_all(
            buf,
            &[PLACEHOLDER[0], id, PLACEHOLDER[1], id, PLACEHOLDER[2]],
        );
        buf.put_slice(loading);
        buf.put_slice(PLACEHOLDER[3].as_bytes());
    }

    /// Opens the late chunk of section `id`, sending the runtime first if
    /// this is the response's first late chunk.
    pub(crate) fn open_late(&mut self, buf: &mut BytesMut, id: &str) {
        if !self.runtime_sent {
            self.runtime_sent = true;
            put_all(buf, &self.runtime());
        }
        put_all(buf, &late_open(id));
    }

    /// Closes a late chunk with the call that moves it into its slot.
    pub(crate) fn close_late(&self, buf: &mut BytesMut) {
        put_all(buf, &self.late_close());
    }

    /// How many bytes [`Wire::open_late`] and [`Wire::close_late`] write
    /// around section `id`'s content, so its chunk is allocated once.
    pub(crate) fn late_markup_len(&self, id: &str) -> usize {
        let len = |parts: &[&str]| parts.iter().map(|part| part.len()).sum::<usize>();
        let runtime = if self.runtime_sent {
            0
        } else {
            len(&self.runtime())
        };
        runtime + len(&late_open(id)) + len(&self.late_close())
    }

    fn runtime(&self) -> [&str; 5] {
        ["<script", &self.nonce_attr, ">", RUNTIME, "</script>"]
    }

    fn late_close(&self) -> [&str; 5] {
        [
            "</template><script",
            &self.nonce_attr,
            ">",
            CALL,
            "</script>",
        ]
    }
}

fn late_open(id: &str) -> [&str; 3] {
    ["<template for=\"", id, "\">"]
}

/// The end of a slot.
pub(crate) const CLOSE_SLOT: &str = "</pp-slot>";

/// The start of a slot around its id (see [`Wire::open_slot`]).
const OPEN_SLOT: [&str; 2] = ["<pp-slot id=\"", "\">"];

/// A placeholder's markup around its id (twice) and its loading markup.
const PLACEHOLDER: [&str; 4] = [
    "<pp-slot id=\"",
    "\"><?start name=\"",
    "\">",
    "<?end></pp-slot>",
];

/// Bytes of a placeholder besides its id (twice) and its loading markup.
pub(crate) const PLACEHOLDER_MARKUP: usize =
    PLACEHOLDER[0].len() + PLACEHOLDER[1].len() + PLACEHOLDER[2].len() + PLACEHOLDER[3].len();

fn put_all(buf: &mut BytesMut, parts: &[&str]) {
    for part in parts {
        buf.put_slice(part.as_bytes());
    }
}

/// The bytes WebKitGTK reads before it hands a document to the parser (its
/// network library's content-sniffing buffer, read even with
/// `X-Content-Type-Options: nosniff`): a streamed page whose first chunk is
/// shorter shows nothing until more bytes arrive. Measured with WebKitGTK
/// 2.50: a first chunk of 511 bytes is parsed when the next one comes, one
/// of 512 at once. Counted on the decoded bytes, so compression does not
/// change it (`docs/browsers.md`).
pub const SNIFF_BYTES: usize = 512;

/// The shortest padding comment, `<!---->`.
const MIN_PADDING: usize = "<!---->".len();

/// Appends to `first` a comment that brings it to [`SNIFF_BYTES`] (or, when
/// it is short by less than a comment's own length, just past it); nothing
/// when it is that long already.
pub(crate) fn pad_to_sniff_bytes(first: &mut BytesMut) {
    let Some(short) = SNIFF_BYTES.checked_sub(first.len()).filter(|s| *s > 0) else {
        return;
    };
    let len = short.max(MIN_PADDING);
    first.reserve(len);
    first.put_slice(b"<!--");
    first.put_bytes(b' ', len - MIN_PADDING);
    first.put_slice(b"-->");
}

/// Serializes `value` as JSON that is safe inside a `<script>` element.
///
/// `<`, `>` and `&` become `\u003c`, `\u003e` and `\u0026`, so no `</script>`
/// or `<!--` can end or confuse the element, and U+2028 and U+2029 become
/// escapes, so the text is also a valid JavaScript literal. The result still
/// parses as the same JSON.
pub fn script_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    let json = serde_json::to_string(value)?;
    let bytes = json.as_bytes();
    // U+2028 and U+2029 are E2 80 A8 and E2 80 A9 in UTF-8.
    let Some(first) = bytes
        .iter()
        .position(|b| matches!(b, b'<' | b'>' | b'&' | 0xE2))
    else {
        // The usual case: nothing to escape, no copy.
        return Ok(json);
    };
    let mut out = String::with_capacity(json.len() + 32);
    // Unescaped runs are copied whole; every cut is at a char boundary.
    let mut copied = 0;
    for (at, byte) in bytes.iter().enumerate().skip(first) {
        let (escape, len) = match byte {
            b'<' => ("\\u003c", 1),
            b'>' => ("\\u003e", 1),
            b'&' => ("\\u0026", 1),
            0xE2 if bytes[at + 1..].starts_with(&[0x80, 0xA8]) => ("\\u2028", 3),
            0xE2 if bytes[at + 1..].starts_with(&[0x80, 0xA9]) => ("\\u2029", 3),
            _ => continue,
        };
        out.push_str(&json[copied..at]);
        out.push_str(escape);
        copied = at + len;
    }
    out.push_str(&json[copied..]);
    Ok(out)
}

/// The data block that carries `json` (from [`script_json`]) for page scripts.
pub(crate) fn data_block(id: &str, json: &str) -> String {
    format!("<script type=\"application/json\" id=\"{id}\">{json}</script>")
}

/// The markup shown in a slot whose section failed, when its author gave no
/// error template.
pub(crate) const DEFAULT_ERROR: &str =
    "<p class=\"pp-error\" role=\"alert\">This section could not be loaded.</p>";

/// The markup shown in a slot whose section ran out of time, when its author
/// gave no error template.
pub(crate) const DEFAULT_TIMEOUT: &str =
    "<p class=\"pp-timeout\" role=\"status\">This section took too long to load.</p>";

/// Noncharacters that frame a slot marker in a rendered template. Template
/// escaping never touches them and well-formed text never contains them.
pub(crate) const MARK_OPEN: char = '\u{FDD0}';
pub(crate) const MARK_CLOSE: char = '\u{FDD1}';

/// A random per-process token inside every slot marker, so that content which
/// happens to contain the noncharacters cannot forge a slot.
fn mark_token() -> &'static str {
    use std::hash::{BuildHasher, RandomState};
    static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TOKEN.get_or_init(|| {
        let state = RandomState::new();
        let (a, b) = (state.hash_one(1u8), state.hash_one(2u8));
        let mut token = String::with_capacity(32);
        let _ = write!(token, "{a:016x}{b:016x}");
        token
    })
}

/// Writes the marker that stands for slot `id` in a rendered template until
/// the renderer replaces it (what `slot(id)` renders as).
pub(crate) fn write_slot_marker(out: &mut impl std::fmt::Write, id: &str) -> std::fmt::Result {
    MARKERS_WRITTEN.with(|written| written.set(written.get().wrapping_add(1)));
    write!(out, "{MARK_OPEN}{}{id}{MARK_CLOSE}", mark_token())
}

thread_local! {
    /// Slot markers written on this thread so far.
    static MARKERS_WRITTEN: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// How many slot markers this thread has written: the difference across a
/// template's rendering tells whether its markup can hold one, so markup
/// without any is not searched for them.
pub(crate) fn markers_written() -> usize {
    MARKERS_WRITTEN.with(std::cell::Cell::get)
}

/// A slot marker found in rendered markup.
#[derive(Debug)]
pub(crate) struct SlotMarker<'a> {
    /// Where the marker starts.
    pub(crate) start: usize,
    /// Where the marker ends (exclusive).
    pub(crate) end: usize,
    /// The slot's id as written.
    pub(crate) id: std::borrow::Cow<'a, str>,
}

/// The slot markers in `html`, in order. A marker without its end is
/// ignored, and so is everything after it.
pub(crate) fn find_slot_markers(html: &[u8]) -> impl Iterator<Item = SlotMarker<'_>> {
    let (open, close) = marker_finders();
    let mut pos = 0;
    std::iter::from_fn(move || {
        let start = pos + open.find(&html[pos..])?;
        let id_start = start + open.needle().len();
        let len = close.find(&html[id_start..])?;
        let end = id_start + len + close.needle().len();
        pos = end;
        // Markers are ASCII inside text that was a `String`, so the id is
        // whole UTF-8; lossy only in name.
        let id = String::from_utf8_lossy(&html[id_start..id_start + len]);
        Some(SlotMarker { start, end, id })
    })
}

/// Searchers for the start of a slot marker (with this process's token) and
/// for its end, built once: building one costs more than a short search.
fn marker_finders() -> &'static (
    memchr::memmem::Finder<'static>,
    memchr::memmem::Finder<'static>,
) {
    use memchr::memmem::Finder;
    static FINDERS: std::sync::OnceLock<(Finder<'static>, Finder<'static>)> =
        std::sync::OnceLock::new();
    FINDERS.get_or_init(|| {
        let mut open = [0u8; 4];
        let open = MARK_OPEN.encode_utf8(&mut open).as_bytes();
        let needle = [open, mark_token().as_bytes()].concat();
        let mut close = [0u8; 4];
        let close = MARK_CLOSE.encode_utf8(&mut close).as_bytes();
        (
            Finder::new(&needle).into_owned(),
            Finder::new(close).into_owned(),
        )
    })
}

#[cfg(test)]
mod tests {
    /// Every "N-byte script" or "N-byte polyfill" the docs mention is the
    /// runtime's real size.
    #[test]
    fn the_docs_give_the_runtimes_real_size() {
        let docs = [
            include_str!("../README.md"),
            include_str!("../docs/modes.md"),
            include_str!("../docs/adding-a-section.md"),
            include_str!("../docs/browsers.md"),
        ];
        let mut seen = 0;
        for doc in docs {
            for (at, _) in doc.match_indices("-byte") {
                let after = doc[at + "-byte".len()..].trim_start();
                if !(after.starts_with("script") || after.starts_with("polyfill")) {
                    continue;
                }
                let digits: String = doc[..at]
                    .chars()
                    .rev()
                    .take_while(char::is_ascii_digit)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                assert_eq!(
                    digits,
                    RUNTIME.len().to_string(),
                    "{}",
                    &doc[at.saturating_sub(40)..at + 20]
                );
                seen += 1;
            }
        }
        assert!(
            seen >= 3,
            "the figure is in the README and both guides: {seen}"
        );
    }

    use super::*;

    #[test]
    fn runtime_is_small() {
        assert!(RUNTIME.len() < 512, "runtime is {} bytes", RUNTIME.len());
    }

    #[test]
    fn ids_that_are_safe_in_every_context_pass() {
        for id in ["s0", "reviews", "review-3_votes", "A"] {
            assert!(validate_id(id).is_ok(), "{id}");
        }
    }

    #[test]
    fn ids_that_need_escaping_anywhere_fail() {
        let long = "a".repeat(MAX_ID_LEN + 1);
        for id in [
            "", "0s", "-a", "a b", "a\"b", "a<b", "a>b", "a&b", "a'b", "é", "a.b", "a:b", &long,
        ] {
            assert!(validate_id(id).is_err(), "{id:?}");
        }
    }

    #[test]
    fn nonce_must_be_base64() {
        assert!(validate_nonce("abc+/=-_XYZ09").is_ok());
        for bad in ["", "a b", "a\"b", "a>b"] {
            assert!(validate_nonce(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn runtime_goes_out_once_before_the_first_late_chunk() {
        let mut wire = Wire::new(Some("n0nce"));
        let mut buf = BytesMut::new();
        wire.open_late(&mut buf, "a");
        wire.close_late(&mut buf);
        wire.open_late(&mut buf, "b");
        wire.close_late(&mut buf);
        let out = std::str::from_utf8(&buf).unwrap();
        assert_eq!(out.matches(RUNTIME).count(), 1);
        assert!(out.starts_with("<script nonce=\"n0nce\">function $pp()"));
        assert_eq!(
            out.matches("<script nonce=\"n0nce\">$pp()</script>")
                .count(),
            2
        );
        assert!(out.find("for=\"a\"").unwrap() < out.find("for=\"b\"").unwrap());
    }

    #[test]
    fn script_json_escapes_only_what_a_script_element_cannot_hold() {
        let value = "a<b>c&d\u{2028}e\u{2029}f \u{20ac} \u{2027} \u{e9} </script><!--";
        let json = script_json(value).unwrap();
        assert_eq!(
            json,
            "\"a\\u003cb\\u003ec\\u0026d\\u2028e\\u2029f \u{20ac} \u{2027} \u{e9} \\u003c/script\\u003e\\u003c!--\""
        );
        assert_eq!(serde_json::from_str::<String>(&json).unwrap(), value);
        assert_eq!(script_json("plain \u{e9}").unwrap(), "\"plain \u{e9}\"");
        assert_eq!(script_json("<").unwrap(), "\"\\u003c\"");
    }

    #[test]
    fn placeholder_markup_is_counted_exactly() {
        let mut buf = BytesMut::new();
        Wire::new(None).placeholder(&mut buf, "reviews", b"<p>...</p>");
        assert_eq!(
            std::str::from_utf8(&buf).unwrap(),
            "<pp-slot id=\"reviews\"><?start name=\"reviews\"><p>...</p><?end></pp-slot>"
        );
        assert_eq!(
            buf.len(),
            PLACEHOLDER_MARKUP + 2 * "reviews".len() + "<p>...</p>".len()
        );
    }

    #[test]
    fn late_markup_is_counted_exactly_with_and_without_the_runtime() {
        for nonce in [None, Some("n0nce")] {
            let mut wire = Wire::new(nonce);
            for id in ["first", "second"] {
                let expected = wire.late_markup_len(id);
                let mut buf = BytesMut::new();
                wire.open_late(&mut buf, id);
                wire.close_late(&mut buf);
                assert_eq!(buf.len(), expected, "{nonce:?} {id}");
            }
        }
    }

    #[test]
    fn a_short_first_chunk_is_padded_to_the_sniffing_buffer_with_one_comment() {
        for len in [0, 1, 100, 505, 506, 511] {
            let mut buf = BytesMut::from(&"x".repeat(len)[..]);
            pad_to_sniff_bytes(&mut buf);
            let padding = std::str::from_utf8(&buf[len..]).unwrap();
            assert_eq!(buf.len(), SNIFF_BYTES.max(len + MIN_PADDING), "{len}");
            assert!(
                padding.starts_with("<!--") && padding.ends_with("-->"),
                "{len}"
            );
            assert_eq!(padding.matches("--").count(), 2, "one comment: {padding:?}");
        }
    }

    #[test]
    fn a_first_chunk_of_the_sniffing_buffer_or_more_is_left_alone() {
        for len in [SNIFF_BYTES, SNIFF_BYTES + 1, 4096] {
            let mut buf = BytesMut::from(&"x".repeat(len)[..]);
            pad_to_sniff_bytes(&mut buf);
            assert_eq!(buf.len(), len);
        }
    }

    #[test]
    fn mark_token_is_stable_within_a_process() {
        assert_eq!(mark_token(), mark_token());
        assert_eq!(mark_token().len(), 32);
    }
}
