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
    // Apps decide that a server is PeerTube by `software.name` (Fedilab upper-cases it and
    // compares with "PEERTUBE") and compare versions (Grayjay wants 3.1.0 or later for
    // `sort=best`); Fleuve names itself in `metadata.implementation`.
    let software = &info["software"];
    assert_eq!(
        software["name"].as_str().unwrap().to_uppercase(),
        "PEERTUBE",
        "{info}"
    );
    let version: Vec<u32> = software["version"]
        .as_str()
        .unwrap()
        .split('.')
        .map(|p| p.parse().unwrap())
        .collect();
    assert!(version.len() == 3 && version >= vec![3, 1, 0], "{info}");
    let config = get_json(&s, "/api/v1/config").await;
    assert_eq!(config["serverVersion"], software["version"]);
    assert_eq!(
        info["metadata"]["implementation"]["name"], "fleuve",
        "{info}"
    );
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
        assert!(tracker_accepts(&s, hex).await, "{hex}");
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

/// Serves `doc` (as ActivityPub JSON) to every request, on a loopback port; returns the base URL.
fn serve_document(doc: impl Fn(&str) -> String + Send + Sync + 'static) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let doc = std::sync::Arc::new(doc);
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let doc = doc.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                if r.read_line(&mut line).is_err() {
                    return;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                        break;
                    }
                }
                let body = doc(&path);
                let mut w = conn;
                let _ = write!(
                    w,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/activity+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    base
}

/// A remote actor `/accounts/<name>` served on a loopback port (every request, its inbox
/// POSTs included, gets the actor document); returns its id and private key.
fn fake_actor(name: &str, kind: &str) -> (String, rsa::RsaPrivateKey) {
    let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    let pem = fleuve::federation::keys::public_key_pem(&rsa::RsaPublicKey::from(&key)).unwrap();
    let cell = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    let (c2, name2, kind2) = (cell.clone(), name.to_string(), kind.to_string());
    let base = serve_document(move |_| {
        let id = format!("{}/accounts/{name2}", c2.get().cloned().unwrap_or_default());
        serde_json::json!({
            "id": id, "type": kind2, "preferredUsername": name2,
            "inbox": format!("{id}/inbox"),
            "publicKey": {"id": format!("{id}#main-key"), "owner": id, "publicKeyPem": pem},
        })
        .to_string()
    });
    cell.set(base.clone()).unwrap();
    (format!("{base}/accounts/{name}"), key)
}

async fn metric(s: &Server, line_start: &str) -> u64 {
    let text = metrics_text(s).await;
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no metric {line_start}"))
}

#[tokio::test]
async fn the_inbox_verifies_dedupes_limits_and_ignores_unknown_types() {
    let mut opts = Options::default();
    opts.env.extend([
        (
            "FLEUVE_FEDERATION_ALLOW_PRIVATE_ADDRESSES".into(),
            "true".into(),
        ),
        (
            "FLEUVE_FEDERATION_INBOX_RATE_PER_HOST_PER_MIN".into(),
            "6".into(),
        ),
        (
            "FLEUVE_FEDERATION_INBOX_MAX_BODY_BYTES".into(),
            "65536".into(),
        ),
    ]);
    let s = Server::start_with(opts);
    let (actor, key) = fake_actor("alice", "Person");
    let key_id = format!("{actor}#main-key");
    let like = |n: u32| {
        serde_json::to_vec(&serde_json::json!({
            "id": format!("{actor}/likes/{n}"), "type": "Like", "actor": actor,
            "object": s.url("/videos/watch/00000000-0000-4000-8000-000000000000"),
        }))
        .unwrap()
    };
    // A type we do not handle: verified, stored, answered 204, then ignored.
    let r = signed_inbox_post(&s, &like(1), &key_id, &key, std::time::SystemTime::now())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204, "{}", r.text().await.unwrap());
    assert_eq!(
        metric(&s, "fleuve_federation_inbox_total{result=\"accepted\"}").await,
        1
    );
    // The same activity again is dropped as a duplicate (still 204).
    let r = signed_inbox_post(&s, &like(1), &key_id, &key, std::time::SystemTime::now())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(
        metric(&s, "fleuve_federation_inbox_total{result=\"duplicate\"}").await,
        1
    );
    // An activity whose actor is not the signer and has no LD signature is not stored.
    let other = serde_json::to_vec(&serde_json::json!({
        "id": format!("{actor}/likes/x"), "type": "Like",
        "actor": "http://127.0.0.1:1/accounts/mallory", "object": "http://127.0.0.1:1/v",
    }))
    .unwrap();
    let r = signed_inbox_post(&s, &other, &key_id, &key, std::time::SystemTime::now())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(
        metric(&s, "fleuve_federation_inbox_total{result=\"accepted\"}").await,
        1
    );
    // A body over inbox_max_body_bytes: 413.
    let big = vec![b' '; 70_000];
    let r = signed_inbox_post(&s, &big, &key_id, &key, std::time::SystemTime::now())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    // A signature made with another key than the actor's: 401, after one refetch of the key.
    let wrong = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    let r = signed_inbox_post(&s, &like(2), &key_id, &wrong, std::time::SystemTime::now())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let problem: Value = r.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("does not verify"),
        "{problem}"
    );
    // Rate limit per remote host (6 per minute here; 4 used): the 7th POST gets 429.
    for n in 3..5 {
        let r = signed_inbox_post(&s, &like(n), &key_id, &key, std::time::SystemTime::now())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 204);
    }
    let r = signed_inbox_post(&s, &like(9), &key_id, &key, std::time::SystemTime::now())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert!(r.headers().get("retry-after").is_some());
    // The server processed what it stored and keeps serving.
    assert_eq!(status_of(&s, "/api/v1/config").await, 200);
}

