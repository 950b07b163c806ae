//! HTTP/3 (RFC 9114) over QUIC: one quinn endpoint per shard on the listen port over UDP
//! (`SO_REUSEPORT`, so the kernel spreads clients across shards as it does TCP connections),
//! h3 on top, and every request handed to the shard's own service, so media and API answer
//! exactly as over TCP (ranges, validators, the shard's cache, CORS, private files).
//!
//! Limits: an HTTP/3 connection is admitted like a TCP one (the process, per-address and
//! per-shard caps, counted in `fleuve_connections_open`); `http3.max_streams_per_connection`
//! requests at once per connection; a request head must arrive within
//! `engine.header_read_timeout_secs`; QUIC's idle timeout is `engine.idle_timeout_secs`; a response
//! whose client reads nothing for `engine.send_timeout_secs` is reset; past
//! `http3.max_handshakes_per_shard` handshakes from unvalidated addresses, new clients get a
//! stateless Retry (a flood of forged initial packets keeps no state). quinn-udp uses UDP GSO and
//! GRO where the kernel has them. At shutdown the endpoint stops accepting, connections get a
//! GOAWAY, requests in flight finish (within `engine.drain_timeout_secs`), then the endpoint
//! closes.
//!
//! Not supported: a client moving to another address mid-connection (QUIC migration). The
//! kernel routes UDP by address, so its packets could reach another shard, which knows nothing
//! of the connection; migration is refused in the transport parameters.

use super::shard::ShardService;
use crate::app::ClientAddr;
use crate::config::Http3Config;
use crate::metrics::ShardMetrics;
use crate::runtime::conn_limits::{Activity, ConnLimits, LogLimiter};
use bytes::{Buf, Bytes};
use http::{Request, Response};
use http_body::Frame;
use std::cell::Cell;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// What a shard needs to serve HTTP/3.
pub struct H3Spec {
    /// Its UDP socket (bound, `SO_REUSEPORT` on the listen port).
    pub socket: std::net::UdpSocket,
    /// The QUIC server configuration (TLS 1.3 with ALPN `h3`, transport limits).
    pub config: quinn::ServerConfig,
}

/// The QUIC server configuration for `[http3]`.
pub fn server_config(
    cert: &Path,
    key: &Path,
    http3: &Http3Config,
    idle_timeout: Duration,
) -> Result<quinn::ServerConfig, String> {
    let tls = super::tls::load_quic(cert, key)?;
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
        .map_err(|e| format!("TLS setup for QUIC: {e}"))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport
        .max_concurrent_bidi_streams(
            quinn::VarInt::from_u64(http3.max_streams_per_connection)
                .map_err(|e| format!("http3.max_streams_per_connection: {e}"))?,
        )
        // The client's control stream and QPACK encoder and decoder streams (and one to spare).
        .max_concurrent_uni_streams(quinn::VarInt::from_u32(4))
        .max_idle_timeout(Some(
            quinn::IdleTimeout::try_from(idle_timeout)
                .map_err(|e| format!("engine.idle_timeout_secs for QUIC: {e}"))?,
        ));
    config
        .transport_config(Arc::new(transport))
        .migration(false)
        // Connections waiting for their handshake's first answer, per shard.
        .max_incoming(4096);
    Ok(config)
}

/// Binds one UDP socket per shard on `addr` (the TCP listeners' address and port), nonblocking.
pub fn bind_shards(addr: SocketAddr, n: usize) -> std::io::Result<Vec<std::net::UdpSocket>> {
    let sockets = crate::runtime::udp::bind_reuseport(addr, n, 8 << 20).map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot bind UDP {addr} for HTTP/3: {e}"))
    })?;
    for s in &sockets {
        s.set_nonblocking(true)?;
    }
    Ok(sockets)
}

/// The `Alt-Svc` value that announces HTTP/3 on `port`.
pub fn alt_svc(port: u16) -> http::HeaderValue {
    http::HeaderValue::from_str(&format!("h3=\":{port}\"; ma=86400"))
        .unwrap_or(http::HeaderValue::from_static("clear"))
}

/// What one shard's HTTP/3 side shares between its tasks.
struct Shared {
    service: Rc<ShardService>,
    limits: Arc<ConnLimits>,
    metrics: Arc<ShardMetrics>,
    /// Handshakes under way from addresses not validated yet.
    handshaking: Cell<u64>,
    /// HTTP/3 connections open on this shard.
    open: Cell<u64>,
    /// How long a request head (and the connection's setup) may take to arrive.
    header_timeout: Duration,
    max_handshakes: u64,
}

