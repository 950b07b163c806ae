//! `fleuve serve --edge`: a stateless server of the bucket's media. It opens no database and
//! accepts no uploads; it answers `/static/streaming-playlists/[<prefix>]hls/<uuid>/<file>` and
//! `/object-storage-proxy/streaming-playlists/hls/private/<uuid>/<file>` from each shard's chunk
//! cache, fetching what it misses from the bucket (one upstream request per missed chunk however
//! many viewers ask), and `/metrics`. Several edges can share one bucket: the operator points
//! `object_storage.streaming_playlists.base_url` at them. Private objects need a video file token
//! signed with the primary's secret (`auth.video_file_token_secret_file`, the same file on every
//! machine); OAuth tokens are checked only by the primary.

use super::site::Site;
use super::{connection_limits, open_object_storage, systemd, write_addr_file, Prelude, Shards};
use crate::config::Config;
use crate::media::access::MediaAccess;
use crate::media::objstore::edge::Upstream;
use crate::media::objstore::serve::BucketRoutes;
use crate::metrics::Metrics;
use crate::runtime::blocking::BlockingPool;
use crate::runtime::conn_limits::ConnLimits;
use crate::runtime::memory;
use anyhow::{bail, Context};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;
use std::time::Duration;

/// Runs an edge until SIGINT/SIGTERM.
pub fn serve(config: Config) -> anyhow::Result<()> {
    if !config.object_storage.enabled {
        bail!(
            "fleuve serve --edge serves an object storage's files: set object_storage.enabled = true, \
             its endpoint and object_storage.streaming_playlists.bucket_name"
        );
    }
    let mut p = Prelude::start(&config)?;
    let media_root = prepare_dirs(&p.data_dir)?;
    let secret = match &config.auth.video_file_token_secret_file {
        Some(file) => crate::media::access::read_secret_file(file).map_err(anyhow::Error::msg)?,
        None => {
            tracing::warn!(
                "auth.video_file_token_secret_file is not set: this edge cannot check video file \
                 tokens and refuses private videos' files (give it the primary's secret file)"
            );
            crate::media::access::random_secret()
        }
    };
    let os = open_object_storage(&config)?.context("object storage is off")?;
    let upstream = super::open_upstream(&config, &os)?;
    let metrics = Metrics::new(p.cores.len());
    let conn_limits = connection_limits(&config, p.cores.len());
    let state = Arc::new(EdgeState {
        metrics: metrics.clone(),
        conn_limits: conn_limits.clone(),
        upstream: upstream.clone(),
        metrics_config: config.metrics.clone(),
    });
    let site = Arc::new(Site {
        metrics,
        engine: p.engine.clone(),
        started: p.started,
        conn_limits,
        media_access: Arc::new(MediaAccess::new(&secret)),
        pool: BlockingPool::new(config.engine.blocking_threads, &p.cores),
        upstream: Some(upstream),
        bucket: Some(Arc::new(BucketRoutes::new(
            os,
            true,
            config.media.media_max_age_secs,
            config.media.playlist_max_age_secs,
        ))),
        router: router(state),
        primary: None,
        config,
    });
    let (shards, exit_rx) = Shards::start(&site, p.specs(media_root))?;
    write_addr_file(&p.data_dir, &p.bound.to_string(), &p.public_url, None)?;
    p.announce(
        site.engine.cache_bytes_per_shard,
        "fleuve edge serving the object storage",
    );

    let outcome = supervise(&site, exit_rx);
    match &outcome {
        Ok(signal) => {
            tracing::info!(signal = *signal, "edge shutting down: draining");
            systemd::stopping();
        }
        Err(e) => tracing::error!(error = %e, "stopping"),
    }
    let _ = shards.shutdown.send(true);
    super::join_all(shards.threads);
    site.pool.shutdown();
    let _ = std::fs::remove_file(p.data_dir.join(super::ADDR_FILE));
    outcome?;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// An edge's data directory holds only the address file while it runs, an empty media root (its
/// shards' file server finds nothing on disk and goes to the bucket) and the on-disk object cache.
fn prepare_dirs(data_dir: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    let media = data_dir.join("media");
    for d in [media.clone(), data_dir.join("tmp")] {
        std::fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    std::fs::canonicalize(&media).with_context(|| format!("cannot resolve {}", media.display()))
}

/// Signals, the watchdog and heap trims, until a signal asks to stop (its name) or a shard dies.
fn supervise(
    site: &Site,
    mut exit_rx: tokio::sync::mpsc::UnboundedReceiver<usize>,
) -> anyhow::Result<&'static str> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let watchdog = systemd::watchdog_interval();
        let mut tick =
            tokio::time::interval(watchdog.map(|w| w / 2).unwrap_or(Duration::from_secs(3600)));
        let trim_secs = site.config.engine.heap_trim_secs;
        let mut heap_trim = tokio::time::interval(Duration::from_secs(trim_secs.max(1)));
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return anyhow::Ok("SIGINT"),
                _ = term.recv() => return Ok("SIGTERM"),
                idx = exit_rx.recv() => {
                    bail!("shard {} stopped unexpectedly", idx.unwrap_or(usize::MAX));
                }
                _ = tick.tick(), if watchdog.is_some() => {
                    super::ping_watchdog(&site.metrics, site.started, false, watchdog.unwrap_or_default());
                }
                _ = heap_trim.tick(), if trim_secs > 0 => memory::trim_heap(),
            }
        }
    })
}

/// What the edge's non-media routes read.
struct EdgeState {
    metrics: Metrics,
    conn_limits: Arc<ConnLimits>,
    upstream: Arc<Upstream>,
    metrics_config: crate::config::MetricsConfig,
}

/// `/metrics` and a one-line `/`; anything else is not here.
fn router(state: Arc<EdgeState>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/metrics", get(metrics))
        .fallback(not_here)
        .with_state(state)
}

async fn index() -> &'static str {
    "Fleuve edge: this server serves the object storage's video files; the instance is elsewhere.\n"
}

async fn not_here(uri: http::Uri) -> Response {
    if uri.path().starts_with("/api/") {
        crate::api::error::ApiError::not_found(format!(
            "{} is not served here: this is a Fleuve edge, serving video files only (the API is on the primary)",
            uri.path()
        ))
        .into_response()
    } else {
        (http::StatusCode::NOT_FOUND, "not found\n").into_response()
    }
}

async fn metrics(
    State(state): State<Arc<EdgeState>>,
    client: Option<axum::Extension<crate::app::ClientAddr>>,
    headers: http::HeaderMap,
) -> Response {
    if !crate::api::instance::metrics_allowed(
        &state.metrics_config,
        client.map(|c| c.0 .0.ip()),
        &headers,
    ) {
        return (
            http::StatusCode::FORBIDDEN,
            "/metrics is for loopback clients and holders of metrics.token\n",
        )
            .into_response();
    }
    let mut text = state.metrics.render();
    state.conn_limits.render_metrics(&mut text);
    state.upstream.render_metrics(&mut text);
    (
        [(
            http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
