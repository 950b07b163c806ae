//! The runner's own limits on what an instance sends it: the `[transcode] max_source_*` caps
//! (checked in the batch's child before anything is decoded) refuse an input with `error`
//! naming the cap, and the runner goes on with other work.

use super::*;

#[test]
fn an_input_over_the_runners_caps_is_refused_with_the_cap_named() {
    let dir = tempfile::tempdir().unwrap();
    let pt = Pt::start(clip(dir.path()), dir.path().join("results"));
    let state = dir.path().join("runner");
    register(&pt, &state, "small-box", 2);
    let path = state.join("config.toml");
    let mut doc: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    let mut transcode = toml::Table::new();
    transcode.insert("max_source_side".into(), 320.into());
    doc.insert("transcode".into(), transcode.into());
    std::fs::write(&path, toml::to_string(&doc).unwrap()).unwrap();
    let runner = Running::start(&state);
    eventually("the socket.io connection", &runner, 30, || {
        pt.inner.lock().unwrap().log.sockets > 0
    });
    let job = "c0000000-0000-4000-8000-000000000001";
    let video = "33333333-aaaa-4bbb-8ccc-000000000003";
    pt.add_job(
        job,
        "vod-hls-transcoding",
        vod_payload(&pt, job, video, 240, Some(false)),
    );
    eventually("the job's error", &runner, 60, || {
        !pt.inner.lock().unwrap().log.errors.is_empty()
    });
    let errors = pt.inner.lock().unwrap().log.errors.clone();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let (uuid, message) = &errors[0];
    assert_eq!(uuid, job);
    assert!(
        message.contains("640x360") && message.contains("max_source_side = 320"),
        "{message}"
    );
    assert!(pt.inner.lock().unwrap().log.successes.is_empty());
    // Nothing of the batch is left behind.
    let work = state.join("work");
    eventually("an empty work directory", &runner, 10, || {
        std::fs::read_dir(&work)
            .map(|d| d.count() == 0)
            .unwrap_or(true)
    });
}
