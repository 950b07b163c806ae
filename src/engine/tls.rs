//! TLS for the listeners (rustls, ALPN `h2` and `http/1.1`) and for HTTP/3 (TLS 1.3, ALPN `h3`),
//! loaded once at start.

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

/// Builds the TCP listeners' config from PEM files, naming the file that is wrong.
/// `kernel_offload`: the connections' keys may be handed to the kernel after the handshake.
pub fn load(
    cert: &Path,
    key: &Path,
    kernel_offload: bool,
) -> Result<Arc<rustls::ServerConfig>, String> {
    let mut config = build(cert, key, rustls::DEFAULT_VERSIONS)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config.enable_secret_extraction = kernel_offload;
    Ok(Arc::new(config))
}

/// Builds the QUIC endpoints' config (TLS 1.3 only, as QUIC requires; ALPN `h3`).
pub fn load_quic(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, String> {
    let mut config = build(cert, key, &[&rustls::version::TLS13])?;
    config.alpn_protocols = vec![b"h3".to_vec()];
    Ok(config)
}

fn build(
    cert: &Path,
    key: &Path,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<rustls::ServerConfig, String> {
    let open = |p: &Path| {
        std::fs::File::open(p)
            .map(BufReader::new)
            .map_err(|e| format!("cannot read {}: {e}", p.display()))
    };
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut open(cert)?)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: not a PEM certificate chain: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate found", cert.display()));
    }
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut open(key)?)
        .map_err(|e| format!("{}: not a PEM private key: {e}", key.display()))?
        .ok_or_else(|| format!("{}: no private key found", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("TLS certificate/key mismatch or unsupported key: {e}"))
}
