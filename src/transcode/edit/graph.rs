//! The libavfilter graph of one segment of an edit: the decoded video brought to the output's
//! size (scaled, or for an intro/outro fitted and padded as PeerTube does), to its frame rate
//! (`fps`, from the segment's start), watermarks overlaid (each picture pushed once, then
//! repeated by `overlay`), out as yuv420p.

use super::encode::Geometry;
use super::EditError;
use ff::ffi;
use ffmpeg_next as ff;

/// A watermark placed on the output: the picture (alpha kept) and where it goes.
#[derive(Clone)]
pub(super) struct PlacedMark {
    pub picture: ff::frame::Video,
    /// Size of the scaled watermark.
    pub width: u32,
    pub height: u32,
    /// Its top-left corner on the output.
    pub x: i64,
    pub y: i64,
}

/// How a segment's frames become output frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fit {
    /// Scaled to the output size (the main video: already that size but for odd dimensions).
    Scale,
    /// Scaled inside the output size keeping its aspect, then padded with black (intro, outro).
    Pad,
    /// Like [`Fit::Scale`], without frame-rate conversion (a still picture).
    Still,
}

/// The filter spec of a segment (labels: `in`, `wm0`…, `out`), its frames first turned
/// `rotation` degrees clockwise.
pub(super) fn spec(g: Geometry, fit: Fit, rotation: u32, marks: &[PlacedMark]) -> String {
    let (w, h) = (g.width, g.height);
    let turn = match rotation {
        90 => "transpose=clock,",
        180 => "hflip,vflip,",
        270 => "transpose=cclock,",
        _ => "",
    };
    let base = match fit {
        Fit::Scale | Fit::Still => format!("scale=w={w}:h={h},format=yuv420p,setsar=1"),
        Fit::Pad => format!(
            "scale=w={w}:h={h}:force_original_aspect_ratio=decrease:force_divisible_by=2,\
             format=yuv420p,pad=w={w}:h={h}:x=(ow-iw)/2:y=(oh-ih)/2:color=black,setsar=1"
        ),
    };
    let mut s = match fit {
        Fit::Still => format!("[in]{turn}{base}[v0]"),
        _ => format!("[in]{turn}{base},fps=fps={}:start_time=0[v0]", g.fps),
    };
    for (i, m) in marks.iter().enumerate() {
        s.push_str(&format!(
            ";[wm{i}]scale=w={}:h={},format=rgba[m{i}];[v{i}][m{i}]overlay=x={}:y={}:format=auto[v{}]",
            m.width,
            m.height,
            m.x,
            m.y,
            i + 1
        ));
    }
    s.push_str(&format!(";[v{}]format=yuv420p[out]", marks.len()));
    s
}

/// The frame properties a graph was configured for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct InputProps {
    format: ff::format::Pixel,
    width: u32,
    height: u32,
}

impl InputProps {
    fn of(frame: &ff::frame::Video) -> InputProps {
        InputProps {
            format: frame.format(),
            width: frame.width(),
            height: frame.height(),
        }
    }
}

/// A configured segment graph.
pub(super) struct SegmentGraph {
    graph: ff::filter::Graph,
    spec: String,
    input: InputProps,
    /// Converts frames whose size or format changed mid-stream back to `input`.
    fixup: Option<(InputProps, ff::software::scaling::Context)>,
    /// The time base of the frames it gives.
    pub out_tb: ff::Rational,
}

