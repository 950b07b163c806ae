//! The FFI edge to NVML (`libnvidia-ml`), loaded at run time: the only module with `unsafe`.
//!
//! Signatures follow `nvml.h`: every function returns `nvmlReturn_t` (a C enum, so a C `int`,
//! 0 = success), `nvmlDevice_t` is an opaque pointer, and C enums passed by value are `int`s.
//! Handles borrow the loaded library, so none outlives `nvmlShutdown` or the `dlclose`.

mod ffi;

use std::ffi::{c_char, c_int, c_uint, CStr};

use libloading::Library;

use crate::error::HwError;
use ffi::*;

/// Video engines on the whole GPU, from the MIG profiles (MIG-capable GPUs only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EngineCounts {
    /// NVENC engines.
    pub(crate) encoders: u32,
    /// NVDEC engines.
    pub(crate) decoders: u32,
}

/// `nvmlEncoderType_t`: the codec an encoder-capacity query is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EncoderQuery {
    /// `NVML_ENCODER_QUERY_H264`.
    H264 = 0,
    /// `NVML_ENCODER_QUERY_HEVC`.
    Hevc = 1,
    /// `NVML_ENCODER_QUERY_AV1` (drivers from 2022 on).
    Av1 = 2,
}

/// What `nvmlDeviceGetEncoderStats` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EncoderStats {
    pub(crate) session_count: u32,
    pub(crate) average_fps: u32,
    pub(crate) average_latency_us: u32,
}

/// PCI identity from `nvmlDeviceGetPciInfo_v3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pci {
    /// `"00000000:19:00.0"`.
    pub(crate) bus_id: String,
    /// The 16-bit PCI device id.
    pub(crate) device_id: u16,
}

/// A loaded and initialised NVML; `nvmlShutdown` runs on drop.
pub(crate) struct Nvml {
    fns: Functions,
    // Dropped after `Drop::drop` has called nvmlShutdown: the function pointers stay valid.
    _lib: Library,
}

/// Resolves `name` in `lib` and copies the function pointer out.
///
/// # Safety
/// `T` must be the exact C signature of the symbol `name`, and the pointer must not be called
/// after `lib` is unloaded.
unsafe fn symbol<T: Copy>(lib: &Library, name: &'static str) -> Option<T> {
    let mut bytes = Vec::with_capacity(name.len() + 1);
    bytes.extend_from_slice(name.as_bytes());
    bytes.push(0);
    // SAFETY: the caller guarantees `T` matches the C declaration of `name`.
    unsafe { lib.get::<T>(&bytes).ok().map(|s| *s) }
}

fn required<T>(f: Option<T>, symbol: &'static str) -> Result<T, HwError> {
    f.ok_or(HwError::NvmlSymbol { symbol })
}

/// Turns a NUL-terminated C buffer into a `String`, tolerating a missing terminator.
fn buffer_to_string(buf: &[u8]) -> String {
    match CStr::from_bytes_until_nul(buf) {
        Ok(s) => s.to_string_lossy().trim().to_owned(),
        Err(_) => String::from_utf8_lossy(buf).trim().to_owned(),
    }
}

fn c_chars_to_string(buf: &[c_char]) -> String {
    let bytes: Vec<u8> = buf.iter().map(|&c| c as u8).collect();
    buffer_to_string(&bytes)
}

