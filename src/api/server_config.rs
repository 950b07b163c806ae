//! What PeerTube clients read about the instance before anything else: `GET /api/v1/config`
//! (PeerTube 8's `ServerConfig`, with values true to what Fleuve does: sign-up and e-mail as configured, no live, no
//! imports, no plugins, its own ladder and limits), `GET /api/v1/config/about` (`About`) and
//! `GET /api/v1/server/stats` (`ServerStats`).

use super::error::ApiError;
use crate::app::{App, SharedApp};
use crate::store::tables::{ChannelKey, Role, UserKey};
use crate::store::videos::VideoKey;
use crate::store::StoreError;
use crate::video::Video;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

/// `/api/v1/config`, `/api/v1/config/about` and `/api/v1/server/stats`.
pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route("/api/v1/config", get(config))
        .route("/api/v1/config/about", get(about))
        .route("/api/v1/server/stats", get(stats))
}

/// Extensions of the video files an upload may have.
const VIDEO_EXTENSIONS: [&str; 10] = [
    ".mp4", ".webm", ".ogv", ".mkv", ".mov", ".m4v", ".avi", ".flv", ".ts", ".mts",
];

/// Image constraints (thumbnails and previews at upload, PeerTube's avatar-sized files).
fn image_constraints() -> Value {
    json!({
        "size": {"max": crate::uploads::multipart::MAX_IMAGE_FIELD},
        "extensions": [".png", ".jpg", ".jpeg", ".webp"],
    })
}

