//! Metadata in RocksDB: one instance at `<data_dir>/meta`, one column family per table, a schema
//! version with migrations at open. Only this module (through [`codec`] and [`tables`]) knows how
//! keys and values are laid out on disk.

pub(crate) mod abuses;
pub(crate) mod actors;
pub mod channel_index;
pub(crate) mod codec;
pub(crate) mod comments;
pub mod federation;
mod lock;
pub(crate) mod playlists;
pub mod redundancy;
pub mod subscriptions;
pub mod tables;
pub mod video_index;
pub mod videos;

pub use codec::{Key, StoreError};
pub use lock::DataDirLock;

use rocksdb::{
    ColumnFamilyDescriptor, Direction, IteratorMode, Options, WriteBatch, WriteOptions, DB,
};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock, RwLockReadGuard};
use std::time::SystemTime;

/// The schema version this build writes. Bump it together with a new entry in [`MIGRATIONS`].
pub const SCHEMA_VERSION: u32 = 5;

/// Column families, one per table (ARCHITECTURE §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cf {
    /// Video records.
    Videos,
    /// Renditions, playlists, torrents, hashes.
    Files,
    /// Channels (PeerTube `VideoChannel`).
    Channels,
    /// Users and their accounts.
    Accounts,
    /// Transcode jobs.
    Jobs,
    /// Index of jobs by state.
    JobsByState,
    /// Local and remote ActivityPub actors and keys.
    Actors,
    /// Follow relations.
    Follows,
    /// Outgoing federation deliveries.
    Deliveries,
    /// Seen inbox activity ids (dedupe).
    InboxSeen,
    /// Verified incoming activities waiting to be processed.
    Inbox,
    /// Tracker allowlist: info-hash to file.
    Infohashes,
    /// Resumable upload sessions.
    Uploads,
    /// OAuth clients and tokens.
    Oauth,
    /// Schema version and id sequences.
    Meta,
    /// Comments on videos, and their index by ActivityPub id.
    Comments,
    /// Caption tracks of videos.
    Captions,
    /// Chapters of videos.
    Chapters,
    /// Secondary indexes of videos: sort orders, search tokens, view days, ratings
    /// ([`video_index`]).
    VideoIndex,
}

impl Cf {
    /// All column families, in creation order.
    pub const ALL: [Cf; 19] = [
        Cf::Videos,
        Cf::Files,
        Cf::Channels,
        Cf::Accounts,
        Cf::Jobs,
        Cf::JobsByState,
        Cf::Actors,
        Cf::Follows,
        Cf::Deliveries,
        Cf::InboxSeen,
        Cf::Infohashes,
        Cf::Uploads,
        Cf::Oauth,
        Cf::Meta,
        Cf::Inbox,
        Cf::Comments,
        Cf::Captions,
        Cf::Chapters,
        Cf::VideoIndex,
    ];

    /// The column family's name on disk.
    pub fn name(self) -> &'static str {
        match self {
            Cf::Videos => "videos",
            Cf::Files => "files",
            Cf::Channels => "channels",
            Cf::Accounts => "accounts",
            Cf::Jobs => "jobs",
            Cf::JobsByState => "jobs_by_state",
            Cf::Actors => "actors",
            Cf::Follows => "follows",
            Cf::Deliveries => "deliveries",
            Cf::InboxSeen => "inbox_seen",
            Cf::Inbox => "inbox",
            Cf::Infohashes => "infohashes",
            Cf::Uploads => "uploads",
            Cf::Oauth => "oauth",
            Cf::Meta => "meta",
            Cf::Comments => "comments",
            Cf::Captions => "captions",
            Cf::Chapters => "chapters",
            Cf::VideoIndex => "video_index",
        }
    }
}

/// How hard a write must reach the disk before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync the WAL (accounts, jobs, anything a user would miss after a power cut).
    Sync,
    /// Written to the WAL without fsync: survives a process crash, not a power cut.
    Buffered,
}

