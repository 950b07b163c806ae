//! Secondary indexes of videos in the `video_index` column family, written in the same RocksDB
//! batch as the video record they describe, so a listing or a search is a bounded iterator walk
//! and never a scan of the `videos` table.
//!
//! # Layout (keys; values are empty unless said)
//! - `0x10 scope sort value id`: one entry per video and sort order. `scope` is
//!   [`Scope::Listed`] (published and public: what anonymous lists show) or [`Scope::All`]
//!   (every video, for administrators' `privacyOneOf`). `value` is big-endian (times, counts,
//!   duration in ms, the `hot` score × 10⁶) or the folded name, so byte order is sort order and a
//!   descending sort walks backwards. The id ends the key: ties break by id.
//! - `0x30 token 0x00 id` → [field mask (1 name, 2 tags, 4 description), listed (0/1)]: the
//!   inverted index of [`crate::video::text::tokens`] over every video; the listed byte lets
//!   an unfiltered search rank and count without reading records.
//! - `0x31 token 0x00 id`: the same over channels' handles and display names.
//! - `0x40 day id` → views counted that day (UTC day number), kept while the day is in the
//!   trending window.
//! - `0x50 scope` → how many videos the scope holds (the `total` of an unfiltered list).
//! - `0x60 user id` → `like` or `dislike`: one rating per user and video.
//! - `0x70` → the last day the trending window was moved to.
//! - `0x80 …`: the per-channel sort indexes ([`super::channel_index`]).
//!
//! # Trending and hot stay cheap
//! PeerTube's `trending` is the number of views over the last `TRENDING_DAYS` days. Each video's
//! [`VideoStats::window_views`] holds that sum and is indexed like any other counter; a view adds
//! one to it and to its day's `0x40` entry. When the day changes, [`Store::trending_tick`]
//! subtracts the days that left the window, walking only the `0x40` entries of those days: the
//! work is the number of videos viewed on an expired day, never the whole table. `hot`
//! (PeerTube's `log10(weighted likes, dislikes and window views) + publishedAt / 47000`) depends
//! only on the counters and the publication time, so it is rewritten with them; no clock moves
//! it. `best` is `hot` (PeerTube's `best` subtracts the viewer's own history, which Fleuve does
//! not keep).
//!
//! Every write of a video record goes through [`super::Batch::put_video`] or
//! [`super::Batch::delete_video`]: [`super::Store::write`] then reads the old record under the
//! index lock and adds the index changes (removed and added entries, counts) to the batch.

use super::codec::{decode_value, encode_value, tagged_u64, StoreError};
use super::tables::Channel;
use super::videos::VideoKey;
use super::{Batch, Cf, Durability, Store};
use crate::video::meta::VideoStats;
use crate::video::text::tokens;
use crate::video::Video;
use rocksdb::DBRawIteratorWithThreadMode;
use std::collections::{BTreeMap, BTreeSet};

/// Days of views that make a video's trending score (PeerTube's `trending.videos.interval_days`
/// default).
pub const TRENDING_DAYS: u64 = 7;

const SORT: u8 = 0x10;
/// `OWNER ++ owner ++ video id`: the local videos of each user (quota, their account's videos).
const OWNER: u8 = 0x20;
const TOKEN: u8 = 0x30;
const CHANNEL_TOKEN: u8 = 0x31;
const VIEW_DAY: u8 = 0x40;
const COUNT: u8 = 0x50;
const RATING: u8 = 0x60;
const TRENDING_DAY: u8 = 0x70;

/// Bytes of the folded name kept in its sort key.
const NAME_KEY_LEN: usize = 64;

/// Which videos a sort index holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Published and public: what lists show to anyone.
    Listed = 1,
    /// Every video, whatever its state or privacy.
    All = 2,
}

/// A sort order PeerTube accepts for videos.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// `publishedAt`.
    PublishedAt = 1,
    /// `createdAt`.
    CreatedAt = 2,
    /// `originallyPublishedAt` (the publication time when none was given).
    OriginallyPublishedAt = 3,
    /// `name` (folded: case and accents ignored).
    Name = 4,
    /// `duration`.
    Duration = 5,
    /// `views`.
    Views = 6,
    /// `likes`.
    Likes = 7,
    /// `trending`: views over the last [`TRENDING_DAYS`] days.
    Trending = 8,
    /// `hot` and `best`.
    Hot = 9,
}

impl SortKey {
    /// Every sort key, each with its index.
    pub const ALL: [SortKey; 9] = [
        SortKey::PublishedAt,
        SortKey::CreatedAt,
        SortKey::OriginallyPublishedAt,
        SortKey::Name,
        SortKey::Duration,
        SortKey::Views,
        SortKey::Likes,
        SortKey::Trending,
        SortKey::Hot,
    ];

