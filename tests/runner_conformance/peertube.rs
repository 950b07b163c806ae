//! A PeerTube-shaped runner server for the conformance tests, written from PeerTube 8's
//! controllers, validators and models (`server/core/controllers/api/runners/{manage-runners,
//! jobs,jobs-files}.ts`, `middlewares/validators/runners/*.ts`, `lib/peertube-socket.ts`):
//! the same routes, bodies, status codes and problem+json error codes, multipart bodies parsed
//! field by field with multer's file type check, POST file downloads that need both tokens, and
//! the socket.io `/runners` namespace over a WebSocket. Faults are switched on per job.

// Handlers return the ready error response of a failed check, as axum handlers do.
#![allow(clippy::result_large_err)]

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

pub const REGISTRATION_TOKEN: &str = "ptrrt-11111111-2222-3333-4444-555555555555";

#[derive(Debug, Clone)]
pub struct Runner {
    pub id: u64,
    pub name: String,
    pub token: String,
}

/// One multipart field as the server received it.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    /// Text value, or where the file was saved.
    pub value: String,
}

#[derive(Debug, Clone)]
pub struct Job {
    pub uuid: String,
    pub kind: String,
    pub payload: Value,
    /// PeerTube's state numbers.
    pub state: u8,
    pub job_token: Option<String>,
    pub runner_token: Option<String>,
    pub failures: u32,
    pub progress: Option<u8>,
    pub error: Option<String>,
}

#[derive(Default)]
pub struct Faults {
    /// Another runner accepts these between our request and our accept (409).
    pub steal: HashSet<String>,
    /// The download of these videos answers 500.
    pub download_500: HashSet<String>,
    /// The download of these videos goes through a 302 to a GET URL.
    pub redirect: HashSet<String>,
    /// The download of these videos never ends (the runner is stopped meanwhile).
    pub hang: HashSet<String>,
    /// These jobs are cancelled by an administrator at their first update.
    pub cancel_at_update: HashSet<String>,
    /// These live jobs are ended by the instance (no longer processing, token kept) once they
    /// have sent this many chunks.
    pub end_live_after_chunks: HashMap<String, usize>,
}

/// A live job's `update` as the instance stored it.
#[derive(Debug, Clone)]
pub struct LiveUpdate {
    pub job: String,
    /// `add-chunk` or `remove-chunk`.
    pub kind: String,
    pub chunk: String,
    /// `payload[resolutionPlaylistFilename]`, when sent.
    pub playlist: Option<String>,
    /// The chunks that playlist listed.
    pub listed: Vec<String>,
    /// Whether the master playlist came with it.
    pub master: bool,
}

#[derive(Default)]
pub struct Log {
    /// (job uuid, video uuid, method) of each download served.
    pub downloads: Vec<(String, String, String)>,
    /// (job uuid, progress) of each update accepted.
    pub updates: Vec<(String, Option<u8>)>,
    /// Updates refused because the job was not processing any more.
    pub refused_updates: Vec<String>,
    /// Live updates stored, in order.
    pub live: Vec<LiveUpdate>,
    /// Success bodies by job.
    pub successes: HashMap<String, Vec<Field>>,
    /// (job, message).
    pub errors: Vec<(String, String)>,
    /// (job, reason).
    pub aborts: Vec<(String, String)>,
    /// (job, status) of refused accepts.
    pub refused_accepts: Vec<(String, u16)>,
    /// Socket.io namespace connections accepted.
    pub sockets: usize,
    /// Engine.IO pongs received.
    pub pongs: usize,
    /// Requests with a runner token the instance does not know.
    pub unknown_tokens: usize,
}

pub struct Instance {
    pub runners: Vec<Runner>,
    pub jobs: Vec<Job>,
    pub faults: Faults,
    pub log: Log,
    pub media: PathBuf,
    /// Other files of a video, by `<video>/<path after the video>` (`V/max-quality/audio`,
    /// `V/previews/max-quality`, `V/studio/task-files/intro.mp4`, or `V/max-quality` to serve
    /// another file than `media` for that video).
    pub files: HashMap<String, PathBuf>,
    /// Files received by the custom upload target: (method, name, saved path).
    pub custom_uploads: Vec<(String, String, PathBuf)>,
    pub results: PathBuf,
    next_id: u64,
}

