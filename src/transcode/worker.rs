//! The `fleuve worker` process: one job, isolated from the server. It reads a [`WorkerSpec`],
//! probes and plans the source, runs the pipeline into the staging directory, builds a torrent
//! per rendition, and reports on stdout, one JSON [`WorkerEvent`] per line: progress several times
//! a second, then `done` with the outputs (or `error`). A codec crash kills this process only.

use super::ladder::{plan, PlanOptions};
use super::pipeline::{run_with, PipelineOutput};
use super::progress::{PipelineStats, Progress};
use crate::media::torrent::{self, TorrentSpec};
use crate::video::urls::{hls_file_url, tracker_urls};
use crate::video::Rendition;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What the parent asks a worker to do.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerSpec {
    /// The uploaded source.
    pub source: PathBuf,
    /// Empty directory for the outputs: `hls/`, `torrents/`, `images/`.
    pub staging: PathBuf,
    /// File name prefix (a fresh random uuid per attempt, as PeerTube does).
    pub prefix: String,
    /// The video.
    pub video_uuid: String,
    /// The video's title (torrent names).
    pub video_name: String,
    /// Planner options.
    pub plan: PlanOptions,
    /// Public URL of the instance (webseeds and tracker URLs in the torrents).
    pub public_url: String,
    /// Also make a faststart MP4 web video per rung, with its torrent, in `web-videos/`
    /// (PeerTube's `transcoding.web_videos.enabled`).
    #[serde(default)]
    pub web_videos: bool,
}

/// A rung's web video (PeerTube's `files[]` entry): the rung remuxed into a faststart MP4.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebVideoOutput {
    /// Resolution label (shorter side).
    pub resolution: u32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frame rate.
    pub fps: u32,
    /// Size in bytes.
    pub size: u64,
    /// File name (in `web-videos/`): `<video uuid>-<attempt>-<resolution>.mp4`.
    pub file: String,
    /// Its torrent's file name (in `torrents/`), with the public webseed.
    pub torrent_file: String,
    /// The torrent's info-hash (hex).
    pub info_hash: String,
    /// Whether it carries audio.
    pub has_audio: bool,
}

/// A finished job's outputs, relative to the staging directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerResult {
    /// Source duration (seconds).
    pub duration: f64,
    /// Source width / height.
    pub aspect_ratio: f64,
    /// Frames decoded (once for all rungs).
    pub decoded_frames: u64,
    /// Where the source was decoded.
    #[serde(default)]
    pub decoder: String,
    /// Master playlist file name (in `hls/`).
    pub master: String,
    /// Segment hashes file name (in `hls/`).
    pub segments_sha256: String,
    /// Miniature file name (in `images/`).
    pub thumbnail: Option<String>,
    /// Preview file name (in `images/`).
    pub preview: Option<String>,
    /// The storyboard, its sheet in `images/` (none for videos under 3 s).
    #[serde(default)]
    pub storyboard: Option<crate::video::Storyboard>,
    /// Renditions, highest first.
    pub files: Vec<Rendition>,
    /// Web videos, one per rendition in the same order, when the spec asked for them.
    #[serde(default)]
    pub web_videos: Vec<WebVideoOutput>,
    /// Seconds spent remuxing the web videos (and hashing their torrents).
    #[serde(default)]
    pub web_video_secs: f64,
}

/// A line of a worker's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum WorkerEvent {
    /// Where the pipeline is.
    Progress(Progress),
    /// Finished; outputs are in the staging directory.
    Done(WorkerResult),
    /// Failed, with why.
    Error {
        /// What went wrong, for the job's `last_error`.
        message: String,
    },
}

/// What an upload is, as `fleuve worker --probe` reports it (probed and planned in a child
/// process, so a hostile file cannot crash the server while it is being checked).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeReport {
    /// Duration in seconds.
    pub duration: f64,
    /// Width of the video.
    pub width: u32,
    /// Height of the video.
    pub height: u32,
    /// Frame rate.
    pub fps: f64,
    /// Whether it has audio.
    pub has_audio: bool,
    /// Resolutions the default ladder would produce.
    pub resolutions: Vec<u32>,
    /// Whether the miniature and the preview were written (when asked for).
    #[serde(default)]
    pub images: bool,
    /// The frame rate of each rung of [`ProbeReport::resolutions`], in the same order.
    #[serde(default)]
    pub rung_fps: Vec<u32>,
    /// The video stream's codec (`h264`, …): what a runner's result is checked against.
    #[serde(default)]
    pub video_codec: String,
    /// The audio stream's codec, when there is audio.
    #[serde(default)]
    pub audio_codec: Option<String>,
}

