//! Managing users, as PeerTube's API does: `POST /api/v1/users` (a user with their first
//! channel), `GET /api/v1/users` and `/users/{id}`, `PUT /api/v1/users/{id}` (role, quotas,
//! e-mail), and `PUT /api/v1/users/me` (display name, password with the current one).
//!
//! Rights as PeerTube grants them (`UserRight.MANAGE_USERS`): administrators manage everyone;
//! moderators manage users only (they cannot create, change or promote to moderator or
//! administrator); users manage nobody.

use super::auth::{hash_password, verify_password, AuthUser, MIN_PASSWORD};
use super::error::ApiError;
use super::paging::{PageQuery, Paging};
use super::users::user_json;
use crate::app::{App, SharedApp};
use crate::store::tables::{
    Channel, ChannelByNameKey, ChannelKey, Right, Role, Sequence, User, UserByNameKey, UserKey,
};
use crate::store::{Batch, Durability};
use crate::time::now_secs;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

/// The routes (`PUT /api/v1/users/me` is beside `GET` in [`super::routes`]).
pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route("/api/v1/users", get(list).post(create))
        .route(
            "/api/v1/users/{id}",
            get(one).put(update).delete(super::user_moderation::remove),
        )
        .route(
            "/api/v1/users/{id}/block",
            post(super::user_moderation::block),
        )
        .route(
            "/api/v1/users/{id}/unblock",
            post(super::user_moderation::unblock),
        )
}

/// Longest password accepted (PeerTube's).
const MAX_PASSWORD: usize = 255;

/// PeerTube's user name rule: 1 to 50 of `a-z 0-9 . _`.
pub(crate) fn check_username(name: &str) -> Result<(), ApiError> {
    let ok = (1..=50).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "username must be 1 to 50 characters of a-z, 0-9, '.' and '_' (got {name:?})"
        )))
    }
}

pub(crate) fn check_password(p: &str) -> Result<(), ApiError> {
    let n = p.chars().count();
    if (MIN_PASSWORD..=MAX_PASSWORD).contains(&n) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "password must have {MIN_PASSWORD} to {MAX_PASSWORD} characters (got {n})"
        )))
    }
}

pub(crate) fn check_email(e: &str) -> Result<(), ApiError> {
    let ok = e.len() <= 400
        && !e.chars().any(|c| c.is_control() || c.is_whitespace())
        && e.split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "email must be an e-mail address (got {e:?})"
        )))
    }
}

fn check_quota(name: &str, q: i64) -> Result<i64, ApiError> {
    if q >= -1 {
        Ok(q)
    } else {
        Err(ApiError::bad_request(format!(
            "{name} must be -1 (no limit) or a number of bytes (got {q})"
        )))
    }
}

fn role_of(id: u8) -> Result<Role, ApiError> {
    match id {
        0 => Ok(Role::Administrator),
        1 => Ok(Role::Moderator),
        2 => Ok(Role::User),
        _ => Err(ApiError::bad_request(format!(
            "role must be 0 (administrator), 1 (moderator) or 2 (user) (got {id})"
        ))),
    }
}

/// Refuses `actor` managing a user of role `target` (or giving that role).
pub(super) fn may_manage(actor: &User, target: Role) -> Result<(), ApiError> {
    if !actor.role.has(Right::ManageUsers) {
        return Err(ApiError::forbidden(
            "managing users needs the moderator or administrator role",
        ));
    }
    match (actor.role, target) {
        (Role::Administrator, _) | (_, Role::User) => Ok(()),
        _ => Err(ApiError::forbidden(
            "a moderator manages users only, not moderators or administrators",
        )),
    }
}

/// `POST /api/v1/users` body (PeerTube's `UserCreate`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserCreate {
    username: String,
    password: String,
    email: String,
    role: u8,
    #[serde(default = "no_limit")]
    video_quota: i64,
    #[serde(default = "no_limit")]
    video_quota_daily: i64,
    channel_name: Option<String>,
}

fn no_limit() -> i64 {
    -1
}

