//! Files kept in memory between requests, as nginx's `open_file_cache`
//! keeps descriptors (and more: the bytes too). A representation whose bytes
//! are already in memory (a small file read whole, or a compressed copy) is
//! kept per mount and per worker, by path and by the coding the request
//! negotiated, so the next request for it needs no trip to the blocking
//! pool: one `stat` on the worker thread confirms the file is the version
//! kept (device, inode, length and modification time), and a changed file
//! is opened anew, so a change on disk is served on the very next request.
//! Bounded by a byte budget ([`Files::keep_in_memory`](super::Files::keep_in_memory)),
//! evicting the least useful entries (quick_cache's CLOCK-Pro).

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use quick_cache::sync::Cache;
use quick_cache::{Equivalent, Weighter};

use super::{Opened, Source};
use crate::encoding::Coding;

/// Bytes counted for an entry besides its body and path: its headers'
/// text and the cache's own bookkeeping, roughly.
const ENTRY_OVERHEAD: u64 = 256;

/// What identifies the version of a file on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Version {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
}

impl Version {
    /// The version `metadata` describes.
    pub(crate) fn of(metadata: &Metadata) -> Self {
        Self {
            dev: metadata.dev(),
            ino: metadata.ino(),
            len: metadata.len(),
            mtime: (metadata.mtime(), metadata.mtime_nsec()),
        }
    }

    /// Whether this version was written at least a second before `now`.
    /// File systems stamp writes with a coarse clock, so two writes within
    /// a few milliseconds can leave the same length and time; one a second
    /// later always changes the time.
    fn settled(&self, now: SystemTime) -> bool {
        let (secs, nanos) = self.mtime;
        let written = match u64::try_from(secs) {
            Ok(secs) => UNIX_EPOCH + Duration::new(secs, u32::try_from(nanos).unwrap_or(0)),
            Err(_) => UNIX_EPOCH,
        };
        written + Duration::from_secs(1) <= now
    }
}

/// A kept representation: the path under the mount and the coding the
/// request negotiated (`None`: compression is off for it).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    relative: PathBuf,
    coding: Option<Coding>,
}

/// [`Key`] borrowed, to look one up without copying the path.
#[derive(Hash)]
struct Lookup<'a> {
    relative: &'a Path,
    coding: Option<Coding>,
}

impl Equivalent<Key> for Lookup<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        self.relative == key.relative && self.coding == key.coding
    }
}

#[derive(Debug)]
struct Entry {
    /// The file to `stat` before answering from `opened`.
    path: PathBuf,
    opened: Opened,
}

/// Weighs an entry by the bytes it holds.
#[derive(Debug, Clone, Copy)]
struct ByBytes;

impl Weighter<Key, Arc<Entry>> for ByBytes {
    fn weight(&self, key: &Key, entry: &Arc<Entry>) -> u64 {
        let body = match &entry.opened.source {
            Source::Memory(bytes) => bytes.len() as u64,
            Source::File(_) => 0,
        };
        body + 2 * key.relative.as_os_str().len() as u64 + ENTRY_OVERHEAD
    }
}

/// The representations one mount keeps in memory on one worker.
#[derive(Debug)]
pub(crate) struct Kept {
    cache: Cache<Key, Arc<Entry>, ByBytes>,
}

impl Kept {
    /// A store of at most `budget` bytes; `None` for a budget of 0.
    pub(crate) fn new(budget: u64) -> Option<Kept> {
        // An estimate of the entries it holds, for the cache's tables: a
        // typical asset is a few KiB.
        let entries = usize::try_from(budget / 4096).unwrap_or(usize::MAX).max(16);
        (budget > 0).then(|| Kept {
            cache: Cache::with_weighter(entries, budget, ByBytes),
        })
    }

    /// The kept representation of `relative` in `coding`, if the file on
    /// disk is still the version kept; a stale entry is dropped.
    pub(crate) fn get(&self, relative: &Path, coding: Option<Coding>) -> Option<Opened> {
        let lookup = Lookup { relative, coding };
        let entry = self.cache.get(&lookup)?;
        // Follows symlinks as the open did: another target is another inode.
        let current = std::fs::metadata(&entry.path).ok().map(|m| Version::of(&m));
        if current == Some(entry.opened.version) {
            Some(entry.opened.clone())
        } else {
            self.cache.remove(&lookup);
            None
        }
    }

    /// Keeps `opened`, the representation of `relative` under `root` in
    /// `coding`, if its bytes are in memory and its file was last written
    /// at least a second ago (a version written just now may still be
    /// written again under the same stamp).
    pub(crate) fn keep(
        &self,
        root: &Path,
        relative: PathBuf,
        coding: Option<Coding>,
        opened: &Opened,
    ) {
        if !matches!(opened.source, Source::Memory(_)) || !opened.version.settled(SystemTime::now())
        {
            return;
        }
        let entry = Entry {
            path: root.join(&relative),
            opened: opened.clone(),
        };
        self.cache.insert(Key { relative, coding }, Arc::new(entry));
    }
}
