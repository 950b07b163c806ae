//! The thread-per-core engine: binds one listener per shard, starts and pins the shards, tells
//! systemd when it is ready, and shuts everything down in order on SIGINT/SIGTERM (stop
//! accepting, drain in-flight responses, flush the store).

pub mod edge;
pub(crate) mod h3;
pub(crate) mod http1;
pub(crate) mod ktls;
pub(crate) mod listener;
pub(crate) mod router;
pub(crate) mod shard;
pub(crate) mod site;
pub(crate) mod systemd;
pub(crate) mod tls;

use crate::app::{host_of, App, EngineInfo, KernelTlsInfo, ShardInfo};
use crate::config::{Config, IoMode};
use crate::media::fileio::{choose_backend, IoBackend};
use crate::metrics::Metrics;
use crate::runtime::{blocking, conn_limits as limits, disk, memory};
use crate::store::{DataDirLock, MemtableFlusher, Store};
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Name of the file, in the data dir, that holds the bound address and public URL while the
/// server runs (written once every shard accepts; scripts and tests wait for it).
pub const ADDR_FILE: &str = "fleuve.addr";

/// Runs the server until SIGINT/SIGTERM.
pub fn serve(config: Config) -> anyhow::Result<()> {
    let mut p = Prelude::start(&config)?;
    let store = Arc::new(Store::open(&p.data_dir.join("meta"))?);
    let media_root = prepare_media_dirs(&p.data_dir)?;
    let udp_sockets = bind_udp_tracker(&config, p.cores.len())?;
    let udp_bound = udp_sockets.first().and_then(|s| s.local_addr().ok());
    let app = build_app(
        config,
        store,
        p.engine.clone(),
        p.public_url.clone(),
        &p.cores,
        p.started,
    )?;
    prepare_state(&app)?;
    let background = Background::start(&app, udp_sockets, &p.cores)?;
    let (shards, exit_rx) = Shards::start(&site::Site::primary(&app), p.specs(media_root))?;
    write_addr_file(&p.data_dir, &p.bound.to_string(), &p.public_url, udp_bound)?;
    p.announce(app.engine.cache_bytes_per_shard, "fleuve serving");

    let outcome = supervise(&app, exit_rx, &p.public_url);
    match &outcome {
        Ok(signal) => {
            tracing::info!(
                signal = *signal,
                "shutting down: no new connections, draining"
            );
            systemd::stopping();
        }
        Err(e) => tracing::error!(error = %e, "stopping"),
    }
    shut_down(&app, shards, background);
    outcome?;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// What every server process (primary or edge) sets up before its shards: memory settings, the
/// cores, the data directory and its lock, file I/O, one listener per shard, TLS, and the
/// engine's description.
struct Prelude {
    started: Instant,
    data_dir: PathBuf,
    _lock: DataDirLock,
    cores: Vec<usize>,
    backend: IoBackend,
    listeners: Vec<std::net::TcpListener>,
    bound: std::net::SocketAddr,
    public_url: String,
    tls: Option<Arc<rustls::ServerConfig>>,
    /// What the kernel takes of TLS, when connections are offloaded to it.
    kernel_tls: Option<Arc<ktls::Support>>,
    /// One HTTP/3 endpoint per shard, when on.
    h3: Vec<h3::H3Spec>,
    engine: EngineInfo,
}

impl Prelude {
    fn start(config: &Config) -> anyhow::Result<Prelude> {
        let started = Instant::now();
        memory::huge_pages(config.engine.transparent_huge_pages);
        // Before any thread allocates: arenas are made as threads first allocate.
        let cores = choose_cores(config)?;
        let arenas = match config.engine.malloc_arenas {
            0 => cores.len(),
            n => n,
        };
        memory::set_arena_max(arenas);
        memory::set_mmap_threshold(config.engine.malloc_mmap_threshold);
        let data_dir = config.data_dir.clone();
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
        let lock = DataDirLock::acquire(&data_dir)?;
        let _ = std::fs::remove_file(data_dir.join(ADDR_FILE));
        let n = cores.len();
        let (backend, fallback) = choose_io_backend(config, n)?;
        let listeners = listener::bind_shards(config.listen, n)?;
        let bound = listeners[0].local_addr()?;
        let public_url = config.effective_public_url(bound);
        let tls_on = config.tls.cert.is_some() && config.tls.key.is_some();
        let kernel_probe = tls_on.then(ktls::probe);
        let kernel_tls = match &kernel_probe {
            Some(Ok(support)) if config.tls.kernel_offload => {
                let suites: Vec<_> = support.suites.iter().map(|s| s.name()).collect();
                tracing::info!(?suites, "kernel TLS: after the handshake the kernel frames and encrypts the records of connections with these suites (sendfile over TLS); others stay in rustls");
                Some(Arc::new(support.clone()))
            }
            Some(Ok(_)) => {
                tracing::info!("the kernel offers TLS offload but tls.kernel_offload is off: TLS records are encrypted in user space (rustls)");
                None
            }
            Some(Err(why)) => {
                tracing::info!(reason = %why, "no kernel TLS offload; TLS records are encrypted in user space (rustls)");
                None
            }
            None => None,
        };
        let tls = match (&config.tls.cert, &config.tls.key) {
            (Some(cert), Some(key)) => {
                Some(tls::load(cert, key, kernel_tls.is_some()).map_err(anyhow::Error::msg)?)
            }
            _ => None,
        };
        let h3 = match (&tls, &config.tls.cert, &config.tls.key) {
            (Some(_), Some(cert), Some(key)) if config.http3.enabled => {
                let quic = h3::server_config(
                    cert,
                    key,
                    &config.http3,
                    Duration::from_secs(config.engine.idle_timeout_secs),
                )
                .map_err(anyhow::Error::msg)?;
                h3::bind_shards(bound, n)?
                    .into_iter()
                    .map(|socket| h3::H3Spec {
                        socket,
                        config: quic.clone(),
                    })
                    .collect()
            }
            _ => Vec::new(),
        };
        if config.http3.enabled && tls.is_none() {
            tracing::info!(
                "HTTP/3 needs TLS ([tls] cert and key): serving HTTP/1.1 and HTTP/2 only"
            );
        }
        let cache_total = if config.media.cache_bytes > 0 {
            config.media.cache_bytes
        } else {
            total_memory().unwrap_or(8 << 30) / 8
        };
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
            http3: !h3.is_empty(),
            kernel_tls: kernel_probe.map(|k| {
                k.map(|support| KernelTlsInfo {
                    suites: support.suites.iter().map(|s| s.name()).collect(),
                    used: kernel_tls.is_some(),
                })
            }),
            listen: bound.to_string(),
        };
        Ok(Prelude {
            started,
            data_dir,
            _lock: lock,
            cores,
            backend,
            listeners,
            bound,
            public_url,
            tls,
            kernel_tls,
            h3,
            engine,
        })
    }

    /// One shard per listener, each on its core, serving files under `media_root`.
    fn specs(&mut self, media_root: PathBuf) -> Vec<shard::ShardSpec> {
        let mut h3 = std::mem::take(&mut self.h3).into_iter();
        std::mem::take(&mut self.listeners)
            .into_iter()
            .zip(self.cores.iter())
            .enumerate()
            .map(|(index, (listener, core))| shard::ShardSpec {
                index,
                core: Some(*core),
                listener,
                backend: self.backend,
                tls: self.tls.clone(),
                kernel_tls: self.kernel_tls.clone(),
                media_root: media_root.clone(),
                h3: h3.next(),
            })
            .collect()
    }

    /// Logs that the shards serve and tells systemd.
    fn announce(&self, cache_bytes_per_shard: u64, what: &str) {
        let n = self.cores.len();
        tracing::info!(
            listen = %self.bound,
            public_url = %self.public_url,
            shards = n,
            cores = ?self.cores,
            io = self.backend.name(),
            cache_bytes_per_shard,
            tls = self.tls.is_some(),
            http3 = self.engine.http3,
            "{what}"
        );
        systemd::ready(&format!("serving {} on {n} shards", self.public_url));
    }
}

