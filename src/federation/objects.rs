//! Our videos as ActivityPub `Video` objects, exactly in the shape PeerTube 6/7 emits and accepts
//! (reference §1.5–1.6): `duration` as `PT<s>S`, the `url` Link list (watch page, AP id, the HLS
//! master with its `Infohash` tags, segments-sha256 link and per-file file/torrent/magnet Links,
//! then the tracker Links), `icon` images, `attributedTo` account and channel, audience.

use super::actors::{activity_json, wants_activity_json};
use super::discovery::LocalActor;
use super::protocol::video::{
    self as pv, ActorKind, ActorRef, Image, Infohash, Link, PropertyValue, Tag,
};
use super::FederationError;
use crate::app::{App, SharedApp};
use crate::media::torrent::{magnet, TorrentSpec};
use crate::store::tables::{ChannelKey, UserKey};
use crate::time::iso8601;
use crate::transcode::p2p;
use crate::video::meta::{category_label, language_label, licence_label};
use crate::video::urls::PublicUrls;
use crate::video::{Video, VideoFile, VideoRef};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::HeaderMap;

/// The ActivityStreams public collection.
pub use super::PUBLIC;

/// The `@context` of Video documents (PeerTube's Video context, the terms we emit).
pub use super::protocol::context::video as video_context;

/// The four Links of one fMP4 file (file, metadata, torrent, magnet), PeerTube's order.
fn file_links(app: &App, video: &Video, f: &VideoFile) -> Vec<Link> {
    let public = PublicUrls::new(&app.public_url);
    let files = app.file_urls(video);
    let file_url = files.hls(&f.rendition.media_file);
    let torrent_url = files.torrent(f);
    let file_id = f.id;
    let f = &f.rendition;
    let spec = TorrentSpec {
        name: format!("{} {}p.mp4", video.name, f.resolution),
        trackers: public.trackers(),
        webseed: file_url.clone(),
    };
    let mut attachment = vec![PropertyValue::new("ffprobe_codec_type", "video")];
    if f.has_audio {
        attachment.push(PropertyValue::new("ffprobe_codec_type", "audio"));
    }
    attachment.push(PropertyValue::new("peertube_format_flag", "fragmented"));
    let magnet_link = magnet(&f.info_hash, &spec.name, &torrent_url, &spec);
    let (h, w, fps) = (f.height, f.width, f.fps);
    vec![
        Link {
            size: Some(f.size),
            attachment: Some(attachment),
            ..Link::to("video/mp4", file_url.clone()).sized(h, w, fps)
        },
        Link {
            rel: Some(vec!["metadata".into(), "video/mp4".into()]),
            ..Link::to(
                "application/json",
                public.file_metadata(&video.uuid, file_id),
            )
            .sized(h, w, fps)
        },
        Link::to("application/x-bittorrent", torrent_url.clone()).sized(h, w, fps),
        Link::to(
            "application/x-bittorrent;x-scheme-handler/magnet",
            magnet_link,
        )
        .sized(h, w, fps),
    ]
}

/// The Links of one web video (file, metadata, torrent, magnet), PeerTube's order; only the
/// file's while its torrent is not made yet.
fn web_video_links(app: &App, video: &Video, f: &crate::video::WebVideoFile) -> Vec<Link> {
    let public = PublicUrls::new(&app.public_url);
    let files = app.file_urls(video);
    let file_url = files.web_video(f);
    let (h, w, fps) = (f.height, f.width, f.fps);
    let mut links = vec![
        Link {
            size: Some(f.size),
            ..Link::to("video/mp4", file_url.clone()).sized(h, w, fps)
        },
        Link {
            rel: Some(vec!["metadata".into(), "video/mp4".into()]),
            ..Link::to("application/json", public.file_metadata(&video.uuid, f.id)).sized(h, w, fps)
        },
    ];
    if let (Some(torrent_url), Some(hash)) = (files.web_video_torrent(f, false), &f.info_hash) {
        let spec = TorrentSpec {
            name: format!("{} {}p.mp4", video.name, f.resolution),
            trackers: public.trackers(),
            webseed: file_url,
        };
        let magnet_link = magnet(hash, &spec.name, &torrent_url, &spec);
        links.push(Link::to("application/x-bittorrent", torrent_url).sized(h, w, fps));
        links.push(
            Link::to(
                "application/x-bittorrent;x-scheme-handler/magnet",
                magnet_link,
            )
            .sized(h, w, fps),
        );
    }
    links
}

