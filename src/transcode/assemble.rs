//! Assembling a video from renditions made elsewhere (remote runners' `vod-hls-transcoding`
//! results) into what a local worker stages: PeerTube's file names, the master playlist, the
//! segments-sha256 JSON, a torrent per rendition, the miniature and preview, the storyboard and
//! the web videos. It runs in a child process (`fleuve worker --assemble`): the files come from
//! the network and are parsed by libav and our playlist reader, so a hostile one can crash only
//! that child. The publication that follows is the local jobs' own.

use super::hls::{master_playlist, MediaPlaylist, Variant};
use super::pipeline::rung_files;
use super::worker::{
    file_name, io_error, package, set_child_limits, MadeRendition, StagingNames, WorkerError,
    WorkerEvent, WorkerResult,
};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Most bytes of a rendition's start searched for its `avcC` box (the init section).
const INIT_SEARCH: u64 = 1 << 20;
/// Largest storyboard sheet taken from a runner.
const MAX_STORYBOARD: u64 = 32 << 20;

/// A rendition a runner made: one single-file fragmented MP4 and its byte-range playlist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunnerRendition {
    /// The resolution the job asked for (shorter side).
    pub resolution: u32,
    /// The frame rate the job asked for.
    pub fps: u32,
    /// The fragmented MP4 as received.
    pub media_file: PathBuf,
    /// The media playlist as received.
    pub playlist: PathBuf,
}

/// What to assemble, and where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssembleSpec {
    /// The renditions, in any order (one per completed `vod-hls-transcoding` job).
    pub renditions: Vec<RunnerRendition>,
    /// A completed `generate-video-storyboard`'s sprite sheet.
    #[serde(default)]
    pub storyboard: Option<PathBuf>,
    /// The staging directory (made if missing): `hls/`, `torrents/`, `images/`, `web-videos/`.
    pub staging: PathBuf,
    /// File name prefix of this attempt.
    pub prefix: String,
    /// The video.
    pub video_uuid: String,
    /// Its title (torrent names).
    pub video_name: String,
    /// Public URL of the instance.
    pub public_url: String,
    /// Also make a faststart MP4 web video per rendition.
    #[serde(default)]
    pub web_videos: bool,
}

/// Why assembling failed (the text names the rendition and what is wrong with it).
#[derive(Debug, thiserror::Error)]
pub enum AssembleError {
    /// No rendition was given.
    #[error("no rendition to assemble")]
    Empty,
    /// Two renditions of one resolution.
    #[error("two renditions of {0}p")]
    Duplicate(u32),
    /// A rendition is not what its job asked for, or cannot be read.
    #[error("rendition {resolution}p ({}): {message}", .file.display())]
    Rendition {
        /// Its resolution.
        resolution: u32,
        /// The file.
        file: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Staging failed.
    #[error(transparent)]
    Staging(#[from] WorkerError),
}

/// Runs `spec` in this process (the child's side), reporting one [`WorkerEvent`] line to `out`.
/// Returns the exit code.
pub fn main(spec: &AssembleSpec, out: &mut dyn Write) -> i32 {
    let event = match assemble(spec) {
        Ok(result) => WorkerEvent::Done(result),
        Err(e) => WorkerEvent::Error {
            message: e.to_string(),
        },
    };
    let code = i32::from(!matches!(event, WorkerEvent::Done(_)));
    if let Ok(line) = serde_json::to_string(&event) {
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
    code
}

/// Runs `exe worker --assemble <spec>` and returns what it staged. The child has a CPU-time
/// and an address-space limit and dies with its parent.
pub fn assemble_isolated(exe: &Path, spec: &AssembleSpec) -> Result<WorkerResult, String> {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    std::fs::create_dir_all(&spec.staging)
        .map_err(|e| format!("{}: {e}", spec.staging.display()))?;
    let spec_path = spec.staging.join("assemble.json");
    let json = serde_json::to_vec(spec).map_err(|e| format!("assemble spec: {e}"))?;
    std::fs::write(&spec_path, json).map_err(|e| format!("{}: {e}", spec_path.display()))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("worker")
        .arg("--assemble")
        .arg(&spec_path)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit());
    // SAFETY: runs in the forked child before exec; only async-signal-safe calls on constants.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            set_child_limits(&[(libc::RLIMIT_CPU, 600), (libc::RLIMIT_AS, 4u64 << 30)])
        });
    }
    let output = cmd
        .output()
        .map_err(|e| format!("cannot start `{} worker --assemble`: {e}", exe.display()))?;
    let _ = std::fs::remove_file(&spec_path);
    let text = String::from_utf8_lossy(&output.stdout);
    let last = text.lines().rev().find(|l| !l.trim().is_empty());
    match last.map(serde_json::from_str::<WorkerEvent>) {
        Some(Ok(WorkerEvent::Done(result))) => Ok(result),
        Some(Ok(WorkerEvent::Error { message })) => Err(message),
        _ => Err(match output.status.signal() {
            Some(sig) => format!("assembling the runners' files crashed (signal {sig})"),
            None => format!(
                "assembling the runners' files gave no answer ({})",
                output.status
            ),
        }),
    }
}

