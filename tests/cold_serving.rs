//! Serving files that are not in the page cache, and the shard's open descriptors.
//!
//! A cold file is played by a FUSE file system (the `fuser` crate, mounted inside the media
//! root) whose reads wait at a gate the test opens: a disk as slow as the test wants. While such
//! a read is pending, a hot request on the same (single) shard must still be answered; a shard
//! that read the cold file on its own thread would hang until the gate opened.

mod common;

use common::*;
use fuser::{FileAttr, FileType, Filesystem, ReplyAttr, ReplyData, ReplyEntry, Request};
use std::ffi::OsStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

const HLS: &str = "/static/streaming-playlists/hls";
const HOT_UUID: &str = "0f5c4e9b-0000-4000-8000-0000000c01d1";
const COLD_UUID: &str = "0f5c4e9b-0000-4000-8000-0000000c01d2";
const COLD_NAME: &str = "cold-fragmented.mp4";
const COLD_SIZE: u64 = 8 << 20;
const TTL: Duration = Duration::from_secs(3600);

/// Reads below `allowed` are answered at once; the others wait until it grows past them.
#[derive(Default)]
struct Gate {
    allowed: u64,
    waiting: Vec<(u64, u32, ReplyData)>,
    /// Every read asked for, by offset.
    asked: Vec<u64>,
}

/// A read-only file system with one file, `COLD_NAME`, of `pattern(COLD_SIZE)`.
struct GatedFs {
    gate: Arc<Mutex<Gate>>,
    mtime: SystemTime,
}

fn bytes_at(offset: u64, size: u32) -> Vec<u8> {
    let end = (offset + size as u64).min(COLD_SIZE);
    (offset..end).map(|i| (i * 7 % 251) as u8).collect()
}

impl GatedFs {
    fn attr(&self, ino: u64) -> FileAttr {
        let dir = ino == fuser::FUSE_ROOT_ID;
        FileAttr {
            ino,
            size: if dir { 0 } else { COLD_SIZE },
            blocks: COLD_SIZE / 512,
            atime: self.mtime,
            mtime: self.mtime,
            ctime: self.mtime,
            crtime: self.mtime,
            kind: if dir {
                FileType::Directory
            } else {
                FileType::RegularFile
            },
            perm: if dir { 0o755 } else { 0o644 },
            nlink: if dir { 2 } else { 1 },
            uid: 0,
            gid: 0,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        }
    }
}

impl Filesystem for GatedFs {
    fn lookup(&mut self, _: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEntry) {
        if parent == fuser::FUSE_ROOT_ID && name == COLD_NAME {
            reply.entry(&TTL, &self.attr(2), 0);
        } else {
            reply.error(libc::ENOENT);
        }
    }

    fn getattr(&mut self, _: &Request<'_>, ino: u64, _: Option<u64>, reply: ReplyAttr) {
        match ino {
            1 | 2 => reply.attr(&TTL, &self.attr(ino)),
            _ => reply.error(libc::ENOENT),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn read(
        &mut self,
        _: &Request<'_>,
        _ino: u64,
        _fh: u64,
        offset: i64,
        size: u32,
        _flags: i32,
        _lock: Option<u64>,
        reply: ReplyData,
    ) {
        let offset = offset as u64;
        let mut gate = self.gate.lock().unwrap();
        gate.asked.push(offset);
        if offset < gate.allowed {
            reply.data(&bytes_at(offset, size));
        } else {
            gate.waiting.push((offset, size, reply));
        }
    }
}

/// Detaches a mount when dropped (lazily: the server may still hold its file open).
struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        use std::os::unix::ffi::OsStrExt;
        let path = std::ffi::CString::new(self.0.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) };
    }
}

/// Lets every read below `allowed` through, the waiting ones too.
fn open_gate(gate: &Mutex<Gate>, allowed: u64) {
    let mut g = gate.lock().unwrap();
    g.allowed = allowed;
    let waiting = std::mem::take(&mut g.waiting);
    for (offset, size, reply) in waiting {
        if offset < allowed {
            reply.data(&bytes_at(offset, size));
        } else {
            g.waiting.push((offset, size, reply));
        }
    }
}

