//! A local video's uploaded file, for those who manage the video (its owner, and moderators
//! and administrators with PeerTube's `UPDATE_ANY_VIDEO`): `GET /api/v1/videos/{id}/source`
//! describes it (PeerTube's `VideoSource`), and `/download/original-video-files/<file>` serves
//! it with ranges when `transcode.original_file.keep` kept it. Video file tokens do not open
//! it: they are bound to a video, not to a user, and any viewer of a public video may get one.

use super::auth::AuthUser;
use super::error::ApiError;
use crate::app::SharedApp;
use crate::media::range::{parse_range, ByteRange};
use crate::store::tables::Right;
use crate::time::iso8601;
use crate::video::Video;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde_json::{json, Value};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

/// URL prefix of kept originals (PeerTube's `DOWNLOAD_PATHS.ORIGINAL_VIDEO_FILE`).
pub const ORIGINAL_DOWNLOAD_PREFIX: &str = "/download/original-video-files/";

/// Bytes read per piece of a download (on the blocking pool, one piece at a time).
const PIECE: u64 = 256 * 1024;

/// The source endpoint and the original's download.
pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route("/api/v1/videos/{id}/source", get(source))
        .route("/download/original-video-files/{file}", get(download))
}

/// Whether `auth` manages `video`: its owner, or a role that updates any video.
fn manages(auth: &AuthUser, video: &Video) -> bool {
    auth.user.id == video.owner || auth.user.role.has(Right::UpdateAnyVideo)
}

/// The local video `key` if `auth` manages it: 404 when there is no such local video, 403
/// when it is another user's, as PeerTube answers (its validator checks the right to manage
/// the video, not whether the caller may see it).
fn managed(auth: &AuthUser, key: &str, video: Option<Video>) -> Result<Video, ApiError> {
    let video = video
        .filter(|v| v.remote.is_none())
        .ok_or_else(|| ApiError::not_found(format!("video {key} not found")))?;
    if !manages(auth, &video) {
        return Err(ApiError::forbidden(format!(
            "user {:?} cannot manage video {key} of another user",
            auth.user.username
        )));
    }
    Ok(video)
}

/// PeerTube's `VideoSource` of a local video, with `public_url` for the download's URL.
pub fn source_json(public_url: &str, video: &Video) -> Value {
    let mut v = json!({
        "inputFilename": video.original_filename,
        "fileDownloadUrl": Value::Null,
        "createdAt": iso8601(video.created_at),
    });
    let described = video
        .source_file
        .as_ref()
        .map(|s| (s.resolution, s.size, s.width, s.height, s.fps))
        .or_else(|| {
            // In the upload window the original is still a web video.
            video
                .web_videos
                .iter()
                .find(|f| f.original)
                .map(|f| (f.resolution, f.size, f.width, f.height, f.fps))
        });
    if let Some((resolution, size, width, height, fps)) = described {
        v["resolution"] = json!({"id": resolution, "label": format!("{resolution}p")});
        v["size"] = json!(size);
        v["width"] = json!(width);
        v["height"] = json!(height);
        v["fps"] = json!(fps);
    }
    if let Some(s) = video.source_file.as_ref().filter(|s| s.kept) {
        v["fileDownloadUrl"] = json!(format!(
            "{}{ORIGINAL_DOWNLOAD_PREFIX}{}",
            public_url.trim_end_matches('/'),
            s.file
        ));
    }
    v
}

/// `GET /api/v1/videos/{id}/source`.
async fn source(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let a = app.clone();
    let k = key.clone();
    let found = app.pool.run(move || super::videos::find(&a, &k)).await??;
    let video = managed(&auth, &key, found)?;
    Ok(Json(source_json(&app.public_url, &video)))
}

/// The video uuid a kept original's name starts with (`<uuid>-…`), if the name is a plain one.
fn owner_uuid(file: &str) -> Option<&str> {
    let plain = !file.is_empty()
        && !file.starts_with('.')
        && !file.contains(['/', '\\', '\0'])
        && file.len() <= 255;
    let uuid = file.get(..36).filter(|_| plain)?;
    (file.as_bytes().get(36) == Some(&b'-') && uuid::Uuid::parse_str(uuid).is_ok()).then_some(uuid)
}

