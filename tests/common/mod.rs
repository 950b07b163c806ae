//! Test harness: starts the real `fleuve` binary on an ephemeral port with a temp data dir and
//! stops it (SIGTERM, then SIGKILL) when dropped.

#![allow(dead_code)]

pub mod browser;
pub mod garage;
pub mod vm;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ROOT_PASSWORD: &str = "test-root-password";

pub struct Server {
    pub child: Option<Child>,
    pub addr: String,
    pub base: String,
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

pub struct Options {
    pub env: Vec<(String, String)>,
    pub args: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            env: vec![("FLEUVE_ENGINE_SHARDS".into(), "2".into())],
            args: vec![],
        }
    }
}

/// The binary under test: `FLEUVE_TEST_BIN` points at a copy when the target directory is
/// shared with other checkouts that may rebuild `target/release/fleuve` meanwhile.
pub fn bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        std::env::var("FLEUVE_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_fleuve").into())
    })
}

pub fn spawn_in(dir: &Path, opts: &Options) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))
        .expect("log file");
    let mut cmd = Command::new(bin());
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(dir)
        .args(if opts.args.iter().any(|a| a == "--listen") {
            vec![]
        } else {
            vec!["--listen", "127.0.0.1:0"]
        })
        .args(&opts.args)
        .env("FLEUVE_ROOT_PASSWORD", ROOT_PASSWORD)
        .env("FLEUVE_MEDIA_REVALIDATE_MS", "0")
        // Parallel tests must not share the default UDP tracker port.
        .env("FLEUVE_TRACKER_UDP_LISTEN", "127.0.0.1:0")
        .env_remove("FLEUVE_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    for (k, v) in &opts.env {
        cmd.env(k, v);
    }
    cmd.current_dir(dir);
    cmd.spawn().expect("spawn fleuve")
}

