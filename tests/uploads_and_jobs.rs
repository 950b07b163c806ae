//! Uploads through PeerTube's APIs, transcoded by worker processes, published, read back as a
//! player and a BitTorrent client would: the full ingest path, bad input, and crashes.

mod common;

use common::*;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

async fn root_token(s: &Server) -> String {
    login(s).await.0
}

/// `POST upload-resumable`; returns the status, the Location and the body.
async fn init_resumable(
    s: &Server,
    token: &str,
    filename: &str,
    size: u64,
) -> (u16, Option<String>, Value) {
    let r = client()
        .post(s.url("/api/v1/videos/upload-resumable"))
        .bearer_auth(token)
        .header("X-Upload-Content-Length", size.to_string())
        .header("X-Upload-Content-Type", "video/mp4")
        .json(&serde_json::json!({"name": "Resumable clip", "channelId": 1, "filename": filename}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string());
    (status, location, r.json().await.unwrap_or(Value::Null))
}

/// `//host/path?q` → `http://host/path?q`.
fn absolute(location: &str) -> String {
    format!("http:{location}")
}

async fn put_chunk(
    token: &str,
    url: &str,
    data: &[u8],
    start: u64,
    total: u64,
) -> reqwest::Response {
    let range = if data.is_empty() {
        format!("bytes */{total}")
    } else {
        format!("bytes {start}-{}/{total}", start + data.len() as u64 - 1)
    };
    client()
        .put(url)
        .bearer_auth(token)
        .header("Content-Type", "application/octet-stream")
        .header("Content-Range", range)
        .body(data.to_vec())
        .send()
        .await
        .unwrap()
}

/// What a player and a BitTorrent client check on a published video.
async fn check_published(s: &Server, v: &Value, expect_resolutions: &[u64]) {
    let playlist = &v["streamingPlaylists"][0];
    let files = playlist["files"].as_array().expect("files");
    let got: Vec<u64> = files
        .iter()
        .map(|f| f["resolution"]["id"].as_u64().unwrap())
        .collect();
    assert_eq!(got, expect_resolutions, "{v}");

    // ffprobe reads every rung through the master playlist over HTTP.
    let master = playlist["playlistUrl"].as_str().unwrap();
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,height",
            "-of",
            "csv=p=0",
        ])
        .arg(master)
        .output()
        .unwrap();
    assert!(
        probe.status.success(),
        "{}",
        String::from_utf8_lossy(&probe.stderr)
    );
    let text = String::from_utf8(probe.stdout).unwrap();
    for r in expect_resolutions {
        assert!(text.contains(&format!("h264,{r}")), "{r}p not in {text}");
    }

    // Every byte range in the segments-sha256 JSON hashes to its value.
    let sha: Value = client()
        .get(playlist["segmentsSha256Url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sha = sha.as_object().unwrap();
    assert_eq!(sha.len(), files.len());
    for f in files {
        let file_url = f["fileUrl"].as_str().unwrap();
        let name = file_url.rsplit('/').next().unwrap();
        let body = client()
            .get(file_url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(body.len() as u64, f["size"].as_u64().unwrap());
        let ranges = sha[name].as_object().expect("hashes of the file");
        assert!(!ranges.is_empty());
        for (range, hash) in ranges {
            let (a, b) = range.split_once('-').unwrap();
            let (a, b): (usize, usize) = (a.parse().unwrap(), b.parse().unwrap());
            assert_eq!(
                hex::encode(Sha256::digest(&body[a..=b])),
                hash.as_str().unwrap(),
                "{name} {range}"
            );
        }
        // The torrent parses, names our trackers, and its webseed serves the same bytes.
        let torrent = client()
            .get(f["torrentUrl"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let t = fleuve::bencode::Value::decode(&torrent).expect("torrent parses");
        let webseed = match t.get("url-list") {
            Some(fleuve::bencode::Value::Bytes(b)) => String::from_utf8(b.clone()).unwrap(),
            Some(fleuve::bencode::Value::List(l)) => match &l[0] {
                fleuve::bencode::Value::Bytes(b) => String::from_utf8(b.clone()).unwrap(),
                other => panic!("url-list {other:?}"),
            },
            other => panic!("url-list {other:?}"),
        };
        assert_eq!(webseed, file_url);
        let seeded = client()
            .get(&webseed)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(seeded, body);
        let info = t.get("info").unwrap().encode();
        assert_eq!(
            hex::encode(sha1::Sha1::digest(&info)),
            f["infoHash"].as_str().unwrap()
        );
        assert!(f["magnetUri"]
            .as_str()
            .unwrap()
            .contains(f["infoHash"].as_str().unwrap()));
    }
    let trackers: Vec<&str> = v["trackerUrls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(trackers[0].starts_with("ws://") && trackers[0].ends_with("/tracker/socket"));
    for path in ["thumbnailPath", "previewPath"] {
        let p = v[path].as_str().expect(path);
        let r = client().get(s.url(p)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{p}");
        assert_eq!(r.headers()["content-type"], "image/jpeg");
    }
}

#[test]
fn multipart_upload_is_published_with_every_rung_and_each_fallback_reason() {
    // A rung whose encoder fails mid-stream restarts alone on the next encoder of its chain.
    let mut opts = Options::default();
    opts.env
        .push(("FLEUVE_FAULT_ENCODER_FAIL".into(), "240:10".into()));
    let s = Server::start_with(opts);
    let src = clip(&s.dir, "clip.mp4", "1280x720", 25, 4, true);
    rt().block_on(async {
        let token = root_token(&s).await;
        let (status, body) = upload_multipart(&s, &token, &src, "Multipart clip").await;
        assert_eq!(status, 200, "{body}");
        let uuid = body["video"]["uuid"].as_str().unwrap().to_string();
        let short = body["video"]["shortUUID"].as_str().unwrap().to_string();
        let v = wait_state(&s, &token, &short, &[1, 7]).await;
        assert_eq!(v["state"]["id"], 1, "{v}\n{}", s.log());
        assert_eq!(v["uuid"], uuid.as_str());
        check_published(&s, &v, &[720, 480, 360, 240, 144]).await;
        // This machine has no GPU: every rung names why NVENC and VAAPI were not used.
        for f in v["streamingPlaylists"][0]["files"].as_array().unwrap() {
            assert_eq!(f["encoder"], "libx264");
            let why = f["fallbackReason"].as_str().expect("fallbackReason");
            assert!(
                why.contains("h264_nvenc") && why.contains("h264_vaapi"),
                "{why}"
            );
            let restarted = why.contains("failed mid-stream after 10 frames");
            assert_eq!(restarted, f["resolution"]["id"] == 240, "{why}");
        }
        // Listed, and gone after DELETE (metadata and files).
        let list: Value = get_json(&s, "/api/v1/videos?count=5&sort=-publishedAt").await;
        assert_eq!(list["total"], 1);
        assert_eq!(list["data"][0]["uuid"], uuid.as_str());
        let r = client()
            .delete(s.url(&format!("/api/v1/videos/{}", v["id"])))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 204);
        assert_eq!(get_video(&s, &token, &uuid).await.0, 404);
        assert!(!s
            .media()
            .join("streaming-playlists/hls")
            .join(&uuid)
            .exists());
        let master = v["streamingPlaylists"][0]["playlistUrl"].as_str().unwrap();
        assert_eq!(
            client().get(master).send().await.unwrap().status().as_u16(),
            404
        );
    });
}

/// Sends the start of a chunk and drops the connection, as a client losing its network would.
fn interrupted_put(s: &Server, token: &str, location: &str, data: &[u8], start: u64, total: u64) {
    let path = location.split_once(&s.addr).unwrap().1;
    let mut sock = std::net::TcpStream::connect(&s.addr).unwrap();
    let end = start + data.len() as u64 - 1;
    write!(
        sock,
        "PUT {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/octet-stream\r\nContent-Range: bytes {start}-{end}/{total}\r\n\
         Content-Length: {}\r\n\r\n",
        s.addr,
        data.len()
    )
    .unwrap();
    sock.write_all(&data[..data.len() / 2]).unwrap();
    sock.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    drop(sock);
}

#[test]
fn resumable_upload_survives_a_dropped_connection_and_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut opts = Options::default();
    opts.env
        .push(("FLEUVE_TRANSCODE_RESOLUTIONS".into(), "360".into()));
    let src = clip(dir, "resumable.mp4", "854x480", 25, 3, true);
    let data = std::fs::read(&src).unwrap();
    let total = data.len() as u64;
    let chunk = (total as usize / 3).max(1);
    let mut s = Server::start_in(
        dir,
        Options {
            env: opts.env.clone(),
            args: vec![],
        },
    );
    let old_addr = s.addr.clone();
    let location = rt().block_on(async {
        let token = root_token(&s).await;
        let (status, location, body) = init_resumable(&s, &token, "resumable.mp4", total).await;
        assert_eq!(status, 201, "{body}");
        let location = absolute(&location.expect("Location"));
        // Init again: the same session (200, same Location).
        let (again, loc2, _) = init_resumable(&s, &token, "resumable.mp4", total).await;
        assert_eq!(
            (again, loc2.map(|l| absolute(&l))),
            (200, Some(location.clone()))
        );
        let r = put_chunk(&token, &location, &data[..chunk], 0, total).await;
        assert_eq!(r.status().as_u16(), 308);
        assert_eq!(
            r.headers()["range"],
            format!("bytes=0-{}", chunk - 1).as_str()
        );
        // A chunk that does not start where the server is: 409.
        let r = put_chunk(
            &token,
            &location,
            &data[chunk + 5..chunk + 10],
            chunk as u64 + 5,
            total,
        )
        .await;
        assert_eq!(r.status().as_u16(), 409);
        interrupted_put(
            &s,
            &token,
            &location,
            &data[chunk..2 * chunk],
            chunk as u64,
            total,
        );
        (location, token)
    });
    // Restart the server mid-upload.
    assert!(s.stop().success());
    drop(s);
    let s = Server::start_in(dir, opts);
    rt().block_on(async {
        let token = root_token(&s).await;
        // The restarted server listens on a new port.
        let location = location.0.replace(&old_addr, &s.addr);
        // Where are we? The bytes that arrived before the drop were kept.
        let r = put_chunk(&token, &location, &[], 0, total).await;
        assert_eq!(r.status().as_u16(), 308);
        let range = r.headers()["range"].to_str().unwrap().to_string();
        let have: u64 = range.rsplit('-').next().unwrap().parse::<u64>().unwrap() + 1;
        assert!(have > chunk as u64 && have < 2 * chunk as u64, "{range}");
        let mut at = have as usize;
        let mut last = None;
        while at < data.len() {
            let end = (at + chunk).min(data.len());
            let r = put_chunk(&token, &location, &data[at..end], at as u64, total).await;
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            if end < data.len() {
                assert_eq!(status, 308, "{body}");
            } else {
                assert_eq!(status, 200, "{body}");
                last = Some(body);
            }
            at = end;
        }
        let body = last.unwrap();
        let uuid = body["video"]["uuid"].as_str().unwrap();
        // The final chunk again (its answer lost): the same video.
        let r = put_chunk(&token, &location, &data[at - 10..], at as u64 - 10, total).await;
        assert_eq!(r.status().as_u16(), 200);
        let again: Value = r.json().await.unwrap();
        assert_eq!(again["video"]["uuid"], uuid);
        let v = wait_state(&s, &token, uuid, &[1, 7]).await;
        assert_eq!(v["state"]["id"], 1, "{v}");
        check_published(&s, &v, &[480, 360]).await;
        // The source is byte-identical to what was sent: the published duration matches.
        assert_eq!(v["duration"], 3);
        // PeerTube's client closes a finished upload with DELETE: 204.
        let r = client()
            .delete(&location)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 204);
    });
    let left: Vec<_> = std::fs::read_dir(dir.join("tmp/uploads"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn bad_uploads_get_clear_errors_and_leave_nothing_behind() {
    let mut opts = Options::default();
    opts.env
        .push(("FLEUVE_UPLOAD_MAX_FILE_BYTES".into(), "50000000".into()));
    let s = Server::start_with(opts);
    let good = clip(&s.dir, "good.mp4", "320x240", 25, 2, true);
    let bytes = std::fs::read(&good).unwrap();
    let truncated = s.dir.join("truncated.mp4");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let text = s.dir.join("notes.mp4");
    std::fs::write(&text, "this is not a video\n".repeat(100)).unwrap();
    let audio = s.dir.join("audio.m4a");
    let st = Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("sine=duration=2")
        .args(["-c:a", "aac"])
        .arg(&audio)
        .status()
        .unwrap();
    assert!(st.success());
    let empty = s.dir.join("empty.mp4");
    std::fs::write(&empty, b"").unwrap();
    rt().block_on(async {
        let token = root_token(&s).await;
        for (path, want) in [
            (&truncated, "not a usable video"),
            (&text, "not a usable video"),
            (&audio, "no video stream"),
        ] {
            // Through both protocols.
            let (status, body) = upload_multipart(&s, &token, path, "Bad file").await;
            assert_eq!(status, 422, "{path:?}: {body}");
            assert!(body["detail"].as_str().unwrap().contains(want), "{body}");
            assert_eq!(body["status"], 422);
            let data = std::fs::read(path).unwrap();
            let name = path.file_name().unwrap().to_str().unwrap();
            let (status, location, _) = init_resumable(&s, &token, name, data.len() as u64).await;
            assert_eq!(status, 201);
            let r = put_chunk(
                &token,
                &absolute(&location.unwrap()),
                &data,
                0,
                data.len() as u64,
            )
            .await;
            assert_eq!(r.status().as_u16(), 422);
            let body: Value = r.json().await.unwrap();
            assert!(body["detail"].as_str().unwrap().contains(want), "{body}");
        }
        let (status, body) = upload_multipart(&s, &token, &empty, "Empty file").await;
        assert_eq!(status, 400, "{body}");
        let (status, _, body) = init_resumable(&s, &token, "empty.mp4", 0).await;
        assert_eq!(status, 400, "{body}");
        let (status, _, body) = init_resumable(&s, &token, "huge.mp4", 1 << 50).await;
        assert_eq!(status, 413, "{body}");
        assert_eq!(body["code"], "max_file_size_reached");
        assert!(body["detail"]
            .as_str()
            .unwrap()
            .contains(&(1u64 << 50).to_string()));
        // Too many uploads in progress for one user.
        for i in 0..3 {
            let (status, _, _) = init_resumable(&s, &token, &format!("p{i}.mp4"), 1000).await;
            assert_eq!(status, 201);
        }
        let (status, _, body) = init_resumable(&s, &token, "p3.mp4", 1000).await;
        assert_eq!(status, 429, "{body}");
        // Without a token: 401.
        let r = client()
            .post(s.url("/api/v1/videos/upload-resumable"))
            .header("X-Upload-Content-Length", "10")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401);

        // Nothing was created, nothing half-uploaded reached the transcoder, the server serves.
        let list: Value = get_json(&s, "/api/v1/videos").await;
        assert_eq!(list["total"], 0);
        assert_eq!(std::fs::read_dir(s.dir.join("sources")).unwrap().count(), 0);
        assert_eq!(
            std::fs::read_dir(s.dir.join("tmp/jobs")).unwrap().count(),
            0
        );
        // Only the three sessions in progress hold files.
        assert_eq!(
            std::fs::read_dir(s.dir.join("tmp/uploads"))
                .unwrap()
                .count(),
            3
        );
        assert_eq!(status_of(&s, "/api/v1/config").await, 200);
    });
}

/// Pid of the server's `fleuve worker` child, once one runs.
fn worker_pid(server_pid: u32) -> Option<u32> {
    let out = Command::new("pgrep")
        .args(["-P", &server_pid.to_string(), "-f", "worker --spec"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
}

#[test]
fn kill_9_mid_transcode_then_restart_publishes_without_partial_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let opts = || {
        let mut o = Options::default();
        o.env
            .push(("FLEUVE_TRANSCODE_RESOLUTIONS".into(), "720,360".into()));
        o
    };
    let src = clip(dir, "long.mp4", "1280x720", 25, 10, true);
    let mut s = Server::start_in(dir, opts());
    let server_pid = s.child.as_ref().unwrap().id();
    let uuid = rt().block_on(async {
        let token = root_token(&s).await;
        let (status, body) = upload_multipart(&s, &token, &src, "Killed mid-transcode").await;
        assert_eq!(status, 200, "{body}");
        let uuid = body["video"]["uuid"].as_str().unwrap().to_string();
        // Wait until the worker reports progress.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, v) = get_video(&s, &token, &uuid).await;
            if v["transcoding"]["progress"].as_f64().unwrap_or(0.0) > 0.05 {
                assert_eq!(v["state"]["id"], 2);
                break;
            }
            assert!(Instant::now() < deadline, "no progress: {v}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        uuid
    });
    let worker = worker_pid(server_pid).expect("a worker process runs the job");
    // Nothing is visible before publication.
    assert!(!dir
        .join("media/streaming-playlists/hls")
        .join(&uuid)
        .exists());
    let mut child = s.child.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    drop(s);
    // The worker dies with its parent (PR_SET_PDEATHSIG).
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{worker}")).exists() {
        assert!(
            Instant::now() < deadline,
            "worker {worker} outlived the server"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let s = Server::start_in(dir, opts());
    rt().block_on(async {
        let token = root_token(&s).await;
        let v = wait_state(&s, &token, &uuid, &[1, 7]).await;
        assert_eq!(v["state"]["id"], 1, "{v}");
        check_published(&s, &v, &[720, 360]).await;
    });
    assert!(s.log().contains("requeued jobs interrupted"), "{}", s.log());
    assert_eq!(std::fs::read_dir(dir.join("tmp/jobs")).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(dir.join("sources")).unwrap().count(), 0);
}

#[test]
fn a_killed_worker_fails_its_job_with_a_reason_and_the_server_keeps_serving() {
    let mut opts = Options::default();
    opts.env
        .push(("FLEUVE_TRANSCODE_MAX_ATTEMPTS".into(), "1".into()));
    opts.env
        .push(("FLEUVE_TRANSCODE_RESOLUTIONS".into(), "360".into()));
    let s = Server::start_with(opts);
    let src = clip(&s.dir, "victim.mp4", "1280x720", 25, 8, true);
    let server_pid = s.child.as_ref().unwrap().id();
    rt().block_on(async {
        let token = root_token(&s).await;
        let (status, body) = upload_multipart(&s, &token, &src, "Worker will be killed").await;
        assert_eq!(status, 200, "{body}");
        let uuid = body["video"]["uuid"].as_str().unwrap().to_string();
        let deadline = Instant::now() + Duration::from_secs(60);
        let worker = loop {
            if let Some(pid) = worker_pid(server_pid) {
                break pid;
            }
            assert!(Instant::now() < deadline, "no worker started");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let st = Command::new("kill")
            .args(["-9", &worker.to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        let v = wait_state(&s, &token, &uuid, &[1, 7]).await;
        assert_eq!(v["state"]["id"], 7, "{v}");
        let why = v["transcoding"]["error"].as_str().unwrap();
        assert!(why.contains("SIGKILL"), "{why}");
        assert_eq!(status_of(&s, "/api/v1/config").await, 200);
        // A failed video is not listed publicly.
        let list: Value = get_json(&s, "/api/v1/videos").await;
        assert_eq!(list["total"], 0);
    });
}

#[test]
fn fleuve_ingest_uploads_waits_and_prints_the_published_video() {
    let mut opts = Options::default();
    opts.env
        .push(("FLEUVE_TRANSCODE_RESOLUTIONS".into(), "240".into()));
    let s = Server::start_with(opts);
    let src = clip(&s.dir, "ingest me.mp4", "640x360", 25, 2, true);
    let out = Command::new(bin())
        .args([
            "ingest",
            "--wait",
            "--json",
            "--title",
            "Ingested by the CLI",
        ])
        .args(["--chunk-size", "100000", "--data-dir"])
        .arg(&s.dir)
        .arg(&src)
        .env("FLEUVE_ROOT_PASSWORD", ROOT_PASSWORD)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        s.log()
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("only JSON on stdout");
    assert_eq!(v["state"]["id"], 1, "{v}");
    assert_eq!(v["name"], "Ingested by the CLI");
    rt().block_on(check_published(&s, &v, &[360, 240]));
    // A file that is not a video: a clear error, exit status 1.
    let bad = s.dir.join("bad.mp4");
    std::fs::write(&bad, b"not a video at all").unwrap();
    let out = Command::new(bin())
        .args(["ingest", "--data-dir"])
        .arg(&s.dir)
        .arg(&bad)
        .env("FLEUVE_ROOT_PASSWORD", ROOT_PASSWORD)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a usable video"), "{err}");
}
