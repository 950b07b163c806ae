//! Why a page could not be built. Pages turn it into an HTML error page; the oEmbed endpoint (a
//! JSON API) answers with PeerTube's problem document, converted here at the edge.

use crate::api::error::ApiError;
use crate::runtime::blocking::PoolGone;
use crate::store::StoreError;
use axum::response::{IntoResponse, Response};

/// A failure while reading what a page shows.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The metadata store failed (or takes no writes right now).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The blocking pool is gone (the server is shutting down).
    #[error(transparent)]
    Pool(#[from] PoolGone),
}

impl From<WebError> for ApiError {
    fn from(e: WebError) -> ApiError {
        match e {
            WebError::Store(e) => e.into(),
            WebError::Pool(e) => e.into(),
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}
