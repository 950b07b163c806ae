//! The segment server over real sockets: ranges, HEAD, validators, CORS, content types,
//! traversal, HTTP/2, both shards, the portable I/O path.

mod common;

use common::*;
use reqwest::header;
use std::io::{Read, Write};

const HLS: &str = "/static/streaming-playlists/hls/0f5c4e9b-0000-4000-8000-000000000001";

fn put(s: &Server, rel: &str, data: &[u8]) {
    let p = s.media().join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

fn hls_file(s: &Server, name: &str, data: &[u8]) -> String {
    put(
        s,
        &format!("streaming-playlists/hls/0f5c4e9b-0000-4000-8000-000000000001/{name}"),
        data,
    );
    format!("{HLS}/{name}")
}

#[tokio::test]
async fn byte_ranges_head_and_errors() {
    let s = Server::start();
    let size = 3 * 1024 * 1024 + 123; // spans several cache chunks
    let data = pattern(size);
    let path = hls_file(&s, "abc-720-fragmented.mp4", &data);
    let c = client();

    let full = c.get(s.url(&path)).send().await.unwrap();
    assert_eq!(full.status(), 200);
    assert_eq!(full.headers()[header::CONTENT_TYPE], "video/mp4");
    assert_eq!(full.headers()[header::ACCEPT_RANGES], "bytes");
    assert_eq!(full.headers()[header::CONTENT_LENGTH], size.to_string());
    assert!(full.headers()[header::CACHE_CONTROL]
        .to_str()
        .unwrap()
        .contains("immutable"));
    assert!(full.headers().contains_key(header::LAST_MODIFIED));
    assert_eq!(full.bytes().await.unwrap(), data);

    let cases: [(&str, usize, usize); 5] = [
        ("bytes=0-99", 0, 99),                           // first bytes
        ("bytes=1048000-2100000", 1_048_000, 2_100_000), // middle, across chunks
        ("bytes=-500", size - 500, size - 1),            // suffix
        ("bytes=3000000-", 3_000_000, size - 1),         // open-ended
        ("bytes=10-99999999", 10, size - 1),             // end clamped
    ];
    for (range, a, b) in cases {
        let r = c
            .get(s.url(&path))
            .header(header::RANGE, range)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 206, "{range}");
        assert_eq!(
            r.headers()[header::CONTENT_RANGE],
            format!("bytes {a}-{b}/{size}"),
            "{range}"
        );
        assert_eq!(r.headers()[header::CONTENT_LENGTH], (b - a + 1).to_string());
        assert_eq!(&r.bytes().await.unwrap()[..], &data[a..=b], "{range}");
    }
    // Twice more, now from the cache.
    for _ in 0..2 {
        let r = c
            .get(s.url(&path))
            .header(header::RANGE, "bytes=1048000-2100000")
            .send()
            .await
            .unwrap();
        assert_eq!(&r.bytes().await.unwrap()[..], &data[1_048_000..=2_100_000]);
    }

    let r = c
        .get(s.url(&path))
        .header(header::RANGE, format!("bytes={size}-"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 416);
    assert_eq!(
        r.headers()[header::CONTENT_RANGE],
        format!("bytes */{size}")
    );

    let r = c.head(s.url(&path)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[header::CONTENT_LENGTH], size.to_string());
    assert!(r.bytes().await.unwrap().is_empty());
    let r = c
        .head(s.url(&path))
        .header(header::RANGE, "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()[header::CONTENT_LENGTH], "10");

    let r = c.post(s.url(&path)).send().await.unwrap();
    assert_eq!(r.status(), 405);
    let r = c
        .get(s.url(&format!("{HLS}/missing.mp4")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // Metrics saw hits and misses.
    let m = c
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains("fleuve_http_requests_total{route=\"media\",status=\"206\"}"),
        "{m}"
    );
    let hits: u64 = m
        .lines()
        .filter(|l| l.starts_with("fleuve_cache_hits_total"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert!(hits > 0, "{m}");
}

#[tokio::test]
async fn validators_cors_and_content_types() {
    // Through hyper (fast path off); the other tests go through the fast path.
    let s = Server::start_with(Options {
        env: vec![
            ("FLEUVE_ENGINE_SHARDS".into(), "2".into()),
            ("FLEUVE_ENGINE_FAST_PATH".into(), "false".into()),
        ],
        args: vec![],
    });
    let c = client();
    let playlist = hls_file(&s, "abc-master.m3u8", b"#EXTM3U\n");
    let r = c
        .get(s.url(&playlist))
        .header(header::ORIGIN, "https://other.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()[header::CONTENT_TYPE],
        "application/vnd.apple.mpegurl"
    );
    assert_eq!(r.headers()[header::CACHE_CONTROL], "public, max-age=2");
    assert_eq!(r.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    let expose = r.headers()[header::ACCESS_CONTROL_EXPOSE_HEADERS]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        expose.contains("Content-Range") && expose.contains("Content-Length"),
        "{expose}"
    );
    let etag = r.headers()[header::ETAG].clone();
    let last_modified = r.headers()[header::LAST_MODIFIED].clone();

    let r = c
        .get(s.url(&playlist))
        .header(header::IF_NONE_MATCH, etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    assert_eq!(r.headers()[header::ETAG], etag);
    assert!(r.bytes().await.unwrap().is_empty());
    let r = c
        .get(s.url(&playlist))
        .header(header::IF_NONE_MATCH, "\"other\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .get(s.url(&playlist))
        .header(header::IF_MODIFIED_SINCE, last_modified)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    // If-Range with a stale validator: whole file.
    let r = c
        .get(s.url(&playlist))
        .header(header::RANGE, "bytes=0-1")
        .header(header::IF_RANGE, "\"stale\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let r = c
        .request(reqwest::Method::OPTIONS, s.url(&playlist))
        .header(header::ORIGIN, "https://x.example")
        .header("Access-Control-Request-Headers", "range")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(r.headers()[header::ACCESS_CONTROL_ALLOW_HEADERS]
        .to_str()
        .unwrap()
        .contains("Range"));

    let json = hls_file(&s, "abc-segments-sha256.json", b"{}");
    let r = c.get(s.url(&json)).send().await.unwrap();
    assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
    put(&s, "torrents/abc-720-hls.torrent", b"d4:infod");
    let r = c
        .get(s.url("/lazy-static/torrents/abc-720-hls.torrent"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()[header::CONTENT_TYPE],
        "application/x-bittorrent"
    );
    put(&s, "thumbnails/abc.jpg", b"\xff\xd8\xff");
    let r = c
        .get(s.url("/lazy-static/thumbnails/abc.jpg"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()[header::CONTENT_TYPE], "image/jpeg");
    put(&s, "web-videos/abc-720.mp4", b"mp4");
    for p in [
        "/static/web-videos/abc-720.mp4",
        "/static/webseed/abc-720.mp4",
    ] {
        let r = c.get(s.url(p)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{p}");
        assert_eq!(r.headers()[header::CONTENT_TYPE], "video/mp4");
    }
    // Empty file.
    let empty = hls_file(&s, "empty.json", b"");
    let r = c.get(s.url(&empty)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[header::CONTENT_LENGTH], "0");
}

/// Sends a raw request line (reqwest would normalise the dots away) and returns the status.
fn raw_status(addr: &str, target: &str) -> u16 {
    let mut t = std::net::TcpStream::connect(addr).unwrap();
    write!(
        t,
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = t.read_to_string(&mut out);
    assert!(
        !out.contains("root:x:0:0"),
        "leaked /etc/passwd for {target}"
    );
    assert!(
        !out.contains("SECRET-OUTSIDE"),
        "leaked a file outside the media root for {target}"
    );
    out.split(' ').nth(1).unwrap_or("0").parse().unwrap_or(0)
}

#[tokio::test]
async fn no_path_leaves_the_media_root() {
    let s = Server::start();
    std::fs::write(s.dir.join("secret.txt"), "SECRET-OUTSIDE").unwrap();
    std::os::unix::fs::symlink(
        s.dir.join("secret.txt"),
        s.media().join("web-videos/link.mp4"),
    )
    .unwrap();
    std::os::unix::fs::symlink(&s.dir, s.media().join("streaming-playlists/hls/escape")).unwrap();
    std::os::unix::fs::symlink("/etc", s.media().join("streaming-playlists/hls/etc")).unwrap();
    for target in [
        "/static/web-videos/../../secret.txt",
        "/static/web-videos/..%2f..%2fsecret.txt",
        "/static/web-videos/%2e%2e/%2e%2e/secret.txt",
        "/static/web-videos/%2E%2E%2F%2E%2E%2Fsecret.txt",
        "/static/streaming-playlists/hls/%2e%2e/%2e%2e/secret.txt",
        "/static/web-videos//etc/passwd",
        "/static/web-videos/%2fetc%2fpasswd",
        "/static/web-videos/..%5c..%5csecret.txt",
        "/static/web-videos/link.mp4",
        "/static/streaming-playlists/hls/escape/secret.txt",
        "/static/streaming-playlists/hls/etc/passwd",
        "/lazy-static/torrents/%00",
    ] {
        let status = raw_status(&s.addr, target);
        assert!(status == 400 || status == 404, "{target} gave {status}");
    }
    // A symlink that stays inside the root is fine.
    std::fs::write(s.media().join("web-videos/real.mp4"), b"inside").unwrap();
    std::os::unix::fs::symlink(
        s.media().join("web-videos/real.mp4"),
        s.media().join("web-videos/alias.mp4"),
    )
    .unwrap();
    assert_eq!(raw_status(&s.addr, "/static/web-videos/alias.mp4"), 200);
}

#[tokio::test]
async fn http2_and_both_shards_serve() {
    let s = Server::start();
    let data = pattern(100_000);
    let path = hls_file(&s, "x-360-fragmented.mp4", &data);
    let h2 = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let r = h2
        .get(s.url(&path))
        .header(header::RANGE, "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status(), 206);
    assert_eq!(&r.bytes().await.unwrap()[..], &data[10..20]);

    // Many fresh connections at once: SO_REUSEPORT spreads them over both shards.
    let mut tasks = Vec::new();
    for i in 0..48 {
        let url = s.url(&path);
        let want = data[i..i + 100].to_vec();
        tasks.push(tokio::spawn(async move {
            let c = reqwest::Client::builder()
                .no_proxy()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap();
            let r = c
                .get(url)
                .header(header::RANGE, format!("bytes={}-{}", i, i + 99))
                .send()
                .await
                .unwrap();
            assert_eq!(&r.bytes().await.unwrap()[..], &want[..]);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let m = metrics_text(&s).await;
    for shard in 0..2 {
        let line = m
            .lines()
            .find(|l| {
                l.starts_with(&format!(
                    "fleuve_connections_accepted_total{{shard=\"{shard}\"}}"
                ))
            })
            .unwrap_or_else(|| panic!("no shard {shard} in {m}"));
        let n: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(n > 0, "shard {shard} accepted nothing: {m}");
    }
}

#[tokio::test]
async fn portable_io_path_serves_the_same_bytes() {
    let s = Server::start_with(Options {
        env: vec![
            ("FLEUVE_ENGINE_SHARDS".into(), "2".into()),
            ("FLEUVE_ENGINE_IO".into(), "portable".into()),
        ],
        args: vec![],
    });
    let data = pattern(40 * 1024 * 1024 + 17); // over the streaming threshold too
    let path = hls_file(&s, "big-1080-fragmented.mp4", &data);
    let c = client();
    let r = c
        .get(s.url(&path))
        .header(header::RANGE, "bytes=5000000-7000000")
        .send()
        .await
        .unwrap();
    assert_eq!(&r.bytes().await.unwrap()[..], &data[5_000_000..=7_000_000]);
    let r = c.get(s.url(&path)).send().await.unwrap();
    assert_eq!(r.headers()[header::CONTENT_LENGTH], data.len().to_string());
    let body = r.bytes().await.unwrap();
    assert!(body[..] == data[..], "streamed body differs");
    let (token, _) = login(&s).await;
    let st: serde_json::Value = get_json_as(&s, "/api/v1/admin/status", &token).await;
    assert_eq!(st["io"]["backend"], "portable");
    assert_eq!(st["shardCount"], 2);
}

#[tokio::test]
async fn graceful_shutdown_finishes_inflight_responses() {
    let mut s = Server::start();
    let data = pattern(48 * 1024 * 1024);
    let path = hls_file(&s, "long-1080-fragmented.mp4", &data);
    let mut t = std::net::TcpStream::connect(&s.addr).unwrap();
    write!(t, "GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", s.addr).unwrap();
    let mut first = vec![0u8; 64 * 1024];
    t.read_exact(&mut first).unwrap();
    // Stop while the response is in flight; the rest must still arrive.
    let pid = s.child.as_ref().unwrap().id();
    std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .unwrap();
    let mut rest = Vec::new();
    t.read_to_end(&mut rest).unwrap();
    let mut all = first;
    all.extend_from_slice(&rest);
    let body_at = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(
        all.len() - body_at,
        data.len(),
        "response cut short by shutdown"
    );
    assert!(all[body_at..] == data[..]);
    let status = s.stop();
    assert!(status.success(), "exit status {status}");
    assert!(s.log().contains("stopped cleanly"), "{}", s.log());
    assert!(!s.dir.join("fleuve.addr").exists());
}

#[tokio::test]
async fn tls_with_alpn_h2_and_http1() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key, _) = self_signed_cert(certs.path());
    let s = Server::start_with(Options {
        env: vec![
            ("FLEUVE_ENGINE_SHARDS".into(), "1".into()),
            ("FLEUVE_TLS_CERT".into(), cert.display().to_string()),
            ("FLEUVE_TLS_KEY".into(), key.display().to_string()),
        ],
        args: vec![],
    });
    let path = hls_file(&s, "tls-master.m3u8", b"#EXTM3U\n");
    let url = format!("https://{}{}", s.addr, path);
    // A rendition spanning several cache chunks: its ranges over TLS are the file's bytes.
    let data = pattern(5 * 1024 * 1024 + 321);
    let media = format!(
        "https://{}{}",
        s.addr,
        hls_file(&s, "tls-720-fragmented.mp4", &data)
    );
    for h2 in [true, false] {
        let mut b = reqwest::Client::builder()
            .no_proxy()
            .danger_accept_invalid_certs(true);
        if !h2 {
            b = b.http1_only();
        }
        let c = b.build().unwrap();
        let r = c.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let want = if h2 {
            reqwest::Version::HTTP_2
        } else {
            reqwest::Version::HTTP_11
        };
        assert_eq!(r.version(), want);
        assert_eq!(&r.bytes().await.unwrap()[..], b"#EXTM3U\n");
        for (start, end) in [
            (0usize, 1399usize),
            (1400, 1400 + 2 * 1024 * 1024 - 1),
            (1_048_575, 4_194_304),
            (data.len() - 1000, data.len() - 1),
        ] {
            let r = c
                .get(&media)
                .header("range", format!("bytes={start}-{end}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 206, "h2={h2} {start}-{end}");
            assert_eq!(r.version(), want);
            let body = r.bytes().await.unwrap();
            assert!(
                body[..] == data[start..=end],
                "h2={h2} {start}-{end}: bytes differ"
            );
        }
        let whole = c.get(&media).send().await.unwrap().bytes().await.unwrap();
        assert!(whole[..] == data[..], "h2={h2}: whole file differs");
    }
    // Plain HTTP on the TLS port is not served.
    assert!(client()
        .get(format!("http://{}{}", s.addr, path))
        .send()
        .await
        .map(|r| r.status() != 200)
        .unwrap_or(true));
}

/// Reads one HTTP/1.1 response (head, then a Content-Length body unless `head_only`).
fn read_response(
    r: &mut std::io::BufReader<std::net::TcpStream>,
    head_only: bool,
) -> (u16, String, Vec<u8>) {
    use std::io::BufRead;
    let mut head = String::new();
    loop {
        let mut line = String::new();
        assert!(
            r.read_line(&mut line).unwrap() > 0,
            "connection closed early"
        );
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0; if head_only { 0 } else { len }];
    r.read_exact(&mut body).unwrap();
    (status, head, body)
}

#[tokio::test]
async fn fast_path_pipelining_handoff_and_close() {
    let s = Server::start();
    let data = pattern(300_000);
    let path = hls_file(&s, "p-480-fragmented.mp4", &data);
    let addr = s.addr.clone();
    tokio::task::spawn_blocking(move || {
        let t = std::net::TcpStream::connect(&addr).unwrap();
        let mut w = t.try_clone().unwrap();
        let mut r = std::io::BufReader::new(t);
        // Three pipelined requests in one write: media, media again (now hot: sendfile), then
        // an API request that hands the connection to hyper, then media through hyper.
        write!(
            w,
            "GET {path} HTTP/1.1\r\nHost: x\r\nRange: bytes=100-199999\r\n\r\n\
             GET {path} HTTP/1.1\r\nHost: x\r\nRange: bytes=100-199999\r\n\r\n\
             GET /api/v1/config HTTP/1.1\r\nHost: x\r\n\r\n\
             HEAD {path} HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        .unwrap();
        for _ in 0..2 {
            let (status, head, body) = read_response(&mut r, false);
            assert_eq!(status, 206, "{head}");
            assert!(
                head.contains("content-range: bytes 100-199999/300000"),
                "{head}"
            );
            assert!(body == data[100..200_000]);
        }
        let (status, _, body) = read_response(&mut r, false);
        assert_eq!(status, 200);
        assert!(String::from_utf8_lossy(&body).contains("serverVersion"));
        let (status, head, body) = read_response(&mut r, true);
        assert_eq!(status, 200, "{head}");
        assert!(head.to_ascii_lowercase().contains("content-length: 300000"));
        assert!(body.is_empty());

        // HTTP/1.0 without keep-alive, and Connection: close: the server closes after one answer.
        for req in [
            format!("GET {path} HTTP/1.0\r\nRange: bytes=0-9\r\n\r\n"),
            format!(
                "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nRange: bytes=0-9\r\n\r\n"
            ),
        ] {
            let mut t = std::net::TcpStream::connect(&addr).unwrap();
            t.write_all(req.as_bytes()).unwrap();
            let mut all = Vec::new();
            t.read_to_end(&mut all).unwrap();
            let text = String::from_utf8_lossy(&all);
            assert!(text.contains(" 206 Partial Content\r\n"), "{text}");
            assert!(all.ends_with(&data[0..10]));
        }
        // Garbage goes to hyper, which answers 400.
        let mut t = std::net::TcpStream::connect(&addr).unwrap();
        t.write_all(b"\x16\x03\x01 not http at all\r\n\r\n")
            .unwrap();
        let mut all = Vec::new();
        let _ = t.read_to_end(&mut all);
        let text = String::from_utf8_lossy(&all);
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 400"),
            "{text}"
        );
    })
    .await
    .unwrap();
}

/// The sum of a per-shard gauge in `/metrics`.
async fn gauge_sum(s: &Server, name: &str) -> u64 {
    let m = metrics_text(s).await;
    m.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// A deleted file gives back what the shards held for it: its cached chunks go at the next
/// sweep (`media.sweep_secs`), so deleted videos do not keep memory until the cache is full.
#[tokio::test]
async fn chunks_of_deleted_files_are_dropped() {
    let mut o = Options::default();
    o.env.push(("FLEUVE_MEDIA_SWEEP_SECS".into(), "1".into()));
    o.env.push(("FLEUVE_ENGINE_SHARDS".into(), "1".into()));
    let s = Server::start_with(o);
    let kept = hls_file(&s, "kept.m3u8", &vec![b'k'; 1000]);
    let gone = hls_file(&s, "gone-fragmented.mp4", &vec![b'g'; 300_000]);
    // Over HTTP/2 (hyper's path): a plain HTTP/1.1 range this long is sent from the page cache
    // and does not enter the shard's cache.
    let h2 = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    for url in [&kept, &gone] {
        let r = h2.get(s.url(url)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
    }
    let before = gauge_sum(&s, "fleuve_cache_bytes").await;
    assert!(before >= 301_000, "both files cached: {before}");
    std::fs::remove_file(
        s.media().join(
            "streaming-playlists/hls/0f5c4e9b-0000-4000-8000-000000000001/gone-fragmented.mp4",
        ),
    )
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        // Any media request lets the shard sweep once the interval has passed.
        let r = client().get(s.url(&kept)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
        let now = gauge_sum(&s, "fleuve_cache_bytes").await;
        if now == 1000 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the deleted file's chunks are still cached: {now} bytes"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
