//! Recognising a full disk in the transcode path. When the disk fills up, what fails is whatever
//! wrote next: libav's muxer, the rewrite of a playlist that then reads back truncated ("invalid
//! HLS playlist"), a torrent, the store. A job's recorded reason (and an API error) should say
//! what happened: "no space left on device".

use std::path::Path;

/// The words a failure caused by a full disk is reported with.
pub const NO_SPACE: &str = "no space left on device";

/// A filesystem with fewer free bytes than this is full for our purpose: a write that failed
/// with ENOSPC leaves less than a buffer's worth.
const FULL_BELOW: u64 = 8 << 20;

/// Whether an error's text says the disk was full (`ENOSPC`, as libc, io::Error, libav or
/// RocksDB word it).
pub fn mentions_no_space(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains(NO_SPACE) || t.contains("os error 28") || t.contains("enospc")
}

/// Bytes an unprivileged writer may still use on the filesystem holding `path` (or its nearest
/// existing ancestor), when it can be asked.
pub fn free_bytes(path: &Path) -> Option<u64> {
    let existing = path.ancestors().find(|p| p.exists())?;
    crate::runtime::disk::available_bytes(existing).ok()
}

/// The reason a job failed in `dir`: `reason` itself, or, when the filesystem of `dir` is full
/// and `reason` does not already say so, "no space left on device" first and `reason` after.
pub fn explain(reason: String, dir: &Path) -> String {
    explain_with(reason, dir, free_bytes(dir))
}

fn explain_with(reason: String, dir: &Path, free: Option<u64>) -> String {
    if mentions_no_space(&reason) {
        return reason;
    }
    match free {
        Some(free) if free < FULL_BELOW => format!(
            "{NO_SPACE} ({free} bytes free on the filesystem of {}); it caused: {reason}",
            dir.display()
        ),
        _ => reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enospc_in_any_wording_is_recognised() {
        let io = std::io::Error::from_raw_os_error(libc::ENOSPC).to_string();
        let libav = ffmpeg_next::Error::Other {
            errno: libc::ENOSPC,
        }
        .to_string();
        for text in [
            io.as_str(),
            libav.as_str(),
            "IO error: No space left on device: While appending to file: 000012.log",
        ] {
            assert!(mentions_no_space(text), "{text}");
        }
        assert!(!mentions_no_space(
            "invalid HLS playlist, line 1: does not start with #EXTM3U"
        ));
    }

    #[test]
    fn a_failure_on_a_full_filesystem_says_so() {
        let dir = Path::new("/var/lib/fleuve/tmp/jobs/7");
        let bad_playlist = "rung 720p: invalid HLS playlist, line 1: does not start with #EXTM3U";
        let said = explain_with(bad_playlist.into(), dir, Some(4096));
        assert!(
            said.starts_with("no space left on device (4096 bytes free"),
            "{said}"
        );
        assert!(said.ends_with(bad_playlist), "{said}");
        // Room left, or no answer from statvfs: the reason stands.
        assert_eq!(
            explain_with(bad_playlist.into(), dir, Some(10 << 30)),
            bad_playlist
        );
        assert_eq!(explain_with(bad_playlist.into(), dir, None), bad_playlist);
        // Already said: not said twice.
        let libav = "720p: write packet: No space left on device";
        assert_eq!(explain_with(libav.into(), dir, Some(0)), libav);
        // The real filesystem of a temp dir has room.
        let tmp = tempfile::tempdir().unwrap();
        assert!(free_bytes(&tmp.path().join("not/yet/made")).unwrap() > 0);
    }
}
