//! Federation load, end to end on loopback with the real server:
//!
//! 1. **Inbox**: N signed activities (distinct ids, one remote actor whose document a small
//!    local server hands out) are POSTed to `/inbox` of a one-shard `fleuve serve` by 32
//!    concurrent keep-alive clients. Every one is verified (Date, Digest, RSA-2048 signature)
//!    and stored before its 204. Reports activities/s and the server's CPU per activity.
//! 2. **Delivery**: the server gets 10,000 followers (rows written into its store before it
//!    starts) whose inboxes are spread over 100 local sink ports; a video is published and its
//!    `Create` must reach every inbox, then an `Update` (timed from the API call). The sinks
//!    count POSTs and verify the HTTP signature of one in 100 with the sender's public key.
//!
//! `cargo bench --bench federation_load -- [inbox_n] [followers]` (defaults 5000 and 10000).

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_fleuve")
}

struct Server {
    child: Child,
    base: String,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// The child is waited for by `Server`'s Drop (or killed with the bench on a panic).
#[allow(clippy::zombie_processes)]
fn start(dir: &Path, env: &[(&str, &str)]) -> Server {
    let log = std::fs::File::create(dir.join("server.log")).unwrap();
    let mut cmd = Command::new(bin());
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("FLEUVE_ROOT_PASSWORD", "bench-root-password")
        .env("FLEUVE_TRACKER_UDP_LISTEN", "")
        .env("FLEUVE_FEDERATION_ALLOW_PRIVATE_ADDRESSES", "true")
        .env("FLEUVE_FEDERATION_INBOX_RATE_PER_HOST_PER_MIN", "0")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(s) = std::fs::read_to_string(dir.join("fleuve.addr")) {
            if let Some(addr) = s.lines().next() {
                return Server {
                    child,
                    base: format!("http://{addr}"),
                    addr: addr.to_string(),
                };
            }
        }
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// utime + stime of a process, in seconds.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = stat.rsplit_once(')').unwrap().1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// A tiny HTTP/1.1 server: `handler(method, path, headers, body) -> (status, body)`.
fn serve<F>(listener: TcpListener, handler: Arc<F>)
where
    F: Fn(&str, &str, &[(String, String)], &[u8]) -> (u16, Vec<u8>) + Send + Sync + 'static,
{
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let handler = handler.clone();
            std::thread::spawn(move || {
                let _ = conn.set_nodelay(true);
                let mut w = conn.try_clone().unwrap();
                let mut r = BufReader::new(conn);
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut parts = line.split_whitespace();
                    let method = parts.next().unwrap_or_default().to_string();
                    let path = parts.next().unwrap_or_default().to_string();
                    let mut headers = Vec::new();
                    let mut len = 0usize;
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).unwrap_or(0) == 0 {
                            return;
                        }
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':') {
                            let k = k.trim().to_ascii_lowercase();
                            if k == "content-length" {
                                len = v.trim().parse().unwrap_or(0);
                            }
                            headers.push((k, v.trim().to_string()));
                        }
                    }
                    let mut body = vec![0; len];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    let (status, out) = handler(&method, &path, &headers, &body);
                    let head = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/activity+json\r\ncontent-length: {}\r\n\r\n",
                        out.len()
                    );
                    if w.write_all(head.as_bytes()).is_err() || w.write_all(&out).is_err() {
                        return;
                    }
                }
            });
        }
    });
}

/// A signed request: body and the headers to add.
type Signed = (Vec<u8>, Vec<(String, String)>);