#[derive(Clone)]
pub struct Pt {
    pub inner: Arc<Mutex<Instance>>,
    notify: broadcast::Sender<()>,
    pub url: String,
}

fn fail(status: u16, code: Option<&str>, message: &str) -> Response {
    let mut body = json!({
        "type": format!("https://docs.joinpeertube.org/api-rest-reference.html#section/Errors/{}", code.unwrap_or("")),
        "title": StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or(""),
        "detail": message,
        "status": status,
        "docs": "https://docs.joinpeertube.org/api-rest-reference.html",
        "error": message,
    });
    if let Some(c) = code {
        body["code"] = json!(c);
    }
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(
            header::CONTENT_TYPE,
            "application/problem+json; charset=utf-8",
        )],
        body.to_string(),
    )
        .into_response()
}

fn unknown_runner() -> Response {
    fail(404, Some("unknown_runner_token"), "Unknown runner token")
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

fn state_json(id: u8) -> Value {
    let label = [
        "",
        "Pending",
        "Processing",
        "Completed",
        "Errored",
        "Waiting for parent job to finish",
        "Cancelled",
        "Parent job failed",
        "Parent job cancelled",
        "Completing",
    ][id as usize];
    json!({"id": id, "label": label})
}

fn job_json(j: &Job) -> Value {
    json!({"uuid": j.uuid, "type": j.kind, "state": state_json(j.state), "payload": j.payload,
        "failures": j.failures, "error": j.error, "progress": j.progress, "priority": 100,
        "startedAt": "2025-01-01T00:00:00.000Z", "createdAt": "2025-01-01T00:00:00.000Z",
        "updatedAt": "2025-01-01T00:00:00.000Z", "finishedAt": null})
}

impl Pt {
    /// Starts the instance on 127.0.0.1, on a thread of its own.
    pub fn start(media: PathBuf, results: PathBuf) -> Pt {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (notify, _) = broadcast::channel(64);
        let pt = Pt {
            inner: Arc::new(Mutex::new(Instance {
                runners: Vec::new(),
                jobs: Vec::new(),
                faults: Faults::default(),
                log: Log::default(),
                media,
                files: HashMap::new(),
                custom_uploads: Vec::new(),
                results,
                next_id: 1,
            })),
            notify,
            url,
        };
        let r = "/api/v1/runners";
        let app = Router::new()
            .route(&format!("{r}/register"), post(register))
            .route(&format!("{r}/unregister"), post(unregister))
            .route(&format!("{r}/jobs/request"), post(request))
            .route(&format!("{r}/jobs/{{uuid}}/accept"), post(accept))
            .route(&format!("{r}/jobs/{{uuid}}/update"), post(update))
            .route(&format!("{r}/jobs/{{uuid}}/success"), post(success))
            .route(&format!("{r}/jobs/{{uuid}}/error"), post(error))
            .route(&format!("{r}/jobs/{{uuid}}/abort"), post(abort))
            .route(
                &format!("{r}/jobs/{{uuid}}/files/videos/{{video}}/max-quality"),
                post(download),
            )
            .route(
                &format!("{r}/jobs/{{uuid}}/files/videos/{{video}}/{{*rest}}"),
                post(download_other),
            )
            .route(
                "/custom-upload/{name}",
                axum::routing::put(custom_upload).post(custom_upload),
            )
            .route("/static/redirected/{video}", get(redirected))
            .route("/socket.io/", get(socket))
            .layer(DefaultBodyLimit::disable())
            .with_state(pt.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app).await
            })
        });
        pt
    }

    /// Adds a pending job and tells the connected runners.
    pub fn add_job(&self, uuid: &str, kind: &str, payload: Value) {
        self.add_jobs(vec![(uuid.to_string(), kind, payload)]);
    }

    /// Adds pending jobs at once (as PeerTube releases a parent's children) and tells the
    /// connected runners once.
    pub fn add_jobs(&self, jobs: Vec<(String, &str, Value)>) {
        let mut i = self.inner.lock().unwrap();
        for (uuid, kind, payload) in jobs {
            i.jobs.push(Job {
                uuid,
                kind: kind.into(),
                payload,
                state: 1,
                job_token: None,
                runner_token: None,
                failures: 0,
                progress: None,
                error: None,
            });
        }
        drop(i);
        let _ = self.notify.send(());
    }

    pub fn job(&self, uuid: &str) -> Job {
        let i = self.inner.lock().unwrap();
        i.jobs.iter().find(|j| j.uuid == uuid).cloned().unwrap()
    }

    /// Input URL of a job, as PeerTube's `runner-urls.ts` builds it.
    pub fn input_url(&self, job: &str, video: &str) -> String {
        format!(
            "{}/api/v1/runners/jobs/{job}/files/videos/{video}/max-quality",
            self.url
        )
    }

    /// An administrator deletes the runner: its token is refused from now on.
    pub fn revoke(&self, name: &str) {
        self.inner
            .lock()
            .unwrap()
            .runners
            .retain(|r| r.name != name);
    }
}

