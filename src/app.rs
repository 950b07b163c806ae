//! What every shard shares: configuration, the metadata store, the blocking pool, metrics and a
//! description of the running engine. Cheap to clone (`Arc`), `Send + Sync`, so the API handlers
//! (axum) can use it from any shard.

use crate::config::Config;
use crate::metrics::Metrics;
use crate::runtime::blocking::BlockingPool;
use crate::store::Store;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// One shard as started.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardInfo {
    /// Shard index.
    pub index: usize,
    /// Core it is pinned to (None when pinning failed or is unsupported).
    pub core: Option<usize>,
}

/// The running engine, for logs and the admin status endpoint.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EngineInfo {
    /// Shards and their cores.
    pub shards: Vec<ShardInfo>,
    /// File I/O backend in use (`io_uring` or `portable`).
    pub io_backend: &'static str,
    /// Why the portable backend is used, when it is.
    pub io_fallback_reason: Option<String>,
    /// Media cache bytes per shard.
    pub cache_bytes_per_shard: u64,
    /// Whether TLS is on.
    pub tls: bool,
    /// Whether HTTP/3 is served (UDP, same port).
    pub http3: bool,
    /// With TLS on: what the kernel offers of TLS offload (`Ok`), or why it offers none.
    pub kernel_tls: Option<Result<KernelTlsInfo, String>>,
    /// The address the listeners are bound to.
    pub listen: String,
}

/// Kernel TLS as the engine found it.
#[derive(Debug, Clone, Serialize)]
pub struct KernelTlsInfo {
    /// The protocol versions and ciphers the kernel takes.
    pub suites: Vec<&'static str>,
    /// Whether connections are handed to it (`tls.kernel_offload`).
    pub used: bool,
}

/// Shared application state.
pub struct App {
    /// Effective configuration.
    pub config: Config,
    /// Public URL without trailing slash.
    pub public_url: String,
    /// `host[:port]` of the public URL (what the `Host` header must say for local clients).
    pub public_host: String,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Metadata store.
    pub store: Arc<Store>,
    /// Blocking pool.
    pub pool: BlockingPool,
    /// Metrics of all shards.
    pub metrics: Metrics,
    /// Engine description.
    pub engine: EngineInfo,
    /// Start time.
    pub started: Instant,
    /// Failed logins per client address and account (rate limits).
    pub login_throttle: crate::api::login_throttle::LoginThrottle,
    /// Sign-ups and e-mail asks per client address.
    pub signup_limits: crate::api::signup::SignupLimits,
    /// The transcoder (job queue, lanes, live progress).
    pub transcoder: Arc<crate::transcode::runner::Transcoder>,
    /// The server side of PeerTube's remote-runner protocol (tokens, runners, runner jobs).
    pub runners: Arc<crate::runners::server::RunnerServer>,
    /// Uploads being written right now: resumable session ids, and multipart uploads per user.
    pub uploads: crate::uploads::InFlight,
    /// The `fleuve` executable (workers and probes run as child processes of it).
    pub exe: PathBuf,
    /// The tracker.
    pub tracker: Arc<crate::tracker::Tracker>,
    /// Federation: the delivery queue, the outgoing client, counters.
    pub federation: Arc<crate::federation::Federation>,
    /// Free space on the data directory, as last measured.
    pub disk: crate::runtime::disk::DiskGauge,
    /// Connection caps, send budget and timeouts (shared by every shard).
    pub conn_limits: Arc<crate::runtime::conn_limits::ConnLimits>,
    /// Video file tokens and the file-move counter the segment servers share.
    pub media_access: Arc<crate::media::access::MediaAccess>,
    /// One writer at a time per video (privacy changes, publication).
    pub video_locks: Arc<crate::video::locks::VideoLocks>,
    /// The e-mail outbox and its sender.
    pub mailer: Arc<crate::mail::Mailer>,
    /// The object storage, when `[object_storage] enabled`.
    pub object_storage: Option<Arc<crate::media::objstore::ObjectStorage>>,
    /// The fetches of bucket ranges for viewers (single-flight, counted), when on.
    pub edge_upstream: Option<Arc<crate::media::objstore::edge::Upstream>>,
    /// Its public base of HLS files (`<base_url>/<prefix>`), when on.
    pub hls_bucket_base: Option<String>,
    /// The moves of videos' files between the disk and the object storage.
    pub storage_moves: Arc<crate::storage::Mover>,
    /// Mirrors of other instances' videos (the thread that makes them).
    pub redundancy: Arc<crate::redundancy::Redundancy>,
}

impl App {
    /// The URLs of `video`'s files, wherever they are kept.
    pub fn file_urls<'a>(
        &'a self,
        video: &'a crate::video::Video,
    ) -> crate::video::urls::FileUrls<'a> {
        crate::video::urls::FileUrls::of(&self.public_url, video, self.hls_bucket_base.as_deref())
    }
}

/// Shared handle.
pub type SharedApp = Arc<App>;

/// `host[:port]` of a URL (`http://a.b:9000/x` → `a.b:9000`).
pub fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    rest.split('/').next().unwrap_or_default().to_string()
}

/// Put in request extensions by the shard; whatever outlives its request on the connection (a
/// WebSocket) keeps a clone, so the connection stays counted under the connection caps and in
/// `fleuve_connections_open`, and learns when the server shuts down.
#[derive(Clone)]
pub struct ConnHold {
    _held: Arc<dyn std::any::Any + Send + Sync>,
    /// Becomes true when the server shuts down.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

impl ConnHold {
    /// Holds `held` (the connection's counters) for as long as a clone lives.
    pub fn new(
        held: Arc<dyn std::any::Any + Send + Sync>,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> ConnHold {
        ConnHold {
            _held: held,
            shutdown,
        }
    }
}

/// The peer address of a request's connection, put in request extensions by the shard.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub std::net::SocketAddr);
