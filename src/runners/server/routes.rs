//! The runners' own calls under `/api/v1/runners` (register, unregister, jobs/request, accept,
//! update, success, error, abort): tokens in the bodies, answers and errors as PeerTube's.

use super::results::{self, api_error};
use super::RunnerServer;
use crate::api::error::ApiError;
use crate::app::{ClientAddr, SharedApp};
use crate::runners::protocol::{
    fields, AbortBody, AcceptResult, AcceptedJob, ErrorBody, RegisterBody, RegisterResult,
    RequestBody, RequestResult, RunnerTokenBody,
};
use axum::extract::{DefaultBodyLimit, Extension, Multipart, Path, State};
use axum::handler::Handler;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use std::sync::Arc;

/// Longest runner name and description (PeerTube's validators).
const MAX_NAME: usize = 100;
const MAX_DESCRIPTION: usize = 1000;

/// The runners' routes.
pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route("/api/v1/runners/register", post(register))
        .route("/api/v1/runners/unregister", post(unregister))
        .route("/api/v1/runners/jobs/request", post(request))
        .route("/api/v1/runners/jobs/{uuid}/accept", post(accept))
        .route("/api/v1/runners/jobs/{uuid}/update", post(update))
        .route(
            "/api/v1/runners/jobs/{uuid}/success",
            post(success.layer(DefaultBodyLimit::disable())),
        )
        .route("/api/v1/runners/jobs/{uuid}/error", post(error))
        .route("/api/v1/runners/jobs/{uuid}/abort", post(abort))
}

/// The runner server of `app`.
pub fn server(app: &SharedApp) -> Arc<RunnerServer> {
    app.runners.clone()
}

fn ip(addr: Option<Extension<ClientAddr>>) -> String {
    addr.map(|Extension(ClientAddr(a))| a.ip().to_canonical().to_string())
        .unwrap_or_default()
}

/// Runs a board call on the blocking pool.
async fn on_board<T: Send + 'static>(
    app: &SharedApp,
    f: impl FnOnce(&RunnerServer) -> Result<T, super::jobs::BoardError> + Send + 'static,
) -> Result<T, ApiError> {
    let s = server(app);
    app.pool.run(move || f(&s)).await?.map_err(api_error)
}

async fn register(
    State(app): State<SharedApp>,
    addr: Option<Extension<ClientAddr>>,
    Json(body): Json<RegisterBody>,
) -> Result<Json<RegisterResult>, ApiError> {
    let name = body.name.trim().to_string();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(ApiError::bad_request(format!(
            "name must be 1 to {MAX_NAME} characters (got {:?})",
            body.name
        )));
    }
    let description = body.description.unwrap_or_default();
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(ApiError::bad_request(format!(
            "description must be at most {MAX_DESCRIPTION} characters"
        )));
    }
    let version = body.version.unwrap_or_default();
    let ip = ip(addr);
    let token = body.registration_token;
    let (id, runner_token) = on_board(&app, move |s| {
        s.board.register(&token, &name, &description, &version, &ip)
    })
    .await?;
    tracing::info!(runner = id, "runner registered");
    Ok(Json(RegisterResult { id, runner_token }))
}

async fn unregister(
    State(app): State<SharedApp>,
    Json(body): Json<RunnerTokenBody>,
) -> Result<StatusCode, ApiError> {
    on_board(&app, move |s| s.board.unregister(&body.runner_token)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn request(
    State(app): State<SharedApp>,
    addr: Option<Extension<ClientAddr>>,
    Json(body): Json<RequestBody>,
) -> Result<Json<RequestResult>, ApiError> {
    let ip = ip(addr);
    let available_jobs = on_board(&app, move |s| {
        s.board.request(
            &body.runner_token,
            body.job_types.as_deref(),
            body.version.as_deref(),
            &ip,
        )
    })
    .await?;
    Ok(Json(RequestResult { available_jobs }))
}

async fn accept(
    State(app): State<SharedApp>,
    addr: Option<Extension<ClientAddr>>,
    Path(uuid): Path<String>,
    Json(body): Json<RunnerTokenBody>,
) -> Result<Json<AcceptResult>, ApiError> {
    let ip = ip(addr);
    let u = uuid.clone();
    let (job, job_token) =
        on_board(&app, move |s| s.board.accept(&u, &body.runner_token, &ip)).await?;
    tracing::info!(job = %uuid, kind = %job.kind, runner = ?job.runner.as_ref().map(|r| r.id), "runner job accepted");
    Ok(Json(AcceptResult {
        job: AcceptedJob { job, job_token },
    }))
}

/// `update`: multipart (`runnerToken`, `jobToken`, `progress`); a heartbeat.
async fn update(
    State(app): State<SharedApp>,
    Path(uuid): Path<String>,
    mut form: Multipart,
) -> Result<StatusCode, ApiError> {
    let (mut rt, mut jt, mut progress) = (None, None, None);
    let mut count = 0;
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| ApiError::bad_request(format!("malformed multipart body: {e}")))?
    {
        count += 1;
        if count > 8 {
            return Err(ApiError::bad_request("too many multipart fields"));
        }
        let name = field.name().unwrap_or_default().to_string();
        match name.as_str() {
            fields::RUNNER_TOKEN => rt = Some(results::text(field, &name).await?),
            fields::JOB_TOKEN => jt = Some(results::text(field, &name).await?),
            fields::PROGRESS => {
                let v = results::text(field, &name).await?;
                let p: f64 = v.trim().parse().map_err(|_| {
                    ApiError::bad_request(format!("progress must be a number 0–100 (got {v:?})"))
                })?;
                if !(0.0..=100.0).contains(&p) {
                    return Err(ApiError::bad_request(format!(
                        "progress must be 0–100 (got {v:?})"
                    )));
                }
                progress = Some(p as u8);
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown field {other:?} in a VOD job's update"
                )))
            }
        }
    }
    let (Some(rt), Some(jt)) = (rt, jt) else {
        return Err(ApiError::bad_request(
            "runnerToken and jobToken are required",
        ));
    };
    on_board(&app, move |s| s.board.update(&uuid, &rt, &jt, progress)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn success(
    State(app): State<SharedApp>,
    Path(uuid): Path<String>,
    form: Multipart,
) -> Result<StatusCode, ApiError> {
    let srv = server(&app);
    results::receive(&app, &srv, &uuid, form).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn error(
    State(app): State<SharedApp>,
    Path(uuid): Path<String>,
    Json(body): Json<ErrorBody>,
) -> Result<StatusCode, ApiError> {
    let u = uuid.clone();
    let message = body.message.clone();
    let after = on_board(&app, move |s| {
        s.board
            .error(&u, &body.runner_token, &body.job_token, &body.message)
    })
    .await?;
    tracing::warn!(job = %uuid, %message, ?after, "runner reported a job error");
    Ok(StatusCode::NO_CONTENT)
}

async fn abort(
    State(app): State<SharedApp>,
    Path(uuid): Path<String>,
    Json(body): Json<AbortBody>,
) -> Result<StatusCode, ApiError> {
    let u = uuid.clone();
    let reason = body.reason.clone();
    on_board(&app, move |s| {
        s.board
            .abort(&u, &body.runner_token, &body.job_token, &body.reason)
    })
    .await?;
    tracing::info!(job = %uuid, %reason, "runner aborted a job");
    Ok(StatusCode::NO_CONTENT)
}
