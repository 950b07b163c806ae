//! The child side of a batch (`fleuve runner transcode --spec FILE`): decode the downloaded
//! input once, encode one rung per requested resolution (libx264 or the GPU, as the local
//! pipeline does), and hand each job its files: the rung's fragmented MP4 and byte-range
//! playlist for HLS, the rung remuxed as a faststart MP4 for a web video, the sprite sheet for a
//! storyboard. Progress per job goes to stdout as JSON lines. It runs in its own process so that
//! a codec crash on a hostile file takes down this batch only.

use crate::config::TranscodeConfig;
use crate::runners::protocol::{fields, JobType, Sprites};
use crate::transcode::edit::{apply, merge_audio_and_image, Edit};
use crate::transcode::ladder::{encoders_for, plan, target_bitrate, Ladder, Rung};
use crate::transcode::pipeline::{run_with, PipelineOutput, RungOutput};
use crate::transcode::probe::SourceInfo;
use crate::transcode::progress::PipelineStats;
use crate::transcode::storyboard::{sheet_from_file, SpritePlan};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// What the child is asked to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    /// The downloaded input.
    pub source: PathBuf,
    /// Its separate audio file, when the instance stores audio apart (split-audio HLS): joined
    /// with `source` (streams copied) before anything is decoded.
    #[serde(default)]
    pub audio_source: Option<PathBuf>,
    /// Where the outputs go.
    pub out_dir: PathBuf,
    /// Whether the renditions carry the audio (false for `separatedAudio` HLS jobs).
    pub audio: bool,
    /// The jobs of the batch.
    pub jobs: Vec<JobSpec>,
    /// Encoder preferences and source caps.
    pub transcode: TranscodeConfig,
}

/// One job of a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    /// The job's uuid.
    pub uuid: String,
    /// Its type.
    pub kind: JobType,
    /// Resolution (resolution jobs; 0 is the audio-only rendition).
    pub resolution: u32,
    /// Frame rate (resolution jobs).
    pub fps: u32,
    /// The sheet's geometry (storyboard jobs).
    pub sprites: Option<Sprites>,
    /// The edits of a studio job, their files named relative to the batch directory.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub edits: Vec<Edit>,
}

/// A line the child writes to stdout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "camelCase")]
pub enum Event {
    /// Progress (0–100) per job uuid.
    Progress {
        /// By job.
        jobs: BTreeMap<String, u8>,
    },
    /// Every job's files, as `(multipart field, path)`.
    Done {
        /// By job.
        files: BTreeMap<String, Vec<(String, PathBuf)>>,
    },
    /// The batch failed.
    Error {
        /// Why.
        message: String,
    },
}

