//! NVIDIA GPUs as NVML reports them, and what each one's NVENC and NVDEC engines can do.

use serde::{Deserialize, Serialize};

use crate::error::HwError;
use crate::nvml::{EncoderQuery, EncoderStats, EngineCounts, Nvml};

/// The NVML library names tried, in order.
pub const NVML_LIBRARIES: [&str; 2] = ["libnvidia-ml.so.1", "libnvidia-ml.so"];

/// The reason given when no NVML library loads.
pub const NVML_NOT_FOUND: &str = "NVML not found (no NVIDIA driver)";

/// What NVML says about the NVIDIA driver and GPUs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NvidiaReport {
    /// NVML loaded and initialised.
    pub available: bool,
    /// Why NVML is unavailable, e.g. [`NVML_NOT_FOUND`]; `None` when available.
    pub unavailable_reason: Option<String>,
    /// Kernel driver version, e.g. `550.54.15`.
    pub driver_version: Option<String>,
    /// NVML library version, e.g. `12.550.54.15`.
    pub nvml_version: Option<String>,
    /// The GPUs, in NVML index order (PCI bus order).
    pub devices: Vec<NvidiaDevice>,
}

/// One NVIDIA GPU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NvidiaDevice {
    /// NVML index. CUDA numbers devices fastest-first unless `CUDA_DEVICE_ORDER=PCI_BUS_ID`,
    /// so pass the UUID or PCI bus id where an API takes one.
    pub index: u32,
    /// Marketing name, e.g. `NVIDIA H200`.
    pub name: String,
    /// `GPU-…` UUID.
    pub uuid: Option<String>,
    /// PCI bus id as NVML writes it, e.g. `00000000:19:00.0`.
    pub pci_bus_id: Option<String>,
    /// PCI device id as lower-case hex, e.g. `0x2335`.
    pub pci_device_id: Option<String>,
    /// Total GPU memory in bytes.
    pub memory_total_bytes: Option<u64>,
    /// CUDA compute capability, e.g. `9.0`.
    pub compute_capability: Option<String>,
    /// The hardware encoder.
    pub nvenc: NvencInfo,
    /// The hardware decoder.
    pub nvdec: NvdecInfo,
}

/// NVENC on one GPU, from the engine counts of the MIG profiles where the GPU has them, else
/// from `nvmlDeviceGetEncoderCapacity`, plus `nvmlDeviceGetEncoderStats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NvencInfo {
    /// The GPU has an NVENC engine. Data-centre compute GPUs (A100, H100, H200) have none.
    pub present: bool,
    /// NVENC engines on the GPU, where NVML reports them (MIG-capable GPUs).
    pub engines: Option<u32>,
    /// Codecs with encoder capacity: `h264`, `hevc`, `av1`.
    pub codecs: Vec<String>,
    /// Remaining H.264 encoder capacity in percent (100 = idle).
    pub h264_capacity_percent: Option<u32>,
    /// Encoder sessions running now, on the whole GPU.
    pub session_count: Option<u32>,
    /// Average fps over the running sessions.
    pub average_fps: Option<u32>,
    /// Average encode latency over the running sessions, in microseconds.
    pub average_latency_us: Option<u32>,
    /// Why NVENC was judged absent, when it was.
    pub detail: Option<String>,
}

/// NVDEC on one GPU.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NvdecInfo {
    /// NVML reports NVDEC engines, or (where it cannot count them)
    /// `nvmlDeviceGetDecoderUtilization` succeeded.
    pub present: bool,
    /// NVDEC engines on the GPU, where NVML reports them (MIG-capable GPUs).
    pub engines: Option<u32>,
    /// Decoder utilisation in percent at probe time.
    pub utilization_percent: Option<u32>,
    /// Codecs inferred from the compute capability (NVML cannot list them).
    pub codecs: Vec<String>,
    /// Why NVDEC was judged absent, when it was.
    pub detail: Option<String>,
}

