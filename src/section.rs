//! A [`Section`]: one deferred part of a page, its loading and error markup,
//! and the loader that produces its content; and what an error template is
//! told about a [`Failure`].

use std::any::TypeId;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use askama::Template;
use futures_util::future::LocalBoxFuture;
use futures_util::{FutureExt as _, Stream, StreamExt as _};

use crate::cache::Cache;
use crate::page::{Fragment, IntoFragment};

mod cached;
mod list;

pub(crate) use cached::Looking;
pub(crate) use list::{End, Items, Segment};

/// The error a section's loader may return: any error type converts into it.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `Ok(value)` typed as a loader's result, so an `async` block that uses `?`
/// needs no annotation:
///
/// ```
/// # use askama::Template;
/// # #[derive(Template)]
/// # #[template(source = "{{ n }}", ext = "html")]
/// # struct Stock { n: u32 }
/// # async fn fetch_stock(sku: &str) -> Result<u32, std::io::Error> { Ok(3) }
/// let sku = String::from("lamp-1");
/// let loader = async move {
///     let n = fetch_stock(&sku).await?;
///     pagepipe::ok(Stock { n })
/// };
/// ```
pub fn ok<T>(value: T) -> Result<T, BoxError> {
    Ok(value)
}

/// An error whose message may be shown on the page.
///
/// A loader's errors are logged, never shown: their text may hold internals
/// (hosts, queries, stack details). Return a `PublicError` (or wrap one) to
/// let [`Failure::message`] carry its text to the error template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicError(String);

impl PublicError {
    /// An error that shows `message` to the reader of the page.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl fmt::Display for PublicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PublicError {}

/// The text of a [`PublicError`] in `err`'s chain of sources, if any.
pub(crate) fn public_message(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current = Some(err);
    while let Some(err) = current {
        if let Some(public) = err.downcast_ref::<PublicError>() {
            return Some(public.to_string());
        }
        current = err.source();
    }
    None
}

/// How a section failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureKind {
    /// The loader returned an error, or its content could not be rendered.
    Error,
    /// The loader panicked.
    Panic,
    /// The loader ran past its [timeout](Section::timeout) or the page's
    /// [deadline](crate::Page::deadline).
    Timeout,
}

/// What an error template is told about a failed section; see
/// [`Section::error_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    kind: FailureKind,
    message: String,
}

impl Failure {
    pub(crate) fn new(kind: FailureKind, public: Option<String>) -> Self {
        let message = public.unwrap_or_else(|| {
            match kind {
                FailureKind::Timeout => "This section took too long to load.",
                FailureKind::Error | FailureKind::Panic => "This section could not be loaded.",
            }
            .to_owned()
        });
        Self { kind, message }
    }

    /// How the section failed.
    pub fn kind(&self) -> FailureKind {
        self.kind
    }

    /// Whether the section ran out of time (rather than failing).
    pub fn is_timeout(&self) -> bool {
        self.kind == FailureKind::Timeout
    }

    /// A message safe to show: a [`PublicError`]'s text, or a plain
    /// sentence for the kind of failure. askama escapes it like any value.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Renders a section's error markup from its failure.
type RenderFailure = Box<dyn FnOnce(&Failure) -> Result<String, askama::Error>>;

/// The markup a failed section shows.
pub(crate) enum ErrorMarkup {
    /// The same markup whatever happened, rendered up front.
    Fixed(Result<String, askama::Error>),
    /// Markup rendered from the failure.
    Render(RenderFailure),
}

/// What a loader resolved to, kept until its section is written.
pub(crate) enum Content {
    /// A value rendered only when its section is about to be written: a
    /// resolved section waiting for its turn holds its data, not its markup.
    Later(Box<dyn FnOnce() -> Fragment>),
    /// A [`Fragment`], rendered by the loader already: the sections nested
    /// in it start as soon as it resolves.
    Fragment(Fragment),
    /// The next items of a list section ([`Section::stream`]).
    List(Segment),
}

impl Content {
    /// Markup rendered already (a cached section's).
    fn html(html: &str) -> Self {
        Self::Fragment(Fragment {
            html: Ok(html.to_owned()),
            sections: Vec::new(),
            data: Vec::new(),
            template: "cached markup",
            // Only markup that wrote no slot marker is cached
            // (`cached::rendered`); markup from another process (Redis)
            // holds no marker of this one's either.
            slotless: true,
        })
    }

