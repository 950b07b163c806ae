//! Our videos as ActivityPub `Video` objects, exactly in the shape PeerTube 6/7 emits and accepts
//! (reference §1.5–1.6): `duration` as `PT<s>S`, the `url` Link list (watch page, AP id, the HLS
//! master with its `Infohash` tags, segments-sha256 link and per-file file/torrent/magnet Links,
//! then the tracker Links), `icon` images, `attributedTo` account and channel, audience.

use super::actors::{activity_json, wants_activity_json};
use super::discovery::LocalActor;
use crate::api::error::ApiError;
use crate::api::users::iso8601;
use crate::app::{App, SharedApp};
use crate::media::torrent::{magnet, TorrentSpec};
use crate::store::tables::{ChannelKey, UserKey};
use crate::store::videos::{
    short_uuid, uuid_from_short, FileKey, Video, VideoByUuidKey, VideoFile, VideoKey,
};
use crate::transcode::p2p;
use crate::transcode::worker::{hls_url, tracker_urls};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::HeaderMap;
use serde_json::{json, Value};

/// The ActivityStreams public collection.
pub use super::PUBLIC;

/// The `@context` of Video documents (PeerTube's Video context, the terms we emit).
pub fn video_context() -> Value {
    json!([
        "https://www.w3.org/ns/activitystreams",
        "https://w3id.org/security/v1",
        {"RsaSignature2017": "https://w3id.org/security#RsaSignature2017"},
        {
            "pt": "https://joinpeertube.org/ns#",
            "sc": "http://schema.org/",
            "Hashtag": "as:Hashtag",
            "category": "sc:category",
            "licence": "sc:license",
            "subtitleLanguage": "sc:subtitleLanguage",
            "sensitive": "as:sensitive",
            "language": "sc:inLanguage",
            "identifier": "sc:identifier",
            "isLiveBroadcast": "sc:isLiveBroadcast",
            "Infohash": "pt:Infohash",
            "aspectRatio": {"@type": "sc:Float", "@id": "pt:aspectRatio"},
            "uuid": {"@type": "sc:identifier", "@id": "pt:uuid"},
            "originallyPublishedAt": "sc:datePublished",
            "uploadDate": "sc:uploadDate",
            "views": {"@type": "sc:Number", "@id": "pt:views"},
            "state": {"@type": "sc:Number", "@id": "pt:state"},
            "size": {"@type": "sc:Number", "@id": "pt:size"},
            "fps": {"@type": "sc:Number", "@id": "pt:fps"},
            "commentsPolicy": {"@type": "sc:Number", "@id": "pt:commentsPolicy"},
            "downloadEnabled": {"@type": "sc:Boolean", "@id": "pt:downloadEnabled"},
            "waitTranscoding": {"@type": "sc:Boolean", "@id": "pt:waitTranscoding"},
            "support": {"@type": "sc:Text", "@id": "pt:support"},
            "likes": {"@id": "as:likes", "@type": "@id"},
            "dislikes": {"@id": "as:dislikes", "@type": "@id"},
            "shares": {"@id": "as:shares", "@type": "@id"},
            "comments": {"@id": "as:comments", "@type": "@id"},
            "PropertyValue": "sc:PropertyValue",
            "value": "sc:value"
        }
    ])
}

/// The four Links of one fMP4 file (file, metadata, torrent, magnet), PeerTube's order.
fn file_links(app: &App, video: &Video, f: &VideoFile) -> Vec<Value> {
    let base = &app.public_url;
    let file_url = hls_url(base, &video.uuid, &f.media_file);
    let torrent_url = format!("{base}/lazy-static/torrents/{}", f.torrent_file);
    let spec = TorrentSpec {
        name: format!("{} {}p.mp4", video.name, f.resolution),
        trackers: tracker_urls(base),
        webseed: file_url.clone(),
    };
    let mut attachment =
        vec![json!({"type": "PropertyValue", "name": "ffprobe_codec_type", "value": "video"})];
    if f.has_audio {
        attachment
            .push(json!({"type": "PropertyValue", "name": "ffprobe_codec_type", "value": "audio"}));
    }
    attachment.push(
        json!({"type": "PropertyValue", "name": "peertube_format_flag", "value": "fragmented"}),
    );
    vec![
        json!({
            "type": "Link", "mediaType": "video/mp4", "href": file_url,
            "height": f.height, "width": f.width, "size": f.size, "fps": f.fps,
            "attachment": attachment,
        }),
        json!({
            "type": "Link", "rel": ["metadata", "video/mp4"], "mediaType": "application/json",
            "href": format!("{base}/api/v1/videos/{}/metadata/{}", video.uuid, f.id),
            "height": f.height, "width": f.width, "fps": f.fps,
        }),
        json!({
            "type": "Link", "mediaType": "application/x-bittorrent", "href": torrent_url,
            "height": f.height, "width": f.width, "fps": f.fps,
        }),
        json!({
            "type": "Link", "mediaType": "application/x-bittorrent;x-scheme-handler/magnet",
            "href": magnet(&f.info_hash, &spec.name, &torrent_url, &spec),
            "height": f.height, "width": f.width, "fps": f.fps,
        }),
    ]
}

