//! Moderators' video blocks, PeerTube's video blacklist: `POST/PUT/DELETE
//! /api/v1/videos/{id}/blacklist` and `GET /api/v1/videos/blacklist`.
//!
//! A blocked video leaves the lists (the record's `is_listed` says no, so the sort indexes
//! drop it with the write), the tracker's allowlist (its info-hashes are removed in the same
//! batch, and the tracker forgets what it cached) and the outboxes; only its owner and
//! moderators see it. With `unfederate` (local videos), its followers get a `Delete`;
//! unblocking gives them a `Create` again. Everything happens under the video's lock, as a
//! privacy change does, so a transcode publishing at the same moment waits and then sees the
//! block (`transcode::publish` leaves a blocked video's hashes out).

use super::auth::AuthUser;
use super::error::ApiError;
use super::paging::{PageQuery, Paging};
use super::videos::{find, video_json};
use crate::app::{App, SharedApp};
use crate::store::tables::{Right, User};
use crate::store::videos::{InfohashEntry, InfohashKey, VideoKey};
use crate::store::{Batch, Durability};
use crate::time::{iso8601, now_secs};
use crate::video::{Blacklist, Video};
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

/// The routes.
pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route("/api/v1/videos/blacklist", get(list))
        .route(
            "/api/v1/videos/{id}/blacklist",
            post(add).put(update).delete(remove),
        )
}

/// PeerTube's `VIDEO_BLACKLIST.REASON`: 2 to 300 characters.
const REASON: std::ops::RangeInclusive<usize> = 2..=300;

/// `POST`/`PUT` body.
#[derive(Debug, Default, Deserialize)]
pub struct BlacklistBody {
    reason: Option<String>,
    #[serde(default)]
    unfederate: bool,
}

fn check_reason(reason: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(r) = reason.map(|r| r.trim().to_string()) else {
        return Ok(None);
    };
    let n = r.chars().count();
    if !REASON.contains(&n) || r.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::bad_request(format!(
            "reason must have {} to {} characters and no control character (got {n})",
            REASON.start(),
            REASON.end()
        )));
    }
    Ok(Some(r))
}

fn moderator(user: &User) -> Result<(), ApiError> {
    super::auth::require(user, Right::ManageVideoBlacklist, "video blocks")
}

/// The video `key` (404 when there is none), read again under its lock by the caller.
fn video_or_404(app: &App, key: &str) -> Result<Video, ApiError> {
    find(app, key)?.ok_or_else(|| ApiError::not_found(format!("video {key} not found")))
}

/// The allowlist rows of a video (HLS and web-video torrents; a remote video's as federated).
fn hashes_of(app: &App, video: &Video) -> Result<Vec<(InfohashKey, InfohashEntry)>, ApiError> {
    if let Some(r) = &video.remote {
        return Ok(crate::federation::remote_videos::infohash_keys(r)
            .into_iter()
            .map(|(k, mut e)| {
                e.video_uuid = video.uuid.clone();
                (k, e)
            })
            .collect());
    }
    let files = app.store.video_files(video.id)?;
    let mut rows = crate::transcode::p2p::allowlist_of(&app.public_url, video, &files);
    rows.extend(super::video_removal::web_video_hashes(video));
    Ok(rows)
}

/// Writes `video` (its block set or cleared) with its allowlist rows removed or restored, in
/// one batch, and tells the tracker. The caller holds the video's lock.
fn write_locked(app: &App, video: &Video) -> Result<(), ApiError> {
    let rows = hashes_of(app, video)?;
    let shared = video.is_shared() && video.is_published();
    let mut batch = Batch::default();
    batch.put_video(video);
    for (k, e) in &rows {
        if shared {
            batch.put(&app.store, k, e)?;
        } else {
            batch.delete(&app.store, k);
        }
    }
    app.store.write(batch, Durability::Sync)?;
    let keys: Vec<[u8; 20]> = rows.iter().map(|(k, _)| k.0).collect();
    app.tracker.allowlist_changed(&keys, !shared);
    Ok(())
}

