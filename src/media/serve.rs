//! The segment server, the hot path: GET/HEAD of media files with single byte ranges,
//! validators (ETag, Last-Modified, 304), caching headers and CORS. Hot bytes come from the
//! shard's [`ChunkCache`]; misses are read through the shard's [`ReadAt`] backend. Files of
//! private videos answer only to a video file token bound to their video (checked here, with
//! no database read) or to a caller that checked the user's OAuth token ([`SegmentServer::plan_granted`]).

use super::access::{query_token, MediaAccess};
use super::cache::{ChunkCache, FileId, CHUNK};
use super::fileio::{OpenFile, ReadAt};
use super::layout::{CacheClass, MediaLayout, ResolveError};
use super::open_files::OpenFiles;
use super::range::{parse_range, ByteRange};
use crate::metrics::ShardMetrics;
use crate::runtime::conn_limits::Activity;
use axum::body::Body;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Response, StatusCode};
use lru::LruCache;
use std::cell::{Cell, RefCell};
use std::num::NonZeroUsize;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Responses larger than this stream from disk in chunks and bypass the cache, so one large
/// download cannot evict every hot segment.
pub(super) const STREAM_THRESHOLD: u64 = 16 * CHUNK;
/// File metadata entries remembered per shard.
const META_ENTRIES: usize = 16_384;

static EXPOSE: HeaderValue =
    HeaderValue::from_static("Content-Range, Content-Length, Accept-Ranges, ETag, Last-Modified");
static ALLOW: HeaderValue = HeaderValue::from_static("GET, HEAD, OPTIONS");
static ANY: HeaderValue = HeaderValue::from_static("*");
static BYTES_UNIT: HeaderValue = HeaderValue::from_static("bytes");

/// The answer to a media request, before any byte of the body is read.
pub struct Plan {
    /// Status and headers (`Content-Length` included).
    pub head: Response<()>,
    /// What the body holds.
    pub body: PlanBody,
}

/// A planned body.
pub enum PlanBody {
    /// No body (HEAD, 304, 416, preflight).
    None,
    /// A short fixed text (errors).
    Text(&'static str),
    /// Bytes `start..=end` of a file.
    Range(RangeBody),
}

/// Bytes `start..=end` of one version of a file.
pub struct RangeBody {
    /// File path.
    pub path: PathBuf,
    pub(super) meta: FileMeta,
    /// First byte.
    pub start: u64,
    /// Last byte (inclusive).
    pub end: u64,
}

impl RangeBody {
    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }
}

impl Plan {
    fn bodyless(head: Response<()>) -> Plan {
        Plan {
            head,
            body: PlanBody::None,
        }
    }

    fn text(mut head: Response<()>, text: &'static str) -> Plan {
        head.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(text.len()));
        Plan {
            head,
            body: PlanBody::Text(text),
        }
    }

    /// Splits into head and body.
    pub fn into_parts(self) -> (Response<()>, PlanBody) {
        (self.head, self.body)
    }
}

/// What a cached stat said about a path.
#[derive(Clone)]
pub(super) struct FileMeta {
    pub(super) id: FileId,
    mtime: SystemTime,
    etag: HeaderValue,
    last_modified: HeaderValue,
}

#[derive(Clone)]
struct MetaEntry {
    checked: Instant,
    meta: Option<FileMeta>,
}

/// One shard's segment server.
pub struct SegmentServer {
    layout: MediaLayout,
    pub(super) reader: Rc<dyn ReadAt>,
    pub(super) cache: RefCell<ChunkCache>,
    meta: RefCell<LruCache<PathBuf, MetaEntry>>,
    revalidate: Duration,
    media_cc: HeaderValue,
    playlist_cc: HeaderValue,
    pub(super) metrics: Arc<ShardMetrics>,
    pub(super) files: RefCell<OpenFiles>,
    private: PrivateFiles,
    /// When the cache and the open descriptors were last swept, and how often (`media.sweep_secs`):
    /// deleted videos must not keep memory or disk space.
    swept: Cell<Instant>,
    sweep_every: Duration,
    /// The bucket's objects, when object storage is on.
    edge: Option<super::objstore::edge::EdgeShard>,
}

