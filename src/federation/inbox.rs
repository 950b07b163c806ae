//! The inboxes: the shared `/inbox` and each local actor's `…/inbox`. A POST is answered once
//! its activities are verified and stored (204); they are processed afterwards, in arrival order,
//! by one thread reading the `inbox` table, so a restart loses nothing.
//!
//! Verification (reference §2.2): the draft-cavage signature must parse, cover
//! `(request-target) host date digest`, be dated within `federation.clock_skew_secs`, match the
//! body's `Digest`, and verify with the signer's key (fetched and cached; refetched once when it
//! fails, in case the key rotated). Each activity's `actor` must be the signer, unless the
//! activity carries an `RsaSignature2017` by its actor (forwarded activities). Activity ids
//! already seen are dropped. Failures answer 401 and store nothing.
//!
//! Keys are fetched off the blocking pool, within bounds ([`super::key_fetch`]): a POST that
//! would exceed them, or whose signer's host failed to answer recently, gets 503 with
//! `Retry-After` and stores nothing.

use super::discovery::LocalActor;
use super::key_fetch::{self, KeyFetchError};
use super::remote::{self, Freshness};
use super::signature::{check_request, RequestHead, SignatureHeader};
use super::{id_of, local_actor_of_url, now_secs, outbox, remote_videos};
use crate::api::error::ApiError;
use crate::app::{host_of, App, SharedApp};
use crate::store::federation::{
    FollowState, Follower, FollowerKey, FollowingKey, InboxItem, InboxItemKey, InboxSeenKey,
    RemoteActor, RemoteActorKey,
};
use crate::store::{Batch, Durability};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::Value;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Seen activity ids are forgotten after this long.
const SEEN_TTL_SECS: u64 = 14 * 86_400;
/// Activities accepted from one POST (a collection).
const MAX_ACTIVITIES_PER_POST: usize = 100;

/// `POST /inbox`.
pub async fn shared(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    post(app, headers, uri, body).await
}

