//! Placeholder of the lead's `transcode::assemble` (runner results → a publishable staging
//! directory), with the agreed signature, so the runner server builds before it lands on `main`.
//! Replaced wholesale by the real module at merge.

use super::worker::WorkerResult;
use std::path::{Path, PathBuf};

/// One completed `vod-hls-transcoding` job's files.
#[derive(Debug, Clone)]
pub struct RunnerRendition {
    /// Resolution label.
    pub resolution: u32,
    /// Frame rate.
    pub fps: u32,
    /// The fragmented MP4.
    pub media_file: PathBuf,
    /// Its byte-range playlist.
    pub playlist: PathBuf,
}

/// What to assemble.
#[derive(Debug, Clone)]
pub struct AssembleSpec {
    /// One per completed vod-hls job, any order.
    pub renditions: Vec<RunnerRendition>,
    /// A completed generate-video-storyboard's sheet.
    pub storyboard: Option<PathBuf>,
    /// The staging dir the transcoder publishes from (created).
    pub staging: PathBuf,
    /// File name prefix.
    pub prefix: String,
    /// The video.
    pub video_uuid: String,
    /// Its title.
    pub video_name: String,
    /// Public URL.
    pub public_url: String,
    /// Also web videos.
    pub web_videos: bool,
}

/// Runs `fleuve worker --assemble` in a child process (not there yet: an error).
pub fn assemble_isolated(_exe: &Path, _spec: &AssembleSpec) -> Result<WorkerResult, String> {
    Err("assembling runner results is not available in this build yet".into())
}
