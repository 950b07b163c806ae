//! Tracker counters for `/metrics`: announces and scrapes by protocol, offers and answers
//! relayed, refusals by reason; swarm and peer gauges are read from the swarms when rendered.

use crate::metrics::exposition::Exposition;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A tracker protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// WebSocket (WebTorrent).
    Ws,
    /// HTTP (BEP 3).
    Http,
    /// UDP (BEP 15).
    Udp,
}

impl Proto {
    const ALL: [Proto; 3] = [Proto::Ws, Proto::Http, Proto::Udp];

    fn label(self) -> &'static str {
        match self {
            Proto::Ws => "ws",
            Proto::Http => "http",
            Proto::Udp => "udp",
        }
    }
}

/// Refusal reasons counted.
pub const REASONS: [&str; 9] = [
    "unknown_hash",
    "blocked_ip",
    "rate_limited",
    "malformed",
    "swarm_full",
    "too_many_connections",
    "bad_connection_id",
    "idle_timeout",
    "connection_error",
];

/// The counters.
#[derive(Debug, Default)]
pub struct TrackerMetrics {
    announces: [AtomicU64; 3],
    scrapes: [AtomicU64; 3],
    /// Offers handed to other peers.
    pub offers_relayed: AtomicU64,
    /// Answers handed back.
    pub answers_relayed: AtomicU64,
    refusals: [[AtomicU64; REASONS.len()]; 3],
}

impl TrackerMetrics {
    /// One announce answered.
    pub fn announce(&self, p: Proto) {
        self.announces[p as usize].fetch_add(1, Relaxed);
    }

    /// One scrape answered.
    pub fn scrape(&self, p: Proto) {
        self.scrapes[p as usize].fetch_add(1, Relaxed);
    }

    /// One request refused for `reason` (one of [`REASONS`]).
    pub fn refuse(&self, p: Proto, reason: &str) {
        if let Some(i) = REASONS.iter().position(|r| *r == reason) {
            self.refusals[p as usize][i].fetch_add(1, Relaxed);
        }
    }

    /// Announces answered so far on `p`.
    pub fn announces(&self, p: Proto) -> u64 {
        self.announces[p as usize].load(Relaxed)
    }

    /// Appends the Prometheus text, with the gauges `(torrents, bt peers, ws peers)`.
    pub fn render(&self, out: &mut String, (torrents, bt, ws): (usize, usize, usize)) {
        let mut w = Exposition::new(out);
        w.gauge("fleuve_tracker_swarms", "Torrents with at least one peer.")
            .sample(&[], torrents);
        w.gauge("fleuve_tracker_peers", "Peers by kind.")
            .sample(&[("kind", &"bittorrent")], bt)
            .sample(&[("kind", &"webtorrent")], ws);
        let mut announces = w.counter(
            "fleuve_tracker_announces_total",
            "Announces answered by protocol.",
        );
        for p in Proto::ALL {
            announces.sample(
                &[("protocol", &p.label())],
                self.announces[p as usize].load(Relaxed),
            );
        }
        let mut scrapes = w.counter(
            "fleuve_tracker_scrapes_total",
            "Scrapes answered by protocol.",
        );
        for p in Proto::ALL {
            scrapes.sample(
                &[("protocol", &p.label())],
                self.scrapes[p as usize].load(Relaxed),
            );
        }
        w.counter(
            "fleuve_tracker_offers_relayed_total",
            "WebRTC offers handed to peers.",
        )
        .sample(&[], self.offers_relayed.load(Relaxed));
        w.counter(
            "fleuve_tracker_answers_relayed_total",
            "WebRTC answers handed back.",
        )
        .sample(&[], self.answers_relayed.load(Relaxed));
        let mut refusals = w.counter(
            "fleuve_tracker_refusals_total",
            "Requests refused, by protocol and reason.",
        );
        for p in Proto::ALL {
            for (i, reason) in REASONS.iter().enumerate() {
                let n = self.refusals[p as usize][i].load(Relaxed);
                if n > 0 {
                    refusals.sample(&[("protocol", &p.label()), ("reason", reason)], n);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_is_byte_for_byte_the_documented_one() {
        let m = TrackerMetrics::default();
        m.announce(Proto::Ws);
        m.scrape(Proto::Udp);
        m.refuse(Proto::Http, "unknown_hash");
        m.offers_relayed.fetch_add(2, Relaxed);
        let mut out = String::new();
        m.render(&mut out, (1, 2, 3));
        assert_eq!(
            out,
            "# HELP fleuve_tracker_swarms Torrents with at least one peer.\n\
             # TYPE fleuve_tracker_swarms gauge\n\
             fleuve_tracker_swarms 1\n\
             # HELP fleuve_tracker_peers Peers by kind.\n\
             # TYPE fleuve_tracker_peers gauge\n\
             fleuve_tracker_peers{kind=\"bittorrent\"} 2\n\
             fleuve_tracker_peers{kind=\"webtorrent\"} 3\n\
             # HELP fleuve_tracker_announces_total Announces answered by protocol.\n\
             # TYPE fleuve_tracker_announces_total counter\n\
             fleuve_tracker_announces_total{protocol=\"ws\"} 1\n\
             fleuve_tracker_announces_total{protocol=\"http\"} 0\n\
             fleuve_tracker_announces_total{protocol=\"udp\"} 0\n\
             # HELP fleuve_tracker_scrapes_total Scrapes answered by protocol.\n\
             # TYPE fleuve_tracker_scrapes_total counter\n\
             fleuve_tracker_scrapes_total{protocol=\"ws\"} 0\n\
             fleuve_tracker_scrapes_total{protocol=\"http\"} 0\n\
             fleuve_tracker_scrapes_total{protocol=\"udp\"} 1\n\
             # HELP fleuve_tracker_offers_relayed_total WebRTC offers handed to peers.\n\
             # TYPE fleuve_tracker_offers_relayed_total counter\n\
             fleuve_tracker_offers_relayed_total 2\n\
             # HELP fleuve_tracker_answers_relayed_total WebRTC answers handed back.\n\
             # TYPE fleuve_tracker_answers_relayed_total counter\n\
             fleuve_tracker_answers_relayed_total 0\n\
             # HELP fleuve_tracker_refusals_total Requests refused, by protocol and reason.\n\
             # TYPE fleuve_tracker_refusals_total counter\n\
             fleuve_tracker_refusals_total{protocol=\"http\",reason=\"unknown_hash\"} 1\n"
        );
    }
}
