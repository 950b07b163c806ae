//! The web front end: small server-rendered pages (home, watch, embed, upload, login, sign-up,
//! my videos and channels, moderation, admin),
//! the oEmbed endpoint, and the assets they load (our own CSS and JavaScript, built into the
//! binary, and the npm player packages that setup copies into `[web] assets_dir`).
//!
//! Pages are plain HTML with one stylesheet; JavaScript only drives the player, the uploader and
//! the pages behind login (they read the API with the OAuth token kept in `sessionStorage`).

mod account_pages;
pub(crate) mod assets;
pub(crate) mod error;
mod html;
mod oembed;
mod pages;
mod user_pages;

use crate::app::SharedApp;
use crate::federation::objects::{self, Watch};
use crate::federation::FederationError;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use http::HeaderMap;

/// The routes of the pages and assets (and of the watch URLs, which federation clients share).
pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route("/", get(pages::home))
        .route("/videos/watch/{id}", get(watch))
        .route("/w/{id}", get(watch))
        .route("/videos/embed/{id}", get(pages::embed))
        .route("/upload", get(pages::upload))
        .route("/login", get(pages::login))
        .route(
            "/verify-account/email",
            get(account_pages::verify_form).post(account_pages::verify_submit),
        )
        .route(
            "/reset-password",
            get(account_pages::reset_form).post(account_pages::reset_submit),
        )
        .route("/signup", get(user_pages::signup))
        .route("/my-videos", get(user_pages::my_videos))
        .route("/my-channels", get(user_pages::my_channels))
        .route("/moderation", get(user_pages::moderation))
        .route("/admin", get(pages::admin))
        .route("/services/oembed", get(oembed::oembed))
        .route("/assets/{name}", get(assets::own))
        .route("/assets/vendor/{name}", get(assets::vendor))
}

/// `GET /videos/watch/{uuid}` and `GET /w/{shortUUID}`: federation decides what a federation
/// client gets (the `Video`, or a redirect to its origin); browsers get the watch page of a
/// published video, or the 404 page that lets a logged-in visitor watch a private video that is
/// theirs.
async fn watch(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Result<Response, FederationError> {
    Ok(match objects::watch(&app, &headers, &key).await? {
        Watch::Answer(response) => response,
        Watch::Page(video) => pages::watch(&app, &video),
        Watch::Restricted => pages::restricted_video(&app, &key),
    })
}
