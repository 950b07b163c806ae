//! The thread-per-core engine: binds one listener per shard, starts and pins the shards, tells
//! systemd when it is ready, and shuts everything down in order on SIGINT/SIGTERM (stop
//! accepting, drain in-flight responses, flush the store).

pub mod blocking;
pub mod disk;
pub mod http1;
pub mod limits;
pub mod listener;
pub mod shard;
pub mod systemd;
pub mod tls;

use crate::app::{host_of, App, EngineInfo, ShardInfo};
use crate::config::Config;
use crate::media::fileio::{choose_backend, IoBackend};
use crate::metrics::Metrics;
use crate::store::{DataDirLock, Store};
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Name of the file, in the data dir, that holds the bound address and public URL while the
/// server runs (written once every shard accepts; scripts and tests wait for it).
pub const ADDR_FILE: &str = "fleuve.addr";

/// Runs the server until SIGINT/SIGTERM.
pub fn serve(config: Config) -> anyhow::Result<()> {
    let started = Instant::now();
    let data_dir = config.data_dir.clone();
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
    let _lock = DataDirLock::acquire(&data_dir)?;
    let _ = std::fs::remove_file(data_dir.join(ADDR_FILE));
    let store = Arc::new(Store::open(&data_dir.join("meta"))?);
    let media_root = prepare_media_dirs(&data_dir)?;

    let cores = choose_cores(&config)?;
    let n = cores.len();
    let (backend, fallback) = choose_backend(&config.engine.io, n).map_err(anyhow::Error::msg)?;
    if let Some(why) = &fallback {
        if backend == IoBackend::Portable && config.engine.io != "portable" {
            tracing::warn!(reason = %why, "io_uring unavailable; serving files through the portable pread path");
        } else {
            tracing::info!(reason = %why, "portable file I/O selected");
        }
    }
    let listen = config.listen_addr()?;
    let listeners = listener::bind_shards(listen, n)?;
    let bound = listeners[0].local_addr()?;
    let public_url = config.effective_public_url(bound);
    let tls = if config.tls_enabled() {
        Some(
            tls::load(Path::new(&config.tls.cert), Path::new(&config.tls.key))
                .map_err(anyhow::Error::msg)?,
        )
    } else {
        None
    };
    let cache_total = if config.media.cache_bytes > 0 {
        config.media.cache_bytes
    } else {
        total_memory().unwrap_or(8 << 30) / 8
    };
    let nofile = limits::raise_nofile_limit();
    let conn_limits = limits::ConnLimits::new(limits::LimitsConfig {
        max_connections: match config.engine.max_connections {
            0 => limits::auto_max_connections(nofile),
            n => n,
        },
        max_connections_per_ip: config.engine.max_connections_per_ip,
        send_buffer_bytes: match config.engine.send_buffer_bytes {
            0 => (total_memory().unwrap_or(8 << 30) / 16)
                .clamp(config.engine.send_buffer_bytes_per_connection, 1 << 30),
            n => n,
        },
        send_buffer_bytes_per_connection: config.engine.send_buffer_bytes_per_connection,
        send_timeout: Duration::from_secs(config.engine.send_timeout_secs),
        idle_timeout: Duration::from_secs(config.engine.idle_timeout_secs),
    });
    tracing::info!(
        open_files_limit = nofile,
        max_connections = conn_limits.config().max_connections,
        max_connections_per_ip = conn_limits.config().max_connections_per_ip,
        send_buffer_bytes = conn_limits.config().send_buffer_bytes,
        "connection limits"
    );
    let pool = blocking::BlockingPool::new(config.engine.blocking_threads, &cores);
    let metrics = Metrics::new(n);
    let engine = EngineInfo {
        shards: cores
            .iter()
            .enumerate()
            .map(|(index, core)| ShardInfo {
                index,
                core: Some(*core),
            })
            .collect(),
        io_backend: backend.name(),
        io_fallback_reason: fallback,
        cache_bytes_per_shard: cache_total / n as u64,
        tls: tls.is_some(),
        listen: bound.to_string(),
    };
    let exe = std::env::current_exe().context("cannot locate the fleuve executable")?;
    let video_locks = Arc::new(crate::video::locks::VideoLocks::default());
    let media_access = Arc::new(crate::media::access::MediaAccess::new(
        &crate::api::video_files::file_token_secret(&store)
            .context("cannot load the video file token secret")?,
    ));
    let transcoder = crate::transcode::runner::Transcoder::new(
        store.clone(),
        crate::transcode::runner::RunnerConfig {
            transcode: config.transcode.clone(),
            data_dir: data_dir.clone(),
            public_url: public_url.clone(),
            exe: exe.clone(),
            min_free_bytes: config.upload.min_free_bytes,
            sessions: crate::transcode::runner::session_budget(
                &config.transcode,
                &fleuve_hw::discover(),
            ),
            video_locks: video_locks.clone(),
        },
    );
    let tracker = Arc::new(crate::tracker::Tracker::new(
        config.tracker.clone(),
        store.clone(),
    ));
    let udp_sockets = match (config.tracker.enabled, config.tracker.udp_listen.as_str()) {
        (true, addr) if !addr.is_empty() => {
            let addr: std::net::SocketAddr = addr.parse().context("tracker.udp_listen")?;
            crate::tracker::front::udp::bind(addr, n)
                .with_context(|| format!("cannot bind the UDP tracker on {addr}"))?
        }
        _ => Vec::new(),
    };
    let udp_bound = udp_sockets.first().and_then(|s| s.local_addr().ok());
    let federation = Arc::new(
        crate::federation::Federation::new(config.federation.clone(), &store)
            .context("cannot load the federation queues")?,
    );
    let app = Arc::new(App {
        federation,
        conn_limits,
        disk: Default::default(),
        media_access,
        video_locks,
        tracker: tracker.clone(),
        transcoder: transcoder.clone(),
        uploads: Default::default(),
        exe,
        public_host: host_of(&public_url),
        public_url: public_url.clone(),
        data_dir: data_dir.clone(),
        store: store.clone(),
        pool: pool.clone(),
        metrics: metrics.clone(),
        engine,
        started,
        login_throttle: crate::api::login_throttle::LoginThrottle::new(&config.auth),
        config,
    });
    crate::api::auth::bootstrap(&app).context("cannot create the first account")?;
    crate::uploads::remove_expired(&app, true);
    // Before any shard serves: every local video's files where its privacy says (finishes a
    // move a crash interrupted; moves the files of videos made private before Fleuve moved them).
    crate::api::video_privacy::reconcile(&app)
        .context("cannot put video files where their privacy says")?;
    {
        let weak = Arc::downgrade(&app);
        transcoder.set_on_published(Box::new(move |video_id| {
            if let Some(app) = weak.upgrade() {
                if app.config.federation.enabled {
                    crate::federation::outbox::video_published(&app, video_id);
                }
            }
        }));
    }
    let fed_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut fed_threads = Vec::new();
    if app.config.federation.enabled {
        fed_threads = crate::federation::delivery::spawn(&app)
            .context("cannot start the federation delivery workers")?;
        fed_threads.push(
            crate::federation::inbox::spawn_processor(app.clone(), fed_stop.clone())
                .context("cannot start the inbox processor")?,
        );
    }
    let lanes = transcoder
        .start()
        .context("cannot start the transcode lanes")?;
    let udp_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let udp_threads =
        crate::tracker::front::udp::spawn(tracker.clone(), udp_sockets, &cores, udp_stop.clone())
            .context("cannot start the UDP tracker")?;

    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (exit_tx, mut exit_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut threads = Vec::with_capacity(n);
    for (index, (listener, core)) in listeners.into_iter().zip(cores.iter()).enumerate() {
        let spec = shard::ShardSpec {
            index,
            core: Some(*core),
            listener,
            backend,
            tls: tls.clone(),
            media_root: media_root.clone(),
        };
        threads.push(shard::spawn(
            spec,
            app.clone(),
            shutdown_rx.clone(),
            ready_tx.clone(),
            exit_tx.clone(),
        )?);
    }
    drop(ready_tx);
    for _ in 0..n {
        match ready_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = shutdown_tx.send(true);
                bail!("a shard failed to start: {e}");
            }
            Err(_) => {
                let _ = shutdown_tx.send(true);
                bail!("shards did not start within 30 s");
            }
        }
    }
    write_addr_file(&data_dir, &bound.to_string(), &public_url, udp_bound)?;
    tracing::info!(
        listen = %bound,
        public_url = %public_url,
        shards = n,
        cores = ?cores,
        io = backend.name(),
        cache_bytes_per_shard = app.engine.cache_bytes_per_shard,
        tls = app.engine.tls,
        "fleuve serving"
    );
    systemd::ready(&format!("serving {public_url} on {n} shards"));

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let reason = rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let watchdog = systemd::watchdog_interval();
        let mut tick = tokio::time::interval(watchdog.map(|w| w / 2).unwrap_or(Duration::from_secs(3600)));
        let mut housekeeping = tokio::time::interval(Duration::from_secs(3600));
        let mut expiry = tokio::time::interval(Duration::from_secs(30));
        let mut store_check = tokio::time::interval(Duration::from_secs(
            app.config.engine.store_check_secs,
        ));
        let mut store_failed = false;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return anyhow::Ok("SIGINT"),
                _ = term.recv() => return Ok("SIGTERM"),
                idx = exit_rx.recv() => {
                    bail!("shard {} stopped unexpectedly", idx.unwrap_or(usize::MAX));
                }
                _ = store_check.tick() => {
                    let a = app.clone();
                    match app.pool.run(move || disk::check_store(&a)).await {
                        Ok(disk::StoreCheck::WaitingForSpace) => systemd::status(
                            "metadata store read-only: waiting for disk space (uploads and changes refused)",
                        ),
                        Ok(disk::StoreCheck::Recovered) => {
                            systemd::status(&format!("serving {public_url}; metadata store recovered"));
                        }
                        Ok(disk::StoreCheck::Failed(e)) => {
                            store_failed = true;
                            systemd::status(&format!("metadata store closed: {e}; restart needed"));
                        }
                        _ => {}
                    }
                }
                _ = tick.tick(), if watchdog.is_some() => {
                    if store_failed {
                        tracing::error!("the metadata store could not be reopened; withholding the watchdog ping so systemd restarts fleuve");
                    } else if shards_alive(&app, watchdog.unwrap_or_default()) {
                        systemd::watchdog();
                    } else {
                        tracing::error!("a shard's event loop is stuck; withholding the watchdog ping");
                    }
                }
                _ = expiry.tick() => {
                    let dropped = app.tracker.swarms.expire(std::time::Instant::now());
                    if dropped > 0 { tracing::debug!(peers = dropped, "expired tracker peers"); }
                }
                _ = housekeeping.tick() => {
                    let store = app.store.clone();
                    let purged = app.pool.run(move || crate::api::auth::purge_expired_tokens(&store)).await;
                    if let Ok(Ok(n)) = purged {
                        if n > 0 { tracing::info!(tokens = n, "purged expired tokens"); }
                    }
                    let a = app.clone();
                    let _ = app.pool.run(move || crate::uploads::remove_expired(&a, false)).await;
                    let a = app.clone();
                    if let Ok(Ok(n)) = app.pool.run(move || crate::federation::inbox::prune_seen(&a)).await {
                        if n > 0 { tracing::info!(ids = n, "forgot old inbox activity ids"); }
                    }
                }
            }
        }
    });
    let reason = match reason {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "stopping");
            let _ = shutdown_tx.send(true);
            stop_udp(&udp_stop, udp_threads);
            stop_federation(&app, &fed_stop, fed_threads);
            stop_lanes(&transcoder, lanes);
            finish(threads, &pool, &store, &data_dir);
            return Err(e);
        }
    };
    tracing::info!(
        signal = reason,
        "shutting down: no new connections, draining"
    );
    systemd::stopping();
    let _ = shutdown_tx.send(true);
    stop_udp(&udp_stop, udp_threads);
    stop_federation(&app, &fed_stop, fed_threads);
    stop_lanes(&transcoder, lanes);
    finish(threads, &pool, &store, &data_dir);
    tracing::info!("stopped cleanly");
    Ok(())
}

