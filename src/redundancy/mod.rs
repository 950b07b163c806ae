//! Redundancy (ARCHITECTURE.md §9; reference/peertube-runners-storage-redundancy.md §3): this
//! instance mirrors the HLS playlists of followed instances' videos and announces each mirror
//! to the video's origin with a `CacheFile`, as PeerTube does.
//!
//! * [`strategy`]: which videos the configured strategies pick, within their size budgets.
//! * [`hls`]: which files a playlist names (what a mirror copies).
//! * [`download`]: one mirror fetched, checked against the origin's hashes and sizes, and put
//!   in place whole.
//! * [`announce`]: the `CacheFile` `Create`, `Update` and `Undo` we send.
//! * this module: [`Redundancy`], the thread that looks at the strategies every
//!   `redundancy.check_interval_secs` (and when woken), downloads the mirrors it decided,
//!   renews or drops expired ones, and what the admin API does (manual mirrors, drops).
//!
//! Other servers' mirrors of our videos are received by the federation
//! (`crate::federation::cache_files`).

pub(crate) mod announce;
pub(crate) mod download;
pub(crate) mod hls;
pub(crate) mod strategy;

use crate::app::App;
use crate::config::redundancy::StrategyConfig;
use crate::store::federation::{FollowState, FollowingKey};
use crate::store::redundancy::{Mirror, MirrorKey, MirrorState};
use crate::store::videos::VideoKey;
use crate::store::{Durability, StoreError};
use crate::time::now_secs;
use crate::video::{Privacy, Video};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

/// Failed downloads of one mirror before it is given up (and may be picked again later).
const MAX_ATTEMPTS: u32 = 5;

/// Why an administrator's request could not be done.
#[derive(Debug, thiserror::Error)]
pub enum RedundancyError {
    /// No such video, or not one that can be mirrored (the reason).
    #[error("{0}")]
    NotMirrorable(String),
    /// Already mirrored.
    #[error("video {0} is already mirrored here")]
    Exists(String),
    /// No such mirror.
    #[error("no mirror {0}")]
    NotFound(u64),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Counters shown in `/metrics` and the admin page.
#[derive(Debug, Default)]
pub struct RedundancyMetrics {
    /// Mirrors downloaded and checked.
    pub downloaded: std::sync::atomic::AtomicU64,
    /// Downloads that failed (fetch, size or hash).
    pub failed: std::sync::atomic::AtomicU64,
    /// Mirrors dropped (expired, evicted, no longer eligible, by an administrator).
    pub dropped: std::sync::atomic::AtomicU64,
    /// Bytes downloaded into mirrors.
    pub bytes_downloaded: std::sync::atomic::AtomicU64,
}

/// The mirroring thread and what wakes it.
pub struct Redundancy {
    wake: (Mutex<bool>, Condvar),
    stop: AtomicBool,
    /// Counters.
    pub metrics: RedundancyMetrics,
}

impl std::fmt::Debug for Redundancy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redundancy").finish_non_exhaustive()
    }
}

impl Default for Redundancy {
    fn default() -> Self {
        Redundancy {
            wake: (Mutex::new(false), Condvar::new()),
            stop: AtomicBool::new(false),
            metrics: RedundancyMetrics::default(),
        }
    }
}

impl Redundancy {
    /// Wakes the thread (a manual mirror, a server allowed).
    pub fn notify(&self) {
        let (lock, cv) = &self.wake;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_all();
    }

    /// Stops the thread (a download in progress is given up; its partial directory is removed
    /// at the next start).
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.notify();
    }

    /// Starts the thread.
    pub fn spawn(app: &Arc<App>) -> std::io::Result<std::thread::JoinHandle<()>> {
        let weak = Arc::downgrade(app);
        std::thread::Builder::new()
            .name("redundancy".into())
            .spawn(move || run(weak))
    }

    /// Prometheus lines.
    pub fn render_metrics(&self, out: &mut String) {
        let m = &self.metrics;
        let c = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let mut w = crate::metrics::exposition::Exposition::new(out);
        w.counter(
            "fleuve_redundancy_mirrors_total",
            "Mirrors of other instances' videos, by what happened to them.",
        )
        .sample(&[("event", &"downloaded")], c(&m.downloaded))
        .sample(&[("event", &"failed")], c(&m.failed))
        .sample(&[("event", &"dropped")], c(&m.dropped));
        w.counter(
            "fleuve_redundancy_downloaded_bytes_total",
            "Bytes downloaded into mirrors.",
        )
        .sample(&[], c(&m.bytes_downloaded));
    }

    fn wait(&self, timeout: Duration) {
        let (lock, cv) = &self.wake;
        let mut woken = lock.lock().unwrap_or_else(|e| e.into_inner());
        if !*woken && !self.stop.load(Ordering::Relaxed) {
            woken = cv
                .wait_timeout(woken, timeout)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        *woken = false;
    }
}

