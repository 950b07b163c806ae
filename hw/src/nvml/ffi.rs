//! C declarations transcribed from `nvml.h`: types, struct layouts and function signatures.
//!
//! Declarations only; the calls, and so all the `unsafe`, live in the parent module.

use std::ffi::{c_char, c_int, c_uint, c_void};

/// `nvmlDevice_t`: an opaque handle owned by NVML.
pub(super) type RawDevice = *mut c_void;
/// `nvmlReturn_t`.
pub(super) type Ret = c_int;
pub(super) const NVML_SUCCESS: Ret = 0;

/// `NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE` and `NVML_SYSTEM_NVML_VERSION_BUFFER_SIZE`.
pub(super) const VERSION_BUFFER: usize = 80;
/// `NVML_DEVICE_NAME_V2_BUFFER_SIZE` and `NVML_DEVICE_UUID_V2_BUFFER_SIZE`.
pub(super) const DEVICE_STRING_BUFFER: usize = 96;

/// `nvmlPciInfo_t` as filled by `nvmlDeviceGetPciInfo_v3`.
#[derive(Default)]
#[repr(C)]
pub(super) struct PciInfo {
    pub(super) bus_id_legacy: [c_char; 16],
    pub(super) domain: c_uint,
    pub(super) bus: c_uint,
    pub(super) device: c_uint,
    /// Device id in the upper 16 bits, vendor id in the lower 16.
    pub(super) pci_device_id: c_uint,
    pub(super) pci_sub_system_id: c_uint,
    /// `"00000000:19:00.0"`.
    pub(super) bus_id: [c_char; 32],
}

/// `nvmlMemory_t` (version 1).
#[derive(Default)]
#[repr(C)]
pub(super) struct Memory {
    pub(super) total: u64,
    pub(super) free: u64,
    pub(super) used: u64,
}

/// `nvmlGpuInstanceProfileInfo_t` (version 1), as filled by
/// `nvmlDeviceGetGpuInstanceProfileInfo`: a MIG profile's share of the GPU's engines.
#[derive(Default)]
#[repr(C)]
pub(super) struct GpuInstanceProfileInfo {
    pub(super) id: c_uint,
    pub(super) is_p2p_supported: c_uint,
    pub(super) slice_count: c_uint,
    pub(super) instance_count: c_uint,
    pub(super) multiprocessor_count: c_uint,
    pub(super) copy_engine_count: c_uint,
    pub(super) decoder_count: c_uint,
    pub(super) encoder_count: c_uint,
    pub(super) jpeg_count: c_uint,
    pub(super) ofa_count: c_uint,
    pub(super) memory_size_mb: u64,
}

/// `NVML_GPU_INSTANCE_PROFILE_*` ids worth asking about: 1_SLICE (0x0) up to the media-engine
/// variants of recent drivers. Unknown ids just fail with `NVML_ERROR_INVALID_ARGUMENT`.
pub(super) const GPU_INSTANCE_PROFILES: std::ops::Range<c_uint> = 0..0x10;

pub(super) type InitFn = unsafe extern "C" fn() -> Ret;
pub(super) type ErrorStringFn = unsafe extern "C" fn(Ret) -> *const c_char;
pub(super) type SystemStringFn = unsafe extern "C" fn(*mut c_char, c_uint) -> Ret;
pub(super) type CountFn = unsafe extern "C" fn(*mut c_uint) -> Ret;
pub(super) type HandleByIndexFn = unsafe extern "C" fn(c_uint, *mut RawDevice) -> Ret;
pub(super) type DeviceStringFn = unsafe extern "C" fn(RawDevice, *mut c_char, c_uint) -> Ret;
pub(super) type PciInfoFn = unsafe extern "C" fn(RawDevice, *mut PciInfo) -> Ret;
pub(super) type MemoryInfoFn = unsafe extern "C" fn(RawDevice, *mut Memory) -> Ret;
pub(super) type EncoderCapacityFn = unsafe extern "C" fn(RawDevice, c_int, *mut c_uint) -> Ret;
pub(super) type EncoderStatsFn =
    unsafe extern "C" fn(RawDevice, *mut c_uint, *mut c_uint, *mut c_uint) -> Ret;
pub(super) type UtilizationFn = unsafe extern "C" fn(RawDevice, *mut c_uint, *mut c_uint) -> Ret;
pub(super) type ProfileInfoFn =
    unsafe extern "C" fn(RawDevice, c_uint, *mut GpuInstanceProfileInfo) -> Ret;
pub(super) type ComputeCapabilityFn =
    unsafe extern "C" fn(RawDevice, *mut c_int, *mut c_int) -> Ret;

/// Function pointers copied out of the library; valid while the library stays loaded.
pub(super) struct Functions {
    pub(super) shutdown: InitFn,
    pub(super) error_string: ErrorStringFn,
    pub(super) driver_version: Option<SystemStringFn>,
    pub(super) nvml_version: Option<SystemStringFn>,
    pub(super) device_count: CountFn,
    pub(super) handle_by_index: HandleByIndexFn,
    pub(super) name: Option<DeviceStringFn>,
    pub(super) uuid: Option<DeviceStringFn>,
    pub(super) pci_info: Option<PciInfoFn>,
    pub(super) memory_info: Option<MemoryInfoFn>,
    pub(super) encoder_capacity: Option<EncoderCapacityFn>,
    pub(super) encoder_stats: Option<EncoderStatsFn>,
    pub(super) decoder_utilization: Option<UtilizationFn>,
    pub(super) compute_capability: Option<ComputeCapabilityFn>,
    pub(super) profile_info: Option<ProfileInfoFn>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structs_have_the_nvml_h_layout() {
        // 16 chars + 5 unsigned ints + 32 chars, no padding.
        assert_eq!(std::mem::size_of::<PciInfo>(), 68);
        assert_eq!(std::mem::size_of::<Memory>(), 24);
        // 10 unsigned ints + one unsigned long long.
        assert_eq!(std::mem::size_of::<GpuInstanceProfileInfo>(), 48);
    }
}
