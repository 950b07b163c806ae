//! One segment of an edit pass: a file (the main video or an intro/outro clip), optionally
//! windowed to `start..end` seconds, decoded and filtered (see [`super::graph`]) into the pass's
//! output from a given output frame, its audio (its own, or a separate audio file read beside
//! it) placed at the same point. The segment's frames are timed from its start, as PeerTube's
//! `-ss`/`-to` output options and its `concat` do.

use super::audio::{AudioSource, Samples};
use super::encode::{libav, Geometry, Mp4Writer, SAMPLE_RATE};
use super::graph::{self, Fit, PlacedMark, SegmentGraph};
use super::EditError;
use crate::transcode::source;
use ffmpeg_next as ff;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};

/// Frames at or after the window's end (or before its start) by less than this are not cut.
const EPSILON: f64 = 1e-6;

/// Where a segment's sound comes from.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum AudioFrom {
    /// The file's own audio stream, if it has one.
    Own,
    /// A separate audio-only file (a PeerTube source stored with split audio).
    Separate(PathBuf),
}

/// One segment of a pass.
#[derive(Clone)]
pub(super) struct Segment {
    pub video: PathBuf,
    pub audio: AudioFrom,
    /// The window kept, in seconds of the file.
    pub start: f64,
    pub end: Option<f64>,
    pub fit: Fit,
    pub marks: Vec<PlacedMark>,
    /// What the file is (for errors: `input video`, `intro`, `outro`).
    pub role: &'static str,
}

/// What running a segment added to the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Span {
    /// Output frames the segment takes (its video, or its audio when longer).
    pub frames: i64,
}

/// Packets read ahead after a seek, at most, looking for the first one of the stream the seek
/// is checked on.
const SEEK_CHECK_PACKETS: usize = 512;

/// An opened input and what is read from it.
struct Opened {
    input: ff::format::context::Input,
    path: PathBuf,
    role: &'static str,
    audio_only: bool,
    /// Seconds subtracted from its timestamps.
    origin: f64,
    /// Packets read ahead (checking a seek), given back first.
    pending: VecDeque<ff::Packet>,
    eof: bool,
}

impl Opened {
    fn open(path: &Path, role: &'static str, audio_only: bool) -> Result<Opened, EditError> {
        let opened = if audio_only {
            source::open_audio(path)
        } else {
            source::open(path)
        };
        let input = opened.map_err(|e| EditError::Open {
            role,
            path: path.display().to_string(),
            source: e,
        })?;
        let origin = input
            .streams()
            .filter(|s| s.start_time() != ff::ffi::AV_NOPTS_VALUE)
            .map(|s| s.start_time() as f64 * f64::from(s.time_base()))
            .fold(None, |m: Option<f64>, t| Some(m.map_or(t, |m| m.min(t))))
            .unwrap_or(0.0);
        Ok(Opened {
            input,
            path: path.to_owned(),
            role,
            audio_only,
            origin,
            pending: VecDeque::new(),
            eof: false,
        })
    }

    /// Seeks to a keyframe at or before `secs` of an MP4/MOV file, whose index says where its
    /// keyframes are. Other files are decoded from their start, as the ffmpeg CLI's output
    /// `-ss` does: a seek in an MPEG-TS, say, may land between keyframes, or past the point.
    /// The first packet of `stream` after the seek must not be past `secs`; if it is (or none
    /// comes), the file is opened again and decoded from its start.
    fn seek_before(&mut self, secs: f64, stream: usize) -> Result<(), EditError> {
        let indexed = self.input.format().name().split(',').any(|n| n == "mov");
        if secs <= 0.0 || !indexed {
            return Ok(());
        }
        let ts = ((self.origin + secs) * f64::from(ff::ffi::AV_TIME_BASE)) as i64;
        if let Err(e) = self.input.seek(ts, ..ts) {
            tracing::debug!(path = %self.path.display(), error = %e, "cannot seek; decoding from the start");
            return Ok(());
        }
        let time_base = self.input.stream(stream).map(|s| s.time_base());
        let mut landed = None;
        while self.pending.len() < SEEK_CHECK_PACKETS {
            let mut packet = ff::Packet::empty();
            if packet.read(&mut self.input).is_err() {
                break;
            }
            let found = packet.stream() == stream;
            if found {
                landed = packet
                    .pts()
                    .or(packet.dts())
                    .zip(time_base)
                    .map(|(t, tb)| t as f64 * f64::from(tb) - self.origin);
            }
            self.pending.push_back(packet);
            if found {
                break;
            }
        }
        if landed.is_some_and(|t| t <= secs + EPSILON) {
            return Ok(());
        }
        tracing::warn!(path = %self.path.display(), target = secs, ?landed, "the seek did not land before the cut; decoding from the start");
        *self = Opened::open(&self.path, self.role, self.audio_only)?;
        Ok(())
    }