    fn of<T: IntoFragment + 'static>(value: T) -> Self {
        if TypeId::of::<T>() == TypeId::of::<Fragment>() {
            Self::Fragment(value.into_fragment())
        } else {
            Self::Later(Box::new(move || value.into_fragment()))
        }
    }
}

/// A deferred part of a page: an id, the markup shown while it loads, and
/// the future that loads and renders its content.
///
/// The id names the section's slot element in the DOM (`<pp-slot id="…">`),
/// so it must be unique in the page: an ASCII letter, then letters, digits,
/// `-` or `_`.
///
/// The loader is any future that owns what it uses (`'static`): move owned
/// values in (`async move { … }` over a `String`, an `Arc` or a cloned pool
/// handle), not references to the handler's locals.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use askama::Template;
/// use pagepipe::{Failure, Section};
///
/// #[derive(Template)]
/// #[template(source = "<p>{{ price }}</p>", ext = "html")]
/// struct Price { price: String }
///
/// #[derive(Template)]
/// #[template(source = "<p class=skeleton>…</p>", ext = "html")]
/// struct Loading;
///
/// #[derive(Template)]
/// #[template(source = "<p class=\"{% if timeout %}slow{% else %}failed{% endif %}\">{{ message }}</p>", ext = "html")]
/// struct Unavailable { timeout: bool, message: String }
///
/// async fn price() -> Result<Price, std::io::Error> {
///     Ok(Price { price: "€129".into() })
/// }
///
/// let section = Section::new("price", Loading, price())
///     .timeout(Duration::from_secs(2))
///     .error_with(|failure: &Failure| Unavailable {
///         timeout: failure.is_timeout(),
///         message: failure.message().to_owned(),
///     });
/// ```
pub struct Section {
    pub(crate) id: String,
    pub(crate) loading: Result<String, askama::Error>,
    pub(crate) error: Option<ErrorMarkup>,
    pub(crate) timeout: Option<Duration>,
    /// The section this one appears no earlier than.
    pub(crate) after: Option<String>,
    pub(crate) content: LocalBoxFuture<'static, Result<Content, BoxError>>,
    /// What a list section shows after its last item.
    pub(crate) end: Option<Result<String, askama::Error>>,
    /// A cached section's lookup the shell waits for.
    pub(crate) looking: Option<std::rc::Rc<Looking>>,
}

impl Section {
    /// A section `id` that shows `loading` until `content` resolves.
    ///
    /// What `content` resolves to is rendered only when the section is
    /// about to be written, so a section that waits for its turn (a shell
    /// budget, an earlier slot in order, [`after`](Self::after)) holds its
    /// data rather than its markup. A [`Fragment`] is rendered already.
    ///
    /// `content` starts when the page starts streaming, at the same time as
    /// every other section of the page. If it fails, panics or times out, the
    /// slot shows the section's [error markup](Section::error) and the rest
    /// of the page streams on. A loader that cannot fail goes to
    /// [`Section::infallible`]; an `async` block using `?` ends in
    /// [`ok`](crate::ok).
    pub fn new<T, E>(
        id: impl Into<String>,
        loading: impl Template,
        content: impl Future<Output = Result<T, E>> + 'static,
    ) -> Self
    where
        T: IntoFragment + 'static,
        E: Into<BoxError>,
    {
        let content = content
            .map(|result| result.map(Content::of).map_err(Into::into))
            .boxed_local();
        Self::loading(id.into(), loading.render(), content)
    }

