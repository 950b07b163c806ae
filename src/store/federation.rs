//! The federation tables: remote actors (and their keys), follows both ways, the inbox queue
//! with its dedupe set, and outgoing deliveries with the activities they carry.

use super::codec::{untag_bytes, Key, StoreError};
use super::tables::{string_key, u64_key};
use super::Cf;
use serde::{Deserialize, Serialize};

/// A remote actor as last fetched: where to deliver to it and the key it signs with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteActor {
    /// Its id (URL).
    pub id: String,
    /// `Person`, `Group`, `Application`, `Service` or `Organization`.
    pub kind: String,
    /// `preferredUsername`.
    pub username: String,
    /// `host[:port]` of its id.
    pub host: String,
    /// Its own inbox.
    pub inbox: String,
    /// Its instance's shared inbox, when it has one.
    pub shared_inbox: Option<String>,
    /// Its followers collection.
    pub followers: Option<String>,
    /// Its outbox.
    pub outbox: Option<String>,
    /// `publicKey.id`.
    pub key_id: String,
    /// `publicKey.publicKeyPem`.
    pub public_key_pem: String,
    /// When it was fetched (Unix seconds).
    pub fetched_at: u64,
}

/// The number PeerTube's API gives something of another instance (an actor, a file). Fleuve
/// keeps those by URL, not by row, so the number is derived from the URL: stable, and below
/// 2^53 so that JavaScript reads it exactly.
pub fn remote_number(url: &str) -> u64 {
    use sha2::Digest;
    let h = sha2::Sha256::digest(url.as_bytes());
    let mut b = [0u8; 8];
    b[2..].copy_from_slice(&h[..6]);
    u64::from_be_bytes(b).max(1)
}

impl RemoteActor {
    /// Where activities for it go: the shared inbox when there is one.
    pub fn delivery_inbox(&self) -> &str {
        self.shared_inbox.as_deref().unwrap_or(&self.inbox)
    }
}

string_key!(
    /// `actors`: a remote actor by id (URL).
    RemoteActorKey, Cf::Actors, 0x02, RemoteActor
);

/// Where a follow stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FollowState {
    /// Sent (or received) and not answered yet.
    Pending,
    /// Accepted.
    Accepted,
    /// Refused by the other side.
    Rejected,
}

impl FollowState {
    /// PeerTube's label (`pending`, `accepted`, `rejected`).
    pub fn label(self) -> &'static str {
        match self {
            FollowState::Pending => "pending",
            FollowState::Accepted => "accepted",
            FollowState::Rejected => "rejected",
        }
    }
}

/// A remote actor following one of ours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Follower {
    /// Our actor's key name (`instance`, `account:<name>`, `channel:<name>`).
    pub local: String,
    /// The follower's id.
    pub actor: String,
    /// Its host.
    pub host: String,
    /// Where to deliver to it (its shared inbox when it has one).
    pub inbox: String,
    /// The Follow activity's id.
    pub follow_id: String,
    /// State.
    pub state: FollowState,
    /// When it followed (Unix seconds).
    pub created_at: u64,
}

string_key!(
    /// `follows`: followers of our actors, by `<local key>\n<follower id>`.
    FollowerKey, Cf::Follows, 0x01, Follower
);

impl FollowerKey {
    /// The key of `actor` following our `local`.
    pub fn of(local: &str, actor: &str) -> FollowerKey {
        FollowerKey(format!("{local}\n{actor}"))
    }
}

/// One of our follows of a remote actor (the instance actor follows instances).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Following {
    /// Id of the followed actor.
    pub target: String,
    /// Its host.
    pub host: String,
    /// Our Follow activity's id.
    pub follow_id: String,
    /// State.
    pub state: FollowState,
    /// When we followed (Unix seconds).
    pub created_at: u64,
    /// Last change (Unix seconds).
    pub updated_at: u64,
    /// Whether this instance mirrors the videos of that server (PeerTube's
    /// `redundancyAllowed`, set with `PUT /api/v1/server/redundancy/{host}`).
    #[serde(default)]
    pub redundancy_allowed: bool,
}

string_key!(
    /// `follows`: actors our instance follows, by their id.
    FollowingKey, Cf::Follows, 0x02, Following
);

/// A block by this instance (PeerTube's server blocklist): a whole server, or one remote account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Block {
    /// When it was blocked (Unix seconds).
    pub created_at: u64,
    /// The user (moderator or administrator) who blocked it.
    pub by: u64,
    /// A blocked account's actor id (none for a server).
    pub actor: Option<String>,
}