    /// The next packet, None at the end (a read error ends the input, as the ffmpeg CLI does).
    fn read(&mut self, packet: &mut ff::Packet) -> Option<usize> {
        if let Some(p) = self.pending.pop_front() {
            *packet = p;
            return Some(packet.stream());
        }
        if self.eof {
            return None;
        }
        match packet.read(&mut self.input) {
            Ok(()) => Some(packet.stream()),
            Err(e) => {
                if e != ff::Error::Eof {
                    tracing::warn!(error = %e, "read error; ending the input here");
                }
                self.eof = true;
                None
            }
        }
    }

    /// Whether every packet has been read.
    fn ended(&self) -> bool {
        self.eof && self.pending.is_empty()
    }
}

/// The first video stream that is not a cover picture.
pub(super) fn video_stream(
    input: &ff::format::context::Input,
) -> Option<ff::format::stream::Stream<'_>> {
    let cover = ff::format::stream::Disposition::ATTACHED_PIC;
    input
        .streams()
        .best(ff::media::Type::Video)
        .filter(|s| !s.disposition().contains(cover))
        .or_else(|| {
            input.streams().find(|s| {
                s.parameters().medium() == ff::media::Type::Video
                    && !s.disposition().contains(cover)
            })
        })
}

/// The rotation (0, 90, 180 or 270 degrees clockwise) a player applies to `stream` from its
/// display matrix, as the ffmpeg CLI computes it to autorotate (phones record sideways).
pub(super) fn rotation(stream: &ff::format::stream::Stream<'_>) -> u32 {
    let Some(data) = stream
        .side_data()
        .find(|d| d.kind() == ff::codec::packet::side_data::Type::DisplayMatrix)
        .map(|d| d.data().to_vec())
    else {
        return 0;
    };
    let Some(m) = data
        .chunks_exact(4)
        .take(5)
        .map(|b| {
            <[u8; 4]>::try_from(b)
                .ok()
                .map(|b| f64::from(i32::from_ne_bytes(b)) / 65536.0)
        })
        .collect::<Option<Vec<f64>>>()
        .filter(|m| m.len() == 5)
    else {
        return 0;
    };
    let (sx, sy) = (m[0].hypot(m[3]), m[1].hypot(m[4]));
    if sx == 0.0 || sy == 0.0 {
        return 0;
    }
    // av_display_rotation_get() is counterclockwise; the CLI negates and wraps it.
    let counterclockwise = -(m[1] / sy).atan2(m[0] / sx).to_degrees();
    let mut theta = -counterclockwise.round();
    theta -= 360.0 * (theta / 360.0 + 0.9 / 360.0).floor();
    [90u32, 180, 270]
        .into_iter()
        .find(|r| (theta - f64::from(*r)).abs() < 1.0)
        .unwrap_or(0)
}

/// The video half of a running segment.
struct VideoPath {
    index: usize,
    decoder: ff::decoder::Video,
    time_base: ff::Rational,
    /// Seconds of one frame when a frame does not say.
    frame_secs: f64,
    /// Degrees the frames are turned clockwise to be shown upright.
    rotation: u32,
    graph: Option<SegmentGraph>,
    /// End of the last frame kept, in seconds from the segment's start.
    last_end: f64,
    /// Time of the last frame decoded, in seconds from the segment's start.
    last_at: f64,
    done: bool,
    /// Output frames written by this segment (the largest frame number + 1).
    frames: i64,
    filtered: Vec<ff::frame::Video>,
}

