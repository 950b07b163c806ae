//! The files pages load: our own stylesheet, icon and scripts (compiled into the binary, served
//! at `/assets/{name}`, immutable when asked for with their content version), and the npm player
//! packages (hls.js, p2p-media-loader) that setup copies into `[web] assets_dir`, served at
//! `/assets/vendor/{name}` (gzip when a `.gz` twin exists and the client accepts it).

use crate::app::{App, SharedApp};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::UNIX_EPOCH;

/// Our own front-end files: name, content type, bytes.
const OWN: &[(&str, &str, &str)] = &[
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../../web/src/style.css"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_str!("../../web/src/favicon.svg"),
    ),
    (
        "common.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/src/common.js"),
    ),
    (
        "session.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/src/session.js"),
    ),
    (
        "player.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/src/player.js"),
    ),
    (
        "watch-private.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/src/watch-private.js"),
    ),
    (
        "sha256.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/src/sha256.js"),
    ),
    (
        "login.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/src/login.js"),
    ),
    (
        "upload.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/src/upload.js"),
    ),
    (
        "admin.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/src/admin.js"),
    ),
    (
        "signup.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/src/signup.js"),
    ),
    (
        "my-videos.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/src/my-videos.js"),
    ),
    (
        "my-channels.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/src/my-channels.js"),
    ),
    (
        "moderation.js",
        "text/javascript; charset=utf-8",
        include_str!("../../web/src/moderation.js"),
    ),
];

/// The vendor files setup provides (`scripts/setup.sh` copies them from `web/node_modules`).
pub const VENDOR: &[&str] = &[
    "hls.min.js",
    "p2p-media-loader-core.es.min.js",
    "p2p-media-loader-hlsjs.es.min.js",
];

/// Where the vendor files are looked for when `web.assets_dir` is empty and no system-wide
/// copy exists: the source tree this binary was built from.
const BUILD_TREE_ASSETS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/web/dist");
/// A system-wide install's assets.
const SYSTEM_ASSETS: &str = "/usr/share/fleuve/web";

/// A short content version of each own file (first 10 hex digits of its SHA-256).
fn versions() -> &'static HashMap<&'static str, String> {
    static V: OnceLock<HashMap<&'static str, String>> = OnceLock::new();
    V.get_or_init(|| {
        OWN.iter()
            .map(|(name, _, body)| (*name, hex::encode(&Sha256::digest(body.as_bytes())[..5])))
            .collect()
    })
}

/// The versioned URL of one of our own files (`/assets/style.css?v=…`).
pub fn url(name: &str) -> String {
    match versions().get(name) {
        Some(v) => format!("/assets/{name}?v={v}"),
        None => format!("/assets/{name}"),
    }
}

/// The import map that lets our modules import the npm packages by name.
pub fn import_map() -> &'static str {
    r#"{"imports":{"p2p-media-loader-core":"/assets/vendor/p2p-media-loader-core.es.min.js","p2p-media-loader-hlsjs":"/assets/vendor/p2p-media-loader-hlsjs.es.min.js"}}"#
}

/// The CSP source allowing the inline import map (`sha256-…`).
pub fn import_map_hash() -> &'static str {
    static H: OnceLock<String> = OnceLock::new();
    H.get_or_init(|| {
        format!(
            "sha256-{}",
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(import_map()))
        )
    })
}

/// The vendor folder in use: `web.assets_dir`, else the system-wide copy, else the build tree's.
pub fn dir(app: &App) -> PathBuf {
    if let Some(dir) = &app.config.web.assets_dir {
        return dir.clone();
    }
    let system = PathBuf::from(SYSTEM_ASSETS);
    if system.join(VENDOR[0]).is_file() {
        return system;
    }
    PathBuf::from(BUILD_TREE_ASSETS)
}

/// `?v=` of an asset URL.
#[derive(Debug, serde::Deserialize)]
pub struct VersionQuery {
    v: Option<String>,
}

fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
}

fn set(r: &mut Response, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}