fn run(weak: Weak<App>) {
    let mut first = true;
    loop {
        let Some(app) = weak.upgrade() else { return };
        let r = &app.redundancy;
        if r.stop.load(Ordering::Relaxed) {
            return;
        }
        if first {
            if let Err(e) = recover(&app) {
                tracing::error!(error = %e, "redundancy: cannot clean up after the last stop");
            }
            first = false;
        }
        let mut interval = Duration::from_secs(app.config.redundancy.check_interval_secs);
        match tick(&app) {
            // A failed download is tried again when its backoff ends, not at the next look.
            Ok(Some(retry)) => interval = interval.min(Duration::from_secs(retry)),
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "redundancy: look at the strategies failed"),
        }
        drop(app);
        let Some(app) = weak.upgrade() else { return };
        app.redundancy.wait(interval);
    }
}

fn dirs(app: &App) -> download::Dirs {
    download::Dirs::new(&app.data_dir.join("media"))
}

/// At start: downloads cut short start again from nothing (their partial directories, and any
/// directory of a mirror not recorded as ready, are removed).
fn recover(app: &App) -> Result<(), RedundancyError> {
    let d = dirs(app);
    if let Err(e) = download::remove_dir(&d.partial) {
        tracing::warn!(error = %e, "redundancy: cannot empty the partial downloads");
    }
    let ready: HashSet<String> = app
        .store
        .scan::<MirrorKey>(&())?
        .into_iter()
        .filter(|(_, m)| m.state == MirrorState::Ready)
        .map(|(_, m)| m.uuid)
        .collect();
    if let Ok(entries) = std::fs::read_dir(&d.ready) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !ready.contains(&name) {
                tracing::info!(video = %name, "redundancy: removing a mirror directory no ready mirror owns");
                let _ = download::remove_dir(&e.path());
            }
        }
    }
    Ok(())
}

/// The hosts whose videos the strategies may mirror (followed, accepted, redundancy allowed).
fn allowed_hosts(app: &App) -> Result<HashSet<String>, StoreError> {
    Ok(app
        .store
        .scan::<FollowingKey>(&())?
        .into_iter()
        .filter(|(_, f)| f.state == FollowState::Accepted && f.redundancy_allowed)
        .map(|(_, f)| f.host)
        .collect())
}

/// Why a video cannot be mirrored, if it cannot (PeerTube: remote, public, non-live, with an
/// HLS playlist; we also need its hashes to check the copy).
pub fn unmirrorable(video: &Video) -> Option<String> {
    let Some(r) = &video.remote else {
        return Some(format!(
            "video {} is ours; only other instances' videos are mirrored",
            video.uuid
        ));
    };
    if video.privacy != Privacy::Public || !video.is_published() || video.blacklist.is_some() {
        return Some(format!(
            "video {} is not a public published video",
            video.uuid
        ));
    }
    if r.playlist_url.is_none() || r.segments_sha256_url.is_none() {
        return Some(format!(
            "video {} has no HLS playlist with segment hashes (only HLS is mirrored)",
            video.uuid
        ));
    }
    None
}

fn announced_size(video: &Video) -> u64 {
    video
        .remote
        .as_ref()
        .map_or(0, |r| r.files.iter().map(|f| f.size).sum())
}

