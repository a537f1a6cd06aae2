//! The template author's API: a [`Page`] is an askama shell plus deferred
//! [`Section`]s, each placed in the shell by a [`slot`].

use std::fmt;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue, TryIntoHeaderPair};
use askama::Template;

use crate::csp::Nonce;
use crate::mode::Mode;
use crate::section::Section;
use crate::wire;

/// How long a page may stream before its unresolved sections give up and
/// show their error markup, unless [`Page::deadline`] says otherwise.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);

/// How many sections, nested ones included, a page may have unless
/// [`Page::max_sections`] says otherwise.
pub const DEFAULT_MAX_SECTIONS: usize = 1024;

/// How many bytes of markup a streamed page may hold for its client, in
/// sections resolved but not yet written, unless [`Page::max_held_bytes`]
/// says otherwise.
pub const DEFAULT_MAX_HELD_BYTES: usize = 1024 * 1024;

/// Rendered markup that may hold slots for deferred sections: a page's shell,
/// or a section's content with sections of its own nested inside.
///
/// Any askama [`Template`] converts into a fragment without nested sections.
pub struct Fragment {
    pub(crate) html: Result<String, askama::Error>,
    pub(crate) sections: Vec<Section>,
    pub(crate) data: Vec<(String, Result<String, serde_json::Error>)>,
    /// The template's type, named in warnings about the page it shells.
    pub(crate) template: &'static str,
    /// Whether no slot marker was written while its template rendered, so
    /// its markup needs no search for slots.
    pub(crate) slotless: bool,
}

impl Fragment {
    /// Renders `template`; its `slot(…)` calls mark where sections go.
    pub fn new(template: impl Template) -> Self {
        let markers = wire::markers_written();
        let html = render(&template);
        Self {
            template: std::any::type_name_of_val(&template),
            html,
            sections: Vec::new(),
            data: Vec::new(),
            slotless: wire::markers_written() == markers,
        }
    }

    /// Adds a section whose slot is in this fragment's template.
    #[must_use]
    pub fn section(mut self, section: Section) -> Self {
        self.sections.push(section);
        self
    }

    /// Carries `value` for the page's scripts, as a
    /// `<script type="application/json" id="ID">` block after the markup,
    /// escaped so no content can break out of it. Scripts read it with
    /// `JSON.parse(document.getElementById(ID).textContent)`. `id` follows
    /// the rules of section ids and must be unique in the page.
    #[must_use]
    pub fn data(mut self, id: impl Into<String>, value: &impl serde::Serialize) -> Self {
        self.data.push((id.into(), wire::script_json(value)));
        self
    }
}

/// The most a thread keeps of its rendering buffer between renders.
const KEPT_BUFFER: usize = 64 * 1024;

/// Renders `template` into a buffer each thread reuses, then copies the
/// markup out at its exact size: markup longer than the template's size
/// hint (a section's text, say) is not grown by repeated reallocation. A
/// template rendered while another is rendering on the thread (one that
/// builds a fragment in its own rendering) gets a buffer of its own.
fn render(template: &impl Template) -> askama::Result<String> {
    thread_local! {
        static BUFFER: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    BUFFER.with(|buffer| {
        let Ok(mut buffer) = buffer.try_borrow_mut() else {
            return template.render();
        };
        buffer.clear();
        let rendered = template
            .render_into(&mut *buffer)
            .map(|()| buffer.as_str().to_owned());
        if buffer.capacity() > KEPT_BUFFER {
            *buffer = String::new();
        }
        rendered
    })
}

impl fmt::Debug for Fragment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fragment")
            .field("sections", &self.sections)
            .finish_non_exhaustive()
    }
}

/// What a section's loader may resolve to: any askama template, or a
/// [`Fragment`] when the content defers sections of its own.
pub trait IntoFragment {
    /// Renders `self` into a fragment.
    fn into_fragment(self) -> Fragment;
}

impl<T: Template> IntoFragment for T {
    fn into_fragment(self) -> Fragment {
        Fragment::new(self)
    }
}

impl IntoFragment for Fragment {
    fn into_fragment(self) -> Fragment {
        self
    }
}

/// Marks where section `id` goes in a template: `{{ pagepipe::slot("reviews") }}`,
/// or `{{ reviews }}` with a field `reviews: Slot` set to `slot("reviews")`.
pub fn slot(id: impl Into<String>) -> Slot {
    Slot(id.into())
}

/// The place of one section in a template; see [`slot`].
///
/// It renders as an opaque marker that the renderer replaces with the
/// section's placeholder (or content), so it needs no `|safe` filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot(String);

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        wire::write_slot_marker(f, &self.0)
    }
}

impl askama::filters::HtmlSafe for Slot {}

impl Slot {
    /// The id of the section that goes here.
    pub fn id(&self) -> &str {
        &self.0
    }

