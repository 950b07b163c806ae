//! Object storage against a real S3 server: Garage on loopback (tests/common/garage.rs).

mod common;

use common::garage::Garage;
use common::{client, login, publish_clip, rt, Options, Server};
use fleuve::config::object_storage::{BucketConfig, ObjectStorageConfig};
use fleuve::media::objstore::s3::S3Error;
use fleuve::media::objstore::transfer::TransferError;
use fleuve::media::objstore::ObjectStorage;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::time::{Duration, Instant};

fn config(g: &Garage, bucket: &str, prefix: &str) -> ObjectStorageConfig {
    ObjectStorageConfig {
        enabled: true,
        endpoint: g.endpoint(),
        region: g.region.into(),
        force_path_style: true,
        max_upload_part: 5 * 1024 * 1024,
        streaming_playlists: BucketConfig {
            bucket_name: bucket.into(),
            prefix: prefix.into(),
            base_url: String::new(),
        },
        ..Default::default()
    }
}

fn storage(g: &Garage, bucket: &str, secret: &str) -> ObjectStorage {
    storage_with(g, bucket, secret, "videos/")
}

fn storage_with(g: &Garage, bucket: &str, secret: &str, prefix: &str) -> ObjectStorage {
    let c = config(g, bucket, prefix);
    let env = |n: &str| match n {
        "AWS_ACCESS_KEY_ID" => Some(g.key_id.clone()),
        "AWS_SECRET_ACCESS_KEY" => Some(secret.to_string()),
        _ => None,
    };
    ObjectStorage::from_config(&c, &env).unwrap().unwrap()
}

/// The client on Garage: single and multipart uploads checked by ETag, ranged reads, listings,
/// deletes, ACLs that Garage does not have, and the errors of a wrong key and a missing bucket.
#[test]
fn client_uploads_reads_lists_and_deletes_on_garage() {
    let g = Garage::start();
    let os = storage(&g, g.bucket, &g.secret);
    os.check().expect("the bucket is reachable");
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("p-master.m3u8");
    std::fs::write(&small, b"#EXTM3U\n#EXT-X-VERSION:7\n").unwrap();
    let big = dir.path().join("p-720-fragmented.mp4");
    let bytes = common::pattern(12 * 1024 * 1024 + 12345);
    std::fs::write(&big, &bytes).unwrap();
    let u = "9c9de5e8-0a1a-4d7b-8e7d-6c1f3c2d5e4f";

    let (size, etag) = os
        .upload_hls_file(u, false, &small, "p-master.m3u8")
        .unwrap();
    assert_eq!(size, 25);
    assert!(!etag.contains('-'), "a single PUT: {etag}");
    let (size, etag) = os
        .upload_hls_file(u, false, &big, "p-720-fragmented.mp4")
        .unwrap();
    assert_eq!(size, bytes.len() as u64);
    assert!(etag.ends_with("-3"), "three 5 MiB parts: {etag}");
    assert!(os
        .hls_file_matches(u, false, &big, "p-720-fragmented.mp4")
        .unwrap());
    assert!(!os
        .hls_file_matches(u, false, &small, "p-720-fragmented.mp4")
        .unwrap());
    assert!(!os
        .hls_file_matches(u, true, &big, "p-720-fragmented.mp4")
        .unwrap());

    // Ranged reads across part boundaries.
    let key = os.hls_key(u, false, "p-720-fragmented.mp4");
    assert_eq!(key, format!("videos/hls/{u}/p-720-fragmented.mp4"));
    let start = 5 * 1024 * 1024 - 10;
    let mut got = os
        .s3()
        .get_object(os.hls_bucket(), &key, Some((start, start + 99)))
        .unwrap();
    assert_eq!(
        (got.status, got.content_length, got.total_size),
        (206, 100, bytes.len() as u64)
    );
    let mut body = Vec::new();
    got.body.read_to_end(&mut body).unwrap();
    assert_eq!(&body[..], &bytes[start as usize..start as usize + 100]);

    // Back down, checked.
    let back = dir.path().join("back.mp4");
    os.download_hls_file(u, false, "p-720-fragmented.mp4", &back)
        .unwrap();
    assert_eq!(std::fs::read(&back).unwrap(), bytes);

    let listed = os.list_hls(u, false).unwrap();
    let keys: Vec<&str> = listed.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            format!("videos/hls/{u}/p-720-fragmented.mp4"),
            format!("videos/hls/{u}/p-master.m3u8")
        ]
    );
    // Garage has no object ACLs: reported, not an error.
    assert!(!os
        .s3()
        .put_object_acl(os.hls_bucket(), &key, "private")
        .unwrap());
    // Not readable without credentials.
    let anon = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build(),
    )
    .get(&os.s3().object_url(os.hls_bucket(), &key))
    .call()
    .unwrap();
    assert_eq!(anon.status().as_u16(), 403);

    // To the private side and back, copied on the server: the multipart object in parts of
    // the same size (its ETag unchanged), the small one whole.
    let before: Vec<(u64, String)> = listed.iter().map(|o| (o.size, o.etag.clone())).collect();
    assert_eq!(os.move_hls_side(u, true).unwrap(), 2);
    assert!(os.list_hls(u, false).unwrap().is_empty());
    let private: Vec<(u64, String)> = os
        .list_hls(u, true)
        .unwrap()
        .iter()
        .map(|o| (o.size, o.etag.clone()))
        .collect();
    assert_eq!(private, before);
    assert_eq!(os.move_hls_side(u, false).unwrap(), 2);
    os.download_hls_file(u, false, "p-720-fragmented.mp4", &back)
        .unwrap();
    assert_eq!(std::fs::read(&back).unwrap(), bytes);

    assert_eq!(os.delete_hls(u, false).unwrap(), 2);
    assert!(os.list_hls(u, false).unwrap().is_empty());
    assert!(os
        .s3()
        .head_object(os.hls_bucket(), &key)
        .unwrap()
        .is_none());

    // A wrong secret and a missing bucket: clear errors, no retries on 4xx.
    let wrong = storage(
        &g,
        g.bucket,
        "0000000000000000000000000000000000000000000000000000000000000000",
    );
    let e = wrong.check().unwrap_err();
    assert!(matches!(e, S3Error::Status { status: 403, .. }), "{e}");
    match wrong
        .upload_hls_file(u, false, &small, "x.m3u8")
        .unwrap_err()
    {
        TransferError::S3(S3Error::Status { status: 403, .. }) => {}
        e => panic!("{e}"),
    }
    let missing = storage(&g, "no-such-bucket", &g.secret);
    let e = missing.check().unwrap_err();
    assert_eq!(e.status(), Some(404), "{e}");
    let e = missing
        .upload_hls_file(u, false, &small, "x.m3u8")
        .unwrap_err();
    assert!(e.to_string().contains("no-such-bucket"), "{e}");
}

