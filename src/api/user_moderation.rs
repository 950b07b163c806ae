//! Blocking and removing users, as PeerTube's moderators do: `POST /api/v1/users/{id}/block`
//! and `/unblock`, and `DELETE /api/v1/users/{id}`.
//!
//! A blocked user cannot log in (PeerTube's "User is blocked.") and every token they held is
//! revoked; their videos, channels and comments stay. Removing a user takes away what is
//! theirs, in an order that can be interrupted and run again: first they are marked blocked
//! and their tokens revoked (nothing new can start, and an upload that finishes now is not
//! kept), then their unfinished uploads go, then each of their videos as `DELETE
//! /api/v1/videos/{id}` removes it (files, tracker allowlist, a federated `Delete`), their
//! ratings, their comments (federated `Delete`s), their channels and last the user record.
//!
//! Rights as PeerTube's (`UserRight.MANAGE_USERS`): administrators act on anyone, moderators on
//! users only. Nobody removes or blocks themselves, and the `root` administrator cannot be
//! removed or blocked.

use super::auth::{revoke_all, AuthUser, ROOT_USER};
use super::error::ApiError;
use super::user_admin::{may_manage, user_or_404};
use crate::app::{App, SharedApp};
use crate::federation::discovery::LocalActor;
use crate::store::tables::{ChannelKey, User, UserByNameKey, UserKey};
use crate::store::videos::{UploadKey, VideoKey};
use crate::store::{Batch, Durability};
use crate::time::now_secs;
use crate::uploads::finalize::owner_lock;
use axum::extract::{Path, State};
use axum::Json;
use http::StatusCode;
use serde::Deserialize;

/// Longest block reason (PeerTube's `USER.BLOCKED_REASON` is 3 to 250 characters).
const MAX_REASON: usize = 250;

/// `POST /api/v1/users/{id}/block` body.
#[derive(Debug, Default, Deserialize)]
pub struct BlockBody {
    reason: Option<String>,
}

/// The user `id`, when `actor` may block or remove them (not themselves, not `root`).
fn target(
    app: &App,
    actor: &User,
    id: &str,
    (doing, done): (&str, &str),
) -> Result<User, ApiError> {
    let user = user_or_404(app, id)?;
    may_manage(actor, user.role)?;
    if user.id == actor.id {
        return Err(ApiError::bad_request(format!(
            "you cannot {doing} your own account"
        )));
    }
    if user.username == ROOT_USER {
        return Err(ApiError::bad_request(format!(
            "the {ROOT_USER:?} administrator cannot be {done}"
        )));
    }
    Ok(user)
}

/// Marks `user` blocked (or not) and, when blocking, revokes their tokens; in one batch, under
/// the user's upload lock (see [`owner_lock`]). Returns the tokens revoked.
fn set_blocked(
    app: &App,
    user: &User,
    blocked: bool,
    reason: Option<String>,
) -> Result<usize, ApiError> {
    let _uploads = app.video_locks.lock(&owner_lock(user.id));
    // Read again under the lock: the record may have changed since the checks.
    let mut user = app
        .store
        .get(&UserKey(user.id))?
        .ok_or_else(|| ApiError::not_found(format!("user {} not found", user.id)))?;
    user.blocked = blocked;
    user.blocked_reason = if blocked { reason } else { None };
    let mut batch = Batch::default();
    batch.put(&app.store, &UserKey(user.id), &user)?;
    let revoked = if blocked {
        revoke_all(&app.store, user.id, &mut batch)?
    } else {
        0
    };
    app.store.write(batch, Durability::Sync)?;
    Ok(revoked)
}

