//! The upload window, as PeerTube's clients see it: from the upload's answer until the transcode
//! ends, the video's original is a web video (`files[0]`) with a torrent the tracker accepts,
//! served with ranges at `/static/web-videos/` and `/download/web-videos/`, and the video has a
//! JPEG miniature and preview of PeerTube's sizes; once transcoded, the original is gone (or
//! kept aside with `transcode.original_file.keep`).

mod common;

use common::*;
use serde_json::Value;
use sha1::{Digest, Sha1};
use std::path::Path;
use std::time::{Duration, Instant};

/// A resumable upload of `path` in one chunk; returns the video JSON of the answer.
async fn upload_resumable(s: &Server, token: &str, path: &Path, name: &str) -> Value {
    let data = std::fs::read(path).unwrap();
    let filename = path.file_name().unwrap().to_string_lossy().into_owned();
    let r = client()
        .post(s.url("/api/v1/videos/upload-resumable"))
        .bearer_auth(token)
        .header("X-Upload-Content-Length", data.len().to_string())
        .header("X-Upload-Content-Type", "video/mp4")
        .json(&serde_json::json!({"name": name, "channelId": 1, "filename": filename}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let location = format!("http:{}", r.headers()["location"].to_str().unwrap());
    let r = client()
        .put(&location)
        .bearer_auth(token)
        .header("Content-Type", "application/octet-stream")
        .header(
            "Content-Range",
            format!("bytes 0-{}/{}", data.len() - 1, data.len()),
        )
        .body(data)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r.json().await.unwrap()
}

/// Width and height of a JPEG, from ffprobe (what a user would check), and that it is one.
fn jpeg_size(bytes: &[u8]) -> (u64, u64) {
    assert_eq!(&bytes[..2], &[0xFF, 0xD8], "not a JPEG");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.jpg");
    std::fs::write(&p, bytes).unwrap();
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,width,height",
            "-of",
            "json",
        ])
        .arg(&p)
        .output()
        .expect("ffprobe (apt-get install ffmpeg)");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let st = &v["streams"][0];
    assert_eq!(st["codec_name"], "mjpeg", "{v}");
    (
        st["width"].as_u64().unwrap(),
        st["height"].as_u64().unwrap(),
    )
}

async fn get_bytes(url: &str, range: Option<&str>) -> (u16, String, Vec<u8>) {
    let mut req = client().get(url);
    if let Some(r) = range {
        req = req.header("Range", r);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, r.bytes().await.unwrap().to_vec())
}

