//! Media on disk and how it is served: the public layout, byte ranges, file reads (io_uring or
//! portable), the per-shard cache and the segment server.

pub mod body;
pub mod cache;
pub mod fileio;
pub mod layout;
pub mod range;
pub mod send;
pub mod serve;
pub mod torrent;
