//! The runners' downloads (`POST /api/v1/runners/jobs/{jobUUID}/files/…` with both tokens in
//! the JSON body): a processing job's input, for the runner that has it only, streamed off the
//! disk piece by piece.

use super::results::api_error;
use super::routes::server;
use crate::api::error::ApiError;
use crate::app::SharedApp;
use crate::runners::protocol::JobTokensBody;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use http::{header, HeaderValue};

/// The download routes.
pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route(
            "/api/v1/runners/jobs/{job}/files/videos/{video}/max-quality",
            post(max_quality),
        )
        .route(
            "/api/v1/runners/jobs/{job}/files/videos/{video}/max-quality/audio",
            post(no_file),
        )
        .route(
            "/api/v1/runners/jobs/{job}/files/videos/{video}/previews/max-quality",
            post(no_file),
        )
        .route(
            "/api/v1/runners/jobs/{job}/files/videos/{video}/studio/task-files/{file}",
            post(no_task_file),
        )
}

/// Checks the tokens; returns the job's source file.
async fn input(
    app: &SharedApp,
    job: &str,
    video: &str,
    body: JobTokensBody,
) -> Result<std::path::PathBuf, ApiError> {
    let (s, u) = (server(app), job.to_string());
    let record = app
        .pool
        .run(move || {
            s.board
                .check_processing(&u, &body.runner_token, &body.job_token)
        })
        .await?
        .map_err(api_error)?;
    if record.video_uuid != video {
        return Err(ApiError::not_found(format!(
            "video {video} is not the video of runner job {job}"
        )));
    }
    record.private_payload["source"]
        .as_str()
        .map(std::path::PathBuf::from)
        .ok_or_else(|| ApiError::not_found(format!("runner job {job} has no input file")))
}

async fn max_quality(
    State(app): State<SharedApp>,
    Path((job, video)): Path<(String, String)>,
    Json(body): Json<JobTokensBody>,
) -> Result<Response, ApiError> {
    let path = input(&app, &job, &video, body).await?;
    let opened = app
        .pool
        .run(move || {
            let f = std::fs::File::open(&path)?;
            let size = f.metadata()?.len();
            Ok::<_, std::io::Error>((f, size))
        })
        .await?;
    let (f, size) = match opened {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ApiError::not_found(format!(
                "the input of runner job {job} is gone"
            )))
        }
        Err(e) => return Err(ApiError::internal("reading a runner job's input", e)),
    };
    let mut resp = crate::api::video_source::pieces(app.clone(), std::sync::Arc::new(f), 0, size)
        .into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&size.to_string()) {
        h.insert(header::CONTENT_LENGTH, v);
    }
    Ok(resp)
}

/// Separate audio and previews: Fleuve's jobs have none (the tokens are still checked).
async fn no_file(
    State(app): State<SharedApp>,
    Path((job, video)): Path<(String, String)>,
    Json(body): Json<JobTokensBody>,
) -> Result<Response, ApiError> {
    input(&app, &job, &video, body).await?;
    Err(ApiError::not_found(format!(
        "runner job {job} has no such file"
    )))
}

/// Studio task files: no Fleuve job carries any yet.
async fn no_task_file(
    State(app): State<SharedApp>,
    Path((job, video, file)): Path<(String, String, String)>,
    Json(body): Json<JobTokensBody>,
) -> Result<Response, ApiError> {
    input(&app, &job, &video, body).await?;
    Err(ApiError::not_found(format!(
        "runner job {job} has no task file {file:?}"
    )))
}
