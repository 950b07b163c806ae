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
