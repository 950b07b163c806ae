//! BEP 3 HTTP tracker messages (tracker-p2p.md §4.1-4.3): announce and scrape queries read from
//! the raw query string, and the bencoded replies: compact peers (BEP 23) with `peers6` for IPv6
//! (BEP 7), the non-compact dictionary list, scrape `files` (BEP 48) and `failure reason`.
//!
//! Queries are read as bytes, not text: `info_hash` and `peer_id` are percent-escaped raw bytes
//! and are often not UTF-8 (§4.1). Escapes are checked strictly (`%` must be followed by two hex
//! digits) and `+` is a space, as in any form-encoded query and as PeerTube's own tracker
//! (`bittorrent-tracker`, through Node's `querystring.parse`) reads it: a client that
//! form-encodes an info-hash sends byte 0x20 as `+`. A literal `+` (0x2B) arrives as `%2B`.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use super::{AnnounceEvent, InfoHash, PeerId, ProtocolError, ScrapeStats};
use crate::bencode::Value;

/// The longest `key` kept (libtorrent sends 8 hex digits).
pub const MAX_KEY_BYTES: usize = 64;

/// An announce (`GET /announce?…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceQuery {
    /// The swarm.
    pub info_hash: InfoHash,
    /// The announcing peer.
    pub peer_id: PeerId,
    /// The port the peer listens on.
    pub port: u16,
    /// Bytes uploaded (0 when absent).
    pub uploaded: u64,
    /// Bytes downloaded (0 when absent).
    pub downloaded: u64,
    /// Bytes left; absent means unknown, a leecher (as in WebTorrent).
    pub left: Option<u64>,
    /// `started`, `stopped`, `completed`; `empty`, `paused` (BEP 21) or absent read as
    /// [`AnnounceEvent::None`].
    pub event: AnnounceEvent,
    /// Whether compact peers are wanted: true unless `compact=0` (BEP 23 makes it advisory).
    pub compact: bool,
    /// `no_peer_id` set to anything but `0`: leave `peer id` out of non-compact peers.
    pub no_peer_id: bool,
    /// Peers wanted; a negative value reads as absent (the tracker's default).
    pub numwant: Option<u32>,
    /// The `ip` parameter when it is an address. BEP 3 also allows a DNS name, which is dropped
    /// here: the tracker never resolves names, and aquatic ignores `ip` altogether.
    pub ip: Option<IpAddr>,
    /// The client's `key`, percent-decoded, at most [`MAX_KEY_BYTES`].
    pub key: Option<Vec<u8>>,
}

impl AnnounceQuery {
    /// Parses the query string (the bytes after `?`, without `#fragment`). `info_hash`,
    /// `peer_id` and `port` are required; unknown parameters (`corrupt`, `supportcrypto`,
    /// `redundant`, …) are ignored; a repeated parameter keeps its last value, except
    /// `info_hash`, which may appear once.
    pub fn parse(query: &[u8]) -> Result<AnnounceQuery, ProtocolError> {
        let mut info_hash = None;
        let mut peer_id = None;
        let mut port = None;
        let mut q = AnnounceQuery {
            info_hash: InfoHash([0; 20]),
            peer_id: PeerId([0; 20]),
            port: 0,
            uploaded: 0,
            downloaded: 0,
            left: None,
            event: AnnounceEvent::None,
            compact: true,
            no_peer_id: false,
            numwant: None,
            ip: None,
            key: None,
        };
        for (name, value) in pairs(query) {
            match name {
                b"info_hash" => {
                    if info_hash.is_some() {
                        return Err(ProtocolError::invalid(
                            "info_hash",
                            value,
                            "a single info_hash in an announce",
                        ));
                    }
                    info_hash = Some(InfoHash(decode20("info_hash", value)?));
                }
                b"peer_id" => peer_id = Some(PeerId(decode20("peer_id", value)?)),
                b"port" => {
                    // Port 0 cannot be connected to; storing it would hand useless peers out.
                    let p = number::<u16>("port", value, "a port number 1-65535")?;
                    if p == 0 {
                        return Err(ProtocolError::invalid(
                            "port",
                            value,
                            "a port number 1-65535",
                        ));
                    }
                    port = Some(p);
                }
                b"uploaded" => q.uploaded = number("uploaded", value, BYTE_COUNT)?,
                b"downloaded" => q.downloaded = number("downloaded", value, BYTE_COUNT)?,
                b"left" => q.left = Some(number("left", value, BYTE_COUNT)?),
                b"event" => q.event = event(value)?,
                b"compact" => q.compact = value != b"0",
                b"no_peer_id" => q.no_peer_id = value != b"0",
                b"numwant" => {
                    let n: i64 = number("numwant", value, "a whole number")?;
                    q.numwant = (n >= 0).then(|| u32::try_from(n).unwrap_or(u32::MAX));
                }
                b"ip" => {
                    let text = decode("ip", value)?;
                    q.ip = std::str::from_utf8(&text)
                        .ok()
                        .and_then(|t| t.trim_matches(['[', ']']).parse().ok());
                }
                b"key" => {
                    let key = decode("key", value)?;
                    if key.len() > MAX_KEY_BYTES {
                        return Err(ProtocolError::invalid("key", value, "at most 64 bytes"));
                    }
                    q.key = Some(key);
                }
                _ => {}
            }
        }
        q.info_hash = info_hash.ok_or(ProtocolError::Missing { field: "info_hash" })?;
        q.peer_id = peer_id.ok_or(ProtocolError::Missing { field: "peer_id" })?;
        q.port = port.ok_or(ProtocolError::Missing { field: "port" })?;
        Ok(q)
    }

