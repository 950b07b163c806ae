//! The wire types of PeerTube's remote-runner protocol, as PeerTube 8 declares them
//! (`packages/models/src/runners/`, `@peertube/peertube-types`): job types and states, the
//! payloads the server hands out, the bodies runners send, and the error codes runners act on.
//! Both the server side and the `fleuve runner` client use these, so the two cannot drift apart.
//!
//! Tokens travel in the bodies (JSON, or multipart fields for `update` and `success`), never in
//! an `Authorization` header.

use serde::{Deserialize, Serialize};

/// Prefix of a registration token (`ptrrt-<uuid>`).
pub const REGISTRATION_TOKEN_PREFIX: &str = "ptrrt-";
/// Prefix of a runner token (`ptrt-<uuid>`).
pub const RUNNER_TOKEN_PREFIX: &str = "ptrt-";
/// Prefix of a job token (`ptrjt-<uuid>`).
pub const JOB_TOKEN_PREFIX: &str = "ptrjt-";

/// Error code: the runner token is not known (the runner forgets that instance).
pub const UNKNOWN_RUNNER_TOKEN: &str = "unknown_runner_token";
/// Error code: the job is not being processed (cancelled, re-queued, finished).
pub const NOT_IN_PROCESSING_STATE: &str = "runner_job_not_in_processing_state";
/// Error code: the job was accepted by someone else first.
pub const NOT_IN_PENDING_STATE: &str = "runner_job_not_in_pending_state";

/// Failures after which a job is errored instead of re-queued (`RUNNER_JOBS.MAX_FAILURES`).
pub const MAX_FAILURES: u32 = 5;
/// Jobs one `/jobs/request` offers at most.
pub const MAX_AVAILABLE_JOBS: usize = 10;
/// Priorities (`JOB_PRIORITY`): lower runs first.
pub const PRIORITY_TRANSCODING: i32 = 100;
/// Video studio edits.
pub const PRIORITY_VIDEO_STUDIO: i32 = 150;
/// Transcriptions.
pub const PRIORITY_TRANSCRIPTION: i32 = 200;

/// A job's type (`RunnerJobType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobType {
    /// A resolution as a faststart MP4.
    VodWebVideoTranscoding,
    /// A resolution as one fragmented MP4 with a byte-range playlist.
    VodHlsTranscoding,
    /// An audio file and a still image merged into a video.
    VodAudioMergeTranscoding,
    /// A live stream pulled from RTMP, sent back as HLS chunks.
    LiveRtmpHlsTranscoding,
    /// Video studio edits (cut, intro, outro, watermark).
    VideoStudioTranscoding,
    /// Subtitles by speech recognition (not offered by `fleuve runner`: it needs a model).
    VideoTranscription,
    /// The storyboard sprite sheet.
    GenerateVideoStoryboard,
}

impl JobType {
    /// Every type, in PeerTube's order.
    pub const ALL: [JobType; 7] = [
        JobType::VodWebVideoTranscoding,
        JobType::VodHlsTranscoding,
        JobType::VodAudioMergeTranscoding,
        JobType::LiveRtmpHlsTranscoding,
        JobType::VideoStudioTranscoding,
        JobType::VideoTranscription,
        JobType::GenerateVideoStoryboard,
    ];

