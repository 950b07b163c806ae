//! The account and moderation pages in Chromium (playwright-core, `tests/clients/browser.mjs`),
//! on an instance where sign-ups are requests a moderator answers: a visitor asks for an
//! account on the sign-up page; a moderator accepts it on the moderation page, with a report, a
//! blocked video and a server block; the new user changes a video's visibility, makes, renames
//! and deletes a channel and deletes the video on "My videos" and "My channels", and is refused
//! the moderation page. Each step is checked again through the API.

mod common;

use common::browser::*;
use common::*;
use reqwest::Method;
use serde_json::{json, Value};

#[test]
fn signup_moderation_and_my_pages_in_chromium() {
    require_browser();
    let s = Server::start_with(with_env(&[
        ("FLEUVE_SIGNUP_ENABLED", "true"),
        ("FLEUVE_SIGNUP_REQUIRES_APPROVAL", "true"),
        ("FLEUVE_SIGNUP_REQUIRES_EMAIL_VERIFICATION", "false"),
        ("FLEUVE_SIGNUP_PER_ADDRESS_PER_5MIN", "0"),
    ]));
    let out = artifacts().to_string_lossy().into_owned();
    let rt = rt();
    let (root, _) = rt.block_on(login(&s));

    // A visitor asks for an account.
    let r = scenario(
        "signup",
        json!({"base": s.base, "out": out, "user": "sam", "email": "sam@example.test",
               "password": "sam-password", "reason": "I film trains."}),
    );
    assert!(r["weak"].as_str().unwrap().contains("6 characters"), "{r}");
    rt.block_on(async {
        let regs = get_json_as(&s, "/api/v1/users/registrations", &root).await;
        assert_eq!(regs["total"], 1, "{regs}");
        assert_eq!(regs["data"][0]["username"], "sam");
        assert_eq!(regs["data"][0]["registrationReason"], "I film trains.");
        assert_eq!(try_login(&s, "sam", "sam-password").await.0, 400);
    });

    // What the moderator finds: a report by a user, a blocked video.
    let (mona, video) = rt.block_on(async {
        let mona = create_and_login(&s, &root, "mona", 1).await;
        let ursula = create_and_login(&s, &root, "ursula", 2).await;
        let v = publish_clip(&s, &root, "320x240", 2).await;
        let (status, doc) = call(
            &s,
            Method::POST,
            "/api/v1/abuses",
            Some(&ursula),
            json!({"video": {"id": v["id"]}, "reason": "Spam in the description"}),
        )
        .await;
        assert_eq!(status, 200, "{doc}");
        let (status, doc) = call(
            &s,
            Method::POST,
            &format!("/api/v1/videos/{}/blacklist", v["uuid"].as_str().unwrap()),
            Some(&root),
            json!({"reason": "copyright claim"}),
        )
        .await;
        assert_eq!(status, 204, "{doc}");
        (mona, v)
    });
    let r = scenario(
        "moderation",
        json!({"base": s.base, "out": out, "user": "mona", "password": "mona-password",
               "registration": "sam", "server": "spam.example", "note": "Removed the spam."}),
    );
    assert_eq!(
        r["nav"],
        json!({"moderation": true, "admin": false}),
        "a moderator sees Moderation, not Admin: {r}"
    );
    rt.block_on(async {
        let report = get_json_as(&s, "/api/v1/abuses", &mona).await;
        assert_eq!(report["data"][0]["state"]["id"], 3, "{report}");
        assert_eq!(report["data"][0]["moderationComment"], "Removed the spam.");
        let blocked = get_json_as(&s, "/api/v1/videos/blacklist", &mona).await;
        assert_eq!(blocked["total"], 0, "{blocked}");
        let listed = get_json(&s, "/api/v1/videos").await;
        assert!(
            listed["data"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v["uuid"] == video["uuid"]),
            "unblocked, listed again: {listed}"
        );
        let servers = get_json_as(&s, "/api/v1/server/blocklist/servers", &mona).await;
        assert_eq!(
            servers["data"][0]["blockedServer"]["host"], "spam.example",
            "{servers}"
        );
    });

    // The accepted user's pages.
    let (uuid, name) = rt.block_on(async {
        let sam = login_as(&s, "sam", "sam-password").await;
        let me = get_json_as(&s, "/api/v1/users/me", &sam).await;
        let channel = me["videoChannels"][0]["id"].as_u64().unwrap();
        let src = clip(&s.dir, "sam.mp4", "320x240", 25, 1, true);
        let (status, doc) = upload_multipart_to(&s, &sam, &src, "Sam's first train", channel).await;
        assert_eq!(status, 200, "{doc}");
        (
            doc["video"]["uuid"].as_str().unwrap().to_string(),
            "Sam's first train".to_string(),
        )
    });
    let r = scenario(
        "mine",
        json!({"base": s.base, "out": out, "user": "sam", "password": "sam-password",
               "video": name, "uuid": uuid, "channel": "sam_travels",
               "short": video["shortUUID"]}),
    );
    assert_eq!(r["listed"]["names"], json!([name]), "{r}");
    assert_eq!(r["listed"]["moreShown"], false, "{r}");
    assert_eq!(r["privacy"]["id"], 2, "{r}");
    assert_eq!(
        r["settings"],
        json!({"nsfwPolicy": "do_not_list", "p2pEnabled": false, "sessionP2p": false,
               "playerP2p": "false"}),
        "{r}"
    );
    assert_eq!(
        r["nav"],
        json!({"moderation": false, "admin": false}),
        "{r}"
    );
    assert_eq!(r["moderation"], "refused", "{r}");
    assert_eq!(r["initial"]["names"].as_array().unwrap().len(), 1, "{r}");
    assert!(
        !r["deleted"]["names"]
            .as_array()
            .unwrap()
            .contains(&json!("sam_travels")),
        "{r}"
    );
    rt.block_on(async {
        let sam = login_as(&s, "sam", "sam-password").await;
        assert_eq!(get_video(&s, &sam, &uuid).await.0, 404, "deleted");
        let (status, _) = call(
            &s,
            Method::GET,
            "/api/v1/video-channels/sam_travels",
            None,
            Value::Null,
        )
        .await;
        assert_eq!(status, 404, "the channel is gone");
    });
    assert!(!s.log().contains("panicked"), "{}", s.log());
}

/// The pages answer without a session (their scripts ask to log in), and the sign-up link is
/// on the login page.
#[tokio::test]
async fn the_pages_are_served_to_anyone() {
    let s = Server::start();
    for (path, marker) in [
        ("/signup", "id=\"signup-form\""),
        ("/my-videos", "id=\"login-needed\""),
        ("/my-channels", "id=\"channel-form\""),
        ("/moderation", "id=\"block-server-form\""),
        ("/login", "href=\"/signup\""),
    ] {
        let r = client().get(s.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let text = r.text().await.unwrap();
        assert!(text.contains(marker), "{path}: {text}");
    }
    let config = get_json(&s, "/api/v1/config").await;
    assert_eq!(config["signup"]["allowed"], false, "closed by default");
}
