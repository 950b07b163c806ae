//! Where a local video's files live under the media root, public or private
//! (reference/peertube-interop.md §4.1; their URLs are in [`super::urls`]):
//!
//! | video | HLS files | torrents |
//! |---|---|---|
//! | public, unlisted | `streaming-playlists/hls/<uuid>/` at `/static/streaming-playlists/hls/<uuid>/<f>` | `torrents/<t>` at `/lazy-static/torrents/<t>` |
//! | private, internal, password | `streaming-playlists/hls/private/<uuid>/` at `/static/streaming-playlists/hls/private/<uuid>/<f>` | in the same private directory, at the same private URL |
//!
//! Web videos (`<uuid>-<resolution><ext>`) are in `web-videos/` at `/static/web-videos/<f>`
//! (and `/download/web-videos/<f>`), their torrents with the others; a private video's are both
//! in `web-videos/private/` at `/static/web-videos/private/<f>`.
//!
//! PeerTube keeps private videos' torrents in its torrent directory; Fleuve keeps them with the
//! video's other private files, so one token bound to the video (the uuid is in the path) opens
//! them and the public `/lazy-static/torrents/` URL stops answering for them.

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

/// The web-video directory below the media root, public or private (`web-videos/private/`).
pub fn web_video_dir(media_root: &Path, private: bool) -> PathBuf {
    let dir = media_root.join("web-videos");
    if private {
        dir.join("private")
    } else {
        dir
    }
}

/// Where a web video's torrent lives: with the other torrents, or beside the private file.
pub fn web_video_torrent_path(media_root: &Path, private: bool, torrent_file: &str) -> PathBuf {
    if private {
        web_video_dir(media_root, true).join(torrent_file)
    } else {
        media_root.join("torrents").join(torrent_file)
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
    }
}
