//! Publication of a finished job: the worker's staging outputs move into `media/` (the HLS
//! directory in one atomic rename, so a player never sees half of it), then one atomic batch
//! records the files, the tracker's info-hashes and the video's new state. A video that is
//! private (or internal) when its transcode ends is published straight into the private
//! directory, its torrents with it and without a webseed, and its info-hashes stay off the
//! tracker's allowlist. The video's lock is held throughout, so a privacy change waits for the
//! publication and then moves the files where they are. The same batch ends the upload window:
//! the original web video leaves the record, and its file is then deleted or kept aside. With
//! `transcode.web_videos.enabled` the worker's per-rung web videos and their torrents move in
//! beside the HLS files before that batch, which records them (`files[]`) and allows their
//! info-hashes on the tracker. With object storage on, the video is not published by that batch:
//! it waits in PeerTube's state 6 ("To move to an external storage") with a move queued in the
//! same batch, and is published once its files are all in the bucket (`storage`).

use super::p2p::allowlist;
use super::worker::WorkerResult;
use crate::media::torrent::with_webseed;
use crate::store::videos::{FileKey, InfohashEntry, InfohashKey};
use crate::store::{tables::Sequence, Batch, Durability, Store, StoreError};
use crate::video::files::{hls_dir, web_video_dir, web_video_torrent_path};
use crate::video::locks::VideoLocks;
use crate::video::record::HlsPlaylist;
use crate::video::{SourceFile, VideoFile, VideoState, WebVideoFile};
use std::path::Path;

