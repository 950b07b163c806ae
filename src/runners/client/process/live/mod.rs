//! A `live-rtmp-hls-transcoding` job, as PeerTube's runner does it (`process-live.ts`): the
//! child (`fleuve runner live`, [`child`]) plays the RTMP stream and writes HLS chunks into the
//! job's directory; this side polls the directory ([`chunks`]) and sends each complete chunk in
//! an `update` (`add-chunk`, with its rendition's playlist cut after it and the master once
//! every playlist exists), each chunk the muxer deleted (`remove-chunk`), then `success` with an
//! empty payload when the stream ends. `runner_job_not_in_processing_state` (the instance ended
//! the live) stops the child and ends the job without answer; SIGTERM aborts it.

pub mod child;
pub mod chunks;

use super::super::http::{Api, JobRef};
use super::{cancelled, describe, report_error, BatchContext, Outcome, Scratch, STOPPED};
use crate::runners::protocol::{fields, JobType, LivePayload, Payload};
use crate::transcode::live::{MASTER, SCHEMES};
use crate::transcode::runner::Limits;
use child::{LiveEvent, LiveSpec};
use chunks::{cut_after, playlist_name, Change, Chunk, Tracker};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often the job's directory is listed.
const POLL: Duration = Duration::from_millis(200);
/// Tries of one update (PeerTube's runner: 3, 250 ms apart).
const UPDATE_TRIES: u32 = 3;
/// Pause between two tries of an update.
const RETRY_GAP: Duration = Duration::from_millis(250);
/// Largest chunk sent; a bigger one fails the job (a 4K 60 fps chunk of a few seconds is tens
/// of MB).
pub const MAX_CHUNK_BYTES: u64 = 256 << 20;
/// Longest chunk asked for, in seconds.
const MAX_SEGMENT_SECS: u32 = 60;
/// Most chunks a playlist may list.
const MAX_LIST_SIZE: u32 = 10_000;

/// Why sending stopped before the stream's end.
enum Stop {
    /// The instance no longer wants the job (it ended the live, or cancelled the job).
    Cancelled(String),
    /// The instance does not know the runner any more.
    UnknownRunner,
    /// The job failed.
    Failed(String),
}

/// The child process, killed (and reaped) when dropped.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What the child said.
#[derive(Debug, Default)]
struct Heard {
    playlists: Option<usize>,
    error: Option<String>,
}

/// The payload of a live job (`kind`, `payload`), checked.
pub fn payload_of(kind: JobType, payload: &serde_json::Value) -> Result<LivePayload, String> {
    let p = match Payload::parse(kind, payload) {
        Ok(Payload::Live(p)) => p,
        Ok(_) => return Err(format!("{kind} is not a live job")),
        Err(e) => return Err(format!("payload: {e}")),
    };
    let url = &p.input.rtmp_url;
    if !SCHEMES.iter().any(|s| url.starts_with(s)) {
        return Err(format!(
            "{url}: not an RTMP URL (expected rtmp:// or rtmps://)"
        ));
    }
    let out = &p.output;
    if out.to_transcode.is_empty() {
        return Err("the job asks for no rendition (toTranscode is empty)".into());
    }
    if let Some(r) = out
        .to_transcode
        .iter()
        .find(|r| !(2..=4320).contains(&r.resolution) || !(1..=240).contains(&r.fps))
    {
        return Err(format!(
            "rendition {}p at {} fps; expected 2–4320p at 1–240 fps",
            r.resolution, r.fps
        ));
    }
    if !(1..=MAX_SEGMENT_SECS).contains(&out.segment_duration) {
        return Err(format!(
            "segmentDuration {}; expected 1 to {MAX_SEGMENT_SECS} seconds",
            out.segment_duration
        ));
    }
    if !(1..=MAX_LIST_SIZE).contains(&out.segment_list_size) {
        return Err(format!(
            "segmentListSize {}; expected 1 to {MAX_LIST_SIZE}",
            out.segment_list_size
        ));
    }
    Ok(p)
}