fn runner_of(i: &Instance, token: Option<&str>) -> Option<Runner> {
    i.runners
        .iter()
        .find(|r| Some(r.token.as_str()) == token)
        .cloned()
}

async fn register(State(pt): State<Pt>, Json(body): Json<Value>) -> Response {
    let mut i = pt.inner.lock().unwrap();
    if body["registrationToken"].as_str() != Some(REGISTRATION_TOKEN) {
        return fail(404, None, "Registration token not found");
    }
    let Some(name) = body["name"].as_str().filter(|n| !n.is_empty()) else {
        return fail(400, None, "Incorrect request parameters: name");
    };
    if i.runners.iter().any(|r| r.name == name) {
        return fail(
            400,
            None,
            "This runner name already exists on this instance",
        );
    }
    let id = i.next_id;
    i.next_id += 1;
    let token = format!("ptrt-{}", uuid::Uuid::new_v4());
    i.runners.push(Runner {
        id,
        name: name.into(),
        token: token.clone(),
    });
    Json(json!({"id": id, "runnerToken": token})).into_response()
}

async fn unregister(State(pt): State<Pt>, Json(body): Json<Value>) -> Response {
    let mut i = pt.inner.lock().unwrap();
    if runner_of(&i, body["runnerToken"].as_str()).is_none() {
        i.log.unknown_tokens += 1;
        return unknown_runner();
    }
    i.runners
        .retain(|r| Some(r.token.as_str()) != body["runnerToken"].as_str());
    no_content()
}

async fn request(State(pt): State<Pt>, Json(body): Json<Value>) -> Response {
    let mut i = pt.inner.lock().unwrap();
    if runner_of(&i, body["runnerToken"].as_str()).is_none() {
        i.log.unknown_tokens += 1;
        return unknown_runner();
    }
    let types: Option<Vec<String>> = body["jobTypes"].as_array().map(|a| {
        a.iter()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect()
    });
    let jobs: Vec<Value> = i
        .jobs
        .iter()
        .filter(|j| j.state == 1)
        .filter(|j| types.as_ref().is_none_or(|t| t.contains(&j.kind)))
        .take(10)
        .map(|j| json!({"uuid": j.uuid, "type": j.kind, "payload": j.payload}))
        .collect();
    Json(json!({"availableJobs": jobs})).into_response()
}

async fn accept(
    State(pt): State<Pt>,
    Path(uuid): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let mut guard = pt.inner.lock().unwrap();
    let i = &mut *guard;
    let Some(pos) = i.jobs.iter().position(|j| j.uuid == uuid) else {
        return fail(404, None, "Unknown runner job");
    };
    if i.jobs[pos].state != 1 {
        i.log.refused_accepts.push((uuid, 400));
        return fail(400, None, "This runner job is not in pending state");
    }
    let Some(runner) = runner_of(i, body["runnerToken"].as_str()) else {
        i.log.unknown_tokens += 1;
        return unknown_runner();
    };
    if i.faults.steal.contains(&uuid) {
        // The other runner's transaction committed first.
        i.jobs[pos].state = 2;
        i.log.refused_accepts.push((uuid, 409));
        return fail(
            409,
            Some("runner_job_not_in_pending_state"),
            "This job is not in pending state anymore",
        );
    }
    let job = &mut i.jobs[pos];
    job.state = 2;
    job.job_token = Some(format!("ptrjt-{}", uuid::Uuid::new_v4()));
    job.runner_token = Some(runner.token.clone());
    let mut out = job_json(job);
    out["jobToken"] = json!(job.job_token);
    out["runner"] = json!({"id": runner.id, "name": runner.name, "description": null});
    Json(json!({"job": out})).into_response()
}

