//! The one place the HTTP router is composed: each feature's `routes()`, the API's fallback and
//! the body limit every route has unless its own layer says otherwise. The runner, object
//! storage and redundancy routes merge here as they land.

use crate::api::error::ApiError;
use crate::app::SharedApp;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use axum::Router;

/// Largest request body a route accepts unless it says otherwise (uploads and inboxes have
/// their own limits).
const MAX_BODY: usize = 1 << 20;

/// The router for one shard: tracker (when enabled), API, uploads, instance config, admin status
/// and metrics, federation and web pages.
pub fn router(app: SharedApp) -> Router {
    let tracker = if app.config.tracker.enabled {
        crate::tracker::front::routes()
    } else {
        Router::new()
    };
    Router::new()
        .merge(tracker)
        .merge(crate::api::routes())
        .merge(crate::api::uploads::routes())
        .merge(crate::api::instance::routes())
        .merge(crate::federation::routes(
            app.config.federation.inbox_max_body_bytes,
        ))
        .merge(crate::runners::server::RunnerServer::routes(&app))
        .merge(crate::web::routes())
        .fallback(fallback)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(app)
}

async fn fallback(uri: http::Uri) -> Response {
    if uri.path().starts_with("/api/") {
        ApiError::not_found(format!("no API route {}", uri.path())).into_response()
    } else {
        (http::StatusCode::NOT_FOUND, "not found\n").into_response()
    }
}
