//! The instance's blocklist, PeerTube's `/api/v1/server/blocklist/servers` and `/accounts`
//! (moderators and administrators): list, block (`{"host"}` or `{"accountName": "name@host"}`)
//! and unblock (`DELETE …/servers/{host}`, `…/accounts/{name@host}`). What a block does is
//! [`crate::federation::blocklist`]'s: the inboxes refuse the server's or account's activities
//! and the lists hide their videos.

use super::auth::AuthUser;
use super::error::ApiError;
use super::paging::{PageQuery, Paging};
use super::users::account_json;
use super::videos::remote_actor_json;
use crate::app::{App, SharedApp};
use crate::federation::blocklist::normalize_host;
use crate::store::federation::{AccountBlockKey, Block, RemoteActorKey, ServerBlockKey};
use crate::store::tables::{Right, User, UserKey};
use crate::time::iso8601;
use axum::extract::{Path, Query, State};
use axum::routing::{delete, get};
use axum::{Json, Router};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

/// The routes.
pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route(
            "/api/v1/server/blocklist/servers",
            get(list_servers).post(block_server),
        )
        .route(
            "/api/v1/server/blocklist/servers/{host}",
            delete(unblock_server),
        )
        .route(
            "/api/v1/server/blocklist/accounts",
            get(list_accounts).post(block_account),
        )
        .route(
            "/api/v1/server/blocklist/accounts/{name}",
            delete(unblock_account),
        )
}

fn moderator(user: &User) -> Result<(), ApiError> {
    super::auth::require(
        user,
        Right::ManageServerBlocklist,
        "the instance's blocklists",
    )
}

/// A host as PeerTube accepts one: a domain or address, an optional port, nothing else.
pub(super) fn check_host(host: &str) -> Result<String, ApiError> {
    let h = normalize_host(host);
    let ok = !h.is_empty()
        && h.len() <= 255
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if ok {
        Ok(h)
    } else {
        Err(ApiError::bad_request(format!(
            "host must be a server's host (name or address, optional port) (got {host:?})"
        )))
    }
}

/// The account that made a block: the moderator, or `root` once that user is gone.
fn by_json(app: &App, by: u64) -> Result<Value, ApiError> {
    let user = match app.store.get(&UserKey(by))? {
        Some(u) => Some(u),
        None => app
            .store
            .scan::<UserKey>(&())?
            .into_iter()
            .map(|(_, u)| u)
            .find(|u| u.username == super::auth::ROOT_USER),
    };
    Ok(user.map_or(Value::Null, |u| account_json(app, &u)))
}

/// Sorts blocks by `createdAt` (default newest first) and pages them.
fn page_of<K>(
    mut rows: Vec<(K, Block)>,
    paging: &Paging,
    to_json: impl Fn(&(K, Block)) -> Result<Value, ApiError>,
) -> Result<Value, ApiError> {
    rows.sort_by_key(|(_, b)| b.created_at);
    if paging.descending {
        rows.reverse();
    }
    paging.result_list(&rows, to_json)
}

/// `GET /api/v1/server/blocklist/servers`: `ResultList<ServerBlock>`.
pub async fn list_servers(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    moderator(&auth.user)?;
    let paging = Paging::parse(&q, &["createdAt"], "-createdAt")?;
    let a = app.clone();
    let doc = app
        .pool
        .run(move || -> Result<Value, ApiError> {
            let rows = a.store.scan::<ServerBlockKey>(&())?;
            page_of(rows, &paging, |(k, b)| {
                Ok(json!({
                    "byAccount": by_json(&a, b.by)?,
                    "blockedServer": {"host": k.0},
                    "createdAt": iso8601(b.created_at),
                }))
            })
        })
        .await??;
    Ok(Json(doc))
}

/// `POST /api/v1/server/blocklist/servers` body.
#[derive(Debug, Deserialize)]
pub struct ServerBody {
    host: String,
}

