//! The logged-in user in PeerTube's shape (`GET /api/v1/users/me`, PeerTube 8's `MyUser`, and
//! `GET /api/v1/users/me/video-quota-used`), and the account and channel objects that users,
//! videos, accounts and channels share.

use super::auth::AuthUser;
use super::error::ApiError;
use crate::app::SharedApp;
use crate::store::tables::{Channel, ChannelKey, User};
use crate::store::videos::VideoKey;
use crate::store::StoreError;
use crate::time::{iso8601, now_secs};
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
        "description": "",
        "support": "",
        "isLocal": true,
        "createdAt": iso8601(c.created_at),
        "updatedAt": iso8601(c.created_at),
        "avatars": [],
        "banners": [],
    })
}

/// Bytes of the files of `user`'s videos: all of them, and those uploaded in the last 24 hours
/// (PeerTube's `videoQuotaUsed` and `videoQuotaUsedDaily`).
fn quota_used(app: &crate::app::App, user: &User) -> Result<(u64, u64), StoreError> {
    let day_ago = now_secs().saturating_sub(24 * 3600);
    let (mut total, mut daily) = (0, 0);
    for (_, v) in app.store.scan::<VideoKey>(&())? {
        if v.owner != user.id || !v.is_local() {
            continue;
        }
        let bytes: u64 = app
            .store
            .video_files(v.id)?
            .iter()
            .map(|f| f.rendition.size)
            .sum();
        total += bytes;
        if v.created_at >= day_ago {
            daily += bytes;
        }
    }
    Ok((total, daily))
}

/// `GET /api/v1/users/me/video-quota-used`.
pub async fn quota(State(app): State<SharedApp>, auth: AuthUser) -> Result<Json<Value>, ApiError> {
    let a = app.clone();
    let (used, daily) = app.pool.run(move || quota_used(&a, &auth.user)).await??;
    Ok(Json(
        json!({"videoQuotaUsed": used, "videoQuotaUsedDaily": daily}),
    ))
}

/// `GET /api/v1/users/me`.
pub async fn me(State(app): State<SharedApp>, auth: AuthUser) -> Result<Json<Value>, ApiError> {
    let user = auth.user;
    let a = app.clone();
    let u = user.clone();
    let (channels, (used, daily)) = app
        .pool
        .run(move || -> Result<_, StoreError> {
            let channels: Vec<Value> = a
                .store
                .scan::<ChannelKey>(&())?
                .into_iter()
                .filter(|(_, c)| c.owner == u.id)
                .map(|(_, c)| {
                    let mut c = channel_json(&a, &c);
                    c["ownerAccountId"] = json!(u.id);
                    c
                })
                .collect();
            Ok((channels, quota_used(&a, &u)?))
        })
        .await??;
    Ok(Json(json!({
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "pendingEmail": null,
        "emailVerified": true,
        "emailPublic": false,
        "role": {"id": user.role.id(), "label": user.role.label()},
        "adminFlags": 0,
        "blocked": false,
        "nsfwPolicy": "do_not_list",
        "nsfwFlagsDisplayed": 0,
        "nsfwFlagsHidden": 0,
        "nsfwFlagsBlurred": 0,
        "nsfwFlagsWarned": 0,
        "autoPlayVideo": true,
        "autoPlayNextVideo": false,
        "autoPlayNextVideoPlaylist": true,
        "p2pEnabled": true,
        "videosHistoryEnabled": false,
        "videoLanguages": [],
        "language": "",
        "theme": "instance-default",
        "videoQuota": -1,
        "videoQuotaDaily": -1,
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
        "account": account_json(&app, &user),
        "videoChannels": channels,
        "specialPlaylists": [],
    })))
}
