//! PeerTube's redundancy API (`controllers/api/server/redundancy.ts`), for administrators: which
//! followed servers' videos may be mirrored here (`PUT /api/v1/server/redundancy/{host}`), the
//! mirrors we keep of other servers' videos and those other servers keep of ours
//! (`GET /api/v1/server/redundancy/videos?target=remote-videos|my-videos`), manual mirrors
//! (`POST`) and their removal (`DELETE`). The work is [`crate::redundancy`]'s; the mirrors of
//! our videos are [`crate::federation::cache_files`]'.

use super::auth::AdminUser;
use super::error::ApiError;
use super::paging::{PageQuery, Paging};
use crate::app::{App, SharedApp};
use crate::redundancy::RedundancyError;
use crate::store::federation::FollowingKey;
use crate::store::redundancy::{CacheFileKey, Mirror, MirrorKey, MirrorState};
use crate::store::videos::VideoKey;
use crate::store::Durability;
use crate::time::iso8601;
use crate::video::urls::PublicUrls;
use crate::video::{Video, VideoRef};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

/// The routes.
pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route("/api/v1/server/redundancy/videos", get(list).post(add))
        .route("/api/v1/server/redundancy/videos/{id}", delete(remove))
        .route("/api/v1/server/redundancy/{host}", put(allow))
}

impl From<RedundancyError> for ApiError {
    fn from(e: RedundancyError) -> ApiError {
        match e {
            RedundancyError::NotMirrorable(m) => ApiError::bad_request(m),
            e @ RedundancyError::Exists(_) => ApiError::conflict(e.to_string()),
            e @ RedundancyError::NotFound(_) => ApiError::not_found(e.to_string()),
            RedundancyError::Store(e) => e.into(),
        }
    }
}

/// `{redundancyAllowed}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AllowBody {
    redundancy_allowed: bool,
}

