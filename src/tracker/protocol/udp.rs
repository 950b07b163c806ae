//! BEP 15 UDP tracker packets (tracker-p2p.md §4.4): connect, announce, scrape and error,
//! parsed from and written to byte buffers, plus stateless connection ids
//! ([`ConnectionIdKeys`]).
//!
//! Everything is big-endian. Requests may carry BEP 41 options after the fixed fields
//! (libtorrent appends the URL path); they are ignored. An announce reply carries 6-byte peers
//! on an IPv4 socket and 18-byte peers on an IPv6 one, as aquatic_udp does: the address family
//! of the socket, not a flag in the packet, tells the client which ([`ResponsePeers`]).

use std::borrow::Cow;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

use super::{AnnounceEvent, InfoHash, PeerId, ProtocolError, ScrapeStats};

mod connection_id;

pub use connection_id::{ConnectionIdKeys, CONNECTION_ID_WINDOW};

/// The magic constant a connect request carries in place of a connection id.
pub const PROTOCOL_ID: u64 = 0x0417_2710_1980;

/// Fixed size of an announce request; BEP 41 options may follow.
pub const ANNOUNCE_REQUEST_LEN: usize = 98;

/// The 8-byte token a client got from a connect reply and repeats in each request.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnectionId(pub [u8; 8]);

impl fmt::Debug for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConnectionId({})", hex::encode(self.0))
    }
}

/// The client's id for one request, echoed in the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransactionId(pub u32);

/// Action codes (BEP 15).
const CONNECT: u32 = 0;
const ANNOUNCE: u32 = 1;
const SCRAPE: u32 = 2;
const ERROR: u32 = 3;

/// A request from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Action 0: asks for a connection id.
    Connect(ConnectRequest),
    /// Action 1.
    Announce(AnnounceRequest),
    /// Action 2.
    Scrape(ScrapeRequest),
}

/// `protocol_id | 0 | transaction_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectRequest {
    /// Echoed in the reply.
    pub transaction_id: TransactionId,
}

/// The 98-byte announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnnounceRequest {
    /// From the connect reply; check it with [`ConnectionIdKeys::is_valid`].
    pub connection_id: ConnectionId,
    /// Echoed in the reply.
    pub transaction_id: TransactionId,
    /// The swarm.
    pub info_hash: InfoHash,
    /// The announcing peer.
    pub peer_id: PeerId,
    /// Bytes downloaded.
    pub downloaded: u64,
    /// Bytes left (0: seeder).
    pub left: u64,
    /// Bytes uploaded.
    pub uploaded: u64,
    /// 0 none, 1 completed, 2 started, 3 stopped.
    pub event: AnnounceEvent,
    /// The `ip` field when not 0; aquatic ignores it (peers are keyed by source address).
    pub ip: Option<Ipv4Addr>,
    /// The client's key.
    pub key: u32,
    /// Peers wanted; -1 (or any negative) reads as absent, the tracker's default.
    pub numwant: Option<u32>,
    /// The port the peer listens on.
    pub port: u16,
}

/// `connection_id | 2 | transaction_id | info_hash…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrapeRequest {
    /// From the connect reply.
    pub connection_id: ConnectionId,
    /// Echoed in the reply.
    pub transaction_id: TransactionId,
    /// The torrents asked about, in order (the reply answers in the same order).
    pub info_hashes: Vec<InfoHash>,
}

