//! The upload window, as PeerTube has it: from the moment an upload is accepted until its
//! transcode ends, the video plays from its original, a web-video file
//! (`web-videos/[private/]<uuid>-<resolution><ext>`, a hard link to the source) with a miniature
//! and a preview (decoded by the upload prober's child process) and, moments later, a torrent
//! whose info-hash the tracker accepts.
//!
//! The file and the images are in the same batch as the video ([`place`]), so the upload's
//! answer already lists them; the torrent, which hashes the whole file, is made after the
//! answer on the blocking pool ([`spawn_torrent`]) and recorded under the video's lock, as
//! PeerTube's clients expect (`peertube-cli` polls until `files[0].torrentUrl` is set). The
//! transcode's publication retires the original (`transcode::publish`). A privacy change in the
//! window moves the file and its torrent between the public and private sides
//! ([`relocate_web_videos`]).

use super::UploadError;
use crate::app::{App, SharedApp};
use crate::media::torrent::{create, with_webseed, TorrentSpec};
use crate::store::tables::Sequence;
use crate::store::videos::{InfohashEntry, InfohashKey, VideoKey};
use crate::store::{Batch, Durability};
use crate::transcode::worker::ProbeReport;
use crate::video::files::{web_video_dir, web_video_torrent_path};
use crate::video::urls::tracker_urls;
use crate::video::{Video, WebVideoFile};
use std::path::Path;

/// The extension a web video keeps: the upload's, when it is a plain one, else `.mp4`.
pub fn web_video_ext(filename: &str) -> String {
    Path::new(filename)
        .extension()
        .and_then(|e| e.to_str())
        .filter(|e| e.len() <= 8 && e.chars().all(|c| c.is_ascii_alphanumeric()))
        .map(|e| format!(".{}", e.to_ascii_lowercase()))
        .unwrap_or_else(|| ".mp4".into())
}

/// Makes `source` the web video of `video` (a hard link beside the public or private web
/// videos) and moves the prober's images from `images` (when it wrote them) to the thumbnails
/// and previews; `video` gets the records. Runs on the blocking pool, before the video's batch:
/// what it makes is removed again by [`unplace`] if that batch fails.
pub fn place(
    app: &App,
    video: &mut Video,
    source: &Path,
    ext: &str,
    report: &ProbeReport,
    images: &Path,
) -> Result<(), UploadError> {
    let media = app.data_dir.join("media");
    let private = video.files_are_private();
    let resolution = report.width.min(report.height);
    let file = format!("{}-{resolution}{ext}", video.uuid);
    let dir = web_video_dir(&media, private);
    std::fs::create_dir_all(&dir).map_err(|e| UploadError::file("creating web-videos", e))?;
    let to = dir.join(&file);
    let _ = std::fs::remove_file(&to);
    std::fs::hard_link(source, &to)
        .map_err(|e| UploadError::file("linking the upload into web-videos", e))?;
    let size = std::fs::metadata(&to)
        .map_err(|e| UploadError::file("reading the web video's size", e))?
        .len();
    video.web_videos = vec![WebVideoFile {
        id: app.store.next_id(Sequence::File)?,
        resolution,
        width: report.width,
        height: report.height,
        fps: report.fps.round().clamp(0.0, 1000.0) as u32,
        size,
        file,
        private,
        torrent_file: None,
        info_hash: None,
        has_audio: report.has_audio,
        original: true,
    }];
    if report.images {
        let name = format!("{}.jpg", uuid::Uuid::new_v4());
        for (from, dir, field) in [
            ("thumbnail.jpg", "thumbnails", &mut video.thumbnail),
            ("preview.jpg", "previews", &mut video.preview),
        ] {
            let to = media.join(dir).join(&name);
            if std::fs::rename(images.join(from), &to).is_ok() {
                *field = Some(name.clone());
            }
        }
    }
    Ok(())
}

/// Removes what [`place`] made for `video` (its batch failed).
pub fn unplace(app: &App, video: &Video) {
    let media = app.data_dir.join("media");
    for f in &video.web_videos {
        let _ = std::fs::remove_file(web_video_dir(&media, f.private).join(&f.file));
    }
    if let Some(t) = &video.thumbnail {
        let _ = std::fs::remove_file(media.join("thumbnails").join(t));
    }
    if let Some(p) = &video.preview {
        let _ = std::fs::remove_file(media.join("previews").join(p));
    }
}

/// Makes the torrents of `video`'s web videos on the blocking pool, after the upload's answer.
pub fn spawn_torrent(app: &SharedApp, video: &Video) {
    if video.web_videos.is_empty() {
        return;
    }
    let (app, uuid) = (app.clone(), video.uuid.clone());
    app.clone().pool.spawn(move || {
        if let Err(e) = make_torrents(&app, &uuid) {
            tracing::warn!(video = %uuid, error = %e, "web video torrent not made");
        }
    });
}

/// At start: the torrents a stop interrupted (made after the upload's answer, so a restart can
/// come first) are made again, on the blocking pool. Returns how many videos need one.
pub fn resume_torrents(app: &SharedApp) -> Result<usize, crate::store::StoreError> {
    let mut n = 0;
    for (_, video) in app.store.scan::<VideoKey>(&())? {
        if video.web_videos.iter().any(|f| f.torrent_file.is_none()) {
            spawn_torrent(app, &video);
            n += 1;
        }
    }
    Ok(n)
}

