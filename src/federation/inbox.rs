//! The inboxes: the shared `/inbox` and each local actor's `…/inbox`. A POST is answered once
//! its activities are verified and stored (204); they are processed afterwards, in arrival order,
//! by one thread reading the `inbox` table, so a restart loses nothing.
//!
//! Verification (reference §2.2): the draft-cavage signature must parse, cover
//! `(request-target) host date digest`, be dated within `federation.clock_skew_secs`, match the
//! body's `Digest`, and verify with the signer's key (fetched and cached; refetched once when it
//! fails, in case the key rotated). A request with `Signature-Input` is read as an RFC 9421
//! message signature instead (method, target and `content-digest` covered, `created` within
//! the skew; [`super::signature::rfc9421`]) and verified with the same key. Each activity's
//! `actor` must be the signer, unless the activity carries an `RsaSignature2017` by its actor
//! (forwarded activities). Activity ids already seen are dropped. Failures answer 401 and store
//! nothing.
//!
//! Keys are fetched off the blocking pool, within bounds ([`super::key_fetch`]): a POST that
//! would exceed them, or whose signer's host failed to answer recently, gets 503 with
//! `Retry-After` and stores nothing.

use super::discovery::LocalActor;
use super::key_fetch::{self, KeyFetchError};
pub use super::protocol::activity::activities_of;
use super::protocol::activity::{is_follow_lifecycle, is_self_delete};
use super::receive::{forget_actor, FedContext};
use super::remote::{self, Freshness};
use super::signature::rfc9421::{self, MessageSignature, VerifyingKey};
use super::signature::{check_request, RequestHead, SignatureError, SignatureHeader};
use super::{id_of, now_secs, outbox, FederationError};
use crate::app::{host_of, App, SharedApp};
use crate::store::federation::{InboxItem, InboxItemKey, InboxSeenKey, RemoteActor};
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
        Ok(_) => FederationError::NotFound(format!("no local account {name:?}")).into_response(),
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
        Ok(None) => FederationError::NotFound(format!("no local channel {name:?}")).into_response(),
        Err(e) => FederationError::from(e).into_response(),
    }
}

async fn post(app: SharedApp, headers: HeaderMap, uri: Uri, body: Bytes) -> Response {
    if !app.config.federation.enabled {
        return FederationError::NotFound("federation is disabled on this instance".into())
            .into_response();
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
            if matches!(e, FederationError::Signature(_)) {
                fed.metrics
                    .inbox_bad_signature
                    .fetch_add(1, Ordering::Relaxed);
            } else {
                fed.metrics.inbox_refused.fetch_add(1, Ordering::Relaxed);
            }
            let reason = e.to_string();
            let answer = e.into_response();
            tracing::info!(status = answer.status().as_u16(), reason = %reason, "inbox POST refused");
            answer
        }
    }
}

fn unauthorized(detail: String) -> FederationError {
    FederationError::Signature(detail)
}