/// Picks the file I/O backend for `engine.io` and says why when it is not io_uring.
fn choose_io_backend(
    config: &Config,
    shards: usize,
) -> anyhow::Result<(IoBackend, Option<String>)> {
    let (backend, fallback) =
        choose_backend(config.engine.io, shards).map_err(anyhow::Error::msg)?;
    if let Some(why) = &fallback {
        if backend == IoBackend::Portable && config.engine.io != IoMode::Portable {
            tracing::warn!(reason = %why, "io_uring unavailable; serving files through the portable pread path");
        } else {
            tracing::info!(reason = %why, "portable file I/O selected");
        }
    }
    Ok((backend, fallback))
}

/// The connection caps of `[engine]`, their automatic values resolved.
fn connection_limits(config: &Config, shards: usize) -> Arc<limits::ConnLimits> {
    let nofile = limits::raise_nofile_limit();
    let max_connections = match config.engine.max_connections {
        0 => limits::auto_max_connections(nofile),
        n => n,
    };
    let conn_limits = limits::ConnLimits::new(limits::LimitsConfig {
        max_connections,
        max_connections_per_ip: config.engine.max_connections_per_ip,
        max_connections_per_shard: match config.engine.max_connections_per_shard {
            0 => limits::auto_max_connections_per_shard(max_connections, shards),
            n => n,
        },
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
        max_connections_per_shard = conn_limits.config().max_connections_per_shard,
        send_buffer_bytes = conn_limits.config().send_buffer_bytes,
        "connection limits"
    );
    conn_limits
}

/// The UDP tracker's sockets, one per shard; none when it is off.
fn bind_udp_tracker(config: &Config, shards: usize) -> anyhow::Result<Vec<std::net::UdpSocket>> {
    Ok(match (config.tracker.enabled, config.tracker.udp_listen) {
        (true, Some(addr)) => crate::tracker::front::udp::bind(addr, shards)
            .with_context(|| format!("cannot bind the UDP tracker on {addr}"))?,
        _ => Vec::new(),
    })
}

/// The application state every shard shares: the subsystems, built from the configuration.
fn build_app(
    config: Config,
    store: Arc<Store>,
    engine: EngineInfo,
    public_url: String,
    cores: &[usize],
    started: Instant,
) -> anyhow::Result<Arc<App>> {
    let data_dir = config.data_dir.clone();
    let conn_limits = connection_limits(&config, cores.len());
    let pool = blocking::BlockingPool::new(config.engine.blocking_threads, cores);
    let metrics = Metrics::new(cores.len());
    let exe = std::env::current_exe().context("cannot locate the fleuve executable")?;
    let video_locks = Arc::new(crate::video::locks::VideoLocks::default());
    let secret = match &config.auth.video_file_token_secret_file {
        Some(file) => crate::media::access::read_secret_file(file).map_err(anyhow::Error::msg)?,
        None => crate::api::video_files::file_token_secret(&store)
            .context("cannot load the video file token secret")?,
    };
    let media_access = Arc::new(crate::media::access::MediaAccess::new(&secret));
    let runners = crate::runners::server::RunnerServer::open(
        store.clone(),
        &config.transcode,
        &data_dir,
        &public_url,
        exe.clone(),
    )
    .context("cannot load the remote runner tables")?;
    let remote: Option<Arc<dyn crate::transcode::runner::RemoteWork>> =
        if config.transcode.remote_runners.enabled {
            Some(runners.clone())
        } else {
            None
        };
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
            remote,
            to_object_storage: config.object_storage.enabled,
        },
    );
    let tracker = Arc::new(crate::tracker::Tracker::new(
        config.tracker.clone(),
        store.clone(),
    ));
    let federation = Arc::new(
        crate::federation::Federation::new(config.federation.clone(), &store)
            .context("cannot load the federation queues")?,
    );
    let object_storage = open_object_storage(&config)?;
    let storage_moves = crate::storage::Mover::new(
        store.clone(),
        crate::storage::MoverConfig {
            data_dir: data_dir.clone(),
            public_url: public_url.clone(),
            object_storage: object_storage.clone(),
            video_locks: video_locks.clone(),
            media_access: media_access.clone(),
        },
    );
    let mailer = Arc::new(crate::mail::Mailer::new(
        config.smtp.clone(),
        &host_of(&public_url),
        store.clone(),
    ));
    mailer
        .spawn()
        .context("cannot start the e-mail sender thread")?;
    Ok(Arc::new(App {
        mailer,
        federation,
        conn_limits,
        disk: Default::default(),
        media_access,
        video_locks,
        tracker,
        transcoder,
        runners,
        uploads: Default::default(),
        exe,
        public_host: host_of(&public_url),
        public_url,
        data_dir,
        store,
        pool,
        metrics,
        engine,
        started,
        login_throttle: crate::api::login_throttle::LoginThrottle::new(&config.auth),
        signup_limits: crate::api::signup::SignupLimits::new(&config.signup),
        hls_bucket_base: object_storage.as_ref().map(|o| o.hls_public_base()),
        edge_upstream: object_storage
            .as_ref()
            .map(|o| open_upstream(&config, o))
            .transpose()?,
        object_storage,
        storage_moves,
        redundancy: Arc::new(crate::redundancy::Redundancy::default()),
        config,
    }))
}