/// `fleuve worker --probe FILE [--plan JSON] [--images DIR]`: prints `{"ok": ProbeReport}` or
/// `{"error": "..."}`. The file is planned with `options` (the server's), so a source over the
/// `transcode.max_source_*` caps is refused here, at upload. With `images`, an accepted file's
/// miniature and preview are written there too (`thumbnail.jpg`, `preview.jpg`), so the upload
/// has them at once, decoded in this child and not in the server.
pub fn probe_main(
    file: &Path,
    options: &PlanOptions,
    images: Option<&Path>,
    out: &mut dyn Write,
) -> i32 {
    let mut report = probe_report(file, options, &fleuve_hw::discover());
    if let (Ok(r), Some(dir)) = (&mut report, images) {
        r.images = super::images::poster_from_source(
            file,
            &dir.join("thumbnail.jpg"),
            &dir.join("preview.jpg"),
        )
        .is_ok();
    }
    let (line, code) = match report {
        Ok(r) => (serde_json::json!({ "ok": r }), 0),
        Err(e) => (serde_json::json!({ "error": e.to_string() }), 1),
    };
    let _ = writeln!(out, "{line}");
    code
}

/// Why an upload could not be probed and planned: what `fleuve worker --probe` reports (as
/// text, on its output) and what its parent makes of the prober's answer.
#[derive(Debug, thiserror::Error)]
pub enum UploadProbeError {
    /// libavformat could not read the file.
    #[error(transparent)]
    Probe(#[from] super::probe::ProbeError),
    /// The file has no video stream.
    #[error("the file has no video stream (audio-only files are not supported)")]
    NoVideo,
    /// The ladder cannot be planned (a source over the caps, among others).
    #[error(transparent)]
    Plan(#[from] super::ladder::PlanError),
    /// The duration is unknown or zero.
    #[error("the file's duration is unknown or zero")]
    NoDuration,
    /// The planner options could not be passed to the prober.
    #[error("cannot pass the plan options: {0}")]
    Options(serde_json::Error),
    /// The prober could not be started.
    #[error("cannot start the probe: {0}")]
    Spawn(std::io::Error),
    /// The prober died of a signal (a crash, or a limit reached).
    #[error("probing the file crashed the prober (signal {0})")]
    Crashed(i32),
    /// The prober exited without an answer.
    #[error("the prober gave no answer")]
    NoAnswer,
    /// The prober refused the file, for the reason it gives.
    #[error("{0}")]
    Refused(String),
    /// The prober's report could not be read.
    #[error("bad probe report: {0}")]
    BadReport(serde_json::Error),
}

/// Probes an upload and plans its ladder with `options` on `hw`: what `fleuve worker --probe`
/// reports (and what the `media_probe` fuzz target runs).
pub fn probe_report(
    file: &Path,
    options: &PlanOptions,
    hw: &fleuve_hw::Inventory,
) -> Result<ProbeReport, UploadProbeError> {
    let source = super::probe::probe(file)?;
    let video = source.video.clone().ok_or(UploadProbeError::NoVideo)?;
    let ladder = plan(&source, options, hw)?;
    if source.duration_secs.is_nan() || source.duration_secs <= 0.0 {
        return Err(UploadProbeError::NoDuration);
    }
    Ok(ProbeReport {
        duration: source.duration_secs,
        width: video.width,
        height: video.height,
        fps: video.fps,
        has_audio: source.audio.is_some(),
        resolutions: ladder.rungs.iter().map(|r| r.resolution).collect(),
        images: false,
        rung_fps: ladder.rungs.iter().map(|r| r.fps).collect(),
        video_codec: video.codec.clone(),
        audio_codec: source.audio.as_ref().map(|a| a.codec.clone()),
    })
}

/// Sets resource limits (`RLIMIT_*`, value; 0 = leave as is) in a forked child before exec, for
/// the worker and the probe. Async-signal-safe: setrlimit only, nothing allocated.
pub(crate) fn set_child_limits(limits: &[(libc::__rlimit_resource_t, u64)]) -> std::io::Result<()> {
    for &(resource, value) in limits {
        if value == 0 {
            continue;
        }
        let lim = libc::rlimit {
            rlim_cur: value,
            rlim_max: value,
        };
        // SAFETY: setrlimit reads a valid rlimit struct; it is async-signal-safe.
        if unsafe { libc::setrlimit(resource, &lim) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Runs `exe worker --probe file` with a CPU-time and memory limit and returns its report;
/// `options` are the server's planner options (its caps on sources included). With `images`,
/// the prober also writes the file's miniature and preview there (see [`probe_main`]).
pub fn probe_isolated(
    exe: &Path,
    file: &Path,
    options: &PlanOptions,
    images: Option<&Path>,
) -> Result<ProbeReport, UploadProbeError> {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let plan_json = serde_json::to_string(options).map_err(UploadProbeError::Options)?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("worker")
        .arg("--probe")
        .arg(file)
        .arg("--plan")
        .arg(plan_json);
    if let Some(dir) = images {
        cmd.arg("--images").arg(dir);
    }
    cmd.stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: runs in the forked child before exec; only async-signal-safe calls on constants.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            set_child_limits(&[(libc::RLIMIT_CPU, 60), (libc::RLIMIT_AS, 4u64 << 30)])
        });
    }
    let output = cmd.output().map_err(UploadProbeError::Spawn)?;
    let text = String::from_utf8_lossy(&output.stdout);
    let value: serde_json::Value = match serde_json::from_str(text.trim()) {
        Ok(v) => v,
        Err(_) => {
            return Err(match output.status.signal() {
                Some(sig) => UploadProbeError::Crashed(sig),
                None => UploadProbeError::NoAnswer,
            })
        }
    };
    if let Some(e) = value.get("error").and_then(|e| e.as_str()) {
        return Err(UploadProbeError::Refused(e.to_string()));
    }
    serde_json::from_value(value.get("ok").cloned().unwrap_or_default())
        .map_err(UploadProbeError::BadReport)
}

/// Runs the job of `spec`, reporting to `out`. Returns the process exit code.
pub fn main(spec: &WorkerSpec, out: &mut dyn Write) -> i32 {
    match run(spec, out) {
        Ok(result) => {
            emit(out, &WorkerEvent::Done(result));
            0
        }
        Err(e) => {
            let message = e.to_string();
            emit(out, &WorkerEvent::Error { message });
            1
        }
    }
}

fn emit(out: &mut dyn Write, event: &WorkerEvent) {
    if let Ok(line) = serde_json::to_string(event) {
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

/// Why a worker's job failed; its text is what the server keeps as the job's `last_error`.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The source could not be probed.
    #[error("{0}")]
    Probe(#[from] super::probe::ProbeError),
    /// The source has no video stream.
    #[error("the file has no video stream (audio-only uploads are not supported)")]
    NoVideo,
    /// No ladder fits the source.
    #[error("{0}")]
    Plan(#[from] super::ladder::PlanError),
    /// The pipeline failed.
    #[error("{0}")]
    Pipeline(#[from] super::pipeline::PipelineError),
    /// The pipeline's thread panicked.
    #[error("the pipeline panicked")]
    Panicked,
    /// A rendition's torrent could not be made.
    #[error("torrent of {}: {source}", .media.display())]
    Torrent {
        /// The rendition's media file.
        media: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A staging file or directory could not be written, read or moved.
    #[error("{what}: {source}")]
    Io {
        /// The file (or directory) and what was done to it.
        what: String,
        /// Why.
        source: std::io::Error,
    },
    /// A file's size could not be read.
    #[error("{0}")]
    Size(std::io::Error),
}

pub(crate) fn io_error(what: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> WorkerError {
    let what = what.to_string();
    move |source| WorkerError::Io { what, source }
}

fn run(spec: &WorkerSpec, out: &mut dyn Write) -> Result<WorkerResult, WorkerError> {
    let source = super::probe::probe(&spec.source)?;
    let video = source.video.clone().ok_or(WorkerError::NoVideo)?;
    let ladder = plan(&source, &spec.plan, &fleuve_hw::discover())?;
    let hls = spec.staging.join("hls");
    let torrents = spec.staging.join("torrents");
    let images = spec.staging.join("images");
    for d in [&hls, &torrents, &images] {
        std::fs::create_dir_all(d).map_err(io_error(d.display()))?;
    }
    let resolutions: Vec<u32> = ladder.rungs.iter().map(|r| r.resolution).collect();
    let expected = (source.duration_secs * video.fps).round().max(0.0) as u64;
    let stats = Arc::new(PipelineStats::new(&resolutions, expected));

    // Report progress from a side thread while the pipeline runs on this one.
    let finished = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel::<Progress>();
    let reporter = {
        let stats = Arc::clone(&stats);
        let finished = Arc::clone(&finished);
        std::thread::spawn(move || {
            while !finished.load(Ordering::Relaxed) {
                if tx.send(stats.report()).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        })
    };
    let result = std::thread::scope(|scope| {
        let pipeline = scope.spawn(|| run_with(&spec.source, &ladder, &hls, &spec.prefix, &stats));
        while !pipeline.is_finished() {
            if let Ok(p) = rx.recv_timeout(Duration::from_millis(300)) {
                emit(out, &WorkerEvent::Progress(p));
            }
        }
        pipeline.join()
    });
    finished.store(true, Ordering::Relaxed);
    let _ = reporter.join();
    let output: PipelineOutput = result.map_err(|_| WorkerError::Panicked)??;
    emit(out, &WorkerEvent::Progress(stats.report()));

    let made: Vec<MadeRendition> = ladder
        .rungs
        .iter()
        .zip(&output.rungs)
        .map(|(rung, made)| MadeRendition {
            resolution: rung.resolution,
            width: rung.width,
            height: rung.height,
            fps: rung.fps,
            media_file: made.media_file.clone(),
            playlist: made.playlist.clone(),
            encoder: made.encoder.clone(),
            fallback_reason: ladder.rung_fallback_reason(rung, made.fallback_reason.as_deref()),
            has_audio: ladder.audio.is_some(),
        })
        .collect();
    let (files, web_videos, web_video_secs) = package(&spec.staging_names(), &made)?;
    let mut images_out = [None, None];
    for (slot, made) in images_out
        .iter_mut()
        .zip([&output.thumbnail, &output.preview])
    {
        if let Some(path) = made {
            let name = file_name(path);
            std::fs::rename(path, images.join(&name)).map_err(io_error(&name))?;
            *slot = Some(name);
        }
    }
    let [thumbnail, preview] = images_out;
    let storyboard = match &output.storyboard {
        Some(sb) => {
            let from = hls.join(&sb.file);
            std::fs::rename(&from, images.join(&sb.file)).map_err(io_error(&sb.file))?;
            Some(sb.clone())
        }
        None => None,
    };
    Ok(WorkerResult {
        duration: source.duration_secs,
        aspect_ratio: f64::from(video.width) / f64::from(video.height.max(1)),
        decoded_frames: output.decoded_frames,
        decoder: output.decoder.clone(),
        master: file_name(&output.master),
        segments_sha256: file_name(&output.segments_sha256),
        thumbnail,
        preview,
        storyboard,
        files,
        web_videos,
        web_video_secs,
    })
}

/// A rendition on disk, however it was made (this process's pipeline, or a remote runner).
#[derive(Debug, Clone)]
pub(crate) struct MadeRendition {
    /// Resolution label (shorter side).
    pub resolution: u32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frame rate.
    pub fps: u32,
    /// The single-file fragmented MP4, in `<staging>/hls/`.
    pub media_file: PathBuf,
    /// Its media playlist, in `<staging>/hls/`.
    pub playlist: PathBuf,
    /// What encoded it.
    pub encoder: String,
    /// Why earlier encoders of its chain were not used.
    pub fallback_reason: Option<String>,
    /// Whether it carries audio.
    pub has_audio: bool,
}

/// Where a video's outputs are staged and what names and URLs they get.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StagingNames<'a> {
    /// The staging directory (`hls/`, `torrents/`, `images/`, `web-videos/`).
    pub dir: &'a Path,
    /// The attempt's file name prefix.
    pub prefix: &'a str,
    /// The video.
    pub video_uuid: &'a str,
    /// Its title (torrent names).
    pub video_name: &'a str,
    /// The instance's public URL (webseeds, trackers).
    pub public_url: &'a str,
    /// Whether to make a faststart MP4 web video per rendition.
    pub web_videos: bool,
}

impl WorkerSpec {
    fn staging_names(&self) -> StagingNames<'_> {
        StagingNames {
            dir: &self.staging,
            prefix: &self.prefix,
            video_uuid: &self.video_uuid,
            video_name: &self.video_name,
            public_url: &self.public_url,
            web_videos: self.web_videos,
        }
    }
}

/// Makes a torrent per rendition in `<staging>/torrents/` (webseeded at its public URL) and,
/// when asked, a faststart MP4 web video per rendition (a remux, no second encode) with its own
/// torrent. Returns the renditions, the web videos and the seconds the web videos took.
pub(crate) fn package(
    names: &StagingNames<'_>,
    made: &[MadeRendition],
) -> Result<(Vec<Rendition>, Vec<WebVideoOutput>, f64), WorkerError> {
    let torrents = names.dir.join("torrents");
    std::fs::create_dir_all(&torrents).map_err(io_error(torrents.display()))?;
    let trackers = tracker_urls(names.public_url);
    let mut files = Vec::new();
    for rung in made {
        let media_file = file_name(&rung.media_file);
        let torrent_file = format!("{}-{}-hls.torrent", names.prefix, rung.resolution);
        let tspec = TorrentSpec {
            name: format!(
                "{} {}p.mp4",
                crate::media::torrent::safe_name(names.video_name),
                rung.resolution
            ),
            trackers: trackers.clone(),
            webseed: hls_file_url(names.public_url, names.video_uuid, false, &media_file),
        };
        let t =
            torrent::create(&rung.media_file, &tspec).map_err(|source| WorkerError::Torrent {
                media: rung.media_file.clone(),
                source,
            })?;
        std::fs::write(torrents.join(&torrent_file), &t.bytes).map_err(io_error(&torrent_file))?;
        let size = std::fs::metadata(&rung.media_file)
            .map(|m| m.len())
            .map_err(WorkerError::Size)?;
        files.push(Rendition {
            resolution: rung.resolution,
            width: rung.width,
            height: rung.height,
            fps: rung.fps,
            size,
            media_file,
            playlist_file: file_name(&rung.playlist),
            torrent_file,
            info_hash: t.info_hash_hex(),
            encoder: rung.encoder.clone(),
            fallback_reason: rung.fallback_reason.clone(),
            has_audio: rung.has_audio,
        });
    }
    let started = std::time::Instant::now();
    let web_videos = if names.web_videos {
        web_videos(names, made, &trackers)?
    } else {
        Vec::new()
    };
    Ok((files, web_videos, started.elapsed().as_secs_f64()))
}

/// Remuxes every rendition into a faststart MP4 in `<staging>/web-videos/` (no second encode)
/// and makes its torrent in `<staging>/torrents/`, webseeded at its public URL.
fn web_videos(
    names: &StagingNames<'_>,
    made: &[MadeRendition],
    trackers: &[String],
) -> Result<Vec<WebVideoOutput>, WorkerError> {
    let dir = names.dir.join("web-videos");
    std::fs::create_dir_all(&dir).map_err(io_error(dir.display()))?;
    // The video's uuid first, so the private side can tell whose file it is; the attempt's tag
    // next, so a new transcode never serves new bytes at a URL that was cached as immutable.
    let tag: String = names.prefix.chars().filter(|c| *c != '-').take(8).collect();
    let base = names.public_url.trim_end_matches('/');
    let mut out = Vec::new();
    for rung in made {
        let stem = format!("{}-{tag}-{}", names.video_uuid, rung.resolution);
        let file = format!("{stem}.mp4");
        let path = dir.join(&file);
        super::web_video::remux_faststart(&rung.media_file, &path)?;
        let tspec = TorrentSpec {
            name: format!(
                "{} {}p.mp4",
                crate::media::torrent::safe_name(names.video_name),
                rung.resolution
            ),
            trackers: trackers.to_vec(),
            webseed: format!("{base}/static/web-videos/{file}"),
        };
        let t = torrent::create(&path, &tspec).map_err(|source| WorkerError::Torrent {
            media: path.clone(),
            source,
        })?;
        let torrent_file = format!("{stem}.torrent");
        let to = names.dir.join("torrents").join(&torrent_file);
        std::fs::write(&to, &t.bytes).map_err(io_error(&torrent_file))?;
        let size = std::fs::metadata(&path)
            .map(|m| m.len())
            .map_err(WorkerError::Size)?;
        out.push(WebVideoOutput {
            resolution: rung.resolution,
            width: rung.width,
            height: rung.height,
            fps: rung.fps,
            size,
            file,
            torrent_file,
            info_hash: t.info_hash_hex(),
            has_audio: rung.has_audio,
        });
    }
    Ok(out)
}

pub(crate) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torrent_names_are_safe() {
        assert_eq!(crate::media::torrent::safe_name("a/b:c?"), "a-b-c-");
    }

    #[test]
    fn events_round_trip_as_tagged_json() {
        let e = WorkerEvent::Error {
            message: "boom".into(),
        };
        let line = serde_json::to_string(&e).unwrap();
        assert_eq!(line, r#"{"event":"error","message":"boom"}"#);
        assert_eq!(serde_json::from_str::<WorkerEvent>(&line).unwrap(), e);
    }
}
