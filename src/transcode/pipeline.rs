//! The decode-once ladder pipeline (libav through ffmpeg-next): the source is demuxed and
//! decoded once on the calling thread; every decoded frame is shared by reference with one thread
//! per rung, which converts its frame rate, scales once, encodes (first encoder of the rung's
//! chain that opens, ending with libx264) and muxes one single-file fragmented MP4 with its HLS
//! media playlist. PeerTube runs one ffmpeg per rung, each decoding the source again.
//!
//! Audio is decoded, resampled (48 kHz stereo) and AAC-encoded once, and the same packets are
//! muxed into every rung. An encoder failing mid-stream restarts only its rung, on the next
//! encoder of the chain.
//!
//! When the source decodes on a GPU (NVDEC, VA-API), a rung encoded on that GPU takes the
//! decoder's frames where they are and scales them there (`devscale`): decode, scale and encode
//! without a copy to system memory. The other rungs share one download of each frame.

use super::audio::AudioChain;
use super::devscale::{self, FrameFilter};
use super::hls::MediaPlaylist;
use super::hwdecode::{download, on_device, HwAccel, HwDevice};
use super::images::{write_jpeg, PREVIEW_BOX, THUMBNAIL_BOX};
use super::ladder::{DeviceScaling, Ladder, Rung};
use super::progress::PipelineStats;
use super::storyboard::{SheetBuilder, SpritePlan};
use super::write_check::WriteWatch;
use ffmpeg_next as ff;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;

/// Frames queued per rung before the decoder waits (bounds memory; the slowest rung sets the pace).
const QUEUE: usize = 8;

/// What the pipeline produced for one rung.
#[derive(Debug, Clone, PartialEq)]
pub struct RungOutput {
    /// The rung's resolution label.
    pub resolution: u32,
    /// Media playlist path.
    pub playlist: PathBuf,
    /// Fragmented MP4 path.
    pub media_file: PathBuf,
    /// Encoder that produced it.
    pub encoder: String,
    /// What scaled its frames: `swscale`, a device filter chain (`scale_cuda=…`), or `none`
    /// (the rung is the source's own size and format).
    pub scaler: String,
    /// Why earlier encoders of the chain were not used, when any were tried.
    pub fallback_reason: Option<String>,
    /// Frames encoded.
    pub frames: u64,
    /// RFC 6381 codecs of the rendition (`avc1.640028` or `avc1.640028,mp4a.40.2`).
    pub codecs: String,
    /// Peak segment bitrate (bit/s), the master playlist's `BANDWIDTH`.
    pub bandwidth: u64,
}

/// The whole job's output.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineOutput {
    /// Frames decoded from the source (once for all rungs).
    pub decoded_frames: u64,
    /// Where the source was decoded (`h264 on Cuda 0`, `h264 in software (…)`).
    pub decoder: String,
    /// Per rung, in ladder order.
    pub rungs: Vec<RungOutput>,
    /// The master playlist (`<prefix>-master.m3u8`).
    pub master: PathBuf,
    /// The segments-sha256 JSON (`<prefix>-segments-sha256.json`).
    pub segments_sha256: PathBuf,
    /// Miniature (PeerTube's 280x157 box) from the middle of the video.
    pub thumbnail: Option<PathBuf>,
    /// Preview (PeerTube's 850x480 box) from the same frame.
    pub preview: Option<PathBuf>,
    /// The storyboard's sprite sheet, written in the output directory as its `file` (none for
    /// videos under 3 s, or when it could not be made: it is not worth failing a job for).
    pub storyboard: Option<crate::video::Storyboard>,
}

