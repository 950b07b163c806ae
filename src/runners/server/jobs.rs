//! The runner-job board: registration tokens, runners and runner jobs in memory (loaded from
//! and written through to [`super::store`]), and PeerTube's job state machine over them. Every
//! transition is one read-modify-write under one lock, so two runners racing to accept a job get
//! exactly one winner; every change is synced to RocksDB before it is visible.

use super::registry::{same, token_hash};
use super::store::{self, Changes, Loaded, RegistrationToken, Runner, RunnerJobRecord};
use crate::runners::protocol::{self, AvailableJob, JobState, JobType, RunnerJob};
use crate::store::{Durability, Store, StoreError};
use crate::time::now_ms;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Why a runner call was refused.
#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    /// No runner has this token (or it was unregistered, or its registration token deleted).
    #[error("Unknown runner token")]
    UnknownRunnerToken,
    /// No registration token is this one.
    #[error("Unknown registration token {0:?}")]
    UnknownRegistrationToken(String),
    /// Another runner already has this name.
    #[error("This runner name already exists: {0:?}")]
    NameTaken(String),
    /// The job does not exist, or is not this runner's with this job token.
    #[error("Unknown runner job {0}")]
    UnknownJob(String),
    /// The job is not pending (someone accepted it first, or it ended).
    #[error("Runner job {uuid} is not in pending state (it is {state})")]
    NotPending {
        /// The job.
        uuid: String,
        /// Its state's label.
        state: &'static str,
    },
    /// The job is not being processed.
    #[error("Runner job {uuid} is not in processing state (it is {state})")]
    NotProcessing {
        /// The job.
        uuid: String,
        /// Its state's label.
        state: &'static str,
    },
    /// An administrator named something that does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the board holds.
#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) tokens: BTreeMap<u64, RegistrationToken>,
    pub(super) runners: BTreeMap<u64, Runner>,
    pub(super) jobs: HashMap<String, RunnerJobRecord>,
    /// Bumped by every change (and by [`Board::wake`]): what waiters compare against.
    pub(super) generation: u64,
}

/// What happened to a failed job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Back in the queue.
    Requeued,
    /// Errored for good.
    Errored,
}

/// The board.
pub struct Board {
    pub(super) store: Arc<Store>,
    state: Mutex<State>,
    pub(super) changed: Condvar,
    pending: tokio::sync::watch::Sender<u64>,
}

impl std::fmt::Debug for Board {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Board").finish_non_exhaustive()
    }
}

impl Board {
    /// Loads the board from `store`.
    pub fn load(store: Arc<Store>) -> Result<Board, StoreError> {
        let Loaded {
            tokens,
            runners,
            jobs,
        } = store::load(&store)?;
        let state = State {
            tokens: tokens.into_iter().map(|t| (t.id, t)).collect(),
            runners: runners.into_iter().map(|r| (r.id, r)).collect(),
            jobs: jobs.into_iter().map(|j| (j.uuid.clone(), j)).collect(),
            generation: 0,
        };
        Ok(Board {
            store,
            state: Mutex::new(state),
            changed: Condvar::new(),
            pending: tokio::sync::watch::Sender::new(0),
        })
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A receiver that changes whenever a job becomes pending (socket.io `available-jobs`).
    pub fn pending_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.pending.subscribe()
    }

    pub(super) fn saved(
        &self,
        st: &mut State,
        jobs: Vec<RunnerJobRecord>,
    ) -> Result<(), StoreError> {
        self.saved_with(st, jobs, Durability::Sync)
    }

    /// [`Board::saved`] with a chosen durability.
    fn saved_with(
        &self,
        st: &mut State,
        jobs: Vec<RunnerJobRecord>,
        durability: Durability,
    ) -> Result<(), StoreError> {
        let mut changes = Changes::default();
        for j in &jobs {
            changes.job(&self.store, j)?;
        }
        changes.commit_with(&self.store, durability)?;
        let mut pending = false;
        for j in jobs {
            let was = st.jobs.get(&j.uuid).map(|o| o.state());
            if j.state() == JobState::Pending && was != Some(JobState::Pending) {
                pending = true;
            }
            st.jobs.insert(j.uuid.clone(), j);
        }
        st.generation += 1;
        self.changed.notify_all();
        if pending {
            self.pending.send_modify(|n| *n = n.wrapping_add(1));
        }
        Ok(())
    }

    /// Waits until some job changed after generation `since`, or `timeout`.
    pub fn wait_change(&self, since: u64, timeout: Duration) {
        let g = self.lock();
        let _ = self
            .changed
            .wait_timeout_while(g, timeout, |st| st.generation == since);
    }

    /// The change counter: read it before looking at jobs, then [`Board::wait_change`] from it,
    /// and no change in between is missed.
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Wakes every waiter (a stop or a cancellation outside the board).
    pub fn wake(&self) {
        self.lock().generation += 1;
        self.changed.notify_all();
    }

    // ---- the runner's calls ----