/// Whether `email` is already some user's (case-insensitive).
pub(crate) fn email_taken(app: &App, email: &str, except: Option<u64>) -> Result<bool, ApiError> {
    Ok(app
        .store
        .scan::<UserKey>(&())?
        .into_iter()
        .any(|(_, u)| Some(u.id) != except && u.email.eq_ignore_ascii_case(email)))
}

/// A user to make, with their first channel (checked by the caller).
pub(crate) struct NewAccount {
    /// Login name.
    pub username: String,
    /// E-mail address.
    pub email: String,
    /// Argon2 PHC string.
    pub password_hash: String,
    /// Role.
    pub role: Role,
    /// Account display name.
    pub display_name: String,
    /// First channel's handle.
    pub channel_name: String,
    /// First channel's display name.
    pub channel_display_name: String,
    /// Video quota (bytes, -1 none).
    pub video_quota: i64,
    /// Daily video quota (bytes, -1 none).
    pub video_quota_daily: i64,
    /// Whether the e-mail address counts as verified.
    pub email_verified: bool,
}

/// Makes a user and their first channel in one batch, unless the user name, the e-mail or
/// the channel name is taken (409, naming it). Serialised, so two sign-ups cannot take the
/// same name. Call it on the blocking pool.
pub(crate) fn create_account(app: &App, new: NewAccount) -> Result<User, ApiError> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let store = &app.store;
    if store.get(&UserByNameKey(new.username.clone()))?.is_some() {
        return Err(ApiError::conflict(format!(
            "a user named {:?} already exists",
            new.username
        )));
    }
    if email_taken(app, &new.email, None)? {
        return Err(ApiError::conflict(format!(
            "a user with the e-mail {:?} already exists",
            new.email
        )));
    }
    if new.channel_name == new.username {
        return Err(ApiError::conflict(format!(
            "channelName {:?} cannot be the user's name",
            new.channel_name
        )));
    }
    if store
        .get(&ChannelByNameKey(new.channel_name.clone()))?
        .is_some()
        || store
            .get(&UserByNameKey(new.channel_name.clone()))?
            .is_some()
    {
        return Err(ApiError::conflict(format!(
            "a channel or account named {:?} already exists",
            new.channel_name
        )));
    }
    let now = now_secs();
    let user = User {
        id: store.next_id(Sequence::User)?,
        username: new.username,
        email: new.email,
        password_hash: new.password_hash,
        role: new.role,
        display_name: new.display_name,
        created_at: now,
        video_quota: new.video_quota,
        video_quota_daily: new.video_quota_daily,
        blocked: false,
        blocked_reason: None,
        email_verified: new.email_verified,
        nsfw_policy: crate::store::tables::DEFAULT_NSFW_POLICY.to_string(),
        p2p_enabled: true,
    };
    let channel = Channel {
        id: store.next_id(Sequence::Channel)?,
        name: new.channel_name,
        display_name: new.channel_display_name,
        owner: user.id,
        created_at: now,
        description: None,
        support: None,
        updated_at: now,
    };
    let mut batch = Batch::default();
    batch.put(store, &UserKey(user.id), &user)?;
    batch.put(store, &UserByNameKey(user.username.clone()), &user.id)?;
    batch.put(store, &ChannelKey(channel.id), &channel)?;
    batch.put(
        store,
        &crate::store::tables::ChannelByOwnerKey {
            owner: user.id,
            channel: channel.id,
        },
        &(),
    )?;
    batch.put(store, &ChannelByNameKey(channel.name.clone()), &channel.id)?;
    crate::store::video_index::index_channel(&mut batch, &channel);
    store.write(batch, Durability::Sync)?;
    Ok(user)
}

