//! The per-shard cache of hot file bytes: fixed-size aligned chunks of files, bounded in bytes,
//! least-recently-used out first. A shard owns its cache (no locks); a range request is answered
//! with slices of cached chunks, so hot segments are never re-read or copied. The chunks of a
//! file that was deleted or replaced are dropped by [`ChunkCache::sweep`], so the cache holds
//! only what can still be served.

use bytes::Bytes;
use lru::LruCache;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Chunk size: a range maps to the chunks it overlaps. 1 MiB keeps a 2 MiB HLS range at 2–3
/// chunks and a playlist at one.
pub const CHUNK: u64 = 1 << 20;

/// Identifies one version of one file: a rewritten file gets a new identity, so stale chunks are
/// never served and simply age out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i128,
}

/// A file with chunks in the cache.
struct CachedFile {
    path: PathBuf,
    chunks: u32,
}

/// Bytes cached per shard, with hit/miss counts for metrics.
pub struct ChunkCache {
    lru: LruCache<(FileId, u64), Bytes>,
    /// The files with chunks here: the path they were last read at, and how many chunks.
    files: HashMap<FileId, CachedFile>,
    bytes: u64,
    capacity: u64,
    /// Chunks served from memory.
    pub hits: u64,
    /// Chunks read from disk.
    pub misses: u64,
}

impl ChunkCache {
    /// A cache holding at most `capacity` bytes.
    pub fn new(capacity: u64) -> ChunkCache {
        ChunkCache {
            lru: LruCache::unbounded(),
            files: HashMap::new(),
            bytes: 0,
            capacity,
            hits: 0,
            misses: 0,
        }
    }

    /// The cached chunk `index` of `file`, if present (counts a hit or a miss).
    pub fn get(&mut self, file: FileId, index: u64) -> Option<Bytes> {
        match self.lru.get(&(file, index)) {
            Some(b) => {
                self.hits += 1;
                Some(b.clone())
            }
            None => {
                self.misses += 1;
                None
            }
        }
    }

    /// Whether chunks `first..=last` of `file` are all cached; when they are, marks them
    /// recently used and counts them as hits (a miss is counted by the read that follows).
    pub fn contains_all(&mut self, file: FileId, first: u64, last: u64) -> bool {
        if !(first..=last).all(|i| self.lru.contains(&(file, i))) {
            return false;
        }
        for i in first..=last {
            self.lru.promote(&(file, i));
        }
        self.hits += last - first + 1;
        true
    }

    /// Stores chunk `index` of `file` (read at `path`), evicting the least recently used ones
    /// beyond capacity. Chunks larger than the whole capacity are not kept.
    pub fn insert(&mut self, file: FileId, path: &Path, index: u64, data: Bytes) {
        let len = data.len() as u64;
        if len > self.capacity {
            return;
        }
        match self.lru.put((file, index), data) {
            Some(old) => self.bytes -= old.len() as u64,
            None => {
                let entry = self.files.entry(file).or_insert_with(|| CachedFile {
                    path: path.to_owned(),
                    chunks: 0,
                });
                entry.chunks += 1;
                if entry.path != path {
                    entry.path = path.to_owned();
                }
            }
        }
        self.bytes += len;
        while self.bytes > self.capacity {
            match self.lru.pop_lru() {
                Some(((file, _), old)) => {
                    self.bytes -= old.len() as u64;
                    self.forget_chunk(file);
                }
                None => break,
            }
        }
    }

    fn forget_chunk(&mut self, file: FileId) {
        if let Some(entry) = self.files.get_mut(&file) {
            entry.chunks = entry.chunks.saturating_sub(1);
            if entry.chunks == 0 {
                self.files.remove(&file);
            }
        }
    }

