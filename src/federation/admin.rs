//! PeerTube's instance-follow admin API: `POST/GET /api/v1/server/following`,
//! `DELETE /api/v1/server/following/{host|handle}` and `GET /api/v1/server/followers`.

use super::discovery::{parse_acct, INSTANCE_ACTOR};
use super::remote::{self, ActorError};
use super::{outbox, remote_videos, FederationError};
use crate::app::{host_of, App, SharedApp};
use crate::store::federation::{
    FollowState, FollowerKey, FollowingKey, RemoteActor, RemoteActorKey,
};
use crate::time::iso8601;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

/// Body of `POST /api/v1/server/following`.
#[derive(Debug, Deserialize)]
pub struct FollowBody {
    #[serde(default)]
    hosts: Vec<String>,
    #[serde(default)]
    handles: Vec<String>,
}

/// Paging of the lists.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    start: Option<usize>,
    count: Option<usize>,
}

fn bases(app: &App, host_or_url: &str) -> Result<Vec<String>, FederationError> {
    let h = host_or_url.trim().trim_end_matches('/');
    if h.is_empty() || h.contains(char::is_whitespace) {
        return Err(FederationError::BadRequest(format!(
            "{host_or_url:?} is not a host"
        )));
    }
    if h.starts_with("https://") || h.starts_with("http://") {
        if h.matches('/').count() > 2 {
            return Err(FederationError::BadRequest(format!(
                "{host_or_url:?}: give a host or a base URL without a path"
            )));
        }
        return Ok(vec![h.to_string()]);
    }
    if h.contains('/') || h.contains('@') {
        return Err(FederationError::BadRequest(format!(
            "{host_or_url:?} is not a host"
        )));
    }
    let mut v = vec![format!("https://{h}")];
    if app.federation.config.allow_private_addresses {
        // Loopback test setups run without TLS.
        v.push(format!("http://{h}"));
    }
    Ok(v)
}

/// The actor a `hosts` entry (the instance actor there) or `handles` entry names.
pub(crate) fn resolve(
    app: &App,
    entry: &str,
    handle: bool,
) -> Result<RemoteActor, FederationError> {
    let fed = &app.federation;
    let (name, host) = if handle {
        let (n, h) = parse_acct(entry)
            .ok_or_else(|| FederationError::BadRequest(format!("{entry:?} is not name@host")))?;
        (n.to_string(), h.to_string())
    } else {
        (INSTANCE_ACTOR.to_string(), entry.to_string())
    };
    let mut errors = Vec::new();
    for base in bases(app, &host)? {
        let actor_url = if handle {
            let host_only = host_of(&base);
            let wf = format!("{base}/.well-known/webfinger?resource=acct:{name}@{host_only}");
            let doc = match fed.client.get_json(&wf, None) {
                Ok(d) => d,
                Err(e) => {
                    errors.push(e.to_string());
                    continue;
                }
            };
            match doc
                .get("links")
                .and_then(|l| l.as_array())
                .into_iter()
                .flatten()
                .find(|l| l.get("rel").and_then(|r| r.as_str()) == Some("self"))
                .and_then(|l| l.get("href")?.as_str())
            {
                Some(h) => h.to_string(),
                None => {
                    errors.push(format!("{wf}: no self link"));
                    continue;
                }
            }
        } else {
            format!("{base}/accounts/{INSTANCE_ACTOR}")
        };
        match remote::actor(fed, &app.store, &app.public_url, &actor_url, true) {
            Ok((a, _)) => return Ok(a),
            Err(ActorError::Fetch { source, .. }) => errors.push(source.to_string()),
            Err(e) => errors.push(e.to_string()),
        }
    }
    Err(FederationError::BadRequest(format!(
        "cannot find {entry}: {}",
        errors.join("; ")
    )))
}

