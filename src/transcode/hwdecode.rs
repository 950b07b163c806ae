//! Hardware decoding through libavcodec's hwaccels: NVDEC (CUDA device) and VA-API (DRM render
//! node). The decoder gets a device context and a `get_format` callback that picks the device's
//! pixel format; decoded frames then live in GPU memory. Rungs encoded on the same device take
//! them there (scaled by `devscale`); for the others each frame is downloaded once (`NV12`, or
//! `P010` for 10-bit) for the software scalers and encoders. When the device cannot be opened the
//! caller decodes in software and records why; libavcodec itself falls back to software for a
//! stream the hwaccel cannot take (its `get_format` is asked again without the device format).

use ff::ffi;
use ffmpeg_next as ff;
use std::ffi::CString;

/// A hardware decode backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HwAccel {
    /// NVIDIA NVDEC through CUDA.
    Cuda,
    /// VA-API.
    Vaapi,
}

impl HwAccel {
    /// From its name in a plan (`cuda`, `vaapi`).
    pub fn parse(name: &str) -> Option<HwAccel> {
        match name {
            "cuda" => Some(HwAccel::Cuda),
            "vaapi" => Some(HwAccel::Vaapi),
            _ => None,
        }
    }

    fn device_type(self) -> ffi::AVHWDeviceType {
        match self {
            HwAccel::Cuda => ffi::AVHWDeviceType::AV_HWDEVICE_TYPE_CUDA,
            HwAccel::Vaapi => ffi::AVHWDeviceType::AV_HWDEVICE_TYPE_VAAPI,
        }
    }
}

/// An open hardware device (a reference to libav's device context).
pub struct HwDevice {
    accel: HwAccel,
    device: *mut ffi::AVBufferRef,
}

// SAFETY: an AVBufferRef to a hw device context is reference-counted and thread-safe in libav;
// we only hand new references to codec contexts.
unsafe impl Send for HwDevice {}

unsafe extern "C" fn pick_cuda(
    _ctx: *mut ffi::AVCodecContext,
    formats: *const ffi::AVPixelFormat,
) -> ffi::AVPixelFormat {
    // SAFETY: libavcodec passes a list terminated by AV_PIX_FMT_NONE.
    unsafe { pick(formats, ffi::AVPixelFormat::AV_PIX_FMT_CUDA) }
}

unsafe extern "C" fn pick_vaapi(
    _ctx: *mut ffi::AVCodecContext,
    formats: *const ffi::AVPixelFormat,
) -> ffi::AVPixelFormat {
    // SAFETY: as above.
    unsafe { pick(formats, ffi::AVPixelFormat::AV_PIX_FMT_VAAPI) }
}

/// The device format when offered, else the first (software) format.
///
/// # Safety
/// `formats` must be a list terminated by `AV_PIX_FMT_NONE`.
unsafe fn pick(formats: *const ffi::AVPixelFormat, want: ffi::AVPixelFormat) -> ffi::AVPixelFormat {
    let mut first = ffi::AVPixelFormat::AV_PIX_FMT_NONE;
    let mut p = formats;
    // SAFETY: we stop at the terminator.
    unsafe {
        while *p != ffi::AVPixelFormat::AV_PIX_FMT_NONE {
            if *p == want {
                return want;
            }
            if first == ffi::AVPixelFormat::AV_PIX_FMT_NONE && !is_hw_format(*p) {
                first = *p;
            }
            p = p.add(1);
        }
    }
    first
}

fn is_hw_format(f: ffi::AVPixelFormat) -> bool {
    // SAFETY: av_pix_fmt_desc_get returns a static descriptor or null.
    let desc = unsafe { ffi::av_pix_fmt_desc_get(f) };
    // SAFETY: non-null descriptors are valid statics.
    !desc.is_null() && unsafe { (*desc).flags } & ffi::AV_PIX_FMT_FLAG_HWACCEL as u64 != 0
}

