//! Federation with PeerTube and the fediverse (ARCHITECTURE.md §7).
//!
//! * [`actors`]: the instance, accounts and channels as ActivityPub actors, with their keys.
//! * [`discovery`]: WebFinger, NodeInfo and host-meta for local actors.
//! * [`objects`]: our videos as ActivityPub `Video` objects.
//! * [`keys`]: RSA-2048 key pairs of local actors, PEM parsing of remote actors' keys.
//! * [`signature`]: draft-cavage HTTP signatures (`rsa-sha256`, `Digest: SHA-256=`) on outgoing
//!   requests, and their verification on incoming ones.
//! * [`ld`]: Linked-Data signatures (`RsaSignature2017`) that relayed activities carry, with
//!   the JSON-LD to RDF conversion and URDNA2015 canonicalization they need.
//! * [`http`]: the outgoing client (signed GETs and POSTs, limits, SSRF guard).
//! * [`remote`]: remote actors fetched, cached and refreshed (keys included).
//! * [`key_fetch`]: the inboxes' fetches of signers' keys, off the blocking pool, bounded, with
//!   failures remembered.
//! * [`inbox`]: the inboxes: verification, dedupe, the durable queue and its processing.
//! * [`remote_videos`]: other instances' videos, kept from their `Video` objects.
//! * [`outbox`]: the activities we send (follows, video Create/Update/Delete) and our outboxes.
//! * [`delivery`]: durable deliveries with per-host bounds, backoff and metrics.
//! * [`admin`]: what PeerTube's `/api/v1/server/following` and `/followers` API does (its
//!   routes are the API's).
//! * [`routes`]: the federation's HTTP routes.
//! * [`protocol`]: the activities and objects themselves, as typed serde data (no I/O).
//! * [`receive`]: what each received activity does, verified then applied, given a
//!   [`receive::FedContext`] (the store, the settings, the delivery queue).
//! * [`error`]: [`FederationError`], turned into HTTP answers only at the edge
//!   (`crate::api::federation_errors`).

pub(crate) mod actors;
pub(crate) mod admin;
pub(crate) mod blocklist;
pub(crate) mod cache_files;
pub(crate) mod comments;
pub(crate) mod delivery;
pub(crate) mod discovery;
pub(crate) mod error;
pub(crate) mod flags;
pub(crate) mod http;
pub(crate) mod inbox;
pub(crate) mod key_fetch;
pub mod keys;
pub mod ld;
pub(crate) mod objects;
pub(crate) mod outbox;
pub(crate) mod playlists;
pub(crate) mod protocol;
pub(crate) mod receive;
pub(crate) mod remote;
pub(crate) mod remote_images;
pub(crate) mod remote_videos;
pub(crate) mod routes;
pub mod signature;
pub(crate) mod subscribe;

pub use routes::routes;

use crate::config::FederationConfig;
use crate::store::Store;
use discovery::LocalActor;
pub use error::FederationError;
pub use protocol::{id_of, PUBLIC};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

/// Counters of the federation subsystem (rendered in `/metrics`).
#[derive(Debug, Default)]
pub struct FederationMetrics {
    /// Inbox POSTs accepted (activities stored).
    pub inbox_accepted: AtomicU64,
    /// Activities dropped as already seen.
    pub inbox_duplicates: AtomicU64,
    /// Inbox POSTs refused for their signature (401).
    pub inbox_bad_signature: AtomicU64,
    /// Inbox POSTs refused for other reasons (400, 409, 413, 429, 503).
    pub inbox_refused: AtomicU64,
    /// Activities processed from the queue.
    pub processed: AtomicU64,
    /// Activities whose processing failed (logged).
    pub process_errors: AtomicU64,
    /// Deliveries that succeeded.
    pub delivered: AtomicU64,
    /// Delivery attempts that failed (and were rescheduled).
    pub delivery_failures: AtomicU64,
    /// Deliveries given up (too old, or refused for good).
    pub given_up: AtomicU64,
}

/// The federation state shared by handlers and background threads.
pub struct Federation {
    /// Settings.
    pub config: FederationConfig,
    /// Outgoing HTTP.
    pub client: http::Client,
    /// Counters.
    pub metrics: FederationMetrics,
    /// Inbox POSTs per remote host.
    pub inbox_limiter: crate::ratelimit::RateLimiter<String>,
    /// The delivery queue.
    pub deliveries: delivery::Queue,
    /// Fetches of signers' actors for the inboxes.
    pub key_fetcher: key_fetch::KeyFetcher,
    /// Servers and accounts this instance blocks.
    pub blocklist: Arc<blocklist::Blocklist>,
    /// Parsed remote public keys by actor id (with the `fetched_at` they came with).
    pub remote_keys: Mutex<lru::LruCache<String, (u64, Arc<rsa::RsaPublicKey>)>>,
    signers: Mutex<HashMap<String, http::Signer>>,
    inbox_wake: (Mutex<bool>, Condvar),
    next_inbox_id: AtomicU64,
}