/// `POST /api/v1/server/following`: follow instances (`hosts`) or actors (`handles`). The API
/// route checks that the caller is an administrator before it calls this.
pub async fn follow(app: SharedApp, body: FollowBody) -> Result<Response, FederationError> {
    if !app.config.federation.enabled {
        return Err(FederationError::BadRequest(
            "federation is disabled on this instance (federation.enabled = false)".into(),
        ));
    }
    if body.hosts.is_empty() && body.handles.is_empty() {
        return Err(FederationError::BadRequest(
            "give hosts or handles to follow".into(),
        ));
    }
    if body.hosts.len() + body.handles.len() > 100 {
        return Err(FederationError::BadRequest(
            "at most 100 hosts and handles at a time".into(),
        ));
    }
    let a = app.clone();
    // Resolving hosts fetches from them (up to `request_timeout_secs` each): not on the
    // blocking pool that logins and uploads need.
    super::on_own_thread("fleuve-follow", move || -> Result<(), FederationError> {
        let mut targets = Vec::new();
        let mut errors = Vec::new();
        for (entry, handle) in body
            .hosts
            .iter()
            .map(|h| (h, false))
            .chain(body.handles.iter().map(|h| (h, true)))
        {
            match resolve(&a, entry, handle) {
                Ok(t) if t.host == a.public_host => {
                    errors.push(format!("{entry} is this instance"))
                }
                Ok(t) => targets.push(t),
                Err(e) => errors.push(e.to_string()),
            }
        }
        if !errors.is_empty() {
            return Err(FederationError::BadRequest(errors.join("; ")));
        }
        for t in &targets {
            outbox::follow(&a, t)?;
        }
        Ok(())
    })
    .await??;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// An actor of a follow in PeerTube's `Actor` shape (no avatars; its number derived from its
/// URL, see [`crate::store::federation::remote_number`]).
fn actor_json(id: &str, host: &str, name: &str, created: u64, redundancy: bool) -> Value {
    json!({"id": crate::store::federation::remote_number(id), "url": id, "name": name,
           "host": host, "hostRedundancyAllowed": redundancy, "followingCount": 0,
           "followersCount": 0, "createdAt": iso8601(created), "avatars": []})
}

/// The follows of our instance actor in PeerTube's `ActorFollow` shape: whom it follows
/// (`following`), or who follows it (`followers`).
fn follows(app: &App, following: bool) -> Result<Vec<Value>, FederationError> {
    let me = actor_json(
        &super::discovery::LocalActor::Instance.url(&app.public_url),
        &app.public_host,
        INSTANCE_ACTOR,
        0,
        false,
    );
    // (remote actor, its host, state, created, updated, redundancy allowed)
    let rows: Vec<(String, String, FollowState, u64, u64, bool)> = if following {
        app.store
            .scan::<FollowingKey>(&())?
            .into_iter()
            .map(|(_, f)| {
                (
                    f.target,
                    f.host,
                    f.state,
                    f.created_at,
                    f.updated_at,
                    f.redundancy_allowed,
                )
            })
            .collect()
    } else {
        app.store
            .scan::<FollowerKey>(&())?
            .into_iter()
            .filter(|(_, f)| f.local == "instance")
            .map(|(_, f)| (f.actor, f.host, f.state, f.created_at, f.created_at, false))
            .collect()
    };
    let mut items = Vec::with_capacity(rows.len());
    for (i, (actor, host, state, created, updated, redundancy)) in rows.into_iter().enumerate() {
        let name = app
            .store
            .get(&RemoteActorKey(actor.clone()))?
            .map(|a| a.username)
            .unwrap_or_default();
        let remote = actor_json(&actor, &host, &name, created, redundancy);
        let (follower, followed) = if following {
            (&me, &remote)
        } else {
            (&remote, &me)
        };
        items.push(json!({
            "id": i + 1,
            "follower": follower,
            "following": followed,
            "score": 1000,
            "state": state.label(),
            "createdAt": iso8601(created),
            "updatedAt": iso8601(updated),
        }));
    }
    Ok(items)
}

async fn list(
    app: SharedApp,
    q: ListQuery,
    following: bool,
) -> Result<Json<Value>, FederationError> {
    let a = app.clone();
    let items = app.pool.run(move || follows(&a, following)).await??;
    let total = items.len();
    let data: Vec<Value> = items
        .into_iter()
        .skip(q.start.unwrap_or(0))
        .take(q.count.unwrap_or(15).min(100))
        .collect();
    Ok(Json(json!({"total": total, "data": data})))
}

/// `GET /api/v1/server/following`.
pub async fn following(
    State(app): State<SharedApp>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, FederationError> {
    list(app, q, true).await
}

/// `GET /api/v1/server/followers`: who follows our instance actor.
pub async fn followers(
    State(app): State<SharedApp>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, FederationError> {
    list(app, q, false).await
}

/// `DELETE /api/v1/server/following/{host|name@host}`: unfollow, and drop that host's videos.
/// The API route checks that the caller is an administrator before it calls this.
pub async fn unfollow(app: SharedApp, which: String) -> Result<Response, FederationError> {
    let a = app.clone();
    app.pool
        .run(move || -> Result<Response, FederationError> {
            let (name, host) = match parse_acct(&which) {
                Some((n, h)) => (Some(n.to_string()), h.to_string()),
                None => (None, host_of(which.trim_end_matches('/'))),
            };
            let mut n = 0;
            for (_, f) in a.store.scan::<FollowingKey>(&())? {
                if f.host != host {
                    continue;
                }
                let actor = a.store.get(&RemoteActorKey(f.target.clone()))?;
                let wanted = name.as_deref().unwrap_or(INSTANCE_ACTOR);
                if actor
                    .as_ref()
                    .map(|x| x.username.as_str())
                    .unwrap_or(INSTANCE_ACTOR)
                    != wanted
                    && name.is_some()
                {
                    continue;
                }
                let inbox = actor.map(|x| x.inbox);
                outbox::unfollow(&a, &f, inbox.as_deref())?;
                n += 1;
            }
            if n == 0 {
                return Err(FederationError::NotFound(format!(
                    "we do not follow {which}"
                )));
            }
            let still = a
                .store
                .scan::<FollowingKey>(&())?
                .iter()
                .any(|(_, f)| f.host == host && f.state != FollowState::Rejected);
            if !still {
                let removed = remote_videos::remove_host(&a.store, &host)?;
                tracing::info!(host = %host, videos = removed, "unfollowed; its videos removed");
            }
            Ok(StatusCode::NO_CONTENT.into_response())
        })
        .await?
}
