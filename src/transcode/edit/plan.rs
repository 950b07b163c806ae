//! Planning an edit job: what the input and clips are (size, rate, duration, sound), every
//! value and file checked before anything is encoded, and the edits folded into passes (the
//! main video's window from the cuts, clips around it, watermarks on the segments present
//! when they are added; a cut after a clip starts a new pass over the joined result).

use super::encode::{self, Geometry};
use super::graph::{Fit, PlacedMark};
use super::segment::{self, AudioFrom, Segment};
use super::{image, Edit, EditError};
use ffmpeg_next as ff;
use std::path::{Path, PathBuf};

/// What the planner needs to know of a video file.
pub(super) struct VideoInfo {
    pub width: u32,
    pub height: u32,
    /// Frames per second as the file says (average rate, else the stream's).
    pub rate: f64,
    pub duration: f64,
    pub has_audio: bool,
    pub bitrate: Option<u64>,
    pub audio_bitrate: Option<u64>,
}

pub(super) fn probe_video(path: &Path, role: &'static str) -> Result<VideoInfo, EditError> {
    let shown = path.display().to_string();
    let input = crate::transcode::source::open(path).map_err(|source| EditError::Open {
        role,
        path: shown.clone(),
        source,
    })?;
    let stream = segment::video_stream(&input).ok_or_else(|| EditError::NoVideo {
        role,
        path: shown.clone(),
    })?;
    let decoder = ff::codec::context::Context::from_parameters(stream.parameters())
        .and_then(|c| c.decoder().video())
        .map_err(encode::libav(format!(
            "{role} {shown}: open the video decoder"
        )))?;
    let rate = [stream.avg_frame_rate(), stream.rate()]
        .into_iter()
        .find(|r| r.numerator() > 0 && r.denominator() > 0)
        .map_or(25.0, f64::from);
    let mut duration = input.duration().max(0) as f64 / f64::from(ff::ffi::AV_TIME_BASE);
    if duration <= 0.0 && stream.duration() > 0 {
        duration = stream.duration() as f64 * f64::from(stream.time_base());
    }
    let audio = input.streams().best(ff::media::Type::Audio);
    let audio_bitrate = audio
        .as_ref()
        .map(|a| a.parameters().bit_rate())
        .filter(|b| *b > 0)
        .map(|b| b as u64);
    if decoder.width() == 0 || decoder.height() == 0 {
        return Err(EditError::NoVideo { role, path: shown });
    }
    // Sizes as shown: a video recorded sideways is turned upright.
    let (width, height) = match segment::rotation(&stream) {
        90 | 270 => (decoder.height(), decoder.width()),
        _ => (decoder.width(), decoder.height()),
    };
    Ok(VideoInfo {
        width,
        height,
        rate,
        duration,
        has_audio: audio.is_some(),
        bitrate: (input.bit_rate() > 0).then_some(input.bit_rate() as u64),
        audio_bitrate,
    })
}

pub(super) fn intermediate(work_dir: &Path, pass: usize) -> PathBuf {
    work_dir.join(format!("studio-pass-{pass}.mp4"))
}

/// One encoding pass: its segments in order.
pub(super) struct Pass {
    pub segments: Vec<Segment>,
    /// Index of the main video's segment.
    pub main: usize,
    /// Whether any segment has sound.
    pub has_audio: bool,
    /// Estimated output duration (seconds), for validation and progress.
    pub estimate: f64,
}

impl Pass {
    fn over(video: PathBuf, audio: AudioFrom, has_audio: bool, duration: f64) -> Pass {
        Pass {
            segments: vec![Segment {
                video,
                audio,
                start: 0.0,
                end: None,
                fit: Fit::Scale,
                marks: Vec::new(),
                role: "input video",
            }],
            main: 0,
            has_audio,
            estimate: duration,
        }
    }

    fn has_clips(&self) -> bool {
        self.segments.len() > 1
    }
}

