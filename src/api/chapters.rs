//! A video's chapters in PeerTube's shape: `GET /api/v1/videos/{id}/chapters`
//! (`{chapters: VideoChapter[]}`) and `PUT` of the whole list by the video's owner, checked as
//! PeerTube checks it (timecodes within the video and unique, titles of 1 to 100 characters).

use super::auth::AuthUser;
use super::error::ApiError;
use super::videos::{find, MaybeUser};
use crate::app::SharedApp;
use crate::store::comments::ChaptersKey;
use crate::store::tables::User;
use crate::store::Durability;
use crate::video::comment::{check_chapters, Chapter};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

/// The chapter routes.
pub fn routes() -> Router<SharedApp> {
    Router::new().route("/api/v1/videos/{id}/chapters", get(list).put(replace))
}

/// `GET /api/v1/videos/{id}/chapters`.
pub async fn list(
    State(app): State<SharedApp>,
    viewer: MaybeUser,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let video = match find(&app, &key)? {
        Some(v) if v.may_see(viewer.0.as_ref().map(User::viewer)) => v,
        _ => return Err(ApiError::not_found(format!("video {key} not found"))),
    };
    let chapters = app.store.get(&ChaptersKey(video.id))?.unwrap_or_default();
    Ok(Json(json!({"chapters": chapters})))
}

#[derive(Debug, Deserialize)]
struct ChaptersBody {
    chapters: Vec<Chapter>,
}

/// `PUT /api/v1/videos/{id}/chapters`.
pub async fn replace(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path(key): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let video = super::videos::changeable(&app, &auth.user, &key)?;
    let body: ChaptersBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "body must be {{\"chapters\": [{{\"timecode\": seconds, \"title\": text}}]}}: {e}"
        ))
    })?;
    let chapters = check_chapters(body.chapters, video.duration).map_err(ApiError::bad_request)?;
    let a = app.clone();
    app.pool
        .run(move || {
            a.store
                .put(&ChaptersKey(video.id), &chapters, Durability::Sync)
        })
        .await??;
    Ok(StatusCode::NO_CONTENT.into_response())
}
