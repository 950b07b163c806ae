//! The video API in PeerTube's shape: the video JSON every list uses ([`video_json`]),
//! `GET /api/v1/videos/{id|uuid|shortUUID}` (with streaming playlists, files, torrents, magnets,
//! tracker URLs, and beyond PeerTube each file's `encoder` and `fallbackReason`, plus live
//! transcoding progress; a private video's files at their private URLs),
//! `PUT /api/v1/videos/{id}` and `DELETE /api/v1/videos/{id}`.

use super::auth::AuthUser;
use super::error::ApiError;
use super::users::{account_json, channel_json};
use crate::app::{App, SharedApp};
use crate::media::torrent::{magnet, TorrentSpec};
use crate::store::federation::remote_number;
use crate::store::tables::{ChannelKey, Right, User, UserKey};
use crate::store::video_index::views;
use crate::store::StoreError;
use crate::time::iso8601;
use crate::transcode::images::{fitted, PREVIEW_BOX, THUMBNAIL_BOX};
use crate::video::ident::short_uuid;
use crate::video::meta::{category_label, language_label, licence_label, VideoStats};
use crate::video::record::RemoteVideo;
use crate::video::urls::{embed_path, preview_path, thumbnail_path, tracker_urls, PublicUrls};
use crate::video::{CommentsPolicy, Privacy, Video, VideoFile, VideoRef, VideoState, WebVideoFile};
use axum::extract::{FromRequestParts, Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::request::Parts;
use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

/// The caller, when it sent a valid token (lists and reads work without one).
pub struct MaybeUser(pub Option<User>);

impl FromRequestParts<SharedApp> for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &SharedApp) -> Result<Self, ApiError> {
        if !parts.headers.contains_key(http::header::AUTHORIZATION) {
            return Ok(MaybeUser(None));
        }
        AuthUser::from_request_parts(parts, app)
            .await
            .map(|a| MaybeUser(Some(a.user)))
    }
}

/// Finds a video by numeric id, uuid (with or without hyphens) or short uuid.
pub fn find(app: &App, key: &str) -> Result<Option<Video>, ApiError> {
    match VideoRef::parse(key) {
        Some(r) => Ok(app.store.video(&r)?),
        None => Ok(None),
    }
}

/// The local video `key`, when `user` may change it (its owner, or an administrator): the one
/// place that decides who edits a video, its captions and its chapters. 404 when there is no
/// such video, 403 for another instance's video or another user's.
pub(crate) fn changeable(app: &App, user: &User, key: &str) -> Result<Video, ApiError> {
    let Some(video) = find(app, key)? else {
        return Err(ApiError::not_found(format!("video {key} not found")));
    };
    if video.remote.is_some() {
        return Err(ApiError::forbidden(format!(
            "video {key} is another instance's; change it there"
        )));
    }
    if video.owner != user.id && !user.role.has(Right::UpdateAnyVideo) {
        return Err(ApiError::forbidden(format!(
            "video {key} belongs to another user"
        )));
    }
    Ok(video)
}

fn file_json(app: &App, video: &Video, f: &VideoFile) -> Value {
    let base = &app.public_url;
    let urls = app.file_urls(video);
    let file_url = urls.hls(&f.rendition.media_file);
    let torrent_url = urls.torrent(f);
    let spec = TorrentSpec {
        name: format!("{} {}p.mp4", video.name, f.rendition.resolution),
        trackers: tracker_urls(base),
        webseed: urls.webseed(f).unwrap_or_default(),
    };
    json!({
        "id": f.id,
        "resolution": {"id": f.rendition.resolution, "label": format!("{}p", f.rendition.resolution)},
        "width": f.rendition.width,
        "height": f.rendition.height,
        "size": f.rendition.size,
        "fps": f.rendition.fps,
        "fileUrl": file_url,
        "fileDownloadUrl": file_url,
        "torrentUrl": torrent_url,
        "torrentDownloadUrl": urls.torrent_download(f),
        "magnetUri": magnet(&f.rendition.info_hash, &spec.name, &torrent_url, &spec),
        "infoHash": f.rendition.info_hash,
        "playlistUrl": urls.hls(&f.rendition.playlist_file),
        "metadataUrl": super::video_metadata::url(base, video, f),
        "hasAudio": f.rendition.has_audio,
        "hasVideo": true,
        "storage": video.hls.as_ref().map_or(1, |h| h.storage.id()),
        "encoder": f.rendition.encoder,
        "fallbackReason": f.rendition.fallback_reason,
    })
}

