//! The one place an upload's bytes are written to disk, for multipart and resumable uploads
//! alike: a body stream is gathered into batches of [`WRITE_BATCH`] bytes (plus at most one
//! network frame), each written on the blocking pool, never past a limit; the file is then
//! trimmed to exactly the bytes accepted and `fdatasync`'d. A full disk is
//! [`UploadError::NoRoom`] (507); a body longer than its limit keeps none of its bytes.

use super::UploadError;
use crate::runtime::blocking::BlockingPool;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Bytes gathered from the network before one write on the blocking pool.
pub const WRITE_BATCH: usize = 1 << 20;

/// Where a body goes.
#[derive(Debug, Clone)]
pub enum Destination {
    /// A new file (created, or emptied if it exists).
    New(PathBuf),
    /// The end of an existing file holding `kept` bytes (a resumable session's next chunk).
    Append {
        /// The file.
        path: PathBuf,
        /// Its length: what a refused body leaves it at.
        kept: u64,
    },
}

/// A body that was stored, wholly or up to where its stream broke off.
#[derive(Debug)]
pub struct Written {
    /// Bytes of the body now on disk (synced).
    pub bytes: u64,
    /// Why the stream ended before its end, when it did (a dropped connection): the bytes
    /// before the break are kept.
    pub cut_short: Option<String>,
}

/// Why a body was not stored.
#[derive(Debug)]
pub enum WriteError {
    /// The body had more than `limit` bytes (`seen` counted when it crossed): none of it is kept.
    Overflow {
        /// The limit.
        limit: u64,
        /// Bytes received by then.
        seen: u64,
    },
    /// Opening, writing or syncing failed (a full disk is [`UploadError::NoRoom`]).
    Failed(UploadError),
}

impl From<UploadError> for WriteError {
    fn from(e: UploadError) -> WriteError {
        WriteError::Failed(e)
    }
}

impl From<crate::runtime::blocking::PoolGone> for WriteError {
    fn from(e: crate::runtime::blocking::PoolGone) -> WriteError {
        WriteError::Failed(e.into())
    }
}

/// Writes at most `limit` bytes of `body` to `to`; returns how many were written. Bytes that
/// arrived before the stream broke off are kept (a resumable client resumes after them); a body
/// longer than `limit` is refused and none of it is kept. Every file call runs on `pool`.
pub async fn write_body<S, E>(
    pool: &BlockingPool,
    to: Destination,
    body: S,
    limit: u64,
) -> Result<Written, WriteError>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: std::fmt::Display,
{
    let (path, kept) = match to {
        Destination::New(path) => (path, None),
        Destination::Append { path, kept } => (path, Some(kept)),
    };
    let context = if kept.is_some() {
        "opening the upload file"
    } else {
        "creating the upload file"
    };
    let create = kept.is_none();
    let open = path.clone();
    let file = pool
        .run(move || {
            if create {
                File::create(open)
            } else {
                OpenOptions::new().append(true).open(open)
            }
        })
        .await?
        .map_err(|e| UploadError::file(context, e))?;
    let kept = kept.unwrap_or(0);
    let mut file = Some(file);
    let mut body = std::pin::pin!(body);
    let mut buf: Vec<u8> = Vec::with_capacity(WRITE_BATCH);
    let mut written = 0u64;
    let mut overflow = None;
    let mut cut_short = None;
    let mut write_error = None;
    loop {
        let done = match body.next().await {
            Some(Ok(bytes)) => {
                let room = (limit - written - buf.len() as u64) as usize;
                if bytes.len() > room {
                    overflow = Some(written + (buf.len() + bytes.len()) as u64);
                    break;
                }
                buf.extend_from_slice(&bytes);
                false
            }
            Some(Err(e)) => {
                cut_short = Some(e.to_string());
                true
            }
            None => true,
        };
        if !buf.is_empty() && (done || buf.len() >= WRITE_BATCH) {
            let data = std::mem::replace(&mut buf, Vec::with_capacity(WRITE_BATCH));
            let mut f = file
                .take()
                .ok_or(UploadError::Internal("upload file lost"))?;
            let n = data.len() as u64;
            let (f, result) = pool
                .run(move || {
                    let r = f.write_all(&data);
                    (f, r)
                })
                .await?;
            file = Some(f);
            if let Err(e) = result {
                write_error = Some(e);
                break;
            }
            written += n;
        }
        if done {
            break;
        }
    }
    let f = file.ok_or(UploadError::Internal("upload file lost"))?;
    // Keep exactly the bytes accepted: none of a refused body, none of a failed write's tail.
    let keep = if overflow.is_some() {
        kept
    } else {
        kept + written
    };
    pool.run(move || {
        if f.metadata()?.len() != keep {
            f.set_len(keep)?;
        }
        f.sync_data()
    })
    .await?
    .map_err(UploadError::write_failed)?;
    if let Some(seen) = overflow {
        return Err(WriteError::Overflow { limit, seen });
    }
    if let Some(e) = write_error {
        return Err(UploadError::write_failed(e).into());
    }
    Ok(Written {
        bytes: written,
        cut_short,
    })
}

