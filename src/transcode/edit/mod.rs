//! Video studio edits and the audio merge, PeerTube's `video-studio-transcoding` and
//! `vod-audio-merge-transcoding` jobs, made with libav: cut, intro, outro and watermark applied
//! in order to a downloaded video, or a still picture shown for a whole audio file, written as
//! a faststart MP4 (H.264 High yuv420p with 2-second GOPs, AAC 48 kHz stereo).
//!
//! PeerTube runs one ffmpeg per edit, each re-encoding the previous one's output. Here the edits
//! are folded into as few passes as their order allows: a pass is a list of segments (the main
//! video, windowed by the cuts, with intro and outro clips around it), each decoded, filtered
//! (`scale`/`pad`/`fps`/`overlay`, see [`graph`]) and encoded into one encoder in turn. A cut
//! after an intro or outro starts a new pass over the previous one's output (an intermediate
//! MP4 in the work directory), as it cuts the joined timeline.

mod audio;
mod encode;
mod graph;
mod image;
mod merge;
mod plan;
mod segment;
#[cfg(test)]
mod tests;

pub use merge::merge_audio_and_image;

use crate::transcode::ladder::output_fps;
use crate::transcode::source::OpenError;
use encode::{Geometry, Mp4Writer, VideoSettings};
use ffmpeg_next as ff;
use plan::{intermediate, plan, probe_video};
use std::cell::Cell;
use std::path::{Path, PathBuf};

/// One studio edit, with its files already downloaded.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Edit {
    /// Keep start..end seconds (either may be absent: from the beginning / to the end).
    Cut {
        /// First second kept (None: from the beginning).
        start: Option<f64>,
        /// Second the video stops at (None: to the end).
        end: Option<f64>,
    },
    /// Prepend this clip.
    Intro(PathBuf),
    /// Append this clip.
    Outro(PathBuf),
    /// Overlay this image (PNG/JPEG) in the top-right corner.
    Watermark {
        /// The picture (its alpha is kept).
        image: PathBuf,
        /// Its height as a fraction of the video's height, in (0, 1].
        size_ratio: f64,
        /// Right margin as a fraction of the video's height (PeerTube's filter), in [0, 1].
        horizontal_margin_ratio: f64,
        /// Top margin as a fraction of the video's height, in [0, 1].
        vertical_margin_ratio: f64,
    },
}

/// What an edit or merge made.
#[derive(Debug, Clone, PartialEq)]
pub struct Edited {
    /// The MP4 written.
    pub path: PathBuf,
    /// Its width.
    pub width: u32,
    /// Its height.
    pub height: u32,
    /// Its frame rate.
    pub fps: f64,
    /// Its duration (the longer of its streams).
    pub duration_secs: f64,
    /// The H.264 encoder that made it (of the last pass).
    pub encoder: String,
    /// Whether it has an audio stream.
    pub has_audio: bool,
    /// Encoding passes it took (1 unless a cut follows an intro or outro).
    pub passes: usize,
}

/// Why an edit or a merge failed; each names the file or value and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// A file could not be opened, or is in a format that is not accepted for its use.
    #[error("{role} {path}: {source}")]
    Open {
        /// What the file is (`input video`, `intro`, `audio`, …).
        role: &'static str,
        /// The file.
        path: String,
        /// Why.
        source: OpenError,
    },
    /// A file that must have a video stream has none.
    #[error("{role} {path}: no video stream (a {role} must have one)")]
    NoVideo {
        /// What the file is.
        role: &'static str,
        /// The file.
        path: String,
    },
    /// The audio file (of a merge, or a video's separate audio) has no audio stream, or no sound
    /// could be decoded from it.
    #[error("{path}: no audio stream in the audio file")]
    NoAudio {
        /// The file.
        path: String,
    },
    /// No video frame could be decoded (a corrupt file, or a window with no frame in it).
    #[error("{path}: no video frame could be decoded{window}")]
    NoFrames {
        /// The file.
        path: String,
        /// The window asked for (` between 1 s and 3 s`), empty for the whole file.
        window: String,
    },
    /// A still picture (watermark, merge picture) could not be decoded.
    #[error("image {path}: {reason}; expected a PNG, JPEG or WebP picture")]
    Image {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A cut whose range is empty or outside the video.
    #[error("cut {start}..{end}: {problem} (the video lasts {duration:.3} s)")]
    CutRange {
        /// The start asked (`beginning` when absent).
        start: String,
        /// The end asked (`end` when absent).
        end: String,
        /// What is wrong with it.
        problem: &'static str,
        /// The duration of the video it applies to (seconds).
        duration: f64,
    },
    /// A watermark ratio outside its range.
    #[error("watermark {name} {value}: expected a number in {expected}")]
    Ratio {
        /// Which ratio.
        name: &'static str,
        /// The value given.
        value: f64,
        /// Its range.
        expected: &'static str,
    },
    /// Another value out of range (a merge's resolution or frame rate).
    #[error("{name} {value}: expected {expected}")]
    BadValue {
        /// Which value.
        name: &'static str,
        /// The value given.
        value: String,
        /// What it may be.
        expected: &'static str,
    },
    /// No encoder of the chain could be opened.
    #[error("no H.264 encoder could be opened ({reasons})")]
    NoEncoder {
        /// Why each failed.
        reasons: String,
    },
    /// A filter graph could not be built or run.
    #[error("filter graph {spec}: {step}: {source}")]
    Filter {
        /// The graph.
        spec: String,
        /// The step (`parse`, `configure`, `filter a frame`, …).
        step: &'static str,
        /// libav's error.
        source: ff::Error,
    },
    /// libav failed at some step.
    #[error("{step}: {source}")]
    Libav {
        /// What was being done.
        step: String,
        /// libav's error.
        source: ff::Error,
    },
    /// A file or directory could not be made.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Progress over all the frames a job encodes, reported by whole percents or better.
struct Progress<'a> {
    report: &'a dyn Fn(f64),
    total: f64,
    done: Cell<u64>,
    last: Cell<f64>,
}