/// What stopped a rung mid-stream (its encoder, or scaling on the device).
#[derive(Debug, thiserror::Error)]
pub enum RungFault {
    /// libav refused a frame, a packet or the end of stream.
    #[error(transparent)]
    Libav(#[from] ff::Error),
    /// The device's scaling filter could not be built or run.
    #[error(transparent)]
    Filter(#[from] devscale::FilterError),
    /// Device scaling was planned but the decoder gave frames in system memory.
    #[error("the decoder gave frames in system memory, not on the device")]
    FramesInSystemMemory,
    /// `FLEUVE_FAULT` asked this rung to fail (tests of the restart logic).
    #[error("injected fault")]
    Injected,
}

/// Why a transcode failed.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// libav failed at some step.
    #[error("{step}: {source}")]
    Libav {
        /// What was being done.
        step: String,
        /// libav's error.
        source: ff::Error,
    },
    /// No encoder of a rung's chain could be opened.
    #[error("rung {resolution}p: no encoder could be opened ({reasons})")]
    NoEncoder {
        /// The rung.
        resolution: u32,
        /// Why each failed.
        reasons: String,
    },
    /// The source could not be opened, or is in a format that is not accepted.
    #[error(transparent)]
    Source(#[from] super::source::OpenError),
    /// A rendition file (ours, or a remote runner's) could not be opened again for a remux.
    #[error("{step}: {source}")]
    Reopen {
        /// What was being done.
        step: String,
        /// Why it could not be opened.
        source: super::source::OpenError,
    },
    /// The source has no video stream.
    #[error("the source has no video stream")]
    NoVideo,
    /// An encoder that opened failed while encoding (the rung is restarted on the next one).
    #[error("rung {resolution}p: {encoder} failed after {frames} frames: {cause}")]
    EncoderFailed {
        /// The rung.
        resolution: u32,
        /// The encoder.
        encoder: String,
        /// Frames it had encoded.
        frames: u64,
        /// What failed.
        cause: RungFault,
        /// Why encoders before it in the chain were not used.
        earlier: Option<String>,
        /// What failed was scaling on the device (the rung's filter or its input), not the
        /// encoder: the rung restarts on the same encoder with CPU scaling.
        on_device: bool,
    },
    /// A rung thread died.
    #[error("rung {0}p: worker thread panicked")]
    RungPanicked(u32),
    /// Post-processing the playlist failed.
    #[error("rung {resolution}p: {message}")]
    Output {
        /// The rung.
        resolution: u32,
        /// What went wrong.
        message: String,
    },
}

pub(super) fn libav(step: impl Into<String>) -> impl FnOnce(ff::Error) -> PipelineError {
    let step = step.into();
    move |source| PipelineError::Libav { step, source }
}

/// File names of a rung's outputs, PeerTube's scheme: `<prefix>-<res>-fragmented.mp4` and
/// `<prefix>-<res>.m3u8`.
pub fn rung_files(prefix: &str, resolution: u32) -> (String, String) {
    (
        format!("{prefix}-{resolution}-fragmented.mp4"),
        format!("{prefix}-{resolution}.m3u8"),
    )
}

/// Transcodes `source` into `out_dir` following `ladder`.
pub fn run(
    source: &Path,
    ladder: &Ladder,
    out_dir: &Path,
    prefix: &str,
) -> Result<PipelineOutput, PipelineError> {
    let resolutions: Vec<u32> = ladder.rungs.iter().map(|r| r.resolution).collect();
    run_with(
        source,
        ladder,
        out_dir,
        prefix,
        &Arc::new(PipelineStats::new(&resolutions, 0)),
    )
}

/// [`run`], reporting progress into `stats`. A rung whose encoder fails mid-stream is restarted
/// alone (re-reading the source) on the next encoder of its chain; libx264, the last, gets one
/// retry. The other rungs are not disturbed.
pub fn run_with(
    source: &Path,
    ladder: &Ladder,
    out_dir: &Path,
    prefix: &str,
    stats: &Arc<PipelineStats>,
) -> Result<PipelineOutput, PipelineError> {
    let fault = Fault::from_env();
    let first = decode_and_encode(source, ladder, out_dir, prefix, stats, fault, true)?;
    let mut rungs = Vec::new();
    for (rung, result) in ladder.rungs.iter().zip(first.rungs) {
        match result {
            Ok(out) => rungs.push(out),
            Err(PipelineError::EncoderFailed {
                encoder,
                frames,
                cause,
                earlier,
                on_device,
                ..
            }) => {
                let why = if on_device {
                    format!("scaling on the device failed after {frames} frames ({cause}); {encoder} restarted with CPU scaling")
                } else {
                    format!("{encoder} failed mid-stream after {frames} frames ({cause})")
                };
                tracing::warn!(rung = rung.resolution, reason = %why, "restarting the rung");
                let rest = restart_chain(&rung.encoders, &encoder, on_device);
                // The restart scales on the CPU: if the device path is what failed, it is not
                // tried twice.
                let retry = Ladder {
                    rungs: vec![Rung {
                        encoders: rest,
                        ..rung.clone()
                    }],
                    decode: super::ladder::DecodePlan {
                        scaling: DeviceScaling::Never,
                        ..ladder.decode.clone()
                    },
                    ..ladder.clone()
                };
                if let Some(r) = stats.rung(rung.resolution) {
                    r.frames.store(0, std::sync::atomic::Ordering::Relaxed);
                }
                let again = decode_and_encode(source, &retry, out_dir, prefix, stats, None, false)?;
                let mut out = again
                    .rungs
                    .into_iter()
                    .next()
                    .ok_or(PipelineError::RungPanicked(rung.resolution))??;
                let reasons: Vec<String> = earlier
                    .into_iter()
                    .chain(std::iter::once(why))
                    .chain(out.fallback_reason.take())
                    .collect();
                out.fallback_reason = Some(reasons.join("; "));
                rungs.push(out);
            }
            Err(e) => return Err(e),
        }
    }
    let (master, segments_sha256) = write_master_and_hashes(ladder, &rungs, out_dir, prefix)?;
    let (mut thumbnail, mut preview) = (None, None);
    if let Some(SharedFrame(picture)) = first.poster {
        let t = out_dir.join(format!("{prefix}-thumbnail.jpg"));
        let p = out_dir.join(format!("{prefix}-preview.jpg"));
        write_jpeg(&picture, THUMBNAIL_BOX, &t)?;
        write_jpeg(&picture, PREVIEW_BOX, &p)?;
        (thumbnail, preview) = (Some(t), Some(p));
    }
    let storyboard = first.sheet.and_then(|sheet| {
        let path = out_dir.join(format!("{prefix}-storyboard.jpg"));
        sheet
            .write(&path)
            .inspect_err(|e| tracing::warn!(error = %e, "no storyboard: writing it failed"))
            .ok()
            .flatten()
    });
    Ok(PipelineOutput {
        decoded_frames: first.decoded,
        decoder: first.decoded_on,
        rungs,
        master,
        segments_sha256,
        thumbnail,
        preview,
        storyboard,
    })
}

/// The encoders a rung restarts with after `failed` failed mid-stream: those after it, or, when
/// what failed was scaling on the device rather than the encoder, that same encoder onwards (it
/// then gets CPU-scaled frames). The last encoder of a chain gets one more try.
fn restart_chain(chain: &[String], failed: &str, on_device: bool) -> Vec<String> {
    let from = chain
        .iter()
        .position(|e| e == failed)
        .map(|i| if on_device { i } else { i + 1 });
    let mut rest = from.map(|i| chain[i..].to_vec()).unwrap_or_default();
    if rest.is_empty() {
        rest.push(failed.to_string());
    }
    rest
}

/// A fault injected for tests through `FLEUVE_FAULT_ENCODER_FAIL=<resolution>:<frames>`: that
/// rung's encoder reports a failure after that many frames, on the first pass only.
#[derive(Debug, Clone, Copy)]
struct Fault {
    resolution: u32,
    after_frames: u64,
}

impl Fault {
    fn from_env() -> Option<Fault> {
        let v = std::env::var("FLEUVE_FAULT_ENCODER_FAIL").ok()?;
        let (r, f) = v.split_once(':')?;
        let fault = Fault {
            resolution: r.trim().parse().ok()?,
            after_frames: f.trim().parse().ok()?,
        };
        tracing::warn!(
            ?fault,
            "fault injection enabled (FLEUVE_FAULT_ENCODER_FAIL)"
        );
        Some(fault)
    }
}

/// What one decode pass produced: each rung's result, the poster frame and the storyboard's
/// sheet (first pass only).
struct Pass {
    decoded: u64,
    decoded_on: String,
    rungs: Vec<Result<RungOutput, PipelineError>>,
    poster: Option<SharedFrame>,
    sheet: Option<SheetBuilder>,
}

/// Decodes `source` once and encodes every rung of `ladder` in its own thread.
fn decode_and_encode(
    source: &Path,
    ladder: &Ladder,
    out_dir: &Path,
    prefix: &str,
    stats: &Arc<PipelineStats>,
    fault: Option<Fault>,
    count_decoded: bool,
) -> Result<Pass, PipelineError> {
    super::probe::init_libav();
    let mut input = super::source::open(source)?;
    let stream = input
        .streams()
        .best(ff::media::Type::Video)
        .ok_or(PipelineError::NoVideo)?;
    let video_index = stream.index();
    let stream_codec = stream.parameters().id().name().to_string();
    let in_tb = stream.time_base();
    let extra_frames = (QUEUE + 2) * ladder.rungs.len();
    let (mut decoder, decoded_on, device) =
        open_video_decoder(&stream, &ladder.decode, extra_frames)?;
    if count_decoded {
        tracing::info!(decoder = %decoded_on, "decoding the source");
    }

    let mut audio = match (&ladder.audio, input.streams().best(ff::media::Type::Audio)) {
        (Some(plan), Some(stream)) => Some(AudioChain::new(&stream, plan.bitrate)?),
        _ => None,
    };

    let mut senders = Vec::new();
    let mut workers = Vec::new();
    // Each rung says, once its encoder is open, whether it takes frames on the device.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<(usize, bool)>();
    for (index, rung) in ladder.rungs.iter().enumerate() {
        let (tx, rx) = sync_channel::<RungInput>(QUEUE);
        let (file, playlist) = rung_files(prefix, rung.resolution);
        let job = RungJob {
            rung: rung.clone(),
            in_tb,
            audio: audio.as_ref().map(|a| (a.params.clone(), a.time_base)),
            media_path: out_dir.join(file),
            playlist_path: out_dir.join(playlist),
            segment_secs: ladder.segment_secs,
            stats: Arc::clone(stats),
            fail_after: fault
                .filter(|f| f.resolution == rung.resolution)
                .map(|f| f.after_frames),
            device: device
                .as_ref()
                .filter(|_| ladder.decode.scaling != DeviceScaling::Never)
                .and_then(HwDevice::share),
            scaling: ladder.decode.scaling,
            ready: Some((index, ready_tx.clone())),
        };
        let handle = std::thread::Builder::new()
            .name(format!("fleuve-rung-{}", rung.resolution))
            .spawn(move || encode_rung(job, rx))
            .map_err(|_| PipelineError::RungPanicked(rung.resolution))?;
        senders.push((tx, false));
        workers.push(handle);
    }
    drop(ready_tx);
    // Ends when every rung has answered or exited (a rung that cannot open an encoder exits).
    for (index, wants_device) in ready_rx.iter() {
        if let Some(s) = senders.get_mut(index) {
            s.1 = wants_device;
        }
    }

    let counter = count_decoded.then_some(&stats.decoded);
    let mut decoded = 0u64;
    let mut on_gpu = 0u64;
    let mut frame = ff::frame::Video::empty();
    let duration = input.duration().max(0) as f64 / f64::from(ff::ffi::AV_TIME_BASE);
    let mut stills = Stills {
        in_tb,
        middle: duration / 2.0,
        poster: None,
        // The first pass takes the sprites; a rung's restart decodes again for that rung only.
        sheet: SpritePlan::new(duration, decoder.width(), decoder.height())
            .filter(|_| count_decoded)
            .map(SheetBuilder::new),
    };
    for (stream, packet) in input.packets() {
        if let Some(a) = audio.as_mut().filter(|a| a.index == stream.index()) {
            for p in a.push(Some(&packet))? {
                for (tx, _) in &senders {
                    let _ = tx.send(RungInput::Audio(p.clone()));
                }
            }
            continue;
        }
        if stream.index() != video_index {
            continue;
        }
        if let Err(e) = decoder.send_packet(&packet) {
            // A corrupt packet: skip it, as ffmpeg does, rather than failing the whole job.
            tracing::debug!(error = %e, "skipping undecodable packet");
            continue;
        }
        fan_out(
            &mut decoder,
            &mut frame,
            (&mut decoded, &mut on_gpu, counter),
            &senders,
            &mut stills,
        );
    }
    let _ = decoder.send_eof();
    fan_out(
        &mut decoder,
        &mut frame,
        (&mut decoded, &mut on_gpu, counter),
        &senders,
        &mut stills,
    );
    if let Some(a) = audio.as_mut() {
        for p in a.push(None)? {
            for (tx, _) in &senders {
                let _ = tx.send(RungInput::Audio(p.clone()));
            }
        }
    }
    drop(senders);
    // libavcodec decodes in software when the hwaccel refuses the stream (a profile or size the
    // device cannot take); say so rather than where the decoder was opened.
    let decoded_on = match &device {
        Some(d) if decoded > 0 && on_gpu == 0 => {
            let why = format!(
                "{} in software (the {:?} decoder refused the stream)",
                stream_codec,
                d.accel()
            );
            if count_decoded {
                tracing::warn!(decoder = %why, "hardware decoding did not happen");
            }
            why
        }
        _ => decoded_on,
    };
    drop(device);

    let rungs = workers
        .into_iter()
        .zip(&ladder.rungs)
        .map(|(handle, rung)| {
            handle
                .join()
                .map_err(|_| PipelineError::RungPanicked(rung.resolution))?
        })
        .collect();
    Ok(Pass {
        decoded,
        decoded_on,
        rungs,
        poster: stills.poster,
        sheet: stills.sheet,
    })
}

/// Opens the video decoder, on the planned device when there is one, else (or when the device
/// fails) in software. Returns it with a description of where it decodes, and the device handle
/// (which must outlive the decoder).
fn open_video_decoder(
    stream: &ff::format::stream::Stream,
    plan: &super::ladder::DecodePlan,
    extra_frames: usize,
) -> Result<(ff::decoder::Video, String, Option<HwDevice>), PipelineError> {
    let fresh = || -> Result<ff::codec::context::Context, PipelineError> {
        let mut ctx = ff::codec::context::Context::from_parameters(stream.parameters())
            .map_err(libav("decoder parameters"))?;
        ctx.set_threading(ff::codec::threading::Config::count(0));
        Ok(ctx)
    };
    let codec = stream.parameters().id().name().to_string();
    let mut why = plan.reason.clone();
    if let Some(accel) = plan.hwaccel.as_deref().and_then(HwAccel::parse) {
        match HwDevice::open(accel, plan.device.as_deref()) {
            Ok(device) => {
                let mut ctx = fresh()?;
                device.attach(&mut ctx, extra_frames);
                match ctx.decoder().video() {
                    Ok(d) => {
                        let on = format!(
                            "{codec} on {accel:?} {}",
                            plan.device.as_deref().unwrap_or("(default device)")
                        );
                        return Ok((d, on, Some(device)));
                    }
                    Err(e) => why = Some(format!("{accel:?} decoder: {e}")),
                }
            }
            Err(e) => why = Some(e.to_string()),
        }
        tracing::warn!(
            reason = why.as_deref().unwrap_or_default(),
            "hardware decoding unavailable; decoding in software"
        );
    }
    let decoder = fresh()?.decoder().video().map_err(libav("open decoder"))?;
    let on = match why {
        Some(w) => format!("{codec} in software ({w})"),
        None => format!("{codec} in software"),
    };
    Ok((decoder, on, None))
}

/// Writes the master playlist and the segments-sha256 JSON (PeerTube's names and formats).
fn write_master_and_hashes(
    ladder: &Ladder,
    rungs: &[RungOutput],
    out_dir: &Path,
    prefix: &str,
) -> Result<(PathBuf, PathBuf), PipelineError> {
    let fail = |resolution: u32, e: &dyn std::fmt::Display| PipelineError::Output {
        resolution,
        message: e.to_string(),
    };
    let mut variants = Vec::new();
    let mut hashes = serde_json::Map::new();
    for (rung, out) in ladder.rungs.iter().zip(rungs) {
        let text = std::fs::read_to_string(&out.playlist).map_err(|e| fail(rung.resolution, &e))?;
        let playlist = MediaPlaylist::parse(&text).map_err(|e| fail(rung.resolution, &e))?;
        let mut file =
            std::fs::File::open(&out.media_file).map_err(|e| fail(rung.resolution, &e))?;
        let map = playlist
            .segment_hashes(&mut file)
            .map_err(|e| fail(rung.resolution, &e))?;
        hashes.insert(playlist.file.clone(), serde_json::Value::Object(map));
        variants.push(super::hls::Variant {
            playlist: out
                .playlist
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            bandwidth: out.bandwidth,
            width: rung.width,
            height: rung.height,
            fps: rung.fps,
            codecs: out.codecs.clone(),
        });
    }
    let master = out_dir.join(format!("{prefix}-master.m3u8"));
    std::fs::write(&master, super::hls::master_playlist(&variants)).map_err(|e| fail(0, &e))?;
    let sha = out_dir.join(format!("{prefix}-segments-sha256.json"));
    let json = serde_json::to_vec(&serde_json::Value::Object(hashes)).map_err(|e| fail(0, &e))?;
    std::fs::write(&sha, json).map_err(|e| fail(0, &e))?;
    Ok((master, sha))
}

/// RFC 6381 `avc1.PPCCLL` from an H.264 encoder's extradata (Annex B SPS or avcC).
fn avc_codec_string(extradata: &[u8]) -> Option<String> {
    let sps = if extradata.first() == Some(&1) && extradata.len() >= 4 {
        &extradata[1..4]
    } else {
        let mut i = 0;
        loop {
            let rest = extradata.get(i..)?;
            let start = rest.windows(3).position(|w| w == [0, 0, 1])?;
            let nal = i + start + 3;
            if extradata.get(nal).map(|b| b & 0x1f) == Some(7) {
                break extradata.get(nal + 1..nal + 4)?;
            }
            i = nal;
        }
    };
    Some(format!("avc1.{:02x}{:02x}{:02x}", sps[0], sps[1], sps[2]))
}

/// The pictures a decode pass keeps besides feeding the rungs: the poster (the first frame past
/// the middle, for the thumbnail and the preview) and the storyboard's sprites.
struct Stills {
    in_tb: ff::Rational,
    middle: f64,
    poster: Option<SharedFrame>,
    sheet: Option<SheetBuilder>,
}

/// Hands every frame the decoder has ready to every rung: a frame in GPU memory as it is to the
/// rungs that take device frames, and downloaded once for all the others.
fn fan_out(
    decoder: &mut ff::decoder::Video,
    frame: &mut ff::frame::Video,
    (decoded, on_gpu, counter): (&mut u64, &mut u64, Option<&std::sync::atomic::AtomicU64>),
    senders: &[(std::sync::mpsc::SyncSender<RungInput>, bool)],
    stills: &mut Stills,
) {
    while decoder.receive_frame(frame).is_ok() {
        let device_frame = on_device(frame);
        *on_gpu += u64::from(device_frame);
        let at = frame.timestamp().unwrap_or(0) as f64 * f64::from(stills.in_tb);
        let take_poster = stills.poster.is_none() && at >= stills.middle;
        let take_sprite = stills.sheet.as_mut().is_some_and(|s| s.wants(at));
        let need_system =
            !device_frame || take_poster || take_sprite || senders.iter().any(|(_, d)| !d);
        let downloaded = if device_frame && need_system {
            match download(frame) {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot download a decoded frame; skipping it");
                    continue;
                }
            }
        } else {
            None
        };
        let system: &ff::frame::Video = downloaded.as_ref().unwrap_or(&*frame);
        *decoded += 1;
        if let Some(c) = counter {
            c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if take_poster {
            stills.poster = Some(SharedFrame::reference(system));
        }
        if take_sprite {
            if let Some(Err(e)) = stills.sheet.as_mut().map(|s| s.take(system, at)) {
                tracing::warn!(error = %e, "no storyboard: a sprite could not be scaled");
                stills.sheet = None;
            }
        }
        // A rung that died dropped its receiver; its error is reported when it is joined.
        for (tx, wants_device) in senders {
            let f = if *wants_device { &*frame } else { system };
            let _ = tx.send(RungInput::Video(SharedFrame::reference(f)));
        }
    }
}

/// What a rung thread receives, in decode order.
enum RungInput {
    /// A decoded source frame.
    Video(SharedFrame),
    /// An encoded AAC packet (audio is encoded once and muxed into every rung).
    Audio(ff::Packet),
}

/// A decoded frame shared by reference (`av_frame_clone`: the picture buffers are
/// reference-counted, not copied, so N rungs cost no extra copies of the source).
struct SharedFrame(ff::frame::Video);

// SAFETY: an AVFrame with its own references may move to another thread; the buffers it points
// to are reference-counted and never written by the decoder once returned.
unsafe impl Send for SharedFrame {}

impl SharedFrame {
    fn reference(frame: &ff::frame::Video) -> SharedFrame {
        // SAFETY: `frame` is a valid decoded frame; av_frame_clone returns a new AVFrame holding
        // new references to the same buffers (or null on allocation failure, handled below).
        let ptr = unsafe { ff::ffi::av_frame_clone(frame.as_ptr()) };
        if ptr.is_null() {
            return SharedFrame(frame.clone());
        }
        // SAFETY: `ptr` is a freshly allocated AVFrame that we own; Video::wrap takes ownership
        // and frees it on drop.
        SharedFrame(unsafe { ff::frame::Video::wrap(ptr) })
    }
}

/// The options each encoder gets for a rung (PeerTube's libx264 VOD options).
pub(crate) fn encoder_options(name: &str, rung: &Rung) -> ff::Dictionary<'static> {
    let mut d = ff::Dictionary::new();
    let t = rung.target_bitrate.to_string();
    let buf = (rung.target_bitrate * 2).to_string();
    d.set("maxrate", &t);
    d.set("bufsize", &buf);
    d.set("g", &rung.gop.to_string());
    // Closed GOPs: every keyframe an IDR with no frame referring back past it, so a player can
    // start decoding at any segment (browsers fail to decode after a seek otherwise).
    d.set("flags", "+cgop");
    match name {
        "libx264" => {
            d.set("preset", "veryfast");
            d.set("bf", "16");
        }
        "h264_nvenc" => {
            // NVENC refuses PeerTube's -bf 16 (#4435).
            d.set("preset", "p4");
            d.set("bf", "3");
            d.set("rc", "vbr");
        }
        _ => {}
    }
    d
}

/// Everything a rung thread needs.
struct RungJob {
    rung: Rung,
    in_tb: ff::Rational,
    audio: Option<(ff::codec::Parameters, ff::Rational)>,
    media_path: PathBuf,
    playlist_path: PathBuf,
    segment_secs: u32,
    stats: Arc<PipelineStats>,
    fail_after: Option<u64>,
    /// The decoding device, when the rung may scale (and encode) there.
    device: Option<HwDevice>,
    scaling: DeviceScaling,
    /// Where to say, once the encoder is open, whether the rung takes device frames.
    ready: Option<(usize, std::sync::mpsc::Sender<(usize, bool)>)>,
}

/// Where a rung's frames are scaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frames {
    /// In system memory, by swscale.
    System,
    /// On the device, for an encoder on the device.
    Device,
    /// On the device, then downloaded for a CPU encoder.
    DeviceThenDownload,
}

