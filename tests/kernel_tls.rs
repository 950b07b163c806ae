//! HTTPS through kernel TLS: after the rustls handshake the kernel frames and encrypts the
//! records, and media goes out with `sendfile` over TLS.
//!
//! This needs a kernel with the `tls` module. Where the running kernel has none (these CI
//! machines run a micro-VM kernel without modules), the test boots Debian's own kernel in QEMU
//! with this machine's files shared read-only and runs there (tests/common/vm.rs); on a kernel
//! with the module (a Debian server) it runs directly.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

const HLS: &str = "/static/streaming-playlists/hls/0f5c4e9b-0000-4000-8000-000000000001";

fn kernel_has_tls() -> bool {
    // Asking for the ULP on a connected socket is the test (it also loads the module).
    let Ok(listener) = std::net::TcpListener::bind("127.0.0.1:0") else {
        return false;
    };
    let Ok(client) = TcpStream::connect(listener.local_addr().unwrap()) else {
        return false;
    };
    let name = b"tls";
    // SAFETY: the option value is a live byte buffer of the given length.
    let rc = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&client),
            libc::SOL_TCP,
            libc::TCP_ULP,
            name.as_ptr().cast(),
            name.len() as libc::socklen_t,
        )
    };
    rc == 0
}

#[test]
fn https_over_kernel_tls() {
    if kernel_has_tls() {
        rt().block_on(scenario());
    } else if common::vm::inside() {
        panic!("inside the VM, and its kernel did not take the `tls` module");
    } else {
        eprintln!("this kernel has no `tls` module: running the test in a VM with Debian's kernel");
        // The module and the kernel crypto it asks for (the VM has no modprobe to load them).
        common::vm::run_test(
            "https_over_kernel_tls",
            &[
                "crypto/gf128mul.ko",
                "crypto/ghash-generic.ko",
                "crypto/ctr.ko",
                "crypto/gcm.ko",
                "lib/crypto/libchacha.ko",
                "crypto/chacha_generic.ko",
                "lib/crypto/libpoly1305.ko",
                "crypto/poly1305_generic.ko",
                "crypto/chacha20poly1305.ko",
                "net/tls/tls.ko",
            ],
        );
    }
}

fn put(s: &Server, name: &str, data: &[u8]) -> String {
    let p = s
        .media()
        .join("streaming-playlists/hls/0f5c4e9b-0000-4000-8000-000000000001")
        .join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
    format!("{HLS}/{name}")
}