/// A migration from version `n` to `n + 1` (index `n - 1` in [`MIGRATIONS`]).
pub type Migration = fn(&Store) -> Result<(), StoreError>;

/// Migrations, in order: `MIGRATIONS[0]` takes version 1 to 2, and so on.
pub const MIGRATIONS: &[Migration] = &[
    // 1 → 2: the `video_index` column family (sort orders, search tokens) for existing videos.
    Store::reindex_videos,
    // 2 → 3: each user's local videos in `video_index` (quotas without a walk of every video).
    Store::index_owners,
    // 3 → 4: each user's channels (`/users/me` without a walk of every channel).
    Store::index_channel_owners,
    // 4 → 5: each channel's listed videos in `video_index` (subscription feeds, video counts).
    Store::index_video_channels,
];

/// Whether the store takes writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Reads and writes work.
    Writable,
    /// A write failed (RocksDB then refuses every write until the database is reopened).
    ReadOnly {
        /// What the failed write said.
        error: String,
        /// When it failed.
        since: SystemTime,
    },
}

/// The metadata store.
///
/// A write that fails for lack of disk space (or any I/O error) leaves RocksDB refusing every
/// later write until the database is reopened (its C API has no `Resume`). The store records
/// that as [`Health::ReadOnly`], keeps serving reads, and [`Store::reopen`] (called by the
/// engine once the disk has room again) brings writes back without a restart.
pub struct Store {
    db: RwLock<Option<DB>>,
    /// The open database's block cache (for its usage).
    cache: Mutex<rocksdb::Cache>,
    path: PathBuf,
    ids: Mutex<()>,
    health: Mutex<Health>,
    /// Held while a batch with video changes computes and writes its index changes.
    index_lock: Mutex<()>,
    /// Serialises rating changes (read the old rating, write the new one).
    rating_lock: Mutex<()>,
    /// Serialises moves of the trending window.
    tick_lock: Mutex<()>,
}

/// A read lock on the open database.
struct Open<'a>(RwLockReadGuard<'a, Option<DB>>);

impl Open<'_> {
    fn db(&self) -> &DB {
        // Checked non-empty when the guard was taken (`Store::open_db`).
        self.0.as_ref().expect("checked open")
    }

    fn cf(&self, cf: Cf) -> &rocksdb::ColumnFamily {
        // Every Cf is created at open, so the handle always exists.
        self.db()
            .cf_handle(cf.name())
            .expect("column family created at open")
    }
}

/// Bytes all memtables together may hold before the largest is flushed.
const MEMTABLES_TOTAL: usize = 32 << 20;
/// Bytes one column family's memtable may hold before it is flushed.
const MEMTABLE_PER_CF: usize = 8 << 20;

/// The block cache all column families share. Without one, RocksDB gives each table factory
/// its own 32 MiB, which SST reads fill over days; metadata's hot blocks are few.
const BLOCK_CACHE: usize = 16 << 20;

/// Level-0 files of a column family that start a compaction into level 1 (RocksDB's default is
/// 4). Memtables are flushed small and now and then ([`MemtableFlusher`]); merging every second
/// file keeps a column family at about two SST files, so open files (every SST stays open) and
/// their index blocks do not grow with the hours.
const L0_COMPACTION_TRIGGER: i32 = 2;

/// Memtable of `video_index`: its counter entries move on every view and rating, and a
/// descending walk skips the tombstones they leave until a flush and compaction drop them.
const MEMTABLE_VIDEO_INDEX: usize = 2 << 20;

/// A column family's options: `video_index` gets a small memtable and compacts files where
/// deletions pile up (at least 256 in any 1 024 consecutive entries), so the heads of its
/// sort orders stay cheap to walk.
fn cf_options(cf: Cf, base: &Options) -> Options {
    let mut o = base.clone();
    if cf == Cf::VideoIndex {
        o.set_write_buffer_size(MEMTABLE_VIDEO_INDEX);
        o.add_compact_on_deletion_collector_factory(1024, 256, 0.25);
    }
    o
}