    /// The key's PeerTube name (`-` prefix not included); `best` is read as `hot`.
    pub fn parse(name: &str) -> Option<SortKey> {
        Some(match name {
            "publishedAt" => SortKey::PublishedAt,
            "createdAt" => SortKey::CreatedAt,
            "originallyPublishedAt" => SortKey::OriginallyPublishedAt,
            "name" => SortKey::Name,
            "duration" => SortKey::Duration,
            "views" => SortKey::Views,
            "likes" => SortKey::Likes,
            "trending" => SortKey::Trending,
            "hot" | "best" => SortKey::Hot,
            _ => return None,
        })
    }

    /// The value bytes of `video` in this order.
    fn value(self, v: &Video, s: &VideoStats) -> Vec<u8> {
        let published = v.published_at.unwrap_or(v.created_at);
        let n = match self {
            SortKey::PublishedAt => published,
            SortKey::CreatedAt => v.created_at,
            SortKey::OriginallyPublishedAt => v.meta.originally_published_at.unwrap_or(published),
            SortKey::Duration => (v.duration.max(0.0) * 1000.0) as u64,
            SortKey::Views => views(v, s),
            SortKey::Likes => s.likes,
            SortKey::Trending => s.window_views,
            SortKey::Hot => (s.hot(published).max(0.0) * 1e6) as u64,
            SortKey::Name => {
                let mut name = crate::video::text::normalise(&v.name).into_bytes();
                name.truncate(NAME_KEY_LEN);
                name.retain(|b| *b != 0);
                name.push(0);
                return name;
            }
        };
        n.to_be_bytes().to_vec()
    }
}

/// The bytes `video` sorts by in order `key` (byte order is the order).
pub fn sort_value(key: SortKey, v: &Video, s: &VideoStats) -> Vec<u8> {
    key.value(v, s)
}

/// Views shown for a video: ours counted here, or its origin's count for a remote video.
pub fn views(v: &Video, s: &VideoStats) -> u64 {
    s.views.max(v.remote.as_ref().map_or(0, |r| r.views))
}

fn sort_prefix(scope: Scope, sort: SortKey) -> Vec<u8> {
    vec![SORT, scope as u8, sort as u8]
}

fn token_key(tag: u8, token: &str, id: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(token.len() + 10);
    k.push(tag);
    k.extend_from_slice(token.as_bytes());
    k.push(0);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

fn token_prefix(tag: u8, token: &str) -> Vec<u8> {
    let mut k = token_key(tag, token, 0);
    k.truncate(k.len() - 8);
    k
}

/// The last 8 bytes of an index key: the id it points to.
fn trailing_id(key: &[u8]) -> Option<u64> {
    let b: [u8; 8] = key.get(key.len().checked_sub(8)?..)?.try_into().ok()?;
    Some(u64::from_be_bytes(b))
}

/// The search tokens of a video with their field masks.
fn video_tokens(v: &Video) -> BTreeMap<String, u8> {
    let mut out = BTreeMap::new();
    let fields = [
        (1u8, v.name.clone()),
        (2, v.meta.tags.join(" ")),
        (4, v.description.clone().unwrap_or_default()),
    ];
    for (mask, text) in fields {
        for t in tokens(&text) {
            *out.entry(t).or_insert(0) |= mask;
        }
    }
    out
}

/// Every index entry (key → value) of a video with its counters.
fn entries(v: &Video, s: &VideoStats) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut out = BTreeMap::new();
    let scopes: &[Scope] = if v.is_listed() {
        &[Scope::Listed, Scope::All]
    } else {
        &[Scope::All]
    };
    for scope in scopes {
        for sort in SortKey::ALL {
            let mut k = sort_prefix(*scope, sort);
            k.extend_from_slice(&sort.value(v, s));
            k.extend_from_slice(&v.id.to_be_bytes());
            out.insert(k, Vec::new());
        }
    }
    if v.is_local() {
        out.insert(owner_key(v.owner, v.id), Vec::new());
    }
    let listed = u8::from(v.is_listed());
    for (t, mask) in video_tokens(v) {
        out.insert(token_key(TOKEN, &t, v.id), vec![mask, listed]);
    }
    super::channel_index::entries(v, s, &mut out);
    out
}

fn owner_key(owner: u64, id: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(17);
    k.push(OWNER);
    k.extend_from_slice(&owner.to_be_bytes());
    k.extend_from_slice(&id.to_be_bytes());
    k
}