/// Why a batch failed in the child.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The input could not be probed.
    #[error("probing the input: {0}")]
    Probe(#[from] crate::transcode::probe::ProbeError),
    /// No ladder fits the input.
    #[error("planning: {0}")]
    Plan(#[from] crate::transcode::ladder::PlanError),
    /// The pipeline failed.
    #[error("transcoding: {0}")]
    Pipeline(#[from] crate::transcode::pipeline::PipelineError),
    /// The pipeline thread panicked.
    #[error("the transcoding thread panicked")]
    Panicked,
    /// The input is over a `[transcode] max_source_*` cap.
    #[error("the input is over the runner's limits: {0}")]
    Limits(#[from] crate::transcode::limits::LimitError),
    /// A studio edit or an audio merge failed.
    #[error(transparent)]
    Edit(#[from] crate::transcode::edit::EditError),
    /// The input has no video to make the asked output from.
    #[error("{0}")]
    Unusable(String),
}

fn emit(out: &mut dyn Write, event: &Event) {
    if let Ok(line) = serde_json::to_string(event) {
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

/// Runs `spec`, reporting to `out`; returns the exit code.
pub fn main(spec: &Spec, out: &mut dyn Write) -> i32 {
    match run(spec, out) {
        Ok(files) => {
            emit(out, &Event::Done { files });
            0
        }
        Err(e) => {
            emit(
                out,
                &Event::Error {
                    message: e.to_string(),
                },
            );
            1
        }
    }
}

fn even(x: f64) -> u32 {
    (((x / 2.0).round() as u32) * 2).max(2)
}

/// The ladder of a batch: one rung per distinct resolution asked, at the asked frame rate, with
/// the encoder chain the planner picks on this machine.
pub fn batch_ladder(
    source: &SourceInfo,
    outputs: &[(u32, u32)],
    audio: bool,
    config: &TranscodeConfig,
    hw: &fleuve_hw::Inventory,
) -> Result<Ladder, BatchError> {
    let mut options = config.plan_options();
    options.resolutions = outputs.iter().map(|o| o.0).collect();
    let mut ladder = plan(source, &options, hw)?;
    let video = source
        .video
        .as_ref()
        .ok_or_else(|| BatchError::Unusable("the input has no video stream".into()))?;
    let template = ladder
        .rungs
        .first()
        .cloned()
        .ok_or_else(|| BatchError::Unusable("no rung could be planned".into()))?;
    let ratio = f64::from(video.width) / f64::from(video.height.max(1));
    let portrait = video.height > video.width;
    let mut wanted: Vec<(u32, u32)> = outputs.to_vec();
    wanted.sort_unstable_by_key(|o| std::cmp::Reverse(o.0));
    wanted.dedup_by_key(|o| o.0);
    let rungs = wanted
        .into_iter()
        .map(|(res, fps)| {
            let base = ladder
                .rungs
                .iter()
                .find(|r| r.resolution == res)
                .cloned()
                .unwrap_or_else(|| {
                    let (width, height) = if portrait {
                        (res, even(f64::from(res) / ratio))
                    } else {
                        (even(f64::from(res) * ratio), res)
                    };
                    Rung {
                        resolution: res,
                        width,
                        height,
                        ..template.clone()
                    }
                });
            let fps = fps.max(1);
            Rung {
                fps,
                gop: (fps * options.gop_secs).max(1),
                target_bitrate: target_bitrate(res, ratio, fps, source.bitrate),
                ..base
            }
        })
        .collect();
    ladder.rungs = rungs;
    if !audio {
        ladder.audio = None;
    }
    Ok(ladder)
}

/// The sprite plan a storyboard job asks for, on a video of `duration` seconds.
pub fn sprite_plan(sprites: &Sprites, duration: f64) -> SpritePlan {
    let cells = sprites.count.width.max(1) * sprites.count.height.max(1);
    let per = sprites.duration.max(1);
    let needed = (duration.max(0.0).round() as u32).div_ceil(per).max(1);
    SpritePlan {
        sprite_duration: per,
        count: needed.min(cells),
        columns: sprites.count.width.max(1),
        rows: sprites.count.height.max(1),
        sprite_width: sprites.size.width.max(2),
        sprite_height: sprites.size.height.max(2),
    }
}

fn run(
    spec: &Spec,
    out: &mut dyn Write,
) -> Result<BTreeMap<String, Vec<(String, PathBuf)>>, BatchError> {
    if let Some(job) = spec.jobs.iter().find(|j| {
        matches!(
            j.kind,
            JobType::VideoStudioTranscoding | JobType::VodAudioMergeTranscoding
        )
    }) {
        return edit_job(spec, job, out);
    }
    let joined;
    let source_path = match &spec.audio_source {
        Some(audio) => {
            joined = spec.out_dir.join("source-with-audio.mkv");
            crate::transcode::split_audio::join_separate_audio(&spec.source, audio, &joined)?;
            joined.as_path()
        }
        None => spec.source.as_path(),
    };
    let source = crate::transcode::probe::probe(source_path)?;
    // The `[transcode] max_source_*` caps, as the server checks an upload's.
    spec.transcode.source_limits().check(&source)?;
    let is_video = |j: &&JobSpec| j.kind != JobType::GenerateVideoStoryboard && j.resolution > 0;
    let outputs: Vec<(u32, u32)> = spec
        .jobs
        .iter()
        .filter(is_video)
        .map(|j| (j.resolution, j.fps))
        .collect();
    let mut files: BTreeMap<String, Vec<(String, PathBuf)>> = BTreeMap::new();
    // The audio-only rendition first: a quick pass over the audio alone.
    let audio_jobs: Vec<&JobSpec> = spec
        .jobs
        .iter()
        .filter(|j| j.kind != JobType::GenerateVideoStoryboard && j.resolution == 0)
        .collect();
    if !audio_jobs.is_empty() {
        let bitrate = source
            .audio
            .as_ref()
            .and_then(|a| a.bitrate)
            .map(|b| b.min(384_000))
            .unwrap_or(256_000)
            .max(64_000);
        let writer = std::cell::RefCell::new(&mut *out);
        let report = |done: f64| {
            let jobs = audio_jobs
                .iter()
                .map(|j| (j.uuid.clone(), (done * 99.0) as u8))
                .collect();
            if let Ok(mut w) = writer.try_borrow_mut() {
                emit(&mut **w, &Event::Progress { jobs });
            }
        };
        let rendition = crate::transcode::split_audio::audio_rendition(
            source_path,
            bitrate,
            spec.transcode.plan_options().segment_secs,
            &spec.out_dir,
            "rung",
            &report,
        )?;
        for job in &audio_jobs {
            files.insert(job.uuid.clone(), outputs_of(spec, job, &rendition)?);
        }
    }
    if outputs.is_empty()
        && spec
            .jobs
            .iter()
            .all(|j| j.kind != JobType::GenerateVideoStoryboard)
    {
        return Ok(files);
    }
    let video = source
        .video
        .clone()
        .ok_or_else(|| BatchError::Unusable("the input has no video stream".into()))?;
    let mut output: Option<PipelineOutput> = None;
    if !outputs.is_empty() {
        let ladder = batch_ladder(
            &source,
            &outputs,
            spec.audio,
            &spec.transcode,
            &fleuve_hw::discover(),
        )?;
        let made = transcode(spec, source_path, &source, video.fps, &ladder, out)?;
        for job in spec.jobs.iter().filter(is_video) {
            let Some(rung) = made.rungs.iter().find(|r| r.resolution == job.resolution) else {
                continue;
            };
            files.insert(job.uuid.clone(), outputs_of(spec, job, rung)?);
        }
        output = Some(made);
    }
    for job in spec
        .jobs
        .iter()
        .filter(|j| j.kind == JobType::GenerateVideoStoryboard)
    {
        let Some(sprites) = &job.sprites else {
            continue;
        };
        let want = sprite_plan(sprites, source.duration_secs);
        // The pipeline made PeerTube's default sheet while decoding; use it when it is the one
        // asked for, else decode again for this job alone.
        let default = SpritePlan::new(source.duration_secs, video.width, video.height);
        let made = output
            .as_ref()
            .and_then(|o| o.storyboard.as_ref())
            .filter(|_| default.map(|d| d == want).unwrap_or(false))
            .map(|sb| spec.out_dir.join(&sb.file));
        let path = match made {
            Some(p) => p,
            None => {
                let p = spec.out_dir.join(format!("{}-storyboard.jpg", job.uuid));
                sheet_from_file(source_path, want, &p)?.ok_or_else(|| {
                    BatchError::Unusable("no frame of the input could be decoded".into())
                })?;
                p
            }
        };
        files.insert(
            job.uuid.clone(),
            vec![(fields::STORYBOARD_FILE.to_string(), path)],
        );
    }
    Ok(files)
}

/// The local name of an audio merge's still image in the batch directory.
pub const INPUT_IMAGE: &str = "input-image";

/// A studio job (its edits applied in order) or an audio merge (the still image shown for the
/// whole audio): one faststart MP4, `payload[videoFile]`.
fn edit_job(
    spec: &Spec,
    job: &JobSpec,
    out: &mut dyn Write,
) -> Result<BTreeMap<String, Vec<(String, PathBuf)>>, BatchError> {
    let base = spec.source.parent().unwrap_or(Path::new("."));
    let encoders = encoders_for(&spec.transcode.plan_options(), &fleuve_hw::discover())?;
    let to = spec.out_dir.join(format!("{}.mp4", job.uuid));
    let writer = std::cell::RefCell::new(&mut *out);
    let report = |done: f64| {
        let jobs = BTreeMap::from([(job.uuid.clone(), (done * 99.0).clamp(0.0, 99.0) as u8)]);
        if let Ok(mut w) = writer.try_borrow_mut() {
            emit(&mut **w, &Event::Progress { jobs });
        }
    };
    let made = if job.kind == JobType::VodAudioMergeTranscoding {
        let limits = spec.transcode.source_limits();
        if job.resolution > limits.max_side {
            return Err(BatchError::Unusable(format!(
                "the audio merge asks for {}p, above transcode.max_source_side = {}",
                job.resolution, limits.max_side
            )));
        }
        merge_audio_and_image(
            &spec.source,
            &base.join(INPUT_IMAGE),
            job.resolution,
            job.fps,
            &to,
            &encoders,
            &report,
        )?
    } else {
        // The `[transcode] max_source_*` caps, as for any input.
        let source = crate::transcode::probe::probe(&spec.source)?;
        spec.transcode.source_limits().check(&source)?;
        let edits: Vec<Edit> = job.edits.iter().map(|e| in_dir(e, base)).collect();
        let work = spec.out_dir.join("studio-work");
        std::fs::create_dir_all(&work)
            .map_err(|e| BatchError::Unusable(format!("{}: {e}", work.display())))?;
        apply(
            &spec.source,
            spec.audio_source.as_deref(),
            &edits,
            &work,
            &to,
            &encoders,
            &report,
        )?
    };
    tracing::info!(job = %job.uuid, kind = %job.kind, width = made.width, height = made.height, secs = made.duration_secs, encoder = %made.encoder, passes = made.passes, "edited");
    Ok(BTreeMap::from([(
        job.uuid.clone(),
        vec![(fields::VIDEO_FILE.to_string(), to)],
    )]))
}

/// `edit` with its files (named relative to the batch directory) in `dir`.
fn in_dir(edit: &Edit, dir: &Path) -> Edit {
    match edit {
        Edit::Intro(p) => Edit::Intro(dir.join(p)),
        Edit::Outro(p) => Edit::Outro(dir.join(p)),
        Edit::Watermark {
            image,
            size_ratio,
            horizontal_margin_ratio,
            vertical_margin_ratio,
        } => Edit::Watermark {
            image: dir.join(image),
            size_ratio: *size_ratio,
            horizontal_margin_ratio: *horizontal_margin_ratio,
            vertical_margin_ratio: *vertical_margin_ratio,
        },
        cut => cut.clone(),
    }
}

/// The files a resolution job sends, from its rung: the fragmented MP4 and its playlist (HLS),
/// or the rung remuxed as a faststart MP4 (web video).
fn outputs_of(
    spec: &Spec,
    job: &JobSpec,
    rung: &RungOutput,
) -> Result<Vec<(String, PathBuf)>, BatchError> {
    Ok(match job.kind {
        JobType::VodWebVideoTranscoding => {
            let to = spec
                .out_dir
                .join(format!("{}-{}.mp4", job.uuid, job.resolution));
            crate::transcode::web_video::remux_faststart(&rung.media_file, &to)?;
            vec![(fields::VIDEO_FILE.to_string(), to)]
        }
        _ => vec![
            (fields::VIDEO_FILE.to_string(), rung.media_file.clone()),
            (
                fields::RESOLUTION_PLAYLIST_FILE.to_string(),
                rung.playlist.clone(),
            ),
        ],
    })
}

/// Runs the pipeline, writing each job's progress every half second.
fn transcode(
    spec: &Spec,
    source_path: &Path,
    source: &SourceInfo,
    source_fps: f64,
    ladder: &Ladder,
    out: &mut dyn Write,
) -> Result<PipelineOutput, BatchError> {
    let resolutions: Vec<u32> = ladder.rungs.iter().map(|r| r.resolution).collect();
    let expected = (source.duration_secs * source_fps).round().max(0.0) as u64;
    let stats = Arc::new(PipelineStats::new(&resolutions, expected));
    let progress = |stats: &PipelineStats| -> BTreeMap<String, u8> {
        spec.jobs
            .iter()
            .map(|j| {
                if j.resolution == 0 && j.kind != JobType::GenerateVideoStoryboard {
                    // The audio rendition, made before the pipeline.
                    return (j.uuid.clone(), 99);
                }
                let done = match ladder.rungs.iter().find(|r| r.resolution == j.resolution) {
                    Some(rung) if j.kind != JobType::GenerateVideoStoryboard => {
                        let want = (source.duration_secs * f64::from(rung.fps)).max(1.0);
                        let frames = stats
                            .rung(rung.resolution)
                            .map(|r| r.frames.load(Ordering::Relaxed))
                            .unwrap_or(0);
                        frames as f64 / want
                    }
                    _ => stats.decoded.load(Ordering::Relaxed) as f64 / expected.max(1) as f64,
                };
                // 100 is for when the files are sent.
                (j.uuid.clone(), (done * 100.0).clamp(0.0, 99.0) as u8)
            })
            .collect()
    };
    std::thread::scope(|scope| {
        let pipeline = scope.spawn(|| run_with(source_path, ladder, &spec.out_dir, "rung", &stats));
        while !pipeline.is_finished() {
            emit(
                out,
                &Event::Progress {
                    jobs: progress(&stats),
                },
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        let made = pipeline.join().map_err(|_| BatchError::Panicked)??;
        emit(
            out,
            &Event::Progress {
                jobs: progress(&stats),
            },
        );
        Ok(made)
    })
}

/// Reads a spec file.
pub fn read_spec(path: &Path) -> Result<Spec, String> {
    let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runners::protocol::Size;

    #[test]
    fn sprite_plans_follow_the_payload() {
        let sprites = Sprites {
            size: Size {
                width: 192,
                height: 108,
            },
            count: Size {
                width: 2,
                height: 2,
            },
            duration: 1,
        };
        let p = sprite_plan(&sprites, 4.0);
        assert_eq!(
            (p.columns, p.rows, p.count, p.sprite_duration),
            (2, 2, 4, 1)
        );
        assert_eq!(sprite_plan(&sprites, 3.0).count, 3);
    }
}