impl Nvml {
    /// Loads the first library of `names` that opens, resolves its functions and calls
    /// `nvmlInit_v2`.
    pub(crate) fn load(names: &[String]) -> Result<Nvml, HwError> {
        let mut last_error = None;
        let mut lib = None;
        for name in names {
            // SAFETY: loading runs the library's initialisers; libnvidia-ml is the NVIDIA
            // driver's own user-space library, trusted like any system library we link.
            match unsafe { Library::new(name) } {
                Ok(l) => {
                    lib = Some(l);
                    break;
                }
                Err(e) => last_error = Some(e),
            }
        }
        let lib = match (lib, last_error) {
            (Some(lib), _) => lib,
            (None, Some(source)) => {
                return Err(HwError::NvmlNotFound {
                    tried: names.join(", "),
                    source,
                })
            }
            (None, None) => {
                return Err(HwError::NvmlSymbol {
                    symbol: "(no library name given)",
                })
            }
        };
        // SAFETY: each type alias above is transcribed from the declaration in nvml.h, and
        // the pointers are kept next to `lib`, which outlives every call (see `Nvml::_lib`).
        let (init, fns) = unsafe {
            let init: Option<InitFn> = symbol(&lib, "nvmlInit_v2");
            let fns = Functions {
                shutdown: required(symbol(&lib, "nvmlShutdown"), "nvmlShutdown")?,
                error_string: required(symbol(&lib, "nvmlErrorString"), "nvmlErrorString")?,
                driver_version: symbol(&lib, "nvmlSystemGetDriverVersion"),
                nvml_version: symbol(&lib, "nvmlSystemGetNVMLVersion"),
                device_count: required(
                    symbol(&lib, "nvmlDeviceGetCount_v2"),
                    "nvmlDeviceGetCount_v2",
                )?,
                handle_by_index: required(
                    symbol(&lib, "nvmlDeviceGetHandleByIndex_v2"),
                    "nvmlDeviceGetHandleByIndex_v2",
                )?,
                name: symbol(&lib, "nvmlDeviceGetName"),
                uuid: symbol(&lib, "nvmlDeviceGetUUID"),
                pci_info: symbol(&lib, "nvmlDeviceGetPciInfo_v3"),
                memory_info: symbol(&lib, "nvmlDeviceGetMemoryInfo"),
                encoder_capacity: symbol(&lib, "nvmlDeviceGetEncoderCapacity"),
                encoder_stats: symbol(&lib, "nvmlDeviceGetEncoderStats"),
                decoder_utilization: symbol(&lib, "nvmlDeviceGetDecoderUtilization"),
                compute_capability: symbol(&lib, "nvmlDeviceGetCudaComputeCapability"),
                profile_info: symbol(&lib, "nvmlDeviceGetGpuInstanceProfileInfo"),
            };
            (init, fns)
        };
        let init = required(init, "nvmlInit_v2")?;
        // SAFETY: nvmlInit_v2 takes no arguments; it may be called from any thread.
        let rc = unsafe { init() };
        // Build the value only after a successful init, so Drop never shuts down what never
        // started.
        if rc != NVML_SUCCESS {
            // SAFETY: nvmlErrorString accepts any code and returns a static string or NULL.
            let message = unsafe { error_message(fns.error_string, rc) };
            return Err(HwError::NvmlCall {
                function: "nvmlInit_v2",
                code: rc,
                message,
            });
        }
        Ok(Nvml { fns, _lib: lib })
    }

    fn check(&self, function: &'static str, rc: Ret) -> Result<(), HwError> {
        if rc == NVML_SUCCESS {
            return Ok(());
        }
        // SAFETY: nvmlErrorString accepts any code and returns a static string or NULL.
        let message = unsafe { error_message(self.fns.error_string, rc) };
        Err(HwError::NvmlCall {
            function,
            code: rc,
            message,
        })
    }

    fn system_string(
        &self,
        f: Option<SystemStringFn>,
        function: &'static str,
    ) -> Result<String, HwError> {
        let f = required(f, function)?;
        let mut buf = [0u8; VERSION_BUFFER];
        // SAFETY: the buffer is writable for `buf.len()` bytes, the length we pass.
        let rc = unsafe { f(buf.as_mut_ptr().cast(), buf.len() as c_uint) };
        self.check(function, rc)?;
        Ok(buffer_to_string(&buf))
    }

    /// `nvmlSystemGetDriverVersion`, e.g. `"550.54.15"`.
    pub(crate) fn driver_version(&self) -> Result<String, HwError> {
        self.system_string(self.fns.driver_version, "nvmlSystemGetDriverVersion")
    }

    /// `nvmlSystemGetNVMLVersion`, e.g. `"12.550.54.15"`.
    pub(crate) fn nvml_version(&self) -> Result<String, HwError> {
        self.system_string(self.fns.nvml_version, "nvmlSystemGetNVMLVersion")
    }

    /// `nvmlDeviceGetCount_v2`.
    pub(crate) fn device_count(&self) -> Result<u32, HwError> {
        let mut count: c_uint = 0;
        // SAFETY: `count` is a valid, writable unsigned int.
        let rc = unsafe { (self.fns.device_count)(&mut count) };
        self.check("nvmlDeviceGetCount_v2", rc)?;
        Ok(count)
    }