    /// The peer list form this query asks for.
    pub fn peer_form(&self) -> PeerForm {
        match (self.compact, self.no_peer_id) {
            (true, _) => PeerForm::Compact,
            (false, false) => PeerForm::Dictionaries,
            (false, true) => PeerForm::DictionariesWithoutIds,
        }
    }

    /// Whether the peer has the whole torrent.
    pub fn is_seeder(&self) -> bool {
        self.left == Some(0)
    }
}

/// A scrape (`GET /scrape?info_hash=…&info_hash=…`, BEP 48).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrapeQuery {
    /// The torrents asked about; empty when the query names none, which BEP 48 reads as
    /// "every torrent" (a full scrape, which the tracker may refuse).
    pub info_hashes: Vec<InfoHash>,
}

impl ScrapeQuery {
    /// Parses the query string. Hashes beyond `max_hashes` are dropped unread, as aquatic_http
    /// does with `max_scrape_torrents` (100 there; tracker-p2p.md §1.3); other parameters are
    /// ignored.
    pub fn parse(query: &[u8], max_hashes: usize) -> Result<ScrapeQuery, ProtocolError> {
        let info_hashes = pairs(query)
            .filter(|(name, _)| *name == b"info_hash")
            .take(max_hashes)
            .map(|(_, value)| decode20("info_hash", value).map(InfoHash))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ScrapeQuery { info_hashes })
    }
}

const BYTE_COUNT: &str = "a byte count 0-18446744073709551615";

/// `name=value` pairs of a query string, undecoded; empty segments are skipped and a pair
/// without `=` has an empty value.
fn pairs(query: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    query
        .split(|b| *b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.iter().position(|b| *b == b'=') {
            Some(eq) => (&pair[..eq], &pair[eq + 1..]),
            None => (pair, &[][..]),
        })
}

/// Refuses a `%` that is not followed by two hex digits (percent-encoding would pass it on
/// as a literal `%`, hiding a client bug).
fn check_escapes(field: &'static str, raw: &[u8]) -> Result<(), ProtocolError> {
    let mut rest = raw;
    while let Some(at) = rest.iter().position(|b| *b == b'%') {
        match rest.get(at + 1..at + 3) {
            Some([hi, lo]) if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit() => {
                rest = &rest[at + 3..];
            }
            _ => {
                return Err(ProtocolError::invalid(
                    field,
                    raw,
                    "percent-escapes of two hex digits (%XX)",
                ))
            }
        }
    }
    Ok(())
}

fn decode(field: &'static str, raw: &[u8]) -> Result<Vec<u8>, ProtocolError> {
    check_escapes(field, raw)?;
    Ok(FormDecode(raw).collect())
}

/// The bytes of a form-encoded value (`application/x-www-form-urlencoded`): `%XX` is a byte and
/// `+` is a space. Run only after [`check_escapes`]; a stray `%` passes through.
struct FormDecode<'a>(&'a [u8]);

impl Iterator for FormDecode<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        match first {
            b'+' => Some(b' '),
            b'%' => match rest {
                [hi, lo, tail @ ..] if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit() => {
                    self.0 = tail;
                    Some(hex_value(*hi) << 4 | hex_value(*lo))
                }
                _ => Some(b'%'),
            },
            byte => Some(byte),
        }
    }
}

fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit - b'A' + 10,
    }
}

/// Decodes exactly 20 bytes without allocating.
fn decode20(field: &'static str, raw: &[u8]) -> Result<[u8; 20], ProtocolError> {
    check_escapes(field, raw)?;
    let bad = || ProtocolError::invalid(field, raw, "20 percent-encoded bytes");
    let mut bytes = [0u8; 20];
    let mut decoded = FormDecode(raw);
    for slot in &mut bytes {
        *slot = decoded.next().ok_or_else(bad)?;
    }
    match decoded.next() {
        None => Ok(bytes),
        Some(_) => Err(bad()),
    }
}

fn number<T: std::str::FromStr>(
    field: &'static str,
    raw: &[u8],
    expected: &'static str,
) -> Result<T, ProtocolError> {
    std::str::from_utf8(raw)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| ProtocolError::invalid(field, raw, expected))
}