#[tokio::test]
async fn a_peertube_style_refollow_with_the_same_ids_is_taken() {
    let mut opts = Options::default();
    opts.env.push((
        "FLEUVE_FEDERATION_ALLOW_PRIVATE_ADDRESSES".into(),
        "true".into(),
    ));
    let s = Server::start_with(opts);
    // The remote instance actor; its inbox (any POST) answers 200 too.
    let (actor, key) = fake_actor("peertube", "Application");
    let key_id = format!("{actor}#main-key");
    // PeerTube's ids: the same Follow id (and Undo id) every time this instance follows us.
    let follow = serde_json::json!({
        "id": format!("{actor}/follows/7"), "type": "Follow", "actor": actor,
        "object": s.url("/accounts/peertube"),
    });
    let undo = serde_json::json!({
        "id": format!("{actor}/follows/7/undo"), "type": "Undo", "actor": actor, "object": follow,
    });
    let followers = |want: u64| {
        let s = &s;
        async move {
            for _ in 0..100 {
                if get_json(s, "/api/v1/server/followers").await["total"] == want {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            panic!("followers never became {want}; log:\n{}", s.log());
        }
    };
    for round in 0..2 {
        let body = serde_json::to_vec(&follow).unwrap();
        let r = signed_inbox_post(&s, &body, &key_id, &key, std::time::SystemTime::now())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 204, "follow, round {round}");
        followers(1).await;
        let body = serde_json::to_vec(&undo).unwrap();
        let r = signed_inbox_post(&s, &body, &key_id, &key, std::time::SystemTime::now())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 204, "undo, round {round}");
        followers(0).await;
    }
}

/// A host that accepts connections and never answers them; counts the connections.
fn black_hole() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(conn);
        }
    });
    (base, accepted)
}

/// A host that accepts connections and closes them at once; counts the connections.
fn slammed_door() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(conn);
        }
    });
    (base, accepted)
}

/// A `Like` by `actor`, as an inbox POST body.
fn like_by(actor: &str, n: u32) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "id": format!("{actor}/likes/{n}"), "type": "Like", "actor": actor,
        "object": "http://127.0.0.1:1/videos/watch/00000000-0000-4000-8000-000000000000",
    }))
    .unwrap()
}

