//! What a mirror copies: the files an origin's HLS playlists name (no I/O). Every file must be
//! in the master playlist's directory on the origin: a mirror keeps them under the same names
//! in one directory, where players find them as `<mirror base>/<file name>`.

use std::collections::BTreeSet;

/// Why a playlist cannot be mirrored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaylistError {
    /// Not an HLS playlist.
    #[error("{0} is not an HLS playlist (no #EXTM3U)")]
    NotHls(String),
    /// A file outside the playlist's directory, or with a name a mirror cannot keep.
    #[error("{playlist} names {uri}, which is not a file of its directory")]
    Outside {
        /// The playlist.
        playlist: String,
        /// What it names.
        uri: String,
    },
}

/// The directory of a URL (up to and including its last `/`), without query or fragment.
pub fn directory_of(url: &str) -> &str {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    let url = &url[..end];
    match url.rfind('/') {
        Some(i) => &url[..=i],
        None => url,
    }
}

/// The last path segment of a URL, without query or fragment.
pub fn file_name_of(url: &str) -> &str {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    let url = &url[..end];
    url.rsplit('/').next().unwrap_or(url)
}

/// Whether a mirror may keep a file of this name: letters, digits, `.`, `-`, `_`, not
/// starting with a dot, at most 200 bytes.
pub fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// The file name `uri` (as written in the playlist at `playlist_url`) refers to, if it is a
/// file of the playlist's directory.
fn name_in_directory(playlist_url: &str, uri: &str) -> Result<String, PlaylistError> {
    let outside = || PlaylistError::Outside {
        playlist: playlist_url.to_string(),
        uri: uri.to_string(),
    };
    let dir = directory_of(playlist_url);
    let rest = if uri.contains("://") {
        uri.strip_prefix(dir).ok_or_else(outside)?
    } else if uri.starts_with('/') {
        return Err(outside());
    } else {
        uri
    };
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    let name = &rest[..end];
    if is_safe_name(name) {
        Ok(name.to_string())
    } else {
        Err(outside())
    }
}

/// The `URI="…"` attribute of a tag line.
fn uri_attribute(line: &str) -> Option<&str> {
    let i = line.find("URI=\"")? + 5;
    let rest = &line[i..];
    Some(&rest[..rest.find('"')?])
}

/// The files a playlist names: its URI lines (variant playlists of a master playlist, media
/// segments of a media playlist) and `URI` attributes (`EXT-X-MAP` init segments,
/// `EXT-X-MEDIA` renditions), as file names of its directory, in order, each once.
pub fn files_named(playlist_url: &str, text: &str) -> Result<Vec<String>, PlaylistError> {
    if !text.trim_start().starts_with("#EXTM3U") {
        return Err(PlaylistError::NotHls(playlist_url.to_string()));
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        let uri = if line.is_empty() {
            continue;
        } else if line.starts_with('#') {
            match uri_attribute(line) {
                Some(u) if line.starts_with("#EXT-X-MAP") || line.starts_with("#EXT-X-MEDIA") => u,
                _ => continue,
            }
        } else {
            line
        };
        let name = name_in_directory(playlist_url, uri)?;
        if seen.insert(name.clone()) {
            out.push(name);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASTER: &str = "#EXTM3U\n#EXT-X-VERSION:6\n\
        #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"a\",URI=\"f0-0.m3u8\"\n\
        #EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360,AUDIO=\"audio\"\nf0-360.m3u8\n\
        #EXT-X-STREAM-INF:BANDWIDTH=300000,RESOLUTION=426x240\nhttps://o.example/static/streaming-playlists/hls/u/f0-240.m3u8\n";

    const MEDIA: &str = "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MAP:URI=\"f0-360-fragmented.mp4\",BYTERANGE=\"800@0\"\n\
        #EXTINF:4.0,\n#EXT-X-BYTERANGE:1000@800\nf0-360-fragmented.mp4\n#EXTINF:4.0,\n#EXT-X-BYTERANGE:1000@1800\nf0-360-fragmented.mp4\n#EXT-X-ENDLIST\n";

    #[test]
    fn names_of_a_master_and_a_media_playlist() {
        let url = "https://o.example/static/streaming-playlists/hls/u/f0-master.m3u8";
        assert_eq!(
            files_named(url, MASTER).unwrap(),
            ["f0-0.m3u8", "f0-360.m3u8", "f0-240.m3u8"]
        );
        let url = "https://o.example/static/streaming-playlists/hls/u/f0-360.m3u8";
        assert_eq!(files_named(url, MEDIA).unwrap(), ["f0-360-fragmented.mp4"]);
    }

    #[test]
    fn files_outside_the_directory_are_refused() {
        let url = "https://o.example/static/streaming-playlists/hls/u/m.m3u8";
        for bad in [
            "../x/y.mp4",
            "/etc/passwd",
            "https://evil.example/static/streaming-playlists/hls/u/a.mp4",
            "https://o.example/static/streaming-playlists/hls/v/a.mp4",
            "sub/a.mp4",
            ".hidden",
        ] {
            let text = format!("#EXTM3U\n#EXTINF:4,\n{bad}\n");
            assert!(
                matches!(files_named(url, &text), Err(PlaylistError::Outside { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            files_named(url, "<html>"),
            Err(PlaylistError::NotHls(_))
        ));
        assert_eq!(file_name_of("https://a/b/c.json?x=1"), "c.json");
        assert_eq!(directory_of("https://a/b/c.json?x=/1"), "https://a/b/");
    }
}