/// Folds `edits` into passes, checking every value and file before anything is encoded.
pub(super) fn plan(
    input: &Path,
    separate_audio: Option<&Path>,
    main: &VideoInfo,
    main_has_audio: bool,
    edits: &[Edit],
    g: Geometry,
    work_dir: &Path,
) -> Result<Vec<Pass>, EditError> {
    let audio = separate_audio.map_or(AudioFrom::Own, |p| AudioFrom::Separate(p.to_owned()));
    let mut passes = Vec::new();
    let mut pass = Pass::over(input.to_owned(), audio, main_has_audio, main.duration);
    for edit in edits {
        match edit {
            Edit::Cut { start, end } => {
                let (s, e) = check_cut(*start, *end, pass.estimate)?;
                if pass.has_clips() {
                    let (has_audio, estimate) = (pass.has_audio, pass.estimate);
                    passes.push(pass);
                    let previous = intermediate(work_dir, passes.len() - 1);
                    pass = Pass::over(previous, AudioFrom::Own, has_audio, estimate);
                }
                let m = &mut pass.segments[pass.main];
                let base = m.start;
                m.start = base + s;
                m.end = match (m.end, e) {
                    (Some(old), Some(e)) => Some(old.min(base + e)),
                    (old, None) => old,
                    (None, Some(e)) => Some(base + e),
                };
                pass.estimate = e.unwrap_or(pass.estimate) - s;
            }
            Edit::Intro(path) | Edit::Outro(path) => {
                let intro = matches!(edit, Edit::Intro(_));
                let role = if intro { "intro" } else { "outro" };
                let clip = probe_video(path, role)?;
                let seg = Segment {
                    video: path.clone(),
                    audio: AudioFrom::Own,
                    start: 0.0,
                    end: None,
                    fit: Fit::Pad,
                    marks: Vec::new(),
                    role,
                };
                if intro {
                    pass.segments.insert(0, seg);
                    pass.main += 1;
                } else {
                    pass.segments.push(seg);
                }
                pass.has_audio |= clip.has_audio;
                pass.estimate += clip.duration;
            }
            Edit::Watermark {
                image,
                size_ratio,
                horizontal_margin_ratio,
                vertical_margin_ratio,
            } => {
                check_ratio("size ratio", *size_ratio, false)?;
                check_ratio("horizontal margin ratio", *horizontal_margin_ratio, true)?;
                check_ratio("vertical margin ratio", *vertical_margin_ratio, true)?;
                let picture = image::decode(image)?;
                let mark = place_mark(
                    picture,
                    g,
                    *size_ratio,
                    *horizontal_margin_ratio,
                    *vertical_margin_ratio,
                );
                for seg in &mut pass.segments {
                    seg.marks.push(mark.clone());
                }
            }
        }
    }
    passes.push(pass);
    Ok(passes)
}

/// The window of a cut on a video of `duration` seconds (0: unknown): its start, and its end
/// unless it is at or past the video's end.
pub(super) fn check_cut(
    start: Option<f64>,
    end: Option<f64>,
    duration: f64,
) -> Result<(f64, Option<f64>), EditError> {
    let s = start.unwrap_or(0.0);
    let fail = |problem: &'static str| EditError::CutRange {
        start: start.map_or("beginning".into(), |v| v.to_string()),
        end: end.map_or("end".into(), |v| v.to_string()),
        problem,
        duration,
    };
    if !s.is_finite() || s < 0.0 {
        return Err(fail("the start must be a number of seconds, 0 or more"));
    }
    if let Some(e) = end {
        if !e.is_finite() {
            return Err(fail("the end must be a number of seconds"));
        }
        if e <= s {
            return Err(fail(
                "the range is empty: the end must come after the start",
            ));
        }
    }
    if duration > 0.0 && s >= duration {
        return Err(fail("the start is at or after the end of the video"));
    }
    Ok((s, end.filter(|e| duration <= 0.0 || *e < duration)))
}

/// Checks a watermark ratio: in (0, 1], or [0, 1] when `zero_ok`.
pub(super) fn check_ratio(name: &'static str, value: f64, zero_ok: bool) -> Result<(), EditError> {
    let ok = value.is_finite() && value <= 1.0 && (value > 0.0 || (zero_ok && value == 0.0));
    if ok {
        Ok(())
    } else {
        Err(EditError::Ratio {
            name,
            value,
            expected: if zero_ok { "[0, 1]" } else { "(0, 1]" },
        })
    }
}

/// Where PeerTube's filter puts a watermark: its height `H × size_ratio`, its width keeping the
/// picture's aspect (`scale2ref=w=oh*mdar:h=ih*ratio`), at `x = W - w - H × horizontal`,
/// `y = H × vertical` (both margins count in the video's height), rounded down to even pixels
/// as `overlay` does on yuv420p.
pub(super) fn place_mark(
    picture: ff::frame::Video,
    g: Geometry,
    size_ratio: f64,
    horizontal: f64,
    vertical: f64,
) -> PlacedMark {
    let (w, h) = (f64::from(g.width), f64::from(g.height));
    let height = (h * size_ratio).floor().max(1.0);
    let width = (height * image::aspect(&picture))
        .floor()
        .clamp(1.0, 4.0 * w.max(h));
    let x = (w - width - h * horizontal).floor() as i64 & !1;
    let y = (h * vertical).floor() as i64 & !1;
    PlacedMark {
        picture,
        width: width as u32,
        height: height as u32,
        x,
        y,
    }
}
