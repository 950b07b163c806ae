//! Moderation (issue 15): a moderator's block of a video (PeerTube's video blacklist). Who may
//! block; a blocked video leaves the list, the account's outbox and the tracker's allowlist, is
//! seen only by its owner and moderators (with the reason), is listed in
//! `GET /api/v1/videos/blacklist`, and comes back whole when unblocked. (Its withdrawal from
//! followers is in `federation_two_instances`.)

mod common;

use common::*;
use serde_json::{json, Value};

async fn call(
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

async fn create_and_login(s: &Server, root: &str, name: &str, role: u8) -> String {
    let password = format!("{name}-password");
    let (status, doc) = call(
        s,
        reqwest::Method::POST,
        "/api/v1/users",
        Some(root),
        json!({"username": name, "password": password,
               "email": format!("{name}@example.test"), "role": role}),
    )
    .await;
    assert_eq!(status, 200, "{doc}");
    let oc = oauth_client(s).await;
    let r = token_request(
        s,
        &oc,
        &[
            ("grant_type", "password"),
            ("username", name),
            ("password", &password),
        ],
    )
    .await;
    let tok: Value = r.json().await.unwrap();
    tok["access_token"].as_str().unwrap().to_string()
}

fn listed(list: &Value, uuid: &str) -> bool {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["uuid"] == uuid)
}

#[test]
fn a_blocked_video_leaves_lists_outbox_and_tracker_and_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let options = |args: Vec<String>| Options {
        env: vec![("FLEUVE_TRANSCODE_RESOLUTIONS".into(), "240".into())],
        args,
    };
    let mut s = Server::start_in(dir.path(), options(vec![]));
    rt().block_on(async {
        let (root, _) = login(&s).await;
        let m = create_and_login(&s, &root, "mod1", 1).await;
        let alice = create_and_login(&s, &root, "alice", 2).await;
        let v = publish_clip(&s, &root, "426x240", 1).await;
        let uuid = v["uuid"].as_str().unwrap().to_string();
        let hash = v["streamingPlaylists"][0]["files"][0]["infoHash"]
            .as_str()
            .unwrap()
            .to_string();
        let path = format!("/api/v1/videos/{uuid}/blacklist");
        let outbox = "/accounts/root/outbox?page=1";
        assert!(listed(&get_json(&s, "/api/v1/videos").await, &uuid));
        assert!(get_ap_json(&s, outbox).await.to_string().contains(&uuid));
        assert!(tracker_accepts(&s, &hash).await);

        // Who may block, and bad input.
        for (token, body, want) in [
            (None, json!({}), 401),
            (Some(alice.as_str()), json!({}), 403),
            (Some(m.as_str()), json!({"reason": "x"}), 400),
            (Some(m.as_str()), json!({"reason": "bad\u{7}bell"}), 400),
        ] {
            let (status, doc) = call(&s, reqwest::Method::POST, &path, token, body).await;
            assert_eq!(status, want, "{doc}");
        }
        let (status, doc) = call(
            &s,
            reqwest::Method::POST,
            "/api/v1/videos/00000000-0000-4000-8000-000000000000/blacklist",
            Some(&m),
            json!({}),
        )
        .await;
        assert_eq!(status, 404, "{doc}");

        // The moderator blocks it.
        let (status, doc) = call(
            &s,
            reqwest::Method::POST,
            &path,
            Some(&m),
            json!({"reason": "copyright claim"}),
        )
        .await;
        assert_eq!(status, 204, "{doc}");
        let (status, _) = call(&s, reqwest::Method::POST, &path, Some(&m), json!({})).await;
        assert_eq!(status, 409, "blocked twice");
        assert!(!listed(&get_json(&s, "/api/v1/videos").await, &uuid));
        assert!(!get_ap_json(&s, outbox).await.to_string().contains(&uuid));
        assert!(!tracker_accepts(&s, &hash).await, "off the allowlist");
        assert_eq!(status_of(&s, &format!("/api/v1/videos/{uuid}")).await, 404);
        assert_eq!(get_video(&s, &alice, &uuid).await.0, 404);
        for token in [&root, &m] {
            let (status, seen) = get_video(&s, token, &uuid).await;
            assert_eq!(status, 200);
            assert_eq!(
                (&seen["blacklisted"], &seen["blacklistedReason"]),
                (&json!(true), &json!("copyright claim"))
            );
        }
        let (status, list) = call(
            &s,
            reqwest::Method::GET,
            "/api/v1/videos/blacklist",
            Some(&m),
            Value::Null,
        )
        .await;
        assert_eq!(status, 200, "{list}");
        assert_eq!(list["total"], 1, "{list}");
        let entry = &list["data"][0];
        assert_eq!(
            (
                &entry["reason"],
                &entry["video"]["uuid"],
                &entry["unfederated"],
                &entry["type"]
            ),
            (
                &json!("copyright claim"),
                &json!(uuid),
                &json!(false),
                &json!(1)
            )
        );
        let (status, _) = call(
            &s,
            reqwest::Method::GET,
            "/api/v1/videos/blacklist",
            Some(&alice),
            Value::Null,
        )
        .await;
        assert_eq!(status, 403);
        let (status, _) = call(
            &s,
            reqwest::Method::PUT,
            &path,
            Some(&m),
            json!({"reason": "copyright claim, second notice"}),
        )
        .await;
        assert_eq!(status, 204);
        assert_eq!(
            get_video(&s, &root, &uuid).await.1["blacklistedReason"],
            "copyright claim, second notice"
        );

        // A restart keeps it blocked (the record holds the block; the allowlist stays clear).
        // The same address: the HLS info-hashes are derived from the public URL.
        let addr = s.addr.clone();
        s.stop();
        let s = Server::start_in(dir.path(), options(vec!["--listen".into(), addr]));
        assert!(!listed(&get_json(&s, "/api/v1/videos").await, &uuid));
        assert!(!tracker_accepts(&s, &hash).await);

        // Unblocked: everything comes back.
        let (status, _) = call(&s, reqwest::Method::DELETE, &path, Some(&alice), json!({})).await;
        assert_eq!(status, 403);
        let (status, doc) = call(&s, reqwest::Method::DELETE, &path, Some(&m), json!({})).await;
        assert_eq!(status, 204, "{doc}");
        let (status, _) = call(&s, reqwest::Method::DELETE, &path, Some(&m), json!({})).await;
        assert_eq!(status, 404, "not blocked any more");
        assert!(listed(&get_json(&s, "/api/v1/videos").await, &uuid));
        assert!(get_ap_json(&s, outbox).await.to_string().contains(&uuid));
        assert!(tracker_accepts(&s, &hash).await);
        assert_eq!(status_of(&s, &format!("/api/v1/videos/{uuid}")).await, 200);
        assert_eq!(get_video(&s, &root, &uuid).await.1["blacklisted"], false);
    });
}
