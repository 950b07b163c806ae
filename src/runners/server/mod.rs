//! The server side of PeerTube's remote-runner protocol: with
//! `transcode.remote_runners.enabled`, a video's transcode becomes runner jobs that remote
//! runners take, and their results are checked, assembled and published by the transcoder's own
//! path. The registration and runner endpoints exist whatever the switch says (as in PeerTube).
//!
//! Files: [`store`] (tables), [`jobs`] (the state machine: the runners' side), [`lifecycle`]
//! (the server's side: jobs made, cancelled, re-queued, pruned), [`registry`] (tokens, runners),
//! [`view`] (API shapes), [`routes`] (the runners' calls),
//! [`files`] (input downloads), [`results`] (uploaded results: streamed to disk, checked in a
//! child process, moved into place), [`admin`] (administrators' routes), [`socket`]
//! (socket.io `available-jobs`), [`watchdog`] (stalled jobs), [`dispatch`] (the transcoder's
//! [`RemoteWork`](crate::transcode::runner::RemoteWork)).

pub mod admin;
pub mod dispatch;
pub mod files;
pub mod guard;
pub mod jobs;
pub mod lifecycle;
pub mod registry;
pub mod results;
pub mod routes;
pub mod socket;
pub mod store;
pub mod view;
pub mod watchdog;

use crate::app::SharedApp;
use crate::config::{RemoteRunnersConfig, TranscodeConfig};
use crate::store::{Store, StoreError};
use axum::Router;
use jobs::Board;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex};

/// The runner server: the board and what dispatch, results and files need.
pub struct RunnerServer {
    /// Tokens, runners, jobs.
    pub board: Board,
    /// `[transcode.remote_runners]`.
    pub config: RemoteRunnersConfig,
    /// `[transcode]` (the ladder's options).
    pub transcode: TranscodeConfig,
    /// `<data_dir>/runners`: `incoming/`, `completing/`, `results/`.
    pub dir: PathBuf,
    /// Public URL (input file URLs).
    pub public_url: String,
    /// The `fleuve` executable (result checks and assembly run as its children).
    pub exe: PathBuf,
    stop: AtomicBool,
    cancelled: Mutex<HashSet<String>>,
    /// socket.io connections open.
    pub sockets: AtomicUsize,
    /// Unknown tokens presented, per address ([`guard`]).
    pub refusals: guard::Refusals,
    /// Runner calls made, per address ([`guard`]).
    pub calls: guard::Calls,
}

impl std::fmt::Debug for RunnerServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunnerServer")
            .field("enabled", &self.config.enabled)
            .finish_non_exhaustive()
    }
}

impl RunnerServer {
    /// Loads the board and tidies what a stop left: partial uploads are removed, results that
    /// were being checked are checked again (in the background).
    pub fn open(
        store: Arc<Store>,
        transcode: &TranscodeConfig,
        data_dir: &std::path::Path,
        public_url: &str,
        exe: PathBuf,
    ) -> Result<Arc<RunnerServer>, StoreError> {
        let server = Arc::new(RunnerServer {
            board: Board::load(store)?,
            config: transcode.remote_runners.clone(),
            transcode: transcode.clone(),
            dir: data_dir.join("runners"),
            public_url: public_url.trim_end_matches('/').to_string(),
            exe,
            stop: AtomicBool::new(false),
            cancelled: Mutex::new(HashSet::new()),
            sockets: AtomicUsize::new(0),
            refusals: guard::Refusals::default(),
            calls: guard::Calls::default(),
        });
        results::recover(&server);
        Ok(server)
    }

    /// Where uploads are written while they arrive.
    pub fn incoming_dir(&self) -> PathBuf {
        self.dir.join("incoming")
    }

    /// Where a job's result waits while it is checked.
    pub fn completing_dir(&self, uuid: &str) -> PathBuf {
        self.dir.join("completing").join(uuid)
    }

    /// Where a completed job's result is kept until its video is assembled.
    pub fn result_dir(&self, uuid: &str) -> PathBuf {
        self.dir.join("results").join(uuid)
    }

    /// The server is stopping: the watchdog ends, waiting attempts return (their runner jobs are
    /// kept and found again at the next start).
    pub fn shutdown(&self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.board.wake();
    }

    /// Whether the server is stopping.
    pub fn stopping(&self) -> bool {
        self.stop.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The admin status's `remoteRunners`: whether transcodes go to runners, the runners, and the
    /// jobs by state.
    pub fn status_json(&self) -> serde_json::Value {
        let server = self;
        let jobs: serde_json::Map<String, serde_json::Value> = server
            .board
            .count_by_state()
            .into_iter()
            .map(|(s, n)| (state_label(s), serde_json::json!(n)))
            .collect();
        serde_json::json!({
            "enabled": server.config.enabled,
            "runners": server.board.runner_count(),
            "jobs": jobs,
        })
    }

    /// Appends the runner metrics: jobs by state, runners registered.
    pub fn render_metrics(&self, out: &mut String) {
        let server = self;
        let mut w = crate::metrics::exposition::Exposition::new(out);
        {
            let mut jobs = w.gauge("fleuve_runner_jobs", "Remote runner jobs by state.");
            for (state, n) in server.board.count_by_state() {
                jobs.sample(&[("state", &state_label(state))], n);
            }
        }
        w.gauge("fleuve_runners_registered", "Remote runners registered.")
            .sample(&[], server.board.runner_count());
    }

    /// The routes: the runners' calls and their file downloads (behind the bad-token and
    /// call-rate [`guard`]), socket.io and the administrators'.
    pub fn routes(app: &SharedApp) -> Router<SharedApp> {
        Router::new()
            .merge(routes::routes())
            .merge(files::routes())
            .route_layer(axum::middleware::from_fn_with_state(
                app.clone(),
                guard::guard,
            ))
            .merge(admin::routes())
            .merge(socket::routes())
    }
}

/// A state as a metric label and status key (`waiting_for_parent_job`).
fn state_label(state: crate::runners::protocol::JobState) -> String {
    let mut out = String::new();
    for (i, c) in format!("{state:?}").chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

#[cfg(test)]
mod board_tests;
