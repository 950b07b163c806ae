//! Video uploads, as PeerTube takes them: legacy multipart `POST /api/v1/videos/upload` and the
//! resumable protocol (node-uploadx) `POST/PUT/DELETE /api/v1/videos/upload-resumable`. Sizes and
//! per-user concurrency are checked before any byte is stored; a finished file is probed in a
//! child process, and only then does a video (with its transcode job) exist. Abandoned sessions
//! are removed with their bytes.

use super::auth::{now_secs, AuthUser};
use super::error::ApiError;
use crate::app::{App, SharedApp};
use crate::store::tables::{ChannelKey, Role, Sequence, User};
use crate::store::videos::{
    short_uuid, UploadKey, UploadSession, Video, VideoByUuidKey, VideoKey, VideoState,
};
use crate::store::{Batch, Durability};
use axum::body::Body;
use axum::extract::{Multipart, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use futures_util::StreamExt;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Bytes gathered from the network before one write on the blocking pool.
const WRITE_BATCH: usize = 1 << 20;
/// Largest text field of a multipart upload.
const MAX_FIELD: usize = 64 << 10;
/// Most fields a multipart upload may have (PeerTube's form has about twenty).
const MAX_FIELDS: usize = 64;
/// Largest image field (`thumbnailfile`, `previewfile`) of a multipart upload.
const MAX_IMAGE_FIELD: u64 = 8 << 20;

/// Uploads being written right now (in memory: a crash ends them anyway).
#[derive(Debug, Default)]
pub struct InFlight {
    sessions: Mutex<HashSet<String>>,
    multipart: Mutex<HashMap<u64, u32>>,
}

/// Holds a resumable session for one PUT; released on drop.
struct SessionGuard<'a> {
    app: &'a App,
    id: String,
}

impl Drop for SessionGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut s) = self.app.uploads.sessions.lock() {
            s.remove(&self.id);
        }
    }
}

/// Counts one multipart upload of a user; released on drop.
struct MultipartGuard<'a> {
    app: &'a App,
    user: u64,
}

impl Drop for MultipartGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut m) = self.app.uploads.multipart.lock() {
            if let Some(n) = m.get_mut(&self.user) {
                *n = n.saturating_sub(1);
            }
        }
    }
}

/// Metadata of a new video, as both protocols send it (PeerTube's field names).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadMeta {
    /// Title.
    pub name: Option<String>,
    /// Channel (number, or a string holding one).
    pub channel_id: Option<Value>,
    /// Original file name (resumable).
    pub filename: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Privacy id.
    pub privacy: Option<Value>,
}

/// Metadata that passed validation.
#[derive(Debug, Clone)]
struct Checked {
    name: String,
    channel_id: u64,
    description: Option<String>,
    privacy: u8,
}

fn number(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// PeerTube's rules: name 3–120 characters, a channel of the user, privacy 1–5.
fn check_meta(app: &App, user: &User, meta: &UploadMeta) -> Result<Checked, ApiError> {
    let name = meta.name.as_deref().map(str::trim).unwrap_or_default();
    let len = name.chars().count();
    if !(3..=120).contains(&len) {
        return Err(ApiError::bad_request(format!(
            "name must be 3 to 120 characters (got {len}: {name:?})"
        )));
    }
    let channel_id = meta
        .channel_id
        .as_ref()
        .and_then(number)
        .ok_or_else(|| ApiError::bad_request("channelId is required (a number)"))?;
    let channel = app.store.get(&ChannelKey(channel_id))?;
    match channel {
        Some(c) if c.owner == user.id || user.role == Role::Administrator => {}
        _ => {
            return Err(ApiError::bad_request(format!(
                "channelId {channel_id} is not a channel of {}",
                user.username
            )))
        }
    }
    let privacy = match meta.privacy.as_ref() {
        None => 1,
        Some(v) => match number(v) {
            Some(p @ 1..=5) => p as u8,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "privacy must be 1 to 5 (got {v})"
                )))
            }
        },
    };
    let description = meta.description.clone().filter(|d| !d.trim().is_empty());
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 10_000)
    {
        return Err(ApiError::bad_request(
            "description is longer than 10000 characters",
        ));
    }
    Ok(Checked {
        name: name.to_string(),
        channel_id,
        description,
        privacy,
    })
}

