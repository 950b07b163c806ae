//! The planner: from what the source is (see [`super::probe`]) and what the machine can do (the
//! `fleuve-hw` capability matrix), the ladder of renditions to produce and the encoder chain
//! of each rung. PeerTube's defaults (reference §4.4–4.5): its resolutions, never upscaling, its
//! bitrate formula, 2-second GOPs, ~4-second segments, AAC stereo.

use super::limits::{LimitError, SourceLimits};
use super::probe::SourceInfo;
use fleuve_hw::{Backend, Inventory};
use serde::Serialize;

use crate::config::TranscodeConfig;
pub use crate::config::{DeviceScaling, RESOLUTIONS};

/// The highest rung of any ladder (PeerTube's top resolution).
pub const MAX_RESOLUTION: u32 = RESOLUTIONS[RESOLUTIONS.len() - 1];

/// Bits per pixel (min, average, max) by resolution tier, PeerTube's table.
const BPP: [(u32, f64, f64, f64); 8] = [
    (144, 0.02, 0.19, 0.32),
    (240, 0.02, 0.17, 0.29),
    (360, 0.02, 0.15, 0.26),
    (480, 0.02, 0.12, 0.22),
    (720, 0.02, 0.11, 0.19),
    (1080, 0.02, 0.10, 0.17),
    (1440, 0.02, 0.09, 0.16),
    (2160, 0.02, 0.08, 0.14),
];

/// Frame rates lower rungs are brought down to (PeerTube's `STANDARD`).
const STANDARD_FPS: [u32; 3] = [24, 25, 30];
/// Below this resolution, sources above 30 fps are brought down to a standard rate.
const KEEP_ORIGIN_FPS_MIN: u32 = 720;

/// How the planner is configured (`[transcode]`).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct PlanOptions {
    /// Resolutions allowed (shorter side); the source's own is always kept as the top rung.
    pub resolutions: Vec<u32>,
    /// Encoders in order of preference (`h264_nvenc`, `h264_vaapi`, `libx264`).
    pub encoders: Vec<String>,
    /// Highest output frame rate.
    pub max_fps: u32,
    /// GOP length in seconds.
    pub gop_secs: u32,
    /// Target HLS segment length in seconds.
    pub segment_secs: u32,
    /// Hardware sessions this job may open per encoder (`h264_nvenc` → 3); a rung past the
    /// budget leaves that encoder out of its chain. Empty = no limit (the server fills it from
    /// what other jobs hold).
    #[serde(default)]
    pub sessions: Vec<(String, u32)>,
    /// Where rungs are scaled when the source is decoded on a GPU (`transcode.device_scaling`).
    #[serde(default)]
    pub device_scaling: DeviceScaling,
    /// Caps on the source (`transcode.max_source_*`); a source over one is not planned.
    #[serde(default)]
    pub limits: SourceLimits,
}

impl Default for PlanOptions {
    /// The options of the default `[transcode]` section.
    fn default() -> Self {
        TranscodeConfig::default().plan_options()
    }
}

impl TranscodeConfig {
    /// The planner's options.
    pub fn plan_options(&self) -> PlanOptions {
        PlanOptions {
            resolutions: self.resolutions.clone(),
            encoders: self.encoders.iter().map(|e| e.name().to_string()).collect(),
            max_fps: self.max_fps,
            gop_secs: self.gop_secs,
            segment_secs: self.segment_secs,
            sessions: Vec::new(),
            device_scaling: self.device_scaling,
            limits: self.source_limits(),
        }
    }

    /// The caps on sources (`max_source_*`).
    pub fn source_limits(&self) -> SourceLimits {
        SourceLimits {
            max_side: self.max_source_side,
            max_pixels: self.max_source_pixels,
            max_fps: self.max_source_fps,
            max_duration_secs: self.max_source_duration_secs,
            max_gigapixels: self.max_source_gigapixels,
        }
    }
}

