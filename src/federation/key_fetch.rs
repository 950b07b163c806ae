//! Signers' actors (and so their keys) fetched for the inboxes on a few dedicated threads, never
//! on the blocking pool, so a host that never answers cannot hold up logins and uploads.
//!
//! * Fetches in flight are bounded in all (`federation.key_fetch_max_in_flight`, also the
//!   number of threads) and per host (`federation.key_fetch_per_host`); beyond the bounds the
//!   caller is told to come back later ([`KeyFetchError::Busy`]): nothing queues.
//! * Concurrent asks for one actor share one fetch.
//! * A failed fetch is remembered for `federation.key_fetch_failure_secs`: per actor, and per
//!   host when the host itself failed (no connection, timeout, non-public address), so a dead or
//!   hostile host costs one timeout per period, not one per POST.

use super::http::FetchError;
use super::remote::{self, ActorError, Freshness};
use crate::app::{host_of, App};
use crate::config::FederationConfig;
use crate::store::federation::{RemoteActor, RemoteActorKey};
use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Remembered failures kept at most (the oldest are forgotten first).
const MAX_FAILURES: usize = 10_000;

/// An actor and where it came from.
pub type Fetched = (RemoteActor, Freshness);

/// Why a signer's actor could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFetchError {
    /// As many fetches as allowed are in flight, in all or to the actor's host.
    #[error("{in_flight} key fetches already in flight {scope}; retry in {retry_after} s")]
    Busy {
        /// `in all` or `to <host>`.
        scope: String,
        /// Fetches in flight in that scope.
        in_flight: usize,
        /// Seconds after which trying again makes sense.
        retry_after: u64,
    },
    /// The fetch failed, now or less than `federation.key_fetch_failure_secs` ago.
    #[error("{reason}")]
    Failed {
        /// What went wrong (names the actor or host).
        reason: String,
        /// Whether the cause may go away (network, 5xx) rather than being the document's fault.
        temporary: bool,
        /// Seconds until the failure is forgotten and the actor fetched again.
        retry_after: u64,
    },
}

/// Counters of the key fetcher (rendered in `/metrics`).
#[derive(Debug, Default)]
pub struct KeyFetchStats {
    /// Fetches that got a usable actor.
    pub fetched: AtomicU64,
    /// Fetches that failed.
    pub failed: AtomicU64,
    /// Asks refused because the bounds were reached.
    pub busy: AtomicU64,
    /// Asks answered from a remembered failure, without fetching.
    pub cached_failures: AtomicU64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum FailureKey {
    Actor(String),
    Host(String),
}

#[derive(Debug, Clone)]
struct Failure {
    until: Instant,
    reason: String,
    temporary: bool,
}

type Waiter = oneshot::Sender<Result<Fetched, KeyFetchError>>;
type Job = Box<dyn FnOnce() + Send + 'static>;

struct State {
    in_flight: usize,
    per_host: HashMap<String, usize>,
    /// Callers waiting for the fetch of an actor id in flight.
    waiting: HashMap<String, Vec<Waiter>>,
    failures: lru::LruCache<FailureKey, Failure>,
}

struct Inner {
    max_in_flight: usize,
    per_host: usize,
    failure_ttl: Duration,
    busy_retry_after: u64,
    state: Mutex<State>,
    jobs: OnceLock<Mutex<mpsc::Sender<Job>>>,
    stats: KeyFetchStats,
}

/// The inboxes' key fetcher (one per process, in [`super::Federation`]).
#[derive(Clone)]
pub struct KeyFetcher {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for KeyFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyFetcher")
            .field("max_in_flight", &self.inner.max_in_flight)
            .field("per_host", &self.inner.per_host)
            .finish_non_exhaustive()
    }
}

