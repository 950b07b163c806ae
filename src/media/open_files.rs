//! The shard's cache of open media files: one descriptor per file version, opened once (off the
//! event loop, through the shard's [`ReadAt`](super::fileio::ReadAt) backend) and reused by every
//! read and `sendfile` of that version instead of one open per read. Bounded (least recently used
//! out first), and a version leaves as soon as the shard notices it is gone: when its path is
//! found replaced or deleted ([`OpenFiles::forget`], called by the metadata check), or at the
//! periodic sweep for files nobody asked for since ([`OpenFiles::sweep_deleted`]). A descriptor
//! of a deleted file would keep its disk space allocated.

use super::cache::FileId;
use super::fileio::OpenFile;
use lru::LruCache;
use std::num::NonZeroUsize;

/// Open descriptors of one shard, by file version.
pub struct OpenFiles {
    lru: LruCache<FileId, OpenFile>,
    /// Files opened since start (a miss of this cache).
    pub opened: u64,
}

impl OpenFiles {
    /// A cache of at most `capacity` descriptors (at least one).
    pub fn new(capacity: usize) -> OpenFiles {
        OpenFiles {
            lru: LruCache::new(NonZeroUsize::new(capacity.max(1)).expect("non-zero")),
            opened: 0,
        }
    }

    /// The open descriptor of `id`, if cached (marked recently used).
    pub fn get(&mut self, id: &FileId) -> Option<OpenFile> {
        self.lru.get(id).cloned()
    }

    /// Keeps `file` as `id`'s descriptor; the least recently used one goes when full (it is
    /// closed once no read in flight holds it).
    pub fn put(&mut self, id: FileId, file: OpenFile) {
        self.opened += 1;
        self.lru.put(id, file);
    }

    /// Forgets `id`'s descriptor (its file was replaced or deleted); true if there was one.
    pub fn forget(&mut self, id: &FileId) -> bool {
        self.lru.pop(id).is_some()
    }

    /// Closes the descriptors of deleted files (no link left); returns how many.
    pub fn sweep_deleted(&mut self) -> usize {
        let deleted: Vec<FileId> = self
            .lru
            .iter()
            .filter(|(_, f)| f.stat().map_or(true, |st| st.st_nlink == 0))
            .map(|(id, _)| *id)
            .collect();
        for id in &deleted {
            self.lru.pop(id);
        }
        deleted.len()
    }

    /// Descriptors held now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lru.len()
    }

    /// Whether none is held.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.lru.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(p: &std::path::Path) -> OpenFile {
        OpenFile::blocking(std::fs::File::open(p).unwrap())
    }

    fn id(ino: u64) -> FileId {
        FileId {
            dev: 1,
            ino,
            size: 1,
            mtime_ns: 0,
        }
    }

    #[test]
    fn bounded_and_deleted_files_are_closed() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            dir.path().join("a"),
            dir.path().join("b"),
            dir.path().join("c"),
        );
        for p in [&a, &b, &c] {
            std::fs::write(p, b"x").unwrap();
        }
        let mut files = OpenFiles::new(2);
        files.put(id(1), open(&a));
        files.put(id(2), open(&b));
        assert!(files.get(&id(1)).is_some());
        files.put(id(3), open(&c)); // evicts 2, the least recently used
        assert!(files.get(&id(2)).is_none());
        assert_eq!((files.len(), files.opened), (2, 3));
        std::fs::remove_file(&c).unwrap();
        assert_eq!(files.sweep_deleted(), 1);
        assert!(files.get(&id(3)).is_none() && files.get(&id(1)).is_some());
        assert!(files.forget(&id(1)) && !files.forget(&id(1)));
        assert!(files.is_empty());
    }
}
