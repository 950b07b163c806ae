//! `GET /api/v1/videos` and `GET /api/v1/search/videos` on 100 000 videos (and a user's quota
//! use), at the store/query
//! layer the handlers call (`api::video_list::page`, `api::video_search::search_videos`), with
//! the table scan that listing did before the indexes for comparison. Run with
//! `cargo bench --bench video_listing`; the figures are in `docs/benchmarks.md` ("Video
//! listing and search").

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use fleuve::api::video_list::{page, Query};
use fleuve::api::video_query::{Filter, Sort};
use fleuve::api::video_search::search_videos;
use fleuve::store::video_index::{Scope, SortKey};
use fleuve::store::videos::{VideoByUuidKey, VideoKey};
use fleuve::store::{Batch, Cf, Durability, Store};
use fleuve::video::text::tokens;
use fleuve::video::{Privacy, Video};
use std::time::Instant;

const N: u64 = 100_000;
const WORDS: [&str; 12] = [
    "river", "mountain", "city", "forest", "ocean", "desert", "island", "night", "train", "garden",
    "winter", "market",
];
const KINDS: [&str; 6] = [
    "walk",
    "timelapse",
    "documentary",
    "music",
    "drone",
    "tutorial",
];

/// A deterministic pseudo-random sequence (splitmix64).
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn video(i: u64) -> Video {
    let r = mix(i);
    let name = format!(
        "{} {} {} {i}",
        WORDS[(r % 12) as usize],
        KINDS[(r >> 8) as usize % 6],
        WORDS[(r >> 16) as usize % 12]
    );
    let mut v = Video::example(i, &name, 1_600_000_000 + (r >> 20) % 100_000_000);
    v.duration = ((r >> 40) % 3600) as f64;
    v.description = Some(format!(
        "Filmed near the {} with a {} in {}.",
        WORDS[(r >> 24) as usize % 12],
        KINDS[(r >> 28) as usize % 6],
        ["spring", "summer", "autumn"][(r >> 32) as usize % 3]
    ));
    v.meta.language = Some(["en", "fr", "de", "es"][(r >> 36) as usize % 4].into());
    v.meta.tags = vec![WORDS[(r >> 44) as usize % 12].into()];
    v.meta.nsfw = r.is_multiple_of(20);
    if r.is_multiple_of(13) {
        v.privacy = Privacy::Unlisted;
    }
    // Ten videos of another uploader among the 100 000 (the quota benchmarks).
    if i.is_multiple_of(10_000) {
        v.owner = 7;
    }
    v
}

fn fill() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("meta")).expect("store");
    let t = Instant::now();
    for chunk in (1..=N).collect::<Vec<_>>().chunks(2_000) {
        let mut b = Batch::default();
        for &i in chunk {
            let v = video(i);
            b.put(&store, &VideoByUuidKey(v.uuid.clone()), &i)
                .expect("put");
            b.put_video(&v);
        }
        store.write(b, Durability::Buffered).expect("write");
    }
    let today = fleuve::time::now_secs() / 86_400;
    // 50 000 views over 7 days, skewed towards low ids.
    for k in 0..50_000u64 {
        let r = mix(k ^ 0xfeed);
        let id = 1 + (r % N) * (r % N) / N;
        store
            .record_view(id, today - 6 + k * 7 / 50_000)
            .expect("view");
    }
    eprintln!("filled {N} videos and 50 000 views in {:.1?}", t.elapsed());
    let t = Instant::now();
    store.compact(Cf::VideoIndex).expect("compact");
    eprintln!("compacted video_index in {:.1?}", t.elapsed());
    (dir, store)
}

fn query(sort: SortKey, filter: Filter, start: usize) -> Query {
    Query {
        scope: Scope::Listed,
        sort,
        desc: true,
        filter,
        start,
        count: 15,
        with_total: true,
    }
}

