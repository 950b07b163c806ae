//! The runner's loop: ask each instance for jobs (when its socket says some are waiting, after
//! each batch, and every `poll_interval_secs`), group them ([`super::group`]), accept as many as
//! the free slots allow (a job someone else took first is skipped), and run each batch in its
//! own thread. SIGTERM or SIGINT aborts the running jobs and returns.

use super::config::{RunnerState, SUPPORTED};
use super::group::{batches, Batch};
use super::http::{Api, ApiError};
use super::process::{self, BatchContext, Outcome};
use crate::runners::protocol::{AcceptedJob, JobType};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::Duration;

/// What wakes the loop up.
#[derive(Debug)]
pub enum Wake {
    /// Jobs may be waiting (socket event or connection).
    Jobs,
    /// A batch ended, giving back its slots.
    BatchDone {
        /// The instance.
        instance: String,
        /// Slots freed.
        slots: usize,
        /// How it ended.
        outcome: Outcome,
    },
    /// SIGTERM or SIGINT.
    Stop,
}

/// Why the runner could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The state file.
    #[error(transparent)]
    State(#[from] super::config::StateError),
    /// No instance to work for.
    #[error("this runner is registered on no instance; run `fleuve runner register` first")]
    NoInstance,
    /// The work directory could not be made.
    #[error("{}: {source}", .path.display())]
    WorkDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The signal handler could not be installed.
    #[error("installing the SIGTERM handler: {0}")]
    Signals(std::io::Error),
}

/// Runs until SIGTERM/SIGINT or until no instance is left.
pub fn run(state_dir: &Path, exe: PathBuf) -> Result<(), RunError> {
    let state = RunnerState::load(state_dir)?;
    if state.registered_instances.is_empty() {
        return Err(RunError::NoInstance);
    }
    let work_dir = state_dir.join("work");
    std::fs::create_dir_all(&work_dir).map_err(|source| RunError::WorkDir {
        path: work_dir.clone(),
        source,
    })?;
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = channel::<Wake>();
    watch_signals(tx.clone(), Arc::clone(&stop))?;
    let mut apis: Vec<Api> = state
        .registered_instances
        .iter()
        .map(|i| Api::new(&i.url, &i.runner_token))
        .collect();
    for api in &apis {
        super::socket::watch(
            api.base().to_string(),
            api.runner_token().to_string(),
            tx.clone(),
            || Wake::Jobs,
            Arc::clone(&stop),
        );
    }
    let types: Vec<JobType> = state
        .jobs
        .types
        .iter()
        .copied()
        .filter(|t| SUPPORTED.contains(t))
        .collect();
    // PeerTube's runner sends `jobTypes` only for a subset; ours is always one.
    let mut free = state.jobs.concurrency;
    let mut running = 0usize;
    let poll = Duration::from_secs(state.jobs.poll_interval_secs);
    tracing::info!(instances = apis.len(), concurrency = free, types = ?types, "fleuve runner started");
    let mut skipped_seen: HashSet<String> = HashSet::new();
    loop {
        if !stop.load(Ordering::Relaxed) && free > 0 {
            let mut i = 0;
            while i < apis.len() && free > 0 {
                match fill(&apis[i], &types, free, &mut skipped_seen) {
                    Ok(taken) => {
                        for (batch, jobs) in taken {
                            free -= jobs.len();
                            running += 1;
                            spawn_batch(&apis[i], &state, &work_dir, &exe, &stop, &tx, batch, jobs);
                        }
                        i += 1;
                    }
                    Err(e) if e.is_unknown_runner() => {
                        forget(state_dir, &apis[i]);
                        apis.remove(i);
                    }
                    Err(e) => {
                        tracing::warn!(instance = %apis[i].base(), error = %e, "requesting jobs failed");
                        i += 1;
                    }
                }
            }
        }
        if apis.is_empty() && running == 0 {
            tracing::error!("no instance left (every runner token was refused); exiting");
            return Ok(());
        }
        if stop.load(Ordering::Relaxed) && running == 0 {
            tracing::info!("runner stopped");
            return Ok(());
        }
        match rx.recv_timeout(poll) {
            Ok(Wake::Jobs) | Err(RecvTimeoutError::Timeout) => {}
            Ok(Wake::Stop) => {
                tracing::info!(running, "stopping: aborting the running jobs");
            }
            Ok(Wake::BatchDone {
                instance,
                slots,
                outcome,
            }) => {
                free += slots;
                running = running.saturating_sub(1);
                if outcome == Outcome::UnknownRunner {
                    if let Some(i) = apis.iter().position(|a| a.base() == instance) {
                        forget(state_dir, &apis[i]);
                        apis.remove(i);
                    }
                }
            }
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        }
    }
}

