//! Several users on one instance (issue 15, first part): the administrator creates a moderator
//! and a user through PeerTube's `POST /api/v1/users`, each logs in; bad input is refused with
//! the value named; the rights of each role are enforced on user management and on the
//! existing endpoints (a user cannot change, delete or, when private, see another's video; a
//! moderator sees and changes any video but not the instance; the admin status and following
//! are the administrator's); a user changes their display name
//! and their password only with the current one; and the video quota refuses an upload at init
//! and a multipart upload whose file passes it, leaving nothing behind.

mod common;

use common::*;
use serde_json::{json, Value};

async fn send(
    s: &Server,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Value,
) -> (u16, Value) {
    let r = client()
        .request(method, s.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn post(s: &Server, path: &str, token: &str, body: Value) -> (u16, Value) {
    send(s, reqwest::Method::POST, path, token, body).await
}

async fn put(s: &Server, path: &str, token: &str, body: Value) -> (u16, Value) {
    send(s, reqwest::Method::PUT, path, token, body).await
}

/// A multipart upload into `channel`.
async fn upload_to(s: &Server, token: &str, channel: u64, bytes: Vec<u8>) -> (u16, Value) {
    let form = reqwest::multipart::Form::new()
        .text("name", "Quota clip")
        .text("channelId", channel.to_string())
        .part(
            "videofile",
            reqwest::multipart::Part::bytes(bytes).file_name("q.mp4"),
        );
    let r = client()
        .post(s.url("/api/v1/videos/upload"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn uploads_left(s: &Server) -> Vec<String> {
    let dir = s.dir.join("tmp").join("uploads");
    std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn three_roles_rights_and_quotas() {
    let s = Server::start();
    rt().block_on(async {
        let (root, _) = login(&s).await;
        let user = |name: &str, role: u8, quota: i64| {
            json!({"username": name, "password": format!("{name}-password"),
                   "email": format!("{name}@example.test"), "role": role, "videoQuota": quota})
        };
        let (status, made) = post(&s, "/api/v1/users", &root, user("mod1", 1, -1)).await;
        assert_eq!(status, 200, "{made}");
        assert!(made["user"]["id"].as_u64().unwrap() > 1, "{made}");
        let (status, made) = post(&s, "/api/v1/users", &root, user("alice", 2, 200_000)).await;
        assert_eq!(status, 200, "{made}");
        let alice_id = made["user"]["id"].as_u64().unwrap();

        // Bad input: each refused with the value named, nothing created.
        for (body, want, mentions) in [
            (user("alice", 2, -1), 409, "alice"),
            (
                json!({"username": "other", "password": "other-password",
                    "email": "ALICE@example.test", "role": 2}),
                409,
                "ALICE@example.test",
            ),
            (
                json!({"username": "weak", "password": "12345", "email": "w@example.test",
                    "role": 2}),
                400,
                "5",
            ),
            (
                json!({"username": "Bad\nName", "password": "bad-password",
                    "email": "b@example.test", "role": 2}),
                400,
                "Bad\\nName",
            ),
            (
                json!({"username": "roles", "password": "roles-password",
                    "email": "r@example.test", "role": 7}),
                400,
                "7",
            ),
            (
                json!({"username": "mail", "password": "mail-password", "email": "not mail",
                    "role": 2}),
                400,
                "not mail",
            ),
            (
                json!({"username": "quota", "password": "quota-password",
                    "email": "q@example.test", "role": 2, "videoQuota": -5}),
                400,
                "-5",
            ),
        ] {
            let (status, doc) = post(&s, "/api/v1/users", &root, body.clone()).await;
            assert_eq!(status, want, "{body}: {doc}");
            assert!(
                doc["detail"].as_str().unwrap().contains(mentions),
                "{body}: {doc}"
            );
        }

        let moderator = login_as(&s, "mod1", "mod1-password").await;
        let alice = login_as(&s, "alice", "alice-password").await;
        // A user manages nobody; a moderator manages users only.
        let (status, _) = post(&s, "/api/v1/users", &alice, user("eve", 2, -1)).await;
        assert_eq!(status, 403);
        assert_eq!(get_json_status(&s, "/api/v1/users", &alice).await, 403);
        let (status, doc) = post(&s, "/api/v1/users", &moderator, user("boss", 0, -1)).await;
        assert_eq!(status, 403, "{doc}");
        let (status, doc) = post(&s, "/api/v1/users", &moderator, user("bob", 2, -1)).await;
        assert_eq!(status, 200, "{doc}");
        let (status, doc) = put(
            &s,
            &format!("/api/v1/users/{alice_id}"),
            &moderator,
            json!({"role": 1}),
        )
        .await;
        assert_eq!(status, 403, "a moderator cannot promote: {doc}");
        let list = get_json_as(&s, "/api/v1/users?sort=username", &root).await;
        assert_eq!(list["total"], 4, "{list}");
        let names: Vec<&str> = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["alice", "bob", "mod1", "root"]);
        let me = get_json_as(&s, "/api/v1/users/me", &alice).await;
        assert_eq!(
            (&me["role"]["id"], &me["videoQuota"]),
            (&json!(2), &json!(200_000))
        );
        let alice_channel = me["videoChannels"][0]["id"].as_u64().unwrap();
        assert_eq!(me["videoChannels"][0]["name"], "alice_channel");

        // Root's video: alice may not change, delete or (once private) see it.
        let v = publish_clip(&s, &root, "320x240", 2).await;
        let uuid = v["uuid"].as_str().unwrap().to_string();
        let path = format!("/api/v1/videos/{uuid}");
        let (status, doc) = put(&s, &path, &alice, json!({"name": "Taken over"})).await;
        assert_eq!(status, 403, "{doc}");
        let (status, doc) = send(&s, reqwest::Method::DELETE, &path, &alice, Value::Null).await;
        assert_eq!(status, 403, "{doc}");
        let (status, doc) = put(
            &s,
            &format!("{path}/chapters"),
            &alice,
            json!({"chapters": [{"timecode": 0, "title": "Mine"}]}),
        )
        .await;
        assert_eq!(status, 403, "{doc}");
        let (status, _) = put(&s, &path, &root, json!({"privacy": 3})).await;
        assert_eq!(status, 204);
        assert_eq!(get_json_status(&s, &path, &alice).await, 404);
        assert_eq!(get_json_status(&s, &path, &root).await, 200);
        // A moderator has PeerTube's SEE_ALL_VIDEOS and UPDATE_ANY_VIDEO, not the instance.
        assert_eq!(get_json_status(&s, &path, &moderator).await, 200);
        let (status, doc) = put(&s, &path, &moderator, json!({"name": "Moderated title"})).await;
        assert_eq!(status, 204, "{doc}");
        assert_eq!(
            get_json_as(&s, &path, &root).await["name"],
            "Moderated title"
        );
        assert_eq!(
            get_json_status(&s, "/api/v1/videos?privacyOneOf=3", &moderator).await,
            200
        );
        assert_eq!(
            get_json_status(&s, "/api/v1/videos?privacyOneOf=3", &alice).await,
            403
        );
        assert_eq!(
            get_json_status(&s, "/api/v1/admin/status", &moderator).await,
            403
        );
        // The administrator's endpoints.
        assert_eq!(
            get_json_status(&s, "/api/v1/admin/status", &alice).await,
            403
        );
        assert_eq!(
            get_json_status(&s, "/api/v1/admin/status", &root).await,
            200
        );
        let (status, _) = post(
            &s,
            "/api/v1/server/following",
            &alice,
            json!({"hosts": ["peertube.example"]}),
        )
        .await;
        assert_eq!(status, 403);

        // Account settings: display name; a password only with the current one.
        let (status, _) = put(
            &s,
            "/api/v1/users/me",
            &alice,
            json!({"displayName": "Alice A."}),
        )
        .await;
        assert_eq!(status, 204);
        assert_eq!(
            get_json_as(&s, "/api/v1/users/me", &alice).await["account"]["displayName"],
            "Alice A."
        );
        let (status, doc) = put(
            &s,
            "/api/v1/users/me",
            &alice,
            json!({"password": "new-password", "currentPassword": "wrong"}),
        )
        .await;
        assert_eq!(status, 401, "{doc}");
        login_as(&s, "alice", "alice-password").await;
        let (status, _) = put(
            &s,
            "/api/v1/users/me",
            &alice,
            json!({"password": "new-password", "currentPassword": "alice-password"}),
        )
        .await;
        assert_eq!(status, 204);
        let alice = login_as(&s, "alice", "new-password").await;

        // Quota (200 000 bytes): refused at init from the announced size, and while writing a
        // multipart file that passes it; nothing stays in the uploads directory.
        let r = client()
            .post(s.url("/api/v1/videos/upload-resumable"))
            .bearer_auth(&alice)
            .header("X-Upload-Content-Length", "300000")
            .json(&json!({"name": "Too big", "channelId": alice_channel, "filename": "big.mp4"}))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let doc: Value = r.json().await.unwrap();
        assert_eq!(
            (status, &doc["code"]),
            (413, &json!("quota_reached")),
            "{doc}"
        );
        assert!(doc["detail"].as_str().unwrap().contains("300000"), "{doc}");
        let (status, doc) = upload_to(&s, &alice, alice_channel, pattern(400_000)).await;
        assert_eq!(
            (status, &doc["code"]),
            (413, &json!("quota_reached")),
            "{doc}"
        );
        let left: Vec<String> = uploads_left(&s)
            .into_iter()
            .filter(|f| f.ends_with(".part"))
            .collect();
        assert!(left.is_empty(), "left behind: {left:?}");
        // Raised by the administrator, the same user uploads.
        let (status, _) = put(
            &s,
            &format!("/api/v1/users/{alice_id}"),
            &root,
            json!({"videoQuota": -1}),
        )
        .await;
        assert_eq!(status, 204);
        let src = clip(&s.dir, "alice.mp4", "320x240", 25, 2, true);
        let (status, doc) = upload_to(&s, &alice, alice_channel, std::fs::read(src).unwrap()).await;
        assert_eq!(status, 200, "{doc}");
        // Into her own channel only.
        let src = clip(&s.dir, "alice2.mp4", "320x240", 25, 1, true);
        let (status, doc) = upload_to(&s, &alice, 1, std::fs::read(src).unwrap()).await;
        assert!(
            status == 403 || status == 400,
            "root's channel: {status} {doc}"
        );
        // The daily quota: what she stored today counts; a new upload past it is refused at
        // init, naming the daily quota.
        let (status, _) = put(
            &s,
            &format!("/api/v1/users/{alice_id}"),
            &root,
            json!({"videoQuotaDaily": 1000}),
        )
        .await;
        assert_eq!(status, 204);
        let quota = get_json_as(&s, "/api/v1/users/me/video-quota-used", &alice).await;
        assert!(
            quota["videoQuotaUsedDaily"].as_u64().unwrap() > 1000,
            "{quota}"
        );
        let r = client()
            .post(s.url("/api/v1/videos/upload-resumable"))
            .bearer_auth(&alice)
            .header("X-Upload-Content-Length", "500")
            .json(&json!({"name": "Small", "channelId": alice_channel, "filename": "small.mp4"}))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let doc: Value = r.json().await.unwrap();
        assert_eq!(
            (status, &doc["code"]),
            (413, &json!("quota_reached")),
            "{doc}"
        );
        assert!(doc["detail"].as_str().unwrap().contains("daily"), "{doc}");
    });
}

/// The status of `GET path` with `token`.
async fn get_json_status(s: &Server, path: &str, token: &str) -> u16 {
    client()
        .get(s.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn delete(s: &Server, path: &str, token: &str) -> (u16, Value) {
    send(s, reqwest::Method::DELETE, path, token, Value::Null).await
}

/// Creates a user of `role` named `name` (password `{name}-password`); returns its id.
async fn create_user(s: &Server, root: &str, name: &str, role: u8) -> u64 {
    let (status, made) = post(
        s,
        "/api/v1/users",
        root,
        json!({"username": name, "password": format!("{name}-password"),
               "email": format!("{name}@example.test"), "role": role}),
    )
    .await;
    assert_eq!(status, 200, "{made}");
    made["user"]["id"].as_u64().unwrap()
}

/// The first channel of the user holding `token`.
async fn my_channel(s: &Server, token: &str) -> u64 {
    get_json_as(s, "/api/v1/users/me", token).await["videoChannels"][0]["id"]
        .as_u64()
        .unwrap()
}

fn names_in(s: &Server, sub: &str) -> Vec<String> {
    std::fs::read_dir(s.dir.join(sub))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Blocking, password and role changes, removal (issue 15): who may do each (three roles plus a
/// second administrator), what a blocked user can no longer do and what stays theirs, and what
/// the removal of a user who is uploading, rated and commented takes away: their session,
/// upload file, videos, rating, comment, channel and tokens; their name is free again.
#[test]
fn blocking_and_removing_users() {
    let s = Server::start();
    rt().block_on(async {
        let (root, _) = login(&s).await;
        let moderator = create_user(&s, &root, "mod1", 1).await;
        let admin2 = create_user(&s, &root, "admin2", 0).await;
        let alice_id = create_user(&s, &root, "alice", 2).await;
        let bob_id = create_user(&s, &root, "bob", 2).await;
        let m = login_as(&s, "mod1", "mod1-password").await;
        let a2 = login_as(&s, "admin2", "admin2-password").await;
        let alice = login_as(&s, "alice", "alice-password").await;
        let bob = login_as(&s, "bob", "bob-password").await;

        // Who may block whom.
        let block = |id: u64| format!("/api/v1/users/{id}/block");
        for (token, id, want) in [
            (&bob, alice_id, 403), // a user manages nobody
            (&m, admin2, 403),     // a moderator, users only
            (&m, moderator, 403),  // nor themselves (a moderator is not a user)
            (&a2, admin2, 400),    // nobody blocks themselves
            (&a2, 1, 400),         // root cannot be blocked
            (&m, 999_999, 404),
        ] {
            let (status, doc) = post(&s, &block(id), token, json!({})).await;
            assert_eq!(status, want, "block {id}: {doc}");
        }
        let (status, doc) = post(&s, &block(bob_id), &m, json!({"reason": "x"})).await;
        assert_eq!(status, 400, "too short a reason: {doc}");

        // Bob, blocked by the moderator: his token is dead, he cannot log in (the reason is
        // told), his video stays.
        let src = clip(&s.dir, "bob.mp4", "320x240", 25, 1, true);
        let bob_channel = my_channel(&s, &bob).await;
        let (status, doc) = upload_to(&s, &bob, bob_channel, std::fs::read(&src).unwrap()).await;
        assert_eq!(status, 200, "{doc}");
        let bob_video = doc["video"]["uuid"].as_str().unwrap().to_string();
        let (status, _) = post(&s, &block(bob_id), &m, json!({"reason": "spam links"})).await;
        assert_eq!(status, 204);
        assert_eq!(me_status(&s, &bob).await, 401);
        let (status, doc) = try_login(&s, "bob", "bob-password").await;
        assert_eq!(status, 400, "{doc}");
        let detail = doc["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains("blocked") && detail.contains("spam links"),
            "{doc}"
        );
        let shown = get_json_as(&s, &format!("/api/v1/users/{bob_id}"), &m).await;
        assert_eq!(
            (&shown["blocked"], &shown["blockedReason"]),
            (&json!(true), &json!("spam links"))
        );
        assert_eq!(get_video(&s, &root, &bob_video).await.0, 200);
        let (status, _) = post(
            &s,
            &format!("/api/v1/users/{bob_id}/unblock"),
            &bob,
            json!({}),
        )
        .await;
        assert_eq!(status, 401, "his own token is gone");
        let (status, _) = post(
            &s,
            &format!("/api/v1/users/{bob_id}/unblock"),
            &m,
            json!({}),
        )
        .await;
        assert_eq!(status, 204);
        let bob = login_as(&s, "bob", "bob-password").await;
        assert_eq!(
            get_json_as(&s, &format!("/api/v1/users/{bob_id}"), &m).await["blocked"],
            false
        );

        // A new password or role ends the user's sessions (PeerTube revokes their tokens).
        let (status, _) = put(
            &s,
            &format!("/api/v1/users/{bob_id}"),
            &m,
            json!({"password": "bob-new-password"}),
        )
        .await;
        assert_eq!(status, 204);
        assert_eq!(me_status(&s, &bob).await, 401);
        let bob = login_as(&s, "bob", "bob-new-password").await;
        let (status, _) = put(
            &s,
            &format!("/api/v1/users/{bob_id}"),
            &m,
            json!({"videoQuota": 10_000_000}),
        )
        .await;
        assert_eq!(status, 204);
        assert_eq!(
            me_status(&s, &bob).await,
            200,
            "a quota change keeps the session"
        );

        // An upload that finishes after its user was blocked is not kept: carol's multipart
        // body stops halfway (over a raw socket), she is blocked, the rest arrives.
        let carol_id = create_user(&s, &root, "carol", 2).await;
        let carol = login_as(&s, "carol", "carol-password").await;
        let carol_channel = my_channel(&s, &carol).await;
        // What is in sources/ now (a finished transcode may still take its source away).
        let sources = names_in(&s, "sources");
        let video = std::fs::read(&src).unwrap();
        let boundary = "fleuve-test-boundary";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nLate\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"channelId\"\r\n\r\n{carol_channel}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"videofile\"; filename=\"late.mp4\"\r\n\
             Content-Type: video/mp4\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(&video);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let addr = s.url("").trim_start_matches("http://").trim_end_matches('/').to_string();
        let mut conn = std::net::TcpStream::connect(&addr).unwrap();
        use std::io::{Read, Write};
        write!(
            conn,
            "POST /api/v1/videos/upload HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {carol}\r\n\
             Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n",
            body.len()
        )
        .unwrap();
        let half = body.len() / 2;
        conn.write_all(&body[..half]).unwrap();
        conn.flush().unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let (status, _) = post(&s, &block(carol_id), &m, json!({})).await;
        assert_eq!(status, 204);
        conn.write_all(&body[half..]).unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
        assert!(answer.contains("blocked or removed"), "{answer}");
        let new: Vec<String> = names_in(&s, "sources")
            .into_iter()
            .filter(|n| !sources.contains(n))
            .collect();
        assert!(new.is_empty(), "nothing kept: {new:?}");
        assert!(uploads_left(&s).is_empty(), "{:?}", uploads_left(&s));

        // My videos: bob's own, whatever their privacy; nobody else's.
        let mine = get_json_as(&s, "/api/v1/users/me/videos", &bob).await;
        assert_eq!(mine["total"], 1, "{mine}");
        assert_eq!(mine["data"][0]["uuid"], bob_video.as_str());
        let none = get_json_as(&s, "/api/v1/users/me/videos", &alice).await;
        assert_eq!(none["total"], 0, "{none}");

        // Alice rates and comments root's video, has a video of her own and an upload going.
        let rv = publish_clip(&s, &root, "320x240", 1).await;
        let root_video = rv["uuid"].as_str().unwrap().to_string();
        let (status, doc) = put(
            &s,
            &format!("/api/v1/videos/{root_video}/rate"),
            &alice,
            json!({"rating": "like"}),
        )
        .await;
        assert_eq!(status, 204, "{doc}");
        let (status, doc) = post(
            &s,
            &format!("/api/v1/videos/{root_video}/comment-threads"),
            &alice,
            json!({"text": "Nice one"}),
        )
        .await;
        assert_eq!(status, 200, "{doc}");
        let alice_channel = my_channel(&s, &alice).await;
        let sources_before = names_in(&s, "sources");
        let (status, doc) =
            upload_to(&s, &alice, alice_channel, std::fs::read(&src).unwrap()).await;
        assert_eq!(status, 200, "{doc}");
        let alice_video = doc["video"]["uuid"].as_str().unwrap().to_string();
        let r = client()
            .post(s.url("/api/v1/videos/upload-resumable"))
            .bearer_auth(&alice)
            .header("X-Upload-Content-Length", "100000")
            .json(&json!({"name": "Half", "channelId": alice_channel, "filename": "half.mp4"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        let session = format!("http:{}", r.headers()["location"].to_str().unwrap());
        let r = client()
            .put(&session)
            .bearer_auth(&alice)
            .header("Content-Range", "bytes 0-49999/100000")
            .body(pattern(50_000))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 308, "half the upload is in");
        assert_eq!(uploads_left(&s).len(), 1, "{:?}", uploads_left(&s));
        let stats = get_json(&s, &format!("/api/v1/videos/{root_video}")).await;
        assert_eq!(
            (&stats["likes"], &stats["comments"]),
            (&json!(1), &json!(1))
        );

        // Who may remove whom.
        let user_path = |id: u64| format!("/api/v1/users/{id}");
        for (token, id, want) in [
            (&bob, alice_id, 403),
            (&alice, alice_id, 403), // a user cannot remove even themselves
            (&m, admin2, 403),
            (&a2, admin2, 400),
            (&a2, 1, 400),
            (&m, 999_999, 404),
        ] {
            let (status, doc) = delete(&s, &user_path(id), token).await;
            assert_eq!(status, want, "remove {id}: {doc}");
        }

        // The moderator removes alice while her upload is half done.
        let (status, doc) = delete(&s, &user_path(alice_id), &m).await;
        assert_eq!(status, 204, "{doc}");
        assert_eq!(me_status(&s, &alice).await, 401);
        let r = client()
            .put(&session)
            .bearer_auth(&alice)
            .header("Content-Range", "bytes 50000-99999/100000")
            .body(pattern(50_000))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status().as_u16(),
            401,
            "the rest of her upload is refused"
        );
        assert!(uploads_left(&s).is_empty(), "{:?}", uploads_left(&s));
        assert_eq!(try_login(&s, "alice", "alice-password").await.0, 400);
        assert_eq!(get_json_status(&s, &user_path(alice_id), &root).await, 404);
        assert_eq!(get_video(&s, &root, &alice_video).await.0, 404);
        let new: Vec<String> = names_in(&s, "sources")
            .into_iter()
            .filter(|n| !sources_before.contains(n))
            .collect();
        assert!(new.is_empty(), "her source file is gone: {new:?}");
        let stats = get_json(&s, &format!("/api/v1/videos/{root_video}")).await;
        assert_eq!(
            (&stats["likes"], &stats["comments"]),
            (&json!(0), &json!(0)),
            "{stats}"
        );
        assert_eq!(
            status_of(&s, "/api/v1/video-channels/alice_channel").await,
            404
        );
        // What is not hers is intact.
        assert_eq!(get_video(&s, &root, &bob_video).await.0, 200);
        assert_eq!(get_video(&s, &root, &root_video).await.0, 200);
        assert_eq!(me_status(&s, &bob).await, 200);
        // Removed once: 404 the second time; the name and channel name are free again.
        assert_eq!(delete(&s, &user_path(alice_id), &m).await.0, 404);
        let again = create_user(&s, &root, "alice", 2).await;
        assert_ne!(again, alice_id);
        let alice = login_as(&s, "alice", "alice-password").await;
        let mine = get_json_as(&s, "/api/v1/users/me/videos", &alice).await;
        assert_eq!(
            mine["total"], 0,
            "the new alice has none of the old one's: {mine}"
        );
    });
}

/// Channels (issue 15): several per user, each a `Group` actor; created, changed and removed
/// (with their videos) by their owner or an administrator only; uploads go only into a channel
/// the uploader owns; bad input named; a user keeps at least one channel and has at most 20.
#[test]
fn users_manage_their_own_channels() {
    let s = Server::start();
    rt().block_on(async {
        let (root, _) = login(&s).await;
        create_user(&s, &root, "alice", 2).await;
        create_user(&s, &root, "bob", 2).await;
        let alice = login_as(&s, "alice", "alice-password").await;
        let bob = login_as(&s, "bob", "bob-password").await;
        let new = |name: &str| json!({"name": name, "displayName": "Rivers", "description": "About rivers"});
        for (body, want, names) in [
            (json!({"name": "Bad Name", "displayName": "x"}), 400, "Bad Name"),
            (new("root"), 409, "root"),
            (new("alice_channel"), 409, "alice_channel"),
            (json!({"name": "ok_name", "displayName": ""}), 400, "displayName"),
            (
                json!({"name": "ok_name", "displayName": "x", "description": "d".repeat(1001)}),
                400,
                "1001",
            ),
        ] {
            let (status, doc) = post(&s, "/api/v1/video-channels", &alice, body).await;
            assert_eq!(status, want, "{doc}");
            assert!(doc.to_string().contains(names), "{doc}");
        }
        let (status, made) = post(&s, "/api/v1/video-channels", &alice, new("alice_rivers")).await;
        assert_eq!(status, 200, "{made}");
        let rivers = made["videoChannel"]["id"].as_u64().unwrap();
        let c = get_json(&s, "/api/v1/video-channels/alice_rivers").await;
        assert_eq!((&c["displayName"], &c["description"]), (&json!("Rivers"), &json!("About rivers")));
        assert_eq!(c["ownerAccount"]["name"], "alice");
        assert_eq!(get_json(&s, "/api/v1/accounts/alice/video-channels").await["total"], 2);
        let actor = get_ap_json(&s, "/video-channels/alice_rivers").await;
        assert_eq!((&actor["type"], &actor["preferredUsername"]), (&json!("Group"), &json!("alice_rivers")));

        // Only its owner (or an administrator) changes it; the search finds the new name.
        let path = "/api/v1/video-channels/alice_rivers";
        assert_eq!(put(&s, path, &bob, json!({"displayName": "Mine"})).await.0, 403);
        let (status, doc) = put(&s, path, &alice, json!({"displayName": "Rivers and lakes", "support": "Thanks"})).await;
        assert_eq!(status, 204, "{doc}");
        let c = get_json(&s, path).await;
        assert_eq!((&c["displayName"], &c["support"]), (&json!("Rivers and lakes"), &json!("Thanks")));
        let found = get_json(&s, "/api/v1/search/video-channels?search=lakes").await;
        assert_eq!(found["data"][0]["name"], "alice_rivers", "{found}");
        assert_eq!(put(&s, path, &root, json!({"description": "Moderated"})).await.0, 204);

        // Uploads into one's own channels only.
        let src = clip(&s.dir, "rivers.mp4", "320x240", 25, 1, true);
        let (status, doc) = upload_to(&s, &alice, rivers, std::fs::read(&src).unwrap()).await;
        assert_eq!(status, 200, "{doc}");
        let video = doc["video"]["uuid"].as_str().unwrap().to_string();
        let (status, _) = upload_to(&s, &bob, rivers, std::fs::read(&src).unwrap()).await;
        assert_eq!(status, 400, "not bob's channel (PeerTube: unknown channel for this account)");

        // Removed with its videos; never the last one.
        assert_eq!(delete(&s, path, &bob).await.0, 403);
        let (status, doc) = delete(&s, path, &alice).await;
        assert_eq!(status, 204, "{doc}");
        assert_eq!(status_of(&s, path).await, 404);
        assert_eq!(get_video(&s, &root, &video).await.0, 404, "its video went with it");
        let (status, doc) = delete(&s, "/api/v1/video-channels/alice_channel", &alice).await;
        assert_eq!(status, 409, "{doc}");
        // The name is free again.
        assert_eq!(post(&s, "/api/v1/video-channels", &bob, new("alice_rivers")).await.0, 200);

        // At most 20 channels a user.
        for i in 1..20 {
            let (status, doc) = post(&s, "/api/v1/video-channels", &alice, new(&format!("alice_{i}"))).await;
            assert_eq!(status, 200, "channel {i}: {doc}");
        }
        let (status, doc) = post(&s, "/api/v1/video-channels", &alice, new("alice_21")).await;
        assert_eq!(status, 403, "{doc}");
    });
}

/// `PUT /api/v1/users/me` keeps the NSFW policy and the P2P setting (issue 15): with
/// `do_not_list`, NSFW videos leave that user's lists and search unless the request asks
/// (`nsfw=both`), while visitors and other users still see them; a policy PeerTube does not
/// have is refused with its value.
#[test]
fn the_nsfw_policy_and_p2p_setting_are_the_users() {
    let s = Server::start();
    rt().block_on(async {
        let (root, _) = login(&s).await;
        let alice = create_and_login(&s, &root, "alice", 2).await;
        let v = publish_clip(&s, &root, "320x240", 1).await;
        let uuid = v["uuid"].as_str().unwrap().to_string();
        let (status, doc) = put(
            &s,
            &format!("/api/v1/videos/{uuid}"),
            &root,
            json!({"nsfw": true, "name": "Spicy clip"}),
        )
        .await;
        assert_eq!(status, 204, "{doc}");
        let me = get_json_as(&s, "/api/v1/users/me", &alice).await;
        assert_eq!(
            (&me["nsfwPolicy"], &me["p2pEnabled"]),
            (&json!("display"), &json!(true))
        );
        let has = |doc: &Value| doc.to_string().contains(&uuid);
        let lists = [
            "/api/v1/videos",
            "/api/v1/search/videos?search=spicy",
            "/api/v1/accounts/root/videos",
        ];
        for path in lists {
            assert!(has(&get_json_as(&s, path, &alice).await), "{path}");
        }
        let (status, doc) = put(
            &s,
            "/api/v1/users/me",
            &alice,
            json!({"nsfwPolicy": "hide_it", "p2pEnabled": false}),
        )
        .await;
        assert_eq!(status, 400, "{doc}");
        assert!(doc.to_string().contains("hide_it"), "{doc}");
        let (status, doc) = put(
            &s,
            "/api/v1/users/me",
            &alice,
            json!({"nsfwPolicy": "do_not_list", "p2pEnabled": false}),
        )
        .await;
        assert_eq!(status, 204, "{doc}");
        let me = get_json_as(&s, "/api/v1/users/me", &alice).await;
        assert_eq!(
            (&me["nsfwPolicy"], &me["p2pEnabled"]),
            (&json!("do_not_list"), &json!(false))
        );
        for path in lists {
            assert!(!has(&get_json_as(&s, path, &alice).await), "{path}");
            assert!(has(&get_json_as(&s, path, &root).await), "root: {path}");
            assert!(has(&get_json(&s, path).await), "anonymous: {path}");
            let sep = if path.contains('?') { '&' } else { '?' };
            let asked = format!("{path}{sep}nsfw=both");
            assert!(has(&get_json_as(&s, &asked, &alice).await), "{asked}");
        }
        // Her own videos are all hers to see.
        let mine = get_json_as(&s, "/api/v1/users/me/videos", &root).await;
        assert!(has(&mine));
    });
}
