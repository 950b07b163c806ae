//! Moves a local video's files between the public and the private directories when its
//! privacy changes (PeerTube's `moveFilesIfPrivacyChanged`), and back to where its record says
//! after a crash.
//!
//! A move is three idempotent steps, in an order that never leaves the video without files:
//!
//! 1. each torrent is written, with the webseed of its new side (none when private), to where
//!    the rename of step 2 or nothing at all will make it right: into the HLS directory when
//!    going private (the directory carries it along), into `torrents/` when going public;
//! 2. the HLS directory is renamed (`hls/<uuid>` ↔ `hls/private/<uuid>`): one `rename(2)`, so
//!    every playlist and fMP4 changes URL at once, then both parents are fsynced;
//! 3. the torrents left on the old side are removed.
//!
//! The caller writes the record (privacy, tracker allowlist) only after that, in one batch; if
//! that write fails it moves the files back. [`relocate`] works out from the disk how far an
//! earlier run got, so running it again finishes (or undoes) an interrupted move; at start the
//! server runs it for every local video towards where its record says its files belong
//! (`reconcile`, in the engine). All of it runs on blocking threads, never on a shard.

use super::torrent::with_webseed;
use crate::video::files::{hls_dir, torrent_path};
use crate::video::urls::hls_file_url;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why files could not be moved.
#[derive(Debug, thiserror::Error)]
pub enum RelocateError {
    /// A filesystem operation failed.
    #[error("moving the files of video {uuid}: {op} {path}: {source}")]
    Io {
        /// The video.
        uuid: String,
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Both the public and the private directory exist: something else made one of them, and
    /// neither is overwritten.
    #[error("video {uuid} has both {public} and {private}; move one of them away by hand")]
    Conflict {
        /// The video.
        uuid: String,
        /// The public directory.
        public: PathBuf,
        /// The private directory.
        private: PathBuf,
    },
    /// A torrent could not be rewritten.
    #[error("rewriting torrent {path}: {source}")]
    Torrent {
        /// The torrent.
        path: PathBuf,
        /// Why.
        source: super::torrent::RewriteError,
    },
}

/// What [`relocate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relocation {
    /// The HLS directory moved.
    Moved,
    /// The directory was already on the wanted side (leftovers of an earlier move, if any, were
    /// tidied up).
    AlreadyThere,
    /// The video has no HLS directory on either side (not published yet).
    NoFiles,
}

/// One rendition's files, as the move needs them.
#[derive(Debug, Clone)]
pub struct Rendition {
    /// fMP4 file name (for the public webseed).
    pub media_file: String,
    /// Torrent file name.
    pub torrent_file: String,
}

impl From<&crate::video::VideoFile> for Rendition {
    fn from(f: &crate::video::VideoFile) -> Rendition {
        Rendition {
            media_file: f.rendition.media_file.clone(),
            torrent_file: f.rendition.torrent_file.clone(),
        }
    }
}

