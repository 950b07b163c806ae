//! The runner tables in RocksDB (`jobs` column family, beside Fleuve's own jobs): registration
//! tokens, runners (their token kept as a SHA-256 only) and runner jobs (their job token hashed
//! too). Everything is loaded once at start into [`super::jobs::Board`]; every change is written
//! through, synced, before it is acted on.

use crate::runners::protocol::{JobState, JobType};
use crate::store::codec::StoreError;
use crate::store::tables::{string_key, u64_key};
use crate::store::{Batch, Cf, Durability, Store};
use serde::{Deserialize, Serialize};

/// A registration token an administrator generated (shown back to administrators, so kept as is).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistrationToken {
    /// Its id.
    pub id: u64,
    /// `ptrrt-<uuid>`.
    pub token: String,
    /// Creation (Unix ms).
    pub created_at: u64,
}

/// A registered runner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Runner {
    /// Its id.
    pub id: u64,
    /// Unique name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// What it last said its version was.
    pub version: String,
    /// Address of its last call.
    pub ip: String,
    /// Last call (Unix ms).
    pub last_contact: u64,
    /// The registration token it registered with.
    pub registration_token: u64,
    /// Hex SHA-256 of its `ptrt-…` token.
    pub token_hash: String,
    /// Registration (Unix ms).
    pub created_at: u64,
    /// Last change (Unix ms).
    pub updated_at: u64,
}

/// A runner job as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunnerJobRecord {
    /// Its uuid.
    pub uuid: String,
    /// Its type.
    pub kind: JobType,
    /// PeerTube's state number (see [`JobState`]).
    pub state: u8,
    /// What the runner is given.
    pub payload: serde_json::Value,
    /// What the server keeps for itself (PeerTube's private payload plus Fleuve's fields).
    pub private_payload: serde_json::Value,
    /// Lower runs first.
    pub priority: i32,
    /// Failures so far.
    pub failures: u32,
    /// The last error.
    pub error: Option<String>,
    /// 0–100, from the runner's updates.
    pub progress: Option<u8>,
    /// The job it waits for.
    pub parent: Option<String>,
    /// The runner processing it (or that last did).
    pub runner: Option<u64>,
    /// Hex SHA-256 of the processing job token.
    pub job_token_hash: Option<String>,
    /// The Fleuve transcode job it is part of.
    pub fleuve_job: u64,
    /// The attempt of that job it was made for (a failed attempt's jobs are not reused).
    pub fleuve_attempt: u32,
    /// The video.
    pub video_uuid: String,
    /// Creation (Unix ms).
    pub created_at: u64,
    /// Last change or heartbeat (Unix ms).
    pub updated_at: u64,
    /// When a runner accepted it (Unix ms).
    pub started_at: Option<u64>,
    /// When it ended (Unix ms).
    pub finished_at: Option<u64>,
}

impl RunnerJobRecord {
    /// The state as PeerTube's enum (an unknown number reads as errored).
    pub fn state(&self) -> JobState {
        JobState::from_id(self.state).unwrap_or(JobState::Errored)
    }
}

string_key!(
    /// `jobs`: runner job by uuid.
    RunnerJobKey, Cf::Jobs, 0x10, RunnerJobRecord
);
u64_key!(
    /// `jobs`: runner by id.
    RunnerKey, Cf::Jobs, 0x11, Runner
);
u64_key!(
    /// `jobs`: registration token by id.
    RegistrationTokenKey, Cf::Jobs, 0x12, RegistrationToken
);

/// Everything stored, as loaded at start.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Registration tokens.
    pub tokens: Vec<RegistrationToken>,
    /// Runners.
    pub runners: Vec<Runner>,
    /// Runner jobs.
    pub jobs: Vec<RunnerJobRecord>,
}

/// Reads every runner table.
pub fn load(store: &Store) -> Result<Loaded, StoreError> {
    Ok(Loaded {
        tokens: store
            .scan::<RegistrationTokenKey>(&())?
            .into_iter()
            .map(|(_, v)| v)
            .collect(),
        runners: store
            .scan::<RunnerKey>(&())?
            .into_iter()
            .map(|(_, v)| v)
            .collect(),
        jobs: store
            .scan::<RunnerJobKey>(&())?
            .into_iter()
            .map(|(_, v)| v)
            .collect(),
    })
}

/// Changes to write at once (synced).
#[derive(Default)]
pub struct Changes {
    batch: Batch,
}

impl Changes {
    /// Writes (or rewrites) a job.
    pub fn job(&mut self, store: &Store, job: &RunnerJobRecord) -> Result<(), StoreError> {
        self.batch.put(store, &RunnerJobKey(job.uuid.clone()), job)
    }

    /// Removes a job.
    pub fn remove_job(&mut self, store: &Store, uuid: &str) {
        self.batch.delete(store, &RunnerJobKey(uuid.to_string()));
    }

    /// Writes a runner.
    pub fn runner(&mut self, store: &Store, runner: &Runner) -> Result<(), StoreError> {
        self.batch.put(store, &RunnerKey(runner.id), runner)
    }

    /// Removes a runner.
    pub fn remove_runner(&mut self, store: &Store, id: u64) {
        self.batch.delete(store, &RunnerKey(id));
    }

    /// Writes a registration token.
    pub fn token(&mut self, store: &Store, token: &RegistrationToken) -> Result<(), StoreError> {
        self.batch
            .put(store, &RegistrationTokenKey(token.id), token)
    }

    /// Removes a registration token.
    pub fn remove_token(&mut self, store: &Store, id: u64) {
        self.batch.delete(store, &RegistrationTokenKey(id));
    }

    /// Writes everything, synced.
    pub fn commit(self, store: &Store) -> Result<(), StoreError> {
        self.commit_with(store, Durability::Sync)
    }

    /// Writes everything with `durability` (heartbeats need no fsync: losing one to a power cut
    /// only makes the watchdog a little early).
    pub fn commit_with(self, store: &Store, durability: Durability) -> Result<(), StoreError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        store.write(self.batch, durability)
    }
}
