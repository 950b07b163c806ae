//! PeerTube's public URLs of a local video, built in one place: the watch page and ActivityPub
//! id, the short watch page, the embed, images, file metadata, tracker announce URLs, and the
//! HLS files and torrents wherever the video's privacy puts them (reference/peertube-interop.md
//! §4.1). The inverse of [`crate::media::layout`], which maps these URLs back to files.
//!
//! | video | HLS files | torrents |
//! |---|---|---|
//! | public, unlisted | `/static/streaming-playlists/hls/<uuid>/<f>` | `/lazy-static/torrents/<t>` |
//! | private, internal, password | `/static/streaming-playlists/hls/private/<uuid>/<f>` | the same private directory |
//!
//! Once a video's HLS files are in the object storage ([`FileStorage::ObjectStorage`]), a public
//! video's are at the bucket's public base (`<base_url>/<prefix>`, see
//! `media::objstore::ObjectStorage::hls_public_base`) followed by `hls/<uuid>/<f>`, and a private
//! video's at PeerTube's proxy path `/object-storage-proxy/streaming-playlists/hls/private/<uuid>/<f>`,
//! served by Fleuve with a video file token. Torrents of public videos stay on disk.

use super::ident::short_uuid;
use super::record::{FileStorage, Video, VideoFile, WebVideoFile};

/// `/videos/watch/<uuid>`: the watch page, and the video's ActivityPub id.
pub fn watch_path(uuid: &str) -> String {
    format!("/videos/watch/{uuid}")
}

/// `/w/<shortUUID>`: the short watch page.
pub fn short_watch_path(uuid: &str) -> String {
    format!("/w/{}", short_uuid(uuid))
}

/// `/videos/embed/<uuid>`: the embeddable player.
pub fn embed_path(uuid: &str) -> String {
    format!("/videos/embed/{uuid}")
}

/// `/lazy-static/thumbnails/<name>`: a miniature.
pub fn thumbnail_path(name: &str) -> String {
    format!("/lazy-static/thumbnails/{name}")
}

/// `/lazy-static/previews/<name>`: a preview.
pub fn preview_path(name: &str) -> String {
    format!("/lazy-static/previews/{name}")
}

/// `/lazy-static/storyboards/<name>`: a storyboard's sprite sheet.
pub fn storyboard_path(name: &str) -> String {
    format!("/lazy-static/storyboards/{name}")
}

/// The path prefix of private HLS files served from the object storage.
pub const OBJECT_STORAGE_PROXY_HLS: &str = "/object-storage-proxy/streaming-playlists/hls/";

/// URL of a file in a video's HLS directory, public or private.
pub fn hls_file_url(public_url: &str, uuid: &str, private: bool, file: &str) -> String {
    let base = public_url.trim_end_matches('/');
    if private {
        format!("{base}/static/streaming-playlists/hls/private/{uuid}/{file}")
    } else {
        format!("{base}/static/streaming-playlists/hls/{uuid}/{file}")
    }
}

/// The tracker URLs torrents and the API announce: the WebSocket tracker (`ws`/`wss` after the
/// instance's scheme) and the HTTP one.
pub fn tracker_urls(public_url: &str) -> Vec<String> {
    let base = public_url.trim_end_matches('/');
    let ws = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else {
        format!("ws://{}", base.trim_start_matches("http://"))
    };
    vec![
        format!("{ws}/tracker/socket"),
        format!("{base}/tracker/announce"),
    ]
}

/// The absolute URLs of the instance at `public_url`.
#[derive(Debug, Clone, Copy)]
pub struct PublicUrls<'a> {
    base: &'a str,
}

impl<'a> PublicUrls<'a> {
    /// The URLs of the instance at `public_url` (a trailing `/` is ignored).
    pub fn new(public_url: &'a str) -> PublicUrls<'a> {
        PublicUrls {
            base: public_url.trim_end_matches('/'),
        }
    }

    /// See [`watch_path`].
    pub fn watch(&self, uuid: &str) -> String {
        format!("{}{}", self.base, watch_path(uuid))
    }

    /// See [`short_watch_path`].
    pub fn short_watch(&self, uuid: &str) -> String {
        format!("{}{}", self.base, short_watch_path(uuid))
    }

    /// See [`embed_path`].
    pub fn embed(&self, uuid: &str) -> String {
        format!("{}{}", self.base, embed_path(uuid))
    }

    /// See [`thumbnail_path`].
    pub fn thumbnail(&self, name: &str) -> String {
        format!("{}{}", self.base, thumbnail_path(name))
    }

    /// See [`preview_path`].
    pub fn preview(&self, name: &str) -> String {
        format!("{}{}", self.base, preview_path(name))
    }

    /// See [`storyboard_path`].
    pub fn storyboard(&self, name: &str) -> String {
        format!("{}{}", self.base, storyboard_path(name))
    }

    /// A rendition's ffprobe metadata (`/api/v1/videos/<uuid>/metadata/<file id>`).
    pub fn file_metadata(&self, uuid: &str, file_id: u64) -> String {
        format!("{}/api/v1/videos/{uuid}/metadata/{file_id}", self.base)
    }

    /// See [`tracker_urls`].
    pub fn trackers(&self) -> Vec<String> {
        tracker_urls(self.base)
    }
}

/// The URLs of one local video's files, where its privacy puts them.
#[derive(Debug, Clone, Copy)]
pub struct FileUrls<'a> {
    base: &'a str,
    uuid: &'a str,
    private: bool,
    /// The object storage's public base of HLS files, when the video's files are there.
    bucket: Option<&'a str>,
    in_bucket: bool,
}

