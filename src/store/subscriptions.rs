//! Users' subscriptions to channels (PeerTube's `/api/v1/users/me/subscriptions`): one record
//! per user and channel with the state of its follow, and two indexes written in the same
//! batch: who subscribes to a channel (its `followersCount`, and whether a remote channel's
//! videos interest anyone here) and which subscription a `Follow` activity id belongs to (an
//! `Accept` names only that).
//!
//! # Layout (in `follows`)
//! - `0x06 user handle` → [`Subscription`]; `handle` is `name@host` (host in lower case).
//! - `0x07 channel(9) user` → nothing; `channel` is [`ChannelRef::bytes`].
//! - `0x08 follow id` → [`SubscriptionRef`] (remote channels only).

use super::channel_index::ChannelRef;
use super::codec::{decode_value, untag_bytes, Key, StoreError};
use super::federation::{FollowState, Follower};
use super::tables::string_key;
use super::{Batch, Cf, Durability, Store};
use serde::{Deserialize, Serialize};

/// One user's subscription to a channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    /// `name@host` (host in lower case).
    pub handle: String,
    /// The channel.
    pub channel: ChannelTarget,
    /// The `Follow` sent for a remote channel (none for a local one).
    pub follow_id: Option<String>,
    /// Accepted at once for a local channel; pending until the remote channel's `Accept`.
    pub state: FollowState,
    /// When the user subscribed (Unix seconds).
    pub created_at: u64,
}

/// The channel a subscription is to, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ChannelTarget {
    /// A channel of this instance, by id.
    Local(u64),
    /// Another instance's channel, by actor id (URL).
    Remote(String),
}

impl ChannelTarget {
    /// The channel as the video indexes name it.
    pub fn channel_ref(&self) -> ChannelRef {
        match self {
            ChannelTarget::Local(id) => ChannelRef::Local(*id),
            ChannelTarget::Remote(url) => ChannelRef::Remote(url.clone()),
        }
    }
}

/// `follows`: `user`'s subscription to the channel `handle`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionKey {
    /// The subscriber.
    pub user: u64,
    /// `name@host`.
    pub handle: String,
}

impl Key for SubscriptionKey {
    type Value = Subscription;
    type Prefix = u64;
    const CF: Cf = Cf::Follows;
    fn encode(&self) -> Vec<u8> {
        let mut k = Self::encode_prefix(&self.user);
        k.extend_from_slice(self.handle.as_bytes());
        k
    }
    fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let rest = untag_bytes(0x06, bytes)?;
        let bad = || StoreError::Corrupt(format!("bad subscription key {}", hex::encode(bytes)));
        let (user, handle) = rest.split_at_checked(8).ok_or_else(bad)?;
        Ok(SubscriptionKey {
            user: u64::from_be_bytes(user.try_into().map_err(|_| bad())?),
            handle: String::from_utf8(handle.to_vec()).map_err(|_| bad())?,
        })
    }
    fn encode_prefix(user: &u64) -> Vec<u8> {
        let mut k = vec![0x06];
        k.extend_from_slice(&user.to_be_bytes());
        k
    }
}

/// `follows`: `user` subscribes to `channel` (the reverse of [`SubscriptionKey`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriberKey {
    /// [`ChannelRef::bytes`] of the channel.
    pub channel: [u8; 9],
    /// The subscriber.
    pub user: u64,
}

impl Key for SubscriberKey {
    type Value = ();
    type Prefix = [u8; 9];
    const CF: Cf = Cf::Follows;
    fn encode(&self) -> Vec<u8> {
        let mut k = Self::encode_prefix(&self.channel);
        k.extend_from_slice(&self.user.to_be_bytes());
        k
    }
    fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let rest = untag_bytes(0x07, bytes)?;
        let bad = || StoreError::Corrupt(format!("bad subscriber key {}", hex::encode(bytes)));
        let (channel, user) = rest.split_at_checked(9).ok_or_else(bad)?;
        Ok(SubscriberKey {
            channel: channel.try_into().map_err(|_| bad())?,
            user: u64::from_be_bytes(user.try_into().map_err(|_| bad())?),
        })
    }
    fn encode_prefix(channel: &[u8; 9]) -> Vec<u8> {
        let mut k = vec![0x07];
        k.extend_from_slice(channel);
        k
    }
}

/// Which subscription a `Follow` was sent for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionRef {
    /// The subscriber.
    pub user: u64,
    /// The channel's handle.
    pub handle: String,
}

string_key!(
    /// `follows`: the subscription a `Follow` activity id was sent for.
    SubscriptionFollowKey, Cf::Follows, 0x08, SubscriptionRef
);

impl Store {
    /// `user`'s subscription to `handle`.
    pub fn subscription(
        &self,
        user: u64,
        handle: &str,
    ) -> Result<Option<Subscription>, StoreError> {
        self.get(&SubscriptionKey {
            user,
            handle: handle.to_string(),
        })
    }

    /// Every subscription of `user`, by handle.
    pub fn subscriptions_of(&self, user: u64) -> Result<Vec<Subscription>, StoreError> {
        Ok(self
            .scan::<SubscriptionKey>(&user)?
            .into_iter()
            .map(|(_, s)| s)
            .collect())
    }