/// Stops the inbox processor and the delivery workers (a delivery in flight finishes or stays
/// queued for the next start).
fn stop_federation(
    app: &App,
    stop: &std::sync::atomic::AtomicBool,
    threads: Vec<std::thread::JoinHandle<()>>,
) {
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    app.federation.deliveries.stop();
    app.federation.wake_inbox();
    for t in threads {
        let _ = t.join();
    }
}

fn stop_udp(stop: &std::sync::atomic::AtomicBool, threads: Vec<std::thread::JoinHandle<()>>) {
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
}

/// Stops the transcode lanes; running workers are killed and their jobs resume at the next start.
fn stop_lanes(
    transcoder: &crate::transcode::runner::Transcoder,
    lanes: Vec<std::thread::JoinHandle<()>>,
) {
    transcoder.shutdown();
    for l in lanes {
        let _ = l.join();
    }
}

fn finish(
    threads: Vec<std::thread::JoinHandle<()>>,
    pool: &blocking::BlockingPool,
    store: &Store,
    data_dir: &Path,
) {
    for t in threads {
        let _ = t.join();
    }
    pool.shutdown();
    if let Err(e) = store.flush() {
        tracing::error!(error = %e, "flushing the metadata store failed");
    }
    let _ = std::fs::remove_file(data_dir.join(ADDR_FILE));
}

