//! What each user mutes, PeerTube's `/api/v1/users/me/blocklist/accounts` and `/servers`: list,
//! mute (`{"accountName": "name"}` for an account here, `"name@host"` for another instance's;
//! `{"host"}`) and unmute (`DELETE …/accounts/{name}`, `…/servers/{host}`). The muted
//! accounts' and servers' videos and comments are left out of what that user lists
//! ([`crate::federation::blocklist::Mutes`]); nobody else sees a difference.

use super::auth::AuthUser;
use super::error::ApiError;
use super::paging::{PageQuery, Paging};
use super::server_blocklist::{check_host, known_remote_actor};
use super::users::account_json;
use super::videos::remote_actor_json;
use crate::app::{App, SharedApp};
use crate::federation::blocklist::normalize_host;
use crate::store::federation::{Mute, MuteKey};
use crate::store::tables::{User, UserByNameKey, UserKey};
use crate::store::Durability;
use crate::time::{iso8601, now_secs};
use axum::extract::{Path, Query, State};
use axum::routing::{delete, get};
use axum::{Json, Router};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

/// Entries one user may have (PeerTube has no limit; a list read on every request of theirs
/// needs one).
pub const MAX_MUTES: usize = 1_000;

/// The routes.
pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route(
            "/api/v1/users/me/blocklist/accounts",
            get(list_accounts).post(mute_account),
        )
        .route(
            "/api/v1/users/me/blocklist/accounts/{name}",
            delete(unmute_account),
        )
        .route(
            "/api/v1/users/me/blocklist/servers",
            get(list_servers).post(mute_server),
        )
        .route(
            "/api/v1/users/me/blocklist/servers/{host}",
            delete(unmute_server),
        )
}

/// What an account handle names: a user of this instance, or a remote actor it knows.
enum Muted {
    Local(User),
    Remote { handle: String, actor: String },
}

/// Finds the account `name` (`name`, `name@this-host` or `name@other-host`).
fn resolve(app: &App, name: &str) -> Result<Muted, ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "accountName must be name or name@host (got {name:?})"
        ))
    };
    let name = name.trim();
    let (user, host) = match name.split_once('@') {
        Some((u, h)) => (u, Some(check_host(h).map_err(|_| bad())?)),
        None => (name, None),
    };
    if user.is_empty() || user.len() > 255 || user.chars().any(|c| c.is_control() || c == '/') {
        return Err(bad());
    }
    match host {
        Some(h) if h != normalize_host(&app.public_host) => {
            let actor = known_remote_actor(app, user, &h)?;
            Ok(Muted::Remote {
                handle: format!("{}@{h}", user.to_lowercase()),
                actor: actor.id,
            })
        }
        _ => {
            let id = app
                .store
                .get(&UserByNameKey(user.to_lowercase()))?
                .ok_or_else(|| ApiError::not_found(format!("account {user} not found")))?;
            let u = app
                .store
                .get(&UserKey(id))?
                .ok_or_else(|| ApiError::not_found(format!("account {user} not found")))?;
            Ok(Muted::Local(u))
        }
    }
}

/// Stores a mute of `me`; 409 when it exists, 400 past [`MAX_MUTES`].
fn add(app: &App, me: &User, target: String, mute: Mute) -> Result<(), ApiError> {
    let key = MuteKey {
        user: me.id,
        target,
    };
    if app.store.get(&key)?.is_some() {
        return Err(ApiError::conflict(format!(
            "{} is already muted",
            key.target.split_once(':').map_or("", |(_, t)| t)
        )));
    }
    if app.store.count::<MuteKey>(&me.id)? >= MAX_MUTES {
        return Err(ApiError::bad_request(format!(
            "a user may mute at most {MAX_MUTES} accounts and servers"
        )));
    }
    app.store.put(&key, &mute, Durability::Sync)?;
    Ok(())
}

/// Removes a mute of `me`; 404 when there is none.
fn remove(app: &App, me: &User, target: String) -> Result<(), ApiError> {
    let key = MuteKey {
        user: me.id,
        target,
    };
    if app.store.get(&key)?.is_none() {
        return Err(ApiError::not_found(format!(
            "{} is not muted",
            key.target.split_once(':').map_or("", |(_, t)| t)
        )));
    }
    app.store.delete(&key, Durability::Sync)?;
    Ok(())
}

/// `me`'s mutes whose target starts with `kind`, oldest first or newest first, paged.
fn page(
    app: &App,
    me: &User,
    kind: &str,
    paging: &Paging,
    to_json: impl Fn(&str, &Mute) -> Result<Value, ApiError>,
) -> Result<Value, ApiError> {
    let mut rows: Vec<(String, Mute)> = Vec::new();
    for (k, m) in app.store.scan::<MuteKey>(&me.id)? {
        let Some(t) = k.target.strip_prefix(kind) else {
            continue;
        };
        // A muted user removed since: nothing left to mute.
        if let Some(id) = m.user {
            if app.store.get(&UserKey(id))?.is_none() {
                continue;
            }
        }
        rows.push((t.to_string(), m));
    }
    rows.sort_by_key(|(_, m)| m.created_at);
    if paging.descending {
        rows.reverse();
    }
    paging.result_list(&rows, |(t, m)| to_json(t, m))
}

