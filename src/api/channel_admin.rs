//! Managing channels, as PeerTube's API does: `POST /api/v1/video-channels` (a user's new
//! channel, at most [`MAX_CHANNELS_PER_USER`]), `PUT /api/v1/video-channels/{name}` (display
//! name, description, support text) and `DELETE /api/v1/video-channels/{name}` (with its
//! videos; never a user's last channel). Each channel is an ActivityPub `Group` of its own
//! (`/video-channels/{name}`), with its key pair made on first use and its own followers.
//!
//! Rights as PeerTube's: a user manages their own channels; administrators any
//! (`MANAGE_ANY_VIDEO_CHANNEL`).

use super::auth::AuthUser;
use super::error::ApiError;
use super::user_admin::check_username;
use crate::app::{App, SharedApp};
use crate::federation::discovery::LocalActor;
use crate::store::federation::FollowerKey;
use crate::store::tables::{
    Channel, ChannelByNameKey, ChannelKey, Right, Sequence, User, UserByNameKey,
};
use crate::store::videos::VideoKey;
use crate::store::{Batch, Durability};
use crate::time::now_secs;
use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

/// Channels one user may have (PeerTube's `video_channels.max_per_user` default).
pub const MAX_CHANNELS_PER_USER: usize = 20;

/// Longest description and support text (PeerTube's `VIDEO_CHANNELS.DESCRIPTION`/`SUPPORT`).
const MAX_TEXT: usize = 1000;

/// The routes (`PUT` and `DELETE` of a channel are routed beside its `GET`, in
/// [`super::channels::routes`]).
pub fn routes() -> Router<SharedApp> {
    Router::new().route("/api/v1/video-channels", post(create))
}

/// `POST` body (`VideoChannelCreate`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelCreate {
    name: String,
    display_name: String,
    description: Option<String>,
    support: Option<String>,
}

/// `PUT` body (`VideoChannelUpdate`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelUpdate {
    display_name: Option<String>,
    description: Option<String>,
    support: Option<String>,
}

fn check_display_name(name: &str) -> Result<String, ApiError> {
    let n = name.trim().chars().count();
    if !(1..=50).contains(&n) || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "displayName must have 1 to 50 characters and no control character (got {name:?})"
        )));
    }
    Ok(name.trim().to_string())
}

fn check_text(what: &str, text: Option<String>) -> Result<Option<String>, ApiError> {
    match text.map(|t| t.trim().to_string()) {
        None => Ok(None),
        Some(t) if t.is_empty() => Ok(Some(String::new())),
        Some(t)
            if t.chars().count() <= MAX_TEXT
                && !t.chars().any(|c| c.is_control() && c != '\n' && c != '\t') =>
        {
            Ok(Some(t))
        }
        Some(t) => Err(ApiError::bad_request(format!(
            "{what} must have at most {MAX_TEXT} characters and no control character (got {})",
            t.chars().count()
        ))),
    }
}

/// The local channel `name` (`name` or `name@<this host>`), 404 otherwise.
fn channel_or_404(app: &App, name: &str) -> Result<Channel, ApiError> {
    let missing = || ApiError::not_found(format!("video channel {name} not found"));
    let local = super::accounts::local_handle(app, name).ok_or_else(missing)?;
    let id = app
        .store
        .get(&ChannelByNameKey(local.to_string()))?
        .ok_or_else(missing)?;
    app.store.get(&ChannelKey(id))?.ok_or_else(missing)
}

/// Refuses `user` changing `channel` unless it is theirs or they manage every channel.
fn may_change(user: &User, channel: &Channel) -> Result<(), ApiError> {
    if channel.owner == user.id || user.role.has(Right::ManageAnyVideoChannel) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "video channel {} belongs to another user",
            channel.name
        )))
    }
}

/// The channels of user `owner`.
fn channels_of(app: &App, owner: u64) -> Result<Vec<Channel>, ApiError> {
    Ok(app.store.channels_of(owner)?)
}

/// `POST /api/v1/video-channels`: `{videoChannel: {id}}`.
pub async fn create(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Json(body): Json<ChannelCreate>,
) -> Result<Json<Value>, ApiError> {
    check_username(&body.name).map_err(|_| {
        ApiError::bad_request(format!(
            "name {:?} is not valid: 1 to 50 characters of a-z, 0-9, '.' and '_'",
            body.name
        ))
    })?;
    let display_name = check_display_name(&body.display_name)?;
    let description = check_text("description", body.description)?;
    let support = check_text("support", body.support)?;
    let a = app.clone();
    let user = auth.user;
    let channel = app
        .pool
        .run(move || -> Result<Channel, ApiError> {
            static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
            let _one = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
            if channels_of(&a, user.id)?.len() >= MAX_CHANNELS_PER_USER {
                return Err(ApiError::forbidden(format!(
                    "you have {MAX_CHANNELS_PER_USER} channels, the most a user may have"
                )));
            }
            // Accounts and channels share one namespace of actor names.
            if a.store.get(&ChannelByNameKey(body.name.clone()))?.is_some()
                || a.store.get(&UserByNameKey(body.name.clone()))?.is_some()
            {
                return Err(ApiError::conflict(format!(
                    "a channel or account named {:?} already exists",
                    body.name
                )));
            }
            let now = now_secs();
            let channel = Channel {
                id: a.store.next_id(Sequence::Channel)?,
                name: body.name,
                display_name,
                owner: user.id,
                created_at: now,
                description: description.filter(|d| !d.is_empty()),
                support: support.filter(|s| !s.is_empty()),
                updated_at: now,
            };
            let mut batch = Batch::default();
            batch.put(&a.store, &ChannelKey(channel.id), &channel)?;
            batch.put(
                &a.store,
                &crate::store::tables::ChannelByOwnerKey {
                    owner: channel.owner,
                    channel: channel.id,
                },
                &(),
            )?;
            batch.put(
                &a.store,
                &ChannelByNameKey(channel.name.clone()),
                &channel.id,
            )?;
            crate::store::video_index::index_channel(&mut batch, &channel);
            a.store.write(batch, Durability::Sync)?;
            tracing::info!(channel = %channel.name, user = %user.username, "channel created");
            Ok(channel)
        })
        .await??;
    Ok(Json(json!({"videoChannel": {"id": channel.id}})))
}

