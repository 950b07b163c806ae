//! Redundancy between two real instances on loopback (issue 18): B follows A with redundancy
//! allowed and mirrors A's new video (strategy `recently-added`); a mirror download cut short
//! by `kill -9` is never served half-written and is made whole after the restart; B announces
//! it with a `CacheFile`; A lists B in the video's `redundancies`; Chromium on A's page fetches
//! segments from both A and B, every one checked against its sha256; then A stops and the video
//! still plays on B's page, from B's mirror alone (playlists included).

mod common;

use common::browser::{artifacts, require_browser, scenario};
use common::*;
use serde_json::{json, Value};
use std::path::Path;

/// B's options: a config file with the `recently-added` strategy, checked every second.
fn mirror_options(dir: &Path, env: &[(&str, &str)], listen: Option<&str>) -> Options {
    let config = dir.join("mirror.toml");
    std::fs::write(
        &config,
        "[redundancy]\ncheck_interval_secs = 1\n\
         [[redundancy.strategies]]\nstrategy = \"recently-added\"\nsize_bytes = 1073741824\n\
         min_lifetime_secs = 172800\nmin_views = 0\n",
    )
    .unwrap();
    let mut o = fed_options(env);
    o.args = vec!["--config".into(), config.display().to_string()];
    if let Some(l) = listen {
        o.args.extend(["--listen".into(), l.to_string()]);
    }
    o
}

async fn mirrors_on(s: &Server, token: &str, target: &str) -> Value {
    get_json_as(
        s,
        &format!("/api/v1/server/redundancy/videos?target={target}"),
        token,
    )
    .await
}

