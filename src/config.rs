//! The effective configuration: embedded defaults, then `fleuve.toml`, then `FLEUVE_*`
//! environment variables, then command-line flags (later wins).
//!
//! Every key is optional. Environment names are derived from the key path: `media.cache_bytes`
//! is `FLEUVE_MEDIA_CACHE_BYTES`, `listen` is `FLEUVE_LISTEN`. Every knob is documented in
//! `docs/configuration.md`; a test keeps that page and this file in step.

pub mod http3;
pub mod object_storage;
pub mod redundancy;
pub(crate) mod types;

pub use http3::Http3Config;
pub use object_storage::ObjectStorageConfig;
pub use redundancy::{RedundancyConfig, RemoteRedundancyConfig};
pub use types::{DeviceScaling, Encoder, IoMode, RESOLUTIONS};

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The config file (or the merged result) is not valid.
    #[error("invalid configuration{}: {message}", .origin.as_ref().map(|o| format!(" in {o}")).unwrap_or_default())]
    Invalid {
        /// Where the bad value came from (file path or variable name).
        origin: Option<String>,
        /// What is wrong.
        message: String,
    },
}

/// File, in the data dir, holding the generated root password: the server writes it at first
/// start and the client CLI reads it (`--data-dir`).
pub const ROOT_PASSWORD_FILE: &str = "root-password";

/// The whole configuration. Field docs are the reference for `docs/configuration.md`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Directory holding `meta/` (RocksDB), `media/` and `tmp/`.
    pub data_dir: PathBuf,
    /// Address the HTTP(S) listeners bind, one `SO_REUSEPORT` socket per shard. Port 0 picks a
    /// free port (tests).
    #[serde(with = "types::socket_addr")]
    pub listen: SocketAddr,
    /// Public base URL of this instance (scheme, host, optional port). Empty: derived from
    /// `listen` (and `localhost` when listening on all addresses).
    pub public_url: String,
    /// Thread-per-core engine settings.
    pub engine: EngineConfig,
    /// TLS for the listeners.
    pub tls: TlsConfig,
    /// HTTP/3 (QUIC) beside TLS.
    pub http3: Http3Config,
    /// Media serving settings.
    pub media: MediaConfig,
    /// Login and token settings.
    pub auth: AuthConfig,
    /// How the instance presents itself.
    pub instance: InstanceConfig,
    /// Transcoding ladder and encoders.
    pub transcode: TranscodeConfig,
    /// Uploads.
    pub upload: UploadConfig,
    /// The BitTorrent/WebTorrent tracker.
    pub tracker: TrackerConfig,
    /// ActivityPub federation.
    pub federation: FederationConfig,
    /// The web pages.
    pub web: WebConfig,
    /// Who may read `/metrics`.
    pub metrics: MetricsConfig,
    /// Who may create an account.
    pub signup: SignupConfig,
    /// Where e-mail goes out.
    pub smtp: SmtpConfig,
    /// Media on an S3-compatible cluster.
    pub object_storage: ObjectStorageConfig,
    /// Mirrors of followed instances' videos.
    pub redundancy: RedundancyConfig,
    /// Other servers' mirrors of our videos.
    pub remote_redundancy: RemoteRedundancyConfig,
}

/// `[signup]`: PeerTube's `signup.*`: whether anyone may create an account here, how many, and
/// what they must go through first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SignupConfig {
    /// Whether `POST /api/v1/users/register` (and registration requests) are open.
    pub enabled: bool,
    /// Users the instance may have in all (sign-ups stop there); -1 for no limit.
    pub limit: i64,
    /// Sign-ups are requests that a moderator accepts or rejects
    /// (`/api/v1/users/registrations`).
    pub requires_approval: bool,
    /// New users must open the link e-mailed to them before they can log in (needs `[smtp]`).
    pub requires_email_verification: bool,
    /// Video quota of a signed-up user in bytes, -1 for no limit.
    pub video_quota: i64,
    /// Daily video quota of a signed-up user in bytes, -1 for no limit.
    pub video_quota_daily: i64,
    /// Lifetime in seconds of an e-mailed link (e-mail verification, password reset); each
    /// works once.
    pub email_token_lifetime_secs: u64,
    /// Sign-ups (and registration requests) allowed per 5 minutes from one client address
    /// (IPv6: its /64); 0 = no limit. PeerTube allows 2.
    pub per_address_per_5min: u32,
    /// E-mail asks (`ask-send-verify-email`, `ask-reset-password`) allowed per 5 minutes from
    /// one client address; 0 = no limit. PeerTube allows 3.
    pub email_asks_per_address_per_5min: u32,
}

impl Default for SignupConfig {
    fn default() -> Self {
        SignupConfig {
            enabled: false,
            limit: 10,
            requires_approval: true,
            requires_email_verification: false,
            video_quota: -1,
            video_quota_daily: -1,
            email_token_lifetime_secs: 3600,
            per_address_per_5min: 2,
            email_asks_per_address_per_5min: 3,
        }
    }
}

/// How `[smtp]` protects the connection.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// `STARTTLS` on a plain connection (port 587); refused if the server does not offer it.
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on the same machine or a test server.
    None,
}

/// `[smtp]`: the server that sends Fleuve's e-mail (verification links, password resets,
/// registration answers). Mail waits in a durable outbox and is retried until it goes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// Host name of the SMTP server; empty: Fleuve sends no e-mail.
    pub host: String,
    /// Port.
    pub port: u16,
    /// `starttls`, `tls` or `none`.
    pub security: SmtpSecurity,
    /// User name for authentication; empty: none.
    pub username: String,
    /// Password for authentication.
    pub password: String,
    /// The `From` address; empty: `noreply@` the instance's host.
    pub from_address: String,
    /// Seconds before an unsent message is given up (it is retried with backoff until then).
    pub give_up_secs: u64,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            host: String::new(),
            port: 587,
            security: SmtpSecurity::Starttls,
            username: String::new(),
            password: String::new(),
            from_address: String::new(),
            give_up_secs: 2 * 86_400,
        }
    }
}

/// `[metrics]`: who may read `/metrics` (it tells an attacker the server's load and limits).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Bearer token that lets any client read `/metrics` (`Authorization: Bearer <token>`).
    /// Loopback clients never need it. Empty: only loopback clients (and `public`).
    pub token: String,
    /// Let anyone read `/metrics`.
    pub public: bool,
}

/// `[web]`: the pages and their assets.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Folder of the player's npm files (hls.js, p2p-media-loader), filled by `scripts/setup.sh`.
    /// Empty: `/usr/share/fleuve/web` when it holds them, else `web/dist` of the source tree the
    /// binary was built from.
    #[serde(with = "types::optional_path")]
    pub assets_dir: Option<PathBuf>,
}