/// The object storage of `[object_storage]`, when on. A missing access key fails the start; an
/// unreachable endpoint or a missing bucket is logged as an error (and shown by the admin
/// status) but does not: uploads wait on disk until it answers.
fn open_object_storage(
    config: &Config,
) -> anyhow::Result<Option<Arc<crate::media::objstore::ObjectStorage>>> {
    let env = |name: &str| std::env::var(name).ok();
    let Some(os) = crate::media::objstore::ObjectStorage::from_config(&config.object_storage, &env)
        .context("cannot set up the object storage")?
    else {
        return Ok(None);
    };
    match os.check() {
        Ok(()) => tracing::info!(
            endpoint = %config.object_storage.endpoint,
            bucket = %os.hls_bucket(),
            public_base = %os.hls_public_base(),
            "object storage ready"
        ),
        Err(e) => tracing::error!(
            endpoint = %config.object_storage.endpoint,
            bucket = %os.hls_bucket(),
            error = %e,
            "the object storage does not answer as it should; videos wait on disk until it does"
        ),
    }
    Ok(Some(Arc::new(os)))
}

/// The viewers' side of the object storage: its fetch threads and, with
/// `object_storage.disk_cache_bytes`, the on-disk cache in `<data_dir>/cache/objects`.
fn open_upstream(
    config: &Config,
    os: &Arc<crate::media::objstore::ObjectStorage>,
) -> anyhow::Result<Arc<crate::media::objstore::edge::Upstream>> {
    let disk = match config.object_storage.disk_cache_bytes {
        0 => None,
        bytes => {
            let dir = config.data_dir.join("cache").join("objects");
            Some(
                crate::media::objstore::disk::DiskCache::open(&dir, bytes).with_context(|| {
                    format!("cannot prepare the object cache {}", dir.display())
                })?,
            )
        }
    };
    Ok(crate::media::objstore::edge::Upstream::new(
        os.clone(),
        config.object_storage.fetch_threads as usize,
        Duration::from_secs(config.object_storage.fetch_timeout_secs),
        disk,
    ))
}

