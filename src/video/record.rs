//! A video's record: its state, its HLS playlist, where a remote video plays from, and its
//! renditions with their ids ([`VideoFile`]). Plain data; the serde field names and shapes are
//! the stored format (`store::videos` keeps these records under its keys), so they do not change.

use super::privacy::Privacy;
use super::rendition::Rendition;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where a video is in its life, with PeerTube's numeric ids (`VideoState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VideoState {
    /// Transcoded and visible (1).
    Published,
    /// Waiting for (or in) its transcode job (2).
    ToTranscode,
    /// The transcode job was given up (7).
    TranscodingFailed,
    /// Transcoded; its files are going up to the object storage, and it is published once they
    /// are all there (6).
    ToMoveToExternalStorage,
    /// The move to the object storage was given up (8); its files are still on disk.
    MoveToExternalStorageFailed,
}

impl VideoState {
    /// PeerTube's id.
    pub fn id(self) -> u8 {
        match self {
            VideoState::Published => 1,
            VideoState::ToTranscode => 2,
            VideoState::TranscodingFailed => 7,
            VideoState::ToMoveToExternalStorage => 6,
            VideoState::MoveToExternalStorageFailed => 8,
        }
    }

    /// Whether its transcode is done (published, or its files going to or stuck on the way to
    /// the object storage).
    pub fn is_transcoded(self) -> bool {
        matches!(
            self,
            VideoState::Published
                | VideoState::ToMoveToExternalStorage
                | VideoState::MoveToExternalStorageFailed
        )
    }

    /// PeerTube's label.
    pub fn label(self) -> &'static str {
        match self {
            VideoState::Published => "Published",
            VideoState::ToTranscode => "To transcode",
            VideoState::TranscodingFailed => "Transcoding failed",
            VideoState::ToMoveToExternalStorage => "To move to an external storage",
            VideoState::MoveToExternalStorageFailed => "External storage move failed",
        }
    }
}

/// The HLS streaming playlist of a published video (its files are [`VideoFile`] rows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HlsPlaylist {
    /// Playlist id (PeerTube gives streaming playlists their own ids; we reuse the video's).
    pub id: u64,
    /// Master playlist file name (`<prefix>-master.m3u8`).
    pub master: String,
    /// Segment hashes file name (`<prefix>-segments-sha256.json`).
    pub segments_sha256: String,
    /// Where its files are (PeerTube's `storage`); absent in records written before object
    /// storage, which are on disk.
    #[serde(default, skip_serializing_if = "FileStorage::is_file_system")]
    pub storage: FileStorage,
}

/// Where a video's files are kept (PeerTube's `FileStorage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStorage {
    /// Under `media/` (1).
    #[default]
    FileSystem,
    /// In the object storage's bucket (2).
    ObjectStorage,
}

impl FileStorage {
    /// Whether on disk.
    pub fn is_file_system(&self) -> bool {
        *self == FileStorage::FileSystem
    }

    /// PeerTube's id.
    pub fn id(self) -> u8 {
        match self {
            FileStorage::FileSystem => 1,
            FileStorage::ObjectStorage => 2,
        }
    }
}

