//! Local actors as PeerTube publishes them (reference §1.1–1.4): the instance (`Application`,
//! `/accounts/peertube`), accounts (`Person`, `/accounts/<name>`) and channels (`Group`,
//! `/video-channels/<name>`), each with an RSA-2048 key pair kept in the `actors` table. Their
//! URLs answer ActivityPub JSON when the `Accept` header asks for it (PeerTube's rules) and a
//! small HTML page otherwise; `followers` and `following` are paged ordered collections.

use super::discovery::{find_local, LocalActor, INSTANCE_ACTOR};
use super::keys::KeyPair;
use super::protocol::actor::Actor;
use super::protocol::video::{ActorKind, ActorRef};
use super::FederationError;
use crate::app::{App, SharedApp};
use crate::store::actors::{ActorKeys, LocalActorKey};
use crate::store::tables::{ChannelByNameKey, ChannelKey, UserByNameKey, UserKey};
use crate::store::{Durability, Store};
use crate::time::iso8601;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Response};
use http::{header, HeaderMap, HeaderValue};

fn key_of(actor: &LocalActor) -> LocalActorKey {
    LocalActorKey(match actor {
        LocalActor::Instance => "instance".into(),
        LocalActor::Account(n) => format!("account:{n}"),
        LocalActor::Channel(n) => format!("channel:{n}"),
    })
}

/// The key pair of `actor`, made on first use (a fraction of a second; once per actor).
pub fn keys_of(store: &Store, actor: &LocalActor) -> Result<ActorKeys, FederationError> {
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let key = key_of(actor);
    if let Some(k) = store.get(&key)? {
        return Ok(k);
    }
    let _one_at_a_time = MAKING.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(k) = store.get(&key)? {
        return Ok(k);
    }
    let keys =
        KeyPair::generate().map_err(|e| FederationError::internal("RSA key generation", e))?;
    let record = ActorKeys {
        public_pem: keys.public_pem,
        private_pem: keys.private_pem,
        created_at: crate::time::now_secs(),
    };
    store.put(&key, &record, Durability::Sync)?;
    tracing::info!(actor = %key.0, "made the actor's RSA-2048 key pair");
    Ok(record)
}

/// PeerTube's rule: ActivityPub JSON only when `Accept` prefers an ActivityPub type over HTML
/// and plain JSON (`req.accepts(['html', 'application/json', …AP types])`).
pub fn wants_activity_json(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mut best_ap: Option<(f32, usize)> = None;
    let mut best_other: Option<(f32, usize)> = None;
    for (i, part) in accept.split(',').enumerate() {
        let mut it = part.split(';');
        let mime = it.next().unwrap_or_default().trim().to_ascii_lowercase();
        let mut q = 1.0f32;
        let mut profile_ok = true;
        for p in it {
            let p = p.trim();
            if let Some(v) = p.strip_prefix("q=") {
                q = v.trim().parse().unwrap_or(0.0);
            } else if let Some(v) = p.strip_prefix("profile=") {
                profile_ok = v.trim_matches('"') == "https://www.w3.org/ns/activitystreams";
            }
        }
        if q <= 0.0 {
            continue;
        }
        let is_ap =
            mime == "application/activity+json" || (mime == "application/ld+json" && profile_ok);
        let is_other = matches!(
            mime.as_str(),
            "text/html" | "application/json" | "text/*" | "*/*" | "application/*"
        );
        let slot = if is_ap {
            &mut best_ap
        } else if is_other {
            &mut best_other
        } else {
            continue;
        };
        // Higher q wins; on a tie the earlier entry does.
        if slot.is_none_or(|(bq, _)| q > bq) {
            *slot = Some((q, i));
        }
    }
    match (best_ap, best_other) {
        (Some(_), None) => true,
        (Some((aq, ai)), Some((oq, oi))) => aq > oq || (aq == oq && ai < oi),
        _ => false,
    }
}

