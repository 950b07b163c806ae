//! Maps PeerTube's public URL space onto the media root (`<data_dir>/media`) with no database
//! lookup, refusing anything that could leave the root. Private videos' files
//! (`/static/streaming-playlists/hls/private/<uuid>/<file>`, and web videos and their torrents
//! at `/static/web-videos/private/<uuid>-<resolution><ext>`) resolve with the video they belong
//! to, so the segment server can check a video file token bound to it.

use percent_encoding::percent_decode_str;
use std::path::{Path, PathBuf};

/// How long clients may cache a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheClass {
    /// Media, torrents, images: names change with content, so cache for long and mark immutable.
    Immutable,
    /// Playlists and JSON: short max-age.
    Short,
}

/// A URL path resolved to a file under the media root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Absolute path (root joined with the checked relative path).
    pub path: PathBuf,
    /// `Content-Type` to send.
    pub content_type: &'static str,
    /// Caching policy.
    pub cache: CacheClass,
    /// For a file of a private video's directory: that video's uuid (the file needs a video file
    /// token or OAuth for it). None for public files.
    pub private_video: Option<String>,
}

/// Why a path was not resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// Not one of the public media prefixes, or not the expected shape below it.
    #[error("no such media path")]
    NotFound,
    /// A traversal attempt or an undecodable path.
    #[error("invalid media path: {0}")]
    BadPath(&'static str),
}

/// URL prefix → directory under the media root, and how many path segments follow it.
const PREFIXES: &[(&str, &str, usize)] = &[
    (
        "/static/streaming-playlists/hls/",
        "streaming-playlists/hls",
        2,
    ),
    ("/static/web-videos/", "web-videos", 1),
    ("/download/web-videos/", "web-videos", 1),
    ("/static/webseed/", "web-videos", 1),
    ("/static/redundancy/hls/", "redundancy/hls", 2),
    ("/lazy-static/torrents/", "torrents", 1),
    ("/download/torrents/", "torrents", 1),
    ("/lazy-static/thumbnails/", "thumbnails", 1),
    ("/lazy-static/previews/", "previews", 1),
    ("/static/thumbnails/", "thumbnails", 1),
    ("/static/previews/", "previews", 1),
    ("/lazy-static/video-captions/", "captions", 1),
    ("/lazy-static/storyboards/", "storyboards", 1),
];

/// URL prefix of our mirrors of other instances' videos (PeerTube's redundancy).
pub const REDUNDANCY_PREFIX: &str = "/static/redundancy/";

/// URL prefix of private videos' HLS directories.
pub const PRIVATE_HLS_PREFIX: &str = "/static/streaming-playlists/hls/private/";

/// URL prefixes of private videos' web-video files (and their torrents), named
/// `<uuid>-<resolution><ext>`.
pub const PRIVATE_WEB_VIDEO_PREFIXES: [&str; 2] = [
    "/static/web-videos/private/",
    "/download/web-videos/private/",
];

/// The video uuid a private web-video file name starts with (`<uuid>-…`), not checked further.
fn web_video_owner(name: &str) -> Option<&str> {
    let uuid = name.get(..36)?;
    (name.as_bytes().get(36) == Some(&b'-')).then_some(uuid)
}

/// The directories the layout serves from, relative to the media root (created at start).
pub fn directories() -> impl Iterator<Item = &'static str> {
    let mut dirs: Vec<&str> = PREFIXES.iter().map(|p| p.1).collect();
    dirs.push("streaming-playlists/hls/private");
    dirs.push("web-videos/private");
    dirs.sort_unstable();
    dirs.dedup();
    dirs.into_iter()
}

/// Whether a request path belongs to the media server (cheap prefix test for routing).
pub fn is_media_path(path: &str) -> bool {
    PREFIXES.iter().any(|(p, _, _)| path.starts_with(p))
}

/// Whether a request path is in a private video's directory (cheap prefix test: such requests
/// need a video file token or OAuth).
pub fn is_private_path(path: &str) -> bool {
    path.starts_with(PRIVATE_HLS_PREFIX)
        || PRIVATE_WEB_VIDEO_PREFIXES
            .iter()
            .any(|p| path.starts_with(p))
}