fn is_listed(v: Option<&Video>) -> bool {
    v.is_some_and(Video::is_listed)
}

super::tables::u64_key!(
    /// `videos`: a video's audience counters (kept apart from its record: a view never rewrites
    /// the video).
    VideoStatsKey, Cf::Videos, 0x03, VideoStats
);

/// A change to a video record, applied with its index changes by [`Store::write`].
pub(super) enum VideoOp {
    /// The record after the change.
    Put(Box<Video>),
    /// The video removed.
    Delete(u64),
}

/// One entry of a token's postings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Posting {
    /// The video (or channel).
    pub id: u64,
    /// Where the token is: 1 name, 2 tags, 4 description.
    pub mask: u8,
    /// Whether the video is listed (published and public).
    pub listed: bool,
}

/// The state of one video while a batch's index changes are computed.
struct Current {
    video: Option<Video>,
    stats: VideoStats,
}

impl Store {
    fn current(&self, pending: &mut BTreeMap<u64, Current>, id: u64) -> Result<(), StoreError> {
        if let std::collections::btree_map::Entry::Vacant(e) = pending.entry(id) {
            let video = self.get(&VideoKey(id))?;
            let stats = self.get(&VideoStatsKey(id))?.unwrap_or_default();
            e.insert(Current { video, stats });
        }
        Ok(())
    }

    /// Turns the batch's video changes into record writes plus index changes. The caller holds
    /// the index lock until the batch is written.
    pub(super) fn expand_video_ops(
        &self,
        batch: &mut Batch,
        stats_changes: Vec<(u64, VideoStats)>,
    ) -> Result<(), StoreError> {
        let ops = std::mem::take(&mut batch.videos);
        let mut pending: BTreeMap<u64, Current> = BTreeMap::new();
        // Index entries before and after, per video.
        let mut before: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        let mut listed_delta: i64 = 0;
        let mut all_delta: i64 = 0;
        let mut touched = BTreeSet::new();
        let ids = ops
            .iter()
            .map(|op| match op {
                VideoOp::Put(v) => v.id,
                VideoOp::Delete(id) => *id,
            })
            .chain(stats_changes.iter().map(|(id, _)| *id));
        for id in ids {
            self.current(&mut pending, id)?;
            if touched.insert(id) {
                let c = &pending[&id];
                if let Some(v) = &c.video {
                    before.extend(entries(v, &c.stats));
                    listed_delta -= i64::from(is_listed(Some(v)));
                    all_delta -= 1;
                }
            }
        }
        for op in ops {
            match op {
                VideoOp::Put(v) => {
                    batch.put(self, &VideoKey(v.id), &v)?;
                    if let Some(c) = pending.get_mut(&v.id) {
                        c.video = Some(*v);
                    }
                }
                VideoOp::Delete(id) => {
                    batch.delete(self, &VideoKey(id));
                    batch.delete(self, &VideoStatsKey(id));
                    if let Some(c) = pending.get_mut(&id) {
                        c.video = None;
                    }
                }
            }
        }
        for (id, s) in stats_changes {
            if let Some(c) = pending.get_mut(&id) {
                if c.video.is_some() {
                    batch.put(self, &VideoStatsKey(id), &s)?;
                    c.stats = s;
                }
            }
        }
        let mut after = BTreeMap::new();
        for c in pending.values() {
            if let Some(v) = &c.video {
                after.extend(entries(v, &c.stats));
                listed_delta += i64::from(is_listed(Some(v)));
                all_delta += 1;
            }
        }
        for k in before.keys() {
            if !after.contains_key(k) {
                batch.raw(Cf::VideoIndex, k.clone(), None);
            }
        }
        for (k, v) in after {
            if before.get(&k) != Some(&v) {
                batch.raw(Cf::VideoIndex, k, Some(v));
            }
        }
        for (scope, delta) in [(Scope::Listed, listed_delta), (Scope::All, all_delta)] {
            if delta != 0 {
                let n = self.video_count(scope)? as i64 + delta;
                batch.raw(
                    Cf::VideoIndex,
                    vec![COUNT, scope as u8],
                    Some(encode_value(&(n.max(0) as u64))?),
                );
            }
        }
        Ok(())
    }

    /// How many videos a scope holds.
    pub fn video_count(&self, scope: Scope) -> Result<u64, StoreError> {
        match self.get_raw(Cf::VideoIndex, &[COUNT, scope as u8])? {
            Some(b) => decode_value(&b),
            None => Ok(0),
        }
    }

    /// A video's counters.
    pub fn video_stats(&self, id: u64) -> Result<VideoStats, StoreError> {
        Ok(self.get(&VideoStatsKey(id))?.unwrap_or_default())
    }