/// One rendition to produce.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rung {
    /// Resolution label (the shorter side, as PeerTube counts it).
    pub resolution: u32,
    /// Output width (even).
    pub width: u32,
    /// Output height (even).
    pub height: u32,
    /// Output frame rate.
    pub fps: u32,
    /// Target bitrate `T` (bit/s): `-maxrate T -bufsize 2T`.
    pub target_bitrate: u64,
    /// GOP length in frames.
    pub gop: u32,
    /// Encoders to try, in order; the last is always `libx264`.
    pub encoders: Vec<String>,
    /// Encoders left out of this rung's chain (a hardware session budget), and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedEncoder>,
}

/// The audio rendition shared by every rung.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AudioPlan {
    /// AAC bitrate (bit/s).
    pub bitrate: u64,
    /// Output channels (stereo).
    pub channels: u32,
}

/// The whole plan of a job.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ladder {
    /// Rungs, highest resolution first.
    pub rungs: Vec<Rung>,
    /// Audio, when the source has any.
    pub audio: Option<AudioPlan>,
    /// Target segment duration (seconds).
    pub segment_secs: u32,
    /// Preferred encoders that were skipped at plan time, and why (`fallbackReason`).
    pub skipped_encoders: Vec<SkippedEncoder>,
    /// How the source is decoded.
    pub decode: DecodePlan,
}

/// Where the source is decoded.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DecodePlan {
    /// libavcodec hwaccel (`cuda` for NVDEC, `vaapi`), or `None` for software.
    pub hwaccel: Option<String>,
    /// Device: CUDA index or render node path.
    pub device: Option<String>,
    /// Why decoding is in software, when it is.
    pub reason: Option<String>,
    /// Where rungs are scaled when decoding is on a device.
    pub scaling: DeviceScaling,
}

/// Picks the decoder: NVDEC when it takes the codec, else VA-API where it encodes, else software.
fn decode_plan(codec: &str, hw: &Inventory) -> DecodePlan {
    let mut reasons = Vec::new();
    match hw.backend(Backend::Nvdec) {
        Some(c) if c.available && c.codecs.iter().any(|k| k == codec) => {
            return DecodePlan {
                hwaccel: Some("cuda".into()),
                device: c.devices.first().cloned(),
                reason: None,
                scaling: DeviceScaling::Auto,
            }
        }
        Some(c) if c.available => reasons.push(format!("nvdec: cannot decode {codec}")),
        Some(c) => reasons.push(format!(
            "nvdec: {}",
            c.reason.clone().unwrap_or_else(|| "not available".into())
        )),
        None => reasons.push("nvdec: not probed".into()),
    }
    match hw.backend(Backend::Vaapi) {
        Some(c) if c.available && (c.codecs.is_empty() || c.codecs.iter().any(|k| k == codec)) => {
            return DecodePlan {
                hwaccel: Some("vaapi".into()),
                device: c.devices.first().cloned(),
                reason: None,
                scaling: DeviceScaling::Auto,
            }
        }
        Some(c) if c.available => reasons.push(format!("vaapi: cannot decode {codec}")),
        Some(c) => reasons.push(format!(
            "vaapi: {}",
            c.reason.clone().unwrap_or_else(|| "not available".into())
        )),
        None => {}
    }
    DecodePlan {
        hwaccel: None,
        device: None,
        reason: Some(reasons.join("; ")),
        scaling: DeviceScaling::Auto,
    }
}

/// An encoder left out of the chain at plan time.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SkippedEncoder {
    /// Encoder name.
    pub encoder: String,
    /// Why.
    pub reason: String,
}

impl Ladder {
    /// A rung's `fallbackReason`: why encoders were skipped at plan time (for the whole ladder,
    /// then for this rung), then what happened when the rung ran (`runtime`).
    pub fn rung_fallback_reason(&self, rung: &Rung, runtime: Option<&str>) -> Option<String> {
        let parts: Vec<String> = self
            .fallback_reason()
            .into_iter()
            .chain(
                rung.skipped
                    .iter()
                    .map(|s| format!("{}: {}", s.encoder, s.reason)),
            )
            .chain(runtime.map(str::to_string))
            .collect();
        (!parts.is_empty()).then(|| parts.join("; "))
    }

