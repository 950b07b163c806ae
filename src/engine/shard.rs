//! A shard: one OS thread pinned to one core, running a tokio-uring runtime (or a plain
//! current-thread runtime on the portable path) with its own listener, its own segment server
//! and cache, and every connection it accepts.

use super::site::Site;
use super::{http1, ktls};
use crate::app::{ClientAddr, ConnHold};
use crate::media::fileio::{IoBackend, PreadReader, ReadAt, UringReader, RING_ENTRIES};
use crate::media::layout::MediaLayout;
use crate::media::objstore::edge::ObjectRequest;
use crate::media::objstore::serve::BucketRoute;
use crate::media::serve::SegmentServer;
use crate::metrics::{RouteClass, ShardMetrics};
use crate::runtime::conn_limits::{Activity, LogLimiter, Refusal, RequestGuard};
use axum::body::Body;
use bytes::BytesMut;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

/// What a shard needs to start.
pub struct ShardSpec {
    /// Shard index.
    pub index: usize,
    /// Core to pin to.
    pub core: Option<usize>,
    /// Its listening socket (already bound, non-blocking).
    pub listener: std::net::TcpListener,
    /// File I/O backend.
    pub backend: IoBackend,
    /// TLS, when configured.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// What the kernel takes of TLS, when connections are handed to it after the handshake.
    pub kernel_tls: Option<Arc<super::ktls::Support>>,
    /// Absolute, canonical media root.
    pub media_root: std::path::PathBuf,
    /// HTTP/3, when on (TLS configured and `http3.enabled`).
    pub h3: Option<super::h3::H3Spec>,
}

/// Runs `spec` on a new thread. `ready` receives Ok once the shard accepts connections, or
/// the reason it could not start; `exited` receives the index when the thread ends.
pub fn spawn(
    spec: ShardSpec,
    site: Arc<Site>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    ready: std::sync::mpsc::Sender<Result<(), String>>,
    exited: tokio::sync::mpsc::UnboundedSender<usize>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("fleuve-shard-{}", spec.index))
        .spawn(move || {
            struct Exit(usize, tokio::sync::mpsc::UnboundedSender<usize>);
            impl Drop for Exit {
                fn drop(&mut self) {
                    let _ = self.1.send(self.0);
                }
            }
            let _exit = Exit(spec.index, exited);
            if let Some(core) = spec.core {
                if !core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
                    tracing::warn!(shard = spec.index, core, "could not pin shard to its core");
                }
            }
            match spec.backend {
                IoBackend::Uring => {
                    let reader: Rc<dyn ReadAt> = Rc::new(UringReader);
                    tokio_uring::builder()
                        .entries(RING_ENTRIES)
                        .start(run(spec, site, reader, shutdown, ready));
                }
                IoBackend::Portable => {
                    let rt = match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(rt) => rt,
                        Err(e) => {
                            let _ = ready.send(Err(format!("shard {}: runtime: {e}", spec.index)));
                            return;
                        }
                    };
                    let reader: Rc<dyn ReadAt> = Rc::new(PreadReader::new(site.pool.clone()));
                    let local = tokio::task::LocalSet::new();
                    local.block_on(&rt, run(spec, site, reader, shutdown, ready));
                }
            }
        })
}

/// Runs `!Send` futures (HTTP/2 streams) on the shard's own thread.
#[derive(Clone, Copy)]
struct LocalExec;

impl<F: Future + 'static> hyper::rt::Executor<F> for LocalExec {
    fn execute(&self, fut: F) {
        tokio::task::spawn_local(fut);
    }
}

/// Per-shard request dispatch: media paths to the segment server (files on disk, objects of the
/// bucket), the rest to axum. HTTP/1.1, HTTP/2 and HTTP/3 requests all come here.
pub(crate) struct ShardService {
    media: Rc<SegmentServer>,
    router: axum::Router,
    pub(crate) metrics: Arc<ShardMetrics>,
    pub(crate) site: Arc<Site>,
    /// `Alt-Svc` announcing HTTP/3, when it is on.
    alt_svc: Option<http::HeaderValue>,
}

