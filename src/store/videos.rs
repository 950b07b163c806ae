//! The video tables: videos (and their uuid index), their files (one row per HLS rendition),
//! resumable upload sessions, and the tracker allowlist of info-hashes.

use super::codec::{tagged_bytes, untag_bytes, Key, StoreError};
use super::tables::{string_key, u64_key};
use super::Cf;
use crate::video::{Privacy, Rendition};
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
}

impl VideoState {
    /// PeerTube's id.
    pub fn id(self) -> u8 {
        match self {
            VideoState::Published => 1,
            VideoState::ToTranscode => 2,
            VideoState::TranscodingFailed => 7,
        }
    }

    /// PeerTube's label.
    pub fn label(self) -> &'static str {
        match self {
            VideoState::Published => "Published",
            VideoState::ToTranscode => "To transcode",
            VideoState::TranscodingFailed => "Transcoding failed",
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

u64_key!(
    /// `videos`: video by id.
    VideoKey, Cf::Videos, 0x01, Video
);
string_key!(
    /// `videos`: video id by uuid.
    VideoByUuidKey, Cf::Videos, 0x02, u64
);

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

/// `files`: (video id, file id) → file, scanned per video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileKey {
    /// The video.
    pub video_id: u64,
    /// The file.
    pub file_id: u64,
}

impl Key for FileKey {
    type Value = VideoFile;
    type Prefix = u64;
    const CF: Cf = Cf::Files;
    fn encode(&self) -> Vec<u8> {
        let mut k = Vec::with_capacity(17);
        k.push(0x01);
        k.extend_from_slice(&self.video_id.to_be_bytes());
        k.extend_from_slice(&self.file_id.to_be_bytes());
        k
    }
    fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let rest = untag_bytes(0x01, bytes)?;
        if rest.len() != 16 {
            return Err(StoreError::Corrupt(format!(
                "bad file key {}",
                hex::encode(bytes)
            )));
        }
        let (v, f) = rest.split_at(8);
        let n = |b: &[u8]| u64::from_be_bytes(b.try_into().unwrap_or([0; 8]));
        Ok(FileKey {
            video_id: n(v),
            file_id: n(f),
        })
    }
    fn encode_prefix(video_id: &u64) -> Vec<u8> {
        let mut k = vec![0x01];
        k.extend_from_slice(&video_id.to_be_bytes());
        k
    }
}

/// A resumable upload session (PeerTube's node-uploadx protocol). The bytes received so far are
/// the length of its file on disk, so a session survives a dropped connection or a restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadSession {
    /// Session id (the `upload_id` query parameter).
    pub id: String,
    /// Uploading user.
    pub user_id: u64,
    /// Target channel.
    pub channel_id: u64,
    /// Title of the video to create.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Privacy of the video to create.
    pub privacy: Privacy,
    /// Original file name.
    pub filename: String,
    /// Announced total size (`X-Upload-Content-Length`).
    pub size: u64,
    /// Where the bytes go.
    pub path: PathBuf,
    /// Creation time (Unix seconds).
    pub created_at: u64,
    /// Last chunk (Unix seconds): abandoned sessions are removed after a lifetime of silence.
    pub updated_at: u64,
    /// Once complete: the video it created (a repeated final chunk gets the same answer).
    pub video_id: Option<u64>,
}

string_key!(
    /// `uploads`: session by id.
    UploadKey, Cf::Uploads, 0x01, UploadSession
);

/// What an allowed info-hash belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InfohashEntry {
    /// The video.
    pub video_uuid: String,
    /// The rendition's resolution.
    pub resolution: u32,
    /// Which scheme produced it (`torrent`, `p2pml-legacy-sha1`, `p2pml-v2-md5`, …).
    pub scheme: String,
}

/// `infohashes`: 20-byte info-hash → what it is (the private tracker's allowlist).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InfohashKey(pub [u8; 20]);

impl Key for InfohashKey {
    type Value = InfohashEntry;
    type Prefix = ();
    const CF: Cf = Cf::Infohashes;
    fn encode(&self) -> Vec<u8> {
        tagged_bytes(0x01, &self.0)
    }
    fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let raw = untag_bytes(0x01, bytes)?;
        raw.try_into()
            .map(InfohashKey)
            .map_err(|_| StoreError::Corrupt(format!("bad info-hash key {}", hex::encode(bytes))))
    }
    fn encode_prefix(_: &()) -> Vec<u8> {
        vec![0x01]
    }
}

/// How a request names a video: by its local id, or by its uuid (with or without hyphens) or
/// short uuid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoRef {
    /// The local numeric id (the REST API takes it).
    Id(u64),
    /// The uuid, hyphenated and lower case.
    Uuid(String),
}

impl VideoRef {
    /// Any of the three forms the REST API takes (`/api/v1/videos/{id|uuid|shortUUID}`).
    pub fn parse(key: &str) -> Option<VideoRef> {
        match key.parse::<u64>() {
            Ok(id) => Some(VideoRef::Id(id)),
            Err(_) => VideoRef::parse_uuid(key),
        }
    }