    /// `nvmlDeviceGetHandleByIndex_v2`.
    pub(crate) fn device(&self, index: u32) -> Result<Device<'_>, HwError> {
        let mut handle: RawDevice = std::ptr::null_mut();
        // SAFETY: `handle` is a valid, writable nvmlDevice_t slot.
        let rc = unsafe { (self.fns.handle_by_index)(index, &mut handle) };
        self.check("nvmlDeviceGetHandleByIndex_v2", rc)?;
        Ok(Device { nvml: self, handle })
    }
}

impl Drop for Nvml {
    fn drop(&mut self) {
        // SAFETY: `load` returned this value only after nvmlInit_v2 succeeded, so this is the
        // matching nvmlShutdown; the library is still loaded.
        let _ = unsafe { (self.fns.shutdown)() };
    }
}

/// # Safety
/// `f` must be NVML's `nvmlErrorString`, with its library still loaded.
unsafe fn error_message(f: ErrorStringFn, rc: Ret) -> String {
    // SAFETY: the caller guarantees `f` is nvmlErrorString, which takes any code.
    let ptr = unsafe { f(rc) };
    if ptr.is_null() {
        return "unknown error".to_owned();
    }
    // SAFETY: non-null results are static NUL-terminated strings owned by NVML.
    unsafe { CStr::from_ptr(ptr) }
        .to_string_lossy()
        .into_owned()
}

/// One GPU's handle, valid while the `Nvml` it came from lives.
pub(crate) struct Device<'a> {
    nvml: &'a Nvml,
    handle: RawDevice,
}

impl Device<'_> {
    fn string(&self, f: Option<DeviceStringFn>, function: &'static str) -> Result<String, HwError> {
        let f = required(f, function)?;
        let mut buf = [0u8; DEVICE_STRING_BUFFER];
        // SAFETY: `handle` came from nvmlDeviceGetHandleByIndex_v2 on this live NVML; the
        // buffer is writable for the length we pass.
        let rc = unsafe { f(self.handle, buf.as_mut_ptr().cast(), buf.len() as c_uint) };
        self.nvml.check(function, rc)?;
        Ok(buffer_to_string(&buf))
    }

    /// `nvmlDeviceGetName`, e.g. `"NVIDIA H200"`.
    pub(crate) fn name(&self) -> Result<String, HwError> {
        self.string(self.nvml.fns.name, "nvmlDeviceGetName")
    }

    /// `nvmlDeviceGetUUID`, e.g. `"GPU-5c3f…"`.
    pub(crate) fn uuid(&self) -> Result<String, HwError> {
        self.string(self.nvml.fns.uuid, "nvmlDeviceGetUUID")
    }

    /// `nvmlDeviceGetPciInfo_v3`.
    pub(crate) fn pci(&self) -> Result<Pci, HwError> {
        let f = required(self.nvml.fns.pci_info, "nvmlDeviceGetPciInfo_v3")?;
        let mut info = PciInfo::default();
        // SAFETY: valid handle; `info` is a writable nvmlPciInfo_t with the v3 layout.
        let rc = unsafe { f(self.handle, &mut info) };
        self.nvml.check("nvmlDeviceGetPciInfo_v3", rc)?;
        let bus_id = c_chars_to_string(&info.bus_id);
        let bus_id = if bus_id.is_empty() {
            c_chars_to_string(&info.bus_id_legacy)
        } else {
            bus_id
        };
        Ok(Pci {
            bus_id,
            device_id: (info.pci_device_id >> 16) as u16,
        })
    }

    /// Total framebuffer memory in bytes (`nvmlDeviceGetMemoryInfo`).
    pub(crate) fn memory_total(&self) -> Result<u64, HwError> {
        let f = required(self.nvml.fns.memory_info, "nvmlDeviceGetMemoryInfo")?;
        let mut memory = Memory::default();
        // SAFETY: valid handle; `memory` is a writable nvmlMemory_t (v1).
        let rc = unsafe { f(self.handle, &mut memory) };
        self.nvml.check("nvmlDeviceGetMemoryInfo", rc)?;
        Ok(memory.total)
    }

    /// Remaining encoder capacity for `codec`, in percent (`nvmlDeviceGetEncoderCapacity`).
    pub(crate) fn encoder_capacity(&self, codec: EncoderQuery) -> Result<u32, HwError> {
        let f = required(
            self.nvml.fns.encoder_capacity,
            "nvmlDeviceGetEncoderCapacity",
        )?;
        let mut capacity: c_uint = 0;
        // SAFETY: valid handle; the enum is passed as its C int value; `capacity` is writable.
        let rc = unsafe { f(self.handle, codec as c_int, &mut capacity) };
        self.nvml.check("nvmlDeviceGetEncoderCapacity", rc)?;
        Ok(capacity)
    }

    /// `nvmlDeviceGetEncoderStats`: active sessions, their average fps and latency.
    pub(crate) fn encoder_stats(&self) -> Result<EncoderStats, HwError> {
        let f = required(self.nvml.fns.encoder_stats, "nvmlDeviceGetEncoderStats")?;
        let (mut sessions, mut fps, mut latency): (c_uint, c_uint, c_uint) = (0, 0, 0);
        // SAFETY: valid handle; three writable unsigned ints.
        let rc = unsafe { f(self.handle, &mut sessions, &mut fps, &mut latency) };
        self.nvml.check("nvmlDeviceGetEncoderStats", rc)?;
        Ok(EncoderStats {
            session_count: sessions,
            average_fps: fps,
            average_latency_us: latency,
        })
    }

    /// Decoder utilisation in percent (`nvmlDeviceGetDecoderUtilization`); success hints that
    /// the GPU has NVDEC.
    pub(crate) fn decoder_utilization(&self) -> Result<u32, HwError> {
        let f = required(
            self.nvml.fns.decoder_utilization,
            "nvmlDeviceGetDecoderUtilization",
        )?;
        let (mut utilization, mut period_us): (c_uint, c_uint) = (0, 0);
        // SAFETY: valid handle; two writable unsigned ints.
        let rc = unsafe { f(self.handle, &mut utilization, &mut period_us) };
        self.nvml.check("nvmlDeviceGetDecoderUtilization", rc)?;
        Ok(utilization)
    }

    /// `nvmlDeviceGetCudaComputeCapability` as (major, minor).
    pub(crate) fn compute_capability(&self) -> Result<(i32, i32), HwError> {
        let f = required(
            self.nvml.fns.compute_capability,
            "nvmlDeviceGetCudaComputeCapability",
        )?;
        let (mut major, mut minor): (c_int, c_int) = (0, 0);
        // SAFETY: valid handle; two writable ints.
        let rc = unsafe { f(self.handle, &mut major, &mut minor) };
        self.nvml.check("nvmlDeviceGetCudaComputeCapability", rc)?;
        Ok((major, minor))
    }
}

