//! Kernel TLS detection. With the kernel's `tls` upper-layer protocol, a socket can take the
//! session's keys after the handshake and frame and encrypt records itself, so media goes out
//! with `sendfile` over TLS as it does in the clear. The only reliable test is to ask for it on
//! an established TCP socket (`setsockopt(TCP_ULP, "tls")`), which also loads the module where
//! it is modular; `/proc/sys/net/ipv4/tcp_available_ulp` lists only what is loaded.
//!
//! Fleuve probes once at start when TLS is configured and says what it found (log and admin
//! status). Sending through kernel TLS is not implemented: the kernels this was built and tested
//! on have no `tls` ULP, so that path could not be exercised (see docs/operations.md, "TLS"). TLS
//! records are framed and encrypted by rustls in user space.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;

/// Whether the kernel offers TLS offload: `Ok(())`, or why not (naming the errno).
pub fn probe() -> Result<(), String> {
    let pair = || -> io::Result<(TcpStream, TcpStream)> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let client = TcpStream::connect(listener.local_addr()?)?;
        let (server, _) = listener.accept()?;
        Ok((client, server))
    };
    let (client, _server) = pair().map_err(|e| format!("cannot open a loopback socket: {e}"))?;
    let name = b"tls";
    // SAFETY: the option value is a live byte buffer of the given length.
    let rc = unsafe {
        libc::setsockopt(
            client.as_raw_fd(),
            libc::SOL_TCP,
            libc::TCP_ULP,
            name.as_ptr().cast(),
            name.len() as libc::socklen_t,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    Err(match e.raw_os_error() {
        Some(libc::ENOENT) => format!(
            "this kernel has no `tls` upper-layer protocol (setsockopt TCP_ULP: ENOENT; available: {})",
            available_ulps()
        ),
        Some(libc::EPERM) => format!("kernel TLS is not permitted here (setsockopt TCP_ULP: {e})"),
        _ => format!("kernel TLS cannot be set up (setsockopt TCP_ULP: {e})"),
    })
}

/// The upper-layer protocols the kernel has loaded, as it lists them.
pub fn available_ulps() -> String {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_available_ulp")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "none".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The probe agrees with the kernel: when it finds `tls`, the kernel lists it as loaded;
    /// when it does not (the kernels here), the reason names ENOENT and the list lacks it.
    #[test]
    fn the_probe_agrees_with_the_kernels_list() {
        let listed = || available_ulps().split_whitespace().any(|u| u == "tls");
        match probe() {
            Ok(()) => assert!(listed(), "tls set up but not listed: {}", available_ulps()),
            Err(why) => {
                assert!(!listed(), "tls listed but the probe failed: {why}");
                assert!(
                    why.contains("ENOENT") || why.contains("not permitted"),
                    "{why}"
                );
                eprintln!("kernel TLS: {why}");
            }
        }
    }
}