/// `POST /accounts/{name}/inbox`.
pub async fn account(
    State(app): State<SharedApp>,
    Path(name): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    match super::discovery::find_local(&app, &name) {
        Ok(Some(a)) if !matches!(a, LocalActor::Channel(_)) => post(app, headers, uri, body).await,
        Ok(_) => ApiError::not_found(format!("no local account {name:?}")).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `POST /video-channels/{name}/inbox`.
pub async fn channel(
    State(app): State<SharedApp>,
    Path(name): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    match app
        .store
        .get(&crate::store::tables::ChannelByNameKey(name.clone()))
    {
        Ok(Some(_)) => post(app, headers, uri, body).await,
        Ok(None) => ApiError::not_found(format!("no local channel {name:?}")).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

async fn post(app: SharedApp, headers: HeaderMap, uri: Uri, body: Bytes) -> Response {
    if !app.config.federation.enabled {
        return ApiError::not_found("federation is disabled on this instance").into_response();
    }
    let target = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| uri.path().to_string());
    let req = Arc::new(Incoming {
        headers,
        target,
        body,
    });
    let fed = &app.federation;
    match receive(&app, req).await {
        Ok(n) => {
            fed.metrics
                .inbox_accepted
                .fetch_add(n as u64, Ordering::Relaxed);
            if n > 0 {
                fed.wake_inbox();
            }
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => {
            if e.status == StatusCode::UNAUTHORIZED {
                fed.metrics
                    .inbox_bad_signature
                    .fetch_add(1, Ordering::Relaxed);
            } else {
                fed.metrics.inbox_refused.fetch_add(1, Ordering::Relaxed);
            }
            tracing::info!(status = e.status.as_u16(), reason = %e.detail, "inbox POST refused");
            e.into_response()
        }
    }
}

fn unauthorized(detail: String) -> ApiError {
    ApiError::unauthorized(detail).code("invalid_signature")
}

/// The answer to a POST whose key could not be had: 503 with `Retry-After` when that may pass
/// (fetches busy, network trouble), 401 when it will not.
fn key_error(what: &str, e: KeyFetchError) -> ApiError {
    match e {
        KeyFetchError::Busy { retry_after, .. }
        | KeyFetchError::Failed {
            temporary: true,
            retry_after,
            ..
        } => {
            let mut err = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("{what}: {e}"));
            err.retry_after = Some(retry_after);
            err
        }
        KeyFetchError::Failed { .. } => unauthorized(format!("{what}: {e}")),
    }
}

/// The activities of a POST body: one activity, or a (paged, ordered) collection of them.
pub fn activities_of(doc: Value) -> Vec<Value> {
    let kind = doc.get("type").and_then(|t| t.as_str()).unwrap_or_default();
    if matches!(
        kind,
        "Collection" | "CollectionPage" | "OrderedCollection" | "OrderedCollectionPage"
    ) {
        let key = if kind.starts_with("Ordered") {
            "orderedItems"
        } else {
            "items"
        };
        return doc
            .get(key)
            .and_then(|i| i.as_array())
            .map(|a| {
                a.iter()
                    .filter(|v| v.is_object())
                    .take(MAX_ACTIVITIES_PER_POST)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
    }
    vec![doc]
}

/// An inbox POST as received.
#[derive(Debug)]
pub struct Incoming {
    /// Its headers.
    pub headers: HeaderMap,
    /// Path and query of the request line.
    pub target: String,
    /// Its body.
    pub body: Bytes,
}

impl Incoming {
    fn head(&self) -> RequestHead<'_> {
        RequestHead {
            method: &Method::POST,
            target: &self.target,
            headers: &self.headers,
        }
    }
}

/// A POST whose signature is well-formed, fresh and covers its body (not verified yet).
struct Checked {
    sig: SignatureHeader,
    signer_id: String,
    activities: Vec<Value>,
}

/// Verifies a POST and stores its activities; returns how many were stored. Checking,
/// verifying and storing run on the blocking pool, each briefly; the keys they need are fetched
/// on the key fetcher's threads ([`key_fetch`]), so a signer whose host never answers holds no
/// pool thread.
pub async fn receive(app: &SharedApp, req: Arc<Incoming>) -> Result<usize, ApiError> {
    let (a, r) = (app.clone(), req.clone());
    let checked = Arc::new(app.pool.run(move || check(&a, &r)).await??);
    let signer = checked.signer_id.as_str();
    let (actor, freshness) = match key_fetch::actor(app, signer, false).await {
        Ok(a) => a,
        Err(
            e @ KeyFetchError::Failed {
                temporary: false, ..
            },
        ) if checked.activities.iter().all(|a| is_self_delete(a, signer)) => {
            // The actor deleted itself: its key is gone with it (PeerTube answers 204).
            tracing::debug!(actor = signer, error = %e, "inbox: self-delete of an actor without a key");
            let (a, id) = (app.clone(), signer.to_string());
            app.pool.run(move || forget_actor(&a, &id)).await??;
            return Ok(0);
        }
        Err(e) => return Err(key_error("cannot get the signer's key", e)),
    };
    if let Err(first) = verify_signature(app, &req, &checked, actor).await? {
        let does_not_verify = || {
            unauthorized(format!(
                "HTTP signature of {signer} does not verify: {first}"
            ))
        };
        if freshness != Freshness::Cached {
            return Err(does_not_verify());
        }
        // The key may have rotated: fetch it once more.
        let again = match key_fetch::actor(app, signer, true).await {
            Ok((a, _)) => a,
            Err(KeyFetchError::Failed { .. }) => return Err(does_not_verify()),
            Err(e) => return Err(key_error("cannot refetch the signer's key", e)),
        };
        if verify_signature(app, &req, &checked, again).await?.is_err() {
            return Err(does_not_verify());
        }
    }
    let mut kept = Vec::with_capacity(checked.activities.len());
    for act in &checked.activities {
        let actor = act.get("actor").and_then(id_of).unwrap_or_default();
        if actor == signer || act.get("id").is_none() {
            // (Activities without an id are dropped when stored.)
            kept.push(act.clone());
            continue;
        }
        match check_forwarded(app, act, actor).await {
            Ok(()) => kept.push(act.clone()),
            Err(Forwarded::Busy(e)) => {
                return Err(key_error("cannot get a forwarded activity's key", e))
            }
            Err(Forwarded::Refused(e)) => {
                let id = act.get("id").and_then(|i| i.as_str()).unwrap_or_default();
                tracing::info!(activity = %id, signer, actor, error = %e, "inbox: activity not by the signer and not LD-signed by its actor; dropped");
            }
        }
    }
    let (a, signer) = (app.clone(), signer.to_string());
    app.pool
        .run(move || store_activities(&a, &signer, kept))
        .await?
}

/// Everything about a POST that needs no key: its signature is well-formed, fresh and covers
/// the body, the signer is a remote http(s) actor within its rate limit, the body is JSON.
fn check(app: &App, req: &Incoming) -> Result<Checked, ApiError> {
    let fed = &app.federation;
    let skew = Duration::from_secs(fed.config.clock_skew_secs);
    let sig = check_request(&req.head(), &req.body, SystemTime::now(), skew)
        .map_err(|e| unauthorized(format!("HTTP signature: {e}")))?;
    let signer_id = sig.actor_id().to_string();
    if !(signer_id.starts_with("https://") || signer_id.starts_with("http://")) {
        return Err(unauthorized(format!(
            "keyId {:?} is not an http(s) actor URL",
            sig.key_id
        )));
    }
    let signer_host = host_of(&signer_id);
    if signer_host == app.public_host {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "the signer is this instance's own actor",
        ));
    }
    if let Err(wait) = fed.inbox_limiter.check(signer_host.clone()) {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many inbox POSTs from {signer_host}; retry in {wait} s"),
        );
        e.retry_after = Some(wait);
        return Err(e);
    }
    let doc: Value = serde_json::from_slice(&req.body)
        .map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?;
    Ok(Checked {
        sig,
        signer_id,
        activities: activities_of(doc),
    })
}

/// Verifies the POST's HTTP signature with `actor`'s key, on the blocking pool.
async fn verify_signature(
    app: &SharedApp,
    req: &Arc<Incoming>,
    checked: &Arc<Checked>,
    actor: RemoteActor,
) -> Result<Result<(), String>, ApiError> {
    let (a, r, c) = (app.clone(), req.clone(), checked.clone());
    Ok(app
        .pool
        .run(move || {
            let key = remote::public_key(&a.federation, &actor)?;
            c.sig.verify(&r.head(), &key).map_err(|e| e.to_string())
        })
        .await?)
}

fn store_activities(app: &App, signer_id: &str, activities: Vec<Value>) -> Result<usize, ApiError> {
    let fed = &app.federation;
    let now = now_secs();
    let mut batch = Batch::default();
    let mut stored = 0;
    for act in activities {
        let Some(id) = act.get("id").and_then(|i| i.as_str()).map(str::to_string) else {
            tracing::info!(signer = signer_id, "inbox: activity without id dropped");
            continue;
        };
        // Follow, Undo, Accept and Reject are cheap and idempotent, and PeerTube reuses their
        // ids when an instance follows again after unfollowing: they are never deduplicated.
        let kind = act.get("type").and_then(|t| t.as_str()).unwrap_or_default();
        if !matches!(kind, "Follow" | "Undo" | "Accept" | "Reject") {
            if app.store.get(&InboxSeenKey(id.clone()))?.is_some() {
                fed.metrics.inbox_duplicates.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            batch.put(&app.store, &InboxSeenKey(id), &now)?;
        }
        batch.put(
            &app.store,
            &InboxItemKey(fed.next_inbox_id()),
            &InboxItem {
                activity: act.to_string(),
                signer: signer_id.to_string(),
                received_at: now,
            },
        )?;
        stored += 1;
    }
    if stored > 0 {
        app.store.write(batch, Durability::Buffered)?;
    }
    Ok(stored)
}

/// Why a forwarded activity is not taken.
enum Forwarded {
    /// Its actor's key cannot be fetched now (bounds reached): the whole POST is refused.
    Busy(KeyFetchError),
    /// Not signed by its actor: the activity is dropped.
    Refused(String),
}

/// A forwarded activity: its `RsaSignature2017` must be by its actor.
async fn check_forwarded(app: &SharedApp, act: &Value, actor: &str) -> Result<(), Forwarded> {
    let creator =
        super::ld::signature_creator(act).map_err(|e| Forwarded::Refused(e.to_string()))?;
    let creator_actor = super::ld::actor_of_creator(creator);
    if creator_actor != actor {
        return Err(Forwarded::Refused(format!(
            "LD signature by {creator_actor}, not by the actor"
        )));
    }
    let fetch = |refetch: bool| async move {
        key_fetch::actor(app, actor, refetch)
            .await
            .map_err(|e| match e {
                KeyFetchError::Busy { .. } => Forwarded::Busy(e),
                KeyFetchError::Failed { .. } => Forwarded::Refused(e.to_string()),
            })
    };
    let (a, fresh) = fetch(false).await?;
    let verified = verify_ld(app, act, a).await?;
    if verified.is_ok() {
        return Ok(());
    }
    if fresh == Freshness::Cached {
        let (a, _) = fetch(true).await?;
        return verify_ld(app, act, a).await?.map_err(Forwarded::Refused);
    }
    Err(Forwarded::Refused("LD signature does not verify".into()))
}

/// Verifies `act`'s LD signature with `actor`'s key, on the blocking pool.
async fn verify_ld(
    app: &SharedApp,
    act: &Value,
    actor: RemoteActor,
) -> Result<Result<(), String>, Forwarded> {
    let (a, act) = (app.clone(), act.clone());
    app.pool
        .run(move || {
            let key = remote::public_key(&a.federation, &actor)?;
            super::ld::verify(&act, &key).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| Forwarded::Refused(e.to_string()))
}

fn is_self_delete(act: &Value, signer: &str) -> bool {
    act.get("type").and_then(|t| t.as_str()) == Some("Delete")
        && act.get("actor").and_then(id_of) == Some(signer)
        && act.get("object").and_then(id_of) == Some(signer)
}

/// Drops a remote actor that deleted itself: its cached record and its follows.
fn forget_actor(app: &App, id: &str) -> Result<(), ApiError> {
    let mut batch = Batch::default();
    batch.delete(&app.store, &RemoteActorKey(id.to_string()));
    for (k, f) in app.store.scan::<FollowerKey>(&())? {
        if f.actor == id {
            batch.delete(&app.store, &k);
        }
    }
    batch.delete(&app.store, &FollowingKey(id.to_string()));
    app.store.write(batch, Durability::Sync)?;
    tracing::info!(
        actor = id,
        "federation: remote actor deleted itself; forgotten"
    );
    Ok(())
}

/// Starts the thread that processes the inbox queue (it first queues the `Create` of any
/// published video not federated yet).
pub fn spawn_processor(
    app: Arc<App>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("fleuve-inbox".into())
        .spawn(move || {
            // Off the start-up path: Creates of videos published while the server was stopping.
            match outbox::federate_pending(&app) {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    videos = n,
                    "federation: queued the Create of videos published while stopping"
                ),
                Err(e) => {
                    tracing::error!(error = %e.detail, "federation: cannot queue pending Creates")
                }
            }
            while !stop.load(Ordering::Relaxed) {
                let items = match app.store.scan_limit::<InboxItemKey>(&(), 256) {
                    Ok(i) => i,
                    Err(e) => {
                        tracing::error!(error = %e, "inbox queue unreadable");
                        std::thread::sleep(Duration::from_secs(5));
                        continue;
                    }
                };
                if items.is_empty() {
                    app.federation.wait_inbox(Duration::from_secs(2));
                    continue;
                }
                for (key, item) in items {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    process_item(&app, &item);
                    if let Err(e) = app.store.delete(&key, Durability::Buffered) {
                        tracing::error!(error = %e, "cannot remove a processed inbox item");
                    }
                }
            }
        })
}

fn process_item(app: &App, item: &InboxItem) {
    let fed = &app.federation;
    let act: Value = match serde_json::from_str(&item.activity) {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, "corrupt inbox item");
            return;
        }
    };
    let kind = act
        .get("type")
        .and_then(|t| t.as_str())
        .unwrap_or_default()
        .to_string();
    let id = act
        .get("id")
        .and_then(|t| t.as_str())
        .unwrap_or_default()
        .to_string();
    match process(app, &act, &kind) {
        Ok(what) => {
            fed.metrics.processed.fetch_add(1, Ordering::Relaxed);
            tracing::info!(activity = %id, kind = %kind, signer = %item.signer, result = what, "inbox: processed");
        }
        Err(e) => {
            fed.metrics.process_errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(activity = %id, kind = %kind, signer = %item.signer, error = %e, "inbox: activity not applied");
        }
    }
}

