//! A runner's result (`jobs/{uuid}/success`): the multipart form is read as it streams, the
//! tokens first, each file written to disk under `incoming/` within the size limit (never held
//! in memory); then the job is COMPLETING, the files are checked in a child process (they are
//! untrusted) and moved into place with one rename, and the job is COMPLETED. A result that is
//! too large or not what was asked counts as a failure of the job; nothing of it is kept.

use super::jobs::BoardError;
use super::store::RunnerJobRecord;
use super::RunnerServer;
use crate::api::error::ApiError;
use crate::app::SharedApp;
use crate::runners::protocol::{fields, HlsPayload, JobState, JobType};
use crate::uploads::writer::{write_body, Destination, WriteError};
use axum::extract::multipart::Field;
use axum::extract::Multipart;
use http::StatusCode;
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

/// Largest media playlist a runner may send.
pub const MAX_PLAYLIST_BYTES: u64 = 1 << 20;
/// Largest text field (tokens, progress).
const MAX_TEXT: usize = 1024;
/// Most fields in one form.
const MAX_FIELDS: usize = 16;

/// The HLS job's fragmented MP4, as kept.
pub const VIDEO_FILE: &str = "video.mp4";
/// The HLS job's playlist, as kept.
pub const PLAYLIST_FILE: &str = "playlist.m3u8";
/// The storyboard job's sheet, as kept.
pub const STORYBOARD_FILE: &str = "storyboard";

/// Where a multipart file field of a `success` of `kind` is kept (None: not a field of it).
fn slot(kind: JobType, field: &str) -> Option<&'static str> {
    match (kind, field) {
        (JobType::VodHlsTranscoding, fields::VIDEO_FILE) => Some(VIDEO_FILE),
        (JobType::VodHlsTranscoding, fields::RESOLUTION_PLAYLIST_FILE) => Some(PLAYLIST_FILE),
        (JobType::GenerateVideoStoryboard, fields::STORYBOARD_FILE) => Some(STORYBOARD_FILE),
        _ => None,
    }
}

/// The file fields a `success` of `kind` must carry.
fn required(kind: JobType) -> &'static [(&'static str, &'static str)] {
    match kind {
        JobType::VodHlsTranscoding => &[
            (fields::VIDEO_FILE, VIDEO_FILE),
            (fields::RESOLUTION_PLAYLIST_FILE, PLAYLIST_FILE),
        ],
        JobType::GenerateVideoStoryboard => &[(fields::STORYBOARD_FILE, STORYBOARD_FILE)],
        _ => &[],
    }
}

/// The HTTP answer to a refused runner call.
pub fn api_error(e: BoardError) -> ApiError {
    use crate::runners::protocol as p;
    match e {
        BoardError::UnknownRunnerToken => ApiError::not_found(e.to_string())
            .code(p::UNKNOWN_RUNNER_TOKEN)
            .refused_credential(),
        BoardError::UnknownRegistrationToken(_) => {
            ApiError::not_found(e.to_string()).refused_credential()
        }
        BoardError::UnknownJob(_) => ApiError::not_found("Unknown runner job"),
        BoardError::NotPending { .. } => {
            ApiError::conflict(e.to_string()).code(p::NOT_IN_PENDING_STATE)
        }
        BoardError::NotProcessing { .. } => {
            ApiError::bad_request(e.to_string()).code(p::NOT_IN_PROCESSING_STATE)
        }
        BoardError::NameTaken(_) => ApiError::bad_request(e.to_string()),
        BoardError::NotFound(_) => ApiError::not_found(e.to_string()),
        BoardError::Store(s) => s.into(),
    }
}

/// Reads a bounded text field.
pub async fn text(mut field: Field<'_>, name: &str) -> Result<String, ApiError> {
    let mut out = Vec::new();
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| ApiError::bad_request(format!("field {name}: {e}")))?
    {
        if out.len() + chunk.len() > MAX_TEXT {
            return Err(ApiError::bad_request(format!(
                "field {name} is longer than {MAX_TEXT} bytes"
            )));
        }
        out.extend_from_slice(&chunk);
    }
    String::from_utf8(out).map_err(|_| ApiError::bad_request(format!("field {name} is not UTF-8")))
}