    /// How many subscriptions `user` has.
    pub fn subscription_count(&self, user: u64) -> Result<usize, StoreError> {
        self.count::<SubscriptionKey>(&user)
    }

    /// Records (or rewrites) a subscription with its indexes, atomically.
    pub fn put_subscription(&self, user: u64, s: &Subscription) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        if let Some(old) = self.subscription(user, &s.handle)? {
            if let Some(id) = old.follow_id.filter(|id| Some(id) != s.follow_id.as_ref()) {
                batch.delete(self, &SubscriptionFollowKey(id));
            }
        }
        let key = SubscriptionKey {
            user,
            handle: s.handle.clone(),
        };
        batch.put(self, &key, s)?;
        let channel = s.channel.channel_ref().bytes();
        batch.put(self, &SubscriberKey { channel, user }, &())?;
        if let Some(id) = &s.follow_id {
            let r = SubscriptionRef {
                user,
                handle: s.handle.clone(),
            };
            batch.put(self, &SubscriptionFollowKey(id.clone()), &r)?;
        }
        self.write(batch, Durability::Sync)
    }

    /// Removes a subscription with its indexes; returns it (none when there was none).
    pub fn remove_subscription(
        &self,
        user: u64,
        handle: &str,
    ) -> Result<Option<Subscription>, StoreError> {
        let Some(s) = self.subscription(user, handle)? else {
            return Ok(None);
        };
        let mut batch = Batch::default();
        batch.delete(
            self,
            &SubscriptionKey {
                user,
                handle: handle.to_string(),
            },
        );
        let channel = s.channel.channel_ref().bytes();
        batch.delete(self, &SubscriberKey { channel, user });
        if let Some(id) = &s.follow_id {
            batch.delete(self, &SubscriptionFollowKey(id.clone()));
        }
        self.write(batch, Durability::Sync)?;
        Ok(Some(s))
    }

    /// Whether any local user subscribes to `channel`.
    pub fn has_subscribers(&self, channel: &ChannelRef) -> Result<bool, StoreError> {
        Ok(!self
            .scan_limit::<SubscriberKey>(&channel.bytes(), 1)?
            .is_empty())
    }

    /// How many local users subscribe to `channel`.
    pub fn subscriber_count(&self, channel: &ChannelRef) -> Result<u64, StoreError> {
        Ok(self.count::<SubscriberKey>(&channel.bytes())? as u64)
    }

    /// The accepted followers of the local actor `local` (key name, as in
    /// [`super::federation::FollowerKey`]): a walk of that actor's own entries.
    pub fn accepted_follower_count(&self, local: &str) -> Result<u64, StoreError> {
        let mut prefix = vec![0x01];
        prefix.extend_from_slice(local.as_bytes());
        prefix.push(b'\n');
        let mut n = 0;
        for (_, v) in self.raw_prefix(Cf::Follows, &prefix, usize::MAX)? {
            if decode_value::<Follower>(&v)?.state == FollowState::Accepted {
                n += 1;
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_stay_apart() {
        let k = SubscriptionKey {
            user: 7,
            handle: "chan@b.example".into(),
        };
        assert_eq!(SubscriptionKey::decode(&k.encode()).unwrap(), k);
        let s = SubscriberKey {
            channel: ChannelRef::Remote("https://b.example/video-channels/c".into()).bytes(),
            user: 7,
        };
        assert_eq!(SubscriberKey::decode(&s.encode()).unwrap(), s);
        assert!(SubscriberKey::decode(&k.encode()).is_err());
        assert_ne!(
            ChannelRef::Local(1).bytes(),
            ChannelRef::Remote(String::new()).bytes()
        );
    }

    #[test]
    fn subscriptions_keep_their_indexes_in_step() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let url = "https://b.example/video-channels/c".to_string();
        let sub = Subscription {
            handle: "c@b.example".into(),
            channel: ChannelTarget::Remote(url.clone()),
            follow_id: Some("https://a.example/accounts/u/follows/1".into()),
            state: FollowState::Pending,
            created_at: 1,
        };
        store.put_subscription(3, &sub).unwrap();
        let chan = ChannelRef::Remote(url);
        assert!(store.has_subscribers(&chan).unwrap());
        assert_eq!(store.subscriber_count(&chan).unwrap(), 1);
        let r = store
            .get(&SubscriptionFollowKey(sub.follow_id.clone().unwrap()))
            .unwrap()
            .unwrap();
        assert_eq!((r.user, r.handle.as_str()), (3, "c@b.example"));
        // A new Follow id replaces the old one's index entry.
        let again = Subscription {
            follow_id: Some("https://a.example/accounts/u/follows/2".into()),
            ..sub.clone()
        };
        store.put_subscription(3, &again).unwrap();
        assert!(store
            .get(&SubscriptionFollowKey(sub.follow_id.clone().unwrap()))
            .unwrap()
            .is_none());
        assert_eq!(store.subscription_count(3).unwrap(), 1);
        assert_eq!(
            store.remove_subscription(3, "c@b.example").unwrap(),
            Some(again)
        );
        assert!(!store.has_subscribers(&chan).unwrap());
        assert_eq!(store.subscription_count(3).unwrap(), 0);
        assert!(store
            .remove_subscription(3, "c@b.example")
            .unwrap()
            .is_none());
    }
}
