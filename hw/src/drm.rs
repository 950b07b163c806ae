//! DRM render nodes: lists `/dev/dri/renderD*` and reads each one's PCI identity from sysfs.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::HwError;

/// The default directory of DRM device nodes.
pub const DEV_DRI: &str = "/dev/dri";
/// The default sysfs class directory of DRM devices.
pub const SYS_CLASS_DRM: &str = "/sys/class/drm";

/// The GPU maker, from the PCI vendor id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GpuVendor {
    /// PCI vendor 0x8086.
    Intel,
    /// PCI vendor 0x1002.
    Amd,
    /// PCI vendor 0x10de.
    Nvidia,
    /// Any other vendor, or none could be read.
    Unknown,
}

impl GpuVendor {
    /// Maps a PCI vendor id such as `"0x8086"` (any case, with or without `0x`).
    pub fn from_pci_id(id: &str) -> GpuVendor {
        let id = id.trim().to_ascii_lowercase();
        match id.strip_prefix("0x").unwrap_or(&id) {
            "8086" => GpuVendor::Intel,
            "1002" => GpuVendor::Amd,
            "10de" => GpuVendor::Nvidia,
            _ => GpuVendor::Unknown,
        }
    }
}

impl fmt::Display for GpuVendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GpuVendor::Intel => "Intel",
            GpuVendor::Amd => "AMD",
            GpuVendor::Nvidia => "NVIDIA",
            GpuVendor::Unknown => "unknown",
        })
    }
}

/// One DRM render node (`/dev/dri/renderD128`) and the device behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DrmNode {
    /// The device node, e.g. `/dev/dri/renderD128`.
    pub path: String,
    /// PCI vendor id as lower-case hex, e.g. `0x8086`; `None` when sysfs has none.
    pub vendor_id: Option<String>,
    /// PCI device id as lower-case hex, e.g. `0x46a6`.
    pub device_id: Option<String>,
    /// The vendor named by `vendor_id`.
    pub vendor: GpuVendor,
    /// Kernel driver bound to the device, e.g. `i915`, `xe`, `amdgpu`, `nvidia`.
    pub driver: Option<String>,
    /// PCI slot, e.g. `0000:00:02.0`.
    pub pci_slot: Option<String>,
    /// Whether this process can open the node for reading and writing.
    pub accessible: bool,
    /// Why opening failed, when it did.
    pub access_error: Option<String>,
}

/// Lists render nodes in `dev_dir` (normally `/dev/dri`) and describes each one from
/// `sys_class_drm` (normally `/sys/class/drm`). Returns the nodes, sorted by minor number, and
/// notes on anything that could not be read.
pub(crate) fn discover_drm_in(dev_dir: &Path, sys_class_drm: &Path) -> (Vec<DrmNode>, Vec<String>) {
    let mut notes = Vec::new();
    let names = match render_node_names(dev_dir) {
        Ok(names) => names,
        Err(HwError::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            notes.push(e.to_string());
            Vec::new()
        }
    };
    let nodes: Vec<DrmNode> = names
        .iter()
        .map(|name| describe(dev_dir, sys_class_drm, name, &mut notes))
        .collect();

    // A GPU that sysfs sees but /dev lacks is usually a container without the device passed in.
    if let Ok(sys_names) = render_node_names(sys_class_drm) {
        for name in sys_names.iter().filter(|n| !names.contains(n)) {
            notes.push(format!(
                "{} exists in {} but not in {}: pass the device into this container \
                 (e.g. --device {})",
                name,
                sys_class_drm.display(),
                dev_dir.display(),
                Path::new(DEV_DRI).join(name).display()
            ));
        }
    }
    (nodes, notes)
}

/// `renderD*` entries of `dir`, sorted by their minor number.
fn render_node_names(dir: &Path) -> Result<Vec<String>, HwError> {
    let read_error = |source| HwError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut names: Vec<String> = fs::read_dir(dir)
        .map_err(read_error)?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| render_minor(name).is_some())
        .collect();
    names.sort_by_key(|name| render_minor(name));
    Ok(names)
}

fn render_minor(name: &str) -> Option<u32> {
    name.strip_prefix("renderD")?.parse().ok()
}

