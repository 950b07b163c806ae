//! `CacheFile`: a copy of another instance's HLS playlist kept by a mirroring instance,
//! announced with `Create`/`Update` and withdrawn with `Undo` (PeerTube's `CacheFileObject`,
//! `cache-file-object.ts`, and its validator `isCacheFileObjectValid`). Only playlist mirrors
//! are accepted: PeerTube itself mirrors only HLS ("Only HLS player supports redundancy").

use super::{kind, ProtocolError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

kind!(CacheFileType, "CacheFile");

/// The media type of an HLS playlist mirror.
pub const HLS_MEDIA_TYPE: &str = "application/x-mpegURL";

/// Where the copy is: a `Link` to a video file or to an HLS playlist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheFileUrl {
    /// `Link`.
    #[serde(rename = "type")]
    pub kind: super::video::LinkType,
    /// `application/x-mpegURL` (a playlist). Older PeerTube versions wrote it `mimeType`.
    #[serde(alias = "mimeType")]
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
    /// When the mirror may be dropped (ISO 8601); `null` (written as such, as PeerTube does)
    /// for a manual mirror that never expires.
    #[serde(default)]
    pub expires: Option<String>,
    /// The copy.
    pub url: CacheFileUrl,
    /// Primary audience (PeerTube copies the activity's onto the object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Vec<String>>,
    /// Secondary audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cc: Option<Vec<String>>,
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
    /// The `CacheFile` of a playlist mirror `id` of video `object`, served at `href`.
    pub fn playlist(
        id: String,
        object: String,
        href: String,
        expires: Option<String>,
    ) -> CacheFile {
        CacheFile {
            id,
            kind: CacheFileType::default(),
            object,
            expires,
            url: CacheFileUrl {
                kind: super::video::LinkType::default(),
                media_type: HLS_MEDIA_TYPE.to_string(),
                href,
                height: None,
                size: None,
                fps: None,
            },
            to: None,
            cc: None,
        }
    }

    /// Parses and checks a `CacheFile`: URLs are http(s), the copy is an HLS playlist,
    /// `expires` is a date or null, and the mirror is on the host of its id.
    pub fn parse(doc: &Value) -> Result<CacheFile, ProtocolError> {
        let c = CacheFile::deserialize(doc)
            .map_err(|e| ProtocolError::Rule(format!("CacheFile: {e}")))?;
        http_url("id", &c.id)?;
        http_url("object", &c.object)?;
        http_url("url.href", &c.url.href)?;
        if c.url.media_type != HLS_MEDIA_TYPE {
            return Err(ProtocolError::invalid(
                "url.mediaType",
                &Value::from(c.url.media_type.as_str()),
                "application/x-mpegURL (only HLS playlists are mirrored)",
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

    /// PeerTube's `Create` of a playlist redundancy (`sendCreateCacheFile`: `buildCreateActivity`
    /// of `VideoRedundancyModel.toActivityPubObject()`), as its server actor sends it to the
    /// origin's account.
    fn peertube_create() -> Value {
        serde_json::from_str(include_str!("../testdata/peertube-cache-file-create.json")).unwrap()
    }

    fn playlist() -> Value {
        peertube_create()["object"].clone()
    }

    #[test]
    fn peertube_playlist_mirrors_round_trip() {
        let c = CacheFile::parse(&playlist()).unwrap();
        assert_eq!(c.url.media_type, HLS_MEDIA_TYPE);
        assert_eq!(serde_json::to_value(&c).unwrap(), playlist());
        // What we build is what PeerTube sends.
        let mut ours = CacheFile::playlist(
            c.id.clone(),
            c.object.clone(),
            c.url.href.clone(),
            c.expires.clone(),
        );
        ours.to = c.to.clone();
        ours.cc = c.cc.clone();
        assert_eq!(serde_json::to_value(&ours).unwrap(), playlist());
    }

    #[test]
    fn manual_and_legacy_forms_are_read() {
        // A manual mirror: `expires: null`, written back as null (PeerTube's validator wants
        // null or a date, not an absent field).
        let mut d = playlist();
        d["expires"] = Value::Null;
        let c = CacheFile::parse(&d).unwrap();
        assert_eq!(c.expires, None);
        assert_eq!(serde_json::to_value(&c).unwrap()["expires"], Value::Null);
        // PeerTube before 2.x wrote `mimeType`.
        let mut d = playlist();
        let t = d["url"]
            .as_object_mut()
            .unwrap()
            .remove("mediaType")
            .unwrap();
        d["url"]["mimeType"] = t;
        assert_eq!(CacheFile::parse(&d).unwrap().url.media_type, HLS_MEDIA_TYPE);
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
        // A web-video file mirror (PeerTube < 6): not HLS, refused by name.
        let mut d = playlist();
        d["url"] = json!({"type": "Link", "mediaType": "video/mp4", "height": 720, "size": 1000,
            "fps": 30, "href": "https://mirror.example/static/redundancy/x-720.mp4"});
        let e = CacheFile::parse(&d).unwrap_err().to_string();
        assert!(
            e.contains("url.mediaType") && e.contains("video/mp4"),
            "{e}"
        );
    }
}