impl KeyFetcher {
    /// A fetcher with `config`'s bounds (its threads start at the first fetch).
    pub fn new(config: &FederationConfig) -> KeyFetcher {
        KeyFetcher {
            inner: Arc::new(Inner {
                max_in_flight: config.key_fetch_max_in_flight.max(1),
                per_host: config.key_fetch_per_host.max(1),
                failure_ttl: Duration::from_secs(config.key_fetch_failure_secs),
                busy_retry_after: config.request_timeout_secs.max(1),
                state: Mutex::new(State {
                    in_flight: 0,
                    per_host: HashMap::new(),
                    waiting: HashMap::new(),
                    failures: lru::LruCache::new(
                        NonZeroUsize::new(MAX_FAILURES).expect("non-zero"),
                    ),
                }),
                jobs: OnceLock::new(),
                stats: KeyFetchStats::default(),
            }),
        }
    }

    /// The counters.
    pub fn stats(&self) -> &KeyFetchStats {
        &self.inner.stats
    }

    /// Fetches in flight now.
    pub fn in_flight(&self) -> usize {
        self.inner.lock().in_flight
    }

    /// Runs `fetch` (which gets the actor `id` from its host) on a fetcher thread, or joins the
    /// fetch of `id` already in flight, or answers at once from a remembered failure or because
    /// the bounds are reached.
    pub async fn fetch<F>(&self, id: &str, fetch: F) -> Result<Fetched, KeyFetchError>
    where
        F: FnOnce() -> Result<Fetched, ActorError> + Send + 'static,
    {
        let host = host_of(id);
        let (tx, rx) = oneshot::channel();
        match self.inner.admit(id, &host, tx) {
            Admission::Refused(e) => return Err(e),
            Admission::Joined => return rx.await.unwrap_or_else(|_| Err(stopped())),
            Admission::Start => {}
        }
        let done = self.inner.clone();
        let id_owned = id.to_string();
        let job: Job = Box::new(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(fetch))
                .unwrap_or_else(|_| {
                    Err(ActorError::Invalid {
                        id: id_owned.clone(),
                        reason: "the fetch panicked".into(),
                    })
                });
            done.complete(&id_owned, &host, outcome);
        });
        if let Err(mpsc::SendError(job)) = self.inner.sender().send(job) {
            // No thread to run it (they could not start): fail it like a fetch would.
            drop(job);
            self.inner.complete(
                id,
                &host_of(id),
                Err(ActorError::Invalid {
                    id: id.to_string(),
                    reason: "no key fetcher thread".into(),
                }),
            );
        }
        rx.await.unwrap_or_else(|_| Err(stopped()))
    }
}

fn stopped() -> KeyFetchError {
    KeyFetchError::Failed {
        reason: "the key fetcher stopped".into(),
        temporary: true,
        retry_after: 1,
    }
}

/// What [`Inner::admit`] decided.
enum Admission {
    /// Answered at once: a remembered failure, or the bounds are reached.
    Refused(KeyFetchError),
    /// Waits for the fetch of that actor in flight.
    Joined,
    /// Slots taken: the caller starts the fetch.
    Start,
}

