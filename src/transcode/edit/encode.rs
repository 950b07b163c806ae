//! The output of an edit pass: one H.264 encoder (the first of the chain that opens, libx264
//! last) and one AAC track muxed into a faststart MP4. Video frames arrive numbered in output
//! frames; audio arrives as 48 kHz stereo samples placed at output sample positions, gaps filled
//! with silence and overlaps dropped, so segments from several files join without drift.

use super::{EditError, Progress};
use crate::transcode::ladder::{target_bitrate, Rung};
use crate::transcode::pipeline::encoder_options;
use crate::transcode::write_check::WriteWatch;
use ffmpeg_next as ff;
use std::path::{Path, PathBuf};

/// Output audio sample rate (AAC, stereo).
pub(super) const SAMPLE_RATE: i64 = 48_000;

/// Silence is queued at most this many samples at a time (bounded memory for long gaps).
const SILENCE_CHUNK: i64 = 16 * 1024;

/// The size and frame rate of an output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Geometry {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
}

impl Geometry {
    /// Output samples from the start to the beginning of output frame `frame`.
    pub fn samples_at(&self, frame: i64) -> i64 {
        let fps = i64::from(self.fps.max(1));
        (frame * SAMPLE_RATE + fps / 2) / fps
    }

    /// Output frames needed to cover `samples` (rounded up).
    pub fn frames_covering(&self, samples: i64) -> i64 {
        let fps = i64::from(self.fps.max(1));
        (samples * fps + SAMPLE_RATE - 1) / SAMPLE_RATE
    }
}

/// How the video is encoded.
pub(super) struct VideoSettings<'a> {
    pub geometry: Geometry,
    /// The H.264 encoders to try, in order.
    pub encoders: &'a [String],
    /// The input's bit rate (caps the target bitrate, as PeerTube's formula does).
    pub input_bitrate: Option<u64>,
    /// A still picture (libx264's `tune=stillimage`).
    pub still: bool,
}

/// What a finished output holds.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Written {
    pub encoder: String,
    pub frames: i64,
    pub duration_secs: f64,
    pub has_audio: bool,
}

/// An MP4 being written.
pub(super) struct Mp4Writer<'p> {
    output: ff::format::context::Output,
    writes: WriteWatch,
    path: PathBuf,
    geometry: Geometry,
    video: ff::encoder::Video,
    encoder_name: String,
    video_tb: ff::Rational,
    video_ost_tb: ff::Rational,
    audio: Option<AacTrack>,
    audio_ost_tb: ff::Rational,
    packet: ff::Packet,
    /// The pts of the last frame sent (frames must increase).
    last_pts: Option<i64>,
    frames: i64,
    /// Whether audio follows the video with silence (a segment without sound).
    silent: bool,
    progress: &'p Progress<'p>,
}

