//! `GET /api/v1/videos/{id}/metadata/{fileId}`: a file's metadata in the shape of ffprobe's
//! output (PeerTube's `VideoFileMetadata`: `streams`, `format`, `chapters`), built from what the
//! transcoder recorded about the rendition. Each file's `metadataUrl` points here.

use super::error::ApiError;
use super::videos::{find, MaybeUser};
use crate::app::SharedApp;
use crate::store::tables::User;
use crate::video::{Video, VideoFile};
use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

/// The `metadataUrl` of a local file.
pub fn url(public_url: &str, video: &Video, file: &VideoFile) -> String {
    format!(
        "{public_url}/api/v1/videos/{}/metadata/{}",
        video.uuid, file.id
    )
}

/// The codec name ffprobe reports for what `encoder` produces.
fn codec_of(encoder: &str) -> &'static str {
    let e = encoder.to_ascii_lowercase();
    if e.contains("265") || e.contains("hevc") {
        "hevc"
    } else if e.contains("av1") {
        "av1"
    } else {
        "h264"
    }
}

/// The metadata document of `file`.
fn metadata_json(video: &Video, file: &VideoFile) -> Value {
    let r = &file.rendition;
    let mut streams = vec![json!({
        "index": 0,
        "codec_type": "video",
        "codec_name": codec_of(&r.encoder),
        "width": r.width,
        "height": r.height,
        "r_frame_rate": format!("{}/1", r.fps),
        "avg_frame_rate": format!("{}/1", r.fps),
    })];
    if r.has_audio {
        streams.push(json!({"index": 1, "codec_type": "audio", "codec_name": "aac"}));
    }
    let bit_rate = if video.duration > 0.0 {
        (r.size as f64 * 8.0 / video.duration).round() as u64
    } else {
        0
    };
    json!({
        "streams": streams,
        "format": {
            "filename": r.media_file,
            "nb_streams": streams.len(),
            "format_name": "mov,mp4,m4a,3gp,3g2,mj2",
            "duration": video.duration,
            "size": r.size,
            "bit_rate": bit_rate,
        },
        "chapters": [],
    })
}

/// `GET /api/v1/videos/{id}/metadata/{fileId}`: for whoever may see the video.
pub async fn get(
    State(app): State<SharedApp>,
    viewer: MaybeUser,
    Path((key, file_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let video = match find(&app, &key)? {
        Some(v) if v.may_see(viewer.0.as_ref().map(User::viewer)) && v.is_local() => v,
        _ => return Err(ApiError::not_found(format!("video {key} not found"))),
    };
    let id: u64 = file_id.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "fileId must be a file id, a non-negative integer (got {file_id:?})"
        ))
    })?;
    let files = app.store.video_files(video.id)?;
    if let Some(file) = files.iter().find(|f| f.id == id) {
        return Ok(Json(metadata_json(&video, file)));
    }
    // A web-video file (the original during the upload window).
    if let Some(w) = video.web_videos.iter().find(|w| w.id == id) {
        return Ok(Json(web_video_metadata_json(&video, w)));
    }
    Err(ApiError::not_found(format!("video {key} has no file {id}")))
}

/// The metadata document of a web-video file: its picture size, rate and audio as the probe
/// found them (the codecs of an original are whatever was uploaded, not recorded).
fn web_video_metadata_json(video: &Video, w: &crate::video::WebVideoFile) -> Value {
    let mut streams = vec![json!({
        "index": 0,
        "codec_type": "video",
        "width": w.width,
        "height": w.height,
        "r_frame_rate": format!("{}/1", w.fps),
        "avg_frame_rate": format!("{}/1", w.fps),
    })];
    if w.has_audio {
        streams.push(json!({"index": 1, "codec_type": "audio"}));
    }
    let bit_rate = if video.duration > 0.0 {
        (w.size as f64 * 8.0 / video.duration).round() as u64
    } else {
        0
    };
    json!({
        "streams": streams,
        "format": {
            "filename": w.file,
            "nb_streams": streams.len(),
            "duration": video.duration,
            "size": w.size,
            "bit_rate": bit_rate,
        },
        "chapters": [],
    })
}