/// What the server needs for private videos' files.
struct PrivateFiles {
    /// Token keys and the count of file moves, shared by every shard.
    access: Arc<MediaAccess>,
    /// The move count the metadata cache was filled at.
    moves_seen: Cell<u64>,
    /// `Cache-Control` of private media and playlists: never in shared caches.
    media_cc: HeaderValue,
    playlist_cc: HeaderValue,
}

impl SegmentServer {
    /// A server over `layout`, reading misses with `reader`, caching `cache_bytes`.
    pub fn new(
        layout: MediaLayout,
        reader: Rc<dyn ReadAt>,
        cache_bytes: u64,
        config: &crate::config::MediaConfig,
        metrics: Arc<ShardMetrics>,
        access: Arc<MediaAccess>,
        edge: Option<super::objstore::edge::EdgeShard>,
    ) -> SegmentServer {
        let cc =
            |s: String| HeaderValue::from_str(&s).unwrap_or(HeaderValue::from_static("no-cache"));
        SegmentServer {
            layout,
            reader,
            cache: RefCell::new(ChunkCache::new(cache_bytes)),
            meta: RefCell::new(LruCache::new(
                NonZeroUsize::new(META_ENTRIES).expect("non-zero"),
            )),
            revalidate: Duration::from_millis(config.revalidate_ms),
            media_cc: cc(format!(
                "public, max-age={}, immutable",
                config.media_max_age_secs
            )),
            playlist_cc: cc(format!("public, max-age={}", config.playlist_max_age_secs)),
            metrics,
            files: RefCell::new(OpenFiles::new(
                config.open_files_per_shard.min(1 << 20) as usize
            )),
            swept: Cell::new(Instant::now()),
            sweep_every: Duration::from_secs(config.sweep_secs),
            edge,
            private: PrivateFiles {
                moves_seen: Cell::new(access.moves()),
                access,
                media_cc: cc(format!(
                    "private, max-age={}, immutable",
                    config.media_max_age_secs
                )),
                playlist_cc: cc(format!("private, max-age={}", config.playlist_max_age_secs)),
            },
        }
    }

    /// Answers GET/HEAD/OPTIONS of an object of the HLS bucket (`None` without object
    /// storage), from the on-disk cache or this shard's cache where it can.
    pub async fn serve_object(
        &self,
        req: super::objstore::edge::ObjectRequest<'_>,
    ) -> Option<axum::response::Response> {
        match self.answer_object(req, false).await? {
            super::objstore::edge::ObjectAnswer::Response(r) => Some(r),
            // Not asked for: a file answer goes only to callers that can send it.
            super::objstore::edge::ObjectAnswer::File(..) => Some(super::objstore::serve::text(
                StatusCode::SERVICE_UNAVAILABLE,
                "ask again\n",
            )),
        }
    }

    /// Like [`serve_object`](Self::serve_object), for the HTTP/1 fast path: a range whose
    /// chunks are all in the on-disk cache comes back as that file's range (`file_ok`), to be
    /// sent with `sendfile`.
    pub async fn answer_object(
        &self,
        req: super::objstore::edge::ObjectRequest<'_>,
        file_ok: bool,
    ) -> Option<super::objstore::edge::ObjectAnswer> {
        let edge = self.edge.as_ref()?;
        let a = edge
            .answer(&self.cache, self.reader.as_ref(), req, file_ok)
            .await;
        self.publish_cache_metrics();
        Some(a)
    }