/// The `@context` of actor documents (PeerTube's Actor context).
pub use super::protocol::context::actor as actor_context;

/// An `application/activity+json` response with open CORS.
pub fn activity_json<T: serde::Serialize>(doc: T) -> Response {
    let mut r = axum::Json(doc).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/activity+json; charset=utf-8"),
    );
    r.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    r
}

/// The ActivityPub document of a local actor.
pub fn actor_json(app: &App, actor: &LocalActor) -> Result<Actor, FederationError> {
    let base = &app.public_url;
    let url = actor.url(base);
    let keys = keys_of(&app.store, actor)?;
    let mut doc = match actor {
        LocalActor::Instance => {
            let mut d = Actor::new(ActorKind::Application, &url, base, keys.public_pem);
            d.preferred_username = INSTANCE_ACTOR.to_string();
            d.name = INSTANCE_ACTOR.to_string();
            d.published = iso8601(keys.created_at);
            d.summary = Some(app.config.instance.short_description.clone());
            d
        }
        LocalActor::Account(n) => {
            let no_account = || FederationError::NotFound(format!("no account {n}"));
            let id = app
                .store
                .get(&UserByNameKey(n.clone()))?
                .ok_or_else(no_account)?;
            let user = app.store.get(&UserKey(id))?.ok_or_else(no_account)?;
            let mut d = Actor::new(ActorKind::Person, &url, base, keys.public_pem);
            d.preferred_username = user.username.clone();
            d.name = user.display_name.clone();
            d.published = iso8601(user.created_at);
            d
        }
        LocalActor::Channel(n) => {
            let no_channel = || FederationError::NotFound(format!("no channel {n}"));
            let id = app
                .store
                .get(&ChannelByNameKey(n.clone()))?
                .ok_or_else(no_channel)?;
            let c = app.store.get(&ChannelKey(id))?.ok_or_else(no_channel)?;
            let owner = app.store.get(&UserKey(c.owner))?.map(|u| ActorRef {
                kind: ActorKind::Person,
                id: LocalActor::Account(u.username.to_lowercase()).url(base),
            });
            let mut d = Actor::new(ActorKind::Group, &url, base, keys.public_pem);
            d.preferred_username = c.name.clone();
            d.name = c.display_name.clone();
            d.published = iso8601(c.created_at);
            d.summary = c.description.clone();
            d.support = Some(c.support.clone());
            d.posting_restricted_to_mods = Some(true);
            d.attributed_to = Some(owner.into_iter().collect());
            d
        }
    };
    doc.context = Some(actor_context());
    Ok(doc)
}

async fn serve_actor(
    app: SharedApp,
    headers: HeaderMap,
    actor: Option<LocalActor>,
    name: &str,
) -> Result<Response, FederationError> {
    let actor =
        actor.ok_or_else(|| FederationError::NotFound(format!("no local actor {name:?}")))?;
    if wants_activity_json(&headers) {
        // Key generation (first request only) and the store reads run off the event loop.
        let a = app.clone();
        let doc = app.pool.run(move || actor_json(&a, &actor)).await??;
        return Ok(activity_json(doc));
    }
    // The web pages land with their own issue; until then a minimal page for people.
    let url = actor.url(&app.public_url);
    Ok(Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{n}</title>\
         <link rel=\"alternate\" type=\"application/activity+json\" href=\"{u}\"></head>\
         <body><h1>{n}</h1><p>{u}</p></body></html>",
        n = crate::html::html_escape(name),
        u = crate::html::html_escape(&url)
    ))
    .into_response())
}

