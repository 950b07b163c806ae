//! The storyboard of a video as PeerTube makes it (reference/peertube-interop.md §4.8): one JPEG
//! sprite sheet of small pictures taken every `spriteDuration` seconds, built from the frames the
//! pipeline decodes anyway (PeerTube runs ffmpeg over the file again for it).
//!
//! PeerTube's rules (`storyboard-utils.ts`): no storyboard under 3 s; at most
//! `min(duration, 11 * 11)` sprites, each standing for `ceil(duration / maxSprites)` seconds; the
//! smallest grid that holds them (rows first, at most 11x11); each sprite 192 px on its longer
//! edge, keeping the video's aspect; unused cells black.

use super::images::encode_jpeg;
use super::pipeline::{libav, PipelineError};
use crate::video::Storyboard;
use ffmpeg_next as ff;
use std::path::Path;

/// At most this many sprites per row and per column (`STORYBOARD.SPRITES_MAX_EDGE_COUNT`).
pub const SPRITES_MAX_EDGE_COUNT: u32 = 11;
/// The longer edge of a sprite (`STORYBOARD.SPRITE_MAX_SIZE`).
pub const SPRITE_MAX_SIZE: u32 = 192;
/// Videos shorter than this (seconds) get no storyboard.
pub const MIN_DURATION_SECS: u32 = 3;

/// The shape of a video's sprite sheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpritePlan {
    /// Seconds of video per sprite.
    pub sprite_duration: u32,
    /// Sprites taken.
    pub count: u32,
    /// Sprites per row.
    pub columns: u32,
    /// Rows.
    pub rows: u32,
    /// One sprite's width.
    pub sprite_width: u32,
    /// One sprite's height.
    pub sprite_height: u32,
}

/// PeerTube's sprite timing for a video of `duration_secs`: `(spriteDuration, totalSprites)`,
/// or None under 3 s. PeerTube's durations are whole seconds (ffprobe's, rounded), so this
/// rounds first.
pub fn sprite_timing(duration_secs: f64) -> Option<(u32, u32)> {
    if !duration_secs.is_finite() {
        return None;
    }
    let duration = duration_secs.round().clamp(0.0, f64::from(u32::MAX)) as u32;
    if duration < MIN_DURATION_SECS {
        return None;
    }
    let max_sprites = duration.min(SPRITES_MAX_EDGE_COUNT * SPRITES_MAX_EDGE_COUNT);
    let sprite_duration = duration.div_ceil(max_sprites);
    Some((sprite_duration, duration.div_ceil(sprite_duration)))
}

/// The smallest grid (fewest rows, then fewest columns, columns ≥ rows) holding `count` sprites:
/// PeerTube's `findGridSize`. Returns `(columns, rows)`.
pub fn grid(count: u32) -> (u32, u32) {
    for rows in 1..=SPRITES_MAX_EDGE_COUNT {
        for columns in rows..=SPRITES_MAX_EDGE_COUNT {
            if count <= rows * columns {
                return (columns, rows);
            }
        }
    }
    (SPRITES_MAX_EDGE_COUNT, SPRITES_MAX_EDGE_COUNT)
}

/// One sprite's size for a `width`x`height` video: 192 px on the longer edge, the other
/// rounded to keep the aspect (PeerTube's `buildSpriteSize`).
pub fn sprite_size(width: u32, height: u32) -> (u32, u32) {
    let (w, h) = (f64::from(width.max(1)), f64::from(height.max(1)));
    let max = f64::from(SPRITE_MAX_SIZE);
    if width < height {
        (((max * w / h).round() as u32).max(1), SPRITE_MAX_SIZE)
    } else {
        (SPRITE_MAX_SIZE, ((max * h / w).round() as u32).max(1))
    }
}

impl SpritePlan {
    /// The sheet of a `width`x`height` video lasting `duration_secs`, or None under 3 s.
    pub fn new(duration_secs: f64, width: u32, height: u32) -> Option<SpritePlan> {
        let (sprite_duration, count) = sprite_timing(duration_secs)?;
        let (columns, rows) = grid(count);
        let (sprite_width, sprite_height) = sprite_size(width, height);
        Some(SpritePlan {
            sprite_duration,
            count,
            columns,
            rows,
            sprite_width,
            sprite_height,
        })
    }

