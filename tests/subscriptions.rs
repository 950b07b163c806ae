//! Users' subscriptions (`/api/v1/users/me/subscriptions`, issue 14): to a channel of the same
//! instance (list, exist, read, the videos feed, unsubscribe, the channel's `followersCount`),
//! bad input, and to another instance's channel: the user's account sends a `Follow`, the
//! channel counts the follower and accepts, its videos (earlier ones by the outbox crawl, new
//! ones by `Create`) reach the user's feed, and unsubscribing sends the `Undo`.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

const SUBS: &str = "/api/v1/users/me/subscriptions";

async fn subscribe(s: &Server, token: &str, uri: &str) -> (u16, Value) {
    call(s, Method::POST, SUBS, Some(token), json!({ "uri": uri })).await
}

fn uuids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap_or(&vec![])
        .iter()
        .map(|v| v["uuid"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn a_local_channel_subscribed_listed_fed_and_unsubscribed() {
    let s = Server::start();
    rt().block_on(async {
        let (root, _) = login(&s).await;
        let alice = create_and_login(&s, &root, "alice", 2).await;
        let root_channel = format!("root_channel@{}", s.addr);

        // Root's video is in root_channel; Alice's own is in alice_channel, which she does
        // not subscribe to.
        let v = publish_clip(&s, &root, "320x240", 2).await;
        let uuid = v["uuid"].as_str().unwrap().to_string();
        let me = get_json_as(&s, "/api/v1/users/me", &alice).await;
        let alice_channel = me["videoChannels"][0]["id"].as_u64().unwrap();
        let src = clip(&s.dir, "alice.mp4", "320x240", 25, 2, true);
        let (status, up) = upload_multipart_to(&s, &alice, &src, "Alice's", alice_channel).await;
        assert_eq!(status, 200, "{up}");
        let own = up["video"]["uuid"].as_str().unwrap().to_string();
        wait_state(&s, &alice, &own, &[1]).await;

        // Nothing yet; anonymous callers are refused.
        assert_eq!(get_json_as(&s, SUBS, &alice).await["total"], 0);
        assert_eq!(status_of(&s, SUBS).await, 401);
        let feed = get_json_as(&s, &format!("{SUBS}/videos"), &alice).await;
        assert_eq!(feed["total"], 0, "{feed}");

        // Subscribing twice is one subscription.
        for _ in 0..2 {
            let (status, body) = subscribe(&s, &alice, &root_channel).await;
            assert_eq!(status, 204, "{body}");
        }
        let list = get_json_as(&s, SUBS, &alice).await;
        assert_eq!(list["total"], 1, "{list}");
        assert_eq!(list["data"][0]["name"], "root_channel");
        assert_eq!(list["data"][0]["isLocal"], true);
        assert_eq!(list["data"][0]["followersCount"], 1, "{list}");
        assert_eq!(list["data"][0]["videosCount"], 1, "{list}");
        let searched = get_json_as(&s, &format!("{SUBS}?search=ROOT"), &alice).await;
        assert_eq!(searched["total"], 1, "{searched}");
        let searched = get_json_as(&s, &format!("{SUBS}?search=nothing"), &alice).await;
        assert_eq!(searched["total"], 0, "{searched}");
        let channel = get_json(&s, "/api/v1/video-channels/root_channel").await;
        assert_eq!(channel["followersCount"], 1, "{channel}");
        assert_eq!(channel["videosCount"], 1, "{channel}");
        let one = get_json_as(&s, &format!("{SUBS}/{root_channel}"), &alice).await;
        assert_eq!(one["name"], "root_channel", "{one}");
        let exist = get_json_as(
            &s,
            &format!(
                "{SUBS}/exist?uris={root_channel}&uris=alice_channel@{}",
                s.addr
            ),
            &alice,
        )
        .await;
        assert_eq!(
            exist,
            json!({ root_channel.clone(): true, format!("alice_channel@{}", s.addr): false })
        );
        // Root has no subscriptions: each user sees their own.
        assert_eq!(get_json_as(&s, SUBS, &root).await["total"], 0);

        // The feed: root's video, not Alice's own; with the list's sorts and filters.
        let feed = get_json_as(&s, &format!("{SUBS}/videos"), &alice).await;
        assert_eq!(
            (feed["total"].clone(), uuids(&feed)),
            (json!(1), vec![uuid.clone()])
        );
        for q in [
            "sort=-views",
            "sort=name&count=1",
            "isLocal=true",
            "skipCount=true",
        ] {
            let feed = get_json_as(&s, &format!("{SUBS}/videos?{q}"), &alice).await;
            assert_eq!(uuids(&feed), vec![uuid.clone()], "{q}: {feed}");
        }
        let feed = get_json_as(&s, &format!("{SUBS}/videos?start=1"), &alice).await;
        assert_eq!((feed["total"].clone(), uuids(&feed)), (json!(1), vec![]));
        let feed = get_json_as(&s, &format!("{SUBS}/videos?isLocal=false"), &alice).await;
        assert_eq!(feed["total"], 0, "{feed}");

        // Unsubscribe: gone from the list, the feed and the count; a second time is a 404.
        let path = format!("{SUBS}/{root_channel}");
        let (status, body) = call(&s, Method::DELETE, &path, Some(&alice), Value::Null).await;
        assert_eq!(status, 204, "{body}");
        let (status, _) = call(&s, Method::DELETE, &path, Some(&alice), Value::Null).await;
        assert_eq!(status, 404);
        assert_eq!(get_json_as(&s, SUBS, &alice).await["total"], 0);
        let feed = get_json_as(&s, &format!("{SUBS}/videos"), &alice).await;
        assert_eq!(feed["total"], 0, "{feed}");
        let channel = get_json(&s, "/api/v1/video-channels/root_channel").await;
        assert_eq!(channel["followersCount"], 0, "{channel}");

        // A deleted channel leaves no subscription behind (it counted toward the limit).
        let (status, doc) = call(
            &s,
            Method::POST,
            "/api/v1/video-channels",
            Some(&root),
            json!({"name": "short_lived", "displayName": "Short lived"}),
        )
        .await;
        assert_eq!(status, 200, "{doc}");
        let short = format!("short_lived@{}", s.addr);
        assert_eq!(subscribe(&s, &alice, &short).await.0, 204);
        assert_eq!(get_json_as(&s, SUBS, &alice).await["total"], 1);
        let (status, doc) = call(
            &s,
            Method::DELETE,
            "/api/v1/video-channels/short_lived",
            Some(&root),
            Value::Null,
        )
        .await;
        assert_eq!(status, 204, "{doc}");
        let list = get_json_as(&s, SUBS, &alice).await;
        assert_eq!(list["total"], 0, "{list}");
        let exist = get_json_as(&s, &format!("{SUBS}/exist?uris={short}"), &alice).await;
        assert_eq!(exist[&short], false, "{exist}");
    });
}

#[test]
fn bad_subscription_requests_are_refused_and_change_nothing() {
    let s = Server::start();
    rt().block_on(async {
        let (root, _) = login(&s).await;
        let host = s.addr.clone();
        for (body, want) in [
            (json!({}), 400),
            (json!({"uri": ""}), 400),
            (json!({"uri": "root_channel"}), 400),
            (json!({"uri": "root\u{1}channel@x.example"}), 400),
            (json!({"uri": "root channel@x.example"}), 400),
            (json!({"uri": "root/../channel@x.example"}), 400),
            (json!({"uri": "a@b@c"}), 400),
            (
                json!({"uri": format!("root_channel@{}", "h".repeat(300))}),
                400,
            ),
            (json!({"uri": format!("no_such_channel@{host}")}), 404),
        ] {
            let (status, doc) = call(&s, Method::POST, SUBS, Some(&root), body.clone()).await;
            assert_eq!(status, want, "{body}: {doc}");
            assert!(
                doc["detail"].is_string() || doc["error"].is_string(),
                "{doc}"
            );
        }
        for (path, want) in [
            (format!("{SUBS}/no_such_channel@{host}"), 404),
            (format!("{SUBS}/root_channel@{host}"), 404),
            (format!("{SUBS}/nohandle"), 400),
            (format!("{SUBS}/exist"), 400),
            (format!("{SUBS}/exist?uris=bad"), 400),
            (format!("{SUBS}?sort=-views"), 400),
            (format!("{SUBS}?count=1000"), 400),
            (format!("{SUBS}?start=-1"), 400),
            (format!("{SUBS}?search=%01"), 400),
            (format!("{SUBS}/videos?sort=-nope"), 400),
            (format!("{SUBS}/videos?count=101"), 400),
        ] {
            let (status, doc) = call(&s, Method::GET, &path, Some(&root), Value::Null).await;
            assert_eq!(status, want, "{path}: {doc}");
        }
        let (status, _) = call(
            &s,
            Method::DELETE,
            &format!("{SUBS}/root_channel@{host}"),
            Some(&root),
            Value::Null,
        )
        .await;
        assert_eq!(status, 404);
        assert_eq!(get_json_as(&s, SUBS, &root).await["total"], 0);
    });
}

#[test]
fn a_remote_channel_is_followed_accepted_fed_and_undone() {
    rt().block_on(async {
        let a = Server::start_with(fed_options(&[]));
        let b = Server::start_with(fed_options(&[]));
        let a_root = login(&a).await.0;
        let b_root = login(&b).await.0;
        let alice = create_and_login(&a, &a_root, "alice", 2).await;
        let channel = format!("root_channel@{}", b.addr);

        // B has a video before anyone subscribes.
        let v0 = publish_clip(&b, &b_root, "320x240", 2).await;
        let uuid0 = v0["uuid"].as_str().unwrap().to_string();

        // An unknown channel on B: WebFinger says no.
        let (status, doc) = subscribe(&a, &alice, &format!("nobody@{}", b.addr)).await;
        assert_eq!(status, 400, "{doc}");
        // An account on B is not a channel.
        let (status, doc) = subscribe(&a, &alice, &format!("root@{}", b.addr)).await;
        assert_eq!(status, 400, "{doc}");
        assert_eq!(get_json_as(&a, SUBS, &alice).await["total"], 0);

        let (status, doc) = subscribe(&a, &alice, &channel).await;
        assert_eq!(status, 204, "{doc}");
        let (b_ref, a_ref) = (&b, &a);
        // B counts Alice's account among its channel's followers.
        eventually("B's channel to count the follower", &[&a, &b], || async {
            let c = get_json(b_ref, "/api/v1/video-channels/root_channel").await;
            (c["followersCount"] == 1).then_some(())
        })
        .await;
        let followers: Value =
            get_ap_json(&b, "/video-channels/root_channel/followers?page=1").await;
        assert_eq!(
            followers["orderedItems"][0],
            a.url("/accounts/alice"),
            "{followers}"
        );
        // Accepted, A crawls the channel's outbox: the earlier video is in Alice's feed.
        let alice_ref = &alice;
        eventually("B's earlier video in Alice's feed", &[&a, &b], || async {
            let feed = get_json_as(a_ref, &format!("{SUBS}/videos"), alice_ref).await;
            uuids(&feed).contains(&uuid0).then_some(())
        })
        .await;
        let list = get_json_as(&a, SUBS, &alice).await;
        assert_eq!(list["total"], 1, "{list}");
        assert_eq!(list["data"][0]["isLocal"], false, "{list}");
        assert_eq!(list["data"][0]["host"], b.addr.as_str(), "{list}");
        assert_eq!(list["data"][0]["name"], "root_channel", "{list}");
        let exist = get_json_as(&a, &format!("{SUBS}/exist?uris={channel}"), &alice).await;
        assert_eq!(exist[&channel], true, "{exist}");

        // A new video on B reaches A by its Create (A's instance follows nobody on B) and is
        // in the feed, newest first.
        let v1 = publish_clip(&b, &b_root, "320x240", 2).await;
        let uuid1 = v1["uuid"].as_str().unwrap().to_string();
        let feed = eventually("B's new video in Alice's feed", &[&a, &b], || async {
            let feed = get_json_as(a_ref, &format!("{SUBS}/videos"), alice_ref).await;
            uuids(&feed).contains(&uuid1).then_some(feed)
        })
        .await;
        assert_eq!(uuids(&feed), vec![uuid1.clone(), uuid0.clone()], "{feed}");
        assert_eq!(feed["data"][0]["isLocal"], false);
        // Nobody else on A subscribed: root's feed is empty.
        let feed = get_json_as(&a, &format!("{SUBS}/videos"), &a_root).await;
        assert_eq!(feed["total"], 0, "{feed}");

        // Unsubscribing sends the Undo: B's count drops.
        let (status, doc) = call(
            &a,
            Method::DELETE,
            &format!("{SUBS}/{channel}"),
            Some(&alice),
            Value::Null,
        )
        .await;
        assert_eq!(status, 204, "{doc}");
        eventually("B's channel to drop the follower", &[&a, &b], || async {
            let c = get_json(b_ref, "/api/v1/video-channels/root_channel").await;
            (c["followersCount"] == 0).then_some(())
        })
        .await;
        let feed = get_json_as(&a, &format!("{SUBS}/videos"), &alice).await;
        assert_eq!(feed["total"], 0, "{feed}");

        // A subscribed user who is removed leaves no follow behind: the Undo goes too.
        let carol = create_and_login(&a, &a_root, "carol", 2).await;
        assert_eq!(subscribe(&a, &carol, &channel).await.0, 204);
        eventually("B's channel to count Carol", &[&a, &b], || async {
            let c = get_json(b_ref, "/api/v1/video-channels/root_channel").await;
            (c["followersCount"] == 1).then_some(())
        })
        .await;
        let carol_id = get_json_as(&a, "/api/v1/users/me", &carol).await["id"].clone();
        let (status, doc) = call(
            &a,
            Method::DELETE,
            &format!("/api/v1/users/{carol_id}"),
            Some(&a_root),
            Value::Null,
        )
        .await;
        assert_eq!(status, 204, "{doc}");
        eventually("B's channel to drop Carol", &[&a, &b], || async {
            let c = get_json(b_ref, "/api/v1/video-channels/root_channel").await;
            (c["followersCount"] == 0).then_some(())
        })
        .await;
    });
}