/// The `Video` object of a published local video (without `@context`).
pub fn video_object(
    app: &App,
    video: &Video,
    files: &[VideoFile],
) -> Result<pv::Video, FederationError> {
    let base = &app.public_url;
    let public = PublicUrls::new(base);
    let urls_of_files = app.file_urls(video);
    let id = public.watch(&video.uuid);
    let owner = app.store.get(&UserKey(video.owner))?;
    let channel = app.store.get(&ChannelKey(video.channel_id))?;
    let account_url = owner
        .as_ref()
        .map(|u| LocalActor::Account(u.username.to_lowercase()).url(base));
    let channel_url = channel
        .as_ref()
        .map(|c| LocalActor::Channel(c.name.clone()).url(base));
    let mut url = vec![
        Link::to("text/html", public.short_watch(&video.uuid)),
        Link::to("text/html", id.clone()),
    ];
    if let Some(hls) = &video.hls {
        let master = urls_of_files.hls(&hls.master);
        let resolutions: Vec<u32> = files.iter().map(|f| f.rendition.resolution).collect();
        // PeerTube 6/7 publish the legacy p2p-media-loader hashes (hex); the v2 ones are added
        // so that newer players' swarms are announced too. All are on our tracker's allowlist.
        let mut tag: Vec<Tag> = p2p::infohashes(&master, &video.uuid, &resolutions)
            .into_iter()
            .filter(|h| h.scheme == "p2pml-legacy-sha1" || h.scheme == "p2pml-v2-sha1")
            .map(|h| {
                Tag::Infohash(Infohash {
                    kind: pv::InfohashType::Kind,
                    name: hex::encode(h.hash),
                })
            })
            .collect();
        tag.push(Tag::Link(Link {
            name: Some("sha256".into()),
            ..Link::to("application/json", urls_of_files.hls(&hls.segments_sha256))
        }));
        for f in files {
            tag.extend(file_links(app, video, f).into_iter().map(Tag::Link));
        }
        url.push(Link {
            tag: Some(tag),
            ..Link::to("application/x-mpegURL", master)
        });
    }
    // Web videos (when `transcode.web_videos.enabled`): PeerTube lists each as a `video/mp4`
    // Link with its metadata, torrent and magnet Links, at the top of `url`.
    for f in video.web_videos.iter().filter(|f| !f.private) {
        url.extend(web_video_links(app, video, f));
    }
    for t in public.trackers() {
        let kind = if t.starts_with("http") {
            "http"
        } else {
            "websocket"
        };
        url.push(Link {
            name: Some(format!("tracker-{kind}")),
            rel: Some(vec!["tracker".into(), kind.into()]),
            href: t,
            ..Link::default()
        });
    }
    let image = |url: String, width, height| Image {
        kind: pv::ImageType::Kind,
        url,
        media_type: "image/jpeg".into(),
        width,
        height,
    };
    let mut icon = Vec::new();
    if let Some(t) = &video.thumbnail {
        icon.push(image(public.thumbnail(t), 280, 157));
    }
    if let Some(p) = &video.preview {
        icon.push(image(public.preview(p), 850, 480));
    }
    let mut attributed = Vec::new();
    if let Some(a) = &account_url {
        attributed.push(ActorRef {
            kind: ActorKind::Person,
            id: a.clone(),
        });
    }
    if let Some(c) = &channel_url {
        attributed.push(ActorRef {
            kind: ActorKind::Group,
            id: c.clone(),
        });
    }
    let published = video.published_at.unwrap_or(video.created_at);
    let mut cc = Vec::new();
    if let Some(a) = &account_url {
        cc.push(format!("{a}/followers"));
    }
    if let Some(c) = &channel_url {
        cc.push(format!("{c}/followers"));
    }
    let m = &video.meta;
    Ok(pv::Video {
        context: None,
        kind: pv::VideoType::Kind,
        name: video.name.clone(),
        duration: pv::duration(video.duration),
        uuid: video.uuid.clone(),
        category: m.category.map(|c| pv::Named {
            identifier: c.to_string(),
            name: category_label(Some(c)).to_string(),
        }),
        licence: m.licence.map(|l| pv::Named {
            identifier: l.to_string(),
            name: licence_label(Some(l)).to_string(),
        }),
        language: m.language.as_ref().map(|l| pv::Named {
            identifier: l.clone(),
            name: language_label(l).to_string(),
        }),
        views: app.store.video_stats(video.id)?.views,
        sensitive: m.nsfw,
        wait_transcoding: true,
        state: video.state.id(),
        comments_policy: video.comments_policy.id(),
        can_reply: None,
        download_enabled: true,
        published: iso8601(published),
        originally_published_at: m.originally_published_at.map(iso8601),
        updated: iso8601(video.updated_at),
        upload_date: iso8601(video.created_at),
        tag: m
            .tags
            .iter()
            .map(|t| pv::Hashtag {
                kind: pv::HashtagType::Kind,
                name: t.clone(),
            })
            .collect(),
        media_type: "text/markdown".into(),
        content: video.description.clone(),
        support: None,
        subtitle_language: subtitle_languages(app, video.id)?,
        icon,
        preview: video
            .storyboard
            .iter()
            .map(|s| pv::StoryboardImage {
                kind: pv::ImageType::Kind,
                rel: vec!["storyboard".into()],
                url: vec![pv::StoryboardSheet {
                    href: public.storyboard(&s.file),
                    media_type: "image/jpeg".into(),
                    width: s.total_width,
                    height: s.total_height,
                    tile_width: s.sprite_width,
                    tile_height: s.sprite_height,
                    tile_duration: format!("PT{}S", s.sprite_duration),
                }],
            })
            .collect(),
        aspect_ratio: video.aspect_ratio.map(pv::aspect_ratio),
        url,
        likes: format!("{id}/likes"),
        dislikes: format!("{id}/dislikes"),
        shares: format!("{id}/announces"),
        comments: format!("{id}/comments"),
        attributed_to: attributed,
        is_live_broadcast: false,
        live_save_replay: None,
        permanent_live: None,
        latency_mode: None,
        to: vec![PUBLIC.to_string()],
        cc,
        id,
    })
}

