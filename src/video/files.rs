//! Where a local video's files live under the media root and the URLs clients are given for
//! them, public or private (reference/peertube-interop.md §4.1):
//!
//! | video | HLS files | torrents |
//! |---|---|---|
//! | public, unlisted | `streaming-playlists/hls/<uuid>/` at `/static/streaming-playlists/hls/<uuid>/<f>` | `torrents/<t>` at `/lazy-static/torrents/<t>` |
//! | private, internal, password | `streaming-playlists/hls/private/<uuid>/` at `/static/streaming-playlists/hls/private/<uuid>/<f>` | in the same private directory, at the same private URL |
//!
//! PeerTube keeps private videos' torrents in its torrent directory; Fleuve keeps them with the
//! video's other private files, so one token bound to the video (the uuid is in the path) opens
//! them and the public `/lazy-static/torrents/` URL stops answering for them.

use super::visibility::files_are_private;
use crate::store::videos::{Video, VideoFile};
use std::path::{Path, PathBuf};

/// The HLS directory below the media root, public or private.
pub fn hls_dir(media_root: &Path, uuid: &str, private: bool) -> PathBuf {
    let hls = media_root.join("streaming-playlists").join("hls");
    if private {
        hls.join("private").join(uuid)
    } else {
        hls.join(uuid)
    }
}

/// Where a rendition's torrent lives, public or private.
pub fn torrent_path(media_root: &Path, uuid: &str, private: bool, torrent_file: &str) -> PathBuf {
    if private {
        hls_dir(media_root, uuid, true).join(torrent_file)
    } else {
        media_root.join("torrents").join(torrent_file)
    }
}

/// URL of a file in the video's HLS directory, public or private.
pub fn hls_file_url(public_url: &str, uuid: &str, private: bool, file: &str) -> String {
    let base = public_url.trim_end_matches('/');
    if private {
        format!("{base}/static/streaming-playlists/hls/private/{uuid}/{file}")
    } else {
        format!("{base}/static/streaming-playlists/hls/{uuid}/{file}")
    }
}

/// The URLs of one local video's files, where its privacy puts them.
#[derive(Debug, Clone, Copy)]
pub struct FileUrls<'a> {
    base: &'a str,
    uuid: &'a str,
    private: bool,
}

impl<'a> FileUrls<'a> {
    /// The URLs of `video`'s files on the instance at `public_url`.
    pub fn of(public_url: &'a str, video: &'a Video) -> FileUrls<'a> {
        FileUrls {
            base: public_url.trim_end_matches('/'),
            uuid: &video.uuid,
            private: files_are_private(video.privacy),
        }
    }

    /// Whether the files are in the private directories.
    pub fn private(&self) -> bool {
        self.private
    }

    /// A file of the HLS directory (master, media playlists, fMP4, segments-sha256).
    pub fn hls(&self, file: &str) -> String {
        hls_file_url(self.base, self.uuid, self.private, file)
    }

    /// A rendition's `.torrent`.
    pub fn torrent(&self, f: &VideoFile) -> String {
        if self.private {
            self.hls(&f.torrent_file)
        } else {
            format!("{}/lazy-static/torrents/{}", self.base, f.torrent_file)
        }
    }

    /// A rendition's `.torrent` as a download.
    pub fn torrent_download(&self, f: &VideoFile) -> String {
        if self.private {
            self.hls(&f.torrent_file)
        } else {
            format!("{}/download/torrents/{}", self.base, f.torrent_file)
        }
    }

    /// The webseed (`url-list`) a rendition's torrent carries: its public file URL, or none for
    /// private files (as PeerTube does).
    pub fn webseed(&self, f: &VideoFile) -> Option<String> {
        (!self.private).then(|| self.hls(&f.media_file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_files_sit_under_private() {
        let root = Path::new("/m");
        assert_eq!(
            hls_dir(root, "u", true),
            Path::new("/m/streaming-playlists/hls/private/u")
        );
        assert_eq!(
            torrent_path(root, "u", false, "t.torrent"),
            Path::new("/m/torrents/t.torrent")
        );
        assert_eq!(
            torrent_path(root, "u", true, "t.torrent"),
            Path::new("/m/streaming-playlists/hls/private/u/t.torrent")
        );
        assert_eq!(
            hls_file_url("http://h/", "u", true, "m.m3u8"),
            "http://h/static/streaming-playlists/hls/private/u/m.m3u8"
        );
    }
}
