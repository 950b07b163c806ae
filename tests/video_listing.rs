//! Listing, sorting, filters and search on a store with many videos, and views and likes
//! through HTTP (issue 14). The many videos are written through the store API into the data
//! dir of a real server (an upload each would take hours); a real upload checks that the
//! update path keeps the indexes in step.

mod common;

use common::*;
use fleuve::store::tables::{Sequence, SequenceKey};
use fleuve::store::video_index::{sort_value, SortKey};
use fleuve::store::videos::VideoByUuidKey;
use fleuve::store::{Batch, Durability, Store};
use fleuve::video::meta::VideoStats;
use fleuve::video::{Privacy, Video, VideoState};
use serde_json::Value;
use std::collections::HashMap;

const N: u64 = 1500;
const WORDS: [&str; 7] = [
    "river", "mountain", "city", "forest", "ocean", "desert", "island",
];
const KINDS: [&str; 5] = ["walk", "timelapse", "documentary", "music", "drone"];

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Video `i` of the fixture: every field varies on its own cycle.
fn fixture(i: u64) -> Video {
    let base = 1_700_000_000;
    let mut v = Video::example(
        i,
        &format!(
            "{} {} {i}",
            WORDS[(i % 7) as usize],
            KINDS[(i % 5) as usize]
        ),
        base + (i * 7919) % N * 60,
    );
    if i.is_multiple_of(50) {
        v.name = format!("Café crème {i}");
    }
    v.created_at = base + i;
    v.duration = ((i * 37) % 600 + 1) as f64;
    v.meta.category = (!i.is_multiple_of(3)).then_some((i % 18 + 1) as u32);
    v.meta.language = Some(["en", "fr", "de"][(i % 3) as usize].to_string());
    v.meta.tags = vec![format!("t{}", i % 10), "common".into()];
    if i.is_multiple_of(4) {
        v.meta.tags.push("Quatre".into());
    }
    v.meta.nsfw = i.is_multiple_of(10);
    if i.is_multiple_of(5) {
        v.meta.originally_published_at = Some(1_000 + i);
    }
    if i.is_multiple_of(100) {
        v.description = Some("A long documentary about rivers and their deltas".into());
    }
    if i.is_multiple_of(17) {
        v.privacy = Privacy::Private;
    }
    if i.is_multiple_of(23) {
        v.state = VideoState::ToTranscode;
    }
    if i.is_multiple_of(11) {
        // Another user's, in another channel: left out of root's account and channel lists.
        v.owner = 2;
        v.channel_id = 2;
    }
    v
}

/// Starts a server, stops it (root and its channel exist), fills its store, starts it again.
fn filled_server(dir: &std::path::Path) -> (Server, Vec<Video>) {
    let mut s = Server::start_in(dir, Options::default());
    s.stop();
    let store = Store::open(&dir.join("meta")).unwrap();
    let videos: Vec<Video> = (1..=N).map(fixture).collect();
    for chunk in videos.chunks(500) {
        let mut b = Batch::default();
        for v in chunk {
            b.put_video(v);
            b.put(&store, &VideoByUuidKey(v.uuid.clone()), &v.id)
                .unwrap();
        }
        store.write(b, Durability::Buffered).unwrap();
    }
    store
        .put(&SequenceKey(Sequence::Video), &N, Durability::Sync)
        .unwrap();
    let today = now() / 86_400;
    // Video 7: 10 views a month ago (views, not trending); 5 and 6 viewed today.
    for _ in 0..10 {
        store.record_view(7, today - 30).unwrap();
    }
    for (id, n) in [(5, 3), (6, 2)] {
        for _ in 0..n {
            store.record_view(id, today).unwrap();
        }
    }
    for user in 100..103 {
        store.rate(user, 8, Some(true)).unwrap();
    }
    store.rate(100, 9, Some(true)).unwrap();
    store.flush().unwrap();
    drop(store);
    (Server::start_in(dir, Options::default()), videos)
}