fn shards_alive(app: &App, window: Duration) -> bool {
    let now = app.started.elapsed().as_millis() as u64;
    app.metrics
        .shards()
        .iter()
        .all(|s| now.saturating_sub(s.heartbeat_ms.load(Relaxed)) < window.as_millis() as u64)
}

/// Cores for the shards: `engine.cores`, else every core we may run on, cut to `engine.shards`.
fn choose_cores(config: &Config) -> anyhow::Result<Vec<usize>> {
    let available: Vec<usize> = core_affinity::get_core_ids()
        .map(|ids| ids.into_iter().map(|c| c.id).collect())
        .unwrap_or_else(|| {
            (0..std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1))
                .collect()
        });
    let mut cores = if config.engine.cores.is_empty() {
        available.clone()
    } else {
        for c in &config.engine.cores {
            if !available.contains(c) {
                bail!(
                    "engine.cores lists core {c}, but this process may only run on {available:?}"
                );
            }
        }
        config.engine.cores.clone()
    };
    if config.engine.shards > 0 {
        if config.engine.shards > cores.len() {
            // More shards than cores: wrap around (useful in tests on small machines).
            let base = cores.clone();
            cores = (0..config.engine.shards)
                .map(|i| base[i % base.len()])
                .collect();
        } else {
            cores.truncate(config.engine.shards);
        }
    }
    if cores.is_empty() {
        bail!("no cores available for shards");
    }
    Ok(cores)
}

