//! Serving the bucket at the engine's speed: byte ranges of objects are cached per shard in the
//! shard's own [`ChunkCache`] (the 1 MiB chunks local files use, under the same byte budget), so
//! a hot range is answered from memory with no upstream request. A miss fetches the aligned
//! chunk from the bucket on the upstream pool; the fetch is single-flight across every shard, so
//! a thousand viewers missing the same chunk at once make one upstream request. Object metadata
//! (size, ETag) is remembered per shard for `object_storage.edge_revalidate_secs`; a fetched chunk
//! whose ETag is not the one it was planned with is refused, so a replaced object is never mixed
//! with the old one. While the object storage does not answer, what is cached is still served
//! (metadata past its time included) and the rest gets `502`; it recovers by itself.

use super::disk::{DiskCache, OnDisk};
use super::s3::S3Error;
use super::serve::CachePolicy;
use super::{content_type, ObjectStorage};
use crate::media::access::MediaAccess;
use crate::media::cache::{ChunkCache, FileId, CHUNK};
use crate::media::fileio::ReadAt;
use crate::media::range::{parse_range, ByteRange};
use crate::runtime::blocking::BlockingPool;
use axum::body::Body;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};
use lru::LruCache;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io::Read;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// Responses longer than this many chunks stream from the bucket without entering the cache
/// (one whole-file download must not evict every hot range).
const STREAM_CHUNKS: u64 = 16;
/// Object metadata entries per shard.
const METAS: usize = 16_384;

/// What is known of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjMeta {
    /// Bytes.
    pub size: u64,
    /// ETag without quotes.
    pub etag: String,
}

/// Why the bucket could not give what was asked.
#[derive(Debug, Clone)]
pub enum FetchError {
    /// It does not answer, or answered with an error.
    Unavailable(String),
    /// The object changed since it was planned (its ETag no longer matches).
    Changed,
}

type Flight<T> = Mutex<HashMap<(String, u64), Arc<OnceCell<T>>>>;

/// The shared upstream side: the fetch threads, the requests in flight, the counters.
pub struct Upstream {
    os: Arc<ObjectStorage>,
    pool: BlockingPool,
    /// The on-disk cache fetched chunks are written to, when on.
    disk: Option<Arc<DiskCache>>,
    /// How long a chunk's body may take to arrive.
    fetch_timeout: Duration,
    chunks: Flight<Result<Bytes, FetchError>>,
    heads: Flight<Result<Option<ObjMeta>, FetchError>>,
    /// Upstream requests made.
    pub requests: AtomicU64,
    /// Bytes received from upstream.
    pub bytes: AtomicU64,
    /// Time spent in upstream requests, in microseconds.
    pub micros: AtomicU64,
    /// Upstream requests that failed.
    pub errors: AtomicU64,
    /// Chunks answered from a shard's memory.
    pub hits: AtomicU64,
    /// Chunks that had to be fetched (or joined a fetch in flight).
    pub misses: AtomicU64,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("requests", &self.requests.load(Relaxed))
            .finish_non_exhaustive()
    }
}

async fn single_flight<T: Clone, F>(map: &Flight<T>, key: (String, u64), f: F) -> T
where
    F: std::future::Future<Output = T>,
{
    let cell = map
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(key.clone())
        .or_insert_with(|| Arc::new(OnceCell::new()))
        .clone();
    let value = cell.get_or_init(|| f).await.clone();
    let mut m = map.lock().unwrap_or_else(|p| p.into_inner());
    if m.get(&key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
        m.remove(&key);
    }
    value
}

impl Upstream {
    /// The upstream side of `os`, fetching on `threads` threads of its own (each chunk's body
    /// within `fetch_timeout`) and keeping what it fetched in `disk` when given.
    pub fn new(
        os: Arc<ObjectStorage>,
        threads: usize,
        fetch_timeout: Duration,
        disk: Option<Arc<DiskCache>>,
    ) -> Arc<Upstream> {
        Arc::new(Upstream {
            os,
            pool: BlockingPool::new(threads, &[]),
            disk,
            fetch_timeout,
            chunks: Mutex::new(HashMap::new()),
            heads: Mutex::new(HashMap::new()),
            requests: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            micros: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        })
    }