/// Runs `seg` into `out` from output frame `offset`.
pub(super) fn run(
    seg: &Segment,
    g: Geometry,
    out: &mut Mp4Writer<'_>,
    offset: i64,
) -> Result<Span, EditError> {
    let shown = seg.video.display().to_string();
    let mut main = Opened::open(&seg.video, seg.role, false)?;
    let (index, time_base, params, rate, rotated) = {
        let s = video_stream(&main.input).ok_or_else(|| EditError::NoVideo {
            role: seg.role,
            path: shown.clone(),
        })?;
        let rate = [s.avg_frame_rate(), s.rate()]
            .into_iter()
            .find(|r| r.numerator() > 0 && r.denominator() > 0)
            .map_or(25.0, f64::from);
        (s.index(), s.time_base(), s.parameters(), rate, rotation(&s))
    };
    let mut ctx = ff::codec::context::Context::from_parameters(params)
        .map_err(libav(format!("{shown}: video decoder parameters")))?;
    ctx.set_threading(ff::codec::threading::Config::count(0));
    let decoder = ctx
        .decoder()
        .video()
        .map_err(libav(format!("{shown}: open the video decoder")))?;
    let mut video = VideoPath {
        index,
        decoder,
        time_base,
        frame_secs: 1.0 / rate.clamp(1.0, 1000.0),
        rotation: rotated,
        graph: None,
        last_end: 0.0,
        last_at: 0.0,
        done: false,
        frames: 0,
        filtered: Vec::new(),
    };

    let (mut separate, mut audio) = match &seg.audio {
        AudioFrom::Own => {
            let a = main
                .input
                .streams()
                .best(ff::media::Type::Audio)
                .map(|s| AudioSource::new(&s, main.origin, &shown))
                .transpose()?;
            (None, a)
        }
        AudioFrom::Separate(path) => {
            let other = Opened::open(path, "separate audio", true)?;
            let s = other
                .input
                .streams()
                .best(ff::media::Type::Audio)
                .ok_or_else(|| EditError::NoAudio {
                    path: path.display().to_string(),
                })?;
            let a = AudioSource::new(&s, other.origin, &path.display().to_string())?;
            (Some(other), Some(a))
        }
    };
    let has_audio = audio.is_some() && out.has_audio();
    main.seek_before(seg.start, index)?;
    if let (Some(o), Some(a)) = (separate.as_mut(), audio.as_ref()) {
        o.seek_before(seg.start, a.index)?;
    }

    // Output sample positions of the segment's start and end, and the file's sample at its start.
    let lo = g.samples_at(offset);
    let hi = seg
        .end
        .map(|e| lo + ((e - seg.start) * SAMPLE_RATE as f64).round() as i64);
    let skip = (seg.start * SAMPLE_RATE as f64).round() as i64;
    out.set_silent(!has_audio);
    let mut audio_done = !has_audio;
    let mut audio_at = 0.0f64;
    let mut samples: Vec<Samples> = Vec::new();
    let mut packet = ff::Packet::empty();
    let mut frame = ff::frame::Video::empty();
    let place = |out: &mut Mp4Writer<'_>, samples: &mut Vec<Samples>, audio_at: &mut f64| {
        let mut done = false;
        for s in samples.drain(..) {
            let at = lo + s.at - skip;
            out.audio(at, [&s.planes[0], &s.planes[1]], lo, hi)?;
            *audio_at = (s.end() - skip) as f64 / SAMPLE_RATE as f64;
            done |= hi.is_some_and(|h| lo + s.end() - skip >= h);
        }
        Ok::<bool, EditError>(done)
    };

    while !(video.done && audio_done) {
        // Read the separate audio when it lags the video (or the video is over).
        let from_separate = separate.as_ref().is_some_and(|o| !o.ended())
            && !audio_done
            && (video.done || audio_at <= video.last_at);
        if from_separate {
            let Some(o) = separate.as_mut() else { break };
            let got = o.read(&mut packet);
            if let Some(a) = audio.as_mut() {
                match got {
                    Some(i) if i == a.index => a.push(Some(&packet), &mut samples)?,
                    Some(_) => {}
                    None => {
                        a.push(None, &mut samples)?;
                        audio_done = true;
                    }
                }
            }
            audio_done |= place(out, &mut samples, &mut audio_at)?;
            continue;
        }
        match main.read(&mut packet) {
            Some(i) if i == video.index => {
                if video.done {
                    continue;
                }
                if let Err(e) = video.decoder.send_packet(&packet) {
                    // A corrupt packet: skip it, as ffmpeg does, rather than failing the job.
                    tracing::debug!(error = %e, "skipping an undecodable video packet");
                    continue;
                }
                video.drain(seg, &mut frame, main.origin, g, out, offset)?;
            }
            Some(i) => {
                let own = separate.is_none() && !audio_done;
                if let Some(a) = audio.as_mut().filter(|a| own && a.index == i) {
                    a.push(Some(&packet), &mut samples)?;
                    audio_done |= place(out, &mut samples, &mut audio_at)?;
                }
            }
            None => {
                if !video.done {
                    let _ = video.decoder.send_eof();
                    video.drain(seg, &mut frame, main.origin, g, out, offset)?;
                    video.finish(seg, false, out, offset)?;
                }
                if separate.is_none() {
                    if let Some(a) = audio.as_mut().filter(|_| !audio_done) {
                        a.push(None, &mut samples)?;
                        place(out, &mut samples, &mut audio_at)?;
                    }
                    audio_done = true;
                }
                if separate.as_ref().is_none_or(Opened::ended) {
                    audio_done = true;
                }
            }
        }
    }
    if !video.done {
        video.finish(seg, false, out, offset)?;
    }
    let audio_frames = if has_audio {
        g.frames_covering((out.audio_cursor() - lo).max(0))
    } else {
        0
    };
    Ok(Span {
        frames: video.frames.max(audio_frames),
    })
}

