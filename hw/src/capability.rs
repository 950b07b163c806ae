//! The capability matrix: which encode/decode backends the transcode planner may use, and why
//! the others are out.

use serde::{Deserialize, Serialize};

use crate::drm::{DrmNode, GpuVendor};
use crate::nvidia::NvidiaReport;

/// A transcoding backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// NVIDIA's hardware encoder, through libavcodec's `h264_nvenc` family.
    Nvenc,
    /// VA-API on an Intel or AMD render node (`h264_vaapi`).
    Vaapi,
    /// libx264 on the CPU; always there.
    Software,
    /// NVIDIA's hardware decoder (CUDA hwaccel in libavcodec).
    Nvdec,
}

impl Backend {
    /// The lower-case id, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Nvenc => "nvenc",
            Backend::Vaapi => "vaapi",
            Backend::Software => "software",
            Backend::Nvdec => "nvdec",
        }
    }
}

/// Whether a backend encodes or decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// Produces compressed video.
    Encode,
    /// Reads compressed video.
    Decode,
}

/// One row of the capability matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendCapability {
    /// Which backend.
    pub backend: Backend,
    /// Encode or decode.
    pub kind: BackendKind,
    /// The planner may use it.
    pub available: bool,
    /// Why it is unavailable; `None` when available.
    pub reason: Option<String>,
    /// Devices it would run on: NVML indexes (`"0"`) for NVIDIA, render node paths for VAAPI,
    /// `"cpu"` for software.
    pub devices: Vec<String>,
    /// Concurrent sessions it can take, when known: the CPU count for software; `None` for
    /// hardware (unknown or unrestricted).
    pub max_sessions: Option<u32>,
    /// Codecs it handles: `h264`, `hevc`, `av1`.
    pub codecs: Vec<String>,
}

impl BackendCapability {
    fn available(
        backend: Backend,
        kind: BackendKind,
        devices: Vec<String>,
        codecs: Vec<String>,
    ) -> Self {
        BackendCapability {
            backend,
            kind,
            available: true,
            reason: None,
            devices,
            max_sessions: None,
            codecs,
        }
    }

    fn unavailable(backend: Backend, kind: BackendKind, reason: String) -> Self {
        BackendCapability {
            backend,
            kind,
            available: false,
            reason: Some(reason),
            devices: Vec::new(),
            max_sessions: None,
            codecs: Vec::new(),
        }
    }
}

/// Kernel drivers whose render nodes speak VA-API encode.
const VAAPI_DRIVERS: [&str; 4] = ["i915", "xe", "amdgpu", "radeon"];

/// Builds the matrix, encoders in preference order (nvenc, vaapi, software), then decoders.
pub(crate) fn backends(
    drm: &[DrmNode],
    nvidia: &NvidiaReport,
    cpus: u32,
) -> Vec<BackendCapability> {
    vec![nvenc(nvidia), vaapi(drm), software(cpus), nvdec(nvidia)]
}

fn union(lists: impl Iterator<Item = Vec<String>>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for codec in lists.flatten() {
        if !out.contains(&codec) {
            out.push(codec);
        }
    }
    out
}

/// Why no NVIDIA engine is usable when NVML itself is not.
fn nvml_missing_reason(nvidia: &NvidiaReport) -> Option<String> {
    if !nvidia.available {
        return Some(
            nvidia
                .unavailable_reason
                .clone()
                .unwrap_or_else(|| "NVML unavailable".to_owned()),
        );
    }
    nvidia
        .devices
        .is_empty()
        .then(|| "NVML reports no NVIDIA GPU".to_owned())
}

fn nvenc(nvidia: &NvidiaReport) -> BackendCapability {
    let (kind, backend) = (BackendKind::Encode, Backend::Nvenc);
    if let Some(reason) = nvml_missing_reason(nvidia) {
        return BackendCapability::unavailable(backend, kind, reason);
    }
    let with: Vec<_> = nvidia.devices.iter().filter(|d| d.nvenc.present).collect();
    if with.is_empty() {
        let names: Vec<&str> = nvidia.devices.iter().map(|d| d.name.as_str()).collect();
        return BackendCapability::unavailable(
            backend,
            kind,
            format!(
                "no NVIDIA device with NVENC (found {}; compute GPUs such as A100, H100 and \
                 H200 have NVDEC but no NVENC)",
                names.join(", ")
            ),
        );
    }
    BackendCapability::available(
        backend,
        kind,
        with.iter().map(|d| d.index.to_string()).collect(),
        union(with.iter().map(|d| d.nvenc.codecs.clone())),
    )
}

fn nvdec(nvidia: &NvidiaReport) -> BackendCapability {
    let (kind, backend) = (BackendKind::Decode, Backend::Nvdec);
    if let Some(reason) = nvml_missing_reason(nvidia) {
        return BackendCapability::unavailable(backend, kind, reason);
    }
    let with: Vec<_> = nvidia.devices.iter().filter(|d| d.nvdec.present).collect();
    if with.is_empty() {
        return BackendCapability::unavailable(
            backend,
            kind,
            "no NVIDIA device reports an NVDEC engine".to_owned(),
        );
    }
    BackendCapability::available(
        backend,
        kind,
        with.iter().map(|d| d.index.to_string()).collect(),
        union(with.iter().map(|d| d.nvdec.codecs.clone())),
    )
}

fn speaks_vaapi(node: &DrmNode) -> bool {
    match node.driver.as_deref() {
        Some(driver) => VAAPI_DRIVERS.contains(&driver),
        None => matches!(node.vendor, GpuVendor::Intel | GpuVendor::Amd),
    }
}