/// Brings the stored state in line before any shard serves: the first account, expired
/// uploads, files where their video's privacy says, and federation of published videos.
fn prepare_state(app: &Arc<App>) -> anyhow::Result<()> {
    crate::api::auth::bootstrap(app).context("cannot create the first account")?;
    crate::uploads::remove_expired(app, true);
    // Every local video's files where its privacy says (finishes a move a crash interrupted;
    // moves the files of videos made private before Fleuve moved them).
    crate::api::video_privacy::reconcile(app)
        .context("cannot put video files where their privacy says")?;
    // Web-video torrents a stop interrupted (they are made after the upload's answer).
    crate::uploads::web_video::resume_torrents(app)
        .context("cannot list the web videos that still need a torrent")?;
    let weak = Arc::downgrade(app);
    app.transcoder
        .set_on_published(Box::new(move |video_id, withdrawn| {
            if let Some(app) = weak.upgrade() {
                if !withdrawn.is_empty() {
                    app.tracker.allowlist_changed(withdrawn, true);
                }
                if app.config.federation.enabled {
                    crate::federation::outbox::video_published(&app, video_id);
                }
                // A video waiting for the object storage: its move was queued with it.
                app.storage_moves.notify();
            }
        }));
    let weak = Arc::downgrade(app);
    app.storage_moves
        .set_on_moved(Box::new(move |video_id, published| {
            let Some(app) = weak.upgrade() else { return };
            if !app.config.federation.enabled {
                return;
            }
            if published {
                crate::federation::outbox::video_published(&app, video_id);
            } else if let Ok(Some(v)) = app.store.get(&crate::store::videos::VideoKey(video_id)) {
                // Its file URLs changed.
                if let Err(e) = crate::federation::outbox::video_updated(&app, &v) {
                    tracing::warn!(video = %v.uuid, error = %e, "cannot federate the moved video");
                }
            }
        }));
    Ok(())
}

