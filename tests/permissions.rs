//! Every REST endpoint's permission rule, with four callers (issue 15): nobody (no token), a
//! user, a moderator and the administrator. Each row names what each caller gets: a refusal
//! (401 without a token, 403 for a role without the right) or an answer past the check (any
//! status but 401, 403 and 5xx: the probes send bodies that fail validation where a success
//! would change something, and every role acts on its own copy of what it may destroy). A
//! last check reads the routers in `src/` and fails on any `/api/` route that is neither in
//! the table nor listed as public by design, so a new endpoint cannot skip this test.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};

/// What one caller gets.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Want {
    /// Refused: 401 without a token, 403 with one.
    No,
    /// Past the permission check.
    Yes,
}
use Want::{No, Yes};

const CALLERS: [&str; 4] = ["anonymous", "user", "moderator", "administrator"];

/// Method, path (placeholders in braces, filled per caller), JSON body (`Null`: none), and
/// what each of [`CALLERS`] gets.
type Row = (&'static str, &'static str, Value, [Want; 4]);

fn table() -> Vec<Row> {
    let public = [Yes, Yes, Yes, Yes];
    let logged_in = [No, Yes, Yes, Yes];
    let moderators = [No, No, Yes, Yes];
    let admin = [No, No, No, Yes];
    vec![
        // Public reads.
        ("GET", "/api/v1/config", Value::Null, public),
        ("GET", "/api/v1/config/about", Value::Null, public),
        ("GET", "/api/v1/server/stats", Value::Null, public),
        ("GET", "/api/v1/oauth-clients/local", Value::Null, public),
        ("GET", "/api/v1/videos", Value::Null, public),
        ("GET", "/api/v1/videos/{S}", Value::Null, public),
        ("GET", "/api/v1/videos/categories", Value::Null, public),
        ("GET", "/api/v1/videos/licences", Value::Null, public),
        ("GET", "/api/v1/videos/languages", Value::Null, public),
        ("GET", "/api/v1/videos/privacies", Value::Null, public),
        (
            "GET",
            "/api/v1/search/videos?search=probe",
            Value::Null,
            public,
        ),
        (
            "GET",
            "/api/v1/search/video-channels?search=root",
            Value::Null,
            public,
        ),
        ("GET", "/api/v1/accounts/{ROOT}", Value::Null, public),
        ("GET", "/api/v1/accounts/{ROOT}/videos", Value::Null, public),
        (
            "GET",
            "/api/v1/accounts/{ROOT}/video-channels",
            Value::Null,
            public,
        ),
        (
            "GET",
            "/api/v1/video-channels/{ROOTCH}",
            Value::Null,
            public,
        ),
        (
            "GET",
            "/api/v1/video-channels/{ROOTCH}/videos",
            Value::Null,
            public,
        ),
        ("GET", "/api/v1/videos/{S}/captions", Value::Null, public),
        ("GET", "/api/v1/videos/{S}/chapters", Value::Null, public),
        ("GET", "/api/v1/videos/{S}/storyboards", Value::Null, public),
        (
            "GET",
            "/api/v1/videos/{S}/comment-threads",
            Value::Null,
            public,
        ),
        (
            "GET",
            "/api/v1/videos/{S}/comment-threads/{K}",
            Value::Null,
            public,
        ),
        (
            "GET",
            "/api/v1/videos/{S}/metadata/{FILE}",
            Value::Null,
            public,
        ),
        ("GET", "/api/v1/video-playlists", Value::Null, public),
        (
            "GET",
            "/api/v1/video-playlists/privacies",
            Value::Null,
            public,
        ),
        ("GET", "/api/v1/video-playlists/{PLS}", Value::Null, public),
        (
            "GET",
            "/api/v1/video-playlists/{PLS}/videos",
            Value::Null,
            public,
        ),
        (
            "GET",
            "/api/v1/accounts/{ROOT}/video-playlists",
            Value::Null,
            public,
        ),
        (
            "GET",
            "/api/v1/video-channels/{ROOTCH}/video-playlists",
            Value::Null,
            public,
        ),
        (
            "GET",
            "/api/v1/search/video-playlists?search=probe",
            Value::Null,
            public,
        ),
        ("GET", "/api/v1/server/followers", Value::Null, public),
        ("GET", "/api/v1/server/following", Value::Null, public),
        ("POST", "/api/v1/videos/{S}/views", json!({}), public),
        // One's own account and what any account may do.
        ("GET", "/api/v1/users/me", Value::Null, logged_in),
        (
            "PUT",
            "/api/v1/users/me",
            json!({"displayName": ""}),
            logged_in,
        ),
        ("GET", "/api/v1/users/me/videos", Value::Null, logged_in),
        (
            "GET",
            "/api/v1/users/me/video-quota-used",
            Value::Null,
            logged_in,
        ),
        (
            "GET",
            "/api/v1/users/me/videos/{S}/rating",
            Value::Null,
            logged_in,
        ),
        ("GET", "/api/v1/users/me/abuses", Value::Null, logged_in),
        (
            "PUT",
            "/api/v1/videos/{S}/rate",
            json!({"rating": "like"}),
            logged_in,
        ),
        ("POST", "/api/v1/videos/{S}/token", json!({}), logged_in),
        (
            "POST",
            "/api/v1/videos/{S}/comment-threads",
            json!({"text": "probe"}),
            logged_in,
        ),
        (
            "POST",
            "/api/v1/videos/{S}/comments/{K}",
            json!({"text": "reply"}),
            logged_in,
        ),
        ("POST", "/api/v1/abuses", json!({"reason": ""}), logged_in),
        (
            "POST",
            "/api/v1/video-playlists",
            json!({"displayName": ""}),
            logged_in,
        ),
        (
            "GET",
            "/api/v1/users/me/video-playlists/videos-exist?videoIds=1",
            Value::Null,
            logged_in,
        ),
        (
            "POST",
            "/api/v1/video-channels",
            json!({"name": "", "displayName": ""}),
            logged_in,
        ),
        (
            "POST",
            "/api/v1/videos/upload-resumable",
            json!({}),
            logged_in,
        ),
        (
            "PUT",
            "/api/v1/videos/upload-resumable?upload_id=none",
            json!({}),
            logged_in,
        ),
        (
            "DELETE",
            "/api/v1/videos/upload-resumable?upload_id=none",
            Value::Null,
            logged_in,
        ),
        ("POST", "/api/v1/videos/upload", json!({}), logged_in),
        (
            "GET",
            "/api/v1/users/me/blocklist/accounts",
            Value::Null,
            logged_in,
        ),
        (
            "POST",
            "/api/v1/users/me/blocklist/accounts",
            json!({"accountName": ""}),
            logged_in,
        ),
        (
            "DELETE",
            "/api/v1/users/me/blocklist/accounts/{ACCT}",
            Value::Null,
            logged_in,
        ),
        (
            "GET",
            "/api/v1/users/me/blocklist/servers",
            Value::Null,
            logged_in,
        ),
        (
            "POST",
            "/api/v1/users/me/blocklist/servers",
            json!({"host": "{HOST}"}),
            logged_in,
        ),
        (
            "DELETE",
            "/api/v1/users/me/blocklist/servers/{HOST}",
            Value::Null,
            logged_in,
        ),
        (
            "GET",
            "/api/v1/users/me/subscriptions",
            Value::Null,
            logged_in,
        ),
        (
            "POST",
            "/api/v1/users/me/subscriptions",
            json!({"uri": ""}),
            logged_in,
        ),
        (
            "GET",
            "/api/v1/users/me/subscriptions/exist?uris={ACCT}",
            Value::Null,
            logged_in,
        ),
        (
            "GET",
            "/api/v1/users/me/subscriptions/videos",
            Value::Null,
            logged_in,
        ),
        (
            "GET",
            "/api/v1/users/me/subscriptions/{ACCT}",
            Value::Null,
            logged_in,
        ),
        (
            "DELETE",
            "/api/v1/users/me/subscriptions/{ACCT}",
            Value::Null,
            logged_in,
        ),
        // Another's video, its captions, chapters and comments: the owner (not probed here),
        // moderators (UPDATE_ANY_VIDEO, MANAGE_ANY_VIDEO_COMMENT) and the administrator.
        (
            "PUT",
            "/api/v1/videos/{V}",
            json!({"privacy": 99}),
            moderators,
        ),
        (
            "PUT",
            "/api/v1/videos/{V}/captions/{LANG}",
            json!({}),
            moderators,
        ),
        (
            "DELETE",
            "/api/v1/videos/{V}/captions/{LANG}",
            Value::Null,
            moderators,
        ),
        (
            "PUT",
            "/api/v1/videos/{V}/chapters",
            json!({"chapters": "none"}),
            moderators,
        ),
        ("GET", "/api/v1/videos/{V}/source", Value::Null, moderators),
        (
            "DELETE",
            "/api/v1/videos/{S}/comments/{K}",
            Value::Null,
            moderators,
        ),
        // Another's playlist: its owner (not probed here), moderators and the administrator
        // (UPDATE_ANY_VIDEO_PLAYLIST, REMOVE_ANY_VIDEO_PLAYLIST).
        (
            "PUT",
            "/api/v1/video-playlists/{PL}",
            json!({"privacy": 99}),
            moderators,
        ),
        (
            "POST",
            "/api/v1/video-playlists/{PL}/videos",
            json!({}),
            moderators,
        ),
        (
            "POST",
            "/api/v1/video-playlists/{PL}/videos/reorder",
            json!({}),
            moderators,
        ),
        (
            "PUT",
            "/api/v1/video-playlists/{PL}/videos/{PLE}",
            json!({"startTimestamp": "x"}),
            moderators,
        ),
        (
            "DELETE",
            "/api/v1/video-playlists/{PL}/videos/{PLE}",
            Value::Null,
            moderators,
        ),
        (
            "DELETE",
            "/api/v1/video-playlists/{PL}",
            Value::Null,
            moderators,
        ),
        // Another's channel: the administrator only (MANAGE_ANY_VIDEO_CHANNEL).
        (
            "PUT",
            "/api/v1/video-channels/{C}",
            json!({"displayName": ""}),
            admin,
        ),
        // Moderation.
        ("GET", "/api/v1/videos/blacklist", Value::Null, moderators),
        (
            "POST",
            "/api/v1/videos/{V}/blacklist",
            json!({"reason": "probe"}),
            moderators,
        ),
        (
            "PUT",
            "/api/v1/videos/{V}/blacklist",
            json!({"reason": "probe again"}),
            moderators,
        ),
        (
            "DELETE",
            "/api/v1/videos/{V}/blacklist",
            Value::Null,
            moderators,
        ),
        ("GET", "/api/v1/abuses", Value::Null, moderators),
        (
            "PUT",
            "/api/v1/abuses/{AB}",
            json!({"state": 2}),
            moderators,
        ),
        // A report's messages: its reporter (the user here) and the moderators.
        (
            "GET",
            "/api/v1/abuses/{AB}/messages",
            Value::Null,
            logged_in,
        ),
        (
            "POST",
            "/api/v1/abuses/{AB}/messages",
            json!({"message": ""}),
            logged_in,
        ),
        (
            "DELETE",
            "/api/v1/abuses/{AB}/messages/{MSG}",
            Value::Null,
            logged_in,
        ),
        ("DELETE", "/api/v1/abuses/{AB}", Value::Null, moderators),
        (
            "GET",
            "/api/v1/server/blocklist/servers",
            Value::Null,
            moderators,
        ),
        (
            "POST",
            "/api/v1/server/blocklist/servers",
            json!({"host": "{HOST}"}),
            moderators,
        ),
        (
            "DELETE",
            "/api/v1/server/blocklist/servers/{HOST}",
            Value::Null,
            moderators,
        ),
        (
            "GET",
            "/api/v1/server/blocklist/accounts",
            Value::Null,
            moderators,
        ),
        (
            "POST",
            "/api/v1/server/blocklist/accounts",
            json!({"accountName": "{ACCT}"}),
            moderators,
        ),
        (
            "DELETE",
            "/api/v1/server/blocklist/accounts/{ACCT}",
            Value::Null,
            moderators,
        ),
        (
            "GET",
            "/api/v1/users/registrations",
            Value::Null,
            moderators,
        ),
        (
            "POST",
            "/api/v1/users/registrations/{R}/accept",
            json!({"moderationResponse": "welcome"}),
            moderators,
        ),
        (
            "POST",
            "/api/v1/users/registrations/{R}/reject",
            json!({"moderationResponse": "no"}),
            moderators,
        ),
        (
            "DELETE",
            "/api/v1/users/registrations/{R}",
            Value::Null,
            moderators,
        ),
        // Users: moderators manage users (not moderators or administrators).
        ("GET", "/api/v1/users", Value::Null, moderators),
        (
            "POST",
            "/api/v1/users",
            json!({"username": "", "password": "", "email": "", "role": 2}),
            moderators,
        ),
        ("GET", "/api/v1/users/{T}", Value::Null, moderators),
        (
            "PUT",
            "/api/v1/users/{T}",
            json!({"videoQuota": 1000000}),
            moderators,
        ),
        (
            "POST",
            "/api/v1/users/{T}/block",
            json!({"reason": "probe"}),
            moderators,
        ),
        ("POST", "/api/v1/users/{T}/unblock", json!({}), moderators),
        (
            "PUT",
            "/api/v1/users/{ADMIN2}",
            json!({"videoQuota": 1000000}),
            admin,
        ),
        (
            "POST",
            "/api/v1/users/{ADMIN2}/block",
            json!({"reason": "probe"}),
            admin,
        ),
        // The instance.
        ("GET", "/api/v1/admin/status", Value::Null, admin),
        ("GET", "/api/v1/admin/storage/moves", Value::Null, admin),
        (
            "POST",
            "/api/v1/admin/storage/moves",
            json!({"to": "file-system", "all": true}),
            admin,
        ),
        (
            "POST",
            "/api/v1/server/following",
            json!({"hosts": []}),
            admin,
        ),
        (
            "DELETE",
            "/api/v1/server/following/{HOST}",
            Value::Null,
            admin,
        ),
        // Redundancy (MANAGE_SERVER_FOLLOW, MANAGE_VIDEOS_REDUNDANCIES: administrators).
        // An unfollowed host, an unknown mirror, a missing video: 404 past the check.
        (
            "PUT",
            "/api/v1/server/redundancy/{HOST}",
            json!({"redundancyAllowed": true}),
            admin,
        ),
        (
            "GET",
            "/api/v1/server/redundancy/videos?target=remote-videos",
            Value::Null,
            admin,
        ),
        (
            "POST",
            "/api/v1/server/redundancy/videos",
            json!({"videoId": 999999}),
            admin,
        ),
        (
            "DELETE",
            "/api/v1/server/redundancy/videos/{NOMIRROR}",
            Value::Null,
            admin,
        ),
        // Remote runners (MANAGE_RUNNERS: administrators). Unknown ids and uuids: 404 past the
        // check.
        ("GET", "/api/v1/runners", Value::Null, admin),
        ("DELETE", "/api/v1/runners/{NORUNNER}", Value::Null, admin),
        (
            "POST",
            "/api/v1/runners/registration-tokens/generate",
            Value::Null,
            admin,
        ),
        (
            "GET",
            "/api/v1/runners/registration-tokens",
            Value::Null,
            admin,
        ),
        (
            "DELETE",
            "/api/v1/runners/registration-tokens/{NORUNNER}",
            Value::Null,
            admin,
        ),
        ("GET", "/api/v1/runners/jobs", Value::Null, admin),
        (
            "POST",
            "/api/v1/runners/jobs/{NORUNNERJOB}/cancel",
            Value::Null,
            admin,
        ),
        (
            "DELETE",
            "/api/v1/runners/jobs/{NORUNNERJOB}",
            Value::Null,
            admin,
        ),
        // Last: what is destroyed.
        ("DELETE", "/api/v1/users/{T}", Value::Null, moderators),
        ("DELETE", "/api/v1/videos/{V}", Value::Null, moderators),
        ("DELETE", "/api/v1/video-channels/{C}", Value::Null, admin),
    ]
}