/// `[transcode]`: the ladder and the encoders (PeerTube's defaults).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TranscodeConfig {
    /// Encoders in order of preference; unavailable ones are skipped (and the reason recorded),
    /// `libx264` always ends the chain.
    pub encoders: Vec<Encoder>,
    /// Resolutions (shorter side) to produce, never above the source's; the source's own
    /// resolution is always kept as the top rung.
    pub resolutions: Vec<u32>,
    /// Highest output frame rate.
    pub max_fps: u32,
    /// GOP length in seconds.
    pub gop_secs: u32,
    /// Target HLS segment length in seconds.
    pub segment_secs: u32,
    /// Jobs transcoded at once (CPU lanes; each job encodes its whole ladder in parallel).
    pub jobs: usize,
    /// Cores the workers are pinned to. Empty = every core the server may use.
    pub cores: Vec<usize>,
    /// Starts of a job before it is given up (a crash or a kill counts as one).
    pub max_attempts: u32,
    /// Wall-clock limit of one worker in seconds. 0 = 600 s + 20 s per second of video.
    pub job_timeout_secs: u64,
    /// Address-space limit of a worker in bytes (`RLIMIT_AS`); a job over it fails with a
    /// reason. 0 = no limit; otherwise at least 256 MiB.
    pub worker_memory_bytes: u64,
    /// Largest file a worker may write, in bytes (`RLIMIT_FSIZE`). 0 = 4 × the source (≥ 1 GiB).
    pub worker_max_file_bytes: u64,
    /// Nice value of the workers, so serving wins the cores it shares with transcoding.
    pub worker_nice: i32,
    /// NVENC sessions all jobs together may open. 0 = what the driver reports, else 8 per GPU.
    pub nvenc_sessions: u32,
    /// VA-API encode contexts all jobs together may open. 0 = 4 per render node.
    pub vaapi_sessions: u32,
    /// Where rungs are scaled when the source is decoded on a GPU: `auto` (on the GPU for
    /// rungs encoded there), `always` or `never`.
    pub device_scaling: DeviceScaling,
    /// Longest side (width or height) of an accepted source, in pixels; larger uploads are
    /// refused when probed.
    pub max_source_side: u32,
    /// Most pixels (width × height) in a frame of an accepted source (8192 × 4320).
    pub max_source_pixels: u64,
    /// Highest frame rate of an accepted source.
    pub max_source_fps: u32,
    /// Longest accepted source, in seconds. 0 = no limit.
    pub max_source_duration_secs: u64,
    /// Most work one source may cost: duration × frame rate × width × height, in billions of
    /// pixels (ten minutes of 1080p60 is 75, two hours of 2160p60 about 3600), however small the
    /// file. 0 = no limit.
    pub max_source_gigapixels: u64,
    /// PeerTube's `transcoding.web_videos`: whole-file MP4 web videos besides HLS.
    pub web_videos: WebVideosConfig,
    /// PeerTube's `transcoding.original_file`: what becomes of the uploaded file once
    /// transcoded.
    pub original_file: OriginalFileConfig,
    /// PeerTube's `transcoding.remote_runners`: hand the transcoding to remote runners instead
    /// of local workers.
    pub remote_runners: RemoteRunnersConfig,
}

/// `[transcode.remote_runners]` (PeerTube's `transcoding.remote_runners`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RemoteRunnersConfig {
    /// Create runner jobs (PeerTube's remote-runner protocol) instead of running local workers.
    pub enabled: bool,
    /// A processing VOD job without an update for this many seconds goes back to the queue
    /// (PeerTube's `remote_runners.stalled_jobs.vod`).
    pub stalled_vod_secs: u64,
    /// The same for live jobs (`remote_runners.stalled_jobs.live`).
    pub stalled_live_secs: u64,
    /// Largest file a runner may upload as a job's result, in bytes.
    pub max_result_bytes: u64,
    /// Videos whose runner jobs are in flight at once (the rest wait in Fleuve's queue).
    pub videos_in_flight: usize,
    /// socket.io connections of runners kept at once.
    pub max_sockets: usize,
    /// Runner calls (requests, updates, results, downloads) one address may make per minute;
    /// more get 429 with `Retry-After` (0: no limit).
    pub max_calls_per_minute: u32,
}

impl Default for RemoteRunnersConfig {
    fn default() -> Self {
        RemoteRunnersConfig {
            enabled: false,
            stalled_vod_secs: 120,
            stalled_live_secs: 30,
            max_result_bytes: 8 << 30,
            videos_in_flight: 4,
            max_sockets: 256,
            max_calls_per_minute: 1200,
        }
    }
}

/// `[transcode.web_videos]` (PeerTube's `transcoding.web_videos`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WebVideosConfig {
    /// Also keep faststart MP4 web videos per rung, with torrents (PeerTube's default: off;
    /// the uploaded original is a web video only until its transcode ends).
    pub enabled: bool,
}

/// `[transcode.original_file]` (PeerTube's `transcoding.original_file`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OriginalFileConfig {
    /// Keep the uploaded file once transcoded, in `<data_dir>/original-video-files/` (PeerTube's
    /// default: off, the file is deleted).
    pub keep: bool,
}

impl Default for TranscodeConfig {
    fn default() -> Self {
        // The planner's and the source caps' defaults are these (`PlanOptions::default`).
        TranscodeConfig {
            encoders: Encoder::ALL.to_vec(),
            resolutions: RESOLUTIONS.to_vec(),
            max_fps: 60,
            gop_secs: 2,
            segment_secs: 4,
            jobs: 1,
            cores: Vec::new(),
            max_attempts: 3,
            job_timeout_secs: 0,
            worker_memory_bytes: 16 << 30,
            worker_max_file_bytes: 0,
            worker_nice: 10,
            nvenc_sessions: 0,
            vaapi_sessions: 0,
            device_scaling: DeviceScaling::Auto,
            max_source_side: 8192,
            max_source_pixels: 8192 * 4320,
            max_source_fps: 300,
            max_source_duration_secs: 12 * 3600,
            max_source_gigapixels: 4000,
            web_videos: WebVideosConfig::default(),
            original_file: OriginalFileConfig::default(),
            remote_runners: RemoteRunnersConfig::default(),
        }
    }
}

