//! Connection limits: who may open a connection (a cap for the process and one per client
//! address), how many response-body bytes may wait in memory for slow clients (a budget per
//! connection and one for the process), and each connection's activity, from which the send
//! and idle timeouts are judged.
//!
//! Why: a client that reads nothing (a zero HTTP/2 flow-control window, a full TCP receive
//! window) must not pin memory or sockets for long. Every body chunk handed to a connection
//! holds a [`Reservation`] of the budget until the chunk has been written (its `Bytes` dropped),
//! so the bytes in flight are bounded whatever the clients do; a connection whose pending bytes
//! make no progress for `engine.send_timeout_secs`, or that carries no request for
//! `engine.idle_timeout_secs`, is closed.

use bytes::Bytes;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Budget unit: permits count KiB, so budgets of many GiB fit a semaphore.
const UNIT: u64 = 1024;

/// The limits as configured (`[engine]`), resolved to numbers.
#[derive(Debug, Clone)]
pub struct LimitsConfig {
    /// Open connections allowed for the whole process.
    pub max_connections: usize,
    /// Open connections allowed per client address (IPv4 address, or IPv6 /64).
    pub max_connections_per_ip: usize,
    /// Open connections allowed on one shard (the kernel spreads connections across shards by a
    /// hash, which need not be even).
    pub max_connections_per_shard: usize,
    /// Response-body bytes that may wait for slow clients, whole process.
    pub send_buffer_bytes: u64,
    /// Response-body bytes that may wait for one connection.
    pub send_buffer_bytes_per_connection: u64,
    /// No progress on pending response bytes for this long closes the connection.
    pub send_timeout: Duration,
    /// No request in flight for this long closes the connection (HTTP/2 and hyper keep-alive).
    pub idle_timeout: Duration,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The process-wide cap.
    #[error("the server has reached its connection limit ({0})")]
    Total(usize),
    /// The per-address cap.
    #[error("too many connections from this address (limit {0})")]
    PerAddress(usize),
    /// The per-shard cap.
    #[error("this server core has reached its connection limit ({0})")]
    PerShard(usize),
}

/// Admission control and budgets shared by every shard.
pub struct ConnLimits {
    config: LimitsConfig,
    started: Instant,
    open: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, u32>>,
    budget: Arc<Semaphore>,
    /// Connections refused, by reason (total, per address).
    pub refused_total: AtomicU64,
    /// Connections refused by the per-address cap.
    pub refused_per_address: AtomicU64,
    /// Connections refused by the per-shard cap.
    pub refused_per_shard: AtomicU64,
    /// Connections closed by the send timeout.
    pub send_timeouts: AtomicU64,
    /// Connections closed by the idle or header timeout.
    pub idle_timeouts: AtomicU64,
}

impl ConnLimits {
    /// Limits from `config`.
    pub fn new(config: LimitsConfig) -> Arc<ConnLimits> {
        let permits = (config.send_buffer_bytes / UNIT).clamp(1, Semaphore::MAX_PERMITS as u64);
        Arc::new(ConnLimits {
            config,
            started: Instant::now(),
            open: AtomicUsize::new(0),
            per_ip: Mutex::new(HashMap::new()),
            budget: Arc::new(Semaphore::new(permits as usize)),
            refused_total: AtomicU64::new(0),
            refused_per_address: AtomicU64::new(0),
            refused_per_shard: AtomicU64::new(0),
            send_timeouts: AtomicU64::new(0),
            idle_timeouts: AtomicU64::new(0),
        })
    }

    /// The configured limits.
    pub fn config(&self) -> &LimitsConfig {
        &self.config
    }

    /// Open connections, all shards.
    pub fn open(&self) -> usize {
        self.open.load(Relaxed)
    }

    /// Send-budget bytes in use, whole process.
    pub fn budget_in_use(&self) -> u64 {
        let total = (self.config.send_buffer_bytes / UNIT).clamp(1, Semaphore::MAX_PERMITS as u64);
        (total - self.budget.available_permits() as u64) * UNIT
    }