impl SegmentGraph {
    /// Builds `spec` for frames like `first` in `time_base`, and pushes each watermark picture
    /// (then the end of its input) into `wm0`, `wm1`, ….
    pub fn new(
        first: &ff::frame::Video,
        time_base: ff::Rational,
        spec: &str,
        marks: &[PlacedMark],
    ) -> Result<SegmentGraph, EditError> {
        let fail = |step: &'static str| {
            let spec = spec.to_string();
            move |source: ff::Error| EditError::Filter { spec, step, source }
        };
        let filter = |name: &'static str| {
            ff::filter::find(name).ok_or(EditError::Filter {
                spec: spec.to_string(),
                step: name,
                source: ff::Error::FilterNotFound,
            })
        };
        let mut graph = ff::filter::Graph::new();
        let buffer = filter("buffer")?;
        graph
            .add(&buffer, "in", &buffer_args(first, time_base))
            .map_err(fail("buffer source"))?;
        for (i, m) in marks.iter().enumerate() {
            graph
                .add(
                    &buffer,
                    &format!("wm{i}"),
                    &buffer_args(&m.picture, ff::Rational(1, 1)),
                )
                .map_err(fail("watermark source"))?;
        }
        graph
            .add(&filter("buffersink")?, "out", "")
            .map_err(fail("buffer sink"))?;
        let mut parser = graph.output("in", 0).map_err(fail("graph inputs"))?;
        for i in 0..marks.len() {
            parser = parser
                .output(&format!("wm{i}"), 0)
                .map_err(fail("graph inputs"))?;
        }
        parser
            .input("out", 0)
            .and_then(|p| p.parse(spec))
            .map_err(fail("parse"))?;
        graph.validate().map_err(fail("configure"))?;
        for (i, m) in marks.iter().enumerate() {
            let mut picture = m.picture.clone();
            picture.set_pts(Some(0));
            let mut source = graph
                .get(&format!("wm{i}"))
                .ok_or(ff::Error::FilterNotFound)
                .map_err(fail("watermark source"))?;
            let mut source = source.source();
            source.add(&picture).map_err(fail("push the watermark"))?;
            source.flush().map_err(fail("end the watermark"))?;
        }
        let out_tb = graph
            .get("out")
            .map(|mut s| s.sink().time_base())
            .unwrap_or(time_base);
        Ok(SegmentGraph {
            graph,
            spec: spec.to_string(),
            input: InputProps::of(first),
            fixup: None,
            out_tb,
        })
    }

    /// Feeds `frame` (its references move into the graph) and appends the frames ready to `out`.
    pub fn push(
        &mut self,
        frame: &mut ff::frame::Video,
        out: &mut Vec<ff::frame::Video>,
    ) -> Result<(), EditError> {
        let props = InputProps::of(frame);
        if props != self.input {
            let mut converted = self.convert(frame, props)?;
            return self.add(Some(&mut converted), None, out);
        }
        self.add(Some(frame), None, out)
    }

    /// Ends the input at `pts` (the segment's end, in the input time base) and appends the
    /// frames that come out to `out`.
    pub fn close(&mut self, pts: i64, out: &mut Vec<ff::frame::Video>) -> Result<(), EditError> {
        self.add(None, Some(pts), out)
    }

    fn add(
        &mut self,
        frame: Option<&mut ff::frame::Video>,
        close_at: Option<i64>,
        out: &mut Vec<ff::frame::Video>,
    ) -> Result<(), EditError> {
        let spec = self.spec.clone();
        let run = |step: &'static str| {
            let spec = spec.clone();
            move |source: ff::Error| EditError::Filter { spec, step, source }
        };
        {
            let mut input = self
                .graph
                .get("in")
                .ok_or(ff::Error::FilterNotFound)
                .map_err(run("source"))?;
            let mut source = input.source();
            match (frame, close_at) {
                (Some(f), _) => source.add(f).map_err(run("filter a frame"))?,
                (None, Some(pts)) => source.close(pts).map_err(run("end the input"))?,
                (None, None) => {}
            }
        }
        let mut sink = self
            .graph
            .get("out")
            .ok_or(ff::Error::FilterNotFound)
            .map_err(run("sink"))?;
        loop {
            let mut f = ff::frame::Video::empty();
            match sink.sink().frame(&mut f) {
                Ok(()) => out.push(f),
                Err(ff::Error::Other {
                    errno: ff::error::EAGAIN,
                })
                | Err(ff::Error::Eof) => return Ok(()),
                Err(e) => return Err(run("take a frame")(e)),
            }
        }
    }

    /// A copy of `frame` in the format and size the graph was built for (a stream whose
    /// resolution changes mid-way keeps going).
    fn convert(
        &mut self,
        frame: &ff::frame::Video,
        props: InputProps,
    ) -> Result<ff::frame::Video, EditError> {
        let want = self.input;
        if self.fixup.as_ref().is_none_or(|(p, _)| *p != props) {
            let ctx = ff::software::scaling::Context::get(
                props.format,
                props.width,
                props.height,
                want.format,
                want.width,
                want.height,
                ff::software::scaling::Flags::BICUBIC,
            )
            .map_err(|source| EditError::Libav {
                step: format!(
                    "convert a {}x{} frame to the stream's {}x{}",
                    props.width, props.height, want.width, want.height
                ),
                source,
            })?;
            tracing::warn!(
                from_width = props.width,
                from_height = props.height,
                width = want.width,
                height = want.height,
                "the video's size or format changed mid-stream; converting back"
            );
            self.fixup = Some((props, ctx));
        }
        let mut converted = ff::frame::Video::new(want.format, want.width, want.height);
        if let Some((_, ctx)) = self.fixup.as_mut() {
            ctx.run(frame, &mut converted)
                .map_err(|source| EditError::Libav {
                    step: "convert a frame".into(),
                    source,
                })?;
        }
        converted.set_pts(frame.pts());
        Ok(converted)
    }
}