/// A staged file that is removed (on the blocking pool) when dropped, unless kept: an upload
/// that failed halfway, or whose client went away, leaves nothing behind.
pub struct StagedFile {
    path: PathBuf,
    pool: BlockingPool,
}

impl StagedFile {
    /// Removes `path` when dropped.
    pub fn new(pool: &BlockingPool, path: PathBuf) -> StagedFile {
        StagedFile {
            path,
            pool: pool.clone(),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the file now and waits for it: an error answered after this leaves nothing
    /// behind (dropping the guard only queues the removal).
    pub async fn discard(mut self) {
        let path = std::mem::take(&mut self.path);
        let _ = self
            .pool
            .run(move || {
                let _ = std::fs::remove_file(path);
            })
            .await;
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        let path = std::mem::take(&mut self.path);
        if path.as_os_str().is_empty() {
            return;
        }
        self.pool.spawn(move || {
            let _ = std::fs::remove_file(path);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: &[&[u8]]) -> impl Stream<Item = Result<Bytes, std::io::Error>> {
        let v: Vec<Result<Bytes, std::io::Error>> = parts
            .iter()
            .map(|p| Ok(Bytes::copy_from_slice(p)))
            .collect();
        futures_util::stream::iter(v)
    }

    fn run<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn appends_within_the_limit_and_keeps_nothing_of_an_overflow() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.part");
        let pool = BlockingPool::new(1, &[]);
        run(async {
            let w = write_body(
                &pool,
                Destination::New(path.clone()),
                chunks(&[b"abc", b"de"]),
                5,
            )
            .await
            .unwrap();
            assert_eq!((w.bytes, w.cut_short), (5, None));
            let to = Destination::Append {
                path: path.clone(),
                kept: 5,
            };
            let e = write_body(&pool, to, chunks(&[b"fg", b"hij"]), 4).await;
            assert!(matches!(e, Err(WriteError::Overflow { limit: 4, seen: 5 })));
            assert_eq!(std::fs::read(&path).unwrap(), b"abcde");
            let to = Destination::Append {
                path: path.clone(),
                kept: 5,
            };
            let w = write_body(&pool, to, chunks(&[b"fg"]), 4).await.unwrap();
            assert_eq!(w.bytes, 2);
            assert_eq!(std::fs::read(&path).unwrap(), b"abcdefg");
        });
    }

    #[test]
    fn a_broken_stream_keeps_what_arrived() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.part");
        let pool = BlockingPool::new(1, &[]);
        let body = futures_util::stream::iter(vec![
            Ok(Bytes::from_static(b"xyz")),
            Err(std::io::Error::other("connection reset")),
        ]);
        run(async {
            let w = write_body(&pool, Destination::New(path.clone()), body, 10)
                .await
                .unwrap();
            assert_eq!(w.bytes, 3);
            assert_eq!(w.cut_short.as_deref(), Some("connection reset"));
            assert_eq!(std::fs::read(&path).unwrap(), b"xyz");
        });
    }

    /// A disk that hangs (here: a FIFO nobody reads, whose `open` blocks) holds up the upload,
    /// never the event loop: another task of the same single-threaded runtime still runs.
    #[test]
    fn a_hanging_open_does_not_block_the_event_loop() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("slow.part");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let pool = BlockingPool::new(1, &[]);
        let (ticked, seen) = std::sync::mpsc::channel();
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || {
                // Waits (bounded) for the loop to run the other task, then unblocks the writer.
                let ran = seen
                    .recv_timeout(std::time::Duration::from_secs(20))
                    .is_ok();
                let mut r = std::fs::File::open(&fifo).unwrap();
                let mut sink = Vec::new();
                let _ = std::io::Read::read_to_end(&mut r, &mut sink);
                ran
            })
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let to = Destination::Append {
                path: fifo.clone(),
                kept: 0,
            };
            let write = write_body(&pool, to, chunks(&[b"abc"]), 3);
            let other = async {
                tokio::task::yield_now().await;
                ticked.send(()).unwrap();
            };
            // A FIFO cannot be trimmed or synced: the write's own result does not matter here.
            let _ = tokio::join!(write, other);
        });
        assert!(
            reader.join().unwrap(),
            "the event loop was blocked while the upload file was being opened"
        );
    }

    #[test]
    fn a_staged_file_is_removed_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.part");
        std::fs::write(&path, b"x").unwrap();
        let pool = BlockingPool::new(1, &[]);
        drop(StagedFile::new(&pool, path.clone()));
        // The removal runs on the pool; a job queued after it finishes after it.
        run(pool.run(|| ())).unwrap();
        assert!(!path.exists());
    }

    #[test]
    fn a_discarded_staged_file_is_gone_when_discard_returns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.part");
        std::fs::write(&path, b"x").unwrap();
        // A busy pool: a removal only queued would still be waiting behind this job.
        let pool = BlockingPool::new(1, &[]);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        pool.spawn(move || {
            let _ = rx.recv_timeout(std::time::Duration::from_millis(300));
        });
        run(StagedFile::new(&pool, path.clone()).discard());
        assert!(!path.exists());
        drop(tx);
    }
}
