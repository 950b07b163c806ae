//! PeerTube's `/api/v1/server/following` and `/api/v1/server/followers` API: the HTTP edge of
//! [`crate::federation::admin`]. Following and unfollowing are for administrators; the lists are
//! public, as in PeerTube.

use super::auth::AdminUser;
use crate::app::SharedApp;
use crate::federation::admin::{self, FollowBody};
use crate::federation::FederationError;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{delete, get};
use axum::{Json, Router};

/// The routes.
pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route(
            "/api/v1/server/following",
            get(admin::following).post(follow),
        )
        .route("/api/v1/server/following/{which}", delete(unfollow))
        .route("/api/v1/server/followers", get(admin::followers))
}

/// `POST /api/v1/server/following`: follow instances (`hosts`) or actors (`handles`).
async fn follow(
    State(app): State<SharedApp>,
    _admin: AdminUser,
    Json(body): Json<FollowBody>,
) -> Result<Response, FederationError> {
    admin::follow(app, body).await
}

/// `DELETE /api/v1/server/following/{host|name@host}`: unfollow, and drop that host's videos.
async fn unfollow(
    State(app): State<SharedApp>,
    _admin: AdminUser,
    Path(which): Path<String>,
) -> Result<Response, FederationError> {
    admin::unfollow(app, which).await
}