/// Encodes one rung: opens the first encoder of its chain that opens, starts the HLS muxer,
/// takes every frame through frame-rate conversion, scaling and the encoder, muxes the shared
/// audio, then rewrites the media playlist.
fn encode_rung(job: RungJob, frames: Receiver<RungInput>) -> Result<RungOutput, PipelineError> {
    let RungJob {
        rung,
        in_tb,
        audio,
        media_path,
        playlist_path,
        segment_secs,
        stats,
        fail_after,
        device,
        scaling,
        mut ready,
    } = job;
    let (media_path, playlist_path) = (media_path.as_path(), playlist_path.as_path());
    let res = rung.resolution;
    let counters = stats.rung(res);
    let mut output = ff::format::output_as(&playlist_path, "hls")
        .map_err(libav(format!("{res}p: create HLS muxer")))?;
    let writes = WriteWatch::attach(&mut output);
    let global_header = output
        .format()
        .flags()
        .contains(ff::format::Flags::GLOBAL_HEADER);
    let out_tb = ff::Rational(1, rung.fps as i32);

    let (opened, reasons) =
        open_first_encoder(&rung, device.as_ref(), scaling, global_header, out_tb);
    if let Some((index, tx)) = ready.take() {
        let on_device = opened
            .as_ref()
            .is_some_and(|o| o.frames_at != Frames::System);
        let _ = tx.send((index, on_device));
    }
    let Some(OpenEncoder {
        name: encoder_name,
        mut encoder,
        frames_at,
    }) = opened
    else {
        return Err(PipelineError::NoEncoder {
            resolution: res,
            reasons: reasons.join("; "),
        });
    };
    if let Some(c) = counters {
        if let Ok(mut e) = c.encoder.lock() {
            e.clone_from(&encoder_name);
        }
    }
    let fallback_reason = (!reasons.is_empty()).then(|| reasons.join("; "));
    if let Some(why) = &fallback_reason {
        tracing::warn!(rung = res, encoder = %encoder_name, reason = %why, "encoder fallback");
    }
    let failure = RungFailure {
        resolution: res,
        encoder: encoder_name.clone(),
        earlier: fallback_reason.clone(),
    };
    let video_codecs =
        avc_codec_string(&codec_extradata(&encoder)).unwrap_or_else(|| "avc1.640028".into());
    let audio_tb = audio.as_ref().map(|(_, tb)| *tb);
    let (ost_tb, ast_tb) = start_hls_output(
        &mut output,
        &encoder_name,
        &encoder,
        audio.as_ref().map(|(params, _)| params),
        segment_secs,
        media_path,
        res,
    )?;
    let ost_tb = ost_tb.unwrap_or(out_tb);

    let mut scaling = RungScaling::new(&rung, frames_at, device, in_tb);
    let mut last_pts: Option<i64> = None;
    let mut frames_out = 0u64;
    let mut packet = ff::Packet::empty();
    let mut muxer = RungMuxer {
        output: &mut output,
        packet: &mut packet,
        out_tb,
        ost_tb,
        resolution: res,
    };
    for input in frames.iter() {
        let frame = match input {
            RungInput::Video(SharedFrame(f)) => f,
            RungInput::Audio(p) => {
                if let (Some(from), Some(to)) = (audio_tb, ast_tb) {
                    muxer.write_audio(p, from, to)?;
                }
                continue;
            }
        };
        // Frame-rate conversion by timestamp: keep a frame when it lands on a new output tick.
        let t = frame.timestamp().unwrap_or(0) as f64 * f64::from(in_tb);
        let pts = (t * f64::from(rung.fps) + 1e-6).floor() as i64;
        if last_pts.is_some_and(|l| pts <= l) {
            continue;
        }
        last_pts = Some(pts);
        if fail_after == Some(frames_out) {
            return Err(failure.mid_stream(frames_out, RungFault::Injected));
        }
        scaling.encode(frame, pts, &mut encoder, &failure, frames_out)?;
        frames_out += 1;
        if let Some(c) = counters {
            c.frames.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        muxer.write_packets(&mut encoder)?;
    }
    encoder
        .send_eof()
        .map_err(|e| failure.mid_stream(frames_out, e))?;
    muxer.write_packets(&mut encoder)?;
    output
        .write_trailer()
        .map_err(libav(format!("{res}p: write trailer")))?;
    drop(output);
    // A write that failed (a full disk) leaves a truncated file that the muxer does not report.
    writes
        .check()
        .map_err(libav(format!("{res}p: write output files")))?;

    let playlist = rewrite_playlist(media_path, playlist_path, res)?;
    let mut codecs = video_codecs;
    if audio_tb.is_some() {
        codecs.push_str(",mp4a.40.2");
    }
    Ok(RungOutput {
        resolution: res,
        playlist: playlist_path.to_owned(),
        media_file: media_path.to_owned(),
        encoder: encoder_name,
        scaler: scaling.scaled_by,
        fallback_reason,
        frames: frames_out,
        codecs,
        bandwidth: peak_bandwidth(&playlist).unwrap_or(rung.target_bitrate),
    })
}

/// An open encoder of a rung's chain.
struct OpenEncoder {
    name: String,
    encoder: ff::encoder::Video,
    /// Where the rung's frames are scaled for it.
    frames_at: Frames,
}

/// Opens the first encoder of the rung's chain that opens (on the decoding device when it
/// encodes there); also returns why each one before it did not.
fn open_first_encoder(
    rung: &Rung,
    device: Option<&HwDevice>,
    scaling: DeviceScaling,
    global_header: bool,
    out_tb: ff::Rational,
) -> (Option<OpenEncoder>, Vec<String>) {
    let mut reasons = Vec::new();
    for name in &rung.encoders {
        let Some(codec) = ff::encoder::find_by_name(name) else {
            reasons.push(format!("{name}: not built into this FFmpeg"));
            continue;
        };
        let ctx = ff::codec::context::Context::new_with_codec(codec);
        let mut enc = match ctx.encoder().video() {
            Ok(e) => e,
            Err(e) => {
                reasons.push(format!("{name}: {e}"));
                continue;
            }
        };
        enc.set_width(rung.width);
        enc.set_height(rung.height);
        let frames_at = match device {
            Some(d) if d.encodes(name) => {
                if let Err(e) = d.attach_encoder(&mut enc, rung.width, rung.height) {
                    reasons.push(format!("{name}: {e}"));
                    continue;
                }
                Frames::Device
            }
            Some(_) if scaling == DeviceScaling::Always => {
                enc.set_format(ff::format::Pixel::NV12);
                Frames::DeviceThenDownload
            }
            _ => {
                enc.set_format(ff::format::Pixel::YUV420P);
                Frames::System
            }
        };
        enc.set_time_base(out_tb);
        enc.set_frame_rate(Some(ff::Rational(rung.fps as i32, 1)));
        if global_header {
            enc.set_flags(ff::codec::Flags::GLOBAL_HEADER);
        }
        match enc.open_with(encoder_options(name, rung)) {
            Ok(encoder) => {
                let opened = OpenEncoder {
                    name: name.clone(),
                    encoder,
                    frames_at,
                };
                return (Some(opened), reasons);
            }
            Err(e) => reasons.push(format!("{name}: cannot open ({e})")),
        }
    }
    (None, reasons)
}

/// The encoder's `extradata` (the avcC box: SPS and PPS), copied out.
fn codec_extradata(encoder: &ff::encoder::Video) -> Vec<u8> {
    // SAFETY: `encoder` is an open codec context; libav owns `extradata` (`extradata_size` bytes)
    // for the context's lifetime, and we copy it out before anything else touches the context.
    unsafe {
        let ctx = encoder.as_ptr();
        let (ptr, len) = ((*ctx).extradata, (*ctx).extradata_size);
        if ptr.is_null() || len <= 0 {
            Vec::new()
        } else {
            std::slice::from_raw_parts(ptr, len as usize).to_vec()
        }
    }
}

/// Adds the rung's video stream (and the shared AAC stream) to the HLS muxer and writes its
/// header: VOD, fMP4 in one file addressed by byte ranges. Returns the muxer's time bases of
/// the video and audio streams.
fn start_hls_output(
    output: &mut ff::format::context::Output,
    encoder_name: &str,
    encoder: &ff::encoder::Video,
    audio: Option<&ff::codec::Parameters>,
    segment_secs: u32,
    media_path: &Path,
    res: u32,
) -> Result<(Option<ff::Rational>, Option<ff::Rational>), PipelineError> {
    let codec = ff::encoder::find_by_name(encoder_name);
    let mut ost = output
        .add_stream(codec)
        .map_err(libav(format!("{res}p: add stream")))?;
    ost.set_parameters(encoder);
    if let Some(params) = audio {
        let mut ast = output
            .add_stream(ff::encoder::find_by_name("aac"))
            .map_err(libav(format!("{res}p: add audio stream")))?;
        ast.set_parameters(params.clone());
    }
    let mut opts = ff::Dictionary::new();
    opts.set("hls_time", &segment_secs.to_string());
    opts.set("hls_playlist_type", "vod");
    opts.set("hls_list_size", "0");
    opts.set("hls_segment_type", "fmp4");
    opts.set("hls_flags", "single_file");
    opts.set("hls_segment_filename", &media_path.to_string_lossy());
    output
        .write_header_with(opts)
        .map_err(libav(format!("{res}p: write header")))?;
    Ok((
        output.stream(0).map(|s| s.time_base()),
        output.stream(1).map(|s| s.time_base()),
    ))
}

/// How a rung's encoder failed, for the restart logic: the encoder, and why the ones before it
/// in the chain were not used.
struct RungFailure {
    resolution: u32,
    encoder: String,
    earlier: Option<String>,
}

impl RungFailure {
    fn failed(&self, frames: u64, cause: RungFault, on_device: bool) -> PipelineError {
        PipelineError::EncoderFailed {
            resolution: self.resolution,
            encoder: self.encoder.clone(),
            frames,
            cause,
            earlier: self.earlier.clone(),
            on_device,
        }
    }

    /// The encoder failed after `frames` frames.
    fn mid_stream(&self, frames: u64, cause: impl Into<RungFault>) -> PipelineError {
        self.failed(frames, cause.into(), false)
    }

    /// Scaling on the device failed (the rung restarts with CPU scaling).
    fn device(&self, frames: u64, cause: impl Into<RungFault>) -> PipelineError {
        self.failed(frames, cause.into(), true)
    }
}

/// A rung's scaling: swscale in system memory, a filter graph on the device, or nothing when
/// the rung is the source's own size; built at the first frame.
struct RungScaling {
    width: u32,
    height: u32,
    resolution: u32,
    frames_at: Frames,
    device: Option<HwDevice>,
    in_tb: ff::Rational,
    scaler: Option<ff::software::scaling::Context>,
    device_filter: Option<FrameFilter>,
    filtered: Vec<ff::frame::Video>,
    scaled: ff::frame::Video,
    /// What scaled the frames (`swscale`, the device filter, or `none`).
    scaled_by: String,
}

impl RungScaling {
    fn new(
        rung: &Rung,
        frames_at: Frames,
        device: Option<HwDevice>,
        in_tb: ff::Rational,
    ) -> RungScaling {
        RungScaling {
            width: rung.width,
            height: rung.height,
            resolution: rung.resolution,
            frames_at,
            device,
            in_tb,
            scaler: None,
            device_filter: None,
            filtered: Vec::new(),
            scaled: ff::frame::Video::new(ff::format::Pixel::YUV420P, rung.width, rung.height),
            scaled_by: "none".to_string(),
        }
    }

    /// Scales one decoded frame for the rung and sends it to the encoder at `pts`.
    fn encode(
        &mut self,
        mut frame: ff::frame::Video,
        pts: i64,
        encoder: &mut ff::encoder::Video,
        failure: &RungFailure,
        frames_out: u64,
    ) -> Result<(), PipelineError> {
        let res = self.resolution;
        let passthrough = frame.format() == ff::format::Pixel::YUV420P
            && frame.width() == self.width
            && frame.height() == self.height;
        if self.frames_at != Frames::System {
            // On the device: scale there (and download for a CPU encoder), encode.
            if self.device_filter.is_none() {
                let accel = match (&self.device, on_device(&frame)) {
                    (Some(d), true) => d.accel(),
                    _ => return Err(failure.device(frames_out, RungFault::FramesInSystemMemory)),
                };
                let spec = devscale::chain(
                    accel,
                    self.width,
                    self.height,
                    self.frames_at == Frames::DeviceThenDownload,
                );
                let f = FrameFilter::new(&frame, self.in_tb, &spec)
                    .map_err(|e| failure.device(frames_out, e))?;
                tracing::info!(rung = res, filter = %spec, encoder = %failure.encoder, "scaling on the device");
                self.scaled_by = spec;
                self.device_filter = Some(f);
            }
            if let Some(f) = self.device_filter.as_mut() {
                f.run(&mut frame, &mut self.filtered)
                    .map_err(|e| failure.device(frames_out, e))?;
            }
            for mut f in self.filtered.drain(..) {
                f.set_pts(Some(pts));
                f.set_kind(ff::picture::Type::None);
                encoder
                    .send_frame(&f)
                    .map_err(|e| failure.mid_stream(frames_out, e))?;
            }
        } else if passthrough {
            // The rung is the source itself: encode the decoded picture, no scaling pass.
            frame.set_pts(Some(pts));
            frame.set_kind(ff::picture::Type::None);
            encoder
                .send_frame(&frame)
                .map_err(|e| failure.mid_stream(frames_out, e))?;
        } else {
            if self.scaler.is_none() {
                self.scaled_by = "swscale".into();
                self.scaler = Some(
                    ff::software::scaling::Context::get(
                        frame.format(),
                        frame.width(),
                        frame.height(),
                        ff::format::Pixel::YUV420P,
                        self.width,
                        self.height,
                        ff::software::scaling::Flags::BICUBIC,
                    )
                    .map_err(libav(format!("{res}p: scaler")))?,
                );
            }
            if let Some(s) = self.scaler.as_mut() {
                s.run(&frame, &mut self.scaled)
                    .map_err(libav(format!("{res}p: scale")))?;
            }
            self.scaled.set_pts(Some(pts));
            encoder
                .send_frame(&self.scaled)
                .map_err(|e| failure.mid_stream(frames_out, e))?;
        }
        Ok(())
    }
}

/// Writes a rung's packets to its HLS muxer, rescaled to the streams' time bases.
struct RungMuxer<'o> {
    output: &'o mut ff::format::context::Output,
    packet: &'o mut ff::Packet,
    /// The encoder's time base.
    out_tb: ff::Rational,
    /// The muxer's video time base.
    ost_tb: ff::Rational,
    resolution: u32,
}