/// `PUT /api/v1/server/redundancy/{host}`: whether this instance may mirror the videos of a
/// server it follows.
async fn allow(
    State(app): State<SharedApp>,
    _admin: AdminUser,
    Path(host): Path<String>,
    body: Result<Json<AllowBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(|e| {
        ApiError::bad_request(format!("body must be {{\"redundancyAllowed\": bool}}: {e}"))
    })?;
    let a = app.clone();
    let n = app
        .pool
        .run(move || -> Result<usize, ApiError> {
            let mut n = 0;
            for (k, mut f) in a.store.scan::<FollowingKey>(&())? {
                if f.host.eq_ignore_ascii_case(&host) {
                    f.redundancy_allowed = body.redundancy_allowed;
                    a.store.put(&k, &f, Durability::Sync)?;
                    n += 1;
                }
            }
            if n == 0 {
                return Err(ApiError::not_found(format!(
                    "this instance does not follow {host}"
                )));
            }
            tracing::info!(host = %host, allowed = body.redundancy_allowed, "redundancy: server's videos may {}be mirrored", if body.redundancy_allowed { "" } else { "no longer " });
            Ok(n)
        })
        .await??;
    debug_assert!(n > 0);
    app.redundancy.notify();
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `{videoId}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddBody {
    video_id: Value,
}

/// `POST /api/v1/server/redundancy/videos`: a manual mirror (never expires).
async fn add(
    State(app): State<SharedApp>,
    _admin: AdminUser,
    body: Result<Json<AddBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) =
        body.map_err(|e| ApiError::bad_request(format!("body must be {{\"videoId\": id}}: {e}")))?;
    let key = match &body.video_id {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => {
            return Err(ApiError::bad_request(format!(
                "videoId: {other} is not a video id"
            )))
        }
    };
    let a = app.clone();
    app.pool
        .run(move || -> Result<(), ApiError> {
            let r = VideoRef::parse(&key).ok_or_else(|| {
                ApiError::bad_request(format!("videoId: {key:?} is not a video id"))
            })?;
            let video = a
                .store
                .video(&r)?
                .ok_or_else(|| ApiError::not_found(format!("video {key} not found")))?;
            crate::redundancy::add_manual(&a, &video)?;
            Ok(())
        })
        .await??;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /api/v1/server/redundancy/videos/{redundancyId}`.
async fn remove(
    State(app): State<SharedApp>,
    _admin: AdminUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: u64 = id
        .parse()
        .map_err(|_| ApiError::bad_request(format!("redundancyId: {id:?} is not a number")))?;
    let a = app.clone();
    app.pool
        .run(move || crate::redundancy::remove(&a, id))
        .await??;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `target`, `strategy` and the page.
#[derive(Debug, Deserialize)]
struct ListQuery {
    target: Option<String>,
    strategy: Option<String>,
    start: Option<String>,
    count: Option<String>,
    sort: Option<String>,
}

/// `GET /api/v1/server/redundancy/videos`: PeerTube's `VideoRedundancy` list.
async fn list(
    State(app): State<SharedApp>,
    _admin: AdminUser,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let paging = Paging::parse(
        &PageQuery::from_params(q.start.as_deref(), q.count.as_deref(), q.sort.as_deref()),
        &["name"],
        "name",
    )?;
    let remote = match q.target.as_deref() {
        Some("remote-videos") => true,
        Some("my-videos") => false,
        other => {
            return Err(ApiError::bad_request(format!(
                "target must be my-videos or remote-videos (got {other:?})"
            )))
        }
    };
    let a = app.clone();
    let doc = app
        .pool
        .run(move || -> Result<Value, ApiError> {
            let mut rows = if remote {
                ours(&a, q.strategy.as_deref())?
            } else {
                theirs(&a)?
            };
            rows.sort_by(|x, y| x.0.cmp(&y.0));
            if paging.descending {
                rows.reverse();
            }
            paging.result_list(&rows, |(_, v)| Ok::<_, ApiError>(v.clone()))
        })
        .await??;
    Ok(Json(doc))
}

/// A `VideoRedundancy` item: the video and its mirrors.
fn item(video: &Video, url: &str, playlists: Vec<Value>) -> Value {
    json!({
        "id": video.id,
        "name": video.name,
        "url": url,
        "uuid": video.uuid,
        "redundancies": {"streamingPlaylists": playlists},
    })
}

/// One of our mirrors as a `RedundancyInformation`.
fn mirror_json(app: &App, m: &Mirror) -> Value {
    json!({
        "id": m.video_id,
        "fileUrl": m.base_url(&app.public_url),
        "strategy": m.strategy,
        "createdAt": iso8601(m.created_at),
        "updatedAt": iso8601(m.updated_at),
        "expiresOn": m.expires_at.map(iso8601),
        "size": m.size,
        // Beyond PeerTube: whether it is served yet, and why its last download failed.
        "state": match m.state { MirrorState::Ready => "ready", MirrorState::Downloading => "downloading" },
        "lastError": m.last_error,
    })
}

/// Our mirrors of other servers' videos (`remote-videos`), by name.
fn ours(app: &App, strategy: Option<&str>) -> Result<Vec<(String, Value)>, ApiError> {
    let mut rows = Vec::new();
    for (_, m) in app.store.scan::<MirrorKey>(&())? {
        if strategy.is_some_and(|s| s != m.strategy) {
            continue;
        }
        let Some(video) = app.store.get(&VideoKey(m.video_id))? else {
            continue;
        };
        let url = m.video_url.clone();
        rows.push((
            video.name.clone(),
            item(&video, &url, vec![mirror_json(app, &m)]),
        ));
    }
    Ok(rows)
}

/// Other servers' mirrors of our videos (`my-videos`), by name.
fn theirs(app: &App) -> Result<Vec<(String, Value)>, ApiError> {
    let mut by_video: std::collections::BTreeMap<u64, Vec<Value>> = Default::default();
    for (_, m) in app.store.scan::<CacheFileKey>(&None)? {
        by_video.entry(m.video_id).or_default().push(json!({
            "id": m.video_id,
            "fileUrl": m.base_url,
            "strategy": Value::Null,
            "createdAt": iso8601(m.created_at),
            "updatedAt": iso8601(m.updated_at),
            "expiresOn": m.expires_at.map(iso8601),
            "size": 0,
        }));
    }
    let mut rows = Vec::new();
    for (id, mirrors) in by_video {
        let Some(video) = app.store.get(&VideoKey(id))? else {
            continue;
        };
        let url = PublicUrls::new(&app.public_url).watch(&video.uuid);
        rows.push((video.name.clone(), item(&video, &url, mirrors)));
    }
    Ok(rows)
}

/// The `redundancies` of a video's streaming playlist: the live mirrors other servers
/// announced of ours, or our own ready mirror of another server's video.
pub fn redundancies(app: &App, video: &Video) -> Value {
    let now = crate::time::now_secs();
    let bases: Vec<String> = if video.is_local() {
        crate::federation::cache_files::mirrors_of(&app.store, video.id, now).unwrap_or_default()
    } else {
        match app.store.get(&MirrorKey(video.id)) {
            Ok(Some(m)) if m.state == MirrorState::Ready && m.uuid == video.uuid => {
                vec![m.base_url(&app.public_url)]
            }
            _ => Vec::new(),
        }
    };
    Value::Array(bases.into_iter().map(|b| json!({"baseUrl": b})).collect())
}
