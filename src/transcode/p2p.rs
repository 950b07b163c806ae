//! The info-hashes under which browsers running p2p-media-loader announce an HLS rendition to the
//! tracker. They are not torrent hashes: each loader version derives them from a "swarm id"
//! string. PeerTube's releases used several schemes (reference `tracker-p2p.md` §3.2–3.5), so we
//! register all of them; the private tracker then accepts whichever one a player uses. Also the
//! allowlist rows of a video (these hashes and its torrents' info-hashes).

use crate::store::videos::{InfohashEntry, InfohashKey};
use crate::video::{Video, VideoFile};
use base64::Engine as _;
use md5::Md5;
use sha1::{Digest, Sha1};

/// One P2P info-hash of a rendition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct P2pHash {
    /// Which scheme made it.
    pub scheme: &'static str,
    /// The 20 bytes a tracker sees as `info_hash`.
    pub hash: [u8; 20],
    /// The rendition's resolution.
    pub resolution: u32,
}

/// 20 ASCII characters: base64 of 15 digest bytes (p2p-media-loader 1.x–2.x).
fn base64_15(digest: &[u8]) -> [u8; 20] {
    let text = base64::engine::general_purpose::STANDARD.encode(&digest[..15]);
    let mut out = [0u8; 20];
    out.copy_from_slice(&text.as_bytes()[..20]);
    out
}

/// MD5 variant (p2p-media-loader up to 2.2.x): bytes 1..16 of the MD5.
pub fn md5_hash(swarm: &str) -> [u8; 20] {
    base64_15(&Md5::digest(swarm.as_bytes())[1..])
}

/// SHA-1 variant (p2p-media-loader 2.3 and PeerTube develop): bytes 0..15 of the SHA-1.
pub fn sha1_hash(swarm: &str) -> [u8; 20] {
    base64_15(&Sha1::digest(swarm.as_bytes()))
}

/// Every P2P info-hash of a video's renditions. `resolutions` are in master playlist order;
/// players number variants by their own order, so every index is registered for every scheme.
pub fn infohashes(master_url: &str, video_uuid: &str, resolutions: &[u32]) -> Vec<P2pHash> {
    let mut out = Vec::new();
    for (i, &resolution) in resolutions.iter().enumerate() {
        // PeerTube's fork of p2p-media-loader 0.6 (`@peertube/p2p-media-loader-core` 1.0.x):
        // raw SHA-1 of "2" + "<master URL>+V<index>".
        let legacy: [u8; 20] = Sha1::digest(format!("2{master_url}+V{i}").as_bytes()).into();
        out.push(P2pHash {
            scheme: "p2pml-legacy-sha1",
            hash: legacy,
            resolution,
        });
        // p2p-media-loader 1.x–2.x: "v2-<master URL>-main-<index>".
        let v2 = format!("v2-{master_url}-main-{i}");
        out.push(P2pHash {
            scheme: "p2pml-v2-md5",
            hash: md5_hash(&v2),
            resolution,
        });
        out.push(P2pHash {
            scheme: "p2pml-v2-sha1",
            hash: sha1_hash(&v2),
            resolution,
        });
        // PeerTube develop: URL-independent ids per resolution, version written as -2.
        for version in ["-2", "2"] {
            let id = format!("pt-v{version}-{video_uuid}-main-default-{resolution}");
            out.push(P2pHash {
                scheme: "peertube-swarm-sha1",
                hash: sha1_hash(&id),
                resolution,
            });
            out.push(P2pHash {
                scheme: "peertube-swarm-md5",
                hash: md5_hash(&id),
                resolution,
            });
        }
    }
    out
}

/// The tracker allowlist rows of a local video's renditions (`(resolution, torrent info-hash
/// in hex)`, in master playlist order): each torrent's info-hash and the p2p-media-loader
/// hashes of its public master playlist. They are on the allowlist while the video's files are
/// public, and off it while they are private. Info-hashes that are not 40 hex digits are left
/// out.
pub fn allowlist(
    public_url: &str,
    uuid: &str,
    master: &str,
    renditions: &[(u32, &str)],
) -> Vec<(InfohashKey, InfohashEntry)> {
    let mut out = Vec::new();
    for &(resolution, info_hash) in renditions {
        let mut hash = [0u8; 20];
        if hex::decode_to_slice(info_hash, &mut hash).is_ok() {
            out.push((
                InfohashKey(hash),
                InfohashEntry {
                    video_uuid: uuid.to_string(),
                    resolution,
                    scheme: "torrent".into(),
                },
            ));
        }
    }
    let master_url = crate::video::urls::hls_file_url(public_url, uuid, false, master);
    let resolutions: Vec<u32> = renditions.iter().map(|r| r.0).collect();
    for h in infohashes(&master_url, uuid, &resolutions) {
        out.push((
            InfohashKey(h.hash),
            InfohashEntry {
                video_uuid: uuid.to_string(),
                resolution: h.resolution,
                scheme: h.scheme.to_string(),
            },
        ));
    }
    out
}

/// [`allowlist`] of a published video's stored files.
pub fn allowlist_of(
    public_url: &str,
    video: &Video,
    files: &[VideoFile],
) -> Vec<(InfohashKey, InfohashEntry)> {
    let Some(hls) = &video.hls else {
        return Vec::new();
    };
    let renditions: Vec<(u32, &str)> = files
        .iter()
        .map(|f| (f.rendition.resolution, f.rendition.info_hash.as_str()))
        .collect();
    allowlist(public_url, &video.uuid, &hls.master, &renditions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_twenty_base64_characters() {
        let h = sha1_hash("v2-https://tube.example/master.m3u8-main-0");
        assert!(h
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/'));
        // Known values computed with Python's hashlib + base64 (the reference's method).
        assert_eq!(&sha1_hash("abc"), b"qZk+NkcGgWq6PiVxeFDC");
        assert_eq!(&md5_hash("abc"), b"AVCYPNJPsNaWP30o4X9y");
    }

    #[test]
    fn every_scheme_for_every_rendition() {
        let all = infohashes("http://h/m.m3u8", "u", &[720, 360]);
        assert_eq!(all.len(), 2 * 7);
        let mut unique: Vec<_> = all.iter().map(|h| h.hash).collect();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), all.len());
    }
}