    fn count(&self, started: Instant, bytes: u64, ok: bool) {
        self.requests.fetch_add(1, Relaxed);
        self.bytes.fetch_add(bytes, Relaxed);
        self.micros
            .fetch_add(started.elapsed().as_micros() as u64, Relaxed);
        if !ok {
            self.errors.fetch_add(1, Relaxed);
        }
    }

    /// The object's size and ETag (None: no such object), one request in flight per key.
    pub async fn head(self: &Arc<Self>, key: &str) -> Result<Option<ObjMeta>, FetchError> {
        let me = self.clone();
        let k = key.to_string();
        single_flight(&self.heads, (key.to_string(), u64::MAX), async move {
            let started = Instant::now();
            let os = me.os.clone();
            let r = me
                .pool
                .run(move || os.s3().head_object(os.hls_bucket(), &k))
                .await
                .map_err(|_| FetchError::Unavailable("shutting down".into()))?;
            me.count(started, 0, r.is_ok());
            r.map(|o| {
                o.map(|o| ObjMeta {
                    size: o.size,
                    etag: o.etag,
                })
            })
            .map_err(|e| FetchError::Unavailable(e.to_string()))
        })
        .await
    }

    /// Chunk `index` of the object as `meta` describes it, one request in flight per chunk.
    pub async fn chunk(
        self: &Arc<Self>,
        key: &str,
        meta: &ObjMeta,
        index: u64,
    ) -> Result<Bytes, FetchError> {
        let me = self.clone();
        let (k, meta) = (key.to_string(), meta.clone());
        single_flight(&self.chunks, (key.to_string(), index), async move {
            let started = Instant::now();
            let os = me.os.clone();
            let disk = me.disk.clone();
            let fetch_timeout = me.fetch_timeout;
            let start = index * CHUNK;
            let end = (start + CHUNK).min(meta.size) - 1;
            let r = me
                .pool
                .run(move || -> Result<Bytes, S3Error> {
                    let mut got = os.s3().get_object_ranged(
                        os.hls_bucket(),
                        &k,
                        Some(format!("bytes={start}-{end}")),
                        Some(fetch_timeout),
                    )?;
                    let want = end - start + 1;
                    if got.etag != meta.etag {
                        return Err(S3Error::Status {
                            op: "GET object",
                            url: k,
                            status: 412,
                            code: "PreconditionFailed".into(),
                            message: "the object changed".into(),
                        });
                    }
                    let mut buf = Vec::with_capacity((end - start + 1) as usize);
                    // At most one byte past the chunk: a server that ignores the range and
                    // sends the whole object is refused below, not read into memory.
                    (&mut got.body)
                        .take(want + 1)
                        .read_to_end(&mut buf)
                        .map_err(|e| S3Error::Transport {
                            op: "GET object",
                            url: k.clone(),
                            error: e.to_string(),
                        })?;
                    if buf.len() as u64 != want {
                        return Err(S3Error::Transport {
                            op: "GET object",
                            url: k,
                            error: format!("{} bytes or more instead of {want}", buf.len()),
                        });
                    }
                    if let Some(disk) = &disk {
                        disk.store(&k, &meta, index, &buf);
                    }
                    Ok(Bytes::from(buf))
                })
                .await
                .map_err(|_| FetchError::Unavailable("shutting down".into()))?;
            me.count(started, r.as_ref().map_or(0, |b| b.len() as u64), r.is_ok());
            r.map_err(|e| match e.status() {
                Some(412) => FetchError::Changed,
                _ => FetchError::Unavailable(e.to_string()),
            })
        })
        .await
    }

