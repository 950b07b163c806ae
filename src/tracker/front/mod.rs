//! The tracker's front ends on the engine: WebSocket and HTTP routes (same listeners as the rest,
//! TLS when configured) and the UDP sockets.

pub(crate) mod http;
pub(crate) mod udp;
pub(crate) mod ws;

use crate::app::SharedApp;
use axum::routing::get;
use axum::Router;

/// `/tracker/socket`, `/tracker/announce`, `/tracker/scrape`.
pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route("/tracker/socket", get(ws::socket))
        .route("/tracker/announce", get(http::announce))
        .route("/tracker/scrape", get(http::scrape))
}