/// A video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Video {
    /// Local id.
    pub id: u64,
    /// UUID (hyphenated, lower case).
    pub uuid: String,
    /// Title.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Channel it was published in.
    pub channel_id: u64,
    /// Uploading user.
    pub owner: u64,
    /// Who it is for (stored as PeerTube's privacy id).
    pub privacy: Privacy,
    /// State.
    pub state: VideoState,
    /// Duration in seconds (from the probe).
    pub duration: f64,
    /// Width / height of the source.
    pub aspect_ratio: Option<f64>,
    /// The uploaded source while it waits for its transcode (removed once published).
    pub source: Option<PathBuf>,
    /// Original file name as uploaded.
    pub original_filename: String,
    /// Creation time (Unix seconds).
    pub created_at: u64,
    /// Last change (Unix seconds).
    pub updated_at: u64,
    /// Publication time (Unix seconds), once published.
    pub published_at: Option<u64>,
    /// The HLS playlist, once published.
    pub hls: Option<HlsPlaylist>,
    /// Miniature file name (in `media/thumbnails`).
    pub thumbnail: Option<String>,
    /// Preview file name (in `media/previews`).
    pub preview: Option<String>,
    /// Its storyboard (file in `media/storyboards`), once transcoded; absent in records written
    /// before storyboards existed, and for videos under 3 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storyboard: Option<Storyboard>,
    /// Why transcoding failed, when it did.
    pub error: Option<String>,
    /// For a video of another instance: where it lives and plays from (None for ours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<RemoteVideo>,
    /// When its `Create` was queued for our followers (Unix seconds); None until then, and
    /// again once a `Delete` told them it went private.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub federated_at: Option<u64>,
    /// When a `Delete` last told our followers it went private (Unix seconds): its next
    /// `Create` then gets a fresh activity id (receivers drop ids they have seen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unfederated_at: Option<u64>,
    /// Who may comment on it (PeerTube's `commentsPolicy`); absent in records written before
    /// comments existed, which means enabled.
    #[serde(default, skip_serializing_if = "CommentsPolicy::is_enabled")]
    pub comments_policy: CommentsPolicy,
    /// Category, licence, language, tags, NSFW flag, original publication date.
    #[serde(flatten)]
    pub meta: super::meta::VideoMeta,
    /// Its web-video files (PeerTube's `files[]`): the uploaded original from the end of the
    /// upload until its transcode ends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub web_videos: Vec<WebVideoFile>,
    /// The uploaded file as it came (PeerTube's `VideoSource`), recorded when its transcode is
    /// published; absent before, and in records written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_file: Option<SourceFile>,
    /// Blocked by a moderator (PeerTube's video blacklist): out of lists and the tracker's
    /// allowlist, seen only by its owner and moderators; see [`Blacklist`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blacklist: Option<Blacklist>,
}

/// A moderator's block of a video (PeerTube's `VideoBlacklist`, type 1: manual).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blacklist {
    /// Why, as the moderator wrote it.
    pub reason: Option<String>,
    /// Whether followers were told to delete it (a local video; PeerTube's `unfederate`).
    pub unfederated: bool,
    /// When it was blocked (Unix seconds).
    pub created_at: u64,
    /// When the block last changed (Unix seconds).
    pub updated_at: u64,
}

/// PeerTube's `commentsPolicy`: 1 enabled, 2 disabled, 3 requires approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommentsPolicy {
    /// Anyone signed in may comment (1).
    #[default]
    Enabled,
    /// Nobody may comment (2).
    Disabled,
    /// Comments wait for the owner's approval (3).
    RequiresApproval,
}

impl CommentsPolicy {
    /// PeerTube's id.
    pub fn id(self) -> u8 {
        match self {
            CommentsPolicy::Enabled => 1,
            CommentsPolicy::Disabled => 2,
            CommentsPolicy::RequiresApproval => 3,
        }
    }

    /// PeerTube's label.
    pub fn label(self) -> &'static str {
        match self {
            CommentsPolicy::Enabled => "Enabled",
            CommentsPolicy::Disabled => "Disabled",
            CommentsPolicy::RequiresApproval => "Requires approval",
        }
    }

    /// The policy with PeerTube's id `id`.
    pub fn from_id(id: u64) -> Option<CommentsPolicy> {
        match id {
            1 => Some(CommentsPolicy::Enabled),
            2 => Some(CommentsPolicy::Disabled),
            3 => Some(CommentsPolicy::RequiresApproval),
            _ => None,
        }
    }

    /// Whether anyone may comment without approval.
    pub fn is_enabled(&self) -> bool {
        *self == CommentsPolicy::Enabled
    }
}

impl Video {
    /// A published, public, local video named `name` with every other field empty: a fixture
    /// for tests, benchmarks and load tools that fill a store without uploading.
    pub fn example(id: u64, name: &str, published_at: u64) -> Video {
        Video {
            id,
            uuid: format!("00000000-0000-4000-8000-{id:012x}"),
            name: name.to_string(),
            description: None,
            channel_id: 1,
            owner: 1,
            privacy: Privacy::Public,
            state: VideoState::Published,
            duration: 60.0,
            aspect_ratio: Some(16.0 / 9.0),
            source: None,
            original_filename: String::new(),
            created_at: published_at,
            updated_at: published_at,
            published_at: Some(published_at),
            hls: None,
            thumbnail: None,
            preview: None,
            storyboard: None,
            error: None,
            remote: None,
            federated_at: None,
            unfederated_at: None,
            meta: Default::default(),
            web_videos: Vec::new(),
            source_file: None,
            comments_policy: Default::default(),
            blacklist: None,
        }
    }
}