fn describe(dev_dir: &Path, sys_class_drm: &Path, name: &str, notes: &mut Vec<String>) -> DrmNode {
    let path = dev_dir.join(name);
    let device_dir = sys_class_drm.join(name).join("device");
    let mut read = |file: &str| -> Option<String> {
        let p = device_dir.join(file);
        match fs::read_to_string(&p) {
            Ok(s) => Some(s.trim().to_owned()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(source) => {
                notes.push(HwError::Read { path: p, source }.to_string());
                None
            }
        }
    };
    let vendor_id = read("vendor").map(|s| normalize_hex_id(&s));
    let device_id = read("device").map(|s| normalize_hex_id(&s));
    let uevent = read("uevent").unwrap_or_default();
    let driver = fs::read_link(device_dir.join("driver"))
        .ok()
        .and_then(|target| target.file_name()?.to_str().map(str::to_owned))
        .or_else(|| uevent_value(&uevent, "DRIVER"));
    let pci_slot = uevent_value(&uevent, "PCI_SLOT_NAME");
    // Fall back to uevent's PCI_ID=8086:46A6 when the vendor/device files are absent.
    let pci_id = uevent_value(&uevent, "PCI_ID");
    let mut pci_id_parts = pci_id.as_deref().unwrap_or("").split(':');
    let vendor_id = vendor_id.or_else(|| {
        pci_id_parts
            .next()
            .filter(|s| !s.is_empty())
            .map(normalize_hex_id)
    });
    let device_id = device_id.or_else(|| {
        pci_id_parts
            .next()
            .filter(|s| !s.is_empty())
            .map(normalize_hex_id)
    });
    let vendor = vendor_id
        .as_deref()
        .map_or(GpuVendor::Unknown, GpuVendor::from_pci_id);
    let (accessible, access_error) = match check_access(&path) {
        Ok(()) => (true, None),
        Err(e) => (false, Some(e.to_string())),
    };
    DrmNode {
        path: path.display().to_string(),
        vendor_id,
        device_id,
        vendor,
        driver,
        pci_slot,
        accessible,
        access_error,
    }
}

fn check_access(path: &Path) -> io::Result<()> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map(drop)
}

/// `"0x8086"` from `"0x8086"`, `"8086"` or `"0X8086"`.
fn normalize_hex_id(raw: &str) -> String {
    let lower = raw.trim().to_ascii_lowercase();
    let digits = lower.strip_prefix("0x").unwrap_or(&lower);
    format!("0x{digits}")
}

fn uevent_value(uevent: &str, key: &str) -> Option<String> {
    uevent.lines().find_map(|line| {
        let (k, v) = line.split_once('=')?;
        (k.trim() == key && !v.trim().is_empty()).then(|| v.trim().to_owned())
    })
}

