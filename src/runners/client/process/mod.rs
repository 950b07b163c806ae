//! Processing an accepted batch: download the input once (with the first job's tokens), run the
//! child transcoder, send each job's `update` (progress, and the heartbeat PeerTube's watchdog
//! needs), then each job's `success` with its own files, `error` with the reason when the batch
//! fails, `abort` when the runner stops. A job the instance cancelled (`update` answers
//! `runner_job_not_in_processing_state`) is dropped from the batch; the batch stops when none is
//! left. A live job is a batch of its own, run by [`live`].

pub mod live;
pub mod transcode;

use super::http::{Api, ApiError, JobRef};
use crate::config::TranscodeConfig;
use crate::runners::protocol::{AcceptedJob, JobType, Payload, NOT_IN_PROCESSING_STATE};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use transcode::{Event, JobSpec, Spec};

/// The reason sent with `abort` when the runner stops (as PeerTube's runner sends it).
pub const STOPPED: &str = "Runner stopped";
/// Shortest pause between two `update` calls of a job whose progress moved.
const MIN_UPDATE_GAP: Duration = Duration::from_secs(2);
/// Tries of `success` on connection errors (the instance may be restarting).
const SUCCESS_TRIES: u32 = 5;

/// Everything a batch needs.
pub struct BatchContext {
    /// The instance.
    pub api: Api,
    /// The accepted jobs (one input).
    pub jobs: Vec<AcceptedJob>,
    /// Whether the renditions carry the audio.
    pub with_audio: bool,
    /// Where the batch's files go (a directory of its own is made inside).
    pub work_dir: PathBuf,
    /// The `fleuve` executable (for the child).
    pub exe: PathBuf,
    /// Encoder preferences and source caps.
    pub transcode: TranscodeConfig,
    /// Longest pause between two `update` calls of a job.
    pub update_every: Duration,
    /// Largest input downloaded (`[jobs] max_input_bytes`).
    pub max_input: u64,
    /// How long a live source may send nothing before its stream is over
    /// (`[jobs] live_idle_timeout_secs`).
    pub live_idle: Duration,
    /// Set when the runner stops.
    pub stop: Arc<AtomicBool>,
}

/// How a batch ended, for the scheduler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every job got its answer (success, error, abort, or was cancelled).
    Finished,
    /// The instance does not know the runner token any more.
    UnknownRunner,
}

/// A job of the batch.
struct Held {
    job: JobRef,
    spec: JobSpec,
    progress: u8,
    sent: Option<(Instant, u8)>,
    gone: bool,
}

/// What waiting on a step ended with.
enum Wait {
    Finished,
    Stopped,
    AllGone,
    UnknownRunner,
}

/// Removes the batch directory when the batch ends, whatever happens.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The job's spec and its input URL, from its payload.
fn job_spec(job: &AcceptedJob) -> Result<(JobSpec, String), String> {
    let payload =
        Payload::parse(job.job.kind, &job.job.payload).map_err(|e| format!("payload: {e}"))?;
    let (resolution, fps, sprites, url) = match payload {
        Payload::Hls(p) => (
            p.output.resolution,
            p.output.fps,
            None,
            p.input.video_file_url,
        ),
        Payload::WebVideo(p) => (
            p.output.resolution,
            p.output.fps,
            None,
            p.input.video_file_url,
        ),
        Payload::Storyboard(p) => (0, 0, Some(p.sprites), p.input.video_file_url),
        _ => {
            return Err(format!(
                "{} is not processed by fleuve runner",
                job.job.kind
            ))
        }
    };
    Ok((
        JobSpec {
            uuid: job.job.uuid.clone(),
            kind: job.job.kind,
            resolution,
            fps,
            sprites,
        },
        url,
    ))
}

