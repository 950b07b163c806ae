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

/// Logs in as `username` and returns the access token (panics on failure).
async fn login_as(s: &Server, username: &str, password: &str) -> String {
    let oc = oauth_client(s).await;
    let r = token_request(
        s,
        &oc,
        &[
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
        ],
    )
    .await;
    let status = r.status().as_u16();
    let tok: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "login as {username}: {tok}");
    tok["access_token"].as_str().unwrap().to_string()
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
    let dir = s.dir.join("uploads");
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