    /// Changes a video's counters (and their index entries) atomically, under the index lock;
    /// `f` may add other changes to the same batch (read-modify-writes of other keys belong
    /// there, under the lock). Counters of a video that does not exist are not written.
    fn update_stats(
        &self,
        id: u64,
        mut batch: Batch,
        f: impl FnOnce(&mut VideoStats, &mut Batch) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let _guard = self.index_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut stats = self.video_stats(id)?;
        f(&mut stats, &mut batch)?;
        self.expand_video_ops(&mut batch, vec![(id, stats)])?;
        self.write_unlocked(batch, Durability::Buffered)
    }

    /// Counts one view of video `id` on UTC day `day` (views and the trending window).
    pub fn record_view(&self, id: u64, day: u64) -> Result<(), StoreError> {
        self.trending_tick(day)?;
        self.update_stats(id, Batch::default(), |s, batch| {
            let key = view_day_key(day, id);
            let seen: u64 = match self.get_raw(Cf::VideoIndex, &key)? {
                Some(b) => decode_value(&b)?,
                None => 0,
            };
            batch.raw(Cf::VideoIndex, key, Some(encode_value(&(seen + 1))?));
            s.views += 1;
            s.window_views += 1;
            Ok(())
        })
    }

    /// Moves the trending window to end on `today`: the views of days that left it are
    /// subtracted from their videos' window counts. Work is proportional to the videos viewed
    /// on the days that left, not to the table.
    pub fn trending_tick(&self, today: u64) -> Result<(), StoreError> {
        // One tick at a time: two would subtract the same day twice.
        let _tick = self.tick_lock.lock().unwrap_or_else(|p| p.into_inner());
        let last: Option<u64> = match self.get_raw(Cf::VideoIndex, &[TRENDING_DAY])? {
            Some(b) => Some(decode_value(&b)?),
            None => None,
        };
        let Some(last) = last.filter(|l| *l < today) else {
            if last.is_none() {
                self.put_raw(Cf::VideoIndex, vec![TRENDING_DAY], &today)?;
            }
            return Ok(());
        };
        // Days in the window ending `last` but not in the one ending `today`.
        let first = (last + 1).saturating_sub(TRENDING_DAYS);
        let end = (today + 1).saturating_sub(TRENDING_DAYS).min(last + 1);
        for day in first..end {
            let prefix = tagged_u64(VIEW_DAY, day);
            for (key, value) in self.raw_prefix(Cf::VideoIndex, &prefix, usize::MAX)? {
                let (Some(id), n) = (trailing_id(&key), decode_value::<u64>(&value)?) else {
                    continue;
                };
                let mut batch = Batch::default();
                batch.raw(Cf::VideoIndex, key, None);
                self.update_stats(id, batch, |s, _| {
                    s.window_views = s.window_views.saturating_sub(n);
                    Ok(())
                })?;
            }
        }
        self.put_raw(Cf::VideoIndex, vec![TRENDING_DAY], &today)
    }

    /// A user's rating of a video: `Some(true)` like, `Some(false)` dislike.
    pub fn rating(&self, user: u64, video: u64) -> Result<Option<bool>, StoreError> {
        match self.get_raw(Cf::VideoIndex, &rating_key(user, video))? {
            Some(b) => decode_value(&b),
            None => Ok(None),
        }
    }

    /// The videos `user` rated (when the user goes, their ratings go with them).
    pub fn rated_by(&self, user: u64) -> Result<Vec<u64>, StoreError> {
        let prefix = tagged_u64(RATING, user);
        Ok(self
            .raw_prefix(Cf::VideoIndex, &prefix, usize::MAX)?
            .into_iter()
            .filter_map(|(k, _)| Some(u64::from_be_bytes(k.get(prefix.len()..)?.try_into().ok()?)))
            .collect())
    }

    /// Sets (or with `None` removes) a user's rating, adjusting the video's counters.
    pub fn rate(&self, user: u64, video: u64, rating: Option<bool>) -> Result<(), StoreError> {
        let _serial = self.rating_lock.lock().unwrap_or_else(|p| p.into_inner());
        let old = self.rating(user, video)?;
        if old == rating {
            return Ok(());
        }
        let mut batch = Batch::default();
        let key = rating_key(user, video);
        match rating {
            Some(r) => batch.raw(Cf::VideoIndex, key, Some(encode_value(&Some(r))?)),
            None => batch.raw(Cf::VideoIndex, key, None),
        }
        self.update_stats(video, batch, |s, _| {
            match old {
                Some(true) => s.likes = s.likes.saturating_sub(1),
                Some(false) => s.dislikes = s.dislikes.saturating_sub(1),
                None => {}
            }
            match rating {
                Some(true) => s.likes += 1,
                Some(false) => s.dislikes += 1,
                None => {}
            }
            Ok(())
        })
    }

