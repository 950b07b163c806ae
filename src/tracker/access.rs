//! Who may use the tracker: the private allowlist (the `infohashes` table, cached), IPs blocked
//! for announcing unknown torrents (PeerTube blocks such a WebSocket peer for 3 minutes),
//! announces per IP per torrent per window (PeerTube's `reject_too_many_announces`) and
//! WebSocket connections per IP. Every table is bounded (LRU), so no client can grow them.

use super::protocol::InfoHash;
use crate::store::videos::InfohashKey;
use crate::store::Store;
use lru::LruCache;
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Cached allowlist answers live this long (a deleted video stops being tracked within it).
const CACHE_TTL: Duration = Duration::from_secs(10);
/// Entries in each table.
const TABLE: usize = 65_536;
/// Unknown-hash announces from one IP before it is blocked.
const UNKNOWN_BEFORE_BLOCK: u32 = 3;
/// Window of the per-IP per-torrent announce limit (PeerTube: 5 minutes).
const ANNOUNCE_WINDOW: Duration = Duration::from_secs(300);

/// Access settings.
#[derive(Debug, Clone)]
pub struct AccessConfig {
    /// Only allowlisted info-hashes are tracked.
    pub private: bool,
    /// How long an IP is blocked after announcing unknown torrents.
    pub block: Duration,
    /// Announces allowed per IP per torrent per 5 minutes (0 = no limit).
    pub announces_per_ip_per_hash: u32,
    /// WebSocket connections allowed per IP.
    pub max_connections_per_ip: u32,
}

fn lru<K: std::hash::Hash + Eq, V>() -> Mutex<LruCache<K, V>> {
    Mutex::new(LruCache::new(
        NonZeroUsize::new(TABLE).unwrap_or(NonZeroUsize::MIN),
    ))
}

/// Access control state.
pub struct Access {
    store: Arc<Store>,
    config: AccessConfig,
    allowed: Mutex<LruCache<InfoHash, (bool, Instant)>>,
    offenders: Mutex<LruCache<IpAddr, (u32, Instant)>>,
    announces: Mutex<LruCache<(IpAddr, InfoHash), (u32, Instant)>>,
    connections: Mutex<HashMap<IpAddr, u32>>,
}

/// Why a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The torrent is not ours (private mode).
    UnknownHash,
    /// The IP is blocked for a while.
    Blocked,
    /// Too many announces for this torrent from this IP.
    RateLimited,
}

impl Refusal {
    /// The failure reason sent to the client.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::UnknownHash => "unregistered torrent: this tracker is private",
            Refusal::Blocked => "too many unregistered torrents from this address; retry later",
            Refusal::RateLimited => "too many announces for this torrent; slow down",
        }
    }

    /// The metrics label.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::UnknownHash => "unknown_hash",
            Refusal::Blocked => "blocked_ip",
            Refusal::RateLimited => "rate_limited",
        }
    }
}

impl Access {
    /// Access over the allowlist in `store`.
    pub fn new(store: Arc<Store>, config: AccessConfig) -> Access {
        Access {
            store,
            config,
            allowed: lru(),
            offenders: lru(),
            announces: lru(),
            connections: Mutex::new(HashMap::new()),
        }
    }

    fn is_allowed(&self, h: &InfoHash, now: Instant) -> bool {
        if !self.config.private {
            return true;
        }
        if let Ok(mut c) = self.allowed.lock() {
            if let Some(&(ok, at)) = c.get(h) {
                if now.duration_since(at) < CACHE_TTL {
                    return ok;
                }
            }
        }
        let ok = matches!(self.store.get(&InfohashKey(h.0)), Ok(Some(_)));
        if let Ok(mut c) = self.allowed.lock() {
            c.put(*h, (ok, now));
        }
        ok
    }

    /// Forgets the cached allowlist answers for `hashes` (the table changed for them), so the
    /// next announce reads the table again instead of trusting the cache for up to 10 s.
    pub fn forget(&self, hashes: &[InfoHash]) {
        if let Ok(mut c) = self.allowed.lock() {
            for h in hashes {
                c.pop(h);
            }
        }
    }

