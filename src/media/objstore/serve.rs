//! Serving HLS files from the bucket: PeerTube's `/object-storage-proxy/streaming-playlists/hls/
//! private/<uuid>/<file>` (the caller has checked the video file token) and public files whose
//! video is in the bucket (`/static/streaming-playlists/hls/<uuid>/<file>`, for a `base_url`
//! that points at Fleuve). The request's single `Range`, `If-None-Match` and
//! `If-Modified-Since` go upstream as they are; the upstream request runs on the blocking pool
//! and the body streams back in 256 KiB chunks, so a multi-GB fMP4 is never held in memory. An
//! object storage that does not answer gives 502 with a short reason, a missing object 404.

use super::s3::S3Error;
use super::{content_type, ObjectStorage};
use crate::runtime::blocking::BlockingPool;
use axum::body::Body;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};
use std::io::Read;
use std::sync::Arc;

/// Chunk size of a streamed body.
const CHUNK: usize = 256 * 1024;

/// `Cache-Control` values of what is served.
pub struct CachePolicy {
    /// fMP4 files.
    pub media: HeaderValue,
    /// Playlists and segment hashes (they may change on a privacy move).
    pub playlist: HeaderValue,
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    cors(r.headers_mut());
    r
}

fn cors(h: &mut HeaderMap) {
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

fn upstream_error(key: &str, e: &S3Error) -> Response<Body> {
    match e.status() {
        Some(404) | Some(403) if e.code() != "AccessDenied" || e.status() == Some(404) => {
            text(StatusCode::NOT_FOUND, "not found\n")
        }
        Some(416) => text(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable\n"),
        _ => {
            tracing::warn!(%key, error = %e, "object storage read failed");
            text(
                StatusCode::BAD_GATEWAY,
                "the object storage does not answer\n",
            )
        }
    }
}

/// Answers GET/HEAD/OPTIONS of `key` in the HLS bucket.
pub async fn serve(
    os: Arc<ObjectStorage>,
    pool: &BlockingPool,
    method: &Method,
    key: String,
    headers: &HeaderMap,
    cache: &CachePolicy,
) -> Response<Body> {
    if *method == Method::OPTIONS {
        let mut r = text(StatusCode::NO_CONTENT, "");
        r.headers_mut().insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, HEAD, OPTIONS"),
        );
        r.headers_mut().insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("Range"),
        );
        return r;
    }
    if *method != Method::GET && *method != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    }
    let file = key.rsplit('/').next().unwrap_or_default().to_string();
    let cc = if file.ends_with(".mp4") {
        cache.media.clone()
    } else {
        cache.playlist.clone()
    };
    let get = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let range = get(header::RANGE).filter(|r| r.starts_with("bytes=") && !r.contains(','));
    let if_none_match = get(header::IF_NONE_MATCH);
    let head = *method == Method::HEAD;
    let started = std::time::Instant::now();
    let fetch = {
        let os = os.clone();
        let key = key.clone();
        pool.run(move || {
            if head {
                return os
                    .s3()
                    .head_object(os.hls_bucket(), &key)
                    .map(|o| o.map(|o| (o.size, o.etag)))
                    .map(either_head);
            }
            os.s3()
                .get_object_ranged(os.hls_bucket(), &key, range)
                .map(Fetched::Get)
        })
    };
    let fetched = match fetch.await {
        Ok(Ok(f)) => f,
        Ok(Err(e)) => return upstream_error(&key, &e),
        Err(_) => return text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n"),
    };
    tracing::trace!(%key, ms = started.elapsed().as_millis() as u64, "object storage answered");
    let mut r = Response::new(Body::empty());
    let h = r.headers_mut();
    cors(h);
    h.insert(header::CACHE_CONTROL, cc);
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&file)),
    );
    match fetched {
        Fetched::Missing => return text(StatusCode::NOT_FOUND, "not found\n"),
        Fetched::Head(size, etag) => {
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
            if let Ok(v) = HeaderValue::from_str(&format!("\"{etag}\"")) {
                h.insert(header::ETAG, v);
            }
        }
        Fetched::Get(obj) => {
            let etag = format!("\"{}\"", obj.etag);
            if if_none_match.as_deref() == Some(etag.as_str()) {
                // Answered before a byte of the body is read (the connection is dropped).
                let mut r = text(StatusCode::NOT_MODIFIED, "");
                if let Ok(v) = HeaderValue::from_str(&etag) {
                    r.headers_mut().insert(header::ETAG, v);
                }
                return r;
            }
            if let Ok(v) = HeaderValue::from_str(&etag) {
                h.insert(header::ETAG, v);
            }
            if let Some(v) = obj
                .last_modified
                .as_deref()
                .and_then(|v| HeaderValue::from_str(v).ok())
            {
                h.insert(header::LAST_MODIFIED, v);
            }
            h.insert(
                header::CONTENT_LENGTH,
                HeaderValue::from(obj.content_length),
            );
            if obj.status == 206 {
                *r.status_mut() = StatusCode::PARTIAL_CONTENT;
            }
            let content_range = obj.content_range.clone();
            if let Some(v) = content_range.and_then(|v| HeaderValue::from_str(&v).ok()) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            *r.body_mut() = stream(pool, obj.body, key);
        }
    }
    r
}

enum Fetched {
    Missing,
    Head(u64, String),
    Get(super::s3::GetObject),
}

fn either_head(o: Option<(u64, String)>) -> Fetched {
    match o {
        Some((size, etag)) => Fetched::Head(size, etag),
        None => Fetched::Missing,
    }
}

/// The body read on the blocking pool, chunk by chunk, as the client takes it.
fn stream(pool: &BlockingPool, mut body: Box<dyn Read + Send>, key: String) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    pool.spawn(move || loop {
        let mut buf = vec![0u8; CHUNK];
        let mut filled = 0;
        // Fill a whole chunk (fewer, larger frames), or up to the end.
        while filled < CHUNK {
            match body.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) => {
                    tracing::warn!(%key, error = %e, "object storage body broke off");
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
        if filled == 0 {
            return;
        }
        buf.truncate(filled);
        if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
            return; // the client went away
        }
        if filled < CHUNK {
            return;
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Body::from_stream(stream)
}