    /// Walks a sort index from its start (`desc`: from its end), calling `visit` with each
    /// video id until it returns false. Keys only: records are read by the caller.
    pub fn walk_sorted(
        &self,
        scope: Scope,
        sort: SortKey,
        desc: bool,
        mut visit: impl FnMut(u64) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let prefix = sort_prefix(scope, sort);
        let open = self.open_db()?;
        let mut it: DBRawIteratorWithThreadMode<'_, rocksdb::DB> =
            open.db().raw_iterator_cf(open.cf(Cf::VideoIndex));
        if desc {
            let mut end = prefix.clone();
            *end.last_mut().expect("non-empty prefix") += 1;
            it.seek_for_prev(&end);
            if it.key() == Some(&end[..]) {
                it.prev();
            }
        } else {
            it.seek(&prefix);
        }
        while let Some(k) = it.key() {
            if !k.starts_with(&prefix) {
                break;
            }
            let Some(id) = trailing_id(k) else { break };
            if !visit(id)? {
                return Ok(());
            }
            if desc {
                it.prev();
            } else {
                it.next();
            }
        }
        it.status()?;
        Ok(())
    }

    /// The videos whose text holds `token` (or, with `prefix`, a token starting with it), with
    /// their field masks; at most `limit` postings are read.
    pub fn token_postings(
        &self,
        token: &str,
        prefix: bool,
        limit: usize,
    ) -> Result<Vec<Posting>, StoreError> {
        self.postings(TOKEN, token, prefix, limit)
    }

    /// The channels whose handle or display name holds `token` (see [`Self::token_postings`]).
    pub fn channel_postings(
        &self,
        token: &str,
        prefix: bool,
        limit: usize,
    ) -> Result<Vec<u64>, StoreError> {
        Ok(self
            .postings(CHANNEL_TOKEN, token, prefix, limit)?
            .into_iter()
            .map(|p| p.id)
            .collect())
    }

    fn postings(
        &self,
        tag: u8,
        token: &str,
        prefix: bool,
        limit: usize,
    ) -> Result<Vec<Posting>, StoreError> {
        let exact = token_prefix(tag, token);
        let scan = if prefix {
            &exact[..exact.len() - 1]
        } else {
            &exact[..]
        };
        Ok(self
            .raw_prefix(Cf::VideoIndex, scan, limit)?
            .into_iter()
            .filter(|(k, _)| prefix || k.len() == exact.len() + 8)
            .filter_map(|(k, v)| {
                Some(Posting {
                    id: trailing_id(&k)?,
                    mask: v.first().copied().unwrap_or(0),
                    listed: v.get(1) == Some(&1),
                })
            })
            .collect())
    }

    /// The ids of `owner`'s local videos, oldest first (a prefix walk of their own entries).
    pub fn videos_of_owner(&self, owner: u64) -> Result<Vec<u64>, StoreError> {
        let mut prefix = vec![OWNER];
        prefix.extend_from_slice(&owner.to_be_bytes());
        Ok(self
            .raw_prefix(Cf::VideoIndex, &prefix, usize::MAX)?
            .into_iter()
            .filter_map(|(k, _)| k.get(9..17)?.try_into().ok().map(u64::from_be_bytes))
            .collect())
    }

