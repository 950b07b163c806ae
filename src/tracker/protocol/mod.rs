//! Tracker wire protocols as plain data, free of I/O: WebTorrent over WebSocket ([`ws`]), BEP 3
//! HTTP ([`http`]) and BEP 15 UDP ([`udp`]), plus the types they share. Facts and sources:
//! `../shared/reference/tracker-p2p.md` §2 and §4.
//!
//! Every parser takes untrusted bytes and returns a [`ProtocolError`] that names the bad field
//! and value; none of them panics or allocates more than its input (plus the limits it is given)
//! warrants.

use std::fmt;

pub mod http;
pub mod udp;
pub mod ws;

/// A torrent's 20-byte info-hash (the SHA-1 of a v1 `info` dictionary, or the first 20 bytes
/// of a v2 SHA-256 one, or a p2p-media-loader swarm id).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InfoHash(pub [u8; 20]);

/// A peer's self-chosen 20-byte id (`-LT2110-…` for libtorrent 2.1.1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub [u8; 20]);

impl InfoHash {
    /// Parses the 40-hex-digit form used in magnet links and our `infohashes` table.
    pub fn from_hex(hex_text: &str) -> Result<InfoHash, ProtocolError> {
        let mut bytes = [0u8; 20];
        hex::decode_to_slice(hex_text, &mut bytes).map_err(|_| {
            ProtocolError::invalid("info_hash", hex_text.as_bytes(), "40 hexadecimal digits")
        })?;
        Ok(InfoHash(bytes))
    }

    /// The 40-hex-digit form.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl PeerId {
    /// The 40-hex-digit form (peer ids are binary; libtorrent's is mostly, not always, ASCII).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHash({})", self.to_hex())
    }
}

impl fmt::Display for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({})", self.to_hex())
    }
}

/// What an announce says happened, in the vocabulary all three protocols share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AnnounceEvent {
    /// The peer joined the swarm.
    Started,
    /// The peer is leaving the swarm.
    Stopped,
    /// The peer finished downloading and is now a seeder.
    Completed,
    /// A periodic re-announce: BEP 15's `none`, BEP 3's `empty` or absent `event`, WebTorrent's
    /// absent or `update` event.
    #[default]
    None,
}

/// Per-torrent counts in a scrape answer (BEP 48 names; BEP 15 calls them seeders, completed,
/// leechers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScrapeStats {
    /// Seeders.
    pub complete: u32,
    /// Leechers.
    pub incomplete: u32,
    /// Completed downloads ever seen.
    pub downloaded: u32,
}

/// Why a tracker message was refused. Each variant names the field and, where there is one,
/// the offending value (escaped and cut to [`MAX_SHOWN_BYTES`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// A required field is absent.
    #[error("missing required field `{field}`")]
    Missing {
        /// The field's wire name.
        field: &'static str,
    },
    /// A field is present but its value is not acceptable.
    #[error("invalid `{field}` {value:?}: expected {expected}")]
    Invalid {
        /// The field's wire name.
        field: &'static str,
        /// The value as received, escaped and cut short.
        value: String,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// The message is not well-formed at all (bad JSON, for instance).
    #[error("malformed {format} message: {detail}")]
    Malformed {
        /// `"JSON"`, `"query string"`, …
        format: &'static str,
        /// The parser's own account, with a position where it has one.
        detail: String,
    },
    /// A binary message ends before a field it must contain.
    #[error("{what} is {len} bytes, shorter than the {needed} it needs")]
    Truncated {
        /// Which message or field.
        what: &'static str,
        /// Bytes received.
        len: usize,
        /// Bytes required.
        needed: usize,
    },
    /// A message or list is over a configured limit.
    #[error("{what} is {len}, over the limit of {max}")]
    TooLarge {
        /// What was counted (`"message bytes"`, `"scrape info_hashes"`, …).
        what: &'static str,
        /// The count received.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// How many bytes of a bad value an error keeps (errors go back to clients and into logs).
pub const MAX_SHOWN_BYTES: usize = 64;

impl ProtocolError {
    /// An [`ProtocolError::Invalid`] for `field` holding `value`.
    pub fn invalid(field: &'static str, value: &[u8], expected: &'static str) -> ProtocolError {
        ProtocolError::Invalid {
            field,
            value: shown(value),
            expected,
        }
    }
}

/// `bytes` as printable ASCII with escapes, cut to [`MAX_SHOWN_BYTES`].
fn shown(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(MAX_SHOWN_BYTES)];
    let mut text = cut.escape_ascii().to_string();
    if cut.len() < bytes.len() {
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_print_as_hex() {
        let hash = InfoHash::from_hex("2d5efef3a1b42502d1ae3119374bfa001ae865a5").unwrap();
        assert_eq!(hash.0[..3], [0x2d, 0x5e, 0xfe]);
        assert_eq!(
            format!("{hash:?}"),
            "InfoHash(2d5efef3a1b42502d1ae3119374bfa001ae865a5)"
        );
        assert_eq!(hash.to_string(), "2d5efef3a1b42502d1ae3119374bfa001ae865a5");
        let peer = PeerId(*b"-LT2110-p8G!tPD4bC3Q");
        assert_eq!(
            format!("{peer:?}"),
            "PeerId(2d4c54323131302d703847217450443462433351)"
        );
    }

    #[test]
    fn bad_hex_names_the_value() {
        for bad in ["", "2d5e", "zz5efef3a1b42502d1ae3119374bfa001ae865a5"] {
            let err = InfoHash::from_hex(bad).unwrap_err();
            assert!(matches!(
                err,
                ProtocolError::Invalid {
                    field: "info_hash",
                    ..
                }
            ));
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    #[test]
    fn shown_values_are_escaped_and_bounded() {
        assert_eq!(shown(b"a\"\x00\xff"), "a\\\"\\x00\\xff");
        let long = shown(&[b'x'; 1000]);
        assert_eq!(long.len(), MAX_SHOWN_BYTES + '…'.len_utf8());
    }
}