/// Applies one verified activity. Returns a word for the log.
pub fn process(app: &App, act: &Value, kind: &str) -> Result<&'static str, String> {
    let actor = act
        .get("actor")
        .and_then(id_of)
        .ok_or("no actor")?
        .to_string();
    let object = act.get("object").ok_or("no object")?;
    match kind {
        "Follow" => on_follow(app, act, &actor, object),
        "Undo" => on_undo(app, &actor, object),
        "Accept" | "Reject" => on_answer(app, &actor, object, kind == "Accept"),
        "Create" | "Update" => on_create_update(app, &actor, object, kind),
        "Announce" => on_announce(app, &actor, object),
        "Delete" => on_delete(app, &actor, object),
        _ => Ok("ignored (type not handled)"),
    }
}

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

fn on_follow(app: &App, act: &Value, actor: &str, object: &Value) -> Result<&'static str, String> {
    let target = id_of(object).ok_or("Follow without object id")?;
    let local = local_actor_of_url(&app.public_url, target)
        .ok_or_else(|| format!("{target} is not one of our actors"))?;
    if !super::discovery::exists(app, &local).map_err(|e| e.detail)? {
        return Err(format!("{target} is not one of our actors"));
    }
    let fed = &app.federation;
    let (follower, _) =
        remote::actor(fed, &app.store, &app.public_url, actor, false).map_err(err)?;
    let accept = fed.config.auto_accept_follows;
    if accept {
        let local_key = super::key_of_local(&local);
        let key = FollowerKey::of(&local_key, &follower.id);
        let record = Follower {
            local: local_key,
            actor: follower.id.clone(),
            host: follower.host.clone(),
            inbox: follower.delivery_inbox().to_string(),
            follow_id: act
                .get("id")
                .and_then(|i| i.as_str())
                .unwrap_or_default()
                .to_string(),
            state: FollowState::Accepted,
            created_at: now_secs(),
        };
        app.store
            .put(&key, &record, Durability::Sync)
            .map_err(err)?;
    }
    outbox::answer_follow(app, &local, act, &follower, accept).map_err(|e| e.detail)?;
    Ok(if accept {
        "follow accepted"
    } else {
        "follow rejected"
    })
}