/// `PUT /api/v1/video-channels/{name}`; 204.
pub async fn update(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path(name): Path<String>,
    Json(body): Json<ChannelUpdate>,
) -> Result<StatusCode, ApiError> {
    let a = app.clone();
    app.pool
        .run(move || -> Result<(), ApiError> {
            let mut c = channel_or_404(&a, &name)?;
            // Who may, before what: a stranger learns nothing of the rules.
            may_change(&auth.user, &c)?;
            let display_name = body
                .display_name
                .as_deref()
                .map(check_display_name)
                .transpose()?;
            let description = check_text("description", body.description)?;
            let support = check_text("support", body.support)?;
            let old = c.clone();
            if let Some(d) = display_name {
                c.display_name = d;
            }
            if let Some(d) = description {
                c.description = Some(d).filter(|d| !d.is_empty());
            }
            if let Some(s) = support {
                c.support = Some(s).filter(|s| !s.is_empty());
            }
            c.updated_at = now_secs().max(c.updated_at);
            let mut batch = Batch::default();
            batch.put(&a.store, &ChannelKey(c.id), &c)?;
            // Its display name is searchable: the old words go, the new ones come.
            crate::store::video_index::unindex_channel(&mut batch, &old);
            crate::store::video_index::index_channel(&mut batch, &c);
            a.store.write(batch, Durability::Sync)?;
            tracing::info!(channel = %c.name, by = %auth.user.username, "channel updated");
            if a.config.federation.enabled {
                crate::federation::outbox::actor_updated(&a, &LocalActor::Channel(c.name.clone()))?;
            }
            Ok(())
        })
        .await??;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds the removal of `channel`'s records to `batch`: the channel, its name, its search
/// words and its followers (who were sent a `Delete` of it by the caller). Its key pair stays:
/// that `Delete` is signed with it when it is delivered. Its videos are removed before, by the
/// caller.
pub(crate) fn forget_channel(
    app: &App,
    channel: &Channel,
    batch: &mut Batch,
) -> Result<(), ApiError> {
    batch.delete(&app.store, &ChannelKey(channel.id));
    batch.delete(
        &app.store,
        &crate::store::tables::ChannelByOwnerKey {
            owner: channel.owner,
            channel: channel.id,
        },
    );
    batch.delete(&app.store, &ChannelByNameKey(channel.name.clone()));
    crate::store::video_index::unindex_channel(batch, channel);
    super::playlists::forget_channel(app, channel, batch)?;
    super::subscriptions::forget_channel(app, channel)?;
    let local = format!("channel:{}", channel.name);
    for (k, f) in app.store.scan::<FollowerKey>(&())? {
        if f.local == local {
            batch.delete(&app.store, &k);
        }
    }
    Ok(())
}

/// `DELETE /api/v1/video-channels/{name}`: its videos, then the channel; 204. A user's last
/// channel stays (409).
pub async fn remove(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let a = app.clone();
    let user = auth.user.clone();
    let (channel, videos) = app
        .pool
        .run(move || -> Result<_, ApiError> {
            let c = channel_or_404(&a, &name)?;
            may_change(&user, &c)?;
            if channels_of(&a, c.owner)?.len() <= 1 {
                return Err(ApiError::conflict(format!(
                    "{} is its owner's last channel; a user keeps at least one",
                    c.name
                )));
            }
            let videos: Vec<_> = a
                .store
                .scan::<VideoKey>(&())?
                .into_iter()
                .map(|(_, v)| v)
                .filter(|v| v.is_local() && v.channel_id == c.id)
                .collect();
            Ok((c, videos))
        })
        .await??;
    let mut n = 0;
    let mut videos = videos;
    loop {
        for v in videos {
            super::video_removal::remove_local(&app, v).await?;
            n += 1;
        }
        // Under the owner's upload lock: an upload into this channel that finished meanwhile
        // is found here and removed in the next round; none can finish after.
        let (a, c) = (app.clone(), channel.clone());
        videos = app
            .pool
            .run(move || -> Result<Vec<_>, ApiError> {
                let _uploads = a
                    .video_locks
                    .lock(&crate::uploads::finalize::owner_lock(c.owner));
                let late: Vec<_> = a
                    .store
                    .scan::<VideoKey>(&())?
                    .into_iter()
                    .map(|(_, v)| v)
                    .filter(|v| v.is_local() && v.channel_id == c.id)
                    .collect();
                if late.is_empty() {
                    if a.config.federation.enabled {
                        let group = LocalActor::Channel(c.name.clone());
                        crate::federation::outbox::actors_deleted(
                            &a,
                            std::slice::from_ref(&group),
                            &group,
                        )?;
                    }
                    let mut batch = Batch::default();
                    forget_channel(&a, &c, &mut batch)?;
                    a.store.write(batch, Durability::Sync)?;
                }
                Ok(late)
            })
            .await??;
        if videos.is_empty() {
            break;
        }
    }
    tracing::info!(channel = %channel.name, by = %auth.user.username, videos = n, "channel removed");
    Ok(StatusCode::NO_CONTENT)
}