/// Asks NVML (first of `libraries` that loads) about the driver and every GPU. Failures become
/// notes; a missing library is not a failure, just `available: false`.
pub(crate) fn probe(libraries: &[String]) -> (NvidiaReport, Vec<String>) {
    let mut notes = Vec::new();
    let nvml = match Nvml::load(libraries) {
        Ok(nvml) => nvml,
        Err(e) => {
            let reason = match &e {
                HwError::NvmlNotFound { .. } => NVML_NOT_FOUND.to_owned(),
                other => format!("NVML unusable: {other}"),
            };
            notes.push(e.to_string());
            let report = NvidiaReport {
                unavailable_reason: Some(reason),
                ..NvidiaReport::default()
            };
            return (report, notes);
        }
    };
    let mut keep = |r: Result<String, HwError>| r.map_err(|e| notes.push(e.to_string())).ok();
    let driver_version = keep(nvml.driver_version());
    let nvml_version = keep(nvml.nvml_version());
    let count = match nvml.device_count() {
        Ok(n) => n,
        Err(e) => {
            notes.push(e.to_string());
            0
        }
    };
    let devices = (0..count)
        .filter_map(|index| probe_device(&nvml, index, &mut notes))
        .collect();
    let report = NvidiaReport {
        available: true,
        unavailable_reason: None,
        driver_version,
        nvml_version,
        devices,
    };
    (report, notes)
}

fn probe_device(nvml: &Nvml, index: u32, notes: &mut Vec<String>) -> Option<NvidiaDevice> {
    let device = match nvml.device(index) {
        Ok(d) => d,
        Err(e) => {
            notes.push(format!("NVIDIA GPU {index}: {e}"));
            return None;
        }
    };
    let mut keep = |r: Result<_, HwError>| {
        r.map_err(|e| notes.push(format!("NVIDIA GPU {index}: {e}")))
            .ok()
    };
    let name = keep(device.name()).unwrap_or_else(|| "unknown NVIDIA GPU".to_owned());
    let uuid = keep(device.uuid());
    let pci = device
        .pci()
        .map_err(|e| notes.push(format!("NVIDIA GPU {index}: {e}")))
        .ok();
    let memory_total_bytes = device
        .memory_total()
        .map_err(|e| notes.push(format!("NVIDIA GPU {index}: {e}")))
        .ok();
    let compute_capability = device.compute_capability().ok();

    let engines = device.engine_counts().ok();
    let capacities = [EncoderQuery::H264, EncoderQuery::Hevc, EncoderQuery::Av1]
        .map(|codec| (codec, device.encoder_capacity(codec)));
    let nvenc = nvenc_from(
        &capacities,
        device.encoder_stats().ok(),
        engines,
        compute_capability,
    );
    let nvdec = nvdec_from(device.decoder_utilization(), engines, compute_capability);

    Some(NvidiaDevice {
        index,
        name,
        uuid,
        pci_bus_id: pci.as_ref().map(|p| p.bus_id.clone()),
        pci_device_id: pci.as_ref().map(|p| format!("0x{:04x}", p.device_id)),
        memory_total_bytes,
        compute_capability: compute_capability.map(|(major, minor)| format!("{major}.{minor}")),
        nvenc,
        nvdec,
    })
}

fn codec_name(codec: EncoderQuery) -> &'static str {
    match codec {
        EncoderQuery::H264 => "h264",
        EncoderQuery::Hevc => "hevc",
        EncoderQuery::Av1 => "av1",
    }
}

/// GA100 (A100, A30, A800: compute 8.0) and GH100 (H100, H200, H800, H20: compute 9.0) have
/// NVDEC but no NVENC, per NVIDIA's encode/decode support matrix.
fn is_compute_chip_without_nvenc(compute_capability: Option<(i32, i32)>) -> bool {
    matches!(compute_capability, Some((8, 0)) | Some((9, 0)))
}

