//! [`Cache`]: rendered sections by key, shared by an app's requests, for
//! [`Section::cached`](crate::Section::cached). A fresh entry is used as is,
//! a stale one is used while one loader refreshes it in the background, and
//! concurrent misses of one key share one loader (single flight). Entries
//! live in the process ([`moka`], bounded by a byte budget) or, with the
//! `redis` feature, in a Redis that several instances share.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

#[cfg(feature = "redis")]
mod redis_store;

/// The byte budget of [`Cache::memory`] unless another is given: 64 MiB of
/// keys and markup.
pub const DEFAULT_CACHE_BUDGET: u64 = 64 * 1024 * 1024;

/// A time limit for Redis (`Cache::redis`, feature `redis`): a lookup or write that takes
/// longer is given up, and the section loads as if it were not cached.
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_millis(100);

/// How long a refresh in the background may run.
const REFRESH_TIMEOUT: Duration = Duration::from_secs(30);

/// Rendered sections by key, shared by every request of an app (clone it:
/// clones share their entries).
///
/// ```
/// use std::time::Duration;
/// use askama::Template;
/// use pagepipe::{Cache, Section};
///
/// #[derive(Template)]
/// #[template(source = "<p>{{ text }}</p>", ext = "html")]
/// struct Description { text: String }
///
/// #[derive(Template)]
/// #[template(source = "…", ext = "html")]
/// struct Loading;
///
/// // One cache for the app, made once and cloned into each handler.
/// let cache = Cache::memory(16 * 1024 * 1024);
/// let fresh = Duration::from_secs(300);
/// let section = Section::infallible("description", Loading, async {
///     Description { text: "A lamp".into() }
/// })
/// .cached(&cache, "description:lamp-1", fresh, fresh);
/// ```
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    /// Loads in progress, by key: the loader's outcome once it has one.
    flights: Mutex<HashMap<String, watch::Receiver<Option<Landed>>>>,
}

enum Store {
    Memory(moka::future::Cache<String, Entry>),
    #[cfg(feature = "redis")]
    Redis(redis_store::RedisStore),
}

/// A cached section: its markup and how long it is fresh, then stale.
#[derive(Clone)]
struct Entry {
    html: Arc<str>,
    fresh_until: Instant,
    stale_until: Instant,
}

/// What a lookup found.
pub(crate) enum Lookup {
    /// Markup within its time to live.
    Fresh(Arc<str>),
    /// Markup past it but within its stale window: use it, and refresh it.
    Stale(Arc<str>),
    /// Nothing usable (or the store did not answer in time).
    Miss,
}

/// What a load shared with the requests waiting on it came to.
#[derive(Clone, Debug)]
pub(crate) enum Landed {
    /// Markup, stored.
    Html(Arc<str>),
    /// The loader failed, with the message it may show, if any.
    Failed(Option<String>),
    /// The content cannot be cached (it has sections of its own): each
    /// request loads its own.
    Uncacheable,
}

/// Whether this request loads a key or waits for another's load.
pub(crate) enum Join {
    /// No load of the key is in progress: this request runs its loader and
    /// tells the others through the flight.
    Leader(Flight),
    /// Another request is loading the key.
    Follower(watch::Receiver<Option<Landed>>),
}

/// A load in progress, led by this request. Dropped without
/// [`Flight::land`] (its page went away), it lets a waiting request lead.
pub(crate) struct Flight {
    cache: Cache,
    key: String,
    tx: watch::Sender<Option<Landed>>,
}

impl Flight {
    /// Tells every waiting request what the load came to.
    pub(crate) fn land(self, landed: Landed) {
        self.tx.send_replace(Some(landed));
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        let mut flights = self.cache.flights();
        if flights
            .get(&self.key)
            .is_some_and(|rx| rx.same_channel(&self.tx.subscribe()))
        {
            flights.remove(&self.key);
        }
    }
}

impl Cache {
    /// A cache in this process holding at most `budget` bytes of keys and
    /// markup: past it, the entries least likely to be used again are
    /// evicted first.
    pub fn memory(budget: u64) -> Self {
        let entries = moka::future::Cache::builder()
            .max_capacity(budget)
            .weigher(|key: &String, entry: &Entry| {
                u32::try_from(key.len() + entry.html.len()).unwrap_or(u32::MAX)
            })
            .expire_after(Lifetime)
            .build();
        Self::with_store(Store::Memory(entries))
    }

    /// A cache kept in the Redis at `url` (`redis://HOST:PORT`), shared by
    /// every instance of the app that uses it, through one multiplexed
    /// connection that reconnects by itself; concurrent misses share one
    /// loader within each instance. A lookup or write that fails or takes
    /// longer than `timeout` ([`DEFAULT_STORE_TIMEOUT`] is a good start) is
    /// given up and logged: a Redis that is down or slow makes its sections
    /// load as if uncached, never a failed or stalled page. Connects on
    /// first use; call it within a Tokio runtime (as actix's `main` is).
    ///
    /// Fails only on a URL that is not one of Redis's.
    #[cfg(feature = "redis")]
    pub fn redis(url: &str, timeout: Duration) -> Result<Self, crate::error::Error> {
        let store = redis_store::RedisStore::new(url, timeout)?;
        Ok(Self::with_store(Store::Redis(store)))
    }

