//! The human-readable report that `fleuve probe-hw` prints.

use std::fmt::Write as _;

use crate::capability::{Backend, BackendCapability};
use crate::drm::{normalize_pci_slot, DrmNode};
use crate::nvidia::{NvidiaDevice, NvidiaReport};
use crate::Inventory;

/// Renders `inventory` as text, one line per device and one per backend.
pub(crate) fn render_text(inventory: &Inventory) -> String {
    let mut out = String::new();
    let cores = inventory
        .backend(Backend::Software)
        .and_then(|b| b.max_sessions)
        .unwrap_or(1);
    let nvidia_status = nvidia_status(&inventory.nvidia);

    if inventory.drm_render_nodes.is_empty() && inventory.nvidia.devices.is_empty() {
        let _ = writeln!(
            out,
            "No GPU found: DRM render nodes: none; NVIDIA: {nvidia_status}. \
             Transcoding will use libx264 on {cores} CPU {}.",
            plural(cores, "core", "cores")
        );
    } else {
        if inventory.drm_render_nodes.is_empty() {
            out.push_str("DRM render nodes: none\n");
        } else {
            out.push_str("DRM render nodes:\n");
            for node in &inventory.drm_render_nodes {
                let _ = writeln!(out, "  {}", drm_line(node));
            }
        }
        if inventory.nvidia.devices.is_empty() {
            let _ = writeln!(out, "NVIDIA: {nvidia_status}");
        } else {
            let _ = writeln!(out, "NVIDIA: {nvidia_status}");
            for device in &inventory.nvidia.devices {
                let node = render_node_of(device, &inventory.drm_render_nodes);
                let _ = writeln!(out, "  {}", nvidia_line(device, node));
            }
        }
    }

    out.push_str("Backends:\n");
    for row in &inventory.backends {
        let _ = writeln!(out, "  {}", backend_line(row));
    }
    if !(inventory.drm_render_nodes.is_empty() && inventory.nvidia.devices.is_empty()) {
        let _ = writeln!(out, "{}", plan_line(inventory, cores));
    }
    if !inventory.notes.is_empty() {
        out.push_str("Notes:\n");
        for note in &inventory.notes {
            let _ = writeln!(out, "  - {note}");
        }
    }
    out
}

fn plural<'a>(n: u32, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

fn nvidia_status(nvidia: &NvidiaReport) -> String {
    if !nvidia.available {
        return nvidia
            .unavailable_reason
            .clone()
            .unwrap_or_else(|| "NVML unavailable".to_owned());
    }
    let mut parts = Vec::new();
    if let Some(v) = &nvidia.driver_version {
        parts.push(format!("driver {v}"));
    }
    if let Some(v) = &nvidia.nvml_version {
        parts.push(format!("NVML {v}"));
    }
    if nvidia.devices.is_empty() {
        parts.push("no GPU".to_owned());
    } else {
        let n = nvidia.devices.len() as u32;
        parts.push(format!("{n} {}", plural(n, "GPU", "GPUs")));
    }
    parts.join(", ")
}

fn drm_line(node: &DrmNode) -> String {
    let mut parts = vec![format!(
        "{}: {} {}:{}",
        node.path,
        node.vendor,
        node.vendor_id.as_deref().unwrap_or("?"),
        node.device_id.as_deref().unwrap_or("?")
    )];
    if let Some(driver) = &node.driver {
        parts.push(format!("driver {driver}"));
    }
    if let Some(slot) = &node.pci_slot {
        parts.push(format!("PCI {slot}"));
    }
    parts.push(match (&node.accessible, &node.access_error) {
        (true, _) => "accessible".to_owned(),
        (false, Some(e)) => format!("not accessible ({e})"),
        (false, None) => "not accessible".to_owned(),
    });
    parts.join(", ")
}

/// The render node on the same PCI slot as `device`, if any.
fn render_node_of<'a>(device: &NvidiaDevice, nodes: &'a [DrmNode]) -> Option<&'a DrmNode> {
    let slot = normalize_pci_slot(device.pci_bus_id.as_deref()?)?;
    nodes
        .iter()
        .find(|n| n.pci_slot.as_deref() == Some(slot.as_str()))
}

fn nvidia_line(device: &NvidiaDevice, node: Option<&DrmNode>) -> String {
    let mut parts = vec![format!("GPU {}: {}", device.index, device.name)];
    if let Some(bytes) = device.memory_total_bytes {
        parts.push(format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64));
    }
    if let Some(bus) = &device.pci_bus_id {
        parts.push(format!("PCI {bus}"));
    }
    if let Some(node) = node {
        parts.push(format!("render node {}", node.path));
    }
    if let Some(cc) = &device.compute_capability {
        parts.push(format!("compute {cc}"));
    }
    let nvenc = &device.nvenc;
    parts.push(if nvenc.present {
        let mut s = format!("NVENC: {}", nvenc.codecs.join("/"));
        if let Some(c) = nvenc.h264_capacity_percent {
            let _ = write!(s, " (capacity {c}%");
            if let Some(n) = nvenc.session_count {
                let _ = write!(s, ", {n} {}", plural(n, "session", "sessions"));
            }
            s.push(')');
        }
        s
    } else {
        "NVENC: none".to_owned()
    });
    parts.push(if device.nvdec.present {
        match device.nvdec.engines {
            Some(n) => format!(
                "NVDEC: {} ({n} {})",
                device.nvdec.codecs.join("/"),
                plural(n, "engine", "engines")
            ),
            None => format!("NVDEC: {}", device.nvdec.codecs.join("/")),
        }
    } else {
        "NVDEC: none".to_owned()
    });
    parts.join(", ")
}

