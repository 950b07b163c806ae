//! Durable deliveries: each activity we send is one `OutActivity` row plus one `Delivery` row per
//! destination inbox (shared inboxes already deduplicated by the caller). Rows are written before
//! anything is sent and removed only once the inbox answered 2xx (or the delivery was given up),
//! so a restart resends what was in flight. Worker threads take due deliveries, at most
//! `federation.delivery_per_host` at a time per host; a failure is retried after
//! `retry_base_secs · 2^(attempts-1)` (capped at `retry_max_secs`, ±25 % jitter) until
//! `give_up_after_secs` have passed since it was queued.

use super::{now_ms, now_secs};
use crate::app::{host_of, App};
use crate::store::federation::{Delivery, DeliveryKey, OutActivity, OutActivityKey};
use crate::store::{Batch, Durability, Store, StoreError};
use rand::Rng;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

#[derive(Default)]
struct State {
    timers: BinaryHeap<Reverse<(u64, u64)>>,
    rows: HashMap<u64, Delivery>,
    refs: HashMap<u64, usize>,
    bodies: HashMap<u64, Arc<OutActivity>>,
    in_flight: HashMap<String, usize>,
    waiting: HashMap<String, VecDeque<u64>>,
    ready: VecDeque<u64>,
    stopping: bool,
}

/// The delivery queue (its rows are in the `deliveries` table; this is their schedule).
pub struct Queue {
    state: Mutex<State>,
    cond: Condvar,
    next_id: AtomicU64,
}

/// How an attempt ended.
#[derive(Debug)]
pub enum Outcome {
    /// 2xx.
    Delivered,
    /// Failed; try again (the error says why).
    Retry(String),
    /// Failed for good or too old; drop it (the error says why).
    GiveUp(String),
}