/// Assembles in this process.
pub fn assemble(spec: &AssembleSpec) -> Result<WorkerResult, AssembleError> {
    super::probe::init_libav();
    if spec.renditions.is_empty() {
        return Err(AssembleError::Empty);
    }
    let mut renditions = spec.renditions.clone();
    renditions.sort_by_key(|r| std::cmp::Reverse(r.resolution));
    if let Some(w) = renditions
        .windows(2)
        .find(|w| w[0].resolution == w[1].resolution)
    {
        return Err(AssembleError::Duplicate(w[0].resolution));
    }
    let hls = spec.staging.join("hls");
    let images = spec.staging.join("images");
    for d in [&hls, &images] {
        std::fs::create_dir_all(d).map_err(|e| WorkerError::Io {
            what: d.display().to_string(),
            source: e,
        })?;
    }
    let mut made = Vec::new();
    let mut variants = Vec::new();
    let mut hashes = serde_json::Map::new();
    let mut duration = 0.0f64;
    for r in &renditions {
        let bad = |message: String| AssembleError::Rendition {
            resolution: r.resolution,
            file: r.media_file.clone(),
            message,
        };
        let info = super::probe::probe(&r.media_file).map_err(|e| bad(e.to_string()))?;
        let video = info
            .video
            .as_ref()
            .ok_or_else(|| bad("no video stream".into()))?;
        if video.codec != "h264" {
            return Err(bad(format!("video codec {}, not h264", video.codec)));
        }
        let short = video.width.min(video.height);
        // Encoders round to even sizes; anything further off is not the job's rendition.
        if short.abs_diff(r.resolution) > 2 {
            return Err(bad(format!(
                "{}x{} is not a {}p rendition",
                video.width, video.height, r.resolution
            )));
        }
        if let Some(a) = &info.audio {
            if a.codec != "aac" {
                return Err(bad(format!("audio codec {}, not aac", a.codec)));
            }
        }
        duration = duration.max(info.duration_secs);
        let (media_name, playlist_name) = rung_files(&spec.prefix, r.resolution);
        let media = hls.join(&media_name);
        let playlist_path = hls.join(&playlist_name);
        let text = read_bounded(&r.playlist, 16 << 20).map_err(|e| bad(e.to_string()))?;
        let mut playlist = MediaPlaylist::parse(&text).map_err(|e| bad(e.to_string()))?;
        let size = std::fs::metadata(&r.media_file)
            .map_err(|e| bad(e.to_string()))?
            .len();
        let end = playlist
            .segments
            .iter()
            .map(|s| s.range.offset + s.range.len)
            .chain(std::iter::once(playlist.init.offset + playlist.init.len))
            .max()
            .unwrap_or(0);
        if end > size || playlist.segments.is_empty() {
            return Err(bad(format!(
                "the playlist's byte ranges end at {end}, the file has {size} bytes"
            )));
        }
        copy_or_move(&r.media_file, &media).map_err(io_error(&media_name))?;
        playlist.file = media_name.clone();
        std::fs::write(&playlist_path, playlist.render()).map_err(io_error(&playlist_name))?;
        let mut file = std::fs::File::open(&media).map_err(io_error(&media_name))?;
        let map = playlist
            .segment_hashes(&mut file)
            .map_err(|e| bad(e.to_string()))?;
        hashes.insert(playlist_name.clone(), serde_json::Value::Object(map));
        let avc = avc_codec(&media).ok_or_else(|| bad("no avcC box in its init section".into()))?;
        variants.push(Variant {
            playlist: playlist_name,
            bandwidth: peak_bandwidth(&playlist),
            width: video.width,
            height: video.height,
            fps: r.fps,
            codecs: if info.audio.is_some() {
                format!("{avc},mp4a.40.2")
            } else {
                avc
            },
        });
        made.push(MadeRendition {
            resolution: r.resolution,
            width: video.width,
            height: video.height,
            fps: r.fps,
            media_file: media,
            playlist: playlist_path,
            encoder: "remote runner".into(),
            fallback_reason: None,
            has_audio: info.audio.is_some(),
        });
    }
    let master = format!("{}-master.m3u8", spec.prefix);
    std::fs::write(hls.join(&master), master_playlist(&variants)).map_err(io_error(&master))?;
    let sha = format!("{}-segments-sha256.json", spec.prefix);
    let json = serde_json::to_vec(&serde_json::Value::Object(hashes))
        .map_err(|e| io_error(&sha)(std::io::Error::other(e)))?;
    std::fs::write(hls.join(&sha), json).map_err(io_error(&sha))?;

    let top = &made[0];
    let thumbnail = format!("{}-thumbnail.jpg", spec.prefix);
    let preview = format!("{}-preview.jpg", spec.prefix);
    let posters = super::images::poster_from_source(
        &top.media_file,
        &images.join(&thumbnail),
        &images.join(&preview),
    );
    let (thumbnail, preview) = match posters {
        Ok(()) => (Some(thumbnail), Some(preview)),
        Err(e) => {
            tracing::warn!(error = %e, "no miniature: decoding a picture of the top rendition failed");
            (None, None)
        }
    };
    let storyboard = match &spec.storyboard {
        Some(sheet) => storyboard(sheet, &images, spec, duration, top),
        None => None,
    };
    let names = StagingNames {
        dir: &spec.staging,
        prefix: &spec.prefix,
        video_uuid: &spec.video_uuid,
        video_name: &spec.video_name,
        public_url: &spec.public_url,
        web_videos: spec.web_videos,
    };
    let (files, web_videos, web_video_secs) = package(&names, &made)?;
    Ok(WorkerResult {
        duration,
        aspect_ratio: f64::from(top.width) / f64::from(top.height.max(1)),
        decoded_frames: 0,
        decoder: "remote runners".into(),
        master,
        segments_sha256: sha,
        thumbnail,
        preview,
        storyboard,
        files,
        web_videos,
        web_video_secs,
    })
}

