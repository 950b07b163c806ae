//! A video's storyboards in PeerTube's shape: `GET /api/v1/videos/{id}/storyboards`
//! (`{storyboards: Storyboard[]}`, at most one, empty for videos under 3 s or not yet
//! transcoded), seen by whoever may see the video. The sprite sheet is made by the transcoder
//! (`transcode::storyboard`) and served at PeerTube's `/lazy-static/storyboards/<file>`; a
//! remote video's is the one its `Video` object's `preview` named, on its origin.

use super::error::ApiError;
use super::videos::{find, MaybeUser};
use crate::app::{App, SharedApp};
use crate::store::tables::User;
use crate::video::urls::{storyboard_path, PublicUrls};
use crate::video::{Storyboard, Video};
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

/// The storyboard route.
pub fn routes() -> Router<SharedApp> {
    Router::new().route("/api/v1/videos/{id}/storyboards", get(list))
}

/// `GET /api/v1/videos/{id}/storyboards`.
pub async fn list(
    State(app): State<SharedApp>,
    viewer: MaybeUser,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let video = match find(&app, &key)? {
        Some(v) if v.may_see(viewer.0.as_ref().map(User::viewer)) => v,
        _ => return Err(ApiError::not_found(format!("video {key} not found"))),
    };
    let list: Vec<Value> = storyboard_of(&video)
        .map(|(s, local)| storyboard_json(&app, s, local))
        .into_iter()
        .collect();
    Ok(Json(json!({ "storyboards": list })))
}

/// The video's storyboard, and whether it is ours (its `file` a name in `media/storyboards/`)
/// or a remote one (its `file` a URL on the origin).
fn storyboard_of(video: &Video) -> Option<(&Storyboard, bool)> {
    match &video.remote {
        Some(r) => r.storyboard.as_ref().map(|s| (s, false)),
        None => video.storyboard.as_ref().map(|s| (s, true)),
    }
}

/// PeerTube's `Storyboard`.
fn storyboard_json(app: &App, s: &Storyboard, local: bool) -> Value {
    let (path, url) = if local {
        (
            storyboard_path(&s.file),
            PublicUrls::new(&app.public_url).storyboard(&s.file),
        )
    } else {
        // Where the origin serves it (PeerTube would proxy it at the same path; we link to it).
        let path = s
            .file
            .split_once("://")
            .and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].to_string()))
            .unwrap_or_default();
        (path, s.file.clone())
    };
    json!({
        "storyboardPath": path,
        "fileUrl": url,
        "totalHeight": s.total_height,
        "totalWidth": s.total_width,
        "spriteHeight": s.sprite_height,
        "spriteWidth": s.sprite_width,
        "spriteDuration": s.sprite_duration,
    })
}
