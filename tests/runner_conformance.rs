//! `fleuve runner` against a PeerTube-shaped runner server (tests/runner_conformance/
//! peertube.rs, written from PeerTube 8's controllers and validators): registration, socket.io
//! notifications, request/accept/update/success with PeerTube's exact bodies, the input
//! downloaded once for every resolution of a video (through a 302 to a GET URL), each output
//! checked with ffprobe; then the faults: a lost accept race, an input download failing, a job
//! cancelled while processed, a revoked token, SIGTERM mid-job. Live jobs: `live.rs`.

#[path = "runner_conformance/limits.rs"]
mod limits;
#[path = "runner_conformance/live.rs"]
mod live;
#[path = "runner_conformance/peertube.rs"]
mod peertube;
#[path = "runner_conformance/split.rs"]
mod split;
#[path = "runner_conformance/studio.rs"]
mod studio;

use peertube::{Pt, REGISTRATION_TOKEN};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary under test; `FLEUVE_TEST_BIN` points at a copy when the target directory is
/// shared with other trees that may rebuild it meanwhile.
fn bin() -> String {
    std::env::var("FLEUVE_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_fleuve").to_string())
}

/// `ffmpeg ARGS… <dir>/<name>` (test media), returning the path.
fn make(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let st = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .arg(&out)
        .status()
        .expect("ffmpeg CLI is required");
    assert!(st.success(), "ffmpeg {name}");
    out
}

/// A small clip with a tone (≤ 360p, ≤ 5 s).
fn clip(dir: &Path) -> PathBuf {
    make(
        dir,
        "source.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=25:duration=3",
            "-f",
            "lavfi",
            "-i",
            "sine=duration=3",
            "-c:a",
            "aac",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ],
    )
}