    /// Which read backend this server uses.
    pub fn backend_name(&self) -> &'static str {
        self.reader.name()
    }

    /// Answers one request for a media target (path and query; the hyper path: HTTP/2, TLS,
    /// hand-offs).
    pub fn serve(
        self: &Rc<Self>,
        method: &Method,
        target: &str,
        headers: &HeaderMap,
        activity: &Arc<Activity>,
    ) -> Response<Body> {
        self.serve_planned(self.plan(method, target, headers), activity)
    }

    /// Answers a request already planned. The body is read on demand and held against
    /// `activity`'s send budget (see [`super::body`]).
    pub fn serve_planned(self: &Rc<Self>, plan: Plan, activity: &Arc<Activity>) -> Response<Body> {
        let (resp, body) = plan.into_parts();
        match body {
            PlanBody::None => resp.map(|()| Body::empty()),
            PlanBody::Text(t) => resp.map(|()| Body::from(t)),
            PlanBody::Range(r) => {
                let body = super::body::lazy(self.clone(), r, activity.media_body());
                resp.map(|()| Body::new(body))
            }
        }
    }

    /// Decides the answer to a request for `target` (path, then `?query` if any): status and
    /// headers, and which bytes the body holds. A private video's file needs a valid
    /// `videoFileToken` in the query.
    pub fn plan(&self, method: &Method, target: &str, headers: &HeaderMap) -> Plan {
        let (path, query) = split_target(target);
        self.plan_with(method, path, query, None, headers)
    }

    /// Like [`plan`](Self::plan), for a caller that established (with the user's OAuth token)
    /// that the request may read the files of video `uuid`.
    pub fn plan_granted(
        &self,
        method: &Method,
        target: &str,
        headers: &HeaderMap,
        uuid: &str,
    ) -> Plan {
        let (path, query) = split_target(target);
        self.plan_with(method, path, query, Some(uuid), headers)
    }

    /// Whether a video file token in `target`'s query opens the private video `uuid`'s files.
    pub fn token_opens(&self, target: &str, uuid: &str) -> bool {
        let (_, query) = split_target(target);
        query
            .and_then(query_token)
            .is_some_and(|t| self.private.access.verify(&t, uuid, unix_now()))
    }

    fn plan_with(
        &self,
        method: &Method,
        path: &str,
        query: Option<&str>,
        granted: Option<&str>,
        headers: &HeaderMap,
    ) -> Plan {
        if method == Method::OPTIONS {
            return Plan::bodyless(preflight());
        }
        if method != Method::GET && method != Method::HEAD {
            let mut r = plain_head(StatusCode::METHOD_NOT_ALLOWED);
            r.headers_mut().insert(header::ALLOW, ALLOW.clone());
            return Plan::text(r, "method not allowed\n");
        }
        let resolved = match self.layout.resolve(path) {
            Ok(r) => r,
            Err(ResolveError::NotFound) => {
                return Plan::text(plain_head(StatusCode::NOT_FOUND), "not found\n")
            }
            Err(e @ ResolveError::BadPath(_)) => {
                tracing::debug!(path, error = %e, "refused media path");
                return Plan::text(plain_head(StatusCode::BAD_REQUEST), "bad path\n");
            }
        };
        if let Some(video) = &resolved.private_video {
            // Checked before the file is looked at: a refusal says nothing of what exists.
            let token_ok = || {
                query
                    .and_then(query_token)
                    .is_some_and(|t| self.private.access.verify(&t, video, unix_now()))
            };
            if granted != Some(video.as_str()) && !token_ok() {
                return Plan::text(
                    plain_head(StatusCode::FORBIDDEN),
                    "this private video's files need a videoFileToken or an OAuth token\n",
                );
            }
        }
        let Some(meta) = self.file_meta(&resolved.path) else {
            return Plan::text(plain_head(StatusCode::NOT_FOUND), "not found\n");
        };
        let size = meta.id.size;

        let mut resp = Response::new(());
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(resolved.content_type),
        );
        h.insert(header::ETAG, meta.etag.clone());
        h.insert(header::LAST_MODIFIED, meta.last_modified.clone());
        h.insert(
            header::CACHE_CONTROL,
            match (resolved.cache, resolved.private_video.is_some()) {
                (CacheClass::Immutable, false) => self.media_cc.clone(),
                (CacheClass::Short, false) => self.playlist_cc.clone(),
                (CacheClass::Immutable, true) => self.private.media_cc.clone(),
                (CacheClass::Short, true) => self.private.playlist_cc.clone(),
            },
        );
        h.insert(header::ACCEPT_RANGES, BYTES_UNIT.clone());
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, ANY.clone());
        h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSE.clone());

        if not_modified(headers, &meta) {
            *resp.status_mut() = StatusCode::NOT_MODIFIED;
            resp.headers_mut().remove(header::CONTENT_TYPE);
            return Plan::bodyless(resp);
        }

        let range = match headers.get(header::RANGE) {
            Some(r) if if_range_holds(headers, &meta) => parse_range(r.as_bytes(), size),
            _ => ByteRange::Full,
        };
        let (start, end) = match range {
            ByteRange::Full => {
                if size == 0 {
                    resp.headers_mut()
                        .insert(header::CONTENT_LENGTH, HeaderValue::from(0u64));
                    return Plan::bodyless(resp);
                }
                (0, size - 1)
            }
            ByteRange::Partial { start, end } => {
                *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
                resp.headers_mut().insert(
                    header::CONTENT_RANGE,
                    content_range(&format!("bytes {start}-{end}/{size}")),
                );
                (start, end)
            }
            ByteRange::Unsatisfiable => {
                *resp.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
                let h = resp.headers_mut();
                h.insert(
                    header::CONTENT_RANGE,
                    content_range(&format!("bytes */{size}")),
                );
                h.insert(header::CONTENT_LENGTH, HeaderValue::from(0u64));
                return Plan::bodyless(resp);
            }
        };
        resp.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(end - start + 1));
        if method == Method::HEAD {
            return Plan::bodyless(resp);
        }
        Plan {
            head: resp,
            body: PlanBody::Range(RangeBody {
                path: resolved.path,
                meta,
                start,
                end,
            }),
        }
    }

    pub(super) fn read_failed(&self, path: &Path, e: &std::io::Error) {
        tracing::warn!(path = %path.display(), error = %e, "media read failed");
        self.meta.borrow_mut().pop(path);
    }

    /// Stats `path` (through the per-shard metadata cache), refusing symlinks out of the root.
    fn file_meta(&self, path: &Path) -> Option<FileMeta> {
        self.forget_moved_files();
        let now = Instant::now();
        self.sweep_if_due(now);
        let before = match self.meta.borrow_mut().get(path) {
            Some(e) if now.duration_since(e.checked) < self.revalidate => return e.meta.clone(),
            Some(e) => e.meta.as_ref().map(|m| m.id),
            None => None,
        };
        let meta = stat_inside(self.layout.root(), path);
        if let Some(old) = before.filter(|old| meta.as_ref().map(|m| m.id) != Some(*old)) {
            // Replaced or deleted: its descriptor and chunks go now, not at the next sweep.
            self.forget_version(old);
        }
        self.meta.borrow_mut().put(
            path.to_owned(),
            MetaEntry {
                checked: now,
                meta: meta.clone(),
            },
        );
        meta
    }

    /// Forgets what the shard holds for a file version that is gone: its open descriptor
    /// (which would keep a deleted file's disk space) and its cached chunks.
    fn forget_version(&self, id: FileId) {
        let closed = self.files.borrow_mut().forget(&id);
        let bytes = self.cache.borrow_mut().forget_file(id);
        if closed || bytes > 0 {
            tracing::debug!(
                ino = id.ino,
                closed,
                bytes,
                "a served file was replaced or deleted"
            );
            self.publish_cache_metrics();
        }
    }

    /// The open descriptor of exactly the file version of `r` (opened once per version, off
    /// the event loop, then reused). An error when the path no longer holds that version.
    pub(super) async fn open(&self, path: &Path, meta: &FileMeta) -> std::io::Result<OpenFile> {
        let id = meta.id;
        if let Some(f) = self.files.borrow_mut().get(&id) {
            return Ok(f);
        }
        let file = self.reader.open(path.to_owned()).await?;
        let st = file.stat()?;
        let mtime_ns = st.st_mtime as i128 * 1_000_000_000 + st.st_mtime_nsec as i128;
        if st.st_ino != id.ino
            || st.st_dev != id.dev
            || st.st_size as u64 != id.size
            || mtime_ns != id.mtime_ns
        {
            self.meta.borrow_mut().pop(path);
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the file was replaced while being opened",
            ));
        }
        // Reads ask for exactly the bytes a response needs (the cold path reads one piece ahead
        // itself): no kernel read-ahead past a range, which a library bigger than RAM would pay
        // for in disk time and evict again unread.
        super::fileio::advise_random(&file);
        let mut files = self.files.borrow_mut();
        files.put(id, file.clone());
        self.metrics.files_opened.store(files.opened, Relaxed);
        Ok(file)
    }

    pub(super) async fn read_cached(
        &self,
        path: &Path,
        meta: &FileMeta,
        start: u64,
        end: u64,
    ) -> std::io::Result<Vec<Bytes>> {
        let (first, last) = (start / CHUNK, end / CHUNK);
        let mut parts = Vec::with_capacity((last - first + 1) as usize);
        for idx in first..=last {
            let cached = self.cache.borrow_mut().get(meta.id, idx);
            let chunk = match cached {
                Some(c) => c,
                None => {
                    let off = idx * CHUNK;
                    let want = CHUNK.min(meta.id.size - off) as usize;
                    let file = self.open(path, meta).await?;
                    let data = file.read_at(off, want).await?;
                    self.cache
                        .borrow_mut()
                        .insert(meta.id, path, idx, data.clone());
                    // The shard's cache holds these bytes now: the page cache need not too.
                    super::fileio::drop_pages(&file, off, want as u64);
                    data
                }
            };
            let base = idx * CHUNK;
            let lo = (start.max(base) - base) as usize;
            let hi = ((end + 1).min(base + chunk.len() as u64) - base) as usize;
            parts.push(chunk.slice(lo..hi));
        }
        self.publish_cache_metrics();
        Ok(parts)
    }

    /// Copies the cache's counters into the shard's metrics (read by `/metrics`).
    pub(super) fn publish_cache_metrics(&self) {
        let cache = self.cache.borrow();
        self.metrics.cache_hits.store(cache.hits, Relaxed);
        self.metrics.cache_misses.store(cache.misses, Relaxed);
        self.metrics.cache_bytes.store(cache.bytes(), Relaxed);
    }
}