/// Routes open to anyone by design, whose credential is something else than a role (a
/// password, a refresh token, an e-mailed link), with the test that covers them.
const PUBLIC_BY_DESIGN: &[(&str, &str)] = &[
    (
        "/api/v1/runners/register",
        "runner_server: registration, runner and job tokens in the body",
    ),
    (
        "/api/v1/runners/unregister",
        "runner_server: registration, runner and job tokens in the body",
    ),
    (
        "/api/v1/runners/jobs/request",
        "runner_server: registration, runner and job tokens in the body",
    ),
    (
        "/api/v1/runners/jobs/{}/accept",
        "runner_server: registration, runner and job tokens in the body",
    ),
    (
        "/api/v1/runners/jobs/{}/update",
        "runner_server: registration, runner and job tokens in the body",
    ),
    (
        "/api/v1/runners/jobs/{}/success",
        "runner_server: registration, runner and job tokens in the body",
    ),
    (
        "/api/v1/runners/jobs/{}/error",
        "runner_server: registration, runner and job tokens in the body",
    ),
    (
        "/api/v1/runners/jobs/{}/abort",
        "runner_server: registration, runner and job tokens in the body",
    ),
    (
        "/api/v1/runners/jobs/{}/files/videos/{}/max-quality",
        "runner_server: registration, runner and job tokens in the body",
    ),
    (
        "/api/v1/runners/jobs/{}/files/videos/{}/max-quality/audio",
        "runner_server: registration, runner and job tokens in the body",
    ),
    (
        "/api/v1/runners/jobs/{}/files/videos/{}/previews/max-quality",
        "runner_server: registration, runner and job tokens in the body",
    ),
    (
        "/api/v1/runners/jobs/{}/files/videos/{}/studio/task-files/{}",
        "runner_server: registration, runner and job tokens in the body",
    ),
    (
        "/api/v1/users/token",
        "auth_and_lifecycle: passwords and refresh tokens",
    ),
    (
        "/api/v1/users/revoke-token",
        "auth_and_lifecycle: the token revokes itself",
    ),
    (
        "/api/v1/users/register",
        "signup_and_mail: signup.enabled and its limits",
    ),
    ("/api/v1/users/registrations/request", "signup_and_mail"),
    (
        "/api/v1/users/registrations/{}/verify-email",
        "signup_and_mail: the e-mailed link",
    ),
    (
        "/api/v1/users/ask-send-verify-email",
        "signup_and_mail: per-address limits",
    ),
    (
        "/api/v1/users/{}/verify-email",
        "signup_and_mail: the e-mailed link",
    ),
    (
        "/api/v1/users/ask-reset-password",
        "signup_and_mail: per-address limits",
    ),
    (
        "/api/v1/users/{}/reset-password",
        "signup_and_mail: the e-mailed link",
    ),
];