    /// Appends the upstream counters to a `/metrics` text.
    pub fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write;
        let hits = self.hits.load(Relaxed);
        let misses = self.misses.load(Relaxed);
        let ratio = if hits + misses == 0 {
            0.0
        } else {
            hits as f64 / (hits + misses) as f64
        };
        let _ = write!(
            out,
            "# HELP fleuve_object_storage_chunk_hits_total Chunks of bucket objects answered from memory.\n\
             # TYPE fleuve_object_storage_chunk_hits_total counter\n\
             fleuve_object_storage_chunk_hits_total {hits}\n\
             # HELP fleuve_object_storage_chunk_misses_total Chunks of bucket objects fetched (or joined in flight).\n\
             # TYPE fleuve_object_storage_chunk_misses_total counter\n\
             fleuve_object_storage_chunk_misses_total {misses}\n\
             # HELP fleuve_object_storage_hit_ratio Chunk hits over hits and misses since start.\n\
             # TYPE fleuve_object_storage_hit_ratio gauge\n\
             fleuve_object_storage_hit_ratio {ratio}\n\
             # HELP fleuve_object_storage_upstream_requests_total Requests made to the object storage for serving.\n\
             # TYPE fleuve_object_storage_upstream_requests_total counter\n\
             fleuve_object_storage_upstream_requests_total {}\n\
             # HELP fleuve_object_storage_upstream_errors_total Of those, the ones that failed.\n\
             # TYPE fleuve_object_storage_upstream_errors_total counter\n\
             fleuve_object_storage_upstream_errors_total {}\n\
             # HELP fleuve_object_storage_upstream_bytes_total Bytes received from the object storage for serving.\n\
             # TYPE fleuve_object_storage_upstream_bytes_total counter\n\
             fleuve_object_storage_upstream_bytes_total {}\n\
             # HELP fleuve_object_storage_upstream_seconds_total Time spent in those requests.\n\
             # TYPE fleuve_object_storage_upstream_seconds_total counter\n\
             fleuve_object_storage_upstream_seconds_total {}\n",
            self.requests.load(Relaxed),
            self.errors.load(Relaxed),
            self.bytes.load(Relaxed),
            self.micros.load(Relaxed) as f64 / 1e6,
        );
        if let Some(d) = &self.disk {
            d.render_metrics(out);
        }
    }
}

/// The cache path of an object (never a real file: `s3:` paths are told apart by the sweep).
fn cache_path(key: &str) -> PathBuf {
    Path::new("s3:").join(key)
}

/// Whether a cache path is an object's.
pub fn is_object_path(p: &Path) -> bool {
    p.starts_with("s3:")
}

fn file_id(key: &str, meta: &ObjMeta) -> FileId {
    let h = |s: &str| {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        s.hash(&mut hasher);
        hasher.finish()
    };
    FileId {
        dev: u64::MAX,
        ino: h(key),
        size: meta.size,
        mtime_ns: i128::from(h(&meta.etag)),
    }
}

struct MetaEntry {
    checked: Instant,
    meta: ObjMeta,
}

/// One shard's side: object metadata it has seen, and the shared upstream.
pub struct EdgeShard {
    upstream: Arc<Upstream>,
    metas: RefCell<LruCache<String, MetaEntry>>,
    revalidate: Duration,
    access: Arc<MediaAccess>,
    moves_seen: Cell<u64>,
}

impl EdgeShard {
    /// A shard's side over `upstream`; metadata is asked again after `revalidate`, and
    /// forgotten when `access` says files moved.
    pub fn new(
        upstream: Arc<Upstream>,
        revalidate: Duration,
        access: Arc<MediaAccess>,
    ) -> EdgeShard {
        EdgeShard {
            upstream,
            metas: RefCell::new(LruCache::new(NonZeroUsize::new(METAS).expect("non-zero"))),
            revalidate,
            moves_seen: Cell::new(access.moves()),
            access,
        }
    }

    /// The cache identity of an object path still believed current (for the cache's sweep).
    pub fn current_id(&self, path: &Path) -> Option<FileId> {
        let key = path.strip_prefix("s3:").ok()?.to_str()?;
        let metas = self.metas.borrow();
        let e = metas.peek(key)?;
        Some(file_id(key, &e.meta))
    }

    fn forget_if_moved(&self) {
        let now = self.access.moves();
        if now != self.moves_seen.get() {
            self.moves_seen.set(now);
            self.metas.borrow_mut().clear();
        }
    }

