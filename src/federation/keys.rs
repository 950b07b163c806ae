//! RSA key pairs of local actors, and the PEM forms remote actors publish (`publicKeyPem`).
//!
//! PeerTube and Mastodon create RSA-2048 keys and publish the public half as SPKI PEM
//! (`-----BEGIN PUBLIC KEY-----`); older software publishes PKCS#1 (`BEGIN RSA PUBLIC KEY`), so
//! both are read. Private keys are written as PKCS#8 and read as PKCS#8 or PKCS#1.

use base64::Engine as _;
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use serde::{Deserialize, Serialize};

/// The key types, re-exported so that callers need not depend on `rsa` themselves.
pub use rsa::{RsaPrivateKey, RsaPublicKey};

/// Size of the keys Fleuve creates, as PeerTube does (`PRIVATE_RSA_KEY_SIZE`).
pub const KEY_BITS: usize = 2048;

/// A key could not be created, read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// RSA key generation failed (only with an unusable size).
    #[error("cannot generate an RSA-{bits} key: {reason}")]
    Generate {
        /// The requested size in bits.
        bits: usize,
        /// What the RSA library said.
        reason: String,
    },
    /// The text holds no PEM block with one of the expected labels.
    #[error("not a PEM {what} (expected a block labelled {expected}), found {found}")]
    NotPem {
        /// "public key" or "private key".
        what: &'static str,
        /// The labels that are accepted.
        expected: &'static str,
        /// What was found instead (the label, or a description).
        found: String,
    },
    /// The PEM block's base64 or DER contents are not a valid RSA key.
    #[error("invalid {label} PEM block: {reason}")]
    BadKey {
        /// The block's label, e.g. `PUBLIC KEY`.
        label: String,
        /// What was wrong.
        reason: String,
    },
    /// Encoding a key as PEM failed.
    #[error("cannot encode the {what} as PEM: {reason}")]
    Encode {
        /// "public key" or "private key".
        what: &'static str,
        /// What the encoder said.
        reason: String,
    },
}

/// A local actor's key pair as stored: PKCS#8 private and SPKI public PEM.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPair {
    /// `-----BEGIN PUBLIC KEY-----` PEM, published as the actor's `publicKeyPem`.
    pub public_pem: String,
    /// `-----BEGIN PRIVATE KEY-----` PEM; never leaves the store.
    pub private_pem: String,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("public_pem", &self.public_pem)
            .field("private_pem", &"<redacted>")
            .finish()
    }
}

impl KeyPair {
    /// Generates a new RSA-2048 key pair (about 0.1–1 s of CPU: call it off the async runtime).
    pub fn generate() -> Result<Self, KeyError> {
        Self::generate_with_bits(KEY_BITS)
    }

    /// Generates a key pair of `bits` bits (tests use smaller keys to save time).
    pub fn generate_with_bits(bits: usize) -> Result<Self, KeyError> {
        let key =
            RsaPrivateKey::new(&mut rand::thread_rng(), bits).map_err(|e| KeyError::Generate {
                bits,
                reason: e.to_string(),
            })?;
        Self::from_private_key(&key)
    }

    /// The PEM pair of an existing private key.
    pub fn from_private_key(key: &RsaPrivateKey) -> Result<Self, KeyError> {
        let private_pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| KeyError::Encode {
                what: "private key",
                reason: e.to_string(),
            })?
            .to_string();
        Ok(Self {
            public_pem: public_key_pem(&key.to_public_key())?,
            private_pem,
        })
    }

    /// The private key, parsed.
    pub fn private_key(&self) -> Result<RsaPrivateKey, KeyError> {
        parse_private_key_pem(&self.private_pem)
    }

    /// The public key, parsed.
    pub fn public_key(&self) -> Result<RsaPublicKey, KeyError> {
        parse_public_key_pem(&self.public_pem)
    }
}

/// SPKI PEM (`-----BEGIN PUBLIC KEY-----`) of a public key, as actors publish it.
pub fn public_key_pem(key: &RsaPublicKey) -> Result<String, KeyError> {
    key.to_public_key_pem(LineEnding::LF)
        .map_err(|e| KeyError::Encode {
            what: "public key",
            reason: e.to_string(),
        })
}

/// Reads a remote actor's `publicKeyPem`: SPKI (`BEGIN PUBLIC KEY`) or PKCS#1
/// (`BEGIN RSA PUBLIC KEY`). Tolerates CRLF, missing final newline and odd line wrapping.
pub fn parse_public_key_pem(pem: &str) -> Result<RsaPublicKey, KeyError> {
    const EXPECTED: &str = "`PUBLIC KEY` or `RSA PUBLIC KEY`";
    let (label, der) = pem_block(pem, "public key", EXPECTED)?;
    let parsed = match label.as_str() {
        "PUBLIC KEY" => RsaPublicKey::from_public_key_der(&der).map_err(|e| e.to_string()),
        "RSA PUBLIC KEY" => RsaPublicKey::from_pkcs1_der(&der).map_err(|e| e.to_string()),
        _ => {
            return Err(KeyError::NotPem {
                what: "public key",
                expected: EXPECTED,
                found: format!("label `{label}`"),
            })
        }
    };
    parsed.map_err(|reason| KeyError::BadKey { label, reason })
}

