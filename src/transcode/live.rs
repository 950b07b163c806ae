//! Live HLS from an RTMP stream (libav through ffmpeg-next): the stream is played once, decoded
//! once, scaled and H.264-encoded per rendition, its audio AAC-encoded once, and everything is
//! muxed by ONE libavformat `hls` output with a `var_stream_map`, as PeerTube's live command
//! does with `splitAudioAndVideo`: each video rendition is video-only, the audio is a rendition
//! of its own in the same audio group. Files: MPEG-TS chunks `<i>-<seq6>.ts`, playlists
//! `<i>.m3u8` (`i` = rendition index, the audio last), `master.m3u8`.

use super::audio::AudioChain;
use super::ladder::{AudioPlan, DeviceScaling, Rung};
use super::pipeline::{
    encoder_options, libav, open_first_encoder, PipelineError, RungFailure, RungScaling,
    SharedFrame,
};
use super::probe::SourceInfo;
use ffmpeg_next as ff;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

/// URL schemes a live input may have (anything else could read local files or other hosts'
/// services through another libav protocol).
pub const SCHEMES: [&str; 2] = ["rtmp://", "rtmps://"];
/// libav protocols a live input may use.
const PROTOCOLS: &str = "rtmp,rtmps,tcp,tls";
/// Demuxers a live input may be read with (RTMP carries FLV).
const FORMATS: &str = "flv,live_flv";
/// The master playlist's name.
pub const MASTER: &str = "master.m3u8";
/// Undecodable packets in a row after which the stream is given up.
const MAX_BAD_PACKETS: u32 = 1000;
/// The AAC encoder's time base (48 kHz).
const AUDIO_TB: ff::Rational = ff::Rational(1, 48_000);

/// Why a live transcode failed.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The input is not an RTMP URL.
    #[error("{url}: not an RTMP URL (expected rtmp:// or rtmps://)")]
    NotRtmp {
        /// The URL.
        url: String,
    },
    /// The stream could not be played (unreachable, refused, nothing sent in time).
    #[error("cannot play the live stream {url}: {message}")]
    Unreachable {
        /// The URL.
        url: String,
        /// libav's message.
        message: String,
    },
    /// The stream has no video.
    #[error("the live stream {url} has no video stream")]
    NoVideo {
        /// The URL.
        url: String,
    },
    /// The stream's streams could not be described.
    #[error(transparent)]
    Probe(#[from] super::probe::ProbeError),
    /// Decoding, encoding or muxing failed.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// The output directory's path cannot be handed to libav.
    #[error("{0}: the path holds a NUL byte")]
    BadPath(String),
}

/// A live stream being played.
pub struct LiveSource {
    input: ff::format::context::Input,
    url: String,
    video: usize,
    audio: Option<usize>,
}

/// What to make of a live stream.
#[derive(Debug, Clone, PartialEq)]
pub struct LivePlan {
    /// The video renditions, in playlist order (`0.m3u8`, `1.m3u8`, …); `gop` should be
    /// `segment_secs × fps` so that chunks cut on keyframes.
    pub rungs: Vec<Rung>,
    /// The audio rendition (the last playlist), when the stream has audio.
    pub audio: Option<AudioPlan>,
    /// Seconds per chunk (`hls_time`).
    pub segment_secs: u32,
    /// Chunks listed in each playlist (`hls_list_size`); older ones are deleted.
    pub list_size: u32,
}

/// How a live transcode ended.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveEnd {
    /// Frames decoded.
    pub decoded: u64,
    /// Frames encoded per rendition.
    pub encoded: Vec<u64>,
    /// Why it ended (the source closed the stream, or stopped sending).
    pub reason: String,
}

