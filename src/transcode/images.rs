//! The miniature and the preview of a video (PeerTube's two sizes), as JPEGs from one decoded
//! picture: the pipeline's poster frame, or at upload one frame from the middle of the source
//! ([`poster_from_source`], run in the upload prober's child process).

use super::pipeline::{libav, PipelineError};
use ffmpeg_next as ff;
use std::path::Path;

/// PeerTube's miniature size.
pub const THUMBNAIL_BOX: (u32, u32) = (280, 157);
/// PeerTube's preview size.
pub const PREVIEW_BOX: (u32, u32) = (850, 480);

/// The size of the image written for a picture of aspect ratio `aspect` (width / height)
/// into `bound`: what the API reports for a video's miniature and preview.
pub fn fitted(aspect: f64, bound: (u32, u32)) -> (u32, u32) {
    let aspect = if aspect.is_finite() && aspect > 0.0 {
        aspect
    } else {
        16.0 / 9.0
    };
    fit((aspect * 10_000.0).round() as u32, 10_000, bound)
}

/// Decodes one picture from the middle of `source` (opened through the accepted-demuxer door,
/// [`super::source::open`]) and writes it as the miniature and the preview.
pub fn poster_from_source(
    source: &Path,
    thumbnail: &Path,
    preview: &Path,
) -> Result<(), PipelineError> {
    let mut input = super::source::open(source)?;
    let (index, tb) = {
        let stream = input
            .streams()
            .best(ff::media::Type::Video)
            .ok_or(PipelineError::NoVideo)?;
        (stream.index(), stream.time_base())
    };
    let params = input
        .stream(index)
        .ok_or(PipelineError::NoVideo)?
        .parameters();
    let mut decoder = ff::codec::context::Context::from_parameters(params)
        .map_err(libav("poster decoder parameters"))?
        .decoder()
        .video()
        .map_err(libav("open poster decoder"))?;
    // Seek near the middle (container time base); a source that cannot seek is read from its
    // start, and the first picture is taken.
    let middle_secs = (input.duration().max(0) as f64 / f64::from(ff::ffi::AV_TIME_BASE)) / 2.0;
    let middle_ts = (middle_secs * f64::from(ff::ffi::AV_TIME_BASE)) as i64;
    let target = if middle_ts > 0 && input.seek(middle_ts, ..middle_ts).is_ok() {
        middle_secs
    } else {
        0.0
    };
    let mut picture = ff::frame::Video::empty();
    let mut last: Option<ff::frame::Video> = None;
    let mut take = |decoder: &mut ff::decoder::Video, last: &mut Option<ff::frame::Video>| {
        while decoder.receive_frame(&mut picture).is_ok() {
            let at = picture.timestamp().unwrap_or(0) as f64 * f64::from(tb);
            *last = Some(picture.clone());
            if at + 0.001 >= target {
                return true;
            }
        }
        false
    };
    // A picture within a few hundred packets of the seek point, else the last one decoded.
    let (mut packets, mut found) = (0u32, false);
    for (stream, packet) in input.packets() {
        if stream.index() != index {
            continue;
        }
        if decoder.send_packet(&packet).is_err() {
            continue;
        }
        found = take(&mut decoder, &mut last);
        packets += 1;
        if found || (packets > 600 && last.is_some()) {
            break;
        }
    }
    if !found && last.is_none() {
        let _ = decoder.send_eof();
        take(&mut decoder, &mut last);
    }
    let picture = last.ok_or(PipelineError::Libav {
        step: "decode a poster picture".into(),
        source: ff::Error::InvalidData,
    })?;
    write_jpeg(&picture, THUMBNAIL_BOX, thumbnail)?;
    write_jpeg(&picture, PREVIEW_BOX, preview)
}

/// Fits `w`x`h` into `bound`, keeping the aspect ratio (even dimensions).
fn fit(w: u32, h: u32, bound: (u32, u32)) -> (u32, u32) {
    let scale = (f64::from(bound.0) / f64::from(w)).min(f64::from(bound.1) / f64::from(h));
    let even = |x: f64| ((x / 2.0).round() as u32 * 2).max(2);
    (even(f64::from(w) * scale), even(f64::from(h) * scale))
}

