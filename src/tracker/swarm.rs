//! Swarm state: for each info-hash, its BitTorrent peers (HTTP and UDP, keyed by address, as
//! aquatic does against impersonation) and its WebTorrent peers (keyed by peer id, each with
//! the channel of the WebSocket connection holding it, on whichever shard). The torrents are
//! split into stripes by `info_hash[0]`, each behind its own lock: any shard serves any
//! announce without a hop, and two shards only meet when they touch the same stripe. aquatic
//! made the same move for its UDP tracker in 0.9 ("for performance reasons", reference §1.2).

use super::protocol::ws::{AnswerMessage, OfferId, OfferMessage, OutMessage};
use super::protocol::{AnnounceEvent, InfoHash, PeerId, ScrapeStats};
use indexmap::IndexMap;
use rand::Rng;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A WebSocket connection's id (unique in the process).
pub type ConnId = u64;

/// Where messages for a WebSocket connection go.
pub type WsSender = tokio::sync::mpsc::Sender<OutMessage>;

/// Number of stripes (a power of two above any core count we run on).
const STRIPES: usize = 64;

/// Swarm limits.
#[derive(Debug, Clone)]
pub struct SwarmLimits {
    /// Peers kept per torrent (per kind); newcomers beyond it are answered but not stored.
    pub max_peers: usize,
    /// A peer not heard from for this long is dropped.
    pub peer_max_age: Duration,
    /// Peers returned when the client does not say.
    pub default_numwant: usize,
    /// Most peers (or offers) returned.
    pub max_numwant: usize,
}

#[derive(Debug, Clone)]
struct IpPeer {
    peer_id: PeerId,
    seeder: bool,
    expires: Instant,
}

#[derive(Debug, Clone)]
struct WsPeer {
    conn: ConnId,
    tx: WsSender,
    seeder: bool,
    expires: Instant,
}

#[derive(Debug, Default)]
struct Torrent {
    ip: IndexMap<SocketAddr, IpPeer>,
    ws: IndexMap<PeerId, WsPeer>,
}

impl Torrent {
    fn stats(&self) -> ScrapeStats {
        let seeders = self.ip.values().filter(|p| p.seeder).count()
            + self.ws.values().filter(|p| p.seeder).count();
        let total = self.ip.len() + self.ws.len();
        ScrapeStats {
            complete: seeders as u32,
            incomplete: (total - seeders) as u32,
            downloaded: 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.ip.is_empty() && self.ws.is_empty()
    }
}

/// What an announce did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// The peer is in the swarm.
    Yes,
    /// The peer left (`stopped`).
    Removed,
    /// The swarm is full; the peer was answered but not stored.
    SwarmFull,
}

/// The reply material of a BitTorrent (HTTP/UDP) announce.
#[derive(Debug, Clone)]
pub struct IpReply {
    /// Seeders and leechers (the announcing peer included).
    pub stats: ScrapeStats,
    /// Other peers, both address families.
    pub peers: Vec<(PeerId, SocketAddr)>,
    /// Whether the peer was stored.
    pub stored: Stored,
}

/// The reply material of a WebTorrent announce.
#[derive(Debug, Clone)]
pub struct WsReply {
    /// Seeders and leechers.
    pub stats: ScrapeStats,
    /// Offers handed to other peers.
    pub offers_relayed: usize,
    /// Whether the peer was stored.
    pub stored: Stored,
}

/// A BitTorrent (HTTP or UDP) announce.
#[derive(Debug, Clone, Copy)]
pub struct IpAnnounce {
    /// Torrent.
    pub info_hash: InfoHash,
    /// Announcing peer.
    pub peer_id: PeerId,
    /// Source IP and announced port.
    pub addr: SocketAddr,
    /// Whether it has everything.
    pub seeder: bool,
    /// Event.
    pub event: AnnounceEvent,
    /// Peers wanted.
    pub numwant: Option<usize>,
}

/// A WebTorrent announce.
pub struct WsAnnounce<'a> {
    /// Torrent.
    pub info_hash: InfoHash,
    /// Announcing peer.
    pub peer_id: PeerId,
    /// Its connection.
    pub conn: ConnId,
    /// Its connection's channel.
    pub tx: &'a WsSender,
    /// Whether it has everything; `None` (no `left`: answers, p2p-media-loader) keeps what the
    /// swarm knew, as bittorrent-tracker does, and makes a newcomer a leecher.
    pub seeder: Option<bool>,
    /// Event.
    pub event: AnnounceEvent,
    /// Offers to hand out, at most one per other peer.
    pub offers: Vec<(OfferId, serde_json::Value)>,
}

