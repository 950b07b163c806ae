//! Other instances' thumbnails, served from here as PeerTube serves them: the API gives a
//! remote video's `thumbnailPath` on this instance (`/lazy-static/remote-thumbnails/<uuid>.jpg`),
//! because apps (NewPipe, the mobile app) join it to the instance they talk to. The first
//! request fetches the image from the origin (only the URL the video's object named, only a
//! JPEG, PNG or WebP of at most [`MAX_IMAGE_BYTES`]) and keeps it on disk (at most
//! [`MAX_CACHED`] images, the oldest dropped first), named after the video and a hash of the
//! image's URL, so a video whose object names a new image gets it and a deleted video serves
//! nothing; later requests read the copy, even while the origin is down. A failed fetch is not tried again for [`RETRY_AFTER`], so requests cannot make
//! this instance hammer an origin.

use super::FederationError;
use crate::app::{App, SharedApp};
use crate::video::VideoRef;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Largest remote image fetched (PeerTube's own limit for uploaded images is 8 MB; thumbnails
/// are tens of kilobytes).
pub const MAX_IMAGE_BYTES: usize = 2 << 20;
/// Images kept on disk.
pub const MAX_CACHED: usize = 20_000;
/// How long a failed fetch is not retried.
pub const RETRY_AFTER: Duration = Duration::from_secs(300);

/// Origins that failed lately, by video uuid.
static FAILED: Mutex<Option<HashMap<String, Instant>>> = Mutex::new(None);

/// The path our API gives for a remote video's thumbnail and preview.
pub fn thumbnail_path(uuid: &str) -> String {
    format!("/lazy-static/remote-thumbnails/{uuid}.jpg")
}

fn cache_dir(app: &App) -> PathBuf {
    app.data_dir.join("media").join("remote-thumbnails")
}

/// The cache name of video `uuid`'s image at `url`.
fn cache_name(uuid: &str, url: &str) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(url.as_bytes());
    format!("{uuid}-{}", hex::encode(&h[..6]))
}

/// The cached image `name` with its content type (stored beside it as `<name>.type`).
fn cached(app: &App, name: &str) -> Option<(String, Vec<u8>)> {
    let dir = cache_dir(app);
    let bytes = std::fs::read(dir.join(format!("{name}.img"))).ok()?;
    let kind = std::fs::read_to_string(dir.join(format!("{name}.type"))).ok()?;
    Some((kind, bytes))
}

/// Keeps `bytes` as image `name`, dropping the oldest tenth when the cache is full.
fn keep(app: &App, name: &str, kind: &str, bytes: &[u8]) -> std::io::Result<()> {
    let dir = cache_dir(app);
    std::fs::create_dir_all(&dir)?;
    let mut images: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(&dir)?
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "img"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    if images.len() >= MAX_CACHED {
        images.sort();
        for (_, p) in images.iter().take(MAX_CACHED / 10 + 1) {
            let _ = std::fs::remove_file(p);
            let _ = std::fs::remove_file(p.with_extension("type"));
        }
    }
    let tmp = dir.join(format!("{name}.part"));
    std::fs::write(&tmp, bytes)?;
    std::fs::write(dir.join(format!("{name}.type")), kind)?;
    std::fs::rename(tmp, dir.join(format!("{name}.img")))
}

fn recently_failed(uuid: &str) -> bool {
    let mut failed = FAILED.lock().unwrap_or_else(|p| p.into_inner());
    let map = failed.get_or_insert_with(HashMap::new);
    map.retain(|_, at| at.elapsed() < RETRY_AFTER);
    map.contains_key(uuid)
}

fn mark_failed(uuid: &str) {
    let mut failed = FAILED.lock().unwrap_or_else(|p| p.into_inner());
    let map = failed.get_or_insert_with(HashMap::new);
    if map.len() >= 10_000 {
        map.clear();
    }
    map.insert(uuid.to_string(), Instant::now());
}

/// The image of remote video `uuid`: the cached copy, or the origin's, fetched now.
fn image(app: &App, uuid: &str) -> Result<(String, Vec<u8>), FederationError> {
    let missing = || FederationError::NotFound(format!("no remote thumbnail {uuid}"));
    let video = app
        .store
        .video(&VideoRef::Uuid(uuid.to_string()))?
        .ok_or_else(missing)?;
    let url = video
        .remote
        .as_ref()
        .and_then(|r| r.thumbnail_url.clone())
        .ok_or_else(missing)?;
    let name = cache_name(uuid, &url);
    if let Some(hit) = cached(app, &name) {
        return Ok(hit);
    }
    if recently_failed(uuid) {
        return Err(missing());
    }
    match app.federation.client.get_image(&url, MAX_IMAGE_BYTES) {
        Ok((kind, bytes)) => {
            if let Err(e) = keep(app, &name, &kind, &bytes) {
                tracing::warn!(video = uuid, error = %e, "remote thumbnail not cached");
            }
            tracing::debug!(video = uuid, url = %url, bytes = bytes.len(), "remote thumbnail fetched");
            Ok((kind, bytes))
        }
        Err(e) => {
            mark_failed(uuid);
            tracing::info!(video = uuid, url = %url, error = %e, "remote thumbnail not fetched");
            Err(missing())
        }
    }
}

/// `GET /lazy-static/remote-thumbnails/{uuid}.jpg`.
pub async fn serve(
    State(app): State<SharedApp>,
    Path(file): Path<String>,
) -> Result<Response, FederationError> {
    let uuid = file
        .strip_suffix(".jpg")
        .and_then(|u| uuid::Uuid::parse_str(u).ok())
        .map(|u| u.hyphenated().to_string())
        .ok_or_else(|| FederationError::NotFound(format!("no remote thumbnail {file:?}")))?;
    let a = app.clone();
    let (kind, bytes) = app.pool.run(move || image(&a, &uuid)).await??;
    let mut r = (StatusCode::OK, bytes).into_response();
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&kind) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=7200"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    Ok(r)
}