    /// `jobs/request`: at most [`protocol::MAX_AVAILABLE_JOBS`] pending jobs of `types`
    /// (all when None), highest priority (lowest number) first, oldest first; the runner's
    /// version, address and last contact are updated.
    pub fn request(
        &self,
        runner_token: &str,
        types: Option<&[JobType]>,
        version: Option<&str>,
        ip: &str,
    ) -> Result<Vec<AvailableJob>, BoardError> {
        let mut st = self.lock();
        let id = Self::runner_id(&st, runner_token)?;
        self.touch_runner(&mut st, id, version, ip)?;
        let mut pending: Vec<&RunnerJobRecord> = st
            .jobs
            .values()
            .filter(|j| j.state() == JobState::Pending)
            .filter(|j| types.is_none_or(|t| t.contains(&j.kind)))
            .collect();
        pending.sort_by(|a, b| {
            (a.priority, a.created_at, &a.uuid).cmp(&(b.priority, b.created_at, &b.uuid))
        });
        Ok(pending
            .into_iter()
            .take(protocol::MAX_AVAILABLE_JOBS)
            .map(|j| AvailableJob {
                uuid: j.uuid.clone(),
                kind: j.kind,
                payload: j.payload.clone(),
            })
            .collect())
    }

    /// `jobs/{uuid}/accept`: the job becomes the runner's, with a new job token.
    pub fn accept(
        &self,
        uuid: &str,
        runner_token: &str,
        ip: &str,
    ) -> Result<(RunnerJob, String), BoardError> {
        let mut st = self.lock();
        let id = Self::runner_id(&st, runner_token)?;
        let job = st
            .jobs
            .get(uuid)
            .ok_or_else(|| BoardError::UnknownJob(uuid.into()))?;
        if job.state() != JobState::Pending {
            return Err(BoardError::NotPending {
                uuid: uuid.into(),
                state: job.state().label(),
            });
        }
        let token = format!("{}{}", protocol::JOB_TOKEN_PREFIX, uuid::Uuid::new_v4());
        let now = now_ms();
        let mut job = job.clone();
        job.state = JobState::Processing.id();
        job.runner = Some(id);
        job.job_token_hash = Some(token_hash(&token));
        job.started_at = Some(now);
        job.updated_at = now;
        job.progress = None;
        self.saved(&mut st, vec![job.clone()])?;
        self.touch_runner(&mut st, id, None, ip)?;
        Ok((super::view::view(&st, &job, false), token))
    }

    /// The job `uuid` if it is this runner's with this job token (PeerTube's
    /// `loadByRunnerAndJobTokensWithRunner`), in any state.
    fn authorized(
        st: &State,
        uuid: &str,
        runner_token: &str,
        job_token: &str,
    ) -> Result<RunnerJobRecord, BoardError> {
        let unknown = || BoardError::UnknownJob(uuid.into());
        let id = Self::runner_id(st, runner_token).map_err(|_| unknown())?;
        let job = st.jobs.get(uuid).ok_or_else(unknown)?;
        let hash = token_hash(job_token);
        let token_ok = job
            .job_token_hash
            .as_ref()
            .is_some_and(|h| same(h.as_bytes(), hash.as_bytes()));
        if !token_ok || job.runner != Some(id) {
            return Err(unknown());
        }
        Ok(job.clone())
    }

    fn processing(job: &RunnerJobRecord) -> Result<(), BoardError> {
        if job.state() != JobState::Processing {
            return Err(BoardError::NotProcessing {
                uuid: job.uuid.clone(),
                state: job.state().label(),
            });
        }
        Ok(())
    }

    /// Checks that the job is this runner's and being processed; returns it.
    pub fn check_processing(
        &self,
        uuid: &str,
        runner_token: &str,
        job_token: &str,
    ) -> Result<RunnerJobRecord, BoardError> {
        let st = self.lock();
        let job = Self::authorized(&st, uuid, runner_token, job_token)?;
        Self::processing(&job)?;
        Ok(job)
    }

    /// `jobs/{uuid}/update`: a heartbeat, with progress when given.
    pub fn update(
        &self,
        uuid: &str,
        runner_token: &str,
        job_token: &str,
        progress: Option<u8>,
    ) -> Result<(), BoardError> {
        let mut st = self.lock();
        let mut job = Self::authorized(&st, uuid, runner_token, job_token)?;
        // A runner's last heartbeat may cross its own `success` (PeerTube develop: a no-op).
        if matches!(job.state(), JobState::Completing | JobState::Completed) {
            return Ok(());
        }
        Self::processing(&job)?;
        job.updated_at = now_ms();
        if let Some(p) = progress {
            job.progress = Some(p.min(100));
        }
        self.saved_with(&mut st, vec![job], Durability::Buffered)?;
        Ok(())
    }