/// The `buffer` source's arguments for frames like `frame` in `time_base`.
fn buffer_args(frame: &ff::frame::Video, time_base: ff::Rational) -> String {
    // SAFETY: `frame` wraps a valid AVFrame; we read its pixel format and sample aspect ratio.
    let (format, sar) = unsafe {
        let f = frame.as_ptr();
        ((*f).format, (*f).sample_aspect_ratio)
    };
    let sar = if sar.num > 0 && sar.den > 0 {
        sar
    } else {
        ffi::AVRational { num: 1, den: 1 }
    };
    format!(
        "video_size={}x{}:pix_fmt={format}:time_base={}/{}:pixel_aspect={}/{}",
        frame.width(),
        frame.height(),
        time_base.numerator(),
        time_base.denominator().max(1),
        sar.num,
        sar.den
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_fit_pad_and_overlay() {
        let g = Geometry {
            width: 320,
            height: 240,
            fps: 25,
        };
        assert_eq!(
            spec(g, Fit::Scale, 0, &[]),
            "[in]scale=w=320:h=240,format=yuv420p,setsar=1,fps=fps=25:start_time=0[v0];\
             [v0]format=yuv420p[out]"
        );
        let pad = spec(g, Fit::Pad, 0, &[]);
        assert!(
            pad.contains("force_original_aspect_ratio=decrease"),
            "{pad}"
        );
        assert!(
            pad.contains("pad=w=320:h=240:x=(ow-iw)/2:y=(oh-ih)/2"),
            "{pad}"
        );
        let mark = PlacedMark {
            picture: ff::frame::Video::empty(),
            width: 64,
            height: 48,
            x: 240,
            y: 12,
        };
        let two = spec(g, Fit::Scale, 0, &[mark.clone(), mark]);
        assert!(
            two.contains(";[wm0]scale=w=64:h=48,format=rgba[m0];[v0][m0]overlay=x=240:y=12"),
            "{two}"
        );
        assert!(two.contains("[v1][m1]overlay"), "{two}");
        assert!(two.ends_with(";[v2]format=yuv420p[out]"), "{two}");
        assert!(!spec(g, Fit::Still, 0, &[]).contains("fps="));
        assert!(spec(g, Fit::Pad, 90, &[]).starts_with("[in]transpose=clock,scale="));
        assert!(spec(g, Fit::Scale, 270, &[]).starts_with("[in]transpose=cclock,scale="));
    }
}