/// `POST /api/v1/runners/jobs/{uuid}/success`.
pub async fn receive(
    app: &SharedApp,
    srv: &Arc<RunnerServer>,
    uuid: &str,
    form: Multipart,
) -> Result<(), ApiError> {
    let dir = srv
        .incoming_dir()
        .join(format!("{uuid}-{}", uuid::Uuid::new_v4().simple()));
    let d = dir.clone();
    app.pool
        .run(move || std::fs::create_dir_all(d))
        .await?
        .map_err(|e| ApiError::internal("creating the runner upload directory", e))?;
    let outcome = receive_into(app, srv, uuid, form, &dir).await;
    let (job, tokens) = match outcome {
        Ok(o) => o,
        Err(e) => {
            // Removed before the refusal is answered: nothing of a refused upload is kept.
            let d = dir.clone();
            let _ = app.pool.run(move || std::fs::remove_dir_all(d)).await;
            return Err(e);
        }
    };
    let (s, u, (rt, jt)) = (srv.clone(), uuid.to_string(), tokens);
    let d = dir.clone();
    let moved = app
        .pool
        .run(move || -> Result<(), ApiError> {
            s.board.completing(&u, &rt, &jt).map_err(api_error)?;
            let target = s.completing_dir(&u);
            let _ = std::fs::remove_dir_all(&target);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| ApiError::internal("runner results directory", e))?;
            }
            std::fs::rename(&dir, &target)
                .map_err(|e| ApiError::internal("moving a runner result", e))?;
            finish(&s, &job).map_err(|msg| {
                ApiError::bad_request(format!("the result of runner job {u} was refused: {msg}"))
            })
        })
        .await?;
    if moved.is_err() {
        let _ = app.pool.run(move || std::fs::remove_dir_all(d)).await;
    }
    moved
}

/// Reads the form into `dir`; returns the job and its tokens.
async fn receive_into(
    app: &SharedApp,
    srv: &Arc<RunnerServer>,
    uuid: &str,
    mut form: Multipart,
    dir: &Path,
) -> Result<(RunnerJobRecord, (String, String)), ApiError> {
    let (mut rt, mut jt) = (None::<String>, None::<String>);
    let mut job: Option<RunnerJobRecord> = None;
    let mut got: HashSet<&'static str> = HashSet::new();
    let mut count = 0;
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| ApiError::bad_request(format!("malformed multipart body: {e}")))?
    {
        count += 1;
        if count > MAX_FIELDS {
            return Err(ApiError::bad_request(format!(
                "too many multipart fields (the limit is {MAX_FIELDS})"
            )));
        }
        let name = field.name().unwrap_or_default().to_string();
        match name.as_str() {
            fields::RUNNER_TOKEN => rt = Some(text(field, &name).await?),
            fields::JOB_TOKEN => jt = Some(text(field, &name).await?),
            _ => {
                let j = match &job {
                    Some(j) => j.clone(),
                    None => {
                        let (Some(r), Some(t)) = (rt.clone(), jt.clone()) else {
                            return Err(ApiError::bad_request(format!(
                                "runnerToken and jobToken must come before {name}"
                            )));
                        };
                        let (s, u) = (srv.clone(), uuid.to_string());
                        let j = app
                            .pool
                            .run(move || s.board.check_processing(&u, &r, &t))
                            .await?
                            .map_err(api_error)?;
                        job = Some(j.clone());
                        j
                    }
                };
                let Some(slot) = slot(j.kind, &name) else {
                    return Err(ApiError::bad_request(format!(
                        "unknown field {name:?} for a {} result",
                        j.kind
                    )));
                };
                if !got.insert(slot) {
                    return Err(ApiError::bad_request(format!("{name} is given twice")));
                }
                let max = srv.config.max_result_bytes;
                let limit = if slot == PLAYLIST_FILE {
                    MAX_PLAYLIST_BYTES.min(max)
                } else {
                    max
                };
                let to = Destination::New(dir.join(slot));
                match write_body(&app.pool, to, field, limit).await {
                    Ok(w) => {
                        if let Some(e) = w.cut_short {
                            return Err(ApiError::bad_request(format!(
                                "upload of {name} interrupted: {e}"
                            )));
                        }
                    }
                    Err(WriteError::Overflow { seen, limit }) => {
                        let msg = format!(
                            "result file {name} is larger than the limit of {limit} bytes ({seen} bytes received)"
                        );
                        let (s, u, m) = (srv.clone(), uuid.to_string(), msg.clone());
                        let after = app.pool.run(move || s.board.result_refused(&u, &m)).await?;
                        tracing::warn!(job = %uuid, field = %name, limit, ?after, "runner result over the size limit");
                        return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, msg));
                    }
                    Err(WriteError::Failed(e)) => {
                        return Err(ApiError::internal("writing a runner result", e))
                    }
                }
            }
        }
    }
    let (Some(rt), Some(jt)) = (rt, jt) else {
        return Err(ApiError::bad_request(
            "runnerToken and jobToken are required",
        ));
    };
    let job = match job {
        Some(j) => j,
        None => {
            let (s, u, r, t) = (srv.clone(), uuid.to_string(), rt.clone(), jt.clone());
            app.pool
                .run(move || s.board.check_processing(&u, &r, &t))
                .await?
                .map_err(api_error)?
        }
    };
    for (field, slot) in required(job.kind) {
        if !got.contains(slot) {
            return Err(ApiError::bad_request(format!("{field} is missing")));
        }
    }
    Ok((job, (rt, jt)))
}