impl Inner {
    /// Decides, under one lock, what becomes of an ask for `id`; `tx` gets the outcome unless
    /// refused.
    fn admit(&self, id: &str, host: &str, tx: Waiter) -> Admission {
        let mut st = self.lock();
        if let Some(e) = st.remembered_failure(id, host, Instant::now()) {
            self.stats.cached_failures.fetch_add(1, Ordering::Relaxed);
            return Admission::Refused(e);
        }
        if let Some(waiters) = st.waiting.get_mut(id) {
            waiters.push(tx);
            return Admission::Joined;
        }
        let on_host = st.per_host.get(host).copied().unwrap_or(0);
        let busy = if st.in_flight >= self.max_in_flight {
            Some(("in all".to_string(), st.in_flight))
        } else if on_host >= self.per_host {
            Some((format!("to {host}"), on_host))
        } else {
            None
        };
        if let Some((scope, in_flight)) = busy {
            self.stats.busy.fetch_add(1, Ordering::Relaxed);
            return Admission::Refused(KeyFetchError::Busy {
                scope,
                in_flight,
                retry_after: self.busy_retry_after,
            });
        }
        st.in_flight += 1;
        *st.per_host.entry(host.to_string()).or_insert(0) += 1;
        st.waiting.insert(id.to_string(), vec![tx]);
        Admission::Start
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The job queue, starting the threads at the first call.
    fn sender(&self) -> mpsc::Sender<Job> {
        let cell = self.jobs.get_or_init(|| {
            let (tx, rx) = mpsc::channel::<Job>();
            let rx = Arc::new(Mutex::new(rx));
            for i in 0..self.max_in_flight {
                let rx = rx.clone();
                let spawned = std::thread::Builder::new()
                    .name(format!("fleuve-keyfetch-{i}"))
                    .spawn(move || loop {
                        let job = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        match job {
                            Ok(job) => job(),
                            Err(_) => break,
                        }
                    });
                if let Err(e) = spawned {
                    tracing::error!(error = %e, "cannot start a key fetcher thread");
                }
            }
            Mutex::new(tx)
        });
        cell.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Ends the fetch of `id`: frees its slots, remembers a failure, answers every waiter.
    fn complete(&self, id: &str, host: &str, outcome: Result<Fetched, ActorError>) {
        let result = match outcome {
            Ok(f) => {
                self.stats.fetched.fetch_add(1, Ordering::Relaxed);
                Ok(f)
            }
            Err(e) => {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                let (scope, temporary) = classify(&e);
                tracing::info!(actor = id, host, error = %e, temporary, "inbox: cannot fetch the signer's key");
                Err((scope, temporary, e.to_string()))
            }
        };
        let waiters = {
            let mut st = self.lock();
            st.in_flight = st.in_flight.saturating_sub(1);
            if let Some(n) = st.per_host.get_mut(host) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    st.per_host.remove(host);
                }
            }
            if let Err((Some(scope), temporary, reason)) = &result {
                if !self.failure_ttl.is_zero() {
                    let key = match scope {
                        Scope::Actor => FailureKey::Actor(id.to_string()),
                        Scope::Host => FailureKey::Host(host.to_string()),
                    };
                    st.failures.put(
                        key,
                        Failure {
                            until: Instant::now() + self.failure_ttl,
                            reason: reason.clone(),
                            temporary: *temporary,
                        },
                    );
                }
            }
            st.waiting.remove(id).unwrap_or_default()
        };
        let result = result.map_err(|(_, temporary, reason)| KeyFetchError::Failed {
            reason,
            temporary,
            retry_after: self.failure_ttl.as_secs().max(1),
        });
        for w in waiters {
            let _ = w.send(result.clone());
        }
    }
}

