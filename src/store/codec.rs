//! Key and value encoding. Keys are a one-byte kind tag followed by big-endian fields, so prefix
//! and range scans come out in order; values are a version byte followed by JSON, so records can
//! gain fields without a rewrite.

use serde::{de::DeserializeOwned, Serialize};
use std::path::PathBuf;

/// Version byte in front of every value written by this build.
const VALUE_VERSION: u8 = 1;

/// Errors of the metadata store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// RocksDB could not open the store.
    #[error("cannot open metadata store at {path}: {message}")]
    Open {
        /// The store's directory.
        path: PathBuf,
        /// RocksDB's message.
        message: String,
    },
    /// The store was written by a newer Fleuve.
    #[error("metadata store at {path} has schema version {found}, newer than this fleuve supports ({supported}); run a newer fleuve or restore a backup")]
    NewerSchema {
        /// The store's directory.
        path: PathBuf,
        /// Version on disk.
        found: u32,
        /// Newest version this build knows.
        supported: u32,
    },
    /// A migration step is missing from the table.
    #[error("no migration from schema version {from}")]
    MissingMigration {
        /// Version on disk.
        from: u32,
    },
    /// A RocksDB operation failed.
    #[error("metadata store: {0}")]
    Db(#[from] rocksdb::Error),
    /// The store refuses writes after a write failed (disk full, I/O error) until it recovers.
    #[error("the metadata store is read-only since a write failed ({0}); writes resume once the disk has room again")]
    ReadOnly(String),
    /// The store is closed (a reopen after a write failure did not succeed).
    #[error("the metadata store is closed: {0}")]
    Closed(String),
    /// A record could not be decoded.
    #[error("corrupt record in metadata store: {0}")]
    Corrupt(String),
}

/// A typed key: which column family it lives in, how it encodes, and the value it maps to.
pub trait Key: Sized {
    /// The record type stored under this key.
    type Value: Serialize + DeserializeOwned;
    /// What a scan over this key type is bounded by (`()` for "all of them").
    type Prefix;
    /// The column family.
    const CF: super::Cf;
    /// Encoded key bytes.
    fn encode(&self) -> Vec<u8>;
    /// Decodes key bytes written by [`Key::encode`].
    fn decode(bytes: &[u8]) -> Result<Self, StoreError>;
    /// Encoded prefix for scans.
    fn encode_prefix(prefix: &Self::Prefix) -> Vec<u8>;
}

/// Encodes a value with its version byte.
pub fn encode_value<V: Serialize>(value: &V) -> Result<Vec<u8>, StoreError> {
    let mut out = vec![VALUE_VERSION];
    serde_json::to_writer(&mut out, value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(out)
}

/// Decodes a value written by [`encode_value`].
pub fn decode_value<V: DeserializeOwned>(bytes: &[u8]) -> Result<V, StoreError> {
    match bytes.split_first() {
        Some((&VALUE_VERSION, rest)) => {
            serde_json::from_slice(rest).map_err(|e| StoreError::Corrupt(e.to_string()))
        }
        Some((v, _)) => Err(StoreError::Corrupt(format!("unknown value version {v}"))),
        None => Err(StoreError::Corrupt("empty value".into())),
    }
}

/// Builds `tag ++ big-endian u64`.
pub fn tagged_u64(tag: u8, n: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(9);
    k.push(tag);
    k.extend_from_slice(&n.to_be_bytes());
    k
}

/// Builds `tag ++ bytes`.
pub fn tagged_bytes(tag: u8, b: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + b.len());
    k.push(tag);
    k.extend_from_slice(b);
    k
}

/// Reads `tag ++ big-endian u64`.
pub fn untag_u64(tag: u8, bytes: &[u8]) -> Result<u64, StoreError> {
    match bytes.split_first() {
        Some((&t, rest)) if t == tag && rest.len() == 8 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(rest);
            Ok(u64::from_be_bytes(b))
        }
        _ => Err(StoreError::Corrupt(format!(
            "bad key {}",
            hex::encode(bytes)
        ))),
    }
}

/// Reads `tag ++ bytes`.
pub fn untag_bytes(tag: u8, bytes: &[u8]) -> Result<&[u8], StoreError> {
    match bytes.split_first() {
        Some((&t, rest)) if t == tag => Ok(rest),
        _ => Err(StoreError::Corrupt(format!(
            "bad key {}",
            hex::encode(bytes)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_endian_keys_sort_numerically() {
        let mut keys: Vec<Vec<u8>> = [256u64, 1, 65536, 2]
            .iter()
            .map(|n| tagged_u64(1, *n))
            .collect();
        keys.sort();
        let back: Vec<u64> = keys.iter().map(|k| untag_u64(1, k).unwrap()).collect();
        assert_eq!(back, vec![1, 2, 256, 65536]);
    }

    #[test]
    fn values_carry_a_version() {
        let bytes = encode_value(&42u32).unwrap();
        assert_eq!(bytes[0], VALUE_VERSION);
        assert_eq!(decode_value::<u32>(&bytes).unwrap(), 42);
        assert!(decode_value::<u32>(&[9, b'1']).is_err());
        assert!(decode_value::<u32>(&[]).is_err());
    }
}