/// Every swarm.
pub struct Swarms {
    stripes: Vec<Mutex<HashMap<InfoHash, Torrent>>>,
    limits: SwarmLimits,
}

/// Indexes of up to `n` entries of a map of `len`, from a random start (skipping `skip`).
fn sample(len: usize, n: usize, skip: Option<usize>) -> impl Iterator<Item = usize> {
    let start = if len > 0 {
        rand::thread_rng().gen_range(0..len)
    } else {
        0
    };
    (0..len)
        .map(move |i| (start + i) % len)
        .filter(move |i| Some(*i) != skip)
        .take(n)
}

impl Swarms {
    /// Empty swarms.
    pub fn new(limits: SwarmLimits) -> Swarms {
        Swarms {
            stripes: (0..STRIPES).map(|_| Mutex::new(HashMap::new())).collect(),
            limits,
        }
    }

    fn stripe(&self, h: &InfoHash) -> std::sync::MutexGuard<'_, HashMap<InfoHash, Torrent>> {
        let m = &self.stripes[h.0[0] as usize % STRIPES];
        m.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn numwant(&self, asked: Option<usize>) -> usize {
        asked
            .unwrap_or(self.limits.default_numwant)
            .min(self.limits.max_numwant)
    }

    /// A BitTorrent announce.
    pub fn announce_ip(&self, a: IpAnnounce, now: Instant) -> IpReply {
        let IpAnnounce {
            info_hash,
            peer_id,
            addr,
            seeder,
            event,
            numwant,
        } = a;
        let want = self.numwant(numwant);
        let mut stripe = self.stripe(&info_hash);
        let torrent = stripe.entry(info_hash).or_default();
        let stored = if event == AnnounceEvent::Stopped {
            torrent.ip.swap_remove(&addr);
            Stored::Removed
        } else if torrent.ip.contains_key(&addr) || torrent.ip.len() < self.limits.max_peers {
            torrent.ip.insert(
                addr,
                IpPeer {
                    peer_id,
                    seeder,
                    expires: now + self.limits.peer_max_age,
                },
            );
            Stored::Yes
        } else {
            Stored::SwarmFull
        };
        let me = torrent.ip.get_index_of(&addr);
        let peers = if event == AnnounceEvent::Stopped {
            Vec::new()
        } else {
            sample(torrent.ip.len(), want, me)
                .filter_map(|i| torrent.ip.get_index(i))
                // Seeders need no other seeders.
                .filter(|(_, p)| !(seeder && p.seeder))
                .map(|(a, p)| (p.peer_id, *a))
                .collect()
        };
        let stats = torrent.stats();
        if torrent.is_empty() {
            stripe.remove(&info_hash);
        }
        IpReply {
            stats,
            peers,
            stored,
        }
    }

    /// A WebTorrent announce: stores the peer and hands each offer to a different other peer.
    pub fn announce_ws(&self, a: WsAnnounce<'_>, numwant: Option<usize>, now: Instant) -> WsReply {
        let mut stripe = self.stripe(&a.info_hash);
        let torrent = stripe.entry(a.info_hash).or_default();
        let known = torrent.ws.get(&a.peer_id).map(|p| p.seeder);
        let seeder = a.seeder.or(known).unwrap_or(false);
        let stored = if a.event == AnnounceEvent::Stopped {
            torrent.ws.swap_remove(&a.peer_id);
            Stored::Removed
        } else if torrent.ws.contains_key(&a.peer_id) || torrent.ws.len() < self.limits.max_peers {
            torrent.ws.insert(
                a.peer_id,
                WsPeer {
                    conn: a.conn,
                    tx: a.tx.clone(),
                    seeder,
                    expires: now + self.limits.peer_max_age,
                },
            );
            Stored::Yes
        } else {
            Stored::SwarmFull
        };
        let mut relayed = 0;
        if a.event != AnnounceEvent::Stopped && !a.offers.is_empty() {
            let me = torrent.ws.get_index_of(&a.peer_id);
            let n = self.numwant(numwant).min(a.offers.len());
            let targets: Vec<usize> = sample(torrent.ws.len(), n, me).collect();
            for (i, (offer_id, offer)) in targets.into_iter().zip(a.offers) {
                let Some((_, peer)) = torrent.ws.get_index(i) else {
                    continue;
                };
                if seeder && peer.seeder {
                    continue;
                }
                let msg = OutMessage::Offer(OfferMessage {
                    info_hash: a.info_hash,
                    peer_id: a.peer_id,
                    offer_id,
                    offer,
                });
                // A full or closed connection misses this offer; the client times it out.
                if peer.tx.try_send(msg).is_ok() {
                    relayed += 1;
                }
            }
        }
        let stats = torrent.stats();
        if torrent.is_empty() {
            stripe.remove(&a.info_hash);
        }
        WsReply {
            stats,
            offers_relayed: relayed,
            stored,
        }
    }