fn inbox_load(n: usize) {
    use fleuve::federation::signature::{sign_request, RequestHead};
    let tmp = tempfile::tempdir().unwrap();
    // The remote actor.
    let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    let pem = fleuve::federation::keys::public_key_pem(&rsa::RsaPublicKey::from(&key)).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let remote = format!("http://{}", listener.local_addr().unwrap());
    let actor_id = format!("{remote}/accounts/sender");
    let doc = json!({
        "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
        "id": actor_id, "type": "Person", "preferredUsername": "sender",
        "inbox": format!("{actor_id}/inbox"), "endpoints": {"sharedInbox": format!("{remote}/inbox")},
        "publicKey": {"id": format!("{actor_id}#main-key"), "owner": actor_id, "publicKeyPem": pem},
    })
    .to_string()
    .into_bytes();
    serve(
        listener,
        Arc::new(move |_: &str, _: &str, _: &[(String, String)], _: &[u8]| (200, doc.clone())),
    );

    let server = start(tmp.path(), &[("FLEUVE_ENGINE_SHARDS", "1")]);
    // Pre-sign every request (the client's signing must not be what is measured).
    let signer_threads = 2;
    let signed: Vec<Signed> = {
        let out = Arc::new(Mutex::new(Vec::with_capacity(n)));
        std::thread::scope(|s| {
            for t in 0..signer_threads {
                let out = out.clone();
                let key = &key;
                let actor_id = &actor_id;
                let addr = &server.addr;
                s.spawn(move || {
                    for i in (t..n).step_by(signer_threads) {
                        let body = json!({
                            "@context": "https://www.w3.org/ns/activitystreams",
                            "id": format!("{actor_id}/likes/{i}"),
                            "type": "Like",
                            "actor": actor_id,
                            "object": format!("{actor_id}/videos/{i}"),
                        })
                        .to_string()
                        .into_bytes();
                        let mut h = http::HeaderMap::new();
                        h.insert(http::header::HOST, addr.parse().unwrap());
                        let head = RequestHead {
                            method: &http::Method::POST,
                            target: "/inbox",
                            headers: &h,
                        };
                        let added = sign_request(
                            &head,
                            Some(&body),
                            &format!("{actor_id}#main-key"),
                            key,
                            SystemTime::now(),
                        )
                        .unwrap();
                        let headers: Vec<(String, String)> = added
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
                            .collect();
                        out.lock().unwrap().push((body, headers));
                    }
                });
            }
        });
        Arc::try_unwrap(out).unwrap().into_inner().unwrap()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let url = format!("{}/inbox", server.base);
    let post = |body: Vec<u8>, headers: Vec<(String, String)>| {
        let mut rb = client
            .post(&url)
            .header("content-type", "application/activity+json")
            .body(body);
        for (k, v) in headers {
            rb = rb.header(k, v);
        }
        rb.send()
    };
    rt.block_on(async {
        // Warm-up: the first POST fetches the actor.
        let (b, h) = signed[0].clone();
        let s = post(b, h).await.unwrap().status().as_u16();
        assert_eq!(s, 204, "warm-up");
    });
    let queue = Arc::new(Mutex::new(signed.into_iter().skip(1).collect::<Vec<_>>()));
    let ok = Arc::new(AtomicUsize::new(0));
    let cpu0 = cpu_secs(server.child.id());
    let t0 = Instant::now();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..32 {
            let queue = queue.clone();
            let ok = ok.clone();
            let post = &post;
            tasks.push(async move {
                loop {
                    let Some((b, h)) = queue.lock().unwrap().pop() else {
                        return;
                    };
                    if post(b, h).await.ok().map(|r| r.status().as_u16()) == Some(204) {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        futures_util::future::join_all(tasks).await;
    });
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_secs(server.child.id()) - cpu0;
    let done = ok.load(Ordering::Relaxed);
    println!(
        "inbox: {done}/{} activities verified and stored in {wall:.2} s = {:.0} activities/s on 1 shard; server CPU {:.0} µs per activity ({cpu:.2} CPU-s)",
        n - 1,
        done as f64 / wall,
        cpu / done.max(1) as f64 * 1e6
    );
}

fn delivery_load(followers: usize) {
    let tmp = tempfile::tempdir().unwrap();
    const HOSTS: usize = 100;
    let received = Arc::new(AtomicUsize::new(0));
    let verified = Arc::new(AtomicUsize::new(0));
    let bad = Arc::new(AtomicUsize::new(0));
    let first_at = Arc::new(AtomicU64::new(0));
    let last_at = Arc::new(AtomicU64::new(0));
    let epoch = Instant::now();
    let sender_key: Arc<Mutex<Option<rsa::RsaPublicKey>>> = Arc::new(Mutex::new(None));
    let mut ports = Vec::new();
    for _ in 0..HOSTS {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        ports.push(l.local_addr().unwrap().port());
        let (received, verified, bad, first_at, last_at, sender_key) = (
            received.clone(),
            verified.clone(),
            bad.clone(),
            first_at.clone(),
            last_at.clone(),
            sender_key.clone(),
        );
        serve(
            l,
            Arc::new(
                move |method: &str, path: &str, headers: &[(String, String)], body: &[u8]| {
                    if method != "POST" {
                        return (405, Vec::new());
                    }
                    let n = received.fetch_add(1, Ordering::Relaxed) + 1;
                    let now = epoch.elapsed().as_micros() as u64;
                    let _ = first_at.compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
                    last_at.fetch_max(now, Ordering::Relaxed);
                    if n % 100 == 0 {
                        let key = sender_key.lock().unwrap().clone();
                        if let Some(key) = key {
                            let mut map = http::HeaderMap::new();
                            for (k, v) in headers {
                                map.append(
                                    http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                                    v.parse().unwrap(),
                                );
                            }
                            let head = fleuve::federation::signature::RequestHead {
                                method: &http::Method::POST,
                                target: path,
                                headers: &map,
                            };
                            match fleuve::federation::signature::verify_request(
                                &head,
                                body,
                                &key,
                                SystemTime::now(),
                                Duration::from_secs(1800),
                            ) {
                                Ok(_) => verified.fetch_add(1, Ordering::Relaxed),
                                Err(_) => bad.fetch_add(1, Ordering::Relaxed),
                            };
                        }
                    }
                    (202, Vec::new())
                },
            ),
        );
    }
    // Seed the followers before the server starts.
    {
        use fleuve::store::federation::{FollowState, Follower, FollowerKey};
        let store = fleuve::store::Store::open(&tmp.path().join("meta")).unwrap();
        let mut batch = fleuve::store::Batch::default();
        for i in 0..followers {
            let port = ports[i % HOSTS];
            let actor = format!("http://127.0.0.1:{port}/users/u{i}");
            let f = Follower {
                local: "instance".into(),
                actor: actor.clone(),
                host: format!("127.0.0.1:{port}"),
                inbox: format!("{actor}/inbox"),
                follow_id: format!("{actor}/follows/1"),
                state: FollowState::Accepted,
                created_at: 0,
            };
            batch
                .put(&store, &FollowerKey::of("instance", &actor), &f)
                .unwrap();
        }
        store.write(batch, fleuve::store::Durability::Sync).unwrap();
    }
    let server = start(
        tmp.path(),
        &[
            ("FLEUVE_TRANSCODE_RESOLUTIONS", "144"),
            ("FLEUVE_ENGINE_SHARDS", "1"),
        ],
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let c = reqwest::Client::new();
    let base = server.base.clone();
    let (token, uuid) = rt.block_on(async {
        let client: Value = c
            .get(format!("{base}/api/v1/oauth-clients/local"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let tok: Value = c
            .post(format!("{base}/api/v1/users/token"))
            .form(&[
                ("client_id", client["client_id"].as_str().unwrap()),
                ("client_secret", client["client_secret"].as_str().unwrap()),
                ("grant_type", "password"),
                ("username", "root"),
                ("password", "bench-root-password"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = tok["access_token"].as_str().unwrap().to_string();
        let actor: Value = c
            .get(format!("{base}/accounts/root"))
            .header("accept", "application/activity+json")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let pem = actor["publicKey"]["publicKeyPem"].as_str().unwrap();
        *sender_key.lock().unwrap() =
            Some(fleuve::federation::keys::parse_public_key_pem(pem).unwrap());
        // A one-second clip.
        let clip = tmp.path().join("clip.mp4");
        let st = Command::new("ffmpeg")
            .args([
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=256x144:rate=25:duration=1",
                "-c:v",
                "libx264",
                "-pix_fmt",
                "yuv420p",
            ])
            .arg(&clip)
            .status()
            .unwrap();
        assert!(st.success());
        let form = reqwest::multipart::Form::new()
            .text("name", "Federation bench")
            .text("channelId", "1")
            .part(
                "videofile",
                reqwest::multipart::Part::bytes(std::fs::read(&clip).unwrap())
                    .file_name("clip.mp4"),
            );
        let v: Value = c
            .post(format!("{base}/api/v1/videos/upload"))
            .bearer_auth(&token)
            .multipart(form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (token, v["video"]["uuid"].as_str().unwrap().to_string())
    });
    let wait_for = |target: usize, what: &str| {
        let deadline = Instant::now() + Duration::from_secs(600);
        while received.load(Ordering::Relaxed) < target {
            assert!(
                Instant::now() < deadline,
                "{what}: only {} of {target} delivered",
                received.load(Ordering::Relaxed)
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    wait_for(followers, "Create");
    let create_secs =
        (last_at.load(Ordering::Relaxed) - first_at.load(Ordering::Relaxed)) as f64 / 1e6;
    // The Update, timed from the API call.
    let cpu0 = cpu_secs(server.child.id());
    let t0 = Instant::now();
    rt.block_on(async {
        let s = c
            .put(format!("{base}/api/v1/videos/{uuid}"))
            .bearer_auth(&token)
            .json(&json!({"name": "Federation bench, renamed"}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        assert_eq!(s, 204);
    });
    wait_for(2 * followers, "Update");
    let update_secs = t0.elapsed().as_secs_f64();
    let cpu_update = cpu_secs(server.child.id()) - cpu0;
    println!(
        "delivery: Create to {followers} inboxes on {HOSTS} hosts in {create_secs:.2} s (first to last arrival) = {:.0} deliveries/s",
        followers as f64 / create_secs,
    );
    println!(
        "delivery: Update to {followers} inboxes in {update_secs:.2} s from the API call to the last arrival = {:.0} deliveries/s; server CPU {:.0} µs per delivery",
        followers as f64 / update_secs,
        cpu_update / followers as f64 * 1e6,
    );
    println!(
        "delivery: signatures checked at the sinks: {} valid, {} invalid (1 in 100 checked)",
        verified.load(Ordering::Relaxed),
        bad.load(Ordering::Relaxed)
    );
    assert_eq!(bad.load(Ordering::Relaxed), 0);
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let inbox_n = args.first().copied().unwrap_or(5000);
    let followers = args.get(1).copied().unwrap_or(10_000);
    inbox_load(inbox_n);
    delivery_load(followers);
}
