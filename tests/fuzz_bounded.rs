//! The bounded fuzz run of the test suite: every target of `fleuve::fuzz` over its seed corpus
//! (`fuzz/corpus/<target>/`) plus a fixed number of deterministic mutations per seed. A panic is
//! reported with the input (and saved to a temp file for `scripts/fuzz.sh --replay`). The long,
//! coverage-guided runs are `scripts/fuzz.sh`.

use fleuve::fuzz::{bounded, target, TARGETS};
use std::path::{Path, PathBuf};

/// The run seed; change it (or set `FLEUVE_FUZZ_SEED`) to explore other mutations.
const SEED: u64 = 0x00f1_e0e5;

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus")
}

fn seed() -> u64 {
    std::env::var("FLEUVE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEED)
}

fn run(name: &str) {
    let t = target(name).expect("a target of that name");
    match bounded::run(t, &corpus_root(), seed()) {
        Ok(summary) => {
            assert!(summary.seeds > 0, "no seeds for {name}");
            eprintln!(
                "{name}: {} seeds, {} executions",
                summary.seeds, summary.executions
            );
        }
        Err(finding) => panic!("{finding}"),
    }
}

macro_rules! targets {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run(stringify!($name));
            }
        )*

        #[test]
        fn every_target_is_run_here_and_has_a_small_corpus() {
            let here = [$(stringify!($name)),*];
            let mut total = 0;
            for t in TARGETS {
                assert!(here.contains(&t.name), "{} is not run by this test", t.name);
                let seeds = bounded::corpus(&corpus_root().join(t.name)).unwrap();
                assert!(!seeds.is_empty(), "{} has no seeds", t.name);
                total += seeds.iter().map(|(_, b)| b.len()).sum::<usize>();
            }
            assert_eq!(here.len(), TARGETS.len());
            assert!(total < 1 << 20, "the corpus is {total} bytes; keep it under 1 MiB");
        }
    };
}

targets!(
    http_head,
    range,
    bencode,
    tracker_ws,
    tracker_http,
    tracker_udp,
    http_signature,
    activitypub_inbox,
    remote_video,
    hls_playlist,
    resumable_headers,
    media_probe,
);
