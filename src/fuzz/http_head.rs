//! The `http_head` target: request heads as the plain-HTTP/1.1 fast path reads them, answered by
//! a real [`SegmentServer`] over a small media root (a file spanning two cache chunks, a
//! playlist, an empty file, and a symlink that leaves the root). The answer's head must parse
//! back, agree with its body, and a body must be exactly the named bytes of a file in the root.

use crate::config::MediaConfig;
use crate::engine::http1::{parse_head, serialize_head, Head};
use crate::media::access::MediaAccess;
use crate::media::cache::CHUNK;
use crate::media::fileio::{OpenFile, OpenFuture, ReadAt};
use crate::media::layout::MediaLayout;
use crate::media::serve::{PlanBody, SegmentServer};
use crate::metrics::ShardMetrics;
use crate::runtime::conn_limits::{Admission, ConnLimits, LimitsConfig};
use http::{header, Method, StatusCode};
use http_body_util::BodyExt;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

/// The fixture's video UUID (the corpus's URLs use it).
const UUID: &str = "3f5a0b2e-7c1d-4e8f-9a6b-2d4c8e1f0a7b";
/// Modification time of every fixture file (2025-01-07T10:00:00Z), so ETags are stable and the
/// corpus can carry matching `If-None-Match` / `If-Range` values.
const MTIME: u64 = 1_736_244_000;

/// Reads synchronously (pread); the future is ready at once, so no runtime is needed.
struct SyncReader;

impl ReadAt for SyncReader {
    fn open(&self, path: PathBuf) -> OpenFuture {
        let open = std::fs::File::open(path).map(OpenFile::blocking);
        Box::pin(std::future::ready(open))
    }

    fn name(&self) -> &'static str {
        "fuzz-pread"
    }
}