    /// The section that fills this slot: [`Section::new`] under the slot's
    /// own id, so the two cannot disagree. Declared as a field of the
    /// shell, a slot a template misspells is a compile error:
    ///
    /// ```
    /// use askama::Template;
    /// use pagepipe::{Page, Slot, slot};
    ///
    /// #[derive(Template)]
    /// #[template(source = "<h1>Lamp</h1>{{ stock }}", ext = "html")]
    /// struct Shell { stock: Slot }
    ///
    /// #[derive(Template)]
    /// #[template(source = "{{ n }} in stock", ext = "html")]
    /// struct Stock { n: u32 }
    ///
    /// let stock = slot("stock");
    /// let section = stock.section(Stock { n: 0 }, async { Ok::<_, std::io::Error>(Stock { n: 3 }) });
    /// Page::new(Shell { stock }).section(section).check().unwrap();
    /// ```
    ///
    /// ```compile_fail
    /// # use askama::Template;
    /// # use pagepipe::Slot;
    /// #[derive(Template)]
    /// #[template(source = "<h1>Lamp</h1>{{ stok }}", ext = "html")] // no such field
    /// struct Shell { stock: Slot }
    /// ```
    pub fn section<T, E>(
        &self,
        loading: impl Template,
        content: impl Future<Output = Result<T, E>> + 'static,
    ) -> Section
    where
        T: IntoFragment + 'static,
        E: Into<crate::section::BoxError>,
    {
        Section::new(self.0.clone(), loading, content)
    }

    /// [`Slot::section`] for a loader that cannot fail
    /// ([`Section::infallible`]).
    pub fn infallible<T>(
        &self,
        loading: impl Template,
        content: impl Future<Output = T> + 'static,
    ) -> Section
    where
        T: IntoFragment + 'static,
    {
        Section::infallible(self.0.clone(), loading, content)
    }
}

/// A progressive HTML page: a shell template and the sections deferred in it.
///
/// A `Page` is an actix [`Responder`](actix_web::Responder): return it from a handler and the shell
/// goes out at once, each section as its data resolves. Decide anything that
/// affects the status (a missing item's `404`, say) before building the page:
/// once the shell is sent, the status cannot change.
///
/// # Example
///
/// ```
/// use actix_web::{App, web};
/// use askama::Template;
/// use pagepipe::{Nonce, Page, Section};
///
/// #[derive(Template)]
/// #[template(source = "<h1>Lamp</h1>{{ pagepipe::slot(\"stock\") }}", ext = "html")]
/// struct Shell;
///
/// #[derive(Template)]
/// #[template(source = "{{ n }} in stock", ext = "html")]
/// struct Stock { n: u32 }
///
/// #[derive(Template)]
/// #[template(source = "checking stock…", ext = "html")]
/// struct Checking;
///
/// async fn stock() -> Result<Stock, std::io::Error> {
///     Ok(Stock { n: 3 })
/// }
///
/// async fn lamp(nonce: Nonce) -> Page {
///     Page::new(Shell)
///         .section(Section::new("stock", Checking, stock()))
///         .nonce(nonce)
/// }
///
/// let app = App::new().route("/lamp", web::get().to(lamp));
/// ```
pub struct Page {
    pub(crate) shell: Fragment,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) preloads: Vec<Preload>,
    /// The first header that could not be made, reported before any byte.
    pub(crate) bad_header: Option<String>,
    pub(crate) nonce: Option<String>,
    pub(crate) mode: Option<Mode>,
    pub(crate) deadline: Duration,
    pub(crate) shell_budget: Duration,
    pub(crate) max_sections: usize,
    pub(crate) max_held_bytes: usize,
    pub(crate) status: StatusCode,
}

impl Page {
    /// A page whose shell is `shell`.
    pub fn new(shell: impl Template) -> Self {
        Self {
            shell: Fragment::new(shell),
            headers: Vec::new(),
            preloads: Vec::new(),
            bad_header: None,
            nonce: None,
            mode: None,
            deadline: DEFAULT_DEADLINE,
            shell_budget: Duration::ZERO,
            max_sections: DEFAULT_MAX_SECTIONS,
            max_held_bytes: DEFAULT_MAX_HELD_BYTES,
            status: StatusCode::OK,
        }
    }

    /// Sends `header` (a `(name, value)` pair, as actix's
    /// `insert_header` takes) with the page, replacing a header of the same
    /// name that pagepipe would send. A header that is not valid fails the
    /// page before its first byte, naming it.
    #[must_use]
    pub fn header(mut self, header: impl TryIntoHeaderPair) -> Self {
        match header.try_into_pair() {
            Ok(pair) => self.headers.push(pair),
            Err(err) => {
                let err: actix_web::error::HttpError = err.into();
                self.bad_header.get_or_insert(err.to_string());
            }
        }
        self
    }

