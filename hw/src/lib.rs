//! Fleuve's hardware crate: finds the video hardware of this machine and says what it can
//! encode and decode.
//!
//! [`discover`] looks at DRM render nodes (`/dev/dri/renderD*`, described from sysfs) and at
//! NVIDIA GPUs through NVML, loaded at run time so that the binary runs where no NVIDIA driver
//! is installed. It never fails: what cannot be probed becomes a note in the [`Inventory`].
//! The inventory's [`BackendCapability`] rows are what the transcode planner chooses from;
//! libx264 on the CPU is always one of them.
//!
//! ```no_run
//! let inventory = fleuve_hw::discover();
//! print!("{}", inventory.render_text());
//! let json = serde_json::to_string_pretty(&inventory).expect("plain data serializes");
//! # let _ = json;
//! ```

#![deny(missing_docs)]

mod capability;
mod drm;
mod error;
mod nvidia;
mod nvml;
mod report;
#[cfg(test)]
mod test_support;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use capability::{Backend, BackendCapability, BackendKind};
pub use drm::{DrmNode, GpuVendor, DEV_DRI, SYS_CLASS_DRM};
pub use nvidia::{
    NvdecInfo, NvencInfo, NvidiaDevice, NvidiaReport, NVML_LIBRARIES, NVML_NOT_FOUND,
};

/// Everything discovery found, ready for the planner and for `fleuve probe-hw --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Inventory {
    /// Every `/dev/dri/renderD*`, sorted by minor number.
    pub drm_render_nodes: Vec<DrmNode>,
    /// What NVML says.
    pub nvidia: NvidiaReport,
    /// The capability matrix: `nvenc`, `vaapi`, `software` (encode), then `nvdec` (decode).
    pub backends: Vec<BackendCapability>,
    /// Anything that could not be probed, and hints for the operator.
    pub notes: Vec<String>,
}

impl Inventory {
    /// A report for people: one line when there is no GPU, else one line per device, the
    /// backend matrix and the resulting plan, then the notes.
    pub fn render_text(&self) -> String {
        report::render_text(self)
    }

    /// The matrix row for `backend`.
    pub fn backend(&self, backend: Backend) -> Option<&BackendCapability> {
        self.backends.iter().find(|b| b.backend == backend)
    }
}

/// Where discovery looks; [`Probe::default`] is the real system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// Directory of DRM device nodes, normally [`DEV_DRI`].
    pub dev_dri: PathBuf,
    /// sysfs DRM class directory, normally [`SYS_CLASS_DRM`].
    pub sys_class_drm: PathBuf,
    /// NVML library names or paths, tried in order; normally [`NVML_LIBRARIES`].
    pub nvml_libraries: Vec<String>,
}

impl Default for Probe {
    fn default() -> Self {
        Probe {
            dev_dri: PathBuf::from(DEV_DRI),
            sys_class_drm: PathBuf::from(SYS_CLASS_DRM),
            nvml_libraries: NVML_LIBRARIES.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}

impl Probe {
    /// Probes the places this `Probe` names. Never fails; problems become notes.
    pub fn run(&self) -> Inventory {
        let (drm_render_nodes, mut notes) =
            drm::discover_drm_in(&self.dev_dri, &self.sys_class_drm);
        let (nvidia, nvidia_notes) = nvidia::probe(&self.nvml_libraries);
        notes.extend(nvidia_notes);
        let cpus = match std::thread::available_parallelism() {
            Ok(n) => u32::try_from(n.get()).unwrap_or(u32::MAX),
            Err(e) => {
                notes.push(format!("cannot count CPUs ({e}); assuming 1"));
                1
            }
        };
        if drm_render_nodes
            .iter()
            .any(|n| n.accessible && n.vendor != GpuVendor::Nvidia)
        {
            notes.push(
                "VA-API encode profiles are not queried yet; H.264 is assumed on Intel and AMD"
                    .to_owned(),
            );
        }
        Inventory {
            backends: capability::backends(&drm_render_nodes, &nvidia, cpus),
            drm_render_nodes,
            nvidia,
            notes,
        }
    }
}

/// Discovers this machine's video hardware. Never panics and never fails: a missing driver or
/// an unreadable file becomes a note, and software encoding is always available.
pub fn discover() -> Inventory {
    Probe::default().run()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TempTree;

    #[test]
    fn this_machine_always_has_software() {
        let inventory = discover();
        let software = inventory.backend(Backend::Software).expect("software row");
        assert!(software.available);
        assert!(software.max_sessions.unwrap_or(0) >= 1);
        assert_eq!(software.codecs, ["h264"]);
        // Only where no NVIDIA driver is installed can NVENC's absence be asserted.
        if !inventory.nvidia.available {
            let nvenc = inventory.backend(Backend::Nvenc).expect("nvenc row");
            assert!(!nvenc.available);
            assert_eq!(nvenc.reason.as_deref(), Some(NVML_NOT_FOUND));
        }
        // On a GPU machine: compute GPUs must not be offered for NVENC.
        let compute_only = inventory.nvidia.devices.iter().all(|d| {
            ["A100", "H100", "H200"]
                .iter()
                .any(|model| d.name.contains(model))
        });
        if !inventory.nvidia.devices.is_empty() && compute_only {
            let nvenc = inventory.backend(Backend::Nvenc).expect("nvenc row");
            assert!(!nvenc.available, "{nvenc:?}");
            assert!(inventory
                .backend(Backend::Nvdec)
                .is_some_and(|b| b.available));
        }
        assert!(!inventory.render_text().is_empty());
    }

    #[test]
    fn fake_tree_without_nvml_finds_the_intel_gpu() {
        let tree = TempTree::new("probe-intel");
        tree.file("dev/dri/renderD128", "");
        tree.file("sys/class/drm/renderD128/device/vendor", "0x8086\n");
        tree.file("sys/class/drm/renderD128/device/device", "0x56a0\n");
        tree.file("sys/class/drm/renderD128/device/uevent", "DRIVER=i915\n");
        let probe = Probe {
            dev_dri: tree.path("dev/dri"),
            sys_class_drm: tree.path("sys/class/drm"),
            nvml_libraries: vec!["libfleuve-test-no-such-nvml.so".to_owned()],
        };
        let inventory = probe.run();
        assert_eq!(inventory.drm_render_nodes.len(), 1);
        assert!(!inventory.nvidia.available);
        let vaapi = inventory.backend(Backend::Vaapi).expect("vaapi row");
        assert!(vaapi.available, "{vaapi:?}");
        let nvenc = inventory.backend(Backend::Nvenc).expect("nvenc row");
        assert_eq!(nvenc.reason.as_deref(), Some(NVML_NOT_FOUND));
        assert!(inventory
            .notes
            .iter()
            .any(|n| n.starts_with(NVML_NOT_FOUND)));
    }

    #[test]
    fn json_is_camel_case_and_round_trips() {
        let inventory = discover();
        let json = serde_json::to_string(&inventory).expect("serialize");
        for key in [
            "drmRenderNodes",
            "nvidia",
            "backends",
            "notes",
            "maxSessions",
        ] {
            assert!(
                json.contains(&format!("\"{key}\"")),
                "{key} missing in {json}"
            );
        }
        assert!(json.contains("\"backend\":\"software\""), "{json}");
        let back: Inventory = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, inventory);
    }
}