impl LiveSource {
    /// Plays `url` (RTMP only). A source that sends nothing for `idle` ends the stream (or
    /// fails the opening).
    pub fn open(url: &str, idle: Duration) -> Result<LiveSource, LiveError> {
        super::probe::init_libav();
        if !SCHEMES.iter().any(|s| url.starts_with(s)) {
            return Err(LiveError::NotRtmp { url: url.into() });
        }
        let unreachable = |message: String| LiveError::Unreachable {
            url: url.into(),
            message,
        };
        let mut options = ff::Dictionary::new();
        options.set("protocol_whitelist", PROTOCOLS);
        options.set("format_whitelist", FORMATS);
        // Microseconds; the RTMP protocol hands it to its TCP connection (libav copies a
        // parent's URL options to the nested one).
        options.set("rw_timeout", &idle.as_micros().max(1).to_string());
        options.set("rtmp_live", "live");
        let input = ff::format::input_with_dictionary(&url.to_string(), options)
            .map_err(|e| unreachable(e.to_string()))?;
        let video = input
            .streams()
            .best(ff::media::Type::Video)
            .map(|s| s.index())
            .ok_or_else(|| LiveError::NoVideo { url: url.into() })?;
        let audio = input
            .streams()
            .best(ff::media::Type::Audio)
            .map(|s| s.index());
        tracing::info!(url, format = %input.format().name(), audio = audio.is_some(), "playing the live stream");
        Ok(LiveSource {
            input,
            url: url.into(),
            video,
            audio,
        })
    }

    /// The stream's video and audio, as the planner takes them (a frame rate the stream does
    /// not announce is 0).
    pub fn info(&self) -> Result<SourceInfo, LiveError> {
        Ok(super::probe::describe(&self.input, &self.url)?)
    }

    /// Opens every encoder and the HLS output in `dir` (which must exist), ready to run.
    pub fn start(self, plan: &LivePlan, dir: &Path) -> Result<LiveSession, LiveError> {
        let stream = self
            .input
            .stream(self.video)
            .ok_or_else(|| LiveError::NoVideo {
                url: self.url.clone(),
            })?;
        let in_tb = stream.time_base();
        let mut ctx = ff::codec::context::Context::from_parameters(stream.parameters())
            .map_err(libav("live decoder parameters"))?;
        ctx.set_threading(ff::codec::threading::Config::count(0));
        let decoder = ctx
            .decoder()
            .video()
            .map_err(libav("open the live decoder"))?;
        let audio = match (&plan.audio, self.audio.and_then(|i| self.input.stream(i))) {
            (Some(a), Some(stream)) => Some(AudioChain::new(&stream, a.bitrate)?),
            _ => None,
        };

        let mut output = hls_output(&dir.join("%v.m3u8"))?;
        let global_header = output
            .format()
            .flags()
            .contains(ff::format::Flags::GLOBAL_HEADER);
        let mut rungs = Vec::new();
        for rung in &plan.rungs {
            let res = rung.resolution;
            let out_tb = ff::Rational(1, rung.fps.max(1) as i32);
            let (opened, reasons) = open_first_encoder(
                rung,
                None,
                DeviceScaling::Never,
                global_header,
                out_tb,
                &live_encoder_options,
            );
            let opened = opened.ok_or_else(|| PipelineError::NoEncoder {
                resolution: res,
                reasons: reasons.join("; "),
            })?;
            let earlier = (!reasons.is_empty()).then(|| reasons.join("; "));
            if let Some(why) = &earlier {
                tracing::warn!(rung = res, encoder = %opened.name, reason = %why, "encoder fallback");
            }
            let mut ost = output
                .add_stream(ff::encoder::find_by_name(&opened.name))
                .map_err(libav(format!("{res}p: add stream")))?;
            let mut params = ff::codec::Parameters::from(&opened.encoder);
            // The master playlist's BANDWIDTH (libx264 capped by maxrate reports no bit rate).
            params.set_bit_rate(rung.target_bitrate as i64);
            ost.set_parameters(params);
            rungs.push(LiveRung {
                scaling: RungScaling::new(rung, opened.frames_at, None, in_tb),
                failure: RungFailure {
                    resolution: res,
                    encoder: opened.name.clone(),
                    earlier,
                },
                name: opened.name,
                encoder: opened.encoder,
                rung: rung.clone(),
                out_tb,
                ost_tb: out_tb,
                last_pts: None,
                frames: 0,
            });
        }
        if let Some(a) = &audio {
            let mut ast = output
                .add_stream(ff::encoder::find_by_name("aac"))
                .map_err(libav("live: add audio stream"))?;
            ast.set_parameters(a.params.clone());
        }
        let dir_text = dir.to_string_lossy();
        let mut opts = ff::Dictionary::new();
        opts.set("hls_time", &plan.segment_secs.max(1).to_string());
        opts.set("hls_list_size", &plan.list_size.max(1).to_string());
        // `temp_file`: chunks and the master are written under `.tmp` and renamed when
        // complete, so a file with its final name is whole.
        opts.set(
            "hls_flags",
            "delete_segments+independent_segments+program_date_time+temp_file",
        );
        opts.set("hls_segment_type", "mpegts");
        opts.set("hls_segment_filename", &format!("{dir_text}/%v-%06d.ts"));
        opts.set("master_pl_name", MASTER);
        opts.set(
            "var_stream_map",
            &var_stream_map(rungs.len(), audio.is_some()),
        );
        output
            .write_header_with(opts)
            .map_err(libav("live: write the HLS header"))?;
        for (i, r) in rungs.iter_mut().enumerate() {
            if let Some(s) = output.stream(i) {
                r.ost_tb = s.time_base();
            }
        }
        let ast_tb = audio
            .as_ref()
            .and_then(|_| output.stream(rungs.len()))
            .map(|s| s.time_base())
            .unwrap_or(AUDIO_TB);
        Ok(LiveSession {
            source: self,
            output,
            decoder,
            audio,
            rungs,
            in_tb,
            ast_tb,
            base: None,
            audio_offset: None,
        })
    }
}