    /// Admits a connection from `ip`, or says why not. The returned [`Admission`] frees its slot
    /// when dropped.
    /// Admits a connection from `ip` on a shard that has `shard_open` connections open, or says
    /// which cap refuses it.
    pub fn admit_on_shard(
        self: &Arc<Self>,
        ip: IpAddr,
        shard_open: usize,
    ) -> Result<Admission, Refusal> {
        if shard_open >= self.config.max_connections_per_shard {
            self.refused_per_shard.fetch_add(1, Relaxed);
            return Err(Refusal::PerShard(self.config.max_connections_per_shard));
        }
        self.admit(ip)
    }

    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admission, Refusal> {
        let key = address_key(ip);
        let mut per_ip = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        if self.open.load(Relaxed) >= self.config.max_connections {
            self.refused_total.fetch_add(1, Relaxed);
            return Err(Refusal::Total(self.config.max_connections));
        }
        let n = per_ip.entry(key).or_insert(0);
        if *n as usize >= self.config.max_connections_per_ip {
            self.refused_per_address.fetch_add(1, Relaxed);
            return Err(Refusal::PerAddress(self.config.max_connections_per_ip));
        }
        *n += 1;
        self.open.fetch_add(1, Relaxed);
        drop(per_ip);
        let per_conn = (self.config.send_buffer_bytes_per_connection / UNIT)
            .clamp(1, Semaphore::MAX_PERMITS as u64) as usize;
        let activity = Arc::new(Activity {
            limits: self.clone(),
            per_conn: Arc::new(Semaphore::new(per_conn)),
            per_conn_total: per_conn,
            requests: AtomicU32::new(0),
            media_bodies: AtomicU32::new(0),
            last_progress_ms: AtomicU64::new(self.now_ms()),
            last_request_ms: AtomicU64::new(self.now_ms()),
        });
        Ok(Admission {
            limits: self.clone(),
            key,
            activity,
        })
    }

    /// Appends the limits' Prometheus series to `out`.
    pub fn render_metrics(&self, out: &mut String) {
        let mut w = crate::metrics::exposition::Exposition::new(out);
        w.counter(
            "fleuve_connections_refused_total",
            "Connections refused by a cap.",
        )
        .sample(&[("cap", &"process")], self.refused_total.load(Relaxed))
        .sample(
            &[("cap", &"address")],
            self.refused_per_address.load(Relaxed),
        )
        .sample(&[("cap", &"shard")], self.refused_per_shard.load(Relaxed));
        w.counter(
            "fleuve_connection_timeouts_total",
            "Connections closed by a timeout.",
        )
        .sample(&[("timeout", &"send")], self.send_timeouts.load(Relaxed))
        .sample(&[("timeout", &"idle")], self.idle_timeouts.load(Relaxed));
        w.gauge(
            "fleuve_send_buffer_bytes",
            "Response bytes waiting for clients (all connections).",
        )
        .sample(&[], self.budget_in_use());
    }

    /// The limits and their counters for the admin status.
    pub fn status_json(&self) -> serde_json::Value {
        serde_json::json!({
            "open": self.open(),
            "max": self.config.max_connections,
            "maxPerAddress": self.config.max_connections_per_ip,
            "refusedByProcessCap": self.refused_total.load(Relaxed),
            "refusedByAddressCap": self.refused_per_address.load(Relaxed),
            "maxPerShard": self.config.max_connections_per_shard,
            "refusedByShardCap": self.refused_per_shard.load(Relaxed),
            "sendTimeouts": self.send_timeouts.load(Relaxed),
            "idleTimeouts": self.idle_timeouts.load(Relaxed),
            "sendBufferBytes": self.budget_in_use(),
            "sendBufferLimit": self.config.send_buffer_bytes,
        })
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn release(&self, key: IpAddr) {
        let mut per_ip = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = per_ip.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                per_ip.remove(&key);
            }
        }
        self.open.fetch_sub(1, Relaxed);
    }
}

/// The per-address key: an IPv4 address (IPv4-mapped IPv6 included) or an IPv6 /64, since one
/// IPv6 client usually holds a whole /64.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(bits.into())
            }
        },
    }
}

