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
use crate::runners::protocol::{
    fields, AcceptedJob, CustomUpload, JobType, Payload, StudioTask, VodInput,
    NOT_IN_PROCESSING_STATE,
};
use crate::transcode::edit::Edit;
use crate::transcode::runner::{apply_limits, describe_signal, Limits};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use transcode::{Event, JobSpec, Spec, INPUT_IMAGE};

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
    uploads: BTreeMap<String, CustomUpload>,
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

/// A job's spec, the files it reads (`(local name, URL)`), and its outputs that go to a
/// `*CustomUpload` target instead of `success` (by multipart field).
struct Parsed {
    spec: JobSpec,
    inputs: Vec<(String, String)>,
    uploads: BTreeMap<String, CustomUpload>,
}

/// The downloaded source, under its local name.
const INPUT: &str = "input";
/// The source's separate audio file (split-audio instances), under its local name.
const INPUT_AUDIO: &str = "input-audio";

fn vod_inputs(input: &VodInput) -> Vec<(String, String)> {
    let mut list = vec![(INPUT.to_string(), input.video_file_url.clone())];
    if let Some(audio) = input.separated_audio_file_url.first() {
        list.push((INPUT_AUDIO.to_string(), audio.clone()));
    }
    list
}

/// The job's spec, inputs and custom uploads, from its payload.
fn parse_job(job: &AcceptedJob) -> Result<Parsed, String> {
    let payload =
        Payload::parse(job.job.kind, &job.job.payload).map_err(|e| format!("payload: {e}"))?;
    let mut uploads = BTreeMap::new();
    let mut upload = |field: &str, target: &Option<CustomUpload>| {
        if let Some(t) = target {
            uploads.insert(field.to_string(), t.clone());
        }
    };
    let mut edits = Vec::new();
    let (resolution, fps, sprites, inputs) = match payload {
        Payload::Hls(p) => {
            upload(fields::VIDEO_FILE, &p.output.video_file_custom_upload);
            upload(
                fields::RESOLUTION_PLAYLIST_FILE,
                &p.output.resolution_playlist_file_custom_upload,
            );
            (
                p.output.resolution,
                p.output.fps,
                None,
                vod_inputs(&p.input),
            )
        }
        Payload::WebVideo(p) => {
            upload(fields::VIDEO_FILE, &p.output.video_file_custom_upload);
            (
                p.output.resolution,
                p.output.fps,
                None,
                vod_inputs(&p.input),
            )
        }
        Payload::Storyboard(p) => {
            let target = custom_upload_of(&p.output, "storyboardFileCustomUpload");
            upload(fields::STORYBOARD_FILE, &target);
            (
                0,
                0,
                Some(p.sprites),
                vec![(INPUT.to_string(), p.input.video_file_url)],
            )
        }
        Payload::AudioMerge(p) => {
            upload(fields::VIDEO_FILE, &p.output.video_file_custom_upload);
            (
                p.output.resolution,
                p.output.fps,
                None,
                vec![
                    (INPUT.to_string(), p.input.audio_file_url),
                    (INPUT_IMAGE.to_string(), p.input.preview_file_url),
                ],
            )
        }
        Payload::Studio(p) => {
            let target = custom_upload_of(&p.output, "videoFileCustomUpload");
            upload(fields::VIDEO_FILE, &target);
            let mut inputs = vod_inputs(&p.input);
            for (i, task) in p.tasks.into_iter().enumerate() {
                let mut file = |url: String| {
                    let name = format!("task-{i}");
                    inputs.push((name.clone(), url));
                    PathBuf::from(name)
                };
                edits.push(match task {
                    StudioTask::Cut { start, end } => Edit::Cut { start, end },
                    StudioTask::AddIntro { file: url } => Edit::Intro(file(url)),
                    StudioTask::AddOutro { file: url } => Edit::Outro(file(url)),
                    StudioTask::AddWatermark {
                        file: url,
                        watermark_size_ratio,
                        horizontal_margin_ratio,
                        vertical_margin_ratio,
                    } => Edit::Watermark {
                        image: file(url),
                        size_ratio: watermark_size_ratio,
                        horizontal_margin_ratio,
                        vertical_margin_ratio,
                    },
                });
            }
            (0, 0, None, inputs)
        }
        _ => {
            return Err(format!(
                "{} is not processed by fleuve runner",
                job.job.kind
            ))
        }
    };
    Ok(Parsed {
        spec: JobSpec {
            uuid: job.job.uuid.clone(),
            kind: job.job.kind,
            resolution,
            fps,
            sprites,
            edits,
        },
        inputs,
        uploads,
    })
}