fn listing(c: &mut Criterion) {
    let (_dir, store) = fill();
    let mut g = c.benchmark_group("videos_100k");
    g.sample_size(30);
    g.measurement_time(std::time::Duration::from_secs(3));
    let cases = [
        (
            "list_-publishedAt",
            query(SortKey::PublishedAt, Filter::default(), 0),
        ),
        (
            "list_-publishedAt_start_5000",
            query(SortKey::PublishedAt, Filter::default(), 5_000),
        ),
        (
            "list_-trending",
            query(SortKey::Trending, Filter::default(), 0),
        ),
        ("list_-hot", query(SortKey::Hot, Filter::default(), 0)),
        ("list_-views", query(SortKey::Views, Filter::default(), 0)),
        (
            "list_-publishedAt_languageOneOf_fr_nsfw_false",
            query(
                SortKey::PublishedAt,
                Filter {
                    languages: vec!["fr".into()],
                    nsfw: Some(false),
                    ..Filter::default()
                },
                0,
            ),
        ),
    ];
    for (name, q) in &cases {
        let (total, data) = page(&store, q).expect("page");
        eprintln!("{name}: total {total}, {} on the page", data.len());
        g.bench_function(*name, |b| {
            b.iter(|| black_box(page(&store, q).expect("page")))
        });
    }
    let searches = [
        ("search_rare_token", "12345"),
        ("search_one_word", "river"),
        ("search_two_words", "river documentary"),
        ("search_prefix", "mounta"),
        ("search_three_words_accents", "Forêt rivér SUMMER"),
    ];
    for (name, text) in searches {
        let terms = tokens(text);
        let q = query(SortKey::PublishedAt, Filter::default(), 0);
        let (total, _) = search_videos(&store, &terms, Sort::Match, &q).expect("search");
        eprintln!("{name} ({text:?}): total {total}");
        g.bench_function(name, |b| {
            b.iter(|| black_box(search_videos(&store, &terms, Sort::Match, &q).expect("search")))
        });
    }
    // Views arriving between compactions leave tombstones at the head of the trending order.
    let today = fleuve::time::now_secs() / 86_400;
    for k in 0..20_000u64 {
        store.record_view(1 + mix(k) % 200, today).expect("view");
    }
    let q = query(SortKey::Trending, Filter::default(), 0);
    g.bench_function("list_-trending_after_20k_uncompacted_views", |b| {
        b.iter(|| black_box(page(&store, &q).expect("page")))
    });
    // A user's quota use (`/users/me`, every upload): their videos through the owner entries,
    // against the walk of every video that it was.
    let of_owner = |store: &Store| -> u64 {
        store
            .videos_of_owner(7)
            .expect("owner")
            .into_iter()
            .filter_map(|id| store.get(&VideoKey(id)).expect("get"))
            .map(|v| v.duration as u64)
            .sum()
    };
    assert_eq!(store.videos_of_owner(7).expect("owner").len(), 10);
    g.bench_function("quota_owner_entries_10_of_100k", |b| {
        b.iter(|| black_box(of_owner(&store)))
    });
    g.sample_size(10);
    g.bench_function("old_quota_scan_10_of_100k", |b| {
        b.iter(|| {
            black_box(
                store
                    .scan::<VideoKey>(&())
                    .expect("scan")
                    .into_iter()
                    .filter(|(_, v)| v.owner == 7 && v.is_local())
                    .map(|(_, v)| v.duration as u64)
                    .sum::<u64>(),
            )
        })
    });
    g.bench_function("old_full_scan_sort_-publishedAt", |b| {
        b.iter(|| {
            let mut all: Vec<Video> = store
                .scan::<VideoKey>(&())
                .expect("scan")
                .into_iter()
                .map(|(_, v)| v)
                .filter(Video::is_listed)
                .collect();
            all.sort_by_key(|v| std::cmp::Reverse(v.published_at));
            black_box(all.into_iter().take(15).count())
        })
    });
    g.finish();
}

criterion_group!(benches, listing);
criterion_main!(benches);