impl Queue {
    /// The queue as the store holds it.
    pub fn load(store: &Store) -> Result<Queue, StoreError> {
        let mut st = State::default();
        let mut max_id = 0;
        for (k, row) in store.scan::<DeliveryKey>(&())? {
            max_id = max_id.max(k.0);
            *st.refs.entry(row.activity).or_default() += 1;
            st.timers.push(Reverse((row.next_at_ms, k.0)));
            st.rows.insert(k.0, row);
        }
        for (k, _) in store.scan::<OutActivityKey>(&())? {
            max_id = max_id.max(k.0);
            if !st.refs.contains_key(&k.0) {
                // Every delivery of it finished but the row stayed (crash between the two).
                let _ = store.delete(&k, Durability::Buffered);
            }
        }
        if !st.rows.is_empty() {
            tracing::info!(
                deliveries = st.rows.len(),
                "federation deliveries resumed from the store"
            );
        }
        Ok(Queue {
            state: Mutex::new(st),
            cond: Condvar::new(),
            next_id: AtomicU64::new(max_id + 1),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `body` (signed by local actor `signer`) for each of `inboxes`; durable on return.
    pub fn enqueue(
        &self,
        store: &Store,
        body: String,
        signer: &str,
        inboxes: &[String],
    ) -> Result<usize, StoreError> {
        if inboxes.is_empty() {
            return Ok(0);
        }
        let now = now_secs();
        let due = now_ms();
        let activity_id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let first = self
            .next_id
            .fetch_add(inboxes.len() as u64, Ordering::Relaxed);
        let activity = OutActivity {
            body,
            signer: signer.to_string(),
            created_at: now,
        };
        let mut batch = Batch::default();
        batch.put(store, &OutActivityKey(activity_id), &activity)?;
        let mut rows = Vec::with_capacity(inboxes.len());
        for (i, inbox) in inboxes.iter().enumerate() {
            let row = Delivery {
                activity: activity_id,
                inbox: inbox.clone(),
                host: host_of(inbox),
                attempts: 0,
                created_at: now,
                next_at_ms: due,
                last_error: None,
            };
            batch.put(store, &DeliveryKey(first + i as u64), &row)?;
            rows.push((first + i as u64, row));
        }
        store.write(batch, Durability::Sync)?;
        let mut st = self.lock();
        st.refs.insert(activity_id, rows.len());
        st.bodies.insert(activity_id, Arc::new(activity));
        for (id, row) in rows {
            st.timers.push(Reverse((row.next_at_ms, id)));
            st.rows.insert(id, row);
        }
        drop(st);
        self.cond.notify_all();
        Ok(inboxes.len())
    }

    /// Waits for a due delivery whose host has room; `None` once stopping.
    fn take(&self, per_host: usize) -> Option<(u64, Delivery)> {
        let mut st = self.lock();
        loop {
            if st.stopping {
                return None;
            }
            if let Some(id) = st.ready.pop_front() {
                if let Some(row) = st.rows.get(&id).cloned() {
                    *st.in_flight.entry(row.host.clone()).or_default() += 1;
                    return Some((id, row));
                }
                continue;
            }
            let now = now_ms();
            let mut wait = Duration::from_secs(1);
            while let Some(&Reverse((at, id))) = st.timers.peek() {
                if at > now {
                    wait = wait.min(Duration::from_millis(at - now));
                    break;
                }
                st.timers.pop();
                let Some(row) = st.rows.get(&id).cloned() else {
                    continue;
                };
                let busy = st.in_flight.get(&row.host).copied().unwrap_or(0);
                if busy < per_host {
                    *st.in_flight.entry(row.host.clone()).or_default() += 1;
                    return Some((id, row));
                }
                st.waiting
                    .entry(row.host.clone())
                    .or_default()
                    .push_back(id);
            }
            st = self
                .cond
                .wait_timeout(st, wait)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    /// The activity a delivery carries.
    fn activity(&self, store: &Store, id: u64) -> Result<Option<Arc<OutActivity>>, StoreError> {
        if let Some(a) = self.lock().bodies.get(&id) {
            return Ok(Some(a.clone()));
        }
        let Some(a) = store.get(&OutActivityKey(id))? else {
            return Ok(None);
        };
        let a = Arc::new(a);
        self.lock().bodies.insert(id, a.clone());
        Ok(Some(a))
    }

    /// Records how an attempt ended.
    fn finish(&self, store: &Store, id: u64, outcome: &Outcome, base: u64, max: u64) {
        let mut st = self.lock();
        let Some(row) = st.rows.get(&id).cloned() else {
            return;
        };
        if let Some(n) = st.in_flight.get_mut(&row.host) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                st.in_flight.remove(&row.host);
            }
        }
        if let Some(next) = st.waiting.get_mut(&row.host).and_then(|q| q.pop_front()) {
            st.ready.push_back(next);
        }
        if st.waiting.get(&row.host).is_some_and(|q| q.is_empty()) {
            st.waiting.remove(&row.host);
        }
        match outcome {
            Outcome::Delivered | Outcome::GiveUp(_) => {
                st.rows.remove(&id);
                let mut batch = Batch::default();
                batch.delete(store, &DeliveryKey(id));
                let left = st.refs.get_mut(&row.activity).map(|n| {
                    *n = n.saturating_sub(1);
                    *n
                });
                if left == Some(0) {
                    st.refs.remove(&row.activity);
                    st.bodies.remove(&row.activity);
                    batch.delete(store, &OutActivityKey(row.activity));
                }
                drop(st);
                if let Err(e) = store.write(batch, Durability::Buffered) {
                    tracing::error!(error = %e, "cannot remove a finished delivery");
                }
            }
            Outcome::Retry(error) => {
                let attempts = row.attempts + 1;
                let delay = base.saturating_mul(1u64 << (attempts - 1).min(30)).min(max) as f64
                    * rand::thread_rng().gen_range(0.75..1.25);
                let next = Delivery {
                    attempts,
                    next_at_ms: now_ms() + (delay * 1000.0) as u64,
                    last_error: Some(error.clone()),
                    ..row
                };
                st.timers.push(Reverse((next.next_at_ms, id)));
                st.rows.insert(id, next.clone());
                drop(st);
                if let Err(e) = store.put(&DeliveryKey(id), &next, Durability::Buffered) {
                    tracing::error!(error = %e, "cannot record a delivery retry");
                }
            }
        }
        self.cond.notify_one();
    }

    /// Deliveries queued, and the age in seconds of the oldest.
    pub fn depth(&self) -> (usize, u64) {
        let st = self.lock();
        let oldest = st.rows.values().map(|r| r.created_at).min();
        (
            st.rows.len(),
            oldest.map(|t| now_secs().saturating_sub(t)).unwrap_or(0),
        )
    }

    /// Wakes the workers so they stop.
    pub fn stop(&self) {
        self.lock().stopping = true;
        self.cond.notify_all();
    }
}

/// Starts the delivery workers.
pub fn spawn(app: &Arc<App>) -> std::io::Result<Vec<std::thread::JoinHandle<()>>> {
    let n = app.federation.config.delivery_workers;
    (0..n)
        .map(|i| {
            let app = app.clone();
            std::thread::Builder::new()
                .name(format!("fleuve-deliver-{i}"))
                .spawn(move || worker(app))
        })
        .collect()
}

fn worker(app: Arc<App>) {
    let per_host = app.federation.config.delivery_per_host;
    while let Some((id, row)) = app.federation.deliveries.take(per_host) {
        let app2 = &app;
        let outcome = attempt(app2, &row);
        let fed = &app2.federation;
        match &outcome {
            Outcome::Delivered => {
                fed.metrics.delivered.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(inbox = %row.inbox, attempts = row.attempts + 1, "delivered");
            }
            Outcome::Retry(e) => {
                fed.metrics
                    .delivery_failures
                    .fetch_add(1, Ordering::Relaxed);
                tracing::info!(inbox = %row.inbox, attempt = row.attempts + 1, error = %e, "delivery failed; will retry");
            }
            Outcome::GiveUp(e) => {
                fed.metrics.given_up.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(inbox = %row.inbox, attempts = row.attempts + 1, error = %e, "delivery given up");
            }
        }
        fed.deliveries.finish(
            &app2.store,
            id,
            &outcome,
            fed.config.retry_base_secs,
            fed.config.retry_max_secs,
        );
    }
}

fn attempt(app: &App, row: &Delivery) -> Outcome {
    let fed = &app.federation;
    let activity = match fed.deliveries.activity(&app.store, row.activity) {
        Ok(Some(a)) => a,
        Ok(None) => return Outcome::GiveUp("its activity is gone from the store".into()),
        Err(e) => return Outcome::Retry(format!("metadata store: {e}")),
    };
    let signer = match fed.signer(&app.store, &app.public_url, &activity.signer) {
        Ok(s) => s,
        Err(e) => return Outcome::GiveUp(format!("cannot sign as {}: {e}", activity.signer)),
    };
    let give_up = |why: String| {
        Outcome::GiveUp(format!(
            "{why} (after {} attempts over {} s)",
            row.attempts + 1,
            now_secs().saturating_sub(row.created_at)
        ))
    };
    match fed
        .client
        .post_activity(&row.inbox, activity.body.as_bytes(), &signer)
    {
        Ok(_) => Outcome::Delivered,
        Err(e) if e.is_temporary() => {
            if now_secs().saturating_sub(row.created_at) >= fed.config.give_up_after_secs {
                give_up(e.to_string())
            } else {
                Outcome::Retry(e.to_string())
            }
        }
        Err(e) => give_up(e.to_string()),
    }
}