/// Every file a client is given for a published video answers (master, media playlists, fMP4
/// of the announced size, torrents), and every byte range of the segments-sha256 JSON hashes
/// to its value. `token` is appended as `videoFileToken` (private videos).
async fn check_files(v: &Value, token: Option<&str>) {
    let c = client();
    let with = |url: &str| match token {
        Some(t) => format!("{url}?videoFileToken={t}"),
        None => url.to_string(),
    };
    let get = |url: String| {
        let c = c.clone();
        async move {
            let r = c.get(&url).send().await.unwrap();
            assert_eq!(r.status().as_u16(), 200, "{url}");
            r.bytes().await.unwrap_or_else(|e| panic!("{url}: {e}"))
        }
    };
    let playlist = &v["streamingPlaylists"][0];
    let files = playlist["files"].as_array().expect("files");
    assert!(!files.is_empty(), "{v}");
    let master = get(with(playlist["playlistUrl"].as_str().unwrap())).await;
    let master = String::from_utf8_lossy(&master).to_string();
    let sha: Value =
        serde_json::from_slice(&get(with(playlist["segmentsSha256Url"].as_str().unwrap())).await)
            .expect("segments-sha256 JSON");
    for f in files {
        let media_playlist = f["playlistUrl"].as_str().unwrap();
        assert!(
            master.contains(media_playlist.rsplit('/').next().unwrap()),
            "{master}"
        );
        get(with(media_playlist)).await;
        let file_url = f["fileUrl"].as_str().unwrap();
        let body = get(with(file_url)).await;
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
        get(with(f["torrentUrl"].as_str().unwrap())).await;
    }
}

async fn video(s: &Server, token: &str, uuid: &str) -> Value {
    let (status, v) = common::get_video(s, token, uuid).await;
    assert_eq!(status, 200, "{v}");
    v
}

