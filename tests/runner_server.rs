//! Fleuve as the server of PeerTube's remote runners (`transcode.remote_runners.enabled`),
//! driven by a protocol client written here that plays a runner as PeerTube's does: it
//! registers with a token from the admin API, requests and accepts jobs, downloads their input
//! with both tokens, sends progress updates and uploads results made with the ffmpeg CLI (one
//! ffmpeg per job, single-file fragmented MP4 HLS). Also the refusals (wrong, revoked and other
//! runners' tokens, a lost accept race, an oversized result), the failure paths (errors up to
//! the fifth, aborts, the stalled-job watchdog, an administrator's cancel), socket.io
//! `available-jobs`, and the state kept across restarts, a `kill -9` mid-upload included.

mod common;

use common::*;
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A server in remote-runner mode, with the extra variables `env`.
fn remote_server(env: &[(&str, &str)]) -> Server {
    let mut pairs = vec![
        ("FLEUVE_TRANSCODE_REMOTE_RUNNERS_ENABLED", "true"),
        ("FLEUVE_TRANSCODE_RESOLUTIONS", "144"),
    ];
    pairs.extend_from_slice(env);
    Server::start_with(with_env(&pairs))
}

/// Generates a registration token and reads it back.
async fn registration_token(s: &Server, admin: &str) -> (u64, String) {
    let (st, v) = call(
        s,
        reqwest::Method::POST,
        "/api/v1/runners/registration-tokens/generate",
        Some(admin),
        Value::Null,
    )
    .await;
    assert_eq!(st, 204, "{v}");
    let list = get_json_as(
        s,
        "/api/v1/runners/registration-tokens?sort=-createdAt",
        admin,
    )
    .await;
    let t = &list["data"][0];
    (
        t["id"].as_u64().unwrap(),
        t["registrationToken"].as_str().unwrap().to_string(),
    )
}

/// A runner as PeerTube's plays it.
struct Runner {
    token: String,
    id: u64,
}

async fn post_json(s: &Server, path: &str, body: Value) -> (u16, Value) {
    call(s, reqwest::Method::POST, path, None, body).await
}

impl Runner {
    async fn register(s: &Server, registration: &str, name: &str) -> Runner {
        let (st, v) = post_json(
            s,
            "/api/v1/runners/register",
            json!({"registrationToken": registration, "name": name, "version": "test"}),
        )
        .await;
        assert_eq!(st, 200, "{v}");
        assert!(v["runnerToken"].as_str().unwrap().starts_with("ptrt-"));
        Runner {
            token: v["runnerToken"].as_str().unwrap().to_string(),
            id: v["id"].as_u64().unwrap(),
        }
    }

    async fn request(&self, s: &Server) -> (u16, Value) {
        post_json(
            s,
            "/api/v1/runners/jobs/request",
            json!({"runnerToken": self.token}),
        )
        .await
    }

    /// Polls `request` until it offers at least `n` jobs.
    async fn wait_jobs(&self, s: &Server, n: usize) -> Vec<Value> {
        eventually(&format!("{n} available runner jobs"), &[s], || async {
            let (st, v) = self.request(s).await;
            assert_eq!(st, 200, "{v}");
            let jobs = v["availableJobs"].as_array().cloned().unwrap_or_default();
            (jobs.len() >= n).then_some(jobs)
        })
        .await
    }

    async fn accept(&self, s: &Server, uuid: &str) -> (u16, Value) {
        post_json(
            s,
            &format!("/api/v1/runners/jobs/{uuid}/accept"),
            json!({"runnerToken": self.token}),
        )
        .await
    }

