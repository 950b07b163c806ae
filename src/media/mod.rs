//! Media on disk and how it is served: the public layout, byte ranges, file reads (io_uring or
//! portable), the per-shard cache, the segment server, who may read private files, and the
//! moves of a video's files between the public and private directories.

pub mod access;
pub mod body;
pub mod cache;
pub mod fileio;
pub mod layout;
pub mod range;
pub mod relocate;
pub mod send;
pub mod serve;
pub mod torrent;
