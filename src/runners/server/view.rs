//! Runner jobs as the API shows them (PeerTube's `RunnerJob`, `RunnerJobAdmin`), and
//! timestamps as PeerTube writes them.

use super::jobs::State;
use super::store::RunnerJobRecord;
use crate::runners::protocol::{JobRunner, ParentJob, RunnerJob};

fn iso(ms: u64) -> String {
    let mut s = crate::time::iso8601(ms / 1000);
    // `.000Z` → the milliseconds.
    if s.ends_with(".000Z") {
        s.truncate(s.len() - 5);
        s.push_str(&format!(".{:03}Z", ms % 1000));
    }
    s
}

/// A Unix-ms time as PeerTube's timestamps read.
pub fn timestamp(ms: u64) -> String {
    iso(ms)
}

pub(super) fn view(st: &State, job: &RunnerJobRecord, admin: bool) -> RunnerJob {
    RunnerJob {
        uuid: job.uuid.clone(),
        kind: job.kind,
        state: job.state().constant(),
        payload: job.payload.clone(),
        failures: job.failures,
        error: job.error.clone(),
        progress: job.progress,
        priority: job.priority,
        started_at: job.started_at.map(iso),
        created_at: iso(job.created_at),
        updated_at: iso(job.updated_at),
        finished_at: job.finished_at.map(iso),
        parent: job
            .parent
            .as_ref()
            .and_then(|p| st.jobs.get(p))
            .map(|p| ParentJob {
                kind: p.kind,
                state: p.state().constant(),
                uuid: p.uuid.clone(),
            }),
        runner: job
            .runner
            .and_then(|r| st.runners.get(&r))
            .map(|r| JobRunner {
                id: r.id,
                name: r.name.clone(),
                description: r.description.clone(),
            }),
        private_payload: admin.then(|| job.private_payload.clone()),
    }
}