/// Processes a live job to its end.
pub fn run(ctx: BatchContext) -> Outcome {
    let Some(accepted) = ctx.jobs.first() else {
        return Outcome::Finished;
    };
    let job = JobRef {
        uuid: accepted.job.uuid.clone(),
        job_token: accepted.job_token.clone(),
    };
    let payload = match payload_of(accepted.job.kind, &accepted.job.payload) {
        Ok(p) => p,
        Err(message) => {
            report_error(&ctx.api, &job, &message);
            return Outcome::Finished;
        }
    };
    let dir = ctx.work_dir.join(format!("live-{}", job.uuid));
    let _scratch = Scratch(dir.clone());
    let (hls, send) = (dir.join("hls"), dir.join("send"));
    if let Err(e) = std::fs::create_dir_all(&hls).and_then(|_| std::fs::create_dir_all(&send)) {
        report_error(&ctx.api, &job, &format!("{}: {e}", dir.display()));
        return Outcome::Finished;
    }
    let spec = LiveSpec {
        url: payload.input.rtmp_url.clone(),
        out_dir: hls.clone(),
        renditions: payload.output.to_transcode.clone(),
        segment_secs: payload.output.segment_duration,
        list_size: payload.output.segment_list_size,
        idle_timeout_secs: ctx.live_idle.as_secs().max(1),
        transcode: ctx.transcode.clone(),
    };
    let renditions: Vec<String> = spec
        .renditions
        .iter()
        .map(|r| format!("{}p{}", r.resolution, r.fps))
        .collect();
    tracing::info!(instance = %ctx.api.base(), job = %job.uuid, url = %spec.url, renditions = ?renditions, "live job started");
    // The server's worker limits (nice, cores, memory; chunks are far below the file cap).
    let limits = Limits::for_job(&ctx.transcode, 0, 0.0);
    let mut child = match super::spawn_child(&ctx.exe, "live", &dir, &spec, &limits) {
        Ok(c) => ChildGuard(c),
        Err(e) => {
            report_error(
                &ctx.api,
                &job,
                &format!("starting the live transcoder: {e}"),
            );
            return Outcome::Finished;
        }
    };
    let heard = Arc::new(Mutex::new(Heard::default()));
    let reader = child.0.stdout.take().map(|stdout| {
        let heard = Arc::clone(&heard);
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let Ok(event) = serde_json::from_str::<LiveEvent>(&line) else {
                    continue;
                };
                if let Ok(mut h) = heard.lock() {
                    match event {
                        LiveEvent::Started { playlists, .. } => h.playlists = Some(playlists),
                        LiveEvent::Error { message } => h.error = Some(message),
                        LiveEvent::Ended { .. } => {}
                    }
                }
            }
        })
    });
    let mut sender = Sender {
        api: &ctx.api,
        job: job.clone(),
        hls,
        send,
        tracker: Tracker::default(),
        playlists: None,
        sent_playlists: BTreeMap::new(),
    };
    let status = loop {
        if ctx.stop.load(Ordering::Relaxed) {
            drop(child);
            match ctx.api.abort(&job, STOPPED) {
                Ok(()) => tracing::info!(job = %job.uuid, "live job aborted: runner stopped"),
                Err(e) => tracing::warn!(job = %job.uuid, error = %e, "abort failed"),
            }
            return Outcome::Finished;
        }
        let exited = match child.0.try_wait() {
            Ok(s) => s,
            Err(e) => {
                drop(child);
                report_error(
                    &ctx.api,
                    &job,
                    &format!("waiting for the live transcoder: {e}"),
                );
                return Outcome::Finished;
            }
        };
        if sender.playlists.is_none() {
            sender.playlists = heard.lock().ok().and_then(|h| h.playlists);
        }
        // After a clean end every chunk left is complete; after a failure nothing more is sent.
        let ended = exited.is_some_and(|s| s.success());
        let step = match exited {
            Some(s) if !s.success() => Ok(()),
            // No progress-less heartbeat: PeerTube refuses an update without a chunk on live
            // jobs (400); the chunks are the heartbeats, as with its own runner.
            _ => sender.step(ended),
        };
        if let Err(stop) = step {
            drop(child);
            return stopped(&ctx.api, &job, stop);
        }
        if let Some(s) = exited {
            break s;
        }
        std::thread::sleep(POLL);
    };
    drop(child);
    if let Some(r) = reader {
        let _ = r.join();
    }
    if !status.success() {
        let message = heard
            .lock()
            .ok()
            .and_then(|h| h.error.clone())
            .unwrap_or_else(|| format!("the live transcoder died ({})", describe(status, &limits)));
        report_error(&ctx.api, &job, &message);
        return Outcome::Finished;
    }
    finish(&ctx.api, &job)
}

/// The end of a job whose updates stopped.
fn stopped(api: &Api, job: &JobRef, stop: Stop) -> Outcome {
    match stop {
        Stop::Cancelled(reason) => {
            tracing::info!(job = %job.uuid, reason = %reason, "the instance ended the live (the job is no longer processing); transcoding stopped");
            Outcome::Finished
        }
        Stop::UnknownRunner => Outcome::UnknownRunner,
        Stop::Failed(message) => {
            report_error(api, job, &message);
            Outcome::Finished
        }
    }
}

/// Sends `success` (an empty payload: the tokens only), retried while the instance is
/// unreachable.
fn finish(api: &Api, job: &JobRef) -> Outcome {
    let mut delay = Duration::from_secs(1);
    let mut tries = 0;
    let result = loop {
        tries += 1;
        match api.success(job, &[], &[]) {
            Err(e) if e.is_transient() && tries < super::SUCCESS_TRIES => {
                tracing::warn!(job = %job.uuid, error = %e, retry_in_secs = delay.as_secs(), "success not delivered; retrying");
                std::thread::sleep(delay);
                delay *= 2;
            }
            other => break other,
        }
    };
    match result {
        Ok(()) => tracing::info!(job = %job.uuid, "live job done: the stream ended"),
        Err(e) if e.is_unknown_runner() => return Outcome::UnknownRunner,
        Err(e) if cancelled(&e) => {
            tracing::info!(job = %job.uuid, reason = %e, "the live had already ended on the instance")
        }
        Err(e) => report_error(api, job, &format!("sending the result failed: {e}")),
    }
    Outcome::Finished
}