impl std::fmt::Debug for Federation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Federation").finish_non_exhaustive()
    }
}

impl Federation {
    /// The federation state over `store` (loads the queues' positions).
    pub fn new(
        config: FederationConfig,
        store: &Store,
    ) -> Result<Federation, crate::store::StoreError> {
        let next_inbox = store
            .scan::<crate::store::federation::InboxItemKey>(&())?
            .last()
            .map(|(k, _)| k.0 + 1)
            .unwrap_or(1);
        Ok(Federation {
            client: http::Client::new(&config),
            key_fetcher: key_fetch::KeyFetcher::new(&config),
            inbox_limiter: crate::ratelimit::RateLimiter::new(
                config.inbox_rate_per_host_per_min,
                std::time::Duration::from_secs(60),
            ),
            deliveries: delivery::Queue::load(store)?,
            blocklist: Arc::new(blocklist::Blocklist::load(store)?),
            remote_keys: Mutex::new(lru::LruCache::new(
                std::num::NonZeroUsize::new(4096).expect("non-zero"),
            )),
            signers: Mutex::new(HashMap::new()),
            inbox_wake: (Mutex::new(false), Condvar::new()),
            next_inbox_id: AtomicU64::new(next_inbox),
            metrics: FederationMetrics::default(),
            config,
        })
    }

    /// The signer of a local actor (`instance`, `account:<name>`, `channel:<name>`).
    pub fn signer(
        &self,
        store: &Store,
        public_url: &str,
        local: &str,
    ) -> Result<http::Signer, FederationError> {
        if let Some(s) = self
            .signers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(local)
        {
            return Ok(s.clone());
        }
        let actor = local_actor_of_key(local).ok_or_else(|| {
            FederationError::NotFound(format!(
                "no local actor {local:?} (expected instance, account:<name> or channel:<name>)"
            ))
        })?;
        let keys = actors::keys_of(store, &actor)?;
        let key = keys::parse_private_key_pem(&keys.private_pem)
            .map_err(|e| FederationError::internal("reading a local actor's private key", e))?;
        let signer = http::Signer {
            key_id: format!("{}#main-key", actor.url(public_url)),
            key: Arc::new(signature::SigningKey::new(key)),
        };
        self.signers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(local.to_string(), signer.clone());
        Ok(signer)
    }

