//! PeerTube's subscriptions of the logged-in user, `/api/v1/users/me/subscriptions`: list
//! (`ResultList<VideoChannel>`), subscribe (`{"uri": "name@host"}`), read and unsubscribe one
//! (`…/{uri}`), which of some channels are subscribed (`…/exist?uris=…`) and the videos of the
//! subscribed channels (`…/videos`, the video list of `GET /api/v1/videos` over those channels).
//!
//! A channel of this instance is subscribed at once. Another instance's channel is found by
//! WebFinger and followed as PeerTube does it: the user's account sends a `Follow` to the
//! channel, the subscription is pending until the channel's `Accept`
//! ([`crate::federation::receive`]), and unsubscribing sends the `Undo`. The feed merges the
//! per-channel indexes of the accepted subscriptions ([`crate::store::channel_index`]).

use super::auth::AuthUser;
use super::error::ApiError;
use super::server_blocklist::check_host;
use super::users::{account_json, channel_json};
use super::video_query::{invalid, Params, MAX_COUNT, MAX_SEARCH, MAX_START};
use super::videos::{remote_actor_json, MaybeUser};
use crate::app::{App, SharedApp};
use crate::federation::blocklist::normalize_host;
use crate::federation::{admin, subscribe, FederationError};
use crate::store::channel_index::ChannelRef;
use crate::store::federation::{FollowState, RemoteActorKey};
use crate::store::subscriptions::{ChannelTarget, Subscription};
use crate::store::tables::{Channel, ChannelByNameKey, ChannelKey, User, UserKey};
use crate::store::StoreError;
use crate::time::now_secs;
use crate::video::text::normalise;
use axum::extract::{Path, RawQuery, State};
use axum::routing::get;
use axum::{Json, Router};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// Channels one user may subscribe to (PeerTube has no limit; the feed merges one index walk
/// per subscribed channel, so it needs one).
pub const MAX_SUBSCRIPTIONS: usize = 5_000;

/// The routes.
pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route(
            "/api/v1/users/me/subscriptions",
            get(list).post(subscribe_to),
        )
        .route("/api/v1/users/me/subscriptions/exist", get(exist))
        .route("/api/v1/users/me/subscriptions/videos", get(videos))
        .route(
            "/api/v1/users/me/subscriptions/{uri}",
            get(one).delete(unsubscribe),
        )
}

/// A checked `uri`: the channel's name and host, and whether it is this instance's.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Handle {
    name: String,
    host: String,
    local: bool,
}

impl Handle {
    /// `name@host` as subscriptions are keyed.
    fn key(&self) -> String {
        format!("{}@{}", self.name, self.host)
    }
}

/// Checks a channel handle (`name@host`, an optional leading `@`).
fn parse_uri(app: &App, param: &str, uri: &str) -> Result<Handle, ApiError> {
    let bad = |why: &str| invalid(param, uri, why);
    if uri.len() > 300 || uri.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad(
            "must be a channel handle name@host, without spaces or control characters",
        ));
    }
    let rest = uri.strip_prefix('@').unwrap_or(uri);
    let Some((name, host)) = rest.split_once('@') else {
        return Err(bad("must be a channel handle name@host"));
    };
    let name_ok = !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | ':'));
    if !name_ok {
        return Err(bad("must be a channel handle name@host"));
    }
    let host = check_host(host).map_err(|_| bad("must be a channel handle name@host"))?;
    Ok(Handle {
        name: name.to_string(),
        local: host == normalize_host(&app.public_host),
        host,
    })
}

/// The local channel a handle names, or PeerTube's 404.
fn local_channel(app: &App, h: &Handle) -> Result<Channel, ApiError> {
    let not_found = || ApiError::not_found(format!("video channel {} not found", h.key()));
    let id = app
        .store
        .get(&ChannelByNameKey(h.name.clone()))?
        .ok_or_else(not_found)?;
    app.store.get(&ChannelKey(id))?.ok_or_else(not_found)
}

/// Remote followers and local subscribers of a local channel (its `followersCount`).
pub fn channel_followers(app: &App, c: &Channel) -> Result<u64, StoreError> {
    Ok(app
        .store
        .accepted_follower_count(&format!("channel:{}", c.name))?
        + app.store.subscriber_count(&ChannelRef::Local(c.id))?)
}