/// `POST /api/v1/users/{id}/block` (`{"reason": …}` optional); 204.
pub async fn block(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path(id): Path<String>,
    body: Option<Json<BlockBody>>,
) -> Result<StatusCode, ApiError> {
    let reason = body
        .and_then(|Json(b)| b.reason)
        .map(|r| r.trim().to_string());
    if let Some(r) = &reason {
        let n = r.chars().count();
        if !(3..=MAX_REASON).contains(&n) || r.chars().any(|c| c.is_control() && c != '\n') {
            return Err(ApiError::bad_request(format!(
                "reason must have 3 to {MAX_REASON} characters and no control character (got {n})"
            )));
        }
    }
    let (a, actor) = (app.clone(), auth.user);
    app.pool
        .run(move || -> Result<(), ApiError> {
            let user = target(&a, &actor, &id, ("block", "blocked"))?;
            let revoked = set_blocked(&a, &user, true, reason)?;
            tracing::info!(user = %user.username, by = %actor.username, tokens_revoked = revoked, "user blocked");
            Ok(())
        })
        .await??;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/users/{id}/unblock`; 204.
pub async fn unblock(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (a, actor) = (app.clone(), auth.user);
    app.pool
        .run(move || -> Result<(), ApiError> {
            let user = target(&a, &actor, &id, ("unblock", "unblocked"))?;
            set_blocked(&a, &user, false, None)?;
            tracing::info!(user = %user.username, by = %actor.username, "user unblocked");
            Ok(())
        })
        .await??;
    Ok(StatusCode::NO_CONTENT)
}

/// What a removal took away (logged).
#[derive(Debug, Default)]
struct Removed {
    uploads: usize,
    videos: usize,
    ratings: usize,
    comments: usize,
    channels: usize,
}

/// `DELETE /api/v1/users/{id}`: the user and everything that is theirs (see the module doc);
/// 204.
pub async fn remove(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (a, actor) = (app.clone(), auth.user.clone());
    let user: User = app
        .pool
        .run(move || -> Result<User, ApiError> {
            let user = target(&a, &actor, &id, ("remove", "removed"))?;
            set_blocked(&a, &user, true, Some("account removed".into()))?;
            Ok(user)
        })
        .await??;
    let mut removed = Removed::default();
    // Unfinished uploads: their records, then their files.
    let (a, uid) = (app.clone(), user.id);
    removed.uploads = app
        .pool
        .run(move || -> Result<usize, ApiError> {
            let sessions: Vec<_> = a
                .store
                .scan::<UploadKey>(&())?
                .into_iter()
                .filter(|(_, s)| s.user_id == uid)
                .collect();
            let mut batch = Batch::default();
            for (k, _) in &sessions {
                batch.delete(&a.store, k);
            }
            a.store.write(batch, Durability::Sync)?;
            for (_, s) in &sessions {
                if s.video_id.is_none() {
                    let _ = std::fs::remove_file(&s.path);
                }
            }
            Ok(sessions.len())
        })
        .await??;
    // Videos, one at a time as their own removal does it. The mark above keeps new ones out.
    let a = app.clone();
    let videos = app
        .pool
        .run(move || -> Result<Vec<_>, ApiError> {
            Ok(a.store
                .scan::<VideoKey>(&())?
                .into_iter()
                .map(|(_, v)| v)
                .filter(|v| v.owner == uid && v.is_local())
                .collect())
        })
        .await??;
    for v in videos {
        super::video_removal::remove_local(&app, v).await?;
        removed.videos += 1;
    }
    // Ratings (the videos' counters move back) and comments.
    let a = app.clone();
    let (ratings, comments) = app
        .pool
        .run(move || -> Result<_, ApiError> {
            let rated = a.store.rated_by(uid)?;
            for v in &rated {
                a.store.rate(uid, *v, None)?;
            }
            let mut theirs = vec![];
            for (_, v) in a.store.scan::<VideoKey>(&())? {
                for c in a.store.comments(v.id)? {
                    if c.author.user == Some(uid) && c.deleted_at.is_none() {
                        theirs.push((v.clone(), c));
                    }
                }
            }
            Ok((rated.len(), theirs))
        })
        .await??;
    removed.ratings = ratings;
    removed.comments = comments.len();
    for (video, c) in comments {
        let (a, v) = (app.clone(), video);
        app.pool
            .run(move || -> Result<(), ApiError> {
                // Its current state: deleting one comment may have removed a parent.
                if let Some(now) = a.store.get(&crate::store::comments::CommentKey {
                    video_id: c.video_id,
                    id: c.id,
                })? {
                    a.store.delete_comment(&now, now_secs())?;
                    if a.config.federation.enabled {
                        crate::federation::comments::deleted(&a, &v, &now);
                    }
                }
                Ok(())
            })
            .await??;
    }
    // Channels, tokens left by a race, and the user.
    let (a, name, gone_user) = (app.clone(), user.username.clone(), user.clone());
    removed.channels = app
        .pool
        .run(move || -> Result<usize, ApiError> {
            let _uploads = a.video_locks.lock(&owner_lock(uid));
            let channels: Vec<_> = a
                .store
                .channels_of(uid)?
                .into_iter()
                .map(|c| (ChannelKey(c.id), c))
                .collect();
            if a.config.federation.enabled {
                // Followers of the account and of its channels are told, by the account.
                let account = LocalActor::Account(name.to_lowercase());
                let mut gone = vec![account.clone()];
                gone.extend(
                    channels
                        .iter()
                        .map(|(_, c)| LocalActor::Channel(c.name.clone())),
                );
                crate::federation::outbox::actors_deleted(&a, &gone, &account)?;
            }
            let mut batch = Batch::default();
            for (_, c) in &channels {
                super::channel_admin::forget_channel(&a, c, &mut batch)?;
            }
            for (k, f) in a.store.scan::<crate::store::federation::FollowerKey>(&())? {
                if f.local == format!("account:{}", name.to_lowercase()) {
                    batch.delete(&a.store, &k);
                }
            }
            // What they muted (others' mutes of them name an id nobody will have again).
            for (k, _) in a.store.scan::<crate::store::federation::MuteKey>(&uid)? {
                batch.delete(&a.store, &k);
            }
            super::playlists::forget_owner(&a, uid, &mut batch)?;
            super::subscriptions::forget_user(&a, &gone_user)?;
            revoke_all(&a.store, uid, &mut batch)?;
            batch.delete(&a.store, &UserByNameKey(name));
            batch.delete(&a.store, &UserKey(uid));
            a.store.write(batch, Durability::Sync)?;
            Ok(channels.len())
        })
        .await??;
    tracing::info!(
        user = %user.username,
        by = %auth.user.username,
        uploads = removed.uploads,
        videos = removed.videos,
        ratings = removed.ratings,
        comments = removed.comments,
        channels = removed.channels,
        "user removed"
    );
    Ok(StatusCode::NO_CONTENT)
}
