//! The transcoder's part of the admin status (`GET /api/v1/admin/status`): its jobs (running
//! ones with each rung's encoder and frame rate, recent ones with the encoder each rung ended on)
//! and the hardware it plans with.

use crate::app::App;
use crate::store::tables::{Job, JobState};
use serde_json::{json, Value};
use std::sync::OnceLock;

/// Recent finished jobs listed.
const RECENT_JOBS: usize = 10;

/// The hardware inventory, probed once per process (probing opens devices and NVML).
pub fn hardware() -> &'static Value {
    static HW: OnceLock<Value> = OnceLock::new();
    HW.get_or_init(|| {
        let inv = fleuve_hw::discover();
        let mut v = serde_json::to_value(&inv).unwrap_or(Value::Null);
        if let Some(o) = v.as_object_mut() {
            o.insert("report".into(), Value::String(inv.render_text()));
        }
        v
    })
}

fn video_name(app: &App, uuid: &str) -> Option<String> {
    app.store.video_by_uuid(uuid).ok()?.map(|v| v.name)
}

fn rungs_of(app: &App, uuid: &str) -> Vec<Value> {
    let Some(video) = app.store.video_by_uuid(uuid).ok().flatten() else {
        return Vec::new();
    };
    app.store
        .video_files(video.id)
        .unwrap_or_default()
        .iter()
        .map(|f| {
            json!({
                "resolution": f.rendition.resolution,
                "encoder": f.rendition.encoder,
                "fallbackReason": f.rendition.fallback_reason,
                "fps": f.rendition.fps,
            })
        })
        .collect()
}

fn job_json(app: &App, job: &Job) -> Value {
    json!({
        "id": job.id,
        "video": job.video_uuid,
        "name": video_name(app, &job.video_uuid),
        "state": format!("{:?}", job.state).to_lowercase(),
        "attempts": job.attempts,
        "error": job.last_error,
        "updatedAt": crate::time::iso8601(job.updated_at),
        "rungs": rungs_of(app, &job.video_uuid),
    })
}

/// The `jobs` of the admin status: counts per state, running, queued and recent jobs.
pub fn jobs(app: &App) -> Value {
    let queue = app.transcoder.queue();
    let mut counts = serde_json::Map::new();
    for state in [
        JobState::Queued,
        JobState::Running,
        JobState::Done,
        JobState::Failed,
    ] {
        counts.insert(
            format!("{state:?}").to_lowercase(),
            json!(queue.count(state).unwrap_or(0)),
        );
    }
    let running: Vec<Value> = app
        .transcoder
        .live_jobs()
        .into_iter()
        .map(|(uuid, live)| {
            let p = live.progress;
            json!({
                "id": live.job_id,
                "video": uuid,
                "name": video_name(app, &uuid),
                "attempt": live.attempt,
                "progress": p.as_ref().map(|p| p.progress).unwrap_or(0.0),
                "etaSecs": p.as_ref().and_then(|p| p.eta_secs),
                "rungs": p.map(|p| p.rungs).unwrap_or_default(),
            })
        })
        .collect();
    let mut recent: Vec<Job> = [JobState::Done, JobState::Failed]
        .into_iter()
        .flat_map(|s| queue.list(s).unwrap_or_default())
        .collect();
    recent.sort_by_key(|j| std::cmp::Reverse((j.updated_at, j.id)));
    recent.truncate(RECENT_JOBS);
    let queued: Vec<Value> = queue
        .list(JobState::Queued)
        .unwrap_or_default()
        .iter()
        .take(RECENT_JOBS)
        .map(|j| job_json(app, j))
        .collect();
    json!({
        "counts": counts,
        "running": running,
        "queued": queued,
        "recent": recent.iter().map(|j| job_json(app, j)).collect::<Vec<_>>(),
    })
}