fn ids(page: &Value) -> Vec<u64> {
    page["data"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {page}"))
        .iter()
        .map(|v| v["id"].as_u64().unwrap())
        .collect()
}

/// The first `n` ids of `videos` kept by `keep`, ordered by `key` (ties by id).
fn expect<K: Ord>(
    videos: &[Video],
    keep: impl Fn(&Video) -> bool,
    key: impl Fn(&Video) -> K,
    desc: bool,
    n: usize,
) -> (usize, Vec<u64>) {
    let mut v: Vec<&Video> = videos.iter().filter(|v| keep(v)).collect();
    v.sort_by(|a, b| key(a).cmp(&key(b)).then(a.id.cmp(&b.id)));
    if desc {
        v.reverse();
    }
    (v.len(), v.iter().take(n).map(|v| v.id).collect())
}

async fn get(s: &Server, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut r = client().get(s.url(path));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[test]
fn many_videos_are_paged_sorted_filtered_and_searched_through_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let (s, videos) = filled_server(dir.path());
    let listed = |v: &Video| v.is_listed();
    let published = |v: &Video| v.published_at.unwrap();
    rt().block_on(async {
        // Default: -publishedAt, 15 per page, total of the listed videos.
        let page = get_json(&s, "/api/v1/videos").await;
        let (total, first) = expect(&videos, listed, published, true, 15);
        assert_eq!(page["total"], total as u64, "{page}");
        assert_eq!(ids(&page), first);
        let page = get_json(&s, "/api/v1/videos?start=15&count=100&sort=publishedAt").await;
        let (_, want) = expect(&videos, listed, published, false, 115);
        assert_eq!(ids(&page), want[15..]);
        // Each sort order.
        let name = |v: &Video| fleuve::video::text::normalise(&v.name);
        let (_, want) = expect(&videos, listed, name, false, 20);
        assert_eq!(ids(&get_json(&s, "/api/v1/videos?sort=name&count=20").await), want);
        let (_, want) = expect(&videos, listed, name, true, 20);
        assert_eq!(ids(&get_json(&s, "/api/v1/videos?sort=-name&count=20").await), want);
        let dur = |v: &Video| v.duration as u64;
        let (_, want) = expect(&videos, listed, dur, true, 30);
        assert_eq!(ids(&get_json(&s, "/api/v1/videos?sort=-duration&count=30").await), want);
        let created = |v: &Video| v.created_at;
        let (_, want) = expect(&videos, listed, created, true, 10);
        assert_eq!(ids(&get_json(&s, "/api/v1/videos?sort=-createdAt&count=10").await), want);
        let orig = |v: &Video| v.meta.originally_published_at.unwrap_or(published(v));
        let (_, want) = expect(&videos, listed, orig, false, 10);
        assert_eq!(
            ids(&get_json(&s, "/api/v1/videos?sort=originallyPublishedAt&count=10").await),
            want
        );
        let page = get_json(&s, "/api/v1/videos?sort=-views&count=3").await;
        assert_eq!(ids(&page), [7, 5, 6], "{page}");
        assert_eq!(page["data"][0]["views"], 10);
        let page = get_json(&s, "/api/v1/videos?sort=-trending&count=2").await;
        assert_eq!(ids(&page), [5, 6], "a month-old view does not trend: {page}");
        let page = get_json(&s, "/api/v1/videos?sort=-likes&count=2").await;
        assert_eq!(ids(&page), [8, 9]);
        assert_eq!(page["data"][0]["likes"], 3);
        let stats: HashMap<u64, VideoStats> = HashMap::from([
            (5, VideoStats { views: 3, window_views: 3, ..Default::default() }),
            (6, VideoStats { views: 2, window_views: 2, ..Default::default() }),
            (7, VideoStats { views: 10, ..Default::default() }),
            (8, VideoStats { likes: 3, ..Default::default() }),
            (9, VideoStats { likes: 1, ..Default::default() }),
        ]);
        let hot = |v: &Video| {
            sort_value(SortKey::Hot, v, &stats.get(&v.id).copied().unwrap_or_default())
        };
        let (_, want) = expect(&videos, listed, hot, true, 15);
        assert_eq!(ids(&get_json(&s, "/api/v1/videos?sort=-hot").await), want);
        assert_eq!(ids(&get_json(&s, "/api/v1/videos?sort=-best").await), want);

        // The account and channel lists are this list narrowed to the owner or channel: every
        // sort and filter of GET /api/v1/videos applies to them.
        let roots = |v: &Video| listed(v) && v.owner == 1 && !v.meta.nsfw;
        let (total, want) = expect(&videos, roots, name, true, 20);
        for path in [
            "/api/v1/accounts/root/videos?sort=-name&count=20&nsfw=false",
            "/api/v1/video-channels/root_channel/videos?sort=-name&count=20&nsfw=false",
        ] {
            let page = get_json(&s, path).await;
            assert_eq!(page["total"], total as u64, "{path}");
            assert_eq!(ids(&page), want, "{path}");
        }
        let page = get_json(&s, "/api/v1/video-channels/root_channel/videos?sort=-trending&count=2").await;
        assert_eq!(ids(&page), [5, 6], "{page}");

        // Filters, with their totals.
        let check = |path: &'static str, keep: Box<dyn Fn(&Video) -> bool>| {
            let (total, want) = expect(&videos, |v| listed(v) && keep(v), published, true, 15);
            let s = &s;
            async move {
                let page = get_json(s, path).await;
                assert_eq!(page["total"], total as u64, "{path}: {page}");
                assert_eq!(ids(&page), want, "{path}");
                assert!(total > 0 || path.contains("isLocal=false"), "{path} matches nothing");
            }
        };
        check("/api/v1/videos?categoryOneOf=3&categoryOneOf=5", Box::new(|v| matches!(v.meta.category, Some(3 | 5)))).await;
        check("/api/v1/videos?languageOneOf=fr", Box::new(|v| v.meta.language.as_deref() == Some("fr"))).await;
        check("/api/v1/videos?tagsOneOf=t1&tagsOneOf=t2", Box::new(|v| v.meta.tags.iter().any(|t| t == "t1" || t == "t2"))).await;
        check("/api/v1/videos?tagsAllOf[]=quatre&tagsAllOf[]=t4", Box::new(|v| v.id.is_multiple_of(4) && v.id % 10 == 4)).await;
        check("/api/v1/videos?nsfw=false", Box::new(|v| !v.meta.nsfw)).await;
        check("/api/v1/videos?nsfw=true&languageOneOf=en", Box::new(|v| v.meta.nsfw && v.meta.language.as_deref() == Some("en"))).await;
        check("/api/v1/videos?isLocal=false", Box::new(|_| false)).await;
        check("/api/v1/videos?durationMin=100&durationMax=120", Box::new(|v| (100.0..=120.0).contains(&v.duration))).await;

        // privacyOneOf is for administrators, and then shows private videos.
        let (status, body) = get(&s, "/api/v1/videos?privacyOneOf=3", None).await;
        assert_eq!(status, 401, "{body}");
        let (token, _) = login(&s).await;
        let page = get_json_as(&s, "/api/v1/videos?privacyOneOf=3&count=100", &token).await;
        let (total, want) = expect(&videos, |v| v.privacy == Privacy::Private, published, true, 100);
        assert_eq!(page["total"], total as u64);
        assert_eq!(ids(&page), want);

        // Search: every token (accents folded, last one as a prefix), ranked by -match.
        let page = get_json(&s, "/api/v1/search/videos?search=CAFE%20creme&count=100").await;
        let (total, _) = expect(&videos, |v| listed(v) && v.id.is_multiple_of(50), published, true, 100);
        assert_eq!(page["total"], total as u64, "{page}");
        assert!(ids(&page).iter().all(|id| id.is_multiple_of(50)));
        let page = get_json(&s, "/api/v1/search/videos?search=rivers&count=100").await;
        let want: Vec<u64> = {
            let (_, w) = expect(&videos, |v| listed(v) && v.id.is_multiple_of(100), published, true, 100);
            w
        };
        let mut got = ids(&page);
        got.sort();
        let mut want_sorted = want.clone();
        want_sorted.sort();
        assert_eq!(got, want_sorted, "description hits: {page}");
        // "river walk" in the name outranks "rivers" in the description.
        let page = get_json(&s, "/api/v1/search/videos?search=river%20wal&sort=-match&count=100").await;
        let got = ids(&page);
        let (total, _) = expect(&videos, |v| listed(v) && v.id.is_multiple_of(7) && v.id.is_multiple_of(5) && !v.id.is_multiple_of(50), published, true, 100);
        assert_eq!(got.len(), total, "{page}");
        let page = get_json(
            &s,
            "/api/v1/search/videos?search=ocean&durationMin=300&startDate=2023-11-14T22:30:00Z&sort=-publishedAt&count=100",
        )
        .await;
        let (_, want) = expect(
            &videos,
            |v| listed(v) && v.id % 7 == 4 && !v.id.is_multiple_of(50) && v.duration >= 300.0 && published(v) >= 1_700_001_000,
            published,
            true,
            100,
        );
        assert_eq!(ids(&page), want);
        let page = get_json(&s, "/api/v1/search/video-channels?search=root").await;
        assert_eq!(page["total"], 1, "{page}");
        assert_eq!(page["data"][0]["name"], "root_channel");
        let page = get_json(&s, "/api/v1/search/video-channels?search=nobody").await;
        assert_eq!(page["total"], 0);
    });
}

