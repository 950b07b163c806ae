//! The runner's state file (`<state dir>/config.toml`): the instances it is registered on with
//! their runner tokens, which jobs it takes and how many at once, and the encoder preferences.
//! Written atomically (temporary file + rename) with mode 0600, since it holds tokens.

use crate::config::TranscodeConfig;
use crate::runners::protocol::JobType;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The state file's name inside the state directory.
pub const FILE_NAME: &str = "config.toml";
/// Jobs processed at once by default.
pub const DEFAULT_CONCURRENCY: usize = 4;
/// Seconds between two `/jobs/request` polls when nothing wakes the runner up.
pub const DEFAULT_POLL_SECS: u64 = 20;
/// Seconds between two `update` calls of a job at most (PeerTube aborts after 120 s).
pub const DEFAULT_UPDATE_SECS: u64 = 15;

/// One instance the runner is registered on (the official runner's `[[registeredInstances]]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instance {
    /// The instance's base URL (`https://videos.example.org`).
    pub url: String,
    /// `ptrt-…`.
    pub runner_token: String,
    /// The name this runner registered under there.
    pub runner_name: String,
}

/// `[jobs]`: what the runner takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// Jobs processed at once (a batch of resolutions of one video takes one slot per job).
    pub concurrency: usize,
    /// Job types requested; `video-transcription` is never requested (no speech model here).
    pub types: Vec<JobType>,
    /// Seconds between polls of `/jobs/request` (the socket wakes the runner up sooner).
    pub poll_interval_secs: u64,
    /// Longest pause between two `update` calls of a running job (PeerTube's watchdog aborts a
    /// job after 2 minutes without one).
    pub update_interval_secs: u64,
    /// Largest input a job may download, in bytes (a bigger one fails the batch with an
    /// `error` naming the limit; the partial file is removed).
    pub max_input_bytes: u64,
    /// Seconds a live source (`live-rtmp-hls-transcoding`) may send nothing before its stream
    /// is over (the job then ends with `success`, as when the streamer stops).
    pub live_idle_timeout_secs: u64,
}

/// `[jobs] max_input_bytes` by default: 64 GiB.
pub const DEFAULT_MAX_INPUT_BYTES: u64 = 64 << 30;
/// `[jobs] live_idle_timeout_secs` by default (PeerTube's RTMP server drops a silent
/// publisher after 30 s).
pub const DEFAULT_LIVE_IDLE_SECS: u64 = 30;

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            concurrency: DEFAULT_CONCURRENCY,
            types: SUPPORTED.to_vec(),
            poll_interval_secs: DEFAULT_POLL_SECS,
            update_interval_secs: DEFAULT_UPDATE_SECS,
            max_input_bytes: DEFAULT_MAX_INPUT_BYTES,
            live_idle_timeout_secs: DEFAULT_LIVE_IDLE_SECS,
        }
    }
}

/// The job types `fleuve runner` processes.
pub const SUPPORTED: [JobType; 6] = [
    JobType::VodWebVideoTranscoding,
    JobType::VodHlsTranscoding,
    JobType::VodAudioMergeTranscoding,
    JobType::GenerateVideoStoryboard,
    JobType::VideoStudioTranscoding,
    JobType::LiveRtmpHlsTranscoding,
];

/// The whole state file.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunnerState {
    /// What jobs, how many at once.
    pub jobs: JobsConfig,
    /// Encoder preferences and source caps (the server's `[transcode]` keys; the ladder keys
    /// are unused: each job says its resolution).
    pub transcode: TranscodeConfig,
    /// Where this runner is registered.
    pub registered_instances: Vec<Instance>,
}

/// Why the state file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Reading or writing failed.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("{}: {source}", .path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: toml::de::Error,
    },
    /// The state could not be serialized.
    #[error("serializing the runner state: {0}")]
    Serialize(#[from] toml::ser::Error),
    /// A value is out of range.
    #[error("config.toml: {0}")]
    Invalid(String),
}

/// The state directory: `--state-dir`, else `$FLEUVE_RUNNER_STATE` (clap reads it), else
/// `$XDG_CONFIG_HOME/fleuve-runner`, else `~/.config/fleuve-runner`.
pub fn default_state_dir(env: impl Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(x) = env("XDG_CONFIG_HOME").filter(|x| !x.is_empty()) {
        return Path::new(&x).join("fleuve-runner");
    }
    match env("HOME").filter(|h| !h.is_empty()) {
        Some(h) => Path::new(&h).join(".config/fleuve-runner"),
        None => PathBuf::from("/var/lib/fleuve-runner"),
    }
}

