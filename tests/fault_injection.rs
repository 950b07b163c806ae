//! Fault injection with real processes: two instances, A (origin) and B (follower of A), and a
//! bounded loop that `kill -9`s one of them at a random point of an upload, a transcode, the
//! publication step, a federation delivery (A) or inbox processing (B), restarts it on the same
//! data dir and address, and checks that nothing was lost or half-visible: every video A has is
//! published with every file of its playlists present and matching the segments-sha256 JSON
//! (never published-but-broken), an interrupted resumable upload resumes from the offset the
//! server reports, every job completes, B lists exactly A's videos with their latest names, and
//! nothing is listed twice.
//!
//! `FLEUVE_FAULT_ITERATIONS` (default 5) bounds the loop; `FLEUVE_FAULT_SEED` replays a run (the
//! seed is printed); `FLEUVE_FAULT_KINDS=upload,inbox` limits it to some operations.

mod common;

use common::*;
use rand::{rngs::StdRng, Rng, SeedableRng};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn fed_options(listen: Option<&str>) -> Options {
    let mut o = Options::default();
    for (k, v) in [
        ("FLEUVE_FEDERATION_ALLOW_PRIVATE_ADDRESSES", "true"),
        ("FLEUVE_FEDERATION_RETRY_BASE_SECS", "1"),
        ("FLEUVE_FEDERATION_RETRY_MAX_SECS", "2"),
        ("FLEUVE_TRANSCODE_RESOLUTIONS", "144,240"),
    ] {
        o.env.push((k.to_string(), v.to_string()));
    }
    if let Some(addr) = listen {
        o.args = vec!["--listen".into(), addr.into()];
    }
    o
}

/// A tmpfs mounted on a temp dir (a small disk to fill), unmounted when dropped.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    /// None where mounting is not permitted (not root, no CAP_SYS_ADMIN).
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

/// Where a node's data dir lives.
enum DataDir {
    Temp(tempfile::TempDir),
    Tmpfs(Tmpfs),
}

/// One instance that can be killed and restarted on the same data dir and address.
struct Node {
    // Dropped first: the server stops before its data dir goes.
    server: Option<Server>,
    dir: DataDir,
    name: &'static str,
    addr: String,
    token: String,
    extra: Vec<(String, String)>,
}

impl Node {
    async fn start(name: &'static str) -> Node {
        Node::start_on(name, DataDir::Temp(tempfile::tempdir().unwrap()), &[]).await
    }

    async fn start_on(name: &'static str, dir: DataDir, extra: &[(&str, &str)]) -> Node {
        let extra: Vec<(String, String)> = extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let path = match &dir {
            DataDir::Temp(t) => t.path().to_path_buf(),
            DataDir::Tmpfs(t) => t.0.path().to_path_buf(),
        };
        let mut o = fed_options(None);
        o.env.extend(extra.iter().cloned());
        let server = Server::start_in(&path, o);
        let addr = server.addr.clone();
        let token = login(&server).await.0;
        Node {
            name,
            dir,
            server: Some(server),
            addr,
            token,
            extra,
        }
    }

