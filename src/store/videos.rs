//! The video tables: videos (and their uuid index), their files (one row per HLS rendition),
//! resumable upload sessions, and the tracker allowlist of info-hashes. The video records
//! themselves are the domain's plain data ([`crate::video::record`]); this module gives them
//! keys and the look-ups.

use super::codec::{tagged_bytes, untag_bytes, Key, StoreError};
use super::tables::{string_key, u64_key};
use super::Cf;
use crate::video::ident::VideoRef;
use crate::video::record::{Video, VideoFile};
use crate::video::Privacy;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

u64_key!(
    /// `videos`: video by id.
    VideoKey, Cf::Videos, 0x01, Video
);
string_key!(
    /// `videos`: video id by uuid.
    VideoByUuidKey, Cf::Videos, 0x02, u64
);

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use crate::video::ident::short_uuid;
    use crate::video::record::VideoState;
    use crate::video::Rendition;

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