/// The answer to a POST whose key could not be had: 503 with `Retry-After` when that may pass
/// (fetches busy, network trouble), 401 when it will not.
fn key_error(what: &str, e: KeyFetchError) -> FederationError {
    match e {
        KeyFetchError::Busy { retry_after, .. }
        | KeyFetchError::Failed {
            temporary: true,
            retry_after,
            ..
        } => FederationError::Unavailable {
            detail: format!("{what}: {e}"),
            retry_after,
        },
        KeyFetchError::Failed { .. } => unauthorized(format!("{what}: {e}")),
    }
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

/// The HTTP signature of an inbox POST, in either dialect.
enum InboxSignature {
    /// draft-cavage (`Signature: keyId=…`), what PeerTube sends.
    Cavage(SignatureHeader),
    /// RFC 9421 (`Signature-Input` and `Signature`).
    Rfc9421(MessageSignature),
}

impl InboxSignature {
    fn key_id(&self) -> &str {
        match self {
            InboxSignature::Cavage(s) => &s.key_id,
            InboxSignature::Rfc9421(s) => &s.key_id,
        }
    }

    fn actor_id(&self) -> &str {
        match self {
            InboxSignature::Cavage(s) => s.actor_id(),
            InboxSignature::Rfc9421(s) => s.actor_id(),
        }
    }

    /// Verifies with the signer's RSA key; `scheme` is ours (for `@target-uri`).
    fn verify(
        &self,
        head: &RequestHead<'_>,
        scheme: &str,
        key: &rsa::RsaPublicKey,
    ) -> Result<(), SignatureError> {
        match self {
            InboxSignature::Cavage(s) => s.verify(head, key),
            InboxSignature::Rfc9421(s) => s.verify(head, scheme, &VerifyingKey::Rsa(key.clone())),
        }
    }
}

/// The scheme of our public URL, which is what a remote signer put in `@target-uri`.
fn public_scheme(app: &App) -> &str {
    app.public_url.split_once("://").map_or("https", |(s, _)| s)
}

/// A POST whose signature is well-formed, fresh and covers its body (not verified yet).
struct Checked {
    sig: InboxSignature,
    signer_id: String,
    activities: Vec<Value>,
}

/// Verifies a POST and stores its activities; returns how many were stored. Checking,
/// verifying and storing run on the blocking pool, each briefly; the keys they need are fetched
/// on the key fetcher's threads ([`key_fetch`]), so a signer whose host never answers holds no
/// pool thread.
pub async fn receive(app: &SharedApp, req: Arc<Incoming>) -> Result<usize, FederationError> {
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
            app.pool.run(move || forget_actor(&a.store, &id)).await??;
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
        if app.federation.blocklist.actor_blocked(actor) {
            let id = act.get("id").and_then(|i| i.as_str()).unwrap_or_default();
            tracing::info!(activity = %id, signer, actor, "inbox: forwarded activity of a blocked actor; dropped");
            continue;
        }
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
fn check(app: &App, req: &Incoming) -> Result<Checked, FederationError> {
    let fed = &app.federation;
    let skew = Duration::from_secs(fed.config.clock_skew_secs);
    let sig = if rfc9421::is_present(&req.headers) {
        rfc9421::check_request(&req.head(), &req.body, SystemTime::now(), skew)
            .map(InboxSignature::Rfc9421)
            .map_err(|e| unauthorized(format!("HTTP message signature (RFC 9421): {e}")))?
    } else {
        check_request(&req.head(), &req.body, SystemTime::now(), skew)
            .map(InboxSignature::Cavage)
            .map_err(|e| unauthorized(format!("HTTP signature: {e}")))?
    };
    let signer_id = sig.actor_id().to_string();
    if !(signer_id.starts_with("https://") || signer_id.starts_with("http://")) {
        return Err(unauthorized(format!(
            "keyId {:?} is not an http(s) actor URL",
            sig.key_id()
        )));
    }
    let signer_host = host_of(&signer_id);
    if signer_host == app.public_host {
        return Err(FederationError::OwnActor);
    }
    // Before any key is fetched: a blocked server costs nothing more.
    if fed.blocklist.actor_blocked(&signer_id) {
        return Err(FederationError::Blocked(format!(
            "{signer_id} (or its server {signer_host}) is blocked by this instance"
        )));
    }
    if let Err(wait) = fed.inbox_limiter.check(signer_host.clone()) {
        return Err(FederationError::RateLimited {
            host: signer_host,
            retry_after: wait,
        });
    }
    let doc: Value = serde_json::from_slice(&req.body)
        .map_err(|e| FederationError::BadRequest(format!("the body is not JSON: {e}")))?;
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
) -> Result<Result<(), FederationError>, FederationError> {
    let (a, r, c) = (app.clone(), req.clone(), checked.clone());
    Ok(app
        .pool
        .run(move || {
            let key = remote::public_key(&a.federation, &actor)?;
            c.sig
                .verify(&r.head(), public_scheme(&a), &key)
                .map_err(|e| FederationError::Signature(e.to_string()))
        })
        .await?)
}

fn store_activities(
    app: &App,
    signer_id: &str,
    activities: Vec<Value>,
) -> Result<usize, FederationError> {
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
        if !is_follow_lifecycle(kind) {
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
        return verify_ld(app, act, a).await?;
    }
    Err(Forwarded::Refused("LD signature does not verify".into()))
}

/// Verifies `act`'s LD signature with `actor`'s key, on the blocking pool.
async fn verify_ld(
    app: &SharedApp,
    act: &Value,
    actor: RemoteActor,
) -> Result<Result<(), Forwarded>, Forwarded> {
    let (a, act) = (app.clone(), act.clone());
    let refused = |e: &dyn std::fmt::Display| Forwarded::Refused(e.to_string());
    app.pool
        .run(move || {
            let key = remote::public_key(&a.federation, &actor).map_err(|e| refused(&e))?;
            super::ld::verify(&act, &key).map_err(|e| refused(&e))
        })
        .await
        .map_err(|e| Forwarded::Refused(e.to_string()))
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
                    tracing::error!(error = %e, "federation: cannot queue pending Creates")
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
    let field = |k: &str| act.get(k).and_then(|t| t.as_str()).unwrap_or_default();
    let (kind, id) = (field("type"), field("id"));
    match super::receive::process(&FedContext::of(app), &act) {
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
