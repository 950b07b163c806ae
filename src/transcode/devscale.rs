//! Scaling a rung on the device the source was decoded on: a libavfilter graph
//! `buffer → scale_cuda | scale_vaapi [→ hwdownload] → buffersink` fed with the decoder's device
//! frames. A rung encoded on that device (NVENC on CUDA frames, VA-API on VA surfaces) gets its
//! frames without them ever leaving the GPU; with `transcode.device_scaling = "always"` a rung
//! on libx264 downloads its scaled frames instead of the full-size ones.
//!
//! The same graph takes system-memory frames and software filters (`scale`), which is how it is
//! tested on machines without a GPU.

use super::hwdecode::HwAccel;
use ff::ffi;
use ffmpeg_next as ff;

/// The filter chain that scales device frames of `accel` to `width`×`height` NV12, downloading
/// the result when `download` (for a CPU encoder).
pub fn chain(accel: HwAccel, width: u32, height: u32, download: bool) -> String {
    let scale = match accel {
        // scale_cuda's bilinear widens its taps with the downscale ratio; its bicubic and
        // lanczos keep 4 taps and alias on a ladder's 2-3× reductions (measured on an H200:
        // docs/benchmarks.md).
        HwAccel::Cuda => {
            format!("scale_cuda=w={width}:h={height}:format=nv12:interp_algo=bilinear")
        }
        HwAccel::Vaapi => format!("scale_vaapi=w={width}:h={height}:format=nv12"),
    };
    if download {
        format!("{scale},hwdownload,format=nv12")
    } else {
        scale
    }
}

/// Why a filter graph could not be built or run; each names the graph's spec.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// A step of building the graph failed.
    #[error("{spec}: {step}: {source}")]
    Step {
        /// The graph.
        spec: String,
        /// The step (`buffer source`, `parse`, `configure`, …).
        step: &'static str,
        /// FFmpeg's error.
        source: ff::Error,
    },
    /// FFmpeg lacks a filter the graph needs.
    #[error("{spec}: no {filter} filter")]
    NoFilter {
        /// The graph.
        spec: String,
        /// The filter.
        filter: &'static str,
    },
    /// The graph has no node of that name.
    #[error("{spec}: no {node}")]
    NoNode {
        /// The graph.
        spec: String,
        /// `source` or `sink`.
        node: &'static str,
    },
    /// Allocation failed.
    #[error("{spec}: out of memory")]
    OutOfMemory {
        /// The graph.
        spec: String,
    },
    /// Filtering a frame failed.
    #[error("{spec}: {source}")]
    Run {
        /// The graph.
        spec: String,
        /// FFmpeg's error.
        source: ff::Error,
    },
}

/// A one-input, one-output filter graph, set up from its first frame.
pub struct FrameFilter {
    graph: ff::filter::Graph,
    /// What the graph does, for errors.
    spec: String,
}