/// The video segment of a private file's path, as sent (not decoded or checked; [`MediaLayout::resolve`] does that).
pub fn private_video_of(path: &str) -> Option<&str> {
    if let Some(rest) = path.strip_prefix(PRIVATE_HLS_PREFIX) {
        return rest.split('/').next();
    }
    PRIVATE_WEB_VIDEO_PREFIXES
        .iter()
        .find_map(|p| path.strip_prefix(p))
        .and_then(web_video_owner)
}

/// The media layout rooted at one directory.
#[derive(Debug, Clone)]
pub struct MediaLayout {
    root: PathBuf,
}

impl MediaLayout {
    /// A layout over `root`, which should be canonical (symlink checks compare against it).
    pub fn new(root: PathBuf) -> MediaLayout {
        MediaLayout { root }
    }

    /// The media root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolves a URL path (still percent-encoded, without query) to a file path.
    pub fn resolve(&self, uri_path: &str) -> Result<Resolved, ResolveError> {
        let (prefix, dir, depth) = PREFIXES
            .iter()
            .find(|(p, _, _)| uri_path.starts_with(p))
            .ok_or(ResolveError::NotFound)?;
        let rest = &uri_path[prefix.len()..];
        let decoded = percent_decode_str(rest)
            .decode_utf8()
            .map_err(|_| ResolveError::BadPath("not UTF-8"))?;
        let mut path = self.root.join(dir);
        let mut count = 0;
        for seg in decoded.split('/') {
            check_segment(seg)?;
            count += 1;
            path.push(seg);
        }
        // `hls/private/<uuid>/<file>`: a private video's directory, one level deeper;
        // `web-videos/private/<uuid>-<res><ext>`: a private video's web video or its torrent.
        let private_video = match decoded.strip_prefix("private/") {
            Some(rest) if *dir == "streaming-playlists/hls" && count == 3 => {
                Some(rest.split('/').next().unwrap_or_default().to_string())
            }
            Some(rest) if *dir == "web-videos" && count == 2 => Some(
                web_video_owner(rest)
                    .ok_or(ResolveError::NotFound)?
                    .to_string(),
            ),
            Some(_) if *depth == 2 => return Err(ResolveError::NotFound),
            _ if count != *depth => return Err(ResolveError::NotFound),
            _ => None,
        };
        let name = decoded.rsplit('/').next().unwrap_or_default();
        let (content_type, cache) = content_type_of(name);
        Ok(Resolved {
            path,
            content_type,
            cache,
            private_video,
        })
    }
}

fn check_segment(seg: &str) -> Result<(), ResolveError> {
    if seg.is_empty() {
        return Err(ResolveError::BadPath("empty path segment"));
    }
    if seg == "." || seg == ".." {
        return Err(ResolveError::BadPath("dot segment"));
    }
    if seg.bytes().any(|b| b == 0 || b == b'\\' || b < 0x20) {
        return Err(ResolveError::BadPath("control character or backslash"));
    }
    Ok(())
}

