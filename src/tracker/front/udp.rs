//! UDP tracker (BEP 15): one `SO_REUSEPORT` socket per shard, each served by its own pinned
//! thread with blocking I/O (the kernel spreads datagrams across the sockets). Connection ids are
//! stateless (keyed hashes of the client address and the time window), so nothing is kept
//! between a connect and an announce.

use crate::tracker::metrics::Proto;
use crate::tracker::protocol::udp::{
    transaction_id_of, AnnounceResponse, ConnectResponse, ErrorResponse, Request, Response,
    ResponsePeers, ScrapeResponse,
};
use crate::tracker::swarm::{IpAnnounce, Stored};
use crate::tracker::Tracker;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Largest request read (a scrape of 74 hashes fits; BEP 15 clients send less).
const MAX_PACKET: usize = 1500;
/// Most hashes answered in one UDP scrape (aquatic: 70, to fit one datagram).
const MAX_SCRAPE: usize = 70;

/// Binds `n` sockets on `addr` (port 0: one free port shared by all), with the read timeout
/// their threads poll their stop flag at.
pub fn bind(addr: SocketAddr, n: usize) -> std::io::Result<Vec<UdpSocket>> {
    let sockets = crate::runtime::udp::bind_reuseport(addr, n, 8 << 20)?;
    for s in &sockets {
        s.set_read_timeout(Some(Duration::from_millis(500)))?;
    }
    Ok(sockets)
}

/// Serves each socket on a thread pinned to the matching core, until `stop`.
pub fn spawn(
    tracker: Arc<Tracker>,
    sockets: Vec<UdpSocket>,
    cores: &[usize],
    stop: Arc<AtomicBool>,
) -> std::io::Result<Vec<std::thread::JoinHandle<()>>> {
    sockets
        .into_iter()
        .enumerate()
        .map(|(i, socket)| {
            let (tracker, stop) = (Arc::clone(&tracker), Arc::clone(&stop));
            let core = cores.get(i).copied();
            std::thread::Builder::new()
                .name(format!("fleuve-udp-{i}"))
                .spawn(move || {
                    if let Some(c) = core {
                        core_affinity::set_for_current(core_affinity::CoreId { id: c });
                    }
                    serve(&tracker, &socket, &stop)
                })
        })
        .collect()
}

fn serve(t: &Tracker, socket: &UdpSocket, stop: &AtomicBool) {
    let mut buf = [0u8; MAX_PACKET];
    let mut out = Vec::with_capacity(MAX_PACKET);
    while !stop.load(Ordering::Relaxed) {
        let (len, from) = match socket.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) => {
                tracing::warn!(error = %e, "udp tracker receive failed");
                continue;
            }
        };
        out.clear();
        if let Some(response) = respond(t, &buf[..len], from) {
            response.write(&mut out);
            let _ = socket.send_to(&out, from);
        }
    }
}

/// The answer to one datagram (none for garbage without a transaction id). An error reply is
/// never larger than the datagram that caused it, so a spoofed source cannot use the tracker to
/// amplify traffic toward a victim.
pub fn respond(t: &Tracker, packet: &[u8], from: SocketAddr) -> Option<Response> {
    let mut response = answer(t, packet, from)?;
    if let Response::Error(e) = &mut response {
        fit_error(e, packet.len());
    }
    Some(response)
}

/// Shortens an error's message so the reply (8 bytes of header, then the message) fits in
/// `limit` bytes, cutting at a character boundary.
fn fit_error(e: &mut ErrorResponse, limit: usize) {
    let room = limit.saturating_sub(8);
    if e.message.len() > room {
        let mut cut = room;
        while !e.message.is_char_boundary(cut) {
            cut -= 1;
        }
        e.message = e.message[..cut].to_string().into();
    }
}

