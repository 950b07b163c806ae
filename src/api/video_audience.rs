//! What viewers do to a video: `POST /api/v1/videos/{id}/views` (a view, counted once per
//! viewer address and video per [`VIEW_LIFETIME_SECS`], as PeerTube's Redis key does, once
//! enough was watched), `PUT /api/v1/videos/{id}/rate` (one `like`/`dislike`/`none` per user)
//! and `GET /api/v1/users/me/videos/{id}/rating`.

use super::auth::AuthUser;
use super::error::ApiError;
use super::videos::{find, MaybeUser};
use crate::app::{ClientAddr, SharedApp};
use crate::store::tables::User;
use crate::time::now_secs;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use http::StatusCode;
use serde_json::{json, Value};
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::{Mutex, OnceLock};

/// How long a viewer's address counts once per video (PeerTube's `VIEW_LIFETIME.VIEW`).
pub const VIEW_LIFETIME_SECS: u64 = 3600;
/// Seconds watched before a view counts (PeerTube's `views.videos.count_view_after`); a shorter
/// video counts once half of it was watched.
pub const COUNT_VIEW_AFTER_SECS: f64 = 10.0;
/// Addresses remembered (the oldest are forgotten first).
const SEEN_CAPACITY: usize = 100_000;

/// (address, video uuid) → until when a new view from it is not counted.
type Seen = lru::LruCache<(IpAddr, String), u64>;

fn seen() -> &'static Mutex<Seen> {
    static SEEN: OnceLock<Mutex<Seen>> = OnceLock::new();
    SEEN.get_or_init(|| {
        Mutex::new(lru::LruCache::new(
            NonZeroUsize::new(SEEN_CAPACITY).expect("non-zero"),
        ))
    })
}

/// Whether a view from `ip` of `uuid` at `now` is new (and remembers it if so).
fn first_view(ip: IpAddr, uuid: &str, now: u64) -> bool {
    let mut seen = seen().lock().unwrap_or_else(|p| p.into_inner());
    let key = (ip, uuid.to_string());
    if seen.get(&key).is_some_and(|until| *until > now) {
        return false;
    }
    seen.put(key, now + VIEW_LIFETIME_SECS);
    true
}

/// Whether `watched` seconds of a video of `duration` seconds make a view.
fn enough_watched(duration: f64, watched: f64) -> bool {
    if duration >= COUNT_VIEW_AFTER_SECS {
        watched >= COUNT_VIEW_AFTER_SECS
    } else {
        watched * 2.0 >= duration
    }
}

fn json_body(body: &[u8]) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("body is not the expected JSON: {e}")))
}

/// `POST /api/v1/videos/{id}/views`: body `{currentTime, viewEvent?, sessionId?}`; 204.
pub async fn view(
    State(app): State<SharedApp>,
    viewer: MaybeUser,
    Extension(ClientAddr(peer)): Extension<ClientAddr>,
    Path(key): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let body = json_body(&body)?;
    let current = &body["currentTime"];
    let Some(watched) = current
        .as_f64()
        .or_else(|| current.as_str().and_then(|s| s.trim().parse().ok()))
        .filter(|t: &f64| t.is_finite() && *t >= 0.0)
    else {
        return Err(ApiError::bad_request(format!(
            "Incorrect request parameters: currentTime must be a number of seconds >= 0 (got {current})"
        ))
        .invalid_param("currentTime", &current.to_string(), "must be a number >= 0"));
    };
    match &body["viewEvent"] {
        Value::Null => {}
        Value::String(e) if e == "seek" || e == "watch" => {}
        other => {
            return Err(ApiError::bad_request(format!(
                "Incorrect request parameters: viewEvent must be \"seek\" (got {other})"
            ))
            .invalid_param("viewEvent", &other.to_string(), "must be seek"))
        }
    }
    let video = match find(&app, &key)? {
        Some(v) if v.may_see(viewer.0.as_ref().map(User::viewer)) => v,
        _ => return Err(ApiError::not_found(format!("video {key} not found"))),
    };
    let now = now_secs();
    if enough_watched(video.duration, watched)
        && video.is_published()
        && first_view(peer.ip(), &video.uuid, now)
    {
        let a = app.clone();
        let id = video.id;
        app.pool
            .run(move || a.store.record_view(id, now / 86_400))
            .await??;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PUT /api/v1/videos/{id}/rate`: `{rating: like|dislike|none}` (JSON or form); 204.
pub async fn rate(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path(key): Path<String>,
    headers: http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let form = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    let rating = if form {
        let text = String::from_utf8_lossy(&body).into_owned();
        super::video_query::Params::parse(Some(&text))?
            .one("rating")
            .map(str::to_string)
    } else {
        json_body(&body)?["rating"].as_str().map(str::to_string)
    };
    let rating = match rating.as_deref() {
        Some("like") => Some(true),
        Some("dislike") => Some(false),
        Some("none") => None,
        other => {
            let got = other.unwrap_or("nothing");
            return Err(ApiError::bad_request(format!(
                "Incorrect request parameters: rating must be like, dislike or none (got {got:?})"
            ))
            .invalid_param("rating", got, "must be like, dislike or none"));
        }
    };
    let video = match find(&app, &key)? {
        Some(v) if v.may_see(Some(auth.user.viewer())) => v,
        _ => return Err(ApiError::not_found(format!("video {key} not found"))),
    };
    let (a, user, id) = (app.clone(), auth.user.id, video.id);
    app.pool
        .run(move || a.store.rate(user, id, rating))
        .await??;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/v1/users/me/videos/{id}/rating`: `{videoId, rating}`.
pub async fn my_rating(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let video = match find(&app, &key)? {
        Some(v) if v.may_see(Some(auth.user.viewer())) => v,
        _ => return Err(ApiError::not_found(format!("video {key} not found"))),
    };
    let rating = match app.store.rating(auth.user.id, video.id)? {
        Some(true) => "like",
        Some(false) => "dislike",
        None => "none",
    };
    Ok(Json(json!({"videoId": video.id, "rating": rating})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_needs_ten_seconds_or_half_a_short_video() {
        assert!(!enough_watched(600.0, 9.9));
        assert!(enough_watched(600.0, 10.0));
        assert!(!enough_watched(6.0, 2.9));
        assert!(enough_watched(6.0, 3.0));
    }

    #[test]
    fn one_view_per_address_and_video_per_lifetime() {
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        assert!(first_view(ip, "u-test-1", 1000));
        assert!(!first_view(ip, "u-test-1", 1000 + VIEW_LIFETIME_SECS - 1));
        assert!(first_view(other, "u-test-1", 1001));
        assert!(first_view(ip, "u-test-2", 1001));
        assert!(first_view(ip, "u-test-1", 1000 + VIEW_LIFETIME_SECS));
    }
}
