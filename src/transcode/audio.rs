//! The audio path of a job, run once for every rung: decode, resample to 48 kHz stereo float
//! planar, cut into the encoder's frame size, encode AAC; the packets are muxed into every rung.

use super::pipeline::{libav, PipelineError};
use ffmpeg_next as ff;

/// The audio path, run once per job: decode, resample to 48 kHz stereo float planar, cut into
/// the encoder's frame size, encode AAC.
pub(super) struct AudioChain {
    pub(super) index: usize,
    decoder: ff::decoder::Audio,
    resampler: Option<ff::software::resampling::Context>,
    encoder: ff::encoder::Audio,
    pub(super) params: ff::codec::Parameters,
    pub(super) time_base: ff::Rational,
    fifo: [Vec<f32>; 2],
    frame_size: usize,
    next_pts: i64,
}

/// AAC output sample rate.
const AAC_RATE: u32 = 48_000;

/// Opens libavcodec's AAC encoder at 48 kHz stereo float planar and `bitrate`, with its config
/// in the stream header (as MP4 and fMP4 need it). A failure names its step.
pub(super) fn aac_encoder(bitrate: u64) -> Result<ff::encoder::Audio, (&'static str, ff::Error)> {
    let codec =
        ff::encoder::find_by_name("aac").ok_or(("find AAC encoder", ff::Error::EncoderNotFound))?;
    let mut enc = ff::codec::context::Context::new_with_codec(codec)
        .encoder()
        .audio()
        .map_err(|e| ("AAC encoder", e))?;
    enc.set_rate(AAC_RATE as i32);
    enc.set_channel_layout(ff::ChannelLayout::STEREO);
    enc.set_channels(2);
    enc.set_format(ff::format::Sample::F32(ff::format::sample::Type::Planar));
    enc.set_bit_rate(bitrate as usize);
    enc.set_time_base(ff::Rational(1, AAC_RATE as i32));
    enc.set_flags(ff::codec::Flags::GLOBAL_HEADER);
    enc.open_as(codec).map_err(|e| ("open AAC encoder", e))
}

impl AudioChain {
    pub(super) fn new(
        stream: &ff::format::stream::Stream,
        bitrate: u64,
    ) -> Result<AudioChain, PipelineError> {
        let ctx = ff::codec::context::Context::from_parameters(stream.parameters())
            .map_err(libav("audio decoder parameters"))?;
        let decoder = ctx.decoder().audio().map_err(libav("open audio decoder"))?;
        let encoder = aac_encoder(bitrate).map_err(|(step, e)| libav(step)(e))?;
        let params = ff::codec::Parameters::from(&encoder);
        let frame_size = (encoder.frame_size() as usize).max(1);
        Ok(AudioChain {
            index: stream.index(),
            decoder,
            resampler: None,
            encoder,
            params,
            time_base: ff::Rational(1, AAC_RATE as i32),
            fifo: [Vec::new(), Vec::new()],
            frame_size,
            next_pts: 0,
        })
    }

    /// Feeds one packet (None = end of stream) and returns the AAC packets ready.
    pub(super) fn push(
        &mut self,
        packet: Option<&ff::Packet>,
    ) -> Result<Vec<ff::Packet>, PipelineError> {
        match packet {
            Some(p) => {
                if let Err(e) = self.decoder.send_packet(p) {
                    tracing::debug!(error = %e, "skipping undecodable audio packet");
                    return Ok(Vec::new());
                }
            }
            None => {
                let _ = self.decoder.send_eof();
            }
        }
        let mut decoded = ff::frame::Audio::empty();
        while self.decoder.receive_frame(&mut decoded).is_ok() {
            if self.resampler.is_none() {
                let layout = if decoded.channel_layout().is_empty() {
                    ff::ChannelLayout::default(decoded.channels() as i32)
                } else {
                    decoded.channel_layout()
                };
                self.resampler = Some(
                    ff::software::resampling::Context::get(
                        decoded.format(),
                        layout,
                        decoded.rate(),
                        ff::format::Sample::F32(ff::format::sample::Type::Planar),
                        ff::ChannelLayout::STEREO,
                        AAC_RATE,
                    )
                    .map_err(libav("audio resampler"))?,
                );
            }
            if decoded.channel_layout().is_empty() {
                decoded.set_channel_layout(ff::ChannelLayout::default(decoded.channels() as i32));
            }
            // Room for every output sample: an undersized frame would leave samples in the
            // resampler, a delay that grows with each packet.
            let cap = decoded.samples() * AAC_RATE as usize / decoded.rate().max(1) as usize + 256;
            let mut out = stereo_frame(cap);
            if let Some(r) = self.resampler.as_mut() {
                r.run(&decoded, &mut out).map_err(libav("resample audio"))?;
            }
            self.queue(&out);
        }
        if packet.is_none() {
            if let Some(r) = self.resampler.as_mut() {
                let mut out = stereo_frame(16_384);
                if r.flush(&mut out).is_ok() && out.samples() > 0 {
                    self.queue(&out);
                }
            }
        }
        let mut packets = Vec::new();
        while self.fifo[0].len() >= self.frame_size
            || (packet.is_none() && !self.fifo[0].is_empty())
        {
            let n = self.frame_size.min(self.fifo[0].len());
            let mut frame = stereo_frame(n);
            for ch in 0..2 {
                let samples: Vec<f32> = self.fifo[ch].drain(..n).collect();
                frame.plane_mut::<f32>(ch)[..n].copy_from_slice(&samples);
            }
            frame.set_pts(Some(self.next_pts));
            self.next_pts += n as i64;
            self.encoder
                .send_frame(&frame)
                .map_err(libav("encode audio"))?;
            self.drain(&mut packets);
        }
        if packet.is_none() {
            let _ = self.encoder.send_eof();
            self.drain(&mut packets);
        }
        Ok(packets)
    }

    fn queue(&mut self, frame: &ff::frame::Audio) {
        let n = frame.samples();
        if n == 0 {
            return;
        }
        for ch in 0..2 {
            self.fifo[ch].extend_from_slice(&frame.plane::<f32>(ch)[..n]);
        }
    }

    fn drain(&mut self, out: &mut Vec<ff::Packet>) {
        let mut p = ff::Packet::empty();
        while self.encoder.receive_packet(&mut p).is_ok() {
            out.push(p.clone());
        }
    }
}

/// An allocated 48 kHz stereo float-planar frame with room for `samples`.
fn stereo_frame(samples: usize) -> ff::frame::Audio {
    let mut f = ff::frame::Audio::new(
        ff::format::Sample::F32(ff::format::sample::Type::Planar),
        samples,
        ff::ChannelLayout::STEREO,
    );
    f.set_rate(AAC_RATE);
    f
}
