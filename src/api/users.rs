//! The logged-in user in PeerTube's shape (`GET /api/v1/users/me`, PeerTube 8's `MyUser`, and
//! `GET /api/v1/users/me/video-quota-used`), and the account and channel objects that users,
//! videos, accounts and channels share.

use super::auth::AuthUser;
use super::error::ApiError;
use crate::app::SharedApp;
use crate::store::tables::{Channel, User};
use crate::store::StoreError;
use crate::time::iso8601;
use crate::uploads::admission::quota_used;
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
        "description": "",
        "createdAt": iso8601(user.created_at),
        "updatedAt": iso8601(user.created_at),
        "userId": user.id,
        "avatars": [],
    })
}

/// The channel object (PeerTube's `VideoChannel`, less `ownerAccount`).
pub fn channel_json(app: &crate::app::App, c: &Channel) -> Value {
    json!({
        "id": c.id,
        "name": c.name,
        "displayName": c.display_name,
        "url": format!("{}/video-channels/{}", app.public_url, c.name),
        "host": app.public_host,
        "followersCount": 0,
        "followingCount": 0,
        "description": c.description.as_deref().unwrap_or(""),
        "support": c.support.as_deref().unwrap_or(""),
        "isLocal": true,
        "createdAt": iso8601(c.created_at),
        "updatedAt": iso8601(c.updated_at.max(c.created_at)),
        "avatars": [],
        "banners": [],
    })
}

/// `GET /api/v1/users/me/video-quota-used`.
pub async fn quota(State(app): State<SharedApp>, auth: AuthUser) -> Result<Json<Value>, ApiError> {
    let a = app.clone();
    let (used, daily) = app.pool.run(move || quota_used(&a, auth.user.id)).await??;
    Ok(Json(
        json!({"videoQuotaUsed": used, "videoQuotaUsedDaily": daily}),
    ))
}

/// `GET /api/v1/users/me`.
pub async fn me(State(app): State<SharedApp>, auth: AuthUser) -> Result<Json<Value>, ApiError> {
    let a = app.clone();
    Ok(Json(
        app.pool
            .run(move || -> Result<Value, StoreError> {
                super::playlists::watch_later(&a, &auth.user)?;
                user_json(&a, &auth.user)
            })
            .await??,
    ))
}

/// A local user in PeerTube's `User` shape (`MyUser` for `/users/me`: the same fields), with
/// their channels and quota use. Reads the store: call it on the blocking pool.
pub(crate) fn user_json(app: &crate::app::App, user: &User) -> Result<Value, StoreError> {
    let channels: Vec<Value> = app
        .store
        .channels_of(user.id)?
        .into_iter()
        .map(|c| {
            let mut c = channel_json(app, &c);
            c["ownerAccountId"] = json!(user.id);
            c
        })
        .collect();
    let (used, daily) = quota_used(app, user.id)?;
    let mut doc = json!({
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "pendingEmail": null,
        "emailVerified": user.email_verified,
        "emailPublic": false,
        "role": {"id": user.role.id(), "label": user.role.label()},
        "adminFlags": 0,
        "blocked": user.blocked,
        "nsfwPolicy": user.nsfw_policy,
        "nsfwFlagsDisplayed": 0,
        "nsfwFlagsHidden": 0,
        "nsfwFlagsBlurred": 0,
        "nsfwFlagsWarned": 0,
        "autoPlayVideo": true,
        "autoPlayNextVideo": false,
        "autoPlayNextVideoPlaylist": true,
        "p2pEnabled": user.p2p_enabled,
        "videosHistoryEnabled": false,
        "videoLanguages": [],
        "language": "",
        "theme": "instance-default",
        "videoQuota": user.video_quota,
        "videoQuotaDaily": user.video_quota_daily,
        "videoQuotaUsed": used,
        "videoQuotaUsedDaily": daily,
        "noInstanceConfigWarningModal": true,
        "noWelcomeModal": true,
        "noAccountSetupWarningModal": true,
        "createdAt": iso8601(user.created_at),
        "pluginAuth": null,
        "lastLoginDate": null,
        "twoFactorEnabled": false,
        "newFeaturesInfoRead": 0,
        "account": account_json(app, user),
        "videoChannels": channels,
        "specialPlaylists": super::playlists::special_playlists(app, user)?,
    });
    if let Some(r) = &user.blocked_reason {
        // PeerTube's `blockedReason?: string`: absent rather than null.
        doc["blockedReason"] = json!(r);
    }
    Ok(doc)
}