/// Why a job's outputs could not be published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// A file the worker announced is missing or cannot be moved.
    #[error("publishing {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The store refused the change.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The worker's report does not hold together.
    #[error("the worker's result is inconsistent: {0}")]
    Inconsistent(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PublishError + '_ {
    move |source| PublishError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A safe file name from a worker (no directories, no dot names).
fn plain(name: &str) -> Result<&str, PublishError> {
    if name.is_empty() || name.starts_with('.') || name.contains('/') || name.contains('\0') {
        return Err(PublishError::Inconsistent(format!(
            "bad file name {name:?}"
        )));
    }
    Ok(name)
}

/// What a publication did.
#[derive(Debug, Default)]
pub struct Published {
    /// The upload window's originals, out of the record (and their torrents off the tracker's
    /// allowlist) in the same batch; their files are for [`dispose_originals`].
    pub retired: Vec<WebVideoFile>,
}

/// Publishes the outputs in `staging` of the video `uuid`, ending its upload window. The
/// original it retires is recorded as the video's source (PeerTube's `VideoSource`), as kept
/// when `keep_original` (its file is moved aside by [`dispose_originals`]).
#[allow(clippy::too_many_arguments)]
pub fn publish(
    store: &Store,
    locks: &VideoLocks,
    data_dir: &Path,
    public_url: &str,
    uuid: &str,
    staging: &Path,
    result: &WorkerResult,
    keep_original: bool,
    to_object_storage: bool,
) -> Result<Published, PublishError> {
    let _lock = locks.lock(uuid);
    let Some(mut video) = store.video_by_uuid(uuid)? else {
        return Err(PublishError::Inconsistent(format!(
            "video {uuid} was deleted"
        )));
    };
    let video_id = video.id;
    if result.files.is_empty() {
        return Err(PublishError::Inconsistent("no renditions".into()));
    }
    let hls = staging.join("hls");
    for f in &result.files {
        for name in [&f.media_file, &f.playlist_file] {
            let p = hls.join(plain(name)?);
            std::fs::metadata(&p).map_err(io(&p))?;
        }
    }
    for name in [&result.master, &result.segments_sha256] {
        let p = hls.join(plain(name)?);
        std::fs::metadata(&p).map_err(io(&p))?;
    }
    let web = staging.join("web-videos");
    for w in &result.web_videos {
        if !w.file.starts_with(uuid) || !w.torrent_file.starts_with(uuid) {
            return Err(PublishError::Inconsistent(format!(
                "web video {:?} is not named after video {uuid}",
                w.file
            )));
        }
        for p in [
            web.join(plain(&w.file)?),
            staging.join("torrents").join(plain(&w.torrent_file)?),
        ] {
            std::fs::metadata(&p).map_err(io(&p))?;
        }
    }

    let private = video.files_are_private();
    let media = data_dir.join("media");
    for f in &result.files {
        let from = staging.join("torrents").join(plain(&f.torrent_file)?);
        if private {
            // With the private HLS files, and no public webseed.
            let bytes = std::fs::read(&from).map_err(io(&from))?;
            let bytes = with_webseed(&bytes, None)
                .map_err(|e| PublishError::Inconsistent(format!("{}: {e}", f.torrent_file)))?;
            let to = hls.join(&f.torrent_file);
            std::fs::write(&to, bytes).map_err(io(&to))?;
        } else {
            let to = media.join("torrents").join(&f.torrent_file);
            std::fs::rename(&from, &to).map_err(io(&from))?;
        }
    }
    let mut web_videos = Vec::new();
    // Their names are new to this attempt: if it fails from here on, nothing refers to them.
    let mut placed = Placed(Vec::new());
    if !result.web_videos.is_empty() {
        let dir = web_video_dir(&media, private);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        for w in &result.web_videos {
            let from = staging.join("torrents").join(&w.torrent_file);
            let to = web_video_torrent_path(&media, private, &w.torrent_file);
            if private {
                // Beside the private file, and no public webseed.
                let bytes = std::fs::read(&from).map_err(io(&from))?;
                let bytes = with_webseed(&bytes, None)
                    .map_err(|e| PublishError::Inconsistent(format!("{}: {e}", w.torrent_file)))?;
                std::fs::write(&to, bytes).map_err(io(&to))?;
            } else {
                std::fs::rename(&from, &to).map_err(io(&from))?;
            }
            placed.0.push(to);
            let from = web.join(&w.file);
            std::fs::rename(&from, dir.join(&w.file)).map_err(io(&from))?;
            placed.0.push(dir.join(&w.file));
            web_videos.push(WebVideoFile {
                id: store.next_id(Sequence::File)?,
                resolution: w.resolution,
                width: w.width,
                height: w.height,
                fps: w.fps,
                size: w.size,
                file: w.file.clone(),
                private,
                torrent_file: Some(w.torrent_file.clone()),
                info_hash: Some(w.info_hash.clone()),
                has_audio: w.has_audio,
                original: false,
            });
        }
    }
    let storyboard = result.storyboard.as_ref().map(|s| s.file.clone());
    for (name, dir) in [
        (&result.thumbnail, "thumbnails"),
        (&result.preview, "previews"),
        (&storyboard, "storyboards"),
    ] {
        if let Some(name) = name {
            let from = staging.join("images").join(plain(name)?);
            let to = media.join(dir).join(name);
            std::fs::rename(&from, &to).map_err(io(&from))?;
        }
    }
    let target = hls_dir(&media, uuid, private);
    for leftover in [hls_dir(&media, uuid, false), hls_dir(&media, uuid, true)] {
        if leftover.exists() {
            // Left by an earlier attempt that died between this rename and the store write
            // (on either side, if the privacy changed since).
            let trash = data_dir
                .join("tmp")
                .join(format!("trash-{uuid}-{}", uuid::Uuid::new_v4()));
            std::fs::rename(&leftover, &trash).map_err(io(&leftover))?;
            let _ = std::fs::remove_dir_all(&trash);
        }
    }
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    std::fs::rename(&hls, &target).map_err(io(&hls))?;

    let mut batch = Batch::default();
    for f in &result.files {
        let file = VideoFile {
            id: store.next_id(Sequence::File)?,
            video_id,
            rendition: f.clone(),
        };
        batch.put(
            store,
            &FileKey {
                video_id,
                file_id: file.id,
            },
            &file,
        )?;
        let mut hash = [0u8; 20];
        hex::decode_to_slice(&f.info_hash, &mut hash)
            .map_err(|_| PublishError::Inconsistent(format!("info-hash {:?}", f.info_hash)))?;
    }
    if !private && video.blacklist.is_none() {
        let renditions: Vec<(u32, &str)> = result
            .files
            .iter()
            .map(|f| (f.resolution, f.info_hash.as_str()))
            .collect();
        for (key, entry) in allowlist(public_url, uuid, &result.master, &renditions) {
            batch.put(store, &key, &entry)?;
        }
        for w in &web_videos {
            if let Some(hash) = info_hash_of(w) {
                let entry = InfohashEntry {
                    video_uuid: uuid.to_string(),
                    resolution: w.resolution,
                    scheme: "web-video-torrent".into(),
                };
                batch.put(store, &InfohashKey(hash), &entry)?;
            }
        }
    }
    let now = crate::time::now_secs();
    if to_object_storage {
        // Published once its files are all in the bucket (`storage::Mover`).
        video.state = VideoState::ToMoveToExternalStorage;
        crate::storage::Mover::enqueue_in(
            &mut batch,
            store,
            uuid,
            crate::video::FileStorage::ObjectStorage,
        )?;
    } else {
        video.state = VideoState::Published;
        video.published_at = Some(now);
    }
    video.updated_at = now;
    video.duration = result.duration;
    video.aspect_ratio = Some(result.aspect_ratio);
    video.hls = Some(HlsPlaylist {
        id: video_id,
        master: result.master.clone(),
        segments_sha256: result.segments_sha256.clone(),
        storage: crate::video::FileStorage::FileSystem,
    });
    // The upload window's images give way to the transcode's (kept when it made none).
    let mut replaced = Vec::new();
    for (made, field, dir) in [
        (&result.thumbnail, &mut video.thumbnail, "thumbnails"),
        (&result.preview, &mut video.preview, "previews"),
    ] {
        if made.is_some() {
            if let Some(old) = field.take() {
                replaced.push(media.join(dir).join(old));
            }
            field.clone_from(made);
        }
    }
    if let Some(made) = &result.storyboard {
        if let Some(old) = video.storyboard.replace(made.clone()) {
            replaced.push(media.join("storyboards").join(old.file));
        }
    }
    video.error = None;
    let source = video.source.take();
    let (retired, rest): (Vec<_>, Vec<_>) = video.web_videos.drain(..).partition(|f| f.original);
    video.web_videos = rest;
    video.web_videos.extend(web_videos);
    if let Some(o) = retired.first() {
        video.source_file = Some(SourceFile {
            file: o.file.clone(),
            size: o.size,
            resolution: o.resolution,
            width: o.width,
            height: o.height,
            fps: o.fps,
            kept: keep_original,
            created_at: video.created_at,
        });
    }
    for hash in retired.iter().filter_map(info_hash_of) {
        batch.delete(store, &InfohashKey(hash));
    }
    batch.put_video(&video);
    store.write(batch, Durability::Sync)?;
    placed.0.clear();
    if let Some(source) = source {
        let _ = std::fs::remove_file(source);
    }
    for old in replaced {
        let _ = std::fs::remove_file(old);
    }
    Ok(Published { retired })
}

/// Files a publication put in place, removed again if it fails before its batch is written.
struct Placed(Vec<std::path::PathBuf>);

impl Drop for Placed {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Disposes of the originals a publication retired (see [`publish`]): each file is deleted, or
/// with `keep` moved to `<data_dir>/original-video-files/` (PeerTube's
/// `transcoding.original_file.keep`), and its torrent deleted. Returns the info-hashes their
/// torrents had, for the tracker to forget (their allowlist rows went with the publication).
pub fn dispose_originals(
    data_dir: &Path,
    retired: &[WebVideoFile],
    keep: bool,
) -> Result<Vec<[u8; 20]>, PublishError> {
    let media = data_dir.join("media");
    let mut withdrawn = Vec::new();
    for f in retired {
        let path = web_video_dir(&media, f.private).join(&f.file);
        if keep {
            let dir = data_dir.join("original-video-files");
            std::fs::create_dir_all(&dir).map_err(io(&dir))?;
            std::fs::rename(&path, dir.join(&f.file)).map_err(io(&path))?;
        } else {
            let _ = std::fs::remove_file(&path);
        }
        if let Some(t) = &f.torrent_file {
            let _ = std::fs::remove_file(web_video_torrent_path(&media, f.private, t));
        }
        withdrawn.extend(info_hash_of(f));
    }
    Ok(withdrawn)
}

fn info_hash_of(f: &WebVideoFile) -> Option<[u8; 20]> {
    let mut hash = [0u8; 20];
    hex::decode_to_slice(f.info_hash.as_deref()?, &mut hash).ok()?;
    Some(hash)
}