/// The `Video` object of a published local video (without `@context`).
pub fn video_object(app: &App, video: &Video, files: &[VideoFile]) -> Result<Value, ApiError> {
    let base = &app.public_url;
    let id = format!("{base}/videos/watch/{}", video.uuid);
    let owner = app.store.get(&UserKey(video.owner))?;
    let channel = app.store.get(&ChannelKey(video.channel_id))?;
    let account_url = owner
        .as_ref()
        .map(|u| LocalActor::Account(u.username.to_lowercase()).url(base));
    let channel_url = channel
        .as_ref()
        .map(|c| LocalActor::Channel(c.name.clone()).url(base));
    let mut url = vec![
        json!({"type": "Link", "mediaType": "text/html", "href": format!("{base}/w/{}", short_uuid(&video.uuid))}),
        json!({"type": "Link", "mediaType": "text/html", "href": id}),
    ];
    if let Some(hls) = &video.hls {
        let master = hls_url(base, &video.uuid, &hls.master);
        let resolutions: Vec<u32> = files.iter().map(|f| f.resolution).collect();
        // PeerTube 6/7 publish the legacy p2p-media-loader hashes (hex); the v2 ones are added
        // so that newer players' swarms are announced too. All are on our tracker's allowlist.
        let mut tag: Vec<Value> = p2p::infohashes(&master, &video.uuid, &resolutions)
            .into_iter()
            .filter(|h| h.scheme == "p2pml-legacy-sha1" || h.scheme == "p2pml-v2-sha1")
            .map(|h| json!({"type": "Infohash", "name": hex::encode(h.hash)}))
            .collect();
        tag.push(json!({
            "type": "Link", "name": "sha256", "mediaType": "application/json",
            "href": hls_url(base, &video.uuid, &hls.segments_sha256),
        }));
        for f in files {
            tag.extend(file_links(app, video, f));
        }
        url.push(json!({"type": "Link", "mediaType": "application/x-mpegURL", "href": master, "tag": tag}));
    }
    for t in tracker_urls(base) {
        let kind = if t.starts_with("http") {
            "http"
        } else {
            "websocket"
        };
        url.push(json!({"type": "Link", "name": format!("tracker-{kind}"), "rel": ["tracker", kind], "href": t}));
    }
    let mut icon = Vec::new();
    if let Some(t) = &video.thumbnail {
        icon.push(json!({"type": "Image", "url": format!("{base}/lazy-static/thumbnails/{t}"), "mediaType": "image/jpeg", "width": 280, "height": 157}));
    }
    if let Some(p) = &video.preview {
        icon.push(json!({"type": "Image", "url": format!("{base}/lazy-static/previews/{p}"), "mediaType": "image/jpeg", "width": 850, "height": 480}));
    }
    let mut attributed = Vec::new();
    if let Some(a) = &account_url {
        attributed.push(json!({"type": "Person", "id": a}));
    }
    if let Some(c) = &channel_url {
        attributed.push(json!({"type": "Group", "id": c}));
    }
    let published = video.published_at.unwrap_or(video.created_at);
    let mut cc = Vec::new();
    if let Some(a) = &account_url {
        cc.push(format!("{a}/followers"));
    }
    if let Some(c) = &channel_url {
        cc.push(format!("{c}/followers"));
    }
    Ok(json!({
        "type": "Video",
        "id": id,
        "name": video.name,
        "duration": format!("PT{}S", video.duration.round() as u64),
        "uuid": video.uuid,
        "views": 0,
        "sensitive": false,
        "waitTranscoding": true,
        "state": video.state.id(),
        "commentsPolicy": 1,
        "canReply": Value::Null,
        "downloadEnabled": true,
        "published": iso8601(published),
        "originallyPublishedAt": Value::Null,
        "updated": iso8601(video.updated_at),
        "uploadDate": iso8601(video.created_at),
        "tag": [],
        "mediaType": "text/markdown",
        "content": video.description,
        "support": Value::Null,
        "subtitleLanguage": [],
        "icon": icon,
        "preview": [],
        "aspectRatio": video.aspect_ratio.map(|r| (r * 10_000.0).round() / 10_000.0),
        "url": url,
        "likes": format!("{id}/likes"),
        "dislikes": format!("{id}/dislikes"),
        "shares": format!("{id}/announces"),
        "comments": format!("{id}/comments"),
        "attributedTo": attributed,
        "isLiveBroadcast": false,
        "liveSaveReplay": Value::Null,
        "permanentLive": Value::Null,
        "latencyMode": Value::Null,
        "to": [PUBLIC],
        "cc": cc,
    }))
}