fn too_large(size: u64, max: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the file is {size} bytes; the largest accepted is {max} bytes"),
    )
    .code("max_file_size_reached")
}

/// Uploads of `user` in progress (resumable sessions not finished, plus multipart uploads).
fn active_uploads(app: &App, user: u64) -> Result<u32, ApiError> {
    let sessions = app
        .store
        .scan::<UploadKey>(&())?
        .into_iter()
        .filter(|(_, s)| s.user_id == user && s.video_id.is_none())
        .count() as u32;
    let multipart = app
        .uploads
        .multipart
        .lock()
        .map(|m| m.get(&user).copied().unwrap_or(0))
        .unwrap_or(0);
    Ok(sessions + multipart)
}

fn too_many(app: &App) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        format!(
            "you already have {} uploads in progress; finish or cancel one first",
            app.config.upload.max_concurrent_per_user
        ),
    );
    e.retry_after = Some(60);
    e
}

fn uploads_dir(app: &App) -> PathBuf {
    app.data_dir.join("tmp").join("uploads")
}

/// `POST /api/v1/videos/upload-resumable`: starts (or finds) a session.
pub async fn init_resumable(
    State(app): State<SharedApp>,
    auth: AuthUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let size_header = headers
        .get("x-upload-content-length")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::bad_request("X-Upload-Content-Length is required"))?;
    let size: u64 = size_header.trim().parse().map_err(|_| {
        ApiError::bad_request(format!(
            "X-Upload-Content-Length must be a byte count (got {size_header:?})"
        ))
    })?;
    if size == 0 {
        return Err(ApiError::bad_request(
            "the file is empty (X-Upload-Content-Length: 0)",
        ));
    }
    let max = app.config.upload.max_file_bytes;
    if size > max {
        return Err(too_large(size, max));
    }
    check_room(&app, size).await?;
    let meta: UploadMeta = if body.is_empty() {
        UploadMeta::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?
    };
    let filename = meta
        .filename
        .as_deref()
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .ok_or_else(|| ApiError::bad_request("filename is required"))?
        .to_string();
    let checked = check_meta(&app, &auth.user, &meta)?;
    // The same user sending the same file again resumes the same session (uploadx's 200).
    let mut h = Sha256::new();
    for part in [
        auth.user.id.to_string(),
        checked.channel_id.to_string(),
        filename.clone(),
        size.to_string(),
        checked.name.clone(),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let id = hex::encode(&h.finalize()[..16]);
    let location = format!(
        "//{}/api/v1/videos/upload-resumable?upload_id={id}",
        app.public_host
    );
    if let Some(existing) = app.store.get(&UploadKey(id.clone()))? {
        if existing.video_id.is_none() {
            let mut resp = StatusCode::OK.into_response();
            set_location(&mut resp, &location);
            return Ok(resp);
        }
        // Finished earlier: a new upload of the same file starts afresh.
        remove_session(&app, &existing);
    }
    if active_uploads(&app, auth.user.id)? >= app.config.upload.max_concurrent_per_user {
        return Err(too_many(&app));
    }
    let path = uploads_dir(&app).join(format!("{id}.part"));
    let now = now_secs();
    let session = UploadSession {
        id: id.clone(),
        user_id: auth.user.id,
        channel_id: checked.channel_id,
        name: checked.name,
        description: checked.description,
        privacy: checked.privacy,
        filename,
        size,
        path: path.clone(),
        created_at: now,
        updated_at: now,
        video_id: None,
    };
    let store = app.store.clone();
    app.pool
        .run(move || -> Result<(), ApiError> {
            std::fs::File::create(&path)
                .map_err(|e| ApiError::internal("creating the upload file", e))?;
            store.put(&UploadKey(session.id.clone()), &session, Durability::Sync)?;
            Ok(())
        })
        .await??;
    tracing::info!(upload = %id, user = auth.user.id, size, "resumable upload started");
    let mut resp = StatusCode::CREATED.into_response();
    set_location(&mut resp, &location);
    Ok(resp)
}

fn set_location(resp: &mut Response, location: &str) {
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
}

/// `?upload_id=…`.
#[derive(Debug, Deserialize)]
pub struct UploadId {
    upload_id: Option<String>,
}

