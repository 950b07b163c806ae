//! The answers shared by the ways Fleuve serves bucket objects ([`super::edge`]): caching
//! policy, CORS, preflight and short text answers.

use axum::body::Body;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};

/// `Cache-Control` values of what is served.
pub struct CachePolicy {
    /// fMP4 files.
    pub media: HeaderValue,
    /// Playlists and segment hashes (they may change on a privacy move).
    pub playlist: HeaderValue,
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