    /// Accepts `uuid`; returns the job token.
    async fn take(&self, s: &Server, uuid: &str) -> String {
        let (st, v) = self.accept(s, uuid).await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["job"]["state"]["id"], 2, "{v}");
        v["job"]["jobToken"].as_str().unwrap().to_string()
    }

    fn tokens(&self, job_token: &str) -> Form {
        Form::new()
            .text("runnerToken", self.token.clone())
            .text("jobToken", job_token.to_string())
    }

    async fn update(&self, s: &Server, uuid: &str, job_token: &str, progress: u8) -> (u16, Value) {
        let form = self
            .tokens(job_token)
            .text("progress", progress.to_string());
        multipart(s, &format!("/api/v1/runners/jobs/{uuid}/update"), form).await
    }

    async fn json_call(
        &self,
        s: &Server,
        uuid: &str,
        what: &str,
        jt: &str,
        extra: Value,
    ) -> (u16, Value) {
        let mut body = json!({"runnerToken": self.token, "jobToken": jt});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        post_json(s, &format!("/api/v1/runners/jobs/{uuid}/{what}"), body).await
    }

    async fn error(&self, s: &Server, uuid: &str, jt: &str, message: &str) -> (u16, Value) {
        self.json_call(s, uuid, "error", jt, json!({"message": message}))
            .await
    }

    async fn abort(&self, s: &Server, uuid: &str, jt: &str) -> (u16, Value) {
        self.json_call(s, uuid, "abort", jt, json!({"reason": "Runner stopped"}))
            .await
    }

    /// Downloads a job's input (POST with both tokens) to `to`.
    async fn download(&self, url: &str, jt: &str, to: &Path) -> u16 {
        let r = client()
            .post(url)
            .json(&json!({"runnerToken": self.token, "jobToken": jt}))
            .send()
            .await
            .unwrap();
        let st = r.status().as_u16();
        if st == 200 {
            std::fs::write(to, r.bytes().await.unwrap()).unwrap();
        }
        st
    }

    /// Does the job as PeerTube's runner would and sends its result; returns `success`'s answer.
    async fn work(&self, s: &Server, job: &Value, jt: &str, dir: &Path) -> (u16, Value) {
        let uuid = job["uuid"].as_str().unwrap();
        let payload = &job["payload"];
        let input = dir.join(format!("{uuid}-input"));
        let url = payload["input"]["videoFileUrl"].as_str().unwrap();
        assert!(url.starts_with(&s.base), "{url}");
        assert_eq!(self.download(url, jt, &input).await, 200);
        assert_eq!(self.update(s, uuid, jt, 50).await.0, 204);
        let form = match job["type"].as_str().unwrap() {
            "vod-hls-transcoding" => {
                let (video, playlist) = hls(&input, &payload["output"], dir, uuid);
                self.tokens(jt)
                    .part("payload[videoFile]", file_part(&video))
                    .part("payload[resolutionPlaylistFile]", file_part(&playlist))
            }
            "generate-video-storyboard" => {
                let sheet = storyboard(&input, &payload["sprites"], dir, uuid);
                self.tokens(jt)
                    .part("payload[storyboardFile]", file_part(&sheet))
            }
            other => panic!("unexpected job type {other}"),
        };
        multipart(s, &format!("/api/v1/runners/jobs/{uuid}/success"), form).await
    }
}

fn file_part(path: &Path) -> Part {
    Part::bytes(std::fs::read(path).unwrap())
        .file_name(path.file_name().unwrap().to_string_lossy().to_string())
}

async fn multipart(s: &Server, path: &str, form: Form) -> (u16, Value) {
    let r = client()
        .post(s.url(path))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    (st, r.json().await.unwrap_or(Value::Null))
}

fn ffmpeg(args: &[&str]) {
    let st = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .status()
        .expect("ffmpeg CLI");
    assert!(st.success(), "ffmpeg {args:?}");
}

/// A `vod-hls-transcoding` result as PeerTube's runner makes it.
fn hls(input: &Path, output: &Value, dir: &Path, uuid: &str) -> (PathBuf, PathBuf) {
    let res = output["resolution"].as_u64().unwrap();
    let fps = output["fps"].as_u64().unwrap();
    let video = dir.join(format!("{uuid}-{res}-fragmented.mp4"));
    let playlist = dir.join(format!("{uuid}-{res}.m3u8"));
    ffmpeg(&[
        "-i",
        input.to_str().unwrap(),
        "-vf",
        &format!("scale=-2:{res}"),
        "-r",
        &fps.to_string(),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-f",
        "hls",
        "-hls_time",
        "2",
        "-hls_segment_type",
        "fmp4",
        "-hls_flags",
        "single_file",
        "-hls_playlist_type",
        "vod",
        "-hls_segment_filename",
        video.to_str().unwrap(),
        playlist.to_str().unwrap(),
    ]);
    (video, playlist)
}

/// A `generate-video-storyboard` result: the sprites tiled into one JPEG.
fn storyboard(input: &Path, sprites: &Value, dir: &Path, uuid: &str) -> PathBuf {
    let out = dir.join(format!("{uuid}-storyboard.jpg"));
    let filter = format!(
        "fps=1/{},scale={}:{},tile={}x{}",
        sprites["duration"],
        sprites["size"]["width"],
        sprites["size"]["height"],
        sprites["count"]["width"],
        sprites["count"]["height"]
    );
    ffmpeg(&[
        "-i",
        input.to_str().unwrap(),
        "-vf",
        &filter,
        "-frames:v",
        "1",
        out.to_str().unwrap(),
    ]);
    out
}

async fn upload(s: &Server, token: &str, secs: u32) -> String {
    let src = clip(&s.dir, "source.mp4", "320x240", 25, secs, true);
    let (st, v) = upload_multipart(s, token, &src, "Runner clip").await;
    assert_eq!(st, 200, "{v}");
    v["video"]["uuid"].as_str().unwrap().to_string()
}

async fn jobs_admin(s: &Server, admin: &str, query: &str) -> Value {
    get_json_as(s, &format!("/api/v1/runners/jobs?count=100{query}"), admin).await
}