fn on_undo(app: &App, actor: &str, object: &Value) -> Result<&'static str, String> {
    let kind = object
        .get("type")
        .and_then(|t| t.as_str())
        .unwrap_or_default();
    let undone_id = id_of(object).unwrap_or_default();
    match kind {
        "Follow" | "" => {
            let mut batch = Batch::default();
            let mut n = 0;
            for (k, f) in app.store.scan::<FollowerKey>(&()).map_err(err)? {
                let target_matches = object
                    .get("object")
                    .and_then(id_of)
                    .and_then(|t| local_actor_of_url(&app.public_url, t))
                    .is_some_and(|l| super::key_of_local(&l) == f.local);
                if f.actor == actor && (f.follow_id == undone_id || target_matches) {
                    batch.delete(&app.store, &k);
                    n += 1;
                }
            }
            app.store.write(batch, Durability::Sync).map_err(err)?;
            Ok(if n > 0 {
                "unfollowed"
            } else {
                "unknown follow"
            })
        }
        _ => Ok("ignored (undo of a type not handled)"),
    }
}

fn on_answer(
    app: &App,
    actor: &str,
    object: &Value,
    accepted: bool,
) -> Result<&'static str, String> {
    let follow_id = id_of(object).unwrap_or_default();
    let key = FollowingKey(actor.to_string());
    let Some(mut f) = app.store.get(&key).map_err(err)? else {
        return Ok("ignored (we do not follow that actor)");
    };
    if !follow_id.is_empty() && f.follow_id != follow_id {
        return Err(format!(
            "answer to {follow_id}, not to our follow {}",
            f.follow_id
        ));
    }
    f.state = if accepted {
        FollowState::Accepted
    } else {
        FollowState::Rejected
    };
    f.updated_at = now_secs();
    app.store.put(&key, &f, Durability::Sync).map_err(err)?;
    if !accepted {
        return Ok("our follow was rejected");
    }
    // As PeerTube does: take what the followed actor already published, from its outbox.
    match crawl_outbox(app, actor) {
        Ok(n) => tracing::info!(
            actor,
            videos = n,
            "federation: crawled the outbox of a new following"
        ),
        Err(e) => {
            tracing::warn!(actor, error = %e, "federation: cannot crawl the outbox of a new following")
        }
    }
    Ok("our follow was accepted")
}