    /// A section with no options set yet.
    fn loading(
        id: String,
        loading: Result<String, askama::Error>,
        content: LocalBoxFuture<'static, Result<Content, BoxError>>,
    ) -> Self {
        Self {
            id,
            loading,
            error: None,
            timeout: None,
            after: None,
            content,
            end: None,
            looking: None,
        }
    }

    /// A section `id` that streams a list: `loading` shows until the first
    /// item, then each item of `items` is written into the slot, after the
    /// ones before it, as it arrives.
    ///
    /// An item is any template, rendered as it is pulled, or a [`Fragment`]
    /// with sections of its own, which start as their item is pulled.
    /// Items ready together are written together (in one chunk, up to
    /// 32 KiB); the stream is pulled only as fast as the client reads, so a
    /// list of any length holds at most one such batch. What follows the
    /// last item is [`end`](Self::end)'s markup. An item that is an error,
    /// or a panic, ends the list with the section's
    /// [error markup](Self::error_with) after the items already written; so
    /// do its [timeout](Self::timeout) (counted for the whole list) and the
    /// page's deadline, with a [`Failure`] that
    /// [is a timeout](Failure::is_timeout). Out of order, each batch is a
    /// late chunk that fills the end of the previous one (so needs no
    /// script where the browser patches natively); in order, items are
    /// written in place; buffered, the document holds them all.
    ///
    /// ```
    /// use askama::Template;
    /// use futures_util::{StreamExt as _, stream};
    /// use pagepipe::{Page, Section};
    ///
    /// #[derive(Template)]
    /// #[template(source = "<ul>{{ pagepipe::slot(\"rows\") }}</ul>", ext = "html")]
    /// struct Shell;
    ///
    /// #[derive(Template)]
    /// #[template(source = "<li>{{ name }}</li>", ext = "html")]
    /// struct Row { name: String }
    ///
    /// #[derive(Template)]
    /// #[template(source = "<li>loading…</li>", ext = "html")]
    /// struct Loading;
    ///
    /// #[derive(Template)]
    /// #[template(source = "<li>that is all</li>", ext = "html")]
    /// struct End;
    ///
    /// let rows = stream::iter(["ada", "grace"]).map(|name| pagepipe::ok(Row { name: name.into() }));
    /// let page = Page::new(Shell).section(Section::stream("rows", Loading, rows).end(End));
    /// page.check().unwrap();
    /// ```
    pub fn stream<T, E>(
        id: impl Into<String>,
        loading: impl Template,
        items: impl Stream<Item = Result<T, E>> + 'static,
    ) -> Self
    where
        T: IntoFragment + 'static,
        E: Into<BoxError>,
    {
        let items: Items = items
            .map(|item| item.map(IntoFragment::into_fragment).map_err(Into::into))
            .boxed_local();
        let content = Segment::next(items)
            .map(|segment| Ok(Content::List(segment)))
            .boxed_local();
        Self::loading(id.into(), loading.render(), content)
    }

    /// Serves this section from `cache` under `key`: what is cached is the
    /// rendered markup, so a hit costs no loader and no template.
    ///
    /// - **Fresh** (stored less than `fresh` ago): written in place with the
    ///   shell, its loader never started.
    /// - **Stale** (then, for `stale` more): written in place too, and one
    ///   loader, in the background, refreshes it for later requests; if it
    ///   fails, the stale entry is kept until its window ends and the next
    ///   request that finds it stale tries again.
    /// - **Missing**: the loader runs and the section streams as usual; its
    ///   markup is stored. Concurrent requests missing the same key share
    ///   the first one's loader (in each process) and show what it gives;
    ///   if its page goes away first, one of them loads instead.
    ///
    /// Failures are never cached: a loader that fails shows the error
    /// markup of every request that shared it, and the next request loads
    /// again. Content with sections or data of its own is not cached (each
    /// request loads its own). The key names the content: put in it
    /// everything the loader's result depends on (ids, locale, the user's
    /// id for personal content). A stale refresh runs on the worker's local
    /// task set, which actix provides; elsewhere the entry is left stale.
    #[must_use]
    pub fn cached(
        mut self,
        cache: &Cache,
        key: impl Into<String>,
        fresh: Duration,
        stale: Duration,
    ) -> Self {
        let loader = std::mem::replace(&mut self.content, std::future::pending().boxed_local());
        self.looking = cache
            .lookup_time()
            .map(|limit| std::rc::Rc::new(Looking::new(limit)));
        let cached = cached::Cached {
            cache: cache.clone(),
            key: key.into(),
            fresh,
            stale,
            looking: self.looking.clone(),
        };
        self.content = cached.load(loader).boxed_local();
        self
    }