    /// The sheet's width.
    pub fn total_width(&self) -> u32 {
        self.sprite_width * self.columns
    }

    /// The sheet's height.
    pub fn total_height(&self) -> u32 {
        self.sprite_height * self.rows
    }

    /// The record of this sheet written as `file`.
    pub fn record(&self, file: String) -> Storyboard {
        Storyboard {
            file,
            sprite_width: self.sprite_width,
            sprite_height: self.sprite_height,
            sprite_duration: self.sprite_duration,
            total_width: self.total_width(),
            total_height: self.total_height(),
        }
    }
}

/// Builds a sheet from decoded frames offered in presentation order: sprite `k` is the first
/// frame at or after `k * spriteDuration` seconds from the first frame (a gap longer than a
/// sprite repeats the frame after it, as ffmpeg's `fps` filter does).
pub struct SheetBuilder {
    plan: SpritePlan,
    /// The sheet being filled (RGB24, black where no sprite is yet).
    sheet: ff::frame::Video,
    /// One scaled sprite (RGB24).
    sprite: ff::frame::Video,
    /// The scaler and the input it was made for (format, width, height).
    scaler: Option<(ff::format::Pixel, u32, u32, ff::software::scaling::Context)>,
    /// The next sprite to take.
    next: u32,
    /// Time of the first frame offered (seconds).
    start: Option<f64>,
}

impl SheetBuilder {
    /// An empty (black) sheet for `plan`.
    pub fn new(plan: SpritePlan) -> SheetBuilder {
        let fmt = ff::format::Pixel::RGB24;
        let mut sheet = ff::frame::Video::new(fmt, plan.total_width(), plan.total_height());
        sheet.data_mut(0).fill(0);
        SheetBuilder {
            plan,
            sheet,
            sprite: ff::frame::Video::new(fmt, plan.sprite_width, plan.sprite_height),
            scaler: None,
            next: 0,
            start: None,
        }
    }

    /// The sprite index the frame at `at` seconds would fill up to (inclusive), if it fills any.
    fn due(&self, at: f64) -> Option<u32> {
        if self.next >= self.plan.count {
            return None;
        }
        let since = at - self.start.unwrap_or(at);
        let last = ((since + 1e-3) / f64::from(self.plan.sprite_duration)).floor();
        if last < f64::from(self.next) {
            return None;
        }
        Some((last as u32).min(self.plan.count - 1))
    }

    /// Whether the frame at `at` seconds (its presentation time) is to be taken.
    pub fn wants(&mut self, at: f64) -> bool {
        self.start.get_or_insert(at);
        self.due(at).is_some()
    }

    /// Takes `frame` (in system memory), at `at` seconds, into the cells it is due for.
    pub fn take(&mut self, frame: &ff::frame::Video, at: f64) -> Result<(), ff::Error> {
        self.start.get_or_insert(at);
        let Some(last) = self.due(at) else {
            return Ok(());
        };
        let (fmt, w, h) = (frame.format(), frame.width(), frame.height());
        if !matches!(&self.scaler, Some((f, sw, sh, _)) if (*f, *sw, *sh) == (fmt, w, h)) {
            let ctx = ff::software::scaling::Context::get(
                fmt,
                w,
                h,
                ff::format::Pixel::RGB24,
                self.plan.sprite_width,
                self.plan.sprite_height,
                ff::software::scaling::Flags::BICUBIC,
            )?;
            self.scaler = Some((fmt, w, h, ctx));
        }
        if let Some((_, _, _, scaler)) = self.scaler.as_mut() {
            scaler.run(frame, &mut self.sprite)?;
        }
        let row_bytes = self.plan.sprite_width as usize * 3;
        let (src_stride, dst_stride) = (self.sprite.stride(0), self.sheet.stride(0));
        for cell in self.next..=last {
            let x = (cell % self.plan.columns * self.plan.sprite_width) as usize * 3;
            let y0 = (cell / self.plan.columns * self.plan.sprite_height) as usize;
            for y in 0..self.plan.sprite_height as usize {
                let src = &self.sprite.data(0)[y * src_stride..][..row_bytes];
                self.sheet.data_mut(0)[(y0 + y) * dst_stride + x..][..row_bytes]
                    .copy_from_slice(src);
            }
        }
        self.next = last + 1;
        Ok(())
    }