/// The threads that work beside the shards: federation delivery and inbox processing, the
/// transcode lanes, the UDP tracker.
struct Background {
    fed_stop: Arc<AtomicBool>,
    fed_threads: Vec<JoinHandle<()>>,
    lanes: Vec<JoinHandle<()>>,
    udp_stop: Arc<AtomicBool>,
    udp_threads: Vec<JoinHandle<()>>,
}

impl Background {
    fn start(
        app: &Arc<App>,
        udp_sockets: Vec<std::net::UdpSocket>,
        cores: &[usize],
    ) -> anyhow::Result<Background> {
        let fed_stop = Arc::new(AtomicBool::new(false));
        let mut fed_threads = Vec::new();
        if app.config.federation.enabled {
            fed_threads = crate::federation::delivery::spawn(app)
                .context("cannot start the federation delivery workers")?;
            fed_threads.push(
                crate::federation::inbox::spawn_processor(app.clone(), fed_stop.clone())
                    .context("cannot start the inbox processor")?,
            );
        }
        let mut lanes = app
            .transcoder
            .start()
            .context("cannot start the transcode lanes")?;
        lanes.push(
            app.storage_moves
                .spawn()
                .context("cannot start the storage mover")?,
        );
        lanes.push(
            crate::redundancy::Redundancy::spawn(app)
                .context("cannot start the redundancy thread")?,
        );
        lanes.push(
            crate::runners::server::watchdog::spawn(app.runners.clone())
                .context("cannot start the runner watchdog")?,
        );
        let udp_stop = Arc::new(AtomicBool::new(false));
        let udp_threads = crate::tracker::front::udp::spawn(
            app.tracker.clone(),
            udp_sockets,
            cores,
            udp_stop.clone(),
        )
        .context("cannot start the UDP tracker")?;
        Ok(Background {
            fed_stop,
            fed_threads,
            lanes,
            udp_stop,
            udp_threads,
        })
    }
}

/// The running shards and the channel that tells them to stop.
struct Shards {
    shutdown: tokio::sync::watch::Sender<bool>,
    threads: Vec<JoinHandle<()>>,
}

