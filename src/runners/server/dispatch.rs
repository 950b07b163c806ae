//! The transcoder's remote side ([`RemoteWork`]): one `vod-hls-transcoding` runner job per rung
//! of the planned ladder, all pending at once (one input URL, so a Fleuve runner decodes the
//! source once for all of them), plus a `generate-video-storyboard`; the attempt waits, woken on
//! every job change, until all completed (→ assembled into the staging directory) or one failed
//! (→ the attempt's error). Jobs are keyed by the Fleuve job, so after a restart an attempt finds
//! its runner jobs again instead of making new ones.

use super::results::{image_ext, PLAYLIST_FILE, STORYBOARD_FILE, VIDEO_FILE};
use super::store::RunnerJobRecord;
use super::RunnerServer;
use crate::runners::protocol::{
    self, HlsOutput, HlsPayload, JobState, JobType, Size, Sprites, StoryboardInput,
    StoryboardPayload, VodInput,
};
use crate::store::tables::Job;
use crate::time::now_ms;
use crate::transcode::assemble::{assemble_isolated, AssembleSpec, RunnerRendition};
use crate::transcode::runner::RemoteWork;
use crate::transcode::storyboard::SpritePlan;
use crate::transcode::worker::WorkerResult;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

impl RunnerServer {
    /// The input URL of a job (`…/files/videos/<video>/max-quality`).
    fn input_url(&self, job_uuid: &str, video_uuid: &str) -> String {
        format!(
            "{}/api/v1/runners/jobs/{job_uuid}/files/videos/{video_uuid}/max-quality",
            self.public_url
        )
    }

    fn is_cancelled(&self, video_uuid: &str) -> bool {
        self.cancelled
            .lock()
            .map(|c| c.contains(video_uuid))
            .unwrap_or(false)
    }

    /// The runner jobs of this attempt: those a previous attempt left unfinished or completed
    /// (after a restart), else new ones.
    fn jobs_for(&self, job: &Job, duration: f64) -> Result<Vec<RunnerJobRecord>, String> {
        let live: Vec<RunnerJobRecord> = self
            .board
            .jobs_of(job.id)
            .into_iter()
            .filter(|j| !j.private_payload["retired"].as_bool().unwrap_or(false))
            .collect();
        if !live.is_empty() {
            tracing::info!(
                job = job.id,
                runner_jobs = live.len(),
                "runner jobs found again"
            );
            return Ok(live);
        }
        let report = crate::transcode::worker::probe_isolated(
            &self.exe,
            &job.source,
            &self.transcode.plan_options(),
            None,
        )
        .map_err(|e| format!("cannot plan the source: {e}"))?;
        let now = now_ms();
        let base =
            |kind: JobType, uuid: String, payload: serde_json::Value, extra: serde_json::Value| {
                let mut private = json!({
                    "videoUUID": job.video_uuid,
                    "isNewVideo": true,
                    "deleteWebVideoFiles": false,
                    "canMoveVideoState": true,
                    "inputStreams": [],
                    "transcodingRequestAt": crate::time::iso8601(now / 1000),
                    "fleuveJob": job.id,
                    "source": job.source,
                    "hasAudio": report.has_audio,
                });
                if let (Some(p), Some(e)) = (private.as_object_mut(), extra.as_object()) {
                    p.extend(e.clone());
                }
                RunnerJobRecord {
                    uuid,
                    kind,
                    state: JobState::Pending.id(),
                    payload,
                    private_payload: private,
                    priority: protocol::PRIORITY_TRANSCODING,
                    failures: 0,
                    error: None,
                    progress: None,
                    parent: None,
                    runner: None,
                    job_token_hash: None,
                    fleuve_job: job.id,
                    fleuve_attempt: job.attempts,
                    video_uuid: job.video_uuid.clone(),
                    created_at: now,
                    updated_at: now,
                    started_at: None,
                    finished_at: None,
                }
            };
        let mut jobs = Vec::new();
        for (i, resolution) in report.resolutions.iter().enumerate() {
            let uuid = uuid::Uuid::new_v4().to_string();
            let fps = report
                .rung_fps
                .get(i)
                .copied()
                .unwrap_or_else(|| report.fps.round().max(1.0) as u32);
            let payload = HlsPayload {
                input: VodInput {
                    video_file_url: self.input_url(&uuid, &job.video_uuid),
                    separated_audio_file_url: Vec::new(),
                },
                output: HlsOutput {
                    resolution: *resolution,
                    fps,
                    separated_audio: false,
                    video_file_custom_upload: None,
                    resolution_playlist_file_custom_upload: None,
                },
            };
            let payload = serde_json::to_value(payload).map_err(|e| e.to_string())?;
            jobs.push(base(JobType::VodHlsTranscoding, uuid, payload, json!({})));
        }
        if let Some(plan) =
            SpritePlan::new(duration.max(report.duration), report.width, report.height)
        {
            let uuid = uuid::Uuid::new_v4().to_string();
            let payload = StoryboardPayload {
                input: StoryboardInput {
                    video_file_url: self.input_url(&uuid, &job.video_uuid),
                },
                sprites: Sprites {
                    size: Size {
                        width: plan.sprite_width,
                        height: plan.sprite_height,
                    },
                    count: Size {
                        width: plan.columns,
                        height: plan.rows,
                    },
                    duration: plan.sprite_duration,
                },
                output: json!({}),
            };
            let payload = serde_json::to_value(payload).map_err(|e| e.to_string())?;
            jobs.push(base(
                JobType::GenerateVideoStoryboard,
                uuid,
                payload,
                json!({}),
            ));
        }
        self.board
            .create(jobs.clone())
            .map_err(|e| format!("cannot record the runner jobs: {e}"))?;
        tracing::info!(job = job.id, video = %job.video_uuid, runner_jobs = jobs.len(), "runner jobs created");
        Ok(jobs)
    }

