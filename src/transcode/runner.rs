//! The server side of transcoding: lanes that take jobs from the durable queue, run each in a
//! `fleuve worker` child process (pinned to the transcode cores, niced, with memory, output-size
//! and time limits, killed if the server dies), follow its progress over a pipe, and publish its
//! outputs. A worker that crashes fails or retries its job; the server keeps serving. Deleting a
//! video cancels its job: the worker is killed and nothing is published.

use super::jobs::JobQueue;
use super::progress::Progress;
use super::publish;
use super::worker::{WorkerEvent, WorkerResult, WorkerSpec};
use crate::config::TranscodeConfig;
use crate::store::tables::{Job, JobState};
use crate::store::{Durability, Health, Store, StoreError};
use crate::video::VideoState;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Longest progress line read from a worker (a hostile file cannot make the parent buffer more).
const MAX_LINE: u64 = 1 << 20;

/// A job being run now, as the API shows it.
#[derive(Debug, Clone)]
pub struct LiveJob {
    /// Job id.
    pub job_id: u64,
    /// Attempt number.
    pub attempt: u32,
    /// Worker process id.
    pub pid: u32,
    /// Latest progress report.
    pub progress: Option<Progress>,
}

/// Work done elsewhere than in a local `fleuve worker`: remote runners (PeerTube's protocol).
/// The transcoder calls it where it would spawn a worker; everything after (publication, hooks,
/// retries, cancellation on deletion) is the same code. Implemented by `runners::server`, so
/// `transcode` does not depend on `runners`.
pub trait RemoteWork: Send + Sync + std::fmt::Debug {
    /// Runs attempt `job.attempts` of `job` elsewhere and blocks until its outputs are in `out`
    /// (created, empty), as a local worker leaves them; `Err` is the attempt's failure reason.
    fn attempt(
        &self,
        job: &Job,
        video_name: &str,
        duration: f64,
        out: &Path,
    ) -> Result<WorkerResult, String>;
    /// The video is being deleted: its remote work is cancelled and a waiting
    /// [`RemoteWork::attempt`] returns.
    fn cancel(&self, video_uuid: &str);
    /// The server is stopping: a waiting [`RemoteWork::attempt`] returns (its work is kept and
    /// found again at the next start).
    fn stop(&self);
    /// `job` is over (published, given up or dropped): what its remote work left can go.
    fn release(&self, job: &Job);
}

/// Where the runner finds things.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// `[transcode]`.
    pub transcode: TranscodeConfig,
    /// Data directory (`tmp/jobs/` staging, `media/` publication).
    pub data_dir: PathBuf,
    /// Public URL (torrents, P2P hashes).
    pub public_url: String,
    /// The `fleuve` executable to run as `fleuve worker`.
    pub exe: PathBuf,
    /// `upload.min_free_bytes`: a job that fails with less free space than this on the data
    /// dir's disk failed for lack of space, and is not charged an attempt.
    pub min_free_bytes: u64,
    /// Hardware encoder sessions all jobs together may hold (`h264_nvenc` → 8).
    pub sessions: Vec<(String, u32)>,
    /// Per-video locks shared with the API (a publication and a privacy change never mix).
    pub video_locks: std::sync::Arc<crate::video::locks::VideoLocks>,
    /// Remote runners doing the work instead of local workers
    /// (`transcode.remote_runners.enabled`).
    pub remote: Option<Arc<dyn RemoteWork>>,
    /// Published videos' files go to the object storage before they are shown.
    pub to_object_storage: bool,
}

/// The hardware session budget of this machine: `transcode.nvenc_sessions` and
/// `transcode.vaapi_sessions`, or (0) what `hw` reports, else 8 NVENC sessions per GPU (the
/// consumer driver's limit) and 4 VA-API contexts per render node.
pub fn session_budget(config: &TranscodeConfig, hw: &fleuve_hw::Inventory) -> Vec<(String, u32)> {
    use fleuve_hw::Backend;
    let mut out = Vec::new();
    for (encoder, backend, configured, per_device) in [
        ("h264_nvenc", Backend::Nvenc, config.nvenc_sessions, 8),
        ("h264_vaapi", Backend::Vaapi, config.vaapi_sessions, 4),
    ] {
        let Some(cap) = hw.backend(backend).filter(|c| c.available) else {
            continue;
        };
        let n = if configured > 0 {
            configured
        } else {
            cap.max_sessions
                .unwrap_or(per_device * cap.devices.len().max(1) as u32)
        };
        out.push((encoder.to_string(), n));
    }
    out
}