impl RunnerState {
    /// Reads `<dir>/config.toml`; a missing file is the default state.
    pub fn load(dir: &Path) -> Result<RunnerState, StateError> {
        let path = dir.join(FILE_NAME);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => return Err(StateError::Io { path, source }),
        };
        let state: RunnerState =
            toml::from_str(&text).map_err(|source| StateError::Parse { path, source })?;
        state.validate()?;
        Ok(state)
    }

    /// Checks the values a user may have edited.
    pub fn validate(&self) -> Result<(), StateError> {
        if self.jobs.concurrency == 0 || self.jobs.concurrency > 64 {
            return Err(StateError::Invalid(format!(
                "jobs.concurrency = {}; expected 1 to 64",
                self.jobs.concurrency
            )));
        }
        if let Some(t) = self.jobs.types.iter().find(|t| !SUPPORTED.contains(t)) {
            return Err(StateError::Invalid(format!(
                "jobs.types has {t}, which fleuve runner does not process; expected some of {}",
                SUPPORTED.map(JobType::as_str).join(", ")
            )));
        }
        if !(1..=100).contains(&self.jobs.update_interval_secs) {
            return Err(StateError::Invalid(format!(
                "jobs.update_interval_secs = {}; expected 1 to 100 (PeerTube aborts after 120 s)",
                self.jobs.update_interval_secs
            )));
        }
        if !(1..=3600).contains(&self.jobs.live_idle_timeout_secs) {
            return Err(StateError::Invalid(format!(
                "jobs.live_idle_timeout_secs = {}; expected 1 to 3600",
                self.jobs.live_idle_timeout_secs
            )));
        }
        if self.jobs.poll_interval_secs == 0 {
            return Err(StateError::Invalid(
                "jobs.poll_interval_secs = 0; expected at least 1".into(),
            ));
        }
        Ok(())
    }

    /// Writes `<dir>/config.toml` atomically, readable by its owner only.
    pub fn save(&self, dir: &Path) -> Result<(), StateError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StateError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let text = toml::to_string_pretty(self)?;
        let tmp = dir.join(format!(".{FILE_NAME}.{}", std::process::id()));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io(&tmp))?;
        f.write_all(text.as_bytes()).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        drop(f);
        let path = dir.join(FILE_NAME);
        std::fs::rename(&tmp, &path).map_err(io(&path))
    }

    /// The instance registered at `url` (trailing slashes ignored).
    pub fn instance(&self, url: &str) -> Option<&Instance> {
        let url = normalize_url(url);
        self.registered_instances.iter().find(|i| i.url == url)
    }

    /// Forgets the instance at `url`; returns whether it was there.
    pub fn remove(&mut self, url: &str) -> bool {
        let url = normalize_url(url);
        let before = self.registered_instances.len();
        self.registered_instances.retain(|i| i.url != url);
        before != self.registered_instances.len()
    }

    /// Drops the instance whose runner token is `token` from the file in `dir` (read again, so
    /// that a concurrent `register` is not lost). Returns the instance's URL.
    pub fn forget_token(dir: &Path, token: &str) -> Result<Option<String>, StateError> {
        let mut state = RunnerState::load(dir)?;
        let Some(url) = state
            .registered_instances
            .iter()
            .find(|i| i.runner_token == token)
            .map(|i| i.url.clone())
        else {
            return Ok(None);
        };
        state.remove(&url);
        state.save(dir)?;
        Ok(Some(url))
    }
}

/// An instance URL as stored: no trailing slash.
pub fn normalize_url(url: &str) -> String {
    url.trim().trim_end_matches('/').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            RunnerState::load(dir.path()).unwrap(),
            RunnerState::default()
        );
        let mut state = RunnerState::default();
        state.jobs.concurrency = 3;
        state.jobs.types = vec![JobType::VodHlsTranscoding];
        state.registered_instances.push(Instance {
            url: "https://a.example".into(),
            runner_token: "ptrt-1".into(),
            runner_name: "gpu-1".into(),
        });
        state.registered_instances.push(Instance {
            url: "https://b.example".into(),
            runner_token: "ptrt-2".into(),
            runner_name: "gpu-1".into(),
        });
        state.save(dir.path()).unwrap();
        let path = dir.path().join(FILE_NAME);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("[[registered_instances]]"), "{text}");
        assert!(text.contains("types = [\"vod-hls-transcoding\"]"), "{text}");
        let back = RunnerState::load(dir.path()).unwrap();
        assert_eq!(back, state);
        assert_eq!(
            back.instance("https://b.example/").unwrap().runner_token,
            "ptrt-2"
        );

        assert_eq!(
            RunnerState::forget_token(dir.path(), "ptrt-1").unwrap(),
            Some("https://a.example".into())
        );
        let back = RunnerState::load(dir.path()).unwrap();
        assert_eq!(back.registered_instances.len(), 1);
        assert_eq!(
            RunnerState::forget_token(dir.path(), "ptrt-1").unwrap(),
            None
        );
    }

    #[test]
    fn bad_values_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, "[jobs]\ntypes = [\"video-transcription\"]\n").unwrap();
        let e = RunnerState::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("video-transcription"), "{e}");
        std::fs::write(&path, "[jobs]\nconcurrency = 0\n").unwrap();
        let e = RunnerState::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("jobs.concurrency = 0"), "{e}");
        std::fs::write(&path, "[jobs]\nconcurency = 2\n").unwrap();
        let e = RunnerState::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("concurency"), "{e}");
    }

    #[test]
    fn state_dir_follows_xdg() {
        let env = |k: &str| (k == "XDG_CONFIG_HOME").then(|| "/x".to_string());
        assert_eq!(default_state_dir(env), PathBuf::from("/x/fleuve-runner"));
        let env = |k: &str| (k == "HOME").then(|| "/home/u".to_string());
        assert_eq!(
            default_state_dir(env),
            PathBuf::from("/home/u/.config/fleuve-runner")
        );
        assert_eq!(
            default_state_dir(|_| None),
            PathBuf::from("/var/lib/fleuve-runner")
        );
    }
}