    /// Waits until every job of the set completed, or one of them failed.
    fn wait_for(&self, job: &Job, uuids: &[String]) -> Result<Vec<RunnerJobRecord>, String> {
        loop {
            let generation = self.board.generation();
            if self.stopping() {
                return Err("the server is stopping".into());
            }
            if self.is_cancelled(&job.video_uuid) {
                return Err("the video was deleted".into());
            }
            let now: Vec<RunnerJobRecord> =
                uuids.iter().filter_map(|u| self.board.job(u)).collect();
            if now.len() != uuids.len() {
                return Err("runner jobs of this video were deleted by an administrator".into());
            }
            if let Some(bad) = now.iter().find(|j| {
                matches!(
                    j.state(),
                    JobState::Errored
                        | JobState::Cancelled
                        | JobState::ParentErrored
                        | JobState::ParentCancelled
                )
            }) {
                let what = match bad.payload["output"]["resolution"].as_u64() {
                    Some(r) => format!("{} ({r}p)", bad.kind),
                    None => bad.kind.to_string(),
                };
                return Err(format!(
                    "runner job {} {what} {}: {}",
                    bad.uuid,
                    bad.state().label().to_lowercase(),
                    bad.error.as_deref().unwrap_or("no reason given")
                ));
            }
            if now.iter().all(|j| j.state() == JobState::Completed) {
                return Ok(now);
            }
            self.board.wait_change(generation, Duration::from_secs(5));
        }
    }

    /// Marks a failed attempt's jobs as not to be reused, and cancels what is left of them.
    fn retire(&self, job: &Job, jobs: &[RunnerJobRecord]) {
        if let Err(e) = self.board.mark(job.id, "retired") {
            tracing::error!(job = job.id, runner_jobs = jobs.len(), error = %e, "cannot retire runner jobs");
        }
        if let Err(e) = self.board.retire(job.id, u32::MAX) {
            tracing::error!(job = job.id, error = %e, "cannot cancel a failed attempt's runner jobs");
        }
    }

