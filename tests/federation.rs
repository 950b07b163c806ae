//! Federation with the real server: discovery (WebFinger, NodeInfo, host-meta).

mod common;

use common::*;
use serde_json::Value;

#[tokio::test]
async fn webfinger_nodeinfo_and_host_meta_describe_the_instance() {
    let s = Server::start();
    let host = s.addr.clone();
    let c = client();
    let get = |path: String| {
        let c = c.clone();
        let url = s.url(&path);
        async move { c.get(url).send().await.unwrap() }
    };
    for (name, path) in [
        ("root", "/accounts/root"),
        ("peertube", "/accounts/peertube"),
        ("root_channel", "/video-channels/root_channel"),
    ] {
        let r = get(format!(
            "/.well-known/webfinger?resource=acct:{name}@{host}"
        ))
        .await;
        assert_eq!(r.status().as_u16(), 200, "{name}");
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("json"));
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["subject"], format!("acct:{name}@{host}"));
        let link = v["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == "self")
            .unwrap();
        assert_eq!(link["type"], "application/activity+json");
        assert_eq!(link["href"], s.url(path));
    }
    for bad in [
        format!("acct:nobody@{host}"),
        "acct:root@elsewhere.example".to_string(),
    ] {
        let r = get(format!("/.well-known/webfinger?resource={bad}")).await;
        assert_eq!(r.status().as_u16(), 404, "{bad}");
    }
    let r = get("/.well-known/webfinger?resource=nonsense".into()).await;
    assert_eq!(r.status().as_u16(), 400);

    let index: Value = get("/.well-known/nodeinfo".into())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(index["links"][0]["href"], s.url("/nodeinfo/2.0.json"));
    assert_eq!(index["links"][1]["href"], s.url("/accounts/peertube"));
    let r = get("/nodeinfo/2.0.json".into()).await;
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("nodeinfo.diaspora.software/ns/schema/2.0"));
    let info: Value = r.json().await.unwrap();
    assert_eq!(info["version"], "2.0");
    assert_eq!(info["protocols"][0], "activitypub");
    assert_eq!(info["usage"]["users"]["total"], 1);

    let xml = get("/.well-known/host-meta".into())
        .await
        .text()
        .await
        .unwrap();
    assert!(xml.contains(&format!(
        "template=\"{}/.well-known/webfinger?resource={{uri}}\"",
        s.base
    )));
}

#[tokio::test]
async fn actors_answer_activitypub_json_to_federation_clients_and_html_to_browsers() {
    let s = Server::start();
    let c = client();
    let ap = "application/activity+json, application/ld+json";
    for (path, kind, name) in [
        ("/accounts/root", "Person", "root"),
        ("/accounts/peertube", "Application", "peertube"),
        ("/video-channels/root_channel", "Group", "root_channel"),
    ] {
        let r = c
            .get(s.url(path))
            .header("Accept", ap)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/activity+json"));
        let v: Value = r.json().await.unwrap();
        let id = s.url(path);
        assert_eq!(
            (v["type"].as_str(), v["id"].as_str()),
            (Some(kind), Some(id.as_str()))
        );
        assert_eq!(v["preferredUsername"], name);
        assert_eq!(v["inbox"], format!("{id}/inbox"));
        assert_eq!(v["endpoints"]["sharedInbox"], s.url("/inbox"));
        assert_eq!(v["publicKey"]["id"], format!("{id}#main-key"));
        assert_eq!(v["publicKey"]["owner"], id);
        let pem = v["publicKey"]["publicKeyPem"].as_str().unwrap();
        fleuve::federation::keys::parse_public_key_pem(pem).expect("an RSA public key");
        if kind == "Group" {
            assert_eq!(v["attributedTo"][0]["id"], s.url("/accounts/root"));
        }
        // The key is made once: the same on every read.
        let again: Value = c
            .get(s.url(path))
            .header("Accept", ap)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(again["publicKey"], v["publicKey"]);
        // A browser gets HTML.
        let r = c
            .get(s.url(path))
            .header("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
            .send()
            .await
            .unwrap();
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let col: Value = c
            .get(s.url(&format!("{path}/followers")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            (col["type"].as_str(), col["totalItems"].as_u64()),
            (Some("OrderedCollection"), Some(0))
        );
    }
    let r = c
        .get(s.url("/accounts/nobody"))
        .header("Accept", ap)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let r = c
        .get(s.url("/video-channels/root"))
        .header("Accept", ap)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404, "an account is not a channel");
}

#[tokio::test]
async fn a_published_video_is_a_peertube_video_object() {
    let mut opts = Options::default();
    opts.env
        .push(("FLEUVE_TRANSCODE_RESOLUTIONS".into(), "240".into()));
    let s = Server::start_with(opts);
    let token = login(&s).await.0;
    let v = publish_clip(&s, &token, "640x360", 2).await;
    let uuid = v["uuid"].as_str().unwrap();
    let c = client();
    let r = c
        .get(s.url(&format!("/videos/watch/{uuid}")))
        .header("Accept", "application/activity+json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let o: Value = r.json().await.unwrap();
    assert_eq!(o["type"], "Video");
    assert_eq!(o["id"], s.url(&format!("/videos/watch/{uuid}")));
    assert_eq!(o["uuid"], uuid);
    assert_eq!(o["duration"], "PT2S");
    assert_eq!(o["to"][0], "https://www.w3.org/ns/activitystreams#Public");
    assert_eq!(o["attributedTo"][0]["type"], "Person");
    assert_eq!(
        o["attributedTo"][1]["id"],
        s.url("/video-channels/root_channel")
    );
    assert_eq!(o["icon"][0]["width"], 280);
    let urls = o["url"].as_array().unwrap();
    assert_eq!(
        urls[0]["href"],
        s.url(&format!("/w/{}", v["shortUUID"].as_str().unwrap()))
    );
    let hls = urls
        .iter()
        .find(|u| u["mediaType"] == "application/x-mpegURL")
        .expect("the HLS link");
    assert_eq!(hls["href"], v["streamingPlaylists"][0]["playlistUrl"]);
    let tags = hls["tag"].as_array().unwrap();
    assert!(tags.iter().any(|t| t["type"] == "Infohash"));
    assert!(tags
        .iter()
        .any(|t| t["name"] == "sha256"
            && t["href"] == v["streamingPlaylists"][0]["segmentsSha256Url"]));
    let files: Vec<&Value> = tags
        .iter()
        .filter(|t| t["mediaType"] == "video/mp4")
        .collect();
    assert_eq!(files.len(), 2, "360p and 240p");
    assert!(tags
        .iter()
        .any(|t| t["mediaType"] == "application/x-bittorrent"));
    assert!(urls.iter().any(|u| u["name"] == "tracker-websocket"));
    // Every Infohash tag is on the tracker's allowlist: an HTTP announce with it is answered.
    for t in tags.iter().filter(|t| t["type"] == "Infohash") {
        let hex = t["name"].as_str().unwrap();
        let pct: String = hex::decode(hex)
            .unwrap()
            .iter()
            .map(|b| format!("%{b:02x}"))
            .collect();
        let body = c
            .get(s.url(&format!(
                "/tracker/announce?info_hash={pct}&peer_id=-XX0001-abcdefghijkl&port=6881"
            )))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let reply = fleuve::bencode::Value::decode(&body).unwrap();
        assert!(reply.get("interval").is_some(), "{hex}: {reply:?}");
    }
    // A browser gets the watch page.
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(s.url(&format!("/videos/watch/{uuid}")))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
}