/// Sessions granted to one job, returned to the pool when dropped.
struct Grant<'a> {
    held: &'a Mutex<HashMap<String, u32>>,
    granted: Vec<(String, u32)>,
}

impl Drop for Grant<'_> {
    fn drop(&mut self) {
        if let Ok(mut held) = self.held.lock() {
            for (e, n) in &self.granted {
                if let Some(h) = held.get_mut(e) {
                    *h = h.saturating_sub(*n);
                }
            }
        }
    }
}

/// The transcoder: queue, lanes, live jobs.
pub struct Transcoder {
    queue: JobQueue,
    store: Arc<Store>,
    config: RunnerConfig,
    wake: (Mutex<u64>, Condvar),
    stop: AtomicBool,
    live: Mutex<HashMap<String, LiveJob>>,
    held: Mutex<HashMap<String, u32>>,
    on_published: Mutex<Option<PublishedHook>>,
    /// Videos deleted while their job may be queued or running, with when.
    cancelled: Mutex<HashMap<String, Instant>>,
    /// Held across a publication, and by [`Transcoder::cancel`], so a video is either published
    /// before its deletion starts or not at all.
    publishing: Mutex<()>,
}

/// How long a cancellation is remembered (a job queued for a deleted video is dropped anyway
/// when claimed; this only bounds the set).
const CANCEL_MEMORY: Duration = Duration::from_secs(24 * 3600);
/// How long a job stopped by a full disk waits before it is queued again.
const DISK_RETRY: Duration = Duration::from_secs(3);

/// Called with a video's id once it is published (federation sends its `Create`), and the
/// info-hashes its publication withdrew from the tracker's allowlist (its original's torrent).
pub type PublishedHook = Box<dyn Fn(u64, &[[u8; 20]]) + Send + Sync>;

impl Transcoder {
    /// A transcoder over `store`.
    pub fn new(store: Arc<Store>, config: RunnerConfig) -> Arc<Transcoder> {
        Arc::new(Transcoder {
            queue: JobQueue::new(store.clone(), config.transcode.max_attempts),
            store,
            config,
            wake: (Mutex::new(0), Condvar::new()),
            stop: AtomicBool::new(false),
            live: Mutex::new(HashMap::new()),
            held: Mutex::new(HashMap::new()),
            on_published: Mutex::new(None),
            cancelled: Mutex::new(HashMap::new()),
            publishing: Mutex::new(()),
        })
    }

    /// Sets what runs after each publication.
    pub fn set_on_published(&self, hook: PublishedHook) {
        *self.on_published.lock().unwrap_or_else(|p| p.into_inner()) = Some(hook);
    }

    /// The job queue.
    pub fn queue(&self) -> &JobQueue {
        &self.queue
    }

    /// Requeues jobs a previous process left running and starts the lanes.
    pub fn start(self: &Arc<Self>) -> std::io::Result<Vec<std::thread::JoinHandle<()>>> {
        match self.queue.recover() {
            Ok(0) => {}
            Ok(n) => tracing::warn!(jobs = n, "requeued jobs interrupted by the previous stop"),
            Err(e) => tracing::error!(error = %e, "cannot recover interrupted jobs"),
        }
        let lanes = if self.config.remote.is_some() {
            self.config.transcode.remote_runners.videos_in_flight.max(1)
        } else {
            self.config.transcode.jobs.max(1)
        };
        (0..lanes)
            .map(|lane| {
                let me = Arc::clone(self);
                std::thread::Builder::new()
                    .name(format!("fleuve-transcode-{lane}"))
                    .spawn(move || me.lane(lane))
            })
            .collect()
    }

    /// Wakes an idle lane (a job was queued).
    pub fn notify(&self) {
        let (lock, cv) = &self.wake;
        if let Ok(mut g) = lock.lock() {
            *g += 1;
        }
        cv.notify_all();
    }