impl<'p> Mp4Writer<'p> {
    /// Creates `path` with the first encoder of the chain that opens, and an AAC track at
    /// `audio_bitrate` when there is one.
    pub fn create(
        path: &Path,
        settings: &VideoSettings<'_>,
        audio_bitrate: Option<u64>,
        progress: &'p Progress<'p>,
    ) -> Result<Mp4Writer<'p>, EditError> {
        let shown = path.display().to_string();
        let step = |what: &str| format!("{shown}: {what}");
        // libav takes a UTF-8 name without NUL (ffmpeg-next would panic on another); `file:`
        // keeps a name like `data:…` from selecting another protocol.
        let url = path
            .to_str()
            .filter(|p| !p.contains('\0'))
            .map(|p| format!("file:{p}"))
            .ok_or_else(|| EditError::BadValue {
                name: "output path",
                value: shown.clone(),
                expected: "a UTF-8 path without NUL",
            })?;
        let mut output =
            ff::format::output_as(&url, "mp4").map_err(libav(step("create the MP4")))?;
        let writes = WriteWatch::attach(&mut output);
        let g = settings.geometry;
        let video_tb = ff::Rational(1, g.fps as i32);
        let (encoder_name, video) = open_video_encoder(settings, video_tb)?;
        {
            let mut ost = output
                .add_stream(ff::encoder::find_by_name(&encoder_name))
                .map_err(libav(step("add the video stream")))?;
            ost.set_parameters(&video);
            ost.set_time_base(video_tb);
        }
        let audio = match audio_bitrate {
            Some(bitrate) => {
                let track = AacTrack::new(bitrate)?;
                let mut ast = output
                    .add_stream(ff::encoder::find_by_name("aac"))
                    .map_err(libav(step("add the audio stream")))?;
                ast.set_parameters(&track.encoder);
                ast.set_time_base(ff::Rational(1, SAMPLE_RATE as i32));
                Some(track)
            }
            None => None,
        };
        let mut opts = ff::Dictionary::new();
        opts.set("movflags", "+faststart");
        output
            .write_header_with(opts)
            .map_err(libav(step("write the header")))?;
        let video_ost_tb = output.stream(0).map(|s| s.time_base()).unwrap_or(video_tb);
        let audio_ost_tb = output
            .stream(1)
            .map(|s| s.time_base())
            .unwrap_or(ff::Rational(1, SAMPLE_RATE as i32));
        tracing::info!(output = %shown, encoder = %encoder_name, width = g.width, height = g.height, fps = g.fps, audio = audio.is_some(), "edit output opened");
        Ok(Mp4Writer {
            output,
            writes,
            path: path.to_owned(),
            geometry: g,
            video,
            encoder_name,
            video_tb,
            video_ost_tb,
            audio,
            audio_ost_tb,
            packet: ff::Packet::empty(),
            last_pts: None,
            frames: 0,
            silent: false,
            progress,
        })
    }

    /// The output's frame rate.
    pub fn fps(&self) -> u32 {
        self.geometry.fps
    }

    /// Whether the output has an audio track.
    pub fn has_audio(&self) -> bool {
        self.audio.is_some()
    }

    /// Output frames from the start to just after the last frame sent.
    pub fn video_end(&self) -> i64 {
        self.last_pts.map_or(0, |p| p + 1)
    }

    /// Output samples placed so far.
    pub fn audio_cursor(&self) -> i64 {
        self.audio.as_ref().map_or(0, AacTrack::cursor)
    }

    /// Makes the audio follow the video with silence (`true`: the current segment has no
    /// sound) or wait for samples (`false`).
    pub fn set_silent(&mut self, silent: bool) {
        self.silent = silent;
    }

    /// Encodes `frame` (yuv420p, the output's size) as output frame `pts`; a frame not after
    /// the previous one is dropped.
    pub fn video(&mut self, frame: &mut ff::frame::Video, pts: i64) -> Result<(), EditError> {
        if self.last_pts.is_some_and(|l| pts <= l) {
            tracing::debug!(pts, "dropping a frame that does not advance the output");
            return Ok(());
        }
        self.last_pts = Some(pts);
        frame.set_pts(Some(pts));
        frame.set_kind(ff::picture::Type::None);
        let step = format!(
            "{}: encode video ({})",
            self.path.display(),
            self.encoder_name
        );
        self.video.send_frame(frame).map_err(libav(step))?;
        self.frames += 1;
        self.progress.frame();
        self.write_video_packets()?;
        if self.silent && self.audio.is_some() {
            let to = self.geometry.samples_at(pts + 1);
            self.pad_audio_to(to)?;
        }
        Ok(())
    }

    /// Places stereo samples at output position `at`, keeping only those in `lo..hi`.
    pub fn audio(
        &mut self,
        at: i64,
        planes: [&[f32]; 2],
        lo: i64,
        hi: Option<i64>,
    ) -> Result<(), EditError> {
        let Some(track) = self.audio.as_mut() else {
            return Ok(());
        };
        let n = planes[0].len().min(planes[1].len()) as i64;
        let from = lo.max(track.cursor()).max(at);
        let to = hi.map_or(at + n, |h| h.min(at + n));
        if to <= from {
            return Ok(());
        }
        self.pad_audio_to(from)?;
        let (a, b) = ((from - at) as usize, (to - at) as usize);
        if let Some(track) = self.audio.as_mut() {
            track.queue([&planes[0][a..b], &planes[1][a..b]]);
        }
        self.encode_audio(false)
    }

    /// Fills the audio with silence up to output sample `to`.
    pub fn pad_audio_to(&mut self, to: i64) -> Result<(), EditError> {
        loop {
            let Some(track) = self.audio.as_mut() else {
                return Ok(());
            };
            let missing = to - track.cursor();
            if missing <= 0 {
                return Ok(());
            }
            track.silence(missing.min(SILENCE_CHUNK) as usize);
            self.encode_audio(false)?;
        }
    }

    /// Flushes both encoders (the audio padded with silence to the video's end) and writes the
    /// trailer, moving the `moov` before the `mdat`.
    pub fn finish(mut self) -> Result<Written, EditError> {
        let shown = self.path.display().to_string();
        let end = self.geometry.samples_at(self.video_end());
        self.pad_audio_to(end)?;
        self.encode_audio(true)?;
        self.video
            .send_eof()
            .map_err(libav(format!("{shown}: flush the video encoder")))?;
        self.write_video_packets()?;
        self.output
            .write_trailer()
            .map_err(libav(format!("{shown}: write the trailer (faststart)")))?;
        let audio_samples = self.audio_cursor();
        let Mp4Writer {
            output,
            writes,
            geometry,
            encoder_name,
            frames,
            audio,
            last_pts,
            ..
        } = self;
        drop(output);
        writes
            .check()
            .map_err(libav(format!("{shown}: write the file")))?;
        let video_secs = last_pts.map_or(0, |p| p + 1) as f64 / f64::from(geometry.fps.max(1));
        let audio_secs = audio_samples as f64 / SAMPLE_RATE as f64;
        Ok(Written {
            encoder: encoder_name,
            frames,
            duration_secs: video_secs.max(audio_secs),
            has_audio: audio.is_some(),
        })
    }

    fn write_video_packets(&mut self) -> Result<(), EditError> {
        while self.video.receive_packet(&mut self.packet).is_ok() {
            self.packet.set_stream(0);
            // Each frame lasts one tick: without a duration the muxer's edit list would end at
            // the last frame's start, and players would drop it.
            if self.packet.duration() <= 0 {
                self.packet.set_duration(1);
            }
            self.packet.rescale_ts(self.video_tb, self.video_ost_tb);
            self.packet.set_position(-1);
            self.packet
                .write_interleaved(&mut self.output)
                .map_err(libav(format!("{}: write video", self.path.display())))?;
        }
        Ok(())
    }

    /// Encodes the queued samples (all of them when `flush`) and writes their packets.
    fn encode_audio(&mut self, flush: bool) -> Result<(), EditError> {
        let Some(track) = self.audio.as_mut() else {
            return Ok(());
        };
        let step = || format!("{}: encode audio", self.path.display());
        track.encode(flush).map_err(libav(step()))?;
        let tb = ff::Rational(1, SAMPLE_RATE as i32);
        while track.encoder.receive_packet(&mut self.packet).is_ok() {
            self.packet.set_stream(1);
            self.packet.rescale_ts(tb, self.audio_ost_tb);
            self.packet.set_position(-1);
            self.packet
                .write_interleaved(&mut self.output)
                .map_err(libav(format!("{}: write audio", self.path.display())))?;
        }
        Ok(())
    }
}

