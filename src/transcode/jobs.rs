//! The durable job queue in RocksDB: a job row plus a (state, id) index, changed together in one
//! atomic batch, fsynced. Jobs survive restarts; a job found `running` at start belonged to a
//! worker that died with the server and goes back to the queue.

use crate::store::tables::{Job, JobKey, JobState, JobStateKey, Sequence};
use crate::store::{Batch, Durability, Store, StoreError};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// The queue.
pub struct JobQueue {
    store: Arc<Store>,
    claim: Mutex<()>,
    max_attempts: u32,
}

fn now() -> u64 {
    crate::time::now_secs()
}

impl JobQueue {
    /// A queue over `store`; a job is given up after `max_attempts` failed starts.
    pub fn new(store: Arc<Store>, max_attempts: u32) -> JobQueue {
        JobQueue {
            store,
            claim: Mutex::new(()),
            max_attempts: max_attempts.max(1),
        }
    }

    fn save(&self, job: &Job, previous: Option<JobState>) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        if let Some(prev) = previous {
            batch.delete(
                &self.store,
                &JobStateKey {
                    state: prev,
                    id: job.id,
                },
            );
        }
        batch.put(&self.store, &JobKey(job.id), job)?;
        batch.put(
            &self.store,
            &JobStateKey {
                state: job.state,
                id: job.id,
            },
            &(),
        )?;
        self.store.write(batch, Durability::Sync)
    }

    /// Adds a job for `video_uuid` from `source`.
    pub fn enqueue(&self, video_uuid: &str, source: PathBuf) -> Result<Job, StoreError> {
        let mut batch = Batch::default();
        let job = self.enqueue_in(&mut batch, video_uuid, source)?;
        self.store.write(batch, Durability::Sync)?;
        Ok(job)
    }

    /// Adds a job for `video_uuid` to `batch` (written by the caller with the video it belongs
    /// to, so a video never exists without its job).
    pub fn enqueue_in(
        &self,
        batch: &mut Batch,
        video_uuid: &str,
        source: PathBuf,
    ) -> Result<Job, StoreError> {
        let t = now();
        let job = Job {
            id: self.store.next_id(Sequence::Job)?,
            video_uuid: video_uuid.to_string(),
            source,
            state: JobState::Queued,
            attempts: 0,
            last_error: None,
            created_at: t,
            updated_at: t,
        };
        batch.put(&self.store, &JobKey(job.id), &job)?;
        batch.put(
            &self.store,
            &JobStateKey {
                state: job.state,
                id: job.id,
            },
            &(),
        )?;
        Ok(job)
    }

    /// Takes the oldest queued job and marks it running.
    pub fn claim_next(&self) -> Result<Option<Job>, StoreError> {
        let _guard = self.claim.lock().unwrap_or_else(|p| p.into_inner());
        let Some((key, ())) = self
            .store
            .scan::<JobStateKey>(&JobState::Queued)?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let Some(mut job) = self.store.get(&JobKey(key.id))? else {
            return Err(StoreError::Corrupt(format!(
                "job index names missing job {}",
                key.id
            )));
        };
        job.state = JobState::Running;
        job.attempts += 1;
        job.updated_at = now();
        self.save(&job, Some(JobState::Queued))?;
        Ok(Some(job))
    }

    /// Marks a running job done.
    pub fn complete(&self, id: u64) -> Result<Job, StoreError> {
        self.transition(id, |job| {
            job.state = JobState::Done;
            job.last_error = None;
        })
    }

    /// Records a failure: back to the queue while attempts remain, else failed for good.
    pub fn fail(&self, id: u64, reason: &str) -> Result<Job, StoreError> {
        let max = self.max_attempts;
        self.transition(id, |job| {
            job.last_error = Some(reason.to_string());
            job.state = if job.attempts < max {
                JobState::Queued
            } else {
                JobState::Failed
            };
        })
    }

    /// Puts a running job back in the queue without counting its attempt: something outside
    /// the job stopped it (a full disk), not its input.
    pub fn requeue(&self, id: u64, reason: &str) -> Result<Job, StoreError> {
        self.transition(id, |job| {
            job.state = JobState::Queued;
            job.attempts = job.attempts.saturating_sub(1);
            job.last_error = Some(reason.to_string());
        })
    }

    /// At start: every job left running by a previous process goes back to the queue.
    pub fn recover(&self) -> Result<usize, StoreError> {
        let running = self.store.scan::<JobStateKey>(&JobState::Running)?;
        for (key, ()) in &running {
            self.transition(key.id, |job| {
                job.state = JobState::Queued;
                job.last_error = Some("the server stopped while this job ran; restarted".into());
            })?;
        }
        Ok(running.len())
    }

    /// Number of jobs in one state.
    pub fn count(&self, state: JobState) -> Result<usize, StoreError> {
        Ok(self.store.scan::<JobStateKey>(&state)?.len())
    }

    /// Jobs in one state, oldest first.
    pub fn list(&self, state: JobState) -> Result<Vec<Job>, StoreError> {
        let mut out = Vec::new();
        for (key, ()) in self.store.scan::<JobStateKey>(&state)? {
            if let Some(job) = self.store.get(&JobKey(key.id))? {
                out.push(job);
            }
        }
        Ok(out)
    }

    fn transition(&self, id: u64, change: impl FnOnce(&mut Job)) -> Result<Job, StoreError> {
        let mut job = self
            .store
            .get(&JobKey(id))?
            .ok_or_else(|| StoreError::Corrupt(format!("no job {id}")))?;
        let previous = job.state;
        change(&mut job);
        job.updated_at = now();
        self.save(&job, Some(previous))?;
        Ok(job)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(dir: &std::path::Path) -> JobQueue {
        JobQueue::new(Arc::new(Store::open(&dir.join("meta")).unwrap()), 2)
    }

    #[test]
    fn fifo_claims_and_completion() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(dir.path());
        let a = q.enqueue("a", "/x/a".into()).unwrap();
        let b = q.enqueue("b", "/x/b".into()).unwrap();
        let first = q.claim_next().unwrap().unwrap();
        assert_eq!(
            (first.id, first.state, first.attempts),
            (a.id, JobState::Running, 1)
        );
        assert_eq!(q.claim_next().unwrap().unwrap().id, b.id);
        assert!(q.claim_next().unwrap().is_none());
        q.complete(a.id).unwrap();
        assert_eq!(q.list(JobState::Done).unwrap().len(), 1);
        assert_eq!(q.list(JobState::Running).unwrap().len(), 1);
    }

    #[test]
    fn running_jobs_survive_a_crash_and_failures_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        {
            let q = queue(dir.path());
            q.enqueue("v", "/x/v".into()).unwrap();
            q.claim_next().unwrap().unwrap();
            // The process dies here: no complete, no fail.
        }
        let q = queue(dir.path());
        assert_eq!(q.recover().unwrap(), 1);
        let job = q.claim_next().unwrap().expect("requeued after restart");
        assert_eq!(job.attempts, 2);
        assert!(job.last_error.as_deref().unwrap().contains("restarted"));
        let failed = q.fail(job.id, "codec crashed").unwrap();
        assert_eq!(failed.state, JobState::Failed, "two attempts allowed");
        assert_eq!(
            q.list(JobState::Failed).unwrap()[0].last_error.as_deref(),
            Some("codec crashed")
        );
        assert!(q.list(JobState::Queued).unwrap().is_empty());
    }

    #[test]
    fn a_requeued_job_keeps_its_attempts() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(dir.path());
        let job = q.enqueue("v", "/s".into()).unwrap();
        // Max 2 attempts: two disk-full interruptions leave it both.
        for _ in 0..2 {
            let claimed = q.claim_next().unwrap().unwrap();
            assert_eq!((claimed.id, claimed.attempts), (job.id, 1));
            let back = q.requeue(job.id, "No space left on device").unwrap();
            assert_eq!((back.state, back.attempts), (JobState::Queued, 0));
        }
        q.claim_next().unwrap().unwrap();
        assert_eq!(q.fail(job.id, "bad input").unwrap().state, JobState::Queued);
    }

    #[test]
    fn a_failure_with_attempts_left_requeues() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(dir.path());
        let job = q.enqueue("v", "/x/v".into()).unwrap();
        q.claim_next().unwrap();
        let j = q.fail(job.id, "worker killed").unwrap();
        assert_eq!(j.state, JobState::Queued);
        assert_eq!(q.claim_next().unwrap().unwrap().attempts, 2);
    }
}