impl Shards {
    /// Spawns one shard per spec and waits until each accepts (30 s at most). Also returns the
    /// channel on which a shard that stops unexpectedly sends its index.
    fn start(
        site: &Arc<site::Site>,
        specs: Vec<shard::ShardSpec>,
    ) -> anyhow::Result<(Shards, tokio::sync::mpsc::UnboundedReceiver<usize>)> {
        let n = specs.len();
        let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (exit_tx, exit_rx) = tokio::sync::mpsc::unbounded_channel();
        let mut threads = Vec::with_capacity(n);
        for spec in specs {
            threads.push(shard::spawn(
                spec,
                site.clone(),
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
        Ok((
            Shards {
                shutdown: shutdown_tx,
                threads,
            },
            exit_rx,
        ))
    }
}

/// Runs the control tasks (store checks, watchdog, tracker peer expiry, housekeeping) until a
/// signal asks to stop (returns its name) or a shard dies (an error).
fn supervise(
    app: &Arc<App>,
    mut exit_rx: tokio::sync::mpsc::UnboundedReceiver<usize>,
    public_url: &str,
) -> anyhow::Result<&'static str> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let watchdog = systemd::watchdog_interval();
        let mut tick =
            tokio::time::interval(watchdog.map(|w| w / 2).unwrap_or(Duration::from_secs(3600)));
        let mut housekeeping = tokio::time::interval(Duration::from_secs(3600));
        let mut expiry = tokio::time::interval(Duration::from_secs(30));
        let trim_secs = app.config.engine.heap_trim_secs;
        let mut heap_trim = tokio::time::interval(Duration::from_secs(trim_secs.max(1)));
        let flush_secs = app.config.engine.store_flush_secs;
        let mut flusher = MemtableFlusher::new(Duration::from_secs(flush_secs.max(1)));
        let mut store_flush = tokio::time::interval(flusher.period());
        let mut store_check =
            tokio::time::interval(Duration::from_secs(app.config.engine.store_check_secs));
        let mut store_failed = false;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return anyhow::Ok("SIGINT"),
                _ = term.recv() => return Ok("SIGTERM"),
                idx = exit_rx.recv() => {
                    bail!("shard {} stopped unexpectedly", idx.unwrap_or(usize::MAX));
                }
                _ = store_check.tick() => {
                    store_failed |= check_store(app, public_url).await;
                }
                _ = tick.tick(), if watchdog.is_some() => {
                    ping_watchdog(&app.metrics, app.started, store_failed, watchdog.unwrap_or_default());
                }
                _ = expiry.tick() => {
                    let dropped = app.tracker.swarms.expire(Instant::now());
                    if dropped > 0 {
                        tracing::debug!(peers = dropped, "expired tracker peers");
                    }
                }
                _ = housekeeping.tick() => housekeeping_pass(app).await,
                _ = heap_trim.tick(), if trim_secs > 0 => memory::trim_heap(),
                _ = store_flush.tick(), if flush_secs > 0 => {
                    flusher = flush_store(app, flusher).await;
                }
            }
        }
    })
}