/// A video's storyboard (PeerTube's `Storyboard`): one JPEG sprite sheet, a grid of small
/// pictures of the video taken every `sprite_duration` seconds, left to right then top to
/// bottom, that players show above the seek bar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Storyboard {
    /// The sheet: a file name in `media/storyboards/` for a local video, the sheet's URL on its
    /// origin for a remote one.
    pub file: String,
    /// Width of one sprite (pixels).
    pub sprite_width: u32,
    /// Height of one sprite (pixels).
    pub sprite_height: u32,
    /// Seconds of video each sprite stands for.
    pub sprite_duration: u32,
    /// Width of the whole sheet (pixels).
    pub total_width: u32,
    /// Height of the whole sheet (pixels).
    pub total_height: u32,
}

/// A web-video file of a local video (PeerTube's `VideoFile` outside streaming playlists): one
/// whole playable file in `media/web-videos/` (`private/` below it for a private video), named
/// `<uuid>-<resolution><ext>`, with its `.torrent` beside the other torrents once made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebVideoFile {
    /// File id (from the files sequence, so it never collides with an HLS file's).
    pub id: u64,
    /// Resolution label (shorter side).
    pub resolution: u32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frame rate (rounded).
    pub fps: u32,
    /// Size in bytes.
    pub size: u64,
    /// File name (`<uuid>-<resolution><ext>`).
    pub file: String,
    /// Whether it is in the private directory (`web-videos/private/`, torrent beside it).
    pub private: bool,
    /// Torrent file name (`<uuid>-<resolution>.torrent`), once made (it is hashed after the
    /// upload is answered).
    pub torrent_file: Option<String>,
    /// The torrent's BitTorrent v1 info-hash (hex), once made.
    pub info_hash: Option<String>,
    /// Whether it carries audio.
    pub has_audio: bool,
    /// Whether it is the uploaded original (removed or kept when the transcode ends).
    pub original: bool,
}

/// The uploaded file of a local video (PeerTube's `VideoSource`): what it was, and whether
/// `transcode.original_file.keep` kept it, in `<data_dir>/original-video-files/<file>`, for its
/// owner to download at `/download/original-video-files/<file>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFile {
    /// File name (`<uuid>-<resolution><ext>`, as it was a web video in the upload window).
    pub file: String,
    /// Size in bytes.
    pub size: u64,
    /// Resolution label (shorter side).
    pub resolution: u32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frame rate (rounded).
    pub fps: u32,
    /// Whether the file was kept.
    pub kept: bool,
    /// When it was uploaded (Unix seconds).
    pub created_at: u64,
}

/// A video of another instance, as its ActivityPub `Video` object described it: it plays from
/// its own URLs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteVideo {
    /// Its ActivityPub id (`https://H/videos/watch/<uuid>`).
    pub url: String,
    /// `host[:port]` of its origin instance.
    pub host: String,
    /// The owner account's id (URL).
    pub account: String,
    /// The channel's id (URL), when given.
    pub channel: Option<String>,
    /// The HTML watch page on its origin.
    pub watch_url: Option<String>,
    /// HLS master playlist.
    pub playlist_url: Option<String>,
    /// segments-sha256 JSON.
    pub segments_sha256_url: Option<String>,
    /// Renditions.
    pub files: Vec<RemoteFile>,
    /// p2p-media-loader info-hashes (hex) from the playlist's `Infohash` tags.
    pub infohashes: Vec<String>,
    /// The largest icon.
    pub thumbnail_url: Option<String>,
    /// Tracker URLs.
    pub tracker_urls: Vec<String>,
    /// View count as last reported.
    pub views: u64,
    /// The account that sent it (signer of the Create/Update/Announce).
    pub received_from: String,
    /// Its storyboard as its `preview` described it (`file` is the sheet's URL on the origin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storyboard: Option<Storyboard>,
}

/// One rendition of a remote video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteFile {
    /// Height.
    pub resolution: u32,
    /// Width, when given.
    pub width: Option<u32>,
    /// Frame rate, when given.
    pub fps: Option<f64>,
    /// Size in bytes.
    pub size: u64,
    /// The fMP4 (or MP4) file.
    pub url: String,
    /// Its `.torrent`.
    pub torrent_url: Option<String>,
    /// Its magnet URI.
    pub magnet: Option<String>,
    /// BitTorrent info-hash (hex) from the magnet, when present.
    pub info_hash: Option<String>,
}

/// One HLS rendition of a video as stored: the [`Rendition`] the worker reported, with its ids.
/// Stored flat (the rendition's fields beside the ids), as it always was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoFile {
    /// File id.
    pub id: u64,
    /// The video.
    pub video_id: u64,
    /// The rendition.
    #[serde(flatten)]
    pub rendition: Rendition,
}