/// A web-video file (the upload window's original) in PeerTube's `VideoFile` shape; its torrent
/// URLs and magnet are null until the torrent is made, moments after the upload.
fn web_video_json(app: &App, video: &Video, f: &WebVideoFile) -> Value {
    let base = &app.public_url;
    let urls = app.file_urls(video);
    let file_url = urls.web_video(f);
    let torrent_url = urls.web_video_torrent(f, false);
    let ext = f.file.rsplit_once('.').map(|(_, e)| e).unwrap_or("mp4");
    let spec = TorrentSpec {
        name: format!("{} {}p.{ext}", video.name, f.resolution),
        trackers: tracker_urls(base),
        webseed: if f.private {
            String::new()
        } else {
            file_url.clone()
        },
    };
    let magnet_uri = match (&f.info_hash, &torrent_url) {
        (Some(h), Some(t)) => Some(magnet(h, &spec.name, t, &spec)),
        _ => None,
    };
    json!({
        "id": f.id,
        "resolution": {"id": f.resolution, "label": format!("{}p", f.resolution)},
        "width": f.width,
        "height": f.height,
        "size": f.size,
        "fps": f.fps,
        "fileUrl": file_url,
        "fileDownloadUrl": urls.web_video_download(f),
        "torrentUrl": torrent_url,
        "torrentDownloadUrl": urls.web_video_torrent(f, true),
        "magnetUri": magnet_uri,
        "infoHash": f.info_hash,
        "metadataUrl": PublicUrls::new(base).file_metadata(&video.uuid, f.id),
        "hasAudio": f.has_audio,
        "hasVideo": true,
        "storage": video.hls.as_ref().map_or(1, |h| h.storage.id()),
    })
}

/// A video in PeerTube's shape; `details` adds what `GET /videos/{id}` has beyond the list.
pub fn video_json(app: &App, video: &Video, details: bool) -> Result<Value, StoreError> {
    let mut v = video_shape(app, video, details)?;
    v["comments"] = json!(app.store.comment_count(video.id)?);
    if details {
        let p = video.comments_policy;
        v["commentsPolicy"] = json!({"id": p.id(), "label": p.label()});
    }
    Ok(v)
}