impl RungMuxer<'_> {
    /// Writes every packet the encoder has ready.
    fn write_packets(&mut self, encoder: &mut ff::encoder::Video) -> Result<(), PipelineError> {
        while encoder.receive_packet(self.packet).is_ok() {
            self.packet.set_stream(0);
            self.packet.rescale_ts(self.out_tb, self.ost_tb);
            self.packet
                .write_interleaved(self.output)
                .map_err(libav(format!("{}p: write packet", self.resolution)))?;
        }
        Ok(())
    }

    /// Writes one shared AAC packet.
    fn write_audio(
        &mut self,
        mut p: ff::Packet,
        from: ff::Rational,
        to: ff::Rational,
    ) -> Result<(), PipelineError> {
        p.set_stream(1);
        p.rescale_ts(from, to);
        p.write_interleaved(self.output)
            .map_err(libav(format!("{}p: write audio", self.resolution)))
    }
}

/// Rewrites the media playlist with the bare media file name in EXT-X-MAP (ffmpeg may write it
/// as a path), as PeerTube does; returns it.
fn rewrite_playlist(
    media_path: &Path,
    playlist_path: &Path,
    res: u32,
) -> Result<MediaPlaylist, PipelineError> {
    let output_error = |message: String| PipelineError::Output {
        resolution: res,
        message,
    };
    let file_name = media_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let text = std::fs::read_to_string(playlist_path).map_err(|e| output_error(e.to_string()))?;
    let mut playlist = MediaPlaylist::parse(&text).map_err(|e| output_error(e.to_string()))?;
    playlist.file = file_name;
    std::fs::write(playlist_path, playlist.render()).map_err(|e| output_error(e.to_string()))?;
    Ok(playlist)
}

