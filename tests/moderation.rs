//! Moderation (issue 15): a moderator's block of a video (PeerTube's video blacklist). Who may
//! block; a blocked video leaves the list, the account's outbox and the tracker's allowlist, is
//! seen only by its owner and moderators (with the reason), is listed in
//! `GET /api/v1/videos/blacklist`, and comes back whole when unblocked. (Its withdrawal from
//! followers is in `federation_two_instances`.)

mod common;

use common::*;
use serde_json::{json, Value};

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

/// Abuse reports (issue 15): users report a video (a part of it), a comment or an account;
/// bad input and repeats are refused; users see their own reports, moderators all of them,
/// set their state and comment, and delete them.
#[test]
fn users_report_abuses_and_moderators_handle_them() {
    let s = Server::start_with(Options {
        env: vec![("FLEUVE_TRANSCODE_RESOLUTIONS".into(), "240".into())],
        args: vec![],
    });
    rt().block_on(async {
        let (root, _) = login(&s).await;
        let m = create_and_login(&s, &root, "mod1", 1).await;
        let alice = create_and_login(&s, &root, "alice", 2).await;
        let bob = create_and_login(&s, &root, "bob", 2).await;
        let bob_id = get_json_as(&s, "/api/v1/users/me", &bob).await["id"].as_u64().unwrap();
        let v = publish_clip(&s, &root, "426x240", 2).await;
        let uuid = v["uuid"].as_str().unwrap().to_string();
        let (status, thread) = call(
            &s,
            reqwest::Method::POST,
            &format!("/api/v1/videos/{uuid}/comment-threads"),
            Some(&bob),
            json!({"text": "Buy cheap things at spam.example"}),
        )
        .await;
        assert_eq!(status, 200, "{thread}");
        let comment_id = thread["comment"]["id"].as_u64().unwrap();
        let report = |token: &str, body: Value| {
            let token = token.to_string();
            let s = &s;
            async move { call(s, reqwest::Method::POST, "/api/v1/abuses", Some(&token), body).await }
        };
        let video_report = json!({"reason": "Spam links in the video", "predefinedReasons": ["spamOrMisleading"],
                                  "video": {"id": uuid, "startAt": 1, "endAt": 2}});
        let (status, doc) = report(&alice, video_report.clone()).await;
        assert_eq!(status, 200, "{doc}");
        let video_abuse = doc["abuse"]["id"].as_u64().unwrap();
        assert_eq!(report(&alice, video_report).await.0, 409, "reported twice");
        for (body, want) in [
            (json!({"reason": "x", "video": {"id": uuid}}), 400),
            (json!({"reason": "Bad one", "predefinedReasons": ["nope"], "video": {"id": uuid}}), 400),
            (json!({"reason": "Two things", "video": {"id": uuid}, "account": {"id": bob_id}}), 400),
            (json!({"reason": "Nothing"}), 400),
            (json!({"reason": "Ghost video", "video": {"id": "00000000-0000-4000-8000-000000000000"}}), 404),
            (json!({"reason": "Ghost account", "account": {"id": 999}}), 404),
            (json!({"reason": "Myself", "account": {"id": bob_id}}), 400),
        ] {
            let token = if body["reason"] == "Myself" { &bob } else { &alice };
            let (status, doc) = report(token, body.clone()).await;
            assert_eq!(status, want, "{body}: {doc}");
        }
        assert_eq!(report(&alice, json!({"reason": "Spammer", "account": {"id": bob_id}})).await.0, 200);
        assert_eq!(report(&alice, json!({"reason": "Spam comment", "comment": {"id": comment_id}})).await.0, 200);

        // Users see their own; moderators all, with who reported what.
        let get = |token: &str, path: &str| {
            let (token, path) = (token.to_string(), path.to_string());
            let s = &s;
            async move { call(s, reqwest::Method::GET, &path, Some(&token), Value::Null).await }
        };
        assert_eq!(get(&alice, "/api/v1/abuses").await.0, 403);
        let (status, mine) = get(&alice, "/api/v1/users/me/abuses").await;
        assert_eq!((status, &mine["total"]), (200, &json!(3)), "{mine}");
        assert_eq!(get(&bob, "/api/v1/users/me/abuses").await.1["total"], 0);
        let (status, all) = get(&m, "/api/v1/abuses").await;
        assert_eq!((status, &all["total"]), (200, &json!(3)), "{all}");
        let on_video = all["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == video_abuse)
            .unwrap();
        assert_eq!(on_video["reporterAccount"]["name"], "alice");
        assert_eq!(on_video["flaggedAccount"]["name"], "root");
        assert_eq!((&on_video["video"]["uuid"], &on_video["video"]["startAt"]), (&json!(uuid), &json!(1)));
        assert_eq!(on_video["predefinedReasons"], json!(["spamOrMisleading"]));
        assert_eq!(on_video["state"]["id"], 1);
        let on_comment = all["data"].as_array().unwrap().iter().find(|a| a["comment"].is_object()).unwrap();
        assert_eq!(on_comment["comment"]["text"], "Buy cheap things at spam.example");
        assert_eq!(on_comment["flaggedAccount"]["name"], "bob");

        // Moderators handle them.
        let path = format!("/api/v1/abuses/{video_abuse}");
        let (status, _) = call(&s, reqwest::Method::PUT, &path, Some(&alice), json!({"state": 3})).await;
        assert_eq!(status, 403);
        let (status, _) = call(&s, reqwest::Method::PUT, &path, Some(&m), json!({"state": 9})).await;
        assert_eq!(status, 400);
        let (status, doc) = call(&s, reqwest::Method::PUT, &path, Some(&m),
            json!({"state": 3, "moderationComment": "Links removed"})).await;
        assert_eq!(status, 204, "{doc}");
        let (_, accepted) = get(&m, "/api/v1/abuses?state=3").await;
        assert_eq!(accepted["total"], 1, "{accepted}");
        assert_eq!(accepted["data"][0]["moderationComment"], "Links removed");
        assert_eq!(get(&alice, "/api/v1/users/me/abuses").await.1["data"].as_array().unwrap().iter()
            .find(|a| a["id"] == video_abuse).unwrap()["state"]["label"], "Accepted");

        // The reporter and the moderators talk about it; nobody else reads or writes.
        let messages = format!("{path}/messages");
        let say = |token: &str, text: &str| {
            let (token, body, messages) = (token.to_string(), json!({"message": text}), messages.clone());
            let s = &s;
            async move { call(s, reqwest::Method::POST, &messages, Some(&token), body).await }
        };
        let (status, doc) = say(&alice, "It starts at 0:01.").await;
        assert_eq!(status, 200, "{doc}");
        let alice_msg = doc["abuseMessage"]["id"].as_u64().unwrap();
        let (status, doc) = say(&m, "Thanks, removed.").await;
        assert_eq!(status, 200, "{doc}");
        assert_eq!(say(&bob, "Not mine to say").await.0, 403);
        assert_eq!(get(&bob, &messages).await.0, 403);
        let (status, doc) = say(&alice, " ").await;
        assert_eq!(status, 400, "{doc}");
        let (status, list) = get(&alice, &messages).await;
        assert_eq!((status, &list["total"]), (200, &json!(2)), "{list}");
        assert_eq!(
            (&list["data"][0]["byModerator"], &list["data"][0]["account"]["name"]),
            (&json!(false), &json!("alice"))
        );
        assert_eq!(list["data"][1]["byModerator"], true, "{list}");
        let (_, all) = get(&m, "/api/v1/abuses").await;
        let counted = all["data"].as_array().unwrap().iter().find(|a| a["id"] == video_abuse).unwrap()["countMessages"].clone();
        assert_eq!(counted, 2);
        // Only its author deletes a message.
        let one = format!("{messages}/{alice_msg}");
        assert_eq!(call(&s, reqwest::Method::DELETE, &one, Some(&m), Value::Null).await.0, 403);
        assert_eq!(call(&s, reqwest::Method::DELETE, &one, Some(&alice), Value::Null).await.0, 204);
        assert_eq!(call(&s, reqwest::Method::DELETE, &one, Some(&alice), Value::Null).await.0, 404);
        assert_eq!(get(&m, &messages).await.1["total"], 1);
        // A report holds at most 200 messages.
        for i in 1..200 {
            assert_eq!(say(&alice, &format!("note {i}")).await.0, 200, "message {i}");
        }
        let (status, doc) = say(&alice, "one too many").await;
        assert_eq!(status, 400, "{doc}");
        assert!(doc.to_string().contains("200 messages"), "{doc}");

        assert_eq!(call(&s, reqwest::Method::DELETE, &path, Some(&alice), Value::Null).await.0, 403);
        assert_eq!(call(&s, reqwest::Method::DELETE, &path, Some(&m), Value::Null).await.0, 204);
        assert_eq!(get(&m, "/api/v1/abuses").await.1["total"], 2);
        // Answered, it may be reported again.
        assert_eq!(report(&alice, json!({"reason": "Back again", "video": {"id": uuid}})).await.0, 200);
    });
}

/// Each user's own blocklist (`/api/v1/users/me/blocklist`): alice mutes bob, and bob's video
/// leaves her lists and her search, his comment her threads, while root and anonymous visitors
/// see both; unmuted, they come back. Bad input is refused with the value named.
#[test]
fn a_user_mutes_an_account_for_herself_only() {
    let s = Server::start();
    rt().block_on(async {
        let (root, _) = login(&s).await;
        let alice = create_and_login(&s, &root, "alice", 2).await;
        let bob = create_and_login(&s, &root, "bob", 2).await;
        let root_video = publish_clip(&s, &root, "320x240", 1).await;
        let root_uuid = root_video["uuid"].as_str().unwrap().to_string();
        let me = get_json_as(&s, "/api/v1/users/me", &bob).await;
        let channel = me["videoChannels"][0]["id"].as_u64().unwrap();
        let src = clip(&s.dir, "bob.mp4", "320x240", 25, 1, false);
        let (status, doc) = upload_multipart_to(&s, &bob, &src, "Bobs yodel", channel).await;
        assert_eq!(status, 200, "{doc}");
        let bob_uuid = doc["video"]["uuid"].as_str().unwrap().to_string();
        assert_eq!(
            wait_state(&s, &bob, &bob_uuid, &[1, 7]).await["state"]["id"],
            1
        );
        let threads = format!("/api/v1/videos/{root_uuid}/comment-threads");
        let (status, doc) = call(
            &s,
            reqwest::Method::POST,
            &threads,
            Some(&bob),
            json!({"text": "bob was here"}),
        )
        .await;
        assert_eq!(status, 200, "{doc}");

        let sees = |token: Option<String>| {
            let (s, threads, bob_uuid) = (&s, threads.clone(), bob_uuid.clone());
            async move {
                let get = |path: String| {
                    let token = token.clone();
                    async move {
                        let (status, doc) = call(
                            s,
                            reqwest::Method::GET,
                            &path,
                            token.as_deref(),
                            Value::Null,
                        )
                        .await;
                        assert_eq!(status, 200, "{path}: {doc}");
                        doc
                    }
                };
                let list = listed(&get("/api/v1/videos".into()).await, &bob_uuid);
                let found = listed(
                    &get("/api/v1/search/videos?search=yodel".into()).await,
                    &bob_uuid,
                );
                let comment = get(threads).await.to_string().contains("bob was here");
                (list, found, comment)
            }
        };
        assert_eq!(sees(Some(alice.clone())).await, (true, true, true));

        let mute = "/api/v1/users/me/blocklist/accounts";
        let post = |token: String, path: &'static str, body: Value| {
            let s = &s;
            async move { call(s, reqwest::Method::POST, path, Some(&token), body).await }
        };
        let (status, doc) = post(alice.clone(), mute, json!({"accountName": "bob"})).await;
        assert_eq!(status, 204, "{doc}");
        assert_eq!(sees(Some(alice.clone())).await, (false, false, false));
        assert_eq!(sees(Some(root.clone())).await, (true, true, true));
        assert_eq!(sees(None).await, (true, true, true));
        let list = get_json_as(&s, mute, &alice).await;
        assert_eq!(list["total"], 1, "{list}");
        assert_eq!(list["data"][0]["blockedAccount"]["name"], "bob", "{list}");

        // Refused: twice, oneself, nobody, a bad name; this instance as a server.
        for (body, want, says) in [
            (json!({"accountName": "bob"}), 409, "already muted"),
            (json!({"accountName": "alice"}), 400, "yourself"),
            (json!({"accountName": "nobody"}), 404, "nobody"),
            (json!({"accountName": "bad\u{7}name"}), 400, "accountName"),
            (
                json!({"accountName": "x@unknown.example"}),
                404,
                "unknown.example",
            ),
        ] {
            let (status, doc) = post(alice.clone(), mute, body.clone()).await;
            assert_eq!(status, want, "{body}: {doc}");
            assert!(doc.to_string().contains(says), "{body}: {doc}");
        }
        let servers = "/api/v1/users/me/blocklist/servers";
        let (status, doc) = post(alice.clone(), servers, json!({"host": s.addr.clone()})).await;
        assert_eq!(status, 400, "{doc}");
        let (status, doc) = post(alice.clone(), servers, json!({"host": "spam.example"})).await;
        assert_eq!(status, 204, "{doc}");
        let list = get_json_as(&s, servers, &alice).await;
        assert_eq!(
            list["data"][0]["blockedServer"]["host"], "spam.example",
            "{list}"
        );

        // Unmuted: all back.
        let (status, doc) = call(
            &s,
            reqwest::Method::DELETE,
            &format!("{mute}/bob"),
            Some(&alice),
            Value::Null,
        )
        .await;
        assert_eq!(status, 204, "{doc}");
        assert_eq!(sees(Some(alice.clone())).await, (true, true, true));
        let (status, _) = call(
            &s,
            reqwest::Method::DELETE,
            &format!("{mute}/bob"),
            Some(&alice),
            Value::Null,
        )
        .await;
        assert_eq!(status, 404, "not muted any more");
    });
}
