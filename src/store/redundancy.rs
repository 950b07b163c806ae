//! Redundancy's tables (in `files`): the mirrors this instance keeps of other instances'
//! videos ([`MirrorKey`]), and the mirrors other servers announced of ours
//! ([`CacheFileKey`]).

use super::codec::{untag_bytes, Key, StoreError};
use super::Cf;
use serde::{Deserialize, Serialize};

/// Where one of our mirrors is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MirrorState {
    /// Its files are being downloaded into a partial directory (not served).
    Downloading,
    /// Downloaded, checked against the origin's hashes, served and announced.
    Ready,
}

/// A mirror this instance keeps of another instance's video (PeerTube's `VideoRedundancy` of
/// a streaming playlist): its files are in `media/redundancy/hls/<uuid>/` once ready.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mirror {
    /// The mirrored (remote) video's local id.
    pub video_id: u64,
    /// Its uuid (the directory's name).
    pub uuid: String,
    /// Its ActivityPub id on its origin.
    pub video_url: String,
    /// The origin's host.
    pub origin_host: String,
    /// `most-views`, `trending`, `recently-added` or `manual`.
    pub strategy: String,
    /// Downloading or ready.
    pub state: MirrorState,
    /// Bytes on disk once ready (the origin's announced sizes while downloading).
    pub size: u64,
    /// When it was decided (Unix seconds).
    pub created_at: u64,
    /// Last change (Unix seconds).
    pub updated_at: u64,
    /// When it may be dropped or must be renewed (Unix seconds); None for manual mirrors.
    pub expires_at: Option<u64>,
    /// Failed downloads so far.
    #[serde(default)]
    pub attempts: u32,
    /// Why the last download failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Unix seconds before which the download is not tried again (after a failure).
    #[serde(default)]
    pub retry_at: u64,
}

impl Mirror {
    /// The `CacheFile` id (`<us>/redundancy/streaming-playlists/hls/<uuid>`), as PeerTube names it.
    pub fn cache_file_id(&self, public_url: &str) -> String {
        format!(
            "{public_url}/redundancy/streaming-playlists/hls/{}",
            self.uuid
        )
    }

    /// Where its files are served (`<us>/static/redundancy/hls/<uuid>`).
    pub fn base_url(&self, public_url: &str) -> String {
        format!("{public_url}/static/redundancy/hls/{}", self.uuid)
    }

    /// Whether it is a manual mirror (an administrator's, never expiring).
    pub fn is_manual(&self) -> bool {
        self.strategy == "manual"
    }
}

super::tables::u64_key!(
    /// `files`: our mirror of a remote video, by the video's id.
    MirrorKey, Cf::Files, 0x10, Mirror
);

/// A mirror of one of our videos that another server announced with a `CacheFile`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnouncedMirror {
    /// Our video.
    pub video_id: u64,
    /// The `CacheFile`'s id (on the mirroring server).
    pub id: String,
    /// The actor that created it (only it may update or undo it).
    pub actor: String,
    /// The mirror's base URL (`url.href`): files are at `<base>/<file name>`.
    pub base_url: String,
    /// When it may be dropped (Unix seconds); None: never.
    pub expires_at: Option<u64>,
    /// When it was announced (Unix seconds).
    pub created_at: u64,
    /// Last update (Unix seconds).
    pub updated_at: u64,
}

/// `files`: an announced mirror of our video `video_id`, by its `CacheFile` id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheFileKey {
    /// Our video.
    pub video_id: u64,
    /// The `CacheFile`'s id.
    pub id: String,
}

const CACHE_FILE_TAG: u8 = 0x11;

impl Key for CacheFileKey {
    type Value = AnnouncedMirror;
    /// One video's mirrors (`Some`), or all (`None`).
    type Prefix = Option<u64>;
    const CF: Cf = Cf::Files;
    fn encode(&self) -> Vec<u8> {
        let mut k = Self::encode_prefix(&Some(self.video_id));
        k.extend_from_slice(self.id.as_bytes());
        k
    }
    fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let rest = untag_bytes(CACHE_FILE_TAG, bytes)?;
        if rest.len() < 8 {
            return Err(StoreError::Corrupt("short cache file key".into()));
        }
        let (v, id) = rest.split_at(8);
        Ok(CacheFileKey {
            video_id: u64::from_be_bytes(v.try_into().unwrap_or([0; 8])),
            id: String::from_utf8(id.to_vec())
                .map_err(|_| StoreError::Corrupt("non-UTF-8 cache file key".into()))?,
        })
    }
    fn encode_prefix(video_id: &Option<u64>) -> Vec<u8> {
        let mut k = vec![CACHE_FILE_TAG];
        if let Some(v) = video_id {
            k.extend_from_slice(&v.to_be_bytes());
        }
        k
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_file_keys_round_trip_and_group_by_video() {
        let k = CacheFileKey {
            video_id: 7,
            id: "https://m.example/redundancy/streaming-playlists/hls/x".into(),
        };
        assert_eq!(CacheFileKey::decode(&k.encode()).unwrap(), k);
        assert!(k
            .encode()
            .starts_with(&CacheFileKey::encode_prefix(&Some(7))));
        assert!(!k
            .encode()
            .starts_with(&CacheFileKey::encode_prefix(&Some(8))));
    }
}
