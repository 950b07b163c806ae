//! Fixed-window counters: [`Windows`] (plain data, for callers that hold several under one
//! lock, as the login throttle does) and [`RateLimiter`], a locked one keyed by client IP or
//! anything else (remote hosts at the federation inbox).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept before old windows are swept.
const SWEEP_AT: usize = 10_000;

/// Events per key in fixed windows of one length.
#[derive(Debug)]
pub struct Windows<K> {
    window: Duration,
    seen: HashMap<K, (Instant, u32)>,
}

impl<K: Hash + Eq> Windows<K> {
    /// Counters over windows of `window`.
    pub fn new(window: Duration) -> Windows<K> {
        Windows {
            window,
            seen: HashMap::new(),
        }
    }

    /// Events counted for `key` in its current window.
    pub fn count(&self, key: &K, now: Instant) -> u32 {
        match self.seen.get(key) {
            Some((start, n)) if now.duration_since(*start) < self.window => *n,
            _ => 0,
        }
    }

    /// Seconds until `key`'s current window ends (at least 1).
    pub fn wait(&self, key: &K, now: Instant) -> u64 {
        let left = match self.seen.get(key) {
            Some((start, _)) => self.window.saturating_sub(now.duration_since(*start)),
            None => Duration::ZERO,
        };
        (left.as_secs() + u64::from(left.subsec_nanos() > 0)).max(1)
    }

    /// Counts one event for `key` (a new window starts when the last one is over).
    pub fn add(&mut self, key: K, now: Instant) {
        if self.seen.len() >= SWEEP_AT {
            let window = self.window;
            self.seen
                .retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let entry = self.seen.entry(key).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }

    /// Takes back one event counted for `key` in its current window (none when it is over).
    pub fn remove_one(&mut self, key: &K, now: Instant) {
        if let Some((start, n)) = self.seen.get_mut(key) {
            if now.duration_since(*start) < self.window {
                *n = n.saturating_sub(1);
            }
        }
    }

    /// Forgets `key`'s events.
    pub fn clear(&mut self, key: &K) {
        self.seen.remove(key);
    }
}

/// Allows `limit` events per `window` per key (an IP by default).
pub struct RateLimiter<K = IpAddr> {
    limit: u32,
    seen: Mutex<Windows<K>>,
}

impl<K: Hash + Eq> RateLimiter<K> {
    /// A limiter allowing `limit` events per `window` (0 = unlimited).
    pub fn new(limit: u32, window: Duration) -> RateLimiter<K> {
        RateLimiter {
            limit,
            seen: Mutex::new(Windows::new(window)),
        }
    }

    /// Counts one event for `key`; `Err(seconds)` to wait when over the limit.
    pub fn check(&self, key: K) -> Result<(), u64> {
        if self.limit == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.count(&key, now) >= self.limit {
            return Err(seen.wait(&key, now));
        }
        seen.add(key, now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_ip() {
        let l = RateLimiter::new(2, Duration::from_secs(60));
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(l.check(a).is_ok());
        assert!(l.check(a).is_ok());
        assert!(matches!(l.check(a), Err(1..=60)));
        assert!(l.check(b).is_ok());
    }

    #[test]
    fn windows_count_take_back_and_expire() {
        let t0 = Instant::now();
        let mut w = Windows::new(Duration::from_secs(10));
        w.add("k", t0);
        w.add("k", t0 + Duration::from_secs(1));
        assert_eq!(w.count(&"k", t0 + Duration::from_secs(2)), 2);
        assert_eq!(w.wait(&"k", t0 + Duration::from_millis(2500)), 8);
        w.remove_one(&"k", t0 + Duration::from_secs(2));
        assert_eq!(w.count(&"k", t0 + Duration::from_secs(2)), 1);
        // The window is over: nothing counted, a new one starts at the next event.
        assert_eq!(w.count(&"k", t0 + Duration::from_secs(10)), 0);
        w.add("k", t0 + Duration::from_secs(11));
        assert_eq!(w.count(&"k", t0 + Duration::from_secs(12)), 1);
        w.clear(&"k");
        assert_eq!(w.count(&"k", t0 + Duration::from_secs(12)), 0);
    }
}
