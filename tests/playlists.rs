//! Video playlists as PeerTube's clients use them (issue 14): making one (JSON and the web
//! client's multipart form), reading it by id, uuid and short uuid, the public, account,
//! channel and search lists, adding, timing, reordering and removing videos, the watch-later
//! list, `videos-exist`, who may do what, bad input with nothing stored, and the federation of
//! public playlists as PeerTube's `Playlist` (Create, Update, Delete to a follower; the object
//! and its elements served).

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

async fn me(s: &Server, token: &str) -> Value {
    get_json_as(s, "/api/v1/users/me", token).await
}

/// The element ids of a playlist, in order, as `token` (None: anonymous) lists them.
async fn element_ids(s: &Server, token: Option<&str>, playlist: &str) -> Vec<u64> {
    let (status, doc) = call(
        s,
        Method::GET,
        &format!("/api/v1/video-playlists/{playlist}/videos?count=100"),
        token,
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{doc}");
    doc["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_u64().unwrap())
        .collect()
}

async fn list_names(s: &Server, token: Option<&str>, path: &str) -> Vec<String> {
    let (status, doc) = call(s, Method::GET, path, token, Value::Null).await;
    assert_eq!(status, 200, "{path}: {doc}");
    doc["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["displayName"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn playlists_lifecycle_rights_and_bad_input() {
    rt().block_on(async {
        let s = Server::start_with(fed_options(&[]));
        let root = login(&s).await.0;
        let alice = create_and_login(&s, &root, "alice", 2).await;
        let bob = create_and_login(&s, &root, "bob", 2).await;
        let moderator = create_and_login(&s, &root, "mo", 1).await;
        let video = publish_clip(&s, &root, "320x240", 4).await;
        let vid = video["id"].as_u64().unwrap();
        let vuuid = video["uuid"].as_str().unwrap().to_string();

        // Every user has a watch-later list, private, in /users/me.
        let me_alice = me(&s, &alice).await;
        let special = &me_alice["specialPlaylists"][0];
        assert_eq!(special["type"], 2, "{me_alice}");
        let watch_later = special["id"].as_u64().unwrap();
        let alice_channel = me_alice["videoChannels"][0]["id"].as_u64().unwrap();
        let bob_channel = me(&s, &bob).await["videoChannels"][0]["id"]
            .as_u64()
            .unwrap();

        // Bad input: each a 400 naming the problem, nothing stored.
        for (body, want) in [
            (json!({"privacy": 3}), "displayName is required"),
            (json!({"displayName": "x", "privacy": 9}), "9"),
            (json!({"displayName": "a\u{1}b", "privacy": 3}), "control"),
            (json!({"displayName": "x", "privacy": 1}), "videoChannelId"),
            (
                json!({"displayName": "x", "privacy": 3, "videoChannelId": "c"}),
                "\"c\"",
            ),
            (json!({"displayName": "x".repeat(121), "privacy": 3}), "120"),
            (
                json!({"displayName": "x", "description": "d".repeat(1001)}),
                "1000",
            ),
        ] {
            let (status, doc) = call(
                &s,
                Method::POST,
                "/api/v1/video-playlists",
                Some(&alice),
                body,
            )
            .await;
            assert_eq!(status, 400, "{doc}");
            assert!(
                doc["detail"].as_str().unwrap().contains(want),
                "{want}: {doc}"
            );
        }
        // Another user's channel.
        let (status, doc) = call(
            &s,
            Method::POST,
            "/api/v1/video-playlists",
            Some(&alice),
            json!({"displayName": "x", "privacy": 1, "videoChannelId": bob_channel}),
        )
        .await;
        assert_eq!(status, 403, "{doc}");
        // A thumbnail file is refused, with its field named.
        let form = reqwest::multipart::Form::new()
            .text("displayName", "With a picture")
            .text("privacy", "3")
            .part(
                "thumbnailfile",
                reqwest::multipart::Part::bytes(vec![0xff, 0xd8]).file_name("t.jpg"),
            );
        let r = client()
            .post(s.url("/api/v1/video-playlists"))
            .bearer_auth(&alice)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400);
        assert!(r.text().await.unwrap().contains("thumbnailfile"));
        let mine = "/api/v1/accounts/alice/video-playlists".to_string();
        assert_eq!(
            list_names(&s, Some(&alice), &mine).await,
            vec!["Watch later"]
        );

        // The web client's multipart form makes a public playlist on a channel.
        let form = reqwest::multipart::Form::new()
            .text("displayName", "Road trip")
            .text("description", "Films *on* the road")
            .text("privacy", "1")
            .text("videoChannelId", alice_channel.to_string());
        let r = client()
            .post(s.url("/api/v1/video-playlists"))
            .bearer_auth(&alice)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let created: Value = r.json().await.unwrap();
        let road = created["videoPlaylist"]["id"].as_u64().unwrap();
        let road_uuid = created["videoPlaylist"]["uuid"]
            .as_str()
            .unwrap()
            .to_string();
        let road_short = created["videoPlaylist"]["shortUUID"]
            .as_str()
            .unwrap()
            .to_string();
        let (status, doc) = call(
            &s,
            Method::POST,
            "/api/v1/video-playlists",
            Some(&alice),
            json!({"displayName": "Secret", "privacy": 3}),
        )
        .await;
        assert_eq!(status, 200, "{doc}");
        let secret = doc["videoPlaylist"]["id"].as_u64().unwrap();

        // Read by id, uuid and short uuid.
        for key in [road.to_string(), road_uuid.clone(), road_short.clone()] {
            let p = get_json(&s, &format!("/api/v1/video-playlists/{key}")).await;
            assert_eq!(p["id"], road, "{key}: {p}");
            assert_eq!(p["displayName"], "Road trip");
            assert_eq!(p["privacy"]["label"], "Public");
            assert_eq!(p["type"]["id"], 1);
            assert_eq!(p["videoChannel"]["id"], alice_channel);
            assert_eq!(p["ownerAccount"]["name"], "alice");
            assert_eq!(p["videosLength"], 0);
        }
        // A private playlist is its owner's alone.
        let path = format!("/api/v1/video-playlists/{secret}");
        assert_eq!(call(&s, Method::GET, &path, None, Value::Null).await.0, 401);
        assert_eq!(
            call(&s, Method::GET, &path, Some(&bob), Value::Null)
                .await
                .0,
            403
        );
        assert_eq!(
            call(&s, Method::GET, &path, Some(&alice), Value::Null)
                .await
                .0,
            200
        );
        assert_eq!(
            call(
                &s,
                Method::GET,
                "/api/v1/video-playlists/nope",
                None,
                Value::Null
            )
            .await
            .0,
            404
        );

        // Lists: the public one, the account's (all of them for its owner), the channel's,
        // the search.
        assert_eq!(
            list_names(&s, None, "/api/v1/video-playlists").await,
            vec!["Road trip"]
        );
        assert_eq!(list_names(&s, None, &mine).await, vec!["Road trip"]);
        let mut all = list_names(&s, Some(&alice), &format!("{mine}?sort=displayName")).await;
        all.sort();
        assert_eq!(all, vec!["Road trip", "Secret", "Watch later"]);
        assert_eq!(
            list_names(&s, Some(&alice), &format!("{mine}?playlistType=2")).await,
            vec!["Watch later"]
        );
        assert_eq!(
            list_names(
                &s,
                None,
                "/api/v1/video-channels/alice_channel/video-playlists"
            )
            .await,
            vec!["Road trip"]
        );
        assert_eq!(
            list_names(&s, None, "/api/v1/search/video-playlists?search=ROAD").await,
            vec!["Road trip"]
        );
        assert!(
            list_names(&s, None, "/api/v1/search/video-playlists?search=secret")
                .await
                .is_empty()
        );
        for bad in [
            "/api/v1/video-playlists?sort=-views",
            "/api/v1/video-playlists?count=1000",
            "/api/v1/video-playlists?start=-1",
            "/api/v1/search/video-playlists?search=a%07b",
            "/api/v1/accounts/alice/video-playlists?playlistType=7",
        ] {
            assert_eq!(
                call(&s, Method::GET, bad, None, Value::Null).await.0,
                400,
                "{bad}"
            );
        }

        // Videos: added (by uuid or id), checked, timed, reordered, removed.
        let add = |token: &str, playlist: u64, body: Value| {
            let t = token.to_string();
            let s = &s;
            async move {
                call(
                    s,
                    Method::POST,
                    &format!("/api/v1/video-playlists/{playlist}/videos"),
                    Some(&t),
                    body,
                )
                .await
            }
        };
        let mut elements = vec![];
        for body in [
            json!({"videoId": vuuid}),
            json!({"videoId": vid, "startTimestamp": 1}),
            json!({"videoId": vid, "startTimestamp": 1, "stopTimestamp": 3}),
        ] {
            let (status, doc) = add(&alice, road, body).await;
            assert_eq!(status, 200, "{doc}");
            elements.push(doc["videoPlaylistElement"]["id"].as_u64().unwrap());
        }
        for (body, status, want) in [
            (
                json!({"videoId": vid, "startTimestamp": 3, "stopTimestamp": 2}),
                400,
                "after",
            ),
            (json!({"videoId": vid, "stopTimestamp": 60}), 400, "end"),
            (json!({"videoId": "no-such-video"}), 404, "no-such-video"),
            (json!({}), 400, "videoId"),
        ] {
            let (got, doc) = add(&alice, road, body).await;
            assert_eq!(got, status, "{doc}");
            assert!(
                doc["detail"].as_str().unwrap().contains(want),
                "{want}: {doc}"
            );
        }
        assert_eq!(add(&bob, road, json!({"videoId": vid})).await.0, 403);
        assert_eq!(element_ids(&s, None, &road_uuid).await, elements);
        let listed = get_json(&s, &format!("/api/v1/video-playlists/{road}/videos")).await;
        assert_eq!(listed["total"], 3);
        assert_eq!(listed["data"][0]["type"], 0);
        assert_eq!(listed["data"][0]["video"]["uuid"], vuuid.as_str());
        assert_eq!(listed["data"][2]["position"], 3);
        assert_eq!(listed["data"][2]["stopTimestamp"], 3);
        // The playlist's thumbnail is its first video's.
        let p = get_json(&s, &format!("/api/v1/video-playlists/{road}")).await;
        assert_eq!(p["videosLength"], 3);
        assert_eq!(p["thumbnailPath"], video["thumbnailPath"], "{p}");

        let reorder = format!("/api/v1/video-playlists/{road}/videos/reorder");
        let (status, doc) = call(
            &s,
            Method::POST,
            &reorder,
            Some(&alice),
            json!({"startPosition": 3, "insertAfterPosition": 0}),
        )
        .await;
        assert_eq!(status, 204, "{doc}");
        assert_eq!(
            element_ids(&s, None, &road_uuid).await,
            vec![elements[2], elements[0], elements[1]]
        );
        let (status, doc) = call(
            &s,
            Method::POST,
            &reorder,
            Some(&alice),
            json!({"startPosition": 9, "insertAfterPosition": 0}),
        )
        .await;
        assert_eq!(status, 400, "{doc}");
        assert!(doc["detail"].as_str().unwrap().contains('9'));

        let element = |id: u64| format!("/api/v1/video-playlists/{road}/videos/{id}");
        let (status, doc) = call(
            &s,
            Method::PUT,
            &element(elements[0]),
            Some(&alice),
            json!({"startTimestamp": 2}),
        )
        .await;
        assert_eq!(status, 204, "{doc}");
        let listed = get_json(&s, &format!("/api/v1/video-playlists/{road}/videos")).await;
        assert_eq!(listed["data"][1]["startTimestamp"], 2);
        assert_eq!(
            call(&s, Method::PUT, &element(999_999), Some(&alice), json!({}))
                .await
                .0,
            404
        );
        assert_eq!(
            call(
                &s,
                Method::DELETE,
                &element(elements[1]),
                Some(&bob),
                Value::Null
            )
            .await
            .0,
            403
        );
        assert_eq!(
            call(
                &s,
                Method::DELETE,
                &element(elements[1]),
                Some(&alice),
                Value::Null
            )
            .await
            .0,
            204
        );
        assert_eq!(
            element_ids(&s, None, &road_uuid).await,
            vec![elements[2], elements[0]]
        );

        // The watch-later list takes videos too; videos-exist says where a video is.
        assert_eq!(
            add(&alice, watch_later, json!({"videoId": vid})).await.0,
            200
        );
        let exist = get_json_as(
            &s,
            &format!(
                "/api/v1/users/me/video-playlists/videos-exist?videoIds={vid}&videoIds=999999"
            ),
            &alice,
        )
        .await;
        let mut in_lists: Vec<u64> = exist[vid.to_string()]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["playlistId"].as_u64().unwrap())
            .collect();
        in_lists.sort();
        in_lists.dedup();
        assert_eq!(in_lists, vec![watch_later.min(road), watch_later.max(road)]);
        assert_eq!(exist["999999"], json!([]));

        // Moderators may change a user's playlist, not their watch-later list.
        let (status, doc) = call(
            &s,
            Method::PUT,
            &format!("/api/v1/video-playlists/{road}"),
            Some(&moderator),
            json!({"displayName": "Road trip (checked)"}),
        )
        .await;
        assert_eq!(status, 204, "{doc}");
        let p = get_json(&s, &format!("/api/v1/video-playlists/{road}")).await;
        assert_eq!(p["displayName"], "Road trip (checked)");
        assert_eq!(
            call(
                &s,
                Method::PUT,
                &format!("/api/v1/video-playlists/{watch_later}"),
                Some(&moderator),
                json!({"displayName": "Mine now"}),
            )
            .await
            .0,
            403
        );
        assert_eq!(
            call(
                &s,
                Method::DELETE,
                &format!("/api/v1/video-playlists/{watch_later}"),
                Some(&alice),
                Value::Null,
            )
            .await
            .0,
            400
        );
        // Making it public again needs its channel: detaching it is refused.
        let (status, doc) = call(
            &s,
            Method::PUT,
            &format!("/api/v1/video-playlists/{road}"),
            Some(&alice),
            json!({"videoChannelId": null}),
        )
        .await;
        assert_eq!(status, 400, "{doc}");

        // The video turns private: the element stays, typed private, without the video.
        let (status, doc) = call(
            &s,
            Method::PUT,
            &format!("/api/v1/videos/{vid}"),
            Some(&root),
            json!({"privacy": 3}),
        )
        .await;
        assert_eq!(status, 204, "{doc}");
        let listed = get_json(&s, &format!("/api/v1/video-playlists/{road}/videos")).await;
        assert_eq!(listed["data"][0]["type"], 2, "{listed}");
        assert!(listed["data"][0].get("video").is_none(), "{listed}");

        // Deleted by their owner; gone with the user.
        assert_eq!(
            call(
                &s,
                Method::DELETE,
                &format!("/api/v1/video-playlists/{secret}"),
                Some(&bob),
                Value::Null
            )
            .await
            .0,
            403
        );
        assert_eq!(
            call(
                &s,
                Method::DELETE,
                &format!("/api/v1/video-playlists/{secret}"),
                Some(&alice),
                Value::Null
            )
            .await
            .0,
            204
        );
        assert_eq!(
            call(
                &s,
                Method::GET,
                &format!("/api/v1/video-playlists/{secret}"),
                Some(&alice),
                Value::Null
            )
            .await
            .0,
            404
        );
        let alice_id = me_alice["id"].as_u64().unwrap();
        let (status, doc) = call(
            &s,
            Method::DELETE,
            &format!("/api/v1/users/{alice_id}"),
            Some(&root),
            Value::Null,
        )
        .await;
        assert_eq!(status, 204, "{doc}");
        assert_eq!(
            call(
                &s,
                Method::GET,
                &format!("/api/v1/video-playlists/{road}"),
                None,
                Value::Null
            )
            .await
            .0,
            404
        );
        assert!(list_names(&s, None, "/api/v1/video-playlists")
            .await
            .is_empty());
    });
}

/// A remote actor on a loopback port: GETs get its document, POSTs to its inbox are kept.
fn capturing_actor() -> (String, rsa::RsaPrivateKey, Arc<Mutex<Vec<Value>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    let pem = fleuve::federation::keys::public_key_pem(&rsa::RsaPublicKey::from(&key)).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let id = format!(
        "http://{}/accounts/peertube",
        listener.local_addr().unwrap()
    );
    let doc = json!({
        "id": id, "type": "Application", "preferredUsername": "peertube",
        "inbox": format!("{id}/inbox"),
        "publicKey": {"id": format!("{id}#main-key"), "owner": id, "publicKeyPem": pem},
    })
    .to_string();
    let got = Arc::new(Mutex::new(Vec::new()));
    let kept = got.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let (doc, kept) = (doc.clone(), kept.clone());
            std::thread::spawn(move || {
                let mut r = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                if r.read_line(&mut line).is_err() {
                    return;
                }
                let mut length = 0usize;
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        if k.eq_ignore_ascii_case("content-length") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                }
                let body = if line.starts_with("POST") {
                    let mut b = vec![0; length];
                    if r.read_exact(&mut b).is_ok() {
                        if let Ok(v) = serde_json::from_slice::<Value>(&b) {
                            kept.lock().unwrap().push(v);
                        }
                    }
                    String::new()
                } else {
                    doc
                };
                let mut w = conn;
                let _ = write!(
                    w,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/activity+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    (id, key, got)
}

/// Waits for an activity of `kind` whose object is (or names) a playlist of type `object_type`.
async fn received(
    s: &Server,
    got: &Arc<Mutex<Vec<Value>>>,
    kind: &str,
    test: impl Fn(&Value) -> bool,
) -> Value {
    eventually(&format!("a {kind} at the follower"), &[s], || async {
        got.lock()
            .unwrap()
            .iter()
            .find(|a| a["type"] == kind && test(a))
            .cloned()
    })
    .await
}

#[test]
fn public_playlists_federate_as_peertube_playlists() {
    rt().block_on(async {
        let s = Server::start_with(fed_options(&[]));
        let root = login(&s).await.0;
        let (actor, key, got) = capturing_actor();
        let follow = json!({
            "id": format!("{actor}/follows/1"), "type": "Follow", "actor": actor,
            "object": s.url("/accounts/peertube"),
        });
        let body = serde_json::to_vec(&follow).unwrap();
        let r = signed_inbox_post(
            &s,
            &body,
            &format!("{actor}#main-key"),
            &key,
            std::time::SystemTime::now(),
        )
        .send()
        .await
        .unwrap();
        assert_eq!(r.status().as_u16(), 204);
        received(&s, &got, "Accept", |_| true).await;

        // A private playlist is not sent; made public on a channel, it is created.
        let (status, doc) = call(
            &s,
            Method::POST,
            "/api/v1/video-playlists",
            Some(&root),
            json!({"displayName": "Shared", "privacy": 3}),
        )
        .await;
        assert_eq!(status, 200, "{doc}");
        let id = doc["videoPlaylist"]["id"].as_u64().unwrap();
        let uuid = doc["videoPlaylist"]["uuid"].as_str().unwrap().to_string();
        let url = s.url(&format!("/video-playlists/{uuid}"));
        assert_eq!(
            status_of(&s, &format!("/video-playlists/{uuid}")).await,
            404
        );
        let (status, doc) = call(
            &s,
            Method::PUT,
            &format!("/api/v1/video-playlists/{id}"),
            Some(&root),
            json!({"privacy": 1, "videoChannelId": 1, "description": "A *fine* list"}),
        )
        .await;
        assert_eq!(status, 204, "{doc}");
        let create = received(&s, &got, "Create", |a| a["object"]["id"] == url.as_str()).await;
        assert_eq!(create["object"]["type"], "Playlist", "{create}");
        assert_eq!(create["object"]["name"], "Shared");
        assert_eq!(create["object"]["content"], "A *fine* list");
        assert_eq!(
            create["object"]["attributedTo"][0],
            s.url("/video-channels/root_channel")
        );
        assert_eq!(create["actor"], s.url("/accounts/root"));
        assert!(create["to"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "https://www.w3.org/ns/activitystreams#Public"));
        assert_eq!(create["signature"]["type"], "RsaSignature2017", "{create}");

        // A video added: an Update, and the object's page lists the element, which is served.
        let video = publish_clip(&s, &root, "320x240", 2).await;
        let (status, doc) = call(
            &s,
            Method::POST,
            &format!("/api/v1/video-playlists/{id}/videos"),
            Some(&root),
            json!({"videoId": video["id"], "stopTimestamp": 1}),
        )
        .await;
        assert_eq!(status, 200, "{doc}");
        let element = doc["videoPlaylistElement"]["id"].as_u64().unwrap();
        let update = received(&s, &got, "Update", |a| a["object"]["id"] == url.as_str()).await;
        assert_eq!(update["object"]["totalItems"], 1, "{update}");
        let object = get_ap_json(&s, &format!("/video-playlists/{uuid}")).await;
        assert_eq!(object["type"], "Playlist");
        assert_eq!(object["first"], format!("{url}?page=1"));
        let page = get_ap_json(&s, &format!("/video-playlists/{uuid}?page=1")).await;
        let element_url = format!("{url}/videos/{element}");
        assert_eq!(page["orderedItems"], json!([element_url]), "{page}");
        let e = get_ap_json(&s, &format!("/video-playlists/{uuid}/videos/{element}")).await;
        assert_eq!(e["type"], "PlaylistElement");
        assert_eq!(
            e["url"],
            s.url(&format!(
                "/videos/watch/{}",
                video["uuid"].as_str().unwrap()
            ))
        );
        assert_eq!(e["position"], 1);
        assert_eq!(e["stopTimestamp"], 1);
        let collection = get_ap_json(&s, "/accounts/root/playlists?page=1").await;
        assert_eq!(collection["orderedItems"], json!([url]), "{collection}");

        // Made private: a Delete, and the object is no longer served.
        let (status, doc) = call(
            &s,
            Method::PUT,
            &format!("/api/v1/video-playlists/{id}"),
            Some(&root),
            json!({"privacy": 3}),
        )
        .await;
        assert_eq!(status, 204, "{doc}");
        received(&s, &got, "Delete", |a| a["object"] == url.as_str()).await;
        assert_eq!(
            status_of(&s, &format!("/video-playlists/{uuid}")).await,
            404
        );
    });
}