/// Checks the COMPLETING job's files (in `completing/`) and completes it, or counts a failure
/// and removes them. Blocking (runs a child process).
pub fn finish(srv: &RunnerServer, job: &RunnerJobRecord) -> Result<(), String> {
    let dir = srv.completing_dir(&job.uuid);
    let checked = check(srv, job, &dir).and_then(|()| {
        let target = srv.result_dir(&job.uuid);
        let _ = std::fs::remove_dir_all(&target);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("results directory: {e}"))?;
        }
        std::fs::rename(&dir, &target).map_err(|e| format!("moving the result: {e}"))
    });
    match checked {
        Ok(()) => {
            if let Err(e) = srv.board.completed(&job.uuid) {
                tracing::error!(job = %job.uuid, error = %e, "cannot record a completed runner job");
                return Err(e.to_string());
            }
            tracing::info!(job = %job.uuid, kind = %job.kind, video = %job.video_uuid, "runner job completed");
            Ok(())
        }
        Err(msg) => {
            let _ = std::fs::remove_dir_all(&dir);
            let after = srv.board.result_refused(&job.uuid, &msg);
            tracing::warn!(job = %job.uuid, kind = %job.kind, reason = %msg, ?after, "runner result refused");
            Err(msg)
        }
    }
}

/// Whether the files in `dir` are what `job` asked for.
pub fn check(srv: &RunnerServer, job: &RunnerJobRecord, dir: &Path) -> Result<(), String> {
    match job.kind {
        JobType::VodHlsTranscoding => check_hls(srv, job, dir),
        JobType::GenerateVideoStoryboard => {
            let mut head = [0u8; 12];
            let mut f = std::fs::File::open(dir.join(STORYBOARD_FILE))
                .map_err(|e| format!("the storyboard cannot be read: {e}"))?;
            std::io::Read::read_exact(&mut f, &mut head)
                .map_err(|_| "the storyboard is not an image".to_string())?;
            image_ext(&head)
                .map(|_| ())
                .ok_or_else(|| "the storyboard is not a JPEG, PNG or WebP image".to_string())
        }
        other => Err(format!("Fleuve makes no {other} jobs")),
    }
}

/// The extension of an image by its first bytes (JPEG, PNG, WebP).
pub fn image_ext(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("jpg")
    } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("png")
    } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        Some("webp")
    } else {
        None
    }
}

fn check_hls(srv: &RunnerServer, job: &RunnerJobRecord, dir: &Path) -> Result<(), String> {
    let payload: HlsPayload =
        serde_json::from_value(job.payload.clone()).map_err(|e| format!("bad job payload: {e}"))?;
    let text = std::fs::read_to_string(dir.join(PLAYLIST_FILE))
        .map_err(|e| format!("the playlist cannot be read: {e}"))?;
    let playlist = crate::transcode::hls::MediaPlaylist::parse(&text)
        .map_err(|e| format!("the playlist is not a single-file HLS playlist: {e}"))?;
    if playlist.segments.is_empty() {
        return Err("the playlist has no segment".into());
    }
    let report = crate::transcode::worker::probe_isolated(
        &srv.exe,
        &dir.join(VIDEO_FILE),
        &srv.transcode.plan_options(),
        None,
    )
    .map_err(|e| format!("the video cannot be read: {e}"))?;
    if report.video_codec != "h264" {
        return Err(format!(
            "the video is {}, not H.264",
            if report.video_codec.is_empty() {
                "of an unknown codec"
            } else {
                &report.video_codec
            }
        ));
    }
    let short = report.width.min(report.height);
    let want = payload.output.resolution;
    if short.abs_diff(want) > 2 {
        return Err(format!(
            "the video is {}x{}, not {want}p",
            report.width, report.height
        ));
    }
    let source_audio = job.private_payload["hasAudio"].as_bool().unwrap_or(false);
    if source_audio
        && !payload.output.separated_audio
        && report.audio_codec.as_deref() != Some("aac")
    {
        return Err(format!(
            "the video has {} audio where the source has some (AAC expected)",
            report.audio_codec.as_deref().unwrap_or("no")
        ));
    }
    Ok(())
}

/// At start: partial uploads are removed; a COMPLETING job whose files are all there is checked
/// again (in the background), one whose files are not goes back to pending.
pub fn recover(srv: &Arc<RunnerServer>) {
    let _ = std::fs::remove_dir_all(srv.incoming_dir());
    let completing: Vec<RunnerJobRecord> = srv
        .board
        .all_jobs()
        .into_iter()
        .filter(|j| j.state() == JobState::Completing)
        .collect();
    if completing.is_empty() {
        return;
    }
    let s = srv.clone();
    let spawned = std::thread::Builder::new()
        .name("fleuve-runner-recheck".into())
        .spawn(move || {
            for job in completing {
                let dir = s.completing_dir(&job.uuid);
                let whole = required(job.kind).iter().all(|(_, f)| dir.join(f).is_file());
                if whole {
                    tracing::info!(job = %job.uuid, "checking again a runner result a stop interrupted");
                    let _ = finish(&s, &job);
                } else {
                    let _ = std::fs::remove_dir_all(&dir);
                    let _ = s
                        .board
                        .result_refused(&job.uuid, "the server stopped while the result was written");
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the runner result recheck");
    }
}
