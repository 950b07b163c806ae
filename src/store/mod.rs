//! Metadata in RocksDB: one instance at `<data_dir>/meta`, one column family per table, a schema
//! version with migrations at open. Only this module (through [`codec`] and [`tables`]) knows how
//! keys and values are laid out on disk.

pub mod actors;
pub mod codec;
pub mod federation;
mod lock;
pub mod tables;
pub mod videos;

pub use codec::{Key, StoreError};
pub use lock::DataDirLock;

use rocksdb::{
    ColumnFamilyDescriptor, Direction, IteratorMode, Options, WriteBatch, WriteOptions, DB,
};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The schema version this build writes. Bump it together with a new entry in [`MIGRATIONS`].
pub const SCHEMA_VERSION: u32 = 1;

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
}

impl Cf {
    /// All column families, in creation order.
    pub const ALL: [Cf; 15] = [
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
pub const MIGRATIONS: &[Migration] = &[];

/// The metadata store.
pub struct Store {
    db: DB,
    path: PathBuf,
    ids: Mutex<()>,
}

impl Store {
    /// Opens (or creates) the store at `path`, creating every column family and running
    /// migrations. Fails with [`StoreError::NewerSchema`] on a store written by a newer Fleuve.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_keep_log_file_num(4);
        opts.set_max_total_wal_size(64 << 20);
        let cfs = Cf::ALL
            .iter()
            .map(|cf| ColumnFamilyDescriptor::new(cf.name(), Options::default()));
        let db = DB::open_cf_descriptors(&opts, path, cfs).map_err(|e| StoreError::Open {
            path: path.to_owned(),
            message: e.into_string(),
        })?;
        let store = Store {
            db,
            path: path.to_owned(),
            ids: Mutex::new(()),
        };
        store.check_schema()?;
        Ok(store)
    }

    /// Where the store lives.
    pub fn path(&self) -> &Path {
        &self.path
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

    fn cf(&self, cf: Cf) -> &rocksdb::ColumnFamily {
        // Every Cf is created at open, so the handle always exists.
        self.db
            .cf_handle(cf.name())
            .expect("column family created at open")
    }

    /// Reads one record.
    pub fn get<K: Key>(&self, key: &K) -> Result<Option<K::Value>, StoreError> {
        match self.db.get_pinned_cf(self.cf(K::CF), key.encode())? {
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

    /// Applies a batch atomically.
    pub fn write(&self, batch: Batch, durability: Durability) -> Result<(), StoreError> {
        let mut wo = WriteOptions::default();
        wo.set_sync(durability == Durability::Sync);
        self.db.write_opt(batch.inner, &wo)?;
        Ok(())
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
        let iter = self.db.iterator_cf(
            self.cf(K::CF),
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
        let iter = self.db.iterator_cf(
            self.cf(K::CF),
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

    /// Flushes memtables and the WAL to disk (shutdown).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush_wal(true)?;
        let handles: Vec<_> = Cf::ALL.iter().map(|cf| self.cf(*cf)).collect();
        self.db
            .flush_cfs_opt(&handles, &rocksdb::FlushOptions::default())?;
        Ok(())
    }
}

/// A set of changes applied atomically by [`Store::write`].
#[derive(Default)]
pub struct Batch {
    inner: WriteBatch,
}

impl Batch {
    /// Adds a put.
    pub fn put<K: Key>(
        &mut self,
        store: &Store,
        key: &K,
        value: &K::Value,
    ) -> Result<(), StoreError> {
        self.inner
            .put_cf(store.cf(K::CF), key.encode(), codec::encode_value(value)?);
        Ok(())
    }

    /// Adds a delete.
    pub fn delete<K: Key>(&mut self, store: &Store, key: &K) {
        self.inner.delete_cf(store.cf(K::CF), key.encode());
    }

    /// Number of operations in the batch.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
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