/// Serves HTTP/3 on `spec` until `shutdown`; returns once every connection has closed (or the
/// drain timeout has passed).
pub(crate) async fn serve(
    spec: H3Spec,
    shard: usize,
    service: Rc<ShardService>,
    http3: Http3Config,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    drain: Duration,
) {
    if let Ok(udp) = quinn::udp::UdpSocketState::new((&spec.socket).into()) {
        tracing::info!(
            shard,
            gso_segments = udp.max_gso_segments(),
            gro_segments = udp.gro_segments(),
            "HTTP/3 endpoint (segments > 1: the kernel's UDP GSO/GRO in use)"
        );
    }
    let runtime = Arc::new(quinn::TokioRuntime);
    let endpoint = match quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        Some(spec.config),
        spec.socket,
        runtime,
    ) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(shard, error = %e, "cannot start the HTTP/3 endpoint; serving TCP only");
            return;
        }
    };
    let site = service.site.clone();
    let shared = Rc::new(Shared {
        limits: site.conn_limits.clone(),
        metrics: service.metrics.clone(),
        service,
        handshaking: Cell::new(0),
        open: Cell::new(0),
        header_timeout: Duration::from_secs(site.config.engine.header_read_timeout_secs),
        max_handshakes: http3.max_handshakes_per_shard,
    });
    let mut refusals = LogLimiter::new(Duration::from_secs(5));
    loop {
        let incoming = tokio::select! {
            i = endpoint.accept() => match i {
                Some(i) => i,
                None => break,
            },
            _ = shutdown.changed() => break,
        };
        let peer = incoming.remote_address();
        if !incoming.remote_address_validated() && shared.handshaking.get() >= shared.max_handshakes
        {
            // Busy with unproven clients: make this one prove its address first (a Retry costs
            // us no state). One that already came back with a token is carried on with.
            if incoming.may_retry() {
                let _ = incoming.retry();
                continue;
            }
        }
        let shard_open = shared.metrics.connections_open.load(Relaxed).max(0) as usize;
        let admission = match shared.limits.admit_on_shard(peer.ip(), shard_open) {
            Ok(a) => a,
            Err(refusal) => {
                if let Some(left_out) = refusals.allow(Instant::now()) {
                    tracing::warn!(shard, %peer, reason = %refusal, similar_refusals_not_logged = left_out, "HTTP/3 connection refused");
                }
                incoming.refuse();
                continue;
            }
        };
        let connecting = match incoming.accept() {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "QUIC handshake refused");
                continue;
            }
        };
        let shared = shared.clone();
        let shutdown = shutdown.clone();
        tokio::task::spawn_local(async move {
            let _open = OpenConn::new(&shared);
            shared.metrics.connections_total.fetch_add(1, Relaxed);
            let activity = admission.activity.clone();
            shared.handshaking.set(shared.handshaking.get() + 1);
            let conn = tokio::time::timeout(Duration::from_secs(10), connecting).await;
            shared.handshaking.set(shared.handshaking.get() - 1);
            let conn = match conn {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "QUIC handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "QUIC handshake timed out");
                    return;
                }
            };
            connection(shared, conn, peer, activity, shutdown).await;
            drop(admission);
        });
    }
    // Stop accepting; let the connections answer what they have (each got the signal too).
    endpoint.set_server_config(None);
    let open = shared.open.get();
    tracing::debug!(shard, open, "HTTP/3 stopped accepting; draining");
    let drained = tokio::time::timeout(drain, async {
        while shared.open.get() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    endpoint.close(quinn::VarInt::from_u32(0), b"shutting down");
    if drained.is_err() {
        tracing::warn!(
            shard,
            "HTTP/3 drain timed out; closing remaining connections"
        );
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
}

/// Counts a connection in `fleuve_connections_open` (and the shard's HTTP/3 connections) for
/// as long as it lives.
struct OpenConn(Rc<Shared>);

impl OpenConn {
    fn new(shared: &Rc<Shared>) -> OpenConn {
        shared.metrics.connections_open.fetch_add(1, Relaxed);
        shared.open.set(shared.open.get() + 1);
        OpenConn(shared.clone())
    }
}

impl Drop for OpenConn {
    fn drop(&mut self) {
        self.0.metrics.connections_open.fetch_sub(1, Relaxed);
        self.0.open.set(self.0.open.get() - 1);
    }
}

/// Serves one HTTP/3 connection: each request on its own task on the shard.
async fn connection(
    shared: Rc<Shared>,
    conn: quinn::Connection,
    peer: SocketAddr,
    activity: Arc<Activity>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let quic = conn.clone();
    let setup = h3::server::Connection::new(h3_quinn::Connection::new(conn));
    let mut h3conn: h3::server::Connection<h3_quinn::Connection, Bytes> =
        match tokio::time::timeout(shared.header_timeout, setup).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "HTTP/3 setup failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "HTTP/3 setup timed out");
                return;
            }
        };
    let watchdog = activity.clone().watchdog();
    tokio::pin!(watchdog);
    loop {
        tokio::select! {
            accepted = h3conn.accept() => match accepted {
                Ok(Some(resolver)) => {
                    let shared = shared.clone();
                    let activity = activity.clone();
                    let header_timeout = shared.header_timeout;
                    tokio::task::spawn_local(async move {
                        // The head must arrive within engine.header_read_timeout_secs, as over
                        // TCP; a stream that never sends one is dropped (and reset).
                        let resolved =
                            tokio::time::timeout(header_timeout, resolver.resolve_request()).await;
                        let (req, stream) = match resolved {
                            Ok(Ok(r)) => r,
                            Ok(Err(e)) => {
                                tracing::debug!(%peer, error = %e, "bad HTTP/3 request");
                                return;
                            }
                            Err(_) => {
                                activity.count_idle_timeout();
                                tracing::debug!(%peer, "HTTP/3 request head timed out");
                                return;
                            }
                        };
                        request(shared, req, stream, peer, activity).await;
                    });
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::trace!(%peer, error = %e, "HTTP/3 connection ended");
                    break;
                }
            },
            expiry = &mut watchdog => {
                tracing::debug!(%peer, ?expiry, "closing an HTTP/3 connection at its timeout");
                quic.close(quinn::VarInt::from_u32(0x100), b"timeout"); // H3_NO_ERROR
                break;
            }
            _ = shutdown.changed() => {
                // GOAWAY: no new requests; the ones in flight finish.
                let _ = h3conn.shutdown(0).await;
                while activity.requests_in_flight() > 0 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                quic.close(quinn::VarInt::from_u32(0x100), b"shutting down");
                break;
            }
        }
    }
}