    /// A uuid or short uuid only, as the public URLs carry (`/videos/watch/{uuid}`, `/w/{short}`).
    pub fn parse_uuid(key: &str) -> Option<VideoRef> {
        uuid::Uuid::parse_str(key)
            .ok()
            .map(|u| u.hyphenated().to_string())
            .or_else(|| uuid_from_short(key))
            .map(VideoRef::Uuid)
    }
}

impl super::Store {
    /// The video `r` names, if there is one.
    pub fn video(&self, r: &VideoRef) -> Result<Option<Video>, StoreError> {
        let id = match r {
            VideoRef::Id(id) => Some(*id),
            VideoRef::Uuid(uuid) => self.get(&VideoByUuidKey(uuid.clone()))?,
        };
        match id {
            Some(id) => self.get(&VideoKey(id)),
            None => Ok(None),
        }
    }

    /// The video with this uuid (hyphenated, lower case), if there is one.
    pub fn video_by_uuid(&self, uuid: &str) -> Result<Option<Video>, StoreError> {
        self.video(&VideoRef::Uuid(uuid.to_string()))
    }

    /// A video's renditions, highest resolution first.
    pub fn video_files(&self, video_id: u64) -> Result<Vec<VideoFile>, StoreError> {
        let mut files: Vec<VideoFile> = self
            .scan::<FileKey>(&video_id)?
            .into_iter()
            .map(|(_, f)| f)
            .collect();
        files.sort_by_key(|f| std::cmp::Reverse(f.rendition.resolution));
        Ok(files)
    }
}

/// The alphabet of PeerTube's short UUIDs (`short-uuid`'s flickrBase58).
const BASE58: &[u8; 58] = b"123456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";
/// Length of a short UUID (padded with the alphabet's zero, as `short-uuid` does).
const SHORT_LEN: usize = 22;