/// The highest bit rate of any segment (the master playlist's `BANDWIDTH`).
fn peak_bandwidth(playlist: &MediaPlaylist) -> Option<u64> {
    playlist
        .segments
        .iter()
        .filter(|s| s.duration > 0.0)
        .map(|s| (s.range.len as f64 * 8.0 / s.duration).ceil() as u64)
        .max()
}

#[cfg(test)]
mod tests {
    use super::super::ladder::{plan, PlanOptions};

    #[test]
    fn a_failed_rung_restarts_on_the_right_encoder() {
        let chain: Vec<String> = ["h264_nvenc", "h264_vaapi", "libx264"]
            .map(String::from)
            .to_vec();
        // The encoder failed: the next one.
        assert_eq!(
            super::restart_chain(&chain, "h264_nvenc", false),
            ["h264_vaapi", "libx264"]
        );
        // Scaling on the device failed: the same encoder, now on CPU-scaled frames.
        assert_eq!(
            super::restart_chain(&chain, "h264_nvenc", true),
            ["h264_nvenc", "h264_vaapi", "libx264"]
        );
        // The last one gets one more try either way.
        assert_eq!(super::restart_chain(&chain, "libx264", false), ["libx264"]);
        assert_eq!(super::restart_chain(&chain, "libx264", true), ["libx264"]);
    }

