//! Graceful shutdown for pages: once it begins, every page still streaming
//! ends as a complete document within the grace period, its pending
//! sections showing their timeout markup if they have not resolved by then.

use std::sync::LazyLock;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// When pages must have ended, once a shutdown began.
static ENDS_BY: LazyLock<watch::Sender<Option<Instant>>> = LazyLock::new(|| watch::channel(None).0);

/// Begins a graceful shutdown: every page streaming now or later ends
/// within `within`. Sections that resolve before then still show their
/// content; the rest show their timeout markup, so each page ends with its
/// `</body>` instead of being cut when the server's grace period runs out.
/// Call it when the server starts shutting down, with a little less than
/// its grace period (`HttpServer::shutdown_timeout`).
///
/// ```no_run
/// # async fn stop(handle: actix_web::dev::ServerHandle) {
/// pagepipe::begin_shutdown(std::time::Duration::from_secs(9));
/// handle.stop(true).await; // with a 10 s shutdown_timeout
/// # }
/// ```
pub fn begin_shutdown(within: Duration) {
    let ends_by = crate::clock::after(Instant::now(), within);
    ENDS_BY.send_if_modified(|current| match current {
        // An earlier shutdown's deadline stands unless this one is sooner.
        Some(earlier) if *earlier <= ends_by => false,
        _ => {
            *current = Some(ends_by);
            true
        }
    });
}

/// Resolves once a shutdown has begun; at once if it already has. For
/// streams of pagepipe's users (a feed) that should end at a boundary of
/// their own.
pub async fn shutdown_begun() {
    let mut ends_by = ENDS_BY.subscribe();
    // The sender lives for the whole process, so this cannot fail.
    let _ = ends_by.wait_for(Option::is_some).await;
}

/// Watches when pages must have ended.
pub(crate) fn watch() -> watch::Receiver<Option<Instant>> {
    ENDS_BY.subscribe()
}