/// `GET /api/v1/users/me/blocklist/accounts`: `ResultList<AccountBlock>`.
pub async fn list_accounts(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let paging = Paging::parse(&q, &["createdAt"], "-createdAt")?;
    let a = app.clone();
    let doc = app
        .pool
        .run(move || {
            let me = account_json(&a, &auth.user);
            page(&a, &auth.user, "account:", &paging, |handle, m| {
                let blocked = match (m.user, &m.actor) {
                    (Some(id), _) => a
                        .store
                        .get(&UserKey(id))?
                        .map_or(Value::Null, |u| account_json(&a, &u)),
                    (None, Some(actor)) => {
                        let mut v = remote_actor_json(actor, true);
                        if let Some((name, _)) = handle.split_once('@') {
                            v["name"] = json!(name);
                        }
                        v
                    }
                    _ => Value::Null,
                };
                Ok(json!({"byAccount": me, "blockedAccount": blocked,
                          "createdAt": iso8601(m.created_at)}))
            })
        })
        .await??;
    Ok(Json(doc))
}

/// `POST /api/v1/users/me/blocklist/accounts` body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountBody {
    account_name: String,
}

/// `POST /api/v1/users/me/blocklist/accounts`; 204, 404 for an unknown account, 409 when it
/// is muted already, 400 for oneself.
pub async fn mute_account(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Json(body): Json<AccountBody>,
) -> Result<StatusCode, ApiError> {
    let a = app.clone();
    app.pool
        .run(move || -> Result<(), ApiError> {
            let me = &auth.user;
            let (target, mute) = match resolve(&a, &body.account_name)? {
                Muted::Local(u) if u.id == me.id => {
                    return Err(ApiError::bad_request("you cannot mute yourself"))
                }
                Muted::Local(u) => (
                    format!("account:{}", u.username.to_lowercase()),
                    Mute {
                        created_at: now_secs(),
                        actor: None,
                        user: Some(u.id),
                    },
                ),
                Muted::Remote { handle, actor } => (
                    format!("account:{handle}"),
                    Mute {
                        created_at: now_secs(),
                        actor: Some(actor),
                        user: None,
                    },
                ),
            };
            add(&a, me, target.clone(), mute)?;
            tracing::info!(user = %me.username, muted = %target, "account muted");
            Ok(())
        })
        .await??;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/users/me/blocklist/accounts/{name}`; 204, 404 when it is not muted.
pub async fn unmute_account(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let a = app.clone();
    app.pool
        .run(move || -> Result<(), ApiError> {
            let handle = match name.trim().split_once('@') {
                Some((u, h)) if normalize_host(h) != normalize_host(&a.public_host) => {
                    format!("{}@{}", u.to_lowercase(), check_host(h)?)
                }
                Some((u, _)) => u.to_lowercase(),
                None => name.trim().to_lowercase(),
            };
            remove(&a, &auth.user, format!("account:{handle}"))?;
            tracing::info!(user = %auth.user.username, unmuted = %handle, "account unmuted");
            Ok(())
        })
        .await??;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/users/me/blocklist/servers`: `ResultList<ServerBlock>`.
pub async fn list_servers(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let paging = Paging::parse(&q, &["createdAt"], "-createdAt")?;
    let a = app.clone();
    let doc = app
        .pool
        .run(move || {
            let me = account_json(&a, &auth.user);
            page(&a, &auth.user, "server:", &paging, |host, m| {
                Ok(json!({"byAccount": me, "blockedServer": {"host": host},
                          "createdAt": iso8601(m.created_at)}))
            })
        })
        .await??;
    Ok(Json(doc))
}

/// `POST /api/v1/users/me/blocklist/servers` body.
#[derive(Debug, Deserialize)]
pub struct ServerBody {
    host: String,
}

/// `POST /api/v1/users/me/blocklist/servers`; 204, 409 when muted already, 400 for this
/// instance.
pub async fn mute_server(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Json(body): Json<ServerBody>,
) -> Result<StatusCode, ApiError> {
    let host = check_host(&body.host)?;
    if host == normalize_host(&app.public_host) {
        return Err(ApiError::bad_request(
            "this instance cannot be muted: mute its accounts instead",
        ));
    }
    let a = app.clone();
    app.pool
        .run(move || -> Result<(), ApiError> {
            let mute = Mute {
                created_at: now_secs(),
                actor: None,
                user: None,
            };
            add(&a, &auth.user, format!("server:{host}"), mute)?;
            tracing::info!(user = %auth.user.username, muted = %host, "server muted");
            Ok(())
        })
        .await??;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/users/me/blocklist/servers/{host}`; 204, 404 when it is not muted.
pub async fn unmute_server(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path(host): Path<String>,
) -> Result<StatusCode, ApiError> {
    let host = check_host(&host)?;
    let a = app.clone();
    app.pool
        .run(move || -> Result<(), ApiError> {
            remove(&a, &auth.user, format!("server:{host}"))?;
            tracing::info!(user = %auth.user.username, unmuted = %host, "server unmuted");
            Ok(())
        })
        .await??;
    Ok(StatusCode::NO_CONTENT)
}
