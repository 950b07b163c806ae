//! The federation's HTTP routes: discovery (WebFinger, NodeInfo, host-meta), actors and their
//! collections, video collections, and the inboxes. The watch URLs (`/videos/watch/{id}`,
//! `/w/{id}`) are the web front end's routes, which ask [`super::objects::watch`] what a
//! federation client gets; PeerTube's `/api/v1/server/follow…` API is the API's.

use super::{actors, discovery, inbox, objects, playlists, remote_images};
use crate::app::SharedApp;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::routing::{get, post};
use axum::Router;

/// The routes, with `inbox_limit` the largest activity body an inbox accepts.
pub fn routes(inbox_limit: usize) -> Router<SharedApp> {
    Router::new()
        .route("/.well-known/webfinger", get(discovery::webfinger))
        .route("/.well-known/nodeinfo", get(discovery::nodeinfo_index))
        .route("/.well-known/host-meta", get(discovery::host_meta))
        .route("/nodeinfo/2.0.json", get(discovery::nodeinfo))
        .route(
            "/videos/watch/{id}/{collection}",
            get(objects::video_collection),
        )
        .route("/accounts/{name}", get(actors::account))
        .route("/video-channels/{name}", get(actors::channel))
        .route("/accounts/{name}/followers", get(actors::account_followers))
        .route("/accounts/{name}/following", get(actors::account_following))
        .route(
            "/video-channels/{name}/followers",
            get(actors::channel_followers),
        )
        .route(
            "/video-channels/{name}/following",
            get(actors::channel_following),
        )
        .route("/accounts/{name}/outbox", get(actors::account_outbox))
        .route(
            "/accounts/{name}/playlists",
            get(playlists::account_playlists),
        )
        .route(
            "/video-channels/{name}/playlists",
            get(playlists::channel_playlists),
        )
        .route(
            "/lazy-static/remote-thumbnails/{file}",
            get(remote_images::serve),
        )
        .route("/video-playlists/{uuid}", get(playlists::playlist))
        .route(
            "/video-playlists/{uuid}/videos/{element}",
            get(playlists::element),
        )
        .route("/video-channels/{name}/outbox", get(actors::channel_outbox))
        .route(
            "/inbox",
            post(inbox::shared.layer(DefaultBodyLimit::max(inbox_limit))),
        )
        .route(
            "/accounts/{name}/inbox",
            post(inbox::account.layer(DefaultBodyLimit::max(inbox_limit))),
        )
        .route(
            "/video-channels/{name}/inbox",
            post(inbox::channel.layer(DefaultBodyLimit::max(inbox_limit))),
        )
}
