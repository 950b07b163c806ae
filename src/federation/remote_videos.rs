//! Other instances' videos, kept from the `Video` objects their Create/Update/Announce carry
//! (checked as PeerTube checks them, reference §1.6). They are `Video` rows with a `remote`
//! part: listed by `GET /api/v1/videos` with their origin host, played from their own URLs, and
//! their info-hashes join the tracker's allowlist so our tracker serves their swarms too.

use super::protocol::{is_public, ProtocolError};
use super::{id_of, FederationError};
use crate::app::host_of;
use crate::store::federation::RemoteVideoUrlKey;
use crate::store::tables::Sequence;
use crate::store::videos::{InfohashEntry, InfohashKey, VideoByUuidKey, VideoKey};
use crate::store::{Batch, Durability, Store};
use crate::time::parse_iso8601;
use crate::video::record::{RemoteFile, RemoteVideo};
use crate::video::{Privacy, Video, VideoState};
use serde_json::Value;

/// A `Video` object checked and reduced to what we keep.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// UUID (hyphenated, lower case).
    pub uuid: String,
    /// Title.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Seconds.
    pub duration: f64,
    /// Public or unlisted.
    pub privacy: Privacy,
    /// Unix seconds.
    pub published: u64,
    /// Unix seconds.
    pub updated: u64,
    /// Aspect ratio.
    pub aspect_ratio: Option<f64>,
    /// The rest.
    pub remote: RemoteVideo,
}

fn is_http_url(u: &str) -> bool {
    (u.starts_with("https://") || u.starts_with("http://")) && u.len() <= 2000 && u.len() > 10
}

fn links(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_array().into_iter().flatten()
}

fn int(v: &Value, k: &str) -> Option<u64> {
    v.get(k)
        .and_then(|x| x.as_u64().or_else(|| x.as_f64().map(|f| f as u64)))
}

fn file_of(link: &Value, all: &[&Value]) -> Option<RemoteFile> {
    let media = link.get("mediaType")?.as_str()?;
    if !["video/mp4", "video/webm", "video/ogg", "audio/mp4"].contains(&media) {
        return None;
    }
    let url = link.get("href")?.as_str()?;
    if !is_http_url(url) {
        return None;
    }
    let height = int(link, "height")? as u32;
    let same = |l: &&Value, mt: &str| {
        l.get("mediaType").and_then(|m| m.as_str()) == Some(mt)
            && int(l, "height") == Some(height as u64)
    };
    let torrent = all
        .iter()
        .find(|l| same(l, "application/x-bittorrent"))
        .and_then(|l| l.get("href")?.as_str())
        .map(str::to_string);
    let magnet = all
        .iter()
        .find(|l| same(l, "application/x-bittorrent;x-scheme-handler/magnet"))
        .and_then(|l| l.get("href")?.as_str())
        .map(str::to_string);
    let info_hash = magnet.as_deref().and_then(|m| {
        let h = m.split("xt=urn:btih:").nth(1)?.split('&').next()?;
        (h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit())).then(|| h.to_lowercase())
    });
    Some(RemoteFile {
        resolution: height,
        width: int(link, "width").map(|w| w as u32),
        fps: link.get("fps").and_then(|f| f.as_f64()),
        size: int(link, "size")?,
        url: url.to_string(),
        torrent_url: torrent,
        magnet,
        info_hash,
    })
}

