//! Remote runners end to end, both sides real: a Fleuve server with
//! `transcode.remote_runners.enabled` and `fleuve runner` processes registered on it. An upload
//! is transcoded by the runner (every rung in one batch: one download, one decode), assembled
//! and published by the server, and plays: master playlist, ranges of every rendition checked
//! against segments-sha256, torrents whose info-hashes the tracker accepts, the runner in the
//! admin listing. Then the faults: the runner killed with SIGKILL mid-job (the server's watchdog
//! re-queues its jobs and a new runner process completes them) and the server killed with
//! SIGKILL while the runner works (restarted on the same address, the video is published, nothing
//! half-written before).

mod common;

use common::*;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port free on 127.0.0.1 now (the server is restarted on it: runners keep its URL).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Server options in remote-runner mode on a fixed address.
fn remote_options(port: u16, extra: &[(&str, &str)]) -> Options {
    let mut pairs = vec![
        ("FLEUVE_TRANSCODE_REMOTE_RUNNERS_ENABLED", "true"),
        ("FLEUVE_TRANSCODE_RESOLUTIONS", "144,240"),
    ];
    pairs.extend_from_slice(extra);
    let mut o = with_env(&pairs);
    let addr = format!("127.0.0.1:{port}");
    o.args = vec![
        "--listen".into(),
        addr.clone(),
        "--public-url".into(),
        format!("http://{addr}"),
    ];
    o
}

