//! Where a video's HLS files are kept, and the durable moves between the disk and the object
//! storage (PeerTube's `move-to-object-storage` and `move-to-file-system` jobs).
//!
//! A move is a row in the job table (`StorageMoveKey`, by video uuid), written in the batch that
//! asks for it (the publication of a transcode when object storage is on, `fleuve storage move`,
//! the admin API), and done by one thread. Each step can run again after a `kill -9`:
//!
//! - **to the object storage**: every file of the video's HLS directory is uploaded unless an
//!   object with the same size and ETag is already there (so a resumed move, or a video already
//!   moved, costs a HEAD per file: PeerTube 8.1 uploads them again, #7638); each upload is
//!   checked by MD5 (see `media::objstore::transfer`). Media playlists and fMP4s first, the
//!   master playlist and the segment hashes last, as PeerTube does. Then, under the video's
//!   lock, the torrents of a public video get the object's URL as webseed and one batch records
//!   the new storage (and publishes a video that was waiting for this); only then is the local
//!   directory removed.
//! - **to the disk**: every object of the video's directory is downloaded into a staging
//!   directory (skipping files already there and whole), each checked against its object's
//!   length and ETag; under the lock the staging directory is renamed into place, the torrents'
//!   webseeds point back at this server, one batch records it, and only then are the objects
//!   deleted.
//!
//! A video's record never names a side whose files are not all there. A move that fails is
//! tried again later (five attempts, a minute apart and more); a publication that waited on it
//! then shows "External storage move failed" (PeerTube's state 8) with its files still on disk,
//! and `fleuve storage move` tries again.

use crate::media::access::MediaAccess;
use crate::media::objstore::ObjectStorage;
use crate::media::torrent::with_webseed;
use crate::store::tables::{StorageMove, StorageMoveKey};
use crate::store::{Batch, Durability, Store, StoreError};
use crate::video::files::hls_dir;
use crate::video::locks::VideoLocks;
use crate::video::{FileStorage, Video, VideoFile, VideoState};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Attempts of one move before it is given up.
const MAX_ATTEMPTS: u32 = 5;

