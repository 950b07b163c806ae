//! This instance's blocklist (PeerTube's server blocklist): servers and remote accounts whose
//! activities the inboxes refuse (403) and whose videos the lists hide. Kept in the store
//! (`follows`: [`ServerBlockKey`], [`AccountBlockKey`]) and mirrored in memory, so that an
//! inbox POST or a list asks a set, not the store. Changes write the store first, under the
//! same lock that the readers take, so memory never says more than the store.

use crate::app::host_of;
use crate::store::federation::{AccountBlockKey, Block, MuteKey, ServerBlockKey};
use crate::store::{Durability, Store, StoreError};
use crate::video::Video;
use std::collections::HashSet;
use std::sync::RwLock;

/// The blocked servers and accounts.
#[derive(Debug, Default)]
pub struct Blocklist {
    state: RwLock<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Blocked hosts (`host[:port]`, lower case).
    hosts: HashSet<String>,
    /// Blocked accounts' actor ids.
    actors: HashSet<String>,
}

/// A host as the blocklist keys it.
pub fn normalize_host(host: &str) -> String {
    host.trim().trim_end_matches('.').to_ascii_lowercase()
}

impl Blocklist {
    /// The blocklist as the store holds it.
    pub fn load(store: &Store) -> Result<Blocklist, StoreError> {
        let hosts = store
            .scan::<ServerBlockKey>(&())?
            .into_iter()
            .map(|(k, _)| k.0)
            .collect();
        let actors = store
            .scan::<AccountBlockKey>(&())?
            .into_iter()
            .filter_map(|(_, b)| b.actor)
            .collect();
        Ok(Blocklist {
            state: RwLock::new(State { hosts, actors }),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether nothing is blocked (lists then need no check).
    pub fn is_empty(&self) -> bool {
        let s = self.read();
        s.hosts.is_empty() && s.actors.is_empty()
    }

    /// Whether the server `host` is blocked.
    pub fn host_blocked(&self, host: &str) -> bool {
        self.read().hosts.contains(&normalize_host(host))
    }

    /// Whether the actor `id` is blocked, itself or through its server.
    pub fn actor_blocked(&self, id: &str) -> bool {
        let s = self.read();
        s.actors.contains(id) || s.hosts.contains(&normalize_host(&host_of(id)))
    }

    /// Whether the lists hide `video`: another instance's, from a blocked server, account or
    /// channel.
    pub fn hides(&self, video: &Video) -> bool {
        let Some(r) = &video.remote else {
            return false;
        };
        let s = self.read();
        s.hosts.contains(&normalize_host(&r.host))
            || s.hosts.contains(&normalize_host(&host_of(&r.url)))
            || s.actors.contains(&r.account)
            || r.channel.as_ref().is_some_and(|c| s.actors.contains(c))
    }

    /// Blocks the server `host`; false when it was blocked already.
    pub fn block_server(&self, store: &Store, host: &str, by: u64) -> Result<bool, StoreError> {
        let host = normalize_host(host);
        let mut s = self.state.write().unwrap_or_else(|p| p.into_inner());
        if s.hosts.contains(&host) {
            return Ok(false);
        }
        let block = Block {
            created_at: crate::time::now_secs(),
            by,
            actor: None,
        };
        store.put(&ServerBlockKey(host.clone()), &block, Durability::Sync)?;
        s.hosts.insert(host);
        Ok(true)
    }

    /// Lifts the block of `host`; false when it was not blocked.
    pub fn unblock_server(&self, store: &Store, host: &str) -> Result<bool, StoreError> {
        let host = normalize_host(host);
        let mut s = self.state.write().unwrap_or_else(|p| p.into_inner());
        if store.get(&ServerBlockKey(host.clone()))?.is_none() {
            return Ok(false);
        }
        store.delete(&ServerBlockKey(host.clone()), Durability::Sync)?;
        s.hosts.remove(&host);
        Ok(true)
    }

    /// Blocks the remote account `handle` (`name@host`) whose actor id is `actor`; false when
    /// it was blocked already.
    pub fn block_account(
        &self,
        store: &Store,
        handle: &str,
        actor: &str,
        by: u64,
    ) -> Result<bool, StoreError> {
        let key = AccountBlockKey(handle.to_ascii_lowercase());
        let mut s = self.state.write().unwrap_or_else(|p| p.into_inner());
        if store.get(&key)?.is_some() {
            return Ok(false);
        }
        let block = Block {
            created_at: crate::time::now_secs(),
            by,
            actor: Some(actor.to_string()),
        };
        store.put(&key, &block, Durability::Sync)?;
        s.actors.insert(actor.to_string());
        Ok(true)
    }

    /// Lifts the block of the account `handle`; false when it was not blocked.
    pub fn unblock_account(&self, store: &Store, handle: &str) -> Result<bool, StoreError> {
        let key = AccountBlockKey(handle.to_ascii_lowercase());
        let mut s = self.state.write().unwrap_or_else(|p| p.into_inner());
        let Some(block) = store.get(&key)? else {
            return Ok(false);
        };
        store.delete(&key, Durability::Sync)?;
        if let Some(a) = block.actor {
            s.actors.remove(&a);
        }
        Ok(true)
    }
}

/// What one user muted (`/api/v1/users/me/blocklist`): the videos and comments of those
/// servers and accounts are left out of what that user lists. Read from the store for each
/// request of a logged-in user (a prefix walk of their few entries).
#[derive(Debug, Default, Clone)]
pub struct Mutes {
    hosts: HashSet<String>,
    actors: HashSet<String>,
    users: HashSet<u64>,
}

impl Mutes {
    /// What `user` muted.
    pub fn load(store: &Store, user: u64) -> Result<Mutes, StoreError> {
        let mut m = Mutes::default();
        for (k, v) in store.scan::<MuteKey>(&user)? {
            if let Some(host) = k.target.strip_prefix("server:") {
                m.hosts.insert(host.to_string());
            }
            if let Some(a) = v.actor {
                m.actors.insert(a);
            }
            if let Some(u) = v.user {
                m.users.insert(u);
            }
        }
        Ok(m)
    }

    /// Whether nothing is muted.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty() && self.actors.is_empty() && self.users.is_empty()
    }

    /// Whether `video` is left out: a local one of a muted user, another instance's from a
    /// muted server, account or channel.
    pub fn hides(&self, video: &Video) -> bool {
        match &video.remote {
            None => self.users.contains(&video.owner),
            Some(r) => {
                self.hosts.contains(&normalize_host(&r.host))
                    || self.hosts.contains(&normalize_host(&host_of(&r.url)))
                    || self.actors.contains(&r.account)
                    || r.channel.as_ref().is_some_and(|c| self.actors.contains(c))
            }
        }
    }

    /// Whether a comment by the local user `user`, or else by the actor `actor`, is left out.
    pub fn hides_author(&self, user: Option<u64>, actor: &str) -> bool {
        match user {
            Some(u) => self.users.contains(&u),
            None => {
                self.actors.contains(actor) || self.hosts.contains(&normalize_host(&host_of(actor)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_survive_a_reload_and_cover_the_servers_actors() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let b = Blocklist::load(&store).unwrap();
        assert!(b.is_empty());
        assert!(b.block_server(&store, "Bad.Example.", 1).unwrap());
        assert!(!b.block_server(&store, "bad.example", 1).unwrap());
        assert!(b
            .block_account(
                &store,
                "Eve@other.example",
                "https://other.example/accounts/eve",
                1
            )
            .unwrap());
        let b = Blocklist::load(&store).unwrap();
        assert!(b.host_blocked("bad.example"));
        assert!(b.actor_blocked("https://bad.example/accounts/anyone"));
        assert!(b.actor_blocked("https://other.example/accounts/eve"));
        assert!(!b.actor_blocked("https://other.example/accounts/bob"));
        assert!(b.unblock_account(&store, "eve@other.example").unwrap());
        assert!(!b.actor_blocked("https://other.example/accounts/eve"));
        assert!(b.unblock_server(&store, "bad.example").unwrap());
        assert!(!b.unblock_server(&store, "bad.example").unwrap());
        assert!(Blocklist::load(&store).unwrap().is_empty());
    }
}