    #[test]
    fn codec_strings_from_extradata() {
        // Annex B: start code, SPS NAL (0x67), High profile 100, constraints 0, level 3.1.
        let annexb = [
            0, 0, 0, 1, 0x67, 0x64, 0x00, 0x1f, 0xac, 0, 0, 0, 1, 0x68, 0xee,
        ];
        assert_eq!(
            super::avc_codec_string(&annexb).as_deref(),
            Some("avc1.64001f")
        );
        let avcc = [1, 0x4d, 0x40, 0x28, 0xff];
        assert_eq!(
            super::avc_codec_string(&avcc).as_deref(),
            Some("avc1.4d4028")
        );
        assert_eq!(super::avc_codec_string(&[0, 0, 1, 0x68]), None);
    }
    use super::*;
    use std::process::Command;

    fn ffprobe(path: &Path) -> serde_json::Value {
        let out = Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-count_packets",
                "-show_streams",
                "-of",
                "json",
            ])
            .arg(path)
            .output()
            .expect("ffprobe is required (apt-get install ffmpeg)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    #[test]
    fn decodes_once_and_writes_every_rung() {
        let dir = tempfile::tempdir().unwrap();
        let src = crate::transcode::testclip::clip(
            dir.path(),
            "src.mp4",
            "1280x720",
            30,
            5,
            Some((44_100, 1)),
        );
        let info = super::super::probe::probe(&src).unwrap();
        let opts = PlanOptions {
            resolutions: vec![240, 480],
            encoders: vec!["h264_nvenc".into(), "libx264".into()],
            ..PlanOptions::default()
        };
        let ladder = plan(&info, &opts, &fleuve_hw::discover()).unwrap();
        // Force the NVENC attempt even on a machine without it: its open must fail cleanly.
        let mut ladder = ladder;
        for r in &mut ladder.rungs {
            r.encoders = vec!["h264_nvenc".into(), "libx264".into()];
        }
        let out_dir = dir.path().join("out");
        std::fs::create_dir_all(&out_dir).unwrap();
        let out = run(&src, &ladder, &out_dir, "abc").unwrap();
        assert_eq!(out.decoded_frames, 150, "decoded once: 5 s at 30 fps");
        // No GPU decoder here: the source-sized rung is encoded as decoded, the others scaled
        // on the CPU.
        let scalers: Vec<&str> = out.rungs.iter().map(|r| r.scaler.as_str()).collect();
        assert_eq!(scalers, ["none", "swscale", "swscale"]);
        for (img, w, h) in [(&out.thumbnail, 280, 158), (&out.preview, 850, 478)] {
            let img = img.as_ref().expect("thumbnail and preview written");
            let v = &ffprobe(img)["streams"][0];
            assert_eq!(v["codec_name"], "mjpeg");
            assert_eq!(
                (v["width"].as_u64().unwrap(), v["height"].as_u64().unwrap()),
                (w, h)
            );
        }
        // The storyboard, from the same decode: 5 sprites of 1 s, 192x108 each, in one row.
        let sb = out.storyboard.as_ref().expect("a storyboard for 5 s");
        assert_eq!(sb.file, "abc-storyboard.jpg");
        assert_eq!(
            (sb.sprite_width, sb.sprite_height, sb.sprite_duration),
            (192, 108, 1)
        );
        let v = &ffprobe(&out_dir.join(&sb.file))["streams"][0];
        assert_eq!(v["codec_name"], "mjpeg");
        assert_eq!(
            (v["width"].as_u64().unwrap(), v["height"].as_u64().unwrap()),
            (960, 108)
        );
        assert_eq!((sb.total_width, sb.total_height), (960, 108));
        let master = std::fs::read_to_string(&out.master).unwrap();
        assert!(master.starts_with("#EXTM3U\n"));
        for r in &ladder.rungs {
            assert!(
                master.contains(&format!(
                    "RESOLUTION={}x{},FRAME-RATE=30,CODECS=\"avc1.",
                    r.width, r.height
                )),
                "{master}"
            );
            assert!(
                master.contains(&format!("\nabc-{}.m3u8\n", r.resolution)),
                "{master}"
            );
        }
        assert!(master.contains(",mp4a.40.2\""), "{master}");
        let sha: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&out.segments_sha256).unwrap()).unwrap();
        for o in &out.rungs {
            let name = o.media_file.file_name().unwrap().to_str().unwrap();
            let ranges = sha[name]
                .as_object()
                .unwrap_or_else(|| panic!("{name} missing in {sha}"));
            let bytes = std::fs::read(&o.media_file).unwrap();
            for (range, hash) in ranges {
                let (a, b) = range.split_once('-').unwrap();
                let (a, b): (usize, usize) = (a.parse().unwrap(), b.parse().unwrap());
                use sha2::Digest;
                assert_eq!(
                    hash.as_str().unwrap(),
                    hex::encode(sha2::Sha256::digest(&bytes[a..=b]))
                );
            }
        }
        let dims: Vec<(u32, u32)> = ladder.rungs.iter().map(|r| (r.width, r.height)).collect();
        assert_eq!(dims, vec![(1280, 720), (854, 480), (426, 240)]);
        for (r, o) in ladder.rungs.iter().zip(&out.rungs) {
            assert_eq!(o.frames, 150);
            let streams = ffprobe(&o.media_file);
            let v = &streams["streams"][0];
            assert_eq!(v["codec_name"], "h264");
            let a = &streams["streams"][1];
            assert_eq!(
                a["codec_name"],
                "aac",
                "rung {}: {streams} {}",
                r.resolution,
                std::fs::read_to_string(&o.playlist).unwrap()
            );
            assert_eq!(a["channels"], 2);
            assert_eq!(a["sample_rate"], "48000");
            // Every AAC packet holds 1024 samples at 48 kHz: all 5 s of audio made it.
            let packets: f64 = a["nb_read_packets"].as_str().unwrap().parse().unwrap();
            let secs = packets * 1024.0 / 48_000.0;
            assert!((secs - 5.0).abs() < 0.2, "audio lasts {secs} s");
            assert_eq!(
                (
                    v["width"].as_u64().unwrap() as u32,
                    v["height"].as_u64().unwrap() as u32
                ),
                (r.width, r.height)
            );
            let text = std::fs::read_to_string(&o.playlist).unwrap();
            let p = MediaPlaylist::parse(&text).unwrap();
            assert_eq!(p.file, format!("abc-{}-fragmented.mp4", r.resolution));
            assert!(
                text.contains(&format!(
                    "#EXT-X-MAP:URI=\"abc-{}-fragmented.mp4\"",
                    r.resolution
                )),
                "{text}"
            );
            let size = std::fs::metadata(&o.media_file).unwrap().len();
            let last = p.segments.last().unwrap().range;
            assert_eq!(last.offset + last.len, size);
            assert!(p.segments.len() >= 2, "{text}");
            if o.encoder == "libx264" {
                let why = o.fallback_reason.as_deref().unwrap_or("");
                assert!(why.contains("h264_nvenc"), "fallback reason: {why:?}");
            }
        }
    }

    #[test]
    fn a_full_disk_is_reported_as_such_not_as_a_bad_playlist() {
        let Some(disk) = crate::testutil::Tmpfs::mount(8) else {
            eprintln!("skipped: cannot mount a tmpfs here (needs root)");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let src = crate::transcode::testclip::clip(dir.path(), "s.mp4", "640x360", 25, 4, None);
        let info = super::super::probe::probe(&src).unwrap();
        let opts = PlanOptions {
            resolutions: vec![240],
            encoders: vec!["libx264".into()],
            ..PlanOptions::default()
        };
        let ladder = plan(&info, &opts, &fleuve_hw::discover()).unwrap();
        // Room for the thumbnails and the start of the renditions, not for all of them.
        disk.fill_leaving(96 << 10);
        let err = run(&src, &ladder, disk.path(), "full")
            .expect_err("the disk is full")
            .to_string();
        assert!(
            crate::transcode::space::mentions_no_space(&err),
            "the error says the disk is full: {err}"
        );
        assert!(!err.contains("playlist"), "{err}");
    }

    #[test]
    fn lower_rungs_drop_to_a_standard_frame_rate() {
        let dir = tempfile::tempdir().unwrap();
        let src = crate::transcode::testclip::clip(dir.path(), "src60.mp4", "640x360", 60, 2, None);
        let info = super::super::probe::probe(&src).unwrap();
        let opts = PlanOptions {
            resolutions: vec![144],
            encoders: vec!["libx264".into()],
            ..PlanOptions::default()
        };
        let ladder = plan(&info, &opts, &fleuve_hw::discover()).unwrap();
        let out = run(&src, &ladder, dir.path(), "f").unwrap();
        assert_eq!(out.decoded_frames, 120);
        assert_eq!(out.rungs[0].frames, 120, "original keeps 60 fps");
        assert_eq!(out.rungs[1].frames, 60, "144p at 30 fps");
    }

    #[test]
    fn a_planned_gpu_decoder_that_cannot_open_falls_back_to_software() {
        let dir = tempfile::tempdir().unwrap();
        let src = crate::transcode::testclip::clip(dir.path(), "s.mp4", "320x240", 25, 1, None);
        let info = super::super::probe::probe(&src).unwrap();
        let opts = PlanOptions {
            resolutions: vec![144],
            encoders: vec!["libx264".into()],
            ..PlanOptions::default()
        };
        let mut ladder = plan(&info, &opts, &fleuve_hw::discover()).unwrap();
        // What the planner picks on an NVIDIA machine; here the device cannot be opened (on a
        // GPU machine, `scripts/gpu-check.sh` exercises the working path).
        ladder.decode.hwaccel = Some("vaapi".into());
        ladder.decode.device = Some("/dev/dri/renderD199".into());
        let out = run(&src, &ladder, dir.path(), "hw").unwrap();
        assert_eq!(out.decoded_frames, 25);
        assert!(out.decoder.contains("in software"), "{}", out.decoder);
        assert!(out.decoder.contains("renderD199"), "{}", out.decoder);
        assert_eq!(out.rungs.len(), 2);
    }
}