    /// One line explaining the skipped encoders, for `fallbackReason`.
    pub fn fallback_reason(&self) -> Option<String> {
        if self.skipped_encoders.is_empty() {
            return None;
        }
        Some(
            self.skipped_encoders
                .iter()
                .map(|s| format!("{}: {}", s.encoder, s.reason))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }
}

/// Why no ladder could be planned.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// The source has no video stream.
    #[error("the file has no video stream (audio-only uploads are not supported yet)")]
    NoVideo,
    /// Dimensions or frame rate are unusable.
    #[error("unusable video: {0}")]
    BadVideo(String),
    /// The source is over one of the `transcode.max_source_*` caps.
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// An encoder name in the config is unknown.
    #[error(
        "unknown encoder {0:?} in transcode.encoders; expected h264_nvenc, h264_vaapi or libx264"
    )]
    UnknownEncoder(String),
}

/// Plans the ladder of `source` on a machine described by `hw`.
pub fn plan(
    source: &SourceInfo,
    options: &PlanOptions,
    hw: &Inventory,
) -> Result<Ladder, PlanError> {
    let video = source.video.as_ref().ok_or(PlanError::NoVideo)?;
    if video.width < 2 || video.height < 2 {
        return Err(PlanError::BadVideo(format!(
            "{}x{} pixels",
            video.width, video.height
        )));
    }
    if !(video.fps.is_finite() && video.fps > 0.0) {
        return Err(PlanError::BadVideo(format!("frame rate {}", video.fps)));
    }
    options.limits.check(source)?;
    let (encoders, skipped_encoders) = encoder_chain(&options.encoders, hw, &tried_anyway())?;
    let portrait = video.height > video.width;
    let short = video.width.min(video.height);
    let ratio = video.width as f64 / video.height as f64;
    let mut resolutions: Vec<u32> = options
        .resolutions
        .iter()
        .copied()
        .filter(|r| *r <= short)
        .collect();
    // The source's own resolution is kept, but never above PeerTube's top rung (2160p).
    let original = (short - short % 2).min(MAX_RESOLUTION);
    if !resolutions.contains(&original) {
        resolutions.push(original);
    }
    resolutions.sort_unstable_by(|a, b| b.cmp(a));
    resolutions.dedup();
    let source_fps = video.fps.round().max(1.0) as u32;
    // Hardware sessions left for this job, per encoder; the highest rungs get them first.
    let mut left: Vec<(String, u32)> = options.sessions.clone();
    let rungs = resolutions
        .into_iter()
        .map(|res| {
            let mut chain = encoders.clone();
            let mut skipped = Vec::new();
            if let Some(first) = chain.first().cloned().filter(|e| e != "libx264") {
                if let Some((_, n)) = left.iter_mut().find(|(e, _)| *e == first) {
                    if *n == 0 {
                        chain.remove(0);
                        skipped.push(SkippedEncoder {
                            encoder: first,
                            reason: "session limit reached (other rungs and jobs hold them)".into(),
                        });
                    } else {
                        *n -= 1;
                    }
                }
            }
            let (width, height) = if portrait {
                (res, even(res as f64 / ratio))
            } else {
                (even(res as f64 * ratio), res)
            };
            let fps = output_fps(res, source_fps, res == original, options.max_fps);
            let target_bitrate = target_bitrate(res, ratio, fps, source.bitrate);
            Rung {
                resolution: res,
                width,
                height,
                fps,
                target_bitrate,
                gop: (fps * options.gop_secs).max(1),
                encoders: chain,
                skipped,
            }
        })
        .collect();
    let audio = source.audio.as_ref().map(|a| AudioPlan {
        // PeerTube: min(384k, input) for non-AAC input, 256k when unknown.
        bitrate: a
            .bitrate
            .map(|b| b.min(384_000))
            .unwrap_or(256_000)
            .max(64_000),
        channels: 2,
    });
    Ok(Ladder {
        rungs,
        audio,
        segment_secs: options.segment_secs,
        skipped_encoders,
        decode: DecodePlan {
            scaling: options.device_scaling,
            ..decode_plan(&video.codec, hw)
        },
    })
}

