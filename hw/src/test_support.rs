//! Test helpers: throw-away directory trees standing in for /dev and /sys, and sample devices.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::drm::{DrmNode, GpuVendor};
use crate::nvidia::{NvdecInfo, NvencInfo, NvidiaDevice};

/// A directory under the system temp dir, removed on drop.
pub(crate) struct TempTree {
    root: PathBuf,
}

impl TempTree {
    pub(crate) fn new(label: &str) -> TempTree {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let root =
            std::env::temp_dir().join(format!("fleuve-hw-{label}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).expect("create temp tree");
        TempTree { root }
    }

    pub(crate) fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    pub(crate) fn dir(&self, relative: &str) {
        fs::create_dir_all(self.path(relative)).expect("create dir");
    }

    pub(crate) fn file(&self, relative: &str, contents: &str) {
        let path = self.path(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create parent");
        }
        fs::write(path, contents).expect("write file");
    }

    /// Makes `link` (relative) point to `target` (relative to the tree, or as given if it
    /// does not exist there).
    pub(crate) fn symlink(&self, target: &str, link: &str) {
        let link = self.path(link);
        if let Some(parent) = link.parent() {
            fs::create_dir_all(parent).expect("create parent");
        }
        let target = self.path(target);
        std::os::unix::fs::symlink(Path::new(&target), link).expect("symlink");
    }
}

impl Drop for TempTree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

pub(crate) fn intel_node(path: &str, accessible: bool) -> DrmNode {
    DrmNode {
        path: path.to_owned(),
        vendor_id: Some("0x8086".into()),
        device_id: Some("0x46a6".into()),
        vendor: GpuVendor::Intel,
        driver: Some("i915".into()),
        pci_slot: Some("0000:00:02.0".into()),
        accessible,
        access_error: (!accessible).then(|| "Permission denied (os error 13)".to_owned()),
    }
}

/// An H200 as NVML shows it: NVDEC, no NVENC.
pub(crate) fn h200(index: u32) -> NvidiaDevice {
    NvidiaDevice {
        index,
        name: "NVIDIA H200".into(),
        uuid: Some("GPU-00000000-0000-0000-0000-000000000000".into()),
        pci_bus_id: Some("00000000:19:00.0".into()),
        pci_device_id: Some("0x2335".into()),
        memory_total_bytes: Some(140 << 30),
        compute_capability: Some("9.0".into()),
        nvenc: NvencInfo {
            engines: Some(0),
            h264_capacity_percent: Some(100),
            detail: Some("no NVENC engine (NVML counts 0 encoder engines)".into()),
            ..NvencInfo::default()
        },
        nvdec: NvdecInfo {
            present: true,
            engines: Some(7),
            utilization_percent: Some(0),
            codecs: vec!["h264".into(), "hevc".into(), "av1".into()],
            detail: None,
        },
    }
}

/// An L4: NVENC with H.264, HEVC and AV1.
pub(crate) fn l4(index: u32) -> NvidiaDevice {
    NvidiaDevice {
        name: "NVIDIA L4".into(),
        compute_capability: Some("8.9".into()),
        nvenc: NvencInfo {
            present: true,
            engines: None,
            codecs: vec!["h264".into(), "hevc".into(), "av1".into()],
            h264_capacity_percent: Some(100),
            session_count: Some(0),
            average_fps: Some(0),
            average_latency_us: Some(0),
            detail: None,
        },
        ..h200(index)
    }
}