impl ShardService {
    pub(crate) async fn handle<B>(
        self: Rc<Self>,
        req: Request<B>,
        activity: Arc<Activity>,
    ) -> Result<Response<Body>, Infallible>
    where
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        let mut req = req;
        // HTTP/2 and HTTP/3 carry the host as the URI's authority: handlers (the local OAuth
        // client, signatures' `host`) read it as the `Host` header, as over HTTP/1.1.
        if !req.headers().contains_key(http::header::HOST) {
            if let Some(host) = req
                .uri()
                .authority()
                .and_then(|a| http::HeaderValue::from_str(a.as_str()).ok())
            {
                req.headers_mut().insert(http::header::HOST, host);
            }
        }
        // Counted in flight until the response body is done (the idle timeout waits for it).
        let in_flight = activity.request();
        let class = route_class(req.uri().path());
        let mirror = req
            .uri()
            .path()
            .starts_with(crate::media::layout::REDUNDANCY_PREFIX);
        let bucket = self
            .site
            .bucket
            .as_ref()
            .and_then(|b| b.route(req.uri().path()));
        let resp = if let Some(route) = bucket.as_ref().filter(|r| !r.disk_first) {
            self.serve_bucket(&req, route).await
        } else if class == RouteClass::Media {
            let uri = req.uri();
            let target = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
            let plan = match self.oauth_grant(uri.path(), target, req.headers()).await {
                Some(uuid) => self
                    .media
                    .plan_granted(req.method(), target, req.headers(), uuid),
                None => self.media.plan(req.method(), target, req.headers()),
            };
            if plan.head.status() == http::StatusCode::NOT_FOUND {
                if let Some(route) = &bucket {
                    // Not on disk: its video is in the bucket.
                    return self.finish(
                        class,
                        false,
                        self.serve_bucket(&req, route).await,
                        in_flight,
                    );
                }
            }
            self.media.serve_planned(plan, &activity)
        } else {
            let router = self.router.clone();
            match router.oneshot(req.map(Body::new)).await {
                Ok(r) => r,
                Err(never) => match never {},
            }
        };
        self.finish(class, mirror, resp, in_flight)
    }

    /// Counts a response in the shard's metrics and keeps its request in flight until its
    /// body is done.
    fn finish(
        &self,
        class: RouteClass,
        mirror: bool,
        mut resp: Response<Body>,
        in_flight: RequestGuard,
    ) -> Result<Response<Body>, Infallible> {
        if let Some(alt_svc) = &self.alt_svc {
            resp.headers_mut()
                .insert(http::header::ALT_SVC, alt_svc.clone());
        }
        let bytes = http_body::Body::size_hint(resp.body())
            .exact()
            .or_else(|| {
                resp.headers()
                    .get(http::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok()?.parse().ok())
            })
            .unwrap_or(0);
        self.metrics.record(class, resp.status().as_u16(), bytes);
        if mirror {
            self.metrics.mirror_bytes.fetch_add(bytes, Relaxed);
        }
        Ok(resp.map(|body| {
            Body::new(Tracked {
                inner: body,
                _in_flight: in_flight,
            })
        }))
    }

    /// Serves an object of the HLS bucket; a private one only with a video file token for its
    /// video or, on a primary, an OAuth token whose user may read its files.
    async fn serve_bucket<B>(&self, req: &Request<B>, route: &BucketRoute<'_>) -> Response<Body> {
        let uri = req.uri();
        let target = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
        if let Some(uuid) = route.private_uuid {
            let granted = self.media.token_opens(target, uuid)
                || match (
                    &self.site.primary,
                    req.headers().get(http::header::AUTHORIZATION),
                ) {
                    (Some(app), Some(a)) => {
                        crate::api::video_files::oauth_may_read(app, a, uuid).await
                    }
                    _ => false,
                };
            if !granted {
                return plain(
                    http::StatusCode::FORBIDDEN,
                    "this file needs a video file token (videoFileToken)\n",
                );
            }
        }
        let Some(bucket) = &self.site.bucket else {
            return plain(http::StatusCode::NOT_FOUND, "not found\n");
        };
        self.media
            .serve_object(ObjectRequest {
                method: req.method(),
                key: &route.key,
                headers: req.headers(),
                policy: bucket.policy(route.private_uuid.is_some()),
            })
            .await
            .unwrap_or_else(|| plain(http::StatusCode::NOT_FOUND, "not found\n"))
    }

    /// For a private video's file asked for with an OAuth token and no valid video file token:
    /// the video, when the token's user may read its files (checked on the blocking pool).
    async fn oauth_grant<'a>(
        &self,
        path: &'a str,
        target: &str,
        headers: &http::HeaderMap,
    ) -> Option<&'a str> {
        let uuid = crate::media::layout::private_video_of(path)?;
        let authorization = headers.get(http::header::AUTHORIZATION)?;
        if self.media.token_opens(target, uuid) {
            return None;
        }
        let app = self.site.primary.as_ref()?;
        crate::api::video_files::oauth_may_read(app, authorization, uuid)
            .await
            .then_some(uuid)
    }
}

