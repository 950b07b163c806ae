//! The HTTP edge of uploads: PeerTube's `POST /api/v1/videos/upload` (multipart) and
//! `POST/PUT/DELETE /api/v1/videos/upload-resumable` (node-uploadx). Each handler reads the
//! request, calls the intake ([`crate::uploads`]) and maps its answer or [`UploadError`] to
//! PeerTube's status codes, headers and error shape; the intake itself knows no HTTP.

use super::auth::AuthUser;
use super::error::ApiError;
use crate::app::SharedApp;
use crate::uploads::resumable::{self, ChunkAnswer, Opened};
use crate::uploads::{multipart, UploadError};
use crate::video::ident::short_uuid;
use crate::video::Video;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::extract::{Multipart, Query, State};
use axum::handler::Handler;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde::Deserialize;
use serde_json::json;

impl From<UploadError> for ApiError {
    fn from(e: UploadError) -> ApiError {
        match e {
            UploadError::Invalid(detail) => ApiError::bad_request(detail),
            e @ UploadError::TooLarge { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string())
                    .code("max_file_size_reached")
            }
            e @ UploadError::QuotaExceeded { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()).code("quota_reached")
            }
            e @ UploadError::TooMany { .. } => {
                let mut api = ApiError::new(StatusCode::TOO_MANY_REQUESTS, e.to_string());
                api.retry_after = Some(60);
                api
            }
            UploadError::NotFound(detail) => ApiError::not_found(detail),
            UploadError::OwnerGone(detail) => ApiError::forbidden(detail),
            UploadError::Busy(detail) => {
                let mut api = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, detail);
                api.retry_after = Some(5);
                api
            }
            e @ UploadError::OutOfOrder { .. } => {
                ApiError::new(StatusCode::CONFLICT, e.to_string())
            }
            UploadError::NoRoom(detail) => {
                let mut api = ApiError::new(StatusCode::INSUFFICIENT_STORAGE, detail);
                api.retry_after = Some(300);
                api
            }
            UploadError::NotAVideo(detail) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
            }
            UploadError::Io { context, source } => ApiError::internal(context, source),
            UploadError::Store(e) => e.into(),
            UploadError::Pool(e) => e.into(),
            UploadError::Internal(what) => ApiError::internal(what, "inconsistent state"),
        }
    }
}

/// `bytes=0-N` for a client that holds `received` bytes (none when it is 0).
fn range_header(resp: &mut Response, received: u64) {
    if received > 0 {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes=0-{}", received - 1)) {
            resp.headers_mut().insert(header::RANGE, v);
        }
    }
}

fn created(video: &Video) -> Response {
    Json(json!({"video": {
        "id": video.id,
        "uuid": video.uuid,
        "shortUUID": short_uuid(&video.uuid),
    }}))
    .into_response()
}

/// `/api/v1/videos/upload` (multipart) and `/api/v1/videos/upload-resumable`: bodies here are
/// not held to the API's body limit (the intake bounds them itself).
pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route(
            "/api/v1/videos/upload",
            post(upload_multipart.layer(DefaultBodyLimit::disable())),
        )
        .route(
            "/api/v1/videos/upload-resumable",
            post(init_resumable)
                .put(put_chunk.layer(DefaultBodyLimit::disable()))
                .delete(cancel),
        )
}

/// `POST /api/v1/videos/upload-resumable`: starts (or finds) a session.
pub async fn init_resumable(
    State(app): State<SharedApp>,
    auth: AuthUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let size = headers
        .get("x-upload-content-length")
        .and_then(|v| v.to_str().ok());
    let (status, id) = match resumable::open(&app, &auth.user, size, body).await? {
        Opened::Created(id) => (StatusCode::CREATED, id),
        Opened::Resumed(id) => (StatusCode::OK, id),
    };
    let location = format!(
        "//{}/api/v1/videos/upload-resumable?upload_id={id}",
        app.public_host
    );
    let mut resp = status.into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// `?upload_id=…`.
#[derive(Debug, Deserialize)]
pub struct UploadId {
    upload_id: Option<String>,
}

/// `PUT /api/v1/videos/upload-resumable?upload_id=…`: one chunk, or a status query.
pub async fn put_chunk(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Query(q): Query<UploadId>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let range = headers
        .get(header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok());
    let answer = resumable::put_chunk(
        &app,
        &auth.user,
        q.upload_id.as_deref(),
        range,
        body.into_data_stream(),
    )
    .await;
    match answer {
        Ok(ChunkAnswer::Complete(video)) => Ok(created(&video)),
        Ok(ChunkAnswer::Incomplete { received }) => {
            // uploadx's "resume incomplete".
            let mut resp = Response::builder()
                .status(StatusCode::PERMANENT_REDIRECT)
                .body(Body::empty())
                .unwrap_or_default();
            range_header(&mut resp, received);
            Ok(resp)
        }
        Err(e @ UploadError::OutOfOrder { received, .. }) => {
            // The client learns where to resume from.
            let mut resp = ApiError::from(e).into_response();
            range_header(&mut resp, received);
            Ok(resp)
        }
        Err(e) => Err(e.into()),
    }
}

/// `DELETE /api/v1/videos/upload-resumable?upload_id=…`: cancels (or closes) a session.
pub async fn cancel(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Query(q): Query<UploadId>,
) -> Result<Response, ApiError> {
    resumable::cancel(&app, &auth.user, q.upload_id.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /api/v1/videos/upload`: the legacy multipart upload (field `videofile`).
pub async fn upload_multipart(
    State(app): State<SharedApp>,
    auth: AuthUser,
    headers: HeaderMap,
    form: Multipart,
) -> Result<Response, ApiError> {
    let content_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let video = multipart::receive(&app, &auth.user, content_length, form).await?;
    Ok(created(&video))
}