impl Request {
    /// Parses one datagram. Info-hashes beyond `max_scrape_hashes` are dropped unread, as
    /// aquatic_udp does (`max_scrape_torrents`, 70; tracker-p2p.md §1.3): the reply answers the
    /// first ones in order, and a datagram holds about 74 anyway (§4.4).
    pub fn parse(packet: &[u8], max_scrape_hashes: usize) -> Result<Request, ProtocolError> {
        let mut r = Reader::new(packet, "request", 16)?;
        let connection_id = ConnectionId(r.array());
        let action = r.u32();
        let transaction_id = TransactionId(r.u32());
        match action {
            CONNECT => {
                if u64::from_be_bytes(connection_id.0) != PROTOCOL_ID {
                    return Err(ProtocolError::invalid(
                        "protocol_id",
                        &connection_id.0,
                        "0x41727101980 in a connect request",
                    ));
                }
                Ok(Request::Connect(ConnectRequest { transaction_id }))
            }
            ANNOUNCE => {
                let mut r = Reader::new(packet, "announce request", ANNOUNCE_REQUEST_LEN)?;
                r.skip(16);
                let info_hash = InfoHash(r.array());
                let peer_id = PeerId(r.array());
                let downloaded = byte_count("downloaded", r.i64())?;
                let left = byte_count("left", r.i64())?;
                let uploaded = byte_count("uploaded", r.i64())?;
                let event = match r.u32() {
                    0 => AnnounceEvent::None,
                    1 => AnnounceEvent::Completed,
                    2 => AnnounceEvent::Started,
                    3 => AnnounceEvent::Stopped,
                    other => {
                        return Err(ProtocolError::invalid(
                            "event",
                            other.to_string().as_bytes(),
                            "0 (none), 1 (completed), 2 (started) or 3 (stopped)",
                        ))
                    }
                };
                let ip = Some(Ipv4Addr::from(r.u32())).filter(|ip| !ip.is_unspecified());
                let key = r.u32();
                let numwant = u32::try_from(r.i32()).ok();
                let port = r.u16();
                Ok(Request::Announce(AnnounceRequest {
                    connection_id,
                    transaction_id,
                    info_hash,
                    peer_id,
                    downloaded,
                    left,
                    uploaded,
                    event,
                    ip,
                    key,
                    numwant,
                    port,
                }))
            }
            SCRAPE => {
                let hashes = &packet[16..];
                if hashes.is_empty() {
                    return Err(ProtocolError::Missing { field: "info_hash" });
                }
                if !hashes.len().is_multiple_of(20) {
                    return Err(ProtocolError::Truncated {
                        what: "scrape request",
                        len: packet.len(),
                        needed: 16 + hashes.len().div_ceil(20) * 20,
                    });
                }
                let info_hashes = hashes
                    .chunks_exact(20)
                    .take(max_scrape_hashes)
                    .map(|chunk| {
                        let mut hash = [0u8; 20];
                        hash.copy_from_slice(chunk);
                        InfoHash(hash)
                    })
                    .collect();
                Ok(Request::Scrape(ScrapeRequest {
                    connection_id,
                    transaction_id,
                    info_hashes,
                }))
            }
            other => Err(ProtocolError::invalid(
                "action",
                other.to_string().as_bytes(),
                "0 (connect), 1 (announce) or 2 (scrape)",
            )),
        }
    }

    /// Appends the datagram to `out` (what a client sends; used by tests and load testers).
    pub fn write(&self, out: &mut Vec<u8>) {
        match self {
            Request::Connect(r) => {
                out.extend_from_slice(&PROTOCOL_ID.to_be_bytes());
                put_u32(out, CONNECT);
                put_u32(out, r.transaction_id.0);
            }
            Request::Announce(r) => {
                out.extend_from_slice(&r.connection_id.0);
                put_u32(out, ANNOUNCE);
                put_u32(out, r.transaction_id.0);
                out.extend_from_slice(&r.info_hash.0);
                out.extend_from_slice(&r.peer_id.0);
                for count in [r.downloaded, r.left, r.uploaded] {
                    out.extend_from_slice(&count.to_be_bytes());
                }
                put_u32(
                    out,
                    match r.event {
                        AnnounceEvent::None => 0,
                        AnnounceEvent::Completed => 1,
                        AnnounceEvent::Started => 2,
                        AnnounceEvent::Stopped => 3,
                    },
                );
                put_u32(out, r.ip.map_or(0, u32::from));
                put_u32(out, r.key);
                let numwant = r
                    .numwant
                    .map_or(-1, |n| i32::try_from(n).unwrap_or(i32::MAX));
                out.extend_from_slice(&numwant.to_be_bytes());
                out.extend_from_slice(&r.port.to_be_bytes());
            }
            Request::Scrape(r) => {
                out.extend_from_slice(&r.connection_id.0);
                put_u32(out, SCRAPE);
                put_u32(out, r.transaction_id.0);
                for hash in &r.info_hashes {
                    out.extend_from_slice(&hash.0);
                }
            }
        }
    }
}