/// Decides whether NVENC exists and for which codecs.
///
/// NVML's encoder capacity is not proof: an H200 reports 100% capacity for H.264 and HEVC yet
/// has no NVENC engine. So the engine count from the MIG profiles decides where NVML has one,
/// then the compute-GPU rule above; the capacity queries only pick the codecs, and decide alone
/// on other GPUs (0 or an error = none, unless sessions are running: saturated, not absent).
fn nvenc_from(
    capacities: &[(EncoderQuery, Result<u32, HwError>)],
    stats: Option<EncoderStats>,
    engines: Option<EngineCounts>,
    compute_capability: Option<(i32, i32)>,
) -> NvencInfo {
    let busy = stats.is_some_and(|s| s.session_count > 0);
    let mut codecs: Vec<String> = capacities
        .iter()
        .filter(|(_, r)| matches!(r, Ok(c) if *c > 0 || busy))
        .map(|(codec, _)| codec_name(*codec).to_owned())
        .collect();
    let h264 = capacities.iter().find(|(c, _)| *c == EncoderQuery::H264);
    let engine_count = engines.map(|e| e.encoders);
    let detail = match engine_count {
        Some(0) => Some("no NVENC engine (NVML counts 0 encoder engines)".to_owned()),
        Some(_) => None,
        None if is_compute_chip_without_nvenc(compute_capability) => {
            Some("no NVENC engine (A100/H100-class compute GPU: NVDEC only)".to_owned())
        }
        None if !codecs.is_empty() => None,
        None => Some(match h264 {
            Some((_, Err(e))) if e.is_not_supported() => {
                "no NVENC engine (encoder capacity query not supported)".to_owned()
            }
            Some((_, Err(e))) => format!("no NVENC engine: {e}"),
            Some((_, Ok(_))) => "no NVENC engine (encoder capacity 0)".to_owned(),
            None => "encoder capacity not queried".to_owned(),
        }),
    };
    let present = detail.is_none();
    if !present {
        codecs.clear();
    } else if codecs.is_empty() {
        codecs.push("h264".to_owned());
    }
    NvencInfo {
        present,
        engines: engine_count,
        codecs,
        h264_capacity_percent: h264.and_then(|(_, r)| r.as_ref().ok().copied()),
        session_count: stats.map(|s| s.session_count),
        average_fps: stats.map(|s| s.average_fps),
        average_latency_us: stats.map(|s| s.average_latency_us),
        detail,
    }
}

