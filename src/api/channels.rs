//! PeerTube's video channel endpoints for local channels: `GET /api/v1/video-channels/{name}`
//! (`VideoChannel`, with its owner account) and its public videos (`/videos`, a
//! `ResultList<Video>`). `{name}` is a handle, or `handle@host` with this instance's host.

use super::error::ApiError;
use super::users::{account_json, channel_json};
use super::videos::MaybeUser;
use crate::app::{App, SharedApp};
use crate::store::channel_index::ChannelRef;
use crate::store::tables::{Channel, ChannelByNameKey, ChannelKey, UserKey};
use crate::store::StoreError;
use axum::extract::{Path, RawQuery, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

/// The routes.
pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route(
            "/api/v1/video-channels/{name}",
            get(channel)
                .put(super::channel_admin::update)
                .delete(super::channel_admin::remove),
        )
        .route("/api/v1/video-channels/{name}/videos", get(videos))
}

/// The local channel with handle `name` (`name` or `name@<this host>`).
fn find_channel(app: &App, name: &str) -> Result<Option<Channel>, StoreError> {
    let Some(local) = super::accounts::local_handle(app, name) else {
        return Ok(None);
    };
    match app.store.get(&ChannelByNameKey(local.to_string()))? {
        Some(id) => app.store.get(&ChannelKey(id)),
        None => Ok(None),
    }
}

/// `VideoChannel` with `ownerAccount`, `videosCount` (its listed videos, from its own index)
/// and `followersCount` (other instances' accepted follows and local subscriptions).
pub fn channel_full_json(app: &App, c: &Channel) -> Result<Value, StoreError> {
    let mut doc = channel_json(app, c);
    if let Some(owner) = app.store.get(&UserKey(c.owner))? {
        doc["ownerAccount"] = account_json(app, &owner);
    }
    let videos = app.store.channel_video_count(&ChannelRef::Local(c.id))?;
    doc["videosCount"] = json!(videos);
    doc["followersCount"] = json!(super::subscriptions::channel_followers(app, c)?);
    Ok(doc)
}

/// The channel `name`, or PeerTube's 404.
pub(crate) async fn channel_or_404(app: &SharedApp, name: String) -> Result<Channel, ApiError> {
    let a = app.clone();
    let n = name.clone();
    app.pool
        .run(move || find_channel(&a, &n))
        .await??
        .ok_or_else(|| ApiError::not_found(format!("video channel {name} not found")))
}

/// `GET /api/v1/video-channels/{name}`.
pub async fn channel(
    State(app): State<SharedApp>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let c = channel_or_404(&app, name).await?;
    let a = app.clone();
    Ok(Json(
        app.pool.run(move || channel_full_json(&a, &c)).await??,
    ))
}

/// `GET /api/v1/video-channels/{name}/videos`: the video list (every sort and filter of
/// `GET /api/v1/videos`) of this channel's videos.
pub async fn videos(
    State(app): State<SharedApp>,
    viewer: MaybeUser,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let c = channel_or_404(&app, name).await?;
    super::video_list::respond(&app, &viewer, raw.as_deref(), |f| f.channel = Some(c.id)).await
}
