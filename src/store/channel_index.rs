//! The per-channel sort indexes of listed videos (local channels and other instances'), so a
//! subscription feed walks only the videos of the channels it follows, merged in order, and a
//! channel's video count is a walk of its own entries.
//!
//! # Layout (in `video_index`, beside [`super::video_index`]'s entries; values empty)
//! - `0x80 channel(9) sort value id`: one entry per listed video and sort order, where
//!   `channel` is [`ChannelRef::bytes`] and `sort value id` is as in the global sort index
//!   (`0x10`), so byte order is the order. Written by [`super::video_index`]'s `entries` with
//!   every other index entry of the video, in the same batch.

use super::codec::StoreError;
use super::video_index::{sort_value, SortKey};
use super::videos::VideoKey;
use super::{Batch, Cf, Durability, Store};
use crate::video::meta::VideoStats;
use crate::video::Video;
use rocksdb::DBRawIteratorWithThreadMode;
use std::collections::BTreeMap;

const CHANNEL_SORT: u8 = 0x80;

/// A channel, of this instance or another.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChannelRef {
    /// A local channel, by id.
    Local(u64),
    /// Another instance's channel, by its actor id (URL).
    Remote(String),
}

impl ChannelRef {
    /// The channel of `v`: its local channel, or the remote channel it was attributed to.
    pub fn of_video(v: &Video) -> Option<ChannelRef> {
        match &v.remote {
            None => Some(ChannelRef::Local(v.channel_id)),
            Some(r) => r.channel.clone().map(ChannelRef::Remote),
        }
    }

    /// Nine bytes naming the channel in keys: `0x00 ++ id` for a local channel, `0x01 ++` the
    /// first 8 bytes of the SHA-256 of its URL for another's (records are checked after a
    /// walk, so a collision costs a skipped entry, never a wrong video).
    pub fn bytes(&self) -> [u8; 9] {
        let mut out = [0u8; 9];
        match self {
            ChannelRef::Local(id) => out[1..].copy_from_slice(&id.to_be_bytes()),
            ChannelRef::Remote(url) => {
                use sha2::Digest;
                out[0] = 1;
                out[1..].copy_from_slice(&sha2::Sha256::digest(url.as_bytes())[..8]);
            }
        }
        out
    }
}

fn prefix(channel: &ChannelRef, sort: SortKey) -> Vec<u8> {
    let mut k = Vec::with_capacity(11);
    k.push(CHANNEL_SORT);
    k.extend_from_slice(&channel.bytes());
    k.push(sort as u8);
    k
}

/// The per-channel entries of a video (none unless it is listed and has a channel).
pub(super) fn entries(v: &Video, s: &VideoStats, out: &mut BTreeMap<Vec<u8>, Vec<u8>>) {
    let Some(channel) = ChannelRef::of_video(v).filter(|_| v.is_listed()) else {
        return;
    };
    for sort in SortKey::ALL {
        let mut k = prefix(&channel, sort);
        k.extend_from_slice(&sort_value(sort, v, s));
        k.extend_from_slice(&v.id.to_be_bytes());
        out.insert(k, Vec::new());
    }
}

/// One channel's iterator in a merge, positioned on its current entry.
struct Cursor<'a> {
    it: DBRawIteratorWithThreadMode<'a, rocksdb::DB>,
    prefix: Vec<u8>,
}

impl Cursor<'_> {
    /// The current entry's `value ++ id` (the part that orders), while within the channel.
    fn current(&self) -> Option<&[u8]> {
        let k = self.it.key()?;
        k.starts_with(&self.prefix).then(|| &k[self.prefix.len()..])
    }
}

/// A channel's current entry in the merge: the heap pops the next in the walk's order first.
struct Head {
    /// `value ++ id`.
    key: Vec<u8>,
    /// Index of its cursor.
    cursor: usize,
    /// Whether the walk is descending.
    desc: bool,
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for Head {}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Head {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // `BinaryHeap` pops the greatest: the largest key when descending, the smallest when
        // ascending.
        if self.desc {
            self.key.cmp(&other.key)
        } else {
            other.key.cmp(&self.key)
        }
    }
}