fn video_shape(app: &App, video: &Video, details: bool) -> Result<Value, StoreError> {
    if let Some(remote) = &video.remote {
        let stats = app.store.video_stats(video.id)?;
        let mut v = remote_video_json(&app.public_url, video, remote, &stats, details);
        if let Some(p) = v.get_mut("streamingPlaylists").and_then(|p| p.get_mut(0)) {
            // Our own mirror of it, when we keep one.
            p["redundancies"] = super::redundancy::redundancies(app, video);
        }
        return Ok(v);
    }
    let base = &app.public_url;
    let owner = app.store.get(&UserKey(video.owner))?;
    let channel = app.store.get(&ChannelKey(video.channel_id))?;
    let stats = app.store.video_stats(video.id)?;
    let mut v = common_json(
        video,
        &stats,
        &PublicUrls::new(base).watch(&video.uuid),
        true,
    );
    v["thumbnailPath"] = json!(video.thumbnail.as_ref().map(|t| thumbnail_path(t)));
    v["previewPath"] = json!(video.preview.as_ref().map(|p| preview_path(p)));
    let public = PublicUrls::new(base);
    let images = [
        (
            video.thumbnail.as_ref().map(|t| public.thumbnail(t)),
            THUMBNAIL_BOX,
        ),
        (
            video.preview.as_ref().map(|p| public.preview(p)),
            PREVIEW_BOX,
        ),
    ];
    v["thumbnails"] = thumbnails_json(video, &images);
    if let Some(owner) = &owner {
        v["account"] = account_json(app, owner);
    }
    if let Some(c) = &channel {
        v["channel"] = channel_json(app, c);
    }
    if !details {
        return Ok(v);
    }
    let files = app.store.video_files(video.id)?;
    details_json(&mut v);
    v["tags"] = json!(video.meta.tags);
    v["trackerUrls"] = json!(tracker_urls(base));
    v["files"] = json!(video
        .web_videos
        .iter()
        .map(|f| web_video_json(app, video, f))
        .collect::<Vec<_>>());
    v["blacklisted"] = json!(video.blacklist.is_some());
    if let Some(r) = video.blacklist.as_ref().and_then(|b| b.reason.as_ref()) {
        // PeerTube's `blacklistedReason?: string`: absent rather than null.
        v["blacklistedReason"] = json!(r);
    }
    let urls = app.file_urls(video);
    v["streamingPlaylists"] = match &video.hls {
        Some(hls) => json!([{
            "id": hls.id,
            "type": 1,
            "playlistUrl": urls.hls(&hls.master),
            "segmentsSha256Url": urls.hls(&hls.segments_sha256),
            "redundancies": super::redundancy::redundancies(app, video),
            "files": files.iter().map(|f| file_json(app, video, f)).collect::<Vec<_>>(),
        }]),
        None => json!([]),
    };
    if video.state != VideoState::Published {
        v["transcoding"] = transcoding_json(app, video);
    }
    Ok(v)
}

/// The fields local and remote videos share, in PeerTube's shape.
fn common_json(video: &Video, stats: &VideoStats, url: &str, local: bool) -> Value {
    let m = &video.meta;
    json!({
        "id": video.id,
        "uuid": video.uuid,
        "shortUUID": short_uuid(&video.uuid),
        "url": url,
        "name": video.name,
        "category": {"id": m.category, "label": category_label(m.category)},
        "licence": {"id": m.licence, "label": licence_label(m.licence)},
        "language": {"id": m.language, "label": m.language.as_deref().map_or("Unknown", language_label)},
        "privacy": {"id": video.privacy.id(), "label": video.privacy.label()},
        "nsfw": m.nsfw,
        "description": video.description,
        "truncatedDescription": video.description.as_ref().map(|d| d.chars().take(250).collect::<String>()),
        "isLocal": local,
        "duration": video.duration.round() as u64,
        "aspectRatio": video.aspect_ratio.map(|r| (r * 100.0).round() / 100.0),
        "views": views(video, stats),
        "viewers": 0,
        "likes": stats.likes,
        "dislikes": stats.dislikes,
        "comments": 0,
        "downloads": 0,
        "nsfwFlags": 0,
        "nsfwSummary": "",
        "thumbnails": [],
        "embedPath": embed_path(&video.uuid),
        "createdAt": iso8601(video.created_at),
        "updatedAt": iso8601(video.updated_at),
        "publishedAt": iso8601(video.published_at.unwrap_or(video.created_at)),
        "originallyPublishedAt": m.originally_published_at.map(iso8601),
        "isLive": false,
        "state": {"id": video.state.id(), "label": video.state.label()},
        "waitTranscoding": true,
    })
}

/// What `GET /videos/{id}` has beyond the list that Fleuve does not vary per video: no
/// support text, tags, comments or embed restrictions; downloads allowed; the input file never
/// replaced.
fn details_json(v: &mut Value) {
    v["support"] = Value::Null;
    v["tags"] = json!([]);
    v["commentsPolicy"] = json!({"id": 1, "label": "Enabled"});
    v["downloadEnabled"] = json!(true);
    v["embedPrivacyPolicy"] = json!({"id": 1, "label": "All allowed"});
    v["inputFileUpdatedAt"] = Value::Null;
}