/// `GET /download/original-video-files/<file>`: the kept original, with ranges, for those who
/// manage its video.
async fn download(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let missing = || ApiError::not_found(format!("original video file {file:?} not found"));
    let uuid = owner_uuid(&file).ok_or_else(missing)?.to_string();
    let a = app.clone();
    let found = app.pool.run(move || a.store.video_by_uuid(&uuid)).await??;
    let video = managed(&auth, &file, found)?;
    if !video
        .source_file
        .as_ref()
        .is_some_and(|s| s.kept && s.file == file)
    {
        return Err(missing());
    }
    let path = app.data_dir.join("original-video-files").join(&file);
    let opened = app
        .pool
        .run(move || {
            let f = std::fs::File::open(&path)?;
            let size = f.metadata()?.len();
            Ok::<_, std::io::Error>((f, size))
        })
        .await?;
    let (f, size) = match opened {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(missing()),
        Err(e) => return Err(ApiError::internal("reading the original video file", e)),
    };
    let range = headers
        .get(header::RANGE)
        .map_or(ByteRange::Full, |r| parse_range(r.as_bytes(), size));
    let (status, start, end) = match range {
        ByteRange::Full => (StatusCode::OK, 0, size),
        ByteRange::Partial { start, end } => (StatusCode::PARTIAL_CONTENT, start, end + 1),
        ByteRange::Unsatisfiable => {
            let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(r);
        }
    };
    let mut resp = Response::new(pieces(app.clone(), Arc::new(f), start, end));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    let content_type = if file.ends_with(".mp4") || file.ends_with(".m4v") {
        "video/mp4"
    } else {
        "application/octet-stream"
    };
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    if let Ok(v) = HeaderValue::from_str(&(end - start).to_string()) {
        h.insert(header::CONTENT_LENGTH, v);
    }
    if status == StatusCode::PARTIAL_CONTENT {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{size}", end - 1)) {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// Bytes `start..end` of `file`, read one piece at a time on the blocking pool as the client
/// takes them (a slow client holds no pool thread).
pub(crate) fn pieces(app: SharedApp, file: Arc<std::fs::File>, start: u64, end: u64) -> Body {
    let stream = futures_util::stream::unfold(start, move |at| {
        let (app, file) = (app.clone(), file.clone());
        async move {
            if at >= end {
                return None;
            }
            let n = (end - at).min(PIECE);
            let read = app
                .pool
                .run(move || {
                    let mut buf = vec![0u8; n as usize];
                    file.read_exact_at(&mut buf, at).map(|()| Bytes::from(buf))
                })
                .await
                .unwrap_or_else(|_| Err(std::io::Error::other("the blocking pool stopped")));
            Some(match read {
                Ok(bytes) => (Ok(bytes), at + n),
                Err(e) => (Err(e), end),
            })
        }
    });
    Body::from_stream(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_of_a_video_are_looked_up() {
        let u = "0f5c4e9b-0000-4000-8000-0000000000e2";
        assert_eq!(owner_uuid(&format!("{u}-720.mp4")), Some(u));
        for bad in [
            String::new(),
            format!("{u}.mp4"),
            format!("{u}-../x"),
            format!("../{u}-720.mp4"),
            "not-a-uuid-at-all-not-a-uuid-at-all-1.mp4".to_string(),
            format!("{u}-{}", "x".repeat(300)),
        ] {
            assert_eq!(owner_uuid(&bad), None, "{bad}");
        }
    }

    #[test]
    fn the_source_says_where_the_kept_file_is() {
        let mut v = Video::example(1, "n", 5);
        v.original_filename = "clip.mp4".into();
        let doc = source_json("https://h/", &v);
        assert_eq!(doc["inputFilename"], "clip.mp4");
        assert!(doc["fileDownloadUrl"].is_null());
        assert!(doc.get("resolution").is_none());
        v.source_file = Some(crate::video::SourceFile {
            file: format!("{}-240.mp4", v.uuid),
            size: 9,
            resolution: 240,
            width: 320,
            height: 240,
            fps: 25,
            kept: true,
            created_at: 5,
        });
        let doc = source_json("https://h/", &v);
        assert_eq!(
            doc["fileDownloadUrl"],
            format!("https://h/download/original-video-files/{}-240.mp4", v.uuid)
        );
        assert_eq!(doc["resolution"]["label"], "240p");
        assert_eq!(
            (doc["size"].as_u64(), doc["fps"].as_u64()),
            (Some(9), Some(25))
        );
    }
}
