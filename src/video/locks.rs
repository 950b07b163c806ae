//! One writer at a time per video. A privacy change moves a video's files and rewrites its
//! record; a finished transcode publishes files and rewrites the same record. Each is a
//! read-modify-write over the filesystem and RocksDB, so they take this lock for the video's
//! uuid and re-read the record inside it. Held only on blocking threads (the pool, transcode
//! lanes, start-up), never on a shard's event loop.

use std::collections::HashSet;
use std::sync::{Condvar, Mutex};

/// The set of videos being changed right now.
#[derive(Debug, Default)]
pub struct VideoLocks {
    held: Mutex<HashSet<String>>,
    released: Condvar,
}

/// Holds one video's lock until dropped.
#[derive(Debug)]
pub struct VideoGuard<'a> {
    locks: &'a VideoLocks,
    uuid: String,
}

impl VideoLocks {
    /// Blocks until no one else holds `uuid`, then holds it.
    pub fn lock(&self, uuid: &str) -> VideoGuard<'_> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        while held.contains(uuid) {
            held = self.released.wait(held).unwrap_or_else(|p| p.into_inner());
        }
        held.insert(uuid.to_string());
        VideoGuard {
            locks: self,
            uuid: uuid.to_string(),
        }
    }
}

impl Drop for VideoGuard<'_> {
    fn drop(&mut self) {
        let mut held = self.locks.held.lock().unwrap_or_else(|p| p.into_inner());
        held.remove(&self.uuid);
        drop(held);
        self.locks.released.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    #[test]
    fn one_holder_per_video() {
        let locks = Arc::new(VideoLocks::default());
        let inside = Arc::new(AtomicU32::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (locks, inside) = (locks.clone(), inside.clone());
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        let _g = locks.lock("a");
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // Another video is never blocked by this one.
        let _a = locks.lock("a");
        let _b = locks.lock("b");
    }
}