/// PeerTube's live variants: each video rendition in the audio group, the audio its own
/// variant in that group (`v:0,agroup:audio v:1,agroup:audio a:0,agroup:audio`).
pub fn var_stream_map(videos: usize, audio: bool) -> String {
    let group = if audio { ",agroup:audio" } else { "" };
    let mut parts: Vec<String> = (0..videos).map(|i| format!("v:{i}{group}")).collect();
    if audio {
        parts.push("a:0,agroup:audio".into());
    }
    parts.join(" ")
}

/// The encoder options of a live rendition: the VOD ones, tuned for latency (no B-frames,
/// libx264's `zerolatency`), keyframes every `gop` frames (the rung's).
pub(crate) fn live_encoder_options(name: &str, rung: &Rung) -> ff::Dictionary<'static> {
    let mut d = encoder_options(name, rung);
    d.set("bf", "0");
    match name {
        "libx264" => d.set("tune", "zerolatency"),
        "h264_nvenc" => d.set("zerolatency", "1"),
        _ => {}
    }
    d
}

/// An `hls` muxer context for `pattern` (`…/%v.m3u8`); the muxer opens its own files, so no
/// file is opened for the pattern itself.
fn hls_output(pattern: &Path) -> Result<ff::format::context::Output, LiveError> {
    let shown = pattern.display().to_string();
    let path =
        CString::new(pattern.as_os_str().as_bytes()).map_err(|_| LiveError::BadPath(shown))?;
    let mut ctx: *mut ff::ffi::AVFormatContext = std::ptr::null_mut();
    // SAFETY: `ctx` is a valid out-pointer; the format name and path are NUL-terminated and
    // outlive the call (libavformat copies the path into the context).
    let r = unsafe {
        ff::ffi::avformat_alloc_output_context2(
            &mut ctx,
            std::ptr::null_mut(),
            c"hls".as_ptr(),
            path.as_ptr(),
        )
    };
    if r < 0 || ctx.is_null() {
        return Err(PipelineError::Libav {
            step: "live: create the HLS muxer".into(),
            source: ff::Error::from(r.min(-1)),
        }
        .into());
    }
    // SAFETY: `ctx` was just allocated and is owned by nobody else; `Output` frees it (its
    // `pb` is null: `avio_close(NULL)` does nothing).
    Ok(unsafe { ff::format::context::Output::wrap(ctx) })
}