/// The subscribed channel as PeerTube's `VideoChannel`; `None` when a local channel is gone.
fn channel_doc(app: &App, s: &Subscription) -> Result<Option<Value>, StoreError> {
    let count = app.store.channel_video_count(&s.channel.channel_ref())?;
    let mut doc = match &s.channel {
        ChannelTarget::Local(id) => {
            let Some(c) = app.store.get(&ChannelKey(*id))? else {
                return Ok(None);
            };
            let mut doc = channel_json(app, &c);
            if let Some(owner) = app.store.get(&UserKey(c.owner))? {
                doc["ownerAccount"] = account_json(app, &owner);
            }
            doc["followersCount"] = json!(channel_followers(app, &c)?);
            doc
        }
        ChannelTarget::Remote(url) => {
            let mut doc = remote_actor_json(url, true);
            if let Some(a) = app.store.get(&RemoteActorKey(url.clone()))? {
                doc["name"] = json!(a.username);
                doc["displayName"] = json!(a.username);
                doc["host"] = json!(a.host);
            }
            doc
        }
    };
    doc["videosCount"] = json!(count);
    Ok(Some(doc))
}

/// `GET /api/v1/users/me/subscriptions`: paged (`start`, `count`), sorted by `createdAt` or
/// `id` (the order of subscription; `-` for newest first, the default), `search` over the
/// handle and display name.
pub async fn list(
    State(app): State<SharedApp>,
    auth: AuthUser,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p = Params::parse(raw.as_deref())?;
    let start = p.int("start", 0, MAX_START)?;
    let count = p.int("count", 15, MAX_COUNT)?;
    let sort = p.one("sort").unwrap_or("-createdAt");
    let desc = match sort {
        "-createdAt" | "-id" => true,
        "createdAt" | "id" => false,
        s => {
            return Err(invalid(
                "sort",
                s,
                "must be createdAt or id (prefix - for descending)",
            ))
        }
    };
    let search = match p.one("search") {
        Some(s) if s.chars().count() > MAX_SEARCH || s.chars().any(char::is_control) => {
            return Err(invalid(
                "search",
                s,
                &format!("must be at most {MAX_SEARCH} characters, without control characters"),
            ))
        }
        Some(s) => Some(normalise(s)),
        None => None,
    };
    let a = app.clone();
    let doc = app
        .pool
        .run(move || -> Result<Value, ApiError> {
            let mut subs = a.store.subscriptions_of(auth.user.id)?;
            subs.sort_by(|x, y| (x.created_at, &x.handle).cmp(&(y.created_at, &y.handle)));
            if desc {
                subs.reverse();
            }
            let mut docs = Vec::new();
            for s in &subs {
                let Some(doc) = channel_doc(&a, s)? else {
                    continue;
                };
                if let Some(q) = &search {
                    let text = format!(
                        "{} {}",
                        s.handle,
                        doc["displayName"].as_str().unwrap_or_default()
                    );
                    if !normalise(&text).contains(q.as_str()) {
                        continue;
                    }
                }
                docs.push(doc);
            }
            let total = docs.len();
            let data: Vec<Value> = docs.into_iter().skip(start).take(count).collect();
            Ok(json!({"total": total, "data": data}))
        })
        .await??;
    Ok(Json(doc))
}

/// `POST /api/v1/users/me/subscriptions` body.
#[derive(Debug, Deserialize)]
pub struct SubscribeBody {
    uri: Option<String>,
}

