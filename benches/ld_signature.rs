//! Linked-Data signatures (`RsaSignature2017`): URDNA2015 canonical N-Quads and verification of
//! the two real-world shapes Fleuve receives, Mastodon's captured `Create` and the PeerTube
//! `Create` of a `Video` signed as PeerTube does (`src/federation/testdata/`). Run with
//! `cargo bench --bench ld_signature`; the numbers and the libraries they were compared with
//! are in `docs/benchmarks.md` ("Libraries considered").

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use fleuve::federation::keys::parse_public_key_pem;
use fleuve::federation::ld;
use serde_json::Value;

const MASTODON_CAPTURE: &str =
    include_str!("../src/federation/testdata/mastodon/bad-body-http-signature.json");
const MASTODON_KEY: &str = include_str!("../src/federation/testdata/mastodon/public-key.json");
const PEERTUBE_VIDEO: &str =
    include_str!("../src/federation/testdata/generated/peertube-create-video-signed.json");
const PEERTUBE_KEYS: &str = include_str!("../src/federation/testdata/peertube/keys.json");

fn json(text: &str) -> Value {
    serde_json::from_str(text).expect("valid JSON fixture")
}

fn ld_signatures(c: &mut Criterion) {
    let cases = [
        (
            "mastodon_create",
            json(MASTODON_CAPTURE)["body"].clone(),
            MASTODON_KEY,
        ),
        ("peertube_create_video", json(PEERTUBE_VIDEO), PEERTUBE_KEYS),
    ];
    for (name, doc, keys) in cases {
        let key = parse_public_key_pem(json(keys)["publicKey"].as_str().expect("publicKey"))
            .expect("valid key");
        ld::verify(&doc, &key).expect("the fixture verifies");
        let mut unsigned = doc.clone();
        unsigned
            .as_object_mut()
            .expect("object")
            .remove("signature");
        c.bench_function(&format!("ld/canonical_nquads/{name}"), |b| {
            b.iter(|| ld::canonical_nquads(black_box(&unsigned)))
        });
        c.bench_function(&format!("ld/verify/{name}"), |b| {
            b.iter(|| ld::verify(black_box(&doc), &key))
        });
    }
}

criterion_group!(benches, ld_signatures);
criterion_main!(benches);