/// Decides whether NVDEC exists and which codecs it likely decodes.
fn nvdec_from(
    utilization: Result<u32, HwError>,
    engines: Option<EngineCounts>,
    compute_capability: Option<(i32, i32)>,
) -> NvdecInfo {
    let engine_count = engines.map(|e| e.decoders);
    let detail = match (&utilization, engine_count) {
        (_, Some(0)) => Some("no NVDEC engine (NVML counts 0 decoder engines)".to_owned()),
        (_, Some(_)) | (Ok(_), None) => None,
        (Err(e), None) => Some(format!("no NVDEC engine: {e}")),
    };
    let mut codecs = Vec::new();
    if detail.is_none() {
        let major = compute_capability.map_or(0, |(major, _)| major);
        codecs.push("h264".to_owned());
        // HEVC decode from Pascal (6.x) on, AV1 from Ampere (8.x) on; unknown: assume HEVC.
        if major >= 6 || compute_capability.is_none() {
            codecs.push("hevc".to_owned());
        }
        if major >= 8 {
            codecs.push("av1".to_owned());
        }
    }
    NvdecInfo {
        present: detail.is_none(),
        engines: engine_count,
        utilization_percent: utilization.ok(),
        codecs,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn not_supported() -> HwError {
        HwError::NvmlCall {
            function: "nvmlDeviceGetEncoderCapacity",
            code: 3,
            message: "Not Supported".into(),
        }
    }

    fn stats(sessions: u32) -> Option<EncoderStats> {
        Some(EncoderStats {
            session_count: sessions,
            average_fps: 0,
            average_latency_us: 0,
        })
    }

    fn counts(encoders: u32, decoders: u32) -> Option<EngineCounts> {
        Some(EngineCounts { encoders, decoders })
    }

    /// What NVML 580 said on a real H200: full capacity, yet no encoder engine.
    fn h200_capacities() -> [(EncoderQuery, Result<u32, HwError>); 3] {
        [
            (EncoderQuery::H264, Ok(100)),
            (EncoderQuery::Hevc, Ok(100)),
            (EncoderQuery::Av1, Err(not_supported())),
        ]
    }

    #[test]
    fn h200_engine_count_overrides_capacity() {
        let info = nvenc_from(&h200_capacities(), stats(0), counts(0, 7), Some((9, 0)));
        assert!(!info.present);
        assert!(info.codecs.is_empty());
        assert_eq!(info.engines, Some(0));
        assert_eq!(info.h264_capacity_percent, Some(100));
        assert!(info
            .detail
            .as_deref()
            .unwrap_or("")
            .contains("0 encoder engines"));
    }

    #[test]
    fn compute_gpu_without_engine_count_has_no_nvenc() {
        let info = nvenc_from(&h200_capacities(), stats(0), None, Some((9, 0)));
        assert!(!info.present);
        let info = nvenc_from(&h200_capacities(), stats(0), None, Some((8, 0)));
        assert!(!info.present);
        assert!(info.detail.as_deref().unwrap_or("").contains("compute GPU"));
    }

    #[test]
    fn capacity_query_not_supported_is_absent() {
        let caps = [
            (EncoderQuery::H264, Err(not_supported())),
            (EncoderQuery::Hevc, Err(not_supported())),
        ];
        let info = nvenc_from(&caps, None, None, Some((7, 5)));
        assert!(!info.present);
        assert!(info
            .detail
            .as_deref()
            .unwrap_or("")
            .contains("not supported"));
    }

    #[test]
    fn zero_capacity_and_no_sessions_is_absent() {
        let caps = [(EncoderQuery::H264, Ok(0)), (EncoderQuery::Hevc, Ok(0))];
        let info = nvenc_from(&caps, stats(0), None, Some((8, 9)));
        assert!(!info.present);
        assert_eq!(info.h264_capacity_percent, Some(0));
    }

    #[test]
    fn capacity_lists_codecs_on_gpus_with_nvenc() {
        let info = nvenc_from(&h200_capacities(), stats(0), None, Some((8, 9)));
        assert!(info.present);
        assert_eq!(info.codecs, ["h264", "hevc"]);
        assert_eq!(info.session_count, Some(0));
        assert_eq!(info.detail, None);
        let info = nvenc_from(&h200_capacities(), stats(0), counts(1, 4), Some((8, 6)));
        assert!(info.present);
        assert_eq!(info.engines, Some(1));
    }

    #[test]
    fn saturated_encoder_is_still_present() {
        let caps = [(EncoderQuery::H264, Ok(0))];
        let info = nvenc_from(&caps, stats(3), None, Some((8, 9)));
        assert!(info.present);
        assert_eq!(info.codecs, ["h264"]);
    }

    #[test]
    fn nvdec_codecs_follow_compute_capability() {
        assert_eq!(
            nvdec_from(Ok(0), counts(0, 7), Some((9, 0))).codecs,
            ["h264", "hevc", "av1"]
        );
        assert_eq!(
            nvdec_from(Ok(5), None, Some((7, 5))).codecs,
            ["h264", "hevc"]
        );
        assert_eq!(nvdec_from(Ok(0), None, Some((5, 0))).codecs, ["h264"]);
        let absent = nvdec_from(Err(not_supported()), None, Some((9, 0)));
        assert!(!absent.present);
        assert!(absent.codecs.is_empty());
        let counted_zero = nvdec_from(Ok(0), counts(0, 0), Some((9, 0)));
        assert!(!counted_zero.present);
    }

    #[test]
    fn missing_library_gives_the_not_found_reason() {
        let (report, notes) = probe(&["libfleuve-test-no-such-nvml.so".to_owned()]);
        assert!(!report.available);
        assert_eq!(report.unavailable_reason.as_deref(), Some(NVML_NOT_FOUND));
        assert!(report.devices.is_empty());
        assert_eq!(notes.len(), 1);
        assert!(notes[0].starts_with(NVML_NOT_FOUND), "{notes:?}");
    }
}
