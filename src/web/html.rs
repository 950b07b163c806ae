//! HTML building blocks: escaping, the page frame every page shares (header, navigation,
//! footer, stylesheet) and the security headers sent with pages.

use super::assets;
use crate::app::App;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};

/// Escapes text for HTML text and double- or single-quoted attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// JSON for a `<script type="application/json">` block: `<`, `>` and `&` escaped so the text
/// can never close the script element.
pub fn script_json(v: &serde_json::Value) -> String {
    v.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// Which navigation entry is the current page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    /// Home and watch pages.
    Videos,
    /// The upload page.
    Upload,
    /// The pages of the logged-in user's videos and channels.
    Mine,
    /// The moderation page.
    Moderation,
    /// The admin page.
    Admin,
    /// The login page.
    Login,
}

/// One page before rendering.
pub struct Page<'a> {
    /// `<title>` (the instance name is appended).
    pub title: &'a str,
    /// Current navigation entry.
    pub nav: Option<Nav>,
    /// Extra `<head>` content (meta tags), already escaped.
    pub head: String,
    /// The `<main>` content, already escaped.
    pub body: String,
    /// Module scripts to load (names under `/assets/`).
    pub scripts: &'a [&'a str],
    /// Whether the page loads the player (hls.js and p2p-media-loader).
    pub player: bool,
    /// Whether other sites may frame the page (the embed).
    pub frameable: bool,
    /// Embed pages have no header or footer.
    pub bare: bool,
}

impl Page<'_> {
    /// The full document with its headers.
    pub fn render(self, app: &App) -> Response {
        self.render_with(app, StatusCode::OK)
    }

    /// The full document of a page that plays a video whose files may also come from
    /// `media_origins` (another instance's, its mirrors): its CSP lets the player fetch there.
    pub fn render_playing(self, app: &App, media_origins: &[String]) -> Response {
        let frameable = self.frameable;
        let mut r = self.render_with(app, StatusCode::OK);
        let files = app.hls_bucket_base.as_deref();
        let mut extra: Vec<&str> = files.into_iter().collect();
        extra.extend(media_origins.iter().map(String::as_str));
        if let Ok(v) = HeaderValue::from_str(&csp_with(&app.public_url, &extra, frameable)) {
            r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
        }
        r
    }

    /// The full document with `status`.
    pub fn render_with(self, app: &App, status: StatusCode) -> Response {
        let name = esc(&app.config.instance.name);
        let mut doc = String::with_capacity(self.body.len() + 4096);
        doc.push_str("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
        doc.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
        doc.push_str(&format!("<title>{} · {name}</title>", esc(self.title)));
        doc.push_str("<meta name=\"color-scheme\" content=\"light dark\">");
        doc.push_str(&format!(
            "<link rel=\"icon\" href=\"{}\">",
            assets::url("favicon.svg")
        ));
        doc.push_str(&format!(
            "<link rel=\"stylesheet\" href=\"{}\">",
            assets::url("style.css")
        ));
        doc.push_str(&self.head);
        if self.player {
            doc.push_str(&format!(
                "<script type=\"importmap\">{}</script>",
                assets::import_map()
            ));
            doc.push_str("<script src=\"/assets/vendor/hls.min.js\" defer></script>");
        }
        doc.push_str("</head><body");
        if self.bare {
            doc.push_str(" class=\"bare\"");
        }
        doc.push('>');
        if !self.bare {
            doc.push_str("<a class=\"skip\" href=\"#main\">Skip to content</a>");
            doc.push_str("<header class=\"top\"><div class=\"wrap top-row\">");
            doc.push_str(&format!(
                "<a class=\"brand\" href=\"/\"><img src=\"{}\" alt=\"\" width=\"28\" height=\"28\"><span>{name}</span></a>",
                assets::url("favicon.svg")
            ));
            doc.push_str("<nav aria-label=\"Main\"><ul>");
            for (nav, href, label, id) in [
                (Nav::Videos, "/", "Videos", ""),
                (Nav::Upload, "/upload", "Upload", ""),
                (Nav::Mine, "/my-videos", "My videos", ""),
                (
                    Nav::Moderation,
                    "/moderation",
                    "Moderation",
                    " id=\"nav-moderation\"",
                ),
                (Nav::Admin, "/admin", "Admin", " id=\"nav-admin\""),
                (Nav::Login, "/login", "Log in", " id=\"session-link\""),
            ] {
                let current = if self.nav == Some(nav) {
                    " aria-current=\"page\""
                } else {
                    ""
                };
                doc.push_str(&format!(
                    "<li><a href=\"{href}\"{id}{current}>{label}</a></li>"
                ));
            }
            doc.push_str("</ul></nav></div></header>");
        }
        doc.push_str("<main id=\"main\"");
        if !self.bare {
            doc.push_str(" class=\"wrap\"");
        }
        doc.push('>');
        doc.push_str(&self.body);
        doc.push_str("</main>");
        if !self.bare {
            doc.push_str(&format!(
                "<footer class=\"foot\"><div class=\"wrap\">Powered by Fleuve {} · speaks PeerTube's protocols · \
                 <a href=\"/api/v1/config\">API</a></div></footer>",
                env!("CARGO_PKG_VERSION")
            ));
            doc.push_str(&format!(
                "<script type=\"module\" src=\"{}\"></script>",
                assets::url("session.js")
            ));
        }
        for s in self.scripts {
            doc.push_str(&format!(
                "<script type=\"module\" src=\"{}\"></script>",
                assets::url(s)
            ));
        }
        doc.push_str("</body></html>\n");
        let mut r = (status, doc).into_response();
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        );
        if let Ok(v) = HeaderValue::from_str(&csp(app, self.frameable)) {
            h.insert(header::CONTENT_SECURITY_POLICY, v);
        }
        r
    }
}