/// Checks a `Video` object (PeerTube's `sanitizeAndCheckVideoTorrentObject` rules that matter
/// to us) and reduces it. `sender` is the actor that sent or announced it.
pub fn parse(object: &Value, sender: &str) -> Result<Parsed, ProtocolError> {
    let s = |k: &str| object.get(k).and_then(|v| v.as_str());
    if s("type") != Some("Video") {
        let kind = object.get("type").unwrap_or(&Value::Null);
        return Err(ProtocolError::invalid("type", kind, "Video"));
    }
    let field = |k: &str| object.get(k).cloned().unwrap_or(Value::Null);
    let id = s("id")
        .filter(|u| is_http_url(u))
        .ok_or_else(|| ProtocolError::invalid("id", &field("id"), "an http(s) URL"))?;
    let name = s("name").ok_or(ProtocolError::Missing {
        what: "Video",
        field: "name",
    })?;
    let name_len = name.chars().count();
    if !(3..=120).contains(&name_len) {
        return Err(ProtocolError::Rule(format!(
            "name has {name_len} characters (3 to 120 allowed)"
        )));
    }
    let uuid = s("uuid")
        .and_then(|u| uuid::Uuid::parse_str(u).ok())
        .ok_or_else(|| ProtocolError::invalid("uuid", &field("uuid"), "a UUID"))?
        .hyphenated()
        .to_string();
    let duration = s("duration")
        .and_then(|d| d.strip_prefix("PT")?.strip_suffix('S')?.parse::<f64>().ok())
        .filter(|d| d.is_finite() && *d >= 0.0)
        .ok_or_else(|| ProtocolError::invalid("duration", &field("duration"), "PT<seconds>S"))?;
    let published = s("published").and_then(parse_iso8601).ok_or_else(|| {
        ProtocolError::invalid("published", &field("published"), "an ISO 8601 date")
    })?;
    let updated = s("updated").and_then(parse_iso8601).unwrap_or(published);
    let attributed: Vec<(String, Option<String>)> =
        links(object.get("attributedTo").unwrap_or(&Value::Null))
            .filter_map(|a| match a {
                Value::String(u) => Some((u.clone(), None)),
                o => Some((
                    o.get("id")?.as_str()?.to_string(),
                    o.get("type").and_then(|t| t.as_str()).map(str::to_string),
                )),
            })
            .collect();
    if attributed.is_empty() {
        return Err(ProtocolError::Rule("attributedTo is empty".into()));
    }
    let host = host_of(id);
    let channel = attributed
        .iter()
        .find(|(_, t)| t.as_deref() == Some("Group"))
        .map(|(u, _)| u.clone());
    if let Some(c) = &channel {
        if host_of(c) != host {
            return Err(ProtocolError::Rule(format!(
                "channel {c} is not on the video's host {host}"
            )));
        }
    }
    let account = attributed
        .iter()
        .find(|(_, t)| t.as_deref() == Some("Person"))
        .or_else(|| attributed.first())
        .map(|(u, _)| u.clone())
        .unwrap_or_default();
    let url_links: Vec<&Value> = links(object.get("url").ok_or(ProtocolError::Missing {
        what: "Video",
        field: "url",
    })?)
    .collect();
    if !object.get("url").is_some_and(|u| u.is_array()) {
        return Err(ProtocolError::invalid(
            "url",
            &field("url"),
            "an array of Links",
        ));
    }
    let mut remote = RemoteVideo {
        url: id.to_string(),
        host,
        account,
        channel,
        watch_url: None,
        playlist_url: None,
        segments_sha256_url: None,
        files: Vec::new(),
        infohashes: Vec::new(),
        thumbnail_url: None,
        tracker_urls: Vec::new(),
        views: int(object, "views").unwrap_or(0),
        received_from: sender.to_string(),
    };
    for l in &url_links {
        let media = l
            .get("mediaType")
            .and_then(|m| m.as_str())
            .unwrap_or_default();
        let href = l.get("href").and_then(|h| h.as_str()).unwrap_or_default();
        match media {
            "text/html" if remote.watch_url.is_none() && is_http_url(href) => {
                remote.watch_url = Some(href.to_string())
            }
            "application/x-mpegURL" if is_http_url(href) => {
                let Some(tags) = l.get("tag").and_then(|t| t.as_array()) else {
                    continue;
                };
                remote.playlist_url = Some(href.to_string());
                let tag_refs: Vec<&Value> = tags.iter().collect();
                for t in tags {
                    match t.get("type").and_then(|x| x.as_str()) {
                        Some("Infohash") => {
                            if let Some(h) = t.get("name").and_then(|n| n.as_str()) {
                                if h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit()) {
                                    remote.infohashes.push(h.to_lowercase());
                                }
                            }
                        }
                        Some("Link")
                            if t.get("name").and_then(|n| n.as_str()) == Some("sha256") =>
                        {
                            remote.segments_sha256_url = t
                                .get("href")
                                .and_then(|h| h.as_str())
                                .filter(|u| is_http_url(u))
                                .map(str::to_string);
                        }
                        Some("Link") => {
                            if let Some(f) = file_of(t, &tag_refs) {
                                remote.files.push(f);
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {
                if l.get("rel").and_then(|r| r.get(0)).and_then(|r| r.as_str()) == Some("tracker")
                    && (href.starts_with("ws") || href.starts_with("http"))
                {
                    remote.tracker_urls.push(href.to_string());
                }
            }
        }
    }
    if remote.playlist_url.is_none() {
        // Web-video files only (no HLS): keep them, they play as plain MP4.
        for l in &url_links {
            if let Some(f) = file_of(l, &url_links) {
                remote.files.push(f);
            }
        }
    }
    if remote.files.is_empty() && remote.playlist_url.is_none() {
        return Err(ProtocolError::Rule(
            "no playable file or HLS playlist in url".into(),
        ));
    }
    remote
        .files
        .sort_by_key(|f| std::cmp::Reverse(f.resolution));
    remote.thumbnail_url = links(object.get("icon").unwrap_or(&Value::Null))
        .filter(|i| {
            i.get("url")
                .and_then(|u| u.as_str())
                .is_some_and(is_http_url)
        })
        .max_by_key(|i| int(i, "width").unwrap_or(0))
        .and_then(|i| i.get("url")?.as_str())
        .map(str::to_string);
    let public = |k: &str| is_public(object.get(k).unwrap_or(&Value::Null));
    let privacy = if public("to") {
        Privacy::Public
    } else if public("cc") {
        Privacy::Unlisted
    } else {
        return Err(ProtocolError::Rule(
            "neither public nor unlisted (to/cc lack the Public collection)".into(),
        ));
    };
    Ok(Parsed {
        uuid,
        name: name.to_string(),
        description: s("content").map(|c| c.chars().take(10_000).collect()),
        duration,
        privacy,
        published,
        updated,
        aspect_ratio: object.get("aspectRatio").and_then(|a| a.as_f64()),
        remote,
    })
}

fn infohash_keys(r: &RemoteVideo) -> Vec<(InfohashKey, InfohashEntry)> {
    let mut out = Vec::new();
    let mut push = |hex_hash: &str, resolution: u32, scheme: &str| {
        let mut h = [0u8; 20];
        if hex::decode_to_slice(hex_hash, &mut h).is_ok() {
            out.push((
                InfohashKey(h),
                InfohashEntry {
                    video_uuid: String::new(),
                    resolution,
                    scheme: scheme.to_string(),
                },
            ));
        }
    };
    for h in &r.infohashes {
        push(h, 0, "remote-p2p");
    }
    for f in &r.files {
        if let Some(h) = &f.info_hash {
            push(h, f.resolution, "remote-torrent");
        }
    }
    out
}

/// Stores (or updates) a remote video. Returns its local id.
pub fn upsert(store: &Store, parsed: Parsed) -> Result<u64, FederationError> {
    let url = parsed.remote.url.clone();
    let existing_id = store.get(&RemoteVideoUrlKey(url.clone()))?;
    let existing = match existing_id {
        Some(id) => store.get(&VideoKey(id))?,
        None => None,
    };
    if existing.is_none() {
        if let Some(other) = store.get(&VideoByUuidKey(parsed.uuid.clone()))? {
            let taken_by = store.get(&VideoKey(other))?;
            if taken_by.is_some_and(|v| v.remote.as_ref().map(|r| &r.url) != Some(&url)) {
                return Err(FederationError::Refused(format!(
                    "uuid {} of {url} is already used by another video",
                    parsed.uuid
                )));
            }
        }
    }
    let id = match &existing {
        Some(v) => v.id,
        None => store.next_id(Sequence::Video)?,
    };
    let mut batch = Batch::default();
    if let Some(old) = existing.as_ref().and_then(|v| v.remote.as_ref()) {
        for (k, _) in infohash_keys(old) {
            batch.delete(store, &k);
        }
    }
    for (k, mut entry) in infohash_keys(&parsed.remote) {
        entry.video_uuid = parsed.uuid.clone();
        batch.put(store, &k, &entry)?;
    }
    let video = Video {
        id,
        uuid: parsed.uuid.clone(),
        name: parsed.name,
        description: parsed.description,
        channel_id: 0,
        owner: 0,
        privacy: parsed.privacy,
        state: VideoState::Published,
        duration: parsed.duration,
        aspect_ratio: parsed.aspect_ratio,
        source: None,
        original_filename: String::new(),
        created_at: existing
            .as_ref()
            .map(|v| v.created_at)
            .unwrap_or(parsed.published),
        updated_at: parsed.updated,
        published_at: Some(parsed.published),
        hls: None,
        thumbnail: None,
        preview: None,
        error: None,
        remote: Some(parsed.remote),
        federated_at: None,
        unfederated_at: None,
        comments_policy: Default::default(),
        meta: Default::default(),
        web_videos: Vec::new(),
    };
    batch.put_video(&video);
    batch.put(store, &VideoByUuidKey(video.uuid.clone()), &id)?;
    batch.put(store, &RemoteVideoUrlKey(url.clone()), &id)?;
    store.write(batch, Durability::Sync)?;
    tracing::info!(video = %url, id, updated = existing.is_some(), "federation: remote video stored");
    Ok(id)
}

/// Removes a remote video (by its ActivityPub id). Returns whether it was known.
pub fn remove(store: &Store, url: &str) -> Result<bool, FederationError> {
    let Some(id) = store.get(&RemoteVideoUrlKey(url.to_string()))? else {
        return Ok(false);
    };
    let mut batch = Batch::default();
    if let Some(v) = store.get(&VideoKey(id))? {
        if let Some(r) = &v.remote {
            for (k, _) in infohash_keys(r) {
                batch.delete(store, &k);
            }
        }
        batch.delete(store, &VideoByUuidKey(v.uuid.clone()));
    }
    batch.delete_video(id);
    batch.delete(store, &RemoteVideoUrlKey(url.to_string()));
    store.write(batch, Durability::Sync)?;
    tracing::info!(video = url, "federation: remote video removed");
    Ok(true)
}

/// Removes every remote video of `host` (after unfollowing it). Returns how many.
pub fn remove_host(store: &Store, host: &str) -> Result<usize, FederationError> {
    let urls: Vec<String> = store
        .scan::<VideoKey>(&())?
        .into_iter()
        .filter_map(|(_, v)| v.remote.filter(|r| r.host == host).map(|r| r.url))
        .collect();
    for u in &urls {
        remove(store, u)?;
    }
    Ok(urls.len())
}

/// The id of an object (URL) in an activity's `object`.
pub fn object_id(activity: &Value) -> Option<&str> {
    activity.get("object").and_then(id_of)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::federation::PUBLIC;

    #[test]
    fn durations_are_a_number_of_seconds() {
        let video = |duration: &str| {
            serde_json::json!({
                "type": "Video",
                "id": "https://tube.example/videos/watch/1",
                "name": "A video",
                "uuid": "3f5a0b2e-7c1d-4e8f-9a6b-2d4c8e1f0a7b",
                "duration": duration,
                "published": "2025-01-07T10:00:00Z",
                "attributedTo": ["https://tube.example/accounts/a"],
                "to": [PUBLIC],
                "url": [{"type": "Link", "mediaType": "video/mp4", "height": 240, "size": 1000,
                         "href": "https://tube.example/static/web-videos/1-240.mp4"}],
            })
        };
        assert_eq!(parse(&video("PT125S"), "x").unwrap().duration, 125.0);
        // `PTinfS` was taken as an infinite duration (found by fuzzing).
        for bad in ["PTinfS", "PTNaNS", "PT-5S", "PT1e309S", "125"] {
            assert!(parse(&video(bad), "x").is_err(), "{bad}");
        }
    }
}