/// Why a hardware device or its frames context could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum HwError {
    /// The device name holds a NUL byte.
    #[error("{0}")]
    DeviceName(#[from] std::ffi::NulError),
    /// The device could not be opened.
    #[error("{accel:?} device {device}: {source}")]
    Open {
        /// The backend.
        accel: HwAccel,
        /// The device asked for (`(default)` when none was).
        device: String,
        /// FFmpeg's error.
        source: ff::Error,
    },
    /// FFmpeg could not allocate a frames context.
    #[error("{0:?}: cannot allocate a frames context")]
    FramesAlloc(HwAccel),
    /// The frames context could not be initialized for this size.
    #[error("{accel:?} frames context {width}x{height}: {source}")]
    FramesInit {
        /// The backend.
        accel: HwAccel,
        /// Frame width.
        width: u32,
        /// Frame height.
        height: u32,
        /// FFmpeg's error.
        source: ff::Error,
    },
}

impl HwDevice {
    /// Opens `accel` on `device` (a CUDA index like `0`, a render node path; `None` = default).
    pub fn open(accel: HwAccel, device: Option<&str>) -> Result<HwDevice, HwError> {
        let name = device.map(CString::new).transpose()?;
        let mut buf: *mut ffi::AVBufferRef = std::ptr::null_mut();
        // SAFETY: `buf` receives a new reference on success; the name outlives the call.
        let ret = unsafe {
            ffi::av_hwdevice_ctx_create(
                &mut buf,
                accel.device_type(),
                name.as_ref().map_or(std::ptr::null(), |n| n.as_ptr()),
                std::ptr::null_mut(),
                0,
            )
        };
        if ret < 0 || buf.is_null() {
            return Err(HwError::Open {
                accel,
                device: device.unwrap_or("(default)").to_string(),
                source: ff::Error::from(ret),
            });
        }
        Ok(HwDevice { accel, device: buf })
    }

    /// The backend.
    pub fn accel(&self) -> HwAccel {
        self.accel
    }

    /// Another reference to the same device (for a rung thread's encoder and filters).
    pub fn share(&self) -> Option<HwDevice> {
        // SAFETY: `self.device` is a valid reference; av_buffer_ref returns a new one or null.
        let device = unsafe { ffi::av_buffer_ref(self.device) };
        (!device.is_null()).then_some(HwDevice {
            accel: self.accel,
            device,
        })
    }

    /// Makes the (not yet opened) decoder `ctx` decode on this device. `extra_frames` is how many
    /// decoded frames the caller may hold on the device at once beyond the decoder's own needs.
    /// Only VA-API needs it (its decoder outputs its own fixed pool of surfaces); NVDEC copies
    /// each picture into a CUDA pool that grows as needed, and its decode surfaces are capped at
    /// 32, so adding to them makes the hwaccel fail and libavcodec decode in software.
    pub fn attach(&self, ctx: &mut ff::codec::context::Context, extra_frames: usize) {
        // SAFETY: `ctx` is a valid, unopened codec context that we own; it takes its own
        // reference to the device and keeps the callback (a plain function) for its lifetime.
        unsafe {
            let c = ctx.as_mut_ptr();
            if self.accel == HwAccel::Vaapi {
                (*c).extra_hw_frames = i32::try_from(extra_frames).unwrap_or(i32::MAX);
            }
            (*c).hw_device_ctx = ffi::av_buffer_ref(self.device);
            (*c).get_format = Some(match self.accel {
                HwAccel::Cuda => pick_cuda,
                HwAccel::Vaapi => pick_vaapi,
            });
        }
    }
}

impl HwDevice {
    /// The device's frame format (`cuda`, `vaapi`).
    pub fn pixel_format(&self) -> ffi::AVPixelFormat {
        match self.accel {
            HwAccel::Cuda => ffi::AVPixelFormat::AV_PIX_FMT_CUDA,
            HwAccel::Vaapi => ffi::AVPixelFormat::AV_PIX_FMT_VAAPI,
        }
    }