fn open_db(path: &Path) -> Result<(DB, rocksdb::Cache), StoreError> {
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    opts.set_keep_log_file_num(4);
    // Memtables are memory that only a flush gives back. Metadata is small and written slowly,
    // so bound them for the whole store (RocksDB's defaults allow 64 MiB per column family,
    // over a GiB for our sixteen): past the total, the largest memtable is flushed.
    opts.set_db_write_buffer_size(MEMTABLES_TOTAL);
    opts.set_max_total_wal_size(MEMTABLES_TOTAL as u64);
    let cache = rocksdb::Cache::new_lru_cache(BLOCK_CACHE);
    let mut table = rocksdb::BlockBasedOptions::default();
    table.set_block_cache(&cache);
    opts.set_block_based_table_factory(&table);
    let mut cf_opts = Options::default();
    cf_opts.set_write_buffer_size(MEMTABLE_PER_CF);
    cf_opts.set_level_zero_file_num_compaction_trigger(L0_COMPACTION_TRIGGER);
    cf_opts.set_block_based_table_factory(&table);
    let cfs = Cf::ALL
        .iter()
        .map(|cf| ColumnFamilyDescriptor::new(cf.name(), cf_options(*cf, &cf_opts)));
    let db = DB::open_cf_descriptors(&opts, path, cfs).map_err(|e| StoreError::Open {
        path: path.to_owned(),
        message: e.into_string(),
    })?;
    Ok((db, cache))
}

/// What the store holds in memory (`/metrics`: `fleuve_store_memory_bytes`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreMemory {
    /// Memtables, active and waiting to be flushed, of every column family.
    pub memtables: u64,
    /// The shared block cache.
    pub block_cache: u64,
    /// Index and filter blocks of open SST files held outside the cache.
    pub table_readers: u64,
}

/// When memtables are flushed between RocksDB's own size limits (`engine.store_flush_secs`):
/// metadata is written slowly, so a memtable could hold hours of small writes (memory, and a
/// WAL that a restart replays). A column family is flushed once its active memtable has held
/// writes for `max_age`; a quiet one is left alone, and a busy one fills its memtable
/// (`MEMTABLE_PER_CF`) and is flushed by RocksDB before that. Each flush is an SST file.
#[derive(Debug)]
pub struct MemtableFlusher {
    max_age: std::time::Duration,
    dirty_since: [Option<std::time::Instant>; Cf::ALL.len()],
}

impl MemtableFlusher {
    /// A flusher for memtables that may hold writes for `max_age`.
    pub fn new(max_age: std::time::Duration) -> MemtableFlusher {
        MemtableFlusher {
            max_age,
            dirty_since: [None; Cf::ALL.len()],
        }
    }

    /// How often [`MemtableFlusher::pass`] should run: to flush at most a tenth of `max_age`
    /// (and a minute) late.
    pub fn period(&self) -> std::time::Duration {
        (self.max_age / 10).clamp(
            std::time::Duration::from_secs(1),
            std::time::Duration::from_secs(60),
        )
    }

    /// Flushes the column families whose memtable is due at `now`; returns how many.
    pub fn pass(&mut self, store: &Store, now: std::time::Instant) -> Result<usize, StoreError> {
        let mut flushed = 0;
        for (i, cf) in Cf::ALL.iter().enumerate() {
            if store.active_memtable_entries(*cf)? == 0 {
                self.dirty_since[i] = None;
                continue;
            }
            let since = *self.dirty_since[i].get_or_insert(now);
            if now.saturating_duration_since(since) >= self.max_age {
                store.flush_cf(*cf)?;
                self.dirty_since[i] = None;
                flushed += 1;
            }
        }
        Ok(flushed)
    }
}

