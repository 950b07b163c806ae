//! Web videos per rung (`transcode.web_videos.enabled`) and the kept original
//! (`transcode.original_file.keep`), as PeerTube's clients see them: `files[]` lists one
//! faststart MP4 per rung, with its audio, served with ranges at `/static/web-videos/` and
//! `/download/web-videos/`, with a torrent the tracker accepts; a private video's are under
//! `private/` and need a token; `GET /api/v1/videos/{id}/source` gives the kept original's
//! `fileDownloadUrl`, which only those who manage the video may download.

mod common;

use common::*;
use reqwest::Method;
use serde_json::Value;
use sha1::{Digest, Sha1};
use std::path::Path;

async fn get(url: &str, token: Option<&str>, range: Option<&str>) -> (u16, Vec<u8>) {
    let mut req = client().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(r) = range {
        req = req.header("Range", r);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

/// ffprobe's view of an MP4: its format name and the codec type of each stream.
fn probe(bytes: &[u8]) -> (String, Vec<String>, Value) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("w.mp4");
    std::fs::write(&p, bytes).unwrap();
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-show_entries"])
        .args(["stream=codec_type,width,height:format=format_name"])
        .args(["-of", "json"])
        .arg(&p)
        .output()
        .expect("ffprobe (apt-get install ffmpeg)");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds = v["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["codec_type"].as_str().unwrap().to_string())
        .collect();
    (
        v["format"]["format_name"].as_str().unwrap().into(),
        kinds,
        v,
    )
}

/// Checks one web video of `files[]`: served with ranges at both URLs, a faststart MP4 of
/// its size with audio, a torrent of it that the tracker accepts. Returns its info-hash.
async fn check_public_web_video(s: &Server, f: &Value) -> String {
    let res = f["resolution"]["id"].as_u64().unwrap();
    let url = f["fileUrl"].as_str().unwrap();
    assert!(
        url.starts_with(&s.url("/static/web-videos/")) && url.ends_with(&format!("-{res}.mp4")),
        "{f}"
    );
    let (status, body) = get(url, None, None).await;
    assert_eq!(status, 200, "{url}");
    assert_eq!(body.len() as u64, f["size"].as_u64().unwrap());
    for u in [url, f["fileDownloadUrl"].as_str().unwrap()] {
        let (status, part) = get(u, None, Some("bytes=8-1007")).await;
        assert_eq!((status, part.as_slice()), (206, &body[8..1008]), "{u}");
    }
    let boxes = fleuve::transcode::web_video::top_level_boxes(&body);
    let moov = boxes.iter().position(|b| b == "moov");
    let mdat = boxes.iter().position(|b| b == "mdat");
    assert!(
        moov.is_some() && mdat.is_some() && moov < mdat,
        "not faststart: {boxes:?}"
    );
    let (format, kinds, v) = probe(&body);
    assert!(format.starts_with("mov,mp4"), "{format}");
    assert_eq!(kinds, ["video", "audio"], "{v}");
    assert_eq!(
        v["streams"][0]["height"].as_u64(),
        f["height"].as_u64(),
        "{v}"
    );
    assert_eq!(f["hasAudio"], true);

    let (status, torrent) = get(f["torrentUrl"].as_str().unwrap(), None, None).await;
    assert_eq!(status, 200, "{f}");
    let top = fleuve::bencode::Value::decode(&torrent).unwrap();
    let info = top.get("info").unwrap();
    let info_hash = hex::encode(Sha1::digest(info.encode()));
    assert_eq!(f["infoHash"], info_hash.as_str());
    assert_eq!(
        info.get("length"),
        Some(&fleuve::bencode::Value::Int(body.len() as i64))
    );
    assert_eq!(
        top.get("url-list"),
        Some(&fleuve::bencode::Value::List(vec![
            fleuve::bencode::Value::str(url)
        ]))
    );
    assert!(tracker_accepts(s, &info_hash).await, "{info_hash}");
    info_hash
}

#[test]
fn web_videos_enabled_gives_a_faststart_mp4_per_rung() {
    let s = Server::start_with(with_env(&[
        ("FLEUVE_TRANSCODE_WEB_VIDEOS_ENABLED", "true"),
        ("FLEUVE_TRANSCODE_RESOLUTIONS", "144,240"),
    ]));
    rt().block_on(async {
        let (token, _) = login(&s).await;
        let config = get_json(&s, "/api/v1/config").await;
        assert_eq!(config["transcoding"]["webVideos"]["enabled"], true);
        let v = publish_clip(&s, &token, "320x240", 3).await;
        let uuid = v["uuid"].as_str().unwrap().to_string();
        let hls = v["streamingPlaylists"][0]["files"].as_array().unwrap();
        let files = v["files"].as_array().unwrap();
        let mut res: Vec<u64> = files
            .iter()
            .map(|f| f["resolution"]["id"].as_u64().unwrap())
            .collect();
        res.sort_unstable();
        assert_eq!(res, [144, 240], "{v}");
        assert_eq!(hls.len(), 2, "{v}");
        let mut hashes = Vec::new();
        for f in files {
            hashes.push(check_public_web_video(&s, f).await);
        }
        // Ids unique across the HLS files and the web videos (metadata is served per id).
        let mut ids: Vec<u64> = files
            .iter()
            .chain(hls)
            .map(|f| f["id"].as_u64().unwrap())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 4);
        let meta = get_json(
            &s,
            &format!("/api/v1/videos/{uuid}/metadata/{}", files[0]["id"]),
        )
        .await;
        assert_eq!(meta["format"]["size"], files[0]["size"], "{meta}");

        // Federated as PeerTube does: each web video a `video/mp4` Link of the Video object,
        // with its torrent and magnet Links (a PeerTube follower lists them in `files[]`).
        let object = get_ap_json(&s, &format!("/videos/watch/{uuid}")).await;
        let links = object["url"].as_array().unwrap();
        for f in files {
            let height = f["resolution"]["id"].clone();
            let of = |media: &str| {
                links
                    .iter()
                    .find(|l| l["mediaType"] == media && l["height"] == height)
                    .unwrap_or_else(|| panic!("no {media} Link at {height}: {object}"))
                    .clone()
            };
            assert_eq!(of("video/mp4")["href"], f["fileUrl"], "{object}");
            assert_eq!(of("video/mp4")["size"], f["size"]);
            assert_eq!(of("application/x-bittorrent")["href"], f["torrentUrl"]);
            let magnet = of("application/x-bittorrent;x-scheme-handler/magnet");
            assert!(magnet["href"]
                .as_str()
                .unwrap()
                .contains(f["infoHash"].as_str().unwrap()));
        }

        // Deleted: the files, their torrents and their info-hashes go.
        let urls: Vec<String> = files
            .iter()
            .flat_map(|f| [f["fileUrl"].clone(), f["torrentUrl"].clone()])
            .map(|u| u.as_str().unwrap().to_string())
            .collect();
        let (status, _) = call(
            &s,
            Method::DELETE,
            &format!("/api/v1/videos/{uuid}"),
            Some(&token),
            Value::Null,
        )
        .await;
        assert_eq!(status, 204);
        for u in &urls {
            assert_eq!(get(u, None, None).await.0, 404, "{u}");
        }
        for h in &hashes {
            assert!(!tracker_accepts(&s, h).await, "{h}");
        }
        let left: Vec<_> = std::fs::read_dir(s.media().join("web-videos"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_file())
            .collect();
        assert!(left.is_empty(), "{left:?}");
    });
}

#[test]
fn web_videos_disabled_leaves_files_empty_and_keep_serves_the_original_to_its_owner() {
    let s = Server::start_with(with_env(&[
        ("FLEUVE_TRANSCODE_RESOLUTIONS", "144"),
        ("FLEUVE_TRANSCODE_ORIGINAL_FILE_KEEP", "true"),
    ]));
    rt().block_on(async {
        let (root, _) = login(&s).await;
        let config = get_json(&s, "/api/v1/config").await;
        assert_eq!(config["transcoding"]["webVideos"]["enabled"], false);
        let src = clip(&s.dir, "kept.mp4", "320x240", 25, 2, true);
        let source = std::fs::read(&src).unwrap();
        let (status, body) = upload_multipart(&s, &root, &src, "Kept clip").await;
        assert_eq!(status, 200, "{body}");
        let uuid = body["video"]["uuid"].as_str().unwrap().to_string();
        let v = wait_state(&s, &root, &uuid, &[1]).await;
        assert_eq!(v["files"], serde_json::json!([]), "{v}");

        let src_doc = get_json_as(&s, &format!("/api/v1/videos/{uuid}/source"), &root).await;
        assert_eq!(src_doc["inputFilename"], "kept.mp4", "{src_doc}");
        assert_eq!(src_doc["resolution"]["id"], 240, "{src_doc}");
        assert_eq!(src_doc["size"].as_u64(), Some(source.len() as u64));
        assert_eq!(
            (src_doc["width"].as_u64(), src_doc["height"].as_u64()),
            (Some(320), Some(240))
        );
        assert!(src_doc["createdAt"].is_string());
        let url = src_doc["fileDownloadUrl"]
            .as_str()
            .expect("fileDownloadUrl")
            .to_string();
        assert!(
            url.starts_with(&s.url("/download/original-video-files/")),
            "{url}"
        );
        // The file is moved aside just after the publication's batch.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let body = loop {
            let (status, body) = get(&url, Some(&root), None).await;
            if status == 200 {
                break body;
            }
            assert!(std::time::Instant::now() < deadline, "{status}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        assert_eq!(body, source);
        let (status, part) = get(&url, Some(&root), Some("bytes=10-109")).await;
        assert_eq!((status, part.as_slice()), (206, &source[10..110]));

        // Nobody else: anonymous, another user (even with a file token for the video), a
        // made-up or crafted file name.
        assert_eq!(get(&url, None, None).await.0, 401);
        let other = create_and_login(&s, &root, "other", 2).await;
        assert_eq!(get(&url, Some(&other), None).await.0, 403);
        let (status, doc) = call(
            &s,
            Method::GET,
            &format!("/api/v1/videos/{uuid}/source"),
            Some(&other),
            Value::Null,
        )
        .await;
        assert_eq!(status, 403, "{doc}");
        assert_eq!(doc["status"], 403, "{doc}");
        let (status, tok) = call(
            &s,
            Method::POST,
            &format!("/api/v1/videos/{uuid}/token"),
            Some(&other),
            Value::Null,
        )
        .await;
        assert_eq!(status, 200, "{tok}");
        let with_token = format!(
            "{url}?videoFileToken={}",
            tok["files"]["token"].as_str().unwrap()
        );
        assert_eq!(get(&with_token, None, None).await.0, 401);
        assert_eq!(get(&with_token, Some(&other), None).await.0, 403);
        for bad in [
            format!("/download/original-video-files/{uuid}-9999.mp4"),
            "/download/original-video-files/..%2F..%2Fmeta%2FCURRENT".to_string(),
            "/download/original-video-files/nothing.mp4".to_string(),
        ] {
            assert_eq!(get(&s.url(&bad), Some(&root), None).await.0, 404, "{bad}");
        }
        let (status, doc) = call(
            &s,
            Method::GET,
            "/api/v1/videos/00000000-0000-4000-8000-000000000000/source",
            Some(&root),
            Value::Null,
        )
        .await;
        assert_eq!((status, doc["status"].as_u64()), (404, Some(404)), "{doc}");

        // Deleted: the kept file goes too.
        let kept = s
            .dir
            .join("original-video-files")
            .join(Path::new(&url).file_name().unwrap());
        assert!(kept.exists());
        let (status, _) = call(
            &s,
            Method::DELETE,
            &format!("/api/v1/videos/{uuid}"),
            Some(&root),
            Value::Null,
        )
        .await;
        assert_eq!(status, 204);
        assert!(!kept.exists());
        assert_eq!(get(&url, Some(&root), None).await.0, 404);
    });
}

#[test]
fn a_private_videos_web_videos_are_private() {
    let s = Server::start_with(with_env(&[
        ("FLEUVE_TRANSCODE_WEB_VIDEOS_ENABLED", "true"),
        ("FLEUVE_TRANSCODE_RESOLUTIONS", "144"),
    ]));
    rt().block_on(async {
        let (token, _) = login(&s).await;
        let src = clip(&s.dir, "private.mp4", "320x240", 25, 2, true);
        let (status, body) = upload_multipart(&s, &token, &src, "Private clip").await;
        assert_eq!(status, 200, "{body}");
        let uuid = body["video"]["uuid"].as_str().unwrap().to_string();
        let (status, doc) = call(
            &s,
            Method::PUT,
            &format!("/api/v1/videos/{uuid}"),
            Some(&token),
            serde_json::json!({"privacy": 3}),
        )
        .await;
        assert_eq!(status, 204, "{doc}");
        let v = wait_state(&s, &token, &uuid, &[1]).await;
        let files = v["files"].as_array().unwrap();
        assert_eq!(files.len(), 2, "{v}");
        for f in files {
            let url = f["fileUrl"].as_str().unwrap();
            assert!(
                url.starts_with(&s.url("/static/web-videos/private/")),
                "{f}"
            );
            assert_eq!(get(url, None, None).await.0, 403, "{url}");
            let (status, part) = get(url, Some(&token), Some("bytes=0-7")).await;
            assert_eq!((status, part.len()), (206, 8), "{url}");
            let torrent = f["torrentUrl"].as_str().unwrap();
            assert!(torrent.contains("/private/"), "{f}");
            let (status, bytes) = get(torrent, Some(&token), None).await;
            assert_eq!(status, 200);
            let top = fleuve::bencode::Value::decode(&bytes).unwrap();
            assert_eq!(
                top.get("url-list"),
                None,
                "a private torrent has no webseed"
            );
            assert!(!tracker_accepts(&s, f["infoHash"].as_str().unwrap()).await);
        }

        // Public again: both move out, their torrents are webseeded and tracked.
        let (status, _) = call(
            &s,
            Method::PUT,
            &format!("/api/v1/videos/{uuid}"),
            Some(&token),
            serde_json::json!({"privacy": 1}),
        )
        .await;
        assert_eq!(status, 204);
        let (_, v) = get_video(&s, &token, &uuid).await;
        for f in v["files"].as_array().unwrap() {
            check_public_web_video(&s, f).await;
        }
    });
}