    /// Writes the sheet as a JPEG at `path`; None when no frame was taken.
    pub fn write(self, path: &Path) -> Result<Option<Storyboard>, PipelineError> {
        if self.next == 0 {
            return Ok(None);
        }
        let size = (self.plan.total_width(), self.plan.total_height());
        encode_jpeg(&self.sheet, size, path)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| libav("name the storyboard")(ff::Error::InvalidData))?;
        Ok(Some(self.plan.record(name)))
    }
}

/// Builds the sheet of `plan` from `source` alone (decoded in software), written as a JPEG at
/// `path`; for a storyboard that is not made along with a transcode (a runner's
/// `generate-video-storyboard` job). None when no frame could be decoded.
pub fn sheet_from_file(
    source: &Path,
    plan: SpritePlan,
    path: &Path,
) -> Result<Option<Storyboard>, PipelineError> {
    super::probe::init_libav();
    let mut input = super::source::open(source)?;
    let (index, time_base, mut decoder) = {
        let stream = input
            .streams()
            .best(ff::media::Type::Video)
            .ok_or(PipelineError::NoVideo)?;
        let ctx = ff::codec::context::Context::from_parameters(stream.parameters())
            .map_err(libav("storyboard: decoder parameters"))?;
        let decoder = ctx
            .decoder()
            .video()
            .map_err(libav("storyboard: open the decoder"))?;
        (stream.index(), f64::from(stream.time_base()), decoder)
    };
    let mut sheet = SheetBuilder::new(plan);
    let mut frame = ff::frame::Video::empty();
    for (stream, packet) in input.packets() {
        if stream.index() != index || decoder.send_packet(&packet).is_err() {
            continue;
        }
        drain(&mut decoder, &mut frame, &mut sheet, time_base)?;
    }
    let _ = decoder.send_eof();
    drain(&mut decoder, &mut frame, &mut sheet, time_base)?;
    sheet.write(path)
}