/// `fleuve runner --state-dir DIR ARGS…`, waited for.
fn runner_cmd(state: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(bin())
        .arg("runner")
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Registers and sets the `[jobs]` section for the test.
fn register(pt: &Pt, state: &Path, name: &str, concurrency: usize) {
    let (ok, text) = runner_cmd(
        state,
        &[
            "register",
            "--url",
            &pt.url,
            "--registration-token",
            REGISTRATION_TOKEN,
            "--name",
            name,
        ],
    );
    assert!(ok, "{text}");
    let path = state.join("config.toml");
    let mut doc: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    let mut jobs = toml::Table::new();
    jobs.insert("concurrency".into(), (concurrency as i64).into());
    // Long polls: jobs are found through socket.io's `available-jobs`.
    jobs.insert("poll_interval_secs".into(), 60.into());
    jobs.insert("update_interval_secs".into(), 1.into());
    doc.insert("jobs".into(), jobs.into());
    std::fs::write(&path, toml::to_string(&doc).unwrap()).unwrap();
}

struct Running {
    child: Child,
    log: PathBuf,
}

impl Running {
    fn start(state: &Path) -> Running {
        let log = state.join("runner.log");
        let child = Command::new(bin())
            .args(["runner", "--state-dir"])
            .arg(state)
            .arg("run")
            .env("FLEUVE_LOG", "info,fleuve=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Running { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn term(&mut self) -> std::process::ExitStatus {
        let st = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        self.wait_exit()
    }

    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "runner did not exit:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn eventually(what: &str, runner: &Running, secs: u64, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; runner log:\n{}",
            runner.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn vod_payload(pt: &Pt, job: &str, video: &str, res: u32, separated: Option<bool>) -> Value {
    let mut output = json!({"resolution": res, "fps": 25});
    if let Some(s) = separated {
        output["separatedAudio"] = json!(s);
    }
    json!({"input": {"videoFileUrl": pt.input_url(job, video), "separatedAudioFileUrl": []},
           "output": output})
}

fn ffprobe(path: &str) -> Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_streams",
            "-show_format",
            "-of",
            "json",
            path,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "ffprobe {path}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Top-level MP4 box types in order.
fn boxes(path: &str) -> Vec<String> {
    let b = std::fs::read(path).unwrap();
    let mut at = 0usize;
    let mut out = Vec::new();
    while at + 8 <= b.len() {
        let size = u32::from_be_bytes(b[at..at + 4].try_into().unwrap()) as usize;
        out.push(String::from_utf8_lossy(&b[at + 4..at + 8]).into_owned());
        if size < 8 {
            break;
        }
        at += size;
    }
    out
}

fn file_field<'a>(fields: &'a [peertube::Field], name: &str) -> &'a peertube::Field {
    fields
        .iter()
        .find(|f| f.name == name && f.file_name.is_some())
        .unwrap_or_else(|| panic!("no file {name} in {fields:?}"))
}

#[test]
fn resolutions_of_one_video_are_downloaded_and_decoded_once() {
    let dir = tempfile::tempdir().unwrap();
    let pt = Pt::start(clip(dir.path()), dir.path().join("results"));
    let state = dir.path().join("runner");

    // Registration, as PeerTube answers it.
    let (ok, text) = runner_cmd(
        &state,
        &[
            "register",
            "--url",
            &pt.url,
            "--registration-token",
            "ptrrt-wrong",
            "--name",
            "gpu-1",
        ],
    );
    assert!(
        !ok && text.contains("404") && text.contains("Registration token not found"),
        "{text}"
    );
    register(&pt, &state, "gpu-1", 5);
    let (ok, text) = runner_cmd(
        &dir.path().join("other"),
        &[
            "register",
            "--url",
            &pt.url,
            "--registration-token",
            REGISTRATION_TOKEN,
            "--name",
            "gpu-1",
        ],
    );
    assert!(
        !ok && text.contains("400") && text.contains("already exists"),
        "{text}"
    );
    let (ok, text) = runner_cmd(&state, &["list"]);
    assert!(
        ok && text.contains(&pt.url) && text.contains("gpu-1"),
        "{text}"
    );
    let token = {
        let i = pt.inner.lock().unwrap();
        i.runners[0].token.clone()
    };
    let saved = std::fs::read_to_string(state.join("config.toml")).unwrap();
    assert!(saved.contains(&token), "{saved}");

    let mut runner = Running::start(&state);
    eventually("the socket.io connection", &runner, 30, || {
        pt.inner.lock().unwrap().log.sockets > 0
    });
    // What PeerTube releases once the top resolution is done: the lower ones and the web
    // videos, together, plus the storyboard.
    let video = "11111111-aaaa-4bbb-8ccc-000000000001";
    pt.inner
        .lock()
        .unwrap()
        .faults
        .redirect
        .insert(video.into());
    let jobs = [
        (
            "a0000000-0000-4000-8000-000000000001",
            "vod-hls-transcoding",
            360,
        ),
        (
            "a0000000-0000-4000-8000-000000000002",
            "vod-hls-transcoding",
            240,
        ),
        (
            "a0000000-0000-4000-8000-000000000003",
            "vod-hls-transcoding",
            144,
        ),
        (
            "a0000000-0000-4000-8000-000000000004",
            "vod-web-video-transcoding",
            240,
        ),
    ];
    let sb = "a0000000-0000-4000-8000-000000000005";
    let mut released: Vec<(String, &str, Value)> = jobs
        .iter()
        .map(|(uuid, kind, res)| {
            let separated = (*kind == "vod-hls-transcoding").then_some(false);
            (
                uuid.to_string(),
                *kind,
                vod_payload(&pt, uuid, video, *res, separated),
            )
        })
        .collect();
    released.push((sb.into(), "generate-video-storyboard", json!({"input": {"videoFileUrl": pt.input_url(sb, video)},
        "sprites": {"size": {"width": 192, "height": 108}, "count": {"width": 2, "height": 2}, "duration": 1}})));
    pt.add_jobs(released);
    let all: Vec<&str> = jobs.iter().map(|j| j.0).chain([sb]).collect();
    eventually("every job completed", &runner, 90, || {
        all.iter().all(|u| pt.job(u).state == 3)
    });

    let log = {
        let i = pt.inner.lock().unwrap();
        (
            i.log.downloads.clone(),
            i.log.successes.clone(),
            i.log.updates.clone(),
            i.log.errors.clone(),
        )
    };
    let (downloads, successes, updates, errors) = log;
    assert!(errors.is_empty(), "{errors:?}");
    // One POST (302) then one GET: the input crossed the network once for five jobs.
    let methods: Vec<&str> = downloads.iter().map(|d| d.2.as_str()).collect();
    assert_eq!(methods, ["POST", "GET"], "{downloads:?}");
    for uuid in &all {
        assert!(
            updates.iter().any(|(u, p)| u == uuid && p.is_some()),
            "no progress update for {uuid}"
        );
    }
    for (uuid, kind, res) in jobs {
        let fields = &successes[uuid];
        assert_eq!(peertube_text(fields, "runnerToken"), Some(token.as_str()));
        assert!(peertube_text(fields, "jobToken").is_some_and(|t| t.starts_with("ptrjt-")));
        let video_file = file_field(fields, "payload[videoFile]");
        assert_eq!(video_file.content_type.as_deref(), Some("video/mp4"));
        assert!(video_file.file_name.as_deref().unwrap().ends_with(".mp4"));
        let probe = ffprobe(&video_file.value);
        let streams = probe["streams"].as_array().unwrap();
        let v = streams.iter().find(|s| s["codec_type"] == "video").unwrap();
        assert_eq!(v["codec_name"], "h264", "{uuid}");
        assert_eq!(v["height"], res, "{uuid}");
        assert!(
            streams
                .iter()
                .any(|s| s["codec_type"] == "audio" && s["codec_name"] == "aac"),
            "{uuid}: no AAC"
        );
        let top = boxes(&video_file.value);
        if kind == "vod-hls-transcoding" {
            assert!(
                top.contains(&"moof".to_string()),
                "{uuid}: not fragmented: {top:?}"
            );
            let playlist = file_field(fields, "payload[resolutionPlaylistFile]");
            assert_eq!(
                playlist.content_type.as_deref(),
                Some("application/vnd.apple.mpegurl")
            );
            let m3u8 = std::fs::read_to_string(&playlist.value).unwrap();
            assert!(
                m3u8.contains("#EXT-X-MAP:URI=") && m3u8.contains("BYTERANGE"),
                "{m3u8}"
            );
            assert!(m3u8.contains("#EXT-X-BYTERANGE:"), "{m3u8}");
            let name = video_file.file_name.as_deref().unwrap();
            let uris: Vec<&str> = m3u8
                .lines()
                .filter(|l| !l.starts_with('#') && !l.is_empty())
                .collect();
            assert!(
                !uris.is_empty() && uris.iter().all(|u| *u == name),
                "single file {name}: {m3u8}"
            );
        } else {
            let moov = top.iter().position(|b| b == "moov").unwrap();
            let mdat = top.iter().position(|b| b == "mdat").unwrap();
            assert!(moov < mdat, "{uuid}: not faststart: {top:?}");
            assert!(fields.iter().filter(|f| f.file_name.is_some()).count() == 1);
        }
    }
    let sheet = file_field(&successes[sb], "payload[storyboardFile]");
    assert_eq!(sheet.content_type.as_deref(), Some("image/jpeg"));
    let probe = ffprobe(&sheet.value);
    assert_eq!(probe["streams"][0]["width"], 384);
    assert_eq!(probe["streams"][0]["height"], 216);
    assert!(runner.log().contains("one download, one decode"));
    assert!(pt.inner.lock().unwrap().log.pongs > 0, "no Engine.IO pong");

    // Nothing running: SIGTERM stops it cleanly.
    let st = runner.term();
    assert!(st.success(), "{st:?}\n{}", runner.log());
}

fn peertube_text<'a>(fields: &'a [peertube::Field], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|f| f.name == name && f.file_name.is_none())
        .map(|f| f.value.as_str())
}