    fn assemble(
        &self,
        job: &Job,
        video_name: &str,
        done: &[RunnerJobRecord],
        out: &Path,
    ) -> Result<WorkerResult, String> {
        let mut renditions = Vec::new();
        let mut storyboard: Option<PathBuf> = None;
        for j in done {
            let dir = self.result_dir(&j.uuid);
            match j.kind {
                JobType::VodHlsTranscoding => {
                    let output = &j.payload["output"];
                    renditions.push(RunnerRendition {
                        resolution: output["resolution"].as_u64().unwrap_or(0) as u32,
                        fps: output["fps"].as_u64().unwrap_or(0) as u32,
                        media_file: dir.join(VIDEO_FILE),
                        playlist: dir.join(PLAYLIST_FILE),
                    });
                }
                JobType::GenerateVideoStoryboard => {
                    let sheet = dir.join(STORYBOARD_FILE);
                    let mut head = [0u8; 12];
                    let ext = std::fs::File::open(&sheet)
                        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
                        .ok()
                        .and_then(|()| image_ext(&head))
                        .ok_or_else(|| {
                            format!("the storyboard of runner job {} is gone", j.uuid)
                        })?;
                    let named = dir.join(format!("{STORYBOARD_FILE}.{ext}"));
                    std::fs::hard_link(&sheet, &named)
                        .or_else(|e| if named.exists() { Ok(()) } else { Err(e) })
                        .map_err(|e| format!("storyboard: {e}"))?;
                    storyboard = Some(named);
                }
                _ => {}
            }
        }
        let spec = AssembleSpec {
            renditions,
            storyboard,
            staging: out.to_path_buf(),
            prefix: uuid::Uuid::new_v4().to_string(),
            video_uuid: job.video_uuid.clone(),
            video_name: video_name.to_string(),
            public_url: self.public_url.clone(),
            web_videos: self.transcode.web_videos.enabled,
        };
        assemble_isolated(&self.exe, &spec)
    }
}

impl RemoteWork for RunnerServer {
    fn attempt(
        &self,
        job: &Job,
        video_name: &str,
        duration: f64,
        out: &Path,
    ) -> Result<WorkerResult, String> {
        let jobs = self.jobs_for(job, duration)?;
        let uuids: Vec<String> = jobs.iter().map(|j| j.uuid.clone()).collect();
        let outcome = self
            .wait_for(job, &uuids)
            .and_then(|done| self.assemble(job, video_name, &done, out));
        if let Err(e) = &outcome {
            if !self.stopping() {
                tracing::warn!(job = job.id, video = %job.video_uuid, error = %e, "remote transcode attempt failed");
                self.retire(job, &jobs);
            }
        }
        outcome
    }

    fn cancel(&self, video_uuid: &str) {
        if let Ok(mut c) = self.cancelled.lock() {
            c.insert(video_uuid.to_string());
        }
        match self.board.cancel_video(video_uuid) {
            Ok(n) if n > 0 => {
                tracing::info!(video = %video_uuid, jobs = n, "runner jobs cancelled: the video is being deleted")
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(video = %video_uuid, error = %e, "cannot cancel the video's runner jobs")
            }
        }
        self.board.wake();
    }

    fn stop(&self) {
        self.shutdown();
    }

    fn release(&self, job: &Job) {
        if let Ok(mut c) = self.cancelled.lock() {
            c.remove(&job.video_uuid);
        }
        // The records stay a while (administrators list them; the watchdog prunes them after
        // FINISHED_JOBS_KEPT); the result files go now.
        if let Err(e) = self.board.mark(job.id, "released") {
            tracing::error!(job = job.id, error = %e, "cannot mark runner jobs released");
        }
        for j in self.board.jobs_of(job.id) {
            let _ = std::fs::remove_dir_all(self.result_dir(&j.uuid));
            let _ = std::fs::remove_dir_all(self.completing_dir(&j.uuid));
        }
    }
}