/// The `subtitleLanguage` entries of a video's object (PeerTube 8's form: the WebVTT and its
/// playlist as `Link`s).
fn subtitle_languages(app: &App, video_id: u64) -> Result<Vec<serde_json::Value>, FederationError> {
    use crate::store::comments::CaptionKey;
    Ok(app
        .store
        .scan::<CaptionKey>(&video_id)?
        .into_iter()
        .map(|(_, c)| {
            serde_json::json!({
                "identifier": c.language,
                "name": c.label,
                "automaticallyGenerated": false,
                "url": [
                    {"type": "Link", "mediaType": "text/vtt",
                     "href": format!("{}{}", app.public_url, c.path())},
                    {"type": "Link", "mediaType": "application/x-mpegURL",
                     "href": format!("{}{}", app.public_url, c.playlist_path())},
                ],
            })
        })
        .collect())
}

fn find(app: &App, key: &str) -> Result<Option<Video>, FederationError> {
    match VideoRef::parse_uuid(key) {
        Some(r) => Ok(app.store.video(&r)?),
        None => Ok(None),
    }
}

/// `GET /videos/watch/{uuid}/{likes,dislikes,announces,comments}`: PeerTube crawls these after
/// taking a video; Fleuve keeps no likes, shares or comments yet, so they are empty.
pub async fn video_collection(
    State(app): State<SharedApp>,
    Path((key, which)): Path<(String, String)>,
) -> Result<Response, FederationError> {
    if !["likes", "dislikes", "announces", "comments"].contains(&which.as_str()) {
        return Err(FederationError::NotFound(format!(
            "no collection {which:?}"
        )));
    }
    let video = find(&app, &key)?
        .filter(|v| v.is_local() && v.is_viewable())
        .ok_or_else(|| FederationError::NotFound(format!("video {key} not found")))?;
    let id = format!(
        "{}/{which}",
        PublicUrls::new(&app.public_url).watch(&video.uuid)
    );
    Ok(activity_json(super::outbox::paged_collection::<
        serde_json::Value,
    >(&id, None, Vec::new())))
}

/// What `GET /videos/watch/{uuid}` and `GET /w/{shortUUID}` answer: federation clients get the
/// `Video` (or a redirect to its origin), browsers the watch page, which the web front end
/// renders (its route calls [`watch`]).
pub enum Watch {
    /// The answer for a federation client, or a redirect to another instance's video.
    Answer(Response),
    /// A browser asked for a local video anyone may watch: its watch page.
    Page(Box<Video>),
    /// A browser asked for no publicly watchable video: the page that lets a logged-in visitor
    /// watch a private video that is theirs.
    Restricted,
}

/// `GET /videos/watch/{uuid}` and `GET /w/{shortUUID}`: the `Video` for federation clients; for
/// browsers, which page to show.
pub async fn watch(
    app: &SharedApp,
    headers: &HeaderMap,
    key: &str,
) -> Result<Watch, FederationError> {
    // Private, internal and password-protected videos are not federated (PeerTube's
    // `hasPrivacyForFederation`); browsers get the page that lets their owner watch them.
    let video = find(app, key)?.filter(Video::is_viewable);
    let Some(video) = video else {
        if wants_activity_json(headers) {
            return Err(FederationError::NotFound(format!("video {key} not found")));
        }
        return Ok(Watch::Restricted);
    };
    if let Some(r) = &video.remote {
        // Another instance's video: its object and its page are at its origin; but a video
        // this instance mirrors plays here too (from the origin and the mirror, and from the
        // mirror alone while the origin is down).
        let mirrored = || {
            app.store
                .get(&crate::store::redundancy::MirrorKey(video.id))
                .ok()
                .flatten()
                .is_some_and(|m| m.state == crate::store::redundancy::MirrorState::Ready)
        };
        if !wants_activity_json(headers) && mirrored() {
            return Ok(Watch::Page(Box::new(video)));
        }
        let to = if wants_activity_json(headers) {
            &r.url
        } else {
            r.watch_url.as_ref().unwrap_or(&r.url)
        };
        return Ok(Watch::Answer(Redirect::to(to).into_response()));
    }
    if wants_activity_json(headers) {
        let files = app.store.video_files(video.id)?;
        let mut doc = video_object(app, &video, &files)?;
        doc.context = Some(video_context());
        return Ok(Watch::Answer(activity_json(doc)));
    }
    Ok(Watch::Page(Box::new(video)))
}