/// A connection's place under the caps; dropping it frees the place.
pub struct Admission {
    limits: Arc<ConnLimits>,
    key: IpAddr,
    /// The connection's activity (shared with its requests and bodies).
    pub activity: Arc<Activity>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.limits.release(self.key);
    }
}

/// What one connection is doing: requests and media bodies in flight, bytes waiting, and when
/// it last made progress.
pub struct Activity {
    limits: Arc<ConnLimits>,
    per_conn: Arc<Semaphore>,
    per_conn_total: usize,
    requests: AtomicU32,
    media_bodies: AtomicU32,
    last_progress_ms: AtomicU64,
    last_request_ms: AtomicU64,
}

/// Why a connection was closed by its watchdog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Response bytes pending and none left for `send_timeout`.
    Send,
    /// No request for `idle_timeout`.
    Idle,
}

impl Activity {
    /// Reserves `bytes` of the connection's and the process's send budget, waiting while either
    /// is spent. A reservation never exceeds the per-connection budget, so one large chunk
    /// cannot wait forever.
    pub async fn reserve(self: &Arc<Self>, bytes: u64) -> Reservation {
        let units = bytes.div_ceil(UNIT).clamp(1, self.per_conn_total as u64) as u32;
        // Both semaphores live as long as the process; they are never closed.
        let conn = self.per_conn.clone().acquire_many_owned(units).await.ok();
        let global = self
            .limits
            .budget
            .clone()
            .acquire_many_owned(units)
            .await
            .ok();
        Reservation {
            _conn: conn,
            _global: global,
            activity: self.clone(),
        }
    }

    /// Marks progress: bytes left for the client, or a body was asked for more.
    pub fn progress(&self) {
        self.last_progress_ms.store(self.limits.now_ms(), Relaxed);
    }

    /// Counts a request in flight until the guard drops.
    pub fn request(self: &Arc<Self>) -> RequestGuard {
        self.requests.fetch_add(1, Relaxed);
        self.last_request_ms.store(self.limits.now_ms(), Relaxed);
        RequestGuard(self.clone())
    }

    /// Requests in flight now.
    pub fn requests_in_flight(&self) -> u32 {
        self.requests.load(Relaxed)
    }

    /// Counts a media body in flight until the guard drops.
    pub fn media_body(self: &Arc<Self>) -> MediaBodyGuard {
        self.media_bodies.fetch_add(1, Relaxed);
        self.progress();
        MediaBodyGuard(self.clone())
    }

    /// Whether the connection has outlived a timeout, judged now.
    pub fn expired(&self) -> Option<Expiry> {
        let now = self.limits.now_ms();
        let cfg = &self.limits.config;
        let pending = self.media_bodies.load(Relaxed) > 0
            || self.per_conn.available_permits() < self.per_conn_total;
        let progress = self.last_progress_ms.load(Relaxed);
        if pending && now.saturating_sub(progress) > cfg.send_timeout.as_millis() as u64 {
            return Some(Expiry::Send);
        }
        let last = progress.max(self.last_request_ms.load(Relaxed));
        if self.requests.load(Relaxed) == 0
            && !pending
            && now.saturating_sub(last) > cfg.idle_timeout.as_millis() as u64
        {
            return Some(Expiry::Idle);
        }
        None
    }

    /// Resolves when the connection has expired (polled a few times per timeout), counting it.
    pub async fn watchdog(self: Arc<Self>) -> Expiry {
        let cfg = &self.limits.config;
        let tick = (cfg.send_timeout.min(cfg.idle_timeout) / 4)
            .clamp(Duration::from_millis(100), Duration::from_secs(5));
        loop {
            tokio::time::sleep(tick).await;
            if let Some(e) = self.expired() {
                match e {
                    Expiry::Send => self.limits.send_timeouts.fetch_add(1, Relaxed),
                    Expiry::Idle => self.limits.idle_timeouts.fetch_add(1, Relaxed),
                };
                return e;
            }
        }
    }