    /// Relays `from`'s answer to the peer `to` that sent the offer; false when `to` is gone.
    pub fn relay_answer(
        &self,
        info_hash: InfoHash,
        from: PeerId,
        to: PeerId,
        offer_id: OfferId,
        answer: serde_json::Value,
    ) -> bool {
        let stripe = self.stripe(&info_hash);
        let Some(peer) = stripe.get(&info_hash).and_then(|t| t.ws.get(&to)) else {
            return false;
        };
        peer.tx
            .try_send(OutMessage::Answer(AnswerMessage {
                info_hash,
                peer_id: from,
                offer_id,
                answer,
            }))
            .is_ok()
    }

    /// Counts of each torrent (zeros for unknown ones).
    pub fn scrape(&self, hashes: &[InfoHash]) -> Vec<ScrapeStats> {
        hashes
            .iter()
            .map(|h| {
                self.stripe(h)
                    .get(h)
                    .map(Torrent::stats)
                    .unwrap_or_default()
            })
            .collect()
    }

    /// Drops the peers a closed WebSocket connection held in `info_hashes`.
    pub fn remove_connection(&self, conn: ConnId, info_hashes: &[InfoHash]) {
        for h in info_hashes {
            let mut stripe = self.stripe(h);
            if let Some(t) = stripe.get_mut(h) {
                t.ws.retain(|_, p| p.conn != conn);
                if t.is_empty() {
                    stripe.remove(h);
                }
            }
        }
    }

    /// Drops the swarms of `hashes` with all their peers (torrents no longer tracked); returns
    /// the peers dropped.
    pub fn remove_torrents(&self, hashes: &[InfoHash]) -> usize {
        hashes
            .iter()
            .filter_map(|h| self.stripe(h).remove(h))
            .map(|t| t.ip.len() + t.ws.len())
            .sum()
    }

    /// Drops peers past their age and empty torrents; returns the peers dropped.
    pub fn expire(&self, now: Instant) -> usize {
        let mut dropped = 0;
        for stripe in &self.stripes {
            let mut s = stripe.lock().unwrap_or_else(|p| p.into_inner());
            s.retain(|_, t| {
                let before = t.ip.len() + t.ws.len();
                t.ip.retain(|_, p| p.expires > now);
                t.ws.retain(|_, p| p.expires > now && !p.tx.is_closed());
                dropped += before - t.ip.len() - t.ws.len();
                !t.is_empty()
            });
        }
        dropped
    }