fn tls_server(dir: &std::path::Path, extra: &[(&str, &str)]) -> Server {
    let (cert, key, _) = self_signed_cert(dir);
    let mut env = vec![
        ("FLEUVE_ENGINE_SHARDS".to_string(), "1".to_string()),
        ("FLEUVE_TLS_CERT".into(), cert.display().to_string()),
        ("FLEUVE_TLS_KEY".into(), key.display().to_string()),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Server::start_with(Options { env, args: vec![] })
}

/// The TLS sessions so far, (user, kernel), and the long ranges the HTTP/1.1 fast path sent
/// with sendfile. The request for them is itself a kernel TLS session (counted).
async fn sessions(s: &Server) -> (u64, u64) {
    let (user, kernel, _) = counters(s).await;
    (user, kernel)
}

async fn counters(s: &Server) -> (u64, u64, u64) {
    let text = reqwest::Client::builder()
        .no_proxy()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap()
        .get(format!("https://{}/metrics", s.addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let get = |line: String| {
        text.lines()
            .find_map(|l| l.strip_prefix(line.as_str()))
            .unwrap_or_else(|| panic!("no {line} in the metrics"))
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    let tls = |records: &str| format!("fleuve_tls_sessions_total{{records=\"{records}\"}} ");
    (
        get(tls("user")),
        get(tls("kernel")),
        get("fleuve_media_large_ranges_total{source=\"page_cache\"} ".into()),
    )
}

async fn scenario() {
    let certs = tempfile::tempdir().unwrap();
    let s = tls_server(certs.path(), &[]);
    assert!(
        s.log()
            .contains("kernel TLS: after the handshake the kernel frames"),
        "{}",
        s.log()
    );
    let data = pattern(5 * 1024 * 1024 + 321);
    let media = format!(
        "https://{}{}",
        s.addr,
        put(&s, "k-720-fragmented.mp4", &data)
    );
    let playlist = format!("https://{}{}", s.addr, put(&s, "k.m3u8", b"#EXTM3U\n"));
    let ranges = [
        (0usize, 1399usize),
        (1400, 1400 + 2 * 1024 * 1024 - 1),
        (1_048_575, 4_194_304),
        (data.len() - 1000, data.len() - 1),
    ];

    // HTTP/1.1 (the fast path: sendfile and the memory cache through the kernel's records)
    // and HTTP/2 (hyper over the kernel TLS socket).
    for h2 in [false, true] {
        let mut b = reqwest::Client::builder()
            .no_proxy()
            .danger_accept_invalid_certs(true);
        if !h2 {
            b = b.http1_only().pool_max_idle_per_host(1);
        }
        let c = b.build().unwrap();
        let want = if h2 {
            reqwest::Version::HTTP_2
        } else {
            reqwest::Version::HTTP_11
        };
        let r = c.get(&playlist).send().await.unwrap();
        assert_eq!((r.status().as_u16(), r.version()), (200, want));
        // HTTP/3 is announced on the fast path's answers too.
        let alt_svc = r
            .headers()
            .get("alt-svc")
            .map(|v| v.to_str().unwrap().to_string());
        assert!(
            alt_svc.as_deref().is_some_and(|v| v.starts_with("h3=")),
            "h2={h2}: Alt-Svc {alt_svc:?}"
        );
        assert_eq!(&r.bytes().await.unwrap()[..], b"#EXTM3U\n");
        for round in 0..2 {
            for (start, end) in ranges {
                let r = c
                    .get(&media)
                    .header("range", format!("bytes={start}-{end}"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 206, "h2={h2} {start}-{end}");
                let body = r.bytes().await.unwrap();
                assert!(
                    body[..] == data[start..=end],
                    "h2={h2} round {round} {start}-{end}: bytes differ"
                );
            }
            let whole = c.get(&media).send().await.unwrap().bytes().await.unwrap();
            assert!(whole[..] == data[..], "h2={h2}: whole file differs");
            // An API request: over HTTP/1.1 it hands the connection from the fast path to
            // hyper (with the kernel TLS socket); the media requests of the second round then
            // go through hyper on the same connection.
            let r = c
                .get(format!("https://{}/api/v1/config", s.addr))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            assert!(r.text().await.unwrap().contains("instance"));
        }
    }
    let (user, kernel, sendfile) = counters(&s).await;
    assert_eq!(user, 0, "every session went to the kernel");
    assert!(kernel >= 2, "kernel sessions: {kernel}");
    // The first HTTP/1.1 round's long ranges and whole file: sendfile over kernel TLS.
    assert!(sendfile >= 3, "long ranges sent with sendfile: {sendfile}");

    // Raw rustls clients: TLS 1.2 and each cipher, a request sent with the client's Finished,
    // a clean close_notify, and a KeyUpdate (which kernel TLS cannot follow: that connection
    // ends, the others go on).
    let addr: std::net::SocketAddr = s.addr.parse().unwrap();
    let path = format!("{HLS}/k-720-fragmented.mp4");
    let suites = [
        rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256,
        rustls::crypto::ring::cipher_suite::TLS13_AES_256_GCM_SHA384,
        rustls::crypto::ring::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
        rustls::crypto::ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        rustls::crypto::ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        rustls::crypto::ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ];
    let before = sessions(&s).await.1;
    let path2 = path.clone();
    let data2 = data.clone();
    tokio::task::spawn_blocking(move || {
        for suite in suites {
            let mut tls = RawClient::connect(addr, suite);
            // The first request is written before the handshake ends, so it leaves with the
            // client's Finished.
            let (status, body) = tls.get(&path2, Some((1000, 300_000)), true);
            assert_eq!(status, 206, "{suite:?}");
            assert!(body[..] == data2[1000..=300_000], "{suite:?}: bytes differ");
            let (status, body) = tls.get(&path2, None, false);
            assert_eq!(status, 200, "{suite:?}");
            assert!(body[..] == data2[..], "{suite:?}: whole file differs");
            tls.close_notify();
        }
        // A KeyUpdate from the client: the kernel cannot change keys, so the connection ends
        // (the client reads the end, not a hang), and a new one is served.
        let mut tls = RawClient::connect(addr, suites[0]);
        let (status, _) = tls.get(&path2, Some((0, 99)), false);
        assert_eq!(status, 206);
        tls.conn.refresh_traffic_keys().unwrap();
        tls.write_request(&path2, Some((0, 99)));
        assert!(
            tls.read_response().is_none(),
            "a connection whose client changed keys went on"
        );
    })
    .await
    .unwrap();
    let (user, kernel) = sessions(&s).await;
    assert_eq!(user, 0);
    assert_eq!(
        kernel - before,
        7 + 1,
        "one kernel session per raw connection, and the metrics request's"
    );
    // Still serving after all that.
    let c = reqwest::Client::builder()
        .no_proxy()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let r = c
        .get(&media)
        .header("range", "bytes=10-20")
        .send()
        .await
        .unwrap();
    assert_eq!(&r.bytes().await.unwrap()[..], &data[10..=20]);
    drop(s);

    // tls.kernel_offload = false: the same requests, every record in rustls.
    let certs = tempfile::tempdir().unwrap();
    let s = tls_server(certs.path(), &[("FLEUVE_TLS_KERNEL_OFFLOAD", "false")]);
    let media = format!(
        "https://{}{}",
        s.addr,
        put(&s, "k-720-fragmented.mp4", &data)
    );
    let r = c
        .get(&media)
        .header("range", "bytes=100-2000000")
        .send()
        .await
        .unwrap();
    assert_eq!(&r.bytes().await.unwrap()[..], &data[100..=2_000_000]);
    let (user, kernel) = sessions(&s).await;
    assert_eq!((user >= 1, kernel), (true, 0));
}

/// A blocking rustls client offering one cipher suite, reading HTTP/1.1 responses by hand.
struct RawClient {
    conn: rustls::ClientConnection,
    sock: TcpStream,
}

impl RawClient {
    fn connect(addr: std::net::SocketAddr, suite: rustls::SupportedCipherSuite) -> RawClient {
        let mut provider = rustls::crypto::ring::default_provider();
        provider.cipher_suites = vec![suite];
        let version = match suite {
            rustls::SupportedCipherSuite::Tls13(_) => &rustls::version::TLS13,
            rustls::SupportedCipherSuite::Tls12(_) => &rustls::version::TLS12,
        };
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&[version])
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCert))
            .with_no_client_auth();
        let conn = rustls::ClientConnection::new(Arc::new(config), "localhost".try_into().unwrap())
            .unwrap();
        let sock = TcpStream::connect(addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        RawClient { conn, sock }
    }

    fn write_request(&mut self, path: &str, range: Option<(usize, usize)>) {
        let range = range
            .map(|(a, b)| format!("range: bytes={a}-{b}\r\n"))
            .unwrap_or_default();
        let req = format!("GET {path} HTTP/1.1\r\nhost: localhost\r\n{range}\r\n");
        self.conn.writer().write_all(req.as_bytes()).unwrap();
    }

    /// Sends a request (`early`: before driving the handshake, so it rides with the client's
    /// Finished) and reads the answer.
    fn get(&mut self, path: &str, range: Option<(usize, usize)>, early: bool) -> (u16, Vec<u8>) {
        if !early {
            while self.conn.is_handshaking() {
                self.conn.complete_io(&mut self.sock).unwrap();
            }
        }
        self.write_request(path, range);
        self.read_response().expect("an answer")
    }

    /// The next response, or None when the connection ended first.
    fn read_response(&mut self) -> Option<(u16, Vec<u8>)> {
        let mut stream = rustls::Stream::new(&mut self.conn, &mut self.sock);
        let mut got = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        let head_end = loop {
            if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return None,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        };
        let head = String::from_utf8_lossy(&got[..head_end]).to_ascii_lowercase();
        let status: u16 = head[9..12].parse().unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .expect("a content-length")
            .trim()
            .parse()
            .unwrap();
        while got.len() < head_end + len {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return None,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        Some((status, got[head_end..head_end + len].to_vec()))
    }

    fn close_notify(mut self) {
        self.conn.send_close_notify();
        let _ = self.conn.complete_io(&mut self.sock);
        // The server answers with its own close_notify and the end of the stream.
        let mut stream = rustls::Stream::new(&mut self.conn, &mut self.sock);
        let mut buf = [0u8; 64];
        assert!(
            matches!(stream.read(&mut buf), Ok(0)),
            "no clean end after close_notify"
        );
    }
}

/// Accepts the test's self-signed certificate (signatures are still checked).
#[derive(Debug)]
struct AnyCert;

impl rustls::client::danger::ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &rustls::crypto::ring::default_provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &rustls::crypto::ring::default_provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}
