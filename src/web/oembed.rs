//! `GET /services/oembed?url=<watch page>`: the oEmbed document (type `video`, an iframe of the
//! embed page) that fediverse and chat software fetch to unfurl a link, in PeerTube's shape.

use super::html::esc;
use super::pages::find_public;
use crate::app::SharedApp;
use crate::video::urls::PublicUrls;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::StatusCode;
use serde::Deserialize;
use serde_json::json;

/// Default iframe size (PeerTube's).
const WIDTH: u32 = 560;
const HEIGHT: u32 = 315;

/// The query.
#[derive(Debug, Deserialize)]
pub struct OembedQuery {
    url: Option<String>,
    format: Option<String>,
    maxwidth: Option<String>,
    maxheight: Option<String>,
}

fn error(status: StatusCode, message: String) -> Response {
    (
        status,
        Json(json!({"error": message, "status": status.as_u16()})),
    )
        .into_response()
}

/// The video key in one of our watch URLs (`/w/{short}`, `/videos/watch/{uuid}`, the embed).
fn video_key<'a>(public_url: &str, url: &'a str) -> Option<&'a str> {
    let path = url.strip_prefix(public_url)?;
    let path = path.split(['?', '#']).next().unwrap_or_default();
    ["/w/", "/videos/watch/", "/videos/embed/"]
        .iter()
        .find_map(|p| path.strip_prefix(p))
        .filter(|k| !k.is_empty() && !k.contains('/'))
}

fn bound(v: Option<&str>, default: u32) -> Result<u32, String> {
    match v {
        None => Ok(default),
        Some(s) => s
            .trim()
            .parse::<u32>()
            .map(|n| n.min(default))
            .map_err(|_| format!("maxwidth and maxheight must be numbers (got {s:?})")),
    }
}

/// `GET /services/oembed`.
pub async fn oembed(State(app): State<SharedApp>, Query(q): Query<OembedQuery>) -> Response {
    if let Some(f) = q.format.as_deref().filter(|f| *f != "json") {
        return error(
            StatusCode::NOT_IMPLEMENTED,
            format!("format {f:?} is not supported; use json"),
        );
    }
    let Some(url) = q.url.as_deref() else {
        return error(StatusCode::BAD_REQUEST, "url is required".into());
    };
    let Some(key) = video_key(&app.public_url, url) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("{url:?} is not a video page of {}", app.public_url),
        );
    };
    let video = match find_public(&app, key) {
        Ok(Some(v)) => v,
        Ok(None) => return error(StatusCode::NOT_FOUND, format!("video {key} not found")),
        Err(e) => return e.into_response(),
    };
    let (width, height) = match (
        bound(q.maxwidth.as_deref(), WIDTH),
        bound(q.maxheight.as_deref(), HEIGHT),
    ) {
        (Ok(w), Ok(h)) => (w, h),
        (Err(e), _) | (_, Err(e)) => return error(StatusCode::BAD_REQUEST, e),
    };
    let base = &app.public_url;
    let urls = PublicUrls::new(base);
    let embed = urls.embed(&video.uuid);
    let html = format!(
        "<iframe width=\"{width}\" height=\"{height}\" sandbox=\"allow-same-origin allow-scripts allow-popups allow-forms\" \
         title=\"{}\" src=\"{}\" style=\"border: none;\" allow=\"fullscreen\"></iframe>",
        esc(&video.name),
        esc(&embed)
    );
    let mut doc = json!({
        "type": "video",
        "version": "1.0",
        "title": video.name,
        "provider_name": app.config.instance.name,
        "provider_url": base,
        "html": html,
        "width": width,
        "height": height,
        "url": urls.short_watch(&video.uuid),
    });
    if let Some(p) = &video.preview {
        doc["thumbnail_url"] = json!(urls.preview(p));
        doc["thumbnail_width"] = json!(850);
        doc["thumbnail_height"] = json!(480);
    }
    if let Ok(Some(owner)) = app.store.get(&crate::store::tables::UserKey(video.owner)) {
        doc["author_name"] = json!(owner.display_name);
        doc["author_url"] = json!(format!("{base}/accounts/{}", owner.username.to_lowercase()));
    }
    Json(doc).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_watch_urls_name_a_video() {
        let base = "http://v.example";
        assert_eq!(video_key(base, "http://v.example/w/abc"), Some("abc"));
        assert_eq!(
            video_key(base, "http://v.example/videos/watch/u-u?start=3"),
            Some("u-u")
        );
        assert_eq!(video_key(base, "http://other.example/w/abc"), None);
        assert_eq!(video_key(base, "http://v.example/w/"), None);
        assert_eq!(video_key(base, "http://v.example/w/a/b"), None);
        assert_eq!(video_key(base, "http://v.example/api/v1/videos/x"), None);
    }
}