/// The origin (`scheme://host[:port]`) of a URL.
fn origin(url: &str) -> &str {
    match url.find("://") {
        Some(i) => {
            let rest = &url[i + 3..];
            let end = rest.find('/').map(|j| i + 3 + j).unwrap_or(url.len());
            &url[..end]
        }
        None => url,
    }
}

/// The Content-Security-Policy of pages: scripts only from us (and the import map, by hash),
/// media and API calls to our public URL, its tracker and where the video files are (the object
/// storage's `base_url`: a CDN or Fleuve edges), images also from other instances (thumbnails of
/// federated videos), no plugins.
fn csp(app: &App, frameable: bool) -> String {
    csp_for(&app.public_url, app.hls_bucket_base.as_deref(), frameable)
}

fn csp_for(public_url: &str, files_url: Option<&str>, frameable: bool) -> String {
    let files: Vec<&str> = files_url.into_iter().collect();
    csp_with(public_url, &files, frameable)
}

/// The policy with media and fetches also allowed to the origins of `files_urls` (http(s)
/// only, each once).
fn csp_with(public_url: &str, files_urls: &[&str], frameable: bool) -> String {
    let public = origin(public_url);
    let ws = public
        .replacen("https://", "wss://", 1)
        .replacen("http://", "ws://", 1);
    let mut seen = vec![public];
    let mut files = String::new();
    for o in files_urls.iter().map(|u| origin(u)) {
        let safe = (o.starts_with("https://") || o.starts_with("http://"))
            && !o.contains([' ', ';', '\'', ','])
            && !seen.contains(&o);
        if safe {
            seen.push(o);
            files.push(' ');
            files.push_str(o);
        }
    }
    format!(
        "default-src 'self'; script-src 'self' '{map}'; style-src 'self'; \
         img-src 'self' data: https: {public}; media-src 'self' blob: {public}{files}; \
         connect-src 'self' {public}{files} {ws}; worker-src 'self' blob:; object-src 'none'; \
         base-uri 'self'; form-action 'self'; frame-ancestors {frames}",
        map = assets::import_map_hash(),
        frames = if frameable { "*" } else { "'self'" },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_special_character() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn script_json_cannot_close_the_script() {
        let v = serde_json::json!({"name": "</script><script>alert(1)</script>"});
        let s = script_json(&v);
        assert!(!s.contains("</"), "{s}");
        let back: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn pages_may_fetch_the_video_files_where_they_are() {
        let p = csp_for(
            "http://a.b:9000",
            Some("https://cdn.example/videos/"),
            false,
        );
        assert!(
            p.contains("connect-src 'self' http://a.b:9000 https://cdn.example ws://a.b:9000;"),
            "{p}"
        );
        assert!(
            p.contains("media-src 'self' blob: http://a.b:9000 https://cdn.example;"),
            "{p}"
        );
        let p = csp_for("http://a.b:9000", Some("http://a.b:9000/static/"), false);
        assert!(
            p.contains("connect-src 'self' http://a.b:9000 ws://a.b:9000;"),
            "{p}"
        );
        let p = csp_for("http://a.b:9000", None, true);
        assert!(
            !p.contains("cdn") && p.ends_with("frame-ancestors *"),
            "{p}"
        );
    }

    #[test]
    fn origins() {
        assert_eq!(origin("http://a.b:9000/x/y"), "http://a.b:9000");
        assert_eq!(origin("https://a.b"), "https://a.b");
    }
}