impl Store {
    /// Opens (or creates) the store at `path`, creating every column family and running
    /// migrations. Fails with [`StoreError::NewerSchema`] on a store written by a newer Fleuve.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let (db, cache) = open_db(path)?;
        let store = Store {
            db: RwLock::new(Some(db)),
            cache: Mutex::new(cache),
            path: path.to_owned(),
            ids: Mutex::new(()),
            health: Mutex::new(Health::Writable),
            index_lock: Mutex::new(()),
            rating_lock: Mutex::new(()),
            tick_lock: Mutex::new(()),
        };
        store.check_schema()?;
        Ok(store)
    }

    /// Where the store lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the store takes writes now.
    pub fn health(&self) -> Health {
        self.health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Closes and reopens the database (after a failed write, once the disk has room again).
    /// On success writes work again; on failure the store stays closed and says why.
    pub fn reopen(&self) -> Result<(), StoreError> {
        let mut db = self.db.write().unwrap_or_else(|p| p.into_inner());
        // The old instance must be closed first: RocksDB locks its directory.
        drop(db.take());
        let (fresh, cache) = open_db(&self.path)?;
        *db = Some(fresh);
        *self.cache.lock().unwrap_or_else(|p| p.into_inner()) = cache;
        drop(db);
        *self.health.lock().unwrap_or_else(|p| p.into_inner()) = Health::Writable;
        tracing::info!(path = %self.path.display(), "metadata store reopened; writes resumed");
        Ok(())
    }

    fn open_db(&self) -> Result<Open<'_>, StoreError> {
        let guard = self.db.read().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            return Err(StoreError::Closed(match self.health() {
                Health::ReadOnly { error, .. } => error,
                Health::Writable => "reopening".into(),
            }));
        }
        Ok(Open(guard))
    }

    /// Records the outcome of a write: a failure makes the store read-only until reopened.
    fn note_write(&self, result: Result<(), rocksdb::Error>) -> Result<(), StoreError> {
        match result {
            Ok(()) => {
                let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
                if *h != Health::Writable {
                    *h = Health::Writable;
                }
                Ok(())
            }
            Err(e) if e.kind() == rocksdb::ErrorKind::IOError => {
                let message = e.to_string();
                let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
                if *h == Health::Writable {
                    tracing::error!(error = %message, "a metadata write failed; the store is read-only until the disk has room again");
                    *h = Health::ReadOnly {
                        error: message.clone(),
                        since: SystemTime::now(),
                    };
                }
                Err(StoreError::ReadOnly(message))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn check_schema(&self) -> Result<(), StoreError> {
        let found = self.get(&tables::SchemaVersionKey)?;
        let mut version = match found {
            None => {
                self.put(&tables::SchemaVersionKey, &SCHEMA_VERSION, Durability::Sync)?;
                return Ok(());
            }
            Some(v) => v,
        };
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                path: self.path.clone(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        while version < SCHEMA_VERSION {
            let migrate = MIGRATIONS
                .get(version as usize - 1)
                .ok_or(StoreError::MissingMigration { from: version })?;
            tracing::info!(from = version, to = version + 1, "migrating metadata store");
            migrate(self)?;
            version += 1;
            self.put(&tables::SchemaVersionKey, &version, Durability::Sync)?;
        }
        Ok(())
    }

    /// Reads one record.
    pub fn get<K: Key>(&self, key: &K) -> Result<Option<K::Value>, StoreError> {
        let open = self.open_db()?;
        let found = open.db().get_pinned_cf(open.cf(K::CF), key.encode())?;
        match found {
            None => Ok(None),
            Some(bytes) => codec::decode_value(&bytes).map(Some),
        }
    }

    /// Writes one record.
    pub fn put<K: Key>(
        &self,
        key: &K,
        value: &K::Value,
        durability: Durability,
    ) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        batch.put(self, key, value)?;
        self.write(batch, durability)
    }

    /// Applies a batch atomically, with the index changes of its video records
    /// ([`video_index`]).
    pub fn write(&self, mut batch: Batch, durability: Durability) -> Result<(), StoreError> {
        if batch.videos.is_empty() {
            return self.write_unlocked(batch, durability);
        }
        let _guard = self.index_lock.lock().unwrap_or_else(|p| p.into_inner());
        self.expand_video_ops(&mut batch, Vec::new())?;
        self.write_unlocked(batch, durability)
    }

    /// Applies a batch whose video changes (if any) were already expanded.
    fn write_unlocked(&self, batch: Batch, durability: Durability) -> Result<(), StoreError> {
        if let Health::ReadOnly { error, .. } = self.health() {
            // RocksDB would refuse it anyway; say why without touching the disk.
            return Err(StoreError::ReadOnly(error));
        }
        let open = self.open_db()?;
        let mut wb = WriteBatch::default();
        for op in batch.ops {
            match op.value {
                Some(v) => wb.put_cf(open.cf(op.cf), op.key, v),
                None => wb.delete_cf(open.cf(op.cf), op.key),
            }
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(durability == Durability::Sync);
        let result = open.db().write_opt(wb, &wo);
        drop(open);
        self.note_write(result)
    }

    /// All records of one key type whose encoded key starts with `prefix`'s encoding, in key order.
    pub fn scan<K: Key>(&self, prefix: &K::Prefix) -> Result<Vec<(K, K::Value)>, StoreError> {
        self.scan_limit(prefix, usize::MAX)
    }

    /// The first `limit` records of [`Self::scan`].
    pub fn scan_limit<K: Key>(
        &self,
        prefix: &K::Prefix,
        limit: usize,
    ) -> Result<Vec<(K, K::Value)>, StoreError> {
        let start = K::encode_prefix(prefix);
        let open = self.open_db()?;
        let iter = open.db().iterator_cf(
            open.cf(K::CF),
            IteratorMode::From(&start, Direction::Forward),
        );
        let mut out = Vec::new();
        for item in iter {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item?;
            if !k.starts_with(&start) {
                break;
            }
            out.push((K::decode(&k)?, codec::decode_value(&v)?));
        }
        Ok(out)
    }

    /// How many records of one key type start with `prefix` (keys only; values are not decoded).
    pub fn count<K: Key>(&self, prefix: &K::Prefix) -> Result<usize, StoreError> {
        let start = K::encode_prefix(prefix);
        let open = self.open_db()?;
        let iter = open.db().iterator_cf(
            open.cf(K::CF),
            IteratorMode::From(&start, Direction::Forward),
        );
        let mut n = 0;
        for item in iter {
            let (k, _) = item?;
            if !k.starts_with(&start) {
                break;
            }
            n += 1;
        }
        Ok(n)
    }

    /// Writes one video record with its index changes.
    pub fn put_video(
        &self,
        video: &crate::video::Video,
        durability: Durability,
    ) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        batch.put_video(video);
        self.write(batch, durability)
    }

    /// Flushes and compacts one column family (after a bulk load or a reindex).
    pub fn compact(&self, cf: Cf) -> Result<(), StoreError> {
        let open = self.open_db()?;
        open.db().flush_cf(open.cf(cf))?;
        open.db()
            .compact_range_cf(open.cf(cf), None::<&[u8]>, None::<&[u8]>);
        Ok(())
    }

    /// Reads one raw value (for indexes whose keys are not typed).
    fn get_raw(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let open = self.open_db()?;
        Ok(open.db().get_cf(open.cf(cf), key)?)
    }

    /// Writes one raw key with an encoded value.
    fn put_raw<V: serde::Serialize>(
        &self,
        cf: Cf,
        key: Vec<u8>,
        value: &V,
    ) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        batch.raw(cf, key, Some(codec::encode_value(value)?));
        self.write_unlocked(batch, Durability::Buffered)
    }

    /// The first `limit` raw entries whose key starts with `prefix`.
    fn raw_prefix(&self, cf: Cf, prefix: &[u8], limit: usize) -> Result<Vec<RawEntry>, StoreError> {
        let open = self.open_db()?;
        let iter = open
            .db()
            .iterator_cf(open.cf(cf), IteratorMode::From(prefix, Direction::Forward));
        let mut out = Vec::new();
        for item in iter {
            let (k, v) = item?;
            if out.len() >= limit || !k.starts_with(prefix) {
                break;
            }
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    /// Deletes one record.
    pub fn delete<K: Key>(&self, key: &K, durability: Durability) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        batch.delete(self, key);
        self.write(batch, durability)
    }

    /// Allocates the next id of a sequence (ids start at 1 and are never reused).
    pub fn next_id(&self, seq: tables::Sequence) -> Result<u64, StoreError> {
        let _guard = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        let key = tables::SequenceKey(seq);
        let next = self.get(&key)?.unwrap_or(0) + 1;
        self.put(&key, &next, Durability::Sync)?;
        Ok(next)
    }

    /// What the store holds in memory now.
    pub fn memory(&self) -> Result<StoreMemory, StoreError> {
        let open = self.open_db()?;
        let mut m = StoreMemory {
            block_cache: self
                .cache
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_usage() as u64,
            ..StoreMemory::default()
        };
        for cf in Cf::ALL {
            let prop = |name: &str| {
                open.db()
                    .property_int_value_cf(open.cf(cf), name)
                    .ok()
                    .flatten()
                    .unwrap_or(0)
            };
            m.memtables += prop("rocksdb.cur-size-all-mem-tables");
            m.table_readers += prop("rocksdb.estimate-table-readers-mem");
        }
        Ok(m)
    }

    /// Entries in `cf`'s active memtable.
    fn active_memtable_entries(&self, cf: Cf) -> Result<u64, StoreError> {
        let open = self.open_db()?;
        Ok(open
            .db()
            .property_int_value_cf(open.cf(cf), "rocksdb.num-entries-active-mem-table")?
            .unwrap_or(0))
    }

    /// Flushes `cf`'s memtable to an SST file.
    fn flush_cf(&self, cf: Cf) -> Result<(), StoreError> {
        let open = self.open_db()?;
        open.db().flush_cf(open.cf(cf))?;
        Ok(())
    }

    /// Live SST files by column family name (for tests and diagnostics).
    pub fn sst_files(&self) -> Result<Vec<(String, i32)>, StoreError> {
        let open = self.open_db()?;
        Ok(open
            .db()
            .live_files()?
            .into_iter()
            .map(|f| (f.column_family_name, f.level))
            .collect())
    }

    /// Waits until RocksDB's background flushes and compactions are done (tests, shutdown).
    pub fn wait_for_compactions(&self) -> Result<(), StoreError> {
        let open = self.open_db()?;
        open.db()
            .wait_for_compact(&rocksdb::WaitForCompactOptions::default())?;
        Ok(())
    }

    /// Flushes memtables and the WAL to disk (shutdown).
    pub fn flush(&self) -> Result<(), StoreError> {
        let open = self.open_db()?;
        open.db().flush_wal(true)?;
        let handles: Vec<_> = Cf::ALL.iter().map(|cf| open.cf(*cf)).collect();
        open.db()
            .flush_cfs_opt(&handles, &rocksdb::FlushOptions::default())?;
        Ok(())
    }
}

/// A raw key and value.
type RawEntry = (Vec<u8>, Vec<u8>);

/// One change of a [`Batch`].
struct Op {
    cf: Cf,
    key: Vec<u8>,
    /// None deletes.
    value: Option<Vec<u8>>,
}

/// A set of changes applied atomically by [`Store::write`]. It holds encoded keys and values
/// only, so it stays valid across a reopen of the database.
#[derive(Default)]
pub struct Batch {
    ops: Vec<Op>,
    /// Video records to write with their index changes (see [`video_index`]).
    videos: Vec<video_index::VideoOp>,
}

impl Batch {
    /// Adds a video record; its index entries follow it in the same write.
    pub fn put_video(&mut self, video: &crate::video::Video) {
        self.videos
            .push(video_index::VideoOp::Put(Box::new(video.clone())));
    }

    /// Removes a video record, its counters and its index entries.
    pub fn delete_video(&mut self, id: u64) {
        self.videos.push(video_index::VideoOp::Delete(id));
    }

    /// Adds a raw change (index keys are not typed).
    fn raw(&mut self, cf: Cf, key: Vec<u8>, value: Option<Vec<u8>>) {
        self.ops.push(Op { cf, key, value });
    }

    /// Adds a put.
    pub fn put<K: Key>(
        &mut self,
        _store: &Store,
        key: &K,
        value: &K::Value,
    ) -> Result<(), StoreError> {
        self.ops.push(Op {
            cf: K::CF,
            key: key.encode(),
            value: Some(codec::encode_value(value)?),
        });
        Ok(())
    }

    /// Adds a delete.
    pub fn delete<K: Key>(&mut self, _store: &Store, key: &K) {
        self.ops.push(Op {
            cf: K::CF,
            key: key.encode(),
            value: None,
        });
    }

    /// Number of operations in the batch.
    pub fn len(&self) -> usize {
        self.ops.len() + self.videos.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.videos.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::tables::*;
    use super::*;

    #[test]
    fn creates_every_column_family_and_records_the_schema() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("meta")).unwrap();
        assert_eq!(store.get(&SchemaVersionKey).unwrap(), Some(SCHEMA_VERSION));
        drop(store);
        let names = DB::list_cf(&Options::default(), dir.path().join("meta")).unwrap();
        for cf in Cf::ALL {
            assert!(
                names.iter().any(|n| n == cf.name()),
                "missing {}",
                cf.name()
            );
        }
    }

    #[test]
    fn newer_schema_is_refused_with_a_clear_message() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta");
        let store = Store::open(&path).unwrap();
        store
            .put(&SchemaVersionKey, &(SCHEMA_VERSION + 1), Durability::Sync)
            .unwrap();
        drop(store);
        let err = Store::open(&path).err().expect("must refuse");
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("schema version {}", SCHEMA_VERSION + 1)),
            "{msg}"
        );
        assert!(msg.contains("newer"), "{msg}");
    }

    #[test]
    fn a_full_disk_makes_writes_fail_until_the_store_is_reopened() {
        use crate::testutil::Tmpfs;
        let Some(fs) = Tmpfs::mount(48) else {
            eprintln!("skipped: cannot mount a tmpfs here (needs root)");
            return;
        };
        let path = fs.path().join("meta");
        let store = Store::open(&path).unwrap();
        store
            .put(
                &UserKey(1),
                &User::new_for_test(1, "kept"),
                Durability::Sync,
            )
            .unwrap();
        let filler = fs.fill();
        // Write until the disk says no (the WAL may have room preallocated).
        let mut failure = None;
        for i in 0..100_000u64 {
            let user = User::new_for_test(i + 2, &"x".repeat(4096));
            if let Err(e) = store.put(&UserKey(i + 2), &user, Durability::Sync) {
                failure = Some(e);
                break;
            }
        }
        let failure = failure.expect("a write fails on a full disk");
        assert!(
            matches!(failure, StoreError::ReadOnly(ref m) if m.contains("No space left")),
            "{failure}"
        );
        assert!(matches!(store.health(), Health::ReadOnly { .. }));
        // Reads still work; writes are refused with the cause.
        assert_eq!(store.get(&UserKey(1)).unwrap().unwrap().username, "kept");
        let again = store
            .put(&UserKey(1), &User::new_for_test(1, "k2"), Durability::Sync)
            .unwrap_err();
        assert!(again.to_string().contains("read-only"), "{again}");
        // Space is back: reopening brings writes back, with the data intact.
        std::fs::remove_file(filler).unwrap();
        store.reopen().unwrap();
        assert_eq!(store.health(), Health::Writable);
        assert_eq!(store.get(&UserKey(1)).unwrap().unwrap().username, "kept");
        store
            .put(
                &UserKey(1),
                &User::new_for_test(1, "after"),
                Durability::Sync,
            )
            .unwrap();
        assert_eq!(store.get(&UserKey(1)).unwrap().unwrap().username, "after");
    }

    #[test]
    fn small_flushes_are_compacted_so_sst_files_stay_few() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("meta")).unwrap();
        let mut flusher = MemtableFlusher::new(std::time::Duration::from_secs(60));
        let mut now = std::time::Instant::now();
        // Seven hours of a trickle of writes flushed by age: seven level-0 files, merged every
        // second one (RocksDB's default of four would leave four files).
        for hour in 0..7u64 {
            store
                .put(&SequenceKey(Sequence::Job), &hour, Durability::Buffered)
                .unwrap();
            assert_eq!(flusher.pass(&store, now).unwrap(), 0);
            now += std::time::Duration::from_secs(61);
            assert_eq!(flusher.pass(&store, now).unwrap(), 1, "hour {hour}");
            store.wait_for_compactions().unwrap();
        }
        let files = store.sst_files().unwrap();
        let cf = Cf::Meta.name();
        let of_cf = files.iter().filter(|(name, _)| name == cf).count();
        assert!(of_cf <= 2, "{files:?}");
        assert_eq!(store.get(&SequenceKey(Sequence::Job)).unwrap(), Some(6));
    }

    #[test]
    fn flushing_empties_the_memtables_and_the_cache_fills_from_sst_reads() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("meta")).unwrap();
        for i in 0..2_000u64 {
            store
                .put(&SequenceKey(Sequence::Job), &i, Durability::Buffered)
                .unwrap();
            store.next_id(Sequence::File).unwrap();
        }
        let before = store.memory().unwrap();
        assert!(before.memtables > 0, "{before:?}");
        let mut flusher = MemtableFlusher::new(std::time::Duration::from_secs(3600));
        let t0 = std::time::Instant::now();
        assert_eq!(flusher.pass(&store, t0).unwrap(), 0, "young and small");
        let later = t0 + std::time::Duration::from_secs(3600);
        assert!(flusher.pass(&store, later).unwrap() >= 1);
        assert_eq!(
            flusher.pass(&store, later).unwrap(),
            0,
            "nothing left to flush"
        );
        let after = store.memory().unwrap();
        assert!(
            after.memtables < before.memtables,
            "{before:?} -> {after:?}"
        );
        // Read back from the SST file: through the shared, bounded block cache.
        assert_eq!(
            store.get(&SequenceKey(Sequence::File)).unwrap(),
            Some(2_000)
        );
        let read = store.memory().unwrap();
        assert!(
            read.block_cache > 0 && read.block_cache <= BLOCK_CACHE as u64,
            "{read:?}"
        );
    }

    #[test]
    fn ids_are_monotonic_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta");
        let store = Store::open(&path).unwrap();
        assert_eq!(store.next_id(Sequence::User).unwrap(), 1);
        assert_eq!(store.next_id(Sequence::User).unwrap(), 2);
        assert_eq!(store.next_id(Sequence::Channel).unwrap(), 1);
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.next_id(Sequence::User).unwrap(), 3);
    }

    #[test]
    fn batches_are_atomic_and_scans_ordered() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("meta")).unwrap();
        let mut batch = Batch::default();
        for id in [3u64, 1, 2, 300] {
            let user = User::new_for_test(id, &format!("u{id}"));
            batch.put(&store, &UserKey(id), &user).unwrap();
            batch
                .put(&store, &UserByNameKey(user.username.clone()), &id)
                .unwrap();
        }
        store.write(batch, Durability::Sync).unwrap();
        let ids: Vec<u64> = store
            .scan::<UserKey>(&())
            .unwrap()
            .into_iter()
            .map(|(k, _)| k.0)
            .collect();
        assert_eq!(ids, vec![1, 2, 3, 300]);
        assert_eq!(store.get(&UserByNameKey("u300".into())).unwrap(), Some(300));
    }
}
