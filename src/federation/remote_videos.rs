//! Other instances' videos, kept from the `Video` objects their Create/Update/Announce carry
//! (checked as PeerTube checks them, reference §1.6). They are `Video` rows with a `remote`
//! part: listed by `GET /api/v1/videos` with their origin host, played from their own URLs, and
//! their info-hashes join the tracker's allowlist so our tracker serves their swarms too.

use super::protocol::received::{Identifier, ReceivedLink, ReceivedStoryboard, ReceivedVideo};
use super::protocol::{is_public_id, ProtocolError};
use super::{id_of, FederationError};
use crate::app::host_of;
use crate::store::federation::RemoteVideoUrlKey;
use crate::store::tables::Sequence;
use crate::store::videos::{InfohashEntry, InfohashKey, VideoByUuidKey, VideoKey};
use crate::store::{Batch, Durability, Store};
use crate::time::parse_iso8601;
use crate::video::meta::VideoMeta;
use crate::video::record::{RemoteFile, RemoteVideo, Storyboard};
use crate::video::{CommentsPolicy, Privacy, Video, VideoState};
use serde::Deserialize;
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
    /// Category, licence, language, tags, sensitive flag, original publication date.
    pub meta: VideoMeta,
    /// Who may comment (`commentsPolicy`, or the older `commentsEnabled`; enabled when absent).
    pub comments_policy: CommentsPolicy,
    /// The rest.
    pub remote: RemoteVideo,
}

fn is_http_url(u: &str) -> bool {
    (u.starts_with("https://") || u.starts_with("http://")) && u.len() <= 2000 && u.len() > 10
}

fn file_of(link: &ReceivedLink, all: &[ReceivedLink]) -> Option<RemoteFile> {
    let media = link.media_type.as_deref()?;
    if !["video/mp4", "video/webm", "video/ogg", "audio/mp4"].contains(&media) {
        return None;
    }
    let url = link.href.as_deref().filter(|u| is_http_url(u))?;
    let height = link.height? as u32;
    let sibling = |mt: &str| {
        all.iter()
            .find(|l| l.media_type.as_deref() == Some(mt) && l.height == Some(height as u64))
            .and_then(|l| l.href.clone())
    };
    let torrent = sibling("application/x-bittorrent");
    let magnet = sibling("application/x-bittorrent;x-scheme-handler/magnet");
    let info_hash = magnet.as_deref().and_then(|m| {
        let h = m.split("xt=urn:btih:").nth(1)?.split('&').next()?;
        (h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit())).then(|| h.to_lowercase())
    });
    Some(RemoteFile {
        resolution: height,
        width: link.width.map(|w| w as u32),
        fps: link.fps,
        size: link.size?,
        url: url.to_string(),
        torrent_url: torrent,
        magnet,
        info_hash,
    })
}

/// The storyboard of a `preview` list: the first `storyboard` entry's first JPEG sheet with an
/// http(s) URL, its sizes and a whole number of seconds per sprite; anything else is left out.
fn storyboard_of(preview: &[ReceivedStoryboard]) -> Option<Storyboard> {
    let sheet = preview
        .iter()
        .find(|p| {
            p.rel
                .as_deref()
                .is_some_and(|r| r.iter().any(|r| r == "storyboard"))
        })?
        .url
        .as_deref()?
        .iter()
        .find(|s| s.media_type.as_deref() == Some("image/jpeg"))?;
    let size = |v: Option<u64>| v.filter(|n| (1..=65_535).contains(n)).map(|n| n as u32);
    Some(Storyboard {
        file: sheet.href.clone().filter(|u| is_http_url(u))?,
        sprite_width: size(sheet.tile_width)?,
        sprite_height: size(sheet.tile_height)?,
        sprite_duration: sheet
            .tile_duration
            .as_deref()?
            .strip_prefix("PT")?
            .strip_suffix('S')?
            .parse::<u32>()
            .ok()
            .filter(|d| *d > 0)?,
        total_width: size(sheet.width)?,
        total_height: size(sheet.height)?,
    })
}