    /// Whether `encoder` (an FFmpeg encoder name) encodes on this kind of device, taking its
    /// frames there.
    pub fn encodes(&self, encoder: &str) -> bool {
        match self.accel {
            HwAccel::Cuda => encoder.ends_with("_nvenc"),
            HwAccel::Vaapi => encoder.ends_with("_vaapi"),
        }
    }

    /// Makes the (not yet opened) encoder `ctx` take `width`×`height` NV12 frames on this
    /// device: its pixel format becomes the device's and it gets a frames context of that size
    /// (NVENC and the VA-API encoders need one to take device frames).
    pub fn attach_encoder(
        &self,
        ctx: &mut ff::codec::context::Context,
        width: u32,
        height: u32,
    ) -> Result<(), HwError> {
        // SAFETY: av_hwframe_ctx_alloc returns a new frames-context reference on our device (or
        // null); we fill in its parameters before av_hwframe_ctx_init, and hand the reference to
        // the codec context, which owns it from then on (freed with the context). On failure we
        // release it ourselves.
        unsafe {
            let mut frames = ffi::av_hwframe_ctx_alloc(self.device);
            if frames.is_null() {
                return Err(HwError::FramesAlloc(self.accel));
            }
            let fc = (*frames).data as *mut ffi::AVHWFramesContext;
            (*fc).format = self.pixel_format();
            (*fc).sw_format = ffi::AVPixelFormat::AV_PIX_FMT_NV12;
            (*fc).width = width as i32;
            (*fc).height = height as i32;
            let ret = ffi::av_hwframe_ctx_init(frames);
            if ret < 0 {
                ffi::av_buffer_unref(&mut frames);
                return Err(HwError::FramesInit {
                    accel: self.accel,
                    width,
                    height,
                    source: ff::Error::from(ret),
                });
            }
            let c = ctx.as_mut_ptr();
            (*c).pix_fmt = self.pixel_format();
            (*c).sw_pix_fmt = ffi::AVPixelFormat::AV_PIX_FMT_NV12;
            ffi::av_buffer_unref(&mut (*c).hw_frames_ctx);
            (*c).hw_frames_ctx = frames;
        }
        Ok(())
    }
}

/// Whether `frame` is in GPU memory.
pub fn on_device(frame: &ff::frame::Video) -> bool {
    // SAFETY: `frame` wraps a valid AVFrame.
    unsafe { !(*frame.as_ptr()).hw_frames_ctx.is_null() }
}

impl Drop for HwDevice {
    fn drop(&mut self) {
        // SAFETY: we own one reference, released once.
        unsafe { ffi::av_buffer_unref(&mut self.device) };
    }
}

/// A frame in GPU memory copied to system memory; `None` when `frame` already is there.
pub fn download(frame: &ff::frame::Video) -> Result<Option<ff::frame::Video>, ff::Error> {
    if !on_device(frame) {
        return Ok(None);
    }
    let mut out = ff::frame::Video::empty();
    // SAFETY: both frames are valid; transfer allocates `out`'s buffers in the device's
    // download format, copy_props carries pts and the rest.
    unsafe {
        let ret = ffi::av_hwframe_transfer_data(out.as_mut_ptr(), frame.as_ptr(), 0);
        if ret < 0 {
            return Err(ff::Error::from(ret));
        }
        let ret = ffi::av_frame_copy_props(out.as_mut_ptr(), frame.as_ptr());
        if ret < 0 {
            return Err(ff::Error::from(ret));
        }
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_missing_devices() {
        assert_eq!(HwAccel::parse("cuda"), Some(HwAccel::Cuda));
        assert_eq!(HwAccel::parse("vaapi"), Some(HwAccel::Vaapi));
        assert_eq!(HwAccel::parse("qsv"), None);
        // A render node that does not exist cannot be opened; the error names it.
        let err = HwDevice::open(HwAccel::Vaapi, Some("/dev/dri/renderD199"))
            .err()
            .expect("no such device")
            .to_string();
        assert!(err.contains("renderD199"), "{err}");
        // A software frame needs no download.
        let f = ff::frame::Video::new(ff::format::Pixel::YUV420P, 16, 16);
        assert!(download(&f).unwrap().is_none());
    }
}