type Stream = h3::server::RequestStream<h3_quinn::BidiStream<Bytes>, Bytes>;

/// Answers one request through the shard's service.
async fn request(
    shared: Rc<Shared>,
    req: Request<()>,
    stream: Stream,
    peer: SocketAddr,
    activity: Arc<Activity>,
) {
    let (mut send, recv) = stream.split();
    let (parts, ()) = req.into_parts();
    let mut req = Request::from_parts(parts, RecvBody { recv });
    req.extensions_mut().insert(ClientAddr(peer));
    let resp = match shared.service.clone().handle(req, activity.clone()).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let send_timeout = activity.send_timeout();
    if let Err(e) = respond(&mut send, resp, send_timeout).await {
        if e.timed_out {
            activity.count_send_timeout();
        }
        tracing::debug!(%peer, error = %e.text, "HTTP/3 response cut short");
        send.stop_stream(h3::error::Code::H3_REQUEST_CANCELLED);
    }
}

/// Why a response was not sent whole.
struct Cut {
    text: String,
    /// The client read nothing for the send timeout.
    timed_out: bool,
}

impl Cut {
    fn err(e: impl std::fmt::Display) -> Cut {
        Cut {
            text: e.to_string(),
            timed_out: false,
        }
    }
}

/// Sends the head, the body's frames (each within the send timeout) and the end of the stream.
async fn respond(
    send: &mut h3::server::RequestStream<h3_quinn::SendStream<Bytes>, Bytes>,
    resp: Response<axum::body::Body>,
    send_timeout: Duration,
) -> Result<(), Cut> {
    use http_body_util::BodyExt;
    let (parts, mut body) = resp.into_parts();
    let timed = |what: &'static str| {
        move |_| Cut {
            text: format!("{what}: the client read nothing for {send_timeout:?}"),
            timed_out: true,
        }
    };
    tokio::time::timeout(
        send_timeout,
        send.send_response(Response::from_parts(parts, ())),
    )
    .await
    .map_err(timed("head"))?
    .map_err(Cut::err)?;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(Cut::err)?.into_data() else {
            continue;
        };
        if data.is_empty() {
            continue;
        }
        tokio::time::timeout(send_timeout, send.send_data(data))
            .await
            .map_err(timed("body"))?
            .map_err(Cut::err)?;
    }
    tokio::time::timeout(send_timeout, send.finish())
        .await
        .map_err(timed("end"))?
        .map_err(Cut::err)
}

/// A request's body as it arrives on its HTTP/3 stream (API bodies, uploads).
pub(crate) struct RecvBody {
    recv: h3::server::RequestStream<h3_quinn::RecvStream, Bytes>,
}

impl http_body::Body for RecvBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.recv.poll_recv_data(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(Some(mut buf))) => {
                let data = buf.copy_to_bytes(buf.remaining());
                Poll::Ready(Some(Ok(Frame::data(data))))
            }
            Poll::Ready(Ok(None)) => Poll::Ready(None),
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(std::io::Error::other(e.to_string())))),
        }
    }
}