/// `GET /accounts/{name}` (also the instance actor `peertube`).
pub async fn account(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, FederationError> {
    let actor = find_local(&app, &name)?.filter(|a| !matches!(a, LocalActor::Channel(_)));
    serve_actor(app, headers, actor, &name).await
}

/// `GET /video-channels/{name}`.
pub async fn channel(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, FederationError> {
    let actor = app
        .store
        .get(&ChannelByNameKey(name.clone()))?
        .map(|_| LocalActor::Channel(name.clone()));
    serve_actor(app, headers, actor, &name).await
}

/// `?page=N` of a collection.
#[derive(Debug, serde::Deserialize)]
pub struct PageQuery {
    page: Option<String>,
}

pub(crate) fn page_of(q: &PageQuery) -> Result<Option<usize>, FederationError> {
    match q.page.as_deref() {
        None => Ok(None),
        Some(p) => p
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=100_000).contains(n))
            .map(Some)
            .ok_or_else(|| {
                FederationError::BadRequest(format!("page must be a positive integer (got {p:?})"))
            }),
    }
}

/// `GET /accounts/{name}/{followers,following,outbox}` and the channel equivalents, paged as
/// PeerTube pages them.
async fn collection(
    app: SharedApp,
    channel: bool,
    name: String,
    which: &'static str,
    q: PageQuery,
) -> Result<Response, FederationError> {
    let actor = if channel {
        app.store
            .get(&ChannelByNameKey(name.to_string()))?
            .map(|_| LocalActor::Channel(name.to_string()))
    } else {
        find_local(&app, &name)?.filter(|a| !matches!(a, LocalActor::Channel(_)))
    }
    .ok_or_else(|| FederationError::NotFound(format!("no local actor {name:?}")))?;
    let page = page_of(&q)?;
    let id = format!("{}/{which}", actor.url(&app.public_url));
    let a = app.clone();
    app.pool
        .run(move || -> Result<Response, FederationError> {
            use super::outbox::{follow_items, outbox_items, paged_collection};
            Ok(match which {
                "outbox" => activity_json(paged_collection(&id, page, outbox_items(&a, &actor)?)),
                _ => activity_json(paged_collection(
                    &id,
                    page,
                    follow_items(&a, &actor, which)?,
                )),
            })
        })
        .await?
}

/// `GET /accounts/{name}/followers`.
pub async fn account_followers(
    State(app): State<SharedApp>,
    Path(name): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Response, FederationError> {
    collection(app, false, name, "followers", q).await
}

/// `GET /accounts/{name}/following`.
pub async fn account_following(
    State(app): State<SharedApp>,
    Path(name): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Response, FederationError> {
    collection(app, false, name, "following", q).await
}

/// `GET /accounts/{name}/outbox`.
pub async fn account_outbox(
    State(app): State<SharedApp>,
    Path(name): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Response, FederationError> {
    collection(app, false, name, "outbox", q).await
}

/// `GET /video-channels/{name}/followers`.
pub async fn channel_followers(
    State(app): State<SharedApp>,
    Path(name): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Response, FederationError> {
    collection(app, true, name, "followers", q).await
}

/// `GET /video-channels/{name}/following`.
pub async fn channel_following(
    State(app): State<SharedApp>,
    Path(name): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Response, FederationError> {
    collection(app, true, name, "following", q).await
}

/// `GET /video-channels/{name}/outbox`.
pub async fn channel_outbox(
    State(app): State<SharedApp>,
    Path(name): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Response, FederationError> {
    collection(app, true, name, "outbox", q).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn content_negotiation_follows_peertube() {
        assert!(wants_activity_json(&accept("application/activity+json")));
        assert!(wants_activity_json(&accept(
            "application/activity+json, application/ld+json"
        )));
        assert!(wants_activity_json(&accept(
            "application/ld+json; profile=\"https://www.w3.org/ns/activitystreams\""
        )));
        assert!(!wants_activity_json(&accept(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        )));
        assert!(!wants_activity_json(&accept("application/json")));
        assert!(!wants_activity_json(&HeaderMap::new()));
        assert!(wants_activity_json(&accept(
            "text/html;q=0.5, application/activity+json"
        )));
        assert!(!wants_activity_json(&accept(
            "application/ld+json; profile=\"x\""
        )));
    }
}