    /// Drops every chunk of the files that are no longer what was cached: `now` tells what is at
    /// a path today (None when nothing is). Returns the files and bytes dropped.
    pub fn sweep(&mut self, mut now: impl FnMut(&Path) -> Option<FileId>) -> (usize, u64) {
        let gone: Vec<FileId> = self
            .files
            .iter()
            .filter(|(id, f)| now(&f.path) != Some(**id))
            .map(|(id, _)| *id)
            .collect();
        let dropped = gone.iter().map(|id| self.forget_file(*id)).sum();
        (gone.len(), dropped)
    }

    /// Drops every chunk of `id` (a version that was replaced or deleted); returns the bytes.
    pub fn forget_file(&mut self, id: FileId) -> u64 {
        if self.files.remove(&id).is_none() {
            return 0;
        }
        let mut dropped = 0;
        for index in 0..id.size.div_ceil(CHUNK).max(1) {
            if let Some(b) = self.lru.pop(&(id, index)) {
                dropped += b.len() as u64;
            }
        }
        self.bytes -= dropped;
        dropped
    }

    /// The files with chunks held now.
    #[cfg(test)]
    pub fn files(&self) -> usize {
        self.files.len()
    }

    /// Bytes held now.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "/media/a.mp4";

    fn id(ino: u64) -> FileId {
        FileId {
            dev: 1,
            ino,
            size: 10,
            mtime_ns: 0,
        }
    }

    #[test]
    fn bounded_by_bytes_lru_first() {
        let mut c = ChunkCache::new(10);
        c.insert(id(1), Path::new(P), 0, Bytes::from(vec![0; 4]));
        c.insert(id(2), Path::new(P), 0, Bytes::from(vec![0; 4]));
        assert!(c.get(id(1), 0).is_some()); // 1 is now most recent
        c.insert(id(3), Path::new(P), 0, Bytes::from(vec![0; 4])); // evicts 2
        assert!(c.get(id(2), 0).is_none());
        assert!(c.get(id(1), 0).is_some());
        assert!(c.get(id(3), 0).is_some());
        assert_eq!(c.bytes(), 8);
        c.insert(id(4), Path::new(P), 0, Bytes::from(vec![0; 11])); // larger than capacity: ignored
        assert!(c.get(id(4), 0).is_none());
        assert_eq!((c.hits, c.misses), (3, 2));
    }

    #[test]
    fn a_changed_file_is_a_different_entry() {
        let mut c = ChunkCache::new(100);
        c.insert(id(1), Path::new(P), 0, Bytes::from_static(b"old"));
        let changed = FileId {
            mtime_ns: 5,
            ..id(1)
        };
        assert!(c.get(changed, 0).is_none());
    }

    #[test]
    fn a_sweep_drops_the_chunks_of_deleted_and_replaced_files_only() {
        let mut c = ChunkCache::new(10 * CHUNK);
        let big = |ino| FileId {
            size: 3 * CHUNK,
            ..id(ino)
        };
        let (kept, deleted, replaced) = (big(1), big(2), big(3));
        for (f, path) in [
            (kept, "/m/kept"),
            (deleted, "/m/deleted"),
            (replaced, "/m/replaced"),
        ] {
            for i in 0..3 {
                c.insert(f, Path::new(path), i, Bytes::from(vec![0; CHUNK as usize]));
            }
        }
        assert_eq!((c.files(), c.bytes()), (3, 9 * CHUNK));
        let (files, bytes) = c.sweep(|p| match p.to_str() {
            Some("/m/kept") => Some(kept),
            Some("/m/replaced") => Some(big(4)),
            _ => None,
        });
        assert_eq!((files, bytes), (2, 6 * CHUNK));
        assert_eq!((c.files(), c.bytes()), (1, 3 * CHUNK));
        assert!(c.get(kept, 2).is_some());
        assert!(c.get(deleted, 0).is_none() && c.get(replaced, 1).is_none());
        // Evicting the last chunk of a file forgets the file.
        let mut small = ChunkCache::new(4);
        small.insert(id(1), Path::new(P), 0, Bytes::from(vec![0; 4]));
        small.insert(id(2), Path::new(P), 0, Bytes::from(vec![0; 4]));
        assert_eq!(small.files(), 1);
    }
}
