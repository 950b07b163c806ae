//! Hot functions of the serving path: range parsing and path resolution.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use fleuve::media::layout::MediaLayout;
use fleuve::media::range::parse_range;

fn ranges(c: &mut Criterion) {
    c.bench_function("parse_range/closed", |b| {
        b.iter(|| parse_range(black_box(b"bytes=2097152-4194303"), black_box(33_554_432)))
    });
    c.bench_function("parse_range/suffix", |b| {
        b.iter(|| parse_range(black_box(b"bytes=-500"), black_box(33_554_432)))
    });
}

fn paths(c: &mut Criterion) {
    let layout = MediaLayout::new("/var/lib/fleuve/media".into());
    c.bench_function("resolve/hls_segment", |b| {
        b.iter(|| {
            layout.resolve(black_box(
                "/static/streaming-playlists/hls/0f5c4e9b-0000-4000-8000-000000000001/8f1d-720-fragmented.mp4",
            ))
        })
    });
    c.bench_function("resolve/traversal_refused", |b| {
        b.iter(|| layout.resolve(black_box("/static/web-videos/%2e%2e/%2e%2e/etc/passwd")))
    });
}

criterion_group!(benches, ranges, paths);
criterion_main!(benches);