/// Issue 12, hole 3: inbox POSTs whose keyId points at a host that never answers used to hold
/// the blocking pool (7 s per fetch), so logins and uploads waited behind them.
#[tokio::test]
async fn inbox_posts_signed_with_keys_on_a_dead_host_do_not_hold_up_logins_or_uploads() {
    use std::sync::atomic::Ordering::SeqCst;
    use std::time::Duration;
    let mut opts = Options::default();
    opts.env.extend([
        (
            "FLEUVE_FEDERATION_ALLOW_PRIVATE_ADDRESSES".into(),
            "true".into(),
        ),
        // The fetches hang far longer than the login and the upload below may wait.
        (
            "FLEUVE_FEDERATION_REQUEST_TIMEOUT_SECS".into(),
            "120".into(),
        ),
        ("FLEUVE_FEDERATION_KEY_FETCH_PER_HOST".into(), "2".into()),
        ("FLEUVE_ENGINE_DRAIN_TIMEOUT_SECS".into(), "1".into()),
    ]);
    let s = Server::start_with(opts);
    let token = login(&s).await.0;
    let src = clip(&s.dir, "small.mp4", "160x120", 10, 1, false);
    let (hole, accepted) = black_hole();
    let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    let posts: Vec<_> = (0..16)
        .map(|n| {
            let actor = format!("{hole}/accounts/a{n}");
            let rb = signed_inbox_post(
                &s,
                &like_by(&actor, n),
                &format!("{actor}#main-key"),
                &key,
                std::time::SystemTime::now(),
            );
            tokio::spawn(async move { rb.send().await })
        })
        .collect();
    // Wait until key fetches hang on the black hole (2 at least: the blocking pool's size
    // before the fix, the per-host bound after it).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while accepted.load(SeqCst) < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the inbox never fetched the keys; log:\n{}",
            s.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A login and a small upload complete while those POSTs still wait for their keys (the
    // deadline is far below the fetch timeout: before the fix they waited for it).
    let limit = Duration::from_secs(30);
    let (again, _) = tokio::time::timeout(limit, login(&s))
        .await
        .expect("a login was held up by inbox key fetches");
    assert_eq!(me_status(&s, &again).await, 200);
    let (status, body) = tokio::time::timeout(
        limit,
        upload_multipart(&s, &token, &src, "Uploaded during the flood"),
    )
    .await
    .expect("an upload was held up by inbox key fetches");
    assert_eq!(status, 200, "{body}");
    assert!(
        posts.iter().any(|p| !p.is_finished()),
        "the inbox POSTs were all answered before the login"
    );
    // Beyond the per-host bound, POSTs were refused at once with 503 and Retry-After, not
    // queued: two fetches hang, the other 14 POSTs are answered.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while posts.iter().filter(|p| p.is_finished()).count() < 14 {
        assert!(
            std::time::Instant::now() < deadline,
            "POSTs beyond the bound were not refused"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut hanging = Vec::new();
    for p in posts {
        if !p.is_finished() {
            hanging.push(p);
            continue;
        }
        let r = p.await.unwrap().unwrap();
        assert_eq!(r.status().as_u16(), 503);
        assert!(r.headers().get("retry-after").is_some());
    }
    assert_eq!(hanging.len(), 2);
    assert_eq!(
        accepted.load(SeqCst),
        2,
        "more fetches than the per-host bound"
    );
    assert_eq!(
        metric(&s, "fleuve_federation_key_fetches_total{result=\"busy\"}").await,
        14
    );
    assert_eq!(
        metric(&s, "fleuve_federation_key_fetches_in_flight").await,
        2
    );
    for p in hanging {
        p.abort();
    }
}

#[tokio::test]
async fn a_host_that_fails_a_key_fetch_is_not_asked_again_for_a_while() {
    use std::sync::atomic::Ordering::SeqCst;
    let mut opts = Options::default();
    opts.env.push((
        "FLEUVE_FEDERATION_ALLOW_PRIVATE_ADDRESSES".into(),
        "true".into(),
    ));
    let s = Server::start_with(opts);
    let (door, accepted) = slammed_door();
    let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    let post = |name: &str| {
        let actor = format!("{door}/accounts/{name}");
        signed_inbox_post(
            &s,
            &like_by(&actor, 1),
            &format!("{actor}#main-key"),
            &key,
            std::time::SystemTime::now(),
        )
    };
    // The host hangs up: the sender may try again later.
    let r = post("a").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert!(r.headers().get("retry-after").is_some());
    let tried = accepted.load(SeqCst);
    assert!(tried >= 1);
    // Another actor on that host: answered at once from the remembered failure.
    let r = post("b").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 503);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let problem: Value = r.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("remembered"),
        "{problem}"
    );
    assert_eq!(accepted.load(SeqCst), tried, "the host was asked again");
    assert_eq!(
        metric(
            &s,
            "fleuve_federation_key_fetches_total{result=\"remembered_failure\"}"
        )
        .await,
        1
    );
}