impl State {
    fn remembered_failure(&mut self, id: &str, host: &str, now: Instant) -> Option<KeyFetchError> {
        for key in [
            FailureKey::Host(host.to_string()),
            FailureKey::Actor(id.to_string()),
        ] {
            let Some(f) = self.failures.get(&key) else {
                continue;
            };
            if f.until <= now {
                self.failures.pop(&key);
                continue;
            }
            let left = f.until.duration_since(now);
            let retry_after = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            return Some(KeyFetchError::Failed {
                reason: format!(
                    "{} (remembered; not fetched again for {retry_after} s)",
                    f.reason
                ),
                temporary: f.temporary,
                retry_after,
            });
        }
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Actor,
    Host,
}

/// What a failure says: about the actor or its whole host (`None`: our own trouble, not
/// remembered), and whether it may go away by itself.
fn classify(e: &ActorError) -> (Option<Scope>, bool) {
    match e {
        ActorError::Fetch { source, .. } => match source {
            FetchError::Transport { .. } => (Some(Scope::Host), true),
            FetchError::Forbidden(_) => (Some(Scope::Host), false),
            s @ FetchError::Status { .. } => (Some(Scope::Actor), s.is_temporary()),
            FetchError::BadUrl(_) | FetchError::Body { .. } => (Some(Scope::Actor), false),
            FetchError::Sign(_) => (None, true),
        },
        ActorError::Invalid { .. } => (Some(Scope::Actor), false),
        ActorError::Store(_) => (None, true),
    }
}

/// The actor `id` for verifying what it signed: from the store when fresh (or with `refetch`
/// false and the fetch impossible, a stale copy), else fetched on the key fetcher's threads.
/// With `refetch`, always fetched (its cached key failed to verify).
pub async fn actor(app: &Arc<App>, id: &str, refetch: bool) -> Result<Fetched, KeyFetchError> {
    let fed = &app.federation;
    let cached = if refetch {
        None
    } else {
        app.store
            .get(&RemoteActorKey(id.to_string()))
            .map_err(|e| KeyFetchError::Failed {
                reason: format!("metadata store: {e}"),
                temporary: true,
                retry_after: 1,
            })?
    };
    if let Some(a) = &cached {
        if super::now_secs().saturating_sub(a.fetched_at) < fed.config.actor_refresh_secs {
            return Ok((a.clone(), Freshness::Cached));
        }
    }
    let a = app.clone();
    let id_owned = id.to_string();
    let fetched = fed
        .key_fetcher
        .fetch(id, move || {
            remote::actor(&a.federation, &a.store, &a.public_url, &id_owned, true)
        })
        .await;
    match (fetched, cached) {
        // A stale copy is better than nothing when the remote cannot be reached now.
        (Err(e), Some(stale)) => {
            tracing::debug!(actor = id, error = %e, "actor refresh failed; using the cached copy");
            Ok((stale, Freshness::Cached))
        }
        (result, _) => result,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

    fn config(max: usize, per_host: usize, failure_secs: u64) -> FederationConfig {
        FederationConfig {
            key_fetch_max_in_flight: max,
            key_fetch_per_host: per_host,
            key_fetch_failure_secs: failure_secs,
            ..FederationConfig::default()
        }
    }

    fn actor_at(id: &str) -> RemoteActor {
        RemoteActor {
            id: id.into(),
            kind: "Person".into(),
            username: "a".into(),
            host: host_of(id),
            inbox: format!("{id}/inbox"),
            shared_inbox: None,
            followers: None,
            outbox: None,
            key_id: format!("{id}#main-key"),
            public_key_pem: String::new(),
            fetched_at: 1,
        }
    }

    /// A fetch that blocks until released, and tells when it started.
    fn gated(
        id: &str,
        started: SyncSender<()>,
    ) -> (
        SyncSender<Result<Fetched, ActorError>>,
        impl FnOnce() -> Result<Fetched, ActorError> + Send + 'static,
    ) {
        let (release, wait): (_, Receiver<Result<Fetched, ActorError>>) = sync_channel(1);
        let id = id.to_string();
        let f = move || {
            let _ = started.send(());
            wait.recv().unwrap_or_else(|_| {
                Err(ActorError::Invalid {
                    id,
                    reason: "gate dropped".into(),
                })
            })
        };
        (release, f)
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn timeout(id: &str) -> ActorError {
        ActorError::Fetch {
            id: id.into(),
            source: FetchError::Transport {
                url: id.into(),
                reason: "timed out".into(),
            },
        }
    }

    #[test]
    fn bounds_refuse_beyond_the_limits_and_one_fetch_serves_all_askers() {
        rt().block_on(async {
            let f = KeyFetcher::new(&config(3, 2, 60));
            let (started_tx, started) = sync_channel(8);
            let (r1, f1) = gated("http://slow.example/a", started_tx.clone());
            let (r2, f2) = gated("http://slow.example/b", started_tx.clone());
            let (r3, f3) = gated("http://other.example/c", started_tx.clone());
            let a = tokio::spawn({
                let f = f.clone();
                async move { f.fetch("http://slow.example/a", f1).await }
            });
            let a_again = tokio::spawn({
                let f = f.clone();
                async move {
                    f.fetch("http://slow.example/a", || {
                        panic!("joins the fetch in flight")
                    })
                    .await
                }
            });
            let b = tokio::spawn({
                let f = f.clone();
                async move { f.fetch("http://slow.example/b", f2).await }
            });
            // Let the three asks register (the runtime is single-threaded).
            while f.in_flight() < 2 {
                tokio::task::yield_now().await;
            }
            started.recv().unwrap();
            started.recv().unwrap();
            // A third actor on the same host: refused, not queued.
            match f.fetch("http://slow.example/z", || unreachable!()).await {
                Err(KeyFetchError::Busy {
                    scope,
                    in_flight: 2,
                    ..
                }) => {
                    assert_eq!(scope, "to slow.example")
                }
                other => panic!("{other:?}"),
            }
            // Another host still gets a slot, then the global bound (3) is reached.
            let c = tokio::spawn({
                let f = f.clone();
                async move { f.fetch("http://other.example/c", f3).await }
            });
            while f.in_flight() < 3 {
                tokio::task::yield_now().await;
            }
            match f.fetch("http://third.example/d", || unreachable!()).await {
                Err(KeyFetchError::Busy { scope, .. }) => assert_eq!(scope, "in all"),
                other => panic!("{other:?}"),
            }
            assert_eq!(f.stats().busy.load(Ordering::Relaxed), 2);
            let done = |id: &str| Ok((actor_at(id), Freshness::Fetched));
            r1.send(done("http://slow.example/a")).unwrap();
            r2.send(done("http://slow.example/b")).unwrap();
            r3.send(done("http://other.example/c")).unwrap();
            assert_eq!(a.await.unwrap().unwrap().0.id, "http://slow.example/a");
            assert_eq!(
                a_again.await.unwrap().unwrap().0.id,
                "http://slow.example/a"
            );
            assert_eq!(b.await.unwrap().unwrap().0.id, "http://slow.example/b");
            assert_eq!(c.await.unwrap().unwrap().0.id, "http://other.example/c");
            assert_eq!(f.in_flight(), 0);
            assert_eq!(f.stats().fetched.load(Ordering::Relaxed), 3);
            // Slots are free again.
            let id = "http://slow.example/z";
            assert!(f.fetch(id, move || done(id)).await.is_ok());
        });
    }

    #[test]
    fn failures_are_remembered_per_host_or_per_actor() {
        rt().block_on(async {
            let f = KeyFetcher::new(&config(4, 2, 60));
            // A host that times out: every actor there is refused at once afterwards.
            let id = "http://dead.example/a";
            match f.fetch(id, move || Err(timeout(id))).await {
                Err(KeyFetchError::Failed {
                    temporary: true,
                    retry_after: 60,
                    ..
                }) => {}
                other => panic!("{other:?}"),
            }
            match f
                .fetch("http://dead.example/other", || panic!("not fetched again"))
                .await
            {
                Err(KeyFetchError::Failed {
                    temporary: true,
                    reason,
                    retry_after,
                }) => {
                    assert!(reason.contains("timed out") && reason.contains("remembered"));
                    assert!((1..=60).contains(&retry_after));
                }
                other => panic!("{other:?}"),
            }
            // A document that is not an actor: only that actor is refused.
            let bad = "http://live.example/not-an-actor";
            let r = f
                .fetch(bad, move || {
                    Err(ActorError::Invalid {
                        id: bad.into(),
                        reason: "no publicKey".into(),
                    })
                })
                .await;
            assert!(matches!(
                r,
                Err(KeyFetchError::Failed {
                    temporary: false,
                    ..
                })
            ));
            assert!(matches!(
                f.fetch(bad, || panic!("remembered")).await,
                Err(KeyFetchError::Failed {
                    temporary: false,
                    ..
                })
            ));
            let good = "http://live.example/good";
            assert!(f
                .fetch(good, move || Ok((actor_at(good), Freshness::Fetched)))
                .await
                .is_ok());
            assert_eq!(f.stats().cached_failures.load(Ordering::Relaxed), 2);
            assert_eq!(f.stats().failed.load(Ordering::Relaxed), 2);
        });
    }

    #[test]
    fn with_no_failure_time_failures_are_not_remembered_and_panics_free_the_slot() {
        rt().block_on(async {
            let f = KeyFetcher::new(&config(1, 1, 0));
            let id = "http://dead.example/a";
            assert!(f.fetch(id, move || Err(timeout(id))).await.is_err());
            assert!(f.fetch(id, || panic!("boom")).await.is_err());
            assert_eq!(f.in_flight(), 0);
            assert!(f
                .fetch(id, move || Ok((actor_at(id), Freshness::Fetched)))
                .await
                .is_ok());
        });
    }
}