/// `GET /api/v1/config`.
pub async fn config(State(app): State<SharedApp>) -> Json<Value> {
    let inst = &app.config.instance;
    let signup = &app.config.signup;
    // Open, and below the user limit (counting users is a walk of the users table: only when
    // a limit is set).
    let signup_allowed = signup.enabled
        && (signup.limit < 0 || {
            let a = app.clone();
            let users = app
                .pool
                .run(move || a.store.count::<UserKey>(&()))
                .await
                .ok()
                .and_then(|r| r.ok());
            users.is_some_and(|n| (n as i64) < signup.limit)
        });
    let off = json!({"enabled": false});
    let resolutions = &app.config.transcode.resolutions;
    let client = json!({
        "newFeaturesInfo": false,
        "header": {"hideInstanceName": false},
        "videos": {
            "miniature": {"preferAuthorDisplayName": false},
            "resumableUpload": {"maxChunkSize": app.config.upload.max_file_bytes},
        },
        "browseVideos": {"defaultSort": "-publishedAt", "defaultScope": "local"},
        "menu": {"login": {"redirectOnSingleExternalAuth": false}},
        "openInApp": {
            "android": {"intent": {"enabled": false, "host": "", "scheme": "", "fallbackUrl": ""}},
            "ios": {"enabled": false, "host": "", "scheme": "", "fallbackUrl": ""},
        },
    });
    let theme = json!({
        "registered": [],
        "builtIn": [{"name": "peertube-core-light-beige"}, {"name": "peertube-core-dark-brown"}],
        "default": "default",
        "customization": {
            "primaryColor": "", "onPrimaryColor": "", "foregroundColor": "",
            "backgroundColor": "", "backgroundSecondaryColor": "", "menuForegroundColor": "",
            "menuBackgroundColor": "", "menuBorderRadius": "", "headerForegroundColor": "",
            "headerBackgroundColor": "", "inputBorderRadius": "",
        },
    });
    let live = json!({"saveReplay": false});
    let instance = json!({
        "name": inst.name,
        "shortDescription": inst.short_description,
        "defaultClientRoute": "/videos/recently-added",
        "isNSFW": false,
        "defaultNSFWPolicy": crate::store::tables::DEFAULT_NSFW_POLICY,
        "serverCountry": "",
        "support": {"text": ""},
        "social": {"externalLink": "", "mastodonLink": "", "blueskyLink": "", "xLink": ""},
        "customizations": {"javascript": "", "css": ""},
        "avatars": [],
        "banners": [],
        "defaultLanguage": "en",
        "logo": [],
    });
    let defaults = json!({
        "publish": {"downloadEnabled": true, "commentsPolicy": 1, "privacy": 1, "licence": 0},
        "live": live,
        "p2p": {"webapp": {"enabled": true}, "embed": {"enabled": true}},
        "player": {"theme": "galaxy", "autoPlay": true},
    });
    let mut doc = json!({
        "instance": instance,
        "serverVersion": crate::federation::discovery::PEERTUBE_COMPAT_VERSION,
        "serverCommit": concat!("fleuve-", env!("CARGO_PKG_VERSION")),
        "fleuve": {"version": env!("CARGO_PKG_VERSION")},
        "client": client,
        "defaults": defaults,
        "webadmin": {"configuration": {"edition": {"allowed": false}}},
        "search": {
            "remoteUri": {"users": false, "anonymous": false},
            "searchIndex": {"enabled": false, "url": "", "disableLocalSearch": false, "isDefaultSearch": false},
        },
        "plugin": {"registered": [], "registeredExternalAuths": [], "registeredIdAndPassAuths": []},
        "theme": theme,
        "email": {"enabled": !app.config.smtp.host.is_empty()},
        "contactForm": off,
        "signup": {
            "allowed": signup_allowed,
            "allowedForCurrentIP": signup_allowed,
            "minimumAge": 16,
            "requiresApproval": signup.requires_approval,
            "requiresEmailVerification": signup.requires_email_verification,
        },
        "transcoding": {
            "hls": {"enabled": true},
            "web_videos": {"enabled": app.config.transcode.web_videos.enabled},
            "webVideos": {"enabled": app.config.transcode.web_videos.enabled},
            "enabledResolutions": resolutions,
            "profile": "default",
            "availableProfiles": ["default"],
            "remoteRunners": off,
        },
        "live": {
            "enabled": false,
            "allowReplay": false,
            "dvr": {"maxWindow": 0},
            "latencySetting": off,
            "maxDuration": -1,
            "maxInstanceLives": 0,
            "maxUserLives": 0,
            "transcoding": {
                "enabled": false,
                "remoteRunners": off,
                "enabledResolutions": [],
                "profile": "default",
                "availableProfiles": ["default"],
            },
            "rtmp": {"port": 0},
        },
        "videoStudio": {"enabled": false, "remoteRunners": off},
        "videoFile": {"update": off},
        "import": {
            "videos": {"http": off, "torrent": off},
            "videoChannelSynchronization": off,
            "users": off,
        },
        "export": {"users": {"enabled": false, "exportExpiration": 0, "maxUserVideoQuota": 0}},
        "autoBlacklist": {"videos": {"ofUsers": off}},
    });
    // Two documents: one is more than `json!`'s recursion allows.
    let rest = json!({
        "avatar": {"file": image_constraints()},
        "banner": {"file": image_constraints()},
        "logo": {"file": image_constraints()},
        "video": {
            "image": image_constraints(),
            "file": {"extensions": VIDEO_EXTENSIONS},
        },
        "videoCaption": {"file": {
            "size": {"max": crate::video::comment::MAX_CAPTION_BYTES},
            "extensions": crate::video::comment::CAPTION_EXTENSIONS,
        }},
        "user": {"videoQuota": -1, "videoQuotaDaily": -1},
        "videoChannels": {"maxPerUser": 1},
        "trending": {"videos": {
            "intervalDays": 7,
            "algorithms": {"enabled": ["most-viewed"], "default": "most-viewed"},
        }},
        "tracker": {"enabled": app.config.tracker.enabled},
        "followings": {"instance": {"autoFollowIndex": {"indexUrl": ""}}},
        "federation": {"enabled": app.config.federation.enabled},
        "broadcastMessage": {"enabled": false, "message": "", "level": "info", "dismissable": false},
        "homepage": off,
        "openTelemetry": {"metrics": {"enabled": false, "playbackStatsInterval": 0}},
        "views": {"videos": {
            "remote": {"maxAge": -1},
            "local": {"maxAge": -1},
            "watchingInterval": {"anonymous": 5000, "users": 5000},
        }},
        "storyboards": {"enabled": true, "remoteRunners": off},
        "videoTranscription": {"enabled": false, "remoteRunners": off},
        "webrtc": {"stunServers": []},
        "nsfwFlagsSettings": off,
        "fieldsConstraints": {"users": {"password": {"minLength": 6, "maxLength": 255}}},
    });
    if let (Some(doc), Value::Object(rest)) = (doc.as_object_mut(), rest) {
        doc.extend(rest);
    }
    Json(doc)
}

/// `GET /api/v1/config/about`: what the instance says about itself (only its name and short
/// description are configurable; the rest is empty, as on a fresh PeerTube).
pub async fn about(State(app): State<SharedApp>) -> Json<Value> {
    let inst = &app.config.instance;
    Json(json!({"instance": {
        "name": inst.name,
        "shortDescription": inst.short_description,
        "description": "",
        "terms": "",
        "codeOfConduct": "",
        "hardwareInformation": "",
        "creationReason": "",
        "moderationInformation": "",
        "administrator": "",
        "maintenanceLifetime": "",
        "businessModel": "",
        "languages": [],
        "categories": [],
        "banners": [],
        "avatars": [],
    }}))
}