/// PeerTube 8.1's `thumbnails[]`: each image (URL, bounding box) the video has, with the size
/// it was written at and the nearest of PeerTube's aspect ratios.
fn thumbnails_json(video: &Video, images: &[(Option<String>, (u32, u32))]) -> Value {
    let aspect = video.aspect_ratio.unwrap_or(16.0 / 9.0);
    let label = [
        ("16:9", 16.0 / 9.0),
        ("16:10", 1.6),
        ("4:3", 4.0 / 3.0),
        ("5:4", 1.25),
        ("1:1", 1.0),
    ]
    .into_iter()
    .min_by(|a, b| {
        let d = |r: f64| (r.ln() - aspect.max(1e-3).ln()).abs();
        d(a.1).total_cmp(&d(b.1))
    })
    .map(|(l, _)| l);
    images
        .iter()
        .filter_map(|(url, bound)| {
            let (width, height) = fitted(aspect, *bound);
            url.as_ref().map(
                |u| json!({"width": width, "height": height, "aspectRatio": label, "fileUrl": u}),
            )
        })
        .collect()
}

/// Another instance's account or channel (PeerTube's `AccountSummary`/`VideoChannelSummary`;
/// with `details`, the `Account`/`VideoChannel` fields Fleuve knows, zero or empty otherwise).
pub(crate) fn remote_actor_json(url: &str, details: bool) -> Value {
    let host = crate::app::host_of(url);
    let name = url.rsplit('/').next().unwrap_or_default();
    let mut a = json!({"id": remote_number(url), "name": name, "displayName": name,
                       "url": url, "host": host, "avatars": []});
    if details {
        for (k, v) in [
            ("followersCount", json!(0)),
            ("followingCount", json!(0)),
            ("description", json!("")),
            ("support", json!("")),
            ("isLocal", json!(false)),
            ("createdAt", json!(iso8601(0))),
            ("updatedAt", json!(iso8601(0))),
            ("banners", json!([])),
        ] {
            a[k] = v;
        }
    }
    a
}

/// Another instance's video: it plays from its origin's URLs.
fn remote_video_json(
    public_url: &str,
    video: &Video,
    r: &RemoteVideo,
    stats: &VideoStats,
    details: bool,
) -> Value {
    let mut v = common_json(video, stats, &r.url, false);
    v["origin"] = json!({"host": r.host, "url": r.url, "watchUrl": r.watch_url});
    // Served from here (fetched from the origin once), as PeerTube serves remote images: apps
    // join `thumbnailPath` to the instance they talk to.
    let path = r
        .thumbnail_url
        .as_ref()
        .map(|_| crate::federation::remote_images::thumbnail_path(&video.uuid));
    let url = path.as_ref().map(|p| format!("{public_url}{p}"));
    v["thumbnailPath"] = json!(path);
    v["thumbnailUrl"] = json!(url);
    v["previewPath"] = json!(path);
    v["previewUrl"] = json!(url);
    v["thumbnails"] = thumbnails_json(video, &[(url, THUMBNAIL_BOX)]);
    v["account"] = remote_actor_json(&r.account, details);
    v["channel"] = json!(r.channel.as_deref().map(|c| remote_actor_json(c, details)));
    if !details {
        return v;
    }
    details_json(&mut v);
    v["trackerUrls"] = json!(r.tracker_urls);
    v["files"] = json!([]);
    v["tags"] = json!(video.meta.tags);
    v["blacklisted"] = json!(video.blacklist.is_some());
    if let Some(r) = video.blacklist.as_ref().and_then(|b| b.reason.as_ref()) {
        // PeerTube's `blacklistedReason?: string`: absent rather than null.
        v["blacklistedReason"] = json!(r);
    }
    // What the origin does not federate per file: torrent download URL (the torrent's),
    // audio (assumed), storage (ours to say: the origin's files are not stored here).
    let files: Vec<Value> = r
        .files
        .iter()
        .map(|f| {
            let torrent = f.torrent_url.clone().unwrap_or_default();
            let playlist = f
                .url
                .strip_suffix("-fragmented.mp4")
                .map(|p| format!("{p}.m3u8"))
                .or_else(|| r.playlist_url.clone());
            let mut doc = json!({
                "id": remote_number(&f.url),
                "resolution": {"id": f.resolution, "label": format!("{}p", f.resolution)},
                "width": f.width,
                "height": f.resolution,
                "size": f.size,
                "fps": f.fps.unwrap_or(0.0),
                "fileUrl": f.url,
                "fileDownloadUrl": f.url,
                "torrentUrl": torrent,
                "torrentDownloadUrl": torrent,
                "magnetUri": f.magnet,
                "infoHash": f.info_hash,
                "playlistUrl": playlist,
                "hasAudio": true,
                "hasVideo": true,
                "storage": video.hls.as_ref().map_or(1, |h| h.storage.id()),
            });
            if f.width.is_none() {
                // Optional in PeerTube's type, never null.
                doc.as_object_mut().map(|o| o.remove("width"));
            }
            doc
        })
        .collect();
    v["streamingPlaylists"] = match &r.playlist_url {
        Some(p) => json!([{
            "id": video.id,
            "type": 1,
            "playlistUrl": p,
            "segmentsSha256Url": r.segments_sha256_url,
            "redundancies": [],
            "files": files,
        }]),
        None => json!([]),
    };
    if r.playlist_url.is_none() {
        v["files"] = json!(files);
    }
    v
}

