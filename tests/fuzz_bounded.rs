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

/// Hostile media through the worker itself (`fleuve worker --probe` in a limited child process,
/// as uploads are checked): it answers what the in-process probe answers, for the seeds and a
/// few of their mutations, and never hangs or dies without an answer.
#[test]
fn media_probe_in_the_worker_process_agrees() {
    use fleuve::fuzz::mutate::{mutate, Rng};
    use fleuve::transcode::worker::{probe_isolated, probe_report};
    let exe = Path::new(env!("CARGO_BIN_EXE_fleuve"));
    let hw = fleuve_hw::discover();
    let seeds: Vec<Vec<u8>> = bounded::corpus(&corpus_root().join("media_probe"))
        .unwrap()
        .into_iter()
        .map(|(_, bytes)| bytes)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(seed());
    let mut accepted = 0;
    for (i, seed) in seeds.iter().enumerate() {
        for j in 0..6 {
            let input = if j == 0 {
                seed.clone()
            } else {
                mutate(&mut rng, seed, &seeds)
            };
            let file = dir.path().join(format!("upload-{i}-{j}"));
            std::fs::write(&file, &input).unwrap();
            let options = fleuve::transcode::ladder::PlanOptions::default();
            let here = probe_report(&file, &options, &hw);
            let worker = probe_isolated(exe, &file, &options, None);
            match (&here, &worker) {
                (Ok(a), Ok(b)) => {
                    assert_eq!(a, b, "seed {i} mutation {j}");
                    accepted += 1;
                }
                (Err(_), Err(e)) => assert!(
                    !e.to_string().contains("crashed"),
                    "seed {i} mutation {j}: {e}"
                ),
                _ => panic!("seed {i} mutation {j}: in-process {here:?}, worker {worker:?}"),
            }
        }
    }
    assert!(accepted >= seeds.len(), "the seeds themselves probe");
}
