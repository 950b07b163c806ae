//! Prometheus metrics. Each shard writes only its own counters (relaxed atomics on its own
//! allocation, no shared cache lines on the hot path); `/metrics` reads them all and renders the
//! text format with a `shard` label where it helps.

pub(crate) mod exposition;

use exposition::{Exposition, Kind};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// Route classes counted separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteClass {
    /// The segment server (`/static/…`, `/lazy-static/…`).
    Media,
    /// The REST API (`/api/…`).
    Api,
    /// `/metrics` itself.
    Metrics,
    /// Anything else (pages, well-known, 404s).
    Other,
}

impl RouteClass {
    const ALL: [RouteClass; 4] = [
        RouteClass::Media,
        RouteClass::Api,
        RouteClass::Metrics,
        RouteClass::Other,
    ];

    /// Label value.
    pub fn label(self) -> &'static str {
        match self {
            RouteClass::Media => "media",
            RouteClass::Api => "api",
            RouteClass::Metrics => "metrics",
            RouteClass::Other => "other",
        }
    }
}

/// A per-shard series: name, type, help, and how to read it.
type PerShardSeries = (&'static str, Kind, &'static str, fn(&ShardMetrics) -> i64);

/// Statuses counted individually; the last slot counts every other status.
const STATUSES: [u16; 20] = [
    200, 201, 204, 206, 301, 302, 304, 308, 400, 401, 403, 404, 405, 409, 413, 415, 416, 429, 500,
    503,
];
const SLOTS: usize = STATUSES.len() + 1;

/// One shard's counters.
pub struct ShardMetrics {
    /// Shard index.
    pub shard: usize,
    requests: [[AtomicU64; SLOTS]; 4],
    bytes: [AtomicU64; 4],
    /// Connections open now.
    pub connections_open: AtomicI64,
    /// Connections accepted since start.
    pub connections_total: AtomicU64,
    /// Cache chunk hits.
    pub cache_hits: AtomicU64,
    /// Cache chunk misses.
    pub cache_misses: AtomicU64,
    /// Bytes in the shard's cache.
    pub cache_bytes: AtomicU64,
    /// Milliseconds since process start at the shard's last event-loop tick (watchdog).
    pub heartbeat_ms: AtomicU64,
    /// Response body bytes of our mirrors of other instances' videos (`/static/redundancy/`),
    /// also counted in the media class.
    pub mirror_bytes: AtomicU64,
    /// Media files opened (misses of the shard's descriptor cache).
    pub files_opened: AtomicU64,
    /// Large ranges (64 KiB and more) sent on the plain HTTP/1.1 path, by where their bytes
    /// came from ([`RangeSource`]).
    pub large_ranges: [AtomicU64; 3],
    /// TLS sessions established over TCP: `[0]` records in rustls (user space), `[1]` handed to
    /// the kernel (kernel TLS).
    pub tls_sessions: [AtomicU64; 2],
}

/// Where a large range's bytes came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSource {
    /// The shard's memory cache.
    Memory = 0,
    /// The page cache, with `sendfile` (hot).
    PageCache = 1,
    /// The disk, read through the shard's ring in pieces (cold).
    Disk = 2,
}

impl RangeSource {
    const ALL: [RangeSource; 3] = [
        RangeSource::Memory,
        RangeSource::PageCache,
        RangeSource::Disk,
    ];

    fn label(self) -> &'static str {
        match self {
            RangeSource::Memory => "memory",
            RangeSource::PageCache => "page_cache",
            RangeSource::Disk => "disk",
        }
    }
}

impl ShardMetrics {
    /// Zeroed counters for shard `shard`.
    pub fn new(shard: usize) -> ShardMetrics {
        ShardMetrics {
            shard,
            requests: Default::default(),
            bytes: Default::default(),
            connections_open: AtomicI64::new(0),
            connections_total: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
            cache_misses: AtomicU64::new(0),
            cache_bytes: AtomicU64::new(0),
            heartbeat_ms: AtomicU64::new(0),
            mirror_bytes: AtomicU64::new(0),
            files_opened: AtomicU64::new(0),
            large_ranges: Default::default(),
            tls_sessions: Default::default(),
        }
    }

    /// Counts one response.
    pub fn record(&self, class: RouteClass, status: u16, bytes: u64) {
        let c = class as usize;
        let slot = STATUSES
            .iter()
            .position(|s| *s == status)
            .unwrap_or(SLOTS - 1);
        self.requests[c][slot].fetch_add(1, Relaxed);
        self.bytes[c].fetch_add(bytes, Relaxed);
    }

    /// Counts one large range sent from `source`.
    pub fn large_range(&self, source: RangeSource) {
        self.large_ranges[source as usize].fetch_add(1, Relaxed);
    }
}

/// All shards' metrics.
#[derive(Clone, Default)]
pub struct Metrics {
    shards: Vec<Arc<ShardMetrics>>,
}