/// Content type and cache class from a file name's extension.
pub fn content_type_of(name: &str) -> (&'static str, CacheClass) {
    let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    let ext = ext.to_ascii_lowercase();
    use CacheClass::*;
    match ext.as_str() {
        "mp4" | "m4s" | "m4v" => ("video/mp4", Immutable),
        "m3u8" => ("application/vnd.apple.mpegurl", Short),
        "json" => ("application/json", Short),
        "torrent" => ("application/x-bittorrent", Immutable),
        "jpg" | "jpeg" => ("image/jpeg", Immutable),
        "png" => ("image/png", Immutable),
        "webp" => ("image/webp", Immutable),
        "vtt" => ("text/vtt", Immutable),
        "webm" => ("video/webm", Immutable),
        "mkv" => ("video/x-matroska", Immutable),
        "mov" => ("video/quicktime", Immutable),
        "ogv" => ("video/ogg", Immutable),
        "m4a" => ("audio/mp4", Immutable),
        "mp3" => ("audio/mpeg", Immutable),
        _ => ("application/octet-stream", Immutable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> MediaLayout {
        MediaLayout::new(PathBuf::from("/srv/media"))
    }

    #[test]
    fn maps_peertube_paths() {
        let r = layout()
            .resolve("/static/streaming-playlists/hls/0b4a/abc-720-fragmented.mp4")
            .unwrap();
        assert_eq!(
            r.path,
            PathBuf::from("/srv/media/streaming-playlists/hls/0b4a/abc-720-fragmented.mp4")
        );
        assert_eq!(r.content_type, "video/mp4");
        assert_eq!(r.cache, CacheClass::Immutable);
        let r = layout()
            .resolve("/static/streaming-playlists/hls/u/x-master.m3u8")
            .unwrap();
        assert_eq!(r.content_type, "application/vnd.apple.mpegurl");
        assert_eq!(r.cache, CacheClass::Short);
        let r = layout()
            .resolve("/lazy-static/torrents/x-720-hls.torrent")
            .unwrap();
        assert_eq!(
            r.path,
            PathBuf::from("/srv/media/torrents/x-720-hls.torrent")
        );
        assert_eq!(r.content_type, "application/x-bittorrent");
        let r = layout().resolve("/static/webseed/a%20b.mp4").unwrap();
        assert_eq!(r.path, PathBuf::from("/srv/media/web-videos/a b.mp4"));
        assert_eq!(
            layout()
                .resolve("/lazy-static/thumbnails/t.jpg")
                .unwrap()
                .content_type,
            "image/jpeg"
        );
    }

    #[test]
    fn refuses_traversal() {
        let l = layout();
        for bad in [
            "/static/web-videos/..",
            "/static/web-videos/%2e%2e",
            "/static/web-videos/%2E%2E",
            "/static/streaming-playlists/hls/../x.mp4",
            "/static/streaming-playlists/hls/u/%2e%2e",
            "/static/streaming-playlists/hls/%2e%2e/%2e%2e",
            "/static/web-videos/a%00b",
            "/static/web-videos/..%5c..%5cetc",
            "/static/web-videos/%ff",
        ] {
            assert!(
                matches!(l.resolve(bad), Err(ResolveError::BadPath(_))),
                "{bad}"
            );
        }
        for not_found in [
            "/static/web-videos/a/b",
            "/static/web-videos/%2fetc%2fpasswd",
            "/static/streaming-playlists/hls/x.mp4",
            "/static/streaming-playlists/hls/private/x.mp4",
            "/static/streaming-playlists/hls/private/u/v/x.mp4",
            "/static/web-videos/private/x.mp4",
            "/static/web-videos/private/a/b.mp4",
            "/static/redundancy/hls/private/u/x.mp4",
            "/etc/passwd",
            "/static/",
        ] {
            assert!(l.resolve(not_found).is_err(), "{not_found}");
        }
    }

    #[test]
    fn private_files_resolve_with_their_video() {
        let r = layout()
            .resolve("/static/streaming-playlists/hls/private/0b4a/abc-master.m3u8")
            .unwrap();
        assert_eq!(
            r.path,
            PathBuf::from("/srv/media/streaming-playlists/hls/private/0b4a/abc-master.m3u8")
        );
        assert_eq!(r.private_video.as_deref(), Some("0b4a"));
        assert!(is_private_path(
            "/static/streaming-playlists/hls/private/0b4a/x.mp4"
        ));
        let public = layout()
            .resolve("/static/streaming-playlists/hls/0b4a/x.mp4")
            .unwrap();
        assert_eq!(public.private_video, None);
        assert!(!is_private_path(
            "/static/streaming-playlists/hls/0b4a/x.mp4"
        ));
        for bad in [
            "/static/streaming-playlists/hls/private/%2e%2e/x.mp4",
            "/static/streaming-playlists/hls/private/u/..",
        ] {
            assert!(
                matches!(layout().resolve(bad), Err(ResolveError::BadPath(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn private_web_videos_resolve_with_their_video() {
        let u = "0b4a5c6d-1111-2222-3333-444455556666";
        for prefix in PRIVATE_WEB_VIDEO_PREFIXES {
            let path = format!("{prefix}{u}-720.mp4");
            let r = layout().resolve(&path).unwrap();
            assert_eq!(
                r.path,
                PathBuf::from(format!("/srv/media/web-videos/private/{u}-720.mp4"))
            );
            assert_eq!(r.private_video.as_deref(), Some(u));
            assert!(is_private_path(&path));
            assert_eq!(private_video_of(&path), Some(u));
        }
        let r = layout()
            .resolve(&format!("/download/web-videos/{u}-720.mp4"))
            .unwrap();
        assert_eq!(r.private_video, None);
        assert_eq!(r.content_type, "video/mp4");
    }

    #[test]
    fn every_prefix_is_routed() {
        for (p, _, _) in PREFIXES {
            assert!(is_media_path(&format!("{p}x")));
        }
        assert!(!is_media_path("/api/v1/config"));
    }
}