/// The instance's blocklist (issue 15): a blocked server's and a blocked account's Follow is
/// refused at the inbox (403, nothing stored, no key fetched for a blocked server), and taken
/// once unblocked; only moderators and administrators manage it; bad input is refused.
#[tokio::test]
async fn a_blocked_server_or_account_is_refused_at_the_inbox() {
    let mut opts = Options::default();
    opts.env.push((
        "FLEUVE_FEDERATION_ALLOW_PRIVATE_ADDRESSES".into(),
        "true".into(),
    ));
    let s = Server::start_with(opts);
    let (root, _) = login(&s).await;
    let (actor, key) = fake_actor("peertube", "Application");
    let key_id = format!("{actor}#main-key");
    let host = actor
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let follow = |n: u32| {
        serde_json::to_vec(&serde_json::json!({
            "id": format!("{actor}/follows/{n}"), "type": "Follow", "actor": actor,
            "object": s.url("/accounts/peertube"),
        }))
        .unwrap()
    };
    let post = |n: u32| {
        let body = follow(n);
        let req = signed_inbox_post(&s, &body, &key_id, &key, std::time::SystemTime::now());
        async move { req.send().await.unwrap() }
    };
    let api = |method: reqwest::Method, path: &str, token: &str, body: serde_json::Value| {
        let req = client()
            .request(method, s.url(path))
            .bearer_auth(token)
            .json(&body);
        async move {
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let s_ref = &s;
    let followers =
        move || async move { get_json(s_ref, "/api/v1/server/followers").await["total"].clone() };
    let wait_followers = move |want: u64| async move {
        for _ in 0..100 {
            if followers().await == want {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("followers never became {want}; log:\n{}", s_ref.log());
    };
    use reqwest::Method;
    let servers = "/api/v1/server/blocklist/servers";

    // Rights and bad input.
    let (status, made) = api(
        Method::POST,
        "/api/v1/users",
        &root,
        serde_json::json!({"username": "alice", "password": "alice-password",
                           "email": "alice@example.test", "role": 2}),
    )
    .await;
    assert_eq!(status, 200, "{made}");
    let oc = oauth_client(&s).await;
    let alice: Value = token_request(
        &s,
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
    let alice = alice["access_token"].as_str().unwrap().to_string();
    let (status, _) = api(
        Method::POST,
        servers,
        &alice,
        serde_json::json!({"host": host}),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(api(Method::GET, servers, &alice, Value::Null).await.0, 403);
    for (body, want) in [
        (serde_json::json!({"host": "bad host/x"}), 400),
        (serde_json::json!({"host": s.addr}), 409),
    ] {
        let (status, doc) = api(Method::POST, servers, &root, body).await;
        assert_eq!(status, want, "{doc}");
    }

    // The server blocked: its Follow is refused, nothing stored.
    let (status, doc) = api(
        Method::POST,
        servers,
        &root,
        serde_json::json!({"host": host}),
    )
    .await;
    assert_eq!(status, 204, "{doc}");
    let (status, _) = api(
        Method::POST,
        servers,
        &root,
        serde_json::json!({"host": host}),
    )
    .await;
    assert_eq!(status, 409, "blocked twice");
    let (status, list) = api(Method::GET, servers, &root, Value::Null).await;
    assert_eq!(
        (status, &list["total"]),
        (200, &serde_json::json!(1)),
        "{list}"
    );
    assert_eq!(list["data"][0]["blockedServer"]["host"], host.as_str());
    let r = post(1).await;
    assert_eq!(r.status().as_u16(), 403, "{}", r.text().await.unwrap());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(followers().await, 0);

    // Unblocked: the same actor follows.
    let (status, _) = api(
        Method::DELETE,
        &format!("{servers}/{host}"),
        &root,
        Value::Null,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = api(
        Method::DELETE,
        &format!("{servers}/{host}"),
        &root,
        Value::Null,
    )
    .await;
    assert_eq!(status, 404);
    let r = post(2).await;
    assert_eq!(r.status().as_u16(), 204, "{}", r.text().await.unwrap());
    wait_followers(1).await;

    // The account blocked (it is known now): its activities are refused.
    let accounts = "/api/v1/server/blocklist/accounts";
    for (body, want) in [
        (
            serde_json::json!({"accountName": "nobody@unknown.example"}),
            404,
        ),
        (serde_json::json!({"accountName": "root"}), 400),
        (
            serde_json::json!({"accountName": format!("root@{}", s.addr)}),
            400,
        ),
    ] {
        let (status, doc) = api(Method::POST, accounts, &root, body).await;
        assert_eq!(status, want, "{doc}");
    }
    let handle = format!("peertube@{host}");
    let (status, doc) = api(
        Method::POST,
        accounts,
        &root,
        serde_json::json!({"accountName": handle}),
    )
    .await;
    assert_eq!(status, 204, "{doc}");
    let (_, list) = api(Method::GET, accounts, &root, Value::Null).await;
    assert_eq!(
        list["data"][0]["blockedAccount"]["url"],
        actor.as_str(),
        "{list}"
    );
    let r = post(3).await;
    assert_eq!(r.status().as_u16(), 403);
    let (status, _) = api(
        Method::DELETE,
        &format!("{accounts}/{handle}"),
        &root,
        Value::Null,
    )
    .await;
    assert_eq!(status, 204);
    let r = post(4).await;
    assert_eq!(r.status().as_u16(), 204);
}

/// A `Flag` from another instance (PeerTube's abuse report) of one of our videos and one of
/// our accounts becomes two reports for our moderators, its reporter the remote actor; a Flag of
/// nothing of ours adds none.
#[tokio::test]
async fn a_remote_flag_becomes_an_abuse_report() {
    let mut opts = Options::default();
    opts.env.push((
        "FLEUVE_FEDERATION_ALLOW_PRIVATE_ADDRESSES".into(),
        "true".into(),
    ));
    let s = Server::start_with(opts);
    let (root, _) = login(&s).await;
    let v = publish_clip(&s, &root, "320x240", 1).await;
    let watch = s.url(&format!("/videos/watch/{}", v["uuid"].as_str().unwrap()));
    let (actor, key) = fake_actor("mallory", "Person");
    let key_id = format!("{actor}#main-key");
    let flag = |n: u32, object: serde_json::Value| {
        serde_json::to_vec(&serde_json::json!({
            "id": format!("{actor}/flags/{n}"), "type": "Flag", "actor": actor,
            "object": object, "content": "Stolen footage",
            "tag": [{"type": "Hashtag", "name": "rights"}], "startAt": 3, "endAt": 5,
        }))
        .unwrap()
    };
    let abuses = || async {
        client()
            .get(s.url("/api/v1/abuses"))
            .bearer_auth(&root)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    let body = flag(1, serde_json::json!([watch, s.url("/accounts/root")]));
    let r = signed_inbox_post(&s, &body, &key_id, &key, std::time::SystemTime::now())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204, "{}", r.text().await.unwrap());
    let mut list = abuses().await;
    for _ in 0..100 {
        if list["total"] == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        list = abuses().await;
    }
    assert_eq!(list["total"], 2, "{list}\n{}", s.log());
    for a in list["data"].as_array().unwrap() {
        assert_eq!(a["reporterAccount"]["url"], actor.as_str(), "{a}");
        assert_eq!(
            (&a["reason"], &a["predefinedReasons"]),
            (
                &serde_json::json!("Stolen footage"),
                &serde_json::json!(["rights"])
            )
        );
        assert_eq!(a["flaggedAccount"]["name"], "root");
    }
    let on_video = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["video"].is_object())
        .unwrap();
    assert_eq!(
        (&on_video["video"]["startAt"], &on_video["video"]["endAt"]),
        (&serde_json::json!(3), &serde_json::json!(5))
    );
    // Not ours: nothing added.
    let body = flag(
        2,
        serde_json::json!("https://elsewhere.example/videos/watch/x"),
    );
    let r = signed_inbox_post(&s, &body, &key_id, &key, std::time::SystemTime::now())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(abuses().await["total"], 2);

    // The same actor's comment is shown, then hidden while its server is blocked.
    let note = serde_json::to_vec(&serde_json::json!({
        "id": format!("{actor}/notes/1/activity"), "type": "Create", "actor": actor,
        "to": ["https://www.w3.org/ns/activitystreams#Public"],
        "object": {"id": format!("{actor}/notes/1"), "type": "Note", "attributedTo": actor,
                   "inReplyTo": watch, "content": "Nice river",
                   "to": ["https://www.w3.org/ns/activitystreams#Public"],
                   "published": "2026-12-05T08:00:00Z"},
    }))
    .unwrap();
    let r = signed_inbox_post(&s, &note, &key_id, &key, std::time::SystemTime::now())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204, "{}", r.text().await.unwrap());
    let threads = format!(
        "/api/v1/videos/{}/comment-threads",
        v["uuid"].as_str().unwrap()
    );
    let mut shown = get_json(&s, &threads).await;
    for _ in 0..100 {
        if shown["total"] == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        shown = get_json(&s, &threads).await;
    }
    assert_eq!(shown["total"], 1, "{shown}\n{}", s.log());
    let host = actor
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let block = client()
        .post(s.url("/api/v1/server/blocklist/servers"))
        .bearer_auth(&root)
        .json(&serde_json::json!({"host": host}))
        .send()
        .await
        .unwrap();
    assert_eq!(block.status().as_u16(), 204);
    assert_eq!(
        get_json(&s, &threads).await["total"],
        0,
        "hidden while blocked"
    );
    let unblock = client()
        .delete(s.url(&format!("/api/v1/server/blocklist/servers/{host}")))
        .bearer_auth(&root)
        .send()
        .await
        .unwrap();
    assert_eq!(unblock.status().as_u16(), 204);
    assert_eq!(get_json(&s, &threads).await["total"], 1, "shown again");
}

/// Actors `/accounts/<name>` of one loopback server (so, one host), with their keys.
fn actors_of_one_host(names: &[&str]) -> Vec<(String, rsa::RsaPrivateKey)> {
    // Key pairs made in parallel (RSA-2048 takes a moment each).
    let keys: Vec<(String, rsa::RsaPrivateKey, String)> = std::thread::scope(|s| {
        let made: Vec<_> = names
            .iter()
            .map(|n| {
                s.spawn(move || {
                    let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
                    let pem =
                        fleuve::federation::keys::public_key_pem(&rsa::RsaPublicKey::from(&key))
                            .unwrap();
                    (n.to_string(), key, pem)
                })
            })
            .collect();
        made.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let pems: Vec<(String, String)> = keys
        .iter()
        .map(|(n, _, p)| (n.clone(), p.clone()))
        .collect();
    let cell = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    let c2 = cell.clone();
    let base = serve_document(move |path| {
        let name = path
            .trim_start_matches("/accounts/")
            .split(['/', '?', '#'])
            .next()
            .unwrap_or_default()
            .to_string();
        let pem = pems
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| p.clone())
            .unwrap_or_default();
        let id = format!("{}/accounts/{name}", c2.get().cloned().unwrap_or_default());
        serde_json::json!({
            "id": id, "type": "Application", "preferredUsername": name,
            "inbox": format!("{id}/inbox"),
            "publicKey": {"id": format!("{id}#main-key"), "owner": id, "publicKeyPem": pem},
        })
        .to_string()
    });
    cell.set(base.clone()).unwrap();
    keys.into_iter()
        .map(|(n, k, _)| (format!("{base}/accounts/{n}"), k))
        .collect()
}

/// A remote actor `/accounts/<name>` on its own loopback server that keeps the body of every
/// POST it gets (its inbox); returns its id, key and the bodies.
fn recording_actor(
    name: &str,
) -> (
    String,
    rsa::RsaPrivateKey,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    use std::io::{BufRead, BufReader, Read, Write};
    let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    let pem = fleuve::federation::keys::public_key_pem(&rsa::RsaPublicKey::from(&key)).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let id = format!("{base}/accounts/{name}");
    let doc = serde_json::json!({
        "id": id, "type": "Application", "preferredUsername": name,
        "inbox": format!("{id}/inbox"),
        "publicKey": {"id": format!("{id}#main-key"), "owner": id, "publicKeyPem": pem},
    })
    .to_string();
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = bodies.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let (doc, kept) = (doc.clone(), kept.clone());
            std::thread::spawn(move || {
                let mut r = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                if r.read_line(&mut line).is_err() {
                    return;
                }
                let mut len = 0usize;
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut w = conn;
                if line.starts_with("POST") {
                    let mut body = vec![0u8; len.min(1 << 20)];
                    let _ = r.read_exact(&mut body);
                    kept.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&body).into_owned());
                    let _ = write!(
                        w,
                        "HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    );
                } else {
                    let _ = write!(
                        w,
                        "HTTP/1.1 200 OK\r\ncontent-type: application/activity+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{doc}",
                        doc.len()
                    );
                }
            });
        }
    });
    (id, key, bodies)
}

/// Other servers' `CacheFile`s (issue 18): a mirror of one of our videos is listed only when it
/// is HLS, of a video of ours, on its actor's host, changed only by its creator, and from a
/// server `remote_redundancy.videos.accept_from` allows; `Update` changes its expiry, `Undo`
/// removes it.
#[test]
fn cache_files_are_checked_before_a_mirror_is_listed() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Server::start_in(dir.path(), fed_options(&[]));
        let addr = s.addr.clone();
        let token = login(&s).await.0;
        let v = publish_clip(&s, &token, "426x240", 2).await;
        let uuid = v["uuid"].as_str().unwrap().to_string();
        let actors = actors_of_one_host(&["peertube", "intruder"]);
        let (mirror, key) = &actors[0];
        let (intruder, intruder_key) = &actors[1];
        let host = mirror.trim_end_matches("/accounts/peertube").to_string();
        let id = format!("{host}/redundancy/streaming-playlists/hls/{uuid}");
        let href = format!("{host}/static/redundancy/hls/{uuid}");
        let watch = s.url(&format!("/videos/watch/{uuid}"));
        let cache = |id: &str, object: &str, media: &str, href: &str, expires: Value| {
            serde_json::json!({"id": id, "type": "CacheFile", "object": object, "expires": expires,
                "url": {"type": "Link", "mediaType": media, "href": href}})
        };
        // An instance following this one: mirrors of our videos are forwarded to it.
        let (follower, follower_key, forwarded) = recording_actor("peertube");
        let follow = serde_json::to_vec(&serde_json::json!({
            "id": format!("{follower}/follows/1"), "type": "Follow", "actor": follower,
            "object": s.url("/accounts/peertube"),
        }))
        .unwrap();
        let r = signed_inbox_post(&s, &follow, &format!("{follower}#main-key"), &follower_key, std::time::SystemTime::now())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        let fw = forwarded.clone();
        eventually("the follow accepted", &[&s], || async {
            fw.lock().unwrap().iter().any(|b| b.contains("\"Accept\"")).then_some(())
        })
        .await;
        let mut n = 0;
        let mut post = |kind: &str, actor: &str, key: &rsa::RsaPrivateKey, object: Value| {
            n += 1;
            let body = serde_json::to_vec(&serde_json::json!({
                "@context": ["https://www.w3.org/ns/activitystreams"],
                "id": format!("{actor}/activities/{n}"), "type": kind, "actor": actor,
                "to": [s.url("/accounts/root")], "object": object,
            }))
            .unwrap();
            signed_inbox_post(&s, &body, &format!("{actor}#main-key"), key, std::time::SystemTime::now())
        };
        let later = serde_json::json!("2030-01-01T00:00:00.000Z");
        let bad = [
            // Not one of our videos.
            cache(&id, "https://elsewhere.example/videos/watch/x", "application/x-mpegURL", &href, later.clone()),
            // Not HLS (a web-video file mirror).
            cache(&id, &watch, "video/mp4", &format!("{href}-240.mp4"), later.clone()),
            // A mirror on another host than its actor's.
            cache("https://other.example/redundancy/x", &watch, "application/x-mpegURL", "https://other.example/static/redundancy/hls/x", later.clone()),
        ];
        for object in bad {
            let r = post("Create", mirror, key, object).send().await.unwrap();
            assert!(r.status().is_success(), "{}", r.status());
        }
        // A good one, in PeerTube's legacy `mimeType` form, with `expires: null`.
        let mut good = cache(&id, &watch, "application/x-mpegURL", &href, Value::Null);
        let t = good["url"].as_object_mut().unwrap().remove("mediaType").unwrap();
        good["url"]["mimeType"] = t;
        post("Create", mirror, key, good.clone()).send().await.unwrap();
        let path = format!("/api/v1/videos/{uuid}");
        let s_ref = &s;
        let listed = serde_json::json!([{"baseUrl": href}]);
        eventually("the mirror listed", &[&s], || async {
            let d = get_json(s_ref, &path).await;
            (d["streamingPlaylists"][0]["redundancies"] == listed).then_some(())
        })
        .await;
        // Forwarded as it came to our followers (the mirror's own server excluded).
        let fw = forwarded.clone();
        let create_id = format!("{mirror}/activities/4");
        eventually("the Create forwarded", &[&s], || async {
            fw.lock().unwrap().iter().any(|b| b.contains(&create_id) && b.contains("CacheFile")).then_some(())
        })
        .await;
        let log = s.log();
        for refusal in ["not one of our videos", "application/x-mpegURL (only HLS", "of another host"] {
            assert!(log.contains(refusal), "no refusal {refusal:?} in the log:\n{log}");
        }
        // Another actor of the same server cannot change or undo it.
        let hijack = cache(&id, &watch, "application/x-mpegURL", &format!("{host}/static/redundancy/hls/evil"), later.clone());
        post("Update", intruder, intruder_key, hijack.clone()).send().await.unwrap();
        let create = serde_json::json!({"type": "Create", "id": format!("{id}/activity"), "actor": mirror, "object": good});
        post("Undo", intruder, intruder_key, create.clone()).send().await.unwrap();
        // Its creator renews it (an expiry), then undoes it.
        let renewed = cache(&id, &watch, "application/x-mpegURL", &href, later.clone());
        post("Update", mirror, key, renewed).send().await.unwrap();
        eventually("the mirror renewed", &[&s], || async {
            let l = get_json_as(s_ref, "/api/v1/server/redundancy/videos?target=my-videos", &token).await;
            (l["data"][0]["redundancies"]["streamingPlaylists"][0]["expiresOn"] == "2030-01-01T00:00:00.000Z").then_some(())
        })
        .await;
        let d = get_json(&s, &path).await;
        assert_eq!(d["streamingPlaylists"][0]["redundancies"], listed, "the intruder changed nothing");
        assert!(s.log().contains("cannot change it"), "{}", s.log());
        assert!(
            !forwarded.lock().unwrap().iter().any(|b| b.contains("/static/redundancy/hls/evil")),
            "a refused activity was forwarded"
        );
        post("Undo", mirror, key, create).send().await.unwrap();
        eventually("the mirror removed", &[&s], || async {
            let d = get_json(s_ref, &path).await;
            (d["streamingPlaylists"][0]["redundancies"] == serde_json::json!([])).then_some(())
        })
        .await;

        // One mirror per actor: a new id from the same actor replaces its earlier one.
        let renamed = (format!("{id}-b"), format!("{href}-b"));
        post("Create", mirror, key, cache(&id, &watch, "application/x-mpegURL", &href, later.clone())).send().await.unwrap();
        post("Create", mirror, key, cache(&renamed.0, &watch, "application/x-mpegURL", &renamed.1, later.clone())).send().await.unwrap();
        let only_b = serde_json::json!([{"baseUrl": renamed.1}]);
        eventually("the earlier mirror replaced", &[&s], || async {
            let d = get_json(s_ref, &path).await;
            (d["streamingPlaylists"][0]["redundancies"] == only_b).then_some(())
        })
        .await;
        // At most 16 mirrors per video: 15 more actors fill the list, the 16th is refused.
        let names: Vec<String> = (0..16).map(|i| format!("m{i}")).collect();
        let crowd = actors_of_one_host(&names.iter().map(String::as_str).collect::<Vec<_>>());
        for (actor, k) in &crowd {
            let h = actor.rsplit_once("/accounts/").unwrap();
            let object = cache(
                &format!("{}/redundancy/streaming-playlists/hls/{uuid}/{}", h.0, h.1),
                &watch,
                "application/x-mpegURL",
                &format!("{}/static/redundancy/hls/{uuid}/{}", h.0, h.1),
                later.clone(),
            );
            post("Create", actor, k, object).send().await.unwrap();
        }
        eventually("the 17th mirror refused", &[&s], || async {
            s_ref.log().contains("already has 16 mirrors").then_some(())
        })
        .await;
        let d = get_json(&s, &path).await;
        assert_eq!(d["streamingPlaylists"][0]["redundancies"].as_array().unwrap().len(), 16, "{d}");

        // Mirrors only from followed servers: this one is not.
        s.stop();
        let mut o = fed_options(&[("FLEUVE_REMOTE_REDUNDANCY_VIDEOS_ACCEPT_FROM", "followings")]);
        o.args = vec!["--listen".into(), addr];
        let s = Server::start_in(dir.path(), o);
        let again = cache(&id, &watch, "application/x-mpegURL", &href, later);
        let body = serde_json::to_vec(&serde_json::json!({
            "id": format!("{mirror}/activities/again"), "type": "Create", "actor": mirror, "object": again,
        }))
        .unwrap();
        signed_inbox_post(&s, &body, &format!("{mirror}#main-key"), key, std::time::SystemTime::now())
            .send()
            .await
            .unwrap();
        let s_ref = &s;
        eventually("the refusal logged", &[&s], || async {
            s_ref.log().contains("does not follow").then_some(())
        })
        .await;
        let d = get_json(&s, &path).await;
        let listed = d["streamingPlaylists"][0]["redundancies"].as_array().unwrap();
        assert_eq!(listed.len(), 16, "{d}");
        assert!(!listed.contains(&serde_json::json!({"baseUrl": href})), "{d}");
    });
}
