//! Storyboards (issue 14): the transcoder makes PeerTube's sprite sheet, the API lists it with
//! the video's visibility, the media server serves the JPEG, the ActivityPub Video carries it,
//! and it goes with the video.

mod common;

use common::*;
use serde_json::{json, Value};

/// The `(width, height)` a JPEG's start-of-frame segment declares.
fn jpeg_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(bytes.get(..2), Some(&[0xff, 0xd8][..]), "not a JPEG");
    let mut i = 2;
    while i + 9 < bytes.len() {
        assert_eq!(bytes[i], 0xff, "bad JPEG marker at {i}");
        let marker = bytes[i + 1];
        let len = usize::from(u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]));
        if matches!(marker, 0xc0..=0xc3) {
            let h = u16::from_be_bytes([bytes[i + 5], bytes[i + 6]]);
            let w = u16::from_be_bytes([bytes[i + 7], bytes[i + 8]]);
            return (u32::from(w), u32::from(h));
        }
        i += 2 + len;
    }
    panic!("no start-of-frame in the JPEG");
}

async fn storyboards(s: &Server, uuid: &str, token: Option<&str>) -> (u16, Value) {
    let mut r = client().get(s.url(&format!("/api/v1/videos/{uuid}/storyboards")));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn upload_and_publish(s: &Server, token: &str, name: &str, size: &str, secs: u32) -> String {
    let src = clip(&s.dir, name, size, 10, secs, false);
    let (status, body) = upload_multipart(s, token, &src, "Storyboard clip").await;
    assert_eq!(status, 200, "{body}");
    let uuid = body["video"]["uuid"].as_str().unwrap().to_string();
    let v = wait_state(s, token, &uuid, &[1, 7]).await;
    assert_eq!(v["state"]["id"], 1, "{v}\n{}", s.log());
    uuid
}

#[test]
fn a_transcoded_video_has_peertubes_sprite_sheet() {
    let s = Server::start();
    rt().block_on(async {
        let (token, _) = login(&s).await;
        let config = get_json(&s, "/api/v1/config").await;
        assert_eq!(config["storyboards"]["enabled"], true, "{config}");

        // 14 s of 320x240: 14 sprites of 1 s, 192x144 each, in PeerTube's smallest grid (7x2).
        let uuid = upload_and_publish(&s, &token, "long.mp4", "320x240", 14).await;
        let (status, body) = storyboards(&s, &uuid, None).await;
        assert_eq!(status, 200, "{body}");
        let list = body["storyboards"].as_array().expect("a list");
        assert_eq!(list.len(), 1, "{body}");
        let sb = &list[0];
        let path = sb["storyboardPath"].as_str().unwrap();
        let name = path
            .strip_prefix("/lazy-static/storyboards/")
            .expect("PeerTube's storyboard path");
        assert!(
            name.ends_with(".jpg") && !name.contains(&uuid),
            "a random name: {name}"
        );
        assert_eq!(sb["fileUrl"], format!("{}{path}", s.base), "{sb}");
        for (key, want) in [
            ("spriteWidth", 192),
            ("spriteHeight", 144),
            ("spriteDuration", 1),
            ("totalWidth", 7 * 192),
            ("totalHeight", 2 * 144),
        ] {
            assert_eq!(sb[key], want, "{key} in {sb}");
        }

        // The sheet is served, and is that size.
        let r = client().get(s.url(path)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(r.headers()["content-type"], "image/jpeg");
        let bytes = r.bytes().await.unwrap();
        assert_eq!(jpeg_size(&bytes), (7 * 192, 2 * 144));

        // Our Video object carries it as PeerTube's `preview` storyboard.
        let ap = get_ap_json(&s, &format!("/videos/watch/{uuid}")).await;
        assert_eq!(
            ap["preview"],
            json!([{"type": "Image", "rel": ["storyboard"], "url": [{
                "href": sb["fileUrl"], "mediaType": "image/jpeg",
                "width": 7 * 192, "height": 2 * 144,
                "tileWidth": 192, "tileHeight": 144, "tileDuration": "PT1S",
            }]}]),
            "{ap}"
        );

        // A private video's storyboards are seen by those who may see the video.
        let r = client()
            .put(s.url(&format!("/api/v1/videos/{uuid}")))
            .bearer_auth(&token)
            .json(&json!({"privacy": 3}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 204);
        let (status, body) = storyboards(&s, &uuid, None).await;
        assert_eq!(status, 404, "{body}");
        assert_eq!(body["status"], 404, "{body}");
        let (status, body) = storyboards(&s, &uuid, Some(&token)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["storyboards"][0]["storyboardPath"], path);

        // Deleting the video deletes the sheet.
        let file = s.media().join("storyboards").join(name);
        assert!(file.exists(), "{}", file.display());
        let r = client()
            .delete(s.url(&format!("/api/v1/videos/{uuid}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 204);
        assert!(!file.exists(), "the sheet outlived its video");
        assert_eq!(status_of(&s, path).await, 404);
    });
}

#[test]
fn short_videos_have_none_and_unknown_videos_are_404() {
    let s = Server::start();
    rt().block_on(async {
        let (token, _) = login(&s).await;
        // Under 3 s, PeerTube makes no storyboard.
        let uuid = upload_and_publish(&s, &token, "short.mp4", "320x240", 2).await;
        let (status, body) = storyboards(&s, &uuid, None).await;
        assert_eq!((status, body), (200, json!({"storyboards": []})));
        assert_eq!(
            std::fs::read_dir(s.media().join("storyboards"))
                .unwrap()
                .count(),
            0
        );
        for key in [
            "00000000-0000-4000-8000-00000000abcd",
            "999999",
            "not-a-video",
        ] {
            let (status, body) = storyboards(&s, key, None).await;
            assert_eq!(status, 404, "{key}: {body}");
            assert_eq!(body["status"], 404, "{body}");
            assert!(
                body["detail"].as_str().unwrap().contains(key),
                "{key}: {body}"
            );
        }
    });
}
