//! Outgoing federation requests: signed GETs of ActivityPub documents and signed POSTs to
//! inboxes, with PeerTube's limits (time, size) and the SSRF guard: names resolving to loopback,
//! private, link-local or otherwise non-public addresses are refused (redirects included, since
//! the guard sits in the resolver) unless `federation.allow_private_addresses` is set.

use crate::config::FederationConfig;
use crate::federation::signature::{sign_request_fast, RequestHead, SigningKey};
use http::{HeaderMap, HeaderValue, Method};
use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

/// ActivityPub media types we ask for and send.
pub const AP_ACCEPT: &str = "application/activity+json, application/ld+json";
const AP_CONTENT_TYPE: &str = "application/activity+json";

/// Why an outgoing request failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Not an `http(s)` URL we can use.
    #[error("bad URL {0:?}")]
    BadUrl(String),
    /// The host resolves only to addresses we may not reach.
    #[error("{0} resolves only to non-public addresses (set federation.allow_private_addresses to allow)")]
    Forbidden(String),
    /// The answer was not a success.
    #[error("{url} answered HTTP {status}")]
    Status {
        /// Requested URL.
        url: String,
        /// Status code.
        status: u16,
    },
    /// The document is larger than `federation.fetch_max_bytes`, or not JSON.
    #[error("{url}: {reason}")]
    Body {
        /// Requested URL.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// Connection, TLS, timeout.
    #[error("{url}: {reason}")]
    Transport {
        /// Requested URL.
        url: String,
        /// What happened.
        reason: String,
    },
    /// Signing failed.
    #[error("cannot sign the request: {0}")]
    Sign(String),
}

impl FetchError {
    /// Whether trying again later may help (network trouble, 5xx, 429, 408).
    pub fn is_temporary(&self) -> bool {
        match self {
            FetchError::Transport { .. } => true,
            FetchError::Status { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            _ => false,
        }
    }
}

/// Who signs a request: `keyId` and the private key.
#[derive(Clone)]
pub struct Signer {
    /// `<actor>#main-key`.
    pub key_id: String,
    /// The actor's private key.
    pub key: Arc<SigningKey>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// Whether `ip` is a public unicast address (what federation may reach by default).
///
/// IPv6 forms that carry an IPv4 address (IPv4-mapped, IPv4-compatible, IPv4-translated,
/// 6to4, Teredo) are judged by the IPv4 they embed: `::ffff:127.0.0.1` or `2002:7f00:1::`
/// reach loopback through a dual-stack socket or a relay, so they are no more public than it.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            if v6.is_loopback() || v6.is_unspecified() {
                return false;
            }
            let embedded = embedded_ipv4(v6);
            if !embedded.is_empty() {
                return embedded.into_iter().all(is_public_v4);
            }
            !(v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // ULA
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] & 0xfff0) == 0x3ff0 // 3fff::/20 documentation
                || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // 100::/64 discard
                || (s[0] == 0x2001 && s[1] == 0x0002 && s[2] == 0) // 2001:2::/48 benchmarking
                || (s[0] == 0x0064 && s[1] == 0xff9b)) // NAT64 (64:ff9b::/96, 64:ff9b:1::/48)
        }
    }
}

fn is_public_v4(v4: Ipv4Addr) -> bool {
    let o = v4.octets();
    !(v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_broadcast()
        || v4.is_documentation()
        || v4.is_unspecified()
        || v4.is_multicast()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64/10 CGNAT
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0/24
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18/15 benchmarking
        || o[0] >= 240)
}

/// The IPv4 addresses an IPv6 address embeds and may lead to (empty for plain IPv6).
fn embedded_ipv4(v6: Ipv6Addr) -> Vec<Ipv4Addr> {
    let s = v6.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match s {
        // ::ffff:a.b.c.d (mapped), ::a.b.c.d (compatible, deprecated), ::ffff:0:a.b.c.d
        // (IPv4-translated, SIIT).
        [0, 0, 0, 0, 0, 0xffff, hi, lo]
        | [0, 0, 0, 0, 0, 0, hi, lo]
        | [0, 0, 0, 0, 0xffff, 0, hi, lo] => vec![v4(hi, lo)],
        // 6to4: 2002:AABB:CCDD::/48 is routed to AA.BB.CC.DD.
        [0x2002, hi, lo, ..] => vec![v4(hi, lo)],
        // Teredo: 2001:0:<server IPv4>:<flags>:<port>:<client IPv4 XOR ffff:ffff>.
        [0x2001, 0, shi, slo, _, _, chi, clo] => vec![v4(shi, slo), v4(!chi, !clo)],
        _ => Vec::new(),
    }
}

