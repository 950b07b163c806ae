//! `.torrent` files for published media, as PeerTube makes them (reference §5.2): single-file
//! BEP 3 torrents with the WebSocket tracker first in `announce-list`, the file's public URL as
//! the `url-list` webseed (none for a private video's files), and the magnet link built from
//! them. A torrent's webseed is rewritten when its video changes privacy; its info-hash never
//! changes.

use crate::bencode::Value;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use sha1::{Digest, Sha1};
use std::io::Read;
use std::path::Path;

/// What goes into a torrent.
#[derive(Debug, Clone)]
pub struct TorrentSpec {
    /// Display name (`info.name`).
    pub name: String,
    /// Tracker URLs, WebSocket first; each becomes its own tier.
    pub trackers: Vec<String>,
    /// Webseed URL of the file (`url-list`); empty for none (private files).
    pub webseed: String,
}

/// Why a torrent could not be rewritten.
#[derive(Debug, thiserror::Error)]
pub enum RewriteError {
    /// Not a bencoded dictionary with an `info` dictionary.
    #[error("not a torrent: {0}")]
    Invalid(String),
}

/// The torrent `bytes` with its `url-list` set to `webseed` (removed when None); the `info`
/// dictionary, hence the info-hash, is kept byte for byte.
pub fn with_webseed(bytes: &[u8], webseed: Option<&str>) -> Result<Vec<u8>, RewriteError> {
    with_webseeds(bytes, webseed.as_slice())
}

/// The first `url-list` entry of a torrent (its own server's webseed), if any.
pub fn first_webseed(bytes: &[u8]) -> Option<String> {
    let top = Value::decode(bytes).ok()?;
    let text = |v: &Value| match v {
        Value::Bytes(b) => String::from_utf8(b.clone()).ok(),
        _ => None,
    };
    match top.get("url-list")? {
        Value::List(l) => l.first().and_then(text),
        v => text(v),
    }
}

/// The torrent `bytes` with its `url-list` set to `webseeds` (removed when empty), the `info`
/// dictionary kept byte for byte.
pub fn with_webseeds(bytes: &[u8], webseeds: &[&str]) -> Result<Vec<u8>, RewriteError> {
    let mut top = Value::decode(bytes).map_err(|e| RewriteError::Invalid(e.to_string()))?;
    let before = top.get("info").map(Value::encode);
    let Value::Dict(d) = &mut top else {
        return Err(RewriteError::Invalid("not a dictionary".into()));
    };
    if webseeds.is_empty() {
        d.remove(b"url-list".as_slice());
    } else {
        d.insert(
            b"url-list".to_vec(),
            Value::List(webseeds.iter().map(|u| Value::str(u)).collect()),
        );
    }
    let out = top.encode();
    // Our torrents are canonical bencode, so decoding and encoding keeps `info` as it was; one
    // that is not would change its info-hash, which must never happen.
    match (
        before,
        Value::decode(&out)
            .ok()
            .and_then(|v| v.get("info").map(Value::encode)),
    ) {
        (Some(a), Some(b)) if a == b && bytes_contain(bytes, &a) => Ok(out),
        (None, _) => Err(RewriteError::Invalid("no info dictionary".into())),
        _ => Err(RewriteError::Invalid(
            "not canonical bencode: rewriting would change its info-hash".into(),
        )),
    }
}