impl SegmentServer {
    /// Every `sweep_every`: drops the chunks of files that are gone or were replaced, and the
    /// open descriptors of deleted files (which would keep their disk space allocated). Its stats
    /// are bounded by the cache (one per cached file) and the descriptor cache
    /// (`media.open_files_per_shard`).
    fn sweep_if_due(&self, now: Instant) {
        if now.duration_since(self.swept.get()) < self.sweep_every {
            return;
        }
        self.swept.set(now);
        let edge = self.edge.as_ref();
        let (files, bytes) = self.cache.borrow_mut().sweep(|p| {
            if super::objstore::edge::is_object_path(p) {
                edge.and_then(|e| e.current_id(p))
            } else {
                current_id(p)
            }
        });
        let deleted = self.files.borrow_mut().sweep_deleted();
        if files > 0 || deleted > 0 {
            tracing::debug!(
                files,
                bytes,
                descriptors = deleted,
                "dropped what deleted media files held"
            );
            self.publish_cache_metrics();
        }
    }

    /// Drops the cached metadata when files moved since it was filled (one atomic load per
    /// request otherwise), so a file that left its URL stops answering there at once.
    fn forget_moved_files(&self) {
        let moves = self.private.access.moves();
        if moves != self.private.moves_seen.get() {
            self.meta.borrow_mut().clear();
            self.private.moves_seen.set(moves);
        }
    }
}