async fn job_state(s: &Server, admin: &str, uuid: &str) -> Value {
    let all = jobs_admin(s, admin, "").await;
    all["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["uuid"] == uuid)
        .cloned()
        .unwrap_or_else(|| panic!("job {uuid} not listed: {all}"))
}

type Ws = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>;

/// Opens a runner socket.io connection and sends the namespace CONNECT; returns the socket
/// and the server's answer to the CONNECT.
fn socket(s: &Server, runner_token: &str) -> (Ws, String) {
    let url = s
        .url("/socket.io/?EIO=4&transport=websocket")
        .replace("http://", "ws://");
    let (mut ws, _) = tungstenite::connect(url).expect("socket.io upgrade");
    if let tungstenite::stream::MaybeTlsStream::Plain(t) = ws.get_ref() {
        t.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    }
    let open = read_text(&mut ws).expect("open packet");
    assert!(open.starts_with("0{"), "{open}");
    let o: Value = serde_json::from_str(&open[1..]).unwrap();
    assert!(o["sid"].is_string() && o["pingInterval"].is_u64(), "{open}");
    ws.send(tungstenite::Message::text(format!(
        "40/runners,{}",
        json!({"runnerToken": runner_token})
    )))
    .unwrap();
    let answer = read_text(&mut ws).expect("connect answer");
    (ws, answer)
}

fn read_text(ws: &mut Ws) -> Option<String> {
    loop {
        match ws.read() {
            Ok(tungstenite::Message::Text(t)) => {
                if t.as_str() == "2" {
                    ws.send(tungstenite::Message::text("3")).ok()?;
                    continue;
                }
                return Some(t.as_str().to_string());
            }
            Ok(tungstenite::Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

#[test]
fn runners_transcode_an_upload_and_it_is_published() {
    let s = remote_server(&[("FLEUVE_TRANSCODE_REMOTE_RUNNERS_STALLED_VOD_SECS", "3")]);
    let work = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let (admin, _) = login(&s).await;
        let (_, reg) = registration_token(&s, &admin).await;
        let runner = Runner::register(&s, &reg, "runner-a").await;
        // socket.io: connected before the upload, told when its jobs are pending.
        let token = runner.token.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let sock = {
            let (mut ws, answer) = socket(&s, &token);
            assert!(answer.starts_with("40/runners,{\"sid\":"), "{answer}");
            std::thread::spawn(move || {
                let event = read_text(&mut ws);
                let _ = tx.send(event);
            })
        };
        let (st, v) = runner.request(&s).await;
        assert_eq!(
            (st, v["availableJobs"].as_array().unwrap().len()),
            (200, 0),
            "{v}"
        );

        let video = upload(&s, &admin, 4).await;
        let event = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("socket event");
        assert_eq!(event.as_deref(), Some("42/runners,[\"available-jobs\"]"));
        sock.join().unwrap();

        // One HLS job per rung (144p and the source's 240p), all pending at once, and the
        // storyboard.
        let jobs = runner.wait_jobs(&s, 3).await;
        let mut kinds: Vec<(String, u64)> = jobs
            .iter()
            .map(|j| {
                (
                    j["type"].as_str().unwrap().to_string(),
                    j["payload"]["output"]["resolution"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        kinds.sort();
        assert_eq!(
            kinds,
            vec![
                ("generate-video-storyboard".into(), 0),
                ("vod-hls-transcoding".into(), 144),
                ("vod-hls-transcoding".into(), 240)
            ],
            "{jobs:?}"
        );
        for j in &jobs {
            let url = j["payload"]["input"]["videoFileUrl"].as_str().unwrap();
            assert!(
                url.ends_with(&format!("/files/videos/{video}/max-quality")),
                "{url}"
            );
        }
        // The input is the uploaded file, byte for byte.
        let jt = runner.take(&s, jobs[0]["uuid"].as_str().unwrap()).await;
        let got = work.path().join("check-input");
        let url = jobs[0]["payload"]["input"]["videoFileUrl"]
            .as_str()
            .unwrap();
        assert_eq!(runner.download(url, &jt, &got).await, 200);
        assert_eq!(
            std::fs::read(&got).unwrap(),
            std::fs::read(s.dir.join("source.mp4")).unwrap()
        );
        // A second runner takes a job and dies (`kill -9`: no update, no error, no abort).
        let dead = Runner::register(&s, &reg, "runner-dead").await;
        let victim = jobs[1]["uuid"].as_str().unwrap().to_string();
        dead.take(&s, &victim).await;
        for (i, job) in jobs.iter().enumerate() {
            let uuid = job["uuid"].as_str().unwrap();
            if uuid == victim {
                continue;
            }
            let jt = if i == 0 {
                jt.clone()
            } else {
                runner.take(&s, uuid).await
            };
            let (st, v) = runner.work(&s, job, &jt, work.path()).await;
            assert_eq!(st, 204, "{uuid}: {v}\n{}", s.log());
        }
        // The watchdog puts the dead runner's job back in the queue; the live runner does it.
        let again = runner.wait_jobs(&s, 1).await;
        assert_eq!(again[0]["uuid"], victim.as_str());
        let jt = runner.take(&s, &victim).await;
        let (st, v) = runner.work(&s, &again[0], &jt, work.path()).await;
        assert_eq!(st, 204, "{v}\n{}", s.log());
        let listed = jobs_admin(&s, &admin, "&stateOneOf=3").await;
        assert_eq!(listed["total"], 3, "{listed}");
        assert_eq!(listed["data"][0]["runner"]["name"], "runner-a", "{listed}");
        assert!(listed["data"][0]["privatePayload"]["videoUUID"] == video.as_str());

        // Published through the transcoder's own path.
        let v = wait_state(&s, &admin, &video, &[1, 7]).await;
        assert_eq!(v["state"]["id"], 1, "{v}\n{}", s.log());
        let playlist = &v["streamingPlaylists"][0];
        let files = playlist["files"].as_array().unwrap();
        let mut res: Vec<u64> = files
            .iter()
            .map(|f| f["resolution"]["id"].as_u64().unwrap())
            .collect();
        res.sort();
        assert_eq!(res, vec![144, 240], "{v}");
        let master = playlist["playlistUrl"].as_str().unwrap();
        let text = client()
            .get(master)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(text.contains("#EXT-X-STREAM-INF"), "{text}");
        for f in files {
            let url = f["fileUrl"].as_str().unwrap();
            let r = client()
                .get(url)
                .header("Range", "bytes=0-99")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 206, "{url}");
            assert!(f["torrentUrl"].is_string(), "{f}");
            let hash = f["infoHash"].as_str().expect("infoHash");
            assert!(tracker_accepts(&s, hash).await, "{hash}");
        }
        // The storyboard a runner made is the video's.
        let sb = get_json(&s, &format!("/api/v1/videos/{video}/storyboards")).await;
        let board = &sb["storyboards"][0];
        assert!(board["storyboardPath"].is_string(), "{sb}\n{}", s.log());
        let path = board["storyboardPath"].as_str().unwrap();
        assert_eq!(status_of(&s, path).await, 200, "{path}");
        let metrics = metrics_text(&s).await;
        assert!(
            metrics.contains("fleuve_runner_jobs{state=\"completed\"} 3"),
            "{metrics}"
        );
        assert!(metrics.contains("fleuve_runners_registered 2"), "{metrics}");
        let status = get_json_as(&s, "/api/v1/admin/status", &admin).await;
        assert_eq!(status["remoteRunners"]["enabled"], true, "{status}");
        assert_eq!(status["remoteRunners"]["jobs"]["completed"], 3, "{status}");
        // The runners' result files are gone once the video is published.
        let left = walk(&s.dir.join("runners"));
        assert!(left.is_empty(), "{left:?}");
    });
}

#[test]
fn tokens_are_checked_and_a_runner_only_touches_its_own_jobs() {
    let s = remote_server(&[]);
    rt().block_on(async {
        let (admin, _) = login(&s).await;
        let (reg_id, reg) = registration_token(&s, &admin).await;

        // A wrong registration token, a duplicate name.
        let (st, _) = post_json(
            &s,
            "/api/v1/runners/register",
            json!({"registrationToken": "ptrrt-nope", "name": "x"}),
        )
        .await;
        assert_eq!(st, 404);
        let a = Runner::register(&s, &reg, "runner-a").await;
        let (st, v) = post_json(
            &s,
            "/api/v1/runners/register",
            json!({"registrationToken": reg, "name": "runner-a"}),
        )
        .await;
        assert_eq!(st, 400, "{v}");
        let b = Runner::register(&s, &reg, "runner-b").await;

        // A wrong runner token.
        let (st, v) = post_json(
            &s,
            "/api/v1/runners/jobs/request",
            json!({"runnerToken": "ptrt-wrong"}),
        )
        .await;
        assert_eq!(
            (st, v["code"].as_str()),
            (404, Some("unknown_runner_token")),
            "{v}"
        );
        let (_, answer) = socket(&s, "ptrt-wrong");
        assert_eq!(answer, "44/runners,{\"message\":\"Invalid runner token.\"}");

        upload(&s, &admin, 2).await;
        let jobs = a.wait_jobs(&s, 2).await;
        let uuid = jobs[0]["uuid"].as_str().unwrap().to_string();

        // Two runners racing to accept the same job: exactly one wins.
        let (ra, rb) = tokio::join!(a.accept(&s, &uuid), b.accept(&s, &uuid));
        let mut statuses = [ra.0, rb.0];
        statuses.sort();
        assert_eq!(statuses, [200, 409], "{ra:?} {rb:?}");
        let loser = if ra.0 == 409 { &ra.1 } else { &rb.1 };
        assert_eq!(loser["code"], "runner_job_not_in_pending_state", "{loser}");
        let (winner, other, jt) = if ra.0 == 200 {
            (
                &a,
                &b,
                ra.1["job"]["jobToken"].as_str().unwrap().to_string(),
            )
        } else {
            (
                &b,
                &a,
                rb.1["job"]["jobToken"].as_str().unwrap().to_string(),
            )
        };

        // The other runner cannot touch it, even with the job token.
        for (st, v) in [
            other.update(&s, &uuid, &jt, 10).await,
            other.error(&s, &uuid, &jt, "x").await,
            other.abort(&s, &uuid, &jt).await,
        ] {
            assert_eq!(st, 404, "{v}");
        }
        let url = jobs[0]["payload"]["input"]["videoFileUrl"]
            .as_str()
            .unwrap();
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(other.download(url, &jt, &tmp.path().join("x")).await, 404);
        assert_eq!(
            winner
                .download(url, "ptrjt-wrong", &tmp.path().join("x"))
                .await,
            404
        );
        // Another video's uuid in the URL.
        let wrong = url.replace("/videos/", "/videos/0").to_string();
        assert_eq!(
            winner.download(&wrong, &jt, &tmp.path().join("x")).await,
            404
        );
        assert_eq!(winner.update(&s, &uuid, &jt, 10).await.0, 204);
        // A result without the playlist is refused; the job is still processing.
        let form = winner.tokens(&jt).part(
            "payload[videoFile]",
            Part::bytes(vec![0u8; 10]).file_name("v.mp4"),
        );
        let (st, v) = multipart(&s, &format!("/api/v1/runners/jobs/{uuid}/success"), form).await;
        assert_eq!(st, 400, "{v}");
        // A result that is not a video is refused and counts as a failure.
        let form = winner
            .tokens(&jt)
            .part(
                "payload[videoFile]",
                Part::bytes(vec![0u8; 1000]).file_name("v.mp4"),
            )
            .part(
                "payload[resolutionPlaylistFile]",
                Part::bytes(b"#EXTM3U\n".to_vec()).file_name("p.m3u8"),
            );
        let (st, v) = multipart(&s, &format!("/api/v1/runners/jobs/{uuid}/success"), form).await;
        assert_eq!(st, 400, "{v}");
        let j = job_state(&s, &admin, &uuid).await;
        assert_eq!(
            (j["state"]["id"].as_u64(), j["failures"].as_u64()),
            (Some(1), Some(1)),
            "{j}"
        );
        assert!(j["error"].as_str().unwrap().contains("playlist"), "{j}");
        assert!(std::fs::read_dir(s.dir.join("runners/incoming")).map_or(true, |d| d.count() == 0));

        // A job whose input is gone: a clear 404 to the runner, which reports the error; the job
        // goes back to the queue.
        let source = std::path::PathBuf::from(j["privatePayload"]["source"].as_str().unwrap());
        let aside = source.with_extension("aside");
        std::fs::rename(&source, &aside).unwrap();
        let jt = winner.take(&s, &uuid).await;
        let r = client()
            .post(url)
            .json(&json!({"runnerToken": winner.token, "jobToken": jt}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 404);
        let doc: Value = r.json().await.unwrap();
        assert!(doc["detail"].as_str().unwrap().contains("gone"), "{doc}");
        let (st, _) = winner
            .error(&s, &uuid, &jt, "input download failed: 404")
            .await;
        assert_eq!(st, 204);
        let j = job_state(&s, &admin, &uuid).await;
        assert_eq!(
            (j["state"]["id"].as_u64(), j["failures"].as_u64()),
            (Some(1), Some(2)),
            "{j}"
        );
        std::fs::rename(&aside, &source).unwrap();

        // A registration token deleted: its runners are unregistered.
        let (st, _) = call(
            &s,
            reqwest::Method::DELETE,
            &format!("/api/v1/runners/registration-tokens/{reg_id}"),
            Some(&admin),
            Value::Null,
        )
        .await;
        assert_eq!(st, 204);
        let (st, v) = a.request(&s).await;
        assert_eq!(
            (st, v["code"].as_str()),
            (404, Some("unknown_runner_token")),
            "{v}"
        );
        let runners = get_json_as(&s, "/api/v1/runners", &admin).await;
        assert_eq!(runners["total"], 0, "{runners}");
    });
}

#[test]
fn failures_aborts_stalls_oversized_results_and_cancels() {
    let s = remote_server(&[
        ("FLEUVE_TRANSCODE_REMOTE_RUNNERS_STALLED_VOD_SECS", "2"),
        ("FLEUVE_TRANSCODE_REMOTE_RUNNERS_MAX_RESULT_BYTES", "4096"),
        ("FLEUVE_TRANSCODE_MAX_ATTEMPTS", "1"),
    ]);
    rt().block_on(async {
        let (admin, _) = login(&s).await;
        let (_, reg) = registration_token(&s, &admin).await;
        let r = Runner::register(&s, &reg, "runner-a").await;
        let video = upload(&s, &admin, 2).await;
        let jobs = r.wait_jobs(&s, 2).await;
        let uuid = jobs[0]["uuid"].as_str().unwrap().to_string();

        // Abort: back to pending, failures unchanged, a new token on the next accept.
        let jt = r.take(&s, &uuid).await;
        assert_eq!(r.abort(&s, &uuid, &jt).await.0, 204);
        let j = job_state(&s, &admin, &uuid).await;
        assert_eq!(
            (j["state"]["id"].as_u64(), j["failures"].as_u64()),
            (Some(1), Some(0)),
            "{j}"
        );
        let (st, v) = r.update(&s, &uuid, &jt, 1).await;
        assert_eq!(st, 404, "old job token after an abort: {v}");

        // The watchdog: no update for 2 s → pending again.
        let jt = r.take(&s, &uuid).await;
        eventually("the stalled job re-queued", &[&s], || async {
            let j = job_state(&s, &admin, &uuid).await;
            (j["state"]["id"] == 1).then_some(())
        })
        .await;
        let (st, v) = r.update(&s, &uuid, &jt, 1).await;
        assert_eq!(st, 404, "{v}");

        // An oversized result: 413, nothing kept, one failure.
        let jt = r.take(&s, &uuid).await;
        let form = r.tokens(&jt).part(
            "payload[videoFile]",
            Part::bytes(vec![7u8; 10_000]).file_name("v.mp4"),
        );
        let (st, v) = multipart(&s, &format!("/api/v1/runners/jobs/{uuid}/success"), form).await;
        assert_eq!(st, 413, "{v}");
        assert!(v["detail"].as_str().unwrap().contains("4096"), "{v}");
        let j = job_state(&s, &admin, &uuid).await;
        assert_eq!(
            (j["state"]["id"].as_u64(), j["failures"].as_u64()),
            (Some(1), Some(1)),
            "{j}"
        );
        let left: Vec<_> = walk(&s.dir.join("runners"));
        assert!(left.is_empty(), "files left behind: {left:?}");

        // Errors: pending again until the fifth, then errored, and the video failed.
        for n in 2..=5u64 {
            let jt = r.take(&s, &uuid).await;
            let (st, v) = r
                .error(&s, &uuid, &jt, &format!("ffmpeg exploded #{n}"))
                .await;
            assert_eq!(st, 204, "{v}");
            let j = job_state(&s, &admin, &uuid).await;
            let want = if n < 5 { 1 } else { 4 };
            assert_eq!(
                (j["state"]["id"].as_u64(), j["failures"].as_u64()),
                (Some(want), Some(n)),
                "{j}"
            );
        }
        let v = wait_state(&s, &admin, &video, &[7]).await;
        let reason = v["error"]
            .as_str()
            .or(v["state"]["label"].as_str())
            .unwrap_or_default()
            .to_string();
        let log = s.log();
        assert!(log.contains("ffmpeg exploded #5"), "{reason}\n{log}");
        // The other job of the failed attempt was cancelled.
        let other = jobs[1]["uuid"].as_str().unwrap();
        let j = job_state(&s, &admin, other).await;
        assert_eq!(j["state"]["id"], 6, "{j}");

        // An administrator's cancel of a new video's job fails that video.
        let video2 = upload(&s, &admin, 2).await;
        let jobs2 = eventually("the second video's jobs", &[&s], || async {
            let l = jobs_admin(&s, &admin, "&stateOneOf=1").await;
            let mine: Vec<Value> = l["data"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|j| j["privatePayload"]["videoUUID"] == video2.as_str())
                .cloned()
                .collect();
            (mine.len() >= 2).then_some(mine)
        })
        .await;
        let u = jobs2[0]["uuid"].as_str().unwrap();
        let (st, _) = call(
            &s,
            reqwest::Method::POST,
            &format!("/api/v1/runners/jobs/{u}/cancel"),
            Some(&admin),
            Value::Null,
        )
        .await;
        assert_eq!(st, 204);
        wait_state(&s, &admin, &video2, &[7]).await;
        let j = job_state(&s, &admin, u).await;
        assert_eq!(j["state"]["id"], 6, "{j}");
        // Deleting a video cancels its jobs: its runner can no longer read or answer them.
        let video3 = upload(&s, &admin, 2).await;
        let jobs3 = r.wait_jobs(&s, 2).await;
        let j3 = jobs3
            .iter()
            .find(|j| {
                j["payload"]["input"]["videoFileUrl"]
                    .as_str()
                    .unwrap()
                    .contains(&video3)
            })
            .expect("a job of the third video");
        let u3 = j3["uuid"].as_str().unwrap();
        let jt3 = r.take(&s, u3).await;
        let (st, _) = call(
            &s,
            reqwest::Method::DELETE,
            &format!("/api/v1/videos/{video3}"),
            Some(&admin),
            Value::Null,
        )
        .await;
        assert_eq!(st, 204);
        assert_eq!(job_state(&s, &admin, u3).await["state"]["id"], 6);
        let tmp = tempfile::tempdir().unwrap();
        let url = j3["payload"]["input"]["videoFileUrl"].as_str().unwrap();
        assert_eq!(r.download(url, &jt3, &tmp.path().join("x")).await, 404);
        assert_eq!(r.update(&s, u3, &jt3, 5).await.0, 404);

        // Filters of the admin listing.
        let l = jobs_admin(&s, &admin, "&typeOneOf=generate-video-storyboard").await;
        assert!(
            l["data"]
                .as_array()
                .unwrap()
                .iter()
                .all(|j| j["type"] == "generate-video-storyboard"),
            "{l}"
        );
        let (st, _) = call(
            &s,
            reqwest::Method::GET,
            "/api/v1/runners/jobs?stateOneOf=42",
            Some(&admin),
            Value::Null,
        )
        .await;
        assert_eq!(st, 400);
    });
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn state_survives_restarts_and_a_kill_during_an_upload() {
    let tmp = tempfile::tempdir().unwrap();
    // One address for all three starts: the jobs' input URLs are the instance's public URL.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let opts = || {
        let mut o = with_env(&[
            ("FLEUVE_TRANSCODE_REMOTE_RUNNERS_ENABLED", "true"),
            ("FLEUVE_TRANSCODE_RESOLUTIONS", "144"),
        ]);
        o.args = vec!["--listen".into(), addr.clone()];
        o
    };
    let mut s = Server::start_in(tmp.path(), opts());
    let (runner, uuid, jt, pending) = rt().block_on(async {
        let (admin, _) = login(&s).await;
        let (_, reg) = registration_token(&s, &admin).await;
        let r = Runner::register(&s, &reg, "runner-a").await;
        upload(&s, &admin, 2).await;
        let jobs = r.wait_jobs(&s, 2).await;
        let uuid = jobs[0]["uuid"].as_str().unwrap().to_string();
        let jt = r.take(&s, &uuid).await;
        let pending = jobs[1]["uuid"].as_str().unwrap().to_string();
        (r, uuid, jt, pending)
    });
    s.stop();
    let mut s = Server::start_in(tmp.path(), opts());
    rt().block_on(async {
        let (admin, _) = login(&s).await;
        assert_eq!(job_state(&s, &admin, &uuid).await["state"]["id"], 2);
        assert_eq!(job_state(&s, &admin, &pending).await["state"]["id"], 1);
        // The same tokens still work; no duplicate jobs were made for the same video.
        assert_eq!(runner.update(&s, &uuid, &jt, 20).await.0, 204);
        assert_eq!(jobs_admin(&s, &admin, "").await["total"], 2);

        // A result upload cut by `kill -9` of the server: nothing half-written is kept.
        let mut conn = partial_success(&s, &uuid, &runner.token, &jt);
        eventually("the partial upload on disk", &[&s], || async {
            (!walk(&s.dir.join("runners/incoming")).is_empty()).then_some(())
        })
        .await;
        let mut child = s.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        let _ = std::io::Write::flush(&mut conn);
    });
    s = Server::start_in(tmp.path(), opts());
    rt().block_on(async {
        let (admin, _) = login(&s).await;
        assert!(
            walk(&s.dir.join("runners")).is_empty(),
            "{:?}",
            walk(&s.dir.join("runners"))
        );
        let j = job_state(&s, &admin, &uuid).await;
        assert_eq!(
            (j["state"]["id"].as_u64(), j["failures"].as_u64()),
            (Some(2), Some(0)),
            "{j}"
        );
        // The runner sends its result again after the restart: it is taken.
        let work = tempfile::tempdir().unwrap();
        let job = json!({"uuid": uuid, "type": j["type"], "payload": j["payload"]});
        let (st, v) = runner.work(&s, &job, &jt, work.path()).await;
        assert_eq!(st, 204, "{v}\n{}", s.log());
        assert_eq!(job_state(&s, &admin, &uuid).await["state"]["id"], 3);
    });
}

/// Starts a `success` upload over a raw connection and stops halfway through the video file
/// (the connection is kept open).
fn partial_success(
    s: &Server,
    uuid: &str,
    runner_token: &str,
    job_token: &str,
) -> std::net::TcpStream {
    use std::io::Write;
    let boundary = "XxRunnerBoundaryxX";
    let mut head = String::new();
    for (k, v) in [("runnerToken", runner_token), ("jobToken", job_token)] {
        head.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
        ));
    }
    head.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"payload[videoFile]\"; filename=\"v.mp4\"\r\nContent-Type: video/mp4\r\n\r\n"
    ));
    let total = head.len() + (4 << 20);
    let mut conn = std::net::TcpStream::connect(&s.addr).unwrap();
    write!(
        conn,
        "POST /api/v1/runners/jobs/{uuid}/success HTTP/1.1\r\nHost: {}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {total}\r\n\r\n{head}",
        s.addr
    )
    .unwrap();
    conn.write_all(&vec![1u8; 256 << 10]).unwrap();
    conn.flush().unwrap();
    conn
}

#[test]
fn admin_routes_need_manage_runners() {
    let s = Server::start_with(with_env(&[(
        "FLEUVE_TRANSCODE_REMOTE_RUNNERS_MAX_SOCKETS",
        "1",
    )]));
    rt().block_on(async {
        let (admin, _) = login(&s).await;
        let user = create_and_login(&s, &admin, "plain", 2).await;
        for (method, path) in [
            (reqwest::Method::GET, "/api/v1/runners"),
            (reqwest::Method::GET, "/api/v1/runners/jobs"),
            (reqwest::Method::GET, "/api/v1/runners/registration-tokens"),
            (
                reqwest::Method::POST,
                "/api/v1/runners/registration-tokens/generate",
            ),
        ] {
            let (st, _) = call(&s, method.clone(), path, Some(&user), Value::Null).await;
            assert_eq!(st, 403, "{path}");
            let (st, _) = call(&s, method.clone(), path, None, Value::Null).await;
            assert_eq!(st, 401, "{path}");
        }
        // Registration works even when the instance transcodes locally (as in PeerTube).
        let (_, reg) = registration_token(&s, &admin).await;
        let r = Runner::register(&s, &reg, "idle").await;
        let runners = get_json_as(&s, "/api/v1/runners", &admin).await;
        assert_eq!(runners["data"][0]["id"].as_u64(), Some(r.id), "{runners}");
        assert_eq!(runners["data"][0]["name"], "idle", "{runners}");
        assert_eq!(runners["data"][0]["ip"], "127.0.0.1", "{runners}");
        assert_eq!(runners["data"][0]["version"], "test", "{runners}");
        let (st, v) = r.request(&s).await;
        assert_eq!(
            (st, v["availableJobs"].as_array().map(Vec::len)),
            (200, Some(0))
        );
        // socket.io connections are bounded; a closed one frees its slot.
        let (first, answer) = socket(&s, &r.token);
        assert!(answer.starts_with("40/runners,"), "{answer}");
        let url = s
            .url("/socket.io/?EIO=4&transport=websocket")
            .replace("http://", "ws://");
        match tungstenite::connect(url.as_str()) {
            Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status().as_u16(), 503),
            other => panic!("a second socket was let in: {:?}", other.map(|_| ())),
        }
        drop(first);
        eventually("the socket slot freed", &[&s], || async {
            tungstenite::connect(url.as_str()).ok().map(|_| ())
        })
        .await;
        let (st, _) = post_json(
            &s,
            "/api/v1/runners/unregister",
            json!({"runnerToken": r.token}),
        )
        .await;
        assert_eq!(st, 204);
        let (st, _) = r.request(&s).await;
        assert_eq!(st, 404);
    });
}

/// An address that keeps presenting unknown tokens is throttled (429 with `Retry-After`) on
/// every runner call, registration included, until its window ends.
#[test]
fn a_flood_of_unknown_tokens_is_throttled() {
    let s = remote_server(&[]);
    rt().block_on(async {
        for i in 0..30 {
            let (st, v) = post_json(
                &s,
                "/api/v1/runners/jobs/request",
                json!({"runnerToken": format!("ptrt-guess-{i}")}),
            )
            .await;
            assert_eq!(
                (st, v["code"].as_str()),
                (404, Some("unknown_runner_token")),
                "{v}"
            );
        }
        let r = client()
            .post(s.url("/api/v1/runners/register"))
            .json(&json!({"registrationToken": "ptrrt-guess", "name": "n"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 429);
        let wait: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=300).contains(&wait), "{wait}");
        let v: Value = r.json().await.unwrap();
        assert!(
            v["detail"].as_str().unwrap().contains("too many unknown"),
            "{v}"
        );
    });
}

/// Past `max_calls_per_minute`, an address's runner calls get 429 with `Retry-After` naming the
/// key, good tokens or not, until its minute ends.
#[test]
fn runner_calls_past_the_rate_limit_wait() {
    let s = remote_server(&[("FLEUVE_TRANSCODE_REMOTE_RUNNERS_MAX_CALLS_PER_MINUTE", "5")]);
    rt().block_on(async {
        let (admin, _) = login(&s).await;
        let (_, registration) = registration_token(&s, &admin).await;
        let r = Runner::register(&s, &registration, "poller").await;
        // The registration was the first call of this address.
        for _ in 0..4 {
            let (st, v) = r.request(&s).await;
            assert_eq!(st, 200, "{v}");
        }
        let res = client()
            .post(s.url("/api/v1/runners/jobs/request"))
            .json(&json!({"runnerToken": r.token}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 429);
        let wait: u64 = res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&wait), "{wait}");
        let v: Value = res.json().await.unwrap();
        assert!(
            v["detail"]
                .as_str()
                .unwrap()
                .contains("max_calls_per_minute = 5"),
            "{v}"
        );
    });
}