/// One video rendition of a running live transcode.
struct LiveRung {
    rung: Rung,
    name: String,
    encoder: ff::encoder::Video,
    scaling: RungScaling,
    failure: RungFailure,
    out_tb: ff::Rational,
    ost_tb: ff::Rational,
    last_pts: Option<i64>,
    frames: u64,
}

/// A live transcode, encoders open and the HLS header written.
pub struct LiveSession {
    source: LiveSource,
    output: ff::format::context::Output,
    decoder: ff::decoder::Video,
    audio: Option<AudioChain>,
    rungs: Vec<LiveRung>,
    in_tb: ff::Rational,
    ast_tb: ff::Rational,
    /// The stream's first timestamp (seconds): output timestamps start at 0 there.
    base: Option<f64>,
    /// Samples of silence the audio starts after (its first packet's time past `base`).
    audio_offset: Option<i64>,
}

impl LiveSession {
    /// The encoder of each rendition, in playlist order.
    pub fn encoders(&self) -> Vec<String> {
        self.rungs.iter().map(|r| r.name.clone()).collect()
    }

    /// Whether the stream's audio is transcoded (its playlist is the last one).
    pub fn has_audio(&self) -> bool {
        self.audio.is_some()
    }

    /// Transcodes until the source ends the stream or stops sending, then ends the playlists.
    pub fn run(mut self) -> Result<LiveEnd, LiveError> {
        let mut packet = ff::Packet::empty();
        let mut decoded = 0u64;
        let mut bad = 0u32;
        let reason = loop {
            match packet.read(&mut self.source.input) {
                Ok(()) => bad = 0,
                Err(ff::Error::Eof) => break "the source ended the stream".to_string(),
                Err(ff::Error::InvalidData) if bad < MAX_BAD_PACKETS => {
                    bad += 1;
                    continue;
                }
                Err(e) => break format!("the source stopped ({e})"),
            }
            let index = packet.stream();
            let is_audio = self.audio.as_ref().is_some_and(|a| a.index == index);
            if index != self.source.video && !is_audio {
                continue;
            }
            let tb = self
                .source
                .input
                .stream(index)
                .map(|s| s.time_base())
                .unwrap_or(self.in_tb);
            let at = packet
                .dts()
                .or(packet.pts())
                .map(|t| t as f64 * f64::from(tb));
            let base = *self.base.get_or_insert(at.unwrap_or(0.0));
            if is_audio {
                if self.audio_offset.is_none() {
                    let late = at.map(|t| t - base).unwrap_or(0.0).max(0.0);
                    self.audio_offset = Some((late * f64::from(AUDIO_TB.1)).round() as i64);
                }
                let encoded = match self.audio.as_mut() {
                    Some(a) => a.push(Some(&packet))?,
                    None => Vec::new(),
                };
                self.write_audio(encoded)?;
                continue;
            }
            if let Err(e) = self.decoder.send_packet(&packet) {
                tracing::debug!(error = %e, "skipping an undecodable live packet");
                continue;
            }
            decoded += self.receive_frames()?;
        };
        tracing::info!(reason = %reason, decoded, "live stream over; ending the playlists");
        let _ = self.decoder.send_eof();
        decoded += self.receive_frames()?;
        let mut packet = ff::Packet::empty();
        for (i, r) in self.rungs.iter_mut().enumerate() {
            let res = r.rung.resolution;
            r.encoder
                .send_eof()
                .map_err(libav(format!("{res}p: flush the encoder")))?;
            drain(r, i, &mut self.output, &mut packet)?;
        }
        let rest = match self.audio.as_mut() {
            Some(a) => a.push(None)?,
            None => Vec::new(),
        };
        self.write_audio(rest)?;
        self.output
            .write_trailer()
            .map_err(libav("live: end the playlists"))?;
        Ok(LiveEnd {
            decoded,
            encoded: self.rungs.iter().map(|r| r.frames).collect(),
            reason,
        })
    }