impl Device<'_> {
    /// Engine counts of the largest MIG profiles, which span the whole GPU. Works with MIG
    /// mode off; fails with `NVML_ERROR_NOT_SUPPORTED` on GPUs without MIG.
    pub(crate) fn engine_counts(&self) -> Result<EngineCounts, HwError> {
        let function = "nvmlDeviceGetGpuInstanceProfileInfo";
        let f = required(self.nvml.fns.profile_info, function)?;
        let mut best: Option<EngineCounts> = None;
        let mut last = NVML_SUCCESS;
        for profile in GPU_INSTANCE_PROFILES {
            let mut info = GpuInstanceProfileInfo::default();
            // SAFETY: valid handle; `profile` is a plain int NVML validates; `info` is a
            // writable nvmlGpuInstanceProfileInfo_t (v1 layout, which this entry point fills).
            let rc = unsafe { f(self.handle, profile, &mut info) };
            if rc != NVML_SUCCESS {
                last = rc;
                continue;
            }
            let counts = best.get_or_insert(EngineCounts {
                encoders: 0,
                decoders: 0,
            });
            counts.encoders = counts.encoders.max(info.encoder_count);
            counts.decoders = counts.decoders.max(info.decoder_count);
        }
        match best {
            Some(counts) => Ok(counts),
            None => {
                self.nvml.check(function, last)?;
                Err(HwError::NvmlSymbol { symbol: function })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_convert_with_or_without_terminator() {
        assert_eq!(buffer_to_string(b"550.54.15\0\0\0"), "550.54.15");
        assert_eq!(buffer_to_string(b"NVIDIA"), "NVIDIA");
        assert_eq!(buffer_to_string(b"\0garbage"), "");
    }

    #[test]
    fn missing_library_is_reported_as_not_found() {
        let names = vec!["libfleuve-test-no-such-nvml.so.1".to_owned()];
        match Nvml::load(&names) {
            Err(e @ HwError::NvmlNotFound { .. }) => {
                assert!(e.to_string().contains("libfleuve-test-no-such-nvml.so.1"))
            }
            Err(e) => panic!("unexpected error: {e}"),
            Ok(_) => panic!("a library that does not exist was loaded"),
        }
    }
}
