//! The notification channel: a socket.io client (Engine.IO v4 over a WebSocket) on the
//! instance's `/runners` namespace, authenticated with the runner token. Each `available-jobs`
//! event (and each connection) wakes the scheduler up; polling covers the times it is down.

use crate::runners::protocol::socket::{AVAILABLE_JOBS, NAMESPACE};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tungstenite::Message;

/// Longest wait before reconnecting after a failure.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// A byte stream the WebSocket runs over (plain TCP or TLS).
trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// Why a session ended.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    /// The URL is not http(s).
    #[error("{0}: expected an http:// or https:// URL")]
    BadUrl(String),
    /// Connecting, TLS or the WebSocket handshake failed.
    #[error("{url}: {reason}")]
    Connect {
        /// The socket URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The server refused the namespace connection (`44/runners,…`): a bad token.
    #[error("the instance refused the runner token on {NAMESPACE}: {0}")]
    Refused(String),
    /// The server closed the connection or stopped answering.
    #[error("connection lost: {0}")]
    Lost(String),
}

/// `ws(s)://host/socket.io/?EIO=4&transport=websocket` for an instance URL, with the host and
/// port to connect to and whether TLS is used.
pub fn socket_url(base: &str) -> Result<(String, String, u16, bool), SocketError> {
    let (tls, rest) = if let Some(r) = base.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = base.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(SocketError::BadUrl(base.to_string()));
    };
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        return Err(SocketError::BadUrl(base.to_string()));
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => match p.parse() {
            Ok(p) => (h.to_string(), p),
            Err(_) => (authority.to_string(), if tls { 443 } else { 80 }),
        },
        _ => (authority.to_string(), if tls { 443 } else { 80 }),
    };
    let scheme = if tls { "wss" } else { "ws" };
    Ok((
        format!("{scheme}://{authority}/socket.io/?EIO=4&transport=websocket"),
        host.trim_matches(['[', ']']).to_string(),
        port,
        tls,
    ))
}

/// Keeps a socket.io connection to `base` open until `stop`, sending `wake()` on connection
/// and on every `available-jobs`. Reconnects with a growing delay; gives up when the instance
/// refuses the token (the scheduler's calls then get `unknown_runner_token`).
pub fn watch<E: Send + 'static>(
    base: String,
    runner_token: String,
    events: Sender<E>,
    wake: impl Fn() -> E + Send + 'static,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut backoff = Duration::from_secs(2);
        while !stop.load(Ordering::Relaxed) {
            let started = Instant::now();
            match session(&base, &runner_token, &|| events.send(wake()).is_ok(), &stop) {
                Ok(()) => return,
                Err(SocketError::Refused(why)) => {
                    tracing::warn!(instance = %base, reason = %why, "socket.io refused the runner token; polling only");
                    return;
                }
                Err(e) => {
                    tracing::info!(instance = %base, error = %e, retry_in_secs = backoff.as_secs(), "socket.io connection down; polling meanwhile")
                }
            }
            if started.elapsed() > Duration::from_secs(60) {
                backoff = Duration::from_secs(2);
            }
            let until = Instant::now() + backoff;
            while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    })
}

fn connect(base: &str) -> Result<(tungstenite::WebSocket<Box<dyn Stream>>, String), SocketError> {
    let (url, host, port, tls) = socket_url(base)?;
    let fail = |reason: String| SocketError::Connect {
        url: url.clone(),
        reason,
    };
    let tcp = TcpStream::connect((host.as_str(), port)).map_err(|e| fail(e.to_string()))?;
    // The handshake may take a while; afterwards short timeouts let the loop see `stop`.
    tcp.set_read_timeout(Some(Duration::from_secs(15)))
        .map_err(|e| fail(e.to_string()))?;
    let handle = tcp.try_clone().map_err(|e| fail(e.to_string()))?;
    let stream: Box<dyn Stream> = if tls {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| fail(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|e| fail(e.to_string()))?;
        let conn = rustls::ClientConnection::new(Arc::new(config), name)
            .map_err(|e| fail(e.to_string()))?;
        Box::new(rustls::StreamOwned::new(conn, tcp))
    } else {
        Box::new(tcp)
    };
    let (ws, _) = tungstenite::client(url.as_str(), stream).map_err(|e| fail(e.to_string()))?;
    handle
        .set_read_timeout(Some(Duration::from_millis(500)))
        .map_err(|e| fail(e.to_string()))?;
    Ok((ws, url))
}

