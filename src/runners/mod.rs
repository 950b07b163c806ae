//! PeerTube's remote-runner protocol, both ways (reference §1): the wire types both sides share
//! ([`protocol`]), the server side that hands this instance's transcoding jobs to runners, and the
//! `fleuve runner` client that works for any PeerTube instance (and for Fleuve).

pub mod client;
pub mod protocol;
pub mod server;