    /// `jobs/{uuid}/success`, once its files are on disk: PROCESSING → COMPLETING.
    pub fn completing(
        &self,
        uuid: &str,
        runner_token: &str,
        job_token: &str,
    ) -> Result<RunnerJobRecord, BoardError> {
        let mut st = self.lock();
        let mut job = Self::authorized(&st, uuid, runner_token, job_token)?;
        Self::processing(&job)?;
        job.state = JobState::Completing.id();
        job.updated_at = now_ms();
        self.saved(&mut st, vec![job.clone()])?;
        Ok(job)
    }

    /// The result of a COMPLETING job was checked and moved into place: COMPLETED, and its
    /// children waiting for it become pending.
    pub fn completed(&self, uuid: &str) -> Result<(), BoardError> {
        let mut st = self.lock();
        let mut job = st
            .jobs
            .get(uuid)
            .cloned()
            .ok_or_else(|| BoardError::UnknownJob(uuid.into()))?;
        let now = now_ms();
        job.state = JobState::Completed.id();
        job.progress = Some(100);
        job.finished_at = Some(now);
        job.updated_at = now;
        let mut changed = vec![job];
        for child in st.jobs.values() {
            if child.parent.as_deref() == Some(uuid)
                && child.state() == JobState::WaitingForParentJob
            {
                let mut c = child.clone();
                c.state = JobState::Pending.id();
                c.updated_at = now;
                changed.push(c);
            }
        }
        self.saved(&mut st, changed)?;
        Ok(())
    }

    /// `jobs/{uuid}/error` (or a result that failed its check, `must_be` the state it is in).
    pub fn error(
        &self,
        uuid: &str,
        runner_token: &str,
        job_token: &str,
        message: &str,
    ) -> Result<AfterFailure, BoardError> {
        let mut st = self.lock();
        let job = Self::authorized(&st, uuid, runner_token, job_token)?;
        Self::processing(&job)?;
        self.fail_locked(&mut st, job, message)
    }

    /// A job's result was refused (too large, or not what was asked): one more failure.
    pub fn result_refused(&self, uuid: &str, message: &str) -> Result<AfterFailure, BoardError> {
        let mut st = self.lock();
        let job = st
            .jobs
            .get(uuid)
            .cloned()
            .ok_or_else(|| BoardError::UnknownJob(uuid.into()))?;
        if !matches!(job.state(), JobState::Processing | JobState::Completing) {
            return Err(BoardError::NotProcessing {
                uuid: uuid.into(),
                state: job.state().label(),
            });
        }
        self.fail_locked(&mut st, job, message)
    }

    pub(super) fn fail_locked(
        &self,
        st: &mut State,
        mut job: RunnerJobRecord,
        message: &str,
    ) -> Result<AfterFailure, BoardError> {
        let now = now_ms();
        job.failures += 1;
        job.error = Some(message.chars().take(4096).collect());
        job.job_token_hash = None;
        job.updated_at = now;
        job.progress = None;
        if job.failures < protocol::MAX_FAILURES && job.kind.abortable() {
            job.state = JobState::Pending.id();
            job.started_at = None;
            self.saved(st, vec![job])?;
            return Ok(AfterFailure::Requeued);
        }
        job.state = JobState::Errored.id();
        job.finished_at = Some(now);
        let mut changed = children_to(st, &job.uuid, JobState::ParentErrored, now);
        changed.push(job);
        self.saved(st, changed)?;
        Ok(AfterFailure::Errored)
    }

    /// `jobs/{uuid}/abort`: a VOD job goes back to pending (its failures unchanged); a live job
    /// cannot be resumed, so it is an error.
    pub fn abort(
        &self,
        uuid: &str,
        runner_token: &str,
        job_token: &str,
        reason: &str,
    ) -> Result<(), BoardError> {
        let mut st = self.lock();
        let mut job = Self::authorized(&st, uuid, runner_token, job_token)?;
        Self::processing(&job)?;
        if !job.kind.abortable() {
            self.fail_locked(&mut st, job, reason)?;
            return Ok(());
        }
        reset_to_pending(&mut job, now_ms());
        self.saved(&mut st, vec![job])?;
        Ok(())
    }
}

/// Back to the queue: no runner, no token, no progress.
pub(super) fn reset_to_pending(job: &mut RunnerJobRecord, now: u64) {
    job.state = JobState::Pending.id();
    job.job_token_hash = None;
    job.started_at = None;
    job.progress = None;
    job.updated_at = now;
}

/// The unfinished descendants of `uuid`, moved to `to`.
pub(super) fn children_to(st: &State, uuid: &str, to: JobState, now: u64) -> Vec<RunnerJobRecord> {
    let mut out: Vec<RunnerJobRecord> = Vec::new();
    let mut parents = vec![uuid.to_string()];
    while let Some(p) = parents.pop() {
        for c in st.jobs.values() {
            if c.parent.as_deref() == Some(p.as_str()) && !c.state().is_final() {
                let mut c = c.clone();
                c.state = to.id();
                c.job_token_hash = None;
                c.finished_at = Some(now);
                c.updated_at = now;
                parents.push(c.uuid.clone());
                out.push(c);
            }
        }
    }
    out
}