/// One connection: handshake, then ping/pong and events until it drops or `stop`.
fn session(
    base: &str,
    runner_token: &str,
    wake: &dyn Fn() -> bool,
    stop: &AtomicBool,
) -> Result<(), SocketError> {
    let (mut ws, url) = connect(base)?;
    let lost = |e: tungstenite::Error| SocketError::Lost(e.to_string());
    // Engine.IO ping interval + timeout: silence longer than that is a dead connection.
    let mut silence = Duration::from_secs(45);
    let mut last_heard = Instant::now();
    let mut joined = false;
    loop {
        if stop.load(Ordering::Relaxed) {
            let _ = ws.close(None);
            return Ok(());
        }
        if last_heard.elapsed() > silence {
            return Err(SocketError::Lost(format!("nothing heard for {silence:?}")));
        }
        let text = match ws.read() {
            Ok(Message::Text(t)) => t.to_string(),
            Ok(Message::Close(_)) => {
                return Err(SocketError::Lost("closed by the instance".into()))
            }
            Ok(_) => continue,
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) => return Err(lost(e)),
        };
        last_heard = Instant::now();
        match frame(&text) {
            Frame::Open {
                ping_interval_ms,
                ping_timeout_ms,
            } => {
                silence = Duration::from_millis(ping_interval_ms + ping_timeout_ms)
                    + Duration::from_secs(5);
                let auth = serde_json::json!({ "runnerToken": runner_token });
                ws.send(Message::text(format!("40{NAMESPACE},{auth}")))
                    .map_err(lost)?;
            }
            Frame::Ping => ws.send(Message::text("3")).map_err(lost)?,
            Frame::Connected => {
                if !joined {
                    tracing::info!(socket = %url, "socket.io connected; waiting for available-jobs");
                }
                joined = true;
                if !wake() {
                    return Ok(());
                }
            }
            Frame::Refused(why) => return Err(SocketError::Refused(why)),
            Frame::AvailableJobs => {
                if !wake() {
                    return Ok(());
                }
            }
            Frame::Close => {
                return Err(SocketError::Lost("the instance closed the session".into()))
            }
            Frame::Other => {}
        }
    }
}

/// An Engine.IO / Socket.IO frame as the runner sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `0{…}`: the Engine.IO handshake.
    Open {
        /// `pingInterval`.
        ping_interval_ms: u64,
        /// `pingTimeout`.
        ping_timeout_ms: u64,
    },
    /// `2`: ping.
    Ping,
    /// `40/runners,{…}`: joined the namespace.
    Connected,
    /// `44/runners,{…}`: refused, with the message.
    Refused(String),
    /// `42/runners,["available-jobs"…]`.
    AvailableJobs,
    /// `1` or `41/runners`: closed.
    Close,
    /// Anything else (other namespaces, other events).
    Other,
}

/// Reads one text frame.
pub fn frame(text: &str) -> Frame {
    if let Some(json) = text.strip_prefix('0').filter(|j| j.starts_with('{')) {
        let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
        let n = |k: &str, d: u64| v.get(k).and_then(|x| x.as_u64()).unwrap_or(d);
        return Frame::Open {
            ping_interval_ms: n("pingInterval", 25_000),
            ping_timeout_ms: n("pingTimeout", 20_000),
        };
    }
    if text == "2" {
        return Frame::Ping;
    }
    if text == "1" {
        return Frame::Close;
    }
    let Some(packet) = text.strip_prefix('4') else {
        return Frame::Other;
    };
    let (kind, rest) = packet.split_at(packet.len().min(1));
    let Some(rest) = rest.strip_prefix(NAMESPACE) else {
        return Frame::Other;
    };
    let data = rest.strip_prefix(',').unwrap_or(rest);
    // An event may carry an ack id before its array.
    let data = data.trim_start_matches(|c: char| c.is_ascii_digit());
    match kind {
        "0" => Frame::Connected,
        "1" => Frame::Close,
        "4" => {
            let v: serde_json::Value = serde_json::from_str(data).unwrap_or_default();
            Frame::Refused(
                v.get("message")
                    .and_then(|m| m.as_str())
                    .unwrap_or(data)
                    .to_string(),
            )
        }
        "2" => {
            let v: serde_json::Value = serde_json::from_str(data).unwrap_or_default();
            if v.get(0).and_then(|e| e.as_str()) == Some(AVAILABLE_JOBS) {
                Frame::AvailableJobs
            } else {
                Frame::Other
            }
        }
        _ => Frame::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_read_as_socket_io_v5() {
        assert_eq!(
            frame(
                r#"0{"sid":"x","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#
            ),
            Frame::Open {
                ping_interval_ms: 25000,
                ping_timeout_ms: 20000
            }
        );
        assert_eq!(frame("2"), Frame::Ping);
        assert_eq!(frame(r#"40/runners,{"sid":"abc"}"#), Frame::Connected);
        assert_eq!(
            frame(r#"44/runners,{"message":"Invalid runner token."}"#),
            Frame::Refused("Invalid runner token.".into())
        );
        assert_eq!(
            frame(r#"42/runners,["available-jobs"]"#),
            Frame::AvailableJobs
        );
        assert_eq!(
            frame(r#"42/runners,7["available-jobs"]"#),
            Frame::AvailableJobs
        );
        assert_eq!(frame(r#"42/runners,["other"]"#), Frame::Other);
        assert_eq!(frame(r#"42/live,["available-jobs"]"#), Frame::Other);
        assert_eq!(frame("41/runners,"), Frame::Close);
    }

    #[test]
    fn socket_urls_follow_the_instance() {
        assert_eq!(
            socket_url("https://v.example").unwrap(),
            (
                "wss://v.example/socket.io/?EIO=4&transport=websocket".into(),
                "v.example".into(),
                443,
                true
            )
        );
        assert_eq!(
            socket_url("http://127.0.0.1:9000").unwrap(),
            (
                "ws://127.0.0.1:9000/socket.io/?EIO=4&transport=websocket".into(),
                "127.0.0.1".into(),
                9000,
                false
            )
        );
        assert!(socket_url("ftp://x").is_err());
    }
}