/// PeerTube's `shortUUID` of a uuid: the 128-bit number in flickr base 58, padded to 22.
pub fn short_uuid(uuid: &str) -> String {
    let Ok(u) = uuid::Uuid::parse_str(uuid) else {
        return String::new();
    };
    let mut n = u.as_u128();
    let mut out = Vec::with_capacity(SHORT_LEN);
    while n > 0 {
        out.push(BASE58[(n % 58) as usize]);
        n /= 58;
    }
    while out.len() < SHORT_LEN {
        out.push(BASE58[0]);
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// The uuid of a short UUID, when it is one.
pub fn uuid_from_short(short: &str) -> Option<String> {
    if short.is_empty() || short.len() > SHORT_LEN {
        return None;
    }
    let mut n: u128 = 0;
    for c in short.bytes() {
        let digit = BASE58.iter().position(|&b| b == c)? as u128;
        n = n.checked_mul(58)?.checked_add(digit)?;
    }
    Some(uuid::Uuid::from_u128(n).hyphenated().to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn short_uuids_round_trip() {
        let u = "9c9de5e8-0a1a-4d7b-8e7d-6c1f3c2d5e4f";
        let s = short_uuid(u);
        assert_eq!(s.len(), 22);
        assert_eq!(uuid_from_short(&s).as_deref(), Some(u));
        // A known pair from PeerTube's API (short-uuid with flickrBase58).
        assert_eq!(
            uuid_from_short("mBWmzAyEcXNXz2yrHB2Npt").as_deref(),
            uuid_from_short(&short_uuid(
                &uuid_from_short("mBWmzAyEcXNXz2yrHB2Npt").unwrap()
            ))
            .as_deref()
        );
        assert_eq!(uuid_from_short("0OIl"), None, "not in the alphabet");
    }

    use super::*;
    use crate::store::Store;

    #[test]
    fn one_lookup_by_id_uuid_or_short_uuid() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("meta")).unwrap();
        let uuid = "9c9de5e8-0a1a-4d7b-8e7d-6c1f3c2d5e4f";
        let json = format!(
            r#"{{"id":12,"uuid":"{uuid}","name":"Demo","description":null,"channel_id":2,"owner":1,"privacy":1,"state":"published","duration":4.0,"aspect_ratio":null,"source":null,"original_filename":"","created_at":1,"updated_at":2,"published_at":2,"hls":null,"thumbnail":null,"preview":null,"error":null}}"#
        );
        let video: Video = serde_json::from_str(&json).unwrap();
        let b = crate::store::Durability::Buffered;
        store.put(&VideoKey(12), &video, b).unwrap();
        store.put(&VideoByUuidKey(uuid.into()), &12, b).unwrap();
        let simple = uuid.replace('-', "").to_uppercase();
        for key in ["12", uuid, &simple, &short_uuid(uuid)] {
            let r = VideoRef::parse(key).unwrap();
            assert_eq!(store.video(&r).unwrap().map(|v| v.id), Some(12), "{key}");
        }
        // The public URLs take no local ids: "12" is read as a short uuid there.
        let r = VideoRef::parse_uuid("12").unwrap();
        assert!(matches!(r, VideoRef::Uuid(_)));
        assert_eq!(store.video(&r).unwrap(), None);
        assert_eq!(VideoRef::parse("0OIl"), None);
        assert_eq!(store.video_by_uuid(uuid).unwrap().map(|v| v.id), Some(12));
        assert_eq!(store.video(&VideoRef::Id(13)).unwrap(), None);

        let file = |id, resolution| {
            serde_json::from_value::<VideoFile>(serde_json::json!({
                "id": id, "video_id": 12, "resolution": resolution, "width": 1, "height": resolution,
                "fps": 30, "size": 1, "media_file": "", "playlist_file": "", "torrent_file": "",
                "info_hash": "", "encoder": "libx264", "fallback_reason": null, "has_audio": true
            }))
            .unwrap()
        };
        for (id, res) in [(1, 240), (2, 720), (3, 480)] {
            let key = FileKey {
                video_id: 12,
                file_id: id,
            };
            store.put(&key, &file(id, res), b).unwrap();
        }
        let res: Vec<u32> = store
            .video_files(12)
            .unwrap()
            .iter()
            .map(|f| f.rendition.resolution)
            .collect();
        assert_eq!(res, [720, 480, 240]);
        assert!(store.video_files(13).unwrap().is_empty());
    }

    /// Records written before privacy was an enum (a bare `u8`) still decode, and encode back
    /// to the same JSON.
    #[test]
    fn records_written_with_numeric_privacy_still_decode() {
        use crate::store::codec::{decode_value, encode_value};
        let old_video = br#"{"id":4,"uuid":"9c9de5e8-0a1a-4d7b-8e7d-6c1f3c2d5e4f","name":"Demo","description":null,"channel_id":2,"owner":1,"privacy":3,"state":"published","duration":4.0,"aspect_ratio":1.7777777777777777,"source":null,"original_filename":"demo.mp4","created_at":1,"updated_at":2,"published_at":2,"hls":{"id":4,"master":"p-master.m3u8","segments_sha256":"p-segments-sha256.json"},"thumbnail":"p.jpg","preview":"q.jpg","error":null,"federated_at":3}"#;
        let mut bytes = vec![1u8];
        bytes.extend_from_slice(old_video);
        let video: Video = decode_value(&bytes).unwrap();
        assert_eq!(video.privacy, Privacy::Private);
        assert_eq!(video.state, VideoState::Published);
        assert_eq!(video.federated_at, Some(3));
        assert_eq!(encode_value(&video).unwrap(), bytes);
        for (id, privacy) in [
            (1, Privacy::Public),
            (2, Privacy::Unlisted),
            (4, Privacy::Internal),
            (5, Privacy::PasswordProtected),
        ] {
            let json = String::from_utf8_lossy(old_video)
                .replace(r#""privacy":3"#, &format!(r#""privacy":{id}"#));
            let v: Video = serde_json::from_str(&json).unwrap();
            assert_eq!(v.privacy, privacy);
        }
        for (state, want) in [
            ("to_transcode", VideoState::ToTranscode),
            ("transcoding_failed", VideoState::TranscodingFailed),
        ] {
            let json = String::from_utf8_lossy(old_video)
                .replace("\"published\"", &format!("\"{state}\""));
            assert_eq!(serde_json::from_str::<Video>(&json).unwrap().state, want);
        }
        let old_session = br#"{"id":"abc","user_id":1,"channel_id":2,"name":"Demo","description":null,"privacy":2,"filename":"demo.mp4","size":10,"path":"/d/tmp/abc","created_at":1,"updated_at":1,"video_id":null}"#;
        let mut bytes = vec![1u8];
        bytes.extend_from_slice(old_session);
        let session: UploadSession = decode_value(&bytes).unwrap();
        assert_eq!(session.privacy, Privacy::Unlisted);
        assert_eq!(encode_value(&session).unwrap(), bytes);
    }

    #[test]
    fn files_scan_per_video_in_id_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("meta")).unwrap();
        let file = |video_id, id| VideoFile {
            id,
            video_id,
            rendition: Rendition {
                resolution: 720,
                width: 1280,
                height: 720,
                fps: 30,
                size: 1,
                media_file: String::new(),
                playlist_file: String::new(),
                torrent_file: String::new(),
                info_hash: String::new(),
                encoder: "libx264".into(),
                fallback_reason: None,
                has_audio: true,
            },
        };
        for (v, f) in [(2, 9), (1, 5), (2, 3), (3, 1)] {
            let key = FileKey {
                video_id: v,
                file_id: f,
            };
            store
                .put(&key, &file(v, f), crate::store::Durability::Buffered)
                .unwrap();
        }
        let ids: Vec<u64> = store
            .scan::<FileKey>(&2)
            .unwrap()
            .into_iter()
            .map(|(k, _)| k.file_id)
            .collect();
        assert_eq!(ids, [3, 9]);
        let h = InfohashKey([7; 20]);
        assert_eq!(InfohashKey::decode(&h.encode()).unwrap(), h);
    }
}
