//! `[http3]`: HTTP/3 over QUIC on the listeners' port (UDP), beside HTTP/1.1 and HTTP/2 over TLS.

use serde::{Deserialize, Serialize};

/// `[http3]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Http3Config {
    /// Whether HTTP/3 is served when TLS is configured (`[tls]`): one QUIC endpoint per shard on
    /// the listen port over UDP, announced with `Alt-Svc` on the TCP responses. Without TLS there
    /// is no HTTP/3 whatever this says.
    pub enabled: bool,
    /// Requests (bidirectional streams) one HTTP/3 connection may have open at once.
    pub max_streams_per_connection: u64,
    /// QUIC handshakes a shard carries at once from addresses it has not validated; past it, new
    /// clients are asked to prove their address first (a stateless Retry), so a flood of
    /// initial packets from forged addresses costs no connection state.
    pub max_handshakes_per_shard: u64,
}

impl Default for Http3Config {
    fn default() -> Self {
        Http3Config {
            enabled: true,
            max_streams_per_connection: 100,
            max_handshakes_per_shard: 64,
        }
    }
}

impl Http3Config {
    /// Checks the values; the key and what is wrong otherwise.
    pub fn check(&self) -> Result<(), (String, String)> {
        if !(1..=10_000).contains(&self.max_streams_per_connection) {
            return Err((
                "http3.max_streams_per_connection".into(),
                format!(
                    "{} is not within 1..=10000",
                    self.max_streams_per_connection
                ),
            ));
        }
        if self.max_handshakes_per_shard == 0 {
            return Err((
                "http3.max_handshakes_per_shard".into(),
                "must be at least 1".into(),
            ));
        }
        Ok(())
    }
}
