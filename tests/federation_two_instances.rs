//! Two real instances on loopback federate: B follows A through PeerTube's admin API; A's
//! videos reach B (published, updated, deleted), a delivery made while B is down arrives after
//! B restarts, forged or stale signatures are refused without changing anything, and a video
//! made private leaves B (`Delete`) until it is public again (`Create`).

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

/// `POST /api/v1/server/following` on `s` with `body`, as `token` (None: anonymous); returns the
/// status and the body text.
async fn follow(s: &Server, token: Option<&str>, body: Value) -> (u16, String) {
    let mut rb = client().post(s.url("/api/v1/server/following")).json(&body);
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    let r = rb.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Waits until `s` lists the video `uuid`.
async fn wait_listed(what: &str, logs: &[&Server], s: &Server, uuid: &str) {
    eventually(what, logs, || async {
        videos_of(s)
            .await
            .into_iter()
            .any(|x| x["uuid"] == uuid)
            .then_some(())
    })
    .await
}

async fn videos_of(s: &Server) -> Vec<Value> {
    get_json(s, "/api/v1/videos?count=100").await["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn two_instances_follow_publish_update_delete_with_durable_delivery() {
    rt().block_on(async {
        let a = Server::start_with(fed_options(&[]));
        let b_dir = tempfile::tempdir().unwrap();
        let mut b = Server::start_in(b_dir.path(), fed_options(&[]));
        let a_token = login(&a).await.0;
        let b_token = login(&b).await.0;
        let c = client();

        // The admin API needs an administrator.
        let (status, text) = follow(&b, None, json!({"hosts": [a.addr]})).await;
        assert_eq!(status, 401, "{text}");
        // An unreachable host is refused with the reason, and nothing is followed.
        let (status, text) = follow(&b, Some(&b_token), json!({"hosts": ["127.0.0.1:1"]})).await;
        assert_eq!(status, 400, "{text}");
        assert!(text.contains("127.0.0.1:1"));

        // A has a video before anyone follows it.
        let v0 = publish_clip(&a, &a_token, "640x360", 2).await;
        let uuid0 = v0["uuid"].as_str().unwrap().to_string();

        // B follows A.
        let (status, text) = follow(&b, Some(&b_token), json!({"hosts": [a.addr]})).await;
        assert_eq!(status, 204, "{text}");
        let b_ref = &b;
        eventually("B's follow of A to be accepted", &[&a, &b], || async {
            let f = get_json(b_ref, "/api/v1/server/following").await;
            (f["data"][0]["state"] == "accepted").then_some(())
        })
        .await;
        // Once accepted, B crawls A's instance outbox (Announces of A's videos) and has v0.
        wait_listed(
            "A's earlier video on B (outbox crawl)",
            &[&a, &b],
            b_ref,
            &uuid0,
        )
        .await;
        let followers = get_json(&a, "/api/v1/server/followers").await;
        assert_eq!(followers["total"], 1, "{followers}");
        assert_eq!(
            followers["data"][0]["follower"]["url"],
            b.url("/accounts/peertube")
        );
        let following = get_json(&b, "/api/v1/server/following").await;
        assert_eq!(following["data"][0]["following"]["host"], a.addr.as_str());
        // A's instance followers collection (ActivityPub) lists B's actor.
        let coll: Value = get_ap_json(&a, "/accounts/peertube/followers?page=1").await;
        assert_eq!(coll["orderedItems"][0], b.url("/accounts/peertube"));

        // A publishes: B lists it, with A's playlist URL and origin (3 s: with a storyboard).
        let v = publish_clip(&a, &a_token, "640x360", 3).await;
        let uuid = v["uuid"].as_str().unwrap().to_string();
        let remote = eventually("A's video on B", &[&a, &b], || async {
            videos_of(b_ref)
                .await
                .into_iter()
                .find(|x| x["uuid"] == uuid.as_str())
        })
        .await;
        assert_eq!(remote["isLocal"], false);
        assert_eq!(remote["origin"]["host"], a.addr.as_str());
        let (status, detail) = get_video(&b, &b_token, &uuid).await;
        assert_eq!(status, 200);
        assert_eq!(
            detail["streamingPlaylists"][0]["playlistUrl"],
            v["streamingPlaylists"][0]["playlistUrl"],
            "{detail}"
        );
        // B lists A's storyboard (from the Video object's `preview`), at A's URL.
        let path = format!("/api/v1/videos/{uuid}/storyboards");
        let (on_a, on_b) = (get_json(&a, &path).await, get_json(&b, &path).await);
        assert_eq!(
            on_a["storyboards"].as_array().map(Vec::len),
            Some(1),
            "{on_a}"
        );
        assert_eq!(on_b, on_a, "B's list is A's");
        let sheet = on_b["storyboards"][0]["fileUrl"].as_str().unwrap();
        assert!(sheet.starts_with(&a.base), "{sheet}");
        assert_eq!(c.get(sheet).send().await.unwrap().status().as_u16(), 200);
        // It plays from A: the playlist URL B gives is served by A.
        let pl = detail["streamingPlaylists"][0]["playlistUrl"]
            .as_str()
            .unwrap();
        assert_eq!(c.get(pl).send().await.unwrap().status().as_u16(), 200);
        // A's P2P info-hashes are on B's tracker allowlist.
        let ao: Value = get_ap_json(&a, &format!("/videos/watch/{uuid}")).await;
        let hls = ao["url"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["mediaType"] == "application/x-mpegURL")
            .unwrap()
            .clone();
        let hash = hls["tag"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "Infohash")
            .unwrap()["name"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(tracker_accepts(&b, &hash).await);

        // An update on A changes it on B.
        let r = c
            .put(a.url(&format!("/api/v1/videos/{uuid}")))
            .bearer_auth(&a_token)
            .json(
                &json!({"name": "Renamed on A", "tags": ["rust", "video"], "category": 15,
                           "licence": 7, "language": "fr", "nsfw": true}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 204, "{}", r.text().await.unwrap());
        eventually("the update on B", &[&a, &b], || async {
            videos_of(b_ref)
                .await
                .into_iter()
                .any(|x| x["uuid"] == uuid.as_str() && x["name"] == "Renamed on A")
                .then_some(())
        })
        .await;
        // With its descriptive metadata, as PeerTube federates it (category, licence and
        // language as `{identifier, name}`, tags as `Hashtag`s, `sensitive`).
        let on_b: Value = c
            .get(b.url(&format!("/api/v1/videos/{uuid}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(on_b["tags"], json!(["rust", "video"]), "{on_b}");
        assert_eq!(
            on_b["category"],
            json!({"id": 15, "label": "Science & Technology"})
        );
        assert_eq!(on_b["licence"]["id"], 7);
        assert_eq!(on_b["language"]["id"], "fr");
        assert_eq!(on_b["nsfw"], true);

        // B's home page lists it, from A (origin host shown, link to A's watch page).
        let home = c
            .get(b.url("/"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(home.contains("Renamed on A"), "{home}");
        assert!(
            home.contains(&format!("href=\"{}", a.url("/w/"))),
            "the card links to A's page: {home}"
        );
        assert!(home.contains(&format!("<span class=\"origin\">{}</span>", a.addr)));

        // Forged and stale signatures: 401, nothing changes.
        let before = videos_of(&b).await.len();
        let forged_key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
        let mut forged = ao.clone();
        forged["name"] = json!("Forged title");
        let create = json!({
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": a.url(&format!("/videos/watch/{uuid}/forged")),
            "type": "Update",
            "actor": a.url("/accounts/root"),
            "object": forged,
        });
        let body = serde_json::to_vec(&create).unwrap();
        let key_id = a.url("/accounts/root#main-key");
        let r = signed_inbox_post(
            &b,
            &body,
            &key_id,
            &forged_key,
            std::time::SystemTime::now(),
        )
        .send()
        .await
        .unwrap();
        assert_eq!(r.status().as_u16(), 401, "forged key");
        let stale = std::time::SystemTime::now() - Duration::from_secs(3 * 3600);
        let r = signed_inbox_post(&b, &body, &key_id, &forged_key, stale)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401, "stale date");
        let r = c
            .post(b.url("/inbox"))
            .header("content-type", "application/activity+json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401, "unsigned");
        // A body changed after signing fails the digest.
        let mut rb = signed_inbox_post(
            &b,
            &body,
            &key_id,
            &forged_key,
            std::time::SystemTime::now(),
        )
        .build()
        .unwrap();
        *rb.body_mut() = Some(b"{\"tampered\":true}".to_vec().into());
        assert_eq!(
            c.execute(rb).await.unwrap().status().as_u16(),
            401,
            "tampered body"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = videos_of(&b).await;
        assert_eq!(after.len(), before);
        assert!(after.iter().all(|x| x["name"] != "Forged title"));

        // Durable delivery: B is down while A publishes; B gets it after restarting.
        let b_addr = b.addr.clone();
        b.stop();
        let v2 = publish_clip(&a, &a_token, "640x360", 2).await;
        let uuid2 = v2["uuid"].as_str().unwrap().to_string();
        let a_ref = &a;
        eventually("A's failed delivery attempt", &[&a], || async {
            let m = a_ref.url("/metrics");
            let text = client().get(m).send().await.ok()?.text().await.ok()?;
            text.lines()
                .find(|l| l.starts_with("fleuve_federation_deliveries_total{result=\"failed\"}"))
                .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                .filter(|n| *n > 0)
                .map(|_| ())
        })
        .await;
        let b = Server::start_in(b_dir.path(), {
            let mut o = fed_options(&[]);
            o.args = vec!["--listen".into(), b_addr.clone()];
            o
        });
        let b_ref = &b;
        wait_listed(
            "the second video on B after its restart",
            &[&a, &b],
            b_ref,
            &uuid2,
        )
        .await;

        // A delete on A removes it on B.
        let r = c
            .delete(a.url(&format!("/api/v1/videos/{uuid}")))
            .bearer_auth(&a_token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 204);
        eventually("the delete on B", &[&a, &b], || async {
            (get_video(b_ref, &b_token, &uuid).await.0 == 404).then_some(())
        })
        .await;
        // Following an account by its handle (WebFinger, then its actor).
        let (status, text) = follow(
            &b,
            Some(&b_token),
            json!({"handles": [format!("root@{}", a.addr)]}),
        )
        .await;
        assert_eq!(status, 204, "{text}");
        eventually("the account follow to be accepted", &[&a, &b], || async {
            let f = get_json(b_ref, "/api/v1/server/following").await;
            let data = f["data"].as_array().cloned().unwrap_or_default();
            (data.len() == 2 && data.iter().all(|x| x["state"] == "accepted")).then_some(())
        })
        .await;
        let status: Value = get_json_as(&b, "/api/v1/admin/status", &b_token).await;
        assert_eq!(status["federation"]["following"], 2, "{status}");
        // Unfollowing drops A's remaining videos from B.
        let r = c
            .delete(b.url(&format!("/api/v1/server/following/{}", a.addr)))
            .bearer_auth(&b_token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 204);
        assert!(
            videos_of(&b).await.is_empty(),
            "A's videos leave B with the unfollow"
        );
        eventually("A to drop B as a follower", &[&a, &b], || async {
            (get_json(a_ref, "/api/v1/server/followers").await["total"] == 0).then_some(())
        })
        .await;
        // Following again works (a new Follow id, not dropped as already seen) and brings back
        // A's remaining video through the outbox.
        let (status, text) = follow(&b, Some(&b_token), json!({"hosts": [a.addr]})).await;
        assert_eq!(status, 204, "{text}");
        wait_listed(
            "the second follow and A's video back on B",
            &[&a, &b],
            b_ref,
            &uuid2,
        )
        .await;
        assert_eq!(get_json(&a, "/api/v1/server/followers").await["total"], 1);
    });
}

#[test]
fn a_publication_not_yet_federated_is_sent_at_the_next_start() {
    rt().block_on(async {
        let a_dir = tempfile::tempdir().unwrap();
        let mut a = Server::start_in(a_dir.path(), fed_options(&[]));
        let b = Server::start_with(fed_options(&[]));
        let b_token = login(&b).await.0;
        let (status, text) = follow(&b, Some(&b_token), json!({"hosts": [a.addr]})).await;
        assert_eq!(status, 204, "{text}");
        let b_ref = &b;
        eventually("the follow", &[&a, &b], || async {
            (get_json(b_ref, "/api/v1/server/following").await["data"][0]["state"] == "accepted")
                .then_some(())
        })
        .await;
        // A publishes while its federation is off (as if it had stopped between publishing and
        // queueing the Create): nothing reaches B.
        let a_addr = a.addr.clone();
        a.stop();
        let restart = |enabled: &str| {
            let mut o = fed_options(&[("FLEUVE_FEDERATION_ENABLED", enabled)]);
            o.args = vec!["--listen".into(), a_addr.clone()];
            Server::start_in(a_dir.path(), o)
        };
        let mut a = restart("false");
        let a_token = login(&a).await.0;
        let v = publish_clip(&a, &a_token, "640x360", 2).await;
        let uuid = v["uuid"].as_str().unwrap().to_string();
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(videos_of(&b).await.is_empty());
        a.stop();
        // At the next start with federation on, the pending Create goes out.
        let a = restart("true");
        wait_listed("the pending Create on B", &[&a, &b], b_ref, &uuid).await;
    });
}

#[test]
fn a_video_made_private_or_blocked_leaves_followers_and_comes_back() {
    rt().block_on(async {
        let a = Server::start_with(fed_options(&[]));
        let b = Server::start_with(fed_options(&[]));
        let a_token = login(&a).await.0;
        let b_token = login(&b).await.0;
        let (status, text) = follow(&b, Some(&b_token), json!({"hosts": [a.addr]})).await;
        assert_eq!(status, 204, "{text}");
        let b_ref = &b;
        eventually("the follow", &[&a, &b], || async {
            (get_json(b_ref, "/api/v1/server/following").await["data"][0]["state"] == "accepted")
                .then_some(())
        })
        .await;
        let v = publish_clip(&a, &a_token, "640x360", 2).await;
        let uuid = v["uuid"].as_str().unwrap().to_string();
        wait_listed("A's video on B", &[&a, &b], b_ref, &uuid).await;
        let privacy = |p: u8| {
            let (a, token, uuid) = (&a, &a_token, &uuid);
            async move {
                let r = client()
                    .put(a.url(&format!("/api/v1/videos/{uuid}")))
                    .bearer_auth(token)
                    .json(&json!({ "privacy": p }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status().as_u16(), 204, "{}", r.text().await.unwrap());
            }
        };
        // Twice, so the second Delete and Create are not dropped as already seen.
        for round in 1..=2 {
            privacy(3).await;
            eventually(
                &format!("the Delete on B (round {round})"),
                &[&a, &b],
                || async { (get_video(b_ref, &b_token, &uuid).await.0 == 404).then_some(()) },
            )
            .await;
            privacy(1).await;
            wait_listed(
                &format!("the video back on B (round {round})"),
                &[&a, &b],
                b_ref,
                &uuid,
            )
            .await;
        }
        // A moderator's block with `unfederate` withdraws it the same way; unblocking brings
        // it back.
        let blacklist = |method: reqwest::Method, body: Value| {
            let (a, token, uuid) = (&a, &a_token, &uuid);
            async move {
                let r = client()
                    .request(method, a.url(&format!("/api/v1/videos/{uuid}/blacklist")))
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status().as_u16(), 204, "{}", r.text().await.unwrap());
            }
        };
        blacklist(
            reqwest::Method::POST,
            json!({"reason": "copyright claim", "unfederate": true}),
        )
        .await;
        eventually(
            "the Delete of the blocked video on B",
            &[&a, &b],
            || async { (get_video(b_ref, &b_token, &uuid).await.0 == 404).then_some(()) },
        )
        .await;
        blacklist(reqwest::Method::DELETE, json!({})).await;
        wait_listed("the unblocked video back on B", &[&a, &b], b_ref, &uuid).await;

        // B's moderators block server A: B's lists hide A's video, and A's next activity is
        // refused at B's inbox; unblocked, the video is listed again.
        let blocklist = |method: reqwest::Method, path: String, body: Value| {
            let (b, token) = (&b, &b_token);
            async move {
                let r = client()
                    .request(method, b.url(&path))
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status().as_u16(), 204, "{}", r.text().await.unwrap());
            }
        };
        let servers = "/api/v1/server/blocklist/servers".to_string();
        blocklist(
            reqwest::Method::POST,
            servers.clone(),
            json!({"host": a.addr}),
        )
        .await;
        let listed = |s: Value| {
            s["data"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v["uuid"] == uuid.as_str())
        };
        assert!(!listed(get_json(&b, "/api/v1/videos").await));
        assert!(!listed(
            get_json(&b, "/api/v1/search/videos?search=clip").await
        ));
        let refused = || async {
            let text = metrics_text(b_ref).await;
            text.lines()
                .find(|l| l.starts_with("fleuve_federation_inbox_total{result=\"refused\"}"))
                .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let before = refused().await;
        let r = client()
            .put(a.url(&format!("/api/v1/videos/{uuid}")))
            .bearer_auth(&a_token)
            .json(&json!({"name": "Renamed while blocked"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 204);
        eventually("B refusing A's Update", &[&a, &b], || async {
            (refused().await > before).then_some(())
        })
        .await;
        blocklist(
            reqwest::Method::DELETE,
            format!("{servers}/{}", a.addr),
            json!({}),
        )
        .await;
        assert!(listed(get_json(&b, "/api/v1/videos").await));
    });
}

/// A user removed on A (issue 15): the instances following their account are sent a `Delete`
/// of it, and forget it (B's follow of the account goes), as PeerTube does with a deleted
/// account.
#[test]
fn a_removed_users_account_leaves_its_followers() {
    rt().block_on(async {
        let a = Server::start_with(fed_options(&[]));
        let b = Server::start_with(fed_options(&[]));
        let a_token = login(&a).await.0;
        let b_token = login(&b).await.0;
        let r = client()
            .post(a.url("/api/v1/users"))
            .bearer_auth(&a_token)
            .json(&json!({"username": "alice", "password": "alice-password",
                          "email": "alice@example.test", "role": 2}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let alice_id = r.json::<Value>().await.unwrap()["user"]["id"]
            .as_u64()
            .unwrap();
        let (status, text) = follow(
            &b,
            Some(&b_token),
            json!({"handles": [format!("alice@{}", a.addr)]}),
        )
        .await;
        assert_eq!(status, 204, "{text}");
        let b_ref = &b;
        let follows_alice = || async {
            get_json(b_ref, "/api/v1/server/following")
                .await
                .to_string()
                .contains("/accounts/alice")
        };
        eventually("B following alice", &[&a, &b], || async {
            let f = get_json(b_ref, "/api/v1/server/following").await;
            (f["data"][0]["state"] == "accepted").then_some(())
        })
        .await;
        assert!(follows_alice().await);
        // Her new display name goes to B as an Update of her actor (A delivers one more
        // activity to B).
        let delivered = || async {
            metrics_text(&a)
                .await
                .lines()
                .find(|l| l.starts_with("fleuve_federation_deliveries_total{result=\"delivered\"}"))
                .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let before = delivered().await;
        let alice_token = {
            let oc = oauth_client(&a).await;
            let t: Value = token_request(
                &a,
                &oc,
                &[
                    ("grant_type", "password"),
                    ("username", "alice"),
                    ("password", "alice-password"),
                ],
            )
            .await
            .json()
            .await
            .unwrap();
            t["access_token"].as_str().unwrap().to_string()
        };
        let r = client()
            .put(a.url("/api/v1/users/me"))
            .bearer_auth(&alice_token)
            .json(&json!({"displayName": "Alice of the rivers"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 204);
        eventually("the Update of alice delivered to B", &[&a, &b], || async {
            (delivered().await > before).then_some(())
        })
        .await;
        assert!(
            a.log().contains("Update of a local actor queued"),
            "{}",
            a.log()
        );
        let r = client()
            .delete(a.url(&format!("/api/v1/users/{alice_id}")))
            .bearer_auth(&a_token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 204);
        eventually("B forgetting alice", &[&a, &b], || async {
            (!follows_alice().await).then_some(())
        })
        .await;
    });
}

/// A report of another instance's video goes there (PeerTube's `Flag`, by the reporter's
/// account, to the video's account): B's root reports A's video on B; A's moderators find it
/// in `GET /api/v1/abuses` with B's reason, predefined reason and reporter, and B keeps its own
/// report too.
#[test]
fn a_report_of_a_remote_video_reaches_its_instance() {
    rt().block_on(async {
        let a = Server::start_with(fed_options(&[]));
        let b = Server::start_with(fed_options(&[]));
        let a_token = login(&a).await.0;
        let b_token = login(&b).await.0;
        let (status, text) = follow(&b, Some(&b_token), json!({"hosts": [a.addr]})).await;
        assert_eq!(status, 204, "{text}");
        let b_ref = &b;
        eventually("B's follow of A to be accepted", &[&a, &b], || async {
            let f = get_json(b_ref, "/api/v1/server/following").await;
            (f["data"][0]["state"] == "accepted").then_some(())
        })
        .await;
        let v = publish_clip(&a, &a_token, "320x240", 1).await;
        let uuid = v["uuid"].as_str().unwrap().to_string();
        wait_listed("A's video on B", &[&a, &b], b_ref, &uuid).await;

        let (status, doc) = call(
            &b,
            reqwest::Method::POST,
            "/api/v1/abuses",
            Some(&b_token),
            json!({"video": {"id": uuid, "startAt": 1, "endAt": 2},
                   "reason": "Stolen footage", "predefinedReasons": ["privacy"]}),
        )
        .await;
        assert_eq!(status, 200, "{doc}");
        let on_b = get_json_as(&b, "/api/v1/abuses", &b_token).await;
        assert_eq!(on_b["total"], 1, "{on_b}");

        let a_ref = &a;
        let a_tok = &a_token;
        let report = eventually("the Flag on A", &[&a, &b], || async {
            let list = get_json_as(a_ref, "/api/v1/abuses", a_tok).await;
            (list["total"] == 1).then(|| list["data"][0].clone())
        })
        .await;
        assert_eq!(report["reason"], "Stolen footage", "{report}");
        assert_eq!(report["predefinedReasons"], json!(["privacy"]), "{report}");
        assert_eq!(report["video"]["uuid"], uuid.as_str(), "{report}");
        assert_eq!(report["video"]["startAt"], 1, "{report}");
        assert_eq!(
            report["reporterAccount"]["host"],
            b.addr.as_str(),
            "{report}"
        );
        assert_eq!(report["reporterAccount"]["name"], "root", "{report}");
    });
}

/// A remote video's thumbnail is served by the instance that lists it (apps join
/// `thumbnailPath` to the instance they talk to): fetched from the origin once, then kept, so
/// it still shows while the origin is down. Nothing else is fetched through that path.
#[test]
fn remote_thumbnails_are_served_from_here_and_kept() {
    rt().block_on(async {
        let mut a = Server::start_with(fed_options(&[]));
        let b = Server::start_with(fed_options(&[]));
        let a_token = login(&a).await.0;
        let b_token = login(&b).await.0;
        let v = publish_clip(&a, &a_token, "320x240", 2).await;
        let uuid = v["uuid"].as_str().unwrap().to_string();
        let (status, text) = follow(&b, Some(&b_token), json!({"hosts": [a.addr]})).await;
        assert_eq!(status, 204, "{text}");
        wait_listed("A's video on B", &[&a, &b], &b, &uuid).await;

        let on_b = get_json(&b, &format!("/api/v1/videos/{uuid}")).await;
        let path = format!("/lazy-static/remote-thumbnails/{uuid}.jpg");
        assert_eq!(on_b["thumbnailPath"], path.as_str(), "{on_b}");
        assert_eq!(on_b["thumbnailUrl"], b.url(&path).as_str());
        assert_eq!(on_b["thumbnails"][0]["fileUrl"], b.url(&path).as_str());
        // The image the Video object's `icon` names (the largest: A's preview).
        let original = client()
            .get(a.url(v["previewPath"].as_str().unwrap()))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let get = |url: String| async move {
            let r = client().get(url).send().await.unwrap();
            let status = r.status().as_u16();
            let kind = r
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_string());
            (status, kind, r.bytes().await.unwrap())
        };
        let (status, kind, bytes) = get(b.url(&path)).await;
        assert_eq!(status, 200, "{}", b.log());
        assert_eq!(kind.as_deref(), Some("image/jpeg"));
        assert!(bytes == original, "B serves another image than A's preview");

        // The origin goes away: the copy is still served.
        a.stop();
        let (status, _, bytes) = get(b.url(&path)).await;
        assert_eq!(status, 200);
        assert!(bytes == original, "the kept copy differs");

        // Only remote videos' own images: not a local video's, not an unknown one, not a path.
        let local = publish_clip(&b, &b_token, "160x120", 1).await;
        for bad in [
            format!(
                "/lazy-static/remote-thumbnails/{}.jpg",
                local["uuid"].as_str().unwrap()
            ),
            "/lazy-static/remote-thumbnails/00000000-0000-4000-8000-000000000000.jpg".into(),
            "/lazy-static/remote-thumbnails/..%2F..%2Fmeta.jpg".into(),
            format!("/lazy-static/remote-thumbnails/{uuid}.png"),
        ] {
            assert_eq!(get(b.url(&bad)).await.0, 404, "{bad}");
        }
    });
}