/// A human summary of a source and its ladder (`fleuve plan`).
pub fn render_text(source: &SourceInfo, ladder: &Ladder) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    if let Some(v) = &source.video {
        let _ = writeln!(
            out,
            "source: {} {}x{} {:.2} fps, {:.1} s, {}",
            v.codec,
            v.width,
            v.height,
            v.fps,
            source.duration_secs,
            source
                .audio
                .as_ref()
                .map(|a| format!("audio {} {} ch", a.codec, a.channels))
                .unwrap_or_else(|| "no audio".into())
        );
    }
    let _ = writeln!(
        out,
        "decode: {}",
        match (&ladder.decode.hwaccel, &ladder.decode.reason) {
            (Some(h), _) => format!(
                "{h} on {}",
                ladder.decode.device.as_deref().unwrap_or("default device")
            ),
            (None, Some(why)) => format!("software ({why})"),
            (None, None) => "software".into(),
        }
    );
    for r in &ladder.rungs {
        let _ = writeln!(
            out,
            "  {:>4}p  {:>4}x{:<4} {:>2} fps  {:>6} kbit/s  GOP {:>3}  encoders: {}",
            r.resolution,
            r.width,
            r.height,
            r.fps,
            r.target_bitrate / 1000,
            r.gop,
            r.encoders.join(" -> ")
        );
    }
    if let Some(a) = &ladder.audio {
        let _ = writeln!(
            out,
            "  audio: AAC {} ch {} kbit/s",
            a.channels,
            a.bitrate / 1000
        );
    }
    if let Some(reason) = ladder.fallback_reason() {
        let _ = writeln!(out, "  skipped: {reason}");
    }
    out
}

fn even(x: f64) -> u32 {
    ((x / 2.0).round() as u32 * 2).max(2)
}

/// PeerTube's `computeOutputFPS`.
pub fn output_fps(resolution: u32, fps: u32, is_original: bool, max_fps: u32) -> u32 {
    let mut out = fps;
    if !is_original && resolution < KEEP_ORIGIN_FPS_MIN && fps > 30 {
        out = *STANDARD_FPS.iter().min_by_key(|s| fps % *s).unwrap_or(&30);
    }
    out.clamp(1, max_fps.max(1))
}

/// PeerTube's target bitrate `T = max(min, min(average, input * 1.3))`.
pub fn target_bitrate(resolution: u32, ratio: f64, fps: u32, input_bitrate: Option<u64>) -> u64 {
    let tier = BPP
        .iter()
        .rev()
        .find(|t| t.0 <= resolution)
        .unwrap_or(&BPP[0]);
    let size2 = if ratio > 0.0 && ratio < 1.0 {
        resolution as f64 / ratio
    } else {
        resolution as f64 * ratio
    };
    let calc = |bpp: f64| (resolution as f64 * size2 * fps as f64 * bpp).floor() as u64;
    let min = match calc(tier.1) {
        0 => 10_000,
        v => v,
    };
    let average = match calc(tier.2) {
        0 => 192_000,
        v => v,
    };
    let capped = match input_bitrate {
        Some(b) if b > 0 => average.min((b as f64 * 1.3) as u64),
        _ => average,
    };
    capped.max(min)
}