/// Moves the files of video `uuid` (renditions `renditions`) under `data_dir/media` to the
/// private side when `to_private`, else to the public side; `public_url` makes the public
/// webseeds.
pub fn relocate(
    data_dir: &Path,
    public_url: &str,
    uuid: &str,
    renditions: &[Rendition],
    to_private: bool,
) -> Result<Relocation, RelocateError> {
    let media = data_dir.join("media");
    let io = |op: &'static str, path: &Path| {
        let (uuid, path) = (uuid.to_string(), path.to_path_buf());
        move |source| RelocateError::Io {
            uuid,
            op,
            path,
            source,
        }
    };
    let from = hls_dir(&media, uuid, !to_private);
    let to = hls_dir(&media, uuid, to_private);
    let (from_exists, to_exists) = (from.is_dir(), to.is_dir());
    if from_exists && to_exists {
        let (public, private) = if to_private { (from, to) } else { (to, from) };
        return Err(RelocateError::Conflict {
            uuid: uuid.to_string(),
            public,
            private,
        });
    }
    if !from_exists && !to_exists {
        return Ok(Relocation::NoFiles);
    }
    let dir_now = if from_exists { &from } else { &to };
    // Where each torrent must end up, and where the other side keeps it, with the HLS
    // directory where it is now.
    let sides = |r: &Rendition, dir: &Path| -> (PathBuf, PathBuf) {
        let in_dir = dir.join(&r.torrent_file);
        let public = torrent_path(&media, uuid, false, &r.torrent_file);
        if to_private {
            (in_dir, public)
        } else {
            (public, in_dir)
        }
    };

    // 1. Torrents for the new side.
    let tmp = data_dir.join("tmp");
    std::fs::create_dir_all(&tmp).map_err(io("create", &tmp))?;
    for r in renditions {
        let (want, other) = sides(r, dir_now);
        if want.exists() {
            continue;
        }
        if !other.exists() {
            tracing::warn!(video = uuid, torrent = %r.torrent_file, "torrent missing on both sides; not moved");
            continue;
        }
        let bytes = std::fs::read(&other).map_err(io("read", &other))?;
        let webseed = (!to_private).then(|| hls_file_url(public_url, uuid, false, &r.media_file));
        let rewritten =
            with_webseed(&bytes, webseed.as_deref()).map_err(|source| RelocateError::Torrent {
                path: other.clone(),
                source,
            })?;
        let staged = tmp.join(format!("torrent-{}", uuid::Uuid::new_v4()));
        write_synced(&staged, &rewritten).map_err(io("write", &staged))?;
        std::fs::rename(&staged, &want).map_err(io("rename into", &want))?;
        if let Some(parent) = want.parent() {
            sync_dir(parent).map_err(io("sync", parent))?;
        }
    }

    // 2. The directory, in one rename.
    let moved = if from_exists {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(io("create", parent))?;
        }
        std::fs::rename(&from, &to).map_err(io("rename", &from))?;
        for parent in [from.parent(), to.parent()].into_iter().flatten() {
            sync_dir(parent).map_err(io("sync", parent))?;
        }
        true
    } else {
        false
    };

    // 3. What the old side still holds.
    let mut removed = false;
    for r in renditions {
        let (want, other) = sides(r, &to);
        if want.exists() && other.exists() {
            std::fs::remove_file(&other).map_err(io("remove", &other))?;
            removed = true;
        }
    }
    if removed {
        for dir in [media.join("torrents"), to.clone()] {
            sync_dir(&dir).map_err(io("sync", &dir))?;
        }
    }
    if moved {
        tracing::info!(video = uuid, private = to_private, "video files moved");
    }
    Ok(if moved {
        Relocation::Moved
    } else {
        Relocation::AlreadyThere
    })
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bencode::Value;
    use crate::media::torrent::{create, TorrentSpec};

    const U: &str = "0f5c4e9b-0000-4000-8000-0000000000e2";

    /// A published video's files: master, one fMP4, its torrent (with the public webseed).
    fn published(data: &Path) -> Rendition {
        let media = data.join("media");
        let hls = hls_dir(&media, U, false);
        std::fs::create_dir_all(&hls).unwrap();
        std::fs::create_dir_all(media.join("torrents")).unwrap();
        std::fs::write(hls.join("p-master.m3u8"), "#EXTM3U\n").unwrap();
        std::fs::write(hls.join("p-360-fragmented.mp4"), vec![5u8; 40_000]).unwrap();
        let t = create(
            &hls.join("p-360-fragmented.mp4"),
            &TorrentSpec {
                name: "v 360p.mp4".into(),
                trackers: vec!["ws://h/tracker/socket".into()],
                webseed: hls_file_url("http://h", U, false, "p-360-fragmented.mp4"),
            },
        )
        .unwrap();
        std::fs::write(media.join("torrents/p-360-hls.torrent"), t.bytes).unwrap();
        Rendition {
            media_file: "p-360-fragmented.mp4".into(),
            torrent_file: "p-360-hls.torrent".into(),
        }
    }

    fn url_list(path: &Path) -> Option<Value> {
        Value::decode(&std::fs::read(path).unwrap())
            .unwrap()
            .get("url-list")
            .cloned()
    }

    #[test]
    fn there_and_back_again() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        let media = data.join("media");
        let r = published(data);
        let public_torrent = media.join("torrents/p-360-hls.torrent");
        let before = std::fs::read(&public_torrent).unwrap();
        let rs = std::slice::from_ref(&r);

        assert_eq!(
            relocate(data, "http://h", U, rs, true).unwrap(),
            Relocation::Moved
        );
        let private = hls_dir(&media, U, true);
        assert!(private.join("p-master.m3u8").is_file());
        assert!(!hls_dir(&media, U, false).exists());
        assert!(!public_torrent.exists());
        assert_eq!(url_list(&private.join("p-360-hls.torrent")), None);
        // Again: nothing left to do.
        assert_eq!(
            relocate(data, "http://h", U, rs, true).unwrap(),
            Relocation::AlreadyThere
        );

        assert_eq!(
            relocate(data, "http://h", U, rs, false).unwrap(),
            Relocation::Moved
        );
        assert!(hls_dir(&media, U, false).join("p-master.m3u8").is_file());
        assert!(!private.exists());
        assert!(!hls_dir(&media, U, false).join("p-360-hls.torrent").exists());
        assert_eq!(std::fs::read(&public_torrent).unwrap(), before);
    }

    #[test]
    fn an_interrupted_move_finishes_or_goes_back() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        let media = data.join("media");
        let r = published(data);
        let rs = std::slice::from_ref(&r);
        // Died after step 1 of going private: the private torrent sits in the public directory.
        let bytes = std::fs::read(media.join("torrents/p-360-hls.torrent")).unwrap();
        std::fs::write(
            hls_dir(&media, U, false).join("p-360-hls.torrent"),
            with_webseed(&bytes, None).unwrap(),
        )
        .unwrap();
        // The record still says public: back to public, without the stray copy.
        assert_eq!(
            relocate(data, "http://h", U, rs, false).unwrap(),
            Relocation::AlreadyThere
        );
        assert!(!hls_dir(&media, U, false).join("p-360-hls.torrent").exists());
        assert!(media.join("torrents/p-360-hls.torrent").exists());

        // Died after step 2: the directory is private, the public torrent is still there.
        relocate(data, "http://h", U, rs, true).unwrap();
        std::fs::write(media.join("torrents/p-360-hls.torrent"), &bytes).unwrap();
        assert_eq!(
            relocate(data, "http://h", U, rs, true).unwrap(),
            Relocation::AlreadyThere
        );
        assert!(!media.join("torrents/p-360-hls.torrent").exists());

        // Both directories: refused, nothing touched.
        std::fs::create_dir_all(hls_dir(&media, U, false)).unwrap();
        assert!(matches!(
            relocate(data, "http://h", U, rs, false),
            Err(RelocateError::Conflict { .. })
        ));
        assert!(hls_dir(&media, U, true).join("p-master.m3u8").is_file());
    }

    #[test]
    fn nothing_to_move_before_publication() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            relocate(dir.path(), "http://h", U, &[], true).unwrap(),
            Relocation::NoFiles
        );
    }
}
