//! Unit tests of the board's state machine over a real store in a temporary directory.

use super::jobs::{AfterFailure, Board, BoardError};
use super::store::RunnerJobRecord;
use crate::runners::protocol::{JobState, JobType};
use crate::store::Store;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

fn record(uuid: &str, kind: JobType, priority: i32, parent: Option<&str>) -> RunnerJobRecord {
    RunnerJobRecord {
        uuid: uuid.into(),
        kind,
        state: if parent.is_some() {
            JobState::WaitingForParentJob.id()
        } else {
            JobState::Pending.id()
        },
        payload: json!({"n": uuid}),
        private_payload: json!({}),
        priority,
        failures: 0,
        error: None,
        progress: None,
        parent: parent.map(Into::into),
        runner: None,
        job_token_hash: None,
        fleuve_job: 1,
        fleuve_attempt: 1,
        video_uuid: "v".into(),
        created_at: 1,
        updated_at: 1,
        started_at: None,
        finished_at: None,
    }
}

/// A board with one registration token and two runners.
fn board() -> (tempfile::TempDir, Arc<Store>, Board, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let board = Board::load(store.clone()).unwrap();
    let reg = board.generate_token().unwrap();
    let (_, a) = board
        .register(&reg.token, "a", "", "1", "127.0.0.1")
        .unwrap();
    let (_, b) = board
        .register(&reg.token, "b", "", "1", "127.0.0.1")
        .unwrap();
    (dir, store, board, a, b)
}

fn state(board: &Board, uuid: &str) -> JobState {
    board.job(uuid).unwrap().state()
}

#[test]
fn exactly_one_runner_wins_an_accept_race() {
    let (_d, _s, board, a, b) = board();
    let board = Arc::new(board);
    for i in 0..50 {
        let uuid = format!("job-{i}");
        board
            .create(vec![record(&uuid, JobType::VodHlsTranscoding, 100, None)])
            .unwrap();
        let wins: Vec<bool> = [a.clone(), b.clone()]
            .into_iter()
            .map(|t| {
                let (board, uuid) = (board.clone(), uuid.clone());
                std::thread::spawn(move || board.accept(&uuid, &t, "ip"))
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| match h.join().unwrap() {
                Ok(_) => true,
                Err(BoardError::NotPending { .. }) => false,
                Err(e) => panic!("{e}"),
            })
            .collect();
        assert_eq!(wins.iter().filter(|w| **w).count(), 1, "{wins:?}");
    }
}

#[test]
fn tokens_authorise_only_their_runners_jobs() {
    let (_d, _s, board, a, b) = board();
    board
        .create(vec![record("j", JobType::VodHlsTranscoding, 100, None)])
        .unwrap();
    assert!(matches!(
        board.request("ptrt-nope", None, None, "ip"),
        Err(BoardError::UnknownRunnerToken)
    ));
    let (_, jt) = board.accept("j", &a, "ip").unwrap();
    for (rt, t) in [
        (&b, jt.as_str()),
        (&a, "ptrjt-wrong"),
        (&"ptrt-x".to_string(), jt.as_str()),
    ] {
        assert!(matches!(
            board.update("j", rt, t, Some(5)),
            Err(BoardError::UnknownJob(_))
        ));
    }
    board.update("j", &a, &jt, Some(5)).unwrap();
    assert_eq!(board.job("j").unwrap().progress, Some(5));
}

#[test]
fn failures_requeue_until_the_fifth_then_error_the_children() {
    let (_d, _s, board, a, _) = board();
    board
        .create(vec![
            record("p", JobType::VodHlsTranscoding, 100, None),
            record("c", JobType::VodHlsTranscoding, 100, Some("p")),
        ])
        .unwrap();
    for n in 1..=5 {
        let (_, jt) = board.accept("p", &a, "ip").unwrap();
        let after = board.error("p", &a, &jt, &format!("boom {n}")).unwrap();
        let want = if n < 5 {
            AfterFailure::Requeued
        } else {
            AfterFailure::Errored
        };
        assert_eq!(after, want);
    }
    let p = board.job("p").unwrap();
    assert_eq!(
        (p.state(), p.failures, p.error.as_deref()),
        (JobState::Errored, 5, Some("boom 5"))
    );
    assert_eq!(state(&board, "c"), JobState::ParentErrored);
}

#[test]
fn aborts_requeue_vod_jobs_and_fail_live_ones() {
    let (_d, _s, board, a, _) = board();
    board
        .create(vec![
            record("vod", JobType::VodHlsTranscoding, 100, None),
            record("live", JobType::LiveRtmpHlsTranscoding, 100, None),
        ])
        .unwrap();
    let (_, jt) = board.accept("vod", &a, "ip").unwrap();
    board.abort("vod", &a, &jt, "stopping").unwrap();
    let j = board.job("vod").unwrap();
    assert_eq!(
        (j.state(), j.failures, j.job_token_hash.is_none()),
        (JobState::Pending, 0, true)
    );
    assert!(board.update("vod", &a, &jt, None).is_err(), "old token");
    let (_, jt) = board.accept("live", &a, "ip").unwrap();
    board.abort("live", &a, &jt, "stopping").unwrap();
    assert_eq!(board.job("live").unwrap().failures, 1);
}

#[test]
fn requests_are_by_priority_filtered_and_bounded() {
    let (_d, _s, board, a, _) = board();
    let mut jobs: Vec<RunnerJobRecord> = (0..12)
        .map(|i| record(&format!("h{i:02}"), JobType::VodHlsTranscoding, 100, None))
        .collect();
    jobs.push(record("urgent", JobType::GenerateVideoStoryboard, 1, None));
    board.create(jobs).unwrap();
    let got = board.request(&a, None, Some("2"), "ip").unwrap();
    assert_eq!(got.len(), 10);
    assert_eq!(got[0].uuid, "urgent");
    let only = board
        .request(&a, Some(&[JobType::GenerateVideoStoryboard]), None, "ip")
        .unwrap();
    assert_eq!(only.len(), 1);
}

#[test]
fn completion_frees_children_and_stalls_are_requeued() {
    let (_d, _s, board, a, _) = board();
    board
        .create(vec![
            record("p", JobType::VodHlsTranscoding, 100, None),
            record("c", JobType::VodHlsTranscoding, 100, Some("p")),
        ])
        .unwrap();
    let (_, jt) = board.accept("p", &a, "ip").unwrap();
    board.completing("p", &a, &jt).unwrap();
    board.completed("p").unwrap();
    assert_eq!(state(&board, "c"), JobState::Pending);
    // A heartbeat crossing the success is answered and changes nothing.
    board.update("p", &a, &jt, Some(40)).unwrap();
    assert_eq!(board.job("p").unwrap().progress, Some(100));
    assert!(matches!(
        board.error("p", &a, &jt, "late"),
        Err(BoardError::NotProcessing { .. })
    ));
    board.accept("c", &a, "ip").unwrap();
    std::thread::sleep(Duration::from_millis(5));
    let back = board
        .requeue_stalled(Duration::from_millis(1), Duration::from_millis(1))
        .unwrap();
    assert_eq!(back, vec!["c".to_string()]);
    let c = board.job("c").unwrap();
    assert_eq!((c.state(), c.failures), (JobState::Pending, 0));
}

#[test]
fn the_board_survives_a_reopen_and_keeps_tokens_hashed() {
    let (dir, store, board, a, _) = board();
    board
        .create(vec![record("j", JobType::VodHlsTranscoding, 100, None)])
        .unwrap();
    let (_, jt) = board.accept("j", &a, "ip").unwrap();
    drop(board);
    drop(store);
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let board = Board::load(store).unwrap();
    assert_eq!(state(&board, "j"), JobState::Processing);
    board.update("j", &a, &jt, Some(1)).unwrap();
    // Neither the runner token nor the job token is stored as such.
    let raw = walk_bytes(dir.path());
    for secret in [&a, &jt] {
        assert!(
            !raw.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} stored in clear"
        );
    }
}

