//! The stalled-job watchdog (PeerTube's `RunnerJobWatchDogScheduler`): a processing job whose
//! runner sent nothing for `stalled_vod_secs` (live: `stalled_live_secs`) goes back to pending,
//! its failures unchanged, and runners are told jobs are waiting. Once an hour it also removes
//! finished jobs nothing reads any more, [`FINISHED_JOBS_KEPT`] after they ended.

use super::RunnerServer;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a finished runner job stays listed once nothing reads it (its video published,
/// failed or deleted, or its attempt failed).
pub const FINISHED_JOBS_KEPT: Duration = Duration::from_secs(7 * 24 * 3600);
/// How often finished jobs are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Starts the watchdog thread; it ends when the server stops.
pub fn spawn(srv: Arc<RunnerServer>) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("fleuve-runner-watchdog".into())
        .spawn(move || {
            let vod = Duration::from_secs(srv.config.stalled_vod_secs.max(1));
            let live = Duration::from_secs(srv.config.stalled_live_secs.max(1));
            // Often enough that a job is re-queued within a quarter of its limit.
            let period = (vod.min(live) / 4).clamp(Duration::from_millis(250), Duration::from_secs(15));
            let mut pruned_at: Option<Instant> = None;
            while !srv.stopping() {
                if pruned_at.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
                    pruned_at = Some(Instant::now());
                    let before = crate::time::now_ms()
                        .saturating_sub(FINISHED_JOBS_KEPT.as_millis() as u64);
                    match srv.board.prune(before) {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(jobs = n, "old finished runner jobs removed"),
                        Err(e) => tracing::error!(error = %e, "cannot remove old runner jobs"),
                    }
                }
                match srv.board.requeue_stalled(vod, live) {
                    Ok(jobs) if !jobs.is_empty() => {
                        tracing::warn!(jobs = ?jobs, "stalled runner jobs re-queued (no update from their runner)");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "runner watchdog cannot record re-queued jobs"),
                }
                let until = Instant::now() + period;
                while Instant::now() < until && !srv.stopping() {
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        })
}
