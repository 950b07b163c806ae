//! Positional file reads behind one small trait, with two implementations: io_uring
//! (`tokio_uring::fs`, on the shard's own ring) and a portable one (pread on the blocking pool).
//! io_uring can be missing in production (sysctl, seccomp, low `RLIMIT_MEMLOCK`), so the server
//! probes it once at start and falls back with one warning.
//!
//! Files are opened once and read many times: [`ReadAt::open`] gives an [`OpenFile`] that the
//! shard keeps in its descriptor cache ([`super::open_files`]); its reads and its descriptor (for
//! `sendfile`) need no path lookup. Whether a range is in the page cache is asked of the kernel
//! with `cachestat(2)` ([`resident`]), so a hot range goes out with `sendfile` and a cold one is
//! read through the ring without ever blocking the shard.

use crate::config::IoMode;
use crate::runtime::blocking::BlockingPool;
use bytes::Bytes;
use std::future::Future;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use std::sync::Arc;

/// A read's future; not `Send`, since io_uring futures live on their shard.
pub type ReadFuture = Pin<Box<dyn Future<Output = io::Result<Bytes>>>>;
/// An open's future.
pub type OpenFuture = Pin<Box<dyn Future<Output = io::Result<OpenFile>>>>;

/// Opens files and reads them.
pub trait ReadAt {
    /// Opens `path` read-only, off the event loop (a cold directory entry costs the shard
    /// nothing).
    fn open(&self, path: PathBuf) -> OpenFuture;
    /// The backend's name for logs and the status endpoint.
    fn name(&self) -> &'static str;
    /// Opens `path`, reads exactly `len` bytes at `offset` (an error if the file is shorter) and
    /// closes it: for one-off reads; repeated reads of a file go through an [`OpenFile`].
    fn read_at(&self, path: PathBuf, offset: u64, len: usize) -> ReadFuture {
        let open = self.open(path);
        Box::pin(async move { open.await?.read_at(offset, len).await })
    }
}

/// An open, read-only file, cheap to clone (one descriptor, shared); its reads go through the
/// backend that opened it.
#[derive(Clone)]
pub struct OpenFile(Rc<Inner>);

enum Inner {
    /// Read through the shard's ring.
    Uring(tokio_uring::fs::File),
    /// Read with pread on the blocking pool.
    Pooled(Arc<std::fs::File>, BlockingPool),
    /// Read with pread on the calling thread (fuzzing and tests, no runtime).
    Blocking(std::fs::File),
}

impl OpenFile {
    /// A file read with pread on the calling thread: its futures are ready at once. For fuzzing
    /// and tests; a shard never blocks its loop this way.
    pub fn blocking(file: std::fs::File) -> OpenFile {
        OpenFile(Rc::new(Inner::Blocking(file)))
    }

    /// Reads exactly `len` bytes at `offset` (an error if the file is shorter).
    pub fn read_at(&self, offset: u64, len: usize) -> ReadFuture {
        let this = self.clone();
        Box::pin(async move {
            match &*this.0 {
                Inner::Uring(file) => {
                    let (res, buf) = file.read_exact_at(Vec::with_capacity(len), offset).await;
                    res?;
                    Ok(Bytes::from(buf))
                }
                Inner::Pooled(file, pool) => {
                    let file = file.clone();
                    pool.run(move || pread_exact(&file, offset, len))
                        .await
                        .map_err(io::Error::other)?
                }
                Inner::Blocking(file) => pread_exact(file, offset, len),
            }
        })
    }

    /// The file's identity and size now (`fstat`: no disk access, the inode is in memory).
    pub fn stat(&self) -> io::Result<nix::sys::stat::FileStat> {
        nix::sys::stat::fstat(self.as_fd()).map_err(io::Error::from)
    }
}

impl AsFd for OpenFile {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &*self.0 {
            // SAFETY: the descriptor stays open for as long as `self` (and so the borrow) lives.
            Inner::Uring(file) => unsafe { BorrowedFd::borrow_raw(file.as_raw_fd()) },
            Inner::Pooled(file, _) => file.as_fd(),
            Inner::Blocking(file) => file.as_fd(),
        }
    }
}

fn pread_exact(file: &std::fs::File, offset: u64, len: usize) -> io::Result<Bytes> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, offset)?;
    Ok(Bytes::from(buf))
}

