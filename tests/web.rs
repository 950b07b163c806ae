//! The web pages and the player, checked over HTTP and in a real browser: Debian's Chromium
//! driven by playwright-core (`tests/clients/browser.mjs`), on loopback only. The watch page
//! plays, two viewers exchange segments through our tracker (each one checked against the
//! segments-sha256 JSON), the embed plays inside another origin's iframe, a video uploaded
//! through the upload page gets published, and a private video plays for its owner only. Screenshots go to `target/test-artifacts/`.

mod common;

use common::browser::*;
use common::*;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

/// GET with an `Accept` header; status, content type and body.
async fn get_text(s: &Server, path: &str, accept: &str) -> (u16, String, String) {
    let r = client()
        .get(s.url(path))
        .header("accept", accept)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, ct, r.text().await.unwrap_or_default())
}

const HTML: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
/// A title that would break out of HTML if anything forgot to escape it.
const NASTY_TITLE: &str = "Clip <script>alert(1)</script> & \"friends\"";

/// Uploads a generated clip under `name` and waits until it is published.
async fn publish_named(s: &Server, token: &str, name: &str, secs: u32) -> Value {
    let src = clip(&s.dir, "page-clip.mp4", "640x360", 25, secs, true);
    let (status, body) = upload_multipart(s, token, &src, name).await;
    assert_eq!(status, 200, "{body}");
    let uuid = body["video"]["uuid"].as_str().unwrap().to_string();
    let v = wait_state(s, token, &uuid, &[1, 7]).await;
    assert_eq!(v["state"]["id"], 1, "{v}\n{}", s.log());
    v
}

