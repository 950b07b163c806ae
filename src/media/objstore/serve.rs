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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::object_storage::{BucketConfig, ObjectStorageConfig};

    fn routes(prefix: &str, edge: bool) -> BucketRoutes {
        let config = ObjectStorageConfig {
            enabled: true,
            endpoint: "http://127.0.0.1:3900".into(),
            force_path_style: true,
            streaming_playlists: BucketConfig {
                bucket_name: "media".into(),
                prefix: prefix.into(),
                ..Default::default()
            },
            ..Default::default()
        };
        let env = |k: &str| match k {
            "AWS_ACCESS_KEY_ID" => Some("id".to_string()),
            "AWS_SECRET_ACCESS_KEY" => Some("secret".to_string()),
            _ => None,
        };
        let os = ObjectStorage::from_config(&config, &env).unwrap().unwrap();
        BucketRoutes::new(Arc::new(os), edge, 100, 2)
    }

    const U: &str = "0f5c4e9b-0000-4000-8000-0000000000e2";

    #[test]
    fn request_paths_name_objects() {
        let r = routes("v/", false);
        let path = format!("/static/streaming-playlists/hls/{U}/a-720-fragmented.mp4");
        let public = r.route(&path).unwrap();
        assert_eq!(public.key, format!("v/hls/{U}/a-720-fragmented.mp4"));
        assert!(public.disk_first && public.private_uuid.is_none());
        // `base_url` carrying the prefix.
        let path = format!("/static/streaming-playlists/v/hls/{U}/m.m3u8");
        let prefixed = r.route(&path).unwrap();
        assert_eq!(prefixed.key, format!("v/hls/{U}/m.m3u8"));
        let path = format!("/object-storage-proxy/streaming-playlists/hls/private/{U}/m.m3u8");
        let private = r.route(&path).unwrap();
        assert_eq!(private.key, format!("v/hls/private/{U}/m.m3u8"));
        assert_eq!(private.private_uuid, Some(U));
        assert!(!private.disk_first);
        assert!(
            !routes("", true)
                .route(&format!("/static/streaming-playlists/hls/{U}/x.mp4"))
                .unwrap()
                .disk_first
        );
        assert_eq!(r.policy(true).media, "private, max-age=100, immutable");
        // Not objects: the local private directory, odd names, other trees.
        for path in [
            format!("/static/streaming-playlists/hls/private/{U}/m.m3u8"),
            format!("/static/streaming-playlists/hls/{U}/../x.mp4"),
            format!("/static/streaming-playlists/hls/{U}/.hidden"),
            "/static/streaming-playlists/hls/not-a-uuid/x.mp4".to_string(),
            format!("/static/web-videos/{U}-720.mp4"),
            format!("/object-storage-proxy/streaming-playlists/hls/{U}/m.m3u8"),
        ] {
            assert!(r.route(&path).is_none(), "{path}");
        }
    }
}