/// The transaction id of a datagram too broken to parse, so that an error reply can still
/// reach the client (BEP 15 errors echo it). `None` when the datagram is shorter than 16 bytes.
pub fn transaction_id_of(packet: &[u8]) -> Option<TransactionId> {
    let bytes: [u8; 4] = packet.get(12..16)?.try_into().ok()?;
    Some(TransactionId(u32::from_be_bytes(bytes)))
}

fn byte_count(field: &'static str, n: i64) -> Result<u64, ProtocolError> {
    u64::try_from(n).map_err(|_| {
        ProtocolError::invalid(field, n.to_string().as_bytes(), "a byte count of 0 or more")
    })
}

/// The address family of the socket a reply goes out on, which sets the peer size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpFamily {
    /// 6-byte peers.
    V4,
    /// 18-byte peers.
    V6,
}

/// A tracker reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// Action 0.
    Connect(ConnectResponse),
    /// Action 1.
    Announce(AnnounceResponse),
    /// Action 2.
    Scrape(ScrapeResponse),
    /// Action 3.
    Error(ErrorResponse),
}

/// `0 | transaction_id | connection_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectResponse {
    /// From the request.
    pub transaction_id: TransactionId,
    /// From [`ConnectionIdKeys::issue`].
    pub connection_id: ConnectionId,
}

/// `1 | transaction_id | interval | leechers | seeders | peers…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceResponse {
    /// From the request.
    pub transaction_id: TransactionId,
    /// Seconds until the next announce.
    pub interval: u32,
    /// Leechers.
    pub leechers: u32,
    /// Seeders.
    pub seeders: u32,
    /// Peers of the reply socket's address family.
    pub peers: ResponsePeers,
}

/// Peers of one address family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponsePeers {
    /// For an IPv4 socket.
    V4(Vec<SocketAddrV4>),
    /// For an IPv6 socket.
    V6(Vec<SocketAddrV6>),
}

/// `2 | transaction_id | (seeders | completed | leechers)…`, in request order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrapeResponse {
    /// From the request.
    pub transaction_id: TransactionId,
    /// One per info-hash asked about.
    pub stats: Vec<ScrapeStats>,
}

/// `3 | transaction_id | message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorResponse {
    /// From the request, when it could be read.
    pub transaction_id: TransactionId,
    /// Human-readable reason.
    pub message: Cow<'static, str>,
}

impl Response {
    /// Appends the datagram to `out`. Counts above `i32::MAX` are written as `i32::MAX`.
    pub fn write(&self, out: &mut Vec<u8>) {
        match self {
            Response::Connect(r) => {
                put_u32(out, CONNECT);
                put_u32(out, r.transaction_id.0);
                out.extend_from_slice(&r.connection_id.0);
            }
            Response::Announce(r) => {
                put_u32(out, ANNOUNCE);
                put_u32(out, r.transaction_id.0);
                for n in [r.interval, r.leechers, r.seeders] {
                    put_count(out, n);
                }
                match &r.peers {
                    ResponsePeers::V4(peers) => {
                        out.reserve(peers.len() * 6);
                        for peer in peers {
                            out.extend_from_slice(&peer.ip().octets());
                            out.extend_from_slice(&peer.port().to_be_bytes());
                        }
                    }
                    ResponsePeers::V6(peers) => {
                        out.reserve(peers.len() * 18);
                        for peer in peers {
                            out.extend_from_slice(&peer.ip().octets());
                            out.extend_from_slice(&peer.port().to_be_bytes());
                        }
                    }
                }
            }
            Response::Scrape(r) => {
                put_u32(out, SCRAPE);
                put_u32(out, r.transaction_id.0);
                for stats in &r.stats {
                    for n in [stats.complete, stats.downloaded, stats.incomplete] {
                        put_count(out, n);
                    }
                }
            }
            Response::Error(r) => {
                put_u32(out, ERROR);
                put_u32(out, r.transaction_id.0);
                out.extend_from_slice(r.message.as_bytes());
            }
        }
    }