/// Polls the video until its first web video has a torrent (deadline 60 s).
async fn wait_torrent(s: &Server, token: &str, uuid: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, v) = get_video(s, token, uuid).await;
        assert_eq!(status, 200, "{v}");
        assert!(
            v["files"][0].is_object(),
            "no web video in the upload window: {v}"
        );
        if v["files"][0]["torrentUrl"].is_string() {
            return v;
        }
        assert!(Instant::now() < deadline, "no torrent: {v}\n{}", s.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn the_upload_window_has_the_original_with_torrent_and_images() {
    let mut opts = Options::default();
    // One lane: the long clip's transcode holds the window of the short one open.
    opts.env.push(("FLEUVE_TRANSCODE_JOBS".into(), "1".into()));
    let s = Server::start_with(opts);
    rt().block_on(async {
        let (token, _) = login(&s).await;
        let long = clip(&s.dir, "long.mp4", "1280x720", 25, 40, true);
        let (status, body) = upload_multipart(&s, &token, &long, "Long clip").await;
        assert_eq!(status, 200, "{body}");
        let long_uuid = body["video"]["uuid"].as_str().unwrap().to_string();

        let src = clip(&s.dir, "window.mp4", "640x360", 25, 4, true);
        let source = std::fs::read(&src).unwrap();
        let answer = upload_resumable(&s, &token, &src, "Window clip").await;
        let uuid = answer["video"]["uuid"].as_str().unwrap().to_string();

        // At once: the original as files[0], and the images.
        let (status, v) = get_video(&s, &token, &uuid).await;
        assert_eq!(status, 200);
        assert_eq!(v["state"]["id"], 2, "{v}");
        let files = v["files"].as_array().unwrap();
        assert_eq!(files.len(), 1, "{v}");
        let f = &files[0];
        assert_eq!(f["resolution"]["id"], 360);
        assert_eq!(f["resolution"]["label"], "360p");
        assert_eq!(
            (f["width"].as_u64(), f["height"].as_u64()),
            (Some(640), Some(360))
        );
        assert_eq!(f["fps"], 25);
        assert_eq!(f["size"].as_u64(), Some(source.len() as u64));
        assert_eq!(
            f["fileUrl"],
            s.url(&format!("/static/web-videos/{uuid}-360.mp4"))
                .as_str()
        );
        assert_eq!(
            f["fileDownloadUrl"],
            s.url(&format!("/download/web-videos/{uuid}-360.mp4"))
                .as_str()
        );
        assert!(f["metadataUrl"].is_string(), "{f}");
        let thumb = v["thumbnailPath"]
            .as_str()
            .expect("thumbnailPath")
            .to_string();
        let preview = v["previewPath"].as_str().expect("previewPath").to_string();

        // The torrent comes moments later; the tracker accepts its info-hash.
        let v = wait_torrent(&s, &token, &uuid).await;
        let f = &v["files"][0];
        let torrent_url = f["torrentUrl"].as_str().unwrap();
        assert_eq!(
            torrent_url,
            s.url(&format!("/lazy-static/torrents/{uuid}-360.torrent"))
        );
        let (status, ct, torrent) = get_bytes(torrent_url, None).await;
        assert_eq!((status, ct.as_str()), (200, "application/x-bittorrent"));
        let top = fleuve::bencode::Value::decode(&torrent).unwrap();
        let info = top.get("info").unwrap();
        let info_hash = hex::encode(Sha1::digest(info.encode()));
        assert_eq!(f["infoHash"], info_hash.as_str());
        assert!(f["magnetUri"]
            .as_str()
            .unwrap()
            .contains(&format!("xt=urn:btih:{info_hash}")));
        assert_eq!(
            info.get("length"),
            Some(&fleuve::bencode::Value::Int(source.len() as i64))
        );
        assert_eq!(
            top.get("url-list"),
            Some(&fleuve::bencode::Value::List(vec![
                fleuve::bencode::Value::str(f["fileUrl"].as_str().unwrap())
            ]))
        );
        assert!(tracker_accepts(&s, &info_hash).await);
        let (status, _, _) = get_bytes(f["torrentDownloadUrl"].as_str().unwrap(), None).await;
        assert_eq!(status, 200);

        // The file serves with ranges, at both URLs.
        for url in [&f["fileUrl"], &f["fileDownloadUrl"]] {
            let (status, ct, body) = get_bytes(url.as_str().unwrap(), Some("bytes=100-1099")).await;
            assert_eq!((status, ct.as_str()), (206, "video/mp4"), "{url}");
            assert_eq!(body, &source[100..1100]);
        }
        let (status, _, body) = get_bytes(f["fileUrl"].as_str().unwrap(), None).await;
        assert_eq!((status, body.len()), (200, source.len()));

        // PeerTube's two sizes, fitted to the 16:9 source.
        let (status, ct, jpeg) = get_bytes(&s.url(&thumb), None).await;
        assert_eq!((status, ct.as_str()), (200, "image/jpeg"));
        assert_eq!(jpeg_size(&jpeg), (280, 158));
        let (status, ct, jpeg) = get_bytes(&s.url(&preview), None).await;
        assert_eq!((status, ct.as_str()), (200, "image/jpeg"));
        assert_eq!(jpeg_size(&jpeg), (850, 478));

        // All of it was checked inside the window.
        let (_, v) = get_video(&s, &token, &uuid).await;
        assert_eq!(
            v["state"]["id"], 2,
            "the window closed before the checks ended"
        );

        // Transcoded: the original is gone, its torrent off the tracker, the images replaced.
        wait_state(&s, &token, &long_uuid, &[1]).await;
        let v = wait_state(&s, &token, &uuid, &[1]).await;
        assert_eq!(v["files"], serde_json::json!([]), "{v}");
        assert!(v["streamingPlaylists"][0]["files"][0].is_object());
        // The files go, and the tracker forgets, just after the record changed.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let file = status_of(&s, &format!("/static/web-videos/{uuid}-360.mp4")).await;
            let torrent = status_of(&s, &format!("/lazy-static/torrents/{uuid}-360.torrent")).await;
            let tracked = tracker_accepts(&s, &info_hash).await;
            if (file, torrent, tracked) == (404, 404, false) {
                break;
            }
            assert!(Instant::now() < deadline, "{file} {torrent} {tracked}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_ne!(v["thumbnailPath"].as_str(), Some(thumb.as_str()));
        assert_eq!(status_of(&s, &thumb).await, 404);
        assert_eq!(
            status_of(&s, v["thumbnailPath"].as_str().unwrap()).await,
            200
        );
        assert!(!s.dir.join("original-video-files").exists());
    });
}

#[test]
fn keep_original_puts_the_upload_aside() {
    let mut opts = Options::default();
    opts.env
        .push(("FLEUVE_TRANSCODE_RESOLUTIONS".into(), "144".into()));
    opts.env
        .push(("FLEUVE_TRANSCODE_ORIGINAL_FILE_KEEP".into(), "true".into()));
    let s = Server::start_with(opts);
    rt().block_on(async {
        let (token, _) = login(&s).await;
        let src = clip(&s.dir, "kept.mp4", "320x240", 25, 2, false);
        let source = std::fs::read(&src).unwrap();
        let (status, body) = upload_multipart(&s, &token, &src, "Kept clip").await;
        assert_eq!(status, 200, "{body}");
        let uuid = body["video"]["uuid"].as_str().unwrap().to_string();
        let v = wait_state(&s, &token, &uuid, &[1]).await;
        assert_eq!(v["files"], serde_json::json!([]), "{v}");
        let kept = s
            .dir
            .join("original-video-files")
            .join(format!("{uuid}-240.mp4"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !kept.exists() {
            assert!(Instant::now() < deadline, "the original was not kept");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(std::fs::read(&kept).unwrap(), source);
        assert_eq!(
            status_of(&s, &format!("/static/web-videos/{uuid}-240.mp4")).await,
            404
        );
    });
}

async fn get_authed(url: &str, token: &str, range: Option<&str>) -> (u16, Vec<u8>) {
    let mut req = client().get(url).bearer_auth(token);
    if let Some(r) = range {
        req = req.header("Range", r);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

async fn set_privacy(s: &Server, token: &str, uuid: &str, privacy: u8) {
    let r = client()
        .put(s.url(&format!("/api/v1/videos/{uuid}")))
        .bearer_auth(token)
        .json(&serde_json::json!({ "privacy": privacy }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
}

#[test]
fn the_window_follows_privacy_changes_and_deletion() {
    let s = Server::start();
    rt().block_on(async {
        let (token, _) = login(&s).await;
        let long = clip(&s.dir, "long.mp4", "1280x720", 25, 40, true);
        let (status, body) = upload_multipart(&s, &token, &long, "Long clip").await;
        assert_eq!(status, 200, "{body}");
        let src = clip(&s.dir, "private.mp4", "640x360", 25, 3, true);
        let source = std::fs::read(&src).unwrap();
        let (status, body) = upload_multipart(&s, &token, &src, "Soon private").await;
        assert_eq!(status, 200, "{body}");
        let uuid = body["video"]["uuid"].as_str().unwrap().to_string();
        let v = wait_torrent(&s, &token, &uuid).await;
        let info_hash = v["files"][0]["infoHash"].as_str().unwrap().to_string();
        let public = format!("/static/web-videos/{uuid}-360.mp4");
        assert!(tracker_accepts(&s, &info_hash).await);

        // Private: the file and its torrent move beside the private files, off the tracker.
        set_privacy(&s, &token, &uuid, 3).await;
        let (_, v) = get_video(&s, &token, &uuid).await;
        let f = &v["files"][0];
        let private_url = s.url(&format!("/static/web-videos/private/{uuid}-360.mp4"));
        assert_eq!(f["fileUrl"], private_url.as_str(), "{v}");
        assert_eq!(status_of(&s, &public).await, 404);
        assert_eq!(get_bytes(&private_url, None).await.0, 403);
        let (status, body) = get_authed(&private_url, &token, Some("bytes=0-99")).await;
        assert_eq!((status, body.as_slice()), (206, &source[..100]));
        let torrent_url = f["torrentUrl"].as_str().unwrap();
        assert_eq!(
            torrent_url,
            s.url(&format!("/static/web-videos/private/{uuid}-360.torrent"))
        );
        assert_eq!(
            status_of(&s, &format!("/lazy-static/torrents/{uuid}-360.torrent")).await,
            404
        );
        let (status, torrent) = get_authed(torrent_url, &token, None).await;
        assert_eq!(status, 200);
        let top = fleuve::bencode::Value::decode(&torrent).unwrap();
        assert_eq!(top.get("url-list"), None);
        assert_eq!(
            hex::encode(Sha1::digest(top.get("info").unwrap().encode())),
            info_hash
        );
        assert!(!tracker_accepts(&s, &info_hash).await);
        assert!(v["magnetUri"].is_null() || !f["magnetUri"].as_str().unwrap().contains("&ws="));

        // Public again.
        set_privacy(&s, &token, &uuid, 1).await;
        assert_eq!(status_of(&s, &public).await, 200);
        assert!(tracker_accepts(&s, &info_hash).await);

        // Deleted in the window: nothing of it stays.
        let (_, v) = get_video(&s, &token, &uuid).await;
        assert_eq!(
            v["state"]["id"], 2,
            "the window closed before the checks ended"
        );
        let thumb = v["thumbnailPath"].as_str().unwrap().to_string();
        let r = client()
            .delete(s.url(&format!("/api/v1/videos/{uuid}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 204);
        assert_eq!(status_of(&s, &public).await, 404);
        assert_eq!(
            status_of(&s, &format!("/lazy-static/torrents/{uuid}-360.torrent")).await,
            404
        );
        assert_eq!(status_of(&s, &thumb).await, 404);
        assert!(!tracker_accepts(&s, &info_hash).await);
        assert!(!s
            .media()
            .join("web-videos")
            .join(format!("{uuid}-360.mp4"))
            .exists());
    });
}