/// Whether every page of `offset..offset + len` of `file` is in the page cache: `Some(true)` or
/// `Some(false)` as `cachestat(2)` (Linux 6.5) says, `None` where the kernel cannot tell (older
/// kernel, seccomp), and then callers assume it is (as nginx does).
pub fn resident(file: &impl AsFd, offset: u64, len: u64) -> Option<bool> {
    /// 0: not probed yet; 1: works; 2: unavailable.
    static STATE: AtomicU8 = AtomicU8::new(0);
    if len == 0 || STATE.load(Relaxed) == 2 {
        return None;
    }
    #[repr(C)]
    struct Range {
        off: u64,
        len: u64,
    }
    #[repr(C)]
    #[derive(Default)]
    struct Stat {
        nr_cache: u64,
        nr_dirty: u64,
        nr_writeback: u64,
        nr_evicted: u64,
        nr_recently_evicted: u64,
    }
    /// `cachestat`'s number in the generic syscall table (x86-64 and arm64 alike).
    const SYS_CACHESTAT: libc::c_long = 451;
    let range = Range { off: offset, len };
    let mut stat = Stat::default();
    // SAFETY: both pointers are to live, properly laid out structs for the call's duration.
    let rc = unsafe {
        libc::syscall(
            SYS_CACHESTAT,
            file.as_fd().as_raw_fd(),
            &range as *const Range,
            &mut stat as *mut Stat,
            0u32,
        )
    };
    if rc != 0 {
        let e = io::Error::last_os_error();
        if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) {
            STATE.store(2, Relaxed);
            tracing::info!(error = %e, "cachestat(2) unavailable: hot and cold file ranges are not told apart (every range is sent with sendfile)");
        }
        return None;
    }
    STATE.store(1, Relaxed);
    let page = page_size();
    let pages = (offset + len - 1) / page - offset / page + 1;
    Some(stat.nr_cache >= pages)
}

/// Tells the kernel it may drop `offset..offset + len` of `file` from the page cache (the
/// shard's memory cache holds those bytes now).
pub fn drop_pages(file: &impl AsFd, offset: u64, len: u64) {
    let _ = nix::fcntl::posix_fadvise(
        file.as_fd(),
        offset as libc::off_t,
        len as libc::off_t,
        nix::fcntl::PosixFadviseAdvice::POSIX_FADV_DONTNEED,
    );
}

/// Turns off the kernel's read-ahead for reads through this descriptor (`POSIX_FADV_RANDOM`).
pub fn advise_random(file: &impl AsFd) {
    let _ = nix::fcntl::posix_fadvise(
        file.as_fd(),
        0,
        0,
        nix::fcntl::PosixFadviseAdvice::POSIX_FADV_RANDOM,
    );
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 => n as u64,
        _ => 4096,
    }
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

/// Opens and reads through the shard's io_uring (must run inside a tokio-uring runtime).
pub struct UringReader;

impl ReadAt for UringReader {
    fn open(&self, path: PathBuf) -> OpenFuture {
        Box::pin(async move {
            let file = tokio_uring::fs::File::open(&path).await?;
            Ok(OpenFile(Rc::new(Inner::Uring(file))))
        })
    }

    fn name(&self) -> &'static str {
        "io_uring"
    }
}

/// Opens and reads with pread on the blocking pool.
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
    fn open(&self, path: PathBuf) -> OpenFuture {
        let pool = self.pool.clone();
        Box::pin(async move {
            let file = pool
                .run(move || std::fs::File::open(&path))
                .await
                .map_err(io::Error::other)??;
            Ok(OpenFile(Rc::new(Inner::Pooled(Arc::new(file), pool))))
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
            // An open file reads without its path, and its descriptor serves cachestat.
            let f = UringReader.open(p.clone()).await.unwrap();
            std::fs::remove_file(&p).unwrap();
            assert_eq!(&f.read_at(50_000, 4096).await.unwrap()[..], &want[..]);
            assert_eq!(f.stat().unwrap().st_nlink, 0);
        });
    }

    #[test]
    fn cachestat_tells_evicted_pages_from_cached_ones() {
        let (_d, p) = sample();
        let file = std::fs::File::open(&p).unwrap();
        file.sync_all().unwrap();
        drop_pages(&file, 0, 0);
        let Some(cold) = resident(&file, 0, 100_000) else {
            eprintln!("skipped: cachestat(2) unavailable here");
            return;
        };
        assert!(!cold, "evicted pages reported as cached");
        let mut buf = vec![0u8; 100_000];
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut buf, 0).unwrap();
        assert_eq!(resident(&file, 0, 100_000), Some(true));
        assert_eq!(resident(&file, 4096, 1), Some(true));
        drop_pages(&file, 8192, 4096);
        assert_eq!(resident(&file, 0, 100_000), Some(false));
        assert_eq!(resident(&file, 0, 8192), Some(true));
    }

    #[test]
    fn portable_mode_is_honoured() {
        let (b, why) = choose_backend(IoMode::Portable, 2).unwrap();
        assert_eq!(b, IoBackend::Portable);
        assert!(why.unwrap().contains("portable"));
    }
}