    /// The wire name (`vod-hls-transcoding`).
    pub fn as_str(self) -> &'static str {
        match self {
            JobType::VodWebVideoTranscoding => "vod-web-video-transcoding",
            JobType::VodHlsTranscoding => "vod-hls-transcoding",
            JobType::VodAudioMergeTranscoding => "vod-audio-merge-transcoding",
            JobType::LiveRtmpHlsTranscoding => "live-rtmp-hls-transcoding",
            JobType::VideoStudioTranscoding => "video-studio-transcoding",
            JobType::VideoTranscription => "video-transcription",
            JobType::GenerateVideoStoryboard => "generate-video-storyboard",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<JobType> {
        JobType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Whether an abort puts the job back in the queue (live jobs cannot be resumed: an abort is
    /// an error for them).
    pub fn abortable(self) -> bool {
        !matches!(self, JobType::LiveRtmpHlsTranscoding)
    }
}

impl std::fmt::Display for JobType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job's state (`RunnerJobState`), numbered as PeerTube numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    /// Waiting for a runner.
    Pending = 1,
    /// Accepted by a runner.
    Processing = 2,
    /// Done and its result published.
    Completed = 3,
    /// Failed [`MAX_FAILURES`] times (or a live job failed).
    Errored = 4,
    /// Waits for its parent job to complete.
    WaitingForParentJob = 5,
    /// Cancelled by an administrator (or its video was deleted).
    Cancelled = 6,
    /// Its parent errored.
    ParentErrored = 7,
    /// Its parent was cancelled.
    ParentCancelled = 8,
    /// The runner's result arrived and is being published.
    Completing = 9,
}

impl JobState {
    /// Every state.
    pub const ALL: [JobState; 9] = [
        JobState::Pending,
        JobState::Processing,
        JobState::Completed,
        JobState::Errored,
        JobState::WaitingForParentJob,
        JobState::Cancelled,
        JobState::ParentErrored,
        JobState::ParentCancelled,
        JobState::Completing,
    ];

    /// PeerTube's number.
    pub fn id(self) -> u8 {
        self as u8
    }

    /// From PeerTube's number.
    pub fn from_id(id: u8) -> Option<JobState> {
        JobState::ALL.into_iter().find(|s| s.id() == id)
    }

    /// PeerTube's label (`RUNNER_JOB_STATES`).
    pub fn label(self) -> &'static str {
        match self {
            JobState::Pending => "Pending",
            JobState::Processing => "Processing",
            JobState::Completed => "Completed",
            JobState::Errored => "Errored",
            JobState::WaitingForParentJob => "Waiting for parent job to finish",
            JobState::Cancelled => "Cancelled",
            JobState::ParentErrored => "Parent job failed",
            JobState::ParentCancelled => "Parent job cancelled",
            JobState::Completing => "Completing",
        }
    }

    /// Whether the job is over (nothing will change it any more).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Completed
                | JobState::Errored
                | JobState::Cancelled
                | JobState::ParentErrored
                | JobState::ParentCancelled
        )
    }

    /// `{id, label}` as the API shows it.
    pub fn constant(self) -> StateConstant {
        StateConstant {
            id: self.id(),
            label: self.label().to_string(),
        }
    }
}

/// A state as the API shows it (`ConstantLabel<RunnerJobStateType>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateConstant {
    /// PeerTube's number.
    pub id: u8,
    /// Its label.
    pub label: String,
}

/// `POST /api/v1/runners/register`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterBody {
    /// `ptrrt-…`, from the instance's administrator.
    pub registration_token: String,
    /// Unique per instance.
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The runner's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// Answer to `register`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterResult {
    /// The runner's id on that instance.
    pub id: u64,
    /// `ptrt-…`, for every later call.
    pub runner_token: String,
}

/// `POST /api/v1/runners/unregister` and `POST /jobs/{uuid}/accept`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunnerTokenBody {
    /// `ptrt-…`.
    pub runner_token: String,
}

/// `POST /api/v1/runners/jobs/request`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestBody {
    /// `ptrt-…`.
    pub runner_token: String,
    /// The types this runner takes (all when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_types: Option<Vec<JobType>>,
    /// The runner's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// A job offered by `request`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AvailableJob {
    /// The job.
    pub uuid: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: JobType,
    /// Its payload (see [`Payload`]).
    pub payload: serde_json::Value,
}

/// Answer to `request`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestResult {
    /// At most [`MAX_AVAILABLE_JOBS`] pending jobs, highest priority first.
    pub available_jobs: Vec<AvailableJob>,
}

/// A job's parent, as [`RunnerJob`] shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParentJob {
    /// Its type.
    #[serde(rename = "type")]
    pub kind: JobType,
    /// Its state.
    pub state: StateConstant,
    /// Its uuid.
    pub uuid: String,
}

/// The runner of a job, as [`RunnerJob`] shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRunner {
    /// Its id.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// Its description (PeerTube sends `null` for a runner registered without one).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub description: String,
}

/// A string that may be `null` on the wire, read as empty.
fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// A job as PeerTube shows it (`RunnerJob`; `RunnerJobAdmin` adds `privatePayload`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunnerJob {
    /// Its uuid.
    pub uuid: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: JobType,
    /// Its state.
    pub state: StateConstant,
    /// Its payload.
    pub payload: serde_json::Value,
    /// Failures so far.
    pub failures: u32,
    /// The last error.
    pub error: Option<String>,
    /// 0–100.
    pub progress: Option<u8>,
    /// Lower runs first.
    pub priority: i32,
    /// When a runner accepted it (RFC 3339).
    pub started_at: Option<String>,
    /// When it was made.
    pub created_at: String,
    /// Last change (and heartbeat).
    pub updated_at: String,
    /// When it ended.
    pub finished_at: Option<String>,
    /// The job it waits for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ParentJob>,
    /// The runner processing it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner: Option<JobRunner>,
    /// Server-side data (admin listing only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_payload: Option<serde_json::Value>,
}