/// `path?query` → (path, query).
fn split_target(target: &str) -> (&str, Option<&str>) {
    match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The identity of the file at `path` now, if there is one.
fn current_id(path: &Path) -> Option<FileId> {
    std::fs::metadata(path).ok().map(|md| file_id(&md))
}

/// A file's identity: a rewritten file gets a new one.
fn file_id(md: &std::fs::Metadata) -> FileId {
    FileId {
        dev: md.dev(),
        ino: md.ino(),
        size: md.len(),
        mtime_ns: md.mtime() as i128 * 1_000_000_000 + md.mtime_nsec() as i128,
    }
}

fn stat_inside(root: &Path, path: &Path) -> Option<FileMeta> {
    let md = std::fs::metadata(path).ok()?;
    if !md.is_file() {
        return None;
    }
    if std::fs::symlink_metadata(path)
        .ok()?
        .file_type()
        .is_symlink()
        || path
            .parent()
            .is_some_and(|p| p != root && has_symlink_between(root, p))
    {
        // Resolve fully and refuse anything that lands outside the media root.
        let real = std::fs::canonicalize(path).ok()?;
        if !real.starts_with(root) {
            tracing::warn!(path = %path.display(), target = %real.display(), "symlink leaves the media root; refused");
            return None;
        }
    }
    let mtime = md.modified().ok()?;
    let id = file_id(&md);
    let etag = HeaderValue::from_str(&format!("\"{:x}-{:x}\"", md.mtime(), md.len())).ok()?;
    let last_modified = HeaderValue::from_str(&httpdate::fmt_http_date(mtime)).ok()?;
    Some(FileMeta {
        id,
        mtime,
        etag,
        last_modified,
    })
}

/// Whether any directory between `root` (exclusive) and `dir` (inclusive) is a symlink.
fn has_symlink_between(root: &Path, dir: &Path) -> bool {
    let mut cur = Some(dir);
    while let Some(d) = cur {
        if d == root || !d.starts_with(root) {
            return false;
        }
        match std::fs::symlink_metadata(d) {
            Ok(m) if m.file_type().is_symlink() => return true,
            Ok(_) => {}
            Err(_) => return true,
        }
        cur = d.parent();
    }
    false
}

fn not_modified(headers: &HeaderMap, meta: &FileMeta) -> bool {
    if let Some(inm) = headers.get(header::IF_NONE_MATCH) {
        return etag_list_matches(inm.as_bytes(), meta.etag.as_bytes());
    }
    if let Some(ims) = headers.get(header::IF_MODIFIED_SINCE) {
        if let Some(t) = ims
            .to_str()
            .ok()
            .and_then(|s| httpdate::parse_http_date(s).ok())
        {
            let secs = |t: SystemTime| {
                t.duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0)
            };
            return secs(meta.mtime) <= secs(t);
        }
    }
    false
}