    /// Counts a connection closed by a header or keep-alive timeout (fast path).
    pub fn count_idle_timeout(&self) {
        self.limits.idle_timeouts.fetch_add(1, Relaxed);
    }

    /// Counts a connection closed by the send timeout (fast path).
    pub fn count_send_timeout(&self) {
        self.limits.send_timeouts.fetch_add(1, Relaxed);
    }

    /// The send timeout.
    pub fn send_timeout(&self) -> Duration {
        self.limits.config.send_timeout
    }

    /// The keep-alive idle timeout.
    pub fn idle_timeout(&self) -> Duration {
        self.limits.config.idle_timeout
    }
}

/// A request in flight on a connection.
pub struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.requests.fetch_sub(1, Relaxed);
        self.0
            .last_request_ms
            .store(self.0.limits.now_ms(), Relaxed);
    }
}

/// A media body in flight on a connection.
pub struct MediaBodyGuard(Arc<Activity>);

impl MediaBodyGuard {
    /// The connection's activity.
    pub fn activity(&self) -> &Arc<Activity> {
        &self.0
    }
}

impl Drop for MediaBodyGuard {
    fn drop(&mut self) {
        self.0.media_bodies.fetch_sub(1, Relaxed);
        self.0.progress();
    }
}

/// Budget held for bytes on their way to a client; released (and counted as progress) on drop.
pub struct Reservation {
    _conn: Option<OwnedSemaphorePermit>,
    _global: Option<OwnedSemaphorePermit>,
    activity: Arc<Activity>,
}

impl Reservation {
    /// Ties the reservation to `data`: it is released when the last clone of the returned
    /// `Bytes` is dropped, i.e. once the bytes have been written.
    pub fn attach(self, data: Bytes) -> Bytes {
        Bytes::from_owner(Held {
            data,
            _reservation: self,
        })
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.activity.progress();
    }
}

struct Held {
    data: Bytes,
    _reservation: Reservation,
}