async fn counter(s: &Server, series: &str) -> u64 {
    metrics_text(s)
        .await
        .lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_cold_range_does_not_stall_its_shard() {
    let s = Server::start_with(with_env(&[("FLEUVE_ENGINE_SHARDS", "1")]));
    let hot_dir = s
        .media()
        .join(format!("streaming-playlists/hls/{HOT_UUID}"));
    std::fs::create_dir_all(&hot_dir).unwrap();
    let hot = pattern(4 << 20);
    std::fs::write(hot_dir.join("hot-fragmented.mp4"), &hot).unwrap();
    let hot_url = s.url(&format!("{HLS}/{HOT_UUID}/hot-fragmented.mp4"));
    let get_hot = |i: u64| {
        let url = hot_url.clone();
        async move {
            let start = (i % 2) * (2 << 20);
            let r = client()
                .get(url)
                .header("range", format!("bytes={start}-{}", start + (2 << 20) - 1))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 206);
            r.bytes().await.unwrap()
        }
    };
    // Warm: read once, so its pages are in the page cache.
    for i in 0..2 {
        get_hot(i).await;
    }

    let cold_dir = s
        .media()
        .join(format!("streaming-playlists/hls/{COLD_UUID}"));
    std::fs::create_dir_all(&cold_dir).unwrap();
    let gate = Arc::new(Mutex::new(Gate::default()));
    let fs = GatedFs {
        gate: gate.clone(),
        mtime: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    };
    let _mount = fuser::spawn_mount2(
        fs,
        &cold_dir,
        &[
            fuser::MountOption::RO,
            fuser::MountOption::FSName("fleuve-test".into()),
        ],
    )
    .expect("FUSE mount (needs root and /dev/fuse)");
    // Detached even while the server holds the file open (or the test fails midway).
    let _unmount = Unmount(cold_dir.clone());

    // The first 128 KiB are on "disk" at once; the rest waits at the gate.
    open_gate(&gate, 128 << 10);
    let cold_url = s.url(&format!("{HLS}/{COLD_UUID}/{COLD_NAME}"));
    let cold_len: u64 = 6 << 20;
    let start: u64 = 1000;
    let cold = tokio::spawn({
        let url = cold_url.clone();
        async move {
            let mut r = client()
                .get(url)
                .header("range", format!("bytes={start}-{}", start + cold_len - 1))
                .timeout(Duration::from_secs(120))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 206);
            let mut got = Vec::new();
            let mut first_at = None;
            while let Some(chunk) = r.chunk().await.unwrap() {
                got.extend_from_slice(&chunk);
                first_at.get_or_insert(std::time::Instant::now());
            }
            (got, first_at.unwrap())
        }
    });
    // Wait until a read is held at the gate: the cold range is being read.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while gate.lock().unwrap().waiting.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no read reached the file system"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Hot ranges on the same shard are answered meanwhile (each within a bound; a stalled
    // shard would answer none before the gate opens).
    for i in 0..20 {
        let got = tokio::time::timeout(Duration::from_secs(10), get_hot(i))
            .await
            .expect("a hot request waited for a cold read on the same shard");
        let start = ((i % 2) * (2 << 20)) as usize;
        assert!(got[..] == hot[start..start + (2 << 20)], "hot range {i}");
    }
    assert!(
        !cold.is_finished(),
        "the cold range finished before its reads were let through"
    );

    let opened = std::time::Instant::now();
    open_gate(&gate, u64::MAX);
    let (got, first_at) = tokio::time::timeout(Duration::from_secs(60), cold)
        .await
        .expect("cold range never finished")
        .unwrap();
    assert_eq!(got.len() as u64, cold_len);
    assert!(
        got == bytes_at(start, cold_len as u32),
        "cold range bytes differ"
    );
    // Streamed: its first bytes left before the gate let the rest be read.
    assert!(
        first_at < opened,
        "the first bytes waited for the whole range"
    );

    let disk = counter(&s, "fleuve_media_large_ranges_total{source=\"disk\"}").await;
    let hot_sends = counter(&s, "fleuve_media_large_ranges_total{source=\"page_cache\"}").await;
    assert!(disk >= 1, "the cold range was not read from disk");
    assert!(
        hot_sends >= 20,
        "hot ranges were not sent with sendfile: {hot_sends}"
    );
}

/// The descriptors of the server process that point at `path` (deleted or not).
fn open_fds_of(s: &Server, path: &std::path::Path) -> usize {
    let pid = s.child.as_ref().unwrap().id();
    let want = path.display().to_string();
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| {
            let t = target.display().to_string();
            t == want || t == format!("{want} (deleted)")
        })
        .count()
}

/// A file replaced under its name is served fresh and its old version's descriptor is closed;
/// a deleted file answers 404 and its descriptor is closed at once, not at the next sweep (one
/// hour here), so its disk space comes back.
#[tokio::test]
async fn replaced_and_deleted_files_leave_the_descriptor_cache() {
    let s = Server::start_with(with_env(&[
        ("FLEUVE_ENGINE_SHARDS", "1"),
        ("FLEUVE_MEDIA_SWEEP_SECS", "3600"),
    ]));
    let dir = s
        .media()
        .join(format!("streaming-playlists/hls/{HOT_UUID}"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("v-fragmented.mp4");
    let url = s.url(&format!("{HLS}/{HOT_UUID}/v-fragmented.mp4"));
    let get = || async {
        let r = client()
            .get(&url)
            .header("range", "bytes=0-1048575")
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.bytes().await.unwrap())
    };
    std::fs::write(&path, vec![b'a'; 2 << 20]).unwrap();
    let (status, body) = get().await;
    assert_eq!((status, body[0]), (206, b'a'));
    assert_eq!(open_fds_of(&s, &path), 1, "the served file is kept open");
    let opened = counter(&s, "fleuve_media_files_opened_total").await;
    for _ in 0..5 {
        assert_eq!(get().await.0, 206);
    }
    assert_eq!(
        counter(&s, "fleuve_media_files_opened_total").await,
        opened,
        "a file was opened again for each request"
    );

    // Replaced (a new file renamed over it, as publication does).
    let tmp = dir.join(".v.tmp");
    std::fs::write(&tmp, vec![b'b'; 3 << 20]).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    let (status, body) = get().await;
    assert_eq!((status, body[0]), (206, b'b'));
    assert_eq!(
        open_fds_of(&s, &path),
        1,
        "the replaced version's descriptor is still open"
    );

    // Deleted.
    std::fs::remove_file(&path).unwrap();
    assert_eq!(get().await.0, 404);
    assert_eq!(
        open_fds_of(&s, &path),
        0,
        "the deleted file's descriptor is still open"
    );
}