/// The encoder chain from the preference list: hardware encoders the machine offers, then
/// libx264 (always last), plus the reasons the others were skipped.
/// For device checks only: `FLEUVE_PLAN_TRY_ENCODERS=h264_nvenc` keeps the named encoders in the
/// chain even where the probe rules them out, so their real open failure and the fallback after it
/// run (e.g. NVENC on a GPU that has none).
/// The H.264 encoder chain this machine tries for a single output (the planner's chain for
/// `options.encoders`, libx264 last), for work outside a ladder (studio edits, audio merges).
pub fn encoders_for(options: &PlanOptions, hw: &Inventory) -> Result<Vec<String>, PlanError> {
    encoder_chain(&options.encoders, hw, &tried_anyway()).map(|(chain, _)| chain)
}

fn tried_anyway() -> Vec<String> {
    std::env::var("FLEUVE_PLAN_TRY_ENCODERS")
        .map(|v| v.split(',').map(|e| e.trim().to_string()).collect())
        .unwrap_or_default()
}

fn encoder_chain(
    prefs: &[String],
    hw: &Inventory,
    try_anyway: &[String],
) -> Result<(Vec<String>, Vec<SkippedEncoder>), PlanError> {
    let mut chain = Vec::new();
    let mut skipped = Vec::new();
    for name in prefs {
        let backend = match name.as_str() {
            "h264_nvenc" => Backend::Nvenc,
            "h264_vaapi" => Backend::Vaapi,
            "libx264" => continue,
            other => return Err(PlanError::UnknownEncoder(other.to_string())),
        };
        match hw.backend(backend) {
            Some(cap) if cap.available => chain.push(name.clone()),
            _ if try_anyway.contains(name) => chain.push(name.clone()),
            Some(cap) => skipped.push(SkippedEncoder {
                encoder: name.clone(),
                reason: cap.reason.clone().unwrap_or_else(|| "not available".into()),
            }),
            None => skipped.push(SkippedEncoder {
                encoder: name.clone(),
                reason: "backend not probed".into(),
            }),
        }
    }
    chain.push("libx264".into());
    Ok((chain, skipped))
}

#[cfg(test)]
mod tests {
    use super::super::probe::{AudioInfo, VideoInfo};
    use super::*;

    fn source(w: u32, h: u32, fps: f64, audio: bool) -> SourceInfo {
        SourceInfo {
            duration_secs: 10.0,
            bitrate: None,
            format: "mov,mp4,m4a,3gp,3g2,mj2".into(),
            video: Some(VideoInfo {
                codec: "h264".into(),
                width: w,
                height: h,
                fps,
                pixel_format: "yuv420p".into(),
            }),
            audio: audio.then(|| AudioInfo {
                codec: "aac".into(),
                channels: 2,
                sample_rate: 48_000,
                bitrate: Some(128_000),
            }),
        }
    }

    fn no_gpu() -> Inventory {
        fleuve_hw::discover()
    }

    #[test]
    fn never_upscales_and_keeps_the_original() {
        let l = plan(
            &source(1280, 720, 30.0, true),
            &PlanOptions::default(),
            &no_gpu(),
        )
        .unwrap();
        let res: Vec<u32> = l.rungs.iter().map(|r| r.resolution).collect();
        assert_eq!(res, vec![720, 480, 360, 240, 144]);
        assert_eq!((l.rungs[0].width, l.rungs[0].height), (1280, 720));
        assert_eq!((l.rungs[1].width, l.rungs[1].height), (854, 480));
        assert_eq!((l.rungs[4].width, l.rungs[4].height), (256, 144));
        assert_eq!(l.rungs[0].gop, 60);
        assert_eq!(l.audio.as_ref().unwrap().channels, 2);

        // A non-standard source keeps its own resolution on top.
        let l = plan(
            &source(1000, 562, 25.0, false),
            &PlanOptions::default(),
            &no_gpu(),
        )
        .unwrap();
        let res: Vec<u32> = l.rungs.iter().map(|r| r.resolution).collect();
        assert_eq!(res, vec![562, 480, 360, 240, 144]);
        assert!(l.audio.is_none());
    }

