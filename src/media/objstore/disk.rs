//! The bounded on-disk cache of bucket objects (`object_storage.disk_cache_bytes`): each object
//! version seen by viewers has one sparse file here, and every 1 MiB chunk fetched from the bucket
//! is written into it at its offset (on the fetch thread, never on a shard). A range whose chunks
//! are all on disk is sent from that file the way local files are: `sendfile` from the page cache
//! on the HTTP/1 fast path, io_uring reads elsewhere. The shards' memory caches are not filled with
//! the same bytes (the page cache already holds them).
//!
//! The cache is a cache: its directory is emptied at start (nothing in it is trusted after a
//! stop), an object version is told apart by its ETag (a replaced object gets a new file), and
//! whole objects are evicted, least recently used first, when the bytes on disk pass the budget
//! (an evicted file is unlinked; sends in flight keep their descriptor).

use super::edge::ObjMeta;
use crate::media::cache::CHUNK;
use lru::LruCache;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// One cached object version.
struct Obj {
    etag: String,
    size: u64,
    path: PathBuf,
    file: Arc<File>,
    /// One bit per chunk: written.
    present: Vec<u64>,
    /// Bytes written.
    bytes: u64,
}

impl Obj {
    fn has(&self, idx: u64) -> bool {
        self.present
            .get((idx / 64) as usize)
            .is_some_and(|w| w & (1 << (idx % 64)) != 0)
    }

    fn has_all(&self, first: u64, last: u64) -> bool {
        (first..=last).all(|i| self.has(i))
    }
}

struct Index {
    objects: LruCache<String, Obj>,
    bytes: u64,
}

/// A chunk or a range of an object on disk.
pub struct OnDisk {
    /// The object's cache file.
    pub path: PathBuf,
    /// An open descriptor of it.
    pub file: Arc<File>,
}

/// The on-disk cache of one process.
pub struct DiskCache {
    dir: PathBuf,
    budget: u64,
    index: Mutex<Index>,
    /// Chunks answered from disk.
    pub hits: AtomicU64,
    /// Chunks written.
    pub writes: AtomicU64,
    /// Whole objects evicted.
    pub evictions: AtomicU64,
}