fn walk_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk_bytes(&p));
        } else if let Ok(b) = std::fs::read(&p) {
            out.extend(b);
        }
    }
    out
}

#[test]
fn cancelling_a_parent_cancels_its_children_and_deleting_a_token_unregisters() {
    let (_d, _s, board, a, _) = board();
    board
        .create(vec![
            record("p", JobType::VodHlsTranscoding, 100, None),
            record("c", JobType::VodHlsTranscoding, 100, Some("p")),
        ])
        .unwrap();
    let (_, _jt) = board.accept("p", &a, "ip").unwrap();
    let reg = board.tokens()[0].0.id;
    board.remove_token(reg).unwrap();
    assert!(matches!(
        board.runner(&a),
        Err(BoardError::UnknownRunnerToken)
    ));
    // Its processing job went back to the queue.
    assert_eq!(state(&board, "p"), JobState::Pending);
    assert!(board.cancel("p").unwrap());
    assert_eq!(state(&board, "p"), JobState::Cancelled);
    assert_eq!(state(&board, "c"), JobState::ParentCancelled);
    assert!(!board.cancel("p").unwrap(), "a final job stays as it is");
}

#[test]
fn only_finished_jobs_nothing_reads_are_pruned() {
    let (_d, _s, board, a, _) = board();
    board
        .create(vec![
            record("done", JobType::VodHlsTranscoding, 100, None),
            record("open", JobType::VodHlsTranscoding, 100, None),
        ])
        .unwrap();
    let (_, jt) = board.accept("done", &a, "ip").unwrap();
    board.completing("done", &a, &jt).unwrap();
    board.completed("done").unwrap();
    let later = crate::time::now_ms() + 1000;
    assert_eq!(
        board.prune(later).unwrap(),
        0,
        "its video is not assembled yet"
    );
    board.mark(1, "released").unwrap();
    assert_eq!(board.prune(0).unwrap(), 0, "too recent");
    assert_eq!(board.prune(later).unwrap(), 1);
    assert!(board.job("done").is_none());
    assert_eq!(state(&board, "open"), JobState::Pending);
}
