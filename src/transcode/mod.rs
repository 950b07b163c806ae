//! Transcoding: probing sources, planning the ladder, the decode-once pipeline, HLS playlists
//! and the durable job queue. Worker processes and publication land next (issue 3). Only this
//! module talks to libav.

pub mod hls;
pub mod jobs;
pub mod ladder;
pub mod pipeline;
pub mod probe;