#[test]
fn a_follower_mirrors_a_video_and_the_player_survives_its_origin() {
    require_browser();
    rt().block_on(async {
        let mut a = Server::start_with(fed_options(&[]));
        let b_dir = tempfile::tempdir().unwrap();
        // B downloads slowly at first: the test stops it in the middle of a mirror.
        let mut b = Server::start_in(
            b_dir.path(),
            mirror_options(
                b_dir.path(),
                &[("FLEUVE_REDUNDANCY_DOWNLOAD_RATE_BYTES_PER_SEC", "15000")],
                None,
            ),
        );
        let b_addr = b.addr.clone();
        let a_token = login(&a).await.0;
        let b_token = login(&b).await.0;
        let c = client();

        // B follows A; allowing redundancy needs an administrator and a followed host.
        let r = c
            .post(b.url("/api/v1/server/following"))
            .bearer_auth(&b_token)
            .json(&json!({"hosts": [a.addr]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        let allow = |host: String, body: Value, token: Option<String>| {
            let mut rb = c
                .put(b.url(&format!("/api/v1/server/redundancy/{host}")))
                .json(&body);
            if let Some(t) = token {
                rb = rb.bearer_auth(t);
            }
            rb.send()
        };
        let st = |r: reqwest::Response| r.status().as_u16();
        let on = json!({"redundancyAllowed": true});
        assert_eq!(
            st(allow(a.addr.clone(), on.clone(), None).await.unwrap()),
            401
        );
        assert_eq!(
            st(
                allow("unknown.example".into(), on.clone(), Some(b_token.clone()))
                    .await
                    .unwrap()
            ),
            404
        );
        assert_eq!(
            st(allow(
                a.addr.clone(),
                json!({"redundancyAllowed": "yes"}),
                Some(b_token.clone())
            )
            .await
            .unwrap()),
            400
        );
        assert_eq!(
            st(allow(a.addr.clone(), on.clone(), Some(b_token.clone()))
                .await
                .unwrap()),
            204
        );
        let b_ref = &b;
        eventually(
            "B's follow of A accepted, redundancy allowed",
            &[&a, &b],
            || async {
                let f = get_json(b_ref, "/api/v1/server/following").await;
                (f["data"][0]["state"] == "accepted"
                    && f["data"][0]["following"]["hostRedundancyAllowed"] == true)
                    .then_some(())
            },
        )
        .await;

        // A publishes a 24 s video (6 segments of 4 s).
        let v = publish_clip(&a, &a_token, "426x240", 24).await;
        let uuid = v["uuid"].as_str().unwrap().to_string();
        let pl = v["streamingPlaylists"][0].clone();
        let master_url = pl["playlistUrl"].as_str().unwrap().to_string();
        let master_name = master_url.rsplit('/').next().unwrap().to_string();
        let mirror_path = format!("/static/redundancy/hls/{uuid}/{master_name}");

        // B picks it and starts downloading (slowly): nothing is served until it is whole.
        let partial = b_dir.path().join("media/redundancy/partial").join(&uuid);
        eventually("B's mirror download under way", &[&a, &b], || async {
            let fmp4 = std::fs::read_dir(&partial).ok()?.flatten().any(|e| {
                e.file_name().to_string_lossy().ends_with(".mp4")
                    && e.metadata().map(|m| m.len() > 0).unwrap_or(false)
            });
            fmp4.then_some(())
        })
        .await;
        assert_eq!(
            status_of(&b, &mirror_path).await,
            404,
            "served half-written"
        );
        let listed = mirrors_on(&b, &b_token, "remote-videos").await;
        assert_eq!(
            listed["data"][0]["redundancies"]["streamingPlaylists"][0]["state"], "downloading",
            "{listed}"
        );
        // kill -9 in the middle of it.
        let mut child = b.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            client().get(b.url(&mirror_path)).send().await.is_err(),
            "B is down"
        );
        drop(b);
        // Restarted at full speed: the partial download is thrown away and done again.
        let b = Server::start_in(
            b_dir.path(),
            mirror_options(b_dir.path(), &[], Some(&b_addr)),
        );
        let b_ref = &b;
        let b_token = login(&b).await.0;
        let bt = &b_token;
        eventually("B's mirror ready", &[&a, &b], || async {
            let l = mirrors_on(b_ref, bt, "remote-videos").await;
            (l["data"][0]["redundancies"]["streamingPlaylists"][0]["state"] == "ready").then_some(l)
        })
        .await;
        assert!(!partial.exists(), "the partial download is gone");
        assert!(b.log().contains("mirror ready and checked"), "{}", b.log());

        // Every file of A's directory is on B, byte for byte.
        let a_dir = master_url.rsplit_once('/').unwrap().0.to_string();
        let hashes_url = pl["segmentsSha256Url"].as_str().unwrap();
        let mut names = vec![
            master_name.clone(),
            hashes_url.rsplit('/').next().unwrap().to_string(),
        ];
        for f in pl["files"].as_array().unwrap() {
            names.push(
                f["fileUrl"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_string(),
            );
            names.push(
                f["playlistUrl"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_string(),
            );
        }
        for name in &names {
            let want = c
                .get(format!("{a_dir}/{name}"))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            let got = c
                .get(b.url(&format!("/static/redundancy/hls/{uuid}/{name}")))
                .send()
                .await
                .unwrap();
            assert_eq!(got.status(), 200, "{name}");
            assert_eq!(got.bytes().await.unwrap(), want, "{name}");
        }

        // B announced it: A lists B's mirror in the video's redundancies, and in its admin list.
        let base = b.url(&format!("/static/redundancy/hls/{uuid}"));
        let a_ref = &a;
        let path = format!("/api/v1/videos/{uuid}");
        eventually("A lists B's mirror", &[&a, &b], || async {
            let d = get_json(a_ref, &path).await;
            (d["streamingPlaylists"][0]["redundancies"] == json!([{"baseUrl": base}])).then_some(())
        })
        .await;
        // A's torrents list the mirror's copy as a webseed after A's own (same info-hash).
        let f0 = &pl["files"][0];
        let torrent = c
            .get(f0["torrentUrl"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let t = fleuve::bencode::Value::decode(&torrent).unwrap();
        let seeds: Vec<String> = match t.get("url-list") {
            Some(fleuve::bencode::Value::List(l)) => l
                .iter()
                .map(|v| match v {
                    fleuve::bencode::Value::Bytes(b) => String::from_utf8(b.clone()).unwrap(),
                    other => panic!("{other:?}"),
                })
                .collect(),
            other => panic!("url-list: {other:?}"),
        };
        let fmp4 = f0["fileUrl"].as_str().unwrap();
        assert_eq!(
            seeds,
            [
                fmp4.to_string(),
                format!("{base}/{}", fmp4.rsplit('/').next().unwrap())
            ]
        );
        let theirs = mirrors_on(&a, &a_token, "my-videos").await;
        assert_eq!(theirs["total"], 1, "{theirs}");
        assert_eq!(
            theirs["data"][0]["redundancies"]["streamingPlaylists"][0]["fileUrl"],
            base.as_str()
        );
        // B's own page of A's video lists its mirror too; its stats count it.
        let d = get_json(&b, &path).await;
        assert_eq!(
            d["streamingPlaylists"][0]["redundancies"][0]["baseUrl"],
            base.as_str()
        );
        let stats = get_json(&b, "/api/v1/server/stats").await;
        let r = &stats["videosRedundancy"][0];
        assert_eq!(r["strategy"], "recently-added", "{stats}");
        assert_eq!(r["totalVideos"], 1, "{stats}");
        assert!(r["totalUsed"].as_u64().unwrap() > 0, "{stats}");

        // Chromium on A's page: segments from A and from B, every one checked.
        let short = v["shortUUID"].as_str().unwrap().to_string();
        let w = scenario(
            "mirror",
            json!({"base": a.base, "short": format!("{short}?p2p=0"), "out": artifacts()}),
        );
        let sources = w["segmentSources"].as_object().unwrap();
        assert!(
            sources.get(&a.base).and_then(Value::as_u64).unwrap_or(0) > 0,
            "{w}"
        );
        assert!(
            sources.get(&b.base).and_then(Value::as_u64).unwrap_or(0) > 0,
            "{w}"
        );
        assert_eq!(w["rejected"]["http"], 0, "{w}");
        // B counts what viewers took from its mirrors.
        let stats = get_json(&b, "/api/v1/server/stats").await;
        assert!(
            stats["redundancyBytesServed"].as_u64().unwrap() > 0,
            "{stats}"
        );
        let m = metrics_text(&b).await;
        assert!(
            m.lines()
                .any(|l| l.starts_with("fleuve_redundancy_served_bytes_total ")
                    && !l.ends_with(" 0")),
            "{m}"
        );
        assert!(
            m.contains("fleuve_redundancy_mirrors_total{event=\"downloaded\"} 1"),
            "{m}"
        );

        // A stops: on B's page the video still plays, from B's mirror alone.
        a.stop();
        let up = client().get(b.url("/api/v1/config")).send().await;
        assert!(
            up.is_ok_and(|r| r.status() == 200),
            "B is down:\n{}",
            b.log()
        );
        let w = scenario(
            "mirror",
            json!({"base": b.base, "short": format!("{short}?p2p=0"), "out": artifacts()}),
        );
        let sources = w["segmentSources"].as_object().unwrap();
        assert_eq!(sources.keys().collect::<Vec<_>>(), [&b.base], "{w}");
        assert!(
            w["playlistSources"]
                .as_object()
                .unwrap()
                .contains_key(&b.base),
            "{w}"
        );
        assert_eq!(w["originDown"], true, "{w}");
        assert_eq!(w["rejected"]["http"], 0, "{w}");
    });
}