/// `[tracker]`: the WebSocket, HTTP and UDP tracker.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TrackerConfig {
    /// Serve the tracker at all.
    pub enabled: bool,
    /// Track only our info-hashes (the `infohashes` table); false = an open tracker.
    pub private: bool,
    /// UDP tracker address (one `SO_REUSEPORT` socket per shard). Empty = no UDP tracker.
    #[serde(with = "types::optional_socket_addr")]
    pub udp_listen: Option<SocketAddr>,
    /// Announce interval sent to clients, in seconds.
    pub interval_secs: u32,
    /// A peer not heard from for this many seconds is dropped.
    pub peer_max_age_secs: u64,
    /// Peers kept per torrent and kind (BitTorrent, WebTorrent).
    pub max_peers_per_swarm: usize,
    /// Peers returned when the client does not say (`numwant`).
    pub default_numwant: usize,
    /// Most peers returned, and most offers relayed, per announce.
    pub max_numwant: usize,
    /// Offers kept from one WebSocket announce (aquatic: 10).
    pub ws_max_offers: usize,
    /// Largest WebSocket message in bytes.
    pub ws_max_message_bytes: usize,
    /// A WebSocket connection silent for this many seconds is closed.
    pub ws_idle_timeout_secs: u64,
    /// WebSocket connections allowed per IP.
    pub max_connections_per_ip: u32,
    /// Announces allowed per IP per torrent per 5 minutes (PeerTube's
    /// `reject_too_many_announces` uses 15). 0 = no limit.
    pub announces_per_ip_per_hash: u32,
    /// Seconds an IP is blocked after announcing unknown torrents (PeerTube: 3 minutes).
    pub block_secs: u64,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            enabled: true,
            private: true,
            udp_listen: Some(SocketAddr::from(([127, 0, 0, 1], 6969))),
            interval_secs: 120,
            peer_max_age_secs: 300,
            max_peers_per_swarm: 10_000,
            default_numwant: 50,
            max_numwant: 100,
            ws_max_offers: 10,
            ws_max_message_bytes: 64 << 10,
            ws_idle_timeout_secs: 180,
            max_connections_per_ip: 64,
            announces_per_ip_per_hash: 0,
            block_secs: 180,
        }
    }
}

/// `[federation]`: ActivityPub with PeerTube and the fediverse.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FederationConfig {
    /// Take part in federation at all (inboxes answer 404 and nothing is sent when false).
    pub enabled: bool,
    /// Accept follows of our actors without an operator's approval (PeerTube's
    /// `followers.instance.manual_approval = false`).
    pub auto_accept_follows: bool,
    /// Let outgoing fetches and deliveries reach loopback, private, link-local and other
    /// non-public addresses (tests on loopback need it; keep false in production: SSRF).
    pub allow_private_addresses: bool,
    /// Largest inbox POST body in bytes.
    pub inbox_max_body_bytes: usize,
    /// Largest fetched ActivityPub document (actor, video) in bytes (PeerTube: 3000 kB).
    pub fetch_max_bytes: usize,
    /// Time limit of one outgoing fetch or delivery, in seconds (PeerTube: 7).
    pub request_timeout_secs: u64,
    /// Inbox POSTs accepted per remote host per minute; more get 429. 0 = no limit.
    pub inbox_rate_per_host_per_min: u32,
    /// Allowed difference between a signature's `Date` and our clock, in seconds.
    pub clock_skew_secs: u64,
    /// Threads that deliver activities (each holds one request in flight).
    pub delivery_workers: usize,
    /// Deliveries in flight to one host at a time.
    pub delivery_per_host: usize,
    /// First retry delay in seconds; doubled at each failure (with ±25 % jitter).
    pub retry_base_secs: u64,
    /// Longest retry delay in seconds.
    pub retry_max_secs: u64,
    /// A delivery still failing this many seconds after it was queued is given up.
    pub give_up_after_secs: u64,
    /// Remote actors (and their keys) are refetched when older than this, in seconds.
    pub actor_refresh_secs: u64,
    /// Signers' actors fetched at once for the inboxes (one thread each, off the blocking
    /// pool); a POST needing one more gets 503 with `Retry-After`.
    pub key_fetch_max_in_flight: usize,
    /// Signers' actors fetched at once from one host for the inboxes; more get 503.
    pub key_fetch_per_host: usize,
    /// Seconds a failed key fetch is remembered (per actor; per host when the host did not
    /// answer); POSTs needing it meanwhile are answered at once. 0 = not remembered.
    pub key_fetch_failure_secs: u64,
}

impl Default for FederationConfig {
    fn default() -> Self {
        FederationConfig {
            enabled: true,
            auto_accept_follows: true,
            allow_private_addresses: false,
            inbox_max_body_bytes: 1 << 20,
            fetch_max_bytes: 3000 << 10,
            request_timeout_secs: 7,
            inbox_rate_per_host_per_min: 6000,
            clock_skew_secs: 1800,
            delivery_workers: 32,
            delivery_per_host: 4,
            retry_base_secs: 30,
            retry_max_secs: 6 * 3600,
            give_up_after_secs: 3 * 86400,
            actor_refresh_secs: 2 * 86400,
            key_fetch_max_in_flight: 16,
            key_fetch_per_host: 4,
            key_fetch_failure_secs: 60,
        }
    }
}

/// `[upload]`: video uploads (PeerTube's legacy multipart and resumable protocols).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct UploadConfig {
    /// Largest accepted video file in bytes, checked before any byte is stored.
    pub max_file_bytes: u64,
    /// Uploads one user may have in progress at once.
    pub max_concurrent_per_user: u32,
    /// Seconds without a chunk after which a resumable upload is abandoned and removed.
    pub session_lifetime_secs: u64,
    /// Bytes of the data directory's disk kept free: uploads that would eat into it are refused
    /// (507), and a metadata store made read-only by a full disk is reopened once this much is
    /// free again.
    pub min_free_bytes: u64,
}

impl Default for UploadConfig {
    fn default() -> Self {
        UploadConfig {
            max_file_bytes: 8 << 30,
            max_concurrent_per_user: 3,
            session_lifetime_secs: 3600,
            min_free_bytes: 256 << 20,
        }
    }
}