string_key!(
    /// `follows`: servers this instance blocks, by host (`host[:port]`, lower case).
    ServerBlockKey, Cf::Follows, 0x03, Block
);

string_key!(
    /// `follows`: remote accounts this instance blocks, by handle (`name@host`, lower case).
    AccountBlockKey, Cf::Follows, 0x04, Block
);

/// What one user muted (PeerTube's account blocklist, `/api/v1/users/me/blocklist`): a server,
/// or an account of this instance or another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mute {
    /// When it was muted (Unix seconds).
    pub created_at: u64,
    /// A muted remote account's actor id.
    pub actor: Option<String>,
    /// A muted local account's user id.
    pub user: Option<u64>,
}

/// `follows`: one thing `user` muted. `target` is `server:{host}` or `account:{handle}`, the
/// handle `name` for an account of this instance and `name@host` for another's (lower case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MuteKey {
    /// The user who muted.
    pub user: u64,
    /// What they muted.
    pub target: String,
}

impl Key for MuteKey {
    type Value = Mute;
    type Prefix = u64;
    const CF: Cf = Cf::Follows;
    fn encode(&self) -> Vec<u8> {
        let mut k = Self::encode_prefix(&self.user);
        k.extend_from_slice(self.target.as_bytes());
        k
    }
    fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let rest = untag_bytes(0x05, bytes)?;
        let bad = || StoreError::Corrupt(format!("bad mute key {}", hex::encode(bytes)));
        if rest.len() < 8 {
            return Err(bad());
        }
        let mut user = [0u8; 8];
        user.copy_from_slice(&rest[..8]);
        Ok(MuteKey {
            user: u64::from_be_bytes(user),
            target: String::from_utf8(rest[8..].to_vec()).map_err(|_| bad())?,
        })
    }
    fn encode_prefix(user: &u64) -> Vec<u8> {
        let mut k = vec![0x05];
        k.extend_from_slice(&user.to_be_bytes());
        k
    }
}

/// A verified incoming activity waiting to be processed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxItem {
    /// The activity JSON as received.
    pub activity: String,
    /// The actor whose HTTP signature it carried.
    pub signer: String,
    /// When it arrived (Unix seconds).
    pub received_at: u64,
}

u64_key!(
    /// `inbox`: the queue of activities to process, in arrival order.
    InboxItemKey, Cf::Inbox, 0x01, InboxItem
);

string_key!(
    /// `inbox_seen`: activity ids already taken (Unix seconds when), to drop repeats.
    InboxSeenKey, Cf::InboxSeen, 0x01, u64
);

/// An activity we send, shared by its deliveries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutActivity {
    /// The JSON body, exactly as it is sent.
    pub body: String,
    /// The local actor that signs it (key name, as in `actors`).
    pub signer: String,
    /// When it was queued (Unix seconds).
    pub created_at: u64,
}

u64_key!(
    /// `deliveries`: activities being delivered, by id.
    OutActivityKey, Cf::Deliveries, 0x02, OutActivity
);

/// One activity to one inbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// The activity ([`OutActivityKey`]).
    pub activity: u64,
    /// Destination inbox URL.
    pub inbox: String,
    /// Its host (the per-host concurrency bound).
    pub host: String,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When it was queued (Unix seconds).
    pub created_at: u64,
    /// Earliest next attempt (Unix milliseconds).
    pub next_at_ms: u64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

u64_key!(
    /// `deliveries`: one activity to one inbox, by id.
    DeliveryKey, Cf::Deliveries, 0x01, Delivery
);

string_key!(
    /// `videos`: a remote video's local id by its ActivityPub id (URL).
    RemoteVideoUrlKey, Cf::Videos, 0x03, u64
);

#[cfg(test)]
mod tests {
    use super::remote_number;

    #[test]
    fn remote_numbers_are_stable_distinct_and_exact_in_javascript() {
        let a = remote_number("https://a.example/accounts/alice");
        assert_eq!(a, remote_number("https://a.example/accounts/alice"));
        assert_ne!(a, remote_number("https://a.example/accounts/bob"));
        for url in ["", "x", "https://b.example/video-channels/c"] {
            let n = remote_number(url);
            assert!((1..1 << 53).contains(&n), "{url}: {n}");
        }
    }
}
