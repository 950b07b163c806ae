//! The playlists table, in the `channels` column family beside the channels they are shown on:
//! each playlist (its elements inline, so a reorder is one write), its uuid, and the playlists
//! of each user (so a user's lists, the watch-later lookup and user removal read theirs, not
//! the whole table).

use super::codec::{untag_bytes, Key, StoreError};
use super::tables::{string_key, u64_key};
use super::{Batch, Cf, Store};
use crate::video::playlist::{Playlist, PlaylistKind};

u64_key!(
    /// `channels`: playlist by id.
    PlaylistKey, Cf::Channels, 0x04, Playlist
);
string_key!(
    /// `channels`: playlist id by uuid.
    PlaylistByUuidKey, Cf::Channels, 0x05, u64
);

/// `channels`: the playlists of each local user (`owner`, playlist id → nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaylistByOwnerKey {
    /// The owner's user id.
    pub owner: u64,
    /// The playlist.
    pub playlist: u64,
}

impl Key for PlaylistByOwnerKey {
    type Value = ();
    type Prefix = u64;
    const CF: Cf = Cf::Channels;
    fn encode(&self) -> Vec<u8> {
        let mut k = Self::encode_prefix(&self.owner);
        k.extend_from_slice(&self.playlist.to_be_bytes());
        k
    }
    fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let rest = untag_bytes(0x06, bytes)?;
        if rest.len() != 16 {
            return Err(StoreError::Corrupt(format!(
                "bad playlist owner key {}",
                hex::encode(bytes)
            )));
        }
        let (a, b) = rest.split_at(8);
        Ok(PlaylistByOwnerKey {
            owner: u64::from_be_bytes(a.try_into().unwrap_or_default()),
            playlist: u64::from_be_bytes(b.try_into().unwrap_or_default()),
        })
    }
    fn encode_prefix(owner: &u64) -> Vec<u8> {
        let mut k = vec![0x06];
        k.extend_from_slice(&owner.to_be_bytes());
        k
    }
}

impl Store {
    /// The playlist with uuid `uuid`.
    pub fn playlist_by_uuid(&self, uuid: &str) -> Result<Option<Playlist>, StoreError> {
        match self.get(&PlaylistByUuidKey(uuid.to_string()))? {
            Some(id) => self.get(&PlaylistKey(id)),
            None => Ok(None),
        }
    }

    /// The playlists of user `owner`, oldest first.
    pub fn playlists_of(&self, owner: u64) -> Result<Vec<Playlist>, StoreError> {
        let mut out = Vec::new();
        for (k, ()) in self.scan::<PlaylistByOwnerKey>(&owner)? {
            if let Some(p) = self.get(&PlaylistKey(k.playlist))? {
                out.push(p);
            }
        }
        Ok(out)
    }

    /// Every playlist, oldest first.
    pub fn all_playlists(&self) -> Result<Vec<Playlist>, StoreError> {
        Ok(self
            .scan::<PlaylistKey>(&())?
            .into_iter()
            .map(|(_, p)| p)
            .collect())
    }

    /// Where `p` stands among its channel's playlists (1-based, oldest first; 0 without a
    /// channel): PeerTube's `videoChannelPosition`.
    pub fn channel_position(&self, p: &Playlist) -> Result<usize, StoreError> {
        let Some(channel) = p.channel else {
            return Ok(0);
        };
        Ok(self
            .playlists_of(p.owner)?
            .iter()
            .filter(|o| o.channel == Some(channel))
            .position(|o| o.id == p.id)
            .map_or(0, |i| i + 1))
    }

    /// The watch-later playlist of user `owner`, when it has been made.
    pub fn watch_later_of(&self, owner: u64) -> Result<Option<Playlist>, StoreError> {
        Ok(self
            .playlists_of(owner)?
            .into_iter()
            .find(|p| p.kind == PlaylistKind::WatchLater))
    }
}

impl Batch {
    /// Writes `playlist` and its index entries.
    pub fn put_playlist(&mut self, store: &Store, playlist: &Playlist) -> Result<(), StoreError> {
        self.put(store, &PlaylistKey(playlist.id), playlist)?;
        self.put(
            store,
            &PlaylistByUuidKey(playlist.uuid.clone()),
            &playlist.id,
        )?;
        self.put(
            store,
            &PlaylistByOwnerKey {
                owner: playlist.owner,
                playlist: playlist.id,
            },
            &(),
        )
    }

    /// Deletes `playlist` and its index entries.
    pub fn delete_playlist(&mut self, store: &Store, playlist: &Playlist) {
        self.delete(store, &PlaylistKey(playlist.id));
        self.delete(store, &PlaylistByUuidKey(playlist.uuid.clone()));
        self.delete(
            store,
            &PlaylistByOwnerKey {
                owner: playlist.owner,
                playlist: playlist.id,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Durability;
    use crate::video::playlist::{PlaylistElement, PlaylistPrivacy};

    fn playlist(id: u64, owner: u64, kind: PlaylistKind) -> Playlist {
        Playlist {
            id,
            uuid: format!("00000000-0000-4000-8000-{id:012}"),
            owner,
            channel: None,
            display_name: format!("p{id}"),
            description: None,
            privacy: PlaylistPrivacy::Private,
            kind,
            elements: vec![PlaylistElement {
                id: 7,
                video_id: 3,
                start: None,
                stop: Some(4),
            }],
            created_at: id,
            updated_at: id,
        }
    }

    #[test]
    fn playlists_are_found_by_id_uuid_and_owner_and_deleted_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut batch = Batch::default();
        for p in [
            playlist(1, 10, PlaylistKind::WatchLater),
            playlist(2, 10, PlaylistKind::Regular),
            playlist(3, 11, PlaylistKind::Regular),
        ] {
            batch.put_playlist(&store, &p).unwrap();
        }
        store.write(batch, Durability::Sync).unwrap();
        let p2 = store.get(&PlaylistKey(2)).unwrap().unwrap();
        assert_eq!(p2.elements[0].stop, Some(4));
        assert_eq!(store.playlist_by_uuid(&p2.uuid).unwrap(), Some(p2.clone()));
        let mine: Vec<u64> = store
            .playlists_of(10)
            .unwrap()
            .iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(mine, vec![1, 2]);
        assert_eq!(store.watch_later_of(10).unwrap().map(|p| p.id), Some(1));
        assert_eq!(store.watch_later_of(11).unwrap(), None);
        assert_eq!(store.all_playlists().unwrap().len(), 3);
        let mut batch = Batch::default();
        batch.delete_playlist(&store, &p2);
        store.write(batch, Durability::Sync).unwrap();
        assert_eq!(store.playlist_by_uuid(&p2.uuid).unwrap(), None);
        assert_eq!(store.playlists_of(10).unwrap().len(), 1);
        // The channels sharing the column family are not read as playlists.
        assert!(store.channels_of(10).unwrap().is_empty());
    }
}