    /// (torrents, BitTorrent peers, WebTorrent peers) right now.
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut out = (0, 0, 0);
        for stripe in &self.stripes {
            let s = stripe.lock().unwrap_or_else(|p| p.into_inner());
            out.0 += s.len();
            for t in s.values() {
                out.1 += t.ip.len();
                out.2 += t.ws.len();
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn swarms() -> Swarms {
        Swarms::new(SwarmLimits {
            max_peers: 3,
            peer_max_age: Duration::from_secs(60),
            default_numwant: 50,
            max_numwant: 2,
        })
    }

    fn addr(i: u8) -> SocketAddr {
        format!("127.0.0.{i}:6881").parse().unwrap()
    }

    #[test]
    fn ip_peers_are_counted_listed_capped_and_expired() {
        let s = swarms();
        let h = InfoHash([1; 20]);
        let now = Instant::now();
        let r = s.announce_ip(
            IpAnnounce {
                info_hash: h,
                peer_id: PeerId([1; 20]),
                addr: addr(1),
                seeder: false,
                event: AnnounceEvent::Started,
                numwant: None,
            },
            now,
        );
        assert_eq!((r.stats.incomplete, r.peers.len()), (1, 0));
        s.announce_ip(
            IpAnnounce {
                info_hash: h,
                peer_id: PeerId([2; 20]),
                addr: addr(2),
                seeder: true,
                event: AnnounceEvent::None,
                numwant: None,
            },
            now,
        );
        let r = s.announce_ip(
            IpAnnounce {
                info_hash: h,
                peer_id: PeerId([3; 20]),
                addr: addr(3),
                seeder: false,
                event: AnnounceEvent::None,
                numwant: Some(10),
            },
            now,
        );
        assert_eq!((r.stats.complete, r.stats.incomplete), (1, 2));
        assert_eq!(r.peers.len(), 2, "numwant capped at max_numwant");
        assert!(r.peers.iter().all(|(_, a)| *a != addr(3)), "never itself");
        let r = s.announce_ip(
            IpAnnounce {
                info_hash: h,
                peer_id: PeerId([4; 20]),
                addr: addr(4),
                seeder: false,
                event: AnnounceEvent::None,
                numwant: None,
            },
            now,
        );
        assert_eq!(r.stored, Stored::SwarmFull);
        let r = s.announce_ip(
            IpAnnounce {
                info_hash: h,
                peer_id: PeerId([1; 20]),
                addr: addr(1),
                seeder: false,
                event: AnnounceEvent::Stopped,
                numwant: None,
            },
            now,
        );
        assert_eq!((r.stored, r.stats.incomplete), (Stored::Removed, 1));
        assert_eq!(s.counts(), (1, 2, 0));
        assert_eq!(s.expire(now + Duration::from_secs(61)), 2);
        assert_eq!(s.counts(), (0, 0, 0));
    }

    #[test]
    fn offers_go_to_other_peers_and_answers_come_back() {
        let s = swarms();
        let h = InfoHash([9; 20]);
        let now = Instant::now();
        let (tx_a, mut rx_a) = tokio::sync::mpsc::channel(8);
        let (tx_b, mut rx_b) = tokio::sync::mpsc::channel(8);
        let announce = |peer: u8, conn, tx, offers| WsAnnounce {
            info_hash: h,
            peer_id: PeerId([peer; 20]),
            conn,
            tx,
            seeder: None,
            event: AnnounceEvent::Started,
            offers,
        };
        let offer = |n: u8| {
            (
                OfferId([n; 20]),
                serde_json::json!({"type": "offer", "sdp": "x"}),
            )
        };
        let r = s.announce_ws(announce(1, 1, &tx_a, vec![offer(1)]), None, now);
        assert_eq!(r.offers_relayed, 0, "alone in the swarm");
        let r = s.announce_ws(announce(2, 2, &tx_b, vec![offer(2), offer(3)]), None, now);
        assert_eq!((r.offers_relayed, r.stats.incomplete), (1, 2));
        match rx_a.try_recv().unwrap() {
            OutMessage::Offer(o) => {
                assert_eq!((o.peer_id, o.offer_id), (PeerId([2; 20]), OfferId([2; 20])))
            }
            other => panic!("{other:?}"),
        }
        assert!(rx_b.try_recv().is_err(), "no offer to itself");
        assert!(s.relay_answer(
            h,
            PeerId([1; 20]),
            PeerId([2; 20]),
            OfferId([2; 20]),
            serde_json::json!({"type": "answer"})
        ));
        assert!(matches!(rx_b.try_recv().unwrap(), OutMessage::Answer(_)));
        assert!(!s.relay_answer(
            h,
            PeerId([1; 20]),
            PeerId([7; 20]),
            OfferId([2; 20]),
            serde_json::json!({})
        ));
        s.remove_connection(2, &[h]);
        assert_eq!(s.counts(), (1, 0, 1));
        assert_eq!(s.scrape(&[h, InfoHash([0; 20])])[1], ScrapeStats::default());
    }

    #[test]
    fn an_announce_without_left_leaves_a_seeder_a_seeder() {
        // The WebTorrent client's answers carry no `left`: relaying one from a seeder must not
        // count it as a leecher (bittorrent-tracker only ever promotes on `left: 0`).
        let s = swarms();
        let h = InfoHash([5; 20]);
        let now = Instant::now();
        let (tx, _rx) = tokio::sync::mpsc::channel(8);
        let announce = |peer: u8, seeder| WsAnnounce {
            info_hash: h,
            peer_id: PeerId([peer; 20]),
            conn: u64::from(peer),
            tx: &tx,
            seeder,
            event: AnnounceEvent::None,
            offers: Vec::new(),
        };
        let counts = |r: WsReply| (r.stats.complete, r.stats.incomplete);
        assert_eq!(
            counts(s.announce_ws(announce(1, Some(true)), None, now)),
            (1, 0)
        );
        assert_eq!(counts(s.announce_ws(announce(1, None), None, now)), (1, 0));
        assert_eq!(
            counts(s.announce_ws(announce(2, None), None, now)),
            (1, 1),
            "a newcomer without `left` is a leecher"
        );
        assert_eq!(
            counts(s.announce_ws(announce(1, Some(false)), None, now)),
            (0, 2),
            "an explicit `left` still counts"
        );
    }
}