/// `POST /api/v1/server/blocklist/servers` (`{"host"}`); 204, 409 when it is blocked already
/// or is this instance.
pub async fn block_server(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Json(body): Json<ServerBody>,
) -> Result<StatusCode, ApiError> {
    moderator(&auth.user)?;
    let host = check_host(&body.host)?;
    if host == normalize_host(&app.public_host) {
        return Err(ApiError::conflict("this instance cannot block itself"));
    }
    let (a, by) = (app.clone(), auth.user.clone());
    app.pool
        .run(move || -> Result<(), ApiError> {
            if !a
                .federation
                .blocklist
                .block_server(&a.store, &host, by.id)?
            {
                return Err(ApiError::conflict(format!("{host} is already blocked")));
            }
            tracing::info!(host = %host, by = %by.username, "server blocked");
            Ok(())
        })
        .await??;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/server/blocklist/servers/{host}`; 204, 404 when it is not blocked.
pub async fn unblock_server(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path(host): Path<String>,
) -> Result<StatusCode, ApiError> {
    moderator(&auth.user)?;
    let host = check_host(&host)?;
    let (a, by) = (app.clone(), auth.user.clone());
    app.pool
        .run(move || -> Result<(), ApiError> {
            if !a.federation.blocklist.unblock_server(&a.store, &host)? {
                return Err(ApiError::not_found(format!("{host} is not blocked")));
            }
            tracing::info!(host = %host, by = %by.username, "server unblocked");
            Ok(())
        })
        .await??;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/server/blocklist/accounts`: `ResultList<AccountBlock>`.
pub async fn list_accounts(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    moderator(&auth.user)?;
    let paging = Paging::parse(&q, &["createdAt"], "-createdAt")?;
    let a = app.clone();
    let doc = app
        .pool
        .run(move || -> Result<Value, ApiError> {
            let rows = a.store.scan::<AccountBlockKey>(&())?;
            page_of(rows, &paging, |(k, b)| {
                let actor = b.actor.clone().unwrap_or_default();
                let mut blocked = remote_actor_json(&actor, true);
                if let Some((name, _)) = k.0.split_once('@') {
                    blocked["name"] = json!(name);
                }
                Ok(json!({
                    "byAccount": by_json(&a, b.by)?,
                    "blockedAccount": blocked,
                    "createdAt": iso8601(b.created_at),
                }))
            })
        })
        .await??;
    Ok(Json(doc))
}

/// `POST /api/v1/server/blocklist/accounts` body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountBody {
    account_name: String,
}

/// `name@host` split and checked (a local account has no host: block the user instead).
fn handle_of(account: &str) -> Result<(String, String), ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "accountName must be another instance's account as name@host (got {account:?}); a local account is blocked as a user (POST /api/v1/users/{{id}}/block)"
        ))
    };
    let (name, host) = account.trim().split_once('@').ok_or_else(bad)?;
    if name.is_empty() || name.len() > 255 || name.chars().any(|c| c.is_control() || c == '/') {
        return Err(bad());
    }
    Ok((name.to_string(), check_host(host).map_err(|_| bad())?))
}

/// The remote actor `name@host` this instance has fetched; 404 for one it does not know.
pub(super) fn known_remote_actor(
    app: &App,
    name: &str,
    host: &str,
) -> Result<crate::store::federation::RemoteActor, ApiError> {
    app.store
        .scan::<RemoteActorKey>(&())?
        .into_iter()
        .map(|(_, r)| r)
        .find(|r| r.username == name && normalize_host(&r.host) == host)
        .ok_or_else(|| {
            ApiError::not_found(format!("account {name}@{host} is unknown to this instance"))
        })
}

/// `POST /api/v1/server/blocklist/accounts` (`{"accountName": "name@host"}`): an account this
/// instance knows (it has fetched its actor); 204, 404 for an unknown one, 409 when blocked
/// already.
pub async fn block_account(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Json(body): Json<AccountBody>,
) -> Result<StatusCode, ApiError> {
    moderator(&auth.user)?;
    let (name, host) = handle_of(&body.account_name)?;
    if host == normalize_host(&app.public_host) {
        return Err(ApiError::bad_request(format!(
            "{} is an account of this instance: block the user instead (POST /api/v1/users/{{id}}/block)",
            body.account_name
        )));
    }
    let (a, by) = (app.clone(), auth.user.clone());
    app.pool
        .run(move || -> Result<(), ApiError> {
            let handle = format!("{name}@{host}");
            let actor = known_remote_actor(&a, &name, &host)?;
            if !a
                .federation
                .blocklist
                .block_account(&a.store, &handle, &actor.id, by.id)?
            {
                return Err(ApiError::conflict(format!("{handle} is already blocked")));
            }
            tracing::info!(account = %handle, actor = %actor.id, by = %by.username, "account blocked");
            Ok(())
        })
        .await??;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/server/blocklist/accounts/{name@host}`; 204, 404 when it is not blocked.
pub async fn unblock_account(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path(account): Path<String>,
) -> Result<StatusCode, ApiError> {
    moderator(&auth.user)?;
    let (name, host) = handle_of(&account)?;
    let handle = format!("{name}@{host}");
    let (a, by) = (app.clone(), auth.user.clone());
    app.pool
        .run(move || -> Result<(), ApiError> {
            if !a.federation.blocklist.unblock_account(&a.store, &handle)? {
                return Err(ApiError::not_found(format!("{handle} is not blocked")));
            }
            tracing::info!(account = %handle, by = %by.username, "account unblocked");
            Ok(())
        })
        .await??;
    Ok(StatusCode::NO_CONTENT)
}