/// `[engine]`: shards, cores and I/O.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// Number of shards (event-loop threads, each pinned to one core). 0 = one per core in `cores`
    /// (or per available core when `cores` is empty).
    pub shards: usize,
    /// Core ids the shards are pinned to, in order. Empty = all cores the process may run on.
    pub cores: Vec<usize>,
    /// File I/O backend: `auto` (io_uring when the kernel allows it, else portable), `uring`
    /// (fail if unavailable) or `portable` (pread on a small blocking pool).
    pub io: IoMode,
    /// Threads in the blocking pool (file reads on the portable path, fsyncing writes, password
    /// hashing).
    pub blocking_threads: usize,
    /// Seconds to let in-flight requests finish after SIGINT/SIGTERM before closing them.
    pub drain_timeout_secs: u64,
    /// Seconds a client may take to send request headers before the connection is closed.
    pub header_read_timeout_secs: u64,
    /// Answer plain-HTTP/1.1 media requests directly on the socket (sendfile for hot ranges,
    /// one vectored write for small files); false sends every request through hyper.
    pub fast_path: bool,
    /// Seconds a connection may wait between requests (keep-alive, or an HTTP/2 connection with
    /// no request open) before it is closed.
    pub idle_timeout_secs: u64,
    /// Seconds a client may leave response bytes unread (nothing written to it while a response
    /// is pending) before its connection is closed.
    pub send_timeout_secs: u64,
    /// Open connections allowed for the whole process; further ones get a 503 and are closed.
    /// 0 = three quarters of the open-file limit (raised to its hard limit at start).
    pub max_connections: usize,
    /// Open connections allowed per client address (an IPv4 address or an IPv6 /64); further
    /// ones get a 503 and are closed.
    pub max_connections_per_ip: usize,
    /// Open connections allowed on one shard; 0 = an even share of `max_connections` plus a
    /// quarter. Past it: `503`, closed.
    pub max_connections_per_shard: usize,
    /// Response-body bytes that may wait in memory for slow clients, whole process; past it,
    /// responses wait for room. 0 = 1/16 of RAM, at most 1 GiB.
    pub send_buffer_bytes: u64,
    /// Response-body bytes that may wait in memory for one connection (at least 1 MiB, one read).
    pub send_buffer_bytes_per_connection: u64,
    /// Seconds between checks of the metadata store and the free disk space (a store made
    /// read-only by a full disk is reopened at the first check that finds room).
    pub store_check_secs: u64,
    /// Let the kernel back the server's heap with transparent huge pages. Off by default: the
    /// allocator's arenas in 2 MiB pages kept about 50 MiB more resident for the same heap, and
    /// freed memory inside a huge page is not returned.
    pub transparent_huge_pages: bool,
    /// Seconds between returns of the allocator's free pages to the kernel (glibc's
    /// `malloc_trim`, every arena); 0 turns it off. Without it glibc keeps freed pages of its
    /// per-thread arenas resident, and resident memory creeps up although the live heap is
    /// flat (docs/benchmarks.md, "Soak").
    pub heap_trim_secs: u64,
    /// Seconds a metadata column family's memtable may hold writes before it is flushed to an
    /// SST file; 0 leaves them to fill (up to 8 MiB per column family, 32 MiB in all) before
    /// RocksDB flushes them. Metadata is written slowly, so without it the memtables' memory
    /// and the WAL a restart replays grow for hours; flushing more often makes more small SST
    /// files (each stays open).
    pub store_flush_secs: u64,
    /// Most malloc arenas (glibc `M_ARENA_MAX`); 0 = one per shard. glibc's own cap is 8 per
    /// core: every thread that allocates while the arenas are busy gets one, and each keeps
    /// freed memory that a few live allocations pin. No effect in a `--features mimalloc`
    /// build.
    pub malloc_arenas: usize,
    /// Allocations of at least this many bytes come straight from the kernel (`mmap`) and go
    /// back to it when freed (glibc `M_MMAP_THRESHOLD`); 0 keeps glibc's sliding threshold,
    /// which rises to the size of the large blocks freed. A fixed 256 KiB cut the memory held
    /// in the soak but cost 25% more CPU per 2 MiB range served (an `mmap`, zeroed pages and
    /// a `munmap` per buffer). No effect in a `--features mimalloc` build.
    pub malloc_mmap_threshold: u64,
}

/// Largest `engine.malloc_mmap_threshold` glibc takes on 64-bit machines.
pub const MALLOC_MMAP_THRESHOLD_MAX: u64 = 32 << 20;

/// `[tls]`: optional TLS on the same listeners (HTTP/1.1 and HTTP/2 by ALPN).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain. TLS is on when both `cert` and `key` are set.
    #[serde(with = "types::optional_path")]
    pub cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    #[serde(with = "types::optional_path")]
    pub key: Option<PathBuf>,
    /// Hand each connection's records to the kernel after the handshake (kernel TLS), when the
    /// kernel has the `tls` module and takes the negotiated cipher: HTTP/1.1 media then goes
    /// out with `sendfile`. false keeps every connection's records in rustls.
    pub kernel_offload: bool,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            cert: None,
            key: None,
            kernel_offload: true,
        }
    }
}

/// `[media]`: the segment server.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// Bytes of hot file ranges kept in memory, split evenly between shards. 0 = 1/8 of RAM.
    pub cache_bytes: u64,
    /// Milliseconds a cached file's metadata (size, mtime) is trusted before it is checked again.
    pub revalidate_ms: u64,
    /// Seconds between sweeps that drop the cached chunks and open descriptors of deleted or
    /// replaced files (each shard, on its next request).
    pub sweep_secs: u64,
    /// Open file descriptors each shard keeps (one per file version served), so reads and
    /// `sendfile` need no open per request. At least 1.
    pub open_files_per_shard: u64,
    /// `Cache-Control: max-age` in seconds for media files (fMP4, MP4, torrents, images); they are
    /// also marked `immutable` since their names change when their content does.
    pub media_max_age_secs: u64,
    /// `Cache-Control: max-age` in seconds for playlists and JSON.
    pub playlist_max_age_secs: u64,
}

/// `[auth]`: OAuth tokens and the first account.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Lifetime of an access token in seconds (PeerTube: 1 day).
    pub access_token_lifetime_secs: u64,
    /// Lifetime of a refresh token in seconds (PeerTube: 2 weeks).
    pub refresh_token_lifetime_secs: u64,
    /// Failed logins allowed per 5 minutes for one account from one client address (IPv6: its
    /// /64); 0 = no limit. PeerTube allows 15 attempts per address.
    pub login_attempts_per_5min: u32,
    /// Failed logins allowed per 5 minutes from one client address, all accounts together;
    /// 0 = no limit.
    pub login_failures_per_address_per_5min: u32,
    /// Failed logins allowed per 5 minutes for one account, all addresses together, except
    /// from addresses that logged into it before; 0 = no limit.
    pub login_failures_per_account_per_5min: u32,
    /// Lifetime in seconds of a video file token (`POST /api/v1/videos/{id}/token`), which
    /// opens a private video's files; a few hours, as PeerTube's.
    pub video_file_token_lifetime_secs: u64,
    /// File holding the secret that signs video file tokens (64 hex digits). Set the same file
    /// on a primary and its edges (`fleuve serve --edge`) so that edges can check the tokens of
    /// private files. Unset: the primary makes one and keeps it in its database.
    #[serde(with = "types::optional_path")]
    pub video_file_token_secret_file: Option<PathBuf>,
}