/// Drops an instance whose token was refused, in memory and in the state file.
fn forget(state_dir: &Path, api: &Api) {
    tracing::error!(instance = %api.base(), "the instance does not know this runner's token any more (unknown_runner_token): forgetting it; register again to work for it");
    if let Err(e) = RunnerState::forget_token(state_dir, api.runner_token()) {
        tracing::warn!(error = %e, "could not update the state file");
    }
}

/// Requests jobs and accepts what fits in `free` slots, batch by batch.
fn fill(
    api: &Api,
    types: &[JobType],
    free: usize,
    skipped_seen: &mut HashSet<String>,
) -> Result<Vec<(Batch, Vec<AcceptedJob>)>, ApiError> {
    let available = api.request(Some(types))?;
    if available.is_empty() {
        return Ok(Vec::new());
    }
    let (groups, skipped) = batches(&available, types);
    for s in skipped {
        if skipped_seen.insert(s.uuid.clone()) {
            tracing::info!(job = %s.uuid, reason = %s.reason, "leaving the job to other runners");
        }
    }
    let mut left = free;
    let mut taken = Vec::new();
    for batch in groups {
        if left == 0 {
            break;
        }
        let mut accepted = Vec::new();
        for job in batch.jobs.iter() {
            if accepted.len() == left {
                break;
            }
            match api.accept(&job.uuid) {
                Ok(a) => accepted.push(a),
                // The token is gone: nothing accepted with it can be reported either.
                Err(e) if e.is_unknown_runner() => return Err(e),
                Err(e) if matches!(e.status(), Some(400 | 404 | 409)) => {
                    tracing::info!(job = %job.uuid, reason = %e, "job taken by another runner first; skipping it");
                }
                Err(e) => tracing::warn!(job = %job.uuid, error = %e, "accept failed"),
            }
        }
        if !accepted.is_empty() {
            left -= accepted.len();
            taken.push((batch, accepted));
        }
    }
    Ok(taken)
}

#[allow(clippy::too_many_arguments)]
fn spawn_batch(
    api: &Api,
    state: &RunnerState,
    work_dir: &Path,
    exe: &Path,
    stop: &Arc<AtomicBool>,
    tx: &Sender<Wake>,
    batch: Batch,
    jobs: Vec<AcceptedJob>,
) {
    let slots = jobs.len();
    let ctx = BatchContext {
        api: api.clone(),
        jobs,
        with_audio: batch.with_audio,
        work_dir: work_dir.to_path_buf(),
        exe: exe.to_path_buf(),
        transcode: state.transcode.clone(),
        update_every: Duration::from_secs(state.jobs.update_interval_secs),
        max_input: state.jobs.max_input_bytes,
        live_idle: Duration::from_secs(state.jobs.live_idle_timeout_secs),
        stop: Arc::clone(stop),
    };
    let tx = tx.clone();
    let instance = api.base().to_string();
    std::thread::spawn(move || {
        let outcome = process::run(ctx);
        let _ = tx.send(Wake::BatchDone {
            instance,
            slots,
            outcome,
        });
    });
}

/// SIGTERM and SIGINT set `stop` and wake the loop (a tokio signal listener on its own thread).
fn watch_signals(tx: Sender<Wake>, stop: Arc<AtomicBool>) -> Result<(), RunError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(RunError::Signals)?;
    use tokio::signal::unix::{signal, SignalKind};
    let (mut term, mut int) = rt
        .block_on(async {
            Ok::<_, std::io::Error>((
                signal(SignalKind::terminate())?,
                signal(SignalKind::interrupt())?,
            ))
        })
        .map_err(RunError::Signals)?;
    std::thread::spawn(move || {
        rt.block_on(async {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        });
        stop.store(true, Ordering::Relaxed);
        let _ = tx.send(Wake::Stop);
    });
    Ok(())
}
