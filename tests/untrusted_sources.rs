//! Hostile and oversized uploads against the real server: a playlist posing as a video must not
//! publish another file of the host, sources over the `transcode.max_source_*` caps are refused
//! when probed, and deleting a video stops its transcode.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Runs the ffmpeg CLI with `args` writing `out`.
fn ffmpeg(args: &[&str], out: &Path) {
    let st = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .arg(out)
        .status()
        .expect("ffmpeg CLI is required (apt-get install ffmpeg)");
    assert!(st.success(), "ffmpeg failed to write {}", out.display());
}

/// Files under `dir`, recursively (empty when it does not exist).
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn an_uploaded_hls_playlist_cannot_publish_a_file_from_elsewhere_on_the_host() {
    let s = Server::start();
    // Somebody else's file, outside the data directory.
    let elsewhere = tempfile::tempdir().unwrap();
    let secret = elsewhere.path().join("secret.ts");
    ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25:duration=2",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-f",
            "mpegts",
        ],
        &secret,
    );
    let upload_dir = tempfile::tempdir().unwrap();
    let innocent = upload_dir.path().join("innocent.mp4");
    let playlist = format!(
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n{}\n#EXT-X-ENDLIST\n",
        secret.display()
    );
    std::fs::write(&innocent, &playlist).unwrap();

    rt().block_on(async {
        let token = login(&s).await.0;
        let (status, body) = upload_multipart(&s, &token, &innocent, "Innocent").await;
        if status == 200 {
            // Accepted: it must at least not be published.
            let uuid = body["video"]["uuid"].as_str().unwrap_or_default();
            let v = wait_state(&s, &token, uuid, &[1, 7]).await;
            assert_ne!(
                v["state"]["id"],
                1,
                "a playlist naming {} was published: {v}",
                secret.display()
            );
            let why = v["transcoding"]["error"].as_str().unwrap_or_default();
            assert!(why.contains("hls is not an accepted container"), "{why}");
        }
        assert_eq!(status, 422, "{body}");
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.contains("innocent.mp4")
                && detail.contains("hls is not an accepted container; accepted: mov, mp4"),
            "{detail}"
        );
        let list: Value = get_json_as(&s, "/api/v1/videos", &token).await;
        assert_eq!(list["total"], 0, "{list}");
    });
    assert!(files_under(&s.dir.join("sources")).is_empty());
    assert!(files_under(&s.media().join("streaming-playlists")).is_empty());

    // The worker's own probe and the pipeline refuse it too (a job queued before this check).
    for args in [
        vec!["plan".to_string()],
        vec!["transcode".into(), "--prefix".into(), "x".into()],
    ] {
        let mut cmd = Command::new(bin());
        cmd.args(&args).arg(&innocent);
        if args[0] == "transcode" {
            cmd.arg(upload_dir.path().join("out"));
        }
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} accepted the playlist");
        assert!(err.contains("hls is not an accepted container"), "{err}");
    }
    assert!(files_under(&upload_dir.path().join("out")).is_empty());
}

#[test]
fn sources_over_the_caps_are_refused_at_upload_naming_the_value_and_the_limit() {
    let mut opts = Options::default();
    for (k, v) in [
        ("FLEUVE_TRANSCODE_MAX_SOURCE_SIDE", "256"),
        ("FLEUVE_TRANSCODE_MAX_SOURCE_FPS", "20"),
        ("FLEUVE_TRANSCODE_MAX_SOURCE_DURATION_SECS", "2"),
    ] {
        opts.env.push((k.into(), v.into()));
    }
    let s = Server::start_with(opts);
    let wide = clip(&s.dir, "wide.mp4", "320x240", 10, 1, false);
    let fast = clip(&s.dir, "fast.mp4", "160x120", 25, 1, false);
    let long = clip(&s.dir, "long.mp4", "160x120", 10, 4, false);
    let fine = clip(&s.dir, "fine.mp4", "160x120", 10, 1, false);
    rt().block_on(async {
        let token = login(&s).await.0;
        for (path, want) in [
            (
                &wide,
                "320x240; its longest side is above transcode.max_source_side = 256",
            ),
            (
                &fast,
                "25.00 frames per second, above transcode.max_source_fps = 20",
            ),
            (&long, "above transcode.max_source_duration_secs = 2"),
        ] {
            let (status, body) = upload_multipart(&s, &token, path, "Too much").await;
            assert_eq!(status, 422, "{path:?}: {body}");
            let detail = body["detail"].as_str().unwrap();
            assert!(detail.contains(want), "{detail}");
        }
        let list: Value = get_json_as(&s, "/api/v1/videos", &token).await;
        assert_eq!(list["total"], 0, "{list}");
        // Within the caps: accepted and published, its top rung its own size.
        let (status, body) = upload_multipart(&s, &token, &fine, "Fine").await;
        assert_eq!(status, 200, "{body}");
        let uuid = body["video"]["uuid"].as_str().unwrap().to_string();
        let v = wait_state(&s, &token, &uuid, &[1, 7]).await;
        assert_eq!(v["state"]["id"], 1, "{v}");
        let res: Vec<u64> = v["streamingPlaylists"][0]["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["resolution"]["id"].as_u64().unwrap())
            .collect();
        assert_eq!(res, vec![120], "{v}");
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
fn deleting_a_video_kills_its_transcode_and_nothing_is_published() {
    let mut opts = Options::default();
    opts.env
        .push(("FLEUVE_TRANSCODE_RESOLUTIONS".into(), "720,360".into()));
    let s = Server::start_with(opts);
    let src = clip(&s.dir, "long.mp4", "1280x720", 25, 20, true);
    let server_pid = s.child.as_ref().unwrap().id();
    rt().block_on(async {
        let token = login(&s).await.0;
        let (status, body) = upload_multipart(&s, &token, &src, "Deleted mid-transcode").await;
        assert_eq!(status, 200, "{body}");
        let uuid = body["video"]["uuid"].as_str().unwrap().to_string();
        let deadline = Instant::now() + Duration::from_secs(60);
        let worker = loop {
            if let Some(pid) = worker_pid(server_pid) {
                break pid;
            }
            assert!(Instant::now() < deadline, "no worker started");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let r = client()
            .delete(s.url(&format!("/api/v1/videos/{uuid}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 204);
        // The worker is killed, not left to finish.
        let deadline = Instant::now() + Duration::from_secs(10);
        while Path::new(&format!("/proc/{worker}")).exists() {
            assert!(
                Instant::now() < deadline,
                "worker {worker} still runs after its video was deleted"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while !s.log().contains("nothing published") {
            assert!(
                Instant::now() < deadline,
                "job not dropped; log:\n{}",
                s.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (status, _) = get_video(&s, &token, &uuid).await;
        assert_eq!(status, 404);
        assert!(!s.log().contains("transcode failed"), "{}", s.log());
        assert!(!s
            .media()
            .join("streaming-playlists/hls")
            .join(&uuid)
            .exists());
        assert!(files_under(&s.dir.join("sources")).is_empty());
        assert!(files_under(&s.dir.join("tmp/jobs")).is_empty());
        let metrics = metrics_text(&s).await;
        for state in ["queued", "running", "failed"] {
            assert!(
                metrics.contains(&format!("fleuve_transcode_jobs{{state=\"{state}\"}} 0")),
                "{metrics}"
            );
        }
        // The server goes on transcoding other uploads.
        publish_clip(&s, &token, "320x240", 1).await;
    });
}