fn drain(
    decoder: &mut ff::decoder::Video,
    frame: &mut ff::frame::Video,
    sheet: &mut SheetBuilder,
    time_base: f64,
) -> Result<(), PipelineError> {
    while decoder.receive_frame(frame).is_ok() {
        let at = frame.timestamp().or(frame.pts()).unwrap_or(0) as f64 * time_base;
        if sheet.wants(at) {
            sheet
                .take(frame, at)
                .map_err(libav("storyboard: take a sprite"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sprite_timing_follows_peertube() {
        // (duration, spriteDuration, totalSprites), by PeerTube's buildSpritesMetadata.
        for (d, sd, n) in [
            (3.0, 1, 3),
            (10.0, 1, 10),
            (100.0, 1, 100),
            (121.0, 1, 121),
            (122.0, 2, 61),
            (1000.0, 9, 112),
            (3600.0, 30, 120),
            (36000.0, 298, 121),
        ] {
            assert_eq!(sprite_timing(d), Some((sd, n)), "{d} s");
        }
        // Whole seconds first, as PeerTube's durations are.
        assert_eq!(sprite_timing(9.6), Some((1, 10)));
        assert_eq!(sprite_timing(2.4), None);
        assert_eq!(sprite_timing(0.0), None);
        assert_eq!(sprite_timing(f64::NAN), None);
        assert_eq!(sprite_timing(f64::INFINITY), None);
    }

    #[test]
    fn grids_are_peertubes_smallest() {
        assert_eq!(grid(3), (3, 1));
        assert_eq!(grid(10), (10, 1));
        assert_eq!(grid(11), (11, 1));
        assert_eq!(grid(12), (6, 2));
        assert_eq!(grid(61), (11, 6));
        assert_eq!(grid(100), (10, 10));
        assert_eq!(grid(112), (11, 11));
        assert_eq!(grid(120), (11, 11));
        assert_eq!(grid(121), (11, 11));
    }

    #[test]
    fn sprites_keep_the_aspect_within_192() {
        assert_eq!(sprite_size(1920, 1080), (192, 108));
        assert_eq!(sprite_size(320, 240), (192, 144));
        assert_eq!(sprite_size(360, 640), (108, 192));
        assert_eq!(sprite_size(500, 500), (192, 192));
        assert_eq!(sprite_size(4000, 2), (192, 1));
        assert_eq!(sprite_size(0, 0), (192, 192));
        let p = SpritePlan::new(100.0, 1280, 720).unwrap();
        assert_eq!((p.total_width(), p.total_height()), (1920, 1080));
    }

    fn gray(v: u8) -> ff::frame::Video {
        let mut f = ff::frame::Video::new(ff::format::Pixel::RGB24, 64, 48);
        f.data_mut(0).fill(v);
        f
    }

    #[test]
    fn sprites_land_in_their_cells_and_gaps_repeat_the_next_frame() {
        super::super::probe::init_libav();
        let plan = SpritePlan::new(5.0, 64, 48).unwrap();
        assert_eq!((plan.count, plan.columns, plan.rows), (5, 5, 1));
        let mut b = SheetBuilder::new(plan);
        // Frames every half second from t = 10 s (a stream that does not start at 0), with
        // nothing between 11.5 and 13.5 s.
        let mut taken = vec![];
        for (i, at) in [10.0, 10.5, 11.0, 11.5, 13.5, 14.0, 14.5]
            .into_iter()
            .enumerate()
        {
            if b.wants(at) {
                b.take(&gray(40 * (i as u8 + 1)), at).unwrap();
                taken.push(at);
            }
        }
        assert_eq!(taken, [10.0, 11.0, 13.5, 14.0]);
        let cell = |k: usize| b.sheet.data(0)[k * 192 * 3 + 10];
        // 13.5 s fills sprites 2 and 3 (12 and 13 s were skipped).
        let got: Vec<u8> = (0..5).map(cell).collect();
        assert!(got[0] < got[1] && got[1] < got[2], "{got:?}");
        assert_eq!(got[2], got[3], "{got:?}");
        assert!(got[4] > got[3], "{got:?}");
        let dir = tempfile::tempdir().unwrap();
        let sb = b.write(&dir.path().join("s.jpg")).unwrap().unwrap();
        assert_eq!(
            (
                sb.total_width,
                sb.total_height,
                sb.sprite_width,
                sb.sprite_height
            ),
            (960, 144, 192, 144)
        );
        assert_eq!(sb.file, "s.jpg");
    }

    #[test]
    fn odd_sheets_encode() {
        super::super::probe::init_libav();
        // 192x101 sprites, 3 in a row: an odd height.
        let plan = SpritePlan::new(3.0, 1900, 1000).unwrap();
        assert_eq!(plan.sprite_height, 101);
        let mut b = SheetBuilder::new(plan);
        assert!(b.wants(0.0));
        b.take(&gray(200), 0.0).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let sb = b.write(&dir.path().join("s.jpg")).unwrap().unwrap();
        assert_eq!((sb.total_width, sb.total_height), (576, 101));
        let bytes = std::fs::read(dir.path().join("s.jpg")).unwrap();
        assert_eq!(&bytes[..2], [0xff, 0xd8]);
    }

    #[test]
    fn an_unfed_sheet_writes_nothing() {
        super::super::probe::init_libav();
        let b = SheetBuilder::new(SpritePlan::new(10.0, 64, 48).unwrap());
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(b.write(&dir.path().join("s.jpg")).unwrap(), None);
        assert!(!dir.path().join("s.jpg").exists());
    }
}
