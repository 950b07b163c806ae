//! Instance-level operator endpoints: the admin status (each subsystem's part: engine, shards,
//! I/O, federation, connections, store, jobs, hardware, tracker, cache) and `/metrics`. What
//! clients read about the instance is [`super::server_config`]'s.

use super::auth::AdminUser;
use crate::app::SharedApp;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::{header, HeaderValue};
use serde_json::{json, Value};
use std::sync::atomic::Ordering::Relaxed;

/// `/api/v1/admin/status` and `/metrics`.
pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route("/api/v1/admin/status", get(status))
        .route("/metrics", get(metrics))
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
    let doc = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptimeSecs": app.started.elapsed().as_secs(),
        "publicUrl": app.public_url,
        "listen": app.engine.listen,
        "tls": app.engine.tls,
        "http3": app.engine.http3,
        "kernelTls": app.engine.kernel_tls.as_ref().map(|k| match k {
            Ok(k) => json!({"available": true, "used": k.used, "suites": k.suites}),
            Err(why) => json!({"available": false, "reason": why}),
        }),
        "shardCount": shards.len(),
        "shards": shards,
        "io": {"backend": app.engine.io_backend, "fallbackReason": app.engine.io_fallback_reason},
        "cacheBytesPerShard": app.engine.cache_bytes_per_shard,
        "dataDir": app.data_dir,
        "federation": app.federation.status_json(&app.store),
        "connections": app.conn_limits.status_json(),
        "store": crate::runtime::disk::status_json(&app),
        "jobs": crate::transcode::status::jobs(&app),
        "remoteRunners": app.runners.status_json(),
        "hardware": crate::transcode::status::hardware(),
        "tracker": app.tracker.status_json(),
        "cache": app.metrics.cache_status_json(),
        "objectStorage": super::storage::object_storage_status(&app).await,
    });
    Json(doc)
}

/// `GET /metrics` in the Prometheus text format: for loopback clients, holders of
/// `metrics.token`, or anyone when `metrics.public` (403 otherwise).
pub async fn metrics(
    State(app): State<SharedApp>,
    client: Option<axum::Extension<crate::app::ClientAddr>>,
    headers: http::HeaderMap,
) -> Response {
    if !metrics_allowed(&app.config.metrics, client.map(|c| c.0 .0.ip()), &headers) {
        return (
            http::StatusCode::FORBIDDEN,
            "/metrics is for loopback clients and holders of metrics.token\n",
        )
            .into_response();
    }
    let mut text = app.metrics.render();
    app.conn_limits.render_metrics(&mut text);
    crate::runtime::disk::render_metrics(&app, &mut text);
    app.tracker.render_metrics(&mut text);
    crate::transcode::runner::render_metrics(&app.transcoder, &mut text);
    app.runners.render_metrics(&mut text);
    app.federation.render_metrics(&app.store, &mut text);
    app.redundancy.render_metrics(&mut text);
    if let Some(u) = &app.edge_upstream {
        u.render_metrics(&mut text);
    }
    let mut r = text.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

/// Whether `/metrics` may be shown to this client.
pub(crate) fn metrics_allowed(
    config: &crate::config::MetricsConfig,
    ip: Option<std::net::IpAddr>,
    headers: &http::HeaderMap,
) -> bool {
    if config.public || ip.is_some_and(|ip| ip.to_canonical().is_loopback()) {
        return true;
    }
    if config.token.is_empty() {
        return false;
    }
    let given = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    // Constant time: the token is a secret.
    use sha2::Digest;
    sha2::Sha256::digest(given.as_bytes()) == sha2::Sha256::digest(config.token.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_for_loopback_and_token_holders() {
        let mut c = crate::config::MetricsConfig::default();
        let none = http::HeaderMap::new();
        let remote: std::net::IpAddr = "192.0.2.1".parse().unwrap();
        assert!(metrics_allowed(
            &c,
            Some("127.0.0.1".parse().unwrap()),
            &none
        ));
        assert!(metrics_allowed(
            &c,
            Some("::ffff:127.0.0.1".parse().unwrap()),
            &none
        ));
        assert!(!metrics_allowed(&c, Some(remote), &none));
        c.token = "s3cret".into();
        let mut h = http::HeaderMap::new();
        h.insert("authorization", "Bearer s3cret".parse().unwrap());
        assert!(metrics_allowed(&c, Some(remote), &h));
        h.insert("authorization", "Bearer nope".parse().unwrap());
        assert!(!metrics_allowed(&c, Some(remote), &h));
        c.public = true;
        assert!(metrics_allowed(&c, Some(remote), &none));
    }
}
