//! Helpers shared by the unit tests of several modules.

use std::path::{Path, PathBuf};

/// A tmpfs of a few MiB mounted on a temp dir (unmounted on drop): a small disk to fill.
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `mib` MiB; None without the right to mount (not root).
    pub fn mount(mib: u32) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs { dir })
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the file system, leaving fewer than `leave` bytes free; returns the filler's path.
    pub fn fill_leaving(&self, leave: u64) -> PathBuf {
        use std::io::Write;
        let path = self.dir.path().join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        // statvfs directly: the test utilities depend on no feature module.
        let free = nix::sys::statvfs::statvfs(self.dir.path())
            .map(|st| st.blocks_available().saturating_mul(st.fragment_size()))
            .unwrap_or(0);
        let mut to_write = free.saturating_sub(leave);
        let block = vec![0u8; 64 << 10];
        while to_write > 0 {
            let n = (block.len() as u64).min(to_write) as usize;
            if f.write_all(&block[..n]).is_err() {
                break;
            }
            to_write -= n as u64;
        }
        let _ = f.sync_all();
        path
    }

    /// Fills the file system (writes until the disk says no); returns the filler's path.
    pub fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.fill_leaving(0);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        let block = vec![0u8; 64 << 10];
        while f.write_all(&block).is_ok() {}
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}
