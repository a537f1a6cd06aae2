//! Sections served from a [`Cache`]: a lookup, then another request's
//! load of the same key or this one's loader, its markup stored.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::LocalBoxFuture;

use super::{BoxError, Content, PublicError, public_message};
use crate::cache::{Cache, Join, Landed, Lookup};

/// A cached section's key and lifetimes, and the cache holding it.
pub(super) struct Cached {
    pub(super) cache: Cache,
    pub(super) key: String,
    pub(super) fresh: Duration,
    pub(super) stale: Duration,
    /// Told when the lookup is over, for a shell that waits for it.
    pub(super) looking: Option<Rc<Looking>>,
}

/// A cached section's lookup in a store that answers over the network
/// (Redis): the shell waits for it, up to the store's timeout, so a hit is
/// written in place like a hit in memory, and a miss streams as usual.
#[derive(Debug)]
pub(crate) struct Looking {
    done: Cell<bool>,
    changed: tokio::sync::Notify,
    /// The longest the lookup may take.
    pub(crate) limit: Duration,
}

impl Looking {
    pub(super) fn new(limit: Duration) -> Self {
        Self {
            done: Cell::new(false),
            changed: tokio::sync::Notify::new(),
            limit,
        }
    }

    /// Whether the lookup is over.
    pub(crate) fn is_done(&self) -> bool {
        self.done.get()
    }

    /// Waits until the lookup is over.
    pub(crate) async fn done(&self) {
        loop {
            let changed = self.changed.notified();
            if self.done.get() {
                return;
            }
            changed.await;
        }
    }

    fn finish(&self) {
        self.done.set(true);
        self.changed.notify_waiters();
    }
}

/// Finishes a lookup when dropped: once it answered, or when its section
/// ends first.
struct Finish(Option<Rc<Looking>>);

impl Drop for Finish {
    fn drop(&mut self) {
        if let Some(looking) = &self.0 {
            looking.finish();
        }
    }
}

type Loader = LocalBoxFuture<'static, Result<Content, BoxError>>;

impl Cached {
    /// The section's content: from the cache, from another request's load
    /// of the same key, or from `loader`, stored.
    pub(super) async fn load(mut self, loader: Loader) -> Result<Content, BoxError> {
        let finish = Finish(self.looking.take());
        let found = self.cache.lookup(&self.key).await;
        drop(finish);
        match found {
            Lookup::Fresh(html) => return Ok(Content::html(&html)),
            Lookup::Stale(html) => {
                let load = async move { rendered(loader).await.0 };
                let Self {
                    cache,
                    key,
                    fresh,
                    stale,
                    ..
                } = self;
                cache.refresh(key, fresh, stale, load);
                return Ok(Content::html(&html));
            }
            Lookup::Miss => {}
        }
        loop {
            let waiting = match self.cache.join(&self.key) {
                Join::Leader(flight) => {
                    // A load may have landed between the lookup and now.
                    if let Lookup::Fresh(html) | Lookup::Stale(html) =
                        self.cache.lookup(&self.key).await
                    {
                        flight.land(Landed::Html(html.clone()));
                        return Ok(Content::html(&html));
                    }
                    let (landed, content) = rendered(loader).await;
                    if let Landed::Html(html) = &landed {
                        self.cache
                            .store(&self.key, html.clone(), self.fresh, self.stale)
                            .await;
                    }
                    flight.land(landed);
                    return content;
                }
                Join::Follower(waiting) => waiting,
            };
            match landed(waiting).await {
                Some(Landed::Html(html)) => return Ok(Content::html(&html)),
                Some(Landed::Failed(public)) => {
                    return Err(match public {
                        Some(message) => PublicError::new(message).into(),
                        None => "the load this request shared failed".into(),
                    });
                }
                Some(Landed::Uncacheable) => return loader.await,
                // The leading request went away before its load landed.
                None => {}
            }
        }
    }
}

/// What another request's load came to; `None` if it went away first.
async fn landed(mut waiting: tokio::sync::watch::Receiver<Option<Landed>>) -> Option<Landed> {
    let landed = waiting.wait_for(Option::is_some).await.ok()?;
    landed.clone()
}

/// Runs `loader` and renders what it gives: the markup to share and store,
/// and the content for this request.
async fn rendered(loader: Loader) -> (Landed, Result<Content, BoxError>) {
    let fragment = match loader.await {
        Ok(Content::Later(render)) => render(),
        Ok(Content::Fragment(fragment)) => fragment,
        Ok(list @ Content::List(_)) => return (Landed::Uncacheable, Ok(list)),
        Err(err) => {
            let public = public_message(&*err);
            return (Landed::Failed(public), Err(err));
        }
    };
    // Markup that wrote a slot marker is kept out too: without its section
    // the slot fails the section, and markup with a marker is no cache's.
    if !fragment.sections.is_empty() || !fragment.data.is_empty() || !fragment.slotless {
        return (Landed::Uncacheable, Ok(Content::Fragment(fragment)));
    }
    match fragment.html {
        Ok(html) => {
            let html: Arc<str> = Arc::from(html);
            (Landed::Html(html.clone()), Ok(Content::html(&html)))
        }
        Err(err) => (Landed::Failed(None), Err(err.into())),
    }
}
