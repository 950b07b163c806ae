//! The stalled-job watchdog (PeerTube's `RunnerJobWatchDogScheduler`): a processing job whose
//! runner sent nothing for `stalled_vod_secs` (live: `stalled_live_secs`) goes back to pending,
//! its failures unchanged, and runners are told jobs are waiting.

use super::RunnerServer;
use std::sync::Arc;
use std::time::Duration;

/// Starts the watchdog thread; it ends when the server stops.
pub fn spawn(srv: Arc<RunnerServer>) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("fleuve-runner-watchdog".into())
        .spawn(move || {
            let vod = Duration::from_secs(srv.config.stalled_vod_secs.max(1));
            let live = Duration::from_secs(srv.config.stalled_live_secs.max(1));
            // Often enough that a job is re-queued within a quarter of its limit.
            let period = (vod.min(live) / 4).clamp(Duration::from_millis(250), Duration::from_secs(15));
            while !srv.stopping() {
                match srv.board.requeue_stalled(vod, live) {
                    Ok(jobs) if !jobs.is_empty() => {
                        tracing::warn!(jobs = ?jobs, "stalled runner jobs re-queued (no update from their runner)");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "runner watchdog cannot record re-queued jobs"),
                }
                let until = std::time::Instant::now() + period;
                while std::time::Instant::now() < until && !srv.stopping() {
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        })
}
