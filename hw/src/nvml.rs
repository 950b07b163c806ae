//! NVML (`libnvidia-ml`, loaded at run time) through the `nvml-wrapper` crate.
//!
//! Two queries are not wrapped by `nvml-wrapper` 0.13 and go through its raw bindings
//! (`nvml-wrapper-sys`, generated from `nvml.h`), the only `unsafe` in this crate: the AV1
//! encoder capacity (its `EncoderType` has only H.264 and HEVC) and the MIG GPU-instance
//! profiles that tell how many NVENC/NVDEC engines the GPU has.

use std::ffi::{c_uint, OsStr};

use nvml_wrapper::enum_wrappers::device::EncoderType;
use nvml_wrapper::error::{nvml_try, NvmlError};
use nvml_wrapper_sys::bindings::nvmlGpuInstanceProfileInfo_t;

use crate::error::HwError;

/// `NVML_GPU_INSTANCE_PROFILE_*`: the profile ids to ask about (0x0–0xF covers all, with
/// room for new ones; unknown ids fail with `NVML_ERROR_INVALID_ARGUMENT`).
const GPU_INSTANCE_PROFILES: std::ops::Range<c_uint> = 0..0x10;

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
pub(crate) struct Nvml(nvml_wrapper::Nvml);

/// The `nvmlReturn_t` behind an `nvml-wrapper` error (999, `NVML_ERROR_UNKNOWN`, for errors
/// of the wrapper itself), so that callers can tell "not supported" (3) from a failure.
fn return_code(error: &NvmlError) -> i32 {
    use NvmlError::*;
    match error {
        Uninitialized => 1,
        InvalidArg => 2,
        NotSupported => 3,
        NoPermission => 4,
        NotFound => 6,
        InsufficientSize(_) => 7,
        InsufficientPower => 8,
        DriverNotLoaded => 9,
        Timeout => 10,
        IrqIssue => 11,
        LibraryNotFound => 12,
        FunctionNotFound => 13,
        CorruptedInfoROM => 14,
        GpuLost => 15,
        ResetRequired => 16,
        OperatingSystem => 17,
        LibRmVersionMismatch => 18,
        InUse => 19,
        InsufficientMemory => 20,
        NoData => 21,
        VgpuEccNotSupported => 22,
        _ => 999,
    }
}

/// Names the C function of a failed call.
fn call_error(function: &'static str) -> impl Fn(NvmlError) -> HwError {
    move |error| match error {
        NvmlError::FailedToLoadSymbol(_) => HwError::NvmlSymbol { symbol: function },
        error => HwError::NvmlCall {
            function,
            code: return_code(&error),
            message: error.to_string(),
        },
    }
}

impl Nvml {
    /// Loads the first library of `names` that opens, resolves its functions and calls
    /// `nvmlInit_v2`.
    pub(crate) fn load(names: &[String]) -> Result<Nvml, HwError> {
        let mut not_found = None;
        for name in names {
            match nvml_wrapper::Nvml::builder()
                .lib_path(OsStr::new(name))
                .init()
            {
                Ok(nvml) => return Ok(Nvml(nvml)),
                Err(NvmlError::LibloadingError(source)) => not_found = Some(source),
                Err(error) => return Err(call_error("nvmlInit_v2")(error)),
            }
        }
        Err(match not_found {
            Some(source) => HwError::NvmlNotFound {
                tried: names.join(", "),
                source,
            },
            None => HwError::NvmlSymbol {
                symbol: "(no library name given)",
            },
        })
    }

    /// `nvmlSystemGetDriverVersion`, e.g. `"550.54.15"`.
    pub(crate) fn driver_version(&self) -> Result<String, HwError> {
        (self.0.sys_driver_version()).map_err(call_error("nvmlSystemGetDriverVersion"))
    }

    /// `nvmlSystemGetNVMLVersion`, e.g. `"12.550.54.15"`.
    pub(crate) fn nvml_version(&self) -> Result<String, HwError> {
        (self.0.sys_nvml_version()).map_err(call_error("nvmlSystemGetNVMLVersion"))
    }

    /// `nvmlDeviceGetCount_v2`.
    pub(crate) fn device_count(&self) -> Result<u32, HwError> {
        (self.0.device_count()).map_err(call_error("nvmlDeviceGetCount_v2"))
    }

    /// `nvmlDeviceGetHandleByIndex_v2`.
    pub(crate) fn device(&self, index: u32) -> Result<Device<'_>, HwError> {
        let device =
            (self.0.device_by_index(index)).map_err(call_error("nvmlDeviceGetHandleByIndex_v2"))?;
        Ok(Device { nvml: self, device })
    }
}

/// One GPU's handle, valid while the `Nvml` it came from lives.
pub(crate) struct Device<'a> {
    nvml: &'a Nvml,
    device: nvml_wrapper::Device<'a>,
}