/// Flushes the store's memtables that are due (on the blocking pool); gives the flusher back.
async fn flush_store(app: &Arc<App>, flusher: MemtableFlusher) -> MemtableFlusher {
    let a = app.clone();
    let max_age = Duration::from_secs(app.config.engine.store_flush_secs.max(1));
    let ran = app
        .pool
        .run(move || {
            let mut flusher = flusher;
            let r = flusher.pass(&a.store, Instant::now());
            (flusher, r)
        })
        .await;
    match ran {
        Ok((flusher, r)) => {
            match r {
                Ok(n) if n > 0 => {
                    tracing::debug!(column_families = n, "store memtables flushed")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot flush the store's memtables"),
            }
            flusher
        }
        Err(_) => MemtableFlusher::new(max_age),
    }
}

/// Checks the metadata store and the free space (on the blocking pool) and tells systemd what
/// changed. True when the store could not be reopened (a restart is needed).
async fn check_store(app: &Arc<App>, public_url: &str) -> bool {
    let a = app.clone();
    match app.pool.run(move || disk::check_store(&a)).await {
        Ok(disk::StoreCheck::WaitingForSpace) => systemd::status(
            "metadata store read-only: waiting for disk space (uploads and changes refused)",
        ),
        Ok(disk::StoreCheck::Recovered) => {
            systemd::status(&format!("serving {public_url}; metadata store recovered"));
        }
        Ok(disk::StoreCheck::Failed(e)) => {
            systemd::status(&format!("metadata store closed: {e}; restart needed"));
            return true;
        }
        _ => {}
    }
    false
}

/// Pings systemd's watchdog, unless the store is closed for good or a shard's loop is stuck
/// (then systemd restarts the service).
fn ping_watchdog(metrics: &Metrics, started: Instant, store_failed: bool, window: Duration) {
    if store_failed {
        tracing::error!("the metadata store could not be reopened; withholding the watchdog ping so systemd restarts fleuve");
    } else if shards_alive(metrics, started, window) {
        systemd::watchdog();
    } else {
        tracing::error!("a shard's event loop is stuck; withholding the watchdog ping");
    }
}

/// The hourly clean-up: expired tokens, abandoned uploads, old inbox activity ids.
async fn housekeeping_pass(app: &Arc<App>) {
    let store = app.store.clone();
    let purged = app
        .pool
        .run(move || crate::api::auth::purge_expired_tokens(&store))
        .await;
    if let Ok(Ok(n)) = purged {
        if n > 0 {
            tracing::info!(tokens = n, "purged expired tokens");
        }
    }
    let a = app.clone();
    let _ = app
        .pool
        .run(move || crate::uploads::remove_expired(&a, false))
        .await;
    let a = app.clone();
    if let Ok(Ok(n)) = app
        .pool
        .run(move || crate::federation::inbox::prune_seen(&a))
        .await
    {
        if n > 0 {
            tracing::info!(ids = n, "forgot old inbox activity ids");
        }
    }
}

/// The shutdown sequence, in order: shards stop accepting and drain; the UDP tracker,
/// federation and transcode lanes stop; shards are joined; the blocking pool stops; the store
/// is flushed; the address file goes.
fn shut_down(app: &App, shards: Shards, background: Background) {
    let _ = shards.shutdown.send(true);
    stop_threads(&background.udp_stop, background.udp_threads);
    // Stops the inbox processor and the delivery workers (a delivery in flight finishes or
    // stays queued for the next start). The flag is set before the inbox is woken.
    background.fed_stop.store(true, Relaxed);
    app.federation.deliveries.stop();
    app.federation.wake_inbox();
    join_all(background.fed_threads);
    // Running workers are killed and their jobs resume at the next start.
    app.transcoder.shutdown();
    app.runners.shutdown();
    app.storage_moves.shutdown();
    app.redundancy.shutdown();
    join_all(background.lanes);
    join_all(shards.threads);
    app.pool.shutdown();
    if let Err(e) = app.store.flush() {
        tracing::error!(error = %e, "flushing the metadata store failed");
    }
    let _ = std::fs::remove_file(app.data_dir.join(ADDR_FILE));
}

fn stop_threads(stop: &AtomicBool, threads: Vec<JoinHandle<()>>) {
    stop.store(true, Relaxed);
    join_all(threads);
}

fn join_all(threads: Vec<JoinHandle<()>>) {
    for t in threads {
        let _ = t.join();
    }
}

/// Whether every shard's event loop turned within `window`.
fn shards_alive(metrics: &Metrics, started: Instant, window: Duration) -> bool {
    let now = started.elapsed().as_millis() as u64;
    metrics
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