    async fn meta(&self, key: &str) -> Result<Option<ObjMeta>, FetchError> {
        self.forget_if_moved();
        let fresh = self
            .metas
            .borrow_mut()
            .get(key)
            .map(|e| (e.meta.clone(), e.checked.elapsed() < self.revalidate));
        if let Some((meta, true)) = &fresh {
            return Ok(Some(meta.clone()));
        }
        match self.upstream.head(key).await {
            Ok(Some(meta)) => {
                self.metas.borrow_mut().put(
                    key.to_string(),
                    MetaEntry {
                        checked: Instant::now(),
                        meta: meta.clone(),
                    },
                );
                Ok(Some(meta))
            }
            Ok(None) => {
                self.metas.borrow_mut().pop(key);
                Ok(None)
            }
            // Serve what is known while the bucket does not answer.
            Err(e) => match fresh {
                Some((meta, false)) => Ok(Some(meta)),
                _ => Err(e),
            },
        }
    }

    /// Answers GET/HEAD/OPTIONS of object `key`: from the on-disk cache where its chunks are
    /// all there (as a file range when `file_ok`, for `sendfile`), else from `cache` and the
    /// bucket.
    pub async fn answer(
        &self,
        cache: &RefCell<ChunkCache>,
        reader: &dyn ReadAt,
        req: ObjectRequest<'_>,
        file_ok: bool,
    ) -> ObjectAnswer {
        let ObjectRequest {
            method,
            key,
            headers,
            policy,
        } = req;
        let answer = ObjectAnswer::Response;
        if *method == Method::OPTIONS {
            return answer(super::serve::preflight());
        }
        if *method != Method::GET && *method != Method::HEAD {
            return answer(super::serve::text(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed\n",
            ));
        }
        let meta = match self.meta(key).await {
            Ok(Some(m)) => m,
            Ok(None) => return answer(super::serve::text(StatusCode::NOT_FOUND, "not found\n")),
            Err(e) => return answer(unavailable(key, &e)),
        };
        let file = key.rsplit('/').next().unwrap_or_default();
        let etag = HeaderValue::from_str(&format!("\"{}\"", meta.etag))
            .unwrap_or(HeaderValue::from_static("\"\""));
        let mut r = Response::new(Body::empty());
        let h = r.headers_mut();
        super::serve::cors(h);
        h.insert(
            header::CACHE_CONTROL,
            if file.ends_with(".mp4") {
                policy.media.clone()
            } else {
                policy.playlist.clone()
            },
        );
        h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type(file)),
        );
        h.insert(header::ETAG, etag.clone());
        if headers.get(header::IF_NONE_MATCH) == Some(&etag) {
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            return answer(r);
        }
        let range = headers
            .get(header::RANGE)
            .map_or(ByteRange::Full, |v| parse_range(v.as_bytes(), meta.size));
        let (start, end) = match range {
            ByteRange::Full if meta.size == 0 => {
                r.headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(0));
                return answer(r);
            }
            ByteRange::Full => (0, meta.size - 1),
            ByteRange::Partial { start, end } => {
                *r.status_mut() = StatusCode::PARTIAL_CONTENT;
                if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{}", meta.size))
                {
                    r.headers_mut().insert(header::CONTENT_RANGE, v);
                }
                (start, end)
            }
            ByteRange::Unsatisfiable => {
                let mut r = super::serve::text(StatusCode::RANGE_NOT_SATISFIABLE, "");
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{}", meta.size)) {
                    r.headers_mut().insert(header::CONTENT_RANGE, v);
                }
                return answer(r);
            }
        };
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(end - start + 1));
        if *method == Method::HEAD {
            return answer(r);
        }
        let (first, last) = (start / CHUNK, end / CHUNK);
        let disk = self.upstream.disk.as_ref();
        if file_ok {
            if let Some(on) = disk.and_then(|d| d.range(key, &meta, first, last)) {
                self.upstream.hits.fetch_add(last - first + 1, Relaxed);
                return ObjectAnswer::File(r, on, start, end);
            }
        }
        let id = file_id(key, &meta);
        if last - first + 1 > STREAM_CHUNKS {
            *r.body_mut() = self.stream(key, meta, start, end);
            return answer(r);
        }
        let mut parts = Vec::with_capacity((last - first + 1) as usize);
        for idx in first..=last {
            let cached = cache.borrow_mut().get(id, idx);
            let on_disk = match cached {
                Some(_) => None,
                None => disk.and_then(|d| d.range(key, &meta, idx, idx)),
            };
            let from_disk = match on_disk {
                Some(on) => {
                    let len = (CHUNK.min(meta.size - idx * CHUNK)) as usize;
                    reader.read_at(on.path, idx * CHUNK, len).await.ok()
                }
                None => None,
            };
            let chunk = match (cached, from_disk) {
                (Some(c), _) | (None, Some(c)) => {
                    self.upstream.hits.fetch_add(1, Relaxed);
                    c
                }
                (None, None) => {
                    self.upstream.misses.fetch_add(1, Relaxed);
                    match self.upstream.chunk(key, &meta, idx).await {
                        Ok(c) => {
                            // With the on-disk cache, the page cache holds these bytes already.
                            if disk.is_none() {
                                cache
                                    .borrow_mut()
                                    .insert(id, &cache_path(key), idx, c.clone());
                            }
                            c
                        }
                        Err(FetchError::Changed) => {
                            self.metas.borrow_mut().pop(key);
                            return answer(super::serve::text(
                                StatusCode::SERVICE_UNAVAILABLE,
                                "the file changed while it was read; ask again\n",
                            ));
                        }
                        Err(e) => return answer(unavailable(key, &e)),
                    }
                }
            };
            let base = idx * CHUNK;
            let lo = (start.max(base) - base) as usize;
            let hi = ((end + 1).min(base + chunk.len() as u64) - base) as usize;
            parts.push(chunk.slice(lo..hi));
        }
        let stream = futures_util::stream::iter(parts.into_iter().map(Ok::<Bytes, std::io::Error>));
        *r.body_mut() = Body::from_stream(stream);
        answer(r)
    }

    /// A long body fetched chunk by chunk as the client takes it, not cached.
    fn stream(&self, key: &str, meta: ObjMeta, start: u64, end: u64) -> Body {
        let upstream = self.upstream.clone();
        let key = key.to_string();
        let state = (upstream, key, meta, start / CHUNK, end / CHUNK, start, end);
        let stream = futures_util::stream::unfold(state, |s| async move {
            let (upstream, key, meta, idx, last, start, end) = s;
            if idx > last {
                return None;
            }
            upstream.misses.fetch_add(1, Relaxed);
            let item = match upstream.chunk(&key, &meta, idx).await {
                Ok(chunk) => {
                    let base = idx * CHUNK;
                    let lo = (start.max(base) - base) as usize;
                    let hi = ((end + 1).min(base + chunk.len() as u64) - base) as usize;
                    Ok(chunk.slice(lo..hi))
                }
                Err(_) => Err(std::io::Error::other(
                    "the object storage stopped answering",
                )),
            };
            // After an error the stream ends: the client sees a short body.
            let next = if item.is_ok() { idx + 1 } else { last + 1 };
            Some((item, (upstream, key, meta, next, last, start, end)))
        });
        Body::from_stream(stream)
    }
}

