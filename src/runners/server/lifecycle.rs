//! The server's side of the board: jobs made for a transcode, looked up, cancelled (by an
//! administrator or a video's deletion), retired after a failed attempt, re-queued by the
//! watchdog, pruned once nothing reads them, and counted.

use super::jobs::{children_to, reset_to_pending, Board, BoardError, State};
use super::store::{Changes, RunnerJobRecord};
use crate::runners::protocol::{JobState, RunnerJob};
use crate::store::StoreError;
use crate::time::now_ms;
use std::time::Duration;

impl Board {
    /// Adds new jobs.
    pub fn create(&self, jobs: Vec<RunnerJobRecord>) -> Result<(), StoreError> {
        let mut st = self.lock();
        self.saved(&mut st, jobs)
    }

    /// The jobs made for Fleuve job `fleuve_job`, oldest first.
    pub fn jobs_of(&self, fleuve_job: u64) -> Vec<RunnerJobRecord> {
        let st = self.lock();
        let mut v: Vec<RunnerJobRecord> = st
            .jobs
            .values()
            .filter(|j| j.fleuve_job == fleuve_job)
            .cloned()
            .collect();
        v.sort_by(|a, b| (a.created_at, &a.uuid).cmp(&(b.created_at, &b.uuid)));
        v
    }

    /// One job.
    pub fn job(&self, uuid: &str) -> Option<RunnerJobRecord> {
        self.lock().jobs.get(uuid).cloned()
    }

    /// Every job.
    pub fn all_jobs(&self) -> Vec<RunnerJobRecord> {
        self.lock().jobs.values().cloned().collect()
    }

    /// The API view of a job.
    pub fn view(&self, job: &RunnerJobRecord, admin: bool) -> RunnerJob {
        super::view::view(&self.lock(), job, admin)
    }

    /// Cancels job `uuid` and its descendants (administrator, or its video's deletion); a final
    /// job is left as it is. Returns whether it was cancelled.
    pub fn cancel(&self, uuid: &str) -> Result<bool, BoardError> {
        let mut st = self.lock();
        let job = st
            .jobs
            .get(uuid)
            .cloned()
            .ok_or_else(|| BoardError::NotFound(format!("runner job {uuid}")))?;
        Ok(self.cancel_locked(&mut st, job)?)
    }

    fn cancel_locked(&self, st: &mut State, mut job: RunnerJobRecord) -> Result<bool, StoreError> {
        if job.state().is_final() {
            return Ok(false);
        }
        let now = now_ms();
        job.state = JobState::Cancelled.id();
        job.job_token_hash = None;
        job.finished_at = Some(now);
        job.updated_at = now;
        let mut changed = children_to(st, &job.uuid, JobState::ParentCancelled, now);
        changed.push(job);
        self.saved(st, changed)?;
        Ok(true)
    }