/// The storyboard record of a runner's sheet, when it is a JPEG of PeerTube's geometry for this
/// video (anything else is left out: a video is not failed for its storyboard).
fn storyboard(
    sheet: &Path,
    images: &Path,
    spec: &AssembleSpec,
    duration: f64,
    top: &MadeRendition,
) -> Option<crate::video::Storyboard> {
    let plan = super::storyboard::SpritePlan::new(duration, top.width, top.height)?;
    let mut bytes = Vec::new();
    std::fs::File::open(sheet)
        .ok()?
        .take(MAX_STORYBOARD + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    if bytes.len() as u64 > MAX_STORYBOARD {
        tracing::warn!(file = %sheet.display(), "the runner's storyboard is over {MAX_STORYBOARD} bytes; left out");
        return None;
    }
    if !bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        tracing::warn!(file = %sheet.display(), "the runner's storyboard is not a JPEG; left out");
        return None;
    }
    let name = format!("{}-storyboard.jpg", spec.prefix);
    std::fs::write(images.join(&name), &bytes).ok()?;
    Some(plan.record(name))
}

/// Reads a text file of at most `max` bytes.
fn read_bounded(path: &Path, max: u64) -> std::io::Result<String> {
    let file = std::fs::File::open(path)?;
    let mut text = String::new();
    file.take(max + 1).read_to_string(&mut text)?;
    if text.len() as u64 > max {
        return Err(std::io::Error::other(format!(
            "{} is larger than {max} bytes",
            file_name(path)
        )));
    }
    Ok(text)
}

/// Moves `from` to `to` (a copy when they are on different file systems).
fn copy_or_move(from: &Path, to: &Path) -> std::io::Result<()> {
    if std::fs::rename(from, to).is_ok() {
        return Ok(());
    }
    std::fs::copy(from, to).map(drop)
}

/// The highest bit rate of any segment (the master playlist's `BANDWIDTH`).
fn peak_bandwidth(playlist: &MediaPlaylist) -> u64 {
    playlist
        .segments
        .iter()
        .filter(|s| s.duration > 0.0)
        .map(|s| (s.range.len as f64 * 8.0 / s.duration).ceil() as u64)
        .max()
        .unwrap_or(0)
}