impl<'a> FileUrls<'a> {
    /// The URLs of `video`'s files on the instance at `public_url`; `bucket` is the object
    /// storage's public base of HLS files when object storage is on.
    pub fn of(public_url: &'a str, video: &'a Video, bucket: Option<&'a str>) -> FileUrls<'a> {
        FileUrls {
            base: public_url.trim_end_matches('/'),
            uuid: &video.uuid,
            private: video.files_are_private(),
            bucket,
            in_bucket: video
                .hls
                .as_ref()
                .is_some_and(|h| h.storage == FileStorage::ObjectStorage),
        }
    }

    /// A file of the HLS directory (master, media playlists, fMP4, segments-sha256).
    pub fn hls(&self, file: &str) -> String {
        match (self.in_bucket, self.private, self.bucket) {
            (true, true, _) => format!(
                "{}{OBJECT_STORAGE_PROXY_HLS}private/{}/{file}",
                self.base, self.uuid
            ),
            (true, false, Some(bucket)) => format!("{bucket}hls/{}/{file}", self.uuid),
            _ => hls_file_url(self.base, self.uuid, self.private, file),
        }
    }

    /// A rendition's `.torrent`: in the private HLS directory, else under `public_dir`
    /// (torrents stay on disk when the video's files are in the object storage).
    fn torrent_in(&self, f: &VideoFile, public_dir: &str) -> String {
        let name = &f.rendition.torrent_file;
        if self.private {
            hls_file_url(self.base, self.uuid, true, name)
        } else {
            format!("{}/{public_dir}/{name}", self.base)
        }
    }

    /// A rendition's `.torrent`.
    pub fn torrent(&self, f: &VideoFile) -> String {
        self.torrent_in(f, "lazy-static/torrents")
    }

    /// A rendition's `.torrent` as a download.
    pub fn torrent_download(&self, f: &VideoFile) -> String {
        self.torrent_in(f, "download/torrents")
    }

    /// A web video (`/static/web-videos/[private/]<file>`); where the file says it is.
    pub fn web_video(&self, f: &WebVideoFile) -> String {
        let private = if f.private { "private/" } else { "" };
        format!("{}/static/web-videos/{private}{}", self.base, f.file)
    }

    /// A web video as a download (`/download/web-videos/[private/]<file>`).
    pub fn web_video_download(&self, f: &WebVideoFile) -> String {
        let private = if f.private { "private/" } else { "" };
        format!("{}/download/web-videos/{private}{}", self.base, f.file)
    }

    /// A web video's `.torrent` (`download` for the download URL), once made.
    pub fn web_video_torrent(&self, f: &WebVideoFile, download: bool) -> Option<String> {
        let name = f.torrent_file.as_deref()?;
        Some(match (f.private, download) {
            (true, _) => format!("{}/static/web-videos/private/{name}", self.base),
            (false, false) => format!("{}/lazy-static/torrents/{name}", self.base),
            (false, true) => format!("{}/download/torrents/{name}", self.base),
        })
    }

    /// The webseed (`url-list`) a rendition's torrent carries: its public file URL, or none for
    /// private files (as PeerTube does).
    pub fn webseed(&self, f: &VideoFile) -> Option<String> {
        (!self.private).then(|| self.hls(&f.rendition.media_file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_and_image_urls() {
        let urls = PublicUrls::new("https://v.example/");
        let u = "9c9de5e8-0a1a-4d7b-8e7d-6c1f3c2d5e4f";
        assert_eq!(urls.watch(u), format!("https://v.example/videos/watch/{u}"));
        assert_eq!(
            urls.short_watch(u),
            format!("https://v.example/w/{}", short_uuid(u))
        );
        assert_eq!(urls.embed(u), format!("https://v.example/videos/embed/{u}"));
        assert_eq!(
            urls.thumbnail("t.jpg"),
            "https://v.example/lazy-static/thumbnails/t.jpg"
        );
        assert_eq!(
            urls.preview("p.jpg"),
            "https://v.example/lazy-static/previews/p.jpg"
        );
        assert_eq!(
            urls.file_metadata(u, 3),
            format!("https://v.example/api/v1/videos/{u}/metadata/3")
        );
        assert_eq!(
            hls_file_url("http://h/", "u", true, "m.m3u8"),
            "http://h/static/streaming-playlists/hls/private/u/m.m3u8"
        );
        assert_eq!(
            hls_file_url("http://h", "u", false, "m.m3u8"),
            "http://h/static/streaming-playlists/hls/u/m.m3u8"
        );
    }

    #[test]
    fn tracker_urls_follow_the_scheme() {
        assert_eq!(
            tracker_urls("https://v.example/"),
            [
                "wss://v.example/tracker/socket",
                "https://v.example/tracker/announce"
            ]
        );
        assert_eq!(
            tracker_urls("http://127.0.0.1:9000"),
            [
                "ws://127.0.0.1:9000/tracker/socket",
                "http://127.0.0.1:9000/tracker/announce"
            ]
        );
    }
}