    /// Hands every frame the decoder has ready to every rendition; returns how many.
    fn receive_frames(&mut self) -> Result<u64, LiveError> {
        let mut frame = ff::frame::Video::empty();
        let mut n = 0;
        let base = self.base.unwrap_or(0.0);
        let in_tb = self.in_tb;
        let mut packet = ff::Packet::empty();
        while self.decoder.receive_frame(&mut frame).is_ok() {
            n += 1;
            let Some(ts) = frame.timestamp().or(frame.pts()) else {
                continue;
            };
            let t = ts as f64 * f64::from(in_tb) - base;
            for (i, r) in self.rungs.iter_mut().enumerate() {
                // Frame-rate conversion by timestamp: a frame is kept when it lands on a new tick.
                let pts = (t * f64::from(r.rung.fps) + 1e-6).floor() as i64;
                if pts < 0 || r.last_pts.is_some_and(|l| pts <= l) {
                    continue;
                }
                r.last_pts = Some(pts);
                let SharedFrame(picture) = SharedFrame::reference(&frame);
                r.scaling
                    .encode(picture, pts, &mut r.encoder, &r.failure, r.frames)?;
                r.frames += 1;
                drain(r, i, &mut self.output, &mut packet)?;
            }
        }
        Ok(n)
    }

    /// Writes AAC packets to the audio rendition, shifted to the stream's clock.
    fn write_audio(&mut self, packets: Vec<ff::Packet>) -> Result<(), LiveError> {
        let index = self.rungs.len();
        let offset = self.audio_offset.unwrap_or(0);
        for mut p in packets {
            p.set_pts(p.pts().map(|t| t + offset));
            p.set_dts(p.dts().map(|t| t + offset));
            p.set_stream(index);
            p.rescale_ts(AUDIO_TB, self.ast_tb);
            p.write_interleaved(&mut self.output)
                .map_err(libav("live: write audio"))?;
        }
        Ok(())
    }
}

/// Writes every packet rendition `index`'s encoder has ready.
fn drain(
    r: &mut LiveRung,
    index: usize,
    output: &mut ff::format::context::Output,
    packet: &mut ff::Packet,
) -> Result<(), LiveError> {
    while r.encoder.receive_packet(packet).is_ok() {
        packet.set_stream(index);
        packet.rescale_ts(r.out_tb, r.ost_tb);
        packet.write_interleaved(output).map_err(libav(format!(
            "{}p: write a live packet",
            r.rung.resolution
        )))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_follow_peertube() {
        assert_eq!(
            var_stream_map(2, true),
            "v:0,agroup:audio v:1,agroup:audio a:0,agroup:audio"
        );
        assert_eq!(var_stream_map(2, false), "v:0 v:1");
    }

    #[test]
    fn only_rtmp_urls_are_played() {
        for url in ["file:///etc/passwd", "http://127.0.0.1/x", "/tmp/x.flv", ""] {
            let e = LiveSource::open(url, Duration::from_secs(1))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                e.contains("not an RTMP URL") && e.contains(url),
                "{url}: {e}"
            );
        }
    }

    #[test]
    fn an_unreachable_stream_is_named() {
        // A port nothing listens on (bound, then closed).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("rtmp://127.0.0.1:{port}/live/key");
        let e = LiveSource::open(&url, Duration::from_secs(2))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.starts_with(&format!("cannot play the live stream {url}: ")),
            "{e}"
        );
    }
}
