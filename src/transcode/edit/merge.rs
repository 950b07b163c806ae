//! The audio merge (`vod-audio-merge-transcoding`): a still picture shown for the whole of an
//! audio file, as PeerTube's `-loop 1 … -tune stillimage -shortest` makes it: the picture scaled
//! once to the asked resolution, encoded at the asked frame rate until the audio ends.

use super::audio::{AudioSource, Samples};
use super::encode::{Geometry, Mp4Writer, VideoSettings};
use super::graph::{self, Fit, SegmentGraph};
use super::{aac_bitrate, image, EditError, Edited, Progress};
use ffmpeg_next as ff;
use std::path::Path;

/// The largest resolution (shorter side) a merge may ask for.
const MAX_RESOLUTION: u32 = 4320;
/// The highest frame rate a merge may ask for.
const MAX_FPS: u32 = 120;

/// `vod-audio-merge-transcoding`: the still `image` shown for the whole `audio`, as a faststart
/// MP4 (H.264 at `resolution` (the shorter side, even dimensions, the image's aspect kept) and
/// `fps`, + AAC), at `out`. `encoders` and `progress` as for [`super::apply`].
pub fn merge_audio_and_image(
    audio: &Path,
    image: &Path,
    resolution: u32,
    fps: u32,
    out: &Path,
    encoders: &[String],
    progress: &dyn Fn(f64),
) -> Result<Edited, EditError> {
    crate::transcode::probe::init_libav();
    if !(2..=MAX_RESOLUTION).contains(&resolution) {
        return Err(EditError::BadValue {
            name: "resolution",
            value: resolution.to_string(),
            expected: "2 to 4320 (the shorter side, in pixels)",
        });
    }
    if !(1..=MAX_FPS).contains(&fps) {
        return Err(EditError::BadValue {
            name: "fps",
            value: fps.to_string(),
            expected: "1 to 120 frames per second",
        });
    }
    let picture = image::decode(image)?;
    let (width, height) = fitted(image::aspect(&picture), resolution);
    let g = Geometry { width, height, fps };

    let shown = audio.display().to_string();
    let mut input =
        crate::transcode::source::open_audio(audio).map_err(|source| EditError::Open {
            role: "audio",
            path: shown.clone(),
            source,
        })?;
    let origin = input
        .streams()
        .filter(|s| s.start_time() != ff::ffi::AV_NOPTS_VALUE)
        .map(|s| s.start_time() as f64 * f64::from(s.time_base()))
        .fold(None, |m: Option<f64>, t| Some(m.map_or(t, |m| m.min(t))))
        .unwrap_or(0.0);
    let mut source = {
        let stream = input
            .streams()
            .best(ff::media::Type::Audio)
            .ok_or_else(|| EditError::NoAudio {
                path: shown.clone(),
            })?;
        AudioSource::new(&stream, origin, &shown)?
    };
    let duration = input.duration().max(0) as f64 / f64::from(ff::ffi::AV_TIME_BASE);
    let progress = Progress::new(progress, duration * f64::from(fps));

    // The picture, once, at the output's size and format.
    let spec = graph::spec(g, Fit::Still, 0, &[]);
    let mut scaler = SegmentGraph::new(&picture, ff::Rational(1, 1), &spec, &[])?;
    let mut scaled = Vec::new();
    let mut first = picture;
    first.set_pts(Some(0));
    scaler.push(&mut first, &mut scaled)?;
    scaler.close(1, &mut scaled)?;
    let mut still = scaled.into_iter().next().ok_or_else(|| EditError::Image {
        path: image.display().to_string(),
        reason: "the picture could not be scaled".into(),
    })?;

    let settings = VideoSettings {
        geometry: g,
        encoders,
        input_bitrate: None,
        still: true,
    };
    let mut writer =
        Mp4Writer::create(out, &settings, Some(aac_bitrate(source.bitrate)), &progress)?;
    tracing::info!(audio = %shown, image = %image.display(), width, height, fps, "merging audio and picture");
    let mut packet = ff::Packet::empty();
    let mut samples: Vec<Samples> = Vec::new();
    let mut frames = 0i64;
    loop {
        let at_end = match packet.read(&mut input) {
            Ok(()) => false,
            Err(ff::Error::Eof) => true,
            Err(e) => {
                tracing::warn!(audio = %shown, error = %e, "read error; ending the audio here");
                true
            }
        };
        if at_end {
            source.push(None, &mut samples)?;
        } else if packet.stream() == source.index {
            source.push(Some(&packet), &mut samples)?;
        } else {
            continue;
        }
        for s in samples.drain(..) {
            writer.audio(s.at, [&s.planes[0], &s.planes[1]], 0, None)?;
        }
        // The picture until the audio's end (the last frame covers its last samples).
        let until = g.frames_covering(writer.audio_cursor());
        while frames < until {
            writer.video(&mut still, frames)?;
            frames += 1;
        }
        if at_end {
            break;
        }
    }
    if writer.audio_cursor() == 0 {
        return Err(EditError::NoAudio { path: shown });
    }
    let written = writer.finish()?;
    progress.finish();
    Ok(Edited {
        path: out.to_path_buf(),
        width,
        height,
        fps: f64::from(fps),
        duration_secs: written.duration_secs,
        encoder: written.encoder,
        has_audio: true,
        passes: 1,
    })
}

/// The output size for a picture of `aspect` (width / height) whose shorter side is
/// `resolution`: even dimensions, the aspect kept.
fn fitted(aspect: f64, resolution: u32) -> (u32, u32) {
    let even = |x: f64| ((x / 2.0).round() as u32 * 2).max(2);
    let short = even(f64::from(resolution));
    let aspect = if aspect.is_finite() && aspect > 0.0 {
        aspect
    } else {
        1.0
    };
    if aspect >= 1.0 {
        (even(f64::from(short) * aspect).min(8192), short)
    } else {
        (short, even(f64::from(short) / aspect).min(8192))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_keep_the_aspect_with_even_sides() {
        assert_eq!(super::fitted(4.0 / 3.0, 240), (320, 240));
        assert_eq!(super::fitted(16.0 / 9.0, 720), (1280, 720));
        assert_eq!(super::fitted(9.0 / 16.0, 480), (480, 854));
        assert_eq!(super::fitted(1.0, 241), (242, 242));
        assert_eq!(super::fitted(f64::NAN, 100), (100, 100));
    }
}
