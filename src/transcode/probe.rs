//! Probing a source with libavformat: container, duration, bitrate, and the best video and
//! audio streams. This is the planner's input; nothing is decoded beyond stream headers. The
//! file is opened through [`super::source::open`] (accepted containers only).

use serde::Serialize;
use std::path::Path;
use std::sync::Once;

/// What a source file holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceInfo {
    /// Container (libavformat's demuxer name).
    pub format: String,
    /// Duration in seconds (0 when unknown).
    pub duration_secs: f64,
    /// Overall bitrate in bit/s, when known.
    pub bitrate: Option<u64>,
    /// The best video stream.
    pub video: Option<VideoInfo>,
    /// The best audio stream.
    pub audio: Option<AudioInfo>,
}

/// A video stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VideoInfo {
    /// Codec name (`h264`, `hevc`, …).
    pub codec: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Average frame rate.
    pub fps: f64,
    /// Pixel format name.
    pub pixel_format: String,
}

/// An audio stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AudioInfo {
    /// Codec name.
    pub codec: String,
    /// Channels.
    pub channels: u32,
    /// Sample rate (Hz).
    pub sample_rate: u32,
    /// Bitrate (bit/s), when known.
    pub bitrate: Option<u64>,
}

/// Why a file could not be probed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// libavformat could not parse its streams.
    #[error("{path}: not a readable media file ({message})")]
    Unreadable {
        /// The file.
        path: String,
        /// libav's message.
        message: String,
    },
    /// The file could not be opened, or is in a format that is not accepted.
    #[error(transparent)]
    Open(#[from] super::source::OpenError),
    /// Neither video nor audio.
    #[error("{0}: the file has neither a video nor an audio stream")]
    NoStreams(String),
}

/// Initialises libav once per process (and quiets its logging: errors come back as values).
pub fn init_libav() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        if let Err(e) = ffmpeg_next::init() {
            tracing::error!(error = %e, "libav initialisation failed");
        }
        // Errors come back as values; libav's own stderr chatter would only confuse logs.
        ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Fatal);
    });
}

/// Probes `path`.
pub fn probe(path: &Path) -> Result<SourceInfo, ProbeError> {
    init_libav();
    let input = super::source::open(path)?;
    describe(&input, &path.display().to_string())
}

/// What an opened input holds (`shown` names it in errors): a file, or a live stream.
pub(crate) fn describe(
    input: &ffmpeg_next::format::context::Input,
    shown: &str,
) -> Result<SourceInfo, ProbeError> {
    use ffmpeg_next::media::Type;
    let unreadable = |e: ffmpeg_next::Error| ProbeError::Unreadable {
        path: shown.to_string(),
        message: e.to_string(),
    };
    let duration = input.duration();
    let duration_secs = if duration > 0 {
        duration as f64 / f64::from(ffmpeg_next::ffi::AV_TIME_BASE)
    } else {
        0.0
    };
    let bitrate = (input.bit_rate() > 0).then_some(input.bit_rate() as u64);
    let video = match input.streams().best(Type::Video) {
        None => None,
        Some(stream) => {
            let ctx = ffmpeg_next::codec::context::Context::from_parameters(stream.parameters())
                .map_err(unreadable)?;
            let codec = ctx.id().name().to_string();
            let dec = ctx.decoder().video().map_err(unreadable)?;
            let rate = stream.avg_frame_rate();
            let rate = if rate.denominator() != 0 && rate.numerator() > 0 {
                rate
            } else {
                stream.rate()
            };
            let fps = if rate.denominator() != 0 {
                f64::from(rate.numerator()) / f64::from(rate.denominator())
            } else {
                0.0
            };
            let pixel_format = format!("{:?}", dec.format()).to_lowercase();
            // Attached pictures (cover art) are not video.
            let is_cover = stream
                .disposition()
                .contains(ffmpeg_next::format::stream::Disposition::ATTACHED_PIC);
            (!is_cover).then_some(VideoInfo {
                codec,
                width: dec.width(),
                height: dec.height(),
                fps,
                pixel_format,
            })
        }
    };
    let audio = match input.streams().best(Type::Audio) {
        None => None,
        Some(stream) => {
            let ctx = ffmpeg_next::codec::context::Context::from_parameters(stream.parameters())
                .map_err(unreadable)?;
            let codec = ctx.id().name().to_string();
            let dec = ctx.decoder().audio().map_err(unreadable)?;
            let br = dec.bit_rate();
            Some(AudioInfo {
                codec,
                channels: u32::from(dec.channels()),
                sample_rate: dec.rate(),
                bitrate: (br > 0).then_some(br as u64),
            })
        }
    };
    if video.is_none() && audio.is_none() {
        return Err(ProbeError::NoStreams(shown.to_string()));
    }
    Ok(SourceInfo {
        format: input.format().name().to_string(),
        duration_secs,
        bitrate,
        video,
        audio,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::transcode::testclip::generate;

    #[test]
    fn probes_a_generated_720p_clip() {
        let dir = tempfile::tempdir().unwrap();
        let clip = generate(
            dir.path(),
            "clip.mp4",
            &[
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=1280x720:rate=30:duration=2",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:duration=2",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p",
                "-c:a",
                "aac",
                "-shortest",
            ],
        );
        let info = probe(&clip).unwrap();
        let v = info.video.as_ref().unwrap();
        assert_eq!((v.width, v.height), (1280, 720));
        assert!((v.fps - 30.0).abs() < 0.01, "{}", v.fps);
        assert_eq!(v.codec, "h264");
        assert_eq!(v.pixel_format, "yuv420p");
        let a = info.audio.as_ref().unwrap();
        assert_eq!(a.codec, "aac");
        assert!(
            (info.duration_secs - 2.0).abs() < 0.2,
            "{}",
            info.duration_secs
        );
        assert!(info.format.contains("mp4"));
    }

    #[test]
    fn audio_only_and_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let audio = generate(
            dir.path(),
            "a.m4a",
            &["-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac"],
        );
        let info = probe(&audio).unwrap();
        assert!(info.video.is_none() && info.audio.is_some());

        let text = dir.path().join("notes.txt");
        std::fs::write(&text, "this is not a video\n").unwrap();
        let err = probe(&text).unwrap_err().to_string();
        assert!(
            err.contains("notes.txt") && err.contains("not a readable media file"),
            "{err}"
        );

        let empty = dir.path().join("empty.mp4");
        std::fs::write(&empty, b"").unwrap();
        assert!(probe(&empty).is_err());

        let clip = generate(
            dir.path(),
            "v.mp4",
            &[
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=320x240:rate=25:duration=2",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
            ],
        );
        let bytes = std::fs::read(&clip).unwrap();
        let truncated = dir.path().join("truncated.mp4");
        std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
        // A truncated MP4 (moov at the end, cut off) cannot be opened: an error, not a panic.
        let _ = probe(&truncated).map(|i| assert!(i.video.is_some() || i.audio.is_some()));
    }
}