/// PCI slot in sysfs form (`0000:19:00.0`) from NVML's `00000000:19:00.0`, or `None` if it does
/// not parse.
pub(crate) fn normalize_pci_slot(bus_id: &str) -> Option<String> {
    let (domain, rest) = bus_id.trim().split_once(':')?;
    let domain = u32::from_str_radix(domain, 16).ok()?;
    Some(format!("{domain:04x}:{}", rest.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TempTree;

    fn fake_gpu(tree: &TempTree, minor: u32, vendor: &str, device: &str, driver: &str, slot: &str) {
        let name = format!("renderD{minor}");
        tree.file(&format!("dev/dri/{name}"), "");
        let dev = format!("sys/class/drm/{name}/device");
        tree.file(&format!("{dev}/vendor"), &format!("{vendor}\n"));
        tree.file(&format!("{dev}/device"), &format!("{device}\n"));
        tree.file(
            &format!("{dev}/uevent"),
            &format!("DRIVER={driver}\nPCI_CLASS=30000\nPCI_SLOT_NAME={slot}\n"),
        );
        tree.dir(&format!("bus/pci/drivers/{driver}"));
        tree.symlink(
            &format!("bus/pci/drivers/{driver}"),
            &format!("{dev}/driver"),
        );
    }

    #[test]
    fn reads_vendor_device_driver_and_slot() {
        let tree = TempTree::new("drm-intel");
        fake_gpu(&tree, 128, "0x8086", "0x46A6", "i915", "0000:00:02.0");
        tree.file("dev/dri/card0", "");
        let (nodes, notes) = discover_drm_in(&tree.path("dev/dri"), &tree.path("sys/class/drm"));
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(
            nodes,
            vec![DrmNode {
                path: tree.path("dev/dri/renderD128").display().to_string(),
                vendor_id: Some("0x8086".into()),
                device_id: Some("0x46a6".into()),
                vendor: GpuVendor::Intel,
                driver: Some("i915".into()),
                pci_slot: Some("0000:00:02.0".into()),
                accessible: true,
                access_error: None,
            }]
        );
    }

    #[test]
    fn sorts_nodes_by_minor_and_maps_vendors() {
        let tree = TempTree::new("drm-multi");
        fake_gpu(&tree, 129, "0x10de", "0x2335", "nvidia", "0000:19:00.0");
        fake_gpu(&tree, 128, "0x1002", "0x744c", "amdgpu", "0000:03:00.0");
        fake_gpu(
            &tree,
            1000,
            "0x1af4",
            "0x1050",
            "virtio-pci",
            "0000:00:05.0",
        );
        let (nodes, _) = discover_drm_in(&tree.path("dev/dri"), &tree.path("sys/class/drm"));
        let summary: Vec<(GpuVendor, Option<&str>)> = nodes
            .iter()
            .map(|n| (n.vendor, n.driver.as_deref()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (GpuVendor::Amd, Some("amdgpu")),
                (GpuVendor::Nvidia, Some("nvidia")),
                (GpuVendor::Unknown, Some("virtio-pci")),
            ]
        );
    }

    #[test]
    fn node_without_sysfs_entry_is_listed_with_unknowns() {
        let tree = TempTree::new("drm-nosys");
        tree.file("dev/dri/renderD128", "");
        let (nodes, notes) = discover_drm_in(&tree.path("dev/dri"), &tree.path("sys/class/drm"));
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(nodes.len(), 1);
        assert_eq!(nodes[0].vendor, GpuVendor::Unknown);
        assert_eq!(nodes[0].vendor_id, None);
        assert_eq!(nodes[0].driver, None);
    }

    #[test]
    fn uevent_pci_id_fills_in_missing_vendor_files() {
        let tree = TempTree::new("drm-uevent");
        tree.file("dev/dri/renderD128", "");
        tree.file(
            "sys/class/drm/renderD128/device/uevent",
            "DRIVER=xe\nPCI_ID=8086:E20B\nPCI_SLOT_NAME=0000:03:00.0\n",
        );
        let (nodes, _) = discover_drm_in(&tree.path("dev/dri"), &tree.path("sys/class/drm"));
        assert_eq!(nodes[0].vendor, GpuVendor::Intel);
        assert_eq!(nodes[0].device_id.as_deref(), Some("0xe20b"));
        assert_eq!(nodes[0].driver.as_deref(), Some("xe"));
    }

    #[test]
    fn missing_dev_dir_means_no_nodes_and_no_noise() {
        let tree = TempTree::new("drm-empty");
        let (nodes, notes) = discover_drm_in(&tree.path("dev/dri"), &tree.path("sys/class/drm"));
        assert!(nodes.is_empty());
        assert!(notes.is_empty(), "{notes:?}");
    }

    #[test]
    fn node_missing_from_dev_is_noted() {
        let tree = TempTree::new("drm-container");
        tree.dir("dev/dri");
        tree.file("sys/class/drm/renderD128/device/vendor", "0x10de\n");
        let (nodes, notes) = discover_drm_in(&tree.path("dev/dri"), &tree.path("sys/class/drm"));
        assert!(nodes.is_empty());
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("renderD128"), "{notes:?}");
        assert!(
            notes[0].contains("--device /dev/dri/renderD128"),
            "{notes:?}"
        );
    }

    #[test]
    fn unopenable_node_is_listed_as_inaccessible() {
        let tree = TempTree::new("drm-dangling");
        tree.dir("dev/dri");
        tree.symlink("nowhere", "dev/dri/renderD128");
        let (nodes, _) = discover_drm_in(&tree.path("dev/dri"), &tree.path("sys/class/drm"));
        assert_eq!(nodes.len(), 1);
        assert!(!nodes[0].accessible);
        assert!(nodes[0].access_error.is_some());
    }

    #[test]
    fn ids_and_slots_normalize() {
        assert_eq!(normalize_hex_id("0X10DE\n"), "0x10de");
        assert_eq!(normalize_hex_id("8086"), "0x8086");
        assert_eq!(GpuVendor::from_pci_id("10DE"), GpuVendor::Nvidia);
        assert_eq!(
            normalize_pci_slot("00000000:19:00.0").as_deref(),
            Some("0000:19:00.0")
        );
        assert_eq!(
            normalize_pci_slot("0000:3B:00.0").as_deref(),
            Some("0000:3b:00.0")
        );
        assert_eq!(normalize_pci_slot("garbage"), None);
    }
}
