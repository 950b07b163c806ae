//! Server-side upload intake: how a video file enters Fleuve. PeerTube's two upload protocols,
//! the legacy multipart `POST /api/v1/videos/upload` and the resumable one (node-uploadx)
//! `POST/PUT/DELETE /api/v1/videos/upload-resumable`, end here; the HTTP handlers in
//! [`crate::api::uploads`] only parse the request and turn an [`UploadError`] into PeerTube's
//! error shape. (The *client* that uploads, `fleuve ingest`, is [`crate::client`].)
//!
//! One file per job:
//! - [`admission`]: what is checked before any byte is stored (metadata rules, sizes, per-user
//!   concurrency, the disk reserve), and the uploads in flight;
//! - [`resumable`]: the resumable session protocol (open, chunk, status query, cancel, expiry);
//! - [`multipart`]: parsing a multipart form with bounded fields;
//! - [`writer`]: the one place an upload's bytes are written to disk, for both protocols;
//! - [`finalize`]: a complete file is probed, becomes a video and its transcode job is queued;
//! - [`web_video`]: the upload window, where the original plays as a web video with its torrent,
//!   miniature and preview until the transcode ends.
//!
//! File I/O and fsync'd metadata writes run on the engine's blocking pool, never on a shard's
//! event loop, so a slow disk stalls no other connection of the shard.

pub(crate) mod admission;
pub(crate) mod error;
pub(crate) mod finalize;
pub(crate) mod multipart;
pub(crate) mod resumable;
pub(crate) mod web_video;
pub(crate) mod writer;

pub use admission::{InFlight, UploadMeta};
pub use error::UploadError;
pub use resumable::remove_expired;

use crate::app::App;
use std::path::PathBuf;

/// Where uploads are staged until they become a video's source.
fn uploads_dir(app: &App) -> PathBuf {
    app.data_dir.join("tmp").join("uploads")
}

pub(crate) use crate::time::now_secs;