/// Processes a batch to its end.
pub fn run(ctx: BatchContext) -> Outcome {
    if ctx
        .jobs
        .iter()
        .any(|j| j.job.kind == JobType::LiveRtmpHlsTranscoding)
    {
        return live::run(ctx);
    }
    let mut held = Vec::new();
    let mut input_url = None;
    for job in &ctx.jobs {
        let r = JobRef {
            uuid: job.job.uuid.clone(),
            job_token: job.job_token.clone(),
        };
        match job_spec(job) {
            Ok((spec, url)) => {
                input_url.get_or_insert(url);
                held.push(Held {
                    job: r,
                    spec,
                    progress: 0,
                    sent: None,
                    gone: false,
                });
            }
            Err(message) => report_error(&ctx.api, &r, &message),
        }
    }
    let (Some(url), Some(first)) = (input_url, held.first().map(|h| h.job.clone())) else {
        return Outcome::Finished;
    };
    let dir = ctx.work_dir.join(format!("batch-{}", first.uuid));
    let _scratch = Scratch(dir.clone());
    if let Err(e) = std::fs::create_dir_all(&dir) {
        fail_all(&ctx.api, &mut held, &format!("{}: {e}", dir.display()));
        return Outcome::Finished;
    }
    let kinds: Vec<String> = held
        .iter()
        .map(|h| format!("{}:{}p", h.spec.kind, h.spec.resolution))
        .collect();
    tracing::info!(instance = %ctx.api.base(), jobs = ?kinds, input = %url, "batch started: one download, one decode");

    // 1. The input, once.
    let input = dir.join("input");
    let download = {
        let (api, job, url, input) = (ctx.api.clone(), first.clone(), url.clone(), input.clone());
        let max = ctx.max_input;
        std::thread::spawn(move || api.download(&job, &url, &input, max))
    };
    let nothing = BTreeMap::new;
    match wait(&ctx, &mut held, &|| download.is_finished(), &nothing) {
        Wait::Finished => {}
        other => return ended(&ctx, &mut held, other),
    }
    match download.join() {
        Ok(Ok(bytes)) => tracing::info!(bytes, input = %url, "input downloaded"),
        Ok(Err(e)) => {
            if e.is_unknown_runner() {
                return Outcome::UnknownRunner;
            }
            fail_all(
                &ctx.api,
                &mut held,
                &format!("downloading the input failed: {e}"),
            );
            return Outcome::Finished;
        }
        Err(_) => {
            fail_all(&ctx.api, &mut held, "downloading the input panicked");
            return Outcome::Finished;
        }
    }

    // 2. The child: one decode, every output.
    let out_dir = dir.join("out");
    let spec = Spec {
        source: input,
        out_dir: out_dir.clone(),
        audio: ctx.with_audio,
        jobs: held.iter().map(|h| h.spec.clone()).collect(),
        transcode: ctx.transcode.clone(),
    };
    let mut child = match start_child(&ctx.exe, &dir, &spec) {
        Ok(c) => c,
        Err(e) => {
            fail_all(
                &ctx.api,
                &mut held,
                &format!("starting the transcoder: {e}"),
            );
            return Outcome::Finished;
        }
    };
    let shared = Arc::new(Mutex::new(ChildState::default()));
    let reader = child.stdout.take().map(|stdout| {
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let Ok(event) = serde_json::from_str::<Event>(&line) else {
                    continue;
                };
                if let Ok(mut s) = shared.lock() {
                    match event {
                        Event::Progress { jobs } => s.progress = jobs,
                        Event::Done { files } => s.files = Some(files),
                        Event::Error { message } => s.error = Some(message),
                    }
                }
            }
        })
    });
    let child = Mutex::new(child);
    let exited = Mutex::new(None);
    let finished = || {
        let mut e = exited.lock().unwrap_or_else(|p| p.into_inner());
        if e.is_none() {
            let mut c = child.lock().unwrap_or_else(|p| p.into_inner());
            *e = child_try_wait(&mut c);
        }
        e.is_some()
    };
    let progress = || {
        shared
            .lock()
            .map(|s| s.progress.clone())
            .unwrap_or_default()
    };
    let how = wait(&ctx, &mut held, &finished, &progress);
    if !matches!(how, Wait::Finished) {
        let mut c = child.lock().unwrap_or_else(|p| p.into_inner());
        let _ = c.kill();
        let _ = c.wait();
        return ended(&ctx, &mut held, how);
    }
    if let Some(r) = reader {
        let _ = r.join();
    }
    let status = exited.lock().ok().and_then(|e| e.clone());
    let state = shared.lock().map(|s| s.clone()).unwrap_or_default();
    match state.files {
        Some(files) => deliver(&ctx, &mut held, &files),
        None => {
            let why = state.error.unwrap_or_else(|| {
                format!(
                    "the transcoder died ({})",
                    status.unwrap_or_else(|| "no exit status".into())
                )
            });
            fail_all(&ctx.api, &mut held, &why);
            Outcome::Finished
        }
    }
}

#[derive(Debug, Clone, Default)]
struct ChildState {
    progress: BTreeMap<String, u8>,
    files: Option<BTreeMap<String, Vec<(String, PathBuf)>>>,
    error: Option<String>,
}

fn child_try_wait(child: &mut Child) -> Option<String> {
    match child.try_wait() {
        Ok(Some(status)) => Some(describe(status)),
        Ok(None) => None,
        Err(e) => Some(e.to_string()),
    }
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(libc::SIGKILL)) => "killed by SIGKILL (out of memory?)".into(),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => "unknown exit".into(),
    }
}

fn start_child(exe: &Path, dir: &Path, spec: &Spec) -> std::io::Result<Child> {
    std::fs::create_dir_all(&spec.out_dir)?;
    spawn_child(exe, "transcode", dir, spec)
}

/// Writes `spec` as `<dir>/spec.json` and starts `fleuve runner <subcommand> --spec` on it,
/// its stdout piped.
fn spawn_child(
    exe: &Path,
    subcommand: &str,
    dir: &Path,
    spec: &impl serde::Serialize,
) -> std::io::Result<Child> {
    let path = dir.join("spec.json");
    let text = serde_json::to_vec(spec).map_err(std::io::Error::other)?;
    std::fs::write(&path, text)?;
    let mut cmd = Command::new(exe);
    cmd.arg("runner")
        .arg(subcommand)
        .arg("--spec")
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    // SAFETY: runs in the forked child before exec; prctl is async-signal-safe. The batch dies
    // with the thread that waits for it (a runner killed with SIGKILL leaves no orphan encoding).
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd.spawn()
}

