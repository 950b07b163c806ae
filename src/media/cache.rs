//! The per-shard cache of hot file bytes: fixed-size aligned chunks of files, bounded in bytes,
//! least-recently-used out first. A shard owns its cache (no locks); a range request is answered
//! with slices of cached chunks, so hot segments are never re-read or copied.

use bytes::Bytes;
use lru::LruCache;

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

/// Bytes cached per shard, with hit/miss counts for metrics.
pub struct ChunkCache {
    lru: LruCache<(FileId, u64), Bytes>,
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

    /// Stores a chunk, evicting the least recently used ones beyond capacity. Chunks larger than
    /// the whole capacity are not kept.
    pub fn insert(&mut self, file: FileId, index: u64, data: Bytes) {
        let len = data.len() as u64;
        if len > self.capacity {
            return;
        }
        if let Some(old) = self.lru.put((file, index), data) {
            self.bytes -= old.len() as u64;
        }
        self.bytes += len;
        while self.bytes > self.capacity {
            match self.lru.pop_lru() {
                Some((_, old)) => self.bytes -= old.len() as u64,
                None => break,
            }
        }
    }

    /// Bytes held now.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Capacity in bytes.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        c.insert(id(1), 0, Bytes::from(vec![0; 4]));
        c.insert(id(2), 0, Bytes::from(vec![0; 4]));
        assert!(c.get(id(1), 0).is_some()); // 1 is now most recent
        c.insert(id(3), 0, Bytes::from(vec![0; 4])); // evicts 2
        assert!(c.get(id(2), 0).is_none());
        assert!(c.get(id(1), 0).is_some());
        assert!(c.get(id(3), 0).is_some());
        assert_eq!(c.bytes(), 8);
        c.insert(id(4), 0, Bytes::from(vec![0; 11])); // larger than capacity: ignored
        assert!(c.get(id(4), 0).is_none());
        assert_eq!((c.hits, c.misses), (3, 2));
    }

    #[test]
    fn a_changed_file_is_a_different_entry() {
        let mut c = ChunkCache::new(100);
        c.insert(id(1), 0, Bytes::from_static(b"old"));
        let changed = FileId {
            mtime_ns: 5,
            ..id(1)
        };
        assert!(c.get(changed, 0).is_none());
    }
}
