//! Transcoding: probing sources, planning the ladder, and (as issue 3 lands) the decode-once
//! pipeline, the worker process and the durable job queue. Only this module talks to libav.

pub mod hls;
pub mod ladder;
pub mod pipeline;
pub mod probe;