fn find(app: &App, key: &str) -> Result<Option<Video>, ApiError> {
    let uuid = uuid::Uuid::parse_str(key)
        .ok()
        .map(|u| u.hyphenated().to_string())
        .or_else(|| uuid_from_short(key));
    let Some(uuid) = uuid else {
        return Ok(None);
    };
    Ok(match app.store.get(&VideoByUuidKey(uuid))? {
        Some(id) => app.store.get(&VideoKey(id))?,
        None => None,
    })
}

/// `GET /videos/watch/{uuid}/{likes,dislikes,announces,comments}`: PeerTube crawls these after
/// taking a video; Fleuve keeps no likes, shares or comments yet, so they are empty.
pub async fn video_collection(
    State(app): State<SharedApp>,
    Path((key, which)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    if !["likes", "dislikes", "announces", "comments"].contains(&which.as_str()) {
        return Err(ApiError::not_found(format!("no collection {which:?}")));
    }
    let video = find(&app, &key)?
        .filter(|v| v.remote.is_none() && crate::video::visibility::has_public_page(v))
        .ok_or_else(|| ApiError::not_found(format!("video {key} not found")))?;
    let id = format!("{}/videos/watch/{}/{which}", app.public_url, video.uuid);
    Ok(activity_json(super::outbox::paged_collection(
        &id,
        None,
        Vec::new(),
    )))
}

/// `GET /videos/watch/{uuid}` and `GET /w/{shortUUID}`: the `Video` for federation clients; the
/// watch page for browsers.
pub async fn watch(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    // Private, internal and password-protected videos are not federated (PeerTube's
    // `hasPrivacyForFederation`); browsers get the page that lets their owner watch them.
    let video = find(&app, &key)?.filter(crate::video::visibility::has_public_page);
    let Some(video) = video else {
        if wants_activity_json(&headers) {
            return Err(ApiError::not_found(format!("video {key} not found")));
        }
        return Ok(crate::web::restricted_video_page(&app, &key));
    };
    if let Some(r) = &video.remote {
        // Another instance's video: its object and its page are at its origin.
        let to = if wants_activity_json(&headers) {
            &r.url
        } else {
            r.watch_url.as_ref().unwrap_or(&r.url)
        };
        return Ok(Redirect::to(to).into_response());
    }
    if wants_activity_json(&headers) {
        let files: Vec<VideoFile> = {
            let mut f: Vec<VideoFile> = app
                .store
                .scan::<FileKey>(&video.id)?
                .into_iter()
                .map(|(_, f)| f)
                .collect();
            f.sort_by_key(|f| std::cmp::Reverse(f.resolution));
            f
        };
        let mut doc = video_object(&app, &video, &files)?;
        if let Some(d) = doc.as_object_mut() {
            d.insert("@context".into(), video_context());
        }
        return Ok(activity_json(doc));
    }
    Ok(crate::web::watch_page(&app, &video))
}