/// One look: drop what may not stay, renew or drop what expired, pick new mirrors, download
/// the pending ones. Returns the seconds until the soonest retry of a failed download, if any.
pub fn tick(app: &App) -> Result<Option<u64>, RedundancyError> {
    let now = now_secs();
    let config = &app.config.redundancy;
    let hosts = allowed_hosts(app)?;
    let mut mirrors: Vec<Mirror> = app
        .store
        .scan::<MirrorKey>(&())?
        .into_iter()
        .map(|(_, m)| m)
        .collect();

    // Mirrors that may not stay: the video went, changed, or its server is no longer allowed.
    mirrors.retain(|m| {
        let video = match app.store.get(&VideoKey(m.video_id)) {
            Ok(v) => v,
            // A failed read says nothing about the video: keep its mirror.
            Err(e) => {
                tracing::warn!(video = %m.uuid, error = %e, "redundancy: cannot read a mirrored video");
                return true;
            }
        };
        let why = match &video {
            None => Some("the video is gone".to_string()),
            Some(v) if v.uuid != m.uuid => Some("the video is gone".to_string()),
            Some(v) => unmirrorable(v).or_else(|| {
                (!m.is_manual() && !hosts.contains(&m.origin_host))
                    .then(|| format!("{} no longer allows redundancy", m.origin_host))
            }),
        };
        match why {
            Some(why) => {
                drop_mirror(app, m, video.as_ref(), &why);
                false
            }
            None => true,
        }
    });

    // Expired mirrors: renewed while their strategy is still configured and within its
    // budget, as PeerTube extends them; dropped otherwise.
    let mut expired_drops = Vec::new();
    for i in 0..mirrors.len() {
        let m = &mirrors[i];
        if m.state != MirrorState::Ready || m.expires_at.is_none_or(|e| e > now) {
            continue;
        }
        let strategy = config
            .strategies
            .iter()
            .find(|s| s.strategy.name() == m.strategy);
        let used = used_by(&m.strategy, &mirrors);
        match strategy {
            Some(s) if used <= s.size_bytes => {
                let m = &mut mirrors[i];
                m.expires_at = Some(now + s.min_lifetime_secs);
                m.updated_at = now;
                app.store.put(&MirrorKey(m.video_id), m, Durability::Sync)?;
                if let Some(v) = app.store.get(&VideoKey(m.video_id))? {
                    announce::update(app, m, &v);
                }
                tracing::info!(video = %m.uuid, strategy = %m.strategy, "redundancy: mirror renewed");
            }
            _ => expired_drops.push(i),
        }
    }
    for i in expired_drops.into_iter().rev() {
        let m = mirrors.remove(i);
        let v = app.store.get(&VideoKey(m.video_id))?;
        drop_mirror(
            app,
            &m,
            v.as_ref(),
            "expired, and its strategy no longer keeps it",
        );
    }

    // New mirrors, per strategy, within budget.
    if !config.strategies.is_empty() && !hosts.is_empty() {
        let mirrored: HashSet<u64> = mirrors.iter().map(|m| m.video_id).collect();
        let candidates = candidates(app, &hosts, &mirrored)?;
        let mut taken = HashSet::new();
        let mut rng = rand::thread_rng();
        for s in &config.strategies {
            let used = used_by(s.strategy.name(), &mirrors);
            let free: Vec<strategy::Candidate> = candidates
                .iter()
                .filter(|(c, _)| !taken.contains(&c.video_id))
                .map(|(c, _)| c.clone())
                .collect();
            for c in strategy::pick(s, free, used, now, &mut rng) {
                let Some((_, video)) = candidates.iter().find(|(x, _)| x.video_id == c.video_id)
                else {
                    continue;
                };
                taken.insert(c.video_id);
                let m = new_mirror(
                    video,
                    s.strategy.name(),
                    Some(now + s.min_lifetime_secs),
                    now,
                );
                app.store
                    .put(&MirrorKey(m.video_id), &m, Durability::Sync)?;
                tracing::info!(video = %m.uuid, strategy = %m.strategy, size = c.size, "redundancy: video picked for mirroring");
                mirrors.push(m);
            }
        }
    }

    match crate::federation::cache_files::prune_expired(&app.store, now) {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            mirrors = n,
            "redundancy: expired mirrors of our videos forgotten"
        ),
        Err(e) => {
            tracing::warn!(error = %e, "redundancy: cannot prune expired mirrors of our videos")
        }
    }
    // Downloads.
    let mut next_retry: Option<u64> = None;
    for m in mirrors
        .into_iter()
        .filter(|m| m.state == MirrorState::Downloading)
    {
        if app.redundancy.stop.load(Ordering::Relaxed) {
            break;
        }
        let retry_at = if m.retry_at <= now {
            download_one(app, m)
        } else {
            Some(m.retry_at)
        };
        if let Some(at) = retry_at {
            next_retry = Some(next_retry.map_or(at, |n| n.min(at)));
        }
    }
    Ok(next_retry.map(|at| at.saturating_sub(now_secs()).max(1)))
}

