//! Decoding one audio stream for an edit: decode, resample to 48 kHz stereo float planar, and
//! say where each run of samples starts (in samples from the file's origin), from the frames'
//! timestamps: contiguous unless the stream jumps.

use super::encode::{libav, SAMPLE_RATE};
use super::EditError;
use ffmpeg_next as ff;

/// A jump in the audio's timestamps larger than this (in samples, 0.1 s) restarts the placement
/// from the timestamp; smaller drifts (resampler delay, rounding) are ignored.
const RESYNC: i64 = SAMPLE_RATE / 10;

/// Decoded, resampled samples and where they start.
pub(super) struct Samples {
    /// Position of the first sample, in 48 kHz samples from the file's origin.
    pub at: i64,
    /// Left and right channels.
    pub planes: [Vec<f32>; 2],
}

impl Samples {
    /// Position just after the last sample.
    pub fn end(&self) -> i64 {
        self.at + self.planes[0].len() as i64
    }
}

/// One audio stream being decoded.
pub(super) struct AudioSource {
    /// The stream's index in its input.
    pub index: usize,
    decoder: ff::decoder::Audio,
    time_base: ff::Rational,
    /// Seconds subtracted from every timestamp (the file's start time).
    origin: f64,
    resampler: Option<ff::software::resampling::Context>,
    /// Where the next samples go when the stream is contiguous.
    expected: Option<i64>,
    /// The bit rate of the stream, when the file says.
    pub bitrate: Option<u64>,
}

impl AudioSource {
    /// Opens a decoder for `stream`, whose file starts at `origin` seconds.
    pub fn new(
        stream: &ff::format::stream::Stream,
        origin: f64,
        path: &str,
    ) -> Result<AudioSource, EditError> {
        let params = stream.parameters();
        let ctx = ff::codec::context::Context::from_parameters(params)
            .map_err(libav(format!("{path}: audio decoder parameters")))?;
        let decoder = ctx
            .decoder()
            .audio()
            .map_err(libav(format!("{path}: open the audio decoder")))?;
        let bitrate = (decoder.bit_rate() > 0).then_some(decoder.bit_rate() as u64);
        Ok(AudioSource {
            index: stream.index(),
            decoder,
            time_base: stream.time_base(),
            origin,
            resampler: None,
            expected: None,
            bitrate,
        })
    }

    /// Feeds one packet (None: the end of the stream) and appends the samples ready to `out`.
    pub fn push(
        &mut self,
        packet: Option<&ff::Packet>,
        out: &mut Vec<Samples>,
    ) -> Result<(), EditError> {
        match packet {
            Some(p) => {
                if let Err(e) = self.decoder.send_packet(p) {
                    tracing::debug!(error = %e, "skipping an undecodable audio packet");
                    return Ok(());
                }
            }
            None => {
                let _ = self.decoder.send_eof();
            }
        }
        let mut decoded = ff::frame::Audio::empty();
        while self.decoder.receive_frame(&mut decoded).is_ok() {
            if decoded.samples() == 0 || decoded.rate() == 0 {
                continue;
            }
            if decoded.channel_layout().is_empty() {
                decoded.set_channel_layout(ff::ChannelLayout::default(decoded.channels() as i32));
            }
            self.ensure_resampler(&decoded)?;
            let stamped = decoded.timestamp().or(decoded.pts()).map(|ts| {
                let secs = ts as f64 * f64::from(self.time_base) - self.origin;
                (secs * SAMPLE_RATE as f64).round() as i64
            });
            let at = match (self.expected, stamped) {
                (Some(e), Some(s)) if (s - e).abs() > RESYNC => s,
                (Some(e), _) => e,
                (None, s) => s.unwrap_or(0),
            };
            // Room for every output sample: an undersized frame would leave samples in the
            // resampler, a delay that grows with each packet.
            let cap = decoded.samples() * SAMPLE_RATE as usize / decoded.rate() as usize + 256;
            let mut resampled = stereo_frame(cap);
            if let Some(r) = self.resampler.as_mut() {
                r.run(&decoded, &mut resampled)
                    .map_err(libav("resample audio"))?;
            }
            self.emit(at, &resampled, out);
        }
        if packet.is_none() {
            if let Some(r) = self.resampler.as_mut() {
                let mut rest = stereo_frame(16_384);
                if r.flush(&mut rest).is_ok() && rest.samples() > 0 {
                    let at = self.expected.unwrap_or(0);
                    self.emit(at, &rest, out);
                }
            }
        }
        Ok(())
    }

    /// (Re)builds the resampler when the stream's format, rate or layout is new.
    fn ensure_resampler(&mut self, frame: &ff::frame::Audio) -> Result<(), EditError> {
        let same = self.resampler.as_ref().is_some_and(|r| {
            let i = r.input();
            i.format == frame.format()
                && i.rate == frame.rate()
                && i.channel_layout == frame.channel_layout()
        });
        if same {
            return Ok(());
        }
        self.resampler = Some(
            ff::software::resampling::Context::get(
                frame.format(),
                frame.channel_layout(),
                frame.rate(),
                ff::format::Sample::F32(ff::format::sample::Type::Planar),
                ff::ChannelLayout::STEREO,
                SAMPLE_RATE as u32,
            )
            .map_err(libav("audio resampler"))?,
        );
        Ok(())
    }

    fn emit(&mut self, at: i64, frame: &ff::frame::Audio, out: &mut Vec<Samples>) {
        let n = frame.samples();
        self.expected = Some(at + n as i64);
        if n == 0 {
            return;
        }
        out.push(Samples {
            at,
            planes: [
                frame.plane::<f32>(0)[..n].to_vec(),
                frame.plane::<f32>(1)[..n].to_vec(),
            ],
        });
    }
}

/// An allocated 48 kHz stereo float-planar frame with room for `samples`.
fn stereo_frame(samples: usize) -> ff::frame::Audio {
    let mut f = ff::frame::Audio::new(
        ff::format::Sample::F32(ff::format::sample::Type::Planar),
        samples,
        ff::ChannelLayout::STEREO,
    );
    f.set_rate(SAMPLE_RATE as u32);
    f
}
