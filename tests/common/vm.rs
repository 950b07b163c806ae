//! Runs one test of the current test binary inside a virtual machine booted from Debian's own
//! kernel, for what the running kernel lacks (its `tls` module, where this machine runs a
//! container or micro-VM kernel).
//!
//! The VM is QEMU with TCG (no KVM needed: nested KVM is not always there), 2 CPUs, 2 GiB. Its
//! root is this machine's root file system shared read-only over 9p, so the test binary, the
//! `fleuve` binary and their libraries are the same files; a tmpfs at `/run` holds `TMPDIR`. An
//! initramfs made here from busybox-static loads the virtio, 9p and asked-for modules, brings up
//! loopback, mounts the root and runs the test. The kernel comes unpacked from Debian's
//! `linux-image-amd64` (scripts/setup.sh puts it in `FLEUVE_TEST_KERNEL_DIR`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The environment variable set inside the VM, so a test knows not to boot another.
pub const GUEST: &str = "FLEUVE_TEST_IN_VM";

/// Modules the VM always needs (in load order): virtio PCI and the 9p file system.
const BASE_MODULES: &[&str] = &[
    "drivers/virtio/virtio_ring.ko",
    "drivers/virtio/virtio.ko",
    "drivers/virtio/virtio_pci_legacy_dev.ko",
    "drivers/virtio/virtio_pci_modern_dev.ko",
    "drivers/virtio/virtio_pci.ko",
    "fs/netfs/netfs.ko",
    "fs/fscache/fscache.ko",
    "net/9p/9pnet.ko",
    "net/9p/9pnet_virtio.ko",
    "fs/9p/9p.ko",
];

/// Whether this process is the test running inside the VM.
pub fn inside() -> bool {
    std::env::var_os(GUEST).is_some()
}

/// Runs test `name` of this binary inside the VM with the extra kernel `modules` loaded
/// (paths under the kernel's `kernel/` directory), and panics with the VM's console unless the
/// test passed there.
pub fn run_test(name: &str, modules: &[&str]) {
    let kernel_dir = PathBuf::from(
        std::env::var("FLEUVE_TEST_KERNEL_DIR")
            .unwrap_or_else(|_| "/var/cache/fleuve/test-kernel".into()),
    );
    let (vmlinuz, module_root) = kernel(&kernel_dir).unwrap_or_else(|| {
        panic!(
            "no Debian kernel unpacked in {} (FLEUVE_TEST_KERNEL_DIR): run scripts/setup.sh",
            kernel_dir.display()
        )
    });
    let busybox = Path::new("/bin/busybox");
    let static_busybox = Command::new("sh")
        .arg("-c")
        .arg("ldd /bin/busybox 2>&1 | grep -q 'not a dynamic'")
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        static_busybox,
        "the VM's initramfs needs a static /bin/busybox (apt-get install busybox-static)"
    );
    // Not under /tmp: the initramfs and the script are read by the VM from this machine's files.
    let work = tempfile::Builder::new()
        .prefix("fleuve-vm-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let ir = work.path().join("initramfs");
    std::fs::create_dir_all(ir.join("bin")).unwrap();
    std::fs::create_dir_all(ir.join("lib")).unwrap();
    std::fs::copy(busybox, ir.join("bin/busybox")).unwrap();
    let mut insmod = String::new();
    for m in BASE_MODULES.iter().chain(modules) {
        let file = Path::new(m).file_name().unwrap().to_str().unwrap();
        std::fs::copy(module_root.join(m), ir.join("lib").join(file))
            .unwrap_or_else(|e| panic!("module {m} in {}: {e}", module_root.display()));
        insmod.push_str(&format!(
            "insmod /lib/{file} || echo 'VM: insmod {file} failed'\n"
        ));
    }
    let script = work.path().join("run.sh");
    let exe = std::env::current_exe().unwrap();
    let cwd = std::env::current_dir().unwrap();
    std::fs::write(
        &script,
        format!(
            "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n\
             mkdir -p /run/tmp && export HOME=/run/tmp TMPDIR=/run/tmp {GUEST}=1\n\
             {env}\
             cd '{cwd}' || cd /\n\
             '{exe}' '{name}' --exact --nocapture --test-threads=1\n\
             echo \"VM-TEST-EXIT=$?\"\n",
            env = passed_env(),
            cwd = cwd.display(),
            exe = exe.display(),
        ),
    )
    .unwrap();
    std::fs::write(
        ir.join("init"),
        format!(
            "#!/bin/busybox sh\n\
             /bin/busybox --install -s /bin\n\
             mkdir -p /proc /sys /dev /newroot\n\
             mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev\n\
             {insmod}\
             ip link set lo up\n\
             mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose hostroot /newroot || echo 'VM: cannot mount the root'\n\
             mount -t proc proc /newroot/proc; mount -t sysfs sys /newroot/sys\n\
             mount -t devtmpfs dev /newroot/dev; mount -t tmpfs -o size=1g run /newroot/run\n\
             chroot /newroot /bin/sh '{script}'\n\
             poweroff -f\n",
            script = script.display(),
        ),
    )
    .unwrap();
    let mut perms = std::fs::metadata(ir.join("init")).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(ir.join("init"), perms).unwrap();
    let initrd = work.path().join("initrd.gz");
    let packed = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "cd '{}' && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1 > '{}'",
            ir.display(),
            initrd.display()
        ))
        .status()
        .unwrap();
    assert!(packed.success(), "cannot pack the initramfs");

    let console = work.path().join("console.log");
    let started = Instant::now();
    let mut vm = Command::new("qemu-system-x86_64")
        .args(["-accel", "tcg", "-cpu", "max", "-m", "2048", "-smp", "2"])
        .arg("-kernel")
        .arg(&vmlinuz)
        .arg("-initrd")
        .arg(&initrd)
        .args(["-append", "console=ttyS0 quiet panic=-1"])
        .args([
            "-virtfs",
            "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
        ])
        .args([
            "-display",
            "none",
            "-no-reboot",
            "-nic",
            "none",
            "-monitor",
            "none",
        ])
        .arg("-serial")
        .arg(format!("file:{}", console.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("qemu-system-x86_64 is required (apt-get install qemu-system-x86)");
    let deadline = started + Duration::from_secs(600);
    let status = loop {
        if let Some(status) = vm.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = vm.kill();
            let _ = vm.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let out = std::fs::read_to_string(&console).unwrap_or_default();
    eprintln!(
        "--- VM console ({:.1} s) ---\n{out}\n--- end of VM console ---",
        started.elapsed().as_secs_f64()
    );
    assert!(status.is_some(), "the VM did not finish within 10 minutes");
    assert!(
        out.contains("VM-TEST-EXIT=0"),
        "test {name} did not pass inside the VM (console above)"
    );
}

/// The unpacked kernel image and its modules' directory.
fn kernel(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let boot = dir.join("root/boot");
    let vmlinuz = std::fs::read_dir(&boot)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("vmlinuz-"))
        })?;
    let release = vmlinuz.file_name()?.to_str()?.strip_prefix("vmlinuz-")?;
    let modules = dir.join("root/lib/modules").join(release).join("kernel");
    Some((vmlinuz.clone(), modules))
}

/// The test environment worth carrying into the VM (binaries and fixtures the tests find
/// through variables), as `export` lines.
fn passed_env() -> String {
    std::env::vars()
        .filter(|(k, _)| k.starts_with("FLEUVE_") || k == "RUST_LOG" || k == "RUST_BACKTRACE")
        .filter(|(_, v)| !v.contains('\''))
        .map(|(k, v)| format!("export {k}='{v}'\n"))
        .collect()
}