/// Bytes the mirrors of `strategy` take (announced sizes for those still downloading).
fn used_by(strategy: &str, mirrors: &[Mirror]) -> u64 {
    mirrors
        .iter()
        .filter(|m| m.strategy == strategy)
        .map(|m| m.size)
        .sum()
}

/// The videos of allowed hosts that could be mirrored and are not yet.
fn candidates(
    app: &App,
    hosts: &HashSet<String>,
    mirrored: &HashSet<u64>,
) -> Result<Vec<(strategy::Candidate, Video)>, StoreError> {
    let mut out = Vec::new();
    for (_, v) in app.store.scan::<VideoKey>(&())? {
        let Some(r) = &v.remote else { continue };
        if mirrored.contains(&v.id) || !hosts.contains(&r.host) || unmirrorable(&v).is_some() {
            continue;
        }
        out.push((
            strategy::Candidate {
                video_id: v.id,
                views: r.views,
                published_at: v.published_at.unwrap_or(v.created_at),
                size: announced_size(&v),
            },
            v,
        ));
    }
    Ok(out)
}

fn new_mirror(video: &Video, strategy: &str, expires_at: Option<u64>, now: u64) -> Mirror {
    let r = video.remote.as_ref();
    Mirror {
        video_id: video.id,
        uuid: video.uuid.clone(),
        video_url: r.map(|r| r.url.clone()).unwrap_or_default(),
        origin_host: r.map(|r| r.host.clone()).unwrap_or_default(),
        strategy: strategy.to_string(),
        state: MirrorState::Downloading,
        size: announced_size(video),
        created_at: now,
        updated_at: now,
        expires_at,
        attempts: 0,
        last_error: None,
        retry_at: 0,
    }
}

/// Downloads one mirror; returns when to try again after a failure (Unix seconds).
fn download_one(app: &App, mut m: Mirror) -> Option<u64> {
    let Ok(Some(video)) = app.store.get(&VideoKey(m.video_id)) else {
        return None;
    };
    let Some(remote) = &video.remote else {
        return None;
    };
    let config = &app.config.redundancy;
    let limits = download::Limits {
        deadline: Instant::now() + Duration::from_secs(config.download_timeout_secs),
        rate: config.download_rate_bytes_per_sec,
        stop: &app.redundancy.stop,
    };
    tracing::info!(video = %m.uuid, origin = %m.origin_host, "redundancy: downloading a mirror");
    let started = Instant::now();
    let result = download::mirror(&app.federation.client, &dirs(app), &m.uuid, remote, &limits);
    let now = now_secs();
    match result {
        Ok(size) => {
            let metrics = &app.redundancy.metrics;
            metrics.downloaded.fetch_add(1, Ordering::Relaxed);
            metrics.bytes_downloaded.fetch_add(size, Ordering::Relaxed);
            m.state = MirrorState::Ready;
            m.size = size;
            m.updated_at = now;
            m.last_error = None;
            if let Err(e) = app.store.put(&MirrorKey(m.video_id), &m, Durability::Sync) {
                tracing::error!(video = %m.uuid, error = %e, "redundancy: cannot record a ready mirror");
                return None;
            }
            app.media_access.files_moved();
            tracing::info!(video = %m.uuid, bytes = size, secs = started.elapsed().as_secs_f64(), "redundancy: mirror ready and checked");
            announce::create(app, &m, &video);
            None
        }
        Err(e) => {
            let _ = download::remove_dir(&dirs(app).partial.join(&m.uuid));
            if app.redundancy.stop.load(Ordering::Relaxed) {
                return None;
            }
            app.redundancy
                .metrics
                .failed
                .fetch_add(1, Ordering::Relaxed);
            m.attempts += 1;
            m.last_error = Some(e.to_string());
            m.updated_at = now;
            if m.attempts >= MAX_ATTEMPTS {
                tracing::warn!(video = %m.uuid, error = %e, attempts = m.attempts, "redundancy: mirror given up");
                let _ = app.store.delete(&MirrorKey(m.video_id), Durability::Sync);
                return None;
            }
            let backoff = (30u64 << m.attempts.min(6)).min(config.check_interval_secs.max(30));
            m.retry_at = now + backoff;
            tracing::warn!(video = %m.uuid, error = %e, attempts = m.attempts, retry_in_secs = backoff, "redundancy: mirror download failed");
            let _ = app.store.put(&MirrorKey(m.video_id), &m, Durability::Sync);
            Some(m.retry_at)
        }
    }
}