impl FrameFilter {
    /// Builds `spec` for frames like `first` (format, size, device frames context) in
    /// `time_base`.
    pub fn new(
        first: &ff::frame::Video,
        time_base: ff::Rational,
        spec: &str,
    ) -> Result<FrameFilter, FilterError> {
        let fail = |step: &'static str, source: ff::Error| FilterError::Step {
            spec: spec.to_string(),
            step,
            source,
        };
        let no_filter = |filter: &'static str| FilterError::NoFilter {
            spec: spec.to_string(),
            filter,
        };
        let mut graph = ff::filter::Graph::new();
        // SAFETY: `first` wraps a valid AVFrame; we read its format and sample aspect ratio.
        let (format, sar) = unsafe {
            let f = first.as_ptr();
            ((*f).format, (*f).sample_aspect_ratio)
        };
        let sar = if sar.num > 0 && sar.den > 0 {
            sar
        } else {
            ffi::AVRational { num: 1, den: 1 }
        };
        let args = format!(
            "video_size={}x{}:pix_fmt={format}:time_base={}/{}:pixel_aspect={}/{}",
            first.width(),
            first.height(),
            time_base.numerator(),
            time_base.denominator().max(1),
            sar.num,
            sar.den
        );
        let buffer = ff::filter::find("buffer").ok_or_else(|| no_filter("buffer"))?;
        let sink = ff::filter::find("buffersink").ok_or_else(|| no_filter("buffersink"))?;
        let mut source = graph
            .add(&buffer, "in", &args)
            .map_err(|e| fail("buffer source", e))?;
        // SAFETY: `first` is valid; a device frame carries its frames context, which the buffer
        // source must know before the graph is configured so the GPU filter finds its device.
        // av_buffersrc_parameters_set takes its own reference; we free only the parameters.
        unsafe {
            let frames = (*first.as_ptr()).hw_frames_ctx;
            if !frames.is_null() {
                let par = ffi::av_buffersrc_parameters_alloc();
                if par.is_null() {
                    return Err(FilterError::OutOfMemory {
                        spec: spec.to_string(),
                    });
                }
                (*par).hw_frames_ctx = frames;
                let ret = ffi::av_buffersrc_parameters_set(source.as_mut_ptr(), par);
                ffi::av_free(par.cast());
                if ret < 0 {
                    return Err(fail("device frames", ff::Error::from(ret)));
                }
            }
        }
        graph
            .add(&sink, "out", "")
            .map_err(|e| fail("buffer sink", e))?;
        graph
            .output("in", 0)
            .and_then(|p| p.input("out", 0))
            .and_then(|p| p.parse(spec))
            .map_err(|e| fail("parse", e))?;
        graph.validate().map_err(|e| fail("configure", e))?;
        Ok(FrameFilter {
            graph,
            spec: spec.to_string(),
        })
    }

    /// Feeds `frame` (its references move into the graph) and appends every frame the graph
    /// has ready to `out`.
    pub fn run(
        &mut self,
        frame: &mut ff::frame::Video,
        out: &mut Vec<ff::frame::Video>,
    ) -> Result<(), FilterError> {
        let spec = &self.spec;
        let no_node = |node: &'static str| FilterError::NoNode {
            spec: spec.clone(),
            node,
        };
        let run = |source: ff::Error| FilterError::Run {
            spec: spec.clone(),
            source,
        };
        self.graph
            .get("in")
            .ok_or_else(|| no_node("source"))?
            .source()
            .add(frame)
            .map_err(run)?;
        let mut sink = self.graph.get("out").ok_or_else(|| no_node("sink"))?;
        loop {
            let mut f = ff::frame::Video::empty();
            match sink.sink().frame(&mut f) {
                Ok(()) => out.push(f),
                Err(ff::Error::Other {
                    errno: ff::error::EAGAIN,
                })
                | Err(ff::Error::Eof) => return Ok(()),
                Err(e) => return Err(run(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_name_the_device_scaler() {
        assert_eq!(
            chain(HwAccel::Cuda, 1280, 720, false),
            "scale_cuda=w=1280:h=720:format=nv12:interp_algo=bilinear"
        );
        assert_eq!(
            chain(HwAccel::Vaapi, 640, 360, true),
            "scale_vaapi=w=640:h=360:format=nv12,hwdownload,format=nv12"
        );
    }

    #[test]
    fn scales_system_frames_through_the_same_graph() {
        super::super::probe::init_libav();
        let mut first = ff::frame::Video::new(ff::format::Pixel::YUV420P, 320, 240);
        let mut filter =
            FrameFilter::new(&first, ff::Rational(1, 30), "scale=w=160:h=120,format=nv12")
                .expect("graph");
        let mut out = Vec::new();
        for pts in 0..3 {
            let mut f = if pts == 0 {
                std::mem::replace(&mut first, ff::frame::Video::empty())
            } else {
                ff::frame::Video::new(ff::format::Pixel::YUV420P, 320, 240)
            };
            f.set_pts(Some(pts));
            filter.run(&mut f, &mut out).expect("filter");
        }
        assert_eq!(out.len(), 3, "one frame out per frame in");
        for f in &out {
            assert_eq!((f.width(), f.height()), (160, 120));
            assert_eq!(f.format(), ff::format::Pixel::NV12);
        }
        // A device scaler on system frames is refused when the graph is built, with its name.
        let f = ff::frame::Video::new(ff::format::Pixel::YUV420P, 320, 240);
        let err = FrameFilter::new(
            &f,
            ff::Rational(1, 30),
            &chain(HwAccel::Cuda, 160, 120, true),
        )
        .err()
        .expect("no device frames")
        .to_string();
        assert!(err.contains("scale_cuda"), "{err}");
    }
}