/// Why a move failed.
#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    /// Object storage is off.
    #[error("object storage is not enabled ([object_storage] enabled = false)")]
    Disabled,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A transfer failed.
    #[error(transparent)]
    Transfer(#[from] crate::media::objstore::transfer::TransferError),
    /// An S3 request failed.
    #[error(transparent)]
    S3(#[from] crate::media::objstore::s3::S3Error),
    /// A local file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The video changed under the move (deleted, privacy changed): tried again.
    #[error("video {0} changed during the move; trying again")]
    Changed(String),
    /// Files are missing where the record says they are.
    #[error("video {uuid}: {what}")]
    Missing {
        /// The video.
        uuid: String,
        /// What is missing.
        what: String,
    },
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> MoveError + 'a {
    move |source| MoveError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Called after a move is recorded: the video's id, and whether it was just published.
pub type MovedHook = Box<dyn Fn(u64, bool) + Send + Sync>;

/// What a move needs to know.
pub struct MoverConfig {
    /// Data directory (`media/`, `tmp/`).
    pub data_dir: PathBuf,
    /// The instance's public URL (webseeds of files on disk).
    pub public_url: String,
    /// The object storage, when on.
    pub object_storage: Option<Arc<ObjectStorage>>,
    /// One writer at a time per video.
    pub video_locks: Arc<VideoLocks>,
    /// Told when files move (shards forget what they cached about them).
    pub media_access: Arc<MediaAccess>,
}

/// The durable moves and the thread that does them.
pub struct Mover {
    store: Arc<Store>,
    config: MoverConfig,
    wake: (Mutex<bool>, Condvar),
    stop: AtomicBool,
    on_moved: Mutex<Option<MovedHook>>,
}

/// How far the moves are.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MoveStatus {
    /// Moves waiting or under way.
    pub pending: usize,
    /// The video and error of the last failure, if the last attempt failed.
    pub last_error: Option<String>,
}

impl Mover {
    /// The mover over `store`.
    pub fn new(store: Arc<Store>, config: MoverConfig) -> Arc<Mover> {
        Arc::new(Mover {
            store,
            config,
            wake: (Mutex::new(false), Condvar::new()),
            stop: AtomicBool::new(false),
            on_moved: Mutex::new(None),
        })
    }

    /// Sets what runs after each recorded move.
    pub fn set_on_moved(&self, hook: MovedHook) {
        *self.on_moved.lock().unwrap_or_else(|p| p.into_inner()) = Some(hook);
    }

    /// Adds a move of `uuid`'s files to `to` to `batch`.
    pub fn enqueue_in(
        batch: &mut Batch,
        store: &Store,
        uuid: &str,
        to: FileStorage,
    ) -> Result<(), StoreError> {
        batch.put(
            store,
            &StorageMoveKey(uuid.to_string()),
            &StorageMove {
                to,
                created_at: crate::time::now_secs(),
                attempts: 0,
                last_error: None,
            },
        )
    }

    /// Asks for a move of `uuid`'s files to `to` (durable) and wakes the thread.
    pub fn enqueue(&self, uuid: &str, to: FileStorage) -> Result<(), MoveError> {
        if to == FileStorage::ObjectStorage && self.config.object_storage.is_none() {
            return Err(MoveError::Disabled);
        }
        let mut batch = Batch::default();
        Self::enqueue_in(&mut batch, &self.store, uuid, to)?;
        self.store.write(batch, Durability::Sync)?;
        self.notify();
        Ok(())
    }

    /// Wakes the thread (a move was queued).
    pub fn notify(&self) {
        let (m, c) = &self.wake;
        *m.lock().unwrap_or_else(|p| p.into_inner()) = true;
        c.notify_all();
    }

    /// The moves waiting, and the last failure.
    pub fn status(&self) -> Result<MoveStatus, StoreError> {
        let rows = self.store.scan::<StorageMoveKey>(&())?;
        Ok(MoveStatus {
            pending: rows.len(),
            last_error: rows
                .iter()
                .find_map(|(k, m)| m.last_error.as_ref().map(|e| format!("{}: {e}", k.0))),
        })
    }

    /// Starts the thread.
    pub fn spawn(self: &Arc<Self>) -> std::io::Result<std::thread::JoinHandle<()>> {
        let me = self.clone();
        std::thread::Builder::new()
            .name("storage-move".into())
            .spawn(move || me.run())
    }

    /// Asks the thread to stop after the file it is on.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.notify();
    }

    fn run(&self) {
        self.reconcile_sides();
        while !self.stop.load(Ordering::SeqCst) {
            let rows = match self.store.scan::<StorageMoveKey>(&()) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the storage moves");
                    Vec::new()
                }
            };
            let now = crate::time::now_secs();
            let mut next_due: Option<u64> = None;
            for (key, mv) in rows {
                if self.stop.load(Ordering::SeqCst) {
                    return;
                }
                let due = mv.created_at + backoff(mv.attempts);
                if due > now {
                    next_due = Some(next_due.map_or(due, |d| d.min(due)));
                    continue;
                }
                self.attempt(&key.0, mv);
            }
            let (m, c) = &self.wake;
            let mut woken = m.lock().unwrap_or_else(|p| p.into_inner());
            let wait = next_due.map_or(Duration::from_secs(3600), |d| {
                Duration::from_secs(d.saturating_sub(crate::time::now_secs()).max(1))
            });
            if !*woken {
                woken = c
                    .wait_timeout(woken, wait)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
            *woken = false;
        }
    }

    /// Puts the objects of every object-stored video on the side its privacy says: a privacy
    /// change cut short by a stop (objects moved, record not written) leaves them on the other
    /// side, public copies of a private video included. One listing per video, on this thread
    /// at start (the shards already serve); stops at the first listing the bucket refuses.
    fn reconcile_sides(&self) {
        let Some(os) = self.config.object_storage.clone() else {
            return;
        };
        let videos = match self.store.scan::<crate::store::videos::VideoKey>(&()) {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(error = %e, "cannot list the videos to check their objects' side");
                return;
            }
        };
        let mut moved = 0;
        for (key, v) in videos {
            if self.stop.load(Ordering::SeqCst) {
                return;
            }
            let in_bucket = v
                .hls
                .as_ref()
                .is_some_and(|h| h.storage == FileStorage::ObjectStorage);
            if v.remote.is_some() || !in_bucket {
                continue;
            }
            let _lock = self.config.video_locks.lock(&v.uuid);
            // Read again under the lock: a privacy change may have happened meanwhile.
            let Ok(Some(v)) = self.store.get(&key) else {
                continue;
            };
            let private = v.files_are_private();
            match os.list_hls(&v.uuid, !private) {
                Ok(wrong) if wrong.is_empty() => {}
                Ok(wrong) => {
                    tracing::warn!(video = %v.uuid, objects = wrong.len(), private, "objects were on the other privacy side (a privacy change cut short); moving them");
                    let files = self.store.video_files(v.id).unwrap_or_default();
                    match self.relocate_in_bucket(&v.uuid, &files, private) {
                        Ok(()) => moved += 1,
                        Err(e) => {
                            tracing::error!(video = %v.uuid, error = %e, "cannot move the objects to their privacy's side")
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot check object-stored videos' sides; the next start tries again");
                    return;
                }
            }
        }
        if moved > 0 {
            tracing::info!(
                videos = moved,
                "object-stored videos put on their privacy's side"
            );
        }
    }

    fn attempt(&self, uuid: &str, mut mv: StorageMove) {
        let started = std::time::Instant::now();
        let result = match mv.to {
            FileStorage::ObjectStorage => self.to_object_storage(uuid),
            FileStorage::FileSystem => self.to_file_system(uuid),
        };
        let key = StorageMoveKey(uuid.to_string());
        match result {
            Ok(done) => {
                if let Err(e) = self.store.delete(&key, Durability::Sync) {
                    tracing::error!(video = %uuid, error = %e, "cannot record the end of a storage move");
                }
                if let Some((video_id, published)) = done {
                    tracing::info!(video = %uuid, to = ?mv.to, secs = started.elapsed().as_secs_f64(), published, "video files moved");
                    if let Some(hook) = self
                        .on_moved
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .as_ref()
                    {
                        hook(video_id, published);
                    }
                }
            }
            Err(e) => {
                let changed = matches!(e, MoveError::Changed(_));
                if !changed {
                    mv.attempts += 1;
                }
                mv.last_error = Some(e.to_string());
                if mv.attempts >= MAX_ATTEMPTS {
                    tracing::error!(video = %uuid, to = ?mv.to, error = %e, "storage move given up");
                    self.give_up(uuid, &key, &e.to_string());
                    return;
                }
                tracing::warn!(video = %uuid, to = ?mv.to, attempt = mv.attempts, error = %e, "storage move failed; it is tried again");
                mv.created_at = crate::time::now_secs();
                if let Err(e) = self.store.put(&key, &mv, Durability::Sync) {
                    tracing::error!(video = %uuid, error = %e, "cannot record a failed storage move");
                }
            }
        }
    }

    fn give_up(&self, uuid: &str, key: &StorageMoveKey, reason: &str) {
        let _lock = self.config.video_locks.lock(uuid);
        let mut batch = Batch::default();
        batch.delete(&self.store, key);
        if let Ok(Some(mut v)) = self.store.video_by_uuid(uuid) {
            if v.state == VideoState::ToMoveToExternalStorage {
                v.state = VideoState::MoveToExternalStorageFailed;
                v.error = Some(reason.to_string());
                batch.put_video(&v);
            }
        }
        if let Err(e) = self.store.write(batch, Durability::Sync) {
            tracing::error!(video = %uuid, error = %e, "cannot record a given-up storage move");
        }
    }

    fn media(&self) -> PathBuf {
        self.config.data_dir.join("media")
    }

    fn load(&self, uuid: &str) -> Result<Option<(Video, Vec<VideoFile>)>, MoveError> {
        let Some(v) = self.store.video_by_uuid(uuid)? else {
            return Ok(None);
        };
        if v.hls.is_none() || v.remote.is_some() {
            return Ok(None);
        }
        let files = self.store.video_files(v.id)?;
        Ok(Some((v, files)))
    }

    /// The HLS files in upload order: each media playlist and its fMP4, other files (private
    /// torrents), then the master playlist and the segment hashes.
    fn upload_order(video: &Video, files: &[VideoFile], on_disk: Vec<String>) -> Vec<String> {
        let hls = video.hls.as_ref().expect("checked by load");
        let mut order = Vec::new();
        for f in files {
            order.push(f.rendition.playlist_file.clone());
            order.push(f.rendition.media_file.clone());
        }
        let last = [hls.master.clone(), hls.segments_sha256.clone()];
        let mut rest: Vec<String> = on_disk
            .into_iter()
            .filter(|n| !order.contains(n) && !last.contains(n))
            .collect();
        rest.sort();
        order.extend(rest);
        order.extend(last);
        order
    }

    /// Moves a video's files to the object storage. `Ok(Some((id, published)))` once recorded,
    /// `Ok(None)` when there was nothing to move.
    fn to_object_storage(&self, uuid: &str) -> Result<Option<(u64, bool)>, MoveError> {
        let os = self
            .config
            .object_storage
            .clone()
            .ok_or(MoveError::Disabled)?;
        let Some((video, files)) = self.load(uuid)? else {
            return Ok(None);
        };
        let private = video.files_are_private();
        let media = self.media();
        let dir = hls_dir(&media, uuid, private);
        if video
            .hls
            .as_ref()
            .is_some_and(|h| h.storage == FileStorage::ObjectStorage)
        {
            // Already there (a move that died after its record): only the local copy may be left
            // (a private video keeps its torrents on disk).
            remove_dir(&self.config.data_dir, &hls_dir(&media, uuid, !private));
            let dir = hls_dir(&media, uuid, private);
            for name in list_dir(&dir).unwrap_or_default() {
                if !name.ends_with(".torrent") {
                    let _ = std::fs::remove_file(dir.join(name));
                }
            }
            return Ok(None);
        }
        let on_disk = list_dir(&dir).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => MoveError::Missing {
                uuid: uuid.to_string(),
                what: format!("no HLS directory at {}", dir.display()),
            },
            _ => MoveError::Io {
                op: "listing",
                path: dir.clone(),
                source: e,
            },
        })?;
        // Torrents stay on disk (a private video's in its local directory).
        let on_disk: Vec<String> = on_disk
            .into_iter()
            .filter(|n| !n.ends_with(".torrent"))
            .collect();
        os.abort_orphaned_uploads(uuid, private)?;
        // Objects on the other side's keys were uploaded by a move the video's privacy change
        // interrupted (a public copy of a now private video): nothing else lives there while the
        // video is not in the bucket.
        let stale = os.delete_hls(uuid, !private)?;
        if stale > 0 {
            tracing::info!(video = %uuid, objects = stale, "deleted objects an interrupted move left on the video's other privacy side");
        }
        let order = Self::upload_order(&video, &files, on_disk.clone());
        let (mut uploaded, mut skipped, mut bytes) = (0, 0, 0u64);
        for name in &order {
            if self.stop.load(Ordering::SeqCst) {
                return Err(MoveError::Changed(uuid.to_string()));
            }
            let path = dir.join(name);
            if !path.is_file() {
                // Gone with its directory: the privacy moved it (tried again); else missing.
                if on_disk.contains(name) || dir.exists() {
                    return Err(MoveError::Missing {
                        uuid: uuid.to_string(),
                        what: format!("{} is missing", path.display()),
                    });
                }
                return Err(MoveError::Changed(uuid.to_string()));
            }
            if os.hls_file_matches(uuid, private, &path, name)? {
                skipped += 1;
                continue;
            }
            let (size, _) = os.upload_hls_file(uuid, private, &path, name)?;
            uploaded += 1;
            bytes += size;
        }
        tracing::info!(video = %uuid, uploaded, already_there = skipped, bytes, "video files uploaded to the object storage");
        // Record it, under the lock, if the video is still what was uploaded.
        let _lock = self.config.video_locks.lock(uuid);
        let Some((mut video, files)) = self.load(uuid)? else {
            return Ok(None);
        };
        if video.files_are_private() != private || !dir.is_dir() {
            return Err(MoveError::Changed(uuid.to_string()));
        }
        if !private {
            set_webseeds(&media, uuid, &files, |f| os.hls_public_url(uuid, f))?;
        }
        let publish = video.state == VideoState::ToMoveToExternalStorage;
        if let Some(h) = video.hls.as_mut() {
            h.storage = FileStorage::ObjectStorage;
        }
        let now = crate::time::now_secs();
        if publish {
            video.state = VideoState::Published;
            video.published_at = Some(now);
        }
        video.updated_at = now;
        let mut batch = Batch::default();
        batch.put_video(&video);
        self.store.write(batch, Durability::Sync)?;
        self.config.media_access.files_moved();
        if private {
            // The torrents stay.
            for name in &on_disk {
                let _ = std::fs::remove_file(dir.join(name));
            }
        } else {
            remove_dir(&self.config.data_dir, &dir);
        }
        Ok(Some((video.id, publish)))
    }

    /// Moves a video's files from the object storage back to the disk.
    fn to_file_system(&self, uuid: &str) -> Result<Option<(u64, bool)>, MoveError> {
        let os = self
            .config
            .object_storage
            .clone()
            .ok_or(MoveError::Disabled)?;
        let Some((video, _)) = self.load(uuid)? else {
            return Ok(None);
        };
        let private = video.files_are_private();
        let media = self.media();
        if video
            .hls
            .as_ref()
            .is_none_or(|h| h.storage == FileStorage::FileSystem)
        {
            // Already on disk (a move that died after its record): objects may be left.
            for side in [false, true] {
                let n = os.delete_hls(uuid, side)?;
                if n > 0 {
                    tracing::info!(video = %uuid, objects = n, "leftover objects of a finished move deleted");
                }
            }
            return Ok(None);
        }
        let objects = os.list_hls(uuid, private)?;
        let prefix = os.hls_dir_key(uuid, private);
        let staging = self
            .config
            .data_dir
            .join("tmp")
            .join(format!("storage-move-{uuid}"));
        std::fs::create_dir_all(&staging).map_err(io("creating", &staging))?;
        let (mut downloaded, mut skipped, mut bytes) = (0, 0, 0u64);
        for o in &objects {
            if self.stop.load(Ordering::SeqCst) {
                return Err(MoveError::Changed(uuid.to_string()));
            }
            let name = o.key.strip_prefix(&prefix).unwrap_or(&o.key);
            if name.is_empty() || name.contains('/') || name.starts_with('.') {
                continue;
            }
            let to = staging.join(name);
            if to.is_file()
                && std::fs::metadata(&to).map(|m| m.len()).ok() == Some(o.size)
                && crate::media::objstore::transfer::expected_etag(&to, os.plan())
                    .is_ok_and(|e| e == o.etag)
            {
                skipped += 1;
                continue;
            }
            bytes += os.download_hls_file(uuid, private, name, &to)?;
            downloaded += 1;
        }
        let hls = video.hls.as_ref().expect("checked by load");
        for needed in [&hls.master, &hls.segments_sha256] {
            if !staging.join(needed).is_file() {
                return Err(MoveError::Missing {
                    uuid: uuid.to_string(),
                    what: format!("object {prefix}{needed} is missing"),
                });
            }
        }
        tracing::info!(video = %uuid, downloaded, already_there = skipped, bytes, "video files downloaded from the object storage");
        let _lock = self.config.video_locks.lock(uuid);
        let Some((mut video, files)) = self.load(uuid)? else {
            let _ = std::fs::remove_dir_all(&staging);
            return Ok(None);
        };
        if video.files_are_private() != private {
            return Err(MoveError::Changed(uuid.to_string()));
        }
        for f in &files {
            for name in [&f.rendition.media_file, &f.rendition.playlist_file] {
                if !staging.join(name).is_file() {
                    return Err(MoveError::Missing {
                        uuid: uuid.to_string(),
                        what: format!("object {prefix}{name} is missing"),
                    });
                }
            }
        }
        let dir = hls_dir(&media, uuid, private);
        if private {
            // Its torrents, kept on disk, join the files.
            for name in list_dir(&dir).unwrap_or_default() {
                if name.ends_with(".torrent") {
                    let from = dir.join(&name);
                    std::fs::rename(&from, staging.join(&name)).map_err(io("moving", &from))?;
                }
            }
        }
        remove_dir(&self.config.data_dir, &dir);
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent).map_err(io("creating", parent))?;
        }
        std::fs::rename(&staging, &dir).map_err(io("renaming into place", &dir))?;
        if !private {
            let public_url = &self.config.public_url;
            set_webseeds(&media, uuid, &files, |f| {
                crate::video::urls::hls_file_url(public_url, uuid, false, f)
            })?;
        }
        if let Some(h) = video.hls.as_mut() {
            h.storage = FileStorage::FileSystem;
        }
        video.updated_at = crate::time::now_secs();
        let mut batch = Batch::default();
        batch.put_video(&video);
        self.store.write(batch, Durability::Sync)?;
        self.config.media_access.files_moved();
        drop(_lock);
        let n = os.delete_hls(uuid, private)?;
        tracing::debug!(video = %uuid, objects = n, "objects deleted after the move to disk");
        Ok(Some((video.id, false)))
    }

    /// Moves an object-stored video's files to the side of its new privacy (the caller holds
    /// its lock and records the privacy after): the objects to their new keys and ACL, and
    /// each torrent (kept on disk) to the new side with its webseed (none when private).
    pub fn relocate_in_bucket(
        &self,
        uuid: &str,
        files: &[VideoFile],
        to_private: bool,
    ) -> Result<(), MoveError> {
        let os = self
            .config
            .object_storage
            .clone()
            .ok_or(MoveError::Disabled)?;
        let n = os.move_hls_side(uuid, to_private)?;
        let media = self.media();
        let private_dir = hls_dir(&media, uuid, true);
        std::fs::create_dir_all(&private_dir).map_err(io("creating", &private_dir))?;
        for f in files {
            let t = &f.rendition.torrent_file;
            let public = crate::video::files::torrent_path(&media, uuid, false, t);
            let private = private_dir.join(t);
            let (from, to) = if to_private {
                (public, private)
            } else {
                (private, public)
            };
            if !from.is_file() {
                continue;
            }
            let webseed = (!to_private).then(|| os.hls_public_url(uuid, &f.rendition.media_file));
            write_torrent(&from, &to, webseed.as_deref())?;
            let _ = std::fs::remove_file(&from);
        }
        if !to_private {
            let _ = std::fs::remove_dir(&private_dir);
        }
        self.config.media_access.files_moved();
        tracing::info!(video = %uuid, objects = n, to_private, "object-stored files moved to their privacy's side");
        Ok(())
    }

    /// Queues a move of every local video whose files are not already at `to`; returns how
    /// many.
    pub fn enqueue_all(&self, to: FileStorage) -> Result<usize, MoveError> {
        if to == FileStorage::ObjectStorage && self.config.object_storage.is_none() {
            return Err(MoveError::Disabled);
        }
        let mut n = 0;
        let mut batch = Batch::default();
        for (_, v) in self.store.scan::<crate::store::videos::VideoKey>(&())? {
            let Some(h) = &v.hls else { continue };
            if v.remote.is_some() || h.storage == to {
                continue;
            }
            Self::enqueue_in(&mut batch, &self.store, &v.uuid, to)?;
            n += 1;
        }
        self.store.write(batch, Durability::Sync)?;
        self.notify();
        Ok(n)
    }
}

