//! Instance-level endpoints: `GET /api/v1/config` (what PeerTube clients read first), the admin
//! status (engine, shards, I/O backend) and `/metrics`.

use super::auth::AdminUser;
use crate::app::SharedApp;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::{header, HeaderValue};
use serde_json::{json, Value};
use std::sync::atomic::Ordering::Relaxed;

/// PeerTube's resolution ladder.
pub const RESOLUTIONS: [u32; 8] = [144, 240, 360, 480, 720, 1080, 1440, 2160];

/// `GET /api/v1/config`.
pub async fn config(State(app): State<SharedApp>) -> Json<Value> {
    let inst = &app.config.instance;
    Json(json!({
        "instance": {
            "name": inst.name,
            "shortDescription": inst.short_description,
            "defaultClientRoute": "/videos/recently-added",
            "isNSFW": false,
            "defaultNSFWPolicy": "do_not_list",
            "customizations": {"javascript": "", "css": ""},
        },
        "serverVersion": "7.0.0",
        "serverCommit": concat!("fleuve-", env!("CARGO_PKG_VERSION")),
        "fleuve": {"version": env!("CARGO_PKG_VERSION")},
        "signup": {
            "allowed": false,
            "allowedForCurrentIP": false,
            "minimumAge": 16,
            "requiresApproval": false,
            "requiresEmailVerification": false,
        },
        "transcoding": {
            "hls": {"enabled": true},
            "web_videos": {"enabled": false},
            "webVideos": {"enabled": false},
            "enabledResolutions": RESOLUTIONS,
            "profile": "default",
            "availableProfiles": ["default"],
            "remoteRunners": {"enabled": false},
        },
        "live": {"enabled": false},
        "import": {"videos": {"http": {"enabled": false}, "torrent": {"enabled": false}}},
        "tracker": {"enabled": true},
        "federation": {"enabled": true},
        "user": {"videoQuota": -1, "videoQuotaDaily": -1},
        "video": {
            "file": {"extensions": [".mp4", ".webm", ".ogv", ".mkv", ".mov", ".m4v", ".avi", ".flv", ".ts", ".mts"]},
            "image": {"extensions": [".png", ".jpg", ".jpeg", ".webp"]},
        },
        "webrtc": {"stunServers": []},
    }))
}

/// `GET /api/v1/admin/status`: the engine as running (admin only).
pub async fn status(State(app): State<SharedApp>, _admin: AdminUser) -> Json<Value> {
    let shards: Vec<Value> = app
        .engine
        .shards
        .iter()
        .zip(app.metrics.shards())
        .map(|(info, m)| {
            json!({
                "index": info.index,
                "core": info.core,
                "connectionsOpen": m.connections_open.load(Relaxed),
                "connectionsAccepted": m.connections_total.load(Relaxed),
                "cacheBytes": m.cache_bytes.load(Relaxed),
                "cacheHits": m.cache_hits.load(Relaxed),
                "cacheMisses": m.cache_misses.load(Relaxed),
            })
        })
        .collect();
    let mut doc = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptimeSecs": app.started.elapsed().as_secs(),
        "publicUrl": app.public_url,
        "listen": app.engine.listen,
        "tls": app.engine.tls,
        "shardCount": shards.len(),
        "shards": shards,
        "io": {"backend": app.engine.io_backend, "fallbackReason": app.engine.io_fallback_reason},
        "cacheBytesPerShard": app.engine.cache_bytes_per_shard,
        "dataDir": app.data_dir,
        "federation": app.federation.status_json(&app.store),
    });
    crate::web::admin::extend_status(&app, &mut doc);
    Json(doc)
}

/// `GET /metrics` in the Prometheus text format.
pub async fn metrics(State(app): State<SharedApp>) -> Response {
    let mut text = app.metrics.render();
    app.tracker.render_metrics(&mut text);
    crate::transcode::runner::render_metrics(&app.transcoder, &mut text);
    app.federation.render_metrics(&app.store, &mut text);
    let mut r = text.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}
