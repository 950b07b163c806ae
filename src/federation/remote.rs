//! Remote actors: fetched (signed by our instance actor), checked, kept in the `actors` table
//! and refreshed when older than `federation.actor_refresh_secs` or when a signature made with
//! the cached key fails (the actor may have rotated its key).

use super::http::FetchError;
use super::protocol::received::ReceivedActor;
use super::protocol::ProtocolError;
use super::{now_secs, Federation};
use crate::app::host_of;
use crate::store::federation::{RemoteActor, RemoteActorKey};
use crate::store::{Durability, Store};
use serde::Deserialize;
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
    let missing = |field| ProtocolError::Missing {
        what: "actor",
        field,
    };
    if !doc.is_object() {
        return Err(ProtocolError::invalid("actor", doc, "a JSON object"));
    }
    let a = ReceivedActor::deserialize(doc)
        .map_err(|e| ProtocolError::Rule(format!("not an actor document: {e}")))?;
    let id = a.id.as_deref().ok_or(missing("id"))?;
    if host_of(id) != host_of(fetched_from) {
        return Err(ProtocolError::Rule(format!(
            "its id {id} is on another host than {fetched_from}"
        )));
    }
    let kind = a.kind.as_deref().ok_or(missing("type"))?;
    if !ACTOR_TYPES.contains(&kind) {
        return Err(ProtocolError::invalid(
            "type",
            &Value::from(kind),
            "an actor type (Person, Group, Application, Service, Organization)",
        ));
    }
    let inbox = a.inbox.as_deref().ok_or(missing("inbox"))?;
    let key = a.key().ok_or(missing("publicKey"))?;
    let pem = key
        .public_key_pem
        .as_deref()
        .ok_or(missing("publicKey.publicKeyPem"))?;
    let key_id = key.id.as_deref().unwrap_or(id);
    if let Some(owner) = key.owner.as_deref() {
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
        username: a.preferred_username.clone().unwrap_or_default(),
        host: host_of(id),
        inbox: http_url(Some(inbox)).ok_or_else(|| {
            ProtocolError::invalid("inbox", &Value::from(inbox), "an http(s) URL")
        })?,
        shared_inbox: http_url(a.endpoints.as_ref().and_then(|e| e.shared_inbox.as_deref())),
        followers: http_url(a.followers.as_deref()),
        outbox: http_url(a.outbox.as_deref()),
        key_id: key_id.to_string(),
        public_key_pem: pem.to_string(),
        fetched_at: now_secs(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pem() -> String {
        let keys: Value =
            serde_json::from_str(include_str!("testdata/peertube/keys.json")).unwrap();
        keys["publicKey"].as_str().unwrap().to_string()
    }

    fn person(key: Value) -> Value {
        json!({
            "type": "Person",
            "id": "https://tube.example/accounts/alice",
            "preferredUsername": "alice",
            "inbox": "https://tube.example/accounts/alice/inbox",
            "outbox": "https://tube.example/accounts/alice/outbox",
            "followers": "ftp://tube.example/followers",
            "endpoints": {"sharedInbox": "https://tube.example/inbox"},
            "publicKey": key,
        })
    }

    #[test]
    fn actors_are_read_with_peertube_and_mastodon_key_shapes() {
        let key = json!({"id": "https://tube.example/accounts/alice#main-key",
                         "owner": "https://tube.example/accounts/alice", "publicKeyPem": pem()});
        let from = "https://tube.example/accounts/alice";
        let a = parse_actor(&person(key.clone()), from).unwrap();
        assert_eq!(a.username, "alice");
        assert_eq!(a.key_id, "https://tube.example/accounts/alice#main-key");
        assert_eq!(
            a.shared_inbox.as_deref(),
            Some("https://tube.example/inbox")
        );
        assert_eq!(a.followers, None, "a non-http followers URL is left out");
        // A list of keys: the first is used.
        let listed = parse_actor(&person(json!([key, {"publicKeyPem": "x"}])), from).unwrap();
        assert_eq!(listed.public_key_pem, a.public_key_pem);
        // A key without an id is the actor's own.
        let bare = parse_actor(&person(json!({"publicKeyPem": pem()})), from).unwrap();
        assert_eq!(bare.key_id, from);
    }

    #[test]
    fn unusable_actors_are_refused_with_the_reason() {
        let from = "https://tube.example/accounts/alice";
        let good = json!({"id": "x", "owner": from, "publicKeyPem": pem()});
        let err = |doc: Value| parse_actor(&doc, from).unwrap_err().to_string();
        assert_eq!(err(person(json!("a string"))), "actor has no publicKey");
        assert_eq!(err(person(json!([]))), "actor has no publicKey");
        assert_eq!(
            err(person(json!({"id": "k"}))),
            "actor has no publicKey.publicKeyPem"
        );
        assert!(err(person(
            json!({"owner": "https://tube.example/accounts/bob", "publicKeyPem": pem()})
        ))
        .contains("is not the actor"));
        assert!(err(person(json!({"publicKeyPem": "not a key"}))).contains("bad publicKeyPem"));
        let mut doc = person(good.clone());
        doc["type"] = json!("Note");
        assert!(err(doc).starts_with("type \"Note\" is not an actor type"));
        let mut doc = person(good.clone());
        doc["id"] = json!("https://evil.example/accounts/alice");
        assert!(err(doc).contains("on another host"));
        let mut doc = person(good.clone());
        doc["inbox"] = json!("javascript:alert(1)");
        assert!(err(doc).starts_with("inbox"));
        let mut doc = person(good);
        doc["inbox"] = json!(5);
        assert_eq!(err(doc), "actor has no inbox");
        assert!(err(json!([1, 2])).contains("not a JSON object"));
    }
}