/// `[instance]`: what `GET /api/v1/config` and pages show.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct InstanceConfig {
    /// Instance name.
    pub name: String,
    /// One-line description.
    pub short_description: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 9000)),
            public_url: String::new(),
            engine: EngineConfig::default(),
            tls: TlsConfig::default(),
            media: MediaConfig::default(),
            auth: AuthConfig::default(),
            instance: InstanceConfig::default(),
            transcode: TranscodeConfig::default(),
            upload: UploadConfig::default(),
            tracker: TrackerConfig::default(),
            federation: FederationConfig::default(),
            web: WebConfig::default(),
            metrics: MetricsConfig::default(),
            signup: SignupConfig::default(),
            smtp: SmtpConfig::default(),
            object_storage: ObjectStorageConfig::default(),
            http3: Http3Config::default(),
            redundancy: RedundancyConfig::default(),
            remote_redundancy: RemoteRedundancyConfig::default(),
        }
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            shards: 0,
            cores: Vec::new(),
            io: IoMode::Auto,
            blocking_threads: 2,
            drain_timeout_secs: 10,
            header_read_timeout_secs: 30,
            fast_path: true,
            idle_timeout_secs: 60,
            send_timeout_secs: 60,
            max_connections: 0,
            max_connections_per_ip: 512,
            max_connections_per_shard: 0,
            send_buffer_bytes: 0,
            send_buffer_bytes_per_connection: 8 << 20,
            store_check_secs: 5,
            transparent_huge_pages: false,
            heap_trim_secs: 60,
            store_flush_secs: 3600,
            malloc_arenas: 0,
            malloc_mmap_threshold: 0,
        }
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            cache_bytes: 0,
            revalidate_ms: 1000,
            sweep_secs: 30,
            open_files_per_shard: 1024,
            media_max_age_secs: 31_536_000,
            playlist_max_age_secs: 2,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            access_token_lifetime_secs: 86_400,
            refresh_token_lifetime_secs: 1_209_600,
            login_attempts_per_5min: 15,
            login_failures_per_address_per_5min: 60,
            login_failures_per_account_per_5min: 50,
            video_file_token_lifetime_secs: 8 * 3600,
            video_file_token_secret_file: None,
        }
    }
}

impl Default for InstanceConfig {
    fn default() -> Self {
        InstanceConfig {
            name: "Fleuve".into(),
            short_description: "A Fleuve video appliance, speaking PeerTube's protocols.".into(),
        }
    }
}

/// Keys whose values are never printed (`fleuve config --print`).
const SECRET_KEYS: &[&str] = &["password", "secret", "token"];