    fn with_store(store: Store) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                flights: Mutex::new(HashMap::new()),
            }),
        }
    }

    fn flights(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, watch::Receiver<Option<Landed>>>> {
        // A panic while the lock was held left the map whole: each change
        // is one insert or remove.
        self.inner
            .flights
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Looks `key` up; a store that fails or does not answer in time is a
    /// miss (logged).
    pub(crate) async fn lookup(&self, key: &str) -> Lookup {
        let found = match &self.inner.store {
            Store::Memory(entries) => entries.get(key).await,
            #[cfg(feature = "redis")]
            Store::Redis(redis) => redis.get(key).await,
        };
        let Some(entry) = found else {
            return Lookup::Miss;
        };
        let now = Instant::now();
        if now < entry.fresh_until {
            Lookup::Fresh(entry.html)
        } else if now < entry.stale_until {
            Lookup::Stale(entry.html)
        } else {
            Lookup::Miss
        }
    }

    /// Stores `html` under `key`, fresh for `fresh` and then stale for
    /// `stale`. A store that fails is logged, and the entry is not kept.
    pub(crate) async fn store(&self, key: &str, html: Arc<str>, fresh: Duration, stale: Duration) {
        let now = Instant::now();
        let entry = Entry {
            html,
            fresh_until: crate::clock::after(now, fresh),
            stale_until: crate::clock::after(now, fresh.saturating_add(stale)),
        };
        match &self.inner.store {
            Store::Memory(entries) => entries.insert(key.to_owned(), entry).await,
            #[cfg(feature = "redis")]
            Store::Redis(redis) => redis.set(key, &entry).await,
        }
    }

    /// Leads the load of `key`, or waits for the load already in progress.
    pub(crate) fn join(&self, key: &str) -> Join {
        let mut flights = self.flights();
        if let Some(rx) = flights.get(key) {
            return Join::Follower(rx.clone());
        }
        let (tx, rx) = watch::channel(None);
        flights.insert(key.to_owned(), rx);
        Join::Leader(Flight {
            cache: self.clone(),
            key: key.to_owned(),
            tx,
        })
    }

    /// Refreshes `key` in the background with `load` on this thread's local
    /// task set (actix's workers have one), unless a load of it is in
    /// progress: one refresh for every request that finds it stale.
    pub(crate) fn refresh<F>(&self, key: String, fresh: Duration, stale: Duration, load: F)
    where
        F: Future<Output = Landed> + 'static,
    {
        let Join::Leader(flight) = self.join(&key) else {
            return;
        };
        let cache = self.clone();
        let refresh = async move {
            let landed = match tokio::time::timeout(REFRESH_TIMEOUT, load).await {
                Ok(landed) => landed,
                Err(_) => Landed::Failed(None),
            };
            match &landed {
                Landed::Html(html) => cache.store(&key, html.clone(), fresh, stale).await,
                // The stale entry stays until its window ends; the next
                // request that finds it stale tries again.
                Landed::Failed(_) | Landed::Uncacheable => {
                    tracing::warn!(key, "cached section not refreshed: its loader failed");
                }
            }
            flight.land(landed);
        };
        // Outside a local task set there is nowhere to run a loader that
        // is not `Send`: the entry is left stale.
        let spawned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            drop(tokio::task::spawn_local(refresh));
        }));
        if spawned.is_err() {
            tracing::warn!("cached section not refreshed: no local task set to run its loader");
        }
    }

    /// How long a lookup may take when it is not answered at once: the
    /// store's timeout for Redis; none in memory, which answers at once.
    pub(crate) fn lookup_time(&self) -> Option<Duration> {
        match &self.inner.store {
            Store::Memory(_) => None,
            #[cfg(feature = "redis")]
            Store::Redis(redis) => Some(redis.timeout()),
        }
    }

    /// Waits for memory's pending evictions to be counted (tests).
    #[cfg(test)]
    pub(crate) async fn settle(&self) -> u64 {
        match &self.inner.store {
            Store::Memory(entries) => {
                entries.run_pending_tasks().await;
                entries.weighted_size()
            }
            #[cfg(feature = "redis")]
            Store::Redis(_) => 0,
        }
    }
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let store = match &self.inner.store {
            Store::Memory(_) => "memory",
            #[cfg(feature = "redis")]
            Store::Redis(_) => "redis",
        };
        f.debug_struct("Cache")
            .field("store", &store)
            .finish_non_exhaustive()
    }
}

/// Keeps an entry in memory until its stale window ends.
struct Lifetime;

impl Lifetime {
    fn left(entry: &Entry) -> Option<Duration> {
        Some(entry.stale_until.saturating_duration_since(Instant::now()))
    }
}

impl moka::Expiry<String, Entry> for Lifetime {
    fn expire_after_create(
        &self,
        _key: &String,
        entry: &Entry,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Self::left(entry)
    }

    fn expire_after_update(
        &self,
        _key: &String,
        entry: &Entry,
        _updated_at: std::time::Instant,
        _left: Option<Duration>,
    ) -> Option<Duration> {
        Self::left(entry)
    }
}
