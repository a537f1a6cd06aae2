//! Entries in Redis (feature `redis`): one multiplexed connection through
//! `redis`'s connection manager, every command bounded by a timeout, the
//! entry's stale window as its Redis expiry.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::AsyncCommands as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::time::Instant;

use super::Entry;
use crate::error::Error;

/// Every key pagepipe writes starts with this, so it shares a Redis with
/// the app's own keys.
const PREFIX: &str = "pagepipe:section:";

/// A Redis holding entries as `FRESH_UNTIL_MS\n` then the markup.
#[derive(Clone)]
pub(super) struct RedisStore {
    client: redis::Client,
    /// Made on first use, so a Redis that is down at start is no error.
    manager: Arc<tokio::sync::OnceCell<ConnectionManager>>,
    timeout: Duration,
}

impl RedisStore {
    pub(super) fn new(url: &str, timeout: Duration) -> Result<Self, Error> {
        let client = redis::Client::open(url).map_err(|err| Error::Cache(err.to_string()))?;
        Ok(Self {
            client,
            manager: Arc::new(tokio::sync::OnceCell::new()),
            timeout,
        })
    }

    /// How long a command may take.
    pub(super) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The connection, made on first use: lazily, so a Redis that is down
    /// is seen at each command (and timed), never when the app starts.
    async fn connection(&self) -> Option<ConnectionManager> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1);
        let made = self
            .manager
            .get_or_try_init(|| async {
                ConnectionManager::new_lazy_with_config(self.client.clone(), config)
            })
            .await;
        match made {
            Ok(manager) => Some(manager.clone()),
            Err(err) => {
                tracing::warn!(error = %err, "section cache: Redis connection not made");
                None
            }
        }
    }

    pub(super) async fn get(&self, key: &str) -> Option<Entry> {
        let mut redis = self.connection().await?;
        let command = redis.get::<_, Option<Vec<u8>>>(format!("{PREFIX}{key}"));
        let value = match tokio::time::timeout(self.timeout, command).await {
            Ok(Ok(value)) => value?,
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "section cache: Redis lookup failed; the section loads");
                return None;
            }
            Err(_) => {
                tracing::warn!(timeout = ?self.timeout, "section cache: Redis did not answer in time; the section loads");
                return None;
            }
        };
        decode(&value)
    }

    pub(super) async fn set(&self, key: &str, entry: &Entry) {
        let Some(mut redis) = self.connection().await else {
            return;
        };
        let now = Instant::now();
        let stale_ms = entry.stale_until.saturating_duration_since(now).as_millis();
        let Ok(stale_ms) = u64::try_from(stale_ms.max(1)) else {
            return;
        };
        let value = encode(entry, now);
        let command = redis.pset_ex::<_, _, ()>(format!("{PREFIX}{key}"), value, stale_ms);
        match tokio::time::timeout(self.timeout, command).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(error = %err, "section cache: Redis write failed"),
            Err(_) => {
                tracing::warn!(timeout = ?self.timeout, "section cache: Redis write timed out")
            }
        }
    }
}

/// Milliseconds since the Unix epoch: instants shared between processes.
fn unix_ms(at: SystemTime) -> u128 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis())
}

fn encode(entry: &Entry, now: Instant) -> Vec<u8> {
    let fresh_for = entry.fresh_until.saturating_duration_since(now);
    let fresh_until = unix_ms(SystemTime::now() + fresh_for);
    let mut value = format!("{fresh_until}\n").into_bytes();
    value.extend_from_slice(entry.html.as_bytes());
    value
}

/// An entry read back: fresh until its stored instant, stale until Redis
/// expires it (so, for this read, it is within its window).
fn decode(value: &[u8]) -> Option<Entry> {
    let newline = value.iter().position(|byte| *byte == b'\n')?;
    let fresh_until: u128 = std::str::from_utf8(&value[..newline]).ok()?.parse().ok()?;
    let html = std::str::from_utf8(&value[newline + 1..]).ok()?;
    let now_ms = unix_ms(SystemTime::now());
    let now = Instant::now();
    let fresh_for = u64::try_from(fresh_until.saturating_sub(now_ms)).unwrap_or(u64::MAX);
    Some(Entry {
        html: Arc::from(html),
        fresh_until: crate::clock::after(now, Duration::from_millis(fresh_for)),
        // Redis expires it at the end of its stale window.
        stale_until: crate::clock::after(now, Duration::from_secs(1)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_reads_back_as_it_was_written() {
        let now = Instant::now();
        let entry = Entry {
            html: Arc::from("<p>Lamp</p>\nline two"),
            fresh_until: now + Duration::from_secs(60),
            stale_until: now + Duration::from_secs(120),
        };
        let read = decode(&encode(&entry, now)).unwrap();
        assert_eq!(&*read.html, "<p>Lamp</p>\nline two");
        let fresh_for = read.fresh_until.saturating_duration_since(Instant::now());
        assert!(fresh_for > Duration::from_secs(58) && fresh_for <= Duration::from_secs(60));
        assert!(decode(b"no newline").is_none());
        assert!(decode(b"soon\n<p>").is_none());
    }
}