/// `POST /api/v1/users/me/subscriptions`: 204 (also when already subscribed), 404 for an
/// unknown channel of this instance, 400 for a bad handle, past [`MAX_SUBSCRIPTIONS`], or a
/// remote channel that cannot be found.
pub async fn subscribe_to(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Json(body): Json<SubscribeBody>,
) -> Result<StatusCode, ApiError> {
    let uri = body
        .uri
        .ok_or_else(|| invalid("uri", "", "is required (a channel handle name@host)"))?;
    let h = parse_uri(&app, "uri", &uri)?;
    let user = auth.user;
    let a = app.clone();
    let remote = app
        .pool
        .run(move || -> Result<Option<(User, Handle)>, ApiError> {
            if let Some(s) = a.store.subscription(user.id, &h.key())? {
                if s.state == FollowState::Accepted || h.local {
                    return Ok(None);
                }
            } else if a.store.subscription_count(user.id)? >= MAX_SUBSCRIPTIONS {
                return Err(ApiError::bad_request(format!(
                    "a user may subscribe to at most {MAX_SUBSCRIPTIONS} channels"
                )));
            }
            if !h.local {
                return Ok(Some((user, h)));
            }
            let c = local_channel(&a, &h)?;
            let sub = Subscription {
                handle: h.key(),
                channel: ChannelTarget::Local(c.id),
                follow_id: None,
                state: FollowState::Accepted,
                created_at: now_secs(),
            };
            a.store.put_subscription(user.id, &sub)?;
            tracing::info!(user = %user.username, channel = %sub.handle, "subscribed");
            Ok(None)
        })
        .await??;
    let Some((user, h)) = remote else {
        return Ok(StatusCode::NO_CONTENT);
    };
    if !app.config.federation.enabled {
        return Err(ApiError::bad_request(format!(
            "{} is on another instance, and federation is disabled here (federation.enabled = false)",
            h.key()
        )));
    }
    let a = app.clone();
    // WebFinger and the actor fetch go to the other instance: not on the blocking pool.
    crate::federation::on_own_thread("fleuve-subscribe", move || subscribe_remote(&a, &user, &h))
        .await??;
    Ok(StatusCode::NO_CONTENT)
}

/// Resolves the remote channel `h`, records the pending subscription and sends the `Follow`
/// (again, with the same id, when one is pending).
fn subscribe_remote(app: &App, user: &User, h: &Handle) -> Result<(), ApiError> {
    let key = h.key();
    let target = admin::resolve(app, &key, true).map_err(|e| match e {
        FederationError::BadRequest(d) => ApiError::bad_request(d),
        e => e.into(),
    })?;
    if target.kind != "Group" {
        return Err(ApiError::bad_request(format!(
            "{key} is a {} actor, not a video channel",
            target.kind
        )));
    }
    if target.host == app.public_host {
        return Err(ApiError::bad_request(format!("{key} is on this instance")));
    }
    let existing = app.store.subscription(user.id, &key)?;
    let follow_id = match existing.as_ref().and_then(|s| s.follow_id.clone()) {
        Some(id)
            if existing
                .as_ref()
                .is_some_and(|s| s.state == FollowState::Pending) =>
        {
            id
        }
        _ => subscribe::new_follow_id(app, &user.username, &target.id),
    };
    let sub = Subscription {
        handle: key,
        channel: ChannelTarget::Remote(target.id.clone()),
        follow_id: Some(follow_id.clone()),
        state: FollowState::Pending,
        created_at: existing.map_or_else(now_secs, |s| s.created_at),
    };
    app.store.put_subscription(user.id, &sub)?;
    subscribe::follow_channel(app, &user.username, &target.id, &target.inbox, &follow_id)?;
    tracing::info!(user = %user.username, channel = %sub.handle, "subscription to a remote channel sent");
    Ok(())
}

/// `GET /api/v1/users/me/subscriptions/{uri}`: the subscribed channel, 404 when not subscribed.
pub async fn one(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path(uri): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let h = parse_uri(&app, "uri", &uri)?;
    let a = app.clone();
    let doc = app
        .pool
        .run(move || -> Result<Value, ApiError> {
            let not_subscribed =
                || ApiError::not_found(format!("subscription to {} not found", h.key()));
            let s = a
                .store
                .subscription(auth.user.id, &h.key())?
                .ok_or_else(not_subscribed)?;
            channel_doc(&a, &s)?.ok_or_else(not_subscribed)
        })
        .await??;
    Ok(Json(doc))
}