impl Metrics {
    /// Metrics for `n` shards.
    pub fn new(n: usize) -> Metrics {
        Metrics {
            shards: (0..n).map(|i| Arc::new(ShardMetrics::new(i))).collect(),
        }
    }

    /// Shard `i`'s counters.
    pub fn shard(&self, i: usize) -> Arc<ShardMetrics> {
        self.shards[i].clone()
    }

    /// All shards.
    pub fn shards(&self) -> &[Arc<ShardMetrics>] {
        &self.shards
    }

    /// Bytes served from our mirrors, all shards.
    pub fn mirror_bytes(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.mirror_bytes.load(Relaxed))
            .sum()
    }

    /// The media cache's part of the admin status: hits and misses of all shards.
    pub fn cache_status_json(&self) -> serde_json::Value {
        let (hits, misses) = self.shards.iter().fold((0u64, 0u64), |(h, m), s| {
            (
                h + s.cache_hits.load(Relaxed),
                m + s.cache_misses.load(Relaxed),
            )
        });
        let total = hits + misses;
        serde_json::json!({
            "hits": hits,
            "misses": misses,
            "hitRate": if total > 0 { Some(hits as f64 / total as f64) } else { None },
        })
    }

    /// Renders the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let mut w = Exposition::new(&mut out);
        let mut requests = w.counter(
            "fleuve_http_requests_total",
            "HTTP responses by route class and status.",
        );
        for class in RouteClass::ALL {
            for slot in 0..SLOTS {
                let n: u64 = self
                    .shards
                    .iter()
                    .map(|s| s.requests[class as usize][slot].load(Relaxed))
                    .sum();
                if n == 0 {
                    continue;
                }
                let status: &dyn std::fmt::Display = match STATUSES.get(slot) {
                    Some(s) => s,
                    None => &"other",
                };
                requests.sample(&[("route", &class.label()), ("status", status)], n);
            }
        }
        let mut bytes = w.counter(
            "fleuve_http_response_bytes_total",
            "Response body bytes by route class.",
        );
        for class in RouteClass::ALL {
            let n: u64 = self
                .shards
                .iter()
                .map(|s| s.bytes[class as usize].load(Relaxed))
                .sum();
            bytes.sample(&[("route", &class.label())], n);
        }
        w.counter(
            "fleuve_redundancy_served_bytes_total",
            "Response body bytes served from our mirrors of other instances' videos.",
        )
        .sample(&[], self.mirror_bytes());
        let mut ranges = w.counter(
            "fleuve_media_large_ranges_total",
            "Ranges of 64 KiB and more sent on the HTTP/1.1 fast path (plain or kernel TLS), by where their bytes came from (memory: the shard's cache; page_cache: sendfile; disk: read through io_uring).",
        );
        for source in RangeSource::ALL {
            let n: u64 = self
                .shards
                .iter()
                .map(|s| s.large_ranges[source as usize].load(Relaxed))
                .sum();
            ranges.sample(&[("source", &source.label())], n);
        }
        w.counter(
            "fleuve_media_files_opened_total",
            "Media files opened (misses of the shards' descriptor caches).",
        )
        .sample(
            &[],
            self.shards
                .iter()
                .map(|s| s.files_opened.load(Relaxed))
                .sum::<u64>(),
        );
        let mut tls = w.counter(
            "fleuve_tls_sessions_total",
            "TLS sessions established over TCP, by where their records are encrypted (user: rustls; kernel: kernel TLS after the handshake).",
        );
        for (i, records) in ["user", "kernel"].into_iter().enumerate() {
            let n: u64 = self
                .shards
                .iter()
                .map(|s| s.tls_sessions[i].load(Relaxed))
                .sum();
            tls.sample(&[("records", &records)], n);
        }
        let per_shard: [PerShardSeries; 5] = [
            (
                "fleuve_connections_open",
                Kind::Gauge,
                "Connections open now, per shard.",
                |s| s.connections_open.load(Relaxed),
            ),
            (
                "fleuve_connections_accepted_total",
                Kind::Counter,
                "Connections accepted, per shard.",
                |s| s.connections_total.load(Relaxed) as i64,
            ),
            (
                "fleuve_cache_hits_total",
                Kind::Counter,
                "Media cache chunk hits, per shard.",
                |s| s.cache_hits.load(Relaxed) as i64,
            ),
            (
                "fleuve_cache_misses_total",
                Kind::Counter,
                "Media cache chunk misses (disk reads), per shard.",
                |s| s.cache_misses.load(Relaxed) as i64,
            ),
            (
                "fleuve_cache_bytes",
                Kind::Gauge,
                "Bytes held in the media cache, per shard.",
                |s| s.cache_bytes.load(Relaxed) as i64,
            ),
        ];
        for (name, kind, help, get) in per_shard {
            let mut family = w.family(name, help, kind);
            for s in &self.shards {
                family.sample(&[("shard", &s.shard)], get(s));
            }
        }
        w.gauge("fleuve_shards", "Shards (event-loop threads) running.")
            .sample(&[], self.shards.len());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_by_class_and_status() {
        let m = Metrics::new(2);
        m.shard(0).record(RouteClass::Media, 206, 100);
        m.shard(1).record(RouteClass::Media, 206, 50);
        m.shard(1).record(RouteClass::Api, 599, 1);
        let text = m.render();
        assert!(
            text.contains("fleuve_http_requests_total{route=\"media\",status=\"206\"} 2"),
            "{text}"
        );
        assert!(text.contains("fleuve_http_requests_total{route=\"api\",status=\"other\"} 1"));
        assert!(text.contains("fleuve_http_response_bytes_total{route=\"media\"} 150"));
        assert!(text.contains("fleuve_connections_open{shard=\"1\"} 0"));
    }

    #[test]
    fn the_text_is_byte_for_byte_the_documented_one() {
        let m = Metrics::new(2);
        m.shard(0).record(RouteClass::Media, 206, 100);
        m.shard(1).record(RouteClass::Api, 599, 1);
        m.shard(1).cache_hits.fetch_add(3, Relaxed);
        m.shard(0).connections_open.fetch_add(2, Relaxed);
        assert_eq!(
            m.render(),
            "# HELP fleuve_http_requests_total HTTP responses by route class and status.\n\
             # TYPE fleuve_http_requests_total counter\n\
             fleuve_http_requests_total{route=\"media\",status=\"206\"} 1\n\
             fleuve_http_requests_total{route=\"api\",status=\"other\"} 1\n\
             # HELP fleuve_http_response_bytes_total Response body bytes by route class.\n\
             # TYPE fleuve_http_response_bytes_total counter\n\
             fleuve_http_response_bytes_total{route=\"media\"} 100\n\
             fleuve_http_response_bytes_total{route=\"api\"} 1\n\
             fleuve_http_response_bytes_total{route=\"metrics\"} 0\n\
             fleuve_http_response_bytes_total{route=\"other\"} 0\n\
             # HELP fleuve_redundancy_served_bytes_total Response body bytes served from our mirrors of other instances' videos.\n\
             # TYPE fleuve_redundancy_served_bytes_total counter\n\
             fleuve_redundancy_served_bytes_total 0\n\
             # HELP fleuve_media_large_ranges_total Ranges of 64 KiB and more sent on the HTTP/1.1 fast path (plain or kernel TLS), by where their bytes came from (memory: the shard's cache; page_cache: sendfile; disk: read through io_uring).\n\
             # TYPE fleuve_media_large_ranges_total counter\n\
             fleuve_media_large_ranges_total{source=\"memory\"} 0\n\
             fleuve_media_large_ranges_total{source=\"page_cache\"} 0\n\
             fleuve_media_large_ranges_total{source=\"disk\"} 0\n\
             # HELP fleuve_media_files_opened_total Media files opened (misses of the shards' descriptor caches).\n\
             # TYPE fleuve_media_files_opened_total counter\n\
             fleuve_media_files_opened_total 0\n\
             # HELP fleuve_tls_sessions_total TLS sessions established over TCP, by where their records are encrypted (user: rustls; kernel: kernel TLS after the handshake).\n\
             # TYPE fleuve_tls_sessions_total counter\n\
             fleuve_tls_sessions_total{records=\"user\"} 0\n\
             fleuve_tls_sessions_total{records=\"kernel\"} 0\n\
             # HELP fleuve_connections_open Connections open now, per shard.\n\
             # TYPE fleuve_connections_open gauge\n\
             fleuve_connections_open{shard=\"0\"} 2\n\
             fleuve_connections_open{shard=\"1\"} 0\n\
             # HELP fleuve_connections_accepted_total Connections accepted, per shard.\n\
             # TYPE fleuve_connections_accepted_total counter\n\
             fleuve_connections_accepted_total{shard=\"0\"} 0\n\
             fleuve_connections_accepted_total{shard=\"1\"} 0\n\
             # HELP fleuve_cache_hits_total Media cache chunk hits, per shard.\n\
             # TYPE fleuve_cache_hits_total counter\n\
             fleuve_cache_hits_total{shard=\"0\"} 0\n\
             fleuve_cache_hits_total{shard=\"1\"} 3\n\
             # HELP fleuve_cache_misses_total Media cache chunk misses (disk reads), per shard.\n\
             # TYPE fleuve_cache_misses_total counter\n\
             fleuve_cache_misses_total{shard=\"0\"} 0\n\
             fleuve_cache_misses_total{shard=\"1\"} 0\n\
             # HELP fleuve_cache_bytes Bytes held in the media cache, per shard.\n\
             # TYPE fleuve_cache_bytes gauge\n\
             fleuve_cache_bytes{shard=\"0\"} 0\n\
             fleuve_cache_bytes{shard=\"1\"} 0\n\
             # HELP fleuve_shards Shards (event-loop threads) running.\n\
             # TYPE fleuve_shards gauge\n\
             fleuve_shards 2\n"
        );
    }
}