/// Seconds to wait before attempt `attempts + 1`.
fn backoff(attempts: u32) -> u64 {
    match attempts {
        0 => 0,
        n => 60u64 << (n - 1).min(5),
    }
}

fn list_dir(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut names = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if e.file_type()?.is_file() {
            if let Some(n) = e.file_name().to_str() {
                names.push(n.to_string());
            }
        }
    }
    Ok(names)
}

/// Removes a directory by renaming it into `tmp/` first (a crash leaves it whole or gone).
fn remove_dir(data_dir: &Path, dir: &Path) {
    if !dir.exists() {
        return;
    }
    let trash = data_dir
        .join("tmp")
        .join(format!("trash-{}", uuid::Uuid::new_v4().simple()));
    match std::fs::rename(dir, &trash) {
        Ok(()) => {
            let _ = std::fs::remove_dir_all(&trash);
        }
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot remove a moved directory")
        }
    }
}

/// Gives each public torrent of `files` the webseed `url(media file)`, in place.
fn set_webseeds(
    media: &Path,
    uuid: &str,
    files: &[VideoFile],
    url: impl Fn(&str) -> String,
) -> Result<(), MoveError> {
    for f in files {
        let path = crate::video::files::torrent_path(media, uuid, false, &f.rendition.torrent_file);
        write_torrent(&path, &path, Some(&url(&f.rendition.media_file)))?;
    }
    Ok(())
}

/// Writes the torrent at `from` to `to` (the same path: in place) with `webseed` (None: no
/// webseed), beside it then renamed. A missing `from` is skipped.
fn write_torrent(from: &Path, to: &Path, webseed: Option<&str>) -> Result<(), MoveError> {
    let bytes = match std::fs::read(from) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io("reading", from)(e)),
    };
    let out = with_webseed(&bytes, webseed).map_err(|e| MoveError::Missing {
        uuid: String::new(),
        what: format!("torrent {}: {e}", from.display()),
    })?;
    let tmp = to.with_extension("torrent.tmp");
    std::fs::write(&tmp, out).map_err(io("writing", &tmp))?;
    std::fs::rename(&tmp, to).map_err(io("renaming", to))?;
    Ok(())
}