/// Beyond PeerTube: where the video's transcode is (`fleuve ingest` and the upload page read it).
fn transcoding_json(app: &App, video: &Video) -> Value {
    if video.state == VideoState::TranscodingFailed {
        return json!({"state": "failed", "error": video.error});
    }
    match app.transcoder.live(&video.uuid) {
        Some(live) => {
            let p = live.progress;
            json!({
                "state": "running",
                "attempts": live.attempt,
                "progress": p.as_ref().map(|p| p.progress).unwrap_or(0.0),
                "etaSecs": p.as_ref().and_then(|p| p.eta_secs),
                "rungs": p.map(|p| p.rungs).unwrap_or_default(),
            })
        }
        None => json!({"state": "queued", "progress": 0.0}),
    }
}

/// `GET /api/v1/videos/{id|uuid|shortUUID}`.
pub async fn get(
    State(app): State<SharedApp>,
    viewer: MaybeUser,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    match find(&app, &key)? {
        Some(v) if v.may_see(viewer.0.as_ref().map(User::viewer)) => {
            Ok(Json(video_json(&app, &v, true)?))
        }
        _ => Err(ApiError::not_found(format!("video {key} not found"))),
    }
}

/// Fields of `PUT /api/v1/videos/{id}` that Fleuve keeps.
#[derive(Debug, Default, Deserialize)]
pub struct UpdateBody {
    name: Option<String>,
    description: Option<String>,
    privacy: Option<Value>,
    #[serde(rename = "commentsPolicy")]
    comments_policy: Option<Value>,
    #[serde(rename = "commentsEnabled")]
    comments_enabled: Option<Value>,
    category: Option<Value>,
    licence: Option<Value>,
    language: Option<Value>,
    tags: Option<Vec<String>>,
    nsfw: Option<Value>,
    #[serde(rename = "originallyPublishedAt")]
    originally_published_at: Option<Value>,
}

/// An optional id in `range`: `null` or `""` clears it.
fn optional_id(
    name: &str,
    v: &Value,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Option<u32>, ApiError> {
    if v.is_null() || v.as_str() == Some("") {
        return Ok(None);
    }
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        .filter(|n| range.contains(n))
        .map(|n| Some(n as u32))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "{name} must be {} to {} (got {v})",
                range.start(),
                range.end()
            ))
        })
}