/// A request for an object.
pub struct ObjectRequest<'a> {
    /// GET, HEAD or OPTIONS (others are refused).
    pub method: &'a Method,
    /// The object's key.
    pub key: &'a str,
    /// The request's headers (Range, If-None-Match).
    pub headers: &'a HeaderMap,
    /// How clients may cache it.
    pub policy: &'a CachePolicy,
}

/// How an object request is answered.
pub enum ObjectAnswer {
    /// A whole response.
    Response(Response<Body>),
    /// The head of a response whose body is bytes `start..=end` of an on-disk cache file.
    File(Response<Body>, OnDisk, u64, u64),
}

impl ObjectAnswer {
    /// The same answer with `name: value` in its head (nothing added when `value` is None).
    pub fn with_header(
        mut self,
        name: http::HeaderName,
        value: Option<&http::HeaderValue>,
    ) -> ObjectAnswer {
        if let Some(v) = value {
            let head = match &mut self {
                ObjectAnswer::Response(r) | ObjectAnswer::File(r, ..) => r.headers_mut(),
            };
            head.insert(name, v.clone());
        }
        self
    }
}

fn unavailable(key: &str, e: &FetchError) -> Response<Body> {
    tracing::warn!(%key, error = ?e, "object storage read failed");
    super::serve::text(
        StatusCode::BAD_GATEWAY,
        "the object storage does not answer; try again shortly\n",
    )
}