    /// Stops the lanes and kills running workers; their jobs stay `running` and are requeued at
    /// the next start.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(remote) = &self.config.remote {
            remote.stop();
        }
        self.notify();
    }

    /// Cancels the job of `video_uuid` (the video is being deleted): its worker, if one runs, is
    /// killed within a poll interval and its outputs are dropped. Once this returns, the job can
    /// no longer publish; a publication already under way has finished.
    pub fn cancel(&self, video_uuid: &str) {
        let _publishing = self.publishing.lock().unwrap_or_else(|p| p.into_inner());
        let mut cancelled = self.cancelled.lock().unwrap_or_else(|p| p.into_inner());
        cancelled.retain(|_, at| at.elapsed() < CANCEL_MEMORY);
        cancelled.insert(video_uuid.to_string(), Instant::now());
        if let Some(remote) = &self.config.remote {
            remote.cancel(video_uuid);
        }
        let live = self.live(video_uuid);
        tracing::info!(video = %video_uuid, worker = ?live.map(|l| l.pid), "transcode cancelled: the video is being deleted");
    }

    fn is_cancelled(&self, video_uuid: &str) -> bool {
        self.cancelled
            .lock()
            .map(|c| c.contains_key(video_uuid))
            .unwrap_or(false)
    }

    fn take_cancelled(&self, video_uuid: &str) -> bool {
        self.cancelled
            .lock()
            .map(|mut c| c.remove(video_uuid).is_some())
            .unwrap_or(false)
    }

    /// The live state of the job of `video_uuid`, if one is running.
    pub fn live(&self, video_uuid: &str) -> Option<LiveJob> {
        self.live.lock().ok()?.get(video_uuid).cloned()
    }

    /// Every running job, by video uuid.
    pub fn live_jobs(&self) -> Vec<(String, LiveJob)> {
        self.live
            .lock()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    fn lane(&self, lane: usize) {
        while !self.stop.load(Ordering::SeqCst) {
            match self.queue.claim_next() {
                Ok(Some(job)) => self.run_job(lane, job),
                Ok(None) => {
                    let (lock, cv) = &self.wake;
                    if let Ok(g) = lock.lock() {
                        let seen = *g;
                        let _ = cv.wait_timeout_while(g, Duration::from_secs(5), |g| {
                            *g == seen && !self.stop.load(Ordering::SeqCst)
                        });
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the job queue");
                    std::thread::sleep(Duration::from_secs(5));
                }
            }
        }
    }

    fn run_job(&self, lane: usize, job: Job) {
        let video = self.store.video_by_uuid(&job.video_uuid).ok().flatten();
        let Some(video) = video else {
            tracing::info!(job = job.id, video = %job.video_uuid, "video deleted; dropping its job");
            self.take_cancelled(&job.video_uuid);
            let _ = std::fs::remove_file(&job.source);
            let _ = self.queue.complete(job.id);
            self.release_remote(&job);
            return;
        };
        // Transcoded already (a stop came between the publication and the job's end): with
        // object storage its files may still be going up (state 6, or 8 when that failed).
        if video.state.is_transcoded() {
            self.record("complete", || self.queue.complete(job.id));
            self.release_remote(&job);
            return;
        }
        let dir = self
            .config
            .data_dir
            .join("tmp")
            .join("jobs")
            .join(job.id.to_string());
        let _ = std::fs::remove_dir_all(&dir);
        let started = Instant::now();
        tracing::info!(lane, job = job.id, attempt = job.attempts, video = %video.uuid, "transcode started");
        let outcome = self
            .attempt(&job, &video.name, video.duration, &dir)
            .map_err(|e| e.to_string());
        let result = outcome.and_then(|result| {
            let _publishing = self.publishing.lock().unwrap_or_else(|p| p.into_inner());
            if self.is_cancelled(&job.video_uuid) {
                return Err("the video was deleted".to_string());
            }
            publish::publish(
                &self.store,
                &self.config.video_locks,
                &self.config.data_dir,
                &self.config.public_url,
                &job.video_uuid,
                &dir.join("out"),
                &result,
                self.config.transcode.original_file.keep,
                self.config.to_object_storage,
            )
            .map_err(|e| e.to_string())
            .map(|published| {
                // Published: a failure to dispose of the original is logged, not a failed job.
                let withdrawn = publish::dispose_originals(
                    &self.config.data_dir,
                    &published.retired,
                    self.config.transcode.original_file.keep,
                )
                .unwrap_or_else(|e| {
                    tracing::warn!(video = %job.video_uuid, error = %e, "the original web video was not disposed of");
                    Vec::new()
                });
                (result, withdrawn)
            })
        });
        if let Ok(mut live) = self.live.lock() {
            live.remove(&job.video_uuid);
        }
        let result = result.map_err(|reason| super::space::explain(reason, &dir));
        let _ = std::fs::remove_dir_all(&dir);
        if self.take_cancelled(&job.video_uuid) {
            let _ = std::fs::remove_file(&job.source);
            let _ = self.queue.complete(job.id);
            self.release_remote(&job);
            tracing::info!(job = job.id, video = %job.video_uuid, "video deleted during its transcode; worker stopped, nothing published");
            return;
        }
        match result {
            Ok((result, withdrawn)) => {
                self.record("complete", || self.queue.complete(job.id));
                self.release_remote(&job);
                if let Some(hook) = self
                    .on_published
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .as_ref()
                {
                    hook(video.id, &withdrawn);
                }
                let rungs: Vec<String> = result
                    .files
                    .iter()
                    .map(|f| format!("{}p:{}", f.resolution, f.encoder))
                    .collect();
                tracing::info!(
                    job = job.id,
                    video = %job.video_uuid,
                    secs = started.elapsed().as_secs_f64(),
                    decoded_frames = result.decoded_frames,
                    decoder = %result.decoder,
                    rungs = %rungs.join(" "),
                    web_videos = result.web_videos.len(),
                    web_video_secs = result.web_video_secs,
                    "published"
                );
            }
            Err(reason) if self.stop.load(Ordering::SeqCst) => {
                tracing::info!(job = job.id, %reason, "transcode interrupted by shutdown; it resumes at the next start");
            }
            Err(reason) if self.disk_trouble(&reason) => {
                tracing::warn!(job = job.id, video = %job.video_uuid, %reason, "transcode stopped by a full disk; it runs again once there is room (the attempt is not counted)");
                self.pause(DISK_RETRY);
                if self
                    .record("requeue", || self.queue.requeue(job.id, &reason))
                    .is_some()
                {
                    self.notify();
                }
            }
            Err(reason) => {
                tracing::error!(job = job.id, video = %job.video_uuid, %reason, "transcode failed");
                match self.record("fail", || self.queue.fail(job.id, &reason)) {
                    Some(j) if j.state == JobState::Failed => {
                        self.mark_failed(&job.video_uuid, &reason);
                        self.release_remote(&job);
                    }
                    Some(_) => self.notify(),
                    None => {}
                }
            }
        }
    }

    /// Whether a failed attempt is the disk's fault rather than the job's: the store turned
    /// read-only after a write failed, the worker or the publication ran out of space (a
    /// worker's error does not always say so: libav or a panic may word it otherwise), or the
    /// disk is short of the reserve.
    fn disk_trouble(&self, reason: &str) -> bool {
        !matches!(self.store.health(), Health::Writable)
            || reason.contains("No space left on device")
            || reason.contains("os error 28")
            || nix::sys::statvfs::statvfs(&self.config.data_dir).is_ok_and(|st| {
                st.blocks_available().saturating_mul(st.fragment_size())
                    < self.config.min_free_bytes
            })
    }

    /// Sleeps up to `d`, less if the server stops.
    fn pause(&self, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end && !self.stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Writes a job's new state, retrying while the store is read-only: it reopens by itself once
    /// the disk has room (`runtime::disk`), and a job left `running` in the store would wait for
    /// a restart. None if it could not be written (logged; the next start recovers the job).
    fn record<T>(&self, what: &str, write: impl Fn() -> Result<T, StoreError>) -> Option<T> {
        let mut warned = false;
        loop {
            match write() {
                Ok(v) => return Some(v),
                Err(e)
                    if !matches!(self.store.health(), Health::Writable)
                        && !self.stop.load(Ordering::SeqCst) =>
                {
                    if !warned {
                        tracing::warn!(error = %e, what, "cannot record the job's state yet; retrying until the store takes writes");
                        warned = true;
                    }
                    self.pause(Duration::from_secs(1));
                }
                Err(e) => {
                    tracing::error!(error = %e, what, "cannot record the job's state");
                    return None;
                }
            }
        }
    }

    fn mark_failed(&self, uuid: &str, reason: &str) {
        if let Ok(Some(mut v)) = self.store.video_by_uuid(uuid) {
            if v.state.is_transcoded() {
                // Its publication went through; what failed came after (never un-publish).
                return;
            }
            v.state = VideoState::TranscodingFailed;
            v.error = Some(reason.to_string());
            v.updated_at = crate::time::now_secs();
            if let Err(e) = self.store.put_video(&v, Durability::Sync) {
                tracing::error!(error = %e, "cannot mark the video failed");
            }
        }
    }

    /// Lets the remote side drop what `job` left (runner results), in remote mode.
    fn release_remote(&self, job: &Job) {
        if let Some(remote) = &self.config.remote {
            remote.release(job);
        }
    }

    /// Runs one worker to its end; the staging outputs are in `<dir>/out`.
    fn attempt(
        &self,
        job: &Job,
        name: &str,
        duration: f64,
        dir: &std::path::Path,
    ) -> Result<WorkerResult, AttemptError> {
        let io = |what: &str, source: std::io::Error| AttemptError::Io {
            what: what.to_string(),
            source,
        };
        std::fs::create_dir_all(dir.join("out")).map_err(|e| io("staging directory", e))?;
        if let Some(remote) = &self.config.remote {
            if self.stop.load(Ordering::SeqCst) {
                return Err(AttemptError::Stopping);
            }
            return remote
                .attempt(job, name, duration, &dir.join("out"))
                .map_err(AttemptError::Remote);
        }
        let grant = self.grant();
        let mut plan = self.config.transcode.plan_options();
        plan.sessions = grant.granted.clone();
        let spec = WorkerSpec {
            source: job.source.clone(),
            staging: dir.join("out"),
            prefix: uuid::Uuid::new_v4().to_string(),
            video_uuid: job.video_uuid.clone(),
            video_name: name.to_string(),
            plan,
            public_url: self.config.public_url.clone(),
            web_videos: self.config.transcode.web_videos.enabled,
        };
        let spec_path = dir.join("spec.json");
        let json = serde_json::to_vec(&spec).map_err(AttemptError::Spec)?;
        std::fs::write(&spec_path, json).map_err(|e| io("job spec", e))?;
        let source_size = std::fs::metadata(&job.source)
            .map_err(|e| io(&format!("source {}", job.source.display()), e))?
            .len();
        let limits = Limits::for_job(&self.config.transcode, source_size, duration);
        let mut child = spawn_worker(&self.config.exe, &spec_path, &limits)
            .map_err(|e| io("cannot start the worker", e))?;
        let pid = child.id();
        if let Ok(mut live) = self.live.lock() {
            live.insert(
                job.video_uuid.clone(),
                LiveJob {
                    job_id: job.id,
                    attempt: job.attempts,
                    pid,
                    progress: None,
                },
            );
        }
        let stdout = child.stdout.take();
        let outcome: Arc<Mutex<(Option<WorkerResult>, Option<String>)>> = Arc::default();
        let reader = {
            let outcome = Arc::clone(&outcome);
            let uuid = job.video_uuid.clone();
            std::thread::scope(|scope| {
                let handle = scope.spawn(|| {
                    if let Some(out) = stdout {
                        self.follow(out, &uuid, &outcome);
                    }
                });
                let status = self.wait(&mut child, &uuid, limits.timeout);
                let _ = handle.join();
                status
            })
        };
        let (result, error) = {
            let mut g = outcome.lock().map_err(|_| AttemptError::Poisoned)?;
            (g.0.take(), g.1.take())
        };
        match reader {
            Err(why) => Err(why),
            Ok(status) if status.success() => result.ok_or(AttemptError::NoResult),
            Ok(status) => Err(match (error, status.signal()) {
                (Some(e), _) => AttemptError::Reported(e),
                (None, Some(sig)) => AttemptError::Killed(describe_signal(sig, &limits)),
                (None, None) => AttemptError::Exited(status.code().unwrap_or(-1)),
            }),
        }
    }

    /// Takes hardware sessions for one job: what is free, at most one per possible rung.
    fn grant(&self) -> Grant<'_> {
        let want = self.config.transcode.resolutions.len() as u32 + 1;
        let mut granted = Vec::new();
        if let Ok(mut held) = self.held.lock() {
            for (encoder, total) in &self.config.sessions {
                let h = held.entry(encoder.clone()).or_insert(0);
                let n = total.saturating_sub(*h).min(want);
                *h += n;
                granted.push((encoder.clone(), n));
            }
        }
        Grant {
            held: &self.held,
            granted,
        }
    }

    /// Waits for the worker, killing it when it runs out of time, its video is deleted or the
    /// server stops.
    fn wait(
        &self,
        child: &mut Child,
        video_uuid: &str,
        timeout: Duration,
    ) -> Result<std::process::ExitStatus, AttemptError> {
        let deadline = Instant::now() + timeout;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) => {}
                Err(e) => return Err(AttemptError::Wait(e)),
            }
            if self.stop.load(Ordering::SeqCst) {
                let _ = child.kill();
                let _ = child.wait();
                return Err(AttemptError::Stopping);
            }
            if self.is_cancelled(video_uuid) {
                let _ = child.kill();
                let _ = child.wait();
                return Err(AttemptError::Deleted);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(AttemptError::TimedOut(timeout.as_secs()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Reads the worker's report lines.
    fn follow(
        &self,
        out: impl Read,
        uuid: &str,
        outcome: &Mutex<(Option<WorkerResult>, Option<String>)>,
    ) {
        let mut reader = BufReader::new(out);
        let mut line = String::new();
        loop {
            line.clear();
            match (&mut reader).take(MAX_LINE).read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let event = match serde_json::from_str::<WorkerEvent>(line.trim_end()) {
                Ok(e) => e,
                Err(_) => {
                    tracing::debug!(line = %line.trim_end(), "unparsable worker line");
                    continue;
                }
            };
            match event {
                WorkerEvent::Progress(p) => {
                    if let Ok(mut live) = self.live.lock() {
                        if let Some(j) = live.get_mut(uuid) {
                            j.progress = Some(p);
                        }
                    }
                }
                WorkerEvent::Done(r) => {
                    if let Ok(mut g) = outcome.lock() {
                        g.0 = Some(r);
                    }
                }
                WorkerEvent::Error { message } => {
                    if let Ok(mut g) = outcome.lock() {
                        g.1 = Some(message);
                    }
                }
            }
        }
    }
}

/// The limits of one worker.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Address-space limit in bytes (0 = none).
    pub memory: u64,
    /// Largest file it may write, in bytes (0 = none).
    pub output: u64,
    /// Wall-clock limit.
    pub timeout: Duration,
    /// Cores it is pinned to (empty = any).
    pub cores: Vec<usize>,
    /// Nice value.
    pub nice: i32,
}

impl Limits {
    /// Limits for a job over a source of `source_size` bytes lasting `duration` seconds.
    pub fn for_job(config: &TranscodeConfig, source_size: u64, duration: f64) -> Limits {
        let timeout = if config.job_timeout_secs > 0 {
            config.job_timeout_secs
        } else {
            // Generous: 20 s of work per second of video on top of 10 minutes.
            600 + (duration.max(0.0) * 20.0) as u64
        };
        let output = if config.worker_max_file_bytes > 0 {
            config.worker_max_file_bytes
        } else {
            // No rendition may be far larger than its source (plus room for tiny sources).
            source_size.saturating_mul(4).max(1 << 30)
        };
        Limits {
            memory: config.worker_memory_bytes,
            output,
            timeout: Duration::from_secs(timeout),
            cores: config.cores.clone(),
            nice: config.worker_nice,
        }
    }
}

/// Why one attempt at a job failed; its text becomes the job's `last_error` (and, once the job
/// is given up, the video's error).
#[derive(Debug, thiserror::Error)]
pub enum AttemptError {
    /// A staging file could not be written, or the source's size read.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why.
        source: std::io::Error,
    },
    /// The job spec could not be serialized.
    #[error("{0}")]
    Spec(serde_json::Error),
    /// The worker's status could not be read.
    #[error("cannot wait for the worker: {0}")]
    Wait(std::io::Error),
    /// The server is stopping; the job runs again at the next start.
    #[error("the server is stopping")]
    Stopping,
    /// The video was deleted while its job ran.
    #[error("the video was deleted")]
    Deleted,
    /// The worker ran past its time limit (seconds).
    #[error("the worker ran past its time limit of {0} s and was killed")]
    TimedOut(u64),
    /// The lock on the worker's report was poisoned.
    #[error("worker state poisoned")]
    Poisoned,
    /// The worker exited successfully without reporting a result.
    #[error("the worker exited without a result")]
    NoResult,
    /// The worker reported its own error.
    #[error("{0}")]
    Reported(String),
    /// The worker was killed by a signal (described for the operator).
    #[error("{0}")]
    Killed(String),
    /// Remote runners failed the job (or the server stopped while they worked on it).
    #[error("{0}")]
    Remote(String),
    /// The worker exited with a failure status and no report.
    #[error("the worker exited with status {0}")]
    Exited(i32),
}

/// What a worker's death by `sig` means, with the limit it likely hit (also for the runner's
/// batch children, which run under the same limits).
pub(crate) fn describe_signal(sig: i32, limits: &Limits) -> String {
    match sig {
        libc::SIGKILL => "the worker was killed (SIGKILL: out of memory, or by an operator)".into(),
        libc::SIGXFSZ => format!(
            "the worker wrote a file larger than its limit of {} bytes (SIGXFSZ)",
            limits.output
        ),
        libc::SIGSEGV => "the worker crashed (SIGSEGV) decoding or encoding this file".into(),
        libc::SIGABRT if limits.memory > 0 => format!(
            "the worker aborted (SIGABRT), likely out of its {} byte memory limit",
            limits.memory
        ),
        libc::SIGABRT => "the worker aborted (SIGABRT)".into(),
        other => format!("the worker died from signal {other}"),
    }
}

/// Starts `exe worker --spec <spec>` with the limits applied in the child before `exec`.
fn spawn_worker(
    exe: &std::path::Path,
    spec: &std::path::Path,
    limits: &Limits,
) -> std::io::Result<Child> {
    let mut cmd = Command::new(exe);
    cmd.arg("worker")
        .arg("--spec")
        .arg(spec)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    apply_limits(&mut cmd, limits);
    cmd.spawn()
}

/// Makes the child of `cmd` die with this process and run under `limits` (nice value, cores,
/// address space, largest file), set in the child before `exec`.
pub(crate) fn apply_limits(cmd: &mut Command, limits: &Limits) {
    let (memory, output, nice, cores) = (
        limits.memory,
        limits.output,
        limits.nice,
        limits.cores.clone(),
    );
    // SAFETY: the closure runs in the forked child before exec and only calls async-signal-safe
    // functions (prctl, setpriority, sched_setaffinity, setrlimit) on values prepared before
    // the fork; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            // Die with the parent: a worker must never outlive the process that publishes it.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            libc::setpriority(libc::PRIO_PROCESS, 0, nice);
            if !cores.is_empty() {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                for &c in &cores {
                    libc::CPU_SET(c, &mut set);
                }
                if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            super::worker::set_child_limits(&[
                (libc::RLIMIT_AS, memory),
                (libc::RLIMIT_FSIZE, output),
            ])
        });
    }
}

/// Appends the transcoder's Prometheus text: jobs by state and each running rung's frame rate.
pub fn render_metrics(t: &Transcoder, out: &mut String) {
    let mut w = crate::metrics::exposition::Exposition::new(out);
    let mut jobs = w.gauge("fleuve_transcode_jobs", "Jobs by state.");
    for state in [
        JobState::Queued,
        JobState::Running,
        JobState::Done,
        JobState::Failed,
    ] {
        let n = t.queue.count(state).unwrap_or(0);
        jobs.sample(&[("state", &format!("{state:?}").to_lowercase())], n);
    }
    let mut fps = w.gauge(
        "fleuve_transcode_fps",
        "Frames per second of each running rung.",
    );
    for (uuid, live) in t.live_jobs() {
        for r in live.progress.map(|p| p.rungs).unwrap_or_default() {
            fps.sample(
                &[
                    ("video", &uuid),
                    ("resolution", &r.resolution),
                    ("encoder", &r.encoder),
                ],
                format_args!("{:.1}", r.fps),
            );
        }
    }
}