/// Checks the metadata fields of an update into `change`.
fn check_meta(
    body: &UpdateBody,
    change: &mut super::video_privacy::VideoChange,
) -> Result<(), ApiError> {
    if let Some(c) = &body.category {
        change.category = Some(optional_id("category", c, 1..=18)?);
    }
    if let Some(l) = &body.licence {
        change.licence = Some(optional_id("licence", l, 1..=7)?);
    }
    if let Some(l) = &body.language {
        change.language = Some(match l {
            Value::Null => None,
            Value::String(s) if s.is_empty() => None,
            Value::String(s)
                if s.len() <= 20
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
            {
                Some(s.clone())
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "language must be a language code (got {other})"
                )))
            }
        });
    }
    if let Some(tags) = &body.tags {
        if tags.len() > 5 {
            return Err(ApiError::bad_request(format!(
                "tags must be at most 5 (got {})",
                tags.len()
            )));
        }
        let mut out = Vec::new();
        for t in tags {
            let t = t.trim();
            let n = t.chars().count();
            if !(2..=30).contains(&n) || t.chars().any(char::is_control) {
                return Err(ApiError::bad_request(format!(
                    "each tag must have 2 to 30 characters (got {t:?})"
                )));
            }
            if !out.iter().any(|o: &String| o == t) {
                out.push(t.to_string());
            }
        }
        change.tags = Some(out);
    }
    if let Some(n) = &body.nsfw {
        change.nsfw = Some(match n {
            Value::Bool(b) => *b,
            Value::String(s) if s == "true" || s == "1" => true,
            Value::String(s) if s == "false" || s == "0" => false,
            other => {
                return Err(ApiError::bad_request(format!(
                    "nsfw must be true or false (got {other})"
                )))
            }
        });
    }
    if let Some(o) = &body.originally_published_at {
        change.originally_published_at = Some(match o {
            Value::Null => None,
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(super::video_query::parse_date(s).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "originallyPublishedAt must be an ISO 8601 date (got {s:?})"
                ))
            })?),
            other => {
                return Err(ApiError::bad_request(format!(
                    "originallyPublishedAt must be an ISO 8601 date (got {other})"
                )))
            }
        });
    }
    Ok(())
}

fn parse_update(headers: &http::HeaderMap, body: &[u8]) -> Result<UpdateBody, ApiError> {
    let ct = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_ascii_lowercase();
    if ct.starts_with("application/json") {
        return serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("body is not the expected JSON: {e}")));
    }
    if ct.starts_with("application/x-www-form-urlencoded") {
        let text = std::str::from_utf8(body)
            .map_err(|_| ApiError::bad_request("form body is not UTF-8"))?;
        let mut out = UpdateBody::default();
        for pair in text.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_encoding::percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned();
            match k {
                "name" => out.name = Some(v),
                "description" => out.description = Some(v),
                "privacy" => out.privacy = Some(Value::String(v)),
                "commentsPolicy" => out.comments_policy = Some(Value::String(v)),
                "commentsEnabled" => out.comments_enabled = Some(Value::String(v)),
                "category" => out.category = Some(Value::String(v)),
                "licence" => out.licence = Some(Value::String(v)),
                "language" => out.language = Some(Value::String(v)),
                "tags" | "tags[]" | "tags%5B%5D" => out.tags.get_or_insert_with(Vec::new).push(v),
                "nsfw" => out.nsfw = Some(Value::String(v)),
                "originallyPublishedAt" => out.originally_published_at = Some(Value::String(v)),
                _ => {}
            }
        }
        return Ok(out);
    }
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!("send application/json or application/x-www-form-urlencoded (got {ct})"),
    ))
}