    /// Adds the owner entries of the local videos (the migration to schema 3: stores indexed
    /// before them have the rest).
    pub fn index_owners(&self) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        for (_, v) in self.scan::<VideoKey>(&())? {
            if v.is_local() {
                batch.raw(Cf::VideoIndex, owner_key(v.owner, v.id), Some(Vec::new()));
            }
        }
        self.write(batch, Durability::Sync)
    }

    /// Adds the owner entries of the channels (the migration to schema 4).
    pub fn index_channel_owners(&self) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        for (_, c) in self.scan::<super::tables::ChannelKey>(&())? {
            let key = super::tables::ChannelByOwnerKey {
                owner: c.owner,
                channel: c.id,
            };
            batch.put(self, &key, &())?;
        }
        self.write(batch, Durability::Sync)
    }

    /// The channels of the local user `owner`, oldest first.
    pub fn channels_of(&self, owner: u64) -> Result<Vec<super::tables::Channel>, StoreError> {
        let mut out = Vec::new();
        for (k, ()) in self.scan::<super::tables::ChannelByOwnerKey>(&owner)? {
            if let Some(c) = self.get(&super::tables::ChannelKey(k.channel))? {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// Indexes every video and channel again (the migration to schema 2, and repairs).
    pub fn reindex_videos(&self) -> Result<(), StoreError> {
        self.reindex_all()?;
        self.compact(Cf::VideoIndex)
    }

    fn reindex_all(&self) -> Result<(), StoreError> {
        for (_, c) in self.scan::<super::tables::ChannelKey>(&())? {
            let mut batch = Batch::default();
            index_channel(&mut batch, &c);
            self.write(batch, Durability::Buffered)?;
        }
        let ids: Vec<u64> = self
            .scan::<VideoKey>(&())?
            .into_iter()
            .map(|(k, _)| k.0)
            .collect();
        for chunk in ids.chunks(256) {
            let mut batch = Batch::default();
            for id in chunk {
                // Re-putting the same record indexes it: its old entries are computed from the
                // record as stored, and a missing entry is simply written.
                if let Some(v) = self.get(&VideoKey(*id))? {
                    batch.put_video(&v);
                }
            }
            self.write_reindex(batch)?;
        }
        Ok(())
    }

    /// Writes a batch whose video records are to be indexed from scratch (no old entries).
    fn write_reindex(&self, mut batch: Batch) -> Result<(), StoreError> {
        let _guard = self.index_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut listed = self.video_count(Scope::Listed)?;
        let mut all = self.video_count(Scope::All)?;
        for op in std::mem::take(&mut batch.videos) {
            if let VideoOp::Put(v) = op {
                let s = self.video_stats(v.id)?;
                for (k, val) in entries(&v, &s) {
                    batch.raw(Cf::VideoIndex, k, Some(val));
                }
                listed += u64::from(v.is_listed());
                all += 1;
            }
        }
        batch.raw(
            Cf::VideoIndex,
            vec![COUNT, Scope::Listed as u8],
            Some(encode_value(&listed)?),
        );
        batch.raw(
            Cf::VideoIndex,
            vec![COUNT, Scope::All as u8],
            Some(encode_value(&all)?),
        );
        self.write_unlocked(batch, Durability::Sync)
    }
}

/// Adds a channel's search tokens to a batch (channels are only created, never renamed).
pub fn index_channel(batch: &mut Batch, c: &Channel) {
    for t in channel_tokens(c) {
        batch.raw(
            Cf::VideoIndex,
            token_key(CHANNEL_TOKEN, &t, c.id),
            Some(vec![]),
        );
    }
}

/// Removes a channel's search tokens (the channel goes).
pub fn unindex_channel(batch: &mut Batch, c: &Channel) {
    for t in channel_tokens(c) {
        batch.raw(Cf::VideoIndex, token_key(CHANNEL_TOKEN, &t, c.id), None);
    }
}

fn channel_tokens(c: &Channel) -> BTreeSet<String> {
    let text = format!("{} {}", c.name.replace('_', " "), c.display_name);
    tokens(&text)
        .into_iter()
        .chain(std::iter::once(c.name.to_lowercase()))
        .filter(|t| t.len() <= crate::video::text::MAX_TOKEN)
        .collect()
}

fn view_day_key(day: u64, id: u64) -> Vec<u8> {
    let mut k = tagged_u64(VIEW_DAY, day);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

fn rating_key(user: u64, video: u64) -> Vec<u8> {
    let mut k = tagged_u64(RATING, user);
    k.extend_from_slice(&video.to_be_bytes());
    k
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::video::{Privacy, VideoState};

    fn open() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("meta")).unwrap();
        (dir, store)
    }

    fn put(store: &Store, v: &Video) {
        store.put_video(v, Durability::Buffered).unwrap();
    }

    fn walk(store: &Store, scope: Scope, sort: SortKey, desc: bool) -> Vec<u64> {
        let mut ids = vec![];
        store
            .walk_sorted(scope, sort, desc, |id| {
                ids.push(id);
                Ok(true)
            })
            .unwrap();
        ids
    }

    #[test]
    fn sort_indexes_follow_every_change_of_the_record() {
        let (_d, store) = open();
        for (id, name, at, dur) in [
            (1, "Zèbre", 300, 5.0),
            (2, "apple", 100, 50.0),
            (3, "Émile", 200, 0.5),
        ] {
            let mut v = Video::example(id, name, at);
            v.duration = dur;
            put(&store, &v);
        }
        assert_eq!(
            walk(&store, Scope::Listed, SortKey::PublishedAt, true),
            [1, 3, 2]
        );
        assert_eq!(
            walk(&store, Scope::Listed, SortKey::PublishedAt, false),
            [2, 3, 1]
        );
        assert_eq!(walk(&store, Scope::Listed, SortKey::Name, false), [2, 3, 1]);
        assert_eq!(
            walk(&store, Scope::Listed, SortKey::Duration, true),
            [2, 1, 3]
        );
        assert_eq!(store.video_count(Scope::Listed).unwrap(), 3);
        // Private: out of the listed scope, still in the admins' one; old entries gone.
        let mut v = store.get(&VideoKey(1)).unwrap().unwrap();
        v.privacy = Privacy::Private;
        v.name = "aaa".into();
        put(&store, &v);
        assert_eq!(walk(&store, Scope::Listed, SortKey::Name, false), [2, 3]);
        assert_eq!(walk(&store, Scope::All, SortKey::Name, false), [1, 2, 3]);
        assert_eq!(store.video_count(Scope::Listed).unwrap(), 2);
        assert_eq!(store.video_count(Scope::All).unwrap(), 3);
        // Not yet published: not listed.
        let mut t = Video::example(4, "new", 400);
        t.state = VideoState::ToTranscode;
        put(&store, &t);
        assert_eq!(store.video_count(Scope::Listed).unwrap(), 2);
        // Deleted: every entry and its search tokens go.
        let mut b = Batch::default();
        b.delete_video(2);
        store.write(b, Durability::Buffered).unwrap();
        assert_eq!(
            walk(&store, Scope::All, SortKey::CreatedAt, false),
            [3, 1, 4]
        );
        assert!(store.token_postings("apple", false, 10).unwrap().is_empty());
        let emile = Posting {
            id: 3,
            mask: 1,
            listed: true,
        };
        assert_eq!(store.token_postings("emile", false, 10).unwrap(), [emile]);
        assert_eq!(store.token_postings("emi", true, 10).unwrap(), [emile]);
        let private = store.token_postings("aaa", false, 10).unwrap();
        assert_eq!(
            private.iter().map(|p| (p.id, p.listed)).collect::<Vec<_>>(),
            [(1, false)]
        );
        assert_eq!(store.video_count(Scope::All).unwrap(), 3);
    }

    #[test]
    fn trending_counts_the_window_and_forgets_expired_days() {
        let (_d, store) = open();
        for id in 1..=3 {
            put(&store, &Video::example(id, "v", id));
        }
        let day = 20_000;
        store.record_view(1, day).unwrap();
        store.record_view(1, day).unwrap();
        store.record_view(2, day + 1).unwrap();
        assert_eq!(
            walk(&store, Scope::Listed, SortKey::Trending, true),
            [1, 2, 3]
        );
        assert_eq!(walk(&store, Scope::Listed, SortKey::Views, true), [1, 2, 3]);
        // Day `day` leaves the window: video 1 keeps its views but not its trend.
        store.trending_tick(day + TRENDING_DAYS).unwrap();
        assert_eq!(store.video_stats(1).unwrap().window_views, 0);
        assert_eq!(store.video_stats(1).unwrap().views, 2);
        assert_eq!(store.video_stats(2).unwrap().window_views, 1);
        assert_eq!(
            walk(&store, Scope::Listed, SortKey::Trending, true),
            [2, 3, 1]
        );
        assert_eq!(walk(&store, Scope::Listed, SortKey::Views, true), [1, 2, 3]);
        // A long pause expires everything, once.
        store.trending_tick(day + 100).unwrap();
        assert_eq!(store.video_stats(2).unwrap().window_views, 0);
        assert!(store
            .raw_prefix(Cf::VideoIndex, &[VIEW_DAY], 10)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn concurrent_views_all_count_and_all_expire() {
        let (_d, store) = open();
        put(&store, &Video::example(1, "v", 1));
        let day = 20_000;
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..250 {
                        store.record_view(1, day).unwrap();
                    }
                });
            }
        });
        let st = store.video_stats(1).unwrap();
        assert_eq!((st.views, st.window_views), (1000, 1000));
        store.trending_tick(day + TRENDING_DAYS).unwrap();
        assert_eq!(store.video_stats(1).unwrap().window_views, 0);
    }

    #[test]
    fn one_rating_per_user_moves_the_counters() {
        let (_d, store) = open();
        put(&store, &Video::example(1, "a", 1));
        put(&store, &Video::example(2, "b", 2));
        store.rate(10, 1, Some(true)).unwrap();
        store.rate(10, 1, Some(true)).unwrap();
        store.rate(11, 1, Some(false)).unwrap();
        let s = store.video_stats(1).unwrap();
        assert_eq!((s.likes, s.dislikes), (1, 1));
        assert_eq!(walk(&store, Scope::Listed, SortKey::Likes, true), [1, 2]);
        store.rate(10, 1, Some(false)).unwrap();
        store.rate(11, 1, None).unwrap();
        let s = store.video_stats(1).unwrap();
        assert_eq!((s.likes, s.dislikes), (0, 1));
        assert_eq!(store.rating(10, 1).unwrap(), Some(false));
        assert_eq!(store.rating(11, 1).unwrap(), None);
        assert_eq!(walk(&store, Scope::Listed, SortKey::Likes, true), [2, 1]);
    }

    #[test]
    fn a_schema_1_store_is_indexed_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta");
        let store = Store::open(&path).unwrap();
        // As a schema-1 Fleuve wrote them: records without index entries.
        for id in 1..=3 {
            let v = Video::example(id, &format!("old video {id}"), id);
            store.put(&VideoKey(id), &v, Durability::Sync).unwrap();
        }
        let c = crate::store::tables::Channel {
            id: 1,
            name: "root_channel".into(),
            display_name: "Main root channel".into(),
            owner: 1,
            created_at: 0,
            description: None,
            support: None,
            updated_at: 0,
        };
        store
            .put(&crate::store::tables::ChannelKey(1), &c, Durability::Sync)
            .unwrap();
        store
            .put(
                &crate::store::tables::SchemaVersionKey,
                &1,
                Durability::Sync,
            )
            .unwrap();
        assert!(walk(&store, Scope::Listed, SortKey::Name, false).is_empty());
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(
            walk(&store, Scope::Listed, SortKey::PublishedAt, true),
            [3, 2, 1]
        );
        assert_eq!(store.video_count(Scope::Listed).unwrap(), 3);
        assert_eq!(store.token_postings("old", false, 10).unwrap().len(), 3);
        assert_eq!(store.channel_postings("root", false, 10).unwrap(), [1]);
        assert_eq!(store.videos_of_owner(1).unwrap(), [1, 2, 3]);
    }

    #[test]
    fn each_owner_has_its_local_videos() {
        let (_d, store) = open();
        let mut theirs = Video::example(2, "theirs", 2);
        theirs.owner = 7;
        put(&store, &Video::example(1, "mine", 1));
        put(&store, &theirs);
        put(&store, &Video::example(3, "mine too", 3));
        assert_eq!(store.videos_of_owner(1).unwrap(), [1, 3]);
        assert_eq!(store.videos_of_owner(7).unwrap(), [2]);
        assert!(store.videos_of_owner(8).unwrap().is_empty());
        let mut b = Batch::default();
        b.delete_video(1);
        store.write(b, Durability::Sync).unwrap();
        assert_eq!(store.videos_of_owner(1).unwrap(), [3]);
    }

    #[test]
    fn a_schema_2_store_gets_its_owner_entries_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta");
        let store = Store::open(&path).unwrap();
        for id in 1..=2 {
            put(&store, &Video::example(id, "v", id));
        }
        // As schema 2 left it: every index entry but the owner's.
        let mut b = Batch::default();
        for id in 1..=2 {
            b.raw(Cf::VideoIndex, owner_key(1, id), None);
        }
        store.write(b, Durability::Sync).unwrap();
        assert!(store.videos_of_owner(1).unwrap().is_empty());
        store
            .put(
                &crate::store::tables::SchemaVersionKey,
                &2,
                Durability::Sync,
            )
            .unwrap();
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.videos_of_owner(1).unwrap(), [1, 2]);
        assert_eq!(
            store.video_count(Scope::All).unwrap(),
            2,
            "counts untouched"
        );
    }

    #[test]
    fn a_schema_3_store_gets_its_channel_owners_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta");
        let store = Store::open(&path).unwrap();
        for (id, owner) in [(1, 1), (2, 5), (3, 1)] {
            let c = crate::store::tables::Channel {
                id,
                name: format!("c{id}"),
                display_name: format!("C{id}"),
                owner,
                created_at: 0,
                description: None,
                support: None,
                updated_at: 0,
            };
            // As schema 3 wrote them: the record only.
            store
                .put(&crate::store::tables::ChannelKey(id), &c, Durability::Sync)
                .unwrap();
        }
        assert!(store.channels_of(1).unwrap().is_empty());
        store
            .put(
                &crate::store::tables::SchemaVersionKey,
                &3,
                Durability::Sync,
            )
            .unwrap();
        drop(store);
        let store = Store::open(&path).unwrap();
        let ids = |o| -> Vec<u64> { store.channels_of(o).unwrap().iter().map(|c| c.id).collect() };
        assert_eq!(ids(1), [1, 3]);
        assert_eq!(ids(5), [2]);
    }
}
