//! The administrators' runner routes (OAuth, `MANAGE_RUNNERS`): registration tokens, runners,
//! and runner jobs (listed with their private payloads, cancelled, deleted).

use super::results::api_error;
use super::routes::server;
use super::view::timestamp;
use crate::api::auth::AuthUser;
use crate::api::error::ApiError;
use crate::api::paging::{PageQuery, Paging};
use crate::api::video_query::{invalid, Params};
use crate::app::SharedApp;
use crate::runners::protocol::{JobState, JobType};
use crate::store::tables::Right;
use axum::extract::{FromRequestParts, Path, Query, RawQuery, State};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use http::request::Parts;
use http::StatusCode;
use serde_json::{json, Value};

/// An authenticated user with `MANAGE_RUNNERS` (administrators).
pub struct RunnerManager;

impl FromRequestParts<SharedApp> for RunnerManager {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &SharedApp,
    ) -> Result<Self, Self::Rejection> {
        let AuthUser { user, .. } = AuthUser::from_request_parts(parts, app).await?;
        if !user.role.has(Right::ManageRunners) {
            return Err(ApiError::forbidden(format!(
                "user {:?} may not manage runners",
                user.username
            )));
        }
        Ok(RunnerManager)
    }
}

/// The administrators' routes.
pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route("/api/v1/runners", get(list_runners))
        .route("/api/v1/runners/{id}", delete(remove_runner))
        .route(
            "/api/v1/runners/registration-tokens/generate",
            post(generate_token),
        )
        .route("/api/v1/runners/registration-tokens", get(list_tokens))
        .route(
            "/api/v1/runners/registration-tokens/{id}",
            delete(remove_token),
        )
        .route("/api/v1/runners/jobs", get(list_jobs))
        .route("/api/v1/runners/jobs/{uuid}/cancel", post(cancel_job))
        .route("/api/v1/runners/jobs/{uuid}", delete(delete_job))
}

fn id_of(raw: &str, what: &str) -> Result<u64, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::bad_request(format!("{what} id must be a number (got {raw:?})")))
}

fn sorted<T>(items: &mut [T], paging: &Paging, key: impl Fn(&T) -> (u64, u64)) {
    items.sort_by_key(|x| key(x));
    if paging.descending {
        items.reverse();
    }
}

async fn list_runners(
    State(app): State<SharedApp>,
    _m: RunnerManager,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let paging = Paging::parse(&q, &["createdAt"], "createdAt")?;
    let mut runners = server(&app).board.runners();
    sorted(&mut runners, &paging, |r| (r.created_at, r.id));
    let doc = paging.result_list(&runners, |r| {
        Ok::<_, ApiError>(json!({
            "id": r.id,
            "name": r.name,
            "description": r.description,
            "ip": r.ip,
            "lastContact": timestamp(r.last_contact),
            "version": r.version,
            "createdAt": timestamp(r.created_at),
            "updatedAt": timestamp(r.updated_at),
        }))
    })?;
    Ok(Json(doc))
}

async fn remove_runner(
    State(app): State<SharedApp>,
    _m: RunnerManager,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = id_of(&id, "runner")?;
    let s = server(&app);
    app.pool
        .run(move || s.board.remove_runner(id))
        .await?
        .map_err(api_error)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn generate_token(
    State(app): State<SharedApp>,
    _m: RunnerManager,
) -> Result<StatusCode, ApiError> {
    let s = server(&app);
    app.pool.run(move || s.board.generate_token()).await??;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_tokens(
    State(app): State<SharedApp>,
    _m: RunnerManager,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let paging = Paging::parse(&q, &["createdAt"], "createdAt")?;
    let mut tokens = server(&app).board.tokens();
    sorted(&mut tokens, &paging, |(t, _)| (t.created_at, t.id));
    let doc = paging.result_list(&tokens, |(t, n)| {
        Ok::<_, ApiError>(json!({
            "id": t.id,
            "registrationToken": t.token,
            "createdAt": timestamp(t.created_at),
            "updatedAt": timestamp(t.created_at),
            "registeredRunnersCount": n,
        }))
    })?;
    Ok(Json(doc))
}

async fn remove_token(
    State(app): State<SharedApp>,
    _m: RunnerManager,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = id_of(&id, "registration token")?;
    let s = server(&app);
    app.pool
        .run(move || s.board.remove_token(id))
        .await?
        .map_err(api_error)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_jobs(
    State(app): State<SharedApp>,
    _m: RunnerManager,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p = Params::parse(raw.as_deref())?;
    let q = PageQuery::from_params(p.one("start"), p.one("count"), p.one("sort"));
    let paging = Paging::parse(
        &q,
        &["updatedAt", "createdAt", "priority", "state", "progress"],
        "-updatedAt",
    )?;
    let states = p
        .all("stateOneOf")?
        .into_iter()
        .map(|s| {
            s.parse::<u8>()
                .ok()
                .and_then(JobState::from_id)
                .ok_or_else(|| invalid("stateOneOf", s, "must be runner job states (1–9)"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let types = p
        .all("typeOneOf")?
        .into_iter()
        .map(|t| {
            JobType::parse(t).ok_or_else(|| invalid("typeOneOf", t, "must be runner job types"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let search = p
        .one("search")
        .map(str::to_lowercase)
        .filter(|s| !s.is_empty());
    let s = server(&app);
    let mut jobs: Vec<_> = s
        .board
        .all_jobs()
        .into_iter()
        .filter(|j| states.is_empty() || states.contains(&j.state()))
        .filter(|j| types.is_empty() || types.contains(&j.kind))
        .filter(|j| {
            search.as_ref().is_none_or(|q| {
                j.uuid.contains(q.as_str())
                    || j.kind.as_str().contains(q.as_str())
                    || j.video_uuid.contains(q.as_str())
            })
        })
        .collect();
    sorted(&mut jobs, &paging, |j| match paging.sort.as_str() {
        "createdAt" => (j.created_at, 0),
        "priority" => (j.priority.max(0) as u64, j.created_at),
        "state" => (u64::from(j.state), j.created_at),
        "progress" => (u64::from(j.progress.unwrap_or(0)), j.created_at),
        _ => (j.updated_at, j.created_at),
    });
    let doc = paging.result_list(&jobs, |j| {
        serde_json::to_value(s.board.view(j, true))
            .map_err(|e| ApiError::internal("runner job JSON", e))
    })?;
    Ok(Json(doc))
}

async fn cancel_job(
    State(app): State<SharedApp>,
    _m: RunnerManager,
    Path(uuid): Path<String>,
) -> Result<StatusCode, ApiError> {
    let s = server(&app);
    let u = uuid.clone();
    let cancelled = app
        .pool
        .run(move || s.board.cancel(&u))
        .await?
        .map_err(api_error)?;
    tracing::info!(job = %uuid, cancelled, "runner job cancelled by an administrator");
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_job(
    State(app): State<SharedApp>,
    _m: RunnerManager,
    Path(uuid): Path<String>,
) -> Result<StatusCode, ApiError> {
    let s = server(&app);
    let u = uuid.clone();
    let job = app
        .pool
        .run(move || s.board.delete(&u))
        .await?
        .map_err(api_error)?;
    let dirs = [
        server(&app).result_dir(&job.uuid),
        server(&app).completing_dir(&job.uuid),
    ];
    let _ = app
        .pool
        .run(move || dirs.iter().for_each(|d| drop(std::fs::remove_dir_all(d))))
        .await;
    Ok(StatusCode::NO_CONTENT)
}