/// `If-None-Match` weak comparison against our (strong) ETag; `*` matches.
fn etag_list_matches(list: &[u8], etag: &[u8]) -> bool {
    let Ok(list) = std::str::from_utf8(list) else {
        return false;
    };
    let etag = std::str::from_utf8(etag).unwrap_or("");
    list.split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag)
}

/// `If-Range`: the range applies only if the validator still matches (strong ETag or exact date).
fn if_range_holds(headers: &HeaderMap, meta: &FileMeta) -> bool {
    match headers.get(header::IF_RANGE) {
        None => true,
        Some(v) => {
            let v = v.as_bytes();
            if v.first() == Some(&b'"') {
                v == meta.etag.as_bytes()
            } else {
                v == meta.last_modified.as_bytes()
            }
        }
    }
}

fn content_range(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static("bytes */0"))
}

fn plain_head(status: StatusCode) -> Response<()> {
    let mut r = Response::new(());
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r.headers_mut()
        .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, ANY.clone());
    r
}

fn preflight() -> Response<()> {
    let mut r = Response::new(());
    *r.status_mut() = StatusCode::NO_CONTENT;
    let h = r.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, ANY.clone());
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, ALLOW.clone());
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Range, If-None-Match, If-Modified-Since, If-Range"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    h.insert(
        HeaderName::from_static("vary"),
        HeaderValue::from_static("Origin"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_lists() {
        assert!(etag_list_matches(b"\"a-1\"", b"\"a-1\""));
        assert!(etag_list_matches(b"\"x\", W/\"a-1\"", b"\"a-1\""));
        assert!(etag_list_matches(b"*", b"\"a-1\""));
        assert!(!etag_list_matches(b"\"a-2\"", b"\"a-1\""));
    }
}