#[test]
fn faults_have_clear_outcomes() {
    let dir = tempfile::tempdir().unwrap();
    let pt = Pt::start(clip(dir.path()), dir.path().join("results"));
    let state = dir.path().join("runner");
    register(&pt, &state, "cpu-1", 2);
    let mut runner = Running::start(&state);
    eventually("the socket.io connection", &runner, 30, || {
        pt.inner.lock().unwrap().log.sockets > 0
    });

    // Two runners race for a job: the other one wins, ours skips it and does the next one.
    let (stolen, web) = (
        "b0000000-0000-4000-8000-000000000001",
        "b0000000-0000-4000-8000-000000000002",
    );
    let v2 = "22222222-aaaa-4bbb-8ccc-000000000002";
    pt.inner.lock().unwrap().faults.steal.insert(stolen.into());
    pt.add_jobs(vec![
        (
            stolen.into(),
            "vod-hls-transcoding",
            vod_payload(&pt, stolen, v2, 240, Some(false)),
        ),
        (
            web.into(),
            "vod-web-video-transcoding",
            vod_payload(&pt, web, v2, 144, None),
        ),
    ]);
    eventually("the web video after the lost race", &runner, 60, || {
        pt.job(web).state == 3
    });
    {
        let i = pt.inner.lock().unwrap();
        assert!(i
            .log
            .refused_accepts
            .iter()
            .any(|(u, s)| u == stolen && *s == 409));
        assert!(!i.log.successes.contains_key(stolen));
    }
    assert!(
        runner.log().contains("taken by another runner"),
        "{}",
        runner.log()
    );

    // The input download fails: the job errors with the status and the URL, and PeerTube
    // retries it until its fifth failure.
    let broken = "b0000000-0000-4000-8000-000000000003";
    let v3 = "33333333-aaaa-4bbb-8ccc-000000000003";
    pt.inner
        .lock()
        .unwrap()
        .faults
        .download_500
        .insert(v3.into());
    pt.add_job(
        broken,
        "vod-hls-transcoding",
        vod_payload(&pt, broken, v3, 144, Some(false)),
    );
    eventually("the broken job errored", &runner, 60, || {
        pt.job(broken).state == 4
    });
    {
        let i = pt.inner.lock().unwrap();
        let messages: Vec<&String> = i
            .log
            .errors
            .iter()
            .filter(|(u, _)| u == broken)
            .map(|(_, m)| m)
            .collect();
        assert_eq!(messages.len(), 5, "{messages:?}");
        let m = messages[0];
        assert!(
            m.contains("HTTP 500") && m.contains(&format!("/files/videos/{v3}/max-quality")),
            "{m}"
        );
    }

    // An administrator cancels a job while it is processed: its update is refused with
    // runner_job_not_in_processing_state, the runner drops it and goes on.
    let (cancelled, next) = (
        "b0000000-0000-4000-8000-000000000004",
        "b0000000-0000-4000-8000-000000000005",
    );
    let v4 = "44444444-aaaa-4bbb-8ccc-000000000004";
    pt.inner
        .lock()
        .unwrap()
        .faults
        .cancel_at_update
        .insert(cancelled.into());
    pt.add_job(
        cancelled,
        "vod-hls-transcoding",
        vod_payload(&pt, cancelled, v4, 144, Some(false)),
    );
    eventually("the refused update", &runner, 60, || {
        pt.inner
            .lock()
            .unwrap()
            .log
            .refused_updates
            .iter()
            .any(|u| u == cancelled)
    });
    let v5 = "55555555-aaaa-4bbb-8ccc-000000000005";
    pt.add_job(
        next,
        "vod-web-video-transcoding",
        vod_payload(&pt, next, v5, 144, None),
    );
    eventually("the job after the cancelled one", &runner, 60, || {
        pt.job(next).state == 3
    });
    assert_eq!(pt.job(cancelled).state, 6);
    {
        let i = pt.inner.lock().unwrap();
        assert!(!i.log.successes.contains_key(cancelled));
        assert!(!i.log.errors.iter().any(|(u, _)| u == cancelled));
    }

    // The runner is deleted on the instance: unknown_runner_token, the runner forgets it and,
    // with no instance left, exits.
    pt.revoke("cpu-1");
    let poke = "b0000000-0000-4000-8000-000000000006";
    pt.add_job(
        poke,
        "vod-hls-transcoding",
        vod_payload(&pt, poke, v5, 144, Some(false)),
    );
    let st = runner.wait_exit();
    assert!(st.success(), "{st:?}");
    let log = runner.log();
    assert!(log.contains("unknown_runner_token"), "{log}");
    let saved = std::fs::read_to_string(state.join("config.toml")).unwrap();
    assert!(!saved.contains(&pt.url), "{saved}");
    let (_, text) = runner_cmd(&state, &["list"]);
    assert!(text.contains("registered on no instance"), "{text}");

    // SIGTERM while a job runs: it is aborted with "Runner stopped" and the runner exits.
    register(&pt, &state, "cpu-2", 2);
    let mut runner = Running::start(&state);
    let slow = "b0000000-0000-4000-8000-000000000007";
    let v6 = "66666666-aaaa-4bbb-8ccc-000000000006";
    pt.inner.lock().unwrap().faults.hang.insert(v6.into());
    pt.add_job(
        slow,
        "vod-hls-transcoding",
        vod_payload(&pt, slow, v6, 144, Some(false)),
    );
    eventually("the slow job started", &runner, 60, || {
        pt.inner
            .lock()
            .unwrap()
            .log
            .downloads
            .iter()
            .any(|d| d.0 == slow)
    });
    let st = runner.term();
    assert!(st.success(), "{st:?}\n{}", runner.log());
    let aborts = pt.inner.lock().unwrap().log.aborts.clone();
    assert!(
        aborts
            .iter()
            .any(|(u, r)| u == slow && r == "Runner stopped"),
        "{aborts:?}"
    );
    // Back in the queue for another runner.
    assert_eq!(pt.job(slow).state, 1);
}
