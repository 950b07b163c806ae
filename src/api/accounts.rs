//! PeerTube's account endpoints for local accounts: `GET /api/v1/accounts/{name}` (`Account`),
//! its public videos (`/videos`, a `ResultList<Video>`) and its channels (`/video-channels`, a
//! `ResultList<VideoChannel>`). `{name}` is a username, or `name@host` with this instance's
//! host. The video lists are `GET /api/v1/videos` narrowed to the account
//! ([`super::video_list::respond`]).

use super::error::ApiError;
use super::paging::{PageQuery, Paging};
use super::users::account_json;
use super::videos::MaybeUser;
use crate::app::{App, SharedApp};
use crate::store::tables::{Channel, User, UserByNameKey, UserKey};
use crate::store::StoreError;
use axum::extract::{Path, Query, RawQuery, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

/// The routes.
pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route("/api/v1/accounts/{name}", get(account))
        .route("/api/v1/accounts/{name}/videos", get(videos))
        .route("/api/v1/accounts/{name}/video-channels", get(channels))
}

/// The local part of a handle: `name`, or `name@<this host>`; `None` for another host's.
pub(crate) fn local_handle<'a>(app: &App, name: &'a str) -> Option<&'a str> {
    match name.split_once('@') {
        Some((n, host)) if host.eq_ignore_ascii_case(&app.public_host) => Some(n),
        Some(_) => None,
        None => Some(name),
    }
}

/// The local user named `name` (`name` or `name@<this host>`).
fn find_user(app: &App, name: &str) -> Result<Option<User>, StoreError> {
    let Some(local) = local_handle(app, name) else {
        return Ok(None);
    };
    match app.store.get(&UserByNameKey(local.to_lowercase()))? {
        Some(id) => app.store.get(&UserKey(id)),
        None => Ok(None),
    }
}

/// The user named `name`, or PeerTube's 404.
pub(crate) async fn user_or_404(app: &SharedApp, name: String) -> Result<User, ApiError> {
    let a = app.clone();
    let n = name.clone();
    app.pool
        .run(move || find_user(&a, &n))
        .await??
        .ok_or_else(|| ApiError::not_found(format!("account {name} not found")))
}

/// The channels `user` owns, oldest first.
pub fn channels_of(app: &App, user: &User) -> Result<Vec<Channel>, StoreError> {
    app.store.channels_of(user.id)
}

/// `GET /api/v1/accounts/{name}`.
pub async fn account(
    State(app): State<SharedApp>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let user = user_or_404(&app, name).await?;
    Ok(Json(account_json(&app, &user)))
}

/// `GET /api/v1/accounts/{name}/videos`: the video list (every sort and filter of
/// `GET /api/v1/videos`) of this user's videos.
pub async fn videos(
    State(app): State<SharedApp>,
    viewer: MaybeUser,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let user = user_or_404(&app, name).await?;
    super::video_list::respond(&app, &viewer, raw.as_deref(), |f| f.owner = Some(user.id)).await
}

/// `GET /api/v1/accounts/{name}/video-channels`.
pub async fn channels(
    State(app): State<SharedApp>,
    Path(name): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let paging = Paging::parse(&q, &["createdAt", "name"], "createdAt")?;
    let user = user_or_404(&app, name).await?;
    let a = app.clone();
    let mut list = app.pool.run(move || channels_of(&a, &user)).await??;
    list.sort_by(|x, y| {
        let o = match paging.sort.as_str() {
            "name" => x.name.cmp(&y.name),
            _ => x.created_at.cmp(&y.created_at),
        }
        .then(x.id.cmp(&y.id));
        if paging.descending {
            o.reverse()
        } else {
            o
        }
    });
    let a = app.clone();
    let doc = app
        .pool
        .run(move || paging.result_list(&list, |c| super::channels::channel_full_json(&a, c)))
        .await??;
    Ok(Json(doc))
}
