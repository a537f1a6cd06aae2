//! Where the shell's real closing body tag starts. A byte search for the
//! last `</body>` is fooled by one in a comment, a script (a string or the
//! code itself), a `<style>`, a `<textarea>` or `<title>`, or an attribute
//! value, and would send every late section there; [`body_end`] instead
//! reads the markup forward as the HTML tokenizer does: comments (`<!-- … -->`,
//! and the bogus `<!…>`, `<?…>`) are skipped, the content of `<script>`,
//! `<style>`, `<textarea>`, `<title>` (and of `<xmp>`, `<iframe>`,
//! `<noembed>`, `<noframes>`, `<noscript>`, as a browser with scripting on
//! reads them) runs to its own end tag in any case, everything after
//! `<plaintext>` is text, and quoted attribute values are skipped inside
//! every tag, so only an end tag named `body` met in data state counts; the
//! last one wins, as the one after all the content. The tokenizer's rarer
//! corners are not modelled (a `<!--<script>` inside a script, CDATA in SVG
//! or MathML); shells don't use them. One pass, no allocation.

/// Elements whose content is text up to their own end tag, whatever it holds.
const RAW_TEXT: [&[u8]; 9] = [
    b"script",
    b"style",
    b"textarea",
    b"title",
    b"xmp",
    b"iframe",
    b"noembed",
    b"noframes",
    b"noscript",
];

/// Where the last closing body tag (`</body` in any case, followed by
/// whitespace, `>` or `/`) that is markup, not text, a comment or an
/// attribute value, starts in `html`.
pub(super) fn body_end(html: &[u8]) -> Option<usize> {
    let mut last = None;
    let mut at = 0;
    while let Some(offset) = memchr::memchr(b'<', &html[at..]) {
        let open = at + offset;
        at = match html.get(open + 1) {
            Some(b'!') if html[open + 2..].starts_with(b"--") => comment_end(html, open + 4),
            Some(b'!' | b'?') => bogus_comment_end(html, open + 2),
            Some(b'/') => match html.get(open + 2) {
                Some(c) if c.is_ascii_alphabetic() => {
                    let name_end = tag_name_end(html, open + 2);
                    if name_end < html.len()
                        && html[open + 2..name_end].eq_ignore_ascii_case(b"body")
                    {
                        last = Some(open);
                    }
                    tag_end(html, name_end)
                }
                Some(b'>') => open + 3,
                Some(_) => bogus_comment_end(html, open + 2),
                None => html.len(),
            },
            Some(c) if c.is_ascii_alphabetic() => {
                let name_end = tag_name_end(html, open + 1);
                let name = &html[open + 1..name_end];
                let end = tag_end(html, name_end);
                if name.eq_ignore_ascii_case(b"plaintext") {
                    // Everything after `<plaintext>` is text.
                    return last;
                }
                match raw_text(name) {
                    // The end tag is then read as any other.
                    Some(raw) => match raw_text_end(html, end, raw) {
                        Some(close) => close,
                        None => return last,
                    },
                    None => end,
                }
            }
            // A `<` that starts no tag is text.
            _ => open + 1,
        };
    }
    last
}

/// The raw-text element `name` names, if it names one. Most tags are
/// ruled out by their length and first letter without a comparison.
fn raw_text(name: &[u8]) -> Option<&'static [u8]> {
    let first = name.first()?.to_ascii_lowercase();
    if !(3..=8).contains(&name.len()) || !matches!(first, b's' | b't' | b'x' | b'i' | b'n') {
        return None;
    }
    RAW_TEXT
        .iter()
        .find(|raw| name.eq_ignore_ascii_case(raw))
        .copied()
}

