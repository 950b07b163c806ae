//! What a local video's privacy change sets in motion, in an order a crash cannot break:
//!
//! 1. under the video's lock (a finished transcode publishing at the same moment waits), its
//!    record is read again and changed;
//! 2. when its files change sides (public or unlisted ↔ private, internal or password
//!    protected), they move (`media::relocate`: torrents, then one directory rename, then
//!    the leftovers), and every shard forgets the file metadata it cached;
//! 3. one batch writes the record and adds or removes the video's info-hashes on the tracker's
//!    allowlist; if it fails, the files move back;
//! 4. the tracker forgets what it cached about those hashes (and drops their swarms when they
//!    were withdrawn);
//! 5. followers get a `Delete` when the video leaves federation, a `Create` when it comes back,
//!    an `Update` otherwise.
//!
//! A crash between 2 and 3 leaves the files on the side the record does not say: [`reconcile`]
//! moves them back at the next start, before any shard serves. A crash between 3 and 5 is
//! caught by the start-up federation pass (`outbox::federate_pending`).

use super::error::ApiError;
use crate::app::App;
use crate::media::relocate::{relocate, Relocation, Rendition};
use crate::store::videos::VideoKey;
use crate::store::{Batch, Durability, StoreError};
use crate::time::now_secs;
use crate::transcode::p2p::allowlist_of;
use crate::uploads::web_video::relocate_web_videos;
use crate::video::Privacy;
use crate::video::Video;

/// The fields `PUT /api/v1/videos/{id}` may change, already checked.
#[derive(Debug, Default, Clone)]
pub struct VideoChange {
    /// New title.
    pub name: Option<String>,
    /// New description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
    /// New privacy.
    pub privacy: Option<Privacy>,
    /// New comments policy.
    pub comments_policy: Option<crate::video::CommentsPolicy>,
    /// New category (`Some(None)` clears it).
    pub category: Option<Option<u32>>,
    /// New licence (`Some(None)` clears it).
    pub licence: Option<Option<u32>>,
    /// New language (`Some(None)` clears it).
    pub language: Option<Option<String>>,
    /// New tags.
    pub tags: Option<Vec<String>>,
    /// New NSFW flag.
    pub nsfw: Option<bool>,
    /// New original publication time (`Some(None)` clears it).
    pub originally_published_at: Option<Option<u64>>,
}