/// Reads a private key: PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`).
pub fn parse_private_key_pem(pem: &str) -> Result<RsaPrivateKey, KeyError> {
    const EXPECTED: &str = "`PRIVATE KEY` or `RSA PRIVATE KEY`";
    let (label, der) = pem_block(pem, "private key", EXPECTED)?;
    let parsed = match label.as_str() {
        "PRIVATE KEY" => RsaPrivateKey::from_pkcs8_der(&der).map_err(|e| e.to_string()),
        "RSA PRIVATE KEY" => RsaPrivateKey::from_pkcs1_der(&der).map_err(|e| e.to_string()),
        _ => {
            return Err(KeyError::NotPem {
                what: "private key",
                expected: EXPECTED,
                found: format!("label `{label}`"),
            })
        }
    };
    parsed.map_err(|reason| KeyError::BadKey { label, reason })
}

/// The label and decoded body of the first PEM block in `text`. Written by hand rather than
/// with a strict RFC 7468 parser because keys in the wild have CRLF line ends and other wraps.
fn pem_block(
    text: &str,
    what: &'static str,
    expected: &'static str,
) -> Result<(String, Vec<u8>), KeyError> {
    let not_pem = |found: &str| KeyError::NotPem {
        what,
        expected,
        found: found.to_string(),
    };
    let begin = text
        .find("-----BEGIN ")
        .ok_or_else(|| not_pem("no `-----BEGIN` line"))?;
    let rest = &text[begin + "-----BEGIN ".len()..];
    let label_end = rest
        .find("-----")
        .ok_or_else(|| not_pem("an unterminated BEGIN line"))?;
    let label = rest[..label_end].trim().to_string();
    let body_and_end = &rest[label_end + 5..];
    let end_marker = format!("-----END {label}-----");
    let end = body_and_end
        .find(&end_marker)
        .ok_or_else(|| not_pem(&format!("no `{end_marker}` line")))?;
    let body: String = body_and_end[..end]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.as_bytes())
        .map_err(|e| KeyError::BadKey {
            label: label.clone(),
            reason: format!("base64: {e}"),
        })?;
    Ok((label, der))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey};
    use rsa::traits::PublicKeyParts;

    const PEERTUBE_KEYS: &str = include_str!("testdata/peertube/keys.json");

    fn peertube_pair() -> KeyPair {
        let v: serde_json::Value = serde_json::from_str(PEERTUBE_KEYS).unwrap();
        KeyPair {
            public_pem: v["publicKey"].as_str().unwrap().to_string(),
            private_pem: v["privateKey"].as_str().unwrap().to_string(),
        }
    }

    #[test]
    fn peertube_fixture_keys_parse_and_match() {
        let pair = peertube_pair();
        let private = pair.private_key().unwrap();
        let public = pair.public_key().unwrap();
        assert_eq!(private.to_public_key(), public);
        assert_eq!(public.n().bits(), 2048);
    }

    #[test]
    fn generated_pair_round_trips_through_pem() {
        let pair = KeyPair::generate().unwrap();
        assert!(pair.public_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert!(pair
            .private_pem
            .starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let private = pair.private_key().unwrap();
        assert_eq!(private.size() * 8, KEY_BITS);
        assert_eq!(private.to_public_key(), pair.public_key().unwrap());
        assert_eq!(KeyPair::from_private_key(&private).unwrap(), pair);
        // Stored as JSON (RocksDB value), the private key must not show up in Debug output.
        let json = serde_json::to_string(&pair).unwrap();
        assert_eq!(serde_json::from_str::<KeyPair>(&json).unwrap(), pair);
        assert!(!format!("{pair:?}").contains("PRIVATE KEY-----\nMII"));
    }

    #[test]
    fn pkcs1_and_crlf_forms_are_accepted() {
        let pair = peertube_pair();
        let private = pair.private_key().unwrap();
        let public = private.to_public_key();
        let pkcs1_public = public.to_pkcs1_pem(LineEnding::CRLF).unwrap();
        assert!(pkcs1_public.starts_with("-----BEGIN RSA PUBLIC KEY-----"));
        assert_eq!(parse_public_key_pem(&pkcs1_public).unwrap(), public);
        let pkcs1_private = private.to_pkcs1_pem(LineEnding::LF).unwrap();
        assert_eq!(parse_private_key_pem(&pkcs1_private).unwrap(), private);
        let crlf = pair.public_pem.replace('\n', "\r\n");
        assert_eq!(parse_public_key_pem(crlf.trim_end()).unwrap(), public);
    }

    #[test]
    fn bad_pem_gives_clear_errors() {
        let err = parse_public_key_pem("hello").unwrap_err();
        assert!(matches!(err, KeyError::NotPem { .. }), "{err}");
        let pair = peertube_pair();
        let err = parse_public_key_pem(&pair.private_pem).unwrap_err();
        assert!(err.to_string().contains("label `PRIVATE KEY`"), "{err}");
        let err = parse_private_key_pem(&pair.public_pem).unwrap_err();
        assert!(err.to_string().contains("label `PUBLIC KEY`"), "{err}");
        let truncated = pair.public_pem.replacen("MIIBIjAN", "MIIB", 1);
        let err = parse_public_key_pem(&truncated).unwrap_err();
        assert!(matches!(err, KeyError::BadKey { .. }), "{err}");
        let err = parse_public_key_pem("-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----")
            .unwrap_err();
        assert!(err.to_string().contains("base64"), "{err}");
    }
}