/// An accepted job: the job and the token for every call about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AcceptedJob {
    /// The job.
    #[serde(flatten)]
    pub job: RunnerJob,
    /// `ptrjt-…`.
    pub job_token: String,
}

/// Answer to `accept`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AcceptResult {
    /// The job.
    pub job: AcceptedJob,
}

/// `POST /jobs/{uuid}/error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// `ptrt-…`.
    pub runner_token: String,
    /// `ptrjt-…`.
    pub job_token: String,
    /// What failed.
    pub message: String,
}

/// `POST /jobs/{uuid}/abort`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AbortBody {
    /// `ptrt-…`.
    pub runner_token: String,
    /// `ptrjt-…`.
    pub job_token: String,
    /// Why.
    pub reason: String,
}

/// The body of the file downloads (`POST …/files/videos/{videoUUID}/max-quality`, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobTokensBody {
    /// `ptrt-…`.
    pub runner_token: String,
    /// `ptrjt-…`.
    pub job_token: String,
}

/// `*CustomUpload` of an output (PeerTube develop): upload that file there instead of in
/// `success`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomUpload {
    /// Where.
    pub url: String,
    /// `PUT` or `POST` (default `PUT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
}

/// The input of a VOD transcoding job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VodInput {
    /// The source (downloaded by POST with both tokens).
    pub video_file_url: String,
    /// The audio files when the source's audio is separate.
    #[serde(default)]
    pub separated_audio_file_url: Vec<String>,
}

/// `vod-web-video-transcoding`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebVideoPayload {
    /// The source.
    pub input: VodInput,
    /// What to make.
    pub output: WebVideoOutput,
}

/// What a web video job makes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebVideoOutput {
    /// Resolution (shorter side; 0 = audio only).
    pub resolution: u32,
    /// Frame rate.
    pub fps: u32,
    /// Upload target of the video file, when not in `success`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_file_custom_upload: Option<CustomUpload>,
}

/// `vod-hls-transcoding`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HlsPayload {
    /// The source.
    pub input: VodInput,
    /// What to make.
    pub output: HlsOutput,
}

/// What an HLS job makes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HlsOutput {
    /// Resolution (shorter side; 0 = the audio-only rendition).
    pub resolution: u32,
    /// Frame rate.
    pub fps: u32,
    /// Video without audio (the audio is its own rendition).
    #[serde(default)]
    pub separated_audio: bool,
    /// Upload target of the fragmented MP4, when not in `success`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_file_custom_upload: Option<CustomUpload>,
    /// Upload target of the playlist, when not in `success`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution_playlist_file_custom_upload: Option<CustomUpload>,
}

/// `vod-audio-merge-transcoding`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioMergePayload {
    /// The audio and the still image.
    pub input: AudioMergeInput,
    /// What to make.
    pub output: WebVideoOutput,
}

/// The input of an audio merge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AudioMergeInput {
    /// The audio file.
    pub audio_file_url: String,
    /// The still image.
    pub preview_file_url: String,
}

/// `generate-video-storyboard`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoryboardPayload {
    /// The source.
    pub input: StoryboardInput,
    /// The sheet's geometry.
    pub sprites: Sprites,
    /// Upload target (PeerTube develop).
    #[serde(default)]
    pub output: serde_json::Value,
}

/// The input of a storyboard job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoryboardInput {
    /// The source.
    pub video_file_url: String,
}

/// A storyboard's geometry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sprites {
    /// One sprite's size.
    pub size: Size,
    /// Sprites per row and rows.
    pub count: Size,
    /// Seconds between sprites.
    pub duration: u32,
}

/// Width and height.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Size {
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// `video-studio-transcoding`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudioPayload {
    /// The source.
    pub input: VodInput,
    /// The edits, in order.
    pub tasks: Vec<StudioTask>,
    /// Upload target (PeerTube develop).
    #[serde(default)]
    pub output: serde_json::Value,
}

