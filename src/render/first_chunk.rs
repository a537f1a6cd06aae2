//! The first chunk of a streamed page, made to show at once in every
//! engine: when the page goes on after it, it is padded to the bytes
//! WebKitGTK reads before parsing ([`wire::SNIFF_BYTES`]), and in debug
//! builds a shell with too little visible text for WebKit to paint before
//! the end of the page is named in a warning, once per template
//! (`docs/browsers.md` has the measurements).

use bytes::{Bytes, BytesMut};

use crate::wire;

/// WebKit paints a loading page only once it holds more than this many
/// visible characters (not counting whitespace), an image larger than
/// 32×32 pixels, or has finished loading: its `visualCharacterThreshold`,
/// measured with WebKitGTK 2.50 (200 characters wait for the end, 201 paint
/// at once).
#[cfg(debug_assertions)]
pub(crate) const WEBKIT_PAINT_CHARACTERS: usize = 200;

/// Passes a streamed page's chunks on, changing only the first.
#[derive(Debug)]
pub(super) struct FirstChunk {
    done: bool,
    /// The shell template's type, to warn once per template.
    #[cfg(debug_assertions)]
    template: &'static str,
}

impl FirstChunk {
    /// For a page whose first chunk is still to come; `template` names
    /// the shell's template in warnings.
    pub(super) fn new(template: &'static str) -> Self {
        #[cfg(not(debug_assertions))]
        let _ = template;
        Self {
            done: false,
            #[cfg(debug_assertions)]
            template,
        }
    }

    /// For a page sent whole: it is never padded, since the end of the
    /// load shows it in every engine.
    pub(super) fn none() -> Self {
        Self {
            done: true,
            #[cfg(debug_assertions)]
            template: "",
        }
    }

    /// `piece`, padded if it is the page's first chunk, shorter than
    /// [`wire::SNIFF_BYTES`], and `more` chunks follow it.
    pub(super) fn pass(&mut self, piece: Bytes, more: bool) -> Bytes {
        if std::mem::replace(&mut self.done, true) || !more {
            return piece;
        }
        #[cfg(debug_assertions)]
        warn_if_webkit_waits(self.template, &piece);
        if piece.len() >= wire::SNIFF_BYTES {
            return piece;
        }
        let mut padded = BytesMut::from(piece);
        wire::pad_to_sniff_bytes(&mut padded);
        padded.freeze()
    }
}

/// Warns, once per shell template, when a first chunk holds too little
/// visible text for WebKit to paint it before the page has loaded.
#[cfg(debug_assertions)]
fn warn_if_webkit_waits(template: &'static str, first: &[u8]) {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};

    static WARNED: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let visible = visible_characters(first, WEBKIT_PAINT_CHARACTERS + 1);
    if visible > WEBKIT_PAINT_CHARACTERS {
        return;
    }
    let warned = WARNED.get_or_init(Mutex::default);
    if !warned.lock().is_ok_and(|mut seen| seen.insert(template)) {
        return;
    }
    tracing::warn!(
        template,
        visible,
        "the shell's first chunk has {visible} visible characters: WebKit (Safari) paints a \
         loading page only past {WEBKIT_PAINT_CHARACTERS} (or an image larger than 32x32), so it \
         shows this page only when it ends; add visible text to the shell (docs/browsers.md)"
    );
}