fn event(raw: &[u8]) -> Result<AnnounceEvent, ProtocolError> {
    match raw {
        b"started" => Ok(AnnounceEvent::Started),
        b"stopped" => Ok(AnnounceEvent::Stopped),
        b"completed" => Ok(AnnounceEvent::Completed),
        b"" | b"empty" | b"paused" => Ok(AnnounceEvent::None),
        _ => Err(ProtocolError::invalid(
            "event",
            raw,
            "started, stopped, completed, empty, paused or nothing",
        )),
    }
}

/// How an announce reply lists peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerForm {
    /// `peers` as 6-byte IPv4 entries (BEP 23) and `peers6` as 18-byte IPv6 entries (BEP 7).
    Compact,
    /// `peers` as a list of `{ip, peer id, port}` dictionaries (BEP 3).
    Dictionaries,
    /// The same without `peer id` (`no_peer_id=1`).
    DictionariesWithoutIds,
}

/// A peer in an announce reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// Its id (only the non-compact form carries it).
    pub peer_id: PeerId,
    /// Where to reach it.
    pub addr: SocketAddr,
}

/// A successful announce reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceResponse {
    /// Seconds until the next announce.
    pub interval: u32,
    /// Seconds before which the client must not re-announce, when set.
    pub min_interval: Option<u32>,
    /// Seeders.
    pub complete: u32,
    /// Leechers.
    pub incomplete: u32,
    /// Peers to try; IPv4-mapped IPv6 addresses go out as IPv4.
    pub peers: Vec<Peer>,
}

impl AnnounceResponse {
    /// The bencoded reply body. The compact form always carries both `peers` and `peers6`
    /// (empty when there are none), as aquatic_http writes them (§4.2).
    pub fn encode(&self, form: PeerForm) -> Vec<u8> {
        let mut dict = BTreeMap::new();
        let mut put = |key: &str, value: Value| dict.insert(key.as_bytes().to_vec(), value);
        put("interval", Value::Int(self.interval.into()));
        if let Some(min) = self.min_interval {
            put("min interval", Value::Int(min.into()));
        }
        put("complete", Value::Int(self.complete.into()));
        put("incomplete", Value::Int(self.incomplete.into()));
        match form {
            PeerForm::Compact => {
                let mut v4 = Vec::with_capacity(self.peers.len() * 6);
                let mut v6 = Vec::new();
                for peer in &self.peers {
                    match canonical(peer.addr) {
                        (IpAddr::V4(ip), port) => {
                            v4.extend_from_slice(&ip.octets());
                            v4.extend_from_slice(&port.to_be_bytes());
                        }
                        (IpAddr::V6(ip), port) => {
                            v6.extend_from_slice(&ip.octets());
                            v6.extend_from_slice(&port.to_be_bytes());
                        }
                    }
                }
                put("peers", Value::Bytes(v4));
                put("peers6", Value::Bytes(v6));
            }
            PeerForm::Dictionaries | PeerForm::DictionariesWithoutIds => {
                let list = self
                    .peers
                    .iter()
                    .map(|peer| {
                        let (ip, port) = canonical(peer.addr);
                        let mut entry = BTreeMap::new();
                        entry.insert(b"ip".to_vec(), Value::str(&ip.to_string()));
                        entry.insert(b"port".to_vec(), Value::Int(port.into()));
                        if form == PeerForm::Dictionaries {
                            entry
                                .insert(b"peer id".to_vec(), Value::Bytes(peer.peer_id.0.to_vec()));
                        }
                        Value::Dict(entry)
                    })
                    .collect();
                put("peers", Value::List(list));
            }
        }
        Value::Dict(dict).encode()
    }
}

fn canonical(addr: SocketAddr) -> (IpAddr, u16) {
    (addr.ip().to_canonical(), addr.port())
}

/// A scrape reply (BEP 48): `files` keyed by the raw 20-byte info-hash.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScrapeResponse {
    /// One entry per torrent answered.
    pub files: Vec<(InfoHash, ScrapeStats)>,
}

impl ScrapeResponse {
    /// The bencoded reply body.
    pub fn encode(&self) -> Vec<u8> {
        let files = self
            .files
            .iter()
            .map(|(hash, stats)| {
                let stats = Value::dict([
                    ("complete", Value::Int(stats.complete.into())),
                    ("downloaded", Value::Int(stats.downloaded.into())),
                    ("incomplete", Value::Int(stats.incomplete.into())),
                ]);
                (hash.0.to_vec(), stats)
            })
            .collect();
        Value::dict([("files", Value::Dict(files))]).encode()
    }
}

/// The bencoded refusal `d14:failure reason<n>:<reason>e` (BEP 3), sent with status 200.
pub fn encode_failure(reason: &str) -> Vec<u8> {
    Value::dict([("failure reason", Value::str(reason))]).encode()
}

#[cfg(test)]
mod tests;
