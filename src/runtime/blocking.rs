//! A small pool of pinned threads for blocking work (pread on the portable I/O path, fsyncing
//! metadata writes, password hashing), so no shard's event loop blocks on it.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Error returned when the pool has shut down or the job panicked.
#[derive(Debug, thiserror::Error)]
#[error("blocking pool job did not complete (pool stopped or job panicked)")]
pub struct PoolGone;

/// The blocking pool. Cloning shares the same threads.
#[derive(Clone)]
pub struct BlockingPool {
    tx: Arc<Mutex<Option<mpsc::Sender<Job>>>>,
}

impl BlockingPool {
    /// Starts `threads` threads, pinned (best effort) to `cores` (round robin; empty = unpinned).
    pub fn new(threads: usize, cores: &[usize]) -> BlockingPool {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            let core = (!cores.is_empty()).then(|| cores[i % cores.len()]);
            let spawned = thread::Builder::new()
                .name(format!("fleuve-blocking-{i}"))
                .spawn(move || {
                    if let Some(core) = core {
                        core_affinity::set_for_current(core_affinity::CoreId { id: core });
                    }
                    loop {
                        let job = {
                            let guard = rx.lock().unwrap_or_else(|p| p.into_inner());
                            guard.recv()
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => break,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start blocking pool thread");
            }
        }
        BlockingPool {
            tx: Arc::new(Mutex::new(Some(tx))),
        }
    }

    /// Runs `f` on the pool and awaits its result.
    pub async fn run<T, F>(&self, f: F) -> Result<T, PoolGone>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        {
            let guard = self.tx.lock().unwrap_or_else(|p| p.into_inner());
            let sender = guard.as_ref().ok_or(PoolGone)?;
            sender.send(job).map_err(|_| PoolGone)?;
        }
        rx.await.map_err(|_| PoolGone)
    }

    /// Queues `f` on the pool without waiting for it (work owed by a `Drop`, which cannot
    /// await: removing an abandoned upload's file). Dropped silently once the pool has stopped.
    pub fn spawn<F>(&self, f: F)
    where
        F: FnOnce() + Send + 'static,
    {
        let guard = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(sender) = guard.as_ref() {
            let _ = sender.send(Box::new(f));
        }
    }

    /// Stops accepting jobs; threads exit when the queue is drained.
    pub fn shutdown(&self) {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_jobs_and_survives_panics() {
        let pool = BlockingPool::new(2, &[]);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            assert_eq!(pool.run(|| 2 + 2).await.unwrap(), 4);
            assert!(pool.run(|| -> u32 { panic!("boom") }).await.is_err());
            // The pool still works with one thread fewer.
            assert_eq!(pool.run(|| 7).await.unwrap(), 7);
            let (tx, rx) = std::sync::mpsc::channel();
            pool.spawn(move || tx.send(9).unwrap());
            assert_eq!(rx.recv().unwrap(), 9);
            pool.shutdown();
            assert!(pool.run(|| 1).await.is_err());
        });
    }
}