/// One studio edit (`VideoStudioTaskPayload`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", content = "options", rename_all = "kebab-case")]
pub enum StudioTask {
    /// Keep `start..end` (seconds).
    Cut {
        /// From (seconds).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start: Option<f64>,
        /// To (seconds).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        end: Option<f64>,
    },
    /// Prepend a clip.
    AddIntro {
        /// Its URL (downloaded by POST with both tokens).
        file: String,
    },
    /// Append a clip.
    AddOutro {
        /// Its URL.
        file: String,
    },
    /// Overlay an image in the top right corner.
    #[serde(rename_all = "camelCase")]
    AddWatermark {
        /// Its URL.
        file: String,
        /// Watermark width / video width.
        watermark_size_ratio: f64,
        /// Right margin / video width (PeerTube's spelling is `horitonzal` in older versions).
        #[serde(alias = "horitonzalMarginRatio")]
        horizontal_margin_ratio: f64,
        /// Top margin / video height.
        vertical_margin_ratio: f64,
    },
}

/// `live-rtmp-hls-transcoding`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LivePayload {
    /// The stream.
    pub input: LiveInput,
    /// What to make.
    pub output: LiveOutput,
}

/// The input of a live job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveInput {
    /// `rtmp://…/live/<stream key>`, to play.
    pub rtmp_url: String,
}

/// What a live job makes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveOutput {
    /// The renditions.
    pub to_transcode: Vec<LiveRendition>,
    /// Seconds per chunk.
    pub segment_duration: u32,
    /// Chunks kept in the playlists.
    pub segment_list_size: u32,
}

/// A live rendition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveRendition {
    /// Resolution.
    pub resolution: u32,
    /// Frame rate.
    pub fps: u32,
}

/// A job's payload, typed by its job type.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// `vod-web-video-transcoding`.
    WebVideo(WebVideoPayload),
    /// `vod-hls-transcoding`.
    Hls(HlsPayload),
    /// `vod-audio-merge-transcoding`.
    AudioMerge(AudioMergePayload),
    /// `generate-video-storyboard`.
    Storyboard(StoryboardPayload),
    /// `video-studio-transcoding`.
    Studio(StudioPayload),
    /// `live-rtmp-hls-transcoding`.
    Live(LivePayload),
    /// `video-transcription`: kept as sent (not processed by `fleuve runner`).
    Transcription(serde_json::Value),
}

impl Payload {
    /// Reads the payload of a job of type `kind`.
    pub fn parse(kind: JobType, value: &serde_json::Value) -> Result<Payload, serde_json::Error> {
        let v = value.clone();
        Ok(match kind {
            JobType::VodWebVideoTranscoding => Payload::WebVideo(serde_json::from_value(v)?),
            JobType::VodHlsTranscoding => Payload::Hls(serde_json::from_value(v)?),
            JobType::VodAudioMergeTranscoding => Payload::AudioMerge(serde_json::from_value(v)?),
            JobType::GenerateVideoStoryboard => Payload::Storyboard(serde_json::from_value(v)?),
            JobType::VideoStudioTranscoding => Payload::Studio(serde_json::from_value(v)?),
            JobType::LiveRtmpHlsTranscoding => Payload::Live(serde_json::from_value(v)?),
            JobType::VideoTranscription => Payload::Transcription(v),
        })
    }

    /// The payload as JSON.
    pub fn to_value(&self) -> serde_json::Value {
        let v = match self {
            Payload::WebVideo(p) => serde_json::to_value(p),
            Payload::Hls(p) => serde_json::to_value(p),
            Payload::AudioMerge(p) => serde_json::to_value(p),
            Payload::Storyboard(p) => serde_json::to_value(p),
            Payload::Studio(p) => serde_json::to_value(p),
            Payload::Live(p) => serde_json::to_value(p),
            Payload::Transcription(v) => Ok(v.clone()),
        };
        v.unwrap_or_default()
    }
}

