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
    /// Hosts failing in a row: (consecutive failures, no attempt before this time in ms).
    down: HashMap<String, (u32, u64)>,
    stopping: bool,
}

/// Consecutive failures that open a host's circuit (its other deliveries wait).
const OPEN_AFTER: u32 = 3;

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
            match poll(&mut st, per_host, now_ms()) {
                Ok(found) => return Some(found),
                Err(wait) => {
                    st = self
                        .cond
                        .wait_timeout(st, wait)
                        .map(|(g, _)| g)
                        .unwrap_or_else(|p| p.into_inner().0);
                }
            }
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
    fn finish(
        &self,
        store: &Store,
        id: u64,
        outcome: &Outcome,
        base: u64,
        max: u64,
        per_host: usize,
    ) {
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
        let busy = st.in_flight.get(&row.host).copied().unwrap_or(0);
        for _ in busy..per_host.max(1) {
            match st.waiting.get_mut(&row.host).and_then(|q| q.pop_front()) {
                Some(next) => st.ready.push_back(next),
                None => break,
            }
        }
        if st.waiting.get(&row.host).is_some_and(|q| q.is_empty()) {
            st.waiting.remove(&row.host);
        }
        match outcome {
            Outcome::Delivered => {
                st.down.remove(&row.host);
            }
            Outcome::Retry(_) => {
                let e = st.down.entry(row.host.clone()).or_insert((0, 0));
                e.0 += 1;
                if e.0 >= OPEN_AFTER {
                    let delay = base
                        .saturating_mul(1u64 << (e.0 - OPEN_AFTER).min(30))
                        .min(max);
                    e.1 = now_ms() + delay * 1000;
                    if e.0 == OPEN_AFTER {
                        tracing::warn!(host = %row.host, retry_in_secs = delay, "federation: host keeps failing; its deliveries wait (circuit open)");
                    }
                }
            }
            Outcome::GiveUp(_) => {}
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

    /// Hosts whose circuit is open (failing in a row; their deliveries wait).
    pub fn hosts_down(&self) -> usize {
        self.lock()
            .down
            .values()
            .filter(|(f, _)| *f >= OPEN_AFTER)
            .count()
    }

    /// Wakes the workers so they stop.
    pub fn stop(&self) {
        self.lock().stopping = true;
        self.cond.notify_all();
    }
}

/// What to do with a due delivery.
enum Admit {
    Go(Delivery),
    Wait,
    Gone,
}

/// Admits a due delivery (counted in flight), or parks it: in `waiting` when its host is busy
/// (or half-open with a probe in flight), back in `timers` while its host's circuit is open.
fn admit(st: &mut State, id: u64, per_host: usize, now: u64) -> Admit {
    let Some(row) = st.rows.get(&id).cloned() else {
        return Admit::Gone;
    };
    let busy = st.in_flight.get(&row.host).copied().unwrap_or(0);
    if let Some(&(failures, until)) = st.down.get(&row.host) {
        if failures >= OPEN_AFTER {
            if until > now {
                st.timers.push(Reverse((until, id)));
                return Admit::Wait;
            }
            if busy > 0 {
                st.waiting
                    .entry(row.host.clone())
                    .or_default()
                    .push_back(id);
                return Admit::Wait;
            }
        }
    }
    if busy < per_host {
        *st.in_flight.entry(row.host.clone()).or_default() += 1;
        return Admit::Go(row);
    }
    st.waiting
        .entry(row.host.clone())
        .or_default()
        .push_back(id);
    Admit::Wait
}

/// A due delivery whose host has room (counted in flight), or how long to wait for one.
fn poll(st: &mut State, per_host: usize, now: u64) -> Result<(u64, Delivery), Duration> {
    while let Some(id) = st.ready.pop_front() {
        if let Admit::Go(row) = admit(st, id, per_host, now) {
            return Ok((id, row));
        }
    }
    let mut wait = Duration::from_secs(1);
    while let Some(&Reverse((at, id))) = st.timers.peek() {
        if at > now {
            wait = wait.min(Duration::from_millis(at - now));
            break;
        }
        st.timers.pop();
        if let Admit::Go(row) = admit(st, id, per_host, now) {
            return Ok((id, row));
        }
    }
    Err(wait)
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
        let outcome = attempt(&app, &row);
        let fed = &app.federation;
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
            &app.store,
            id,
            &outcome,
            fed.config.retry_base_secs,
            fed.config.retry_max_secs,
            per_host,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn inboxes(host: &str, n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("http://{host}/users/{i}/inbox"))
            .collect()
    }

    #[test]
    fn durable_bounded_per_host_with_backoff_and_circuit() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("meta")).unwrap();
        let q = Queue::load(&store).unwrap();
        let mut all = inboxes("a.example", 5);
        all.extend(inboxes("b.example", 1));
        assert_eq!(q.enqueue(&store, "{}".into(), "instance", &all).unwrap(), 6);
        // Durable: a second queue over the same store sees every row.
        assert_eq!(Queue::load(&store).unwrap().depth().0, 6);

        // At most 2 in flight for a.example; b.example is not held up by it.
        let now = now_ms();
        let mut st = q.lock();
        let mut taken = Vec::new();
        while let Ok(t) = poll(&mut st, 2, now) {
            taken.push(t);
        }
        drop(st);
        let hosts: Vec<&str> = taken.iter().map(|(_, r)| r.host.as_str()).collect();
        assert_eq!(hosts.iter().filter(|h| **h == "a.example").count(), 2);
        assert_eq!(hosts.iter().filter(|h| **h == "b.example").count(), 1);

        // b delivered: its rows go. a fails three times in a row: its circuit opens.
        let (b_id, _) = taken
            .iter()
            .find(|(_, r)| r.host == "b.example")
            .unwrap()
            .clone();
        q.finish(&store, b_id, &Outcome::Delivered, 30, 3600, 2);
        let a_ids: Vec<u64> = taken
            .iter()
            .filter(|(_, r)| r.host == "a.example")
            .map(|(i, _)| *i)
            .collect();
        q.finish(&store, a_ids[0], &Outcome::Retry("503".into()), 30, 3600, 2);
        // Freed capacity: the next a.example delivery is ready at once.
        let mut st = q.lock();
        let (third, _) = poll(&mut st, 2, now_ms()).unwrap();
        drop(st);
        q.finish(&store, a_ids[1], &Outcome::Retry("503".into()), 30, 3600, 2);
        q.finish(&store, third, &Outcome::Retry("503".into()), 30, 3600, 2);
        assert_eq!(q.hosts_down(), 1);
        let row = q.lock().rows[&a_ids[0]].clone();
        assert_eq!(row.attempts, 1);
        let delay = row.next_at_ms - now;
        assert!(
            (22_000..=38_000).contains(&delay),
            "backoff 30 s ± 25 %: {delay} ms"
        );
        // Nothing for a.example is due now, even the two never tried (the circuit is open).
        let mut st = q.lock();
        assert!(poll(&mut st, 2, now_ms()).is_err());
        // Later than every retry: the circuit is half-open, so a single probe goes.
        let later = now_ms() + 3_600_000;
        let (probe, _) = poll(&mut st, 2, later).unwrap();
        assert!(poll(&mut st, 2, later).is_err(), "one probe at a time");
        drop(st);
        q.finish(&store, probe, &Outcome::Delivered, 30, 3600, 2);
        assert_eq!(q.hosts_down(), 0);
        // Given up deliveries go too; the activity row goes with the last delivery.
        for _ in 0..10 {
            let mut st = q.lock();
            let mut rest = Vec::new();
            while let Ok((id, _)) = poll(&mut st, 2, later) {
                rest.push(id);
            }
            drop(st);
            assert!(rest.len() <= 2);
            for id in rest {
                q.finish(&store, id, &Outcome::GiveUp("gone".into()), 30, 3600, 2);
            }
        }
        assert_eq!(q.depth().0, 0);
        assert!(store.scan::<DeliveryKey>(&()).unwrap().is_empty());
        assert!(store.scan::<OutActivityKey>(&()).unwrap().is_empty());
    }
}