fn session_of(app: &App, user: &User, q: &UploadId) -> Result<UploadSession, ApiError> {
    let id = q
        .upload_id
        .as_deref()
        .ok_or_else(|| ApiError::bad_request("upload_id is required"))?;
    match app.store.get(&UploadKey(id.to_string()))? {
        Some(s) if s.user_id == user.id => Ok(s),
        _ => Err(ApiError::not_found(format!("no upload session {id:?}"))),
    }
}

/// `Content-Range: bytes S-E/T` or `bytes */T`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentRange {
    /// A chunk: first and last byte (inclusive), total.
    Chunk(u64, u64, u64),
    /// A status query.
    Query(u64),
}

/// Parses a `Content-Range` request header.
pub fn parse_content_range(v: &str) -> Option<ContentRange> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let total: u64 = total.trim().parse().ok()?;
    if range.trim() == "*" {
        return Some(ContentRange::Query(total));
    }
    let (a, b) = range.split_once('-')?;
    let (a, b): (u64, u64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a <= b && b < total).then_some(ContentRange::Chunk(a, b, total))
}

fn resume_incomplete(received: u64) -> Response {
    let mut resp = Response::builder()
        .status(StatusCode::PERMANENT_REDIRECT)
        .body(Body::empty())
        .unwrap_or_default();
    if received > 0 {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes=0-{}", received - 1)) {
            resp.headers_mut().insert(header::RANGE, v);
        }
    }
    resp
}

fn created(video: &Video) -> Response {
    Json(json!({"video": {
        "id": video.id,
        "uuid": video.uuid,
        "shortUUID": short_uuid(&video.uuid),
    }}))
    .into_response()
}

/// `PUT /api/v1/videos/upload-resumable?upload_id=…`: one chunk, or a status query.
pub async fn put_chunk(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Query(q): Query<UploadId>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let session = session_of(&app, &auth.user, &q)?;
    if let Some(video_id) = session.video_id {
        // The final chunk again (its answer was lost): same answer.
        if let Some(v) = app.store.get(&VideoKey(video_id))? {
            return Ok(created(&v));
        }
        return Err(ApiError::not_found("the video of this upload was deleted"));
    }
    let _guard = {
        let mut busy = app
            .uploads
            .sessions
            .lock()
            .map_err(|_| ApiError::internal("upload state", "poisoned"))?;
        if !busy.insert(session.id.clone()) {
            let mut e = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "another request is writing this upload; retry later",
            );
            e.retry_after = Some(5);
            return Err(e);
        }
        SessionGuard {
            app: &app,
            id: session.id.clone(),
        }
    };
    let received = std::fs::metadata(&session.path)
        .map(|m| m.len())
        .unwrap_or(0);
    let range = headers
        .get(header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok());
    let range = match range {
        None => ContentRange::Query(session.size),
        Some(v) => parse_content_range(v)
            .ok_or_else(|| ApiError::bad_request(format!("invalid Content-Range {v:?}")))?,
    };
    let (start, end) = match range {
        ContentRange::Query(total) | ContentRange::Chunk(_, _, total) if total != session.size => {
            return Err(ApiError::bad_request(format!(
                "Content-Range total {total} differs from the announced size {}",
                session.size
            )));
        }
        ContentRange::Query(_) => {
            if received == session.size {
                return finish(&app, &auth.user, session).await;
            }
            return Ok(resume_incomplete(received));
        }
        ContentRange::Chunk(s, e, _) => (s, e),
    };
    if start != received {
        let mut resp = ApiError::new(
            StatusCode::CONFLICT,
            format!("chunk starts at byte {start}, but {received} bytes were received"),
        )
        .into_response();
        if received > 0 {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes=0-{}", received - 1)) {
                resp.headers_mut().insert(header::RANGE, v);
            }
        }
        return Ok(resp);
    }
    let chunk_len = end - start + 1;
    check_room(&app, chunk_len).await?;
    let written = write_body(&app, &session.path, received, body, chunk_len).await?;
    let now_received = received + written;
    let store = app.store.clone();
    let mut touched = session.clone();
    touched.updated_at = now_secs();
    app.pool
        .run(move || {
            store.put(
                &UploadKey(touched.id.clone()),
                &touched,
                Durability::Buffered,
            )
        })
        .await??;
    if written < chunk_len {
        return Err(ApiError::bad_request(format!(
            "the chunk ended after {written} of {chunk_len} bytes; resume from byte {now_received}"
        )));
    }
    if now_received < session.size {
        return Ok(resume_incomplete(now_received));
    }
    finish(&app, &auth.user, session).await
}