/// Applies `change` to the local video `video_id`, with everything that follows from it. Runs
/// on a blocking thread (it takes the video's lock and does file and RocksDB I/O).
pub fn apply(app: &App, video_id: u64, change: VideoChange) -> Result<(), ApiError> {
    let gone = || ApiError::not_found(format!("video {video_id} not found"));
    let uuid = app.store.get(&VideoKey(video_id))?.ok_or_else(gone)?.uuid;
    let _lock = app.video_locks.lock(&uuid);
    let mut video: Video = app.store.get(&VideoKey(video_id))?.ok_or_else(gone)?;
    let was_private = video.files_are_private();
    if let Some(name) = change.name {
        video.name = name;
    }
    if let Some(description) = change.description {
        video.description = description;
    }
    if let Some(p) = change.privacy {
        video.privacy = p;
    }
    if let Some(p) = change.comments_policy {
        video.comments_policy = p;
    }
    let m = &mut video.meta;
    if let Some(c) = change.category {
        m.category = c;
    }
    if let Some(l) = change.licence {
        m.licence = l;
    }
    if let Some(l) = change.language {
        m.language = l;
    }
    if let Some(t) = change.tags {
        m.tags = t;
    }
    if let Some(n) = change.nsfw {
        m.nsfw = n;
    }
    if let Some(o) = change.originally_published_at {
        m.originally_published_at = o;
    }
    video.updated_at = now_secs().max(video.updated_at + 1);
    let to_private = video.files_are_private();
    let moving = was_private != to_private && video.remote.is_none();

    // The upload window's web videos (moved back below if the record cannot be written).
    let mut web_rows = Vec::new();
    if moving && !video.web_videos.is_empty() {
        web_rows = relocate_web_videos(app, &mut video, to_private).map_err(|e| {
            let mut back = video.clone();
            let _ = relocate_web_videos(app, &mut back, was_private);
            app.media_access.files_moved();
            ApiError::internal("moving the video's web videos", e)
        })?;
        app.media_access.files_moved();
    }
    let files = if moving {
        app.store.video_files(video_id)?
    } else {
        Vec::new()
    };
    let renditions: Vec<Rendition> = files.iter().map(Rendition::from).collect();
    // Files in the object storage move there (objects to their new keys, torrents on disk).
    let in_bucket = video
        .hls
        .as_ref()
        .is_some_and(|h| h.storage == crate::video::FileStorage::ObjectStorage);
    let move_files = |private: bool| -> Result<(), String> {
        let r = if in_bucket {
            app.storage_moves
                .relocate_in_bucket(&video.uuid, &files, private)
                .map_err(|e| e.to_string())
        } else {
            relocate(
                &app.data_dir,
                &app.public_url,
                &video.uuid,
                &renditions,
                private,
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
        };
        app.media_access.files_moved();
        r
    };
    if moving {
        if let Err(e) = move_files(to_private) {
            tracing::error!(video = %video.uuid, error = %e, "cannot move the video's files; moving them back");
            if let Err(back) = move_files(was_private) {
                tracing::error!(video = %video.uuid, error = %back, "cannot move the files back either; the next start puts them where the record says");
            }
            let _ = relocate_web_videos(app, &mut video.clone(), was_private);
            return Err(ApiError::internal("moving the video's files", e));
        }
    }

    let mut hashes = if moving {
        allowlist_of(&app.public_url, &video, &files)
    } else {
        Vec::new()
    };
    hashes.extend(web_rows);
    let mut batch = Batch::default();
    batch.put_video(&video);
    // A blocked video's hashes stay off the allowlist wherever its files go.
    let withdrawn = !video.is_shared();
    for (key, entry) in &hashes {
        if withdrawn {
            batch.delete(&app.store, key);
        } else {
            batch.put(&app.store, key, entry)?;
        }
    }
    if let Err(e) = app.store.write(batch, Durability::Sync) {
        if moving {
            if let Err(back) = move_files(was_private) {
                tracing::error!(video = %video.uuid, error = %back, "cannot move the files back after a failed write; the next start puts them where the record says");
            }
            let _ = relocate_web_videos(app, &mut video.clone(), was_private);
        }
        return Err(e.into());
    }
    if moving {
        let keys: Vec<[u8; 20]> = hashes.iter().map(|(k, _)| k.0).collect();
        app.tracker.allowlist_changed(&keys, withdrawn);
        tracing::info!(video = %video.uuid, privacy = video.privacy.id(), private_files = to_private, "video privacy changed");
    }

    if app.config.federation.enabled && video.remote.is_none() {
        let (kind, n) = if !video.is_federated() {
            (
                "Delete",
                crate::federation::outbox::withdraw_locked(app, video_id)?,
            )
        } else if video.federated_at.is_some() {
            (
                "Update",
                crate::federation::outbox::video_updated(app, &video)?,
            )
        } else {
            (
                "Create",
                crate::federation::outbox::announce_locked(app, video_id)?,
            )
        };
        if n > 0 {
            tracing::info!(video = %video.uuid, inboxes = n, activity = kind, "federation: queued");
        }
    }
    Ok(())
}

/// At start, before any shard serves: every local video's files go where its privacy says
/// (finishing or undoing a move a crash interrupted, and moving the files of videos made private
/// before Fleuve moved files), and private videos' info-hashes leave the tracker's allowlist.
/// Returns how many videos' files moved. A video whose files cannot be moved is logged and
/// left as it is.
pub fn reconcile(app: &App) -> Result<usize, StoreError> {
    let mut moved = 0;
    for (_, video) in app.store.scan::<VideoKey>(&())? {
        if video.remote.is_some() || video.hls.is_none() {
            continue;
        }
        let private = video.files_are_private();
        let files = app.store.video_files(video.id)?;
        let renditions: Vec<Rendition> = files.iter().map(Rendition::from).collect();
        let in_bucket = video
            .hls
            .as_ref()
            .is_some_and(|h| h.storage == crate::video::FileStorage::ObjectStorage);
        // Object-stored files move with the privacy change itself (`storage`).
        let relocated = if in_bucket {
            Ok(Relocation::NoFiles)
        } else {
            relocate(
                &app.data_dir,
                &app.public_url,
                &video.uuid,
                &renditions,
                private,
            )
        };
        match relocated {
            Ok(Relocation::Moved) => {
                tracing::warn!(video = %video.uuid, private, "video files were not where its privacy says; moved");
                moved += 1;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(video = %video.uuid, error = %e, "cannot put the video's files where its privacy says")
            }
        }
        if private {
            let mut batch = Batch::default();
            for (key, _) in allowlist_of(&app.public_url, &video, &files) {
                if app.store.get(&key)?.is_some() {
                    batch.delete(&app.store, &key);
                }
            }
            if !batch.is_empty() {
                tracing::warn!(video = %video.uuid, hashes = batch.len(), "private video's info-hashes were on the tracker's allowlist; removed");
                app.store.write(batch, Durability::Sync)?;
            }
        }
    }
    if moved > 0 {
        app.media_access.files_moved();
    }
    Ok(moved)
}
