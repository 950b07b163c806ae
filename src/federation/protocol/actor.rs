//! The actor documents of our instance (`Application`), accounts (`Person`) and channels
//! (`Group`), as PeerTube publishes them (reference §1.1–1.4).

use super::video::{ActorKind, ActorRef, Image};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An actor's public key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicKey {
    /// `<actor>#main-key`.
    pub id: String,
    /// The actor.
    pub owner: String,
    /// SPKI PEM.
    pub public_key_pem: String,
}

/// An actor's endpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoints {
    /// The instance's shared inbox.
    pub shared_inbox: String,
}

/// An actor document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Actor {
    /// The JSON-LD context.
    #[serde(rename = "@context", default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    /// `Application`, `Person` or `Group`.
    #[serde(rename = "type")]
    pub kind: ActorKind,
    /// Its id (and URL).
    pub id: String,
    /// Whom it follows.
    pub following: String,
    /// Who follows it.
    pub followers: String,
    /// Its playlists.
    pub playlists: String,
    /// Its inbox.
    pub inbox: String,
    /// Its outbox.
    pub outbox: String,
    /// Its handle's name.
    pub preferred_username: String,
    /// Its page.
    pub url: String,
    /// Its display name.
    pub name: String,
    /// Shared inbox.
    pub endpoints: Endpoints,
    /// Its key.
    pub public_key: PublicKey,
    /// ISO 8601.
    pub published: String,
    /// Avatars.
    pub icon: Vec<Image>,
    /// Description.
    pub summary: Option<String>,
    /// Support text (channels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support: Option<Option<String>>,
    /// Lemmy's flag, true for channels (only their owner posts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub posting_restricted_to_mods: Option<bool>,
    /// A channel's owner account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributed_to: Option<Vec<ActorRef>>,
}

impl Actor {
    /// The document of the actor `url` of `kind`, with the collections and inbox PeerTube puts
    /// under it and the instance's shared inbox.
    pub fn new(kind: ActorKind, url: &str, public_url: &str, public_key_pem: String) -> Actor {
        Actor {
            context: Some(super::context::actor()),
            kind,
            id: url.to_string(),
            following: format!("{url}/following"),
            followers: format!("{url}/followers"),
            playlists: format!("{url}/playlists"),
            inbox: format!("{url}/inbox"),
            outbox: format!("{url}/outbox"),
            preferred_username: String::new(),
            url: url.to_string(),
            name: String::new(),
            endpoints: Endpoints {
                shared_inbox: format!("{public_url}/inbox"),
            },
            public_key: PublicKey {
                id: format!("{url}#main-key"),
                owner: url.to_string(),
                public_key_pem,
            },
            published: String::new(),
            icon: Vec::new(),
            summary: None,
            support: None,
            posting_restricted_to_mods: None,
            attributed_to: None,
        }
    }
}