/// Waits until the video's files say `storage` (1 disk, 2 object storage).
async fn wait_storage(s: &Server, token: &str, uuid: &str, storage: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let v = video(s, token, uuid).await;
        if v["streamingPlaylists"][0]["files"][0]["storage"] == storage {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "video {uuid} not moved to {storage}: {v}\n{}",
            s.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn admin_move(s: &Server, token: &str, body: Value) -> Value {
    let r = client()
        .post(s.url("/api/v1/admin/storage/moves"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 200, "{v}");
    v
}

async fn set_privacy(s: &Server, token: &str, uuid: &str, privacy: u8) {
    let r = client()
        .put(s.url(&format!("/api/v1/videos/{uuid}")))
        .bearer_auth(token)
        .json(&json!({ "privacy": privacy }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204, "{}", r.text().await.unwrap());
}

fn keys_of(os: &ObjectStorage, uuid: &str, private: bool) -> Vec<String> {
    os.list_hls(uuid, private)
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect()
}

/// Upload → transcode → published from Garage (URLs at `base_url`, files at PeerTube's keys, no
/// local HLS directory); a private video readable only through the proxy path with a token; a
/// move of everything to the disk and back with every segment hash still matching.
#[test]
fn published_from_garage_private_through_the_proxy_and_moved_both_ways() {
    let g = Garage::start();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let s = Server::start_with(Options {
        env: g.fleuve_env(&format!("{base}/static/streaming-playlists")),
        args: vec!["--listen".into(), format!("127.0.0.1:{port}")],
    });
    let os = storage_with(&g, g.bucket, &g.secret, "");
    rt().block_on(async {
        let (token, _) = login(&s).await;
        let v = publish_clip(&s, &token, "640x360", 4).await;
        let uuid = v["uuid"].as_str().unwrap().to_string();
        let pl = &v["streamingPlaylists"][0];
        let prefix = format!("{base}/static/streaming-playlists/hls/{uuid}/");
        assert!(
            pl["playlistUrl"].as_str().unwrap().starts_with(&prefix),
            "{v}"
        );
        assert!(
            pl["files"][0]["fileUrl"]
                .as_str()
                .unwrap()
                .starts_with(&prefix),
            "{v}"
        );
        assert_eq!(pl["files"][0]["storage"], 2, "{v}");
        assert!(
            s.log()
                .contains("video files uploaded to the object storage"),
            "{}",
            s.log()
        );
        // In the bucket under PeerTube's keys; nothing left on disk but the public torrents.
        let keys = keys_of(&os, &uuid, false);
        let master = pl["playlistUrl"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap();
        assert!(keys.contains(&format!("hls/{uuid}/{master}")), "{keys:?}");
        for f in pl["files"].as_array().unwrap() {
            let name = f["fileUrl"].as_str().unwrap().rsplit('/').next().unwrap();
            assert!(keys.contains(&format!("hls/{uuid}/{name}")), "{keys:?}");
        }
        let local = s.media().join("streaming-playlists/hls").join(&uuid);
        assert!(!local.exists(), "the local HLS directory is gone");
        check_files(&v, None).await;
        // The torrent's webseed is the public object URL.
        let torrent = client()
            .get(pl["files"][0]["torrentUrl"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert!(
            torrent
                .windows(prefix.len())
                .any(|w| w == prefix.as_bytes()),
            "webseed at base_url"
        );

        // Private: its objects move to private keys, readable only through the proxy with a token.
        set_privacy(&s, &token, &uuid, 3).await;
        let pv = video(&s, &token, &uuid).await;
        let ppl = &pv["streamingPlaylists"][0];
        let proxy = format!("{base}/object-storage-proxy/streaming-playlists/hls/private/{uuid}/");
        assert!(
            ppl["playlistUrl"].as_str().unwrap().starts_with(&proxy),
            "{pv}"
        );
        assert!(keys_of(&os, &uuid, false).is_empty());
        assert_eq!(keys_of(&os, &uuid, true).len(), keys.len());
        let file_url = ppl["files"][0]["fileUrl"].as_str().unwrap().to_string();
        assert_eq!(
            client()
                .get(&file_url)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
            403
        );
        let public_url = format!("{prefix}{}", file_url.rsplit('/').next().unwrap());
        assert_eq!(
            client()
                .get(&public_url)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
            404
        );
        let t: Value = client()
            .post(s.url(&format!("/api/v1/videos/{uuid}/token")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let file_token = t["files"]["token"].as_str().unwrap().to_string();
        check_files(&pv, Some(&file_token)).await;
        let r = client()
            .get(format!("{file_url}?videoFileToken={file_token}"))
            .header("Range", "bytes=100-199")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 206);
        assert_eq!(r.bytes().await.unwrap().len(), 100);
        // Wrong token for it: refused.
        assert_eq!(
            client()
                .get(format!("{file_url}?videoFileToken=AAAA"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
            403
        );
        set_privacy(&s, &token, &uuid, 1).await;
        let v = video(&s, &token, &uuid).await;
        check_files(&v, None).await;

        // Everything to the disk, and back.
        // With the CLI, as an operator would, waiting until it is done.
        let out = std::process::Command::new(common::bin())
            .args([
                "storage",
                "move",
                "--to",
                "file-system",
                "--all",
                "--wait-secs",
                "120",
            ])
            .arg("--data-dir")
            .arg(&s.dir)
            .env("FLEUVE_ROOT_PASSWORD", common::ROOT_PASSWORD)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("1 move(s) queued") && text.contains("all moves done"),
            "{text}"
        );
        let v = wait_storage(&s, &token, &uuid, 1).await;
        assert!(local.is_dir());
        assert!(
            keys_of(&os, &uuid, false).is_empty(),
            "objects deleted after the move"
        );
        assert!(v["streamingPlaylists"][0]["playlistUrl"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{base}/static/streaming-playlists/hls/{uuid}/")));
        check_files(&v, None).await;
        assert_eq!(
            admin_move(&s, &token, json!({"to": "object-storage", "videoId": uuid})).await
                ["queued"],
            1
        );
        let v = wait_storage(&s, &token, &uuid, 2).await;
        assert!(!local.exists());
        check_files(&v, None).await;
        // Already there: nothing queued.
        assert_eq!(
            admin_move(&s, &token, json!({"to": "object-storage", "all": true})).await["queued"],
            0
        );
        // The admin status shows the object storage.
        let st: Value = client()
            .get(s.url("/api/v1/admin/status"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(st["objectStorage"]["reachable"], true, "{st}");
        assert_eq!(st["objectStorage"]["moves"]["pending"], 0, "{st}");
    });
}

fn self_served(g: &Garage) -> (u16, String, Options) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let opts = Options {
        env: g.fleuve_env(&format!("{base}/static/streaming-playlists")),
        args: vec!["--listen".into(), format!("127.0.0.1:{port}")],
    };
    (port, base, opts)
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// Garage stopped while serving: what the shards cached is still served, the rest gets 502,
/// and serving recovers when it is back. Many viewers missing the same chunk at once make one
/// upstream request per shard at most.
#[test]
fn garage_down_cached_ranges_still_served_then_recovery() {
    let mut g = Garage::start();
    let (_, _, opts) = self_served(&g);
    let s = Server::start_with(opts);
    rt().block_on(async {
        let (token, _) = login(&s).await;
        let v = publish_clip(&s, &token, "640x360", 4).await;
        let pl = &v["streamingPlaylists"][0];
        let files: Vec<String> = pl["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["fileUrl"].as_str().unwrap().to_string())
            .collect();
        assert!(files.len() >= 2, "two renditions at least: {v}");
        // Twenty viewers at once on a cold file.
        let before = metric(
            &common::metrics_text(&s).await,
            "fleuve_object_storage_upstream_requests_total",
        );
        let c = client();
        let gets = (0..20).map(|_| {
            let c = c.clone();
            let url = files[0].clone();
            async move {
                let r = c
                    .get(&url)
                    .header("Range", "bytes=0-99999")
                    .send()
                    .await
                    .unwrap();
                (r.status().as_u16(), r.bytes().await.unwrap())
            }
        });
        let answers = futures_util::future::join_all(gets).await;
        for (status, body) in &answers {
            assert_eq!(*status, 206);
            assert_eq!(body, &answers[0].1);
        }
        let text = common::metrics_text(&s).await;
        let after = metric(&text, "fleuve_object_storage_upstream_requests_total");
        // A HEAD and a chunk per shard at most (the tests run 2 shards), not 20 of each.
        assert!(after - before <= 4.0, "{before} -> {after}\n{text}");
        // Warm the first file whole, then stop Garage.
        let whole = c
            .get(&files[0])
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        g.stop();
        for _ in 0..4 {
            let r = c.get(&files[0]).send().await.unwrap();
            assert_eq!(r.status().as_u16(), 200, "cached while Garage is down");
            assert_eq!(r.bytes().await.unwrap(), whole);
        }
        let r = c.get(&files[1]).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 502, "not cached, Garage down");
        g.start_again();
        let r = c.get(&files[1]).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "recovered:\n{}", s.log());
        let text = common::metrics_text(&s).await;
        assert!(
            metric(&text, "fleuve_object_storage_hit_ratio") > 0.0,
            "{text}"
        );
        assert!(
            metric(&text, "fleuve_object_storage_upstream_errors_total") >= 1.0,
            "{text}"
        );
    });
}

/// `kill -9` while a published video's files go up: at the next start the move resumes, the
/// video is published with every file in place, and nothing points at a missing file.
#[test]
fn kill_9_during_the_upload_resumes_and_publishes() {
    let g = Garage::start();
    let (_, _, opts) = self_served(&g);
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(
        dir.path(),
        Options {
            env: opts.env.clone(),
            args: opts.args.clone(),
        },
    );
    rt().block_on(async {
        let (token, _) = login(&s).await;
        let src = common::clip(&s.dir, "k.mp4", "1280x720", 25, 6, true);
        let (status, body) = common::upload_multipart(&s, &token, &src, "Killed mid-move").await;
        assert_eq!(status, 200, "{body}");
        let uuid = body["video"]["uuid"].as_str().unwrap().to_string();
        // A multipart upload a dead move left under the video's keys: the move aborts it.
        let os = storage_with(&g, g.bucket, &g.secret, "");
        let orphan = format!("hls/{uuid}/orphan-fragmented.mp4");
        os.s3()
            .create_multipart(g.bucket, &orphan, "video/mp4", None)
            .unwrap();
        assert_eq!(
            os.s3()
                .list_multipart_uploads(g.bucket, &format!("hls/{uuid}/"))
                .unwrap()
                .len(),
            1
        );
        // And a file a move left on the private side before the video became public again.
        let stale = s.dir.join("stale.m3u8");
        std::fs::write(&stale, "#EXTM3U\n").unwrap();
        os.upload_hls_file(&uuid, true, &stale, "stale.m3u8")
            .unwrap();
        // Kill as soon as the video waits for the bucket (state 6).
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let v = video(&s, &token, &uuid).await;
            let state = v["state"]["id"].as_u64().unwrap();
            if state == 6 || state == 1 {
                break;
            }
            assert!(Instant::now() < deadline, "{v}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        s.child.as_mut().unwrap().kill().unwrap();
        s.child.as_mut().unwrap().wait().unwrap();
    });
    let mut s = Server::start_in(
        dir.path(),
        Options {
            env: opts.env.clone(),
            args: opts.args.clone(),
        },
    );
    let (token, uuid) = rt().block_on(async {
        let (token, _) = login(&s).await;
        let list: Value = client()
            .get(s.url("/api/v1/users/me/videos"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let uuid = list["data"][0]["uuid"].as_str().unwrap().to_string();
        let v = common::wait_state(&s, &token, &uuid, &[1, 8]).await;
        assert_eq!(v["state"]["id"], 1, "{v}\n{}", s.log());
        assert_eq!(v["streamingPlaylists"][0]["files"][0]["storage"], 2);
        check_files(&v, None).await;
        let os = storage_with(&g, g.bucket, &g.secret, "");
        let left = os
            .s3()
            .list_multipart_uploads(g.bucket, &format!("hls/{uuid}/"))
            .unwrap();
        assert!(left.is_empty(), "multipart uploads left: {left:?}");
        assert!(
            keys_of(&os, &uuid, true).is_empty(),
            "objects left on the private side"
        );
        (token, uuid)
    });
    // A privacy change cut short: the objects went to the private side, the record (public)
    // was not written. The next start puts them back where the record says.
    s.stop();
    let os = storage_with(&g, g.bucket, &g.secret, "");
    let public = keys_of(&os, &uuid, false);
    os.move_hls_side(&uuid, true).unwrap();
    assert!(keys_of(&os, &uuid, false).is_empty());
    let s = Server::start_in(dir.path(), opts);
    rt().block_on(async {
        let deadline = Instant::now() + Duration::from_secs(60);
        while keys_of(&os, &uuid, false) != public || !keys_of(&os, &uuid, true).is_empty() {
            assert!(
                Instant::now() < deadline,
                "objects not moved back\n{}",
                s.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        check_files(&video(&s, &token, &uuid).await, None).await;
    });
}

/// Wrong credentials and a bucket that does not exist: the server starts, says so in the admin
/// status, and keeps the video on disk waiting (state 6) with the reason, never published
/// half-moved.
#[test]
fn wrong_credentials_and_missing_bucket_are_reported_and_nothing_is_lost() {
    let g = Garage::start();
    for (what, var, value, expect) in [
        (
            "wrong secret",
            "AWS_SECRET_ACCESS_KEY",
            "0".repeat(64),
            "403",
        ),
        (
            "missing bucket",
            "FLEUVE_OBJECT_STORAGE_STREAMING_PLAYLISTS_BUCKET_NAME",
            "no-such-bucket".to_string(),
            "404",
        ),
    ] {
        let (_, _, mut opts) = self_served(&g);
        opts.env.retain(|(k, _)| k != var);
        opts.env.push((var.to_string(), value));
        let s = Server::start_with(opts);
        assert!(
            s.log()
                .contains("the object storage does not answer as it should"),
            "{what}: {}",
            s.log()
        );
        rt().block_on(async {
            let (token, _) = login(&s).await;
            let st: Value = client()
                .get(s.url("/api/v1/admin/status"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(st["objectStorage"]["reachable"], false, "{what}: {st}");
            assert!(
                st["objectStorage"]["error"]
                    .as_str()
                    .unwrap()
                    .contains(expect),
                "{what}: {st}"
            );
            let src = common::clip(&s.dir, "w.mp4", "320x240", 25, 2, true);
            let (status, body) = common::upload_multipart(&s, &token, &src, what).await;
            assert_eq!(status, 200, "{body}");
            let uuid = body["video"]["uuid"].as_str().unwrap().to_string();
            common::wait_state(&s, &token, &uuid, &[6]).await;
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let m: Value = client()
                    .get(s.url("/api/v1/admin/storage/moves"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if let Some(e) = m["moves"]["lastError"].as_str() {
                    assert!(e.contains(&uuid) && e.contains(expect), "{what}: {e}");
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{what}: no failure recorded: {m}\n{}",
                    s.log()
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            // Still on disk, whole, and not shown as published.
            let v = video(&s, &token, &uuid).await;
            assert_eq!(v["state"]["id"], 6, "{v}");
            assert!(s
                .media()
                .join("streaming-playlists/hls")
                .join(&uuid)
                .is_dir());
        });
    }
}

async fn metric_of(url: &str, name: &str) -> f64 {
    let text = client()
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    metric(&text, name)
}

/// An edge (`fleuve serve --edge`, no database) serves the bucket: the primary's `base_url`
/// points at it, the player on the primary's watch page plays with every video file from the
/// edge (each segment's sha256 checked by the player, and every file's ranges by the test), its
/// `/metrics` shows hits and upstream requests, a private video's files answer at the edge only
/// with a video file token signed by the secret both share, and the edge has no API.
#[test]
fn an_edge_serves_the_bucket_to_the_player() {
    common::browser::require_browser();
    // Without an object storage, an edge has nothing to serve: it says so.
    let empty = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(common::bin())
        .args(["serve", "--edge", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(empty.path())
        .env_remove("FLEUVE_CONFIG")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("object_storage.enabled"),
        "{err}"
    );

    let g = Garage::start();
    let edge_port = common::garage::free_port();
    let edge_base = format!("http://127.0.0.1:{edge_port}");
    let secret_dir = tempfile::tempdir().unwrap();
    let secret = secret_dir.path().join("file-token.key");
    std::fs::write(&secret, format!("{}\n", "5e".repeat(32))).unwrap();
    let mut env = g.fleuve_env(&format!("{edge_base}/static/streaming-playlists"));
    env.push((
        "FLEUVE_AUTH_VIDEO_FILE_TOKEN_SECRET_FILE".into(),
        secret.display().to_string(),
    ));
    let s = Server::start_with(Options {
        env: env.clone(),
        args: vec![],
    });
    let edge = Server::start_with(Options {
        env,
        args: vec![
            "--edge".into(),
            "--listen".into(),
            format!("127.0.0.1:{edge_port}"),
        ],
    });
    assert!(!edge.dir.join("meta").exists(), "an edge opens no database");
    let (token, v) = rt().block_on(async {
        let (token, _) = login(&s).await;
        let v = publish_clip(&s, &token, "640x360", 12).await;
        let v = wait_storage(&s, &token, v["uuid"].as_str().unwrap(), 2).await;
        (token, v)
    });
    let uuid = v["uuid"].as_str().unwrap().to_string();
    let short = v["shortUUID"].as_str().unwrap().to_string();
    let pl = &v["streamingPlaylists"][0];
    assert!(
        pl["playlistUrl"].as_str().unwrap().starts_with(&format!(
            "{edge_base}/static/streaming-playlists/hls/{uuid}/"
        )),
        "{v}"
    );
    rt().block_on(check_files(&v, None));

    // The player on the primary's page, its files from the edge.
    let w = common::browser::scenario(
        "watch",
        json!({
            "base": s.base, "short": short, "uuid": uuid,
            "out": common::browser::artifacts(), "seeks": [7.9],
        }),
    );
    let st = &w["state"];
    assert!(st["currentTime"].as_f64().unwrap() > 3.0, "{w}");
    let fatal: Vec<&Value> = st["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["fatal"] == true)
        .collect();
    assert!(fatal.is_empty(), "player errors: {fatal:?}");
    assert!(st["mediaError"].is_null(), "{w}");
    assert!(st["validated"]["http"].as_u64().unwrap() > 0, "{w}");
    assert_eq!(st["rejected"]["http"], 0, "{w}");
    let origins = w["mediaOrigins"].as_object().unwrap();
    assert!(
        origins.get(&edge_base).and_then(Value::as_u64).unwrap_or(0) > 2,
        "the files came from the edge: {origins:?}"
    );
    assert!(
        !origins.contains_key(&s.base),
        "no video file from the primary: {origins:?}"
    );
    let edge_metrics = format!("{edge_base}/metrics");

    rt().block_on(async {
        // Ranges the player asked again came from the on-disk cache (sent with sendfile).
        for m in [
            "fleuve_object_storage_chunk_hits_total",
            "fleuve_object_storage_upstream_requests_total",
            "fleuve_object_storage_disk_writes_total",
            "fleuve_object_storage_disk_hits_total",
            "fleuve_object_storage_disk_cache_bytes",
        ] {
            assert!(metric_of(&edge_metrics, m).await > 0.0, "{m}");
        }
        // No API, no uploads at the edge.
        let r = client()
            .get(format!("{edge_base}/api/v1/videos"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 404);
        assert!(r.text().await.unwrap().contains("Fleuve edge"));
        let r = client()
            .post(format!("{edge_base}/api/v1/videos/upload-resumable"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 404);

        // Private: at the edge with a token the primary signed; not without, nor with OAuth.
        set_privacy(&s, &token, &uuid, 3).await;
        let pv = video(&s, &token, &uuid).await;
        let file_url = pv["streamingPlaylists"][0]["files"][0]["fileUrl"]
            .as_str()
            .unwrap()
            .to_string();
        let name = file_url.rsplit('/').next().unwrap();
        let at_edge = format!(
            "{edge_base}/object-storage-proxy/streaming-playlists/hls/private/{uuid}/{name}"
        );
        let t: Value = client()
            .post(s.url(&format!("/api/v1/videos/{uuid}/token")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let file_token = t["files"]["token"].as_str().unwrap();
        let r = client()
            .get(format!("{at_edge}?videoFileToken={file_token}"))
            .header("Range", "bytes=100-199")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 206);
        assert_eq!(r.bytes().await.unwrap().len(), 100);
        for req in [
            client().get(&at_edge),
            client().get(&at_edge).bearer_auth(&token),
        ] {
            assert_eq!(req.send().await.unwrap().status().as_u16(), 403);
        }
        // The public path no longer answers at the edge once its metadata is revalidated.
        let public = format!("{edge_base}/static/streaming-playlists/hls/{uuid}/{name}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let st = client()
                .get(&public)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16();
            if st == 404 {
                break;
            }
            assert!(Instant::now() < deadline, "{public} still answers {st}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
}