/// The resolver that keeps only reachable addresses.
#[derive(Debug)]
struct GuardedResolver {
    allow_private: bool,
    inner: DefaultResolver,
}

impl Resolver for GuardedResolver {
    fn resolve(
        &self,
        uri: &http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let all = self.inner.resolve(uri, config, timeout)?;
        if self.allow_private {
            return Ok(all);
        }
        let mut kept = self.inner.empty();
        kept.truncate(0);
        for a in all.iter().filter(|a| is_public(a.ip())) {
            kept.push(*a);
        }
        if kept.is_empty() {
            return Err(ureq::Error::Other(Box::new(FetchError::Forbidden(
                uri.host().unwrap_or_default().to_string(),
            ))));
        }
        Ok(kept)
    }
}

/// The federation HTTP client (one per process; connections are pooled per host).
pub struct Client {
    agent: ureq::Agent,
    max_bytes: usize,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client with `config`'s limits.
    pub fn new(config: &FederationConfig) -> Client {
        let timeout = Duration::from_secs(config.request_timeout_secs.max(1));
        let agent_config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .max_redirects(5)
            .max_idle_connections(config.delivery_workers.max(1) * 4)
            .max_idle_connections_per_host(config.delivery_per_host.max(1))
            .user_agent(format!(
                "Fleuve/{} (PeerTube-compatible)",
                env!("CARGO_PKG_VERSION")
            ))
            .build();
        let resolver = GuardedResolver {
            allow_private: config.allow_private_addresses,
            inner: DefaultResolver::default(),
        };
        Client {
            agent: ureq::Agent::with_parts(agent_config, DefaultConnector::new(), resolver),
            max_bytes: config.fetch_max_bytes,
        }
    }