/// Appends at most `limit` bytes of `body` to `path` (which holds `received` bytes); returns how
/// many were written. Bytes that arrived before a dropped connection are kept (the client
/// resumes after them); a body longer than `limit` is refused and none of it is kept.
async fn write_body(
    app: &App,
    path: &Path,
    received: u64,
    body: Body,
    limit: u64,
) -> Result<u64, ApiError> {
    let open = path.to_owned();
    let file = app
        .pool
        .run(move || std::fs::OpenOptions::new().append(true).open(open))
        .await?
        .map_err(|e| ApiError::internal("opening the upload file", e))?;
    let mut file = Some(file);
    let mut stream = body.into_data_stream();
    let mut buf: Vec<u8> = Vec::with_capacity(WRITE_BATCH);
    let mut written = 0u64;
    let mut overflow = false;
    let mut failed = None;
    let mut write_error = None;
    loop {
        let next = stream.next().await;
        let done = match next {
            Some(Ok(bytes)) => {
                let room = (limit - written - buf.len() as u64) as usize;
                if bytes.len() > room {
                    overflow = true;
                }
                buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
                overflow
            }
            Some(Err(e)) => {
                failed = Some(e.to_string());
                true
            }
            None => true,
        };
        if overflow {
            break;
        }
        if !buf.is_empty() && (done || buf.len() >= WRITE_BATCH) {
            let data = std::mem::take(&mut buf);
            let mut f = file
                .take()
                .ok_or_else(|| ApiError::internal("upload file", "lost"))?;
            let n = data.len() as u64;
            let (f, result) = app
                .pool
                .run(move || {
                    let r = f.write_all(&data);
                    (f, r)
                })
                .await?;
            file = Some(f);
            if let Err(e) = result {
                write_error = Some(e);
                break;
            }
            written += n;
        }
        if done {
            break;
        }
    }
    let Some(f) = file else {
        return Err(ApiError::internal("upload file", "lost"));
    };
    // Keep exactly the bytes accepted: none of a refused chunk, none of a failed write's tail.
    let keep = if overflow {
        received
    } else {
        received + written
    };
    let trimmed = app
        .pool
        .run(move || {
            if f.metadata()?.len() != keep {
                f.set_len(keep)?;
            }
            f.sync_data()
        })
        .await?;
    if let Err(e) = trimmed {
        return Err(write_failed(e));
    }
    if overflow {
        return Err(ApiError::bad_request(format!(
            "the body is longer than its Content-Range ({limit} bytes); nothing of it was kept"
        )));
    }
    if let Some(e) = write_error {
        return Err(write_failed(e));
    }
    if let Some(e) = failed {
        tracing::info!(error = %e, written, "upload connection ended early; the client may resume");
    }
    Ok(written)
}

/// A failed write of uploaded bytes: a full disk is the client's 507, anything else a 500.
fn write_failed(e: std::io::Error) -> ApiError {
    if e.raw_os_error() == Some(libc::ENOSPC) || e.raw_os_error() == Some(libc::EDQUOT) {
        tracing::warn!(error = %e, "upload refused: the disk is full");
        return insufficient_storage(
            "the server's disk is full; the upload was not stored. Try again later".into(),
        );
    }
    ApiError::internal("writing the upload", e)
}

/// 507 Insufficient Storage, with a reason for the client.
fn insufficient_storage(detail: String) -> ApiError {
    let mut e = ApiError::new(StatusCode::INSUFFICIENT_STORAGE, detail);
    e.retry_after = Some(300);
    e
}

/// Refuses (507) an upload of `incoming` bytes that would eat into the disk reserve.
async fn check_room(app: &SharedApp, incoming: u64) -> Result<(), ApiError> {
    let a = app.clone();
    app.pool
        .run(move || crate::engine::disk::room_for(&a, incoming))
        .await?
        .map_err(|why| {
            tracing::warn!(reason = %why, "upload refused for lack of disk space");
            insufficient_storage(why)
        })
}

