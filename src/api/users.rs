//! `GET /api/v1/users/me`: the logged-in user in PeerTube's shape.

use super::auth::AuthUser;
use super::error::ApiError;
use crate::app::SharedApp;
use crate::store::tables::{Channel, ChannelKey, User};
use crate::time::iso8601;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

/// The account object of a local user.
pub fn account_json(app: &crate::app::App, user: &User) -> Value {
    json!({
        "id": user.id,
        "name": user.username,
        "displayName": user.display_name,
        "url": format!("{}/accounts/{}", app.public_url, user.username),
        "host": app.public_host,
        "followersCount": 0,
        "followingCount": 0,
        "createdAt": iso8601(user.created_at),
        "avatars": [],
    })
}

/// The channel object.
pub fn channel_json(app: &crate::app::App, c: &Channel) -> Value {
    json!({
        "id": c.id,
        "name": c.name,
        "displayName": c.display_name,
        "url": format!("{}/video-channels/{}", app.public_url, c.name),
        "host": app.public_host,
        "followersCount": 0,
        "followingCount": 0,
        "createdAt": iso8601(c.created_at),
        "avatars": [],
        "banners": [],
    })
}

/// `GET /api/v1/users/me`.
pub async fn me(State(app): State<SharedApp>, auth: AuthUser) -> Result<Json<Value>, ApiError> {
    let user = auth.user;
    let channels: Vec<Value> = app
        .store
        .scan::<ChannelKey>(&())?
        .into_iter()
        .filter(|(_, c)| c.owner == user.id)
        .map(|(_, c)| channel_json(&app, &c))
        .collect();
    Ok(Json(json!({
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "emailVerified": true,
        "role": {"id": user.role.id(), "label": user.role.label()},
        "adminFlags": 0,
        "blocked": false,
        "nsfwPolicy": "do_not_list",
        "videoQuota": -1,
        "videoQuotaDaily": -1,
        "createdAt": iso8601(user.created_at),
        "account": account_json(&app, &user),
        "videoChannels": channels,
    })))
}