/// Pages of a followed actor's outbox read after our follow is accepted.
const OUTBOX_PAGES: usize = 20;

/// Reads `actor`'s outbox (up to [`OUTBOX_PAGES`] pages) and applies its `Create` and
/// `Announce` of videos, as PeerTube does after a follow. Returns how many videos it stored.
fn crawl_outbox(app: &App, actor: &str) -> Result<usize, String> {
    let fed = &app.federation;
    let (remote, _) = remote::actor(fed, &app.store, &app.public_url, actor, false).map_err(err)?;
    let Some(outbox) = remote.outbox else {
        return Ok(0);
    };
    let signer = fed.signer(&app.store, &app.public_url, "instance").ok();
    let root = fed.client.get_json(&outbox, signer.as_ref()).map_err(err)?;
    let mut next = match root.get("first") {
        Some(Value::String(u)) => Some(u.clone()),
        Some(page @ Value::Object(_)) => {
            return Ok(apply_page(app, actor, page));
        }
        _ => None,
    };
    let mut stored = apply_page(app, actor, &root);
    for _ in 0..OUTBOX_PAGES {
        let Some(url) = next.take() else { break };
        if host_of(&url) != remote.host {
            return Err(format!("outbox page {url} is on another host"));
        }
        let page = fed.client.get_json(&url, signer.as_ref()).map_err(err)?;
        stored += apply_page(app, actor, &page);
        next = page.get("next").and_then(id_of).map(str::to_string);
    }
    Ok(stored)
}

