//! Tracker counters for `/metrics`: announces and scrapes by protocol, offers and answers
//! relayed, refusals by reason; swarm and peer gauges are read from the swarms when rendered.

use std::fmt::Write;
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
        out.push_str("# HELP fleuve_tracker_swarms Torrents with at least one peer.\n# TYPE fleuve_tracker_swarms gauge\n");
        let _ = writeln!(out, "fleuve_tracker_swarms {torrents}");
        out.push_str(
            "# HELP fleuve_tracker_peers Peers by kind.\n# TYPE fleuve_tracker_peers gauge\n",
        );
        let _ = writeln!(out, "fleuve_tracker_peers{{kind=\"bittorrent\"}} {bt}");
        let _ = writeln!(out, "fleuve_tracker_peers{{kind=\"webtorrent\"}} {ws}");
        out.push_str("# HELP fleuve_tracker_announces_total Announces answered by protocol.\n# TYPE fleuve_tracker_announces_total counter\n");
        for p in Proto::ALL {
            let _ = writeln!(
                out,
                "fleuve_tracker_announces_total{{protocol=\"{}\"}} {}",
                p.label(),
                self.announces[p as usize].load(Relaxed)
            );
        }
        out.push_str("# HELP fleuve_tracker_scrapes_total Scrapes answered by protocol.\n# TYPE fleuve_tracker_scrapes_total counter\n");
        for p in Proto::ALL {
            let _ = writeln!(
                out,
                "fleuve_tracker_scrapes_total{{protocol=\"{}\"}} {}",
                p.label(),
                self.scrapes[p as usize].load(Relaxed)
            );
        }
        out.push_str("# HELP fleuve_tracker_offers_relayed_total WebRTC offers handed to peers.\n# TYPE fleuve_tracker_offers_relayed_total counter\n");
        let _ = writeln!(
            out,
            "fleuve_tracker_offers_relayed_total {}",
            self.offers_relayed.load(Relaxed)
        );
        out.push_str("# HELP fleuve_tracker_answers_relayed_total WebRTC answers handed back.\n# TYPE fleuve_tracker_answers_relayed_total counter\n");
        let _ = writeln!(
            out,
            "fleuve_tracker_answers_relayed_total {}",
            self.answers_relayed.load(Relaxed)
        );
        out.push_str("# HELP fleuve_tracker_refusals_total Requests refused, by protocol and reason.\n# TYPE fleuve_tracker_refusals_total counter\n");
        for p in Proto::ALL {
            for (i, reason) in REASONS.iter().enumerate() {
                let n = self.refusals[p as usize][i].load(Relaxed);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "fleuve_tracker_refusals_total{{protocol=\"{}\",reason=\"{reason}\"}} {n}",
                        p.label()
                    );
                }
            }
        }
    }
}