/// `DELETE /api/v1/users/me/subscriptions/{uri}`: 204, 404 when not subscribed; a remote
/// channel gets the `Undo` of the `Follow`.
pub async fn unsubscribe(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path(uri): Path<String>,
) -> Result<StatusCode, ApiError> {
    let h = parse_uri(&app, "uri", &uri)?;
    let a = app.clone();
    app.pool
        .run(move || -> Result<(), ApiError> {
            let user = &auth.user;
            let s = a
                .store
                .remove_subscription(user.id, &h.key())?
                .ok_or_else(|| {
                    ApiError::not_found(format!("subscription to {} not found", h.key()))
                })?;
            undo_follow(&a, user, &s)?;
            tracing::info!(user = %user.username, channel = %s.handle, "unsubscribed");
            Ok(())
        })
        .await??;
    Ok(StatusCode::NO_CONTENT)
}

/// Sends the `Undo` of the `Follow` behind `user`'s ended subscription `s` (remote channels).
fn undo_follow(app: &App, user: &User, s: &Subscription) -> Result<(), ApiError> {
    if let (ChannelTarget::Remote(url), Some(follow_id)) = (&s.channel, &s.follow_id) {
        match app.store.get(&RemoteActorKey(url.clone()))? {
            Some(actor) => {
                subscribe::unfollow_channel(app, &user.username, url, &actor.inbox, follow_id)?;
            }
            None => {
                tracing::warn!(channel = %url, "unsubscribed from a channel whose actor is unknown; no Undo sent")
            }
        }
    }
    Ok(())
}

/// Ends every subscription of `user` (their removal): remote channels get the `Undo`, signed
/// by the account's key (which stays until the deliveries are gone). Returns how many.
pub(crate) fn forget_user(app: &App, user: &User) -> Result<usize, ApiError> {
    let all = app.store.subscriptions_of(user.id)?;
    for s in &all {
        app.store.remove_subscription(user.id, &s.handle)?;
        undo_follow(app, user, s)?;
    }
    Ok(all.len())
}

/// Ends the subscriptions to local channel `channel` (its removal).
pub(crate) fn forget_channel(app: &App, channel: &Channel) -> Result<usize, StoreError> {
    use crate::store::subscriptions::SubscriberKey;
    let target = ChannelTarget::Local(channel.id);
    let mut n = 0;
    for (k, ()) in app
        .store
        .scan::<SubscriberKey>(&target.channel_ref().bytes())?
    {
        for s in app.store.subscriptions_of(k.user)? {
            if s.channel == target {
                app.store.remove_subscription(k.user, &s.handle)?;
                n += 1;
            }
        }
    }
    Ok(n)
}

/// `GET /api/v1/users/me/subscriptions/exist?uris=a@h&uris=b@h`: `{ "a@h": true, … }`.
pub async fn exist(
    State(app): State<SharedApp>,
    auth: AuthUser,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p = Params::parse(raw.as_deref())?;
    let uris: Vec<(String, Handle)> = p
        .all("uris")?
        .into_iter()
        .map(|u| parse_uri(&app, "uris", u).map(|h| (u.to_string(), h)))
        .collect::<Result<_, _>>()?;
    if uris.is_empty() {
        return Err(invalid(
            "uris",
            "",
            "is required (channel handles name@host)",
        ));
    }
    let a = app.clone();
    let doc = app
        .pool
        .run(move || -> Result<Value, ApiError> {
            let mut out = Map::new();
            for (uri, h) in uris {
                let found = a.store.subscription(auth.user.id, &h.key())?.is_some();
                out.insert(uri, json!(found));
            }
            Ok(Value::Object(out))
        })
        .await??;
    Ok(Json(doc))
}

/// `GET /api/v1/users/me/subscriptions/videos`: the listed videos of the accepted
/// subscriptions, with the paging, sorts and filters of `GET /api/v1/videos`.
pub async fn videos(
    State(app): State<SharedApp>,
    auth: AuthUser,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let a = app.clone();
    let id = auth.user.id;
    let channels: Vec<ChannelRef> = app
        .pool
        .run(move || -> Result<Vec<ChannelRef>, StoreError> {
            Ok(a.store
                .subscriptions_of(id)?
                .into_iter()
                .filter(|s| s.state == FollowState::Accepted)
                .map(|s| s.channel.channel_ref())
                .collect())
        })
        .await??;
    let viewer = MaybeUser(Some(auth.user));
    super::video_list::respond_channels(&app, &viewer, raw.as_deref(), channels).await
}
