//! Still pictures for edits (a watermark, an audio merge's picture): opened through the
//! accepted image demuxers only, decoded to one frame, alpha kept.

use super::EditError;
use ffmpeg_next as ff;
use std::path::Path;

/// The largest side of a picture we decode (a bigger one is refused rather than allocated).
const MAX_SIDE: u32 = 16_384;

/// Decodes the first picture of the PNG, JPEG or WebP file `path`.
pub(super) fn decode(path: &Path) -> Result<ff::frame::Video, EditError> {
    let shown = path.display().to_string();
    let bad = |reason: String| EditError::Image {
        path: shown.clone(),
        reason,
    };
    let mut input = crate::transcode::source::open_image(path).map_err(|e| bad(e.to_string()))?;
    let (index, params) = {
        let stream = input
            .streams()
            .best(ff::media::Type::Video)
            .ok_or_else(|| bad("no picture in the file".into()))?;
        (stream.index(), stream.parameters())
    };
    let mut decoder = ff::codec::context::Context::from_parameters(params)
        .and_then(|c| c.decoder().video())
        .map_err(|e| bad(format!("no decoder ({e})")))?;
    let mut picture = ff::frame::Video::empty();
    let mut packet = ff::Packet::empty();
    let mut last_error = None;
    loop {
        match packet.read(&mut input) {
            Ok(()) => {}
            Err(ff::Error::Eof) => break,
            Err(e) => {
                last_error = Some(e);
                break;
            }
        }
        if packet.stream() != index {
            continue;
        }
        if let Err(e) = decoder.send_packet(&packet) {
            last_error = Some(e);
            continue;
        }
        if decoder.receive_frame(&mut picture).is_ok() {
            return checked(picture, &bad);
        }
    }
    let _ = decoder.send_eof();
    if decoder.receive_frame(&mut picture).is_ok() {
        return checked(picture, &bad);
    }
    Err(bad(match last_error {
        Some(e) => format!("no picture decoded ({e})"),
        None => "no picture decoded".into(),
    }))
}

fn checked(
    picture: ff::frame::Video,
    bad: &dyn Fn(String) -> EditError,
) -> Result<ff::frame::Video, EditError> {
    let (w, h) = (picture.width(), picture.height());
    if w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE {
        return Err(bad(format!(
            "{w}x{h} picture; expected 1 to {MAX_SIDE} pixels a side"
        )));
    }
    Ok(picture)
}

/// The picture's display aspect ratio (width / height, its sample aspect ratio applied).
pub(super) fn aspect(picture: &ff::frame::Video) -> f64 {
    let sar = picture.aspect_ratio();
    let sar = if sar.numerator() > 0 && sar.denominator() > 0 {
        f64::from(sar)
    } else {
        1.0
    };
    f64::from(picture.width()) * sar / f64::from(picture.height().max(1))
}