/// Polls for `<dir>/fleuve.addr` (written once every shard accepts), with a deadline.
pub fn wait_ready(dir: &Path, child: &mut Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(s) = std::fs::read_to_string(dir.join("fleuve.addr")) {
            if let Some(line) = s.lines().next() {
                return line.to_string();
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "server exited early ({status}); log:\n{}",
                std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "server did not become ready");
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Server {
    pub fn start() -> Server {
        Server::start_with(Options::default())
    }

    pub fn start_with(opts: Options) -> Server {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let mut s = Server::start_in(&dir, opts);
        s._tmp = Some(tmp);
        s
    }

    pub fn start_in(dir: &Path, opts: Options) -> Server {
        // A server killed with SIGKILL leaves its address file behind.
        let _ = std::fs::remove_file(dir.join("fleuve.addr"));
        let mut child = spawn_in(dir, &opts);
        let addr = wait_ready(dir, &mut child);
        Server {
            child: Some(child),
            base: format!("http://{addr}"),
            addr,
            dir: dir.to_path_buf(),
            _tmp: None,
        }
    }

    /// A server started by the caller (another binary, another user) in `dir`, once ready.
    pub fn attach(mut child: Child, dir: &Path) -> Server {
        let addr = wait_ready(dir, &mut child);
        Server {
            child: Some(child),
            base: format!("http://{addr}"),
            addr,
            dir: dir.to_path_buf(),
            _tmp: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The UDP tracker's address (third line of `fleuve.addr`).
    pub fn udp_addr(&self) -> String {
        std::fs::read_to_string(self.dir.join("fleuve.addr"))
            .ok()
            .and_then(|s| s.lines().nth(2).map(str::to_string))
            .filter(|l| !l.is_empty())
            .expect("the UDP tracker is on")
    }

    pub fn media(&self) -> PathBuf {
        self.dir.join("media")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                return st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return child.wait().expect("wait");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
    }
}

/// The server's `/metrics` text (asked from loopback, so no token is needed).
pub async fn metrics_text(s: &Server) -> String {
    client()
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        // Servers under test over TLS have self-signed certificates.
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// The local OAuth client's id and secret.
pub async fn oauth_client(s: &Server) -> (String, String) {
    let oc: serde_json::Value = client()
        .get(s.url("/api/v1/oauth-clients/local"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        oc["client_id"].as_str().unwrap().to_string(),
        oc["client_secret"].as_str().unwrap().to_string(),
    )
}

/// `POST /api/v1/users/token` with the given client and grant fields.
pub async fn token_request(
    s: &Server,
    (id, secret): &(String, String),
    grant: &[(&str, &str)],
) -> reqwest::Response {
    let mut form: Vec<(&str, &str)> = vec![("client_id", id), ("client_secret", secret)];
    form.extend_from_slice(grant);
    client()
        .post(s.url("/api/v1/users/token"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// Status of `GET /api/v1/users/me` with `token`.
pub async fn me_status(s: &Server, token: &str) -> u16 {
    client()
        .get(s.url("/api/v1/users/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Logs in as root and returns the access and refresh tokens.
pub async fn login(s: &Server) -> (String, String) {
    let oc = oauth_client(s).await;
    let tok: serde_json::Value = token_request(
        s,
        &oc,
        &[
            ("grant_type", "password"),
            ("username", "root"),
            ("password", ROOT_PASSWORD),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    (
        tok["access_token"]
            .as_str()
            .expect("access_token")
            .to_string(),
        tok["refresh_token"]
            .as_str()
            .expect("refresh_token")
            .to_string(),
    )
}

/// Deterministic test bytes.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

/// Generates a `testsrc2` H.264 clip (with a sine tone when `audio`) with Debian's ffmpeg CLI.
pub fn clip(dir: &Path, name: &str, size: &str, rate: u32, secs: u32, audio: bool) -> PathBuf {
    let out = dir.join(name);
    let mut cmd = Command::new("ffmpeg");
    cmd.args([
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
    ])
    .arg(format!("testsrc2=size={size}:rate={rate}:duration={secs}"));
    if audio {
        cmd.args(["-f", "lavfi", "-i"])
            .arg(format!("sine=duration={secs}"))
            .args(["-c:a", "aac"]);
    }
    let st = cmd
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(&out)
        .status()
        .expect("ffmpeg CLI is required (apt-get install ffmpeg)");
    assert!(st.success(), "ffmpeg failed to generate {name}");
    out
}

/// A multipart upload into root's channel (1); returns the status and JSON body.
pub async fn upload_multipart(s: &Server, token: &str, path: &Path, name: &str) -> (u16, Value) {
    upload_multipart_to(s, token, path, name, 1).await
}

pub async fn get_video(s: &Server, token: &str, key: &str) -> (u16, Value) {
    let r = client()
        .get(s.url(&format!("/api/v1/videos/{key}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Polls the video until its state id is one of `want` (deadline 180 s).
pub async fn wait_state(s: &Server, token: &str, uuid: &str, want: &[u64]) -> Value {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let (status, v) = get_video(s, token, uuid).await;
        assert_eq!(status, 200, "{v}");
        if want.contains(&v["state"]["id"].as_u64().unwrap_or(0)) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "video {uuid} stuck in {}; log:\n{}",
            v["state"],
            s.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Uploads a generated clip and waits until it is published; returns the video JSON.
pub async fn publish_clip(s: &Server, token: &str, size: &str, secs: u32) -> Value {
    let src = clip(&s.dir, "published.mp4", size, 25, secs, true);
    let (status, body) = upload_multipart(s, token, &src, "Published clip").await;
    assert_eq!(status, 200, "{body}");
    let uuid = body["video"]["uuid"].as_str().unwrap().to_string();
    let v = wait_state(s, token, &uuid, &[1, 7]).await;
    assert_eq!(v["state"]["id"], 1, "{v}\n{}", s.log());
    v
}

/// A runtime for the synchronous tests that drive async clients.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// `GET path` on `s`, as JSON.
pub async fn get_json(s: &Server, path: &str) -> Value {
    client()
        .get(s.url(path))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// `GET path` on `s` as an ActivityPub client asks for it (`Accept: application/activity+json`).
pub async fn get_ap_json(s: &Server, path: &str) -> Value {
    client()
        .get(s.url(path))
        .header("accept", "application/activity+json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// `GET path` on `s` with a bearer `token`, as JSON.
pub async fn get_json_as(s: &Server, path: &str, token: &str) -> Value {
    client()
        .get(s.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The status of `GET path` on `s`.
pub async fn status_of(s: &Server, path: &str) -> u16 {
    client()
        .get(s.url(path))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Whether `s`'s HTTP tracker answers an announce of `info_hash` (hex) with an interval, that
/// is, the hash is on its allowlist.
pub async fn tracker_accepts(s: &Server, info_hash: &str) -> bool {
    let pct: String = hex::decode(info_hash)
        .unwrap()
        .iter()
        .map(|b| format!("%{b:02x}"))
        .collect();
    let body = client()
        .get(s.url(&format!(
            "/tracker/announce?info_hash={pct}&peer_id=-XX0001-abcdefghijkl&port=6881"
        )))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    fleuve::bencode::Value::decode(&body)
        .map(|r| r.get("interval").is_some())
        .unwrap_or(false)
}

/// A `POST /inbox` to `s` of `body`, HTTP-signed with `key` as `key_id`, dated `date`.
pub fn signed_inbox_post(
    s: &Server,
    body: &[u8],
    key_id: &str,
    key: &rsa::RsaPrivateKey,
    date: std::time::SystemTime,
) -> reqwest::RequestBuilder {
    use fleuve::federation::signature::{sign_request, RequestHead};
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::HOST, s.addr.parse().unwrap());
    let head = RequestHead {
        method: &http::Method::POST,
        target: "/inbox",
        headers: &headers,
    };
    let signed = sign_request(&head, Some(body), key_id, key, date).unwrap();
    let mut rb = client()
        .post(s.url("/inbox"))
        .header("content-type", "application/activity+json")
        .body(body.to_vec());
    for (k, v) in signed.iter() {
        rb = rb.header(k.as_str(), v.to_str().unwrap());
    }
    rb
}

/// Options of an instance that federates with others on loopback: private addresses allowed,
/// quick delivery retries, one small rendition; `extra` variables added.
pub fn fed_options(extra: &[(&str, &str)]) -> Options {
    let mut o = Options::default();
    for (k, v) in [
        ("FLEUVE_FEDERATION_ALLOW_PRIVATE_ADDRESSES", "true"),
        ("FLEUVE_FEDERATION_RETRY_BASE_SECS", "1"),
        ("FLEUVE_FEDERATION_RETRY_MAX_SECS", "2"),
        ("FLEUVE_TRANSCODE_RESOLUTIONS", "240"),
    ]
    .iter()
    .chain(extra.iter())
    {
        o.env.push((k.to_string(), v.to_string()));
    }
    o
}

/// Polls `check` every 200 ms until it returns Some (deadline 90 s); on timeout, fails with
/// the logs of `logs`.
pub async fn eventually<T, F, Fut>(what: &str, logs: &[&Server], mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = logs.iter().map(|s| s.log()).collect();
            panic!(
                "timed out waiting for {what}; logs:\n{}",
                logs.join("\n-----\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The default options plus these environment variables.
pub fn with_env(pairs: &[(&str, &str)]) -> Options {
    let mut o = Options::default();
    for (k, v) in pairs {
        o.env.push((k.to_string(), v.to_string()));
    }
    o
}

/// A JSON request with an optional bearer token; the status and the JSON answer (`Null` when
/// the body is not JSON).
pub async fn call(
    s: &Server,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let mut r = client().request(method, s.url(path)).json(&body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The token request's status and body for a password login.
pub async fn try_login(s: &Server, username: &str, password: &str) -> (u16, Value) {
    let oc = oauth_client(s).await;
    let r = token_request(
        s,
        &oc,
        &[
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
        ],
    )
    .await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Logs in as `username` and returns the access token (panics on failure).
pub async fn login_as(s: &Server, username: &str, password: &str) -> String {
    let (status, tok) = try_login(s, username, password).await;
    assert_eq!(status, 200, "login as {username}: {tok}");
    tok["access_token"].as_str().unwrap().to_string()
}

/// Creates `name` with `role` (0 administrator, 1 moderator, 2 user) and the password
/// `{name}-password` as `root`, and logs in as them; returns the access token.
pub async fn create_and_login(s: &Server, root: &str, name: &str, role: u8) -> String {
    let password = format!("{name}-password");
    let (status, doc) = call(
        s,
        reqwest::Method::POST,
        "/api/v1/users",
        Some(root),
        serde_json::json!({"username": name, "password": password,
               "email": format!("{name}@example.test"), "role": role}),
    )
    .await;
    assert_eq!(status, 200, "{doc}");
    login_as(s, name, &password).await
}

/// A multipart upload into channel `channel_id`; the status and JSON body.
pub async fn upload_multipart_to(
    s: &Server,
    token: &str,
    path: &Path,
    name: &str,
    channel_id: u64,
) -> (u16, Value) {
    let bytes = std::fs::read(path).unwrap();
    let file_name = path.file_name().unwrap().to_string_lossy().into_owned();
    let form = reqwest::multipart::Form::new()
        .text("name", name.to_string())
        .text("channelId", channel_id.to_string())
        .part(
            "videofile",
            reqwest::multipart::Part::bytes(bytes).file_name(file_name),
        );
    let r = client()
        .post(s.url("/api/v1/videos/upload"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A self-signed ECDSA P-256 end-entity certificate for localhost and 127.0.0.1 (TLS and QUIC
/// tests); returns (cert, key, the base64
/// SHA-256 of its public key for Chromium's `--ignore-certificate-errors-spki-list`).
pub fn self_signed_cert(dir: &Path) -> (PathBuf, PathBuf, String) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let ok = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is required (apt-get install openssl)");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let spki = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl x509 -in {} -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64",
            cert.display()
        ))
        .output()
        .unwrap();
    assert!(spki.status.success());
    (
        cert,
        key,
        String::from_utf8(spki.stdout).unwrap().trim().to_string(),
    )
}
