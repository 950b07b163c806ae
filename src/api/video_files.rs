//! Access to private videos' files through the API: `POST /api/v1/videos/{id}/token` hands a
//! user who may read a video's files a video file token (PeerTube's `{ files: { token,
//! expires } }`), and the segment server's hyper path asks [`oauth_may_read`] when a private
//! file comes with an OAuth bearer token instead. The tokens themselves are
//! [`crate::media::access`]'s.

use super::auth::AuthUser;
use super::error::ApiError;
use crate::app::SharedApp;
use crate::store::tables::{AccessTokenKey, FileTokenSecretKey, UserKey};
use crate::store::{Durability, Store, StoreError};
use crate::time::{iso8601, now_secs};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::{header, HeaderValue};
use serde_json::json;

/// The secret that signs video file tokens, made and stored at first start.
pub fn file_token_secret(store: &Store) -> Result<[u8; 32], StoreError> {
    if let Some(s) = store.get(&FileTokenSecretKey)? {
        if let Ok(secret) = <[u8; 32]>::try_from(s.as_slice()) {
            return Ok(secret);
        }
        tracing::warn!(
            len = s.len(),
            "video file token secret has the wrong length; making a new one"
        );
    }
    let secret = crate::media::access::random_secret();
    store.put(&FileTokenSecretKey, &secret.to_vec(), Durability::Sync)?;
    Ok(secret)
}

/// `POST /api/v1/videos/{id}/token`: a token for the video's files, for a user who may read
/// them (the owner or an administrator for a private video, any user for an internal one).
pub async fn token(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    let a = app.clone();
    let video = app
        .pool
        .run(move || super::videos::find(&a, &key).map(|v| (key, v)))
        .await??;
    let (key, video) = video;
    let video = match video {
        Some(v) if v.may_see(Some(auth.user.viewer())) => v,
        _ => return Err(ApiError::not_found(format!("video {key} not found"))),
    };
    if video.remote.is_some() {
        return Err(ApiError::bad_request(format!(
            "video {key} is another instance's; its files are served there"
        )));
    }
    if !video.may_read_files(Some(auth.user.viewer())) {
        return Err(ApiError::forbidden(format!(
            "user {:?} may not read the files of video {key}",
            auth.user.username
        )));
    }
    let expires = now_secs() + app.config.auth.video_file_token_lifetime_secs;
    let token = app
        .media_access
        .mint(&video.uuid, expires)
        .ok_or_else(|| ApiError::internal("video file token", "the video's uuid is not a uuid"))?;
    tracing::debug!(video = %video.uuid, user = auth.user.id, "video file token issued");
    let mut resp =
        Json(json!({"files": {"token": token, "expires": iso8601(expires)}})).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// Whether the OAuth bearer token in `authorization` belongs to a user who may read the files
/// of the local video `uuid` (read on the blocking pool: never RocksDB on a shard's loop).
pub async fn oauth_may_read(app: &SharedApp, authorization: &HeaderValue, uuid: &str) -> bool {
    let Some(token) = authorization
        .to_str()
        .ok()
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(|t| super::auth::sha256_hex(t.trim()))
    else {
        return false;
    };
    let Ok(uuid) = uuid::Uuid::parse_str(uuid).map(|u| u.hyphenated().to_string()) else {
        return false;
    };
    let a = app.clone();
    let checked = app
        .pool
        .run(move || -> Result<bool, StoreError> {
            let Some(record) = a.store.get(&AccessTokenKey(token))? else {
                return Ok(false);
            };
            if record.expires_at <= now_secs() {
                return Ok(false);
            }
            let Some(user) = a.store.get(&UserKey(record.user_id))? else {
                return Ok(false);
            };
            let Some(video) = a.store.video_by_uuid(&uuid)? else {
                return Ok(false);
            };
            Ok(video.is_local() && video.may_read_files(Some(user.viewer())))
        })
        .await;
    match checked {
        Ok(Ok(ok)) => ok,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot check an OAuth token for a private file");
            false
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot check an OAuth token for a private file");
            false
        }
    }
}