fn vaapi(drm: &[DrmNode]) -> BackendCapability {
    let (kind, backend) = (BackendKind::Encode, Backend::Vaapi);
    if drm.is_empty() {
        return BackendCapability::unavailable(backend, kind, "no DRM render node".to_owned());
    }
    let candidates: Vec<&DrmNode> = drm.iter().filter(|n| speaks_vaapi(n)).collect();
    if candidates.is_empty() {
        return BackendCapability::unavailable(
            backend,
            kind,
            "no Intel or AMD render node (VA-API encoding needs i915, xe, amdgpu or radeon)"
                .to_owned(),
        );
    }
    let usable: Vec<&DrmNode> = candidates
        .iter()
        .copied()
        .filter(|n| n.accessible)
        .collect();
    if usable.is_empty() {
        let paths: Vec<&str> = candidates.iter().map(|n| n.path.as_str()).collect();
        return BackendCapability::unavailable(
            backend,
            kind,
            format!(
                "cannot open {} (add this user to the group owning it, usually 'render')",
                paths.join(", ")
            ),
        );
    }
    // Profiles are not queried through libva yet: every VA-API encoder in service does H.264.
    BackendCapability::available(
        backend,
        kind,
        usable.iter().map(|n| n.path.clone()).collect(),
        vec!["h264".to_owned()],
    )
}

fn software(cpus: u32) -> BackendCapability {
    BackendCapability {
        max_sessions: Some(cpus),
        ..BackendCapability::available(
            Backend::Software,
            BackendKind::Encode,
            vec!["cpu".to_owned()],
            vec!["h264".to_owned()],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{h200, intel_node, l4};

    fn find(rows: &[BackendCapability], backend: Backend) -> &BackendCapability {
        rows.iter()
            .find(|r| r.backend == backend)
            .unwrap_or_else(|| panic!("no {backend:?} row"))
    }

    #[test]
    fn nothing_found_leaves_only_software() {
        let nvidia = NvidiaReport {
            unavailable_reason: Some(crate::nvidia::NVML_NOT_FOUND.to_owned()),
            ..NvidiaReport::default()
        };
        let rows = backends(&[], &nvidia, 2);
        let order: Vec<Backend> = rows.iter().map(|r| r.backend).collect();
        assert_eq!(
            order,
            [
                Backend::Nvenc,
                Backend::Vaapi,
                Backend::Software,
                Backend::Nvdec
            ]
        );
        let software = find(&rows, Backend::Software);
        assert!(software.available);
        assert_eq!(software.max_sessions, Some(2));
        assert_eq!(software.codecs, ["h264"]);
        let nvenc = find(&rows, Backend::Nvenc);
        assert!(!nvenc.available);
        assert_eq!(
            nvenc.reason.as_deref(),
            Some("NVML not found (no NVIDIA driver)")
        );
        assert_eq!(
            find(&rows, Backend::Vaapi).reason.as_deref(),
            Some("no DRM render node")
        );
        assert!(!find(&rows, Backend::Nvdec).available);
    }

    #[test]
    fn h200_decodes_but_does_not_encode() {
        let nvidia = NvidiaReport {
            available: true,
            devices: vec![h200(0)],
            ..NvidiaReport::default()
        };
        let rows = backends(&[], &nvidia, 16);
        let nvenc = find(&rows, Backend::Nvenc);
        assert!(!nvenc.available);
        let reason = nvenc.reason.as_deref().unwrap_or("");
        assert!(
            reason.starts_with("no NVIDIA device with NVENC"),
            "{reason}"
        );
        assert!(reason.contains("NVIDIA H200"), "{reason}");
        let nvdec = find(&rows, Backend::Nvdec);
        assert!(nvdec.available);
        assert_eq!(nvdec.kind, BackendKind::Decode);
        assert_eq!(nvdec.devices, ["0"]);
        assert_eq!(nvdec.codecs, ["h264", "hevc", "av1"]);
    }

    #[test]
    fn nvenc_lists_only_gpus_that_have_it() {
        let nvidia = NvidiaReport {
            available: true,
            devices: vec![h200(0), l4(1)],
            ..NvidiaReport::default()
        };
        let nvenc = nvenc(&nvidia);
        assert!(nvenc.available);
        assert_eq!(nvenc.devices, ["1"]);
        assert_eq!(nvenc.codecs, ["h264", "hevc", "av1"]);
        assert_eq!(nvenc.max_sessions, None);
    }

    #[test]
    fn vaapi_needs_an_accessible_intel_or_amd_node() {
        let intel = intel_node("/dev/dri/renderD128", true);
        let row = vaapi(std::slice::from_ref(&intel));
        assert!(row.available);
        assert_eq!(row.devices, ["/dev/dri/renderD128"]);

        let locked = intel_node("/dev/dri/renderD128", false);
        let row = vaapi(&[locked]);
        assert!(!row.available);
        assert!(
            row.reason.as_deref().unwrap_or("").contains("render"),
            "{row:?}"
        );

        let nvidia_node = DrmNode {
            vendor: GpuVendor::Nvidia,
            vendor_id: Some("0x10de".into()),
            driver: Some("nvidia".into()),
            ..intel
        };
        let row = vaapi(&[nvidia_node]);
        assert!(!row.available);
        assert!(row
            .reason
            .as_deref()
            .unwrap_or("")
            .starts_with("no Intel or AMD"));
    }
}