/// A short plain-text answer.
fn plain(status: http::StatusCode, text: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::from(text));
    *r.status_mut() = status;
    r
}

/// A response body that keeps its request counted in flight until it is done or dropped.
struct Tracked {
    inner: Body,
    _in_flight: RequestGuard,
}

impl http_body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, axum::Error>>> {
        std::pin::Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

async fn run(
    spec: ShardSpec,
    site: Arc<Site>,
    reader: Rc<dyn ReadAt>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    ready: std::sync::mpsc::Sender<Result<(), String>>,
) {
    let index = spec.index;
    let listener = match tokio::net::TcpListener::from_std(spec.listener) {
        Ok(l) => l,
        Err(e) => {
            let _ = ready.send(Err(format!("shard {index}: listener: {e}")));
            return;
        }
    };
    let metrics = site.metrics.shard(index);
    let service = Rc::new(ShardService {
        media: Rc::new(SegmentServer::new(
            MediaLayout::new(spec.media_root),
            reader,
            site.engine.cache_bytes_per_shard,
            &site.config.media,
            metrics.clone(),
            site.media_access.clone(),
            site.upstream.as_ref().map(|u| {
                crate::media::objstore::edge::EdgeShard::new(
                    u.clone(),
                    Duration::from_secs(site.config.object_storage.edge_revalidate_secs),
                    site.media_access.clone(),
                )
            }),
        )),
        router: site.router.clone(),
        metrics: metrics.clone(),
        site: site.clone(),
        alt_svc: spec
            .h3
            .as_ref()
            .and_then(|h| h.socket.local_addr().ok())
            .map(|a| super::h3::alt_svc(a.port())),
    });
    let drain = Duration::from_secs(site.config.engine.drain_timeout_secs);
    let h3 = spec.h3.map(|h3| {
        tokio::task::spawn_local(super::h3::serve(
            h3,
            index,
            service.clone(),
            site.config.http3.clone(),
            shutdown.clone(),
            drain,
        ))
    });
    let mut builder = auto::Builder::new(LocalExec);
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(
            site.config.engine.header_read_timeout_secs,
        ))
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(256)
        .keep_alive_interval(Some(Duration::from_secs(30)));
    let tls = spec.tls.map(tokio_rustls::TlsAcceptor::from);
    let kernel_tls = spec.kernel_tls;
    let fast_path = site.config.engine.fast_path;
    let header_timeout = Duration::from_secs(site.config.engine.header_read_timeout_secs);
    let graceful = GracefulShutdown::new();

