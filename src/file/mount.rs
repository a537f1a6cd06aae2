//! [`Files`], a folder mounted at a path prefix as an actix service: one
//! resource at `{mount}/{tail:.*}` whose GET and HEAD go through
//! [`serve_file`] (safe paths, validators, conditional and range requests,
//! precompressed siblings and cached compressed copies), while every other
//! method gets a plain-text `405` with `Allow: GET, HEAD`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix_web::dev::{AppService, HttpServiceFactory};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, guard, web};

use super::kept::Kept;
use super::serve;
use crate::Streamed;

/// The name of the path segment holding the path under the mount.
const TAIL: &str = "tail";

/// A folder served under a path prefix, as actix-files' `Files` does, with
/// everything [`serve_file`](super::serve_file) does per file.
///
/// What a request gets is kept in memory when its bytes already are (a
/// file up to 64 KiB read whole, or a compressed copy), so the next request
/// for it is answered without a trip to the blocking pool, after a `stat`
/// confirms the file on disk is still that version: a file changed on disk
/// is served new on the next request. Each worker keeps up to
/// [`DEFAULT_KEPT_BYTES`] (see [`Files::keep_in_memory`]).
///
/// `Files::new("/assets", "assets")` answers `GET /assets/css/site.css` with
/// the file `assets/css/site.css`. Paths leaving the folder are `400`,
/// missing files and folders `404`, and methods other than GET and HEAD
/// `405`. A mount of `"/"` (or `""`) serves the folder at the root; a
/// trailing slash on the mount is ignored.
///
/// # Example
///
/// ```
/// use actix_web::App;
///
/// let app = App::new().service(pagepipe::Files::new("/assets", "assets"));
/// ```
#[derive(Debug, Clone)]
pub struct Files {
    /// The path prefix without its trailing slash: `""` at the root.
    mount: String,
    /// The folder the files are served from.
    root: PathBuf,
    /// The most bytes each worker keeps in memory for this mount.
    kept_bytes: u64,
}

/// The bytes of files each worker keeps in memory per [`Files`] mount by
/// default: 16 MiB.
pub const DEFAULT_KEPT_BYTES: u64 = 16 * 1024 * 1024;

impl Files {
    /// Serves the folder `root` under the path prefix `mount`.
    ///
    /// `root` is resolved per request, relative to the working directory
    /// if it is relative; it need not exist when the app is built.
    ///
    /// # Example
    ///
    /// ```
    /// use actix_web::{App, web};
    ///
    /// // At the root of a scope: `/static/logo.svg` is `public/logo.svg`.
    /// let app = App::new()
    ///     .service(web::scope("/static").service(pagepipe::Files::new("/", "public")));
    /// ```
    pub fn new(mount: impl Into<String>, root: impl Into<PathBuf>) -> Files {
        let mut mount = mount.into();
        let kept = mount.trim_end_matches('/').len();
        mount.truncate(kept);
        Files {
            mount,
            root: root.into(),
            kept_bytes: DEFAULT_KEPT_BYTES,
        }
    }

    /// Keeps at most `bytes` of this folder's files in memory on each
    /// worker (default [`DEFAULT_KEPT_BYTES`]); `0` keeps none, so every
    /// request opens its file.
    ///
    /// # Example
    ///
    /// ```
    /// // Up to 64 MiB of assets per worker, served without opening them.
    /// let assets = pagepipe::Files::new("/assets", "assets").keep_in_memory(64 << 20);
    /// ```
    #[must_use]
    pub fn keep_in_memory(mut self, bytes: u64) -> Files {
        self.kept_bytes = bytes;
        self
    }
}

impl HttpServiceFactory for Files {
    fn register(self, config: &mut AppService) {
        let root: Arc<Path> = Arc::from(self.root);
        // The app is built once per worker: so is this.
        let kept = Kept::new(self.kept_bytes).map(Arc::new);
        let files = web::route()
            // `web::get()` alone would answer HEAD with 404.
            .guard(guard::Any(guard::Get()).or(guard::Head()))
            .to(move |req: HttpRequest| {
                let root = Arc::clone(&root);
                let kept = kept.clone();
                async move { serve(&root, tail(&req), &req, kept.as_deref()).await }
            });
        web::resource(format!("{}/{{{TAIL}:.*}}", self.mount))
            .route(files)
            .default_service(web::to(method_not_allowed))
            .register(config);
    }
}

/// The path under the mount, as actix matched it: the last `tail` segment,
/// so that a `{tail}` of an enclosing scope is not taken for it.
fn tail(req: &HttpRequest) -> &str {
    req.match_info()
        .iter()
        .filter_map(|(name, value)| (name == TAIL).then_some(value))
        .last()
        .unwrap_or_default()
}

/// The `405` for every method but GET and HEAD: plain text, uncompressed
/// like [`serve_file`]'s own refusals.
async fn method_not_allowed(req: HttpRequest) -> Streamed {
    let message = format!(
        "method {} is not allowed on {}: use GET or HEAD\n",
        req.method(),
        req.path()
    );
    Streamed::text(StatusCode::METHOD_NOT_ALLOWED, message)
        .uncompressed()
        .header(header::ALLOW, HeaderValue::from_static("GET, HEAD"))
}
