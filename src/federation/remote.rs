//! Remote actors: fetched (signed by our instance actor), checked, kept in the `actors` table
//! and refreshed when older than `federation.actor_refresh_secs` or when a signature made with
//! the cached key fails (the actor may have rotated its key).

use super::http::FetchError;
use super::protocol::ProtocolError;
use super::{now_secs, Federation};
use crate::app::host_of;
use crate::store::federation::{RemoteActor, RemoteActorKey};
use crate::store::{Durability, Store};
use serde_json::Value;
use std::sync::Arc;

/// ActivityPub actor types (PeerTube's `ACTIVITY_PUB_ACTOR_TYPES`).
pub const ACTOR_TYPES: [&str; 5] = ["Person", "Group", "Application", "Service", "Organization"];

/// Why a remote actor could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ActorError {
    /// Fetching failed.
    #[error("cannot fetch actor {id}: {source}")]
    Fetch {
        /// Actor id.
        id: String,
        /// Cause.
        source: FetchError,
    },
    /// The document is not a usable actor.
    #[error("actor {id} is not usable: {reason}")]
    Invalid {
        /// Actor id.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// Store trouble.
    #[error("metadata store: {0}")]
    Store(#[from] crate::store::StoreError),
}

/// What the caller knows about where the actor came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// From the store, possibly old (the caller may retry with [`Freshness::Refetch`]).
    Cached,
    /// Just fetched.
    Fetched,
}

/// The actor `id`: from the store when fresh enough, else fetched (and stored). With `refetch`,
/// always fetched.
pub fn actor(
    fed: &Federation,
    store: &Store,
    public_url: &str,
    id: &str,
    refetch: bool,
) -> Result<(RemoteActor, Freshness), ActorError> {
    let cached = store.get(&RemoteActorKey(id.to_string()))?;
    if let Some(a) = &cached {
        if !refetch && now_secs().saturating_sub(a.fetched_at) < fed.config.actor_refresh_secs {
            return Ok((a.clone(), Freshness::Cached));
        }
    }
    let signer = fed.signer(store, public_url, "instance").ok();
    let doc = match fed.client.get_json(id, signer.as_ref()) {
        Ok(d) => d,
        Err(source) => {
            // A stale copy is better than nothing when the remote is down (not on refetch:
            // that is asked for because the cached key failed).
            if let (Some(a), false) = (cached, refetch) {
                tracing::debug!(actor = id, error = %source, "actor refresh failed; using the cached copy");
                return Ok((a, Freshness::Cached));
            }
            return Err(ActorError::Fetch {
                id: id.to_string(),
                source,
            });
        }
    };
    let actor = parse_actor(&doc, id).map_err(|reason| ActorError::Invalid {
        id: id.to_string(),
        reason: reason.to_string(),
    })?;
    store.put(
        &RemoteActorKey(actor.id.clone()),
        &actor,
        Durability::Buffered,
    )?;
    if actor.id != id {
        // Fetched under another URL (alias): remember it under what was asked too.
        store.put(
            &RemoteActorKey(id.to_string()),
            &actor,
            Durability::Buffered,
        )?;
    }
    fed.remote_keys
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .pop(id);
    tracing::debug!(actor = %actor.id, "fetched remote actor");
    Ok((actor, Freshness::Fetched))
}

/// The parsed public key of `actor` (cached by actor id and fetch time).
pub fn public_key(
    fed: &Federation,
    actor: &RemoteActor,
) -> Result<Arc<rsa::RsaPublicKey>, ProtocolError> {
    let mut cache = fed.remote_keys.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((at, k)) = cache.get(&actor.id) {
        if *at == actor.fetched_at {
            return Ok(k.clone());
        }
    }
    let key = super::keys::parse_public_key_pem(&actor.public_key_pem)
        .map_err(|e| ProtocolError::Rule(format!("actor {}: bad publicKeyPem: {e}", actor.id)))?;
    let key = Arc::new(key);
    cache.put(actor.id.clone(), (actor.fetched_at, key.clone()));
    Ok(key)
}

/// Checks and extracts what we need from an actor document fetched from `fetched_from`.
pub fn parse_actor(doc: &Value, fetched_from: &str) -> Result<RemoteActor, ProtocolError> {
    let s = |k: &str| doc.get(k).and_then(|v| v.as_str());
    let missing = |field| ProtocolError::Missing {
        what: "actor",
        field,
    };
    let id = s("id").ok_or(missing("id"))?;
    if host_of(id) != host_of(fetched_from) {
        return Err(ProtocolError::Rule(format!(
            "its id {id} is on another host than {fetched_from}"
        )));
    }
    let kind = s("type").ok_or(missing("type"))?;
    if !ACTOR_TYPES.contains(&kind) {
        return Err(ProtocolError::invalid(
            "type",
            &Value::from(kind),
            "an actor type (Person, Group, Application, Service, Organization)",
        ));
    }
    let inbox = s("inbox").ok_or(missing("inbox"))?;
    let key = doc.get("publicKey").ok_or(missing("publicKey"))?;
    let key = match key {
        Value::Array(a) => a.first().ok_or(missing("publicKey"))?,
        k => k,
    };
    let pem = key
        .get("publicKeyPem")
        .and_then(|v| v.as_str())
        .ok_or(missing("publicKey.publicKeyPem"))?;
    let key_id = key.get("id").and_then(|v| v.as_str()).unwrap_or(id);
    if let Some(owner) = key.get("owner").and_then(|v| v.as_str()) {
        if owner != id {
            return Err(ProtocolError::Rule(format!(
                "publicKey.owner {owner} is not the actor"
            )));
        }
    }
    super::keys::parse_public_key_pem(pem)
        .map_err(|e| ProtocolError::Rule(format!("bad publicKeyPem: {e}")))?;
    let http_url = |v: Option<&str>| {
        v.filter(|u| u.starts_with("https://") || u.starts_with("http://"))
            .map(str::to_string)
    };
    Ok(RemoteActor {
        id: id.to_string(),
        kind: kind.to_string(),
        username: s("preferredUsername").unwrap_or_default().to_string(),
        host: host_of(id),
        inbox: http_url(Some(inbox)).ok_or_else(|| {
            ProtocolError::invalid("inbox", &Value::from(inbox), "an http(s) URL")
        })?,
        shared_inbox: http_url(
            doc.get("endpoints")
                .and_then(|e| e.get("sharedInbox"))
                .and_then(|v| v.as_str()),
        ),
        followers: http_url(s("followers")),
        outbox: http_url(s("outbox")),
        key_id: key_id.to_string(),
        public_key_pem: pem.to_string(),
        fetched_at: now_secs(),
    })
}