/// `output.<key>` of a payload whose output is kept as JSON, when it is a custom upload.
fn custom_upload_of(output: &serde_json::Value, key: &str) -> Option<CustomUpload> {
    output
        .get(key)
        .and_then(|v| serde_json::from_value(v.clone()).ok())
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
    // What the batch downloads (local name → URL), the first job's URL for each name; the jobs
    // of a batch read the same files.
    let mut inputs: Vec<(String, String, JobRef)> = Vec::new();
    for job in &ctx.jobs {
        let r = JobRef {
            uuid: job.job.uuid.clone(),
            job_token: job.job_token.clone(),
        };
        match parse_job(job) {
            Ok(parsed) => {
                for (name, url) in parsed.inputs {
                    if !inputs.iter().any(|(n, _, _)| *n == name) {
                        inputs.push((name, url, r.clone()));
                    }
                }
                held.push(Held {
                    job: r,
                    spec: parsed.spec,
                    uploads: parsed.uploads,
                    progress: 0,
                    sent: None,
                    gone: false,
                });
            }
            Err(message) => report_error(&ctx.api, &r, &message),
        }
    }
    let Some(first) = held.first().map(|h| h.job.clone()) else {
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
    let urls: Vec<&str> = inputs.iter().map(|(_, u, _)| u.as_str()).collect();
    tracing::info!(instance = %ctx.api.base(), jobs = ?kinds, inputs = ?urls, "batch started: one download, one decode");

    // 1. The inputs, once.
    let download = {
        let api = ctx.api.clone();
        let list: Vec<(String, JobRef, PathBuf)> = inputs
            .iter()
            .map(|(name, url, job)| (url.clone(), job.clone(), dir.join(name)))
            .collect();
        let max = ctx.max_input;
        std::thread::spawn(move || -> Result<u64, Box<(String, ApiError)>> {
            let mut total = 0;
            for (url, job, to) in list {
                total += api
                    .download(&job, &url, &to, max)
                    .map_err(|e| Box::new((url, e)))?;
            }
            Ok(total)
        })
    };
    let nothing = BTreeMap::new;
    match wait(&ctx, &mut held, &|| download.is_finished(), &nothing) {
        Wait::Finished => {}
        other => return ended(&ctx, &mut held, other),
    }
    let input_bytes = match download.join() {
        Ok(Ok(bytes)) => {
            tracing::info!(bytes, inputs = ?urls, "inputs downloaded");
            bytes
        }
        Ok(Err(failed)) => {
            let (url, e) = *failed;
            if e.is_unknown_runner() {
                return Outcome::UnknownRunner;
            }
            fail_all(
                &ctx.api,
                &mut held,
                &format!("downloading the input {url} failed: {e}"),
            );
            return Outcome::Finished;
        }
        Err(_) => {
            fail_all(&ctx.api, &mut held, "downloading the input panicked");
            return Outcome::Finished;
        }
    };

    // 2. The child: one decode, every output.
    let out_dir = dir.join("out");
    let has = |name: &str| inputs.iter().any(|(n, _, _)| n == name);
    let spec = Spec {
        source: dir.join(INPUT),
        audio_source: has(INPUT_AUDIO).then(|| dir.join(INPUT_AUDIO)),
        out_dir: out_dir.clone(),
        audio: ctx.with_audio,
        jobs: held.iter().map(|h| h.spec.clone()).collect(),
        transcode: ctx.transcode.clone(),
    };
    let (mut child, limits) = match start_child(&ctx.exe, &dir, &spec, input_bytes) {
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
    // `transcode.job_timeout_secs`, when set, bounds the batch as it bounds a server's job.
    let deadline = (ctx.transcode.job_timeout_secs > 0).then(|| Instant::now() + limits.timeout);
    let finished = || {
        let mut e = exited.lock().unwrap_or_else(|p| p.into_inner());
        if e.is_none() {
            let mut c = child.lock().unwrap_or_else(|p| p.into_inner());
            *e = child_try_wait(&mut c, &limits);
            if e.is_none() && deadline.is_some_and(|d| Instant::now() >= d) {
                let _ = c.kill();
                let _ = c.wait();
                *e = Some(format!(
                    "ran past its time limit of {} s (transcode.job_timeout_secs) and was killed",
                    limits.timeout.as_secs()
                ));
            }
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

fn child_try_wait(child: &mut Child, limits: &Limits) -> Option<String> {
    match child.try_wait() {
        Ok(Some(status)) => Some(describe(status, limits)),
        Ok(None) => None,
        Err(e) => Some(e.to_string()),
    }
}

fn describe(status: std::process::ExitStatus, limits: &Limits) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => describe_signal(s, limits),
        _ => "unknown exit".into(),
    }
}

/// Starts the batch's child (`fleuve runner transcode --spec`) under the `[transcode]` worker
/// limits, as the server starts its workers: niced (`worker_nice`), pinned (`cores`), an
/// address-space limit (`worker_memory_bytes`) and a file-size limit (`worker_max_file_bytes`,
/// else 4 × the input); it dies with the runner.
fn start_child(
    exe: &Path,
    dir: &Path,
    spec: &Spec,
    input_bytes: u64,
) -> std::io::Result<(Child, Limits)> {
    std::fs::create_dir_all(&spec.out_dir)?;
    let limits = Limits::for_job(&spec.transcode, input_bytes, 0.0);
    Ok((spawn_child(exe, "transcode", dir, spec, &limits)?, limits))
}

/// Writes `spec` as `<dir>/spec.json` and starts `fleuve runner <subcommand> --spec` on it
/// under `limits`, its stdout piped; it dies with the runner.
fn spawn_child(
    exe: &Path,
    subcommand: &str,
    dir: &Path,
    spec: &impl serde::Serialize,
    limits: &Limits,
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
    apply_limits(&mut cmd, limits);
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
        // Outputs with a `*CustomUpload` target go there first; the rest in `success`.
        let mut parts: Vec<(&str, &Path)> = Vec::new();
        let mut refused = None;
        for (field, path) in list {
            match h.uploads.get(field) {
                Some(target) => {
                    if let Err(e) = with_retries(&h.job, || ctx.api.custom_upload(target, path)) {
                        refused = Some(format!("uploading {field} to {} failed: {e}", target.url));
                        break;
                    }
                    tracing::info!(job = %h.job.uuid, field = %field, target = %target.url, "output uploaded to its custom target");
                }
                None => parts.push((field.as_str(), path.as_path())),
            }
        }
        if let Some(why) = refused {
            report_error(&ctx.api, &h.job, &why);
            h.gone = true;
            continue;
        }
        let result = with_retries(&h.job, || ctx.api.success(&h.job, &parts, &[]));
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

/// Runs `call` until it succeeds, fails for good, or has failed on the connection
/// [`SUCCESS_TRIES`] times (the instance may be restarting), waiting longer each time.
fn with_retries(job: &JobRef, call: impl Fn() -> Result<(), ApiError>) -> Result<(), ApiError> {
    let mut delay = Duration::from_secs(1);
    let mut tries = 0;
    loop {
        tries += 1;
        match call() {
            Err(e) if e.is_transient() && tries < SUCCESS_TRIES => {
                tracing::warn!(job = %job.uuid, error = %e, retry_in_secs = delay.as_secs(), "result not delivered; retrying");
                std::thread::sleep(delay);
                delay *= 2;
            }
            other => return other,
        }
    }
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
