//! Server-side progressive HTML rendering for actix-web.
//!
//! A [`Page`] is an askama shell plus deferred [`Section`]s. The shell, with a
//! placeholder for every section, reaches the browser at once; each section's
//! future runs concurrently and its content is flushed the moment it resolves
//! ([`Mode::OutOfOrder`]), in document order ([`Mode::InOrder`]), or all at
//! once ([`Mode::Buffered`]). The same [`Streamed`] responder serves pages,
//! files and proxied media.
//!
//! # Example
//!
//! ```no_run
//! use askama::Template;
//! use pagepipe::{Page, Section};
//!
//! #[derive(Template)]
//! #[template(source = "<h1>{{ name }}</h1>{{ pagepipe::slot(\"reviews\") }}", ext = "html")]
//! struct Shell { name: String }
//!
//! #[derive(Template)]
//! #[template(source = "<p>Loading reviews…</p>", ext = "html")]
//! struct ReviewsLoading;
//!
//! #[derive(Template)]
//! #[template(source = "<ul>{% for r in items %}<li>{{ r }}</li>{% endfor %}</ul>", ext = "html")]
//! struct Reviews { items: Vec<String> }
//!
//! async fn reviews() -> Result<Reviews, std::io::Error> {
//!     Ok(Reviews { items: vec!["Great".into()] })
//! }
//!
//! async fn product() -> Page {
//!     Page::new(Shell { name: "Lamp".into() })
//!         .section(Section::new("reviews", ReviewsLoading, reviews()))
//! }
//! ```
//!
//! # Layout
//!
//! Modules depend only on those below them (`docs/architecture.md`):
//!
//! - `respond`: the one place a [`Page`] becomes a response (its
//!   [`Responder`](actix_web::Responder) impl and [`Page::respond`]).
//! - `page`, `section`: [`Page`], [`Fragment`], [`slot`], [`Section`],
//!   [`Failure`]: the author's API; it knows nothing about rendering.
//! - `mode`: [`Mode`], and which one a request gets (crawlers, HTTP/1.0).
//! - `render`: [`render`]: the generator that yields the bytes.
//! - `wire`: every byte of the format: slot markers, placeholders, late
//!   sections, the runtime script.
//! - `streamed`: [`Streamed`], the one responder for pages and files.
//! - `encoding`: [`Compression`]: zstd, brotli or gzip by `Accept-Encoding`,
//!   chunk by chunk with no compressor held while a stream waits, and
//!   static files compressed once and cached.
//! - `file`: [`serve_file`]: a path under a root → [`Streamed`], with ranges,
//!   validators, conditional requests and precompressed representations;
//!   [`Files`] mounts a folder with it.
//! - `proxy` (feature `upstream`): `Upstream`, an upstream URL relayed as a
//!   [`Streamed`].
//! - `server`: [`Server`], an HTTP/1.1 server for an actix `App` that
//!   times every request head and ends a page when its client finishes
//!   sending; [`configure_server`], the nearest an actix `HttpServer` comes;
//!   `shutdown`: [`begin_shutdown`], open pages end complete; `client`:
//!   whether a connection's client finished sending, for pages and streams.
//! - `cache`: [`Cache`], rendered sections by key for
//!   [`Section::cached`]: in the process, or in Redis (feature `redis`).
//! - `error`: [`Error`], what can fail before the first byte.
//! - [`guide`]: adding a section to a page, step by step.

mod cache;
mod client;
mod clock;
mod compress;
mod csp;
mod encoding;
mod error;
mod file;
mod log;
mod mode;
mod page;
#[cfg(feature = "upstream")]
mod proxy;
mod render;
mod respond;
mod section;
mod server;
mod shutdown;
mod streamed;
pub mod wire;

#[doc = include_str!("../docs/adding-a-section.md")]
pub mod guide {}

// The README's Rust is compiled by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use cache::{Cache, DEFAULT_CACHE_BUDGET, DEFAULT_STORE_TIMEOUT};
pub use compress::{Compress, CompressFuture, CompressService};
pub use csp::{Nonce, SCRIPT_HASHES};
pub use encoding::{Coding, Compression, DEFAULT_CACHE_BYTES};
pub use error::Error;
pub use file::serve_file;
pub use file::{DEFAULT_KEPT_BYTES, Files};
pub use log::ClientMistakes;
pub use mode::{Mode, ParseModeError};
pub use page::{
    DEFAULT_DEADLINE, DEFAULT_MAX_HELD_BYTES, DEFAULT_MAX_SECTIONS, Fragment, IntoFragment, Page,
    Preload, Slot, slot,
};
#[cfg(feature = "upstream")]
pub use proxy::{Upstream, UpstreamError};
pub use render::Body;
pub use respond::render;
/// The TLS library [`Server::bind_tls`] takes its configuration from.
pub use rustls;
pub use section::{BoxError, Failure, FailureKind, PublicError, Section, ok};
#[cfg(feature = "send-timeout")]
pub use server::drop_stalled_after;
pub use server::{
    DEFAULT_BODY_TIMEOUT, DEFAULT_KEEP_ALIVE, DEFAULT_REQUEST_TIMEOUT, DEFAULT_SEND_TIMEOUT,
    MAX_TARGET, Server, client_finished, configure_server, tls_config,
};
pub use shutdown::{begin_shutdown, shutdown_begun};
pub use streamed::Streamed;

#[cfg(test)]
mod readme {
    #[test]
    fn the_readme_shows_the_quickstart_example_verbatim() {
        let readme = include_str!("../README.md");
        let example = include_str!("../examples/quickstart.rs");
        assert!(
            readme.contains(example),
            "README and examples/quickstart.rs differ"
        );
    }
}