    /// Cancels every unfinished job of `video_uuid`.
    pub fn cancel_video(&self, video_uuid: &str) -> Result<usize, StoreError> {
        let mut st = self.lock();
        let jobs: Vec<RunnerJobRecord> = st
            .jobs
            .values()
            .filter(|j| j.video_uuid == video_uuid && !j.state().is_final())
            .cloned()
            .collect();
        let mut n = 0;
        for j in jobs {
            if self.cancel_locked(&mut st, j)? {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Cancels the unfinished jobs of `fleuve_job` made for attempts up to `attempt` (a failed
    /// attempt's leftovers), so no runner works for nothing.
    pub fn retire(&self, fleuve_job: u64, attempt: u32) -> Result<(), StoreError> {
        let mut st = self.lock();
        let jobs: Vec<RunnerJobRecord> = st
            .jobs
            .values()
            .filter(|j| j.fleuve_job == fleuve_job && j.fleuve_attempt <= attempt)
            .filter(|j| !j.state().is_final())
            .cloned()
            .collect();
        for j in jobs {
            self.cancel_locked(&mut st, j)?;
        }
        Ok(())
    }

    /// Deletes job `uuid` (administrator; an unfinished one is cancelled first).
    pub fn delete(&self, uuid: &str) -> Result<RunnerJobRecord, BoardError> {
        let mut st = self.lock();
        let job = st
            .jobs
            .get(uuid)
            .cloned()
            .ok_or_else(|| BoardError::NotFound(format!("runner job {uuid}")))?;
        self.cancel_locked(&mut st, job.clone())?;
        let mut c = Changes::default();
        c.remove_job(&self.store, uuid);
        c.commit(&self.store)?;
        st.jobs.remove(uuid);
        self.changed.notify_all();
        Ok(job)
    }

    /// Sets `private_payload[key] = true` on every job of `fleuve_job` (`retired`: a failed
    /// attempt's, not to be reused; `released`: its Fleuve job is over).
    pub fn mark(&self, fleuve_job: u64, key: &str) -> Result<(), StoreError> {
        let mut st = self.lock();
        let marked: Vec<RunnerJobRecord> = st
            .jobs
            .values()
            .filter(|j| j.fleuve_job == fleuve_job && j.private_payload[key] != true)
            .map(|j| {
                let mut j = j.clone();
                j.private_payload[key] = serde_json::Value::Bool(true);
                j
            })
            .collect();
        self.saved(&mut st, marked)
    }

    /// Removes the finished jobs that nothing will read again (their attempt failed, or their
    /// Fleuve job is over) and that ended before `before` (Unix ms). Returns how many.
    pub fn prune(&self, before: u64) -> Result<usize, StoreError> {
        let mut st = self.lock();
        let gone: Vec<String> = st
            .jobs
            .values()
            .filter(|j| j.state().is_final())
            .filter(|j| {
                j.private_payload["retired"] == true || j.private_payload["released"] == true
            })
            .filter(|j| j.finished_at.unwrap_or(j.updated_at) < before)
            .map(|j| j.uuid.clone())
            .collect();
        if gone.is_empty() {
            return Ok(0);
        }
        let mut c = Changes::default();
        for u in &gone {
            c.remove_job(&self.store, u);
        }
        c.commit(&self.store)?;
        for u in &gone {
            st.jobs.remove(u);
        }
        st.generation += 1;
        self.changed.notify_all();
        Ok(gone.len())
    }

    /// The watchdog's pass: processing jobs without news for `vod` (live: `live`) go back to
    /// pending (as PeerTube's abort: failures unchanged). Returns the jobs re-queued.
    pub fn requeue_stalled(
        &self,
        vod: Duration,
        live: Duration,
    ) -> Result<Vec<String>, StoreError> {
        let mut st = self.lock();
        let now = now_ms();
        let mut back = Vec::new();
        let mut failed = Vec::new();
        for j in st.jobs.values() {
            if j.state() != JobState::Processing {
                continue;
            }
            let limit = if j.kind.abortable() { vod } else { live };
            if now.saturating_sub(j.updated_at) > limit.as_millis() as u64 {
                if j.kind.abortable() {
                    let mut j = j.clone();
                    reset_to_pending(&mut j, now);
                    back.push(j);
                } else {
                    failed.push(j.clone());
                }
            }
        }
        let uuids: Vec<String> = back.iter().chain(&failed).map(|j| j.uuid.clone()).collect();
        self.saved(&mut st, back)?;
        for j in failed {
            self.fail_locked(&mut st, j, "the runner stopped sending updates")
                .map_err(|e| match e {
                    BoardError::Store(s) => s,
                    other => StoreError::Corrupt(other.to_string()),
                })?;
        }
        Ok(uuids)
    }

    /// Jobs counted by state (metrics).
    pub fn count_by_state(&self) -> Vec<(JobState, usize)> {
        let st = self.lock();
        JobState::ALL
            .into_iter()
            .map(|s| (s, st.jobs.values().filter(|j| j.state() == s).count()))
            .collect()
    }

    /// Registered runners (metrics).
    pub fn runner_count(&self) -> usize {
        self.lock().runners.len()
    }
}
