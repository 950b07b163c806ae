//! The end of an upload: the complete file is probed (in a child process, which also draws its
//! miniature and preview), then becomes a video's source and its web video until transcoded
//! ([`super::web_video`]), and the video and its transcode job are registered in one batch.

use super::admission::NewVideo;
use super::{now_secs, UploadError};
use crate::app::SharedApp;
use crate::store::tables::{Sequence, UserKey};
use crate::store::videos::{UploadKey, UploadSession, VideoByUuidKey};
use crate::store::{Batch, Durability};
use crate::video::{Video, VideoState};
use std::path::Path;

/// The name under which a user's uploads and their removal or blocking exclude each other in
/// [`crate::video::locks::VideoLocks`] (no video uuid looks like it).
pub fn owner_lock(user_id: u64) -> String {
    format!("user:{user_id}")
}

/// Probes the complete file at `path` and creates the video and its job; `session` is the
/// resumable session that brought it (its `video_id` is set in the same batch).
///
/// The file becomes the video's source without ever being in neither place: it is hard-linked
/// into `sources/` (under a name derived from the upload's, so a retry reuses it), then one
/// batch writes the video, its job and, for a resumable upload, the session's `video_id`, and
/// only then is the upload's link removed. Killed before the batch, the upload is intact and the
/// client's next query finishes it; killed after, the session answers with the video. (Moving
/// the file first lost the upload, or made a video its client never learned of.) The probe,
/// the link and the fsync'd batch all run on the blocking pool.
pub async fn register_video(
    app: &SharedApp,
    user_id: u64,
    meta: NewVideo,
    path: &Path,
    filename: &str,
    session: Option<&UploadSession>,
) -> Result<Video, UploadError> {
    let (exe, file) = (app.exe.clone(), path.to_path_buf());
    let plan = app.config.transcode.plan_options();
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("upload")
        .to_string();
    let images = app.data_dir.join("tmp").join(format!("{stem}-images"));
    let dir = images.clone();
    let report = app
        .pool
        .run(move || {
            // The prober writes the images here; without them the upload still goes on.
            let made = std::fs::create_dir_all(&dir).is_ok();
            let r = crate::transcode::worker::probe_isolated(
                &exe,
                &file,
                &plan,
                made.then_some(dir.as_path()),
            );
            if r.is_err() {
                let _ = std::fs::remove_dir_all(&dir);
            }
            r
        })
        .await?
        .map_err(|why| {
            // The prober names the staged file by its server path; the client knows it by name.
            let why = why
                .to_string()
                .replace(&path.display().to_string(), filename);
            UploadError::NotAVideo(format!("{filename}: not a usable video: {why}"))
        })?;
    let uuid = uuid::Uuid::new_v4().hyphenated().to_string();
    let ext = Path::new(filename)
        .extension()
        .and_then(|e| e.to_str())
        .filter(|e| e.len() <= 8 && e.chars().all(|c| c.is_ascii_alphanumeric()))
        .map(|e| format!(".{}", e.to_ascii_lowercase()))
        .unwrap_or_default();
    let web_ext = super::web_video::web_video_ext(filename);
    let source = app.data_dir.join("sources").join(format!("{stem}{ext}"));
    let now = now_secs();
    let app2 = app.clone();
    let (from, to) = (path.to_path_buf(), source.clone());
    let original = filename.to_string();
    let session = session.cloned();
    let video = app
        .pool
        .run(move || -> Result<Video, UploadError> {
            // Held until the video is written: removing or blocking a user takes the same lock
            // before it marks them, so either the video is written first (and the removal finds
            // it) or this sees the mark and keeps nothing.
            let _owner = app2.video_locks.lock(&owner_lock(user_id));
            match app2.store.get(&UserKey(user_id))? {
                Some(u) if !u.blocked => {}
                _ => {
                    let _ = std::fs::remove_dir_all(&images);
                    return Err(UploadError::OwnerGone(format!(
                        "user {user_id} was blocked or removed during the upload; it was not kept"
                    )));
                }
            }
            // Left by an attempt killed before its batch.
            let _ = std::fs::remove_file(&to);
            std::fs::hard_link(&from, &to)
                .map_err(|e| UploadError::file("linking the upload into sources", e))?;
            let mut video = Video {
                id: app2.store.next_id(Sequence::Video)?,
                uuid: uuid.clone(),
                name: meta.name,
                description: meta.description,
                channel_id: meta.channel_id,
                owner: user_id,
                privacy: meta.privacy,
                state: VideoState::ToTranscode,
                duration: report.duration,
                aspect_ratio: Some(f64::from(report.width) / f64::from(report.height.max(1))),
                source: Some(to.clone()),
                original_filename: original,
                created_at: now,
                updated_at: now,
                published_at: None,
                hls: None,
                thumbnail: None,
                preview: None,
                storyboard: None,
                error: None,
                remote: None,
                federated_at: None,
                unfederated_at: None,
                comments_policy: Default::default(),
                meta: Default::default(),
                web_videos: Vec::new(),
                source_file: None,
                blacklist: None,
            };
            let placed =
                super::web_video::place(&app2, &mut video, &to, &web_ext, &report, &images);
            let _ = std::fs::remove_dir_all(&images);
            if let Err(e) = placed {
                super::web_video::unplace(&app2, &video);
                let _ = std::fs::remove_file(&to);
                return Err(e);
            }
            let mut batch = Batch::default();
            batch.put_video(&video);
            batch.put(&app2.store, &VideoByUuidKey(uuid.clone()), &video.id)?;
            app2.transcoder
                .queue()
                .enqueue_in(&mut batch, &uuid, to.clone())?;
            if let Some(mut done) = session {
                done.video_id = Some(video.id);
                done.updated_at = now;
                batch.put(&app2.store, &UploadKey(done.id.clone()), &done)?;
            }
            if let Err(e) = app2.store.write(batch, Durability::Sync) {
                super::web_video::unplace(&app2, &video);
                let _ = std::fs::remove_file(&to);
                return Err(e.into());
            }
            let _ = std::fs::remove_file(&from);
            Ok(video)
        })
        .await??;
    super::web_video::spawn_torrent(app, &video);
    app.transcoder.notify();
    tracing::info!(video = %video.uuid, user = user_id, duration = video.duration, "upload accepted; transcode queued");
    Ok(video)
}