/// Removes a mirror: its record, its files, and (when it was announced) an `Undo` to the
/// origin.
fn drop_mirror(app: &App, m: &Mirror, video: Option<&Video>, why: &str) {
    if let Err(e) = app.store.delete(&MirrorKey(m.video_id), Durability::Sync) {
        tracing::error!(video = %m.uuid, error = %e, "redundancy: cannot forget a mirror");
        return;
    }
    let d = dirs(app);
    let _ = download::remove_dir(&d.partial.join(&m.uuid));
    if let Err(e) = download::remove_dir(&d.ready.join(&m.uuid)) {
        tracing::warn!(video = %m.uuid, error = %e, "redundancy: cannot remove a mirror's files");
    }
    app.media_access.files_moved();
    app.redundancy
        .metrics
        .dropped
        .fetch_add(1, Ordering::Relaxed);
    tracing::info!(video = %m.uuid, strategy = %m.strategy, reason = why, "redundancy: mirror dropped");
    if m.state == MirrorState::Ready {
        if let Some(v) = video {
            announce::undo(app, m, v);
        }
    }
}

/// `POST /api/v1/server/redundancy/videos`: a manual mirror of `video` (no expiry).
pub fn add_manual(app: &App, video: &Video) -> Result<Mirror, RedundancyError> {
    if let Some(why) = unmirrorable(video) {
        return Err(RedundancyError::NotMirrorable(why));
    }
    if app.store.get(&MirrorKey(video.id))?.is_some() {
        return Err(RedundancyError::Exists(video.uuid.clone()));
    }
    let m = new_mirror(video, "manual", None, now_secs());
    app.store.put(&MirrorKey(video.id), &m, Durability::Sync)?;
    tracing::info!(video = %m.uuid, "redundancy: manual mirror added");
    app.redundancy.notify();
    Ok(m)
}

/// `DELETE /api/v1/server/redundancy/videos/{id}`: drops the mirror of video `id`.
pub fn remove(app: &App, id: u64) -> Result<(), RedundancyError> {
    let m = app
        .store
        .get(&MirrorKey(id))?
        .ok_or(RedundancyError::NotFound(id))?;
    let video = app.store.get(&VideoKey(id))?;
    drop_mirror(app, &m, video.as_ref(), "removed by an administrator");
    Ok(())
}

/// Per strategy: its budget (manual: none) and what its mirrors take, for
/// `GET /api/v1/server/stats` (`videosRedundancy`).
pub fn usage(app: &App) -> Result<Vec<(String, u64, u64, usize)>, StoreError> {
    let mirrors: Vec<Mirror> = app
        .store
        .scan::<MirrorKey>(&())?
        .into_iter()
        .map(|(_, m)| m)
        .collect();
    let mut names: Vec<(String, u64)> = app
        .config
        .redundancy
        .strategies
        .iter()
        .map(|s: &StrategyConfig| (s.strategy.name().to_string(), s.size_bytes))
        .collect();
    if mirrors.iter().any(Mirror::is_manual) {
        names.push(("manual".into(), 0));
    }
    Ok(names
        .into_iter()
        .map(|(name, size)| {
            let mine: Vec<&Mirror> = mirrors.iter().filter(|m| m.strategy == name).collect();
            let used = mine.iter().map(|m| m.size).sum();
            (name, size, used, mine.len())
        })
        .collect())
}