fn apply_page(app: &App, owner: &str, page: &Value) -> usize {
    let items = page
        .get("orderedItems")
        .or_else(|| page.get("items"))
        .and_then(|i| i.as_array())
        .cloned()
        .unwrap_or_default();
    let mut stored = 0;
    for item in items {
        let kind = item
            .get("type")
            .and_then(|t| t.as_str())
            .unwrap_or_default();
        let item_actor = item.get("actor").and_then(id_of).unwrap_or_default();
        // Activities found by crawling count only when their actor is on the outbox's host
        // (PeerTube's rule); the objects themselves are fetched from their origin.
        if host_of(item_actor) != host_of(owner) || !matches!(kind, "Create" | "Announce") {
            continue;
        }
        let Some(url) = item.get("object").and_then(id_of).map(str::to_string) else {
            continue;
        };
        let known = app
            .store
            .get(&crate::store::federation::RemoteVideoUrlKey(url.clone()))
            .ok()
            .flatten()
            .is_some();
        if known {
            continue;
        }
        let result = fetch_object(app, &url).and_then(|doc| {
            if doc.get("type").and_then(|t| t.as_str()) != Some("Video") {
                return Ok(false);
            }
            let parsed = remote_videos::parse(&doc, item_actor)?;
            remote_videos::upsert(app, parsed)
                .map(|_| true)
                .map_err(|e| e.detail)
        });
        match result {
            Ok(true) => stored += 1,
            Ok(false) => {}
            Err(e) => tracing::info!(video = %url, error = %e, "federation: outbox item not taken"),
        }
    }
    stored
}

/// Whether we follow an actor on `host` (videos from hosts we do not follow are not kept).
fn follows_host(app: &App, host: &str) -> Result<bool, String> {
    Ok(app
        .store
        .scan::<FollowingKey>(&())
        .map_err(err)?
        .iter()
        .any(|(_, f)| f.host == host && f.state != FollowState::Rejected))
}

