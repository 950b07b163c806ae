//! Local actors' key pairs: the RSA keys our accounts and channels sign with (remote actors,
//! follows, deliveries and the inbox are in `store/federation.rs`).

use super::tables::string_key;
use super::Cf;
use serde::{Deserialize, Serialize};

/// A local actor's RSA key pair, as stored (PEM text; the private key never leaves the store).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct ActorKeys {
    /// SPKI `-----BEGIN PUBLIC KEY-----` PEM, published as `publicKeyPem`.
    pub public_pem: String,
    /// PKCS#8 `-----BEGIN PRIVATE KEY-----` PEM.
    pub private_pem: String,
    /// When it was made (Unix seconds).
    pub created_at: u64,
}

impl std::fmt::Debug for ActorKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActorKeys")
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

string_key!(
    /// `actors`: a local actor's keys by `instance`, `account:<name>` or `channel:<name>`.
    LocalActorKey, Cf::Actors, 0x01, ActorKeys
);