    /// `GET url` for an ActivityPub document, signed by `signer` when given.
    pub fn get_json(&self, url: &str, signer: Option<&Signer>) -> Result<Value, FetchError> {
        let uri = parse_url(url)?;
        let mut rb = self.agent.get(url).header("accept", AP_ACCEPT);
        if let Some(signer) = signer {
            for (name, value) in signed_headers(&uri, &Method::GET, None, signer)? {
                if let Some(name) = name {
                    rb = rb.header(name, value);
                }
            }
        }
        let response = rb.call().map_err(|e| transport(url, e))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(FetchError::Status {
                url: url.to_string(),
                status,
            });
        }
        let bytes = response
            .into_body()
            .with_config()
            .limit(self.max_bytes as u64)
            .read_to_vec()
            .map_err(|e| FetchError::Body {
                url: url.to_string(),
                reason: format!("cannot read the body (limit {} bytes): {e}", self.max_bytes),
            })?;
        serde_json::from_slice(&bytes).map_err(|e| FetchError::Body {
            url: url.to_string(),
            reason: format!("not JSON: {e}"),
        })
    }

    /// `GET url` for an image of at most `max_bytes`: its content type as its bytes say
    /// (`image/jpeg`, `image/png` or `image/webp`; anything else is refused) and its bytes.
    pub fn get_image(&self, url: &str, max_bytes: usize) -> Result<(String, Vec<u8>), FetchError> {
        parse_url(url)?;
        let response = self
            .agent
            .get(url)
            .header("accept", "image/jpeg, image/png, image/webp")
            .call()
            .map_err(|e| transport(url, e))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(FetchError::Status {
                url: url.to_string(),
                status,
            });
        }
        let bytes = response
            .into_body()
            .with_config()
            .limit(max_bytes as u64)
            .read_to_vec()
            .map_err(|e| FetchError::Body {
                url: url.to_string(),
                reason: format!("cannot read the image (limit {max_bytes} bytes): {e}"),
            })?;
        // What the bytes are, not what the origin says they are.
        let kind = image_kind(&bytes).ok_or_else(|| FetchError::Body {
            url: url.to_string(),
            reason: "not a JPEG, PNG or WebP image".into(),
        })?;
        Ok((kind.to_string(), bytes))
    }

    /// `GET url` for a file that is not an ActivityPub document (an HLS playlist, a hashes
    /// JSON) of at most `max_bytes`, within the client's request timeout.
    pub fn get_bytes(&self, url: &str, max_bytes: u64) -> Result<Vec<u8>, FetchError> {
        parse_url(url)?;
        let response = self.agent.get(url).call().map_err(|e| transport(url, e))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(FetchError::Status {
                url: url.to_string(),
                status,
            });
        }
        response
            .into_body()
            .with_config()
            .limit(max_bytes)
            .read_to_vec()
            .map_err(|e| FetchError::Body {
                url: url.to_string(),
                reason: format!("cannot read the body (limit {max_bytes} bytes): {e}"),
            })
    }

    /// `GET url` into `out`: at most `max_bytes` (more is an error), all of it before
    /// `deadline`, at most `rate` bytes per second (0: no limit), given up as soon as `stop`
    /// is set. Returns the bytes written.
    pub fn get_to_writer(
        &self,
        url: &str,
        out: &mut impl std::io::Write,
        max_bytes: u64,
        deadline: std::time::Instant,
        rate: u64,
        stop: &std::sync::atomic::AtomicBool,
    ) -> Result<u64, FetchError> {
        use std::io::Read;
        parse_url(url)?;
        let body_err = |reason: String| FetchError::Body {
            url: url.to_string(),
            reason,
        };
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(body_err("no time left to download it".into()));
        }
        let response = self
            .agent
            .get(url)
            .config()
            .timeout_global(Some(left))
            .build()
            .call()
            .map_err(|e| transport(url, e))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(FetchError::Status {
                url: url.to_string(),
                status,
            });
        }
        let mut reader = response
            .into_body()
            .into_with_config()
            .limit(max_bytes.saturating_add(1))
            .reader();
        let started = std::time::Instant::now();
        let mut buf = vec![0u8; 256 << 10];
        let mut total = 0u64;
        loop {
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(body_err("stopped (the server is shutting down)".into()));
            }
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(body_err(format!("after {total} bytes: {e}"))),
            };
            total += n as u64;
            if total > max_bytes {
                return Err(body_err(format!(
                    "larger than the {max_bytes} bytes allowed"
                )));
            }
            out.write_all(&buf[..n])
                .map_err(|e| body_err(format!("cannot write it: {e}")))?;
            if rate > 0 {
                // Hold the average under `rate`: sleep until the bytes so far are due.
                let due = Duration::from_secs_f64(total as f64 / rate as f64);
                let spent = started.elapsed();
                if due > spent {
                    std::thread::sleep((due - spent).min(Duration::from_millis(500)));
                }
            }
        }
        Ok(total)
    }

    /// Signed `POST` of an activity to an inbox. Ok on any 2xx.
    pub fn post_activity(
        &self,
        inbox: &str,
        body: &[u8],
        signer: &Signer,
    ) -> Result<u16, FetchError> {
        let uri = parse_url(inbox)?;
        let mut rb = self
            .agent
            .post(inbox)
            .header("content-type", AP_CONTENT_TYPE)
            .header("accept", AP_ACCEPT);
        for (name, value) in signed_headers(&uri, &Method::POST, Some(body), signer)? {
            if let Some(name) = name {
                rb = rb.header(name, value);
            }
        }
        let mut response = rb.send(body).map_err(|e| transport(inbox, e))?;
        let status = response.status().as_u16();
        // Drain a little of the body so the connection can be reused.
        let _ = response
            .body_mut()
            .with_config()
            .limit(64 << 10)
            .read_to_vec();
        if (200..300).contains(&status) {
            Ok(status)
        } else {
            Err(FetchError::Status {
                url: inbox.to_string(),
                status,
            })
        }
    }
}

/// The content type of a JPEG, PNG or WebP image, from its first bytes.
fn image_kind(b: &[u8]) -> Option<&'static str> {
    if b.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

fn parse_url(url: &str) -> Result<http::Uri, FetchError> {
    let uri: http::Uri = url
        .parse()
        .map_err(|_| FetchError::BadUrl(url.to_string()))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(h)) if !h.is_empty() => Ok(uri),
        _ => Err(FetchError::BadUrl(url.to_string())),
    }
}

fn signed_headers(
    uri: &http::Uri,
    method: &Method,
    body: Option<&[u8]>,
    signer: &Signer,
) -> Result<HeaderMap, FetchError> {
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::HOST,
        HeaderValue::from_str(authority).map_err(|e| FetchError::Sign(e.to_string()))?,
    );
    let target = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let head = RequestHead {
        method,
        target,
        headers: &headers,
    };
    sign_request_fast(&head, body, &signer.key_id, &signer.key, SystemTime::now())
        .map_err(|e| FetchError::Sign(e.to_string()))
}