/// Sends each job's `success` (retried on connection errors), or `error` when it is refused.
fn deliver(
    ctx: &BatchContext,
    held: &mut [Held],
    files: &BTreeMap<String, Vec<(String, PathBuf)>>,
) -> Outcome {
    for h in held.iter_mut().filter(|h| !h.gone) {
        let Some(list) = files.get(&h.job.uuid) else {
            report_error(&ctx.api, &h.job, "the transcoder made no file for this job");
            continue;
        };
        let parts: Vec<(&str, &Path)> = list
            .iter()
            .map(|(f, p)| (f.as_str(), p.as_path()))
            .collect();
        let mut delay = Duration::from_secs(1);
        let mut tries = 0;
        let result = loop {
            tries += 1;
            match ctx.api.success(&h.job, &parts, &[]) {
                Err(e) if e.is_transient() && tries < SUCCESS_TRIES => {
                    tracing::warn!(job = %h.job.uuid, error = %e, retry_in_secs = delay.as_secs(), "success not delivered; retrying");
                    std::thread::sleep(delay);
                    delay *= 2;
                }
                other => break other,
            }
        };
        match result {
            Ok(()) => {
                tracing::info!(job = %h.job.uuid, kind = %h.spec.kind, resolution = h.spec.resolution, "job done")
            }
            Err(e) if e.is_unknown_runner() => return Outcome::UnknownRunner,
            Err(e) if cancelled(&e) => {
                tracing::info!(job = %h.job.uuid, "job was cancelled on the instance; result dropped")
            }
            Err(e) => report_error(&ctx.api, &h.job, &format!("sending the result failed: {e}")),
        }
        h.gone = true;
    }
    Outcome::Finished
}

/// The instance no longer wants this job from us (cancelled, re-queued, deleted).
fn cancelled(e: &ApiError) -> bool {
    e.code() == Some(NOT_IN_PROCESSING_STATE) || e.status() == Some(404)
}

fn report_error(api: &Api, job: &JobRef, message: &str) {
    tracing::warn!(job = %job.uuid, error = message, "job failed");
    if let Err(e) = api.error(job, message) {
        tracing::warn!(job = %job.uuid, error = %e, "could not report the failure");
    }
}

fn fail_all(api: &Api, held: &mut [Held], message: &str) {
    for h in held.iter_mut().filter(|h| !h.gone) {
        report_error(api, &h.job, message);
        h.gone = true;
    }
}

/// The end of a batch that did not finish its step.
fn ended(ctx: &BatchContext, held: &mut [Held], how: Wait) -> Outcome {
    match how {
        Wait::Stopped => {
            for h in held.iter_mut().filter(|h| !h.gone) {
                match ctx.api.abort(&h.job, STOPPED) {
                    Ok(()) => tracing::info!(job = %h.job.uuid, "job aborted: runner stopped"),
                    Err(e) => tracing::warn!(job = %h.job.uuid, error = %e, "abort failed"),
                }
                h.gone = true;
            }
            Outcome::Finished
        }
        Wait::UnknownRunner => Outcome::UnknownRunner,
        Wait::AllGone | Wait::Finished => Outcome::Finished,
    }
}

/// Waits for `finished`, sending updates meanwhile.
fn wait(
    ctx: &BatchContext,
    held: &mut [Held],
    finished: &dyn Fn() -> bool,
    progress: &dyn Fn() -> BTreeMap<String, u8>,
) -> Wait {
    loop {
        if finished() {
            return Wait::Finished;
        }
        if ctx.stop.load(Ordering::Relaxed) {
            return Wait::Stopped;
        }
        let now = progress();
        for h in held.iter_mut().filter(|h| !h.gone) {
            if let Some(p) = now.get(&h.job.uuid) {
                h.progress = h.progress.max(*p);
            }
            let due = match h.sent {
                None => true,
                Some((at, value)) => {
                    at.elapsed() >= ctx.update_every
                        || (value != h.progress && at.elapsed() >= MIN_UPDATE_GAP)
                }
            };
            if !due {
                continue;
            }
            match ctx.api.update(&h.job, Some(h.progress)) {
                Ok(()) => {}
                Err(e) if e.is_unknown_runner() => return Wait::UnknownRunner,
                Err(e) if cancelled(&e) => {
                    tracing::info!(job = %h.job.uuid, reason = %e, "job no longer ours (cancelled?); dropping it");
                    h.gone = true;
                }
                Err(e) => tracing::warn!(job = %h.job.uuid, error = %e, "update failed"),
            }
            h.sent = Some((Instant::now(), h.progress));
        }
        if held.iter().all(|h| h.gone) {
            return Wait::AllGone;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