fn backend_line(row: &BackendCapability) -> String {
    let kind = match row.kind {
        crate::BackendKind::Encode => "encode",
        crate::BackendKind::Decode => "decode",
    };
    let detail = if row.available {
        let mut s = format!("{} on {}", row.codecs.join("/"), row.devices.join(", "));
        if let Some(n) = row.max_sessions {
            let _ = write!(s, ", up to {n} {}", plural(n, "session", "sessions"));
        }
        s
    } else {
        row.reason.clone().unwrap_or_default()
    };
    format!(
        "{:<9} {:<6} {:<3} {}",
        row.backend.as_str(),
        kind,
        if row.available { "yes" } else { "no" },
        detail
    )
}

fn plan_line(inventory: &Inventory, cores: u32) -> String {
    let hardware: Vec<String> = inventory
        .backends
        .iter()
        .filter(|b| b.available)
        .filter_map(|b| match b.backend {
            Backend::Nvenc => Some(format!("h264_nvenc (GPU {})", b.devices.join(", "))),
            Backend::Vaapi => Some(format!("h264_vaapi ({})", b.devices.join(", "))),
            Backend::Software | Backend::Nvdec => None,
        })
        .collect();
    let software = format!("libx264 on {cores} CPU {}", plural(cores, "core", "cores"));
    let mut line = if hardware.is_empty() {
        format!("Transcoding will use {software}")
    } else {
        format!(
            "Transcoding will use {}, falling back to {software}",
            hardware.join(", then ")
        )
    };
    if let Some(nvdec) = inventory.backend(Backend::Nvdec).filter(|b| b.available) {
        let _ = write!(
            line,
            "; decoding on NVDEC (GPU {})",
            nvdec.devices.join(", ")
        );
    }
    line.push('.');
    line
}

#[cfg(test)]
mod tests {
    use crate::capability::backends;
    use crate::nvidia::{NvidiaReport, NVML_NOT_FOUND};
    use crate::test_support::{h200, intel_node};
    use crate::Inventory;

    fn inventory(
        nodes: Vec<crate::DrmNode>,
        nvidia: NvidiaReport,
        cpus: u32,
        notes: Vec<String>,
    ) -> Inventory {
        Inventory {
            backends: backends(&nodes, &nvidia, cpus),
            drm_render_nodes: nodes,
            nvidia,
            notes,
        }
    }

    #[test]
    fn no_gpu_says_so_in_one_line() {
        let nvidia = NvidiaReport {
            unavailable_reason: Some(NVML_NOT_FOUND.to_owned()),
            ..NvidiaReport::default()
        };
        let text = inventory(Vec::new(), nvidia, 2, Vec::new()).render_text();
        let first = text.lines().next().unwrap_or("");
        assert_eq!(
            first,
            "No GPU found: DRM render nodes: none; NVIDIA: NVML not found (no NVIDIA driver). \
             Transcoding will use libx264 on 2 CPU cores."
        );
        assert!(
            text.contains("software  encode yes h264 on cpu, up to 2 sessions"),
            "{text}"
        );
        assert!(!text.contains("Notes:"));
    }

    #[test]
    fn devices_get_one_line_each_and_a_plan() {
        let nvidia = NvidiaReport {
            available: true,
            driver_version: Some("550.54.15".into()),
            nvml_version: Some("12.550.54.15".into()),
            devices: vec![h200(0)],
            ..NvidiaReport::default()
        };
        let nvidia_node = crate::DrmNode {
            path: "/dev/dri/renderD129".into(),
            vendor: crate::GpuVendor::Nvidia,
            vendor_id: Some("0x10de".into()),
            device_id: Some("0x2335".into()),
            driver: Some("nvidia".into()),
            pci_slot: Some("0000:19:00.0".into()),
            ..intel_node("", true)
        };
        let nodes = vec![intel_node("/dev/dri/renderD128", true), nvidia_node];
        let text = inventory(nodes, nvidia, 16, vec!["a note".into()]).render_text();
        assert!(text.contains("DRM render nodes:\n  /dev/dri/renderD128: Intel 0x8086:0x46a6, driver i915, PCI 0000:00:02.0, accessible\n"), "{text}");
        assert!(
            text.contains("NVIDIA: driver 550.54.15, NVML 12.550.54.15, 1 GPU\n"),
            "{text}"
        );
        assert!(text.contains("  GPU 0: NVIDIA H200, 140.0 GiB, PCI 00000000:19:00.0, render node /dev/dri/renderD129, compute 9.0, NVENC: none, NVDEC: h264/hevc/av1 (7 engines)\n"), "{text}");
        assert!(
            text.contains("  nvenc     encode no  no NVIDIA device with NVENC"),
            "{text}"
        );
        assert!(text.contains("Transcoding will use h264_vaapi (/dev/dri/renderD128), falling back to libx264 on 16 CPU cores; decoding on NVDEC (GPU 0).\n"), "{text}");
        assert!(text.ends_with("Notes:\n  - a note\n"), "{text}");
    }
}