    /// Shows `template` after the last item of a list section
    /// ([`Section::stream`]); a list without one ends with its last item.
    /// Other sections have no use for it.
    #[must_use]
    pub fn end(mut self, template: impl Template) -> Self {
        self.end = Some(template.render());
        self
    }

    /// A section whose loader cannot fail: it resolves to the content
    /// itself (it may still panic or time out).
    ///
    /// ```
    /// # use askama::Template;
    /// # #[derive(Template)]
    /// # #[template(source = "{{ degrees }}°", ext = "html")]
    /// # struct Weather { degrees: i32 }
    /// # #[derive(Template)]
    /// # #[template(source = "…", ext = "html")]
    /// # struct Loading;
    /// async fn weather() -> Weather {
    ///     Weather { degrees: 21 }
    /// }
    /// let section = pagepipe::Section::infallible("weather", Loading, weather());
    /// ```
    pub fn infallible<T>(
        id: impl Into<String>,
        loading: impl Template,
        content: impl Future<Output = T> + 'static,
    ) -> Self
    where
        T: IntoFragment + 'static,
    {
        Self::new(id, loading, content.map(Ok::<T, BoxError>))
    }

    /// Gives up on the content after `timeout` (counted from when the section
    /// starts) and shows the error markup instead.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Shows this section no earlier than section `id` (its content or its
    /// error markup): a section that resolves first is held until `id` has
    /// been sent, in every mode, with no script. Reviews, say, never appear
    /// above a price that is still loading. `id` is a section of the same
    /// page added before this one or beside it; an unknown id or a cycle
    /// fails the page before its first byte. The page's deadline still ends
    /// the wait: `id` then shows its timeout markup, and this section follows.
    #[must_use]
    pub fn after(mut self, id: impl Into<String>) -> Self {
        self.after = Some(id.into());
        self
    }

    /// Shows `template` in the slot if the content fails, panics or times out,
    /// instead of a short default message.
    #[must_use]
    pub fn error(mut self, template: impl Template) -> Self {
        self.error = Some(ErrorMarkup::Fixed(template.render()));
        self
    }

    /// Shows the template `render` makes from the [`Failure`] if the content
    /// fails, panics or times out: a timeout can read differently from a
    /// failure, and a [`PublicError`]'s message can be shown.
    #[must_use]
    pub fn error_with<T: Template>(mut self, render: impl FnOnce(&Failure) -> T + 'static) -> Self {
        self.error = Some(ErrorMarkup::Render(Box::new(move |failure| {
            render(failure).render()
        })));
        self
    }
}

impl fmt::Debug for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Section")
            .field("id", &self.id)
            .field("timeout", &self.timeout)
            .field("after", &self.after)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_carry_a_plain_message_unless_the_error_is_public() {
        let timeout = Failure::new(FailureKind::Timeout, None);
        assert!(timeout.is_timeout());
        assert_eq!(timeout.message(), "This section took too long to load.");
        let failed = Failure::new(FailureKind::Error, None);
        assert!(!failed.is_timeout());
        assert_eq!(failed.message(), "This section could not be loaded.");
        let public = Failure::new(FailureKind::Error, Some("Stock is offline".into()));
        assert_eq!(public.message(), "Stock is offline");
    }
}