#[test]
fn bad_list_and_search_parameters_are_peertube_400s_naming_the_value() {
    let s = Server::start();
    rt().block_on(async {
        for (path, param, value) in [
            ("/api/v1/videos?sort=-nope", "sort", "-nope"),
            ("/api/v1/videos?sort=match", "sort", "match"),
            ("/api/v1/videos?start=-1", "start", "-1"),
            (
                "/api/v1/videos?start=99999999999999999999",
                "start",
                "99999999999999999999",
            ),
            ("/api/v1/videos?count=101", "count", "101"),
            ("/api/v1/videos?count=abc", "count", "abc"),
            (
                "/api/v1/videos?categoryOneOf=music",
                "categoryOneOf",
                "music",
            ),
            ("/api/v1/videos?nsfw=perhaps", "nsfw", "perhaps"),
            ("/api/v1/videos?isLocal=yes", "isLocal", "yes"),
            (
                "/api/v1/videos?languageOneOf=%3Cscript%3E",
                "languageOneOf",
                "<script>",
            ),
            ("/api/v1/search/videos?search=a%00b", "search", "a\u{0}b"),
            (
                "/api/v1/search/videos?search=x&startDate=yesterday",
                "startDate",
                "yesterday",
            ),
            (
                "/api/v1/search/videos?search=x&durationMin=-5",
                "durationMin",
                "-5",
            ),
            (
                "/api/v1/search/video-channels?search=a%0Ab",
                "search",
                "a\nb",
            ),
        ] {
            let r = client().get(s.url(path)).send().await.unwrap();
            assert_eq!(r.status(), 400, "{path}");
            assert!(r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/problem+json"));
            let body: Value = r.json().await.unwrap();
            assert_eq!(
                body["invalid-params"][param]["value"], value,
                "{path}: {body}"
            );
            assert!(body["detail"].as_str().unwrap().contains(param), "{body}");
        }
        let long = "a".repeat(251);
        let (status, body) = get(&s, &format!("/api/v1/search/videos?search={long}"), None).await;
        assert_eq!(status, 400, "{body}");
        assert!(body["detail"].as_str().unwrap().contains("251"), "{body}");
        // Unknown sorts were 400 before and stay so; known ones answer.
        for sort in [
            "-trending",
            "-hot",
            "-best",
            "-views",
            "-likes",
            "-originallyPublishedAt",
            "name",
        ] {
            let (status, body) = get(&s, &format!("/api/v1/videos?sort={sort}"), None).await;
            assert_eq!(status, 200, "{sort}: {body}");
        }
    });
}

#[test]
fn views_are_counted_once_per_viewer_and_ratings_once_per_user() {
    let s = Server::start();
    rt().block_on(async {
        let (token, _) = login(&s).await;
        let v = publish_clip(&s, &token, "320x240", 2).await;
        let uuid = v["uuid"].as_str().unwrap().to_string();
        // Metadata set by PUT reaches the filters and the search index.
        let r = client()
            .put(s.url(&format!("/api/v1/videos/{uuid}")))
            .bearer_auth(&token)
            .json(&serde_json::json!({"tags": ["Kayak", "été"], "category": 5, "language": "fr", "name": "Descente de l'Ardèche"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
        let page = get_json(&s, "/api/v1/videos?tagsOneOf=kayak&categoryOneOf=5").await;
        assert_eq!(page["total"], 1, "{page}");
        assert_eq!(page["data"][0]["category"]["label"], "Sports");
        let details = get_json(&s, &format!("/api/v1/videos/{uuid}")).await;
        assert_eq!(details["tags"], serde_json::json!(["Kayak", "été"]));
        assert_eq!(details["language"]["id"], "fr");
        let page = get_json(&s, "/api/v1/search/videos?search=ardeche%20ete").await;
        assert_eq!(page["total"], 1, "{page}");
        let page = get_json(&s, "/api/v1/search/videos?search=clip").await;
        assert_eq!(page["total"], 0, "the old name left the index: {page}");

        let view = |body: Value| {
            let (s, uuid) = (&s, uuid.clone());
            async move {
                client()
                    .post(s.url(&format!("/api/v1/videos/{uuid}/views")))
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        };
        let views = || async { get_json(&s, &format!("/api/v1/videos/{uuid}")).await["views"].clone() };
        assert_eq!(view(serde_json::json!({"currentTime": 0.5})).await, 204);
        assert_eq!(views().await, 0, "half of a 2 s video was not watched yet");
        assert_eq!(view(serde_json::json!({"currentTime": 1})).await, 204);
        assert_eq!(views().await, 1);
        assert_eq!(view(serde_json::json!({"currentTime": 2, "viewEvent": "seek"})).await, 204);
        assert_eq!(views().await, 1, "the same viewer within the hour counts once");
        assert_eq!(view(serde_json::json!({"currentTime": -1})).await, 400);
        assert_eq!(view(serde_json::json!({})).await, 400);
        assert_eq!(view(serde_json::json!({"currentTime": 1, "viewEvent": "dance"})).await, 400);
        let page = get_json(&s, "/api/v1/videos?sort=-trending").await;
        assert_eq!(page["data"][0]["views"], 1);

        let rate = |rating: &'static str, auth: bool| {
            let (s, uuid, token) = (&s, uuid.clone(), token.clone());
            async move {
                let mut r = client()
                    .put(s.url(&format!("/api/v1/videos/{uuid}/rate")))
                    .json(&serde_json::json!({ "rating": rating }));
                if auth {
                    r = r.bearer_auth(token);
                }
                r.send().await.unwrap().status().as_u16()
            }
        };
        let mine = || async {
            get_json_as(&s, &format!("/api/v1/users/me/videos/{uuid}/rating"), &token).await
        };
        assert_eq!(mine().await["rating"], "none");
        assert_eq!(rate("like", false).await, 401);
        assert_eq!(rate("love", true).await, 400);
        assert_eq!(rate("like", true).await, 204);
        assert_eq!(rate("like", true).await, 204);
        let v = get_json(&s, &format!("/api/v1/videos/{uuid}")).await;
        assert_eq!((v["likes"].clone(), v["dislikes"].clone()), (1.into(), 0.into()));
        assert_eq!(mine().await["rating"], "like");
        assert_eq!(rate("dislike", true).await, 204);
        let v = get_json(&s, &format!("/api/v1/videos/{uuid}")).await;
        assert_eq!((v["likes"].clone(), v["dislikes"].clone()), (0.into(), 1.into()));
        assert_eq!(rate("none", true).await, 204);
        let v = get_json(&s, &format!("/api/v1/videos/{uuid}")).await;
        assert_eq!((v["likes"].clone(), v["dislikes"].clone()), (0.into(), 0.into()));
        assert_eq!(mine().await["rating"], "none");
    });
}
