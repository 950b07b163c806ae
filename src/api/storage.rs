//! Where videos' files are kept (admin only): `POST /api/v1/admin/storage/moves` queues durable
//! moves between the disk and the object storage (PeerTube does this with its
//! `create-move-video-storage-job` script; `fleuve storage move` calls this), and
//! `GET /api/v1/admin/storage/moves` shows how far they are, with the object storage's health.

use super::auth::AdminUser;
use super::error::ApiError;
use crate::app::{App, SharedApp};
use crate::video::{FileStorage, VideoRef};
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

/// The routes.
pub fn routes() -> Router<SharedApp> {
    Router::new().route("/api/v1/admin/storage/moves", get(status).post(queue))
}

/// `POST` body: where to, and one video (`videoId`: id, uuid or short uuid) or `all`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MoveBody {
    to: String,
    #[serde(default)]
    video_id: Option<Value>,
    #[serde(default)]
    all: bool,
}

async fn queue(
    State(app): State<SharedApp>,
    _admin: AdminUser,
    Json(body): Json<MoveBody>,
) -> Result<Json<Value>, ApiError> {
    let to = match body.to.as_str() {
        "object-storage" => FileStorage::ObjectStorage,
        "file-system" | "filesystem" => FileStorage::FileSystem,
        other => {
            return Err(ApiError::bad_request(format!(
                "to: {other:?} is neither \"object-storage\" nor \"file-system\""
            )))
        }
    };
    if app.object_storage.is_none() {
        return Err(ApiError::conflict(
            "object storage is not enabled ([object_storage] enabled = false)",
        ));
    }
    let queued = match (body.video_id, body.all) {
        (Some(_), true) | (None, false) => {
            return Err(ApiError::bad_request("give either videoId or all: true"));
        }
        (None, true) => {
            let app2 = app.clone();
            app.pool
                .run(move || app2.storage_moves.enqueue_all(to))
                .await?
                .map_err(|e| ApiError::internal("queueing the moves", e))?
        }
        (Some(id), false) => {
            let key = match &id {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                other => {
                    return Err(ApiError::bad_request(format!(
                        "videoId: {other} is not an id"
                    )))
                }
            };
            let app2 = app.clone();
            app.pool.run(move || queue_one(&app2, &key, to)).await??
        }
    };
    Ok(Json(json!({ "queued": queued })))
}

fn queue_one(app: &App, key: &str, to: FileStorage) -> Result<usize, ApiError> {
    let r = VideoRef::parse(key)
        .ok_or_else(|| ApiError::bad_request(format!("videoId: {key:?} is not a video id")))?;
    let video = app
        .store
        .video(&r)?
        .filter(|v| v.remote.is_none())
        .ok_or_else(|| ApiError::not_found(format!("video {key} not found")))?;
    let Some(hls) = &video.hls else {
        return Err(ApiError::conflict(format!(
            "video {key} has no transcoded files yet"
        )));
    };
    if hls.storage == to {
        return Ok(0);
    }
    app.storage_moves
        .enqueue(&video.uuid, to)
        .map_err(|e| ApiError::internal("queueing the move", e))?;
    Ok(1)
}

async fn status(State(app): State<SharedApp>, _admin: AdminUser) -> Result<Json<Value>, ApiError> {
    Ok(Json(object_storage_status(&app).await))
}

/// The object storage's part of the admin status: its settings, whether the bucket answers,
/// and the moves.
pub async fn object_storage_status(app: &SharedApp) -> Value {
    let Some(os) = app.object_storage.clone() else {
        return json!({ "enabled": false });
    };
    let app2 = app.clone();
    let (check, moves) = app
        .pool
        .run(move || (os.check(), app2.storage_moves.status()))
        .await
        .unwrap_or_else(|_| {
            (
                Err(crate::media::objstore::s3::S3Error::Credentials(
                    "shutting down".into(),
                )),
                Ok(Default::default()),
            )
        });
    json!({
        "enabled": true,
        "endpoint": app.config.object_storage.endpoint,
        "bucket": app.config.object_storage.streaming_playlists.bucket_name,
        "publicBase": app.hls_bucket_base,
        "reachable": check.is_ok(),
        "error": check.err().map(|e| e.to_string()),
        "moves": moves.ok(),
    })
}