impl AsRef<[u8]> for Held {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

/// Logs an event at most once per interval, saying how many were left out in between (accept
/// errors under a descriptor shortage would otherwise flood the log).
pub struct LogLimiter {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl LogLimiter {
    /// At most one log line per `every`.
    pub fn new(every: Duration) -> LogLimiter {
        LogLimiter {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(n)` when a line should be logged now (`n` = events left out since the last one).
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(t) if now.duration_since(t) < self.every => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

/// Raises the soft open-file limit to the hard one (a server needs descriptors for its
/// connections; 1,024 is the common default). Returns the soft limit in effect.
pub fn raise_nofile_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write/read only the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let want = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    lim.rlim_cur
}

/// The connection cap when `engine.max_connections` is 0: three quarters of the descriptors,
/// leaving the rest for media files, RocksDB, workers and federation.
pub fn auto_max_connections(nofile: u64) -> usize {
    ((nofile.saturating_mul(3) / 4).max(64)).min(usize::MAX as u64) as usize
}

/// The per-shard cap when `engine.max_connections_per_shard` is 0: an even share of the process
/// cap plus a quarter (the kernel's spread is a hash), never above the process cap.
pub fn auto_max_connections_per_shard(max_connections: usize, shards: usize) -> usize {
    let share = max_connections.div_ceil(shards.max(1));
    (share + share / 4).clamp(1, max_connections.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per_ip: usize) -> Arc<ConnLimits> {
        ConnLimits::new(LimitsConfig {
            max_connections: total,
            max_connections_per_ip: per_ip,
            max_connections_per_shard: total,
            send_buffer_bytes: 4 << 20,
            send_buffer_bytes_per_connection: 2 << 20,
            send_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(60),
        })
    }

    #[test]
    fn metrics_text_is_byte_for_byte_the_documented_one() {
        let l = limits(10, 2);
        l.refused_per_address.fetch_add(3, Relaxed);
        l.idle_timeouts.fetch_add(1, Relaxed);
        let mut out = String::new();
        l.render_metrics(&mut out);
        assert_eq!(
            out,
            "# HELP fleuve_connections_refused_total Connections refused by a cap.\n\
             # TYPE fleuve_connections_refused_total counter\n\
             fleuve_connections_refused_total{cap=\"process\"} 0\n\
             fleuve_connections_refused_total{cap=\"address\"} 3\n\
             fleuve_connections_refused_total{cap=\"shard\"} 0\n\
             # HELP fleuve_connection_timeouts_total Connections closed by a timeout.\n\
             # TYPE fleuve_connection_timeouts_total counter\n\
             fleuve_connection_timeouts_total{timeout=\"send\"} 0\n\
             fleuve_connection_timeouts_total{timeout=\"idle\"} 1\n\
             # HELP fleuve_send_buffer_bytes Response bytes waiting for clients (all connections).\n\
             # TYPE fleuve_send_buffer_bytes gauge\n\
             fleuve_send_buffer_bytes 0\n"
        );
    }

    #[test]
    fn the_automatic_shard_cap_is_a_share_with_slack() {
        assert_eq!(auto_max_connections_per_shard(15_000, 2), 9_375);
        assert_eq!(auto_max_connections_per_shard(15_000, 1), 15_000);
        assert_eq!(auto_max_connections_per_shard(100, 64), 2);
    }

    #[test]
    fn caps_per_address_and_in_total() {
        let l = limits(3, 2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let a1 = l.admit(a).unwrap();
        let _a2 = l.admit(a).unwrap();
        assert_eq!(l.admit(a).err(), Some(Refusal::PerAddress(2)));
        let _b1 = l.admit(b).unwrap();
        assert_eq!(l.admit(b).err(), Some(Refusal::Total(3)));
        drop(a1);
        assert_eq!(l.open(), 2);
        assert_eq!(
            l.admit_on_shard(b, 3).err(),
            Some(Refusal::PerShard(3)),
            "a full shard refuses first"
        );
        assert_eq!(l.refused_per_shard.load(Relaxed), 1);
        assert!(l.admit(a).is_ok());
    }

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        let l = limits(100, 1);
        let _x = l.admit("2001:db8:1:2::1".parse().unwrap()).unwrap();
        assert!(l.admit("2001:db8:1:2:ffff::9".parse().unwrap()).is_err());
        assert!(l.admit("2001:db8:1:3::1".parse().unwrap()).is_ok());
        let _m = l.admit("::ffff:192.0.2.7".parse().unwrap()).unwrap();
        assert!(l.admit("192.0.2.7".parse().unwrap()).is_err());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn bytes_hold_the_budget_until_dropped() {
        let l = limits(10, 10);
        let adm = l.admit("192.0.2.1".parse().unwrap()).unwrap();
        let r = adm.activity.reserve(1 << 20).await;
        let data = r.attach(Bytes::from(vec![7u8; 1 << 20]));
        assert_eq!(l.budget_in_use(), 1 << 20);
        let slice = data.slice(0..10);
        drop(data);
        assert_eq!(l.budget_in_use(), 1 << 20, "a slice still holds the bytes");
        assert_eq!(&slice[..], &[7u8; 10]);
        drop(slice);
        assert_eq!(l.budget_in_use(), 0);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_spent_connection_budget_waits() {
        let l = limits(10, 10);
        let adm = l.admit("192.0.2.1".parse().unwrap()).unwrap();
        let first = adm.activity.reserve(2 << 20).await;
        let second = adm.activity.reserve(1024);
        tokio::pin!(second);
        assert!(futures_util::FutureExt::now_or_never(second.as_mut()).is_none());
        drop(first);
        let _ = second.await;
    }

    #[test]
    fn log_limiter_counts_what_it_left_out() {
        let mut l = LogLimiter::new(Duration::from_secs(5));
        let t = Instant::now();
        assert_eq!(l.allow(t), Some(0));
        assert_eq!(l.allow(t + Duration::from_secs(1)), None);
        assert_eq!(l.allow(t + Duration::from_secs(2)), None);
        assert_eq!(l.allow(t + Duration::from_secs(6)), Some(2));
    }
}
