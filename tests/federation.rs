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
