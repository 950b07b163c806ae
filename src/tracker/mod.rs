//! The BitTorrent and WebTorrent tracker (ARCHITECTURE.md §6): the wire protocols, free of I/O
//! ([`protocol`]); the swarms ([`swarm`]); who may use it ([`access`]); and the front ends on
//! the engine ([`front`]): WebSocket at `/tracker/socket`, HTTP at `/tracker/announce` and
//! `/tracker/scrape`, UDP on its own sockets. Private by default: only the info-hashes of the
//! `infohashes` table are tracked.

pub(crate) mod access;
pub(crate) mod front;
pub(crate) mod metrics;
pub mod protocol;
pub mod swarm;

use crate::config::TrackerConfig;
use crate::store::Store;
use access::{Access, AccessConfig};
use metrics::TrackerMetrics;
use protocol::udp::ConnectionIdKeys;
use protocol::ws::WsLimits;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use swarm::{SwarmLimits, Swarms};

/// The tracker's state, shared by every shard.
pub struct Tracker {
    /// Settings.
    pub config: TrackerConfig,
    /// Every swarm.
    pub swarms: Swarms,
    /// Allowlist, blocks and limits.
    pub access: Arc<Access>,
    /// Counters.
    pub metrics: TrackerMetrics,
    /// Keys of the stateless UDP connection ids.
    pub udp_keys: ConnectionIdKeys,
    /// WebSocket message limits.
    pub ws_limits: WsLimits,
    next_conn: AtomicU64,
}

impl Tracker {
    /// A tracker over the allowlist in `store`.
    pub fn new(config: TrackerConfig, store: Arc<Store>) -> Tracker {
        Tracker {
            swarms: Swarms::new(SwarmLimits {
                max_peers: config.max_peers_per_swarm,
                peer_max_age: Duration::from_secs(config.peer_max_age_secs),
                default_numwant: config.default_numwant,
                max_numwant: config.max_numwant,
            }),
            access: Arc::new(Access::new(
                store,
                AccessConfig {
                    private: config.private,
                    block: Duration::from_secs(config.block_secs),
                    announces_per_ip_per_hash: config.announces_per_ip_per_hash,
                    max_connections_per_ip: config.max_connections_per_ip,
                },
            )),
            metrics: TrackerMetrics::default(),
            udp_keys: ConnectionIdKeys::random(),
            ws_limits: WsLimits {
                max_message_bytes: config.ws_max_message_bytes,
                max_offers: config.ws_max_offers,
                ..WsLimits::default()
            },
            next_conn: AtomicU64::new(1),
            config,
        }
    }

    /// The allowlist changed for `hashes` (a video went private or public again): cached
    /// answers are dropped, and when they were withdrawn, so are their swarms and peers.
    pub fn allowlist_changed(&self, hashes: &[[u8; 20]], withdrawn: bool) {
        let hashes: Vec<protocol::InfoHash> =
            hashes.iter().copied().map(protocol::InfoHash).collect();
        self.access.forget(&hashes);
        if withdrawn {
            let peers = self.swarms.remove_torrents(&hashes);
            tracing::info!(
                torrents = hashes.len(),
                peers,
                "tracker: torrents withdrawn"
            );
        }
    }

    /// A fresh WebSocket connection id.
    pub fn next_connection_id(&self) -> swarm::ConnId {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Prometheus text of the tracker.
    pub fn render_metrics(&self, out: &mut String) {
        self.metrics.render(out, self.swarms.counts());
    }

    /// The tracker's part of the admin status: swarms, peers and relayed WebRTC signals.
    pub fn status_json(&self) -> serde_json::Value {
        let (torrents, peers, ws_peers) = self.swarms.counts();
        serde_json::json!({
            "enabled": self.config.enabled,
            "private": self.config.private,
            "swarms": torrents,
            "peers": peers,
            "webtorrentPeers": ws_peers,
            "offersRelayed": self.metrics.offers_relayed.load(Ordering::Relaxed),
            "answersRelayed": self.metrics.answers_relayed.load(Ordering::Relaxed),
        })
    }
}