    #[test]
    fn no_rung_above_2160p_or_the_source_and_oversized_sources_are_refused() {
        // Above PeerTube's top rung: 2160p is the top, whatever the configured list.
        for opts in [
            PlanOptions::default(),
            PlanOptions {
                resolutions: vec![],
                ..PlanOptions::default()
            },
        ] {
            let l = plan(&source(5120, 2880, 30.0, false), &opts, &no_gpu()).unwrap();
            assert_eq!(l.rungs[0].resolution, 2160);
            assert_eq!((l.rungs[0].width, l.rungs[0].height), (3840, 2160));
            assert!(l.rungs.iter().all(|r| r.resolution <= MAX_RESOLUTION));
        }
        let l = plan(
            &source(640, 360, 30.0, false),
            &PlanOptions::default(),
            &no_gpu(),
        )
        .unwrap();
        assert!(l.rungs.iter().all(|r| r.height <= 360 && r.width <= 640));
        // The 16000x16000 upload that became a 16000p rung.
        let e = plan(
            &source(16000, 16000, 24.0, false),
            &PlanOptions::default(),
            &no_gpu(),
        )
        .unwrap_err();
        assert!(matches!(e, PlanError::Limit(_)), "{e}");
        assert!(e.to_string().contains("transcode.max_source_side"), "{e}");
    }

    #[test]
    fn portrait_and_restricted_ladders() {
        let opts = PlanOptions {
            resolutions: vec![360, 720],
            ..PlanOptions::default()
        };
        let l = plan(&source(1080, 1920, 30.0, true), &opts, &no_gpu()).unwrap();
        let dims: Vec<(u32, u32)> = l.rungs.iter().map(|r| (r.width, r.height)).collect();
        assert_eq!(dims, vec![(1080, 1920), (720, 1280), (360, 640)]);
    }

    #[test]
    fn peertube_bitrates_and_frame_rates() {
        // 720p 16:9 30 fps: 720 * 1280 * 30 * 0.11 = 3 041 280 (PeerTube's table: ≈ 3.04 Mbit/s).
        assert_eq!(target_bitrate(720, 16.0 / 9.0, 30, None), 3_041_280);
        assert_eq!(target_bitrate(1080, 16.0 / 9.0, 30, None), 6_220_800);
        // Capped by 1.3 × the input bitrate, floored by the minimum.
        assert_eq!(
            target_bitrate(720, 16.0 / 9.0, 30, Some(1_000_000)),
            1_300_000
        );
        assert_eq!(target_bitrate(720, 16.0 / 9.0, 30, Some(1_000)), 552_960);
        // Lower rungs of 60/50 fps sources drop to a divisor; 720p and up keep it.
        assert_eq!(output_fps(480, 60, false, 60), 30);
        assert_eq!(output_fps(480, 50, false, 60), 25);
        assert_eq!(output_fps(720, 60, false, 60), 60);
        assert_eq!(output_fps(2160, 120, true, 60), 60);
    }

    #[test]
    fn encoders_tried_anyway_and_device_scaling_reach_the_plan() {
        let hw = no_gpu();
        let prefs = vec!["h264_nvenc".to_string(), "libx264".to_string()];
        let (chain, skipped) = encoder_chain(&prefs, &hw, &[]).unwrap();
        if !skipped.is_empty() {
            assert_eq!(chain, ["libx264"]);
            // Kept for a device check: the encoder is tried and its own open decides.
            let (chain, skipped) = encoder_chain(&prefs, &hw, &["h264_nvenc".into()]).unwrap();
            assert_eq!(chain, ["h264_nvenc", "libx264"]);
            assert!(skipped.is_empty());
        }
        for scaling in [
            DeviceScaling::Auto,
            DeviceScaling::Always,
            DeviceScaling::Never,
        ] {
            let opts = PlanOptions {
                device_scaling: scaling,
                ..PlanOptions::default()
            };
            let l = plan(&source(1280, 720, 30.0, false), &opts, &hw).unwrap();
            assert_eq!(l.decode.scaling, scaling);
        }
        assert_eq!(DeviceScaling::parse("always"), Some(DeviceScaling::Always));
        assert_eq!(DeviceScaling::parse("gpu"), None);
    }

