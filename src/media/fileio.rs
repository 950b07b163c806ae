//! Positional file reads behind one small trait, with two implementations: io_uring
//! (`tokio_uring::fs`, on the shard's own ring) and a portable one (pread on the blocking pool).
//! io_uring can be missing in production (sysctl, seccomp, low `RLIMIT_MEMLOCK`), so the server
//! probes it once at start and falls back with one warning.

use crate::config::IoMode;
use crate::runtime::blocking::BlockingPool;
use bytes::Bytes;
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;

/// A read's future; not `Send`, since io_uring futures live on their shard.
pub type ReadFuture = Pin<Box<dyn Future<Output = io::Result<Bytes>>>>;

/// Reads `len` bytes at `offset` of a file.
pub trait ReadAt {
    /// Reads exactly `len` bytes at `offset` (an error if the file is shorter).
    fn read_at(&self, path: PathBuf, offset: u64, len: usize) -> ReadFuture;
    /// The backend's name for logs and the status endpoint.
    fn name(&self) -> &'static str;
}

/// Which backend the shards use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoBackend {
    /// io_uring through tokio-uring.
    Uring,
    /// pread on the blocking pool.
    Portable,
}

impl IoBackend {
    /// Name for logs and status.
    pub fn name(self) -> &'static str {
        match self {
            IoBackend::Uring => "io_uring",
            IoBackend::Portable => "portable",
        }
    }
}

/// Entries per shard ring; the probe creates rings of the same size.
pub const RING_ENTRIES: u32 = 256;

/// Decides the backend for config `engine.io`. Returns the backend and, when it fell back, why.
pub fn choose_backend(mode: IoMode, shards: usize) -> Result<(IoBackend, Option<String>), String> {
    match mode {
        IoMode::Portable => Ok((IoBackend::Portable, Some("engine.io = portable".into()))),
        IoMode::Uring => probe_uring(shards).map(|()| (IoBackend::Uring, None)),
        IoMode::Auto => match probe_uring(shards) {
            Ok(()) => Ok((IoBackend::Uring, None)),
            Err(why) => Ok((IoBackend::Portable, Some(why))),
        },
    }
}

/// Creates one ring per shard at once (the memlock limit is shared) and submits a no-op on one.
fn probe_uring(shards: usize) -> Result<(), String> {
    let mut rings = Vec::new();
    for _ in 0..shards.max(1) {
        match io_uring::IoUring::new(RING_ENTRIES) {
            Ok(r) => rings.push(r),
            Err(e) => {
                let hint = match e.raw_os_error() {
                    Some(libc::ENOMEM) => " (RLIMIT_MEMLOCK too low? raise LimitMEMLOCK)",
                    Some(libc::EPERM) => " (kernel.io_uring_disabled or seccomp?)",
                    Some(libc::ENOSYS) => " (kernel without io_uring, or blocked by seccomp)",
                    _ => "",
                };
                return Err(format!("io_uring unavailable: {e}{hint}"));
            }
        }
    }
    let ring = &mut rings[0];
    let nop = io_uring::opcode::Nop::new().build().user_data(7);
    // SAFETY: a Nop entry references no memory, so nothing must outlive the submission.
    unsafe { ring.submission().push(&nop) }.map_err(|e| format!("io_uring submit: {e}"))?;
    ring.submit_and_wait(1)
        .map_err(|e| format!("io_uring unavailable: {e}"))?;
    Ok(())
}

/// Reads through the shard's io_uring (must run inside a tokio-uring runtime).
pub struct UringReader;

impl ReadAt for UringReader {
    fn read_at(&self, path: PathBuf, offset: u64, len: usize) -> ReadFuture {
        Box::pin(async move {
            let file = tokio_uring::fs::File::open(&path).await?;
            let buf = Vec::with_capacity(len);
            let (res, buf) = file.read_exact_at(buf, offset).await;
            let closed = file.close().await;
            res?;
            closed?;
            Ok(Bytes::from(buf))
        })
    }

    fn name(&self) -> &'static str {
        "io_uring"
    }
}

/// Reads with pread on the blocking pool.
pub struct PreadReader {
    pool: BlockingPool,
}

impl PreadReader {
    /// A reader using `pool`.
    pub fn new(pool: BlockingPool) -> PreadReader {
        PreadReader { pool }
    }
}

impl ReadAt for PreadReader {
    fn read_at(&self, path: PathBuf, offset: u64, len: usize) -> ReadFuture {
        let pool = self.pool.clone();
        Box::pin(async move {
            pool.run(move || {
                use std::os::unix::fs::FileExt;
                let file = std::fs::File::open(&path)?;
                let mut buf = vec![0u8; len];
                file.read_exact_at(&mut buf, offset)?;
                Ok(Bytes::from(buf))
            })
            .await
            .map_err(io::Error::other)?
        })
    }

    fn name(&self) -> &'static str {
        "portable"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.bin");
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, data).unwrap();
        (dir, p)
    }

    #[test]
    fn pread_reads_exact_ranges_and_reports_short_files() {
        let (_d, p) = sample();
        let reader = PreadReader::new(BlockingPool::new(1, &[]));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let b = reader.read_at(p.clone(), 1000, 10).await.unwrap();
            assert_eq!(
                &b[..],
                &(1000..1010u32).map(|i| (i % 251) as u8).collect::<Vec<_>>()[..]
            );
            assert!(reader.read_at(p.clone(), 99_995, 10).await.is_err());
            assert!(reader
                .read_at(p.with_extension("nope"), 0, 1)
                .await
                .is_err());
        });
    }

    #[test]
    fn uring_reads_the_same_bytes_when_available() {
        if probe_uring(1).is_err() {
            eprintln!("skipped: io_uring unavailable here");
            return;
        }
        let (_d, p) = sample();
        tokio_uring::start(async {
            let b = UringReader.read_at(p.clone(), 50_000, 4096).await.unwrap();
            let want: Vec<u8> = (50_000..54_096u32).map(|i| (i % 251) as u8).collect();
            assert_eq!(&b[..], &want[..]);
            assert!(UringReader.read_at(p.clone(), 99_999, 2).await.is_err());
        });
    }

    #[test]
    fn portable_mode_is_honoured() {
        let (b, why) = choose_backend(IoMode::Portable, 2).unwrap();
        assert_eq!(b, IoBackend::Portable);
        assert!(why.unwrap().contains("portable"));
    }
}