/// The activity types PeerTube counts in its per-type ActivityPub statistics.
const ACTIVITY_TYPES: [&str; 15] = [
    "Create",
    "Update",
    "Delete",
    "Follow",
    "Accept",
    "Announce",
    "Undo",
    "Like",
    "Reject",
    "View",
    "Dislike",
    "Flag",
    "ApproveReply",
    "RejectReply",
    "Download",
];

/// The counts `stats` reports, read from the store.
struct Counts {
    users: usize,
    moderators: usize,
    admins: usize,
    local_videos: usize,
    videos: usize,
    local_files_bytes: u64,
    channels: usize,
}

fn counts(app: &App) -> Result<Counts, StoreError> {
    let users = app.store.scan::<UserKey>(&())?;
    let videos: Vec<Video> = app
        .store
        .scan::<VideoKey>(&())?
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    let mut local_files_bytes = 0;
    for v in videos.iter().filter(|v| v.is_local()) {
        local_files_bytes += app
            .store
            .video_files(v.id)?
            .iter()
            .map(|f| f.rendition.size)
            .sum::<u64>();
    }
    Ok(Counts {
        users: users.len(),
        moderators: users
            .iter()
            .filter(|(_, u)| u.role == Role::Moderator)
            .count(),
        admins: users
            .iter()
            .filter(|(_, u)| u.role == Role::Administrator)
            .count(),
        local_videos: videos.iter().filter(|v| v.is_local()).count(),
        videos: videos.len(),
        local_files_bytes,
        channels: app.store.count::<ChannelKey>(&())?,
    })
}

/// `GET /api/v1/server/stats`: PeerTube's instance statistics. Fleuve counts users, videos,
/// channels and file bytes; what it does not track (views, comments, playlists, abuses,
/// activity) is 0.
pub async fn stats(State(app): State<SharedApp>) -> Result<Json<Value>, ApiError> {
    let a = app.clone();
    let (c, mirrors) = app
        .pool
        .run(move || -> Result<_, StoreError> { Ok((counts(&a)?, crate::redundancy::usage(&a)?)) })
        .await??;
    let mut doc = json!({
        "totalUsers": c.users,
        "totalDailyActiveUsers": 0,
        "totalWeeklyActiveUsers": 0,
        "totalMonthlyActiveUsers": 0,
        "totalModerators": c.moderators,
        "totalAdmins": c.admins,
        "totalLocalVideos": c.local_videos,
        "totalLocalVideoViews": 0,
        "totalLocalVideoDownloads": 0,
        "totalLocalVideoComments": 0,
        "totalLocalVideoFilesSize": c.local_files_bytes,
        "totalVideos": c.videos,
        "totalVideoComments": 0,
        "totalLocalVideoChannels": c.channels,
        "totalLocalDailyActiveVideoChannels": 0,
        "totalLocalWeeklyActiveVideoChannels": 0,
        "totalLocalMonthlyActiveVideoChannels": 0,
        "totalLocalPlaylists": 0,
        "totalInstanceFollowers": 0,
        "totalInstanceFollowing": 0,
        // PeerTube's `VideosRedundancyStats`, one per strategy (and `manual`).
        "videosRedundancy": mirrors.iter().map(|(strategy, size, used, n)| json!({
            "strategy": strategy, "totalSize": size, "totalUsed": used,
            "totalVideoFiles": n, "totalVideos": n,
        })).collect::<Vec<_>>(),
        // Beyond PeerTube: bytes viewers took from our mirrors since the start.
        "redundancyBytesServed": app.metrics.mirror_bytes(),
        "totalActivityPubMessagesProcessed": 0,
        "totalActivityPubMessagesSuccesses": 0,
        "totalActivityPubMessagesErrors": 0,
        "activityPubMessagesProcessedPerSecond": 0,
        "totalActivityPubMessagesWaiting": 0,
        "averageRegistrationRequestResponseTimeMs": 0,
        "totalRegistrationRequestsProcessed": 0,
        "totalRegistrationRequests": 0,
        "averageAbuseResponseTimeMs": 0,
        "totalAbusesProcessed": 0,
        "totalAbuses": 0,
    });
    for t in ACTIVITY_TYPES {
        doc[format!("totalActivityPub{t}MessagesSuccesses")] = json!(0);
        doc[format!("totalActivityPub{t}MessagesErrors")] = json!(0);
    }
    Ok(Json(doc))
}
