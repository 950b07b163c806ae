//! The web front end: small server-rendered pages (home, watch, embed, upload, login, admin),
//! the oEmbed endpoint, and the assets they load (our own CSS and JavaScript, built into the
//! binary, and the npm player packages that setup copies into `[web] assets_dir`).
//!
//! Pages are plain HTML with one stylesheet; JavaScript only drives the player, the uploader and
//! the pages behind login (they read the API with the OAuth token kept in `sessionStorage`).

pub mod admin;
pub mod assets;
mod html;
mod oembed;
mod pages;

use crate::app::SharedApp;
use crate::store::videos::Video;
use axum::response::Response;
use axum::routing::get;
use axum::Router;

/// The routes of the pages and assets, merged into the API router of every shard.
pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route("/", get(pages::home))
        .route("/videos/embed/{id}", get(pages::embed))
        .route("/upload", get(pages::upload))
        .route("/login", get(pages::login))
        .route("/admin", get(pages::admin))
        .route("/services/oembed", get(oembed::oembed))
        .route("/assets/{name}", get(assets::own))
        .route("/assets/vendor/{name}", get(assets::vendor))
}

/// The watch page of a published video (`/w/{shortUUID}` and `/videos/watch/{uuid}` when a
/// browser asks; federation clients get the ActivityPub object instead).
pub fn watch_page(app: &SharedApp, video: &Video) -> Response {
    pages::watch(app, video)
}

/// The 404 page a browser gets for a watch URL of no publicly watchable video (with the script
/// that lets a logged-in visitor watch a private video that is theirs).
pub fn restricted_video_page(app: &SharedApp, key: &str) -> Response {
    pages::restricted_video(app, key)
}
