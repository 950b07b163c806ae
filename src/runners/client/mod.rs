//! `fleuve runner`: a PeerTube remote runner (works for any PeerTube 6–8 instance and for
//! Fleuve). It registers with a registration token, keeps one runner token per instance in its
//! state file ([`config`]), listens for `available-jobs` on socket.io ([`socket`]) and polls,
//! accepts jobs ([`scheduler`], [`group`]) and processes them ([`process`]): the resolutions of
//! one video are downloaded once and decoded once for every accepted job.

pub mod config;
pub mod group;
pub mod http;
pub mod multipart;
pub mod process;
pub mod scheduler;
pub mod socket;

use config::{default_state_dir, normalize_url, Instance, RunnerState};
use http::Api;
use std::path::PathBuf;

/// `fleuve runner …` options.
#[derive(clap::Args, Debug, Clone)]
pub struct Options {
    /// Directory of the runner's state (`config.toml`: tokens, jobs, encoders). Default:
    /// `$XDG_CONFIG_HOME/fleuve-runner` (`/var/lib/fleuve-runner` in the systemd unit).
    #[arg(long, env = "FLEUVE_RUNNER_STATE", global = true)]
    pub state_dir: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The runner's subcommands.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum Command {
    /// Register on an instance with a registration token (`ptrrt-…`, from its administrator).
    Register {
        /// The instance (`https://videos.example.org`).
        #[arg(long)]
        url: String,
        /// The registration token.
        #[arg(long)]
        registration_token: String,
        /// This runner's name there (unique per instance).
        #[arg(long)]
        name: String,
        /// Free text shown to the administrator.
        #[arg(long)]
        description: Option<String>,
    },
    /// Unregister from an instance and forget its token.
    Unregister {
        /// The instance.
        #[arg(long)]
        url: String,
    },
    /// List the instances this runner is registered on.
    List,
    /// Request, accept and process jobs until SIGTERM.
    Run,
    /// Process one batch (started by `run`, one process per batch; not for operators).
    #[command(hide = true)]
    Transcode {
        /// The batch spec (JSON) written by `run`.
        #[arg(long)]
        spec: PathBuf,
    },
    /// Transcode one live stream (started by `run`, one process per live job; not for
    /// operators).
    #[command(hide = true)]
    Live {
        /// The live job's spec (JSON) written by `run`.
        #[arg(long)]
        spec: PathBuf,
    },
}

/// Why a runner command failed.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The state file.
    #[error(transparent)]
    State(#[from] config::StateError),
    /// A call to the instance.
    #[error(transparent)]
    Api(#[from] http::ApiError),
    /// The run loop.
    #[error(transparent)]
    Run(#[from] scheduler::RunError),
    /// Registering twice on one instance.
    #[error("already registered on {0} (as {1}); unregister first")]
    AlreadyRegistered(String, String),
    /// Not registered there.
    #[error("not registered on {0}")]
    NotRegistered(String),
    /// The batch spec could not be read.
    #[error("{0}")]
    Spec(String),
    /// The executable's path is unknown (needed to start batch processes).
    #[error("locating the fleuve executable: {0}")]
    Exe(std::io::Error),
}

/// Runs a `fleuve runner` command; returns the process exit code.
pub fn main(opts: &Options) -> Result<i32, RunnerError> {
    let dir = opts
        .state_dir
        .clone()
        .unwrap_or_else(|| default_state_dir(|k| std::env::var(k).ok()));
    match &opts.command {
        Command::Register {
            url,
            registration_token,
            name,
            description,
        } => {
            let mut state = RunnerState::load(&dir)?;
            let url = normalize_url(url);
            if let Some(i) = state.instance(&url) {
                return Err(RunnerError::AlreadyRegistered(url, i.runner_name.clone()));
            }
            let result = Api::register(&url, registration_token, name, description.as_deref())?;
            state.registered_instances.push(Instance {
                url: url.clone(),
                runner_token: result.runner_token,
                runner_name: name.clone(),
            });
            state.save(&dir)?;
            println!("registered on {url} as {name} (runner id {})", result.id);
            Ok(0)
        }
        Command::Unregister { url } => {
            let mut state = RunnerState::load(&dir)?;
            let url = normalize_url(url);
            let instance = state
                .instance(&url)
                .cloned()
                .ok_or_else(|| RunnerError::NotRegistered(url.clone()))?;
            let api = Api::new(&instance.url, &instance.runner_token);
            match api.unregister() {
                Ok(()) => {}
                // Already gone there: forgetting it here is all that is left to do.
                Err(e) if e.is_unknown_runner() => {}
                Err(e) => return Err(e.into()),
            }
            state.remove(&url);
            state.save(&dir)?;
            println!("unregistered from {url}");
            Ok(0)
        }
        Command::List => {
            let state = RunnerState::load(&dir)?;
            if state.registered_instances.is_empty() {
                println!("registered on no instance ({})", dir.display());
            }
            for i in &state.registered_instances {
                println!("{}\t{}", i.url, i.runner_name);
            }
            Ok(0)
        }
        Command::Run => {
            let exe = std::env::current_exe().map_err(RunnerError::Exe)?;
            scheduler::run(&dir, exe)?;
            Ok(0)
        }
        Command::Transcode { spec } => {
            let spec = process::transcode::read_spec(spec).map_err(RunnerError::Spec)?;
            let mut stdout = std::io::stdout().lock();
            Ok(process::transcode::main(&spec, &mut stdout))
        }
        Command::Live { spec } => {
            let spec = process::live::child::read_spec(spec).map_err(RunnerError::Spec)?;
            let mut stdout = std::io::stdout().lock();
            Ok(process::live::child::main(&spec, &mut stdout))
        }
    }
}