/// `PUT /api/v1/videos/{id}`: name, description and privacy. A privacy change moves the
/// files between the public and private directories and changes the tracker's allowlist;
/// followers get an `Update`, or a `Delete` when the video leaves federation and a `Create`
/// when it comes back (`video_privacy`).
pub async fn update(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path(key): Path<String>,
    headers: http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let video = changeable(&app, &auth.user, &key)?;
    let body = parse_update(&headers, &body)?;
    let mut change = super::video_privacy::VideoChange::default();
    check_meta(&body, &mut change)?;
    if let Some(name) = body.name {
        let n = name.trim().chars().count();
        if !(3..=120).contains(&n) {
            return Err(ApiError::bad_request(format!(
                "name must have 3 to 120 characters (got {n})"
            )));
        }
        change.name = Some(name.trim().to_string());
    }
    if let Some(d) = body.description {
        if d.chars().count() > 10_000 {
            return Err(ApiError::bad_request(
                "description must have at most 10000 characters",
            ));
        }
        change.description = Some((!d.is_empty()).then_some(d));
    }
    if let Some(p) = body.privacy {
        let p = p
            .as_u64()
            .or_else(|| p.as_str().and_then(|s| s.trim().parse().ok()))
            .filter(|p| (1..=4).contains(p))
            .and_then(|p| Privacy::from_id(p).ok())
            .ok_or_else(|| ApiError::bad_request(format!("privacy must be 1 to 4 (got {p})")))?;
        change.privacy = Some(p);
    }
    change.comments_policy = comments_policy(&body.comments_policy, &body.comments_enabled)?;
    let a = app.clone();
    let id = video.id;
    app.pool
        .run(move || super::video_privacy::apply(&a, id, change))
        .await??;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// PeerTube's `commentsPolicy` (1 enabled, 2 disabled; 3, approval, is not offered) or its
/// older `commentsEnabled` boolean.
fn comments_policy(
    policy: &Option<Value>,
    enabled: &Option<Value>,
) -> Result<Option<CommentsPolicy>, ApiError> {
    if let Some(p) = policy {
        let id = p
            .as_u64()
            .or_else(|| p.as_str().and_then(|s| s.trim().parse().ok()));
        return match id.and_then(CommentsPolicy::from_id) {
            Some(CommentsPolicy::RequiresApproval) => Err(ApiError::bad_request(
                "commentsPolicy 3 (requires approval) is not supported by this server; use 1 or 2",
            )),
            Some(p) => Ok(Some(p)),
            None => Err(ApiError::bad_request(format!(
                "commentsPolicy must be 1 (enabled) or 2 (disabled) (got {p})"
            ))),
        };
    }
    match enabled {
        None => Ok(None),
        Some(e) => match e
            .as_bool()
            .or_else(|| e.as_str().and_then(|s| s.parse().ok()))
        {
            Some(true) => Ok(Some(CommentsPolicy::Enabled)),
            Some(false) => Ok(Some(CommentsPolicy::Disabled)),
            None => Err(ApiError::bad_request(format!(
                "commentsEnabled must be true or false (got {e})"
            ))),
        },
    }
}

/// `DELETE /api/v1/videos/{id}`: metadata first (one batch), then the files.
pub async fn delete(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    let Some(video) = find(&app, &key)? else {
        return Err(ApiError::not_found(format!("video {key} not found")));
    };
    if let Some(r) = &video.remote {
        if !auth.user.role.has(Right::RemoveAnyVideo) {
            return Err(ApiError::forbidden(format!(
                "video {key} is another instance's; only an administrator or a moderator may remove it here"
            )));
        }
        let (a, url) = (app.clone(), r.url.clone());
        app.pool
            .run(move || crate::federation::remote_videos::remove(&a.store, &url))
            .await??;
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    if video.owner != auth.user.id && !auth.user.role.has(Right::RemoveAnyVideo) {
        return Err(ApiError::forbidden(format!(
            "video {key} belongs to another user"
        )));
    }
    let uuid = video.uuid.clone();
    super::video_removal::remove_local(&app, video).await?;
    tracing::info!(video = %uuid, user = auth.user.id, "video deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbnails_have_their_written_size_and_the_nearest_peertube_ratio() {
        let mut v = crate::video::visibility::tests::video(Privacy::Public);
        let images = [
            (Some("http://x/t.jpg".to_string()), THUMBNAIL_BOX),
            (None, PREVIEW_BOX),
        ];
        v.aspect_ratio = Some(16.0 / 9.0);
        let t = thumbnails_json(&v, &images);
        assert_eq!(
            t,
            json!([{"width": 280, "height": 158, "aspectRatio": "16:9", "fileUrl": "http://x/t.jpg"}])
        );
        v.aspect_ratio = Some(4.0 / 3.0);
        assert_eq!(thumbnails_json(&v, &images)[0]["aspectRatio"], "4:3");
        v.aspect_ratio = Some(9.0 / 16.0);
        assert_eq!(thumbnails_json(&v, &images)[0]["aspectRatio"], "1:1");
    }
}