fn answer(t: &Tracker, packet: &[u8], from: SocketAddr) -> Option<Response> {
    let ip = from.ip().to_canonical();
    let now = SystemTime::now();
    let request = match Request::parse(packet, MAX_SCRAPE) {
        Ok(r) => r,
        Err(e) => {
            t.metrics.refuse(Proto::Udp, "malformed");
            return transaction_id_of(packet).map(|transaction_id| {
                Response::Error(ErrorResponse {
                    transaction_id,
                    message: e.to_string().into(),
                })
            });
        }
    };
    let refuse = |transaction_id, reason: &'static str, message: &'static str| {
        t.metrics.refuse(Proto::Udp, reason);
        Some(Response::Error(ErrorResponse {
            transaction_id,
            message: message.into(),
        }))
    };
    match request {
        Request::Connect(c) => Some(Response::Connect(ConnectResponse {
            transaction_id: c.transaction_id,
            connection_id: t.udp_keys.issue(ip, now),
        })),
        Request::Announce(a) => {
            if !t.udp_keys.is_valid(a.connection_id, ip, now) {
                return refuse(
                    a.transaction_id,
                    "bad_connection_id",
                    "connection id expired or invalid; connect again",
                );
            }
            let instant = Instant::now();
            if let Err(refusal) = t.access.check_announce(ip, &a.info_hash, instant) {
                return refuse(a.transaction_id, refusal.label(), refusal.reason());
            }
            let reply = t.swarms.announce_ip(
                IpAnnounce {
                    info_hash: a.info_hash,
                    peer_id: a.peer_id,
                    addr: SocketAddr::new(ip, a.port),
                    seeder: a.left == 0,
                    event: a.event,
                    numwant: a.numwant.map(|n| n as usize),
                },
                instant,
            );
            if reply.stored == Stored::SwarmFull {
                t.metrics.refuse(Proto::Udp, "swarm_full");
            }
            t.metrics.announce(Proto::Udp);
            // Peers of the asking socket's family (BEP 15 has no mixed lists).
            let peers = if ip.is_ipv4() {
                ResponsePeers::V4(
                    reply
                        .peers
                        .iter()
                        .filter_map(|(_, a)| match a {
                            SocketAddr::V4(v4) => Some(*v4),
                            SocketAddr::V6(_) => None,
                        })
                        .collect(),
                )
            } else {
                ResponsePeers::V6(
                    reply
                        .peers
                        .iter()
                        .filter_map(|(_, a)| match a {
                            SocketAddr::V6(v6) => Some(*v6),
                            SocketAddr::V4(_) => None,
                        })
                        .collect(),
                )
            };
            Some(Response::Announce(AnnounceResponse {
                transaction_id: a.transaction_id,
                interval: t.config.interval_secs,
                leechers: reply.stats.incomplete,
                seeders: reply.stats.complete,
                peers,
            }))
        }
        Request::Scrape(s) => {
            if !t.udp_keys.is_valid(s.connection_id, ip, now) {
                return refuse(
                    s.transaction_id,
                    "bad_connection_id",
                    "connection id expired or invalid; connect again",
                );
            }
            let instant = Instant::now();
            // Private mode: unknown torrents read as empty, in request order.
            let stats = s
                .info_hashes
                .iter()
                .map(|h| {
                    if t.access.check_scrape(h, instant) {
                        t.swarms.scrape(std::slice::from_ref(h))[0]
                    } else {
                        Default::default()
                    }
                })
                .collect();
            t.metrics.scrape(Proto::Udp);
            Some(Response::Scrape(ScrapeResponse {
                transaction_id: s.transaction_id,
                stats,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracker::protocol::udp::TransactionId;

    #[test]
    fn error_replies_are_no_larger_than_their_request() {
        let mut e = ErrorResponse {
            transaction_id: TransactionId(7),
            message: "connection id expired or invalid; connect again".into(),
        };
        fit_error(&mut e, 16);
        let mut out = Vec::new();
        Response::Error(e).write(&mut out);
        assert!(out.len() <= 16, "{} bytes", out.len());
        let mut e = ErrorResponse {
            transaction_id: TransactionId(7),
            message: "é".repeat(20).into(),
        };
        fit_error(&mut e, 17);
        assert_eq!(e.message.len(), 8);
    }
}