fn on_create_update(
    app: &App,
    actor: &str,
    object: &Value,
    kind: &str,
) -> Result<&'static str, String> {
    let object = match object {
        Value::String(url) => fetch_object(app, url)?,
        o => o.clone(),
    };
    match object.get("type").and_then(|t| t.as_str()) {
        Some("Video") => {}
        Some(t) if remote::ACTOR_TYPES.contains(&t) && kind == "Update" => {
            let id = id_of(&object).unwrap_or_default();
            if id != actor {
                return Err(format!("{actor} cannot update actor {id}"));
            }
            remote::actor(&app.federation, &app.store, &app.public_url, actor, true)
                .map_err(err)?;
            return Ok("actor refreshed");
        }
        _ => return Ok("ignored (object type not handled)"),
    }
    let parsed = remote_videos::parse(&object, actor)?;
    if host_of(actor) != parsed.remote.host {
        return Err(format!(
            "{actor} cannot {kind} video {} of another host",
            parsed.remote.url
        ));
    }
    if !follows_host(app, &parsed.remote.host)? {
        return Ok("ignored (we follow nobody on that host)");
    }
    remote_videos::upsert(app, parsed).map_err(|e| e.detail)?;
    Ok(if kind == "Create" {
        "video created"
    } else {
        "video updated"
    })
}

fn fetch_object(app: &App, url: &str) -> Result<Value, String> {
    let fed = &app.federation;
    let signer = fed.signer(&app.store, &app.public_url, "instance").ok();
    let doc = fed.client.get_json(url, signer.as_ref()).map_err(err)?;
    let id = id_of(&doc).ok_or("fetched object has no id")?;
    if host_of(id) != host_of(url) {
        return Err(format!("fetched {url} but its id {id} is on another host"));
    }
    Ok(doc)
}

fn on_announce(app: &App, actor: &str, object: &Value) -> Result<&'static str, String> {
    let url = id_of(object).ok_or("Announce without object")?;
    if app
        .store
        .get(&crate::store::federation::RemoteVideoUrlKey(
            url.to_string(),
        ))
        .map_err(err)?
        .is_some()
    {
        return Ok("already known");
    }
    if !follows_host(app, &host_of(actor))? && !follows_host(app, &host_of(url))? {
        return Ok("ignored (we follow neither the announcer's nor the video's host)");
    }
    // Always fetch from the origin: an inline copy from a third party is not trusted.
    let doc = fetch_object(app, url)?;
    if doc.get("type").and_then(|t| t.as_str()) != Some("Video") {
        return Ok("ignored (announced object is not a Video)");
    }
    let parsed = remote_videos::parse(&doc, actor)?;
    remote_videos::upsert(app, parsed).map_err(|e| e.detail)?;
    Ok("announced video stored")
}

fn on_delete(app: &App, actor: &str, object: &Value) -> Result<&'static str, String> {
    let id = id_of(object).ok_or("Delete without object")?;
    if id == actor {
        forget_actor(app, actor).map_err(|e| e.detail)?;
        return Ok("actor deleted");
    }
    let Some(vid) = app
        .store
        .get(&crate::store::federation::RemoteVideoUrlKey(id.to_string()))
        .map_err(err)?
    else {
        return Ok("ignored (unknown object)");
    };
    let video = app
        .store
        .get(&crate::store::videos::VideoKey(vid))
        .map_err(err)?;
    let owner_host = video
        .as_ref()
        .and_then(|v| v.remote.as_ref())
        .map(|r| r.host.clone())
        .unwrap_or_default();
    if host_of(actor) != owner_host {
        return Err(format!("{actor} cannot delete {id} of {owner_host}"));
    }
    remote_videos::remove(app, id).map_err(|e| e.detail)?;
    Ok("video deleted")
}

/// Forgets seen activity ids older than two weeks (housekeeping).
pub fn prune_seen(app: &App) -> Result<usize, crate::store::StoreError> {
    let cutoff = now_secs().saturating_sub(SEEN_TTL_SECS);
    let mut batch = Batch::default();
    let mut n = 0;
    for (k, at) in app.store.scan::<InboxSeenKey>(&())? {
        if at < cutoff {
            batch.delete(&app.store, &k);
            n += 1;
        }
    }
    if n > 0 {
        app.store.write(batch, Durability::Buffered)?;
    }
    Ok(n)
}