/// Sends a live job's chunks as they are completed and deleted.
struct Sender<'a> {
    api: &'a Api,
    job: JobRef,
    /// The child's HLS directory.
    hls: PathBuf,
    /// Where the playlists as sent are written.
    send: PathBuf,
    tracker: Tracker,
    /// Playlists to expect (from the child's `started`).
    playlists: Option<usize>,
    /// The last playlist sent per rendition (sent again with a `remove-chunk`).
    sent_playlists: BTreeMap<u32, PathBuf>,
}

impl Sender<'_> {
    /// Sends what changed in the directory.
    fn step(&mut self, ended: bool) -> Result<(), Stop> {
        let changes = self
            .tracker
            .scan(&self.hls, ended)
            .map_err(|e| Stop::Failed(format!("{}: {e}", self.hls.display())))?;
        for change in changes {
            match change {
                Change::Add(c) => self.add(&c)?,
                Change::Remove(c) => self.remove(&c)?,
            }
        }
        Ok(())
    }

    /// Whether the master and every playlist exist (the master is written after them).
    fn all_playlists(&self) -> bool {
        self.playlists.is_some_and(|n| {
            self.hls.join(MASTER).is_file()
                && (0..n).all(|i| self.hls.join(playlist_name(i as u32)).is_file())
        })
    }

    fn add(&mut self, chunk: &Chunk) -> Result<(), Stop> {
        let path = self.hls.join(&chunk.name);
        let size = match std::fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(e) => {
                tracing::warn!(chunk = %chunk.name, error = %e, "a live chunk vanished before it was sent");
                return Ok(());
            }
        };
        if size > MAX_CHUNK_BYTES {
            return Err(Stop::Failed(format!(
                "live chunk {} is {size} bytes, more than the {MAX_CHUNK_BYTES} allowed",
                chunk.name
            )));
        }
        let mut text = vec![
            (fields::UPDATE_TYPE, "add-chunk".to_string()),
            (fields::VIDEO_CHUNK_FILENAME, chunk.name.clone()),
        ];
        let mut files = vec![(fields::VIDEO_CHUNK_FILE, path)];
        if self.all_playlists() {
            let name = chunk.playlist();
            match std::fs::read_to_string(self.hls.join(&name)) {
                Ok(playlist) => {
                    let to = self.send.join(&name);
                    std::fs::write(&to, cut_after(&playlist, &chunk.name))
                        .map_err(|e| Stop::Failed(format!("{}: {e}", to.display())))?;
                    self.sent_playlists.insert(chunk.variant, to.clone());
                    text.push((fields::RESOLUTION_PLAYLIST_FILENAME, name));
                    files.push((fields::RESOLUTION_PLAYLIST_FILE, to));
                    files.push((fields::MASTER_PLAYLIST_FILE, self.hls.join(MASTER)));
                }
                Err(e) => {
                    tracing::warn!(playlist = %name, error = %e, "cannot read a live playlist; sending the chunk alone")
                }
            }
        }
        tracing::debug!(job = %self.job.uuid, chunk = %chunk.name, bytes = size, "sending a live chunk");
        self.update(&text, &files)
    }

    fn remove(&mut self, chunk: &Chunk) -> Result<(), Stop> {
        let mut text = vec![
            (fields::UPDATE_TYPE, "remove-chunk".to_string()),
            (fields::VIDEO_CHUNK_FILENAME, chunk.name.clone()),
        ];
        let mut files = Vec::new();
        if let Some(p) = self.sent_playlists.get(&chunk.variant) {
            text.push((fields::RESOLUTION_PLAYLIST_FILENAME, chunk.playlist()));
            files.push((fields::RESOLUTION_PLAYLIST_FILE, p.clone()));
            files.push((fields::MASTER_PLAYLIST_FILE, self.hls.join(MASTER)));
        }
        tracing::debug!(job = %self.job.uuid, chunk = %chunk.name, "a live chunk left the playlist");
        self.update(&text, &files)
    }

    /// One update, tried up to [`UPDATE_TRIES`] times.
    fn update(&mut self, text: &[(&str, String)], files: &[(&str, PathBuf)]) -> Result<(), Stop> {
        let files: Vec<(&str, &Path)> = files.iter().map(|(n, p)| (*n, p.as_path())).collect();
        let mut tries = 0;
        loop {
            tries += 1;
            match self.api.update_with(&self.job, None, text, &files) {
                Ok(()) => {
                    return Ok(());
                }
                Err(e) if e.is_unknown_runner() => return Err(Stop::UnknownRunner),
                Err(e) if cancelled(&e) => return Err(Stop::Cancelled(e.to_string())),
                Err(e) if tries < UPDATE_TRIES => {
                    tracing::warn!(job = %self.job.uuid, error = %e, "live update failed; retrying");
                    std::thread::sleep(RETRY_GAP);
                }
                Err(e) => {
                    return Err(Stop::Failed(format!(
                        "sending a live update failed {UPDATE_TRIES} times: {e}"
                    )))
                }
            }
        }
    }
}