fn prepare_media_dirs(data_dir: &Path) -> anyhow::Result<PathBuf> {
    let media = data_dir.join("media");
    for d in crate::media::layout::directories() {
        std::fs::create_dir_all(media.join(d))
            .with_context(|| format!("cannot create {}", media.join(d).display()))?;
    }
    for d in ["tmp", "tmp/uploads", "tmp/jobs", "sources"] {
        std::fs::create_dir_all(data_dir.join(d))
            .with_context(|| format!("cannot create {}", data_dir.join(d).display()))?;
    }
    // Metadata (tokens, keys), sources and staging are the server's alone, whatever the umask
    // (the systemd unit sets one; a hand-started server may not).
    for d in ["meta", "sources", "tmp"] {
        use std::os::unix::fs::PermissionsExt;
        let path = data_dir.join(d);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot restrict {}", path.display()))?;
    }
    std::fs::canonicalize(&media).with_context(|| format!("cannot resolve {}", media.display()))
}

fn write_addr_file(
    data_dir: &Path,
    bound: &str,
    public_url: &str,
    udp: Option<std::net::SocketAddr>,
) -> anyhow::Result<()> {
    let tmp = data_dir.join("tmp").join(ADDR_FILE);
    let udp = udp.map(|a| a.to_string()).unwrap_or_default();
    std::fs::write(&tmp, format!("{bound}\n{public_url}\n{udp}\n"))?;
    std::fs::rename(&tmp, data_dir.join(ADDR_FILE))?;
    Ok(())
}

fn total_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