/// The last byte arrived: probe, create the video and its job, close the session.
async fn finish(
    app: &SharedApp,
    user: &User,
    session: UploadSession,
) -> Result<Response, ApiError> {
    let checked = Checked {
        name: session.name.clone(),
        channel_id: session.channel_id,
        description: session.description.clone(),
        privacy: session.privacy,
    };
    match accept(
        app,
        user,
        checked,
        &session.path,
        &session.filename,
        Some(&session),
    )
    .await
    {
        Ok(video) => Ok(created(&video)),
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            // A file that cannot be a video will not become one by resending it.
            remove_session(app, &session);
            Err(e)
        }
        // Anything else (a full disk, a store made read-only): the bytes stay, and the client's
        // next query or resent chunk tries again.
        Err(e) => Err(e),
    }
}

/// Probes the complete file at `path` (in a child process) and creates the video and its job.
///
/// The file becomes the video's source without ever being in neither place: it is hard-linked
/// into `sources/` (under a name derived from the upload's, so a retry reuses it), then one
/// batch writes the video, its job and, for a resumable upload, the session's `video_id`, and
/// only then is the upload's link removed. Killed before the batch, the upload is intact and the
/// client's next query finishes it; killed after, the session answers with the video. (Moving
/// the file first lost the upload, or made a video its client never learned of.)
async fn accept(
    app: &SharedApp,
    user: &User,
    meta: Checked,
    path: &Path,
    filename: &str,
    session: Option<&UploadSession>,
) -> Result<Video, ApiError> {
    let (exe, file) = (app.exe.clone(), path.to_path_buf());
    let plan = app.config.transcode.plan_options();
    let report = app
        .pool
        .run(move || crate::transcode::worker::probe_isolated(&exe, &file, &plan))
        .await?
        .map_err(|why| {
            // The prober names the staged file by its server path; the client knows it by name.
            let why = why.replace(&path.display().to_string(), filename);
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("{filename}: not a usable video: {why}"),
            )
        })?;
    let uuid = uuid::Uuid::new_v4().hyphenated().to_string();
    let ext = Path::new(filename)
        .extension()
        .and_then(|e| e.to_str())
        .filter(|e| e.len() <= 8 && e.chars().all(|c| c.is_ascii_alphanumeric()))
        .map(|e| format!(".{}", e.to_ascii_lowercase()))
        .unwrap_or_default();
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("upload")
        .to_string();
    let source = app.data_dir.join("sources").join(format!("{stem}{ext}"));
    let now = now_secs();
    let app2 = app.clone();
    let (from, to) = (path.to_path_buf(), source.clone());
    let (user_id, original) = (user.id, filename.to_string());
    let session = session.cloned();
    let video = app
        .pool
        .run(move || -> Result<Video, ApiError> {
            // Left by an attempt killed before its batch.
            let _ = std::fs::remove_file(&to);
            std::fs::hard_link(&from, &to)
                .map_err(|e| ApiError::internal("linking the upload into sources", e))?;
            let video = Video {
                id: app2.store.next_id(Sequence::Video)?,
                uuid: uuid.clone(),
                name: meta.name,
                description: meta.description,
                channel_id: meta.channel_id,
                owner: user_id,
                privacy: meta.privacy,
                state: VideoState::ToTranscode,
                duration: report.duration,
                aspect_ratio: Some(f64::from(report.width) / f64::from(report.height.max(1))),
                source: Some(to.clone()),
                original_filename: original,
                created_at: now,
                updated_at: now,
                published_at: None,
                hls: None,
                thumbnail: None,
                preview: None,
                error: None,
                remote: None,
                federated_at: None,
                unfederated_at: None,
            };
            let mut batch = Batch::default();
            batch.put(&app2.store, &VideoKey(video.id), &video)?;
            batch.put(&app2.store, &VideoByUuidKey(uuid.clone()), &video.id)?;
            app2.transcoder
                .queue()
                .enqueue_in(&mut batch, &uuid, to.clone())?;
            if let Some(mut done) = session {
                done.video_id = Some(video.id);
                done.updated_at = now;
                batch.put(&app2.store, &UploadKey(done.id.clone()), &done)?;
            }
            if let Err(e) = app2.store.write(batch, Durability::Sync) {
                let _ = std::fs::remove_file(&to);
                return Err(e.into());
            }
            let _ = std::fs::remove_file(&from);
            Ok(video)
        })
        .await??;
    app.transcoder.notify();
    tracing::info!(video = %video.uuid, user = user.id, duration = video.duration, "upload accepted; transcode queued");
    Ok(video)
}

