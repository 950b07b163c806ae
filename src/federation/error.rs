//! The errors of the federation subsystem. They say what went wrong in federation's terms (a
//! signature that does not verify, a key that cannot be had now, an object that breaks the
//! protocol); the HTTP status they become is decided at the edge, by
//! `crate::api::federation_errors`, and nowhere in `federation/`.

use super::http::FetchError;
use super::key_fetch::KeyFetchError;
use super::protocol::ProtocolError;
use super::remote::ActorError;

/// What went wrong while federating.
#[derive(Debug, thiserror::Error)]
pub enum FederationError {
    /// An inbox POST's HTTP signature, or its signer, is not acceptable.
    #[error("{0}")]
    Signature(String),
    /// A key or actor cannot be had now; the sender may retry after `retry_after` seconds.
    #[error("{detail}")]
    Unavailable {
        /// What could not be had, and why.
        detail: String,
        /// Seconds after which a retry may succeed.
        retry_after: u64,
    },
    /// Too many inbox POSTs from one host.
    #[error("too many inbox POSTs from {host}; retry in {retry_after} s")]
    RateLimited {
        /// The signer's host.
        host: String,
        /// Seconds until the limiter lets it in again.
        retry_after: u64,
    },
    /// An inbox POST signed by this instance's own actor.
    #[error("the signer is this instance's own actor")]
    OwnActor,
    /// No such local actor, video or collection.
    #[error("{0}")]
    NotFound(String),
    /// A request that cannot be done as asked (a bad host, page or body).
    #[error("{0}")]
    BadRequest(String),
    /// An actor may not do what its activity asks (another host's video, another actor).
    #[error("{0}")]
    Refused(String),
    /// The signer's server or account is on this instance's blocklist.
    #[error("{0}")]
    Blocked(String),
    /// An activity or object that breaks the protocol.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// A remote actor could not be had.
    #[error(transparent)]
    Actor(#[from] ActorError),
    /// A fetch from another instance failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// A key needed to verify an activity could not be had.
    #[error(transparent)]
    KeyFetch(#[from] KeyFetchError),
    /// The metadata store failed.
    #[error("metadata store: {0}")]
    Store(#[from] crate::store::StoreError),
    /// The blocking pool stopped.
    #[error(transparent)]
    Pool(#[from] crate::runtime::blocking::PoolGone),
    /// Something of ours failed (key generation, a thread): `context` says what was being done.
    #[error("{context}: {detail}")]
    Internal {
        /// What was being done.
        context: &'static str,
        /// The cause.
        detail: String,
    },
}

impl FederationError {
    /// An internal failure while doing `context`.
    pub fn internal(context: &'static str, cause: impl std::fmt::Display) -> FederationError {
        FederationError::Internal {
            context,
            detail: cause.to_string(),
        }
    }
}