/// The characters of `html` a browser would show as text, not counting
/// whitespace, counted up to `limit`: text outside tags, comments,
/// processing instructions and the elements whose content is not shown
/// (`title`, `script`, `style`, `template`). An estimate from the
/// markup alone: CSS is not applied, and an entity counts as one character.
#[cfg(debug_assertions)]
pub(crate) fn visible_characters(html: &[u8], limit: usize) -> usize {
    const HIDDEN: [&[u8]; 4] = [b"title", b"script", b"style", b"template"];
    let mut count = 0;
    let mut at = 0;
    while at < html.len() && count < limit {
        match html[at] {
            b'<' if html[at..].starts_with(b"<!--") => {
                at = find(html, at + 4, b"-->").map_or(html.len(), |end| end + 3);
            }
            b'<' => {
                let end = find(html, at, b">").map_or(html.len(), |end| end + 1);
                let name = tag_name(&html[at + 1..end]);
                at = end;
                if let Some(hidden) = HIDDEN.iter().find(|h| name.eq_ignore_ascii_case(h)) {
                    at = closing_tag(html, at, hidden).unwrap_or(html.len());
                }
            }
            b'&' => {
                count += 1;
                let name = html[at + 1..]
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || **b == b'#')
                    .count();
                let is_entity = name > 0 && html.get(at + 1 + name) == Some(&b';');
                at += if is_entity { name + 2 } else { 1 };
            }
            byte => {
                // One count per character: UTF-8 continuation bytes are skipped.
                if !byte.is_ascii_whitespace() && byte & 0xC0 != 0x80 {
                    count += 1;
                }
                at += 1;
            }
        }
    }
    count.min(limit)
}

#[cfg(debug_assertions)]
/// The name of the tag whose text (after `<`, up to `>`) is `tag`; empty
/// for a closing tag or a declaration.
fn tag_name(tag: &[u8]) -> &[u8] {
    let len = tag
        .iter()
        .position(|b| !b.is_ascii_alphanumeric())
        .unwrap_or(tag.len());
    &tag[..len]
}

#[cfg(debug_assertions)]
/// Where the text after `</name>` starts, searching from `from`.
fn closing_tag(html: &[u8], from: usize, name: &[u8]) -> Option<usize> {
    let mut at = from;
    loop {
        let open = find(html, at, b"</")?;
        let rest = &html[open + 2..];
        if rest.len() >= name.len() && rest[..name.len()].eq_ignore_ascii_case(name) {
            return Some(find(html, open, b">").map_or(html.len(), |end| end + 1));
        }
        at = open + 2;
    }
}

#[cfg(debug_assertions)]
fn find(html: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(&html[from..], needle).map(|at| from + at)
}

#[cfg(all(test, debug_assertions))]
mod tests {
    use super::*;

    #[test]
    fn visible_characters_are_the_text_a_browser_shows() {
        let html = "<!doctype html><html><head><title>Not shown</title>\
            <style>p { color: red }</style></head><body><!-- not shown -->\
            <h1>Hi there</h1><script>let x = 1;</script><p>a &amp; b &</p>\
            <template><p>later</p></template><?start name=\"a\">é</body>";
        // "Hithere" (7), "a&b&" (4), "é" (1).
        assert_eq!(visible_characters(html.as_bytes(), 100), 12);
    }

    #[test]
    fn visible_characters_stop_counting_at_the_limit() {
        assert_eq!(visible_characters("x".repeat(1000).as_bytes(), 201), 201);
    }

    #[test]
    fn unclosed_markup_ends_the_count() {
        assert_eq!(visible_characters(b"ab<script>cd", 100), 2);
        assert_eq!(visible_characters(b"ab<!-- cd", 100), 2);
        assert_eq!(visible_characters(b"ab<p", 100), 2);
    }

    #[test]
    fn only_the_first_chunk_of_a_page_that_goes_on_is_padded() {
        let mut first = FirstChunk::new("Shell");
        let padded = first.pass(Bytes::from_static(b"<p>short</p>"), true);
        assert_eq!(padded.len(), wire::SNIFF_BYTES);
        assert!(padded.starts_with(b"<p>short</p><!--"));
        let later = first.pass(Bytes::from_static(b"<p>late</p>"), true);
        assert_eq!(later, Bytes::from_static(b"<p>late</p>"));
    }

    #[test]
    fn a_page_that_ends_with_its_first_chunk_is_not_padded() {
        let mut first = FirstChunk::new("Shell");
        let whole = first.pass(Bytes::from_static(b"<p>all</p>"), false);
        assert_eq!(whole, Bytes::from_static(b"<p>all</p>"));
    }

    #[test]
    fn a_page_sent_whole_is_never_padded() {
        let mut first = FirstChunk::none();
        let piece = first.pass(Bytes::from_static(b"<p>x</p>"), true);
        assert_eq!(piece.len(), 8);
    }
}