/// Writes `picture`, scaled to fit `bound`, as a JPEG.
pub(super) fn write_jpeg(
    picture: &ff::frame::Video,
    bound: (u32, u32),
    path: &Path,
) -> Result<(), PipelineError> {
    let size = fit(picture.width(), picture.height(), bound);
    encode_jpeg(picture, size, path)
}

/// Writes `picture`, scaled to exactly `w`x`h`, as a JPEG.
pub(super) fn encode_jpeg(
    picture: &ff::frame::Video,
    (w, h): (u32, u32),
    path: &Path,
) -> Result<(), PipelineError> {
    let fmt = ff::format::Pixel::YUVJ420P;
    let mut scaler = ff::software::scaling::Context::get(
        picture.format(),
        picture.width(),
        picture.height(),
        fmt,
        w,
        h,
        ff::software::scaling::Flags::BICUBIC,
    )
    .map_err(libav("thumbnail scaler"))?;
    let mut scaled = ff::frame::Video::new(fmt, w, h);
    scaler
        .run(picture, &mut scaled)
        .map_err(libav("thumbnail scale"))?;
    scaled.set_pts(Some(0));
    let codec = ff::encoder::find(ff::codec::Id::MJPEG).ok_or(PipelineError::Libav {
        step: "find JPEG encoder".into(),
        source: ff::Error::EncoderNotFound,
    })?;
    let mut enc = ff::codec::context::Context::new_with_codec(codec)
        .encoder()
        .video()
        .map_err(libav("JPEG encoder"))?;
    enc.set_width(w);
    enc.set_height(h);
    enc.set_format(fmt);
    enc.set_time_base(ff::Rational(1, 25));
    enc.set_flags(ff::codec::Flags::QSCALE);
    // qscale 3 (lambda units): good quality, small files.
    enc.set_global_quality(3 * ff::ffi::FF_QP2LAMBDA);
    let mut enc = enc.open_as(codec).map_err(libav("open JPEG encoder"))?;
    enc.send_frame(&scaled).map_err(libav("encode thumbnail"))?;
    enc.send_eof().map_err(libav("flush JPEG encoder"))?;
    let mut packet = ff::Packet::empty();
    enc.receive_packet(&mut packet)
        .map_err(libav("encode thumbnail"))?;
    let data = packet.data().unwrap_or_default();
    let fail = |e: std::io::Error| PipelineError::Output {
        resolution: 0,
        message: format!("{}: {e}", path.display()),
    };
    std::fs::write(path, data).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcode::testclip;

    fn jpeg_dimensions(path: &Path) -> (u32, u32) {
        super::super::probe::init_libav();
        let input = ff::format::input(path).unwrap();
        let stream = input.streams().best(ff::media::Type::Video).unwrap();
        let p = ff::codec::context::Context::from_parameters(stream.parameters())
            .unwrap()
            .decoder()
            .video()
            .unwrap();
        assert_eq!(p.id(), ff::codec::Id::MJPEG);
        (p.width(), p.height())
    }

    #[test]
    fn posters_from_the_middle_of_a_source_in_peertube_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let src = testclip::clip(dir.path(), "tall.mp4", "360x640", 25, 4, None);
        let (t, p) = (dir.path().join("t.jpg"), dir.path().join("p.jpg"));
        poster_from_source(&src, &t, &p).unwrap();
        // Portrait: fitted to the boxes' heights.
        assert_eq!(jpeg_dimensions(&t), (88, 158));
        assert_eq!(jpeg_dimensions(&p), (270, 480));
    }

    #[test]
    fn posters_open_sources_through_the_accepted_demuxers_only() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret.mp4");
        testclip::clip(dir.path(), "secret.mp4", "320x240", 25, 1, None);
        // A playlist naming another file of the host is refused, not followed.
        let list = dir.path().join("upload.m3u8");
        std::fs::write(
            &list,
            format!(
                "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:1,\n{}\n#EXT-X-ENDLIST\n",
                secret.display()
            ),
        )
        .unwrap();
        let (t, p) = (dir.path().join("t.jpg"), dir.path().join("p.jpg"));
        let err = poster_from_source(&list, &t, &p).unwrap_err().to_string();
        assert!(err.starts_with("hls is not an accepted container"), "{err}");
        assert!(!t.exists() && !p.exists());
    }
}