    /// A fresh id for an inbox queue entry.
    pub fn next_inbox_id(&self) -> u64 {
        self.next_inbox_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Wakes the inbox processor.
    pub fn wake_inbox(&self) {
        let (lock, cv) = &self.inbox_wake;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cv.notify_one();
    }

    /// Waits for [`Self::wake_inbox`] or `timeout`.
    pub fn wait_inbox(&self, timeout: std::time::Duration) {
        let (lock, cv) = &self.inbox_wake;
        let mut woken = lock.lock().unwrap_or_else(|p| p.into_inner());
        if !*woken {
            woken = cv
                .wait_timeout(woken, timeout)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        *woken = false;
    }

    /// The admin status: queues and follows.
    pub fn status_json(&self, store: &Store) -> serde_json::Value {
        use crate::store::federation::{FollowerKey, FollowingKey, InboxItemKey};
        let (queued, oldest) = self.deliveries.depth();
        let c = |a: &AtomicU64| a.load(Ordering::Relaxed);
        serde_json::json!({
            "enabled": self.config.enabled,
            "inboxQueue": store.count::<InboxItemKey>(&()).unwrap_or(0),
            "deliveriesQueued": queued,
            "oldestDeliverySecs": oldest,
            "hostsDown": self.deliveries.hosts_down(),
            "following": store.count::<FollowingKey>(&()).unwrap_or(0),
            "followers": store.count::<FollowerKey>(&()).unwrap_or(0),
            "delivered": c(&self.metrics.delivered),
            "deliveryFailures": c(&self.metrics.delivery_failures),
            "givenUp": c(&self.metrics.given_up),
            "inboxAccepted": c(&self.metrics.inbox_accepted),
            "inboxBadSignature": c(&self.metrics.inbox_bad_signature),
        })
    }

    /// Prometheus lines.
    pub fn render_metrics(&self, store: &Store, out: &mut String) {
        let m = &self.metrics;
        let c = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let inbox_depth = store
            .count::<crate::store::federation::InboxItemKey>(&())
            .unwrap_or(0);
        let (queued, oldest) = self.deliveries.depth();
        let down = self.deliveries.hosts_down();
        let kf = self.key_fetcher.stats();
        let mut w = crate::metrics::exposition::Exposition::new(out);
        w.counter("fleuve_federation_inbox_total", "Inbox POSTs by outcome.")
            .sample(&[("result", &"accepted")], c(&m.inbox_accepted))
            .sample(&[("result", &"duplicate")], c(&m.inbox_duplicates))
            .sample(&[("result", &"bad_signature")], c(&m.inbox_bad_signature))
            .sample(&[("result", &"refused")], c(&m.inbox_refused));
        w.gauge(
            "fleuve_federation_inbox_queue",
            "Activities waiting to be processed.",
        )
        .sample(&[], inbox_depth);
        w.counter(
            "fleuve_federation_key_fetches_total",
            "Fetches of signers' keys for the inboxes, by outcome.",
        )
        .sample(&[("result", &"fetched")], c(&kf.fetched))
        .sample(&[("result", &"failed")], c(&kf.failed))
        .sample(&[("result", &"busy")], c(&kf.busy))
        .sample(&[("result", &"remembered_failure")], c(&kf.cached_failures));
        w.gauge(
            "fleuve_federation_key_fetches_in_flight",
            "Fetches of signers' keys in flight.",
        )
        .sample(&[], self.key_fetcher.in_flight());
        w.counter(
            "fleuve_federation_processed_total",
            "Activities processed, by outcome.",
        )
        .sample(&[("result", &"ok")], c(&m.processed))
        .sample(&[("result", &"error")], c(&m.process_errors));
        w.gauge(
            "fleuve_federation_deliveries_queued",
            "Deliveries waiting (first tries and retries).",
        )
        .sample(&[], queued);
        w.gauge(
            "fleuve_federation_deliveries_oldest_seconds",
            "Age of the oldest queued delivery.",
        )
        .sample(&[], oldest);
        w.gauge(
            "fleuve_federation_hosts_down",
            "Hosts failing in a row whose deliveries wait.",
        )
        .sample(&[], down);
        w.counter(
            "fleuve_federation_deliveries_total",
            "Delivery attempts by outcome.",
        )
        .sample(&[("result", &"delivered")], c(&m.delivered))
        .sample(&[("result", &"failed")], c(&m.delivery_failures))
        .sample(&[("result", &"given_up")], c(&m.given_up));
    }
}

/// Runs `f`, slow network work an administrator asked for (resolving and following hosts), on
/// a thread of its own so it never holds the blocking pool, and awaits its result.
pub async fn on_own_thread<T, F>(name: &'static str, f: F) -> Result<T, FederationError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|e| FederationError::internal("cannot start a thread", e))?;
    rx.await
        .map_err(|_| FederationError::internal(name, "the thread panicked"))
}

/// The local actor a key name (`instance`, `account:<n>`, `channel:<n>`) names.
pub fn local_actor_of_key(key: &str) -> Option<LocalActor> {
    if key == "instance" {
        return Some(LocalActor::Instance);
    }
    if let Some(n) = key.strip_prefix("account:") {
        return Some(LocalActor::Account(n.to_string()));
    }
    key.strip_prefix("channel:")
        .map(|n| LocalActor::Channel(n.to_string()))
}

/// The key name of a local actor.
pub fn key_of_local(actor: &LocalActor) -> String {
    match actor {
        LocalActor::Instance => "instance".into(),
        LocalActor::Account(n) => format!("account:{n}"),
        LocalActor::Channel(n) => format!("channel:{n}"),
    }
}

/// The local actor a URL of ours names (`<public>/accounts/<n>` or `/video-channels/<n>`).
pub fn local_actor_of_url(public_url: &str, url: &str) -> Option<LocalActor> {
    let path = url.strip_prefix(public_url)?;
    if let Some(n) = path.strip_prefix("/accounts/") {
        if n == discovery::INSTANCE_ACTOR {
            return Some(LocalActor::Instance);
        }
        return (!n.is_empty() && !n.contains('/')).then(|| LocalActor::Account(n.to_string()));
    }
    let n = path.strip_prefix("/video-channels/")?;
    (!n.is_empty() && !n.contains('/')).then(|| LocalActor::Channel(n.to_string()))
}

pub use crate::time::{now_ms, now_secs};