/// What each caller's placeholders stand for.
struct Fixtures {
    shared: HashMap<&'static str, String>,
    per_caller: [HashMap<&'static str, String>; 4],
}

impl Fixtures {
    fn fill(&self, caller: usize, text: &str) -> String {
        let mut out = text.to_string();
        for (k, v) in self.per_caller[caller].iter().chain(self.shared.iter()) {
            out = out.replace(&format!("{{{k}}}"), v);
        }
        assert!(!out.contains('{'), "unfilled placeholder in {out}");
        out
    }
}

fn fill_json(f: &Fixtures, caller: usize, v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(f.fill(caller, s)),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), fill_json(f, caller, v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

async fn ok(s: &Server, token: &str, method: Method, path: &str, body: Value) -> Value {
    let (status, doc) = call(s, method, path, Some(token), body).await;
    assert!(status < 300, "{path}: {status} {doc}");
    doc
}

/// Everything the table acts on: one shared video with a comment thread, and for each caller
/// its own video, channel, comment, report, registration request and target user.
async fn fixtures(s: &Server, root: &str, alice: &str) -> Fixtures {
    let src = clip(&s.dir, "probe.mp4", "160x120", 10, 1, false);
    let (status, doc) = upload_multipart(s, root, &src, "Shared probe").await;
    assert_eq!(status, 200, "{doc}");
    let shared_video = doc["video"]["uuid"].as_str().unwrap().to_string();
    // Published, so that anyone may see it and comment.
    wait_state(s, root, &shared_video, &[1]).await;
    let admin2 = ok(
        s,
        root,
        Method::POST,
        "/api/v1/users",
        json!({"username": "second_admin", "password": "second-admin-password",
               "email": "second_admin@example.test", "role": 0}),
    )
    .await;
    let mut per_caller: [HashMap<&'static str, String>; 4] = Default::default();
    for (i, caller) in CALLERS.iter().enumerate() {
        let m = &mut per_caller[i];
        let (status, doc) = upload_multipart(s, root, &src, &format!("Probe for {caller}")).await;
        assert_eq!(status, 200, "{doc}");
        let video = doc["video"]["uuid"].as_str().unwrap().to_string();
        m.insert("V", video);
        let name = format!("probe_{caller}");
        ok(
            s,
            root,
            Method::POST,
            "/api/v1/video-channels",
            json!({"name": name, "displayName": format!("Probe {caller}")}),
        )
        .await;
        m.insert("C", name);
        let c = ok(
            s,
            root,
            Method::POST,
            &format!("/api/v1/videos/{shared_video}/comment-threads"),
            json!({"text": format!("comment for {caller}")}),
        )
        .await;
        let comment_id = c["comment"]["id"].clone();
        m.insert("K", comment_id.to_string());
        let a = ok(
            s,
            alice,
            Method::POST,
            "/api/v1/abuses",
            json!({"comment": {"id": comment_id}, "reason": format!("report for {caller}")}),
        )
        .await;
        m.insert("AB", a["abuse"]["id"].to_string());
        let r = ok(
            s,
            root,
            Method::POST,
            "/api/v1/users/registrations/request",
            json!({"username": format!("asks_{caller}"), "password": "asking-password",
                   "email": format!("asks_{caller}@example.test"),
                   "registrationReason": "probing"}),
        )
        .await;
        m.insert("R", r["id"].to_string());
        let t = ok(
            s,
            root,
            Method::POST,
            "/api/v1/users",
            json!({"username": format!("target_{caller}"), "password": "target-password",
                   "email": format!("target_{caller}@example.test"), "role": 2}),
        )
        .await;
        m.insert("T", t["user"]["id"].to_string());
        let pl = ok(
            s,
            root,
            Method::POST,
            "/api/v1/video-playlists",
            json!({"displayName": format!("Probe list for {caller}"), "privacy": 1,
                   "videoChannelId": 1}),
        )
        .await;
        let pl = pl["videoPlaylist"]["id"].to_string();
        let e = ok(
            s,
            root,
            Method::POST,
            &format!("/api/v1/video-playlists/{pl}/videos"),
            json!({"videoId": shared_video}),
        )
        .await;
        m.insert("PLE", e["videoPlaylistElement"]["id"].to_string());
        m.insert("PL", pl);
        m.insert("HOST", format!("{caller}.probe.example"));
        m.insert("ACCT", format!("someone@{caller}.probe.example"));
    }
    // alice made every report: she is the user whom a report's messages admit.
    let shared_list = ok(
        s,
        root,
        Method::POST,
        "/api/v1/video-playlists",
        json!({"displayName": "Shared probe list", "privacy": 1, "videoChannelId": 1}),
    )
    .await;
    let shared = HashMap::from([
        ("PLS", shared_list["videoPlaylist"]["id"].to_string()),
        ("S", shared_video),
        ("ROOT", "root".to_string()),
        ("ROOTCH", "root_channel".to_string()),
        ("FILE", "1".to_string()),
        ("LANG", "fr".to_string()),
        ("MSG", "999999".to_string()),
        ("ADMIN2", admin2["user"]["id"].to_string()),
        ("NORUNNER", "999999".to_string()),
        ("NOMIRROR", "999999".to_string()),
        (
            "NORUNNERJOB",
            "00000000-0000-4000-8000-000000000000".to_string(),
        ),
    ]);
    Fixtures { shared, per_caller }
}

#[test]
fn every_endpoint_refuses_the_roles_without_the_right() {
    let s = Server::start_with(with_env(&[
        ("FLEUVE_SIGNUP_ENABLED", "true"),
        ("FLEUVE_SIGNUP_REQUIRES_APPROVAL", "true"),
        ("FLEUVE_SIGNUP_PER_ADDRESS_PER_5MIN", "0"),
    ]));
    rt().block_on(async {
        let (root, _) = login(&s).await;
        let alice = create_and_login(&s, &root, "alice", 2).await;
        let mona = create_and_login(&s, &root, "mona", 1).await;
        let f = fixtures(&s, &root, &alice).await;
        let tokens = [
            None,
            Some(alice.as_str()),
            Some(mona.as_str()),
            Some(root.as_str()),
        ];
        let mut wrong = Vec::new();
        for (method, path, body, want) in table() {
            for (i, token) in tokens.iter().enumerate() {
                let url = f.fill(i, path);
                let m = Method::from_bytes(method.as_bytes()).unwrap();
                let (status, doc) = call(&s, m, &url, *token, fill_json(&f, i, &body)).await;
                let refused = if token.is_none() { 401 } else { 403 };
                let fine = match want[i] {
                    No => status == refused,
                    Yes => status != 401 && status != 403 && status < 500,
                };
                if !fine {
                    wrong.push(format!(
                        "{method} {url} as {}: {status} (wanted {}) {doc}",
                        CALLERS[i],
                        if want[i] == No {
                            refused.to_string()
                        } else {
                            "past the check".into()
                        }
                    ));
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "{} answers break the rules:\n{}",
            wrong.len(),
            wrong.join("\n")
        );
    });
    assert!(!s.log().contains("panicked"), "{}", s.log());
}

/// `path` with its query dropped and every `{…}` segment made `{}`.
fn shape(path: &str) -> String {
    let path = path.split('?').next().unwrap();
    path.split('/')
        .map(|seg| if seg.starts_with('{') { "{}" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every `(METHOD, route)` of the routers under `src/` whose path starts with `/api/`.
fn routes_in_source() -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            // Without whitespace, however rustfmt laid the call out.
            let text: String = std::fs::read_to_string(&p)
                .unwrap()
                .split_whitespace()
                .collect();
            let mut rest = text.as_str();
            while let Some(at) = rest.find(".route(\"") {
                rest = &rest[at + 8..];
                let end = rest.find('"').unwrap();
                let path = &rest[..end];
                // The handlers: up to the `)` that closes `.route(`.
                let mut depth = 1;
                let mut close = end;
                for (i, c) in rest[end..].char_indices() {
                    match c {
                        '(' => depth += 1,
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                close = end + i;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                if !path.starts_with("/api/") {
                    continue;
                }
                let handlers = &rest[end..close];
                for m in ["get", "post", "put", "delete", "patch"] {
                    let needle = format!("{m}(");
                    let mut h = handlers;
                    while let Some(i) = h.find(&needle) {
                        let before = h[..i].chars().last();
                        if before.is_none_or(|c| !c.is_alphanumeric() && c != '_') {
                            found.insert((m.to_uppercase(), shape(path)));
                        }
                        h = &h[i + needle.len()..];
                    }
                }
            }
        }
    }
    found
}

#[test]
fn no_api_route_escapes_the_table() {
    let routes = routes_in_source();
    assert!(
        routes.len() > 60,
        "the route scan found too little: {routes:?}"
    );
    let covered: BTreeSet<(String, String)> = table()
        .iter()
        .map(|(m, p, _, _)| (m.to_string(), shape(p)))
        .collect();
    let public: BTreeSet<&str> = PUBLIC_BY_DESIGN.iter().map(|(p, _)| *p).collect();
    let missing: Vec<String> = routes
        .iter()
        .filter(|(m, p)| !covered.contains(&(m.clone(), p.clone())) && !public.contains(p.as_str()))
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert!(
        missing.is_empty(),
        "routes with no permission row in tests/permissions.rs:\n{}",
        missing.join("\n")
    );
    let stale: Vec<String> = covered
        .iter()
        .filter(|r| !routes.contains(*r))
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert!(
        stale.is_empty(),
        "rows for routes that do not exist: {stale:?}"
    );
}