/// The AAC encoder and the samples queued for it.
struct AacTrack {
    encoder: ff::encoder::Audio,
    fifo: [Vec<f32>; 2],
    frame_size: usize,
    /// Samples sent to the encoder.
    encoded: i64,
}

impl AacTrack {
    fn new(bitrate: u64) -> Result<AacTrack, EditError> {
        let encoder =
            crate::transcode::audio::aac_encoder(bitrate).map_err(|(step, e)| libav(step)(e))?;
        let frame_size = (encoder.frame_size() as usize).max(1);
        Ok(AacTrack {
            encoder,
            fifo: [Vec::new(), Vec::new()],
            frame_size,
            encoded: 0,
        })
    }

    fn cursor(&self) -> i64 {
        self.encoded + self.fifo[0].len() as i64
    }

    fn queue(&mut self, planes: [&[f32]; 2]) {
        for (fifo, plane) in self.fifo.iter_mut().zip(planes) {
            fifo.extend_from_slice(plane);
        }
    }

    fn silence(&mut self, n: usize) {
        for fifo in &mut self.fifo {
            fifo.resize(fifo.len() + n, 0.0);
        }
    }

    /// Sends every whole frame of queued samples (and the rest, then the end, when `flush`).
    fn encode(&mut self, flush: bool) -> Result<(), ff::Error> {
        while self.fifo[0].len() >= self.frame_size || (flush && !self.fifo[0].is_empty()) {
            let n = self.frame_size.min(self.fifo[0].len());
            let mut frame = ff::frame::Audio::new(
                ff::format::Sample::F32(ff::format::sample::Type::Planar),
                n,
                ff::ChannelLayout::STEREO,
            );
            frame.set_rate(SAMPLE_RATE as u32);
            for (ch, fifo) in self.fifo.iter_mut().enumerate() {
                frame.plane_mut::<f32>(ch)[..n].copy_from_slice(&fifo[..n]);
                fifo.drain(..n);
            }
            frame.set_pts(Some(self.encoded));
            self.encoded += n as i64;
            self.encoder.send_frame(&frame)?;
        }
        if flush {
            self.encoder.send_eof()?;
        }
        Ok(())
    }
}

