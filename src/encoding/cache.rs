//! Static files compressed once, at a high level, and kept in memory up to
//! a byte limit: a file's compressed copy is keyed by its path and coding
//! and belongs to one version of the file (its identity ETag), so a changed
//! file is compressed anew. Concurrent first requests wait for one
//! compression rather than each doing it.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use bytes::Bytes;

use super::Coding;

/// Complete bodies (files, documents, texts) smaller than this are sent as
/// they are: a coding's header and trailer and the extra response header
/// cost about what compression would save.
pub(crate) const MIN_COMPRESSIBLE: u64 = 256;

/// Compressed copies of static files; see the module docs.
pub(crate) struct Cache {
    limit: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<(PathBuf, Coding), Arc<Entry>>,
    /// Bytes of the compressed copies counted so far.
    used: usize,
    /// Ticks on every lookup; orders entries by last use.
    clock: u64,
}

struct Entry {
    /// The identity ETag of the version compressed.
    version: String,
    /// The compressed bytes; `None` when compression did not make them smaller.
    bytes: OnceLock<Option<Bytes>>,
    last_used: AtomicU64,
    counted: AtomicBool,
}

impl Entry {
    fn size(&self) -> usize {
        self.bytes
            .get()
            .and_then(Option::as_ref)
            .map_or(0, Bytes::len)
    }
}

impl Cache {
    /// A cache that holds at most `limit` bytes of compressed copies.
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The largest file this cache takes: a quarter of its limit, so one
    /// file cannot evict everything else, and at most 16 MiB.
    pub(crate) fn max_file(&self) -> u64 {
        (self.limit / 4).min(16 * 1024 * 1024) as u64
    }

    /// Bytes of compressed copies held now.
    #[cfg(test)]
    pub(crate) fn used(&self) -> usize {
        self.lock().used
    }

    /// `file` (version `version`, `len` bytes, at `path`) compressed in
    /// `coding`, from the cache or compressed now; `None` when the file is
    /// outside the cache's bounds or does not get smaller. Blocks: call it
    /// on the blocking pool.
    pub(crate) fn get(
        &self,
        path: &Path,
        version: &str,
        coding: Coding,
        file: &File,
        len: u64,
    ) -> Option<Bytes> {
        if len < MIN_COMPRESSIBLE || len > self.max_file() {
            return None;
        }
        let key = (path.to_path_buf(), coding);
        let entry = self.entry(&key, version);
        let bytes = entry
            .bytes
            .get_or_init(|| match compress_file(file, len, coding) {
                Ok(bytes) => bytes.filter(|bytes| (bytes.len() as u64) < len),
                Err(err) => {
                    tracing::warn!(path = %path.display(), error = %err, "file could not be compressed");
                    None
                }
            })
            .clone();
        self.account(&key, &entry);
        bytes
    }

    /// The entry for `key` at `version`, replacing one for an older version.
    fn entry(&self, key: &(PathBuf, Coding), version: &str) -> Arc<Entry> {
        let mut inner = self.lock();
        inner.clock += 1;
        let now = inner.clock;
        if let Some(entry) = inner.entries.get(key)
            && entry.version == version
        {
            entry.last_used.store(now, Ordering::Relaxed);
            return Arc::clone(entry);
        }
        let entry = Arc::new(Entry {
            version: version.to_owned(),
            bytes: OnceLock::new(),
            last_used: AtomicU64::new(now),
            counted: AtomicBool::new(false),
        });
        if let Some(old) = inner.entries.insert(key.clone(), Arc::clone(&entry))
            && old.counted.load(Ordering::Relaxed)
        {
            inner.used -= old.size();
        }
        entry
    }

