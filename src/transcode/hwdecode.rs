//! Hardware decoding through libavcodec's hwaccels: NVDEC (CUDA device) and VA-API (DRM render
//! node). The decoder gets a device context and a `get_format` callback that picks the device's
//! pixel format; decoded frames then live in GPU memory and are downloaded (`NV12`, or `P010`
//! for 10-bit) for the software scalers and encoders. When the device cannot be opened the
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

impl HwDevice {
    /// Opens `accel` on `device` (a CUDA index like `0`, a render node path; `None` = default).
    pub fn open(accel: HwAccel, device: Option<&str>) -> Result<HwDevice, String> {
        let name = device
            .map(CString::new)
            .transpose()
            .map_err(|e| e.to_string())?;
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
            return Err(format!(
                "{accel:?} device {}: {}",
                device.unwrap_or("(default)"),
                ff::Error::from(ret)
            ));
        }
        Ok(HwDevice { accel, device: buf })
    }

    /// Makes the (not yet opened) decoder `ctx` decode on this device.
    pub fn attach(&self, ctx: &mut ff::codec::context::Context) {
        // SAFETY: `ctx` is a valid, unopened codec context that we own; it takes its own
        // reference to the device and keeps the callback (a plain function) for its lifetime.
        unsafe {
            let c = ctx.as_mut_ptr();
            (*c).hw_device_ctx = ffi::av_buffer_ref(self.device);
            (*c).get_format = Some(match self.accel {
                HwAccel::Cuda => pick_cuda,
                HwAccel::Vaapi => pick_vaapi,
            });
        }
    }
}

impl Drop for HwDevice {
    fn drop(&mut self) {
        // SAFETY: we own one reference, released once.
        unsafe { ffi::av_buffer_unref(&mut self.device) };
    }
}

/// A frame in GPU memory copied to system memory; `None` when `frame` already is there.
pub fn download(frame: &ff::frame::Video) -> Result<Option<ff::frame::Video>, ff::Error> {
    // SAFETY: `frame` wraps a valid AVFrame.
    let hw = unsafe { !(*frame.as_ptr()).hw_frames_ctx.is_null() };
    if !hw {
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
            .expect("no such device");
        assert!(err.contains("renderD199"), "{err}");
        // A software frame needs no download.
        let f = ff::frame::Video::new(ff::format::Pixel::YUV420P, 16, 16);
        assert!(download(&f).unwrap().is_none());
    }
}
