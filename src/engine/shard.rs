//! A shard: one OS thread pinned to one core, running a tokio-uring runtime (or a plain
//! current-thread runtime on the portable path) with its own listener, its own segment server
//! and cache, and every connection it accepts.

use super::http1;
use crate::app::{ClientAddr, SharedApp};
use crate::media::fileio::{IoBackend, PreadReader, ReadAt, UringReader, RING_ENTRIES};
use crate::media::layout::MediaLayout;
use crate::media::serve::SegmentServer;
use crate::metrics::{RouteClass, ShardMetrics};
use axum::body::Body;
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
    /// Absolute, canonical media root.
    pub media_root: std::path::PathBuf,
}

/// Runs `spec` on a new thread. `ready` receives Ok once the shard accepts connections, or
/// the reason it could not start; `exited` receives the index when the thread ends.
pub fn spawn(
    spec: ShardSpec,
    app: SharedApp,
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
                        .start(run(spec, app, reader, shutdown, ready));
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
                    let reader: Rc<dyn ReadAt> = Rc::new(PreadReader::new(app.pool.clone()));
                    let local = tokio::task::LocalSet::new();
                    local.block_on(&rt, run(spec, app, reader, shutdown, ready));
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

/// Per-shard request dispatch: media paths to the segment server, the rest to axum.
struct ShardService {
    media: SegmentServer,
    router: axum::Router,
    metrics: Arc<ShardMetrics>,
    app: SharedApp,
}

impl ShardService {
    async fn handle(self: Rc<Self>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
        let class = RouteClass::of(req.uri().path());
        let resp = if class == RouteClass::Media {
            let uri = req.uri();
            let target = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
            let plan = match self.oauth_grant(uri.path(), target, req.headers()).await {
                Some(uuid) => self
                    .media
                    .plan_granted(req.method(), target, req.headers(), uuid),
                None => self.media.plan(req.method(), target, req.headers()),
            };
            self.media.serve_planned(plan).await
        } else {
            let router = self.router.clone();
            match router.oneshot(req.map(Body::new)).await {
                Ok(r) => r,
                Err(never) => match never {},
            }
        };
        let bytes = http_body::Body::size_hint(resp.body())
            .exact()
            .or_else(|| {
                resp.headers()
                    .get(http::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok()?.parse().ok())
            })
            .unwrap_or(0);
        self.metrics.record(class, resp.status().as_u16(), bytes);
        Ok(resp)
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
        crate::api::video_files::oauth_may_read(&self.app, authorization, uuid)
            .await
            .then_some(uuid)
    }
}

async fn run(
    spec: ShardSpec,
    app: SharedApp,
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
    let metrics = app.metrics.shard(index);
    let service = Rc::new(ShardService {
        media: SegmentServer::new(
            MediaLayout::new(spec.media_root),
            reader,
            app.engine.cache_bytes_per_shard,
            &app.config.media,
            metrics.clone(),
            app.media_access.clone(),
        ),
        router: crate::api::router(app.clone()),
        metrics: metrics.clone(),
        app: app.clone(),
    });
    let mut builder = auto::Builder::new(LocalExec);
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(
            app.config.engine.header_read_timeout_secs,
        ))
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(256)
        .keep_alive_interval(Some(Duration::from_secs(30)));
    let tls = spec.tls.map(tokio_rustls::TlsAcceptor::from);
    let fast_path = app.config.engine.fast_path;
    let header_timeout = Duration::from_secs(app.config.engine.header_read_timeout_secs);
    let graceful = GracefulShutdown::new();

    let started = app.started;
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

    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // EMFILE and friends: back off briefly rather than spin.
                    tracing::warn!(shard = index, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        metrics.connections_total.fetch_add(1, Relaxed);
        let guard = ConnGuard::new(metrics.clone());
        let hyper_conn = HyperConn {
            builder: builder.clone(),
            service: service.clone(),
            peer,
            watcher: graceful.watcher(),
        };
        match tls.clone() {
            None if fast_path => {
                let svc = service.clone();
                let metrics = metrics.clone();
                let mut shutdown = shutdown.clone();
                tokio::task::spawn_local(async move {
                    let _guard = guard;
                    let outcome = http1::serve_media(
                        &stream,
                        &svc.media,
                        &metrics,
                        &mut shutdown,
                        header_timeout,
                    )
                    .await;
                    if let http1::Outcome::HandOff(buf) = outcome {
                        hyper_conn.serve(http1::Prepended::new(buf, stream)).await;
                    }
                });
            }
            None => {
                tokio::task::spawn_local(async move {
                    let _guard = guard;
                    hyper_conn.serve(stream).await;
                });
            }
            Some(acceptor) => {
                tokio::task::spawn_local(async move {
                    let _guard = guard;
                    let handshake =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream));
                    match handshake.await {
                        Ok(Ok(tls_stream)) => hyper_conn.serve(tls_stream).await,
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        }
    }
    drop(listener);
    let drain = Duration::from_secs(app.config.engine.drain_timeout_secs);
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
    match drained.await {
        Ok(()) => tracing::info!(shard = index, "shard drained"),
        Err(_) => tracing::warn!(
            shard = index,
            still_open = metrics.connections_open.load(Relaxed),
            "drain timed out; closing remaining connections"
        ),
    }
}

/// What it takes to serve one connection with hyper.
struct HyperConn {
    builder: auto::Builder<LocalExec>,
    service: Rc<ShardService>,
    peer: std::net::SocketAddr,
    watcher: hyper_util::server::graceful::Watcher,
}

impl HyperConn {
    /// Serves `io` until it closes (or graceful shutdown closes it).
    async fn serve<I>(self, io: I)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (service, peer) = (self.service, self.peer);
        let make = move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ClientAddr(peer));
            service.clone().handle(req)
        };
        let conn = self
            .builder
            .serve_connection_with_upgrades(TokioIo::new(io), hyper::service::service_fn(make))
            .into_owned();
        if let Err(e) = self.watcher.watch(conn).await {
            tracing::trace!(%peer, error = %e, "connection ended with error");
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
