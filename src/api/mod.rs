//! The HTTP API that is not the media hot path: PeerTube's REST API (login, users, config),
//! admin status and metrics, routed with axum.

pub mod auth;
pub mod error;
pub mod federation_errors;
pub mod instance;
pub mod login_throttle;
pub mod ratelimit;
pub mod uploads;
pub mod users;
pub mod video_files;
pub mod video_privacy;
pub mod videos;

use crate::app::SharedApp;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use error::ApiError;

/// Largest request body the API accepts (uploads get their own limits).
const MAX_API_BODY: usize = 1 << 20;

/// The router for one shard.
pub fn router(app: SharedApp) -> Router {
    let tracker = if app.config.tracker.enabled {
        crate::tracker::front::routes()
    } else {
        Router::new()
    };
    let inbox_limit = app.config.federation.inbox_max_body_bytes;
    Router::new()
        .merge(tracker)
        .route("/api/v1/oauth-clients/local", get(auth::local_client))
        .route("/api/v1/users/token", post(auth::token))
        .route("/api/v1/users/revoke-token", post(auth::revoke))
        .route("/api/v1/users/me", get(users::me))
        .route("/api/v1/config", get(instance::config))
        .route("/api/v1/videos", get(videos::list))
        .route(
            "/api/v1/videos/upload",
            post(uploads::upload_multipart.layer(DefaultBodyLimit::disable())),
        )
        .route(
            "/api/v1/videos/upload-resumable",
            post(uploads::init_resumable)
                .put(uploads::put_chunk.layer(DefaultBodyLimit::disable()))
                .delete(uploads::cancel),
        )
        .route(
            "/api/v1/videos/{id}",
            get(videos::get).put(videos::update).delete(videos::delete),
        )
        .route("/api/v1/videos/{id}/token", post(video_files::token))
        .route("/api/v1/admin/status", get(instance::status))
        .route("/metrics", get(instance::metrics))
        .route(
            "/.well-known/webfinger",
            get(crate::federation::discovery::webfinger),
        )
        .route(
            "/.well-known/nodeinfo",
            get(crate::federation::discovery::nodeinfo_index),
        )
        .route(
            "/.well-known/host-meta",
            get(crate::federation::discovery::host_meta),
        )
        .route(
            "/nodeinfo/2.0.json",
            get(crate::federation::discovery::nodeinfo),
        )
        .route("/videos/watch/{id}", get(crate::federation::objects::watch))
        .route("/w/{id}", get(crate::federation::objects::watch))
        .route(
            "/videos/watch/{id}/{collection}",
            get(crate::federation::objects::video_collection),
        )
        .route("/accounts/{name}", get(crate::federation::actors::account))
        .route(
            "/video-channels/{name}",
            get(crate::federation::actors::channel),
        )
        .route(
            "/accounts/{name}/followers",
            get(crate::federation::actors::account_followers),
        )
        .route(
            "/accounts/{name}/following",
            get(crate::federation::actors::account_following),
        )
        .route(
            "/video-channels/{name}/followers",
            get(crate::federation::actors::channel_followers),
        )
        .route(
            "/video-channels/{name}/following",
            get(crate::federation::actors::channel_following),
        )
        .route(
            "/accounts/{name}/outbox",
            get(crate::federation::actors::account_outbox),
        )
        .route(
            "/video-channels/{name}/outbox",
            get(crate::federation::actors::channel_outbox),
        )
        .route(
            "/inbox",
            post(crate::federation::inbox::shared.layer(DefaultBodyLimit::max(inbox_limit))),
        )
        .route(
            "/accounts/{name}/inbox",
            post(crate::federation::inbox::account.layer(DefaultBodyLimit::max(inbox_limit))),
        )
        .route(
            "/video-channels/{name}/inbox",
            post(crate::federation::inbox::channel.layer(DefaultBodyLimit::max(inbox_limit))),
        )
        .route(
            "/api/v1/server/following",
            get(crate::federation::admin::following).post(crate::federation::admin::follow),
        )
        .route(
            "/api/v1/server/following/{which}",
            axum::routing::delete(crate::federation::admin::unfollow),
        )
        .route(
            "/api/v1/server/followers",
            get(crate::federation::admin::followers),
        )
        .merge(crate::web::routes())
        .fallback(fallback)
        .layer(DefaultBodyLimit::max(MAX_API_BODY))
        .with_state(app)
}

async fn fallback(uri: http::Uri) -> Response {
    if uri.path().starts_with("/api/") {
        ApiError::not_found(format!("no API route {}", uri.path())).into_response()
    } else {
        (http::StatusCode::NOT_FOUND, "not found\n").into_response()
    }
}

/// Escapes text for HTML.
pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