impl std::fmt::Debug for DiskCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskCache")
            .field("dir", &self.dir)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl DiskCache {
    /// A cache of at most `budget` bytes in `dir` (created, and emptied of anything a previous
    /// run left).
    pub fn open(dir: &Path, budget: u64) -> std::io::Result<Arc<DiskCache>> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        std::fs::create_dir_all(dir)?;
        Ok(Arc::new(DiskCache {
            dir: dir.to_path_buf(),
            budget,
            index: Mutex::new(Index {
                objects: LruCache::unbounded(),
                bytes: 0,
            }),
            hits: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Bytes on disk now.
    pub fn bytes(&self) -> u64 {
        self.lock().bytes
    }

    /// Writes chunk `idx` of object `key` as `meta` describes it (blocking: the fetch threads
    /// call it). A failure is logged and leaves the chunk out of the cache.
    pub fn store(&self, key: &str, meta: &ObjMeta, idx: u64, data: &[u8]) {
        if data.len() as u64 > self.budget {
            return;
        }
        let file = {
            let mut ix = self.lock();
            match ix.objects.get(key) {
                Some(o) if o.etag == meta.etag && o.size == meta.size => {
                    if o.has(idx) {
                        return;
                    }
                    o.file.clone()
                }
                _ => match self.create(&mut ix, key, meta) {
                    Ok(f) => f,
                    Err(e) => {
                        tracing::warn!(dir = %self.dir.display(), error = %e, "cannot create an object's cache file");
                        return;
                    }
                },
            }
        };
        if let Err(e) = file.write_all_at(data, idx * CHUNK) {
            tracing::warn!(%key, error = %e, "cannot write to the object cache");
            return;
        }
        self.writes.fetch_add(1, Relaxed);
        let mut ix = self.lock();
        let Some(o) = ix.objects.get_mut(key) else {
            return;
        };
        // The object may have been replaced or evicted while the chunk was written.
        if !Arc::ptr_eq(&o.file, &file) || o.has(idx) {
            return;
        }
        let word = (idx / 64) as usize;
        if o.present.len() <= word {
            o.present.resize(word + 1, 0);
        }
        o.present[word] |= 1 << (idx % 64);
        o.bytes += data.len() as u64;
        ix.bytes += data.len() as u64;
        self.evict(&mut ix, key);
    }

    fn create(&self, ix: &mut Index, key: &str, meta: &ObjMeta) -> std::io::Result<Arc<File>> {
        if let Some(old) = ix.objects.pop(key) {
            ix.bytes -= old.bytes;
            let _ = std::fs::remove_file(&old.path);
        }
        let name = hex::encode(Sha256::digest(format!("{key}\0{}", meta.etag)));
        let path = self.dir.join(&name[..32]);
        // No access-time updates on every send: the file is ours, and only this cache reads it.
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(libc::O_NOATIME)
            .open(&path)?;
        file.set_len(meta.size)?;
        let file = Arc::new(file);
        ix.objects.put(
            key.to_string(),
            Obj {
                etag: meta.etag.clone(),
                size: meta.size,
                path,
                file: file.clone(),
                present: Vec::new(),
                bytes: 0,
            },
        );
        Ok(file)
    }

    /// Drops least recently used objects (never `keep`, just written) while over the budget.
    fn evict(&self, ix: &mut Index, keep: &str) {
        while ix.bytes > self.budget {
            let Some((k, _)) = ix.objects.peek_lru() else {
                break;
            };
            if k == keep {
                // The only object left is over the budget alone: drop it too.
                if ix.objects.len() == 1 {
                    if let Some((_, o)) = ix.objects.pop_lru() {
                        ix.bytes -= o.bytes;
                        let _ = std::fs::remove_file(&o.path);
                        self.evictions.fetch_add(1, Relaxed);
                    }
                    break;
                }
                ix.objects.promote(keep);
                continue;
            }
            if let Some((_, o)) = ix.objects.pop_lru() {
                ix.bytes -= o.bytes;
                let _ = std::fs::remove_file(&o.path);
                self.evictions.fetch_add(1, Relaxed);
            }
        }
    }

    /// The cache file of this object version when chunks `first..=last` are all in it.
    pub fn range(&self, key: &str, meta: &ObjMeta, first: u64, last: u64) -> Option<OnDisk> {
        let mut ix = self.lock();
        let o = ix.objects.get(key)?;
        if o.etag != meta.etag || o.size != meta.size || !o.has_all(first, last) {
            return None;
        }
        self.hits.fetch_add(last - first + 1, Relaxed);
        Some(OnDisk {
            path: o.path.clone(),
            file: o.file.clone(),
        })
    }

    /// Appends the cache's counters to a `/metrics` text.
    pub fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = write!(
            out,
            "# HELP fleuve_object_storage_disk_cache_bytes Bytes of bucket objects in the on-disk cache.\n\
             # TYPE fleuve_object_storage_disk_cache_bytes gauge\n\
             fleuve_object_storage_disk_cache_bytes {}\n\
             # HELP fleuve_object_storage_disk_hits_total Chunks of bucket objects answered from the on-disk cache.\n\
             # TYPE fleuve_object_storage_disk_hits_total counter\n\
             fleuve_object_storage_disk_hits_total {}\n\
             # HELP fleuve_object_storage_disk_writes_total Chunks written to the on-disk cache.\n\
             # TYPE fleuve_object_storage_disk_writes_total counter\n\
             fleuve_object_storage_disk_writes_total {}\n\
             # HELP fleuve_object_storage_disk_evictions_total Objects evicted from the on-disk cache.\n\
             # TYPE fleuve_object_storage_disk_evictions_total counter\n\
             fleuve_object_storage_disk_evictions_total {}\n",
            self.bytes(),
            self.hits.load(Relaxed),
            self.writes.load(Relaxed),
            self.evictions.load(Relaxed),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(size: u64, etag: &str) -> ObjMeta {
        ObjMeta {
            size,
            etag: etag.into(),
        }
    }

    #[test]
    fn ranges_are_served_once_every_chunk_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let c = DiskCache::open(&dir.path().join("objects"), 64 << 20).unwrap();
        let m = meta(2 * CHUNK + 10, "e1");
        c.store("a", &m, 0, &vec![1u8; CHUNK as usize]);
        assert!(c.range("a", &m, 0, 0).is_some());
        assert!(c.range("a", &m, 0, 1).is_none(), "chunk 1 is missing");
        c.store("a", &m, 1, &vec![2u8; CHUNK as usize]);
        c.store("a", &m, 2, &[3u8; 10]);
        let on = c.range("a", &m, 0, 2).unwrap();
        let mut buf = [0u8; 3];
        on.file.read_exact_at(&mut buf, CHUNK - 1).unwrap();
        assert_eq!(buf, [1, 2, 2]);
        assert_eq!(c.bytes(), 2 * CHUNK + 10);
        // Another version of the object: the old file goes.
        let m2 = meta(10, "e2");
        assert!(c.range("a", &m2, 0, 0).is_none());
        c.store("a", &m2, 0, &[9u8; 10]);
        assert!(c.range("a", &m, 0, 0).is_none());
        assert!(!on.path.exists());
        assert_eq!(c.bytes(), 10);
    }

    #[test]
    fn the_budget_evicts_the_least_recently_used_objects() {
        let dir = tempfile::tempdir().unwrap();
        let c = DiskCache::open(dir.path(), 2 * CHUNK).unwrap();
        let chunk = vec![0u8; CHUNK as usize];
        for k in ["a", "b"] {
            c.store(k, &meta(CHUNK, k), 0, &chunk);
        }
        // "a" used last: "b" goes when "c" comes.
        assert!(c.range("a", &meta(CHUNK, "a"), 0, 0).is_some());
        c.store("c", &meta(CHUNK, "c"), 0, &chunk);
        assert!(c.range("b", &meta(CHUNK, "b"), 0, 0).is_none());
        assert!(c.range("a", &meta(CHUNK, "a"), 0, 0).is_some());
        assert!(c.bytes() <= 2 * CHUNK);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
        // A new cache starts empty.
        drop(c);
        let c = DiskCache::open(dir.path(), 2 * CHUNK).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        assert_eq!(c.bytes(), 0);
    }
}
