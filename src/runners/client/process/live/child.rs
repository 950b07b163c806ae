//! The child side of a live job (`fleuve runner live --spec FILE`): play the RTMP stream, plan
//! one rung per asked rendition, and run [`crate::transcode::live`] into the job's HLS
//! directory until the stream ends. Events go to stdout as JSON lines. It runs in its own
//! process because libav parses what the network sends: a crash takes down this job only.

use super::super::transcode::{batch_ladder, BatchError};
use crate::config::TranscodeConfig;
use crate::runners::protocol::LiveRendition;
use crate::transcode::ladder::Rung;
use crate::transcode::live::{LiveError, LivePlan, LiveSource};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What the child is asked to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveSpec {
    /// `rtmp://…/live/<stream key>`.
    pub url: String,
    /// Where the chunks and playlists go (exists).
    pub out_dir: PathBuf,
    /// The renditions, in playlist order.
    pub renditions: Vec<LiveRendition>,
    /// Seconds per chunk.
    pub segment_secs: u32,
    /// Chunks kept in each playlist.
    pub list_size: u32,
    /// Seconds without data from the source after which the stream is over.
    pub idle_timeout_secs: u64,
    /// Encoder preferences.
    pub transcode: TranscodeConfig,
}

/// A line the child writes to stdout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "camelCase")]
pub enum LiveEvent {
    /// Encoders open, the HLS output started.
    Started {
        /// Playlists to expect (renditions, plus one for the audio).
        playlists: usize,
        /// Whether the audio is its own playlist (the last).
        audio: bool,
        /// Each rendition's encoder.
        encoders: Vec<String>,
    },
    /// The stream is over and the playlists are ended.
    Ended {
        /// Why it ended.
        reason: String,
    },
    /// The job failed.
    Error {
        /// Why.
        message: String,
    },
}

/// Why a live job failed in the child.
#[derive(Debug, thiserror::Error)]
pub enum LiveJobError {
    /// Playing or transcoding the stream.
    #[error(transparent)]
    Live(#[from] LiveError),
    /// Planning the renditions.
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// The spec asks for nothing.
    #[error("the job asks for no rendition")]
    NoRendition,
}

fn emit(out: &mut dyn Write, event: &LiveEvent) {
    if let Ok(line) = serde_json::to_string(event) {
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

/// Runs `spec`, reporting to `out`; returns the exit code.
pub fn main(spec: &LiveSpec, out: &mut dyn Write) -> i32 {
    match run(spec, out) {
        Ok(reason) => {
            emit(out, &LiveEvent::Ended { reason });
            0
        }
        Err(e) => {
            emit(
                out,
                &LiveEvent::Error {
                    message: e.to_string(),
                },
            );
            1
        }
    }
}

/// The rungs of `renditions` in their order, planned for a source described by `source`.
pub fn live_rungs(
    source: &crate::transcode::probe::SourceInfo,
    renditions: &[LiveRendition],
    segment_secs: u32,
    config: &TranscodeConfig,
) -> Result<Vec<Rung>, LiveJobError> {
    let outputs: Vec<(u32, u32)> = renditions.iter().map(|r| (r.resolution, r.fps)).collect();
    if outputs.is_empty() {
        return Err(LiveJobError::NoRendition);
    }
    let ladder = batch_ladder(source, &outputs, false, config, &fleuve_hw::discover())?;
    let mut rungs: Vec<Rung> = Vec::new();
    for r in renditions {
        if rungs.iter().any(|x| x.resolution == r.resolution) {
            continue;
        }
        if let Some(rung) = ladder.rungs.iter().find(|x| x.resolution == r.resolution) {
            rungs.push(Rung {
                // Keyframes on chunk boundaries.
                gop: (rung.fps * segment_secs).max(1),
                ..rung.clone()
            });
        }
    }
    Ok(rungs)
}

fn run(spec: &LiveSpec, out: &mut dyn Write) -> Result<String, LiveJobError> {
    let source = LiveSource::open(&spec.url, Duration::from_secs(spec.idle_timeout_secs))?;
    let mut info = source.info()?;
    let top_fps = spec.renditions.iter().map(|r| r.fps).max().unwrap_or(30);
    if let Some(v) = info
        .video
        .as_mut()
        .filter(|v| !v.fps.is_finite() || v.fps <= 0.0)
    {
        // A stream that announces no frame rate: plan with the fastest asked.
        v.fps = f64::from(top_fps.max(1));
    }
    let rungs = live_rungs(&info, &spec.renditions, spec.segment_secs, &spec.transcode)?;
    let audio = info
        .audio
        .as_ref()
        .map(|a| crate::transcode::ladder::AudioPlan {
            bitrate: a
                .bitrate
                .map(|b| b.min(384_000))
                .unwrap_or(256_000)
                .max(64_000),
            channels: 2,
        });
    let plan = LivePlan {
        rungs,
        audio,
        segment_secs: spec.segment_secs,
        list_size: spec.list_size,
    };
    let session = source.start(&plan, &spec.out_dir)?;
    let encoders = session.encoders();
    let audio = session.has_audio();
    tracing::info!(renditions = ?plan.rungs.iter().map(|r| format!("{}x{}@{}", r.width, r.height, r.fps)).collect::<Vec<_>>(), encoders = ?encoders, audio, "live transcoding started");
    emit(
        out,
        &LiveEvent::Started {
            playlists: encoders.len() + usize::from(audio),
            audio,
            encoders,
        },
    );
    let end = session.run()?;
    tracing::info!(reason = %end.reason, decoded = end.decoded, encoded = ?end.encoded, "live transcoding ended");
    Ok(end.reason)
}

/// Reads a spec file.
pub fn read_spec(path: &Path) -> Result<LiveSpec, String> {
    let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", path.display()))
}