fn transport(url: &str, e: ureq::Error) -> FetchError {
    if let ureq::Error::Other(inner) = &e {
        if let Some(FetchError::Forbidden(h)) = inner.downcast_ref::<FetchError>() {
            return FetchError::Forbidden(h.clone());
        }
    }
    FetchError::Transport {
        url: url.to_string(),
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.1.1",
            "172.16.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "::",
            "::1",
            "fe80::1",
            "fd00::1",
            "fec0::1",
            "::ffff:127.0.0.1",
            "255.255.255.255",
            "64:ff9b::7f00:1",
            "64:ff9b:1::1",
            "100::1",
            "2001:db8::1",
            "3fff::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["1.1.1.1", "93.184.216.34", "2606:4700::1111", "2a01:4f8::1"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn ipv6_forms_embedding_ipv4_are_judged_by_that_ipv4() {
        let judged = |ip: &str| is_public(ip.parse().unwrap());
        // IPv4-mapped.
        assert!(!judged("::ffff:10.0.0.1"));
        assert!(!judged("::ffff:169.254.169.254"));
        assert!(judged("::ffff:1.1.1.1"));
        // IPv4-compatible (deprecated).
        assert!(!judged("::127.0.0.1"));
        assert!(!judged("::192.168.0.1"));
        assert!(!judged("::169.254.169.254"));
        assert!(judged("::1.1.1.1"));
        // IPv4-translated (SIIT).
        assert!(!judged("::ffff:0:127.0.0.1"));
        assert!(judged("::ffff:0:1.1.1.1"));
        // 6to4: 2002:AABB:CCDD::/48 embeds AA.BB.CC.DD.
        assert!(!judged("2002:7f00:1::1")); // 127.0.0.1
        assert!(!judged("2002:a00:1::")); // 10.0.0.1
        assert!(!judged("2002:a9fe:a9fe::1")); // 169.254.169.254
        assert!(!judged("2002:c0a8:101:1::1")); // 192.168.1.1
        assert!(judged("2002:101:101::1")); // 1.1.1.1
                                            // Teredo: server IPv4 in clear, client IPv4 XOR ffff:ffff in the last 32 bits.
        assert!(!judged("2001:0:4136:e378:8000:63bf:80ff:fffe")); // client 127.0.0.1
        assert!(!judged("2001:0:4136:e378:8000:63bf:f5ff:fffe")); // client 10.0.0.1
        assert!(!judged("2001:0:7f00:1:8000:63bf:fefe:fefe")); // server 127.0.0.1
        assert!(!judged("2001:0:4136:e378:8000:63bf:3fff:fdd2")); // RFC 4380's: client 192.0.2.45
        assert!(judged("2001:0:4136:e378:8000:63bf:fefe:fefe")); // 65.54.227.120, client 1.1.1.1
    }

    /// Serves `body` once to each connection on a loopback port; returns its URL.
    fn serve(body: Vec<u8>) -> String {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/i.jpg", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let mut r = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                while r.read_line(&mut line).unwrap_or(0) > 2 {
                    line.clear();
                }
                let mut w = conn;
                let _ = write!(
                    w,
                    "HTTP/1.1 200 OK\r\ncontent-type: image/jpeg\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = w.write_all(&body);
            }
        });
        url
    }

    #[test]
    fn images_are_bounded_and_judged_by_their_bytes() {
        let client = Client::new(&FederationConfig {
            allow_private_addresses: true,
            ..FederationConfig::default()
        });
        let mut jpeg = vec![0xff, 0xd8, 0xff, 0xe0];
        jpeg.resize(1000, 0);
        let (kind, bytes) = client.get_image(&serve(jpeg.clone()), 1000).unwrap();
        assert_eq!((kind.as_str(), bytes.len()), ("image/jpeg", 1000));
        // One byte over the limit.
        match client.get_image(&serve(jpeg), 999) {
            Err(FetchError::Body { reason, .. }) => assert!(reason.contains("999"), "{reason}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
        // Labelled image/jpeg, but HTML.
        match client.get_image(&serve(b"<html>hi</html>".to_vec()), 1000) {
            Err(FetchError::Body { reason, .. }) => {
                assert!(reason.contains("not a JPEG"), "{reason}")
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert_eq!(image_kind(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(image_kind(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
    }

    #[test]
    fn loopback_refused_unless_allowed() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/x", listener.local_addr().unwrap());
        let strict = Client::new(&FederationConfig::default());
        match strict.get_json(&url, None) {
            Err(FetchError::Forbidden(_)) => {}
            other => panic!("expected Forbidden, got {other:?}"),
        }
    }
}