/// HTML's whitespace in markup: tab, line feed, form feed, carriage return,
/// space.
fn is_space(byte: u8) -> bool {
    matches!(byte, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
}

/// Where a tag name starting at `from` ends: at whitespace, `/`, `>` or the
/// end of the markup.
fn tag_name_end(html: &[u8], from: usize) -> usize {
    html[from..]
        .iter()
        .position(|&c| is_space(c) || c == b'/' || c == b'>')
        .map_or(html.len(), |len| from + len)
}

/// Just past the `>` that ends the tag whose attributes start at `from`,
/// skipping quoted attribute values (a `>` in one does not end the tag).
fn tag_end(html: &[u8], from: usize) -> usize {
    let mut i = from;
    loop {
        // Before an attribute name.
        while html.get(i).is_some_and(|&c| is_space(c) || c == b'/') {
            i += 1;
        }
        match html.get(i) {
            None => return html.len(),
            Some(b'>') => return i + 1,
            // The name's first character may be anything else, `=` included.
            Some(_) => i += 1,
        }
        while html
            .get(i)
            .is_some_and(|&c| !(is_space(c) || c == b'/' || c == b'>' || c == b'='))
        {
            i += 1;
        }
        while html.get(i).is_some_and(|&c| is_space(c)) {
            i += 1;
        }
        if html.get(i) != Some(&b'=') {
            continue;
        }
        i += 1;
        while html.get(i).is_some_and(|&c| is_space(c)) {
            i += 1;
        }
        match html.get(i) {
            Some(&quote @ (b'"' | b'\'')) => match memchr::memchr(quote, &html[i + 1..]) {
                Some(len) => i += len + 2,
                None => return html.len(),
            },
            // An unquoted value runs to whitespace or `>`; quotes in it are text.
            _ => {
                while html.get(i).is_some_and(|&c| !(is_space(c) || c == b'>')) {
                    i += 1;
                }
            }
        }
    }
}

/// Just past the end of a comment whose text starts at `from`: `-->`,
/// `--!>`, or `>` / `->` right at its start, as browsers end one.
fn comment_end(html: &[u8], from: usize) -> usize {
    let text = &html[from.min(html.len())..];
    if text.starts_with(b">") {
        return from + 1;
    }
    if text.starts_with(b"->") {
        return from + 2;
    }
    for dashes in memchr::memmem::find_iter(text, b"--") {
        let after = &text[dashes + 2..];
        if after.starts_with(b">") {
            return from + dashes + 3;
        }
        if after.starts_with(b"!>") {
            return from + dashes + 4;
        }
    }
    html.len()
}

/// Just past the `>` that ends a bogus comment (`<!DOCTYPE …>`, `<?…>`,
/// `</ …>`) whose text starts at `from`.
fn bogus_comment_end(html: &[u8], from: usize) -> usize {
    let from = from.min(html.len());
    memchr::memchr(b'>', &html[from..]).map_or(html.len(), |len| from + len + 1)
}

/// Where the end tag of the raw-text element `name`, whose content starts at
/// `from`, starts: `</name` in any case followed by whitespace, `/` or `>`.
fn raw_text_end(html: &[u8], from: usize, name: &[u8]) -> Option<usize> {
    memchr::memmem::find_iter(&html[from..], b"</")
        .map(|offset| from + offset)
        .find(|&close| {
            let name_at = close + 2;
            html.get(name_at..name_at + name.len())
                .is_some_and(|found| found.eq_ignore_ascii_case(name))
                && html
                    .get(name_at + name.len())
                    .is_some_and(|&c| is_space(c) || c == b'/' || c == b'>')
        })
}

#[cfg(test)]
mod tests {
    use super::{RAW_TEXT, body_end, raw_text};

    #[test]
    fn every_raw_text_element_is_told_in_any_case_and_no_other() {
        for name in RAW_TEXT {
            let upper = name.to_ascii_uppercase();
            assert_eq!(raw_text(name), Some(name));
            assert_eq!(raw_text(&upper), Some(name));
            // In a shell: a `</body>` inside it is text.
            let tag = String::from_utf8_lossy(name);
            let html = format!("<body><{tag}></body></{tag}></body>");
            assert_eq!(body_end(html.as_bytes()), Some(html.len() - 7), "{tag}");
        }
        for name in [
            "p",
            "section",
            "template",
            "span",
            "i",
            "nav",
            "s",
            "textareas",
        ] {
            assert_eq!(raw_text(name.as_bytes()), None, "{name}");
        }
    }

    /// Where `</body` starts in `html` counting from its `n`th occurrence
    /// (in any case) from the end, 1 being the last.
    fn nth_last(html: &str, n: usize) -> usize {
        let lower = html.to_ascii_lowercase();
        lower.rmatch_indices("</body").nth(n - 1).expect("there").0
    }

    #[test]
    fn a_plain_closing_body_tag_is_found() {
        let html = "<html><body><p>hi</p></body></html>";
        assert_eq!(body_end(html.as_bytes()), Some(nth_last(html, 1)));
    }

    #[test]
    fn upper_and_mixed_case_tags_are_found() {
        for html in [
            "<HTML><BODY><P>hi</P></BODY></HTML>",
            "<Html><Body>hi</Body ></Html>",
            "<html><body>hi</bOdY\n>\n</html>",
            "<html><body>hi</body/></html>",
        ] {
            assert_eq!(body_end(html.as_bytes()), Some(nth_last(html, 1)), "{html}");
        }
    }

    #[test]
    fn a_closing_body_tag_in_a_comment_is_not_it() {
        let html = "<html><body><p>hi</p></body>\n<!-- moved: </body> --></html>";
        assert_eq!(body_end(html.as_bytes()), Some(nth_last(html, 2)));
        let abrupt = "<html><body><!--></body><!---></body><!----></body>--></html>";
        assert_eq!(body_end(abrupt.as_bytes()), Some(nth_last(abrupt, 1)));
        let bang = "<html><body>x</body><!-- a --!> </body> <!-- </body>";
        assert_eq!(body_end(bang.as_bytes()), Some(nth_last(bang, 2)));
    }

    #[test]
    fn a_closing_body_tag_in_a_script_string_is_not_it() {
        let html = "<html><body>x</body><script>var s = \"<\\/p></body>\";</script></html>";
        assert_eq!(body_end(html.as_bytes()), Some(nth_last(html, 2)));
        let single = "<html><body>x</body><SCRIPT type=module>let s = '</body>'</Script ></html>";
        assert_eq!(body_end(single.as_bytes()), Some(nth_last(single, 2)));
    }

    #[test]
    fn a_closing_body_tag_in_script_code_is_not_it() {
        let html = "<html><body>x</body><script>document.write(1 </body> 2)</script></html>";
        assert_eq!(body_end(html.as_bytes()), Some(nth_last(html, 2)));
        let unclosed = "<html><body>x</body><script> if (a </body> b) {";
        assert_eq!(body_end(unclosed.as_bytes()), Some(nth_last(unclosed, 2)));
        let scripty = "<html><body>x</body><script></scripts></body></script></html>";
        assert_eq!(body_end(scripty.as_bytes()), Some(nth_last(scripty, 2)));
    }

    #[test]
    fn a_closing_body_tag_in_a_style_is_not_it() {
        let html = "<html><body>x</body><style>p::after { content: \"</body>\" }</style></html>";
        assert_eq!(body_end(html.as_bytes()), Some(nth_last(html, 2)));
    }

    #[test]
    fn a_closing_body_tag_in_an_attribute_value_is_not_it() {
        for html in [
            "<html><body>x</body><p title=\"a </body> b\">y</p></html>",
            "<html><body>x</body><p title='a </body> b'>y</p></html>",
            "<html><body>x</body><p data-x = \"> </body>\" hidden>y</p></html>",
            "<html><body>x</body><div a='\"' b=\"</body>\"></div></html>",
        ] {
            assert_eq!(body_end(html.as_bytes()), Some(nth_last(html, 2)), "{html}");
        }
        let unquoted = "<html><body>x<p title=a'b></body></html>";
        assert_eq!(body_end(unquoted.as_bytes()), Some(nth_last(unquoted, 1)));
    }

    #[test]
    fn a_closing_body_tag_in_a_textarea_or_title_is_not_it() {
        let html = "<html><body><form><textarea></body></textarea></form></body><TEXTAREA>\n</BODY></TEXTAREA></html>";
        assert_eq!(body_end(html.as_bytes()), Some(nth_last(html, 2)));
        let title = "<html><head><title>a </body> b</title></head><body>x</html>";
        assert_eq!(body_end(title.as_bytes()), None);
    }

    #[test]
    fn no_closing_body_tag_is_none() {
        for html in [
            "",
            "<",
            "</",
            "</body",
            "<html><body><p>hi</p></html>",
            "<html><body><p>hi</p><!-- </body>",
            "<html><body><p title=\"</body>",
            "<html><body><p>a < b </ body></p></html>",
        ] {
            assert_eq!(body_end(html.as_bytes()), None, "{html}");
        }
    }

    #[test]
    fn a_longer_tag_name_is_not_it() {
        let html = "<html><body>x</body><p>y</bodyx><p>z</body-part></html>";
        assert_eq!(body_end(html.as_bytes()), Some(nth_last(html, 3)));
        assert_eq!(body_end(b"<body>x</bodyx>"), None);
    }

    #[test]
    fn of_several_real_ones_the_last_wins() {
        let html = "<html><body>x</body>\n<p>y</p></BODY>\n<!-- z --></body></html>";
        assert_eq!(body_end(html.as_bytes()), Some(nth_last(html, 1)));
    }

    #[test]
    fn the_other_raw_text_elements_and_plaintext_hide_it_too() {
        for tag in ["xmp", "iframe", "noembed", "noframes", "noscript"] {
            let html = format!("<html><body>x</body><{tag}></body></{tag}></html>");
            assert_eq!(body_end(html.as_bytes()), Some(nth_last(&html, 2)), "{tag}");
        }
        let plaintext = "<html><body>x</body><plaintext></body></plaintext></body>";
        assert_eq!(body_end(plaintext.as_bytes()), Some(nth_last(plaintext, 3)));
    }

    #[test]
    fn doctype_and_processing_instructions_are_skipped() {
        let html = "<!DOCTYPE html><?xml x=\"</body>\"?><html><body>x</body></html>";
        assert_eq!(body_end(html.as_bytes()), Some(nth_last(html, 1)));
        let pi = "<html><body>x</body><? </body> ?></html>";
        assert_eq!(body_end(pi.as_bytes()), Some(nth_last(pi, 2)));
    }
}