impl VideoPath {
    /// Takes every frame the decoder has ready through the window and the graph.
    fn drain(
        &mut self,
        seg: &Segment,
        frame: &mut ff::frame::Video,
        origin: f64,
        g: Geometry,
        out: &mut Mp4Writer<'_>,
        offset: i64,
    ) -> Result<(), EditError> {
        while !self.done && self.decoder.receive_frame(frame).is_ok() {
            let at = match frame.timestamp().or(frame.pts()) {
                Some(ts) => ts as f64 * f64::from(self.time_base) - origin,
                None => seg.start + self.last_at + self.frame_secs,
            };
            if at < seg.start - EPSILON {
                continue;
            }
            if seg.end.is_some_and(|e| at >= e - EPSILON) {
                return self.finish(seg, true, out, offset);
            }
            let rel = at - seg.start;
            self.last_at = rel;
            let duration = frame.packet().duration;
            let secs = if duration > 0 {
                duration as f64 * f64::from(self.time_base)
            } else {
                self.frame_secs
            };
            self.last_end = self.last_end.max(rel + secs);
            if self.graph.is_none() {
                let spec = graph::spec(g, seg.fit, self.rotation, &seg.marks);
                tracing::debug!(segment = %seg.video.display(), filter = %spec, "segment graph");
                self.graph = Some(SegmentGraph::new(frame, self.time_base, &spec, &seg.marks)?);
            }
            frame.set_pts(Some(self.to_pts(rel)));
            if let Some(graph) = self.graph.as_mut() {
                graph.push(frame, &mut self.filtered)?;
            }
            self.write(out, offset)?;
        }
        Ok(())
    }

    /// Ends the segment's video (at the window's end when `at_window_end`, else after its last
    /// frame) and writes the frames still in the graph.
    fn finish(
        &mut self,
        seg: &Segment,
        at_window_end: bool,
        out: &mut Mp4Writer<'_>,
        offset: i64,
    ) -> Result<(), EditError> {
        if self.done {
            return Ok(());
        }
        self.done = true;
        let end = match seg.end {
            Some(e) if at_window_end => e - seg.start,
            Some(e) => self.last_end.min(e - seg.start),
            None => self.last_end,
        };
        let no_frames = || EditError::NoFrames {
            path: seg.video.display().to_string(),
            window: window(seg),
        };
        let pts = self.to_pts(end.max(0.0));
        let graph = self.graph.as_mut().ok_or_else(no_frames)?;
        graph.close(pts, &mut self.filtered)?;
        self.write(out, offset)?;
        if self.frames == 0 {
            return Err(no_frames());
        }
        Ok(())
    }

    fn to_pts(&self, secs: f64) -> i64 {
        (secs / f64::from(self.time_base)).round().max(0.0) as i64
    }

    /// Writes the graph's frames as output frames from `offset`.
    fn write(&mut self, out: &mut Mp4Writer<'_>, offset: i64) -> Result<(), EditError> {
        let tb = self
            .graph
            .as_ref()
            .map_or(ff::Rational(1, 1), |gr| gr.out_tb);
        let fps = f64::from(out.fps());
        for mut f in self.filtered.drain(..) {
            let n = match f.pts() {
                Some(p) => (p as f64 * f64::from(tb) * fps).round() as i64,
                None => self.frames,
            };
            out.video(&mut f, offset + n)?;
            self.frames = self.frames.max(n + 1);
        }
        Ok(())
    }
}

/// The window of a segment, for errors (empty for the whole file).
fn window(seg: &Segment) -> String {
    match (seg.start, seg.end) {
        (s, None) if s <= 0.0 => String::new(),
        (s, None) => format!(" from {s} s"),
        (s, Some(e)) => format!(" between {s} s and {e} s"),
    }
}
