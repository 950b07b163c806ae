//! Removing a local video: its transcode stopped, a `Delete` queued for the instances that
//! have it, its records (files, captions, chapters, comments, index entries, tracker allowlist)
//! removed in one batch, then its files. `DELETE /api/v1/videos/{id}` and the removal of a user
//! (`DELETE /api/v1/users/{id}`) both come here.

use super::error::ApiError;
use super::videos::find;
use crate::app::SharedApp;
use crate::store::videos::{FileKey, InfohashEntry, InfohashKey, VideoByUuidKey};
use crate::store::{Batch, Durability};
use crate::video::files::{hls_dir, web_video_dir, web_video_torrent_path};
use crate::video::Video;

/// Removes the local video `video` (whoever may remove it was checked by the caller). Returns
/// once its records are gone and its files deleted.
pub(crate) async fn remove_local(app: &SharedApp, video: Video) -> Result<(), ApiError> {
    let key = video.id.to_string();
    // Stop its transcode: once `cancel` returns, no worker publishes it. It may have just been
    // published, so read it again.
    let (t, uuid) = (app.transcoder.clone(), video.uuid.clone());
    app.pool.run(move || t.cancel(&uuid)).await?;
    let Some(video) = find(app, &key)? else {
        return Ok(());
    };
    if app.config.federation.enabled {
        // Queued before the owner's records could go; delivered after the metadata is gone.
        let (a, v) = (app.clone(), video.clone());
        let n = app
            .pool
            .run(move || crate::federation::outbox::video_deleted(&a, &v))
            .await??;
        tracing::info!(video = %video.uuid, inboxes = n, "federation: Delete queued");
    }
    let files = app.store.video_files(video.id)?;
    let mut batch = Batch::default();
    batch.delete_video(video.id);
    batch.delete(&app.store, &VideoByUuidKey(video.uuid.clone()));
    for f in &files {
        batch.delete(
            &app.store,
            &FileKey {
                video_id: video.id,
                file_id: f.id,
            },
        );
    }
    app.store.forget_video_additions(video.id, &mut batch)?;
    let mut hashes = crate::transcode::p2p::allowlist_of(&app.public_url, &video, &files);
    hashes.extend(web_video_hashes(&video));
    for (key, _) in &hashes {
        batch.delete(&app.store, key);
    }
    let a = app.clone();
    let uuid = video.uuid.clone();
    app.pool
        .run(move || {
            // A privacy change in progress finishes first; its files are then where we look.
            let _lock = a.video_locks.lock(&uuid);
            a.store.write(batch, Durability::Sync)
        })
        .await??;
    let keys: Vec<[u8; 20]> = hashes.iter().map(|(k, _)| k.0).collect();
    app.tracker.allowlist_changed(&keys, true);
    let media = app.data_dir.join("media");
    let mut paths = vec![];
    for f in &files {
        // Public torrents; a private video's are in its private directory.
        paths.push(media.join("torrents").join(&f.rendition.torrent_file));
    }
    for f in &video.web_videos {
        paths.push(web_video_dir(&media, f.private).join(&f.file));
        if let Some(t) = &f.torrent_file {
            paths.push(web_video_torrent_path(&media, f.private, t));
        }
    }
    if let Some(t) = &video.thumbnail {
        paths.push(media.join("thumbnails").join(t));
    }
    if let Some(p) = &video.preview {
        paths.push(media.join("previews").join(p));
    }
    if let Some(s) = &video.storyboard {
        paths.push(media.join("storyboards").join(&s.file));
    }
    if let Some(s) = &video.source {
        paths.push(s.clone());
    }
    if let Some(s) = video.source_file.as_ref().filter(|s| s.kept) {
        paths.push(app.data_dir.join("original-video-files").join(&s.file));
    }
    let dirs = [
        hls_dir(&media, &video.uuid, false),
        hls_dir(&media, &video.uuid, true),
    ];
    let access = app.media_access.clone();
    app.pool
        .run(move || {
            for p in paths {
                let _ = std::fs::remove_file(p);
            }
            for d in dirs {
                let _ = std::fs::remove_dir_all(d);
            }
            access.files_moved();
        })
        .await?;
    Ok(())
}

/// The allowlist rows of a video's web-video torrents.
pub(crate) fn web_video_hashes(video: &Video) -> Vec<(InfohashKey, InfohashEntry)> {
    video
        .web_videos
        .iter()
        .filter_map(|f| {
            let mut hash = [0u8; 20];
            hex::decode_to_slice(f.info_hash.as_deref()?, &mut hash).ok()?;
            Some((
                InfohashKey(hash),
                InfohashEntry {
                    video_uuid: video.uuid.clone(),
                    resolution: f.resolution,
                    scheme: "web-video-torrent".into(),
                },
            ))
        })
        .collect()
}