fn bytes_contain(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// A built torrent.
#[derive(Debug, Clone)]
pub struct Torrent {
    /// The `.torrent` file's bytes.
    pub bytes: Vec<u8>,
    /// SHA-1 of the bencoded `info` dictionary.
    pub info_hash: [u8; 20],
}

impl Torrent {
    /// The info-hash in lowercase hex.
    pub fn info_hash_hex(&self) -> String {
        hex::encode(self.info_hash)
    }
}

/// Piece length for a file of `size` bytes: about 1024 pieces, a power of two, at least 16 KiB
/// (the rule of the `piece-length` package PeerTube's `create-torrent` uses).
pub fn piece_length(size: u64) -> u64 {
    let target = (size / 1024).max(1);
    let exp = (target as f64).log2().round() as u32;
    (1u64 << exp.min(40)).max(16 * 1024)
}

/// Builds the torrent of the file at `path`, hashing it piece by piece.
pub fn create(path: &Path, spec: &TorrentSpec) -> std::io::Result<Torrent> {
    let mut file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    let plen = piece_length(size);
    let mut pieces = Vec::with_capacity(((size / plen + 1) * 20) as usize);
    let mut buf = vec![0u8; plen as usize];
    let mut left = size;
    while left > 0 {
        let n = left.min(plen) as usize;
        file.read_exact(&mut buf[..n])?;
        pieces.extend_from_slice(&Sha1::digest(&buf[..n]));
        left -= n as u64;
    }
    let info = Value::dict([
        ("length", Value::Int(size as i64)),
        ("name", Value::str(&spec.name)),
        ("piece length", Value::Int(plen as i64)),
        ("pieces", Value::Bytes(pieces)),
    ]);
    let info_bytes = info.encode();
    let info_hash: [u8; 20] = Sha1::digest(&info_bytes).into();
    let mut top = vec![
        ("created by", Value::str("Fleuve")),
        (
            "creation date",
            Value::Int(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or(0),
            ),
        ),
        ("info", info),
        ("url-list", Value::List(vec![Value::str(&spec.webseed)])),
    ];
    if let Some(first) = spec.trackers.first() {
        top.push(("announce", Value::str(first)));
        top.push((
            "announce-list",
            Value::List(
                spec.trackers
                    .iter()
                    .map(|t| Value::List(vec![Value::str(t)]))
                    .collect(),
            ),
        ));
    }
    Ok(Torrent {
        bytes: Value::dict(top).encode(),
        info_hash,
    })
}

/// PeerTube's torrent name rule: a video's name with `/ \ ? % * : | " < >` replaced by `-`.
pub fn safe_name(name: &str) -> String {
    name.chars()
        .map(|c| if "/\\?%*:|\"<>".contains(c) { '-' } else { c })
        .collect()
}

/// PeerTube's magnet link: `magnet:?xs=<torrent URL>&xt=urn:btih:<hash>&dn=<name>&tr=…&ws=<file URL>`.
pub fn magnet(info_hash_hex: &str, name: &str, torrent_url: &str, spec: &TorrentSpec) -> String {
    let enc = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
    let mut m = format!(
        "magnet:?xs={}&xt=urn:btih:{info_hash_hex}&dn={}",
        enc(torrent_url),
        enc(name)
    );
    for t in &spec.trackers {
        m.push_str("&tr=");
        m.push_str(&enc(t));
    }
    if !spec.webseed.is_empty() {
        m.push_str("&ws=");
        m.push_str(&enc(&spec.webseed));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn piece_lengths_follow_piece_length() {
        assert_eq!(piece_length(0), 16 * 1024);
        assert_eq!(piece_length(1_000_000), 16 * 1024);
        assert_eq!(piece_length(100 << 20), 128 * 1024);
        assert_eq!(piece_length(1 << 30), 1 << 20);
    }

    #[test]
    fn torrents_decode_and_hash_their_info() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a-720-fragmented.mp4");
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 31 % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let spec = TorrentSpec {
            name: "Demo 720p.mp4".into(),
            trackers: vec![
                "ws://127.0.0.1:9000/tracker/socket".into(),
                "http://127.0.0.1:9000/tracker/announce".into(),
            ],
            webseed: "http://127.0.0.1:9000/static/streaming-playlists/hls/u/a-720-fragmented.mp4"
                .into(),
        };
        let t = create(&path, &spec).unwrap();
        let (top, _) = Value::decode_prefix(&t.bytes).unwrap();
        assert_eq!(Value::decode(&t.bytes).unwrap(), top);
        let info = top.get("info").unwrap();
        assert_eq!(info.get("length"), Some(&Value::Int(100_000)));
        assert_eq!(info.get("piece length"), Some(&Value::Int(16_384)));
        let Some(Value::Bytes(pieces)) = info.get("pieces") else {
            panic!("no pieces")
        };
        assert_eq!(pieces.len(), 7 * 20);
        assert_eq!(&pieces[..20], &Sha1::digest(&data[..16_384])[..]);
        assert_eq!(&pieces[120..], &Sha1::digest(&data[6 * 16_384..])[..]);
        let info_hash: [u8; 20] = Sha1::digest(info.encode()).into();
        assert_eq!(info_hash, t.info_hash);
        assert_eq!(top.get("announce"), Some(&Value::str(&spec.trackers[0])));
        assert_eq!(
            top.get("url-list"),
            Some(&Value::List(vec![Value::str(&spec.webseed)]))
        );
        let m = magnet(
            &t.info_hash_hex(),
            "Demo 720p",
            "http://h/lazy-static/torrents/a-720-hls.torrent",
            &spec,
        );
        assert!(m.starts_with("magnet:?xs=http%3A%2F%2Fh%2Flazy%2Dstatic"));
        assert!(m.contains(&format!("&xt=urn:btih:{}", t.info_hash_hex())));
        assert!(m.contains("&dn=Demo%20720p&tr=ws%3A%2F%2F"));
        assert!(m.contains("&ws=http"));

        // Private: no webseed, same info-hash; public again: the webseed is back.
        let private = with_webseed(&t.bytes, None).unwrap();
        let top = Value::decode(&private).unwrap();
        assert_eq!(top.get("url-list"), None);
        let rehash: [u8; 20] = Sha1::digest(top.get("info").unwrap().encode()).into();
        assert_eq!(rehash, t.info_hash);
        let public = with_webseed(&private, Some(&spec.webseed)).unwrap();
        assert_eq!(public, t.bytes);
        let no_ws = TorrentSpec {
            webseed: String::new(),
            ..spec
        };
        assert!(!magnet(&t.info_hash_hex(), "D", "http://h/t", &no_ws).contains("&ws="));
        assert!(with_webseed(b"i1e", None).is_err());
        assert!(with_webseed(b"d4:infoi1ee", None).is_ok());
        assert!(with_webseed(b"de", None).is_err());
    }
}
