//! The BitTorrent and WebTorrent tracker (ARCHITECTURE.md §6): WebSocket, HTTP and UDP front
//! ends over info-hash-sharded swarms. For now only the wire protocols, free of I/O.

pub mod protocol;