impl Store {
    /// Walks the listed videos of `channels` in order `sort` (descending when `desc`), merging
    /// the channels' own indexes, and calls `visit` with each video id until it returns false.
    /// The work is one seek per channel, then one step and a heap operation per video.
    pub fn walk_channels(
        &self,
        channels: &[ChannelRef],
        sort: SortKey,
        desc: bool,
        mut visit: impl FnMut(u64) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let open = self.open_db()?;
        let mut cursors = Vec::with_capacity(channels.len());
        for c in channels {
            let p = prefix(c, sort);
            let mut it = open.db().raw_iterator_cf(open.cf(Cf::VideoIndex));
            if desc {
                let mut end = p.clone();
                *end.last_mut().expect("non-empty prefix") += 1;
                it.seek_for_prev(&end);
                if it.key() == Some(&end[..]) {
                    it.prev();
                }
            } else {
                it.seek(&p);
            }
            it.status()?;
            cursors.push(Cursor { it, prefix: p });
        }
        // A heap of the channels' current entries: one pop and one push per video, whatever
        // the number of channels.
        let mut heap = std::collections::BinaryHeap::with_capacity(cursors.len());
        for (i, c) in cursors.iter().enumerate() {
            if let Some(k) = c.current() {
                heap.push(Head {
                    key: k.to_vec(),
                    cursor: i,
                    desc,
                });
            }
        }
        while let Some(head) = heap.pop() {
            let Some(id) = head
                .key
                .get(head.key.len().saturating_sub(8)..)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)
            else {
                break;
            };
            let c = &mut cursors[head.cursor];
            if desc {
                c.it.prev();
            } else {
                c.it.next();
            }
            c.it.status()?;
            if let Some(k) = c.current() {
                heap.push(Head {
                    key: k.to_vec(),
                    cursor: head.cursor,
                    desc,
                });
            }
            if !visit(id)? {
                break;
            }
        }
        Ok(())
    }

    /// How many listed videos a channel has (a walk of its own entries).
    pub fn channel_video_count(&self, channel: &ChannelRef) -> Result<u64, StoreError> {
        let p = prefix(channel, SortKey::PublishedAt);
        Ok(self.raw_prefix(Cf::VideoIndex, &p, usize::MAX)?.len() as u64)
    }

    /// Adds the per-channel entries of the videos already stored (the migration to schema 5).
    pub fn index_video_channels(&self) -> Result<(), StoreError> {
        let ids: Vec<u64> = self
            .scan::<VideoKey>(&())?
            .into_iter()
            .map(|(k, _)| k.0)
            .collect();
        for chunk in ids.chunks(256) {
            let mut batch = Batch::default();
            for id in chunk {
                if let Some(v) = self.get(&VideoKey(*id))? {
                    let mut out = BTreeMap::new();
                    entries(&v, &self.video_stats(v.id)?, &mut out);
                    for (k, val) in out {
                        batch.raw(Cf::VideoIndex, k, Some(val));
                    }
                }
            }
            self.write(batch, Durability::Sync)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::video::record::RemoteVideo;
    use crate::video::Privacy;

    fn walk(store: &Store, channels: &[ChannelRef], sort: SortKey, desc: bool) -> Vec<u64> {
        let mut out = vec![];
        store
            .walk_channels(channels, sort, desc, |id| {
                out.push(id);
                Ok(true)
            })
            .unwrap();
        out
    }

    #[test]
    fn the_feed_merges_the_channels_in_order_and_follows_changes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let remote = "https://b.example/video-channels/c".to_string();
        // (id, channel, published at): channel 1 and the remote one interleave; 2 is not
        // subscribed.
        for (id, chan, at) in [
            (1, 1, 100),
            (2, 2, 150),
            (3, 1, 300),
            (4, 0, 200),
            (5, 0, 50),
        ] {
            let mut v = Video::example(id, "v", at);
            v.channel_id = chan;
            if chan == 0 {
                v.remote = Some(RemoteVideo {
                    url: format!("https://b.example/videos/watch/{id}"),
                    host: "b.example".into(),
                    account: "https://b.example/accounts/u".into(),
                    channel: Some(remote.clone()),
                    watch_url: None,
                    playlist_url: None,
                    segments_sha256_url: None,
                    files: vec![],
                    infohashes: vec![],
                    thumbnail_url: None,
                    tracker_urls: vec![],
                    views: 0,
                    received_from: "https://b.example/accounts/u".into(),
                    storyboard: None,
                });
            }
            store.put_video(&v, Durability::Buffered).unwrap();
        }
        let subs = [ChannelRef::Local(1), ChannelRef::Remote(remote.clone())];
        assert_eq!(
            walk(&store, &subs, SortKey::PublishedAt, true),
            [3, 4, 1, 5]
        );
        assert_eq!(
            walk(&store, &subs, SortKey::PublishedAt, false),
            [5, 1, 4, 3]
        );
        assert_eq!(
            walk(&store, &[], SortKey::PublishedAt, true),
            Vec::<u64>::new()
        );
        assert_eq!(store.channel_video_count(&ChannelRef::Local(1)).unwrap(), 2);
        // A video made private leaves its channel's index; the walk stops when asked.
        let mut v = store.get(&VideoKey(3)).unwrap().unwrap();
        v.privacy = Privacy::Private;
        store.put_video(&v, Durability::Buffered).unwrap();
        assert_eq!(walk(&store, &subs, SortKey::PublishedAt, true), [4, 1, 5]);
        let mut first = vec![];
        store
            .walk_channels(&subs, SortKey::PublishedAt, true, |id| {
                first.push(id);
                Ok(false)
            })
            .unwrap();
        assert_eq!(first, [4]);
        assert_eq!(store.channel_video_count(&ChannelRef::Local(1)).unwrap(), 1);
    }

    /// A store written before schema 5 gets its channels' entries when it is opened.
    #[test]
    fn the_migration_indexes_the_videos_already_stored() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            for id in 1..=3 {
                store
                    .put_video(&Video::example(id, "v", id * 10), Durability::Sync)
                    .unwrap();
            }
            // As a schema-4 store has it: no per-channel entries.
            let mut batch = Batch::default();
            for (k, _) in store
                .raw_prefix(Cf::VideoIndex, &[CHANNEL_SORT], usize::MAX)
                .unwrap()
            {
                batch.raw(Cf::VideoIndex, k, None);
            }
            store.write(batch, Durability::Sync).unwrap();
            store
                .put(
                    &super::super::tables::SchemaVersionKey,
                    &4,
                    Durability::Sync,
                )
                .unwrap();
            let chan = ChannelRef::Local(Video::example(1, "v", 1).channel_id);
            assert_eq!(store.channel_video_count(&chan).unwrap(), 0);
        }
        let store = Store::open(dir.path()).unwrap();
        let chan = ChannelRef::Local(Video::example(1, "v", 1).channel_id);
        assert_eq!(store.channel_video_count(&chan).unwrap(), 3);
        assert_eq!(walk(&store, &[chan], SortKey::PublishedAt, true), [3, 2, 1]);
    }
}