    /// Counts a newly filled entry and evicts the least recently used ones
    /// until the cache is within its limit again.
    fn account(&self, key: &(PathBuf, Coding), entry: &Arc<Entry>) {
        let mut inner = self.lock();
        let current = inner
            .entries
            .get(key)
            .is_some_and(|held| Arc::ptr_eq(held, entry));
        if !current || entry.counted.swap(true, Ordering::Relaxed) {
            return;
        }
        inner.used += entry.size();
        while inner.used > self.limit {
            let oldest = inner
                .entries
                .iter()
                .filter(|(_, entry)| entry.counted.load(Ordering::Relaxed))
                .min_by_key(|(_, entry)| entry.last_used.load(Ordering::Relaxed))
                .map(|(key, _)| key.clone());
            let Some(oldest) = oldest else { break };
            if let Some(evicted) = inner.entries.remove(&oldest) {
                inner.used -= evicted.size();
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The map stays consistent whatever panicked while holding it.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        f.debug_struct("Cache")
            .field("limit", &self.limit)
            .field("used", &inner.used)
            .field("entries", &inner.entries.len())
            .finish()
    }
}

/// Reads `len` bytes of `file` from its start and compresses them at the
/// highest level that takes tens of milliseconds, not seconds, for the
/// file's size; `None` if the file is no longer `len` bytes long.
fn compress_file(file: &File, len: u64, coding: Coding) -> io::Result<Option<Bytes>> {
    use std::os::unix::fs::FileExt as _;
    let mut input = vec![0; usize::try_from(len).map_err(io::Error::other)?];
    file.read_exact_at(&mut input, 0)?;
    let mut probe = [0; 1];
    if file.read_at(&mut probe, len)? != 0 {
        return Ok(None);
    }
    Ok(Some(Bytes::from(compress_high(&input, coding)?)))
}

/// `input` compressed for keeping: brotli 11 on small files (9 past
/// 128 KiB, where 11 takes over half a second per 400 KB), zstd 19 (12
/// past 128 KiB), gzip 9.
pub(crate) fn compress_high(input: &[u8], coding: Coding) -> io::Result<Vec<u8>> {
    let large = input.len() > 128 * 1024;
    let mut out = Vec::with_capacity(input.len() / 3);
    match coding {
        Coding::Brotli => {
            let quality = if large { 9 } else { 11 };
            let mut writer = brotli::CompressorWriter::new(&mut out, 4096, quality, 22);
            writer.write_all(input)?;
        }
        Coding::Zstd => {
            out = zstd::bulk::compress(input, if large { 12 } else { 19 })?;
        }
        Coding::Gzip => {
            let mut writer = flate2::write::GzEncoder::new(out, flate2::Compression::best());
            writer.write_all(input)?;
            out = writer.finish()?;
        }
        Coding::Identity => out.extend_from_slice(input),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn text_file(len: usize) -> tempfile::NamedTempFile {
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        let line = b"<p class=\"row\">pagepipe streams html</p>\n";
        tmp.write_all(&line.repeat(len / line.len() + 1)[..len])
            .unwrap();
        tmp
    }

    fn decode_zstd(bytes: &[u8]) -> Vec<u8> {
        zstd::stream::decode_all(bytes).unwrap()
    }

    #[test]
    fn a_file_is_compressed_once_and_then_served_from_memory() {
        let cache = Cache::new(1 << 20);
        let tmp = text_file(10_000);
        let file = File::open(tmp.path()).unwrap();
        let first = cache
            .get(tmp.path(), "v1", Coding::Zstd, &file, 10_000)
            .unwrap();
        assert_eq!(decode_zstd(&first), std::fs::read(tmp.path()).unwrap());
        let again = cache
            .get(tmp.path(), "v1", Coding::Zstd, &file, 10_000)
            .unwrap();
        assert_eq!(first.as_ptr(), again.as_ptr(), "the same cached bytes");
        assert_eq!(cache.used(), first.len());
    }

    #[test]
    fn a_new_version_replaces_the_old_copy() {
        let cache = Cache::new(1 << 20);
        let tmp = text_file(10_000);
        let file = File::open(tmp.path()).unwrap();
        let old = cache
            .get(tmp.path(), "v1", Coding::Gzip, &file, 10_000)
            .unwrap();
        let new = cache
            .get(tmp.path(), "v2", Coding::Gzip, &file, 10_000)
            .unwrap();
        assert_ne!(old.as_ptr(), new.as_ptr());
        assert_eq!(
            cache.used(),
            new.len(),
            "only the current version is counted"
        );
    }

    #[test]
    fn memory_stays_within_the_limit() {
        let cache = Cache::new(4096);
        let files: Vec<_> = (0..20).map(|_| text_file(1000)).collect();
        for tmp in &files {
            let file = File::open(tmp.path()).unwrap();
            assert!(
                cache
                    .get(tmp.path(), "v", Coding::Brotli, &file, 1000)
                    .is_some()
            );
            assert!(cache.used() <= 4096, "{}", cache.used());
        }
        assert!(cache.used() > 0);
    }

    #[test]
    fn files_outside_the_bounds_are_not_compressed() {
        let cache = Cache::new(4096);
        let small = text_file(100);
        let file = File::open(small.path()).unwrap();
        assert!(
            cache
                .get(small.path(), "v", Coding::Gzip, &file, 100)
                .is_none()
        );
        let large = text_file(2000);
        let file = File::open(large.path()).unwrap();
        assert!(
            cache
                .get(large.path(), "v", Coding::Gzip, &file, 2000)
                .is_none()
        );
        assert_eq!(cache.used(), 0);
    }

    #[test]
    fn incompressible_files_are_remembered_as_such() {
        let cache = Cache::new(1 << 20);
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 32) as u8
            })
            .collect();
        tmp.write_all(&noise).unwrap();
        let file = File::open(tmp.path()).unwrap();
        assert!(
            cache
                .get(tmp.path(), "v", Coding::Gzip, &file, 4096)
                .is_none()
        );
    }

    #[test]
    fn a_file_that_changed_length_is_not_compressed() {
        let cache = Cache::new(1 << 20);
        let tmp = text_file(2000);
        let file = File::open(tmp.path()).unwrap();
        assert!(
            cache
                .get(tmp.path(), "v", Coding::Zstd, &file, 1000)
                .is_none()
        );
    }
}