fn remove_session(app: &App, session: &UploadSession) {
    let _ = std::fs::remove_file(&session.path);
    let mut batch = Batch::default();
    batch.delete(&app.store, &UploadKey(session.id.clone()));
    if let Err(e) = app.store.write(batch, Durability::Sync) {
        tracing::error!(error = %e, upload = %session.id, "cannot remove an upload session");
    }
}

/// `DELETE /api/v1/videos/upload-resumable?upload_id=…`: cancels (or closes) a session.
pub async fn cancel(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Query(q): Query<UploadId>,
) -> Result<Response, ApiError> {
    let session = session_of(&app, &auth.user, &q)?;
    if app
        .uploads
        .sessions
        .lock()
        .map(|s| s.contains(&session.id))
        .unwrap_or(false)
    {
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "a chunk is being written; retry",
        );
        e.retry_after = Some(5);
        return Err(e);
    }
    let a = app.clone();
    app.pool.run(move || remove_session(&a, &session)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Removes sessions silent for longer than their lifetime (every one at `startup` whose file is
/// gone), and stray files in the uploads directory.
pub fn remove_expired(app: &App, startup: bool) {
    let lifetime = app.config.upload.session_lifetime_secs;
    let now = now_secs();
    let Ok(sessions) = app.store.scan::<UploadKey>(&()) else {
        return;
    };
    let mut kept = HashSet::new();
    let mut removed = 0;
    for (_, s) in sessions {
        let stale = now.saturating_sub(s.updated_at) > lifetime;
        let lost = startup && s.video_id.is_none() && !s.path.exists();
        if stale || lost {
            remove_session(app, &s);
            removed += 1;
        } else {
            kept.insert(s.path.clone());
        }
    }
    if let Ok(entries) = std::fs::read_dir(uploads_dir(app)) {
        for e in entries.flatten() {
            let p = e.path();
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age.as_secs() > lifetime);
            // Multipart temp files belong to no session: removed at startup or once stale.
            if !kept.contains(&p) && (startup || old) {
                let _ = std::fs::remove_file(&p);
            }
        }
    }
    if removed > 0 {
        tracing::info!(sessions = removed, "removed abandoned uploads");
    }
}

/// `POST /api/v1/videos/upload`: the legacy multipart upload (field `videofile`).
pub async fn upload_multipart(
    State(app): State<SharedApp>,
    auth: AuthUser,
    headers: HeaderMap,
    mut form: Multipart,
) -> Result<Response, ApiError> {
    let max = app.config.upload.max_file_bytes;
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > max + (1 << 20) {
            return Err(too_large(len, max));
        }
        check_room(&app, len).await?;
    } else {
        check_room(&app, 0).await?;
    }
    let _guard = {
        let mut m = app
            .uploads
            .multipart
            .lock()
            .map_err(|_| ApiError::internal("upload state", "poisoned"))?;
        let n = m.entry(auth.user.id).or_insert(0);
        *n += 1;
        MultipartGuard {
            app: &app,
            user: auth.user.id,
        }
    };
    if active_uploads(&app, auth.user.id)? > app.config.upload.max_concurrent_per_user {
        return Err(too_many(&app));
    }
    let mut fields: HashMap<String, String> = HashMap::new();
    let mut file: Option<(PathBuf, String, u64)> = None;
    let tmp = uploads_dir(&app).join(format!("multipart-{}.part", uuid::Uuid::new_v4()));
    let cleanup = TempFile(tmp.clone());
    let mut field_count = 0usize;
    loop {
        let field = form
            .next_field()
            .await
            .map_err(|e| ApiError::bad_request(format!("malformed multipart body: {e}")))?;
        let Some(mut field) = field else { break };
        field_count += 1;
        if field_count > MAX_FIELDS {
            return Err(ApiError::bad_request(format!(
                "too many multipart fields (the limit is {MAX_FIELDS})"
            )));
        }
        let name = field.name().unwrap_or_default().to_string();
        if name == "videofile" {
            let filename = field.file_name().unwrap_or("video").to_string();
            if file.is_some() {
                return Err(ApiError::bad_request("videofile is given more than once"));
            }
            let create = tmp.clone();
            let mut out = app
                .pool
                .run(move || std::fs::File::create(create))
                .await?
                .map_err(|e| ApiError::internal("creating the upload file", e))?;
            let mut size = 0u64;
            let mut buf = Vec::with_capacity(WRITE_BATCH);
            loop {
                let chunk = field
                    .chunk()
                    .await
                    .map_err(|e| ApiError::bad_request(format!("upload interrupted: {e}")))?;
                let last = chunk.is_none();
                if let Some(c) = chunk {
                    size += c.len() as u64;
                    if size > max {
                        return Err(too_large(size, max));
                    }
                    buf.extend_from_slice(&c);
                }
                if !buf.is_empty() && (last || buf.len() >= WRITE_BATCH) {
                    let data = std::mem::take(&mut buf);
                    out = app
                        .pool
                        .run(move || -> std::io::Result<std::fs::File> {
                            out.write_all(&data)?;
                            Ok(out)
                        })
                        .await?
                        .map_err(write_failed)?;
                }
                if last {
                    break;
                }
            }
            file = Some((tmp.clone(), filename, size));
        } else if ["thumbnailfile", "previewfile"].contains(&name.as_str()) {
            // Custom images are not supported yet: drain (bounded) and ignore.
            let mut size = 0u64;
            while let Some(c) = field
                .chunk()
                .await
                .map_err(|e| ApiError::bad_request(format!("field {name}: {e}")))?
            {
                size += c.len() as u64;
                if size > MAX_IMAGE_FIELD {
                    return Err(ApiError::bad_request(format!(
                        "field {name} is larger than {MAX_IMAGE_FIELD} bytes"
                    )));
                }
            }
        } else {
            // Read chunk by chunk against the bound: a huge field is refused at its first
            // bytes past the limit, never held whole.
            let mut text = Vec::new();
            while let Some(c) = field
                .chunk()
                .await
                .map_err(|e| ApiError::bad_request(format!("field {name}: {e}")))?
            {
                if text.len() + c.len() > MAX_FIELD {
                    return Err(ApiError::bad_request(format!(
                        "field {name} is longer than {MAX_FIELD} bytes"
                    )));
                }
                text.extend_from_slice(&c);
            }
            let text = String::from_utf8(text)
                .map_err(|_| ApiError::bad_request(format!("field {name} is not UTF-8 text")))?;
            fields.insert(name, text);
        }
    }
    let (path, filename, size) =
        file.ok_or_else(|| ApiError::bad_request("videofile is required"))?;
    if size == 0 {
        return Err(ApiError::bad_request(format!(
            "{filename}: the file is empty"
        )));
    }
    let meta = UploadMeta {
        name: fields.get("name").cloned(),
        channel_id: fields.get("channelId").map(|s| Value::String(s.clone())),
        filename: Some(filename.clone()),
        description: fields.get("description").cloned(),
        privacy: fields.get("privacy").map(|s| Value::String(s.clone())),
    };
    let checked = check_meta(&app, &auth.user, &meta)?;
    let video = accept(&app, &auth.user, checked, &path, &filename, None).await?;
    drop(cleanup);
    Ok(created(&video))
}

/// Removes a temporary file when dropped (an upload that failed halfway leaves nothing).
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges() {
        assert_eq!(
            parse_content_range("bytes 0-99/1000"),
            Some(ContentRange::Chunk(0, 99, 1000))
        );
        assert_eq!(
            parse_content_range("bytes */1000"),
            Some(ContentRange::Query(1000))
        );
        assert_eq!(parse_content_range("bytes 5-4/1000"), None);
        assert_eq!(parse_content_range("bytes 0-1000/1000"), None);
        assert_eq!(parse_content_range("items 0-1/2"), None);
        assert_eq!(parse_content_range("bytes 0-x/2"), None);
    }
}
