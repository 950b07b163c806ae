//! Media on disk and how it is served: the public layout, byte ranges, file reads (io_uring or
//! portable), open descriptors, the per-shard cache, the segment server, who may read private files, and the
//! moves of a video's files between the public and private directories.

pub(crate) mod access;
pub(crate) mod body;
pub(crate) mod cache;
pub(crate) mod fileio;
pub mod layout;
pub mod objstore;
pub(crate) mod open_files;
pub mod range;
pub(crate) mod relocate;
pub(crate) mod send;
pub(crate) mod serve;
pub mod torrent;