    #[test]
    fn the_transcode_section_reaches_the_plan_options() {
        let env = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let c = crate::config::Config::load(
            None,
            env(&[
                ("FLEUVE_TRANSCODE_DEVICE_SCALING", "never"),
                ("FLEUVE_TRANSCODE_MAX_SOURCE_SIDE", "640"),
                ("FLEUVE_TRANSCODE_MAX_SOURCE_GIGAPIXELS", "0"),
                ("FLEUVE_TRANSCODE_ENCODERS", "h264_vaapi,libx264"),
            ]),
        )
        .unwrap();
        let p = c.transcode.plan_options();
        assert_eq!(p.device_scaling, DeviceScaling::Never);
        assert_eq!(p.limits.max_side, 640);
        assert_eq!(p.limits.max_gigapixels, 0);
        assert_eq!(p.encoders, ["h264_vaapi", "libx264"]);
        let d = PlanOptions::default();
        assert_eq!(d.encoders, ["h264_nvenc", "h264_vaapi", "libx264"]);
        assert_eq!((d.max_fps, d.gop_secs, d.segment_secs), (60, 2, 4));
        assert_eq!(d.resolutions, RESOLUTIONS);
    }

    #[test]
    fn hardware_preferences_fall_back_to_libx264_with_reasons() {
        let l = plan(
            &source(1280, 720, 30.0, true),
            &PlanOptions::default(),
            &no_gpu(),
        )
        .unwrap();
        for r in &l.rungs {
            assert_eq!(r.encoders.last().map(String::as_str), Some("libx264"));
        }
        if l.rungs[0].encoders.len() == 1 {
            let reason = l
                .fallback_reason()
                .expect("a reason when hardware was preferred");
            assert!(
                reason.contains("h264_nvenc") && reason.contains("h264_vaapi"),
                "{reason}"
            );
        }
        let bad = PlanOptions {
            encoders: vec!["h264_magic".into()],
            ..PlanOptions::default()
        };
        assert!(matches!(
            plan(&source(1280, 720, 30.0, true), &bad, &no_gpu()),
            Err(PlanError::UnknownEncoder(_))
        ));
    }

    #[test]
    fn refuses_unusable_sources() {
        let mut s = source(1280, 720, 30.0, true);
        s.video = None;
        assert_eq!(
            plan(&s, &PlanOptions::default(), &no_gpu()),
            Err(PlanError::NoVideo)
        );
        assert!(matches!(
            plan(
                &source(1280, 720, 0.0, true),
                &PlanOptions::default(),
                &no_gpu()
            ),
            Err(PlanError::BadVideo(_))
        ));
    }

    #[test]
    fn hardware_sessions_go_to_the_highest_rungs_and_the_rest_fall_back() {
        let mut hw = no_gpu();
        for b in &mut hw.backends {
            if b.backend == Backend::Nvenc {
                b.available = true;
                b.reason = None;
                b.devices = vec!["0".into()];
            }
        }
        let opts = PlanOptions {
            encoders: vec!["h264_nvenc".into(), "libx264".into()],
            sessions: vec![("h264_nvenc".into(), 2)],
            ..PlanOptions::default()
        };
        let l = plan(&source(1920, 1080, 30.0, true), &opts, &hw).unwrap();
        let first: Vec<&str> = l.rungs.iter().map(|r| r.encoders[0].as_str()).collect();
        assert_eq!(
            first,
            [
                "h264_nvenc",
                "h264_nvenc",
                "libx264",
                "libx264",
                "libx264",
                "libx264"
            ]
        );
        let why = l.rung_fallback_reason(&l.rungs[2], None).unwrap();
        assert!(why.contains("h264_nvenc: session limit"), "{why}");
        assert_eq!(l.rung_fallback_reason(&l.rungs[0], None), None);
    }
}