    let started = site.started;
    let hb = metrics.clone();
    tokio::task::spawn_local(async move {
        loop {
            hb.heartbeat_ms
                .store(started.elapsed().as_millis() as u64, Relaxed);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });

    tracing::info!(shard = index, core = ?spec.core, io = service.media.backend_name(), "shard accepting");
    let _ = ready.send(Ok(()));

    let mut accept_errors = LogLimiter::new(Duration::from_secs(5));
    let mut refusals = LogLimiter::new(Duration::from_secs(5));
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // EMFILE and friends: back off briefly rather than spin, and say so once in a
                    // while rather than once per attempt.
                    if let Some(left_out) = accept_errors.allow(std::time::Instant::now()) {
                        tracing::warn!(shard = index, error = %e, similar_errors_not_logged = left_out, "accept failed");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let shard_open = metrics.connections_open.load(Relaxed).max(0) as usize;
        let admission = match site.conn_limits.admit_on_shard(peer.ip(), shard_open) {
            Ok(a) => a,
            Err(refusal) => {
                if let Some(left_out) = refusals.allow(std::time::Instant::now()) {
                    tracing::warn!(shard = index, %peer, reason = %refusal, similar_refusals_not_logged = left_out, "connection refused");
                }
                if tls.is_none() {
                    refuse(&stream, &refusal);
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        metrics.connections_total.fetch_add(1, Relaxed);
        let activity = admission.activity.clone();
        let guard: Arc<dyn std::any::Any + Send + Sync> =
            Arc::new((ConnGuard::new(metrics.clone()), admission));
        let hyper_conn = HyperConn {
            builder: builder.clone(),
            service: service.clone(),
            peer,
            watcher: graceful.watcher(),
            activity: activity.clone(),
            hold: ConnHold::new(guard.clone(), shutdown.clone()),
        };
        let conn = FastConn {
            service: service.clone(),
            shutdown: shutdown.clone(),
            activity,
            header_timeout,
            // Boxed: only a hand-off needs it; an idle fast-path connection's task stays small.
            hyper_conn: Box::new(hyper_conn),
        };
        match tls.clone() {
            None if fast_path => {
                tokio::task::spawn_local(async move {
                    let _guard = guard;
                    conn.serve(stream, BytesMut::new(), false).await;
                });
            }
            None => {
                tokio::task::spawn_local(async move {
                    let _guard = guard;
                    conn.hyper_conn.serve(stream).await;
                });
            }
            Some(acceptor) => {
                let kernel = kernel_tls.clone();
                tokio::task::spawn_local(async move {
                    let _guard = guard;
                    // Records are counted through the handshake only when the connection may
                    // be handed to the kernel.
                    let io = match kernel {
                        Some(_) => ktls::Cork::counting(stream),
                        None => ktls::Cork::open(stream),
                    };
                    let handshake = async {
                        let tls = acceptor.accept(io).await?;
                        match &kernel {
                            Some(support) => ktls::offload(tls, support).await,
                            None => Ok(ktls::Session::User(Box::new(tls))),
                        }
                    };
                    match tokio::time::timeout(Duration::from_secs(10), handshake).await {
                        Ok(Ok(ktls::Session::User(tls))) => {
                            conn.service.metrics.tls_sessions[0].fetch_add(1, Relaxed);
                            conn.hyper_conn.serve(*tls).await
                        }
                        Ok(Ok(ktls::Session::Kernel {
                            tcp,
                            early,
                            alpn_h2,
                        })) => {
                            conn.service.metrics.tls_sessions[1].fetch_add(1, Relaxed);
                            if alpn_h2 || !fast_path {
                                let io = ktls::KernelTlsStream::new(tcp, early);
                                conn.hyper_conn.serve(io).await
                            } else {
                                conn.serve(tcp, early, true).await
                            }
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        }
    }
    drop(listener);
    let open = metrics.connections_open.load(Relaxed);
    tracing::info!(
        shard = index,
        open_connections = open,
        "shard stopped accepting; draining"
    );
    let drained = tokio::time::timeout(drain, async {
        graceful.shutdown().await;
        // Fast-path connections finish their current response and close by themselves.
        while metrics.connections_open.load(Relaxed) > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    // TCP and HTTP/3 connections drain together (both count in `connections_open`).
    let h3_done = async {
        if let Some(h3) = h3 {
            let _ = tokio::time::timeout(drain + Duration::from_secs(2), h3).await;
        }
    };
    let (drained, ()) = tokio::join!(drained, h3_done);
    match drained {
        Ok(()) => tracing::info!(shard = index, "shard drained"),
        Err(_) => tracing::warn!(
            shard = index,
            still_open = metrics.connections_open.load(Relaxed),
            "drain timed out; closing remaining connections"
        ),
    }
}

/// Answers a connection over the caps with a short 503 (best effort: one non-blocking write into
/// an empty socket buffer) and closes it.
fn refuse(stream: &tokio::net::TcpStream, refusal: &Refusal) {
    let text = format!("{refusal}; try again later\n");
    let resp = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nretry-after: 5\r\nconnection: close\r\n\r\n{text}",
        text.len()
    );
    let _ = stream.try_write(resp.as_bytes());
}

/// What it takes to serve one connection on the HTTP/1.1 fast path, and with hyper after a
/// hand-off.
struct FastConn {
    service: Rc<ShardService>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    activity: Arc<Activity>,
    header_timeout: Duration,
    hyper_conn: Box<HyperConn>,
}

impl FastConn {
    /// Serves `stream` on the fast path, then with hyper if it hands the connection off.
    /// `early`: request bytes already read; `kernel_tls`: the kernel frames its TLS records.
    async fn serve(mut self, stream: tokio::net::TcpStream, early: BytesMut, kernel_tls: bool) {
        let svc = &self.service;
        let server = http1::FastPath {
            media: &svc.media,
            metrics: &svc.metrics,
            header_timeout: self.header_timeout,
            bucket: svc.site.bucket.as_deref(),
            oauth: svc.site.primary.is_some(),
            alt_svc: svc.alt_svc.as_ref(),
        };
        let outcome = http1::serve_media(
            &stream,
            early,
            kernel_tls,
            &server,
            &mut self.shutdown,
            &self.activity,
        )
        .await;
        match outcome {
            http1::Outcome::HandOff(buf) if kernel_tls => {
                let io = ktls::KernelTlsStream::new(stream, BytesMut::new());
                Box::pin(self.hyper_conn.serve(http1::Prepended::new(buf, io))).await;
            }
            http1::Outcome::HandOff(buf) => {
                Box::pin(self.hyper_conn.serve(http1::Prepended::new(buf, stream))).await;
            }
            http1::Outcome::Closed if kernel_tls => {
                ktls::send_close_notify(std::os::fd::AsRawFd::as_raw_fd(&stream));
            }
            http1::Outcome::Closed => {}
        }
    }
}

/// What it takes to serve one connection with hyper.
struct HyperConn {
    builder: auto::Builder<LocalExec>,
    service: Rc<ShardService>,
    peer: std::net::SocketAddr,
    watcher: hyper_util::server::graceful::Watcher,
    activity: Arc<Activity>,
    hold: ConnHold,
}

impl HyperConn {
    /// Serves `io` until it closes, graceful shutdown closes it, or its watchdog does (no
    /// progress on pending response bytes for the send timeout; no request for the idle timeout).
    async fn serve<I>(self, io: I)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (service, peer, activity, hold) = (self.service, self.peer, self.activity, self.hold);
        let watchdog = activity.clone().watchdog();
        let make = move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ClientAddr(peer));
            req.extensions_mut().insert(hold.clone());
            service.clone().handle(req, activity.clone())
        };
        let conn = self
            .builder
            .serve_connection_with_upgrades(TokioIo::new(io), hyper::service::service_fn(make))
            .into_owned();
        tokio::select! {
            ended = self.watcher.watch(conn) => {
                if let Err(e) = ended {
                    tracing::trace!(%peer, error = %e, "connection ended with error");
                }
            }
            expiry = watchdog => {
                tracing::debug!(%peer, ?expiry, "closing a connection at its timeout");
            }
        }
    }
}

/// Counts a connection as open for as long as it lives.
struct ConnGuard(Arc<ShardMetrics>);

impl ConnGuard {
    fn new(m: Arc<ShardMetrics>) -> ConnGuard {
        m.connections_open.fetch_add(1, Relaxed);
        ConnGuard(m)
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.0.connections_open.fetch_sub(1, Relaxed);
    }
}

/// The metrics class of a request path (the engine knows which paths are the media server's).
fn route_class(path: &str) -> RouteClass {
    if crate::media::layout::is_media_path(path)
        || path.starts_with(crate::video::urls::OBJECT_STORAGE_PROXY_HLS)
    {
        RouteClass::Media
    } else if path.starts_with("/api/") {
        RouteClass::Api
    } else if path == "/metrics" {
        RouteClass::Metrics
    } else {
        RouteClass::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_paths_are_classed_for_metrics() {
        assert_eq!(route_class("/static/web-videos/a.mp4"), RouteClass::Media);
        assert_eq!(route_class("/api/v1/config"), RouteClass::Api);
    }
}