/// A registration token made by the administrator.
async fn registration_token(s: &Server, admin: &str) -> String {
    let (st, v) = call(
        s,
        reqwest::Method::POST,
        "/api/v1/runners/registration-tokens/generate",
        Some(admin),
        Value::Null,
    )
    .await;
    assert_eq!(st, 204, "{v}");
    let list = get_json_as(s, "/api/v1/runners/registration-tokens", admin).await;
    list["data"][0]["registrationToken"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `fleuve runner …` with its state in `state`.
fn runner_cmd(state: &Path) -> Command {
    let mut c = Command::new(bin());
    c.arg("runner")
        .arg("--state-dir")
        .arg(state)
        .env("FLEUVE_LOG", "info")
        .env_remove("FLEUVE_CONFIG")
        .stdin(Stdio::null());
    c
}

fn register(state: &Path, s: &Server, token: &str, name: &str) {
    let out = runner_cmd(state)
        .args(["register", "--url", &s.base, "--registration-token", token])
        .args(["--name", name])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "register: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A `fleuve runner run` process, killed when dropped (a failed assertion leaves no runner
/// behind holding the binary).
struct RunnerProcess(Child);

impl std::ops::Deref for RunnerProcess {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for RunnerProcess {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for RunnerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `fleuve runner run`, logging to `<state>/runner.log`.
fn run_runner(state: &Path) -> RunnerProcess {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(state.join("runner.log"))
        .unwrap();
    runner_cmd(state)
        .arg("run")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .map(RunnerProcess)
        .unwrap()
}

fn runner_log(state: &Path) -> String {
    std::fs::read_to_string(state.join("runner.log")).unwrap_or_default()
}

async fn jobs(s: &Server, admin: &str) -> Vec<Value> {
    get_json_as(s, "/api/v1/runners/jobs?count=100", admin).await["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Waits for the video to be published (state 1), with both logs on failure.
async fn wait_published(s: &Server, admin: &str, uuid: &str, state: &Path) -> Value {
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let (st, v) = get_video(s, admin, uuid).await;
        if st == 200 && v["state"]["id"] == 1 {
            return v;
        }
        assert!(
            Instant::now() < deadline && v["state"]["id"] != 7,
            "video {uuid}: {}\nserver log:\n{}\nrunner log:\n{}",
            v["state"],
            s.log(),
            runner_log(state)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Checks what a viewer gets: the master playlist lists every rendition, every segment's bytes
/// (by range) hash to segments-sha256's value, every torrent's info-hash is tracked.
async fn check_playable(s: &Server, v: &Value, resolutions: &[u64]) {
    let hls = &v["streamingPlaylists"][0];
    let master_url = hls["playlistUrl"].as_str().unwrap();
    let master = client().get(master_url).send().await.unwrap();
    assert_eq!(master.status(), 200);
    let master = master.text().await.unwrap();
    let sha: Value = client()
        .get(hls["segmentsSha256Url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let files = hls["files"].as_array().unwrap();
    let mut got: Vec<u64> = files
        .iter()
        .map(|f| f["resolution"]["id"].as_u64().unwrap())
        .collect();
    got.sort_unstable();
    assert_eq!(got, resolutions, "{v}");
    for f in files {
        let playlist_url = f["playlistUrl"].as_str().unwrap();
        let name = playlist_url.rsplit('/').next().unwrap();
        assert!(master.contains(name), "{name} not in the master:\n{master}");
        let hashes = sha[name]
            .as_object()
            .unwrap_or_else(|| panic!("{name}: {sha}"));
        assert!(!hashes.is_empty());
        let media = f["fileUrl"].as_str().unwrap();
        for (range, want) in hashes {
            let r = client()
                .get(media)
                .header("Range", format!("bytes={range}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 206, "{media} {range}");
            let body = r.bytes().await.unwrap();
            assert_eq!(
                hex::encode(Sha256::digest(&body)),
                want.as_str().unwrap(),
                "{media} {range}"
            );
        }
        let hash = f["infoHash"].as_str().unwrap_or_default();
        assert_eq!(hash.len(), 40, "{f}");
        assert!(tracker_accepts(s, hash).await, "{hash} not tracked");
        let torrent = client()
            .get(f["torrentUrl"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(torrent.status(), 200);
    }
}

/// `fleuve runner transcode` processes (batches) working under `state`.
fn batches(state: &Path) -> usize {
    let needle = state.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
                .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
                .filter(|c| c.contains("runner transcode") && c.contains(&needle))
                .count()
        })
        .unwrap_or(0)
}

fn stop(child: &mut Child) {
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the runner did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_fleuve_runner_transcodes_an_upload_that_the_server_publishes() {
    let port = free_port();
    let s = Server::start_with(remote_options(port, &[]));
    let state = tempfile::tempdir().unwrap();
    let rt = rt();
    rt.block_on(async {
        let (admin, _) = login(&s).await;
        let token = registration_token(&s, &admin).await;
        register(state.path(), &s, &token, "gpu-box-1");
        let mut runner = run_runner(state.path());

        let src = clip(&s.dir, "src.mp4", "426x240", 25, 4, true);
        let (st, body) = upload_multipart(&s, &admin, &src, "Runner clip").await;
        assert_eq!(st, 200, "{body}");
        let uuid = body["video"]["uuid"].as_str().unwrap().to_string();
        let v = wait_published(&s, &admin, &uuid, state.path()).await;
        check_playable(&s, &v, &[144, 240]).await;

        // The runner is listed, every job completed by it.
        let runners = get_json_as(&s, "/api/v1/runners", &admin).await;
        assert_eq!(runners["total"], 1, "{runners}");
        assert_eq!(runners["data"][0]["name"], "gpu-box-1");
        let all = jobs(&s, &admin).await;
        let hls: Vec<&Value> = all
            .iter()
            .filter(|j| j["type"] == "vod-hls-transcoding")
            .collect();
        assert_eq!(hls.len(), 2, "{all:?}");
        for j in &all {
            assert_eq!(j["state"]["id"], 3, "{j}");
            assert_eq!(j["runner"]["name"], "gpu-box-1", "{j}");
        }
        // Decode once: the rungs were one batch, the input downloaded once.
        let log = runner_log(state.path());
        let downloads = log.matches("inputs downloaded").count();
        assert_eq!(downloads, 1, "{log}");
        stop(&mut runner);
    });
}

#[test]
fn runner_and_server_killed_mid_job_and_the_video_is_still_published() {
    let port = free_port();
    let env = [("FLEUVE_TRANSCODE_REMOTE_RUNNERS_STALLED_VOD_SECS", "3")];
    let tmp = tempfile::tempdir().unwrap();
    let dir: PathBuf = tmp.path().join("server");
    std::fs::create_dir(&dir).unwrap();
    let mut s = Server::start_in(&dir, remote_options(port, &env));
    let state = tempfile::tempdir().unwrap();
    let rt = rt();
    rt.block_on(async {
        let (admin, _) = login(&s).await;
        let token = registration_token(&s, &admin).await;
        register(state.path(), &s, &token, "flaky");
        // A longer clip, so the kill lands while the jobs are processing.
        let src = clip(&s.dir, "src.mp4", "426x240", 25, 12, true);
        let (st, body) = upload_multipart(&s, &admin, &src, "Killed twice").await;
        assert_eq!(st, 200, "{body}");
        let uuid = body["video"]["uuid"].as_str().unwrap().to_string();

        // 1. The runner dies with SIGKILL once it has accepted the jobs.
        let mut runner = run_runner(state.path());
        eventually("jobs processing", &[&s], || async {
            let j = jobs(&s, &admin).await;
            j.iter().any(|j| j["state"]["id"] == 2).then_some(())
        })
        .await;
        eventually("the batch process encoding", &[&s], || async {
            (batches(state.path()) > 0).then_some(())
        })
        .await;
        runner.kill().unwrap();
        runner.wait().unwrap();
        // Its batch process dies with it (no orphan keeps encoding).
        eventually("the batch process gone", &[&s], || async {
            (batches(state.path()) == 0).then_some(())
        })
        .await;
        // The watchdog puts them back in the queue (nothing else will).
        eventually("jobs re-queued by the watchdog", &[&s], || async {
            let j = jobs(&s, &admin).await;
            j.iter()
                .filter(|j| j["type"] == "vod-hls-transcoding")
                .all(|j| j["state"]["id"] == 1)
                .then_some(())
        })
        .await;

        // 2. A new runner process takes them; the server dies with SIGKILL while it works.
        let mut runner = run_runner(state.path());
        eventually("jobs processing again", &[&s], || async {
            let j = jobs(&s, &admin).await;
            j.iter().any(|j| j["state"]["id"] == 2).then_some(())
        })
        .await;
        let child = s.child.as_mut().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        s.child = None;
        // Nothing of the video was published while it was down.
        assert!(
            !dir.join("media/streaming-playlists/hls")
                .join(&uuid)
                .exists(),
            "published before its jobs completed"
        );
        let s2 = Server::start_in(&dir, remote_options(port, &env));
        let v = wait_published(&s2, &admin, &uuid, state.path()).await;
        check_playable(&s2, &v, &[144, 240]).await;
        stop(&mut runner);
        drop(s2);
    });
}