/// `POST /api/v1/videos/{id}/blacklist` (`{"reason", "unfederate"}`, both optional); 204, 409
/// when it is blocked already.
pub async fn add(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path(key): Path<String>,
    body: Option<Json<BlacklistBody>>,
) -> Result<StatusCode, ApiError> {
    moderator(&auth.user)?;
    let body = body.map(|Json(b)| b).unwrap_or_default();
    let reason = check_reason(body.reason)?;
    let a = app.clone();
    app.pool
        .run(move || -> Result<(), ApiError> {
            let uuid = video_or_404(&a, &key)?.uuid;
            let _lock = a.video_locks.lock(&uuid);
            let mut video = video_or_404(&a, &key)?;
            if video.blacklist.is_some() {
                return Err(ApiError::conflict(format!("video {key} is already blocked")));
            }
            let now = now_secs();
            let unfederate = body.unfederate && video.is_local();
            video.blacklist = Some(Blacklist {
                reason: reason.clone(),
                unfederated: unfederate,
                created_at: now,
                updated_at: now,
            });
            write_locked(&a, &video)?;
            let mut told = 0;
            if unfederate && a.config.federation.enabled {
                told = crate::federation::outbox::withdraw_locked(&a, video.id)?;
            }
            tracing::info!(video = %video.uuid, by = %auth.user.username, reason = reason.as_deref().unwrap_or(""), unfederated = unfederate, inboxes = told, "video blocked");
            Ok(())
        })
        .await??;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /api/v1/videos/{id}/blacklist` (`{"reason"}`): a new reason; 204, 404 when it is not
/// blocked.
pub async fn update(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path(key): Path<String>,
    Json(body): Json<BlacklistBody>,
) -> Result<StatusCode, ApiError> {
    moderator(&auth.user)?;
    let reason = check_reason(body.reason)?;
    let a = app.clone();
    app.pool
        .run(move || -> Result<(), ApiError> {
            let uuid = video_or_404(&a, &key)?.uuid;
            let _lock = a.video_locks.lock(&uuid);
            let mut video = video_or_404(&a, &key)?;
            let Some(b) = video.blacklist.as_mut() else {
                return Err(ApiError::not_found(format!("video {key} is not blocked")));
            };
            b.reason = reason;
            b.updated_at = now_secs().max(b.updated_at);
            a.store.put_video(&video, Durability::Sync)?;
            Ok(())
        })
        .await??;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/videos/{id}/blacklist`: listed, shared and (when it was unfederated)
/// federated again; 204, 404 when it is not blocked.
pub async fn remove(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    moderator(&auth.user)?;
    let a = app.clone();
    app.pool
        .run(move || -> Result<(), ApiError> {
            let uuid = video_or_404(&a, &key)?.uuid;
            let _lock = a.video_locks.lock(&uuid);
            let mut video = video_or_404(&a, &key)?;
            let Some(was) = video.blacklist.take() else {
                return Err(ApiError::not_found(format!("video {key} is not blocked")));
            };
            write_locked(&a, &video)?;
            let mut told = 0;
            if was.unfederated
                && a.config.federation.enabled
                && video.is_published()
                && video.is_federated()
            {
                told = crate::federation::outbox::announce_locked(&a, video.id)?;
            }
            tracing::info!(video = %video.uuid, by = %auth.user.username, inboxes = told, "video unblocked");
            Ok(())
        })
        .await??;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/videos/blacklist`: PeerTube's `ResultList<VideoBlacklist>`, sorted by
/// `createdAt` (default newest first) or `id`.
pub async fn list(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    moderator(&auth.user)?;
    let paging = Paging::parse(&q, &["id", "createdAt"], "-createdAt")?;
    let a = app.clone();
    let blocked = app
        .pool
        .run(move || -> Result<Value, ApiError> {
            let mut v: Vec<Video> = a
                .store
                .scan::<VideoKey>(&())?
                .into_iter()
                .map(|(_, v)| v)
                .filter(|v| v.blacklist.is_some())
                .collect();
            v.sort_by(|x, y| {
                let at = |v: &Video| v.blacklist.as_ref().map_or(0, |b| b.created_at);
                let o = match paging.sort.as_str() {
                    "createdAt" => at(x).cmp(&at(y)),
                    _ => std::cmp::Ordering::Equal,
                }
                .then(x.id.cmp(&y.id));
                if paging.descending {
                    o.reverse()
                } else {
                    o
                }
            });
            paging.result_list(&v, |v| entry_json(&a, v))
        })
        .await??;
    Ok(Json(blocked))
}

/// One block as PeerTube's `VideoBlacklist` (its id is the video's: one block per video).
fn entry_json(app: &App, video: &Video) -> Result<Value, ApiError> {
    let Some(b) = video.blacklist.as_ref() else {
        return Ok(Value::Null);
    };
    Ok(json!({
        "id": video.id,
        "videoId": video.id,
        "createdAt": iso8601(b.created_at),
        "updatedAt": iso8601(b.updated_at),
        "unfederated": b.unfederated,
        "reason": b.reason,
        "type": 1,
        "video": video_json(app, video, false)?,
    }))
}
