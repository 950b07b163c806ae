//! The HTTP API that is not the media hot path: PeerTube's REST API (login, users, config,
//! videos, uploads, server follows), admin status and metrics, routed with axum. HTTP errors
//! ([`error::ApiError`], PeerTube's problem documents) live here, at the edge.

pub(crate) mod abuses;
pub(crate) mod accounts;
pub(crate) mod auth;
pub(crate) mod captions;
pub(crate) mod channel_admin;
pub(crate) mod channels;
pub(crate) mod chapters;
pub(crate) mod comments;
pub(crate) mod constants;
pub(crate) mod error;
pub(crate) mod federation_errors;
pub(crate) mod form;
pub(crate) mod instance;
pub(crate) mod login_throttle;
pub(crate) mod paging;
pub(crate) mod playlist_elements;
pub(crate) mod playlists;
pub(crate) mod redundancy;
pub(crate) mod server_blocklist;
pub(crate) mod server_config;
pub(crate) mod server_following;
pub(crate) mod signup;
pub(crate) mod storage;
pub(crate) mod storyboards;
pub(crate) mod subscriptions;
pub(crate) mod uploads;
pub(crate) mod user_admin;
mod user_blocklist;
pub(crate) mod user_moderation;
pub(crate) mod users;
pub(crate) mod video_audience;
pub(crate) mod video_blacklist;
pub(crate) mod video_files;
pub mod video_list;
pub(crate) mod video_metadata;
pub(crate) mod video_privacy;
pub mod video_query;
pub(crate) mod video_removal;
pub mod video_search;
pub(crate) mod video_source;
pub(crate) mod videos;

use crate::app::SharedApp;
use axum::routing::{get, post, put};
use axum::Router;

/// PeerTube's REST API for clients: OAuth, the user, videos and their constants, file tokens
/// and metadata, accounts, channels, the instance's config, about and stats, and the server's
/// follows. Uploads ([`uploads::routes`]) and the admin status and metrics
/// ([`instance::routes`]) have routes of their own; `engine::router` composes them all.
pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route("/api/v1/oauth-clients/local", get(auth::local_client))
        .route("/api/v1/users/token", post(auth::token))
        .route("/api/v1/users/revoke-token", post(auth::revoke))
        .route(
            "/api/v1/users/me",
            get(users::me).put(user_admin::update_me),
        )
        .route("/api/v1/videos", get(video_list::list))
        .route("/api/v1/search/videos", get(video_search::videos))
        .route("/api/v1/search/video-channels", get(video_search::channels))
        .route("/api/v1/videos/{id}/views", post(video_audience::view))
        .route("/api/v1/videos/{id}/rate", put(video_audience::rate))
        .route(
            "/api/v1/users/me/videos/{id}/rating",
            get(video_audience::my_rating),
        )
        .route("/api/v1/users/me/video-quota-used", get(users::quota))
        .route("/api/v1/users/me/videos", get(video_list::mine))
        .route(
            "/api/v1/videos/{id}",
            get(videos::get).put(videos::update).delete(videos::delete),
        )
        .route("/api/v1/videos/{id}/token", post(video_files::token))
        .route(
            "/api/v1/videos/{id}/metadata/{file_id}",
            get(video_metadata::get),
        )
        .merge(comments::routes())
        .merge(abuses::routes())
        .merge(video_blacklist::routes())
        .merge(storage::routes())
        .merge(captions::routes())
        .merge(chapters::routes())
        .merge(storyboards::routes())
        .merge(video_source::routes())
        .merge(constants::routes())
        .merge(accounts::routes())
        .merge(user_admin::routes())
        .merge(channels::routes())
        .merge(channel_admin::routes())
        .merge(server_config::routes())
        .merge(server_following::routes())
        .merge(redundancy::routes())
        .merge(server_blocklist::routes())
        .merge(user_blocklist::routes())
        .merge(subscriptions::routes())
        .merge(signup::routes())
        .merge(playlists::routes())
        .merge(playlist_elements::routes())
}