    /// Whether `ip` may announce `h` now; records unknown hashes and announce counts.
    pub fn check_announce(&self, ip: IpAddr, h: &InfoHash, now: Instant) -> Result<(), Refusal> {
        if self.is_blocked(ip, now) {
            return Err(Refusal::Blocked);
        }
        if !self.is_allowed(h, now) {
            if let Ok(mut o) = self.offenders.lock() {
                let entry = o.get_or_insert_mut(ip, || (0, now));
                if now.duration_since(entry.1) > self.config.block {
                    *entry = (0, now);
                }
                entry.0 += 1;
            }
            return Err(Refusal::UnknownHash);
        }
        let limit = self.config.announces_per_ip_per_hash;
        if limit > 0 {
            if let Ok(mut a) = self.announces.lock() {
                let entry = a.get_or_insert_mut((ip, *h), || (0, now));
                if now.duration_since(entry.1) > ANNOUNCE_WINDOW {
                    *entry = (0, now);
                }
                entry.0 += 1;
                if entry.0 > limit {
                    return Err(Refusal::RateLimited);
                }
            }
        }
        Ok(())
    }

    /// Whether a scrape of `h` may be answered (private mode answers ours only).
    pub fn check_scrape(&self, h: &InfoHash, now: Instant) -> bool {
        self.is_allowed(h, now)
    }

    /// Whether `ip` is blocked for announcing unknown torrents.
    pub fn is_blocked(&self, ip: IpAddr, now: Instant) -> bool {
        let Ok(mut o) = self.offenders.lock() else {
            return false;
        };
        match o.get(&ip) {
            Some(&(n, since)) => {
                n >= UNKNOWN_BEFORE_BLOCK && now.duration_since(since) < self.config.block
            }
            None => false,
        }
    }

    /// Blocks `ip` now (a WebSocket peer that announced an unknown torrent, as PeerTube does).
    pub fn block(&self, ip: IpAddr, now: Instant) {
        if let Ok(mut o) = self.offenders.lock() {
            o.put(ip, (UNKNOWN_BEFORE_BLOCK, now));
        }
    }

    /// Takes a connection slot for `ip`; `None` when it has too many.
    pub fn connect(self: &Arc<Self>, ip: IpAddr) -> Option<ConnectionSlot> {
        let mut c = self.connections.lock().ok()?;
        let n = c.entry(ip).or_insert(0);
        if *n >= self.config.max_connections_per_ip {
            return None;
        }
        *n += 1;
        Some(ConnectionSlot {
            access: Arc::clone(self),
            ip,
        })
    }
}

/// A WebSocket connection's slot; released on drop.
pub struct ConnectionSlot {
    access: Arc<Access>,
    ip: IpAddr,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        if let Ok(mut c) = self.access.connections.lock() {
            if let Some(n) = c.get_mut(&self.ip) {
                *n -= 1;
                if *n == 0 {
                    c.remove(&self.ip);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::videos::InfohashEntry;
    use crate::store::Durability;

    #[test]
    fn private_mode_blocks_and_limits() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("meta")).unwrap());
        let ours = InfoHash([5; 20]);
        let entry = InfohashEntry {
            video_uuid: "v".into(),
            resolution: 720,
            scheme: "torrent".into(),
        };
        store
            .put(&InfohashKey(ours.0), &entry, Durability::Buffered)
            .unwrap();
        let access = Arc::new(Access::new(
            store.clone(),
            AccessConfig {
                private: true,
                block: Duration::from_secs(180),
                announces_per_ip_per_hash: 2,
                max_connections_per_ip: 1,
            },
        ));
        let (ip, other): (IpAddr, IpAddr) =
            ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let now = Instant::now();
        assert_eq!(access.check_announce(ip, &ours, now), Ok(()));
        assert_eq!(access.check_announce(ip, &ours, now), Ok(()));
        assert_eq!(
            access.check_announce(ip, &ours, now),
            Err(Refusal::RateLimited)
        );
        assert_eq!(access.check_announce(other, &ours, now), Ok(()));
        let unknown = InfoHash([6; 20]);
        for _ in 0..UNKNOWN_BEFORE_BLOCK {
            assert_eq!(
                access.check_announce(other, &unknown, now),
                Err(Refusal::UnknownHash)
            );
        }
        assert_eq!(
            access.check_announce(other, &ours, now),
            Err(Refusal::Blocked)
        );
        let later = now + Duration::from_secs(181);
        assert!(!access.is_blocked(other, later));
        // Withdrawn from the table: refused at once, not after the cache's lifetime.
        let fresh: IpAddr = "10.0.0.3".parse().unwrap();
        store
            .delete(&InfohashKey(ours.0), Durability::Buffered)
            .unwrap();
        assert_eq!(access.check_announce(fresh, &ours, now), Ok(()), "cached");
        access.forget(&[ours]);
        assert_eq!(
            access.check_announce(fresh, &ours, now),
            Err(Refusal::UnknownHash)
        );
        let slot = access.connect(ip).expect("first connection");
        assert!(access.connect(ip).is_none());
        drop(slot);
        assert!(access.connect(ip).is_some());
    }
}