/// `jobOfRunnerGetValidatorFactory([PROCESSING])`: both tokens, then the state.
fn job_of_runner(
    i: &mut Instance,
    uuid: &str,
    runner: Option<&str>,
    job: Option<&str>,
) -> Result<usize, Response> {
    let found = i.jobs.iter().position(|j| {
        j.uuid == uuid
            && j.job_token.is_some()
            && j.job_token.as_deref() == job
            && j.runner_token.as_deref() == runner
            && i.runners.iter().any(|r| Some(r.token.as_str()) == runner)
    });
    let Some(pos) = found else {
        return Err(fail(404, None, "Unknown runner job"));
    };
    if i.jobs[pos].state != 2 {
        return Err(fail(
            400,
            Some("runner_job_not_in_processing_state"),
            "Job is not in \"processing\" state",
        ));
    }
    Ok(pos)
}

/// Reads a multipart body as multer does: text fields, and files whose part type is one of
/// PeerTube's video/m3u8/caption/image MIME types (others are refused).
async fn fields(pt: &Pt, uuid: &str, mut mp: Multipart) -> Result<Vec<Field>, Response> {
    const ACCEPTED: [&str; 7] = [
        "video/mp4",
        "video/mp2t",
        "application/vnd.apple.mpegurl",
        "application/x-mpegurl",
        "audio/mpegurl",
        "text/vtt",
        "image/jpeg",
    ];
    let dir = pt.inner.lock().unwrap().results.join(uuid);
    let mut out = Vec::new();
    while let Some(field) = mp
        .next_field()
        .await
        .map_err(|e| fail(400, None, &e.to_string()))?
    {
        let name = field.name().unwrap_or_default().to_string();
        let file_name = field.file_name().map(str::to_string);
        let content_type = field.content_type().map(str::to_string);
        let bytes = field
            .bytes()
            .await
            .map_err(|e| fail(400, None, &e.to_string()))?;
        let value = match &file_name {
            Some(f) => {
                if !ACCEPTED.contains(&content_type.as_deref().unwrap_or("")) {
                    return Err(fail(
                        400,
                        None,
                        &format!("{name}: file type not allowed ({content_type:?})"),
                    ));
                }
                std::fs::create_dir_all(&dir).unwrap();
                let path = dir.join(format!("{}-{f}", name.replace(['[', ']'], "_")));
                std::fs::write(&path, &bytes).unwrap();
                path.display().to_string()
            }
            None => String::from_utf8_lossy(&bytes).into_owned(),
        };
        out.push(Field {
            name,
            file_name,
            content_type,
            value,
        });
    }
    Ok(out)
}

fn text<'a>(fields: &'a [Field], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|f| f.name == name && f.file_name.is_none())
        .map(|f| f.value.as_str())
}

async fn update(State(pt): State<Pt>, Path(uuid): Path<String>, mp: Multipart) -> Response {
    let fields = match fields(&pt, &uuid, mp).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let mut guard = pt.inner.lock().unwrap();
    let i = &mut *guard;
    let chunks = i
        .log
        .live
        .iter()
        .filter(|u| u.job == uuid && u.kind == "add-chunk")
        .count();
    if i.faults
        .end_live_after_chunks
        .get(&uuid)
        .is_some_and(|n| chunks >= *n)
    {
        if let Some(j) = i.jobs.iter_mut().find(|j| j.uuid == uuid) {
            j.state = 6;
        }
    }
    if i.faults.cancel_at_update.remove(&uuid) {
        if let Some(j) = i.jobs.iter_mut().find(|j| j.uuid == uuid) {
            j.state = 6;
            j.job_token = None;
        }
    }
    let pos = match job_of_runner(
        i,
        &uuid,
        text(&fields, "runnerToken"),
        text(&fields, "jobToken"),
    ) {
        Ok(p) => p,
        Err(r) => {
            i.log.refused_updates.push(uuid);
            return r;
        }
    };
    let progress = match text(&fields, "progress") {
        None => None,
        Some(p) => match p.parse::<u8>() {
            Ok(v) if v <= 100 => Some(v),
            _ => return fail(400, None, "Incorrect request parameters: progress"),
        },
    };
    if i.jobs[pos].kind == "live-rtmp-hls-transcoding" {
        if let Err(r) = store_live_update(i, &uuid, &fields) {
            return r;
        }
    } else if fields.iter().any(|f| f.file_name.is_some()) {
        return fail(400, None, "Payload is invalid");
    }
    i.jobs[pos].progress = progress.or(i.jobs[pos].progress);
    i.log.updates.push((uuid, progress));
    no_content()
}