/// RFC 6381 `avc1.PPCCLL` of an MP4's H.264 track, from its `avcC` box (profile, compatibility,
/// level are its bytes 1–3).
fn avc_codec(file: &Path) -> Option<String> {
    let mut head = Vec::new();
    std::fs::File::open(file)
        .ok()?
        .take(INIT_SEARCH)
        .read_to_end(&mut head)
        .ok()?;
    let at = head.windows(4).position(|w| w == b"avcC")?;
    let b = head.get(at + 5..at + 8)?;
    Some(format!("avc1.{:02x}{:02x}{:02x}", b[0], b[1], b[2]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcode::testclip;

    /// What PeerTube's runner sends for an HLS job: ffmpeg's single-file fMP4 and its playlist.
    fn runner_rendition(dir: &Path, source: &Path, height: u32, name: &str) -> RunnerRendition {
        let playlist = dir.join(format!("{name}.m3u8"));
        let status = std::process::Command::new("ffmpeg")
            .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i"])
            .arg(source)
            .args(["-vf", &format!("scale=-2:{height}"), "-c:v", "libx264"])
            .args(["-preset", "ultrafast", "-c:a", "aac", "-f", "hls"])
            .args(["-hls_time", "2", "-hls_playlist_type", "vod"])
            .args(["-hls_segment_type", "fmp4", "-hls_flags", "single_file"])
            .arg("-hls_segment_filename")
            .arg(dir.join(format!("{name}.mp4")))
            .arg(&playlist)
            .status()
            .expect("ffmpeg CLI");
        assert!(status.success());
        RunnerRendition {
            resolution: height,
            fps: 25,
            media_file: dir.join(format!("{name}.mp4")),
            playlist,
        }
    }

    #[test]
    fn ffmpeg_renditions_become_a_published_ladder() {
        let dir = tempfile::tempdir().unwrap();
        let src = testclip::clip(dir.path(), "src.mp4", "640x360", 25, 4, Some((48000, 2)));
        let got = dir.path().join("got");
        std::fs::create_dir(&got).unwrap();
        let r240 = runner_rendition(&got, &src, 240, "a");
        let r360 = runner_rendition(&got, &src, 360, "b");
        let spec = AssembleSpec {
            renditions: vec![r240, r360],
            storyboard: None,
            staging: dir.path().join("out"),
            prefix: "p".into(),
            video_uuid: "0b1a0a4e-6f1f-4c49-8f0e-2b0cf0e2a6f1".into(),
            video_name: "clip".into(),
            public_url: "http://127.0.0.1:9".into(),
            web_videos: true,
        };
        let result = assemble(&spec).unwrap();
        let res: Vec<u32> = result.files.iter().map(|f| f.resolution).collect();
        assert_eq!(res, [360, 240], "highest first");
        assert_eq!(result.files[0].media_file, "p-360-fragmented.mp4");
        assert_eq!(result.files[0].width, 640);
        assert!(result
            .files
            .iter()
            .all(|f| f.has_audio && f.info_hash.len() == 40));
        let hls = spec.staging.join("hls");
        let master = std::fs::read_to_string(hls.join(&result.master)).unwrap();
        assert!(
            master.contains("p-240.m3u8")
                && master.contains("avc1.")
                && master.contains("mp4a.40.2")
        );
        let pl = std::fs::read_to_string(hls.join("p-240.m3u8")).unwrap();
        assert!(pl.contains("p-240-fragmented.mp4") && !pl.contains("a.mp4"));
        let sha: serde_json::Value =
            serde_json::from_slice(&std::fs::read(hls.join(&result.segments_sha256)).unwrap())
                .unwrap();
        assert!(sha["p-360.m3u8"].as_object().is_some_and(|m| !m.is_empty()));
        assert!(result.thumbnail.is_some() && spec.staging.join("images/p-thumbnail.jpg").exists());
        assert_eq!(result.web_videos.len(), 2);
        assert!((result.duration - 4.0).abs() < 0.5, "{}", result.duration);
    }

    #[test]
    fn a_rendition_that_is_not_what_was_asked_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let src = testclip::clip(dir.path(), "src.mp4", "640x360", 25, 2, None);
        let mut r = runner_rendition(dir.path(), &src, 240, "a");
        r.resolution = 360;
        let spec = AssembleSpec {
            renditions: vec![r.clone()],
            storyboard: None,
            staging: dir.path().join("out"),
            prefix: "p".into(),
            video_uuid: "u".into(),
            video_name: "n".into(),
            public_url: "http://127.0.0.1:9".into(),
            web_videos: false,
        };
        let e = assemble(&spec).unwrap_err().to_string();
        assert!(e.contains("426x240 is not a 360p rendition"), "{e}");
        // A playlist pointing past the end of the file.
        r.resolution = 240;
        std::fs::write(&r.media_file, b"short").unwrap();
        let e = assemble(&AssembleSpec {
            renditions: vec![r],
            ..spec
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("rendition 240p"), "{e}");
    }
}