impl Device<'_> {
    /// `nvmlDeviceGetName`, e.g. `"NVIDIA H200"`.
    pub(crate) fn name(&self) -> Result<String, HwError> {
        (self.device.name()).map_err(call_error("nvmlDeviceGetName"))
    }

    /// `nvmlDeviceGetUUID`, e.g. `"GPU-5c3f…"`.
    pub(crate) fn uuid(&self) -> Result<String, HwError> {
        (self.device.uuid()).map_err(call_error("nvmlDeviceGetUUID"))
    }

    /// `nvmlDeviceGetPciInfo_v3`.
    pub(crate) fn pci(&self) -> Result<Pci, HwError> {
        let info = (self.device.pci_info()).map_err(call_error("nvmlDeviceGetPciInfo_v3"))?;
        Ok(Pci {
            bus_id: info.bus_id.trim().to_owned(),
            device_id: (info.pci_device_id >> 16) as u16,
        })
    }

    /// Total framebuffer memory in bytes (`nvmlDeviceGetMemoryInfo_v2`).
    pub(crate) fn memory_total(&self) -> Result<u64, HwError> {
        let memory = (self.device.memory_info()).map_err(call_error("nvmlDeviceGetMemoryInfo"))?;
        Ok(memory.total)
    }

    /// Remaining encoder capacity for `codec`, in percent (`nvmlDeviceGetEncoderCapacity`).
    pub(crate) fn encoder_capacity(&self, codec: EncoderQuery) -> Result<u32, HwError> {
        let function = "nvmlDeviceGetEncoderCapacity";
        let wrapped = match codec {
            EncoderQuery::H264 => EncoderType::H264,
            EncoderQuery::Hevc => EncoderType::HEVC,
            EncoderQuery::Av1 => {
                let lib = self.nvml.0.lib();
                let f = (lib.nvmlDeviceGetEncoderCapacity.as_ref())
                    .map_err(|_| HwError::NvmlSymbol { symbol: function })?;
                let mut capacity: c_uint = 0;
                // SAFETY: the handle comes from this live NVML (`Device` borrows it); the
                // query type is NVML_ENCODER_QUERY_AV1 (2) and `capacity` is writable.
                let rc = unsafe { f(self.device.handle(), codec as c_uint, &mut capacity) };
                nvml_try(rc).map_err(call_error(function))?;
                return Ok(capacity);
            }
        };
        (self.device.encoder_capacity(wrapped)).map_err(call_error(function))
    }

    /// `nvmlDeviceGetEncoderStats`: active sessions, their average fps and latency.
    pub(crate) fn encoder_stats(&self) -> Result<EncoderStats, HwError> {
        let stats =
            (self.device.encoder_stats()).map_err(call_error("nvmlDeviceGetEncoderStats"))?;
        Ok(EncoderStats {
            session_count: stats.session_count,
            average_fps: stats.average_fps,
            average_latency_us: stats.average_latency,
        })
    }

    /// Decoder utilisation in percent (`nvmlDeviceGetDecoderUtilization`); success hints that
    /// the GPU has NVDEC.
    pub(crate) fn decoder_utilization(&self) -> Result<u32, HwError> {
        let info = (self.device.decoder_utilization())
            .map_err(call_error("nvmlDeviceGetDecoderUtilization"))?;
        Ok(info.utilization)
    }

    /// `nvmlDeviceGetCudaComputeCapability` as (major, minor).
    pub(crate) fn compute_capability(&self) -> Result<(i32, i32), HwError> {
        let cc = (self.device.cuda_compute_capability())
            .map_err(call_error("nvmlDeviceGetCudaComputeCapability"))?;
        Ok((cc.major, cc.minor))
    }

    /// Engine counts of the largest MIG profiles, which span the whole GPU. Works with MIG
    /// mode off; fails with `NVML_ERROR_NOT_SUPPORTED` on GPUs without MIG.
    pub(crate) fn engine_counts(&self) -> Result<EngineCounts, HwError> {
        let function = "nvmlDeviceGetGpuInstanceProfileInfo";
        let lib = self.nvml.0.lib();
        let f = (lib.nvmlDeviceGetGpuInstanceProfileInfo.as_ref())
            .map_err(|_| HwError::NvmlSymbol { symbol: function })?;
        let mut best: Option<EngineCounts> = None;
        let mut last = Ok(());
        for profile in GPU_INSTANCE_PROFILES {
            // SAFETY: an all-zero nvmlGpuInstanceProfileInfo_t (plain integers) is valid.
            let mut info: nvmlGpuInstanceProfileInfo_t = unsafe { std::mem::zeroed() };
            // SAFETY: the handle comes from this live NVML; `profile` is a plain int NVML
            // validates; `info` is a writable nvmlGpuInstanceProfileInfo_t (the v1 layout this
            // entry point fills, as generated from nvml.h).
            let rc = unsafe { f(self.device.handle(), profile, &mut info) };
            if let Err(error) = nvml_try(rc) {
                last = Err(error);
                continue;
            }
            let counts = best.get_or_insert(EngineCounts {
                encoders: 0,
                decoders: 0,
            });
            counts.encoders = counts.encoders.max(info.encoderCount);
            counts.decoders = counts.decoders.max(info.decoderCount);
        }
        match (best, last) {
            (Some(counts), _) => Ok(counts),
            (None, Err(error)) => Err(call_error(function)(error)),
            (None, Ok(())) => Err(HwError::NvmlSymbol { symbol: function }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn wrapper_errors_keep_nvml_return_codes() {
        let e = call_error("nvmlDeviceGetEncoderCapacity")(NvmlError::NotSupported);
        assert!(e.is_not_supported(), "{e}");
        let e = call_error("nvmlDeviceGetName")(NvmlError::FailedToLoadSymbol("x".into()));
        assert!(matches!(
            e,
            HwError::NvmlSymbol {
                symbol: "nvmlDeviceGetName"
            }
        ));
    }
}