/// Hashes each web video of the video `uuid` that has no torrent yet, writes the torrent, and
/// records it, with its info-hash on the tracker's allowlist while the file is public. A file
/// that went away meanwhile (transcode ended, video deleted) keeps no torrent.
pub fn make_torrents(app: &App, uuid: &str) -> Result<usize, UploadError> {
    let Some(video) = app.store.video_by_uuid(uuid)? else {
        return Ok(0);
    };
    let media = app.data_dir.join("media");
    let urls = app.file_urls(&video);
    let mut made = Vec::new();
    for f in video.web_videos.iter().filter(|f| f.torrent_file.is_none()) {
        let path = web_video_dir(&media, f.private).join(&f.file);
        let ext = Path::new(&f.file)
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("mp4");
        let spec = TorrentSpec {
            name: format!(
                "{} {}p.{ext}",
                crate::media::torrent::safe_name(&video.name),
                f.resolution
            ),
            trackers: tracker_urls(&app.public_url),
            webseed: if f.private {
                String::new()
            } else {
                urls.web_video(f)
            },
        };
        let torrent =
            create(&path, &spec).map_err(|e| UploadError::file("hashing the web video", e))?;
        let name = format!("{}-{}.torrent", video.uuid, f.resolution);
        let to = web_video_torrent_path(&media, f.private, &name);
        let tmp = to.with_extension("torrent.tmp");
        std::fs::write(&tmp, &torrent.bytes)
            .and_then(|()| std::fs::rename(&tmp, &to))
            .map_err(|e| UploadError::file("writing the web video's torrent", e))?;
        made.push((f.id, f.private, name, to, torrent.info_hash));
    }
    if made.is_empty() {
        return Ok(0);
    }
    let lock = app.video_locks.lock(uuid);
    let current = app.store.video_by_uuid(uuid)?;
    let Some(mut current) = current.filter(|v| v.id == video.id) else {
        for (_, _, _, path, _) in &made {
            let _ = std::fs::remove_file(path);
        }
        return Ok(0);
    };
    let mut batch = Batch::default();
    let mut allowed = Vec::new();
    let (mut recorded, mut moved) = (0, false);
    for (id, private, name, path, hash) in made {
        let Some(f) = current.web_videos.iter_mut().find(|f| f.id == id) else {
            // Retired while it was hashed.
            let _ = std::fs::remove_file(path);
            continue;
        };
        if f.private != private {
            // Its privacy changed while it was hashed: made again on the right side below.
            let _ = std::fs::remove_file(path);
            moved = true;
            continue;
        }
        f.torrent_file = Some(name);
        f.info_hash = Some(hex::encode(hash));
        recorded += 1;
        if !f.private {
            batch.put(
                &app.store,
                &InfohashKey(hash),
                &InfohashEntry {
                    video_uuid: uuid.to_string(),
                    resolution: f.resolution,
                    scheme: "web-video-torrent".into(),
                },
            )?;
            allowed.push(hash);
        }
    }
    batch.put_video(&current);
    app.store.write(batch, Durability::Sync)?;
    drop(lock);
    app.tracker.allowlist_changed(&allowed, false);
    tracing::info!(video = %uuid, torrents = recorded, "web video torrents made");
    if moved {
        return Ok(recorded + make_torrents(app, uuid)?);
    }
    Ok(recorded)
}

/// Moves `video`'s web videos that are not on the `to_private` side there (the file, and its
/// torrent rewritten without a webseed for the private side, with its public URL for the
/// public one; the info-hash does not change) and sets their records. Returns the allowlist rows
/// of their torrents, for the caller's batch to add (public) or remove (private).
pub fn relocate_web_videos(
    app: &App,
    video: &mut Video,
    to_private: bool,
) -> Result<Vec<(InfohashKey, InfohashEntry)>, std::io::Error> {
    let media = app.data_dir.join("media");
    let base = app.public_url.trim_end_matches('/');
    let mut rows = Vec::new();
    for f in video.web_videos.iter_mut() {
        if f.private != to_private {
            let dir = web_video_dir(&media, to_private);
            std::fs::create_dir_all(&dir)?;
            let from = web_video_dir(&media, f.private).join(&f.file);
            std::fs::rename(&from, dir.join(&f.file))?;
            if let Some(t) = &f.torrent_file {
                let old = web_video_torrent_path(&media, f.private, t);
                let new = web_video_torrent_path(&media, to_private, t);
                let webseed = format!("{base}/static/web-videos/{}", f.file);
                let bytes = std::fs::read(&old)?;
                let bytes = with_webseed(&bytes, (!to_private).then_some(webseed.as_str()))
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
                let tmp = new.with_extension("torrent.tmp");
                std::fs::write(&tmp, bytes)?;
                std::fs::rename(&tmp, &new)?;
                std::fs::remove_file(&old)?;
            }
            f.private = to_private;
        }
        let mut hash = [0u8; 20];
        if let Some(h) = &f.info_hash {
            if hex::decode_to_slice(h, &mut hash).is_ok() {
                rows.push((
                    InfohashKey(hash),
                    InfohashEntry {
                        video_uuid: video.uuid.clone(),
                        resolution: f.resolution,
                        scheme: "web-video-torrent".into(),
                    },
                ));
            }
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_peertube() {
        assert_eq!(web_video_ext("clip.WebM"), ".webm");
        assert_eq!(web_video_ext("clip"), ".mp4");
        assert_eq!(web_video_ext("clip.a b"), ".mp4");
        assert_eq!(crate::media::torrent::safe_name("a/b: c?"), "a-b- c-");
    }
}