/// Opens the first encoder of the chain (libx264 appended when missing) that opens, with
/// PeerTube's VOD options (2-second closed GOPs, its target bitrate as maxrate).
fn open_video_encoder(
    settings: &VideoSettings<'_>,
    time_base: ff::Rational,
) -> Result<(String, ff::encoder::Video), EditError> {
    let g = settings.geometry;
    let mut chain: Vec<String> = settings.encoders.to_vec();
    if !chain.iter().any(|e| e == "libx264") {
        chain.push("libx264".into());
    }
    let resolution = g.width.min(g.height);
    let ratio = f64::from(g.width) / f64::from(g.height.max(1));
    let rung = Rung {
        resolution,
        width: g.width,
        height: g.height,
        fps: g.fps,
        target_bitrate: target_bitrate(resolution, ratio, g.fps, settings.input_bitrate),
        gop: (g.fps * 2).max(1),
        encoders: chain.clone(),
        skipped: Vec::new(),
    };
    let mut reasons = Vec::new();
    for name in &chain {
        let Some(codec) = ff::encoder::find_by_name(name) else {
            reasons.push(format!("{name}: not built into this FFmpeg"));
            continue;
        };
        let mut enc = match ff::codec::context::Context::new_with_codec(codec)
            .encoder()
            .video()
        {
            Ok(e) => e,
            Err(e) => {
                reasons.push(format!("{name}: {e}"));
                continue;
            }
        };
        enc.set_width(g.width);
        enc.set_height(g.height);
        enc.set_format(ff::format::Pixel::YUV420P);
        enc.set_time_base(time_base);
        enc.set_frame_rate(Some(ff::Rational(g.fps as i32, 1)));
        enc.set_flags(ff::codec::Flags::GLOBAL_HEADER);
        let mut options = encoder_options(name, &rung);
        match name.as_str() {
            "libx264" if settings.still => options.set("tune", "stillimage"),
            "h264_nvenc" | "h264_vaapi" | "h264_qsv" => options.set("profile", "high"),
            _ => {}
        }
        match enc.open_with(options) {
            Ok(encoder) => {
                if !reasons.is_empty() {
                    tracing::warn!(encoder = %name, reasons = %reasons.join("; "), "edit encoder fallback");
                }
                return Ok((name.clone(), encoder));
            }
            Err(e) => reasons.push(format!("{name}: cannot open ({e})")),
        }
    }
    Err(EditError::NoEncoder {
        reasons: reasons.join("; "),
    })
}

/// Maps a libav error to [`EditError::Libav`] naming `step`.
pub(super) fn libav(step: impl Into<String>) -> impl FnOnce(ff::Error) -> EditError {
    let step = step.into();
    move |source| EditError::Libav { step, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_samples_line_up() {
        let g = Geometry {
            width: 320,
            height: 240,
            fps: 25,
        };
        assert_eq!(g.samples_at(25), 48_000);
        assert_eq!(g.samples_at(1), 1920);
        assert_eq!(g.frames_covering(48_000), 25);
        assert_eq!(g.frames_covering(48_001), 26);
        assert_eq!(g.frames_covering(0), 0);
        let odd = Geometry { fps: 7, ..g };
        assert_eq!(odd.frames_covering(odd.samples_at(10)), 10);
    }
}
