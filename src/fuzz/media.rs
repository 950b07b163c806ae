//! The `media_probe` target: hostile media through the worker's probe
//! ([`crate::transcode::worker::probe_report`]: libavformat opens the file and reads stream
//! headers, then the ladder is planned). The bytes go to a scratch file (on tmpfs when there is
//! one), as an upload would, so libav sees the same file-backed I/O as in the worker.
//!
//! In production the probe runs in a child process with CPU and memory limits, so a crash in
//! libav kills only that child; here it runs in-process so that the fuzzer sees it.

use crate::transcode::worker::probe_report;
use std::path::PathBuf;
use std::sync::OnceLock;

/// The encoders found once (discovery scans devices; the plan only reads the result).
fn inventory() -> &'static fleuve_hw::Inventory {
    static HW: OnceLock<fleuve_hw::Inventory> = OnceLock::new();
    HW.get_or_init(fleuve_hw::discover)
}

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

thread_local! {
    static SCRATCH: Scratch = {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
        Scratch(dir.join(format!("fleuve-fuzz-media-{}-{n}", std::process::id())))
    };
}

/// Probes `data` as an uploaded file.
pub fn media_probe(data: &[u8]) {
    SCRATCH.with(|scratch| {
        if std::fs::write(&scratch.0, data).is_err() {
            return;
        }
        if let Ok(report) = probe_report(
            &scratch.0,
            &crate::transcode::ladder::PlanOptions::default(),
            inventory(),
        ) {
            assert!(
                report.duration.is_finite() && report.duration > 0.0,
                "duration {}",
                report.duration
            );
            assert!(report.width >= 2 && report.height >= 2);
            assert!(!report.resolutions.is_empty(), "an empty ladder");
        }
    });
}