/// `POST /api/v1/users`: a user and their first channel; `{user: {id, account: {id}}}`.
pub async fn create(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Json(body): Json<UserCreate>,
) -> Result<Json<Value>, ApiError> {
    let role = role_of(body.role)?;
    may_manage(&auth.user, role)?;
    check_username(&body.username)?;
    check_password(&body.password)?;
    check_email(&body.email)?;
    let video_quota = check_quota("videoQuota", body.video_quota)?;
    let video_quota_daily = check_quota("videoQuotaDaily", body.video_quota_daily)?;
    let channel_name = body
        .channel_name
        .clone()
        .unwrap_or_else(|| format!("{}_channel", body.username));
    check_username(&channel_name)
        .map_err(|_| ApiError::bad_request(format!("channelName {channel_name:?} is not valid: 1 to 50 characters of a-z, 0-9, '.' and '_'")))?;
    // Argon2 is slow on purpose: hashed on the pool, like everything that touches the store.
    let a = app.clone();
    let by = auth.user.username.clone();
    let created = app
        .pool
        .run(move || -> Result<User, ApiError> {
            let hash = hash_password(&body.password)
                .map_err(|e| ApiError::internal("password hashing", e))?;
            create_account(
                &a,
                NewAccount {
                    display_name: body.username.clone(),
                    channel_display_name: format!("Main {} channel", body.username),
                    username: body.username,
                    email: body.email,
                    password_hash: hash,
                    role,
                    channel_name,
                    video_quota,
                    video_quota_daily,
                    email_verified: true,
                },
            )
        })
        .await??;
    tracing::info!(user = %created.username, id = created.id, role = created.role.label(), by = %by, "user created");
    Ok(Json(
        json!({"user": {"id": created.id, "account": {"id": created.id}}}),
    ))
}

/// `GET /api/v1/users`: every user, paged (`ResultList<User>`), sorted by `id`, `username` or
/// `createdAt`.
pub async fn list(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    may_manage(&auth.user, Role::User)?;
    let paging = Paging::parse(&q, &["id", "username", "createdAt"], "id")?;
    let a = app.clone();
    let doc = app
        .pool
        .run(move || -> Result<Value, ApiError> {
            let mut users: Vec<User> = a
                .store
                .scan::<UserKey>(&())?
                .into_iter()
                .map(|(_, u)| u)
                .collect();
            users.sort_by(|x, y| {
                let o = match paging.sort.as_str() {
                    "username" => x.username.cmp(&y.username),
                    "createdAt" => x.created_at.cmp(&y.created_at),
                    _ => x.id.cmp(&y.id),
                }
                .then(x.id.cmp(&y.id));
                if paging.descending {
                    o.reverse()
                } else {
                    o
                }
            });
            paging.result_list(&users, |u| Ok::<_, ApiError>(user_json(&a, u)?))
        })
        .await??;
    Ok(Json(doc))
}

pub(super) fn user_or_404(app: &App, id: &str) -> Result<User, ApiError> {
    let missing = || ApiError::not_found(format!("user {id} not found"));
    let n: u64 = id.parse().map_err(|_| missing())?;
    app.store.get(&UserKey(n))?.ok_or_else(missing)
}

/// `GET /api/v1/users/{id}`.
pub async fn one(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    may_manage(&auth.user, Role::User)?;
    let a = app.clone();
    Ok(Json(
        app.pool
            .run(move || -> Result<Value, ApiError> { Ok(user_json(&a, &user_or_404(&a, &id)?)?) })
            .await??,
    ))
}

/// `PUT /api/v1/users/{id}` body (PeerTube's `UserUpdate`, the fields Fleuve keeps).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserUpdate {
    email: Option<String>,
    role: Option<u8>,
    video_quota: Option<i64>,
    video_quota_daily: Option<i64>,
    password: Option<String>,
}

