//! The pages: home (latest videos, paged), watch (player, Open Graph and oEmbed tags), embed,
//! and the shells of the login, upload and admin pages, whose content their scripts fetch with
//! the user's token.

use super::error::WebError;
use super::html::{esc, script_json, Nav, Page};
use crate::app::{App, SharedApp};
use crate::store::tables::{ChannelKey, UserKey};
use crate::video::urls::{self, PublicUrls};
use crate::video::{Video, VideoRef};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Deserialize;
use serde_json::Value;

/// Videos per home page.
const PAGE_SIZE: usize = 24;

/// A video anyone may watch (published; public or unlisted) by uuid (with or without hyphens)
/// or short uuid.
pub fn find_public(app: &App, key: &str) -> Result<Option<Video>, WebError> {
    let video = match VideoRef::parse_uuid(key) {
        Some(r) => app.store.video(&r)?,
        None => None,
    };
    Ok(video.filter(Video::is_viewable))
}

/// `1:05`, `1:02:03`.
fn duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// `2026-11-26`.
fn date(secs: u64) -> String {
    crate::time::iso8601(secs)
        .split('T')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Who published a video: the channel's display name, else the account's.
fn author(app: &App, video: &Video) -> String {
    if let Ok(Some(c)) = app.store.get(&ChannelKey(video.channel_id)) {
        return c.display_name;
    }
    match app.store.get(&UserKey(video.owner)) {
        Ok(Some(u)) => u.display_name,
        _ => String::new(),
    }
}

fn error_page(app: &App, status: StatusCode, title: &str, text: &str) -> Response {
    Page {
        title,
        nav: None,
        head: String::new(),
        body: format!(
            "<section class=\"notice\"><h1>{}</h1><p>{}</p><p><a class=\"button\" href=\"/\">Back to the videos</a></p></section>",
            esc(title),
            esc(text)
        ),
        scripts: &[],
        player: false,
        frameable: false,
        bare: false,
    }
    .render_with(app, status)
}

fn internal(app: &App, e: WebError) -> Response {
    tracing::error!(error = ?e, "page failed");
    error_page(
        app,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "The server could not build this page. Try again in a moment.",
    )
}

/// A URL of another site, when it is a plain http(s) one (no `javascript:` and the like).
fn web_url(v: &Value) -> Option<&str> {
    v.as_str()
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
}

/// One video of the home grid, from its API document so that videos of other instances (which
/// play and show their thumbnails from their origin) render like ours.
fn card(app: &App, v: &Video) -> String {
    let doc = crate::api::videos::video_json(app, v, false).unwrap_or(Value::Null);
    let local = doc["isLocal"].as_bool().unwrap_or(true);
    let href = if local {
        urls::short_watch_path(&v.uuid)
    } else {
        web_url(&doc["origin"]["watchUrl"])
            .or_else(|| web_url(&doc["url"]))
            .map(str::to_string)
            .unwrap_or_else(|| urls::short_watch_path(&v.uuid))
    };
    // A remote video's thumbnailPath is its origin's path: its thumbnailUrl says where.
    let thumb_src = if local {
        doc["thumbnailPath"].as_str().filter(|p| p.starts_with('/'))
    } else {
        web_url(&doc["thumbnailUrl"])
    };
    let thumb = match thumb_src {
        Some(src) => format!(
            "<img src=\"{}\" alt=\"\" loading=\"lazy\" width=\"280\" height=\"157\">",
            esc(src)
        ),
        None => "<span class=\"no-thumb\" aria-hidden=\"true\"></span>".into(),
    };
    let author = doc["channel"]["displayName"]
        .as_str()
        .or_else(|| doc["account"]["displayName"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| author(app, v));
    let origin = match doc["origin"]["host"].as_str() {
        Some(host) if !local => format!(" · <span class=\"origin\">{}</span>", esc(host)),
        _ => String::new(),
    };
    let published = v.published_at.unwrap_or(v.created_at);
    format!(
        "<li class=\"card\"><a href=\"{href}\"><span class=\"thumb\">{thumb}<span class=\"duration\">{dur}</span></span>\
         <span class=\"card-title\">{name}</span></a><span class=\"card-meta\">{author}{origin} · <time datetime=\"{iso}\">{date}</time></span></li>",
        href = esc(&href),
        dur = duration(v.duration),
        name = esc(&v.name),
        author = esc(&author),
        iso = crate::time::iso8601(published),
        date = date(published),
    )
}

/// The Newer/Older links under the grid (nothing when everything fits on one page).
fn pager(page: usize, pages: usize) -> String {
    if pages <= 1 {
        return String::new();
    }
    let mut s = String::from("<nav class=\"pager\" aria-label=\"Pages\">");
    if page > 1 {
        s.push_str(&format!(
            "<a class=\"button\" rel=\"prev\" href=\"/?page={}\">← Newer</a>",
            (page - 1).min(pages)
        ));
    }
    s.push_str(&format!("<span>Page {} of {pages}</span>", page.min(pages)));
    if page < pages {
        s.push_str(&format!(
            "<a class=\"button\" rel=\"next\" href=\"/?page={}\">Older →</a>",
            page + 1
        ));
    }
    s.push_str("</nav>");
    s
}

/// `?page=`.
#[derive(Debug, Deserialize)]
pub struct HomeQuery {
    page: Option<String>,
}

/// `GET /`: the latest public videos, newest first, [`PAGE_SIZE`] a page.
pub async fn home(State(app): State<SharedApp>, Query(q): Query<HomeQuery>) -> Response {
    let page = match q.page.as_deref().map(|p| p.trim().parse::<usize>()) {
        None => 1,
        Some(Ok(n)) if n >= 1 => n,
        Some(_) => {
            return error_page(
                &app,
                StatusCode::BAD_REQUEST,
                "No such page",
                "The page number must be a whole number from 1 up.",
            )
        }
    };
    // One page of the listed videos, newest first, from the sort index (as the API's list:
    // keys up to the page, not the whole table), without what the instance blocks.
    let start = (page - 1).saturating_mul(PAGE_SIZE);
    let q = crate::api::video_list::Query {
        scope: crate::store::video_index::Scope::Listed,
        sort: crate::store::video_index::SortKey::PublishedAt,
        desc: true,
        filter: crate::api::video_query::Filter::default()
            .hiding_blocked(&app.federation.blocklist),
        start: start.min(crate::api::video_query::MAX_START),
        count: if start > crate::api::video_query::MAX_START {
            0
        } else {
            PAGE_SIZE
        },
        with_total: true,
    };
    let a = app.clone();
    let (total, videos) = match app
        .pool
        .run(move || crate::api::video_list::page(&a.store, &q))
        .await
    {
        Ok(Ok((total, videos))) => (total as usize, videos),
        Ok(Err(e)) => return internal(&app, e.into()),
        Err(e) => return internal(&app, e.into()),
    };
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let mut body = String::new();
    body.push_str(&format!(
        "<section class=\"hero\"><h1>Latest videos</h1><p class=\"lead\">{}</p></section>",
        esc(&app.config.instance.short_description)
    ));
    let shown: Vec<&Video> = videos.iter().collect();
    if shown.is_empty() && total > 0 {
        body.push_str(
            "<section class=\"empty\"><h2>No videos on this page</h2>\
             <p><a class=\"button\" href=\"/\">Back to the latest videos</a></p></section>",
        );
    } else if shown.is_empty() {
        body.push_str(
            "<section class=\"empty\"><h2>No videos here yet</h2>\
             <p>Videos appear here once they are uploaded and transcoded.</p>\
             <p><a class=\"button primary\" href=\"/upload\">Upload a video</a></p></section>",
        );
    } else {
        body.push_str("<ul class=\"grid\" aria-label=\"Videos\">");
        for v in shown {
            body.push_str(&card(&app, v));
        }
        body.push_str("</ul>");
    }
    body.push_str(&pager(page, pages));
    Page {
        title: "Videos",
        nav: Some(Nav::Videos),
        head: format!(
            "<meta name=\"description\" content=\"{}\">",
            esc(&app.config.instance.short_description)
        ),
        body,
        scripts: &[],
        player: false,
        frameable: false,
        bare: false,
    }
    .render(&app)
}

/// The player markup and the video's API document for `player.js`.
fn player_block(app: &App, video: &Video, embed: bool) -> Result<String, WebError> {
    let doc = crate::api::videos::video_json(app, video, true)?;
    let poster = video
        .preview
        .as_ref()
        .map(|p| format!(" poster=\"{}\"", esc(&urls::preview_path(p))))
        .unwrap_or_default();
    let mut s = format!(
        "<div class=\"player{}\" data-player>\
         <video id=\"video\" controls playsinline preload=\"metadata\"{poster} aria-label=\"{}\"></video>\
         <p class=\"player-error\" role=\"alert\" hidden></p></div>",
        if embed { " embed" } else { "" },
        esc(&video.name),
    );
    s.push_str("<div class=\"player-bar\">");
    s.push_str(
        "<label class=\"quality\">Quality <select id=\"quality\" disabled><option value=\"-1\">Auto</option></select></label>",
    );
    s.push_str(
        "<p class=\"p2p-stats\" id=\"p2p-stats\" aria-live=\"polite\"><span class=\"dot\" aria-hidden=\"true\"></span>\
         <span data-stat=\"summary\">P2P starting…</span></p>",
    );
    s.push_str("</div>");
    s.push_str(&format!(
        "<script type=\"application/json\" id=\"video-data\">{}</script>",
        script_json(&doc)
    ));
    Ok(s)
}

/// The watch page of a published video.
pub fn watch(app: &SharedApp, video: &Video) -> Response {
    let base = &app.public_url;
    let public = PublicUrls::new(base);
    let page_url = public.short_watch(&video.uuid);
    let embed_url = public.embed(&video.uuid);
    let player = match player_block(app, video, false) {
        Ok(p) => p,
        Err(e) => return internal(app, e),
    };
    let description = video.description.clone().unwrap_or_default();
    let summary: String = if description.is_empty() {
        format!("A video on {}", app.config.instance.name)
    } else {
        description.chars().take(200).collect()
    };
    let mut head = String::new();
    let meta = |head: &mut String, attr: &str, key: &str, value: &str| {
        head.push_str(&format!(
            "<meta {attr}=\"{key}\" content=\"{}\">",
            esc(value)
        ));
    };
    meta(&mut head, "name", "description", &summary);
    meta(&mut head, "property", "og:type", "video.other");
    meta(
        &mut head,
        "property",
        "og:site_name",
        &app.config.instance.name,
    );
    meta(&mut head, "property", "og:title", &video.name);
    meta(&mut head, "property", "og:description", &summary);
    meta(&mut head, "property", "og:url", &page_url);
    if let Some(p) = &video.preview {
        meta(&mut head, "property", "og:image", &public.preview(p));
        meta(&mut head, "property", "og:image:width", "850");
        meta(&mut head, "property", "og:image:height", "480");
        meta(&mut head, "property", "og:image:alt", &video.name);
    }
    meta(&mut head, "property", "og:video:url", &embed_url);
    meta(&mut head, "property", "og:video:secure_url", &embed_url);
    meta(&mut head, "property", "og:video:type", "text/html");
    meta(&mut head, "property", "og:video:width", "1280");
    meta(&mut head, "property", "og:video:height", "720");
    meta(&mut head, "name", "twitter:card", "player");
    meta(&mut head, "name", "twitter:title", &video.name);
    meta(&mut head, "name", "twitter:player", &embed_url);
    meta(&mut head, "name", "twitter:player:width", "1280");
    meta(&mut head, "name", "twitter:player:height", "720");
    head.push_str(&format!(
        "<link rel=\"canonical\" href=\"{}\">",
        esc(&page_url)
    ));
    head.push_str(&format!(
        "<link rel=\"alternate\" type=\"application/json+oembed\" href=\"{}\" title=\"{}\">",
        esc(&format!(
            "{base}/services/oembed?url={}&format=json",
            percent_encoding::utf8_percent_encode(&page_url, percent_encoding::NON_ALPHANUMERIC)
        )),
        esc(&video.name)
    ));
    head.push_str(&format!(
        "<link rel=\"alternate\" type=\"application/activity+json\" href=\"{}\">",
        esc(&public.watch(&video.uuid))
    ));
    let published = video.published_at.unwrap_or(video.created_at);
    let mut body = String::from("<article class=\"watch\">");
    body.push_str(&player);
    body.push_str(&format!(
        "<h1 class=\"watch-title\">{}</h1>",
        esc(&video.name)
    ));
    body.push_str(&format!(
        "<p class=\"watch-meta\">{} · <time datetime=\"{}\">{}</time> · {}</p>",
        esc(&author(app, video)),
        crate::time::iso8601(published),
        date(published),
        duration(video.duration)
    ));
    if !description.is_empty() {
        body.push_str("<div class=\"description\">");
        for para in description.split("\n\n") {
            body.push_str(&format!(
                "<p>{}</p>",
                esc(para.trim()).replace('\n', "<br>")
            ));
        }
        body.push_str("</div>");
    }
    let iframe = format!(
        "<iframe title=\"{}\" width=\"560\" height=\"315\" src=\"{embed_url}\" style=\"border: none;\" allow=\"fullscreen\" sandbox=\"allow-same-origin allow-scripts allow-popups\"></iframe>",
        esc(&video.name)
    );
    body.push_str(&format!(
        "<details class=\"share\"><summary>Share and embed</summary>\
         <label>Link <input type=\"text\" readonly value=\"{}\"></label>\
         <label>Embed code <textarea readonly rows=\"3\">{}</textarea></label></details>",
        esc(&page_url),
        esc(&iframe)
    ));
    body.push_str(
        "<p class=\"keys\"><strong>Keyboard:</strong> <kbd>Space</kbd> or <kbd>K</kbd> play/pause · \
         <kbd>←</kbd> <kbd>→</kbd> 5 s · <kbd>↑</kbd> <kbd>↓</kbd> volume · <kbd>M</kbd> mute · \
         <kbd>F</kbd> full screen · <kbd>0</kbd>–<kbd>9</kbd> jump</p>",
    );
    body.push_str("</article>");
    Page {
        title: &video.name,
        nav: Some(Nav::Videos),
        head,
        body,
        scripts: &["player.js"],
        player: true,
        frameable: false,
        bare: false,
    }
    .render_playing(app, &media_origins(app, video))
}

/// Where a video's files may come from besides here: another instance's origin, and the
/// mirrors of its playlist (the player spreads segments over them and falls back to them).
fn media_origins(app: &App, video: &Video) -> Vec<String> {
    let mut out: Vec<String> = video
        .remote
        .as_ref()
        .and_then(|r| r.playlist_url.clone())
        .into_iter()
        .collect();
    if let serde_json::Value::Array(mirrors) = crate::api::redundancy::redundancies(app, video) {
        out.extend(
            mirrors
                .iter()
                .filter_map(|m| m["baseUrl"].as_str().map(str::to_string)),
        );
    }
    out
}

/// The page for a video that does not exist, is not published yet, or is private.
pub fn missing_video(app: &App) -> Response {
    error_page(
        app,
        StatusCode::NOT_FOUND,
        "Video not found",
        "This video does not exist, is not published yet, or is private.",
    )
}

/// The page for a watch URL of no publicly watchable video: the same "not found" notice whether
/// the video does not exist or is private or internal (nothing leaks), plus a script that, for
/// a logged-in visitor, asks the API with the visitor's OAuth token and plays the video with a
/// video file token when it is theirs to watch (`watch-private.js`). The server cannot tell the
/// visitor: the session lives in the browser tab, not in a cookie.
pub fn restricted_video(app: &App, key: &str) -> Response {
    let body = format!(
        "<section class=\"notice\" id=\"restricted-notice\" data-video=\"{}\"><h1>Video not found</h1>\
         <p>This video does not exist, is not published yet, or is private.</p>\
         <p><a class=\"button\" href=\"/\">Back to the videos</a></p></section>\
         <article class=\"watch\" id=\"restricted-watch\" hidden></article>",
        esc(key)
    );
    Page {
        title: "Video not found",
        nav: Some(Nav::Videos),
        head: String::new(),
        body,
        scripts: &["watch-private.js"],
        player: true,
        frameable: false,
        bare: false,
    }
    .render_with(app, StatusCode::NOT_FOUND)
}

/// The origin's embed URL of a video federated from another instance (None for ours).
fn remote_embed(app: &App, video: &Video) -> Option<String> {
    let doc = crate::api::videos::video_json(app, video, false).ok()?;
    if doc["isLocal"].as_bool().unwrap_or(true) {
        return None;
    }
    let id = web_url(&doc["url"])?;
    id.contains("/videos/watch/")
        .then(|| id.replacen("/videos/watch/", "/videos/embed/", 1))
}

/// `GET /videos/embed/{uuid|shortUUID}`: the player alone, for iframes on other sites.
pub async fn embed(State(app): State<SharedApp>, Path(key): Path<String>) -> Response {
    let video = match find_public(&app, &key) {
        Ok(Some(v)) => v,
        Ok(None) => return missing_video(&app),
        Err(e) => return internal(&app, e),
    };
    // Another instance's video plays from its origin, embed included.
    if let Some(origin) = remote_embed(&app, &video) {
        return axum::response::Redirect::temporary(&origin).into_response();
    }
    let player = match player_block(&app, &video, true) {
        Ok(p) => p,
        Err(e) => return internal(&app, e),
    };
    let body = format!(
        "{player}<a class=\"embed-title\" href=\"{}\" target=\"_blank\" rel=\"noopener\">{}</a>",
        esc(&PublicUrls::new(&app.public_url).short_watch(&video.uuid)),
        esc(&video.name)
    );
    Page {
        title: &video.name,
        nav: None,
        head: String::new(),
        body,
        scripts: &["player.js"],
        player: true,
        frameable: true,
        bare: true,
    }
    .render_playing(&app, &media_origins(&app, &video))
}

/// `GET /login`: the sign-in form (OAuth password grant, done by `login.js`).
pub async fn login(State(app): State<SharedApp>) -> Response {
    let body = "<section class=\"panel narrow\"><h1>Log in</h1>\
        <form id=\"login-form\" class=\"form\" novalidate>\
        <label for=\"username\">User name</label>\
        <input id=\"username\" name=\"username\" autocomplete=\"username\" required autofocus>\
        <label for=\"password\">Password</label>\
        <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
        <p class=\"form-error\" id=\"login-error\" role=\"alert\" hidden></p>\
        <button class=\"button primary\" type=\"submit\">Log in</button></form>\
        <p class=\"hint\">No account yet? <a href=\"/signup\" id=\"signup-link\">Sign up</a>.</p>\
        <p class=\"hint\">The first account is <code>root</code>; its password is in <code>&lt;data-dir&gt;/root-password</code>.</p>\
        </section>"
        .to_string();
    Page {
        title: "Log in",
        nav: Some(Nav::Login),
        head: String::new(),
        body,
        scripts: &["login.js"],
        player: false,
        frameable: false,
        bare: false,
    }
    .render(&app)
}

/// The notice shown to visitors who are not logged in (scripts swap it for the content).
pub(super) fn login_needed(what: &str) -> String {
    format!(
        "<section class=\"panel narrow\" id=\"login-needed\"><h1>Log in to {what}</h1>\
         <p>This page needs an account on this instance.</p>\
         <p><a class=\"button primary\" id=\"login-link\" href=\"/login\">Log in</a></p></section>"
    )
}

/// `GET /upload`: resumable upload with progress, then transcoding progress (`upload.js`).
pub async fn upload(State(app): State<SharedApp>) -> Response {
    let mut body = login_needed("upload");
    body.push_str(
        "<section class=\"panel medium\" id=\"upload\" hidden><h1>Upload a video</h1>\
         <form id=\"upload-form\" class=\"form\">\
         <label for=\"file\">Video file</label>\
         <input id=\"file\" name=\"file\" type=\"file\" accept=\"video/*,.mkv,.mov,.mp4,.webm,.avi,.ts\" required>\
         <label for=\"name\">Title</label>\
         <input id=\"name\" name=\"name\" maxlength=\"120\" required>\
         <label for=\"description\">Description <span class=\"optional\">(optional)</span></label>\
         <textarea id=\"description\" name=\"description\" rows=\"3\"></textarea>\
         <label for=\"privacy\">Visibility</label>\
         <select id=\"privacy\" name=\"privacy\"><option value=\"1\">Public</option><option value=\"2\">Unlisted</option><option value=\"3\">Private</option></select>\
         <p class=\"form-error\" id=\"upload-error\" role=\"alert\" hidden></p>\
         <button class=\"button primary\" type=\"submit\" id=\"upload-button\">Upload</button></form>\
         <div class=\"progress-block\" id=\"progress-block\" hidden>\
         <label for=\"upload-progress\">Upload</label><progress id=\"upload-progress\" max=\"100\" value=\"0\"></progress>\
         <label for=\"transcode-progress\">Transcoding</label><progress id=\"transcode-progress\" max=\"100\" value=\"0\"></progress>\
         <p id=\"upload-status\" class=\"status\" role=\"status\" aria-live=\"polite\"></p>\
         <ul id=\"rungs\" class=\"rungs\"></ul>\
         <p id=\"upload-done\" hidden><a class=\"button primary\" id=\"watch-link\" href=\"/\">Watch the video</a></p>\
         </div></section>",
    );
    Page {
        title: "Upload",
        nav: Some(Nav::Upload),
        head: String::new(),
        body,
        scripts: &["upload.js"],
        player: false,
        frameable: false,
        bare: false,
    }
    .render(&app)
}

/// `GET /admin`: the instance at a glance (`admin.js` reads `/api/v1/admin/status`).
pub async fn admin(State(app): State<SharedApp>) -> Response {
    let mut body = login_needed("see the admin status");
    body.push_str(
        "<div id=\"admin\" hidden><div class=\"page-head\"><h1>Instance status</h1>\
         <p class=\"status\" id=\"admin-updated\" role=\"status\" aria-live=\"polite\">Loading…</p></div>\
         <p class=\"form-error\" id=\"admin-error\" role=\"alert\" hidden></p>\
         <section class=\"tiles\" id=\"tiles\" aria-label=\"Summary\"></section>\
         <section class=\"panel\" aria-labelledby=\"h-jobs\"><h2 id=\"h-jobs\">Transcoding jobs</h2><div id=\"jobs\"></div></section>\
         <section class=\"panel\" aria-labelledby=\"h-hw\"><h2 id=\"h-hw\">Hardware</h2><div id=\"hardware\"></div></section>\
         <div class=\"columns\">\
         <section class=\"panel\" aria-labelledby=\"h-tracker\"><h2 id=\"h-tracker\">Tracker</h2><div id=\"tracker\"></div></section>\
         <section class=\"panel\" aria-labelledby=\"h-cache\"><h2 id=\"h-cache\">Media cache</h2><div id=\"cache\"></div></section>\
         </div>\
         <section class=\"panel\" aria-labelledby=\"h-fed\"><h2 id=\"h-fed\">Federation</h2><div id=\"federation\"></div></section>\
         <section class=\"panel\" aria-labelledby=\"h-engine\"><h2 id=\"h-engine\">Engine</h2><div id=\"engine\"></div></section>\
         </div>",
    );
    Page {
        title: "Admin",
        nav: Some(Nav::Admin),
        head: String::new(),
        body,
        scripts: &["admin.js"],
        player: false,
        frameable: false,
        bare: false,
    }
    .render(&app)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pager_links_only_to_pages_that_exist() {
        assert_eq!(pager(1, 1), "");
        let first = pager(1, 3);
        assert!(!first.contains("rel=\"prev\"") && first.contains("href=\"/?page=2\""));
        let middle = pager(2, 3);
        assert!(middle.contains("/?page=1") && middle.contains("/?page=3"));
        let last = pager(3, 3);
        assert!(last.contains("/?page=2") && !last.contains("rel=\"next\""));
        // Past the end: back to the last page, no further.
        let beyond = pager(9, 3);
        assert!(
            beyond.contains("/?page=3") && !beyond.contains("rel=\"next\""),
            "{beyond}"
        );
    }

    #[test]
    fn durations_read_like_a_player() {
        assert_eq!(duration(0.0), "0:00");
        assert_eq!(duration(65.4), "1:05");
        assert_eq!(duration(3723.0), "1:02:03");
    }
}