    /// Announces an asset the shell needs in a `Link: <…>; rel=preload`
    /// header, so the browser fetches it before it has parsed the shell
    /// (and a CDN can send it ahead as a `103 Early Hints`).
    ///
    /// ```
    /// # use askama::Template;
    /// # #[derive(Template)] #[template(source = "<html></html>", ext = "html")] struct Shell;
    /// use pagepipe::{Page, Preload};
    ///
    /// let page = Page::new(Shell)
    ///     .preload(Preload::style("/assets/site.css"))
    ///     .preload(Preload::font("/assets/inter.woff2", "font/woff2"));
    /// ```
    #[must_use]
    pub fn preload(mut self, asset: Preload) -> Self {
        self.preloads.push(asset);
        self
    }

    /// Puts `nonce` on pagepipe's scripts and sends its
    /// [strict policy](Nonce::strict_policy) as `Content-Security-Policy`.
    #[must_use]
    pub fn csp(self, nonce: &Nonce) -> Self {
        self.header((header::CONTENT_SECURITY_POLICY, nonce.strict_policy()))
            .nonce(nonce)
    }

    /// Adds a section whose slot is in the shell.
    #[must_use]
    pub fn section(mut self, section: Section) -> Self {
        self.shell = self.shell.section(section);
        self
    }

    /// Carries `value` for the page's scripts; see [`Fragment::data`].
    #[must_use]
    pub fn data(mut self, id: impl Into<String>, value: &impl serde::Serialize) -> Self {
        self.shell = self.shell.data(id, value);
        self
    }

    /// Puts `nonce` on every inline script pagepipe writes, for a
    /// `Content-Security-Policy` with `script-src 'nonce-…'`.
    #[must_use]
    pub fn nonce(mut self, nonce: impl Into<String>) -> Self {
        self.nonce = Some(nonce.into());
        self
    }

    /// Delivers the page in `mode` rather than the one chosen per request by
    /// [`Mode::for_request`]. HTTP/1.0 clients always get [`Mode::Buffered`].
    #[must_use]
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Holds the shell for up to `budget` while sections resolve: every
    /// section resolved by then (nested ones included) is written in place,
    /// and the shell goes out at once when all of them resolve sooner. The
    /// rest stream as usual. Without a budget only the sections already
    /// resolved when the page starts are written in place.
    ///
    /// A small budget (tens of ms) saves the reader a flash of loading
    /// markup for data that is almost always fast, at the cost of up to
    /// `budget` before the first byte.
    #[must_use]
    pub fn shell_budget(mut self, budget: Duration) -> Self {
        self.shell_budget = budget;
        self
    }

    /// Ends the page `deadline` after it starts streaming: sections still
    /// pending then show their error markup.
    #[must_use]
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Allows at most `max` sections, nested ones included: a page over it
    /// fails before its first byte, and a section whose nested sections
    /// would pass it shows its error markup.
    #[must_use]
    pub fn max_sections(mut self, max: usize) -> Self {
        self.max_sections = max;
        self
    }

    /// The most bytes of markup the page holds for its client in sections
    /// that resolved but cannot be written yet ([`DEFAULT_MAX_HELD_BYTES`]).
    ///
    /// A streamed page is written in pieces of at most 32 KiB, and a
    /// section is rendered only when it is written, so a section whose
    /// loader returns a template holds its data, never its markup, however
    /// slow its client. What this caps is markup rendered ahead: a loader's
    /// [`Fragment`] and error markup. When the held markup reaches the cap,
    /// the shell stops waiting for its [budget](Self::shell_budget), a
    /// section held for [`after`](crate::Section::after) goes out without
    /// waiting, and in order, a later section that resolves then shows its
    /// error markup (each logged as a warning): the page holds at most the
    /// cap plus one section's markup. A
    /// [buffered](crate::Mode::Buffered) page is held whole by design.
    #[must_use]
    pub fn max_held_bytes(mut self, max: usize) -> Self {
        self.max_held_bytes = max;
        self
    }

    /// Answers with `status` instead of `200 OK`.
    #[must_use]
    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }
}

impl fmt::Debug for Page {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Page")
            .field("shell", &self.shell)
            .field("mode", &self.mode)
            .field("deadline", &self.deadline)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// An asset to preload: its URL and what it is; see [`Page::preload`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preload {
    pub(crate) href: String,
    pub(crate) kind: &'static str,
    pub(crate) mime: Option<String>,
    pub(crate) crossorigin: bool,
}

impl Preload {
    /// A stylesheet.
    pub fn style(href: impl Into<String>) -> Self {
        Self::new(href, "style")
    }

    /// A script.
    pub fn script(href: impl Into<String>) -> Self {
        Self::new(href, "script")
    }

    /// An image.
    pub fn image(href: impl Into<String>) -> Self {
        Self::new(href, "image")
    }

    /// A font of MIME type `mime` (`font/woff2`); fonts are always fetched
    /// in CORS mode, so the hint says `crossorigin` to match.
    pub fn font(href: impl Into<String>, mime: impl Into<String>) -> Self {
        Self {
            mime: Some(mime.into()),
            crossorigin: true,
            ..Self::new(href, "font")
        }
    }

    fn new(href: impl Into<String>, kind: &'static str) -> Self {
        Self {
            href: href.into(),
            kind,
            mime: None,
            crossorigin: false,
        }
    }
}