/// `PUT /api/v1/users/{id}`: role, quotas, e-mail, password; 204.
pub async fn update(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path(id): Path<String>,
    Json(body): Json<UserUpdate>,
) -> Result<StatusCode, ApiError> {
    let new_role = body.role.map(role_of).transpose()?;
    if let Some(e) = &body.email {
        check_email(e)?;
    }
    if let Some(p) = &body.password {
        check_password(p)?;
    }
    let video_quota = body
        .video_quota
        .map(|q| check_quota("videoQuota", q))
        .transpose()?;
    let video_quota_daily = body
        .video_quota_daily
        .map(|q| check_quota("videoQuotaDaily", q))
        .transpose()?;
    let a = app.clone();
    let actor = auth.user;
    app.pool
        .run(move || -> Result<(), ApiError> {
            let mut user = user_or_404(&a, &id)?;
            may_manage(&actor, user.role)?;
            let role_changed = new_role.is_some_and(|r| r != user.role);
            let password_changed = body.password.is_some();
            if let Some(r) = new_role {
                may_manage(&actor, r)?;
                if user.id == actor.id && r != user.role {
                    return Err(ApiError::forbidden("you cannot change your own role"));
                }
                user.role = r;
            }
            if let Some(e) = body.email {
                if email_taken(&a, &e, Some(user.id))? {
                    return Err(ApiError::conflict(format!(
                        "a user with the e-mail {e:?} already exists"
                    )));
                }
                user.email = e;
            }
            if let Some(p) = body.password {
                user.password_hash =
                    hash_password(&p).map_err(|e| ApiError::internal("password hashing", e))?;
            }
            if let Some(q) = video_quota {
                user.video_quota = q;
            }
            if let Some(q) = video_quota_daily {
                user.video_quota_daily = q;
            }
            let mut batch = Batch::default();
            batch.put(&a.store, &UserKey(user.id), &user)?;
            // As PeerTube: a new role or password ends the user's sessions, so that every
            // request from now on is judged on what was just set.
            let revoked = if role_changed || password_changed {
                super::auth::revoke_all(&a.store, user.id, &mut batch)?
            } else {
                0
            };
            a.store.write(batch, Durability::Sync)?;
            tracing::info!(user = %user.username, by = %actor.username, tokens_revoked = revoked, "user updated");
            Ok(())
        })
        .await??;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /api/v1/users/me` body (PeerTube's `UserUpdateMe`, the fields Fleuve keeps).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserUpdateMe {
    display_name: Option<String>,
    password: Option<String>,
    current_password: Option<String>,
    nsfw_policy: Option<String>,
    p2p_enabled: Option<bool>,
}

/// `PUT /api/v1/users/me`: display name, NSFW policy, P2P; a new password only with the
/// current one; 204.
pub async fn update_me(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Json(body): Json<UserUpdateMe>,
) -> Result<StatusCode, ApiError> {
    if let Some(name) = &body.display_name {
        let n = name.trim().chars().count();
        if !(1..=120).contains(&n) || name.chars().any(char::is_control) {
            return Err(ApiError::bad_request(format!(
                "displayName must have 1 to 120 characters and no control character (got {name:?})"
            )));
        }
    }
    if let Some(p) = &body.password {
        check_password(p)?;
    }
    if let Some(p) = &body.nsfw_policy {
        if !crate::store::tables::NSFW_POLICIES.contains(&p.as_str()) {
            return Err(ApiError::bad_request(format!(
                "nsfwPolicy must be display, warn, blur or do_not_list (got {p:?})"
            )));
        }
    }
    let a = app.clone();
    let id = auth.user.id;
    app.pool
        .run(move || -> Result<(), ApiError> {
            let mut user = a
                .store
                .get(&UserKey(id))?
                .ok_or_else(|| ApiError::not_found(format!("user {id} not found")))?;
            if let Some(p) = body.password {
                let current = body.current_password.unwrap_or_default();
                if !verify_password(&current, &user.password_hash) {
                    return Err(ApiError::unauthorized(
                        "currentPassword is wrong: the password was not changed",
                    ));
                }
                user.password_hash =
                    hash_password(&p).map_err(|e| ApiError::internal("password hashing", e))?;
            }
            let renamed = body.display_name.is_some();
            if let Some(name) = body.display_name {
                user.display_name = name.trim().to_string();
            }
            if let Some(p) = body.nsfw_policy {
                user.nsfw_policy = p;
            }
            if let Some(p) = body.p2p_enabled {
                user.p2p_enabled = p;
            }
            a.store.put(&UserKey(id), &user, Durability::Sync)?;
            tracing::info!(user = %user.username, "account settings updated");
            if renamed && a.config.federation.enabled {
                let account =
                    crate::federation::discovery::LocalActor::Account(user.username.to_lowercase());
                crate::federation::outbox::actor_updated(&a, &account)?;
            }
            Ok(())
        })
        .await??;
    Ok(StatusCode::NO_CONTENT)
}