/// Checks a `Video` object (PeerTube's `sanitizeAndCheckVideoTorrentObject` rules that matter
/// to us) and reduces it. `sender` is the actor that sent or announced it.
pub fn parse(object: &Value, sender: &str) -> Result<Parsed, ProtocolError> {
    if !object.is_object() {
        return Err(ProtocolError::invalid("type", object, "a Video object"));
    }
    let v = ReceivedVideo::deserialize(object)
        .map_err(|e| ProtocolError::Rule(format!("not a Video object: {e}")))?;
    let meta = meta_of(&v);
    let field = |k: &str| object.get(k).cloned().unwrap_or(Value::Null);
    if v.kind.as_deref() != Some("Video") {
        return Err(ProtocolError::invalid("type", &field("type"), "Video"));
    }
    let id =
        v.id.as_deref()
            .filter(|u| is_http_url(u))
            .ok_or_else(|| ProtocolError::invalid("id", &field("id"), "an http(s) URL"))?;
    let name = v.name.as_deref().ok_or(ProtocolError::Missing {
        what: "Video",
        field: "name",
    })?;
    let name_len = name.chars().count();
    if !(3..=120).contains(&name_len) {
        return Err(ProtocolError::Rule(format!(
            "name has {name_len} characters (3 to 120 allowed)"
        )));
    }
    let uuid = v
        .uuid
        .as_deref()
        .and_then(|u| uuid::Uuid::parse_str(u).ok())
        .ok_or_else(|| ProtocolError::invalid("uuid", &field("uuid"), "a UUID"))?
        .hyphenated()
        .to_string();
    let duration = v
        .duration
        .as_deref()
        .and_then(|d| d.strip_prefix("PT")?.strip_suffix('S')?.parse::<f64>().ok())
        .filter(|d| d.is_finite() && *d >= 0.0)
        .ok_or_else(|| ProtocolError::invalid("duration", &field("duration"), "PT<seconds>S"))?;
    let published = v
        .published
        .as_deref()
        .and_then(parse_iso8601)
        .ok_or_else(|| {
            ProtocolError::invalid("published", &field("published"), "an ISO 8601 date")
        })?;
    let updated = v
        .updated
        .as_deref()
        .and_then(parse_iso8601)
        .unwrap_or(published);
    let attributed = v.attributed_to.unwrap_or_default();
    if attributed.is_empty() {
        return Err(ProtocolError::Rule("attributedTo is empty".into()));
    }
    let host = host_of(id);
    let channel = attributed
        .iter()
        .find(|a| a.kind() == Some("Group"))
        .map(|a| a.id().to_string());
    if let Some(c) = &channel {
        if host_of(c) != host {
            return Err(ProtocolError::Rule(format!(
                "channel {c} is not on the video's host {host}"
            )));
        }
    }
    let account = attributed
        .iter()
        .find(|a| a.kind() == Some("Person"))
        .or_else(|| attributed.first())
        .map(|a| a.id().to_string())
        .unwrap_or_default();
    let url_links = match v.url {
        Some(links) => links,
        None if object.get("url").is_none() => {
            return Err(ProtocolError::Missing {
                what: "Video",
                field: "url",
            })
        }
        None => {
            return Err(ProtocolError::invalid(
                "url",
                &field("url"),
                "an array of Links",
            ))
        }
    };
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
        views: v.views.unwrap_or(0),
        received_from: sender.to_string(),
        storyboard: v.preview.as_deref().and_then(storyboard_of),
    };
    for l in &url_links {
        let href = l.href.as_deref().unwrap_or_default();
        match l.media_type.as_deref().unwrap_or_default() {
            "text/html" if remote.watch_url.is_none() && is_http_url(href) => {
                remote.watch_url = Some(href.to_string())
            }
            "application/x-mpegURL" if is_http_url(href) => {
                let Some(tags) = &l.tag else {
                    continue;
                };
                remote.playlist_url = Some(href.to_string());
                for t in tags {
                    match t.kind.as_deref() {
                        Some("Infohash") => {
                            if let Some(h) = &t.name {
                                if h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit()) {
                                    remote.infohashes.push(h.to_lowercase());
                                }
                            }
                        }
                        Some("Link") if t.name.as_deref() == Some("sha256") => {
                            remote.segments_sha256_url = t.href.clone().filter(|u| is_http_url(u));
                        }
                        Some("Link") => {
                            if let Some(f) = file_of(t, tags) {
                                remote.files.push(f);
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {
                if l.first_rel() == Some("tracker")
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
    remote.thumbnail_url = v
        .icon
        .unwrap_or_default()
        .into_iter()
        .filter(|i| i.url.as_deref().is_some_and(is_http_url))
        .max_by_key(|i| i.width.unwrap_or(0))
        .and_then(|i| i.url);
    let public = |a: &[String]| a.iter().any(|u| is_public_id(u));
    let privacy = if public(&v.to) {
        Privacy::Public
    } else if public(&v.cc) {
        Privacy::Unlisted
    } else {
        return Err(ProtocolError::Rule(
            "neither public nor unlisted (to/cc lack the Public collection)".into(),
        ));
    };
    Ok(Parsed {
        uuid,
        name: name.to_string(),
        description: v.content.map(|c| c.chars().take(10_000).collect()),
        duration,
        privacy,
        published,
        updated,
        aspect_ratio: v.aspect_ratio,
        meta,
        comments_policy: v
            .comments_policy
            .and_then(CommentsPolicy::from_id)
            .or(match v.comments_enabled {
                Some(false) => Some(CommentsPolicy::Disabled),
                _ => None,
            })
            .unwrap_or_default(),
        remote,
    })
}

/// The descriptive metadata of a received video, as PeerTube keeps it from a remote object:
/// category and licence ids and the language code from their `identifier`s (left out when not
/// usable), up to 5 distinct valid tags (2 to 30 characters), `sensitive` as the NSFW flag.
fn meta_of(v: &ReceivedVideo) -> VideoMeta {
    let id = |i: &Option<Identifier>| {
        i.as_ref()?
            .identifier
            .as_deref()?
            .trim()
            .parse::<u32>()
            .ok()
    };
    let language = v
        .language
        .as_ref()
        .and_then(|l| l.identifier.clone())
        .filter(|l| {
            !l.is_empty()
                && l.len() <= 20
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    let mut tags: Vec<String> = Vec::new();
    for t in v.tag.iter().flatten() {
        if t.kind.as_deref() != Some("Hashtag") {
            continue;
        }
        let Some(name) = t.name.as_deref().map(|n| n.trim_start_matches('#').trim()) else {
            continue;
        };
        let n = name.chars().count();
        if (2..=30).contains(&n)
            && !name.chars().any(char::is_control)
            && !tags.iter().any(|t| t == name)
        {
            tags.push(name.to_string());
        }
        if tags.len() == 5 {
            break;
        }
    }
    VideoMeta {
        category: id(&v.category),
        licence: id(&v.licence),
        language,
        tags,
        nsfw: v.sensitive.unwrap_or(false),
        originally_published_at: v.originally_published_at.as_deref().and_then(parse_iso8601),
    }
}

pub(crate) fn infohash_keys(r: &RemoteVideo) -> Vec<(InfohashKey, InfohashEntry)> {
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
    // A moderator's block outlives the origin's updates, and keeps its hashes off the tracker.
    let blacklist = existing.as_ref().and_then(|v| v.blacklist.clone());
    if blacklist.is_none() {
        for (k, mut entry) in infohash_keys(&parsed.remote) {
            entry.video_uuid = parsed.uuid.clone();
            batch.put(store, &k, &entry)?;
        }
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
        storyboard: None,
        error: None,
        remote: Some(parsed.remote),
        federated_at: None,
        unfederated_at: None,
        comments_policy: parsed.comments_policy,
        meta: parsed.meta,
        web_videos: Vec::new(),
        source_file: None,
        blacklist,
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

    #[test]
    fn a_storyboard_is_kept_from_preview() {
        let mut v: Value = serde_json::from_str(include_str!(
            "../../fuzz/corpus/remote_video/peertube-video.json"
        ))
        .unwrap();
        let sheet = serde_json::json!({"href": "https://peertube.example/lazy-static/storyboards/s.jpg",
            "mediaType": "image/jpeg", "width": 1920, "height": 1080, "tileWidth": 192,
            "tileHeight": 108, "tileDuration": "PT2S"});
        v["preview"] =
            serde_json::json!([{"type": "Image", "rel": ["storyboard"], "url": [sheet]}]);
        let sb = parse(&v, "x").unwrap().remote.storyboard.expect("kept");
        assert_eq!(
            sb,
            Storyboard {
                file: "https://peertube.example/lazy-static/storyboards/s.jpg".into(),
                sprite_width: 192,
                sprite_height: 108,
                sprite_duration: 2,
                total_width: 1920,
                total_height: 1080,
            }
        );
        // Unusable entries are left out, not fatal.
        for (key, bad) in [
            ("href", serde_json::json!("file:///etc/passwd")),
            ("tileDuration", serde_json::json!("PT0S")),
            ("tileDuration", serde_json::json!("2")),
            ("width", serde_json::json!(0)),
            ("mediaType", serde_json::json!("image/png")),
        ] {
            let mut s = sheet.clone();
            s[key] = bad.clone();
            v["preview"] =
                serde_json::json!([{"type": "Image", "rel": ["storyboard"], "url": [s]}]);
            let parsed = parse(&v, "x").expect("the video is still accepted");
            assert_eq!(parsed.remote.storyboard, None, "{key}: {bad}");
        }
        v["preview"] = serde_json::json!("not a list");
        assert_eq!(parse(&v, "x").unwrap().remote.storyboard, None);
    }

    /// A named change to a test object.
    type Edit = (&'static str, Box<dyn Fn(&mut Value)>);

    /// Variants of the corpus's objects that exercise each rule and each leniency: what
    /// `parse` made of each is kept in `testdata/remote_video_parse.txt` (regenerate with
    /// `FLEUVE_BLESS=1` only when a change of behaviour is meant).
    fn variants() -> Vec<(String, Value)> {
        let base: Value = serde_json::from_str(include_str!(
            "../../fuzz/corpus/remote_video/peertube-video.json"
        ))
        .unwrap();
        let web: Value = serde_json::from_str(include_str!(
            "../../fuzz/corpus/remote_video/web-videos-unlisted.json"
        ))
        .unwrap();
        let mut out = vec![("peertube-video".to_string(), base.clone())];
        out.push(("web-videos-unlisted".to_string(), web.clone()));
        let edits: Vec<Edit> = vec![
            ("type-note", Box::new(|v| v["type"] = "Note".into())),
            (
                "no-type",
                Box::new(|v| {
                    v.as_object_mut().unwrap().remove("type");
                }),
            ),
            ("id-not-url", Box::new(|v| v["id"] = "ftp://x/y".into())),
            ("id-number", Box::new(|v| v["id"] = 5.into())),
            (
                "no-name",
                Box::new(|v| {
                    v.as_object_mut().unwrap().remove("name");
                }),
            ),
            ("name-short", Box::new(|v| v["name"] = "ab".into())),
            ("name-number", Box::new(|v| v["name"] = 12345.into())),
            ("uuid-bad", Box::new(|v| v["uuid"] = "nope".into())),
            (
                "uuid-upper-simple",
                Box::new(|v| v["uuid"] = "0D3B7F434C1D4A4E9B3C2F0C0F2A9E11".into()),
            ),
            (
                "no-published",
                Box::new(|v| {
                    v.as_object_mut().unwrap().remove("published");
                }),
            ),
            (
                "published-bad",
                Box::new(|v| v["published"] = "yesterday".into()),
            ),
            ("updated-bad", Box::new(|v| v["updated"] = "soon".into())),
            (
                "attributed-strings",
                Box::new(|v| {
                    v["attributedTo"] =
                        serde_json::json!(["https://peertube.example/accounts/root", 7, {"id": 3}])
                }),
            ),
            (
                "attributed-empty",
                Box::new(|v| v["attributedTo"] = serde_json::json!([])),
            ),
            (
                "attributed-string",
                Box::new(|v| v["attributedTo"] = "https://peertube.example/accounts/root".into()),
            ),
            (
                "channel-elsewhere",
                Box::new(
                    |v| v["attributedTo"] = serde_json::json!([{"type": "Group", "id": "https://evil.example/video-channels/c"}, {"type": "Person", "id": "https://peertube.example/accounts/root"}]),
                ),
            ),
            (
                "no-url",
                Box::new(|v| {
                    v.as_object_mut().unwrap().remove("url");
                }),
            ),
            (
                "url-object",
                Box::new(|v| {
                    v["url"] = serde_json::json!({"type": "Link", "href": "https://peertube.example/x.mp4"})
                }),
            ),
            (
                "url-junk-items",
                Box::new(|v| {
                    v["url"].as_array_mut().unwrap().extend([Value::from(3), Value::from("https://x.example/a"), serde_json::json!({"mediaType": 5}), serde_json::json!({"type": "Link", "rel": ["tracker"], "href": "wss://peertube.example/tracker/socket"}), serde_json::json!({"type": "Link", "rel": "tracker", "href": "https://t.example/announce"})]);
                }),
            ),
            ("url-empty", Box::new(|v| v["url"] = serde_json::json!([]))),
            ("views-float", Box::new(|v| v["views"] = 12.9.into())),
            ("views-string", Box::new(|v| v["views"] = "12".into())),
            (
                "aspect-string",
                Box::new(|v| v["aspectRatio"] = "1.5".into()),
            ),
            ("content-number", Box::new(|v| v["content"] = 4.into())),
            (
                "content-long",
                Box::new(|v| v["content"] = "é".repeat(12_000).into()),
            ),
            (
                "icon-junk",
                Box::new(
                    |v| v["icon"] = serde_json::json!([{"url": "javascript:x", "width": 900}, {"url": "https://peertube.example/i.jpg"}, 5, {"url": "https://peertube.example/big.jpg", "width": 2000.5}]),
                ),
            ),
            (
                "icon-object",
                Box::new(|v| {
                    v["icon"] =
                        serde_json::json!({"url": "https://peertube.example/i.jpg", "width": 10})
                }),
            ),
            (
                "to-string",
                Box::new(|v| {
                    v["to"] = PUBLIC.into();
                    v["cc"] = serde_json::json!([]);
                }),
            ),
            (
                "to-as-public",
                Box::new(|v| v["to"] = serde_json::json!(["as:Public"])),
            ),
            (
                "private",
                Box::new(|v| {
                    v["to"] = serde_json::json!([]);
                    v["cc"] =
                        serde_json::json!(["https://peertube.example/accounts/root/followers"]);
                }),
            ),
            (
                "unlisted",
                Box::new(|v| {
                    v["to"] = serde_json::json!([]);
                    v["cc"] = serde_json::json!([PUBLIC]);
                }),
            ),
        ];
        for (name, edit) in edits {
            let mut v = base.clone();
            edit(&mut v);
            out.push((name.to_string(), v));
        }
        // The HLS playlist Link's tags, one leniency at a time.
        let hls = |v: &mut Value| -> Option<usize> {
            v["url"]
                .as_array()?
                .iter()
                .position(|l| l["mediaType"] == "application/x-mpegURL")
        };
        let tag_edits: Vec<Edit> = vec![
            (
                "tags-missing",
                Box::new(|l| {
                    l.as_object_mut().unwrap().remove("tag");
                }),
            ),
            (
                "tags-junk",
                Box::new(|l| {
                    l["tag"].as_array_mut().unwrap().extend([Value::from(1), serde_json::json!({"type": "Infohash", "name": "zz"}), serde_json::json!({"type": "Infohash", "name": "ABCDEFABCDEFABCDEFABCDEFABCDEFABCDEFABCD"}), serde_json::json!({"type": "Link", "name": "sha256", "href": "nope"}), serde_json::json!({"type": "Link", "mediaType": "video/mp4", "height": 144.0, "size": 5, "fps": 24.5, "width": "w", "href": "https://peertube.example/f-144.mp4"}), serde_json::json!({"type": "Link", "mediaType": "application/x-bittorrent;x-scheme-handler/magnet", "height": 144, "href": "magnet:?xt=urn:btih:ABCDEFABCDEFABCDEFABCDEFABCDEFABCDEFABCD&dn=x"})]);
                }),
            ),
            (
                "playlist-href-bad",
                Box::new(|l| l["href"] = "file:///etc/passwd".into()),
            ),
        ];
        for (name, edit) in tag_edits {
            let mut v = base.clone();
            if let Some(i) = hls(&mut v) {
                edit(&mut v["url"][i]);
            }
            out.push((name.to_string(), v));
        }
        out
    }

    #[test]
    fn parse_keeps_what_it_kept() {
        let mut text = String::new();
        for (name, v) in variants() {
            let got = parse(&v, "https://peertube.example/accounts/root");
            text.push_str(&format!("== {name}\n{got:#?}\n"));
        }
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/federation/testdata/remote_video_parse.txt"
        );
        if std::env::var_os("FLEUVE_BLESS").is_some() {
            std::fs::write(path, &text).unwrap();
        }
        let want = std::fs::read_to_string(path).unwrap();
        for (g, w) in text.split("\n== ").zip(want.split("\n== ")) {
            assert_eq!(g, w);
        }
        assert_eq!(text, want);
    }
}
