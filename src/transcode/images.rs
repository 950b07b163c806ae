//! The miniature and the preview of a video (PeerTube's two sizes), as JPEGs from one decoded
//! picture.

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
    let (w, h) = fit(picture.width(), picture.height(), bound);
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
