//! Private and internal videos' files (issue 12, hole 7): after `PUT privacy 3` the old public
//! URLs of the master playlist, fMP4 and torrent stop answering, the files answer at
//! `/static/streaming-playlists/hls/private/<uuid>/` only with a video file token
//! (`POST /api/v1/videos/{id}/token`) or the owner's OAuth token, and the tracker refuses the
//! video's info-hashes; back to public, everything is as before. A video uploaded private is
//! published straight into the private directory, and a move a crash interrupted is finished
//! at the next start.

mod common;

use common::*;
use serde_json::{json, Value};
use std::path::Path;

/// `GET url` (absolute) with optional bearer token and `Range`; status and body.
async fn fetch(url: &str, bearer: Option<&str>, range: Option<&str>) -> (u16, Vec<u8>) {
    let mut rb = client().get(url);
    if let Some(t) = bearer {
        rb = rb.bearer_auth(t);
    }
    if let Some(r) = range {
        rb = rb.header("range", r);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.bytes().await.unwrap().to_vec())
}

async fn status(url: &str) -> u16 {
    fetch(url, None, None).await.0
}

fn with_token(url: &str, token: &str) -> String {
    format!("{url}?videoFileToken={token}")
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

/// `POST /api/v1/videos/{id}/token`: status and body.
async fn file_token(s: &Server, bearer: Option<&str>, uuid: &str) -> (u16, Value) {
    let mut rb = client().post(s.url(&format!("/api/v1/videos/{uuid}/token")));
    if let Some(t) = bearer {
        rb = rb.bearer_auth(t);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The URLs a client is given for a video: master, segments-sha256, first fMP4, its torrent,
/// its info-hash.
struct Urls {
    master: String,
    sha: String,
    fmp4: String,
    torrent: String,
    info_hash: String,
}

fn urls(v: &Value) -> Urls {
    let pl = &v["streamingPlaylists"][0];
    let f = &pl["files"][0];
    let s = |v: &Value| v.as_str().unwrap_or_else(|| panic!("{v}")).to_string();
    Urls {
        master: s(&pl["playlistUrl"]),
        sha: s(&pl["segmentsSha256Url"]),
        fmp4: s(&f["fileUrl"]),
        torrent: s(&f["torrentUrl"]),
        info_hash: s(&f["infoHash"]),
    }
}

fn url_list(torrent: &[u8]) -> Option<fleuve::bencode::Value> {
    fleuve::bencode::Value::decode(torrent)
        .expect("a torrent")
        .get("url-list")
        .cloned()
}

#[test]
fn a_private_videos_files_need_a_token_and_come_back_when_public() {
    let s = Server::start_with(Options {
        env: vec![
            ("FLEUVE_ENGINE_SHARDS".into(), "2".into()),
            ("FLEUVE_TRANSCODE_RESOLUTIONS".into(), "240".into()),
        ],
        args: vec![],
    });
    rt().block_on(async {
        let (token, _) = login(&s).await;
        let v = publish_clip(&s, &token, "426x240", 2).await;
        let uuid = v["uuid"].as_str().unwrap().to_string();
        let public = urls(&v);
        assert!(
            public.master.contains(&format!("/hls/{uuid}/")),
            "{}",
            public.master
        );
        for u in [&public.master, &public.sha, &public.fmp4, &public.torrent] {
            assert_eq!(status(u).await, 200, "{u} while public");
        }
        assert!(tracker_accepts(&s, &public.info_hash).await);
        let (st, body) = fetch(&public.torrent, None, None).await;
        assert_eq!(st, 200);
        assert!(
            url_list(&body).is_some(),
            "a public torrent has its webseed"
        );

        // Private.
        set_privacy(&s, &token, &uuid, 3).await;
        let anon = client()
            .get(s.url(&format!("/api/v1/videos/{uuid}")))
            .send()
            .await
            .unwrap();
        assert_eq!(anon.status().as_u16(), 404, "hidden from anonymous clients");
        for u in [&public.master, &public.sha, &public.fmp4, &public.torrent] {
            let st = status(u).await;
            assert!(
                st == 404 || st == 403,
                "{u} answered {st} after going private"
            );
        }
        assert!(
            !tracker_accepts(&s, &public.info_hash).await,
            "the tracker still tracks a private video's torrent"
        );
        let media = s.media();
        assert!(!media.join("streaming-playlists/hls").join(&uuid).exists());
        assert!(media
            .join("streaming-playlists/hls/private")
            .join(&uuid)
            .is_dir());

        // The owner's API document gives the private URLs.
        let (st, pv) = get_video(&s, &token, &uuid).await;
        assert_eq!(st, 200, "{pv}");
        let private = urls(&pv);
        let prefix = s.url(&format!("/static/streaming-playlists/hls/private/{uuid}/"));
        for u in [
            &private.master,
            &private.sha,
            &private.fmp4,
            &private.torrent,
        ] {
            assert!(u.starts_with(&prefix), "{u} is not under {prefix}");
            // Without a token: refused, whatever the client (fast path and hyper path).
            assert_eq!(status(u).await, 403, "{u} without a token");
            assert_eq!(
                status(&with_token(u, "forged")).await,
                403,
                "{u} forged token"
            );
        }
        assert!(!pv["streamingPlaylists"][0]["files"][0]["magnetUri"]
            .as_str()
            .unwrap()
            .contains("&ws="));

        // Tokens: only for a logged-in user who may read the files.
        assert_eq!(file_token(&s, None, &uuid).await.0, 401);
        let (st, t) = file_token(&s, Some(&token), &uuid).await;
        assert_eq!(st, 200, "{t}");
        let ft = t["files"]["token"]
            .as_str()
            .expect("files.token")
            .to_string();
        assert!(
            t["files"]["expires"]
                .as_str()
                .is_some_and(|e| e.ends_with('Z')),
            "{t}"
        );
        for u in [&private.master, &private.sha, &private.torrent] {
            assert_eq!(status(&with_token(u, &ft)).await, 200, "{u} with a token");
        }
        let (st, part) = fetch(&with_token(&private.fmp4, &ft), None, Some("bytes=0-99")).await;
        assert_eq!(
            (st, part.len()),
            (206, 100),
            "a range of the fMP4 with a token"
        );
        let (_, torrent) = fetch(&with_token(&private.torrent, &ft), None, None).await;
        assert_eq!(
            url_list(&torrent),
            None,
            "a private torrent has no public webseed"
        );
        // The token of this video opens nothing of the public side, and is bound to it.
        assert_eq!(status(&with_token(&public.master, &ft)).await, 404);
        let other = private
            .master
            .replace(&uuid, "0f5c4e9b-0000-4000-8000-0000000000ee");
        assert_eq!(status(&with_token(&other, &ft)).await, 403);
        // OAuth: the owner's bearer token opens them too; a wrong one does not.
        for u in [&private.master, &private.fmp4, &private.torrent] {
            assert_eq!(fetch(u, Some(&token), None).await.0, 200, "{u} with OAuth");
            assert_eq!(fetch(u, Some("nope"), None).await.0, 403, "{u} bad OAuth");
        }
        // The watch page says "not found" to everyone, as for a video that does not exist.
        let short = pv["shortUUID"].as_str().unwrap();
        let page = client()
            .get(s.url(&format!("/w/{short}")))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status().as_u16(), 404);
        let html = page.text().await.unwrap();
        assert!(html.contains("restricted-notice") && html.contains("watch-private.js"));
        assert!(!html.contains("Published clip"), "the page leaks the title");

        // Public again.
        set_privacy(&s, &token, &uuid, 1).await;
        for u in [&public.master, &public.sha, &public.fmp4, &public.torrent] {
            assert_eq!(status(u).await, 200, "{u} public again");
        }
        for u in [&private.master, &private.fmp4, &private.torrent] {
            assert_eq!(
                status(&with_token(u, &ft)).await,
                404,
                "{u} after going public"
            );
        }
        assert!(tracker_accepts(&s, &public.info_hash).await);
        let (_, body) = fetch(&public.torrent, None, None).await;
        assert!(url_list(&body).is_some(), "the webseed is back");
        let (_, pv) = get_video(&s, &token, &uuid).await;
        assert_eq!(urls(&pv).master, public.master);

        // Internal: files private too; any logged-in user may read them, not anonymous ones.
        set_privacy(&s, &token, &uuid, 4).await;
        assert_eq!(status(&public.master).await, 404);
        assert_eq!(fetch(&private.master, Some(&token), None).await.0, 200);
        assert_eq!(status(&private.master).await, 403);
    });
}

/// Uploads `src` as a private video; its uuid.
async fn upload_private(s: &Server, token: &str, src: &Path) -> String {
    let form = reqwest::multipart::Form::new()
        .text("name", "Private from the start")
        .text("channelId", "1")
        .text("privacy", "3")
        .part(
            "videofile",
            reqwest::multipart::Part::bytes(std::fs::read(src).unwrap()).file_name("p.mp4"),
        );
    let r = client()
        .post(s.url("/api/v1/videos/upload"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().await.unwrap();
    body["video"]["uuid"].as_str().unwrap().to_string()
}

#[test]
fn a_video_uploaded_private_is_published_privately_and_a_crashed_move_is_finished() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = || Options {
        env: vec![
            ("FLEUVE_ENGINE_SHARDS".into(), "2".into()),
            ("FLEUVE_TRANSCODE_RESOLUTIONS".into(), "240".into()),
        ],
        args: vec![],
    };
    let mut s = Server::start_in(tmp.path(), opts());
    let uuid = rt().block_on(async {
        let (token, _) = login(&s).await;
        let src = clip(&s.dir, "private.mp4", "426x240", 25, 2, true);
        let uuid = upload_private(&s, &token, &src).await;
        let v = wait_state(&s, &token, &uuid, &[1, 7]).await;
        assert_eq!(v["state"]["id"], 1, "{v}");
        let media = s.media();
        assert!(!media.join("streaming-playlists/hls").join(&uuid).exists());
        let private_dir = media.join("streaming-playlists/hls/private").join(&uuid);
        assert!(private_dir.is_dir());
        let u = urls(&v);
        assert!(u.master.contains("/hls/private/"), "{}", u.master);
        assert_eq!(status(&u.master).await, 403);
        assert_eq!(status(&u.master.replace("/private/", "/")).await, 404);
        assert_eq!(
            status(&s.url(&format!(
                "/lazy-static/torrents/{}",
                u.torrent.rsplit('/').next().unwrap()
            )))
            .await,
            404
        );
        assert!(!tracker_accepts(&s, &u.info_hash).await);
        assert_eq!(fetch(&u.fmp4, Some(&token), Some("bytes=0-9")).await.0, 206);
        uuid
    });
    // A crash after the files of a privacy change moved, before its record was written: the
    // record says private, the files are on the public side.
    s.stop();
    let media = tmp.path().join("media");
    std::fs::rename(
        media.join("streaming-playlists/hls/private").join(&uuid),
        media.join("streaming-playlists/hls").join(&uuid),
    )
    .unwrap();
    let s = Server::start_in(tmp.path(), opts());
    rt().block_on(async {
        let (token, _) = login(&s).await;
        let (_, v) = get_video(&s, &token, &uuid).await;
        let u = urls(&v);
        assert_eq!(
            status(&u.master.replace("/private/", "/")).await,
            404,
            "{}",
            s.log()
        );
        assert_eq!(fetch(&u.master, Some(&token), None).await.0, 200);
        // Logged before the server became ready.
        assert!(s
            .log()
            .contains("video files were not where its privacy says; moved"));
    });
}