impl<'a> Progress<'a> {
    fn new(report: &'a dyn Fn(f64), total_frames: f64) -> Progress<'a> {
        report(0.0);
        Progress {
            report,
            total: total_frames.max(1.0),
            done: Cell::new(0),
            last: Cell::new(0.0),
        }
    }

    /// One more frame encoded (estimates may fall short: never past 99% before the end).
    fn frame(&self) {
        let done = self.done.get() + 1;
        self.done.set(done);
        let fraction = (done as f64 / self.total).min(0.99);
        if fraction - self.last.get() >= 0.005 {
            self.last.set(fraction);
            (self.report)(fraction);
        }
    }

    fn finish(&self) {
        (self.report)(1.0);
    }
}

/// PeerTube's AAC bitrate: the input's (at most 384 kb/s), 256 kb/s when unknown.
fn aac_bitrate(input: Option<u64>) -> u64 {
    input.map_or(256_000, |b| b.min(384_000)).max(64_000)
}

/// Applies `edits` in order to `input` (+ `separate_audio`: an audio-only file whose audio
/// replaces the input's, for PeerTube sources stored with split audio; None usually), writing a
/// faststart MP4 (H.264 + AAC) at `out`, at the input's size (even) and frame rate (rounded, at
/// most 60). `work_dir` holds intermediates (a cut after an intro or outro needs one).
/// `encoders`: the H.264 encoder chain to try in order; the first that opens is used, libx264
/// last. `progress(fraction)` is called as frames are encoded (overall, 0 then up to 1).
pub fn apply(
    input: &Path,
    separate_audio: Option<&Path>,
    edits: &[Edit],
    work_dir: &Path,
    out: &Path,
    encoders: &[String],
    progress: &dyn Fn(f64),
) -> Result<Edited, EditError> {
    crate::transcode::probe::init_libav();
    let main = probe_video(input, "input video")?;
    let fps = output_fps(
        main.width.min(main.height),
        main.rate.round().max(1.0) as u32,
        true,
        60,
    );
    let g = Geometry {
        width: (main.width & !1).max(2),
        height: (main.height & !1).max(2),
        fps,
    };
    let main_has_audio = match separate_audio {
        Some(path) => {
            let opened =
                crate::transcode::source::open_audio(path).map_err(|source| EditError::Open {
                    role: "separate audio",
                    path: path.display().to_string(),
                    source,
                })?;
            if opened.streams().best(ff::media::Type::Audio).is_none() {
                return Err(EditError::NoAudio {
                    path: path.display().to_string(),
                });
            }
            true
        }
        None => main.has_audio,
    };
    let plan = plan(
        input,
        separate_audio,
        &main,
        main_has_audio,
        edits,
        g,
        work_dir,
    )?;
    if plan.len() > 1 {
        std::fs::create_dir_all(work_dir).map_err(|source| EditError::Io {
            path: work_dir.display().to_string(),
            source,
        })?;
    }
    let total: f64 = plan.iter().map(|p| p.estimate * f64::from(fps)).sum();
    let progress = Progress::new(progress, total);
    tracing::info!(input = %input.display(), edits = edits.len(), passes = plan.len(), width = g.width, height = g.height, fps, "applying studio edits");
    let settings = VideoSettings {
        geometry: g,
        encoders,
        input_bitrate: main.bitrate,
        still: false,
    };
    let audio_bitrate = aac_bitrate(main.audio_bitrate);
    let mut written = None;
    for (i, pass) in plan.iter().enumerate() {
        let target = if i + 1 == plan.len() {
            out.to_path_buf()
        } else {
            intermediate(work_dir, i)
        };
        let mut writer = Mp4Writer::create(
            &target,
            &settings,
            pass.has_audio.then_some(audio_bitrate),
            &progress,
        )?;
        let mut offset = 0i64;
        for seg in &pass.segments {
            let span = segment::run(seg, g, &mut writer, offset)?;
            offset += span.frames;
        }
        written = Some(writer.finish()?);
        if i > 0 {
            let used = intermediate(work_dir, i - 1);
            if let Err(e) = std::fs::remove_file(&used) {
                tracing::debug!(path = %used.display(), error = %e, "intermediate not removed");
            }
        }
    }
    let written = written.ok_or(EditError::NoFrames {
        path: input.display().to_string(),
        window: String::new(),
    })?;
    progress.finish();
    Ok(Edited {
        path: out.to_path_buf(),
        width: g.width,
        height: g.height,
        fps: f64::from(g.fps),
        duration_secs: written.duration_secs,
        encoder: written.encoder,
        has_audio: written.has_audio,
        passes: plan.len(),
    })
}