/// Multipart field names of a `success` or `update` (qs bracket style, as PeerTube's
/// `buildFields` flattens `{payload: {videoFile}}`).
pub mod fields {
    /// The runner token.
    pub const RUNNER_TOKEN: &str = "runnerToken";
    /// The job token.
    pub const JOB_TOKEN: &str = "jobToken";
    /// Progress (integer 0–100) of an `update`.
    pub const PROGRESS: &str = "progress";
    /// The produced video (web video MP4, HLS fragmented MP4, merged or edited MP4).
    pub const VIDEO_FILE: &str = "payload[videoFile]";
    /// The HLS media playlist.
    pub const RESOLUTION_PLAYLIST_FILE: &str = "payload[resolutionPlaylistFile]";
    /// The storyboard sprite sheet.
    pub const STORYBOARD_FILE: &str = "payload[storyboardFile]";
    /// A transcription's WebVTT file.
    pub const VTT_FILE: &str = "payload[vttFile]";
    /// A transcription's detected language.
    pub const INPUT_LANGUAGE: &str = "payload[inputLanguage]";
    /// Live update: `add-chunk` or `remove-chunk`.
    pub const UPDATE_TYPE: &str = "payload[type]";
    /// Live update: the chunk's name.
    pub const VIDEO_CHUNK_FILENAME: &str = "payload[videoChunkFilename]";
    /// Live update: the chunk.
    pub const VIDEO_CHUNK_FILE: &str = "payload[videoChunkFile]";
    /// Live update: the rendition playlist's name.
    pub const RESOLUTION_PLAYLIST_FILENAME: &str = "payload[resolutionPlaylistFilename]";
    /// Live update: the master playlist.
    pub const MASTER_PLAYLIST_FILE: &str = "payload[masterPlaylistFile]";
}

/// The socket.io namespace runners connect to, and the event that says jobs are waiting.
pub mod socket {
    /// Namespace on `/socket.io/`.
    pub const NAMESPACE: &str = "/runners";
    /// Event (no data), debounced 1 s.
    pub const AVAILABLE_JOBS: &str = "available-jobs";
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn job_types_and_states_are_peertubes() {
        for t in JobType::ALL {
            let wire = serde_json::to_value(t).unwrap();
            assert_eq!(wire, json!(t.as_str()));
            assert_eq!(JobType::parse(t.as_str()), Some(t));
        }
        assert_eq!(JobState::Completing.id(), 9);
        assert_eq!(JobState::from_id(5), Some(JobState::WaitingForParentJob));
        assert_eq!(JobState::from_id(0), None);
        assert!(!JobType::LiveRtmpHlsTranscoding.abortable());
    }

    #[test]
    fn payloads_read_peertubes_json() {
        let hls = json!({"input": {"videoFileUrl": "http://a/x", "separatedAudioFileUrl": []},
                         "output": {"resolution": 480, "fps": 30, "separatedAudio": true}});
        let Payload::Hls(p) = Payload::parse(JobType::VodHlsTranscoding, &hls).unwrap() else {
            panic!("not hls")
        };
        assert_eq!((p.output.resolution, p.output.fps), (480, 30));
        assert!(p.output.separated_audio);
        assert_eq!(Payload::Hls(p).to_value(), hls);

        let studio = json!({"input": {"videoFileUrl": "u", "separatedAudioFileUrl": []},
            "tasks": [{"name": "cut", "options": {"start": 2, "end": 5}},
                      {"name": "add-intro", "options": {"file": "i"}},
                      {"name": "add-watermark", "options": {"file": "w", "watermarkSizeRatio": 0.1,
                        "horitonzalMarginRatio": 0.02, "verticalMarginRatio": 0.03}}],
            "output": {}});
        let Payload::Studio(s) = Payload::parse(JobType::VideoStudioTranscoding, &studio).unwrap()
        else {
            panic!("not studio")
        };
        assert_eq!(s.tasks.len(), 3);
        assert!(
            matches!(s.tasks[0], StudioTask::Cut { start: Some(a), end: Some(b) } if a == 2.0 && b == 5.0)
        );
        assert!(
            matches!(&s.tasks[2], StudioTask::AddWatermark { horizontal_margin_ratio, .. } if *horizontal_margin_ratio == 0.02)
        );

        let accepted = json!({"job": {"uuid": "u", "type": "vod-web-video-transcoding",
            "state": {"id": 2, "label": "Processing"}, "payload": {}, "failures": 0, "error": null,
            "progress": null, "priority": 100, "startedAt": "t", "createdAt": "t", "updatedAt": "t",
            "finishedAt": null, "jobToken": "ptrjt-x"}});
        let a: AcceptResult = serde_json::from_value(accepted).unwrap();
        assert_eq!(a.job.job_token, "ptrjt-x");
        // A runner registered without a description is shown with `null`.
        let runner: JobRunner =
            serde_json::from_value(json!({"id": 1, "name": "r", "description": null})).unwrap();
        assert_eq!(runner.description, "");
        assert_eq!(a.job.job.kind, JobType::VodWebVideoTranscoding);
    }
}