/// The watch page, its tags and oEmbed over plain HTTP, then in Chromium: playback, the quality
/// menu, keyboard, P2P between two viewers, the embed on another origin, and the home and admin
/// pages (screenshots of each).
#[test]
fn pages_player_and_p2p_in_chromium() {
    require_browser();
    let s = Server::start();
    let rt = rt();
    let video = rt.block_on(async {
        let (token, _) = login(&s).await;
        publish_named(&s, &token, NASTY_TITLE, 40).await
    });
    let uuid = video["uuid"].as_str().unwrap().to_string();
    let short = video["shortUUID"].as_str().unwrap().to_string();
    let rungs = video["streamingPlaylists"][0]["files"]
        .as_array()
        .unwrap()
        .len();

    rt.block_on(async {
        // Browsers get the watch page at both addresses; federation clients still get JSON.
        for path in [format!("/w/{short}"), format!("/videos/watch/{uuid}")] {
            let (status, ct, body) = get_text(&s, &path, HTML).await;
            assert_eq!(status, 200, "{path}: {body}");
            assert!(ct.starts_with("text/html"), "{path}: {ct}");
            assert!(
                !body.contains("<script>alert(1)"),
                "unescaped title in {path}"
            );
            assert!(
                body.contains(
                    "Clip &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;friends&quot;"
                ),
                "{path} lacks the escaped title"
            );
            assert!(
                body.contains("<meta property=\"og:title\""),
                "{path}: no Open Graph"
            );
            assert!(body.contains(&format!(
                "<meta property=\"og:video:url\" content=\"{}\">",
                s.url(&format!("/videos/embed/{uuid}"))
            )));
            assert!(
                body.contains("type=\"application/json+oembed\""),
                "{path}: no oEmbed discovery link"
            );
        }
        let (status, ct, _) = get_text(
            &s,
            &format!("/videos/watch/{uuid}"),
            "application/activity+json",
        )
        .await;
        assert_eq!(status, 200);
        assert!(ct.starts_with("application/activity+json"), "{ct}");

        // oEmbed for our watch URL.
        let page = s.url(&format!("/w/{short}"));
        let o: Value = client()
            .get(s.url("/services/oembed"))
            .query(&[("url", page.as_str()), ("format", "json")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(o["type"], "video", "{o}");
        assert_eq!(o["title"], NASTY_TITLE);
        let html = o["html"].as_str().unwrap();
        assert!(
            html.starts_with("<iframe") && html.contains(&format!("/videos/embed/{uuid}")),
            "{html}"
        );
        assert!(!html.contains("<script>"), "{html}");
        assert!(o["thumbnail_url"].as_str().is_some(), "{o}");
    });

    let out = artifacts();
    let base_opts = json!({
        "base": s.base, "short": short, "uuid": uuid, "out": out,
        "user": "root", "password": ROOT_PASSWORD,
    });

    // 1. The watch page plays.
    let w = scenario("watch", base_opts.clone());
    assert_eq!(w["bytesBeforePlay"], 0, "segments loaded before play: {w}");
    let st = &w["state"];
    assert!(st["currentTime"].as_f64().unwrap() > 3.0, "{w}");
    let fatal: Vec<&Value> = st["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["fatal"] == true)
        .collect();
    assert!(fatal.is_empty(), "player errors: {fatal:?}");
    assert!(st["mediaError"].is_null(), "media error: {w}");
    let menu: Vec<&str> = st["menu"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert_eq!(menu.len(), rungs + 1, "Auto plus every rung: {menu:?}");
    for f in video["streamingPlaylists"][0]["files"].as_array().unwrap() {
        let label = f["resolution"]["label"].as_str().unwrap();
        assert!(menu.contains(&label), "{label} missing from {menu:?}");
    }
    assert!(st["validated"]["http"].as_u64().unwrap() > 0, "{w}");
    assert_eq!(st["rejected"]["http"], 0, "{w}");
    assert!(
        w["keyboard"]["after"]["t"].as_f64().unwrap()
            > w["keyboard"]["before"].as_f64().unwrap() + 3.0,
        "ArrowRight did not seek: {}",
        w["keyboard"]
    );
    let seek = &w["keyboard"]["afterSeek"];
    assert!(
        seek["mediaError"].is_null()
            && seek["fatalErrors"].as_array().is_some_and(|e| e.is_empty()),
        "playback broke after seeking: {seek}"
    );
    assert!(seek["currentTime"].as_f64().is_some(), "{seek}");
    assert_eq!(w["head"]["ogTitle"], NASTY_TITLE);
    assert!(out.join("watch.png").is_file());

    // 2. P2P: the second viewer gets segments from the first through our tracker.
    let p = scenario("p2p", base_opts.clone());
    let second = &p["second"];
    let from_peers = second["bytes"]["p2p"].as_u64().unwrap();
    let from_http = second["bytes"]["http"].as_u64().unwrap();
    assert!(from_peers > 0, "no bytes from peers: {p}");
    let peer_segments = second["segments"]["p2p"].as_u64().unwrap();
    assert!(peer_segments > 0, "{p}");
    assert_eq!(
        second["validated"]["p2p"].as_u64().unwrap(),
        peer_segments,
        "every peer segment is checked: {p}"
    );
    assert_eq!(
        second["rejected"]["p2p"], 0,
        "a peer segment failed sha256: {p}"
    );
    assert!(p["first"]["uploaded"].as_u64().unwrap() > 0, "{p}");
    eprintln!(
        "P2P: second viewer got {from_peers} bytes from peers and {from_http} over HTTP ({:.0}% from peers), {peer_segments} segments from peers, all sha256-valid",
        100.0 * from_peers as f64 / (from_peers + from_http).max(1) as f64
    );

    // 3. The embed plays inside an iframe of another origin.
    let e = scenario("embed", base_opts.clone());
    assert_ne!(e["origins"]["top"], e["origins"]["frame"], "{e}");
    assert!(e["state"]["currentTime"].as_f64().unwrap() > 2.0, "{e}");
    assert!(out.join("embed.png").is_file());

    // 4. Home and admin pages.
    let pg = scenario("pages", base_opts);
    assert!(pg["cards"].as_u64().unwrap() >= 1, "{pg}");
    assert_eq!(pg["firstFocus"], "Skip to content", "{pg}");
    assert_eq!(pg["loginError"], "Wrong user name or password.", "{pg}");
    assert_eq!(pg["a11y"]["imagesWithoutAlt"], 0, "{pg}");
    let admin = &pg["admin"];
    assert!(
        admin["jobs"].as_str().unwrap().contains("libx264"),
        "per-rung encoders: {admin}"
    );
    // The federation queue, or a labelled placeholder while the status does not report it.
    assert!(
        !admin["federation"].as_str().unwrap().trim().is_empty(),
        "{admin}"
    );
    assert!(admin["sessionLink"]
        .as_str()
        .unwrap()
        .starts_with("Log out"));
    for shot in ["home.png", "admin.png", "watch-p2p.png"] {
        assert!(out.join(shot).is_file(), "{shot}");
    }
}

/// Upload through the page: login, resumable upload with progress, transcode progress, then the
/// watch page of the published video.
#[test]
fn upload_through_the_page() {
    require_browser();
    let s = Server::start();
    let src = clip(&s.dir, "upload-page.mp4", "320x240", 25, 6, true);
    let r = scenario(
        "upload",
        json!({
            "base": s.base, "out": artifacts(), "clip": src,
            "user": "root", "password": ROOT_PASSWORD,
        }),
    );
    assert_eq!(r["askedToLogin"], true, "{r}");
    let phases: Vec<&str> = r["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(phases.contains(&"published"), "{r}");
    assert_eq!(r["watchTitle"], "Uploaded from the page", "{r}");
    let uuid = r["state"]["video"]["uuid"].as_str().unwrap().to_string();
    let v = rt().block_on(async {
        let (token, _) = login(&s).await;
        get_video(&s, &token, &uuid).await.1
    });
    assert_eq!(v["name"], "Uploaded from the page");
    assert_eq!(v["state"]["id"], 1);
}

/// Everything that needs no browser and no video: empty home, page shells, assets with their
/// types and caching, refusals.
#[test]
fn pages_assets_and_refusals() {
    let s = Server::start();
    rt().block_on(async {
        let (status, ct, body) = get_text(&s, "/", HTML).await;
        assert_eq!(status, 200);
        assert!(ct.starts_with("text/html"), "{ct}");
        assert!(body.contains("No videos here yet"), "{body}");
        for path in ["/login", "/upload", "/admin"] {
            let r = client().get(s.url(path)).send().await.unwrap();
            assert_eq!(r.status().as_u16(), 200, "{path}");
            let csp = r.headers()["content-security-policy"].to_str().unwrap();
            assert!(csp.contains("frame-ancestors 'self'"), "{path}: {csp}");
        }
        assert_eq!(status_of(&s, "/?page=0").await, 400);
        assert_eq!(status_of(&s, "/?page=x").await, 400);
        // Far past the end: an empty page, not a long walk or an overflow.
        assert_eq!(status_of(&s, "/?page=18446744073709551615").await, 200);

        // Our own assets: versioned URLs are immutable, the rest revalidate.
        let r = client()
            .get(s.url("/assets/style.css?v=wrong"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(r.headers()["content-type"], "text/css; charset=utf-8");
        assert_eq!(r.headers()["cache-control"], "no-cache");
        let etag = r.headers()["etag"].to_str().unwrap().to_string();
        let r = client()
            .get(s.url("/assets/style.css"))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 304);
        let (_, _, home) = get_text(&s, "/", HTML).await;
        let versioned = home
            .split("href=\"")
            .find_map(|p| p.strip_prefix("/assets/style.css?v="))
            .and_then(|p| p.split('"').next())
            .expect("versioned stylesheet link");
        let r = client()
            .get(s.url(&format!("/assets/style.css?v={versioned}")))
            .send()
            .await
            .unwrap();
        assert!(r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable"));

        // The npm files setup copied, gzip when asked.
        if Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("web/dist/hls.min.js")
            .is_file()
        {
            let r = client()
                .get(s.url("/assets/vendor/hls.min.js"))
                .header("accept-encoding", "gzip")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
            assert_eq!(
                r.headers()["content-type"],
                "text/javascript; charset=utf-8"
            );
            assert_eq!(r.headers()["content-encoding"], "gzip");
            assert!(r.headers()["cache-control"]
                .to_str()
                .unwrap()
                .contains("max-age"));
        }
        for bad in [
            "/assets/vendor/..%2F..%2FCargo.toml",
            "/assets/vendor/.hidden",
            "/assets/vendor/missing.js",
            "/assets/nothing.js",
        ] {
            assert_eq!(status_of(&s, bad).await, 404, "{bad}");
        }

        // Embeds and oEmbed of what does not exist.
        let (status, ct, _) = get_text(
            &s,
            "/videos/embed/00000000-0000-4000-8000-000000000000",
            HTML,
        )
        .await;
        assert_eq!(status, 404);
        assert!(ct.starts_with("text/html"));
        // A browser following a dead watch link gets a page; a federation client gets JSON.
        let (status, ct, body) = get_text(&s, "/w/aaaaaaaaaaaaaaaaaaaaaa", HTML).await;
        assert_eq!(status, 404);
        assert!(
            ct.starts_with("text/html") && body.contains("Video not found"),
            "{ct}"
        );
        let (status, ct, _) = get_text(
            &s,
            "/videos/watch/00000000-0000-4000-8000-000000000000",
            "application/activity+json",
        )
        .await;
        assert_eq!(status, 404);
        assert!(ct.starts_with("application/problem+json"), "{ct}");
        assert_eq!(status_of(&s, "/services/oembed").await, 400);
        let foreign = "/services/oembed?url=https%3A%2F%2Fother.example%2Fw%2Fabc";
        assert_eq!(status_of(&s, foreign).await, 404);
        let xml = format!(
            "/services/oembed?format=xml&url={}",
            s.url("/w/abc").replace(':', "%3A").replace('/', "%2F")
        );
        assert_eq!(status_of(&s, &xml).await, 501);
    });
}

/// What the admin page reads: `/api/v1/admin/status` with jobs (each rung's encoder, and its
/// frame rate while running), hardware, tracker and cache, for administrators only.
#[test]
fn admin_status_reports_jobs_hardware_tracker_and_cache() {
    let s = Server::start();
    rt().block_on(async {
        assert_eq!(status_of(&s, "/api/v1/admin/status").await, 401);
        let (token, _) = login(&s).await;
        let src = clip(&s.dir, "admin.mp4", "1280x720", 25, 8, true);
        let (status, body) = upload_multipart(&s, &token, &src, "Admin view").await;
        assert_eq!(status, 200, "{body}");
        let uuid = body["video"]["uuid"].as_str().unwrap().to_string();
        let status_doc = || async {
            client()
                .get(s.url("/api/v1/admin/status"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        };
        // While the job runs, each rung shows its encoder and speed; once done, the encoder
        // each rung ended on.
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut seen_running = false;
        let doc = loop {
            let doc = status_doc().await;
            let running = doc["jobs"]["running"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if let Some(job) = running.iter().find(|j| j["video"] == uuid.as_str()) {
                let rungs = job["rungs"].as_array().cloned().unwrap_or_default();
                if rungs.iter().any(|r| r["fps"].as_f64().unwrap_or(0.0) > 0.0) {
                    assert!(
                        rungs.iter().all(|r| r["resolution"].as_u64().is_some()),
                        "{job}"
                    );
                    seen_running = true;
                }
            }
            let recent = doc["jobs"]["recent"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if recent
                .iter()
                .any(|j| j["video"] == uuid.as_str() && j["state"] == "done")
            {
                break doc;
            }
            assert!(Instant::now() < deadline, "job never finished: {doc}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let job = doc["jobs"]["recent"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["video"] == uuid.as_str())
            .unwrap()
            .clone();
        assert_eq!(job["name"], "Admin view", "{job}");
        let rungs = job["rungs"].as_array().unwrap();
        assert!(rungs.len() >= 2, "{job}");
        assert!(
            rungs
                .iter()
                .all(|r| !r["encoder"].as_str().unwrap_or("").is_empty()),
            "{job}"
        );
        assert_eq!(doc["jobs"]["counts"]["done"], 1, "{doc}");
        eprintln!("admin status: running job observed with per-rung fps: {seen_running}");
        assert!(
            doc["hardware"]["backends"].as_array().is_some_and(|b| b
                .iter()
                .any(|b| b["backend"] == "software" && b["available"] == true)),
            "{}",
            doc["hardware"]
        );
        assert!(doc["hardware"]["report"].as_str().is_some());
        for key in ["swarms", "peers", "webtorrentPeers", "offersRelayed"] {
            assert!(
                doc["tracker"][key].as_u64().is_some(),
                "tracker.{key}: {doc}"
            );
        }
        assert!(doc["cache"]["hits"].as_u64().is_some(), "{doc}");
        assert!(doc["cache"].get("hitRate").is_some(), "{doc}");
    });
}

#[test]
fn a_private_video_plays_for_its_owner_in_chromium() {
    require_browser();
    let s = Server::start_with(Options {
        env: vec![
            ("FLEUVE_ENGINE_SHARDS".into(), "2".into()),
            ("FLEUVE_TRANSCODE_RESOLUTIONS".into(), "240".into()),
        ],
        args: vec![],
    });
    let v = rt().block_on(async {
        let token = login(&s).await.0;
        let v = publish_named(&s, &token, "Secret clip", 4).await;
        let uuid = v["uuid"].as_str().unwrap();
        let r = client()
            .put(s.url(&format!("/api/v1/videos/{uuid}")))
            .bearer_auth(&token)
            .json(&json!({"privacy": 3}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 204);
        v
    });
    let result = scenario(
        "private",
        json!({
            "base": s.base,
            "short": v["shortUUID"],
            "out": artifacts(),
            "user": "root",
            "password": ROOT_PASSWORD,
        }),
    );
    assert_eq!(result["title"], "Secret clip", "{result}");
    assert_eq!(result["state"]["p2pEnabled"], false, "{result}");
}

/// Issue 14: a viewer's first click in the middle of the picture plays the video (a large play
/// button covers the picture until the first play), as on every video site.
#[test]
fn a_click_in_the_middle_of_the_player_plays() {
    require_browser();
    let s = Server::start();
    let video = rt().block_on(async {
        let (token, _) = login(&s).await;
        publish_named(&s, &token, "Click to play", 8).await
    });
    let r = scenario(
        "click",
        json!({
            "base": s.base, "short": video["shortUUID"], "out": artifacts(),
        }),
    );
    assert_eq!(r["before"]["paused"], true, "{r}");
    assert!(r["button"]["width"].as_f64().unwrap() > 300.0, "{r}");
    assert!(r["after"]["currentTime"].as_f64().unwrap() > 1.0, "{r}");
    assert_eq!(r["buttonHidden"], true, "{r}");
}