/// `GET /assets/{name}`: one of our own files.
pub async fn own(
    Path(name): Path<String>,
    Query(q): Query<VersionQuery>,
    headers: HeaderMap,
) -> Response {
    let Some((_, content_type, body)) = OWN.iter().find(|(n, _, _)| *n == name) else {
        return (StatusCode::NOT_FOUND, "no such asset\n").into_response();
    };
    let version = &versions()[name.as_str()];
    let etag = format!("\"{version}\"");
    let cache = if q.v.as_deref() == Some(version.as_str()) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut r = if not_modified(&headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = (*body).into_response();
        set(&mut r, header::CONTENT_TYPE, content_type);
        r
    };
    set(&mut r, header::ETAG, &etag);
    set(&mut r, header::CACHE_CONTROL, cache);
    set(&mut r, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    r
}

/// Whether a vendor file name is one we serve (no paths, no hidden files).
fn vendor_name_ok(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
}

fn content_type_of(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("map" | "json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// `GET /assets/vendor/{name}`: a file of the assets folder.
pub async fn vendor(
    State(app): State<SharedApp>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !vendor_name_ok(&name) {
        return (StatusCode::NOT_FOUND, "no such asset\n").into_response();
    }
    let root = dir(&app);
    let gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    let plain = root.join(&name);
    let zipped = root.join(format!("{name}.gz"));
    let read = app
        .pool
        .run(move || {
            let pick = if gzip && zipped.is_file() {
                Some((zipped, true))
            } else if plain.is_file() {
                Some((plain, false))
            } else {
                None
            };
            pick.map(|(p, z)| {
                let meta = std::fs::metadata(&p)?;
                std::fs::read(&p).map(|b| (b, z, meta))
            })
            .transpose()
        })
        .await;
    let (bytes, zipped, meta) = match read {
        Ok(Ok(Some(found))) => found,
        Ok(Ok(None)) => {
            static WARNED: AtomicBool = AtomicBool::new(false);
            if !WARNED.swap(true, Ordering::Relaxed) {
                tracing::warn!(dir = %root.display(), file = %name,
                    "player assets missing: run scripts/setup.sh or set web.assets_dir");
            }
            return (
                StatusCode::NOT_FOUND,
                // The folder is in the log, not in the answer (no server paths to clients).
                format!("asset {name} not found; the server's log says where it was looked for\n"),
            )
                .into_response();
        }
        Ok(Err(e)) => {
            tracing::error!(file = %name, error = %e, "cannot read asset");
            return (StatusCode::INTERNAL_SERVER_ERROR, "cannot read asset\n").into_response();
        }
        Err(_) => return (StatusCode::SERVICE_UNAVAILABLE, "busy\n").into_response(),
    };
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let etag = format!(
        "\"{:x}-{:x}{}\"",
        meta.len(),
        mtime,
        if zipped { "-gz" } else { "" }
    );
    let mut r = if not_modified(&headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = bytes.into_response();
        set(&mut r, header::CONTENT_TYPE, content_type_of(&name));
        if zipped {
            set(&mut r, header::CONTENT_ENCODING, "gzip");
        }
        r
    };
    set(&mut r, header::ETAG, &etag);
    set(&mut r, header::VARY, "Accept-Encoding");
    set(&mut r, header::CACHE_CONTROL, "public, max-age=86400");
    set(&mut r, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(&mut r, header::ACCESS_CONTROL_ALLOW_ORIGIN, "*");
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_names_cannot_leave_the_folder() {
        assert!(vendor_name_ok("hls.min.js"));
        for bad in ["", "../x", "a/b", ".hidden", "..", "x%2f", "a\\b"] {
            assert!(!vendor_name_ok(bad), "{bad}");
        }
    }

    #[test]
    fn own_urls_carry_a_version() {
        assert!(url("style.css").starts_with("/assets/style.css?v="));
        assert_eq!(import_map_hash().len(), "sha256-".len() + 44);
    }
}
