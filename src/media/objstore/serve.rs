//! The answers shared by the ways Fleuve serves bucket objects ([`super::edge`]): which request
//! paths are objects, caching policy, CORS, preflight and short text answers.

use super::ObjectStorage;
use axum::body::Body;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};
use std::sync::Arc;

/// `Cache-Control` values of what is served.
pub struct CachePolicy {
    /// fMP4 files.
    pub media: HeaderValue,
    /// Playlists and segment hashes (they may change on a privacy move).
    pub playlist: HeaderValue,
}

/// Which request paths are objects of the HLS bucket, and how clients may cache them.
pub struct BucketRoutes {
    os: Arc<ObjectStorage>,
    /// An edge keeps no files: every public HLS path is the bucket's.
    edge: bool,
    /// Public, private.
    policies: [CachePolicy; 2],
}

/// The object a request path names.
#[derive(Debug, PartialEq, Eq)]
pub struct BucketRoute<'a> {
    /// Its key in the HLS bucket.
    pub key: String,
    /// A private video's object: it needs a video file token for this video (or, on a primary,
    /// an OAuth token whose user may read it).
    pub private_uuid: Option<&'a str>,
    /// A public path on a primary: a file on disk at that path answers first (the video's
    /// files have not moved to the bucket yet, or came back).
    pub disk_first: bool,
}

impl BucketRoutes {
    /// The routes of `os`; `edge` when this process keeps no files. Objects are cached by
    /// clients for `media_max_age_secs` (fMP4, immutable) and `playlist_max_age_secs` (the rest).
    pub fn new(
        os: Arc<ObjectStorage>,
        edge: bool,
        media_max_age_secs: u64,
        playlist_max_age_secs: u64,
    ) -> BucketRoutes {
        let policies = ["public", "private"].map(|scope| {
            let cc = |s: String| {
                HeaderValue::from_str(&s).unwrap_or(HeaderValue::from_static("no-cache"))
            };
            CachePolicy {
                media: cc(format!("{scope}, max-age={media_max_age_secs}, immutable")),
                playlist: cc(format!("{scope}, max-age={playlist_max_age_secs}")),
            }
        });
        BucketRoutes { os, edge, policies }
    }

    /// The object of `path` (still percent-encoded; only plain names match):
    /// `/object-storage-proxy/streaming-playlists/hls/private/<uuid>/<file>` for a private
    /// video's, `/static/streaming-playlists/hls/<uuid>/<file>` for a public one's.
    pub fn route<'a>(&self, path: &'a str) -> Option<BucketRoute<'a>> {
        if let Some(rest) = path.strip_prefix(crate::video::urls::OBJECT_STORAGE_PROXY_HLS) {
            let (uuid, file) = rest.strip_prefix("private/")?.split_once('/')?;
            plain_hls_name(uuid, file)?;
            return Some(BucketRoute {
                key: self.os.hls_key(uuid, true, file),
                private_uuid: Some(uuid),
                disk_first: false,
            });
        }
        // `base_url` may carry the bucket's prefix (`<base_url>/<prefix>hls/…`) or not.
        let rest = path.strip_prefix("/static/streaming-playlists/")?;
        let prefix = self.os.hls_prefix();
        let rest = match rest.strip_prefix(prefix) {
            Some(r) if !prefix.is_empty() => r,
            _ => rest,
        };
        let (uuid, file) = rest.strip_prefix("hls/")?.split_once('/')?;
        plain_hls_name(uuid, file)?;
        Some(BucketRoute {
            key: self.os.hls_key(uuid, false, file),
            private_uuid: None,
            disk_first: !self.edge,
        })
    }

    /// How clients may cache a public or a private object.
    pub fn policy(&self, private: bool) -> &CachePolicy {
        &self.policies[usize::from(private)]
    }
}

/// `<uuid>/<file>` of an HLS path: a uuid's characters and a plain file name.
fn plain_hls_name(uuid: &str, file: &str) -> Option<()> {
    let uuid_ok = uuid.len() == 36 && uuid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    let file_ok = !file.is_empty()
        && !file.starts_with('.')
        && file
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    (uuid_ok && file_ok).then_some(())
}

/// A short text answer, with CORS.
pub fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    cors(r.headers_mut());
    r
}

/// The CORS headers players on other origins need.
pub fn cors(h: &mut HeaderMap) {
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(
            "Content-Range, Content-Length, Accept-Ranges, ETag, Last-Modified",
        ),
    );
}

/// The answer to a CORS preflight.
pub fn preflight() -> Response<Body> {
    let mut r = text(StatusCode::NO_CONTENT, "");
    r.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD, OPTIONS"),
    );
    r.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Range"),
    );
    r
}
