//! Fleuve: a storage and transcoding appliance for federated video hosting, speaking
//! PeerTube's protocols. `docs/architecture.md` shows the layers and the path of an upload to a
//! published, federated, tracked video; each module's documentation says which part it is.

#![deny(missing_docs)]

pub mod api;
pub(crate) mod app;
pub mod bencode;
pub mod client;
pub mod config;
pub mod engine;
pub mod federation;
pub mod fuzz;
pub(crate) mod html;
pub(crate) mod mail;
pub mod media;
pub(crate) mod metrics;
pub(crate) mod ratelimit;
pub(crate) mod redundancy;
pub mod runners;
pub(crate) mod runtime;
pub mod storage;
pub mod store;
#[cfg(test)]
pub(crate) mod testutil;
pub mod time;
pub mod tracker;
pub mod transcode;
pub(crate) mod uploads;
pub mod video;
pub(crate) mod web;
