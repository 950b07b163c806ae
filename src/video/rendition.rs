//! One HLS rendition of a video, as the transcode worker reports it and as the store keeps it
//! (inside [`VideoFile`](super::record::VideoFile), which adds its ids): its fMP4,
//! playlist and torrent, and how it was encoded. The pipeline's own per-rung output (paths,
//! scaler, codecs, bandwidth) stays inside the pipeline; this is what reaches the store.

use serde::{Deserialize, Serialize};

/// One rendition: what a player, a torrent client and an operator need to know about it.
///
/// Serialized with the store's field names; the worker's older camelCase report still decodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rendition {
    /// Resolution label (shorter side).
    pub resolution: u32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frame rate.
    pub fps: u32,
    /// Size of the fMP4 in bytes.
    pub size: u64,
    /// fMP4 file name (`<prefix>-<res>-fragmented.mp4`).
    #[serde(alias = "mediaFile")]
    pub media_file: String,
    /// Media playlist file name (`<prefix>-<res>.m3u8`).
    #[serde(alias = "playlistFile")]
    pub playlist_file: String,
    /// Torrent file name (`<prefix>-<res>-hls.torrent`).
    #[serde(alias = "torrentFile")]
    pub torrent_file: String,
    /// BitTorrent v1 info-hash (hex).
    #[serde(alias = "infoHash")]
    pub info_hash: String,
    /// Encoder that produced it.
    pub encoder: String,
    /// Why preferred encoders were not used, when any were tried.
    #[serde(alias = "fallbackReason")]
    pub fallback_reason: Option<String>,
    /// Whether it carries audio.
    #[serde(alias = "hasAudio")]
    pub has_audio: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_the_store_and_the_old_worker_names() {
        let store = r#"{"resolution":720,"width":1280,"height":720,"fps":30,"size":9,"media_file":"a-720-fragmented.mp4","playlist_file":"a-720.m3u8","torrent_file":"a-720-hls.torrent","info_hash":"ab","encoder":"libx264","fallback_reason":null,"has_audio":true}"#;
        let worker = r#"{"resolution":720,"width":1280,"height":720,"fps":30,"size":9,"mediaFile":"a-720-fragmented.mp4","playlistFile":"a-720.m3u8","torrentFile":"a-720-hls.torrent","infoHash":"ab","encoder":"libx264","fallbackReason":null,"hasAudio":true}"#;
        let a: Rendition = serde_json::from_str(store).unwrap();
        let b: Rendition = serde_json::from_str(worker).unwrap();
        assert_eq!(a, b);
        assert_eq!(serde_json::to_string(&a).unwrap(), store);
    }
}