impl Config {
    /// Loads defaults, then `file` (if any), then `FLEUVE_*` variables from `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut tree = toml::Value::try_from(Config::default()).map_err(|e| invalid(None, e))?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            let from_file: toml::Value =
                toml::from_str(&text).map_err(|e| invalid(Some(path.display().to_string()), e))?;
            // Validate the file alone first so errors name the file, not the merge.
            typed(from_file.clone()).map_err(|e| invalid(Some(path.display().to_string()), e))?;
            merge(&mut tree, from_file);
        }
        let defaults = toml::Value::try_from(Config::default()).map_err(|e| invalid(None, e))?;
        let mut leaves = Vec::new();
        collect_leaves(&defaults, &mut Vec::new(), &mut leaves);
        // Key path → the variable that set it, so a bad value names its variable.
        let mut from_env: Vec<(String, String)> = Vec::new();
        for (name, value) in env {
            let Some(rest) = name.strip_prefix("FLEUVE_") else {
                continue;
            };
            if let Some((path, default)) = leaves.iter().find(|(p, _)| env_name(p) == rest) {
                let parsed = parse_env_value(default, &value)
                    .map_err(|m| invalid(Some(name.clone()), format!("{m} (got {value:?})")))?;
                set_path(&mut tree, path, parsed);
                from_env.push((path.join("."), name));
            }
        }
        let config = typed(tree).map_err(|e| {
            let origin = from_env
                .iter()
                .find(|(key, _)| e.key.split('[').next() == Some(key.as_str()))
                .map(|(_, var)| var.clone());
            invalid(origin, e)
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Sets `listen` from a command-line flag, with the error a bad config value gets.
    pub fn set_listen(&mut self, value: &str) -> Result<(), ConfigError> {
        self.listen = value.parse().map_err(|_| {
            invalid(
                Some("--listen".into()),
                format!(
                    "listen: {}",
                    types::socket_addr_error(value, "127.0.0.1:9000 or [::]:443")
                ),
            )
        })?;
        Ok(())
    }

    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Err((key, message)) = self.object_storage.check() {
            return Err(invalid(Some(key), message));
        }
        if let Err((key, message)) = self.redundancy.check() {
            return Err(invalid(Some(key), message));
        }
        if let Err((key, message)) = self.http3.check() {
            return Err(invalid(Some(key), message));
        }
        if self.federation.key_fetch_max_in_flight == 0 || self.federation.key_fetch_per_host == 0 {
            return Err(invalid(
                Some("federation".into()),
                "key_fetch_max_in_flight and key_fetch_per_host must be at least 1",
            ));
        }
        if self.signup.requires_email_verification && self.smtp.host.is_empty() {
            return Err(invalid(
                Some("signup.requires_email_verification".into()),
                "true needs an SMTP server to send the links: set smtp.host",
            ));
        }
        if self.signup.limit < -1 || self.signup.email_token_lifetime_secs == 0 {
            return Err(invalid(
                Some("signup".into()),
                "limit must be -1 (none) or a number of users, and email_token_lifetime_secs at least 1",
            ));
        }
        if self.auth.video_file_token_lifetime_secs == 0 {
            return Err(invalid(
                Some("auth.video_file_token_lifetime_secs".into()),
                "must be at least 1 second",
            ));
        }
        if self.federation.delivery_workers == 0 || self.federation.delivery_per_host == 0 {
            return Err(invalid(
                Some("federation".into()),
                "delivery_workers and delivery_per_host must be at least 1",
            ));
        }
        if self.federation.retry_base_secs == 0
            || self.federation.retry_max_secs < self.federation.retry_base_secs
        {
            return Err(invalid(
                Some("federation.retry_base_secs".into()),
                format!(
                    "must be at least 1 and at most retry_max_secs ({})",
                    self.federation.retry_max_secs
                ),
            ));
        }
        for (key, v) in [
            ("engine.idle_timeout_secs", self.engine.idle_timeout_secs),
            ("engine.send_timeout_secs", self.engine.send_timeout_secs),
            (
                "engine.header_read_timeout_secs",
                self.engine.header_read_timeout_secs,
            ),
            (
                "engine.max_connections_per_ip",
                self.engine.max_connections_per_ip as u64,
            ),
            ("engine.store_check_secs", self.engine.store_check_secs),
            ("media.sweep_secs", self.media.sweep_secs),
            (
                "media.open_files_per_shard",
                self.media.open_files_per_shard,
            ),
        ] {
            if v == 0 {
                return Err(invalid(Some(key.into()), "must be at least 1"));
            }
        }
        if self.engine.malloc_mmap_threshold > MALLOC_MMAP_THRESHOLD_MAX {
            return Err(invalid(
                Some("engine.malloc_mmap_threshold".into()),
                format!(
                    "{} is above glibc's maximum of {MALLOC_MMAP_THRESHOLD_MAX} (32 MiB)",
                    self.engine.malloc_mmap_threshold
                ),
            ));
        }
        if self.engine.send_buffer_bytes_per_connection < 1 << 20 {
            return Err(invalid(
                Some("engine.send_buffer_bytes_per_connection".into()),
                format!(
                    "{} is below the minimum of 1048576 (one read)",
                    self.engine.send_buffer_bytes_per_connection
                ),
            ));
        }
        if self.engine.send_buffer_bytes != 0
            && self.engine.send_buffer_bytes < self.engine.send_buffer_bytes_per_connection
        {
            return Err(invalid(
                Some("engine.send_buffer_bytes".into()),
                format!(
                    "{} is below engine.send_buffer_bytes_per_connection ({})",
                    self.engine.send_buffer_bytes, self.engine.send_buffer_bytes_per_connection
                ),
            ));
        }
        if self.engine.blocking_threads == 0 {
            return Err(invalid(
                Some("engine.blocking_threads".into()),
                "must be at least 1",
            ));
        }
        if let Some(r) = self
            .transcode
            .resolutions
            .iter()
            .find(|r| !RESOLUTIONS.contains(r))
        {
            return Err(invalid(
                Some("transcode.resolutions".into()),
                format!("{r} is not one of PeerTube's resolutions {RESOLUTIONS:?}"),
            ));
        }
        if self.tracker.max_numwant == 0 || self.tracker.max_peers_per_swarm == 0 {
            return Err(invalid(
                Some("tracker".into()),
                "max_numwant and max_peers_per_swarm must be at least 1",
            ));
        }
        if self.transcode.jobs == 0 || self.transcode.max_attempts == 0 {
            return Err(invalid(
                Some("transcode".into()),
                "jobs and max_attempts must be at least 1",
            ));
        }
        if self.upload.max_file_bytes == 0 || self.upload.max_concurrent_per_user == 0 {
            return Err(invalid(
                Some("upload".into()),
                "max_file_bytes and max_concurrent_per_user must be at least 1",
            ));
        }
        if self.transcode.max_fps == 0
            || self.transcode.gop_secs == 0
            || self.transcode.segment_secs == 0
        {
            return Err(invalid(
                Some("transcode".into()),
                "max_fps, gop_secs and segment_secs must be at least 1",
            ));
        }
        let t = &self.transcode;
        for (key, value, min) in [
            ("transcode.max_source_side", u64::from(t.max_source_side), 2),
            ("transcode.max_source_pixels", t.max_source_pixels, 4),
            ("transcode.max_source_fps", u64::from(t.max_source_fps), 1),
        ] {
            if value < min {
                return Err(invalid(
                    Some(key.into()),
                    format!("{value} is too small; expected at least {min}"),
                ));
            }
        }
        if t.worker_memory_bytes != 0 && t.worker_memory_bytes < 256 << 20 {
            return Err(invalid(
                Some("transcode.worker_memory_bytes".into()),
                format!(
                    "{} bytes is too little for a worker; expected 0 (no limit) or at least {} (256 MiB)",
                    t.worker_memory_bytes,
                    256u64 << 20
                ),
            ));
        }
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            return Err(invalid(
                Some("tls".into()),
                "set both tls.cert and tls.key, or neither",
            ));
        }
        if !self.public_url.is_empty() {
            let ok = (self.public_url.starts_with("http://")
                || self.public_url.starts_with("https://"))
                && self.public_url.parse::<http::Uri>().is_ok();
            if !ok {
                return Err(invalid(
                    Some("public_url".into()),
                    format!(
                        "{:?} is not an http(s) URL like https://videos.example.org",
                        self.public_url
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Whether TLS is configured.
    pub fn tls_enabled(&self) -> bool {
        self.tls.cert.is_some()
    }

    /// The public URL, derived from the bound address when not configured (no trailing slash).
    pub fn effective_public_url(&self, bound: SocketAddr) -> String {
        if !self.public_url.is_empty() {
            return self.public_url.trim_end_matches('/').to_string();
        }
        let scheme = if self.tls_enabled() { "https" } else { "http" };
        let host = if bound.ip().is_unspecified() {
            "localhost".to_string()
        } else if bound.is_ipv6() {
            format!("[{}]", bound.ip())
        } else {
            bound.ip().to_string()
        };
        format!("{scheme}://{host}:{}", bound.port())
    }

    /// The effective configuration as TOML, with secret-looking values redacted.
    pub fn to_redacted_toml(&self) -> String {
        let mut tree =
            toml::Value::try_from(self).unwrap_or(toml::Value::Table(Default::default()));
        redact(&mut tree);
        toml::to_string_pretty(&tree).unwrap_or_default()
    }

    /// Every key path with its environment variable name (for docs and tests).
    pub fn documented_keys() -> Vec<(String, String)> {
        let defaults = toml::Value::try_from(Config::default()).expect("defaults serialize");
        let mut leaves = Vec::new();
        collect_leaves(&defaults, &mut Vec::new(), &mut leaves);
        leaves
            .into_iter()
            .map(|(p, _)| (p.join("."), format!("FLEUVE_{}", env_name(&p))))
            .collect()
    }
}

/// A value of the merged tree that does not fit its key's type.
struct TypeError {
    /// The key path (`transcode.device_scaling`); empty at the top level.
    key: String,
    /// What is wrong with it.
    message: String,
}

impl std::fmt::Display for TypeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.key.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

/// Parses a configuration tree into the typed configuration, naming the key of a bad value.
fn typed(tree: toml::Value) -> Result<Config, TypeError> {
    serde_path_to_error::deserialize(tree).map_err(|e| {
        let key = e.path().to_string();
        TypeError {
            // Errors at the top level (an unknown top-level key) have the path ".".
            key: if key == "." { String::new() } else { key },
            // toml's own message, without the key line it appends (the key is above).
            message: e.into_inner().message().to_string(),
        }
    })
}

fn invalid(origin: Option<String>, message: impl std::fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        origin,
        message: message.to_string(),
    }
}

fn env_name(path: &[String]) -> String {
    path.join("_").to_uppercase()
}

fn merge(base: &mut toml::Value, over: toml::Value) {
    match (base, over) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

fn collect_leaves(
    v: &toml::Value,
    path: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, toml::Value)>,
) {
    match v {
        toml::Value::Table(t) => {
            for (k, child) in t {
                path.push(k.clone());
                collect_leaves(child, path, out);
                path.pop();
            }
        }
        other => out.push((path.clone(), other.clone())),
    }
}

fn set_path(tree: &mut toml::Value, path: &[String], value: toml::Value) {
    let mut cur = tree;
    for (i, key) in path.iter().enumerate() {
        let toml::Value::Table(t) = cur else { return };
        if i + 1 == path.len() {
            t.insert(key.clone(), value);
            return;
        }
        cur = t
            .entry(key.clone())
            .or_insert_with(|| toml::Value::Table(Default::default()));
    }
}

fn parse_env_value(default: &toml::Value, raw: &str) -> Result<toml::Value, String> {
    Ok(match default {
        toml::Value::String(_) => toml::Value::String(raw.to_string()),
        toml::Value::Integer(_) => toml::Value::Integer(
            raw.trim()
                .parse::<i64>()
                .map_err(|_| "expected an integer".to_string())?,
        ),
        toml::Value::Boolean(_) => match raw.trim() {
            "1" | "true" | "yes" | "on" => toml::Value::Boolean(true),
            "0" | "false" | "no" | "off" => toml::Value::Boolean(false),
            _ => return Err("expected true or false".into()),
        },
        toml::Value::Float(_) => toml::Value::Float(
            raw.trim()
                .parse::<f64>()
                .map_err(|_| "expected a number".to_string())?,
        ),
        toml::Value::Array(_) => {
            // Comma-separated list of integers or strings: "0,1,2" or "a,b".
            let items: Vec<toml::Value> = raw
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| match s.parse::<i64>() {
                    Ok(n) => toml::Value::Integer(n),
                    Err(_) => toml::Value::String(s.to_string()),
                })
                .collect();
            toml::Value::Array(items)
        }
        other => {
            return Err(format!(
                "cannot set a {} from the environment",
                other.type_str()
            ))
        }
    })
}

fn redact(v: &mut toml::Value) {
    if let toml::Value::Table(t) = v {
        for (k, child) in t.iter_mut() {
            if SECRET_KEYS.iter().any(|s| k.contains(s)) {
                if let toml::Value::String(s) = child {
                    if !s.is_empty() {
                        *s = "<redacted>".into();
                    }
                }
            } else {
                redact(child);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = Config::load(None, env(&[])).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert_eq!(c.listen, "127.0.0.1:9000".parse::<SocketAddr>().unwrap());
        assert_eq!(c.engine.shards, 0);
        assert_eq!(c.engine.io, IoMode::Auto);
        assert_eq!(c.transcode.device_scaling, DeviceScaling::Auto);
        assert_eq!(
            c.transcode.encoders,
            [Encoder::H264Nvenc, Encoder::H264Vaapi, Encoder::Libx264]
        );
        assert_eq!(
            c.tracker.udp_listen,
            Some("127.0.0.1:6969".parse().unwrap())
        );
        assert_eq!((c.tls.cert.as_ref(), c.tls.key.as_ref()), (None, None));
        assert_eq!(c.web.assets_dir, None);
        assert_eq!(
            c.effective_public_url("127.0.0.1:9000".parse().unwrap()),
            "http://127.0.0.1:9000"
        );
    }

    #[test]
    fn web_video_knobs_name_a_bad_value() {
        let c = Config::load(
            None,
            env(&[("FLEUVE_TRANSCODE_ORIGINAL_FILE_KEEP", "true")]),
        )
        .unwrap();
        assert!(c.transcode.original_file.keep);
        assert!(!Config::default().transcode.original_file.keep);
        assert!(!Config::default().transcode.web_videos.enabled);
        let msg = Config::load(
            None,
            env(&[("FLEUVE_TRANSCODE_ORIGINAL_FILE_KEEP", "maybe")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            msg.contains("FLEUVE_TRANSCODE_ORIGINAL_FILE_KEEP") && msg.contains("maybe"),
            "{msg}"
        );
        let c = Config::load(
            None,
            env(&[("FLEUVE_TRANSCODE_WEB_VIDEOS_ENABLED", "true")]),
        )
        .unwrap();
        assert!(c.transcode.web_videos.enabled);
        let msg = Config::load(
            None,
            env(&[("FLEUVE_TRANSCODE_WEB_VIDEOS_ENABLED", "sometimes")]),
        )
        .unwrap_err()
        .to_string();
        assert!(msg.contains("FLEUVE_TRANSCODE_WEB_VIDEOS_ENABLED"), "{msg}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("fleuve.toml");
        std::fs::write(&file, "[transcode.original_file]\nkeep = \"yes\"\n").unwrap();
        let msg = Config::load(Some(&file), env(&[])).unwrap_err().to_string();
        assert!(msg.contains("keep") && msg.contains("yes"), "{msg}");
    }

    #[test]
    fn file_then_env_override() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("fleuve.toml");
        std::fs::write(
            &f,
            "listen = \"127.0.0.1:1234\"\n[media]\ncache_bytes = 5\n",
        )
        .unwrap();
        let c = Config::load(
            Some(&f),
            env(&[
                ("FLEUVE_MEDIA_CACHE_BYTES", "77"),
                ("FLEUVE_ENGINE_CORES", "0,1"),
                ("FLEUVE_ENGINE_IO", "portable"),
                ("UNRELATED", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:1234".parse::<SocketAddr>().unwrap());
        assert_eq!(c.media.cache_bytes, 77);
        assert_eq!(c.engine.cores, vec![0, 1]);
        assert_eq!(c.engine.io, IoMode::Portable);

        let c = Config::load(
            None,
            env(&[
                ("FLEUVE_TRANSCODE_ENCODERS", "libx264"),
                ("FLEUVE_TRACKER_UDP_LISTEN", ""),
                ("FLEUVE_TLS_CERT", "/etc/fleuve/cert.pem"),
                ("FLEUVE_TLS_KEY", "/etc/fleuve/key.pem"),
                ("FLEUVE_WEB_ASSETS_DIR", "/srv/web"),
            ]),
        )
        .unwrap();
        assert_eq!(c.transcode.encoders, [Encoder::Libx264]);
        assert_eq!(c.tracker.udp_listen, None);
        assert_eq!(c.tls.cert, Some(PathBuf::from("/etc/fleuve/cert.pem")));
        assert!(c.tls_enabled());
        assert_eq!(c.web.assets_dir, Some(PathBuf::from("/srv/web")));
    }

    #[test]
    fn the_mmap_threshold_is_bounded_by_glibcs_maximum() {
        let c = Config::load(None, env(&[])).unwrap();
        assert_eq!(c.engine.malloc_mmap_threshold, 0);
        assert_eq!(c.engine.malloc_arenas, 0);
        let msg = Config::load(
            None,
            env(&[("FLEUVE_ENGINE_MALLOC_MMAP_THRESHOLD", "33554433")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            msg.contains("engine.malloc_mmap_threshold") && msg.contains("33554433"),
            "{msg}"
        );
        let c = Config::load(
            None,
            env(&[("FLEUVE_ENGINE_MALLOC_MMAP_THRESHOLD", "262144")]),
        )
        .unwrap();
        assert_eq!(c.engine.malloc_mmap_threshold, 262_144);
    }

    #[test]
    fn bad_values_name_the_culprit() {
        let err = Config::load(None, env(&[("FLEUVE_MEDIA_CACHE_BYTES", "lots")])).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("FLEUVE_MEDIA_CACHE_BYTES") && msg.contains("lots"),
            "{msg}"
        );

        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("fleuve.toml");
        std::fs::write(&f, "[media]\ncache_byte = 5\n").unwrap();
        let msg = Config::load(Some(&f), env(&[])).unwrap_err().to_string();
        assert!(
            msg.contains("cache_byte") && msg.contains("fleuve.toml"),
            "{msg}"
        );

        let msg = Config::load(None, env(&[("FLEUVE_LISTEN", "nowhere")]))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("nowhere"), "{msg}");
        let msg = Config::load(None, env(&[("FLEUVE_TRANSCODE_DEVICE_SCALING", "gpu")]))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("transcode.device_scaling") && msg.contains("\"gpu\""),
            "{msg}"
        );
        let c = Config::load(None, env(&[("FLEUVE_TRANSCODE_DEVICE_SCALING", "never")])).unwrap();
        assert_eq!(c.transcode.device_scaling, DeviceScaling::Never);
        // Each typed key: the variable, the key, the value and what was expected.
        for (var, value, key, expected) in [
            (
                "FLEUVE_LISTEN",
                "nowhere",
                "listen",
                "HOST:PORT with an IP address",
            ),
            (
                "FLEUVE_ENGINE_IO",
                "magic",
                "engine.io",
                "expected auto, uring or portable",
            ),
            (
                "FLEUVE_TRANSCODE_DEVICE_SCALING",
                "gpu",
                "transcode.device_scaling",
                "expected auto, always or never",
            ),
            (
                "FLEUVE_TRANSCODE_ENCODERS",
                "libx264,h265",
                "transcode.encoders",
                "expected h264_nvenc, h264_vaapi or libx264",
            ),
            (
                "FLEUVE_TRACKER_UDP_LISTEN",
                "localhost:6969",
                "tracker.udp_listen",
                "or an empty string to disable it",
            ),
        ] {
            let msg = Config::load(None, env(&[(var, value)]))
                .unwrap_err()
                .to_string();
            let shown = value.rsplit(',').next().unwrap_or(value);
            assert!(
                msg.contains(var)
                    && msg.contains(key)
                    && msg.contains(&format!("{shown:?}"))
                    && msg.contains(expected),
                "{msg}"
            );
        }
        std::fs::write(&f, "[transcode]\nencoders = [\"libx265\"]\n").unwrap();
        let msg = Config::load(Some(&f), env(&[])).unwrap_err().to_string();
        assert!(
            msg.contains("fleuve.toml")
                && msg.contains("transcode.encoders")
                && msg.contains("\"libx265\""),
            "{msg}"
        );
        std::fs::write(&f, "colour = \"blue\"\n").unwrap();
        let msg = Config::load(Some(&f), env(&[])).unwrap_err().to_string();
        assert!(msg.contains("colour"), "{msg}");
        let mut c = Config::default();
        let msg = c.set_listen("here:80").unwrap_err().to_string();
        assert!(
            msg.contains("listen") && msg.contains("\"here:80\""),
            "{msg}"
        );
        c.set_listen("[::1]:0").unwrap();
        assert_eq!(c.listen, "[::1]:0".parse::<SocketAddr>().unwrap());
        for (var, value, key) in [
            (
                "FLEUVE_TRANSCODE_MAX_SOURCE_SIDE",
                "1",
                "transcode.max_source_side",
            ),
            (
                "FLEUVE_TRANSCODE_MAX_SOURCE_PIXELS",
                "0",
                "transcode.max_source_pixels",
            ),
            (
                "FLEUVE_TRANSCODE_MAX_SOURCE_FPS",
                "0",
                "transcode.max_source_fps",
            ),
            (
                "FLEUVE_TRANSCODE_WORKER_MEMORY_BYTES",
                "1000",
                "transcode.worker_memory_bytes",
            ),
        ] {
            let msg = Config::load(None, env(&[(var, value)]))
                .unwrap_err()
                .to_string();
            assert!(msg.contains(key) && msg.contains(value), "{msg}");
        }
        let msg = Config::load(None, env(&[("FLEUVE_TRANSCODE_MAX_SOURCE_FPS", "-5")]))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("max_source_fps"), "{msg}");
        let c = Config::load(
            None,
            env(&[
                ("FLEUVE_TRANSCODE_MAX_SOURCE_SIDE", "640"),
                ("FLEUVE_TRANSCODE_MAX_SOURCE_GIGAPIXELS", "0"),
            ]),
        )
        .unwrap();
        assert_eq!(c.transcode.max_source_side, 640);
        assert_eq!(c.transcode.max_source_gigapixels, 0);
        let msg = Config::load(None, env(&[("FLEUVE_ENGINE_IO", "magic")]))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("magic"), "{msg}");
    }

    #[test]
    fn email_verification_needs_an_smtp_server() {
        let env = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        let e = Config::load(
            None,
            env(&[("FLEUVE_SIGNUP_REQUIRES_EMAIL_VERIFICATION", "true")]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("smtp.host"), "{e}");
        let c = Config::load(
            None,
            env(&[
                ("FLEUVE_SIGNUP_REQUIRES_EMAIL_VERIFICATION", "true"),
                ("FLEUVE_SMTP_HOST", "mail.example"),
                ("FLEUVE_SMTP_SECURITY", "tls"),
            ]),
        )
        .unwrap();
        assert_eq!(c.smtp.security, SmtpSecurity::Tls);
        let e = Config::load(None, env(&[("FLEUVE_SMTP_SECURITY", "ssl")])).unwrap_err();
        assert!(e.to_string().contains("FLEUVE_SMTP_SECURITY"), "{e}");
    }

    #[test]
    fn every_key_is_documented() {
        let doc = include_str!("../docs/configuration.md");
        for (key, env) in Config::documented_keys() {
            assert!(
                doc.contains(&format!("`{key}`")),
                "docs/configuration.md lacks `{key}`"
            );
            assert!(doc.contains(&env), "docs/configuration.md lacks {env}");
        }
    }

    #[test]
    fn print_is_valid_toml_and_round_trips() {
        let c = Config::default();
        let printed = c.to_redacted_toml();
        let back: Config = toml::from_str(&printed).unwrap();
        assert_eq!(back, c);
    }
}
