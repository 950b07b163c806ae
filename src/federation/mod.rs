//! Federation with PeerTube and the fediverse (ARCHITECTURE.md §7): actor keys and the two
//! signature schemes, as plain functions free of network I/O.
//!
//! * [`actors`]: the instance, accounts and channels as ActivityPub actors, with their keys.
//! * [`discovery`]: WebFinger, NodeInfo and host-meta for local actors.
//! * [`objects`]: our videos as ActivityPub `Video` objects.
//! * [`keys`]: RSA-2048 key pairs of local actors, PEM parsing of remote actors' keys.
//! * [`signature`]: draft-cavage HTTP signatures (`rsa-sha256`, `Digest: SHA-256=`) on outgoing
//!   requests, and their verification on incoming ones.
//! * [`ld`]: Linked-Data signatures (`RsaSignature2017`) that relayed activities carry, with
//!   the JSON-LD to RDF conversion and URDNA2015 canonicalization they need.
//!
//! Fetching and caching remote keys, checking that the activity's actor is the signer, and the
//! inbox itself build on these functions elsewhere.

pub mod actors;
pub mod discovery;
pub mod keys;
pub mod ld;
pub mod objects;
pub mod signature;