/// `isSafeFilename(name, ext)`: `^[a-z0-9-]+\.<ext>$`.
pub fn safe_name(name: &str, ext: &str) -> bool {
    name.strip_suffix(ext)
        .and_then(|n| n.strip_suffix('.'))
        .is_some_and(|n| {
            !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// A live job's update (`isRunnerJobLiveRTMPHLSUpdatePayloadValid`, then `LiveRTMPHLSTranscodingJobHandler`:
/// the chunk is moved into the output directory first, then the playlists, the master under
/// the instance's own name; `remove-chunk` deletes the chunk).
fn store_live_update(i: &mut Instance, uuid: &str, fields: &[Field]) -> Result<(), Response> {
    let invalid = || fail(400, None, "Payload is invalid");
    let file = |name: &str| {
        fields
            .iter()
            .find(|f| f.name == name && f.file_name.is_some())
    };
    let kind = text(fields, "payload[type]").ok_or_else(invalid)?;
    let chunk = text(fields, "payload[videoChunkFilename]")
        .filter(|c| safe_name(c, "ts"))
        .ok_or_else(invalid)?;
    let playlist_name = text(fields, "payload[resolutionPlaylistFilename]");
    let playlist = file("payload[resolutionPlaylistFile]");
    if playlist.is_some() && !playlist_name.is_some_and(|n| safe_name(n, "m3u8")) {
        return Err(invalid());
    }
    if playlist_name.is_some() && playlist.is_none() {
        return Err(invalid());
    }
    let master = file("payload[masterPlaylistFile]");
    let dir = i.results.join(uuid).join("live");
    std::fs::create_dir_all(&dir).unwrap();
    match kind {
        "add-chunk" => {
            let f = file("payload[videoChunkFile]").ok_or_else(invalid)?;
            if std::fs::metadata(&f.value).map(|m| m.len()).unwrap_or(0) == 0 {
                return Err(invalid());
            }
            std::fs::rename(&f.value, dir.join(chunk)).unwrap();
        }
        "remove-chunk" => {
            let _ = std::fs::remove_file(dir.join(chunk));
        }
        _ => return Err(invalid()),
    }
    let mut listed = Vec::new();
    if let (Some(p), Some(name)) = (playlist, playlist_name) {
        listed = std::fs::read_to_string(&p.value)
            .unwrap()
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect();
        std::fs::rename(&p.value, dir.join(name)).unwrap();
    }
    if let Some(m) = master {
        std::fs::rename(&m.value, dir.join("live-master.m3u8")).unwrap();
    }
    i.log.live.push(LiveUpdate {
        job: uuid.to_string(),
        kind: kind.to_string(),
        chunk: chunk.to_string(),
        playlist: playlist_name.map(str::to_string),
        listed,
        master: master.is_some(),
    });
    Ok(())
}

async fn success(State(pt): State<Pt>, Path(uuid): Path<String>, mp: Multipart) -> Response {
    let fields = match fields(&pt, &uuid, mp).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let mut guard = pt.inner.lock().unwrap();
    let i = &mut *guard;
    let pos = match job_of_runner(
        i,
        &uuid,
        text(&fields, "runnerToken"),
        text(&fields, "jobToken"),
    ) {
        Ok(p) => p,
        Err(r) => return r,
    };
    // `isRunnerJobSuccessPayloadValid`: the files each type must send.
    let want: &[&str] = match i.jobs[pos].kind.as_str() {
        "vod-hls-transcoding" => &["payload[videoFile]", "payload[resolutionPlaylistFile]"],
        "vod-web-video-transcoding"
        | "vod-audio-merge-transcoding"
        | "video-studio-transcoding" => &["payload[videoFile]"],
        "generate-video-storyboard" => &["payload[storyboardFile]"],
        _ => &[],
    };
    // PeerTube develop: an output with a `*CustomUpload` target is not in `success`.
    let output = &i.jobs[pos].payload["output"];
    let custom = |field: &str| {
        let key = match field {
            "payload[videoFile]" => "videoFileCustomUpload",
            "payload[resolutionPlaylistFile]" => "resolutionPlaylistFileCustomUpload",
            "payload[storyboardFile]" => "storyboardFileCustomUpload",
            _ => return false,
        };
        output.get(key).is_some()
    };
    let want: Vec<&str> = want.iter().copied().filter(|w| !custom(w)).collect();
    let files: Vec<&str> = fields
        .iter()
        .filter(|f| f.file_name.is_some())
        .map(|f| f.name.as_str())
        .collect();
    if want.iter().any(|w| !files.contains(w)) || files.len() != want.len() {
        return fail(400, None, "Payload is invalid");
    }
    let job = &mut i.jobs[pos];
    job.state = 3;
    job.progress = Some(100);
    job.job_token = None;
    i.log.successes.insert(uuid, fields);
    no_content()
}

async fn error(
    State(pt): State<Pt>,
    Path(uuid): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let requeued = {
        let mut guard = pt.inner.lock().unwrap();
        let i = &mut *guard;
        let pos = match job_of_runner(
            i,
            &uuid,
            body["runnerToken"].as_str(),
            body["jobToken"].as_str(),
        ) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let Some(message) = body["message"]
            .as_str()
            .filter(|m| !m.is_empty() && m.len() <= 10_000)
        else {
            return fail(400, None, "Incorrect request parameters: message");
        };
        i.log.errors.push((uuid.clone(), message.to_string()));
        let job = &mut i.jobs[pos];
        job.failures += 1;
        job.error = Some(message.to_string());
        job.job_token = None;
        // `RUNNER_JOBS.MAX_FAILURES`: retried until the fifth failure.
        job.state = if job.failures < 5 { 1 } else { 4 };
        job.state == 1
    };
    if requeued {
        let _ = pt.notify.send(());
    }
    no_content()
}

async fn abort(
    State(pt): State<Pt>,
    Path(uuid): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let mut guard = pt.inner.lock().unwrap();
    let i = &mut *guard;
    let pos = match job_of_runner(
        i,
        &uuid,
        body["runnerToken"].as_str(),
        body["jobToken"].as_str(),
    ) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Some(reason) = body["reason"].as_str().filter(|m| !m.is_empty()) else {
        return fail(400, None, "Incorrect request parameters: reason");
    };
    i.log.aborts.push((uuid, reason.to_string()));
    let job = &mut i.jobs[pos];
    job.state = 1;
    job.job_token = None;
    no_content()
}

/// `POST …/files/videos/:video/<rest>`: the other files of a video (audio, preview, studio
/// task files), checked like the max-quality download.
async fn download_other(
    State(pt): State<Pt>,
    Path((uuid, video, rest)): Path<(String, String, String)>,
    Json(body): Json<Value>,
) -> Response {
    let file = {
        let mut guard = pt.inner.lock().unwrap();
        let i = &mut *guard;
        if let Err(r) = job_of_runner(
            i,
            &uuid,
            body["runnerToken"].as_str(),
            body["jobToken"].as_str(),
        ) {
            return r;
        }
        let key = format!("{video}/{rest}");
        i.log
            .downloads
            .push((uuid.clone(), key.clone(), "POST".into()));
        match i.files.get(&key) {
            Some(f) => f.clone(),
            None => return fail(404, None, "Unknown file"),
        }
    };
    let bytes = std::fs::read(file).unwrap();
    ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response()
}

/// The `*CustomUpload` target (an object storage or a server URL in PeerTube develop): one
/// multipart field `file`; answers 204.
async fn custom_upload(
    State(pt): State<Pt>,
    Path(name): Path<String>,
    method: axum::http::Method,
    mut mp: Multipart,
) -> Response {
    let dir = pt.inner.lock().unwrap().results.join("custom");
    std::fs::create_dir_all(&dir).unwrap();
    let mut saved = None;
    while let Ok(Some(field)) = mp.next_field().await {
        if field.name() != Some("file") || field.file_name().is_none() {
            return fail(400, None, "expected one file field named file");
        }
        let bytes = field.bytes().await.unwrap();
        let path = dir.join(&name);
        std::fs::write(&path, &bytes).unwrap();
        saved = Some(path);
    }
    let Some(path) = saved else {
        return fail(400, None, "no file");
    };
    pt.inner
        .lock()
        .unwrap()
        .custom_uploads
        .push((method.to_string(), name, path));
    no_content()
}

async fn download(
    State(pt): State<Pt>,
    Path((uuid, video)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Response {
    let (media, hang) = {
        let mut guard = pt.inner.lock().unwrap();
        let i = &mut *guard;
        if let Err(r) = job_of_runner(
            i,
            &uuid,
            body["runnerToken"].as_str(),
            body["jobToken"].as_str(),
        ) {
            return r;
        }
        i.log
            .downloads
            .push((uuid.clone(), video.clone(), "POST".into()));
        if i.faults.download_500.contains(&video) {
            return fail(500, None, "Internal server error (injected)");
        }
        if i.faults.redirect.contains(&video) {
            return (
                StatusCode::FOUND,
                [(header::LOCATION, format!("/static/redirected/{video}"))],
            )
                .into_response();
        }
        let media = i
            .files
            .get(&format!("{video}/max-quality"))
            .unwrap_or(&i.media)
            .clone();
        (media, i.faults.hang.contains(&video))
    };
    if hang {
        tokio::time::sleep(std::time::Duration::from_secs(600)).await;
    }
    let bytes = std::fs::read(media).unwrap();
    ([(header::CONTENT_TYPE, "video/mp4")], bytes).into_response()
}

async fn redirected(State(pt): State<Pt>, Path(video): Path<String>) -> Response {
    let media = {
        let mut i = pt.inner.lock().unwrap();
        i.log.downloads.push((String::new(), video, "GET".into()));
        i.media.clone()
    };
    let bytes = std::fs::read(media).unwrap();
    ([(header::CONTENT_TYPE, "video/mp4")], bytes).into_response()
}

async fn socket(State(pt): State<Pt>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |s| session(pt, s))
}

/// Engine.IO v4 / Socket.IO v5 over a WebSocket, `/runners` namespace only.
async fn session(pt: Pt, mut ws: WebSocket) {
    // Short ping interval so the runner's pong path is exercised within the test.
    let open = r#"0{"sid":"eio-1","upgrades":[],"pingInterval":2000,"pingTimeout":2000,"maxPayload":1000000}"#;
    if ws.send(Message::Text(open.into())).await.is_err() {
        return;
    }
    let mut events = pt.notify.subscribe();
    let mut ping = tokio::time::interval(std::time::Duration::from_secs(2));
    loop {
        tokio::select! {
            _ = ping.tick() => {
                if ws.send(Message::Text("2".into())).await.is_err() { return; }
            }
            msg = ws.recv() => {
                let Some(Ok(Message::Text(t))) = msg else { return };
                let t = t.to_string();
                if t == "3" {
                    pt.inner.lock().unwrap().log.pongs += 1;
                }
                if let Some(auth) = t.strip_prefix("40/runners,") {
                    let token: Value = serde_json::from_str(auth).unwrap_or_default();
                    let ok = {
                        let mut i = pt.inner.lock().unwrap();
                        let ok = runner_of(&i, token["runnerToken"].as_str()).is_some();
                        if ok { i.log.sockets += 1; }
                        ok
                    };
                    let reply = if ok { r#"40/runners,{"sid":"sio-1"}"# } else { r#"44/runners,{"message":"Invalid runner token."}"# };
                    if ws.send(Message::Text(reply.into())).await.is_err() { return; }
                }
            }
            ev = events.recv() => {
                if ev.is_err() { continue; }
                if ws.send(Message::Text(r#"42/runners,["available-jobs"]"#.into())).await.is_err() { return; }
            }
        }
    }
}