struct Fixture {
    base: PathBuf,
    server: Rc<SegmentServer>,
    /// Runs the hyper path's lazy bodies (their reader task is a local task).
    rt: tokio::runtime::Runtime,
    /// A connection's place and send budget, as a shard gives each connection.
    admission: Admission,
    /// Canonical path of each servable file → its bytes.
    files: HashMap<PathBuf, Vec<u8>>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

impl Fixture {
    fn new() -> std::io::Result<Fixture> {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let base = std::env::temp_dir().join(format!("fleuve-fuzz-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("media");
        let hls = root.join("streaming-playlists/hls").join(UUID);
        let web = root.join("web-videos");
        let torrents = root.join("torrents");
        for d in [&hls, &web, &torrents] {
            std::fs::create_dir_all(d)?;
        }
        let root = std::fs::canonicalize(&root)?;
        // Deterministic bytes, so a wrong offset shows as wrong content.
        let big: Vec<u8> = (0..CHUNK + 4097)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let master = format!(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-STREAM-INF:BANDWIDTH=300000,RESOLUTION=426x240\n{UUID}-240.m3u8\n"
        )
        .into_bytes();
        let small: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        let mut files = HashMap::new();
        for (path, bytes) in [
            (hls.join(format!("{UUID}-720-fragmented.mp4")), big),
            (hls.join(format!("{UUID}-master.m3u8")), master),
            (web.join(format!("{UUID}-240.mp4")), small),
            (torrents.join(format!("{UUID}-240.torrent")), Vec::new()),
        ] {
            std::fs::write(&path, &bytes)?;
            std::fs::File::options()
                .write(true)
                .open(&path)?
                .set_modified(UNIX_EPOCH + Duration::from_secs(MTIME))?;
            files.insert(std::fs::canonicalize(&path)?, bytes);
        }
        std::fs::write(base.join("secret.mp4"), b"outside the media root")?;
        std::os::unix::fs::symlink(base.join("secret.mp4"), web.join("escape.mp4"))?;
        let server = Rc::new(SegmentServer::new(
            MediaLayout::new(root),
            Rc::new(SyncReader),
            8 * CHUNK,
            &MediaConfig::default(),
            Arc::new(ShardMetrics::new(0)),
            Arc::new(MediaAccess::new(&[7u8; 32])),
            None,
        ));
        let limits = ConnLimits::new(LimitsConfig {
            max_connections: 16,
            max_connections_per_ip: 16,
            max_connections_per_shard: 64,
            send_buffer_bytes: 64 << 20,
            send_buffer_bytes_per_connection: 16 << 20,
            send_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(60),
        });
        let admission = limits
            .admit(std::net::Ipv4Addr::LOCALHOST.into())
            .map_err(std::io::Error::other)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Fixture {
            base,
            server,
            rt,
            admission,
            files,
        })
    }
}

thread_local! {
    static FIXTURE: Option<Fixture> = Fixture::new().ok();
}

/// Runs one input: up to four pipelined heads, each planned, serialised and served.
pub fn http_head(data: &[u8]) {
    FIXTURE.with(|fixture| {
        let fixture = fixture.as_ref().expect("fuzz media fixture");
        let mut rest = data;
        for _ in 0..4 {
            let Head::Media(req) = parse_head(rest) else {
                return;
            };
            assert!(
                req.len > 0 && req.len <= rest.len(),
                "head length {}",
                req.len
            );
            assert!(req.method == Method::GET || req.method == Method::HEAD);
            check_answer(fixture, &req.method, req.path, &req.headers, req.version);
            rest = &rest[req.len..];
        }
    });
}

fn check_answer(
    fixture: &Fixture,
    method: &Method,
    path: &str,
    headers: &http::HeaderMap,
    version: u8,
) {
    let plan = fixture.server.plan(method, path, headers);
    let status = plan.head.status();
    let head = serialize_head(&plan.head, version, true);
    let mut parsed_headers = [httparse::EMPTY_HEADER; 32];
    let mut parsed = httparse::Response::new(&mut parsed_headers);
    match parsed.parse(&head) {
        Ok(httparse::Status::Complete(n)) => assert_eq!(n, head.len()),
        other => panic!("our response head does not parse: {other:?}"),
    }
    assert_eq!(parsed.code, Some(status.as_u16()));
    let content_length = plan
        .head
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let expected = match &plan.body {
        PlanBody::Range(r) => {
            assert!(status == StatusCode::OK || status == StatusCode::PARTIAL_CONTENT);
            assert!(r.start <= r.end);
            let content = served_file(fixture, &r.path);
            assert!(r.end < content.len() as u64, "range past the end");
            assert_eq!(content_length, Some(r.len()));
            if status == StatusCode::PARTIAL_CONTENT {
                let cr = plan.head.headers().get(header::CONTENT_RANGE);
                let want = format!("bytes {}-{}/{}", r.start, r.end, content.len());
                assert_eq!(cr.and_then(|v| v.to_str().ok()), Some(want.as_str()));
            }
            Some(content[r.start as usize..=r.end as usize].to_vec())
        }
        PlanBody::Text(t) => {
            assert!(!status.is_success(), "a text body with {status}");
            assert_eq!(content_length, Some(t.len() as u64));
            None
        }
        PlanBody::None => None,
    };
    if status.is_success() && status != StatusCode::NO_CONTENT && expected.is_none() {
        // HEAD or an empty file: the length still describes a file of ours.
        assert!(content_length.is_some(), "{status} without Content-Length");
    }
    // The hyper path answers with the same bytes.
    if let Some(want) = expected {
        if *method == Method::GET {
            let local = tokio::task::LocalSet::new();
            let body = local.block_on(&fixture.rt, async {
                let resp = fixture
                    .server
                    .serve(method, path, headers, &fixture.admission.activity);
                resp.into_body().collect().await
            });
            if let Ok(collected) = body {
                assert!(collected.to_bytes() == want, "served bytes differ");
            }
        }
    }
}

/// The content of a file the server may serve; anything else (a path outside the root, or a
/// file the fixture did not make) is a finding.
fn served_file<'a>(fixture: &'a Fixture, path: &Path) -> &'a [u8] {
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    match fixture.files.get(&real) {
        Some(bytes) => bytes,
        None => panic!("served {} (really {})", path.display(), real.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The corpus's heads reach the fixture's files, its ETags and its dates.
    #[test]
    fn seeds_reach_the_fixture() {
        let fixture = Fixture::new().unwrap();
        let status = |name: &str| {
            let path = format!(
                "{}/fuzz/corpus/http_head/{name}",
                env!("CARGO_MANIFEST_DIR")
            );
            let data = std::fs::read(path).unwrap();
            let Head::Media(req) = parse_head(&data) else {
                panic!("{name} is not a media head");
            };
            check_answer(&fixture, &req.method, req.path, &req.headers, req.version);
            fixture
                .server
                .plan(&req.method, req.path, &req.headers)
                .head
                .status()
                .as_u16()
        };
        assert_eq!(status("hlsjs-range.txt"), 206);
        assert_eq!(status("chunk-boundary.txt"), 206);
        assert_eq!(status("if-none-match.txt"), 200);
        assert_eq!(status("if-modified-since.txt"), 304);
        assert_eq!(status("if-range-suffix.txt"), 206);
        assert_eq!(status("if-range-date.txt"), 206);
        assert_eq!(status("empty-file-range.txt"), 416);
        assert_eq!(status("traversal.txt"), 400);
        assert_eq!(status("encoded-name.txt"), 206);
    }
}
