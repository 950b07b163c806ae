//! `CacheFile`: a copy of another instance's video file or playlist kept by a mirroring
//! instance, announced with `Create`/`Update` and withdrawn with `Undo` (PeerTube's
//! `CacheFileObject`). Redundancy builds on it; here it is the type and its checks.

use super::{kind, ProtocolError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

kind!(CacheFileType, "CacheFile");

/// Where the copy is: a `Link` to a video file or to an HLS playlist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheFileUrl {
    /// `Link`.
    #[serde(rename = "type")]
    pub kind: super::video::LinkType,
    /// `video/mp4` (a file) or `application/x-mpegURL` (a playlist).
    pub media_type: String,
    /// The copy's URL.
    pub href: String,
    /// The file's height (files only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// The file's size in bytes (files only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// The file's frame rate (files only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fps: Option<f64>,
}

/// A mirror of a video's file or playlist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheFile {
    /// The mirror's id (on the mirroring instance).
    pub id: String,
    /// `CacheFile`.
    #[serde(rename = "type")]
    pub kind: CacheFileType,
    /// The mirrored video's id.
    pub object: String,
    /// When the mirror may be dropped (ISO 8601), if ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// The copy.
    pub url: CacheFileUrl,
}

fn http_url(field: &'static str, v: &str) -> Result<(), ProtocolError> {
    if (v.starts_with("https://") || v.starts_with("http://")) && v.len() <= 2000 {
        Ok(())
    } else {
        Err(ProtocolError::invalid(
            field,
            &Value::from(v),
            "an http(s) URL",
        ))
    }
}

impl CacheFile {
    /// Parses and checks a `CacheFile`: URLs are http(s), the copy is a file or a playlist,
    /// `expires` is a date, and the mirror is on the host of its id.
    pub fn parse(doc: &Value) -> Result<CacheFile, ProtocolError> {
        let c = CacheFile::deserialize(doc)
            .map_err(|e| ProtocolError::Rule(format!("CacheFile: {e}")))?;
        http_url("id", &c.id)?;
        http_url("object", &c.object)?;
        http_url("url.href", &c.url.href)?;
        if !matches!(
            c.url.media_type.as_str(),
            "video/mp4" | "video/webm" | "video/ogg" | "audio/mp4" | "application/x-mpegURL"
        ) {
            return Err(ProtocolError::invalid(
                "url.mediaType",
                &Value::from(c.url.media_type.as_str()),
                "a video file or HLS playlist type",
            ));
        }
        if let Some(e) = &c.expires {
            if crate::time::parse_iso8601(e).is_none() {
                return Err(ProtocolError::invalid(
                    "expires",
                    &Value::from(e.as_str()),
                    "an ISO 8601 date",
                ));
            }
        }
        if crate::app::host_of(&c.id) != crate::app::host_of(&c.url.href) {
            return Err(ProtocolError::Rule(format!(
                "CacheFile {} points to {}, on another host",
                c.id, c.url.href
            )));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// As PeerTube 6 sends it in the `Create` of a redundancy of an HLS playlist.
    fn playlist() -> Value {
        json!({
            "id": "https://mirror.example/redundancy/streaming-playlists/hls/0d3b0000-0000-4000-8000-000000000000",
            "type": "CacheFile",
            "object": "https://origin.example/videos/watch/0d3b0000-0000-4000-8000-000000000000",
            "expires": "2026-02-01T00:00:00.000Z",
            "url": {
                "type": "Link",
                "mediaType": "application/x-mpegURL",
                "href": "https://mirror.example/static/redundancy/hls/0d3b0000-0000-4000-8000-000000000000"
            }
        })
    }

    #[test]
    fn a_playlist_mirror_round_trips() {
        let c = CacheFile::parse(&playlist()).unwrap();
        assert_eq!(c.url.media_type, "application/x-mpegURL");
        assert_eq!(serde_json::to_value(&c).unwrap(), playlist());
    }

    #[test]
    fn bad_mirrors_are_refused_by_name() {
        let mut d = playlist();
        d["url"]["href"] = json!("ftp://mirror.example/x");
        assert!(CacheFile::parse(&d)
            .unwrap_err()
            .to_string()
            .contains("url.href"));
        let mut d = playlist();
        d["url"]["href"] = json!("https://elsewhere.example/x");
        assert!(CacheFile::parse(&d)
            .unwrap_err()
            .to_string()
            .contains("another host"));
        let mut d = playlist();
        d["expires"] = json!("soon");
        assert!(CacheFile::parse(&d)
            .unwrap_err()
            .to_string()
            .contains("expires"));
        let mut d = playlist();
        d["type"] = json!("Video");
        assert!(CacheFile::parse(&d).is_err());
    }
}
