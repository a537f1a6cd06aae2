//! Templates for tests of rendered pages, shared by the library's unit
//! tests and its integration tests (each includes this file with `#[path]`
//! and has `Slot` in scope): a shell of slots, and a line of text.

use askama::Template;

use super::Slot;

/// A page whose body holds `slots`, each in a `<div>`.
#[derive(Template)]
#[template(
    source = "<html><body>{% for s in slots %}<div>{{ s }}</div>{% endfor %}</body></html>",
    ext = "html"
)]
pub(crate) struct Shell {
    pub(crate) slots: Vec<Slot>,
}

/// Escaped text.
#[derive(Template)]
#[template(source = "{{ text }}", ext = "html")]
pub(crate) struct Text {
    pub(crate) text: String,
}