    /// Parses a tracker's datagram (what a client receives; used by tests and load testers).
    /// `family` is that of the socket it arrived on.
    pub fn parse(packet: &[u8], family: IpFamily) -> Result<Response, ProtocolError> {
        let mut r = Reader::new(packet, "response", 8)?;
        let action = r.u32();
        let transaction_id = TransactionId(r.u32());
        match action {
            CONNECT => {
                let mut r = Reader::new(packet, "connect response", 16)?;
                r.skip(8);
                Ok(Response::Connect(ConnectResponse {
                    transaction_id,
                    connection_id: ConnectionId(r.array()),
                }))
            }
            ANNOUNCE => {
                let mut r = Reader::new(packet, "announce response", 20)?;
                r.skip(8);
                let (interval, leechers, seeders) = (r.u32(), r.u32(), r.u32());
                let rest = &packet[20..];
                let size = match family {
                    IpFamily::V4 => 6,
                    IpFamily::V6 => 18,
                };
                if !rest.len().is_multiple_of(size) {
                    return Err(ProtocolError::Truncated {
                        what: "announce response peers",
                        len: rest.len(),
                        needed: rest.len().div_ceil(size) * size,
                    });
                }
                let peers = match family {
                    IpFamily::V4 => ResponsePeers::V4(
                        rest.chunks_exact(6)
                            .map(|c| {
                                SocketAddrV4::new(
                                    Ipv4Addr::new(c[0], c[1], c[2], c[3]),
                                    u16::from_be_bytes([c[4], c[5]]),
                                )
                            })
                            .collect(),
                    ),
                    IpFamily::V6 => ResponsePeers::V6(
                        rest.chunks_exact(18)
                            .map(|c| {
                                let mut ip = [0u8; 16];
                                ip.copy_from_slice(&c[..16]);
                                let port = u16::from_be_bytes([c[16], c[17]]);
                                SocketAddrV6::new(Ipv6Addr::from(ip), port, 0, 0)
                            })
                            .collect(),
                    ),
                };
                Ok(Response::Announce(AnnounceResponse {
                    transaction_id,
                    interval,
                    leechers,
                    seeders,
                    peers,
                }))
            }
            SCRAPE => {
                let rest = &packet[8..];
                if !rest.len().is_multiple_of(12) {
                    return Err(ProtocolError::Truncated {
                        what: "scrape response",
                        len: packet.len(),
                        needed: 8 + rest.len().div_ceil(12) * 12,
                    });
                }
                let stats = rest
                    .chunks_exact(12)
                    .map(|c| {
                        let n = |i: usize| u32::from_be_bytes([c[i], c[i + 1], c[i + 2], c[i + 3]]);
                        ScrapeStats {
                            complete: n(0),
                            downloaded: n(4),
                            incomplete: n(8),
                        }
                    })
                    .collect();
                Ok(Response::Scrape(ScrapeResponse {
                    transaction_id,
                    stats,
                }))
            }
            ERROR => Ok(Response::Error(ErrorResponse {
                transaction_id,
                message: String::from_utf8_lossy(&packet[8..]).into_owned().into(),
            })),
            other => Err(ProtocolError::invalid(
                "action",
                other.to_string().as_bytes(),
                "0 (connect), 1 (announce), 2 (scrape) or 3 (error)",
            )),
        }
    }
}

fn put_u32(out: &mut Vec<u8>, n: u32) {
    out.extend_from_slice(&n.to_be_bytes());
}

/// BEP 15 counts are signed 32-bit.
fn put_count(out: &mut Vec<u8>, n: u32) {
    put_u32(out, n.min(i32::MAX.unsigned_abs()));
}

/// Big-endian reads over a slice whose minimum length was checked up front, so the reads
/// themselves cannot run short.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(packet: &'a [u8], what: &'static str, needed: usize) -> Result<Self, ProtocolError> {
        match packet.get(..needed) {
            Some(rest) => Ok(Reader { rest }),
            None => Err(ProtocolError::Truncated {
                what,
                len: packet.len(),
                needed,
            }),
        }
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let (head, tail) = self.rest.split_at(N.min(self.rest.len()));
        out[..head.len()].copy_from_slice(head);
        self.rest = tail;
        out
    }

    fn skip(&mut self, n: usize) {
        self.rest = &self.rest[n.min(self.rest.len())..];
    }

    fn u16(&mut self) -> u16 {
        u16::from_be_bytes(self.array())
    }

    fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.array())
    }

    fn i32(&mut self) -> i32 {
        i32::from_be_bytes(self.array())
    }

    fn i64(&mut self) -> i64 {
        i64::from_be_bytes(self.array())
    }
}

#[cfg(test)]
mod tests;