    /// Whether the server process is still the one started (no crash, no restart).
    fn alive(&mut self) -> bool {
        let child = self.server.as_mut().and_then(|s| s.child.as_mut());
        child.is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    fn s(&self) -> &Server {
        self.server.as_ref().expect("running")
    }

    fn path(&self) -> &Path {
        match &self.dir {
            DataDir::Temp(t) => t.path(),
            DataDir::Tmpfs(t) => t.0.path(),
        }
    }

    /// SIGKILL (what `Child::kill` sends), and wait for it to be gone.
    fn kill(&mut self) {
        let mut server = self.server.take().expect("running");
        let mut child = server.child.take().expect("child");
        let _ = child.kill();
        let _ = child.wait();
        println!("  killed {}", self.name);
    }

    /// Starts again on the same data dir and address; logs in again (a token written just
    /// before the kill may be gone).
    async fn restart(&mut self) {
        assert!(self.server.is_none());
        let mut o = fed_options(Some(&self.addr));
        o.env.extend(self.extra.iter().cloned());
        let server = Server::start_in(self.path(), o);
        self.token = login(&server).await.0;
        self.server = Some(server);
    }
}

/// What the test expects A to hold: its videos (uuid → latest name).
struct World {
    a: Node,
    b: Node,
    rng: StdRng,
    clip: Vec<u8>,
    clip_path: PathBuf,
    videos: BTreeMap<String, String>,
    n: usize,
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// Polls `check` every 100 ms until it returns Some; panics with the logs after `secs`.
async fn eventually<T, F, Fut>(what: &str, w: &World, secs: u64, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!(
                "timed out waiting for {what}; A's log:\n{}\n----- B's log:\n{}",
                tail(&w.a),
                tail(&w.b)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn tail(n: &Node) -> String {
    let log = std::fs::read_to_string(n.path().join("server.log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

async fn metric(s: &Server, series: &str) -> Option<f64> {
    let text = http()
        .get(s.url("/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// The videos `s` lists, local or remote, as (uuid, name); None if it does not answer.
async fn listed(s: &Server, local: bool) -> Option<Vec<(String, String)>> {
    let v: Value = http()
        .get(s.url("/api/v1/videos?count=100"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    Some(
        v["data"]
            .as_array()?
            .iter()
            .filter(|x| x["isLocal"].as_bool() == Some(local))
            .map(|x| {
                (
                    x["uuid"].as_str().unwrap_or("").to_string(),
                    x["name"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect(),
    )
}

/// Writes a raw `PUT` of a chunk on its own connection: the request head and the first `send`
/// bytes of `body` (all of it when `send == body.len()`), then reads the answer's status line
/// unless `send` is short. Run on a thread so the caller can kill the server meanwhile.
fn raw_put(addr: &str, target: &str, token: &str, range: &str, body: &[u8], send: usize) -> String {
    let Ok(mut c) = TcpStream::connect(addr) else {
        return String::new();
    };
    let _ = c.set_read_timeout(Some(Duration::from_secs(30)));
    let head = format!(
        "PUT {target} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/octet-stream\r\nContent-Range: {range}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if c.write_all(head.as_bytes()).is_err() || c.write_all(&body[..send]).is_err() {
        return String::new();
    }
    if send < body.len() {
        // Leave the chunk unfinished until the server dies.
        std::thread::sleep(Duration::from_secs(2));
        return String::new();
    }
    let mut out = String::new();
    let _ = c.read_to_string(&mut out);
    out
}

/// `PUT` of a chunk (or a status query with an empty one) through reqwest.
async fn put_chunk(
    n: &Node,
    url: &str,
    data: &[u8],
    start: u64,
    total: u64,
) -> (u16, String, Value) {
    let range = if data.is_empty() {
        format!("bytes */{total}")
    } else {
        format!("bytes {start}-{}/{total}", start + data.len() as u64 - 1)
    };
    let r = http()
        .put(url)
        .bearer_auth(&n.token)
        .header("Content-Type", "application/octet-stream")
        .header("Content-Range", range)
        .body(data.to_vec())
        .send()
        .await
        .expect("PUT chunk");
    let status = r.status().as_u16();
    let range = r
        .headers()
        .get("range")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, range, r.json().await.unwrap_or(Value::Null))
}

/// Bytes the server holds according to a 308's `Range: bytes=0-N`.
fn have(range: &str) -> u64 {
    range
        .strip_prefix("bytes=0-")
        .and_then(|n| n.parse::<u64>().ok())
        .map_or(0, |n| n + 1)
}

impl World {
    fn next_name(&mut self, what: &str) -> String {
        self.n += 1;
        format!("Fault {} {what}", self.n)
    }

    /// A multipart upload on A; returns the new video's uuid.
    async fn upload(&mut self, what: &str) -> String {
        let name = self.next_name(what);
        let (status, body) =
            upload_multipart(self.a.s(), &self.a.token, &self.clip_path, &name).await;
        assert_eq!(status, 200, "{body}");
        let uuid = body["video"]["uuid"].as_str().unwrap().to_string();
        self.videos.insert(uuid.clone(), name);
        uuid
    }

    /// `PUT /api/v1/videos/{uuid}` on A with a new name (sent, answer not awaited when A is
    /// about to be killed).
    fn rename(&mut self, uuid: &str) -> tokio::task::JoinHandle<u16> {
        let name = self.next_name("renamed");
        self.videos.insert(uuid.to_string(), name.clone());
        let (url, token) = (
            self.a.s().url(&format!("/api/v1/videos/{uuid}")),
            self.a.token.clone(),
        );
        tokio::spawn(async move {
            match http()
                .put(url)
                .bearer_auth(token)
                .json(&json!({ "name": name }))
                .send()
                .await
            {
                Ok(r) => r.status().as_u16(),
                Err(_) => 0,
            }
        })
    }

    /// Kill A at a random point of a resumable upload (or at `mode`: 0 between chunks, 1 in the
    /// middle of one, 2 as the last one becomes a video), then resume it from where A says.
    async fn upload_fault(&mut self, mode: Option<usize>) {
        let total = self.clip.len() as u64;
        let chunk = 16 << 10;
        let name = self.next_name("resumable");
        let r = http()
            .post(self.a.s().url("/api/v1/videos/upload-resumable"))
            .bearer_auth(&self.a.token)
            .header("X-Upload-Content-Length", total.to_string())
            .header("X-Upload-Content-Type", "video/mp4")
            .json(&json!({"name": name, "channelId": 1, "filename": "fault.mp4"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        let location = r.headers()["location"].to_str().unwrap().to_string();
        let url = format!("http:{location}");
        let target = location
            .splitn(4, '/')
            .nth(3)
            .map(|p| format!("/{p}"))
            .unwrap();
        let chunks = self.clip.len().div_ceil(chunk);
        let whole = self.rng.gen_range(0..chunks);
        let mode = mode.unwrap_or_else(|| self.rng.gen_range(0..3));
        let mut at = 0usize;
        // At most this many bytes can be on A after the kill.
        let most;
        for _ in 0..whole {
            let end = (at + chunk).min(self.clip.len());
            let (status, _, _) =
                put_chunk(&self.a, &url, &self.clip[at..end], at as u64, total).await;
            assert_eq!(status, 308);
            at = end;
        }
        let end = (at + chunk).min(self.clip.len());
        let (addr, token) = (self.a.addr.clone(), self.a.token.clone());
        let body = self.clip[at..end].to_vec();
        let range = format!("bytes {at}-{}/{total}", end - 1);
        match mode {
            0 => {
                println!("  upload: kill after {whole} of {chunks} chunks");
                self.a.kill();
                most = at;
            }
            1 => {
                // Kill while a chunk is half sent.
                let send = self.rng.gen_range(0..body.len());
                println!("  upload: kill with chunk {whole} of {chunks} half sent ({send} B)");
                let t = std::thread::spawn(move || {
                    raw_put(&addr, &target, &token, &range, &body, send)
                });
                tokio::time::sleep(Duration::from_millis(self.rng.gen_range(20..200))).await;
                self.a.kill();
                let _ = t.join();
                most = at + send;
            }
            _ => {
                // Send every chunk up to the last, then kill when the file is moved out of the
                // uploads (the upload becomes a video) or at a random point of that request.
                for _ in whole..chunks - 1 {
                    let end = (at + chunk).min(self.clip.len());
                    let (status, _, _) =
                        put_chunk(&self.a, &url, &self.clip[at..end], at as u64, total).await;
                    assert_eq!(status, 308);
                    at = end;
                }
                let body = self.clip[at..].to_vec();
                let range = format!("bytes {at}-{}/{total}", total - 1);
                let sources = self.a.path().join("sources");
                let before = std::fs::read_dir(&sources).map(|d| d.count()).unwrap_or(0);
                let delay = self.rng.gen_range(0..2000u64);
                println!("  upload: kill during the final chunk (when it becomes a video, at most {delay} µs after)");
                let n = body.len();
                let t =
                    std::thread::spawn(move || raw_put(&addr, &target, &token, &range, &body, n));
                let deadline = Instant::now() + Duration::from_secs(20);
                while std::fs::read_dir(&sources).map(|d| d.count()).unwrap_or(0) == before
                    && !t.is_finished()
                    && Instant::now() < deadline
                {
                    std::thread::sleep(Duration::from_micros(200));
                }
                std::thread::sleep(Duration::from_micros(delay));
                self.a.kill();
                let _ = t.join();
                most = self.clip.len();
            }
        }
        self.a.restart().await;
        // Where are we? Then the rest, from there.
        let (status, range, body) = put_chunk(&self.a, &url, &[], 0, total).await;
        let uuid = match status {
            200 => body["video"]["uuid"].as_str().unwrap().to_string(),
            308 => {
                let mut at = have(&range) as usize;
                assert!(
                    at <= most,
                    "A says it has {at} bytes; at most {most} were sent"
                );
                let mut done = None;
                while done.is_none() {
                    let end = (at + chunk).min(self.clip.len());
                    let (status, range, body) =
                        put_chunk(&self.a, &url, &self.clip[at..end], at as u64, total).await;
                    match status {
                        200 => done = Some(body["video"]["uuid"].as_str().unwrap().to_string()),
                        308 => at = have(&range) as usize,
                        _ => panic!("resuming at {at}: {status} {body}\n{}", tail(&self.a)),
                    }
                }
                done.unwrap()
            }
            _ => panic!(
                "the interrupted upload cannot be resumed: {status} {body}; A's log:\n{}",
                tail(&self.a)
            ),
        };
        assert!(
            !self.videos.contains_key(&uuid),
            "the upload answered an existing video"
        );
        self.videos.insert(uuid, name);
    }

    /// Kill A while its worker transcodes (or just after).
    async fn transcode_fault(&mut self) {
        let jobs = self.a.path().join("tmp").join("jobs");
        let uuid = self.upload("transcoded").await;
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::fs::read_dir(&jobs).map(|d| d.count()).unwrap_or(0) == 0 {
            assert!(
                Instant::now() < deadline,
                "the job for {uuid} did not start"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let delay = self.rng.gen_range(0..1500);
        println!("  transcode: kill {delay} ms into the job");
        tokio::time::sleep(Duration::from_millis(delay)).await;
        self.a.kill();
        self.a.restart().await;
    }

    /// Kill A right as it publishes: when the HLS directory lands in `media/` (before or
    /// while the store records it), or a little later.
    async fn publication_fault(&mut self) {
        let uuid = self.upload("published").await;
        let hls = self
            .a
            .path()
            .join("media/streaming-playlists/hls")
            .join(&uuid);
        let delay = self.rng.gen_range(0..5000u64);
        println!("  publication: kill {delay} µs after the HLS directory appears");
        let deadline = Instant::now() + Duration::from_secs(120);
        while !hls.exists() {
            assert!(Instant::now() < deadline, "{uuid} was not published");
            std::thread::sleep(Duration::from_micros(200));
        }
        std::thread::sleep(Duration::from_micros(delay));
        self.a.kill();
        self.a.restart().await;
    }

    /// Kill A while its deliveries to B are queued or in flight: just after a publication or
    /// an update.
    async fn delivery_fault(&mut self) {
        let update = !self.videos.is_empty() && self.rng.gen_bool(0.5);
        let delay = self.rng.gen_range(0..300);
        if update {
            let uuid = self.pick();
            println!("  delivery: kill {delay} ms after an update");
            let put = self.rename(&uuid);
            tokio::time::sleep(Duration::from_millis(delay)).await;
            self.a.kill();
            let status = put.await.unwrap();
            if status != 204 {
                // The update may not have been recorded: the name is either.
                println!("  (the update answered {status})");
                self.videos.insert(uuid, String::new());
            }
        } else {
            let uuid = self.upload("delivered").await;
            println!("  delivery: kill {delay} ms after the publication");
            let (s, t) = (self.a.s(), self.a.token.clone());
            wait_state(s, &t, &uuid, &[1]).await;
            tokio::time::sleep(Duration::from_millis(delay)).await;
            self.a.kill();
        }
        self.a.restart().await;
    }

    /// Kill B right after A delivered an activity to its inbox (stored, maybe not processed).
    async fn inbox_fault(&mut self) {
        let series = "fleuve_federation_inbox_total{result=\"accepted\"}";
        let before = metric(self.b.s(), series).await.unwrap_or(0.0);
        let delay = self.rng.gen_range(0..3000u64);
        let update = !self.videos.is_empty() && self.rng.gen_bool(0.5);
        let uuid = if update {
            let uuid = self.pick();
            let put = self.rename(&uuid);
            assert_eq!(put.await.unwrap(), 204);
            uuid
        } else {
            self.upload("received").await
        };
        println!(
            "  inbox: kill B {delay} µs after it accepts the {} of {uuid}",
            if update { "Update" } else { "Create" }
        );
        let deadline = Instant::now() + Duration::from_secs(120);
        while metric(self.b.s(), series).await.unwrap_or(0.0) <= before {
            assert!(Instant::now() < deadline, "B got nothing from A");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        std::thread::sleep(Duration::from_micros(delay));
        self.b.kill();
        self.b.restart().await;
    }

    fn pick(&mut self) -> String {
        let i = self.rng.gen_range(0..self.videos.len());
        self.videos.keys().nth(i).unwrap().clone()
    }

    /// Everything that must hold once the faults are over.
    async fn check(&mut self) {
        let (a, b) = (self.a.s(), self.b.s());
        // Every job completes: each video ends published.
        for uuid in self.videos.keys() {
            let v = wait_state(a, &self.a.token, uuid, &[1, 7]).await;
            assert_eq!(v["state"]["id"], 1, "{uuid} failed: {v}\n{}", tail(&self.a));
            check_files(&v).await;
        }
        // Names recorded by updates whose answer was lost: A's is the truth.
        for (uuid, name) in self.videos.iter_mut() {
            if name.is_empty() {
                let (_, v) = get_video(a, &self.a.token, uuid).await;
                *name = v["name"].as_str().unwrap().to_string();
            }
        }
        let want: Vec<(String, String)> = self
            .videos
            .iter()
            .map(|(u, n)| (u.clone(), n.clone()))
            .collect();
        // A lists exactly these, once each.
        let mut on_a = listed(a, true).await.expect("A lists its videos");
        on_a.sort();
        assert_eq!(on_a, want, "A's list");
        // A's queues drain, no job failed.
        let w = &*self;
        eventually("A's jobs and deliveries to drain", w, 90, || async {
            let queued = metric(a, "fleuve_transcode_jobs{state=\"queued\"}").await?;
            let running = metric(a, "fleuve_transcode_jobs{state=\"running\"}").await?;
            let deliveries = metric(a, "fleuve_federation_deliveries_queued").await?;
            (queued + running + deliveries == 0.0).then_some(())
        })
        .await;
        assert_eq!(
            metric(a, "fleuve_transcode_jobs{state=\"failed\"}").await,
            Some(0.0)
        );
        // B lists exactly A's videos with their latest names (deliveries resent after a
        // restart, activities stored before B died processed after it came back).
        eventually("B to list exactly A's videos", w, 90, || async {
            let mut on_b = listed(b, false).await?;
            on_b.sort();
            (on_b == want).then_some(())
        })
        .await;
        eventually("B's inbox queue to drain", w, 30, || async {
            (metric(b, "fleuve_federation_inbox_queue").await? == 0.0).then_some(())
        })
        .await;
    }
}

/// A published video's files: the master playlist and each media playlist are served, each
/// fMP4 has its size, and every byte range of the segments-sha256 JSON hashes to its value.
async fn check_files(v: &Value) {
    let c = http();
    let get = |url: String| {
        let c = c.clone();
        async move {
            let r = c.get(&url).send().await.unwrap();
            assert_eq!(r.status().as_u16(), 200, "{url}");
            r.bytes().await.unwrap()
        }
    };
    let playlist = &v["streamingPlaylists"][0];
    let files = playlist["files"].as_array().expect("files");
    assert!(!files.is_empty(), "published without files: {v}");
    let master = get(playlist["playlistUrl"].as_str().unwrap().to_string()).await;
    let master = String::from_utf8_lossy(&master);
    let sha: Value = serde_json::from_slice(
        &get(playlist["segmentsSha256Url"].as_str().unwrap().to_string()).await,
    )
    .expect("segments-sha256 JSON");
    for f in files {
        let media_playlist = f["playlistUrl"].as_str().unwrap();
        assert!(
            master.contains(media_playlist.rsplit('/').next().unwrap()),
            "{media_playlist} not in the master playlist:\n{master}"
        );
        get(media_playlist.to_string()).await;
        let file_url = f["fileUrl"].as_str().unwrap();
        let body = get(file_url.to_string()).await;
        assert_eq!(body.len() as u64, f["size"].as_u64().unwrap(), "{file_url}");
        let name = file_url.rsplit('/').next().unwrap();
        let ranges = sha[name].as_object().expect("hashes of the file");
        assert!(!ranges.is_empty());
        for (range, hash) in ranges {
            let (x, y) = range.split_once('-').unwrap();
            let (x, y): (usize, usize) = (x.parse().unwrap(), y.parse().unwrap());
            assert_eq!(
                hex::encode(Sha256::digest(&body[x..=y])),
                hash.as_str().unwrap(),
                "{name} {range}"
            );
        }
        get(f["torrentUrl"].as_str().unwrap().to_string()).await;
    }
}

fn seed() -> u64 {
    std::env::var("FLEUVE_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
}

impl World {
    /// A and B started, B following A, and the clip every upload sends.
    async fn new(seed: u64) -> World {
        World::with(seed, Node::start("A").await, Node::start("B").await).await
    }

    async fn with(seed: u64, a: Node, b: Node) -> World {
        // B follows A.
        let r = http()
            .post(b.s().url("/api/v1/server/following"))
            .bearer_auth(&b.token)
            .json(&json!({"hosts": [a.addr]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 204);
        let clip_path = clip(a.path(), "fault.mp4", "320x240", 25, 2, true);
        let w = World {
            clip: std::fs::read(&clip_path).unwrap(),
            clip_path,
            a,
            b,
            rng: StdRng::seed_from_u64(seed),
            videos: BTreeMap::new(),
            n: 0,
        };
        let b_ref = w.b.s();
        eventually("B's follow of A to be accepted", &w, 60, || async {
            let f: Value = http()
                .get(b_ref.url("/api/v1/server/following"))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            (f["data"][0]["state"] == "accepted").then_some(())
        })
        .await;
        w
    }
}

/// The operations a kill interrupts (`FLEUVE_FAULT_KINDS` picks some, comma-separated).
const KINDS: [&str; 5] = ["upload", "transcode", "publication", "delivery", "inbox"];

#[test]
fn kill_9_at_random_points_loses_nothing_and_shows_nothing_half_done() {
    let iterations: usize = std::env::var("FLEUVE_FAULT_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let seed = seed();
    let kinds: Vec<usize> = match std::env::var("FLEUVE_FAULT_KINDS") {
        Ok(list) => list
            .split(',')
            .map(|k| {
                KINDS
                    .iter()
                    .position(|x| *x == k.trim())
                    .unwrap_or_else(|| panic!("FLEUVE_FAULT_KINDS: {k:?} is not one of {KINDS:?}"))
            })
            .collect(),
        Err(_) => (0..KINDS.len()).collect(),
    };
    println!("fault injection: {iterations} iterations, FLEUVE_FAULT_SEED={seed}");
    rt().block_on(async {
        let mut w = World::new(seed).await;
        // Each kind once per round, in a random order.
        let mut order: Vec<usize> = Vec::new();
        for i in 0..iterations {
            if order.is_empty() {
                order = kinds.clone();
                for k in (1..order.len()).rev() {
                    order.swap(k, w.rng.gen_range(0..=k));
                }
            }
            let kind = order.pop().unwrap();
            let label = KINDS[kind];
            println!("iteration {}/{iterations}: {label}", i + 1);
            match kind {
                0 => w.upload_fault(None).await,
                1 => w.transcode_fault().await,
                2 => w.publication_fault().await,
                3 => w.delivery_fault().await,
                _ => w.inbox_fault().await,
            }
            w.check().await;
        }
        println!(
            "fault injection: {iterations} iterations passed, {} videos (seed {seed})",
            w.videos.len()
        );
    });
}

/// The window where a finished resumable upload becomes a video: killed there, the upload used to
/// be lost (its file already moved, the session removed at the next start, 404) or to become a
/// video its client never learned of (and would upload again). Now it resumes to one video.
#[test]
fn an_upload_killed_as_it_becomes_a_video_resumes_to_exactly_one_video() {
    let seed = seed();
    println!("FLEUVE_FAULT_SEED={seed}");
    rt().block_on(async {
        let mut w = World::new(seed).await;
        for _ in 0..3 {
            w.upload_fault(Some(2)).await;
            w.check().await;
        }
    });
}

/// Fills the file system holding `dir` to the last byte with `dir/filler`; returns its path.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).expect("filler");
    for size in [1 << 20, 4096, 1] {
        let buf = vec![0u8; size];
        while f.write_all(&buf).is_ok() {}
    }
    let _ = f.sync_all();
    path
}

/// What a full disk must never do: kill the server, or answer anything but its clear errors.
fn allowed(status: u16, want: &[u16], what: &str) {
    assert!(
        want.contains(&status),
        "{what} on a full disk: {status}, expected one of {want:?}"
    );
}

impl World {
    /// Neither server crashed or restarted.
    fn assert_alive(&mut self) {
        assert!(self.a.alive(), "A died on a full disk:\n{}", tail(&self.a));
        assert!(self.b.alive(), "B died on a full disk:\n{}", tail(&self.b));
    }

    /// Waits until `who` takes metadata writes again (its store reopened by itself).
    async fn wait_writable(&self, who: &Node) {
        let s = who.s();
        eventually(
            "the store to reopen after the disk was freed",
            self,
            60,
            || async { (metric(s, "fleuve_store_writable").await? == 1.0).then_some(()) },
        )
        .await;
    }

    /// Disk full during a resumable upload: its chunks, a new upload and a metadata write get
    /// 507/503; once the filler is gone the upload resumes and completes, no restart.
    async fn full_during_upload(&mut self) {
        let total = self.clip.len() as u64;
        let chunk = 16 << 10;
        let name = self.next_name("upload on a full disk");
        let r = http()
            .post(self.a.s().url("/api/v1/videos/upload-resumable"))
            .bearer_auth(&self.a.token)
            .header("X-Upload-Content-Length", total.to_string())
            .header("X-Upload-Content-Type", "video/mp4")
            .json(&json!({"name": name, "channelId": 1, "filename": "full.mp4"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        let url = format!("http:{}", r.headers()["location"].to_str().unwrap());
        let mut at = 0usize;
        while at < self.clip.len() / 2 {
            let end = (at + chunk).min(self.clip.len());
            let (status, _, _) =
                put_chunk(&self.a, &url, &self.clip[at..end], at as u64, total).await;
            assert_eq!(status, 308);
            at = end;
        }
        let filler = fill(self.a.path());
        let end = (at + chunk).min(self.clip.len());
        let (status, _, body) =
            put_chunk(&self.a, &url, &self.clip[at..end], at as u64, total).await;
        allowed(status, &[507], "a chunk");
        assert!(
            body["detail"].as_str().is_some_and(|d| d.contains("disk")),
            "{body}"
        );
        let (status, body) =
            upload_multipart(self.a.s(), &self.a.token, &self.clip_path, "Full").await;
        allowed(status, &[507], "a multipart upload");
        assert!(
            body["detail"].as_str().is_some_and(|d| d.contains("disk")),
            "{body}"
        );
        if let Some(uuid) = self.videos.keys().next().cloned() {
            let name = self.next_name("renamed on a full disk");
            let r = http()
                .put(self.a.s().url(&format!("/api/v1/videos/{uuid}")))
                .bearer_auth(&self.a.token)
                .json(&json!({ "name": name }))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            allowed(status, &[204, 503, 507], "a metadata write");
            if status == 204 {
                // Written before the disk ran out (RocksDB's WAL had room).
                self.videos.insert(uuid, name);
            }
        }
        self.assert_alive();
        std::fs::remove_file(filler).unwrap();
        self.wait_writable(&self.a).await;
        // Resume from where A is.
        let (status, range, _) = put_chunk(&self.a, &url, &[], 0, total).await;
        assert_eq!(status, 308);
        let mut at = have(&range) as usize;
        let uuid = loop {
            let end = (at + chunk).min(self.clip.len());
            let (status, range, body) =
                put_chunk(&self.a, &url, &self.clip[at..end], at as u64, total).await;
            match status {
                200 => break body["video"]["uuid"].as_str().unwrap().to_string(),
                308 => at = have(&range) as usize,
                _ => panic!("resuming at {at} after the disk was freed: {status} {body}"),
            }
        };
        self.videos.insert(uuid, name);
    }

    /// Disk full while `who` works on something (a transcode, a publication, deliveries, an
    /// inbox): held for `hold`, then freed; everything must complete without a restart.
    async fn full_for(&mut self, on_b: bool, hold: Duration) {
        let path = if on_b { self.b.path() } else { self.a.path() }.to_path_buf();
        let filler = fill(&path);
        tokio::time::sleep(hold).await;
        self.assert_alive();
        std::fs::remove_file(filler).unwrap();
        let who = if on_b { &self.b } else { &self.a };
        self.wait_writable(who).await;
    }
}

#[test]
fn a_full_disk_during_each_operation_gets_clear_errors_and_recovers_without_a_restart() {
    let (Some(disk_a), Some(disk_b)) = (Tmpfs::mount("64m"), Tmpfs::mount("64m")) else {
        println!("skipped: mounting a tmpfs is not permitted here (run as root for this test)");
        return;
    };
    let seed = seed();
    println!("FLEUVE_FAULT_SEED={seed}");
    // A small reserve (the tmpfs is small) and a quick store check.
    let env = [
        ("FLEUVE_UPLOAD_MIN_FREE_BYTES", "4194304"),
        ("FLEUVE_ENGINE_STORE_CHECK_SECS", "1"),
    ];
    rt().block_on(async {
        let a = Node::start_on("A", DataDir::Tmpfs(disk_a), &env).await;
        let b = Node::start_on("B", DataDir::Tmpfs(disk_b), &env).await;
        let mut w = World::with(seed, a, b).await;
        let hold = Duration::from_secs(3);

        println!("upload");
        w.full_during_upload().await;
        w.check().await;

        println!("transcode");
        let jobs = w.a.path().join("tmp/jobs");
        w.upload("transcoded on a full disk").await;
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::fs::read_dir(&jobs).map(|d| d.count()).unwrap_or(0) == 0 {
            assert!(Instant::now() < deadline, "no job started");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tokio::time::sleep(Duration::from_millis(w.rng.gen_range(0..800))).await;
        w.full_for(false, hold).await;
        w.check().await;

        println!("publication");
        w.upload("published on a full disk").await;
        // When the worker's master playlist is staged, publication is next.
        let deadline = Instant::now() + Duration::from_secs(120);
        'staged: loop {
            for job in std::fs::read_dir(&jobs).into_iter().flatten().flatten() {
                let hls = job.path().join("out/hls");
                if std::fs::read_dir(&hls)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .any(|f| f.file_name().to_string_lossy().ends_with("master.m3u8"))
                {
                    break 'staged;
                }
            }
            assert!(Instant::now() < deadline, "nothing staged");
            std::thread::sleep(Duration::from_micros(500));
        }
        w.full_for(false, hold).await;
        w.check().await;

        println!("delivery");
        let uuid = w.pick();
        assert_eq!(w.rename(&uuid).await.unwrap(), 204);
        w.full_for(false, hold).await;
        w.check().await;

        println!("inbox");
        let uuid = w.pick();
        let filler = fill(w.b.path());
        assert_eq!(w.rename(&uuid).await.unwrap(), 204);
        // B refuses what it cannot store (A keeps it queued) rather than dropping it.
        let refused = "fleuve_federation_deliveries_total{result=\"failed\"}";
        let before = metric(w.a.s(), refused).await.unwrap_or(0.0);
        let a_ref = w.a.s();
        eventually("A to see B refuse a delivery", &w, 30, || async {
            (metric(a_ref, refused).await? > before).then_some(())
        })
        .await;
        w.assert_alive();
        std::fs::remove_file(filler).unwrap();
        w.wait_writable(&w.b).await;
        w.check().await;
        w.assert_alive();
    });
}
