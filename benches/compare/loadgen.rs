//! A load generator for the side-by-side serving benchmarks (`benches/compare/*.sh`): HTTP/1.1
//! keep-alive byte-range GETs over a fixed number of connections, where every Nth request of a
//! connection goes to a "cold" file (one whose pages another thread keeps evicting from the page
//! cache), and the latency of hot and cold requests is reported apart. wrk cannot do that: it
//! has one latency distribution for everything.
//!
//! ```text
//! loadgen --addr 127.0.0.1:8080 --prefix /static/streaming-playlists/hls/UUID \
//!         --hot 32 --cold 256 --file-bytes 33554432 --range-bytes 2097152 \
//!         --cold-every 10 --conns 32 --secs 20 [--evict-dir DIR] [--evict-ms 20]
//! ```
//! Files are `<prefix>/hot-<i>.mp4` and `<prefix>/cold-<i>.mp4`; with `--evict-dir`, a thread
//! calls `posix_fadvise(DONTNEED)` on every `cold-*.mp4` there every `--evict-ms`. The output is
//! one line of `key=value` pairs (req/s, MB/s, hot and cold counts and p50/p99/p999 in ms,
//! errors), for the scripts to parse.
//!
//! `--proto h3 --ca CERT.pem` sends the same requests over HTTP/3 (quinn + h3, one QUIC
//! connection per `--conns`, the server named `localhost`). `--idle N` (with `--proto h1` or
//! `h2`, plain; h2 with prior knowledge) opens N connections, makes one small request on each,
//! prints `ready connected=… errors=…`, then holds them idle for `--secs` (for the memory
//! benchmark).
//!
//! Built as a bench target without harness (`cargo build --release --bench loadgen`); `cargo
//! bench` passes `--bench`, which is ignored.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Clone)]
struct Args {
    addr: SocketAddr,
    prefix: String,
    hot: u64,
    cold: u64,
    file_bytes: u64,
    range_bytes: u64,
    cold_every: u64,
    conns: usize,
    secs: u64,
    evict_dir: Option<String>,
    evict_ms: u64,
    proto: String,
    ca: Option<String>,
    idle: usize,
}

fn parse_args() -> Args {
    let mut a = Args {
        addr: "127.0.0.1:8080".parse().unwrap(),
        prefix: String::new(),
        hot: 16,
        cold: 0,
        file_bytes: 32 << 20,
        range_bytes: 2 << 20,
        cold_every: 10,
        conns: 32,
        secs: 10,
        evict_dir: None,
        evict_ms: 20,
        proto: "h1".into(),
        ca: None,
        idle: 0,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let key = argv[i].as_str();
        if key == "--bench" {
            i += 1;
            continue;
        }
        let value = argv
            .get(i + 1)
            .unwrap_or_else(|| panic!("{key} needs a value"));
        let num = || -> u64 {
            value
                .parse()
                .unwrap_or_else(|_| panic!("{key}: not a number: {value}"))
        };
        match key {
            "--addr" => a.addr = value.parse().expect("--addr: host:port"),
            "--prefix" => a.prefix = value.clone(),
            "--hot" => a.hot = num(),
            "--cold" => a.cold = num(),
            "--file-bytes" => a.file_bytes = num(),
            "--range-bytes" => a.range_bytes = num(),
            "--cold-every" => a.cold_every = num(),
            "--conns" => a.conns = num() as usize,
            "--secs" => a.secs = num(),
            "--evict-dir" => a.evict_dir = Some(value.clone()),
            "--evict-ms" => a.evict_ms = num(),
            "--proto" => a.proto = value.clone(),
            "--ca" => a.ca = Some(value.clone()),
            "--idle" => a.idle = num() as usize,
            _ => panic!("unknown argument {key}"),
        }
        i += 2;
    }
    assert!(a.hot > 0, "--hot must be at least 1");
    assert!(a.range_bytes > 0 && a.range_bytes <= a.file_bytes);
    a
}

/// xorshift64*: a cheap, deterministic per-connection sequence.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) % n.max(1)
    }
}

/// The `n`th request of a connection: every `cold_every`-th goes to a random cold file, the
/// others to a random hot one; a random range-aligned offset of `ranges`. (kind, file, start)
fn pick(a: &Args, rng: &mut Rng, n: u64, ranges: u64) -> (&'static str, u64, u64) {
    let cold = a.cold > 0 && a.cold_every > 0 && n.is_multiple_of(a.cold_every);
    let (kind, file) = if cold {
        ("cold", rng.next(a.cold))
    } else {
        ("hot", rng.next(a.hot))
    };
    (kind, file, rng.next(ranges) * a.range_bytes)
}

#[derive(Default)]
struct Tally {
    hot: Vec<u32>,
    cold: Vec<u32>,
    bytes: u64,
    errors: u64,
}

/// One request's head and body; returns the body length.
async fn request(stream: &mut TcpStream, req: &[u8], buf: &mut Vec<u8>) -> io::Result<u64> {
    stream.write_all(req).await?;
    buf.clear();
    let head_end = loop {
        if buf.len() > 64 * 1024 {
            return Err(io::Error::other("response head too long"));
        }
        let mut tmp = [0u8; 8192];
        let n = stream.read(&mut tmp).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(io::Error::other)?;
    let status = head.get(9..12).unwrap_or("");
    if status != "206" && status != "200" {
        return Err(io::Error::other(format!("status {status}")));
    }
    let len: u64 = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .ok_or_else(|| io::Error::other("no content-length"))?;
    let mut left = len - (buf.len() - head_end) as u64;
    let mut sink = vec![0u8; 256 * 1024];
    while left > 0 {
        let want = (left as usize).min(sink.len());
        let n = stream.read(&mut sink[..want]).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        left -= n as u64;
    }
    Ok(len)
}

async fn connection(a: Arc<Args>, id: u64, stop: Arc<AtomicBool>) -> Tally {
    let mut t = Tally::default();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (id + 1).wrapping_mul(0xA24B_AED4_963E_E407));
    let ranges = a.file_bytes / a.range_bytes;
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut stream: Option<TcpStream> = None;
    let mut n = id;
    while !stop.load(Relaxed) {
        n += 1;
        let (kind, file, start) = pick(&a, &mut rng, n, ranges);
        let cold = kind == "cold";
        let req = format!(
            "GET {}/{kind}-{file}.mp4 HTTP/1.1\r\nHost: bench\r\nRange: bytes={start}-{}\r\n\r\n",
            a.prefix,
            start + a.range_bytes - 1
        );
        if stream.is_none() {
            match TcpStream::connect(a.addr).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    stream = Some(s)
                }
                Err(_) => {
                    t.errors += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            }
        }
        let began = Instant::now();
        match request(stream.as_mut().unwrap(), req.as_bytes(), &mut buf).await {
            Ok(len) => {
                let us = began.elapsed().as_micros().min(u32::MAX as u128) as u32;
                if cold { &mut t.cold } else { &mut t.hot }.push(us);
                t.bytes += len;
            }
            Err(_) => {
                t.errors += 1;
                stream = None;
            }
        }
    }
    t
}

/// The QUIC client configuration trusting `ca` (PEM).
fn quic_config(ca: &str) -> quinn::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::File::open(ca).expect("--ca");
    for c in rustls_pemfile::certs(&mut std::io::BufReader::new(pem)) {
        roots.add(c.expect("PEM certificate")).expect("certificate");
    }
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .expect("TLS 1.3")
    .with_root_certificates(roots)
    .with_no_client_auth();
    tls.alpn_protocols = vec![b"h3".to_vec()];
    quinn::ClientConfig::new(Arc::new(
        quinn::crypto::rustls::QuicClientConfig::try_from(tls).expect("QUIC TLS config"),
    ))
}

/// Like [`connection`], over HTTP/3.
async fn h3_connection(
    a: Arc<Args>,
    id: u64,
    stop: Arc<AtomicBool>,
    endpoint: quinn::Endpoint,
    config: quinn::ClientConfig,
) -> Tally {
    use bytes::Buf;
    let mut t = Tally::default();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (id + 1).wrapping_mul(0xA24B_AED4_963E_E407));
    let ranges = a.file_bytes / a.range_bytes;
    let conn = match endpoint.connect_with(config, a.addr, "localhost") {
        Ok(c) => match c.await {
            Ok(c) => c,
            Err(_) => {
                t.errors += 1;
                return t;
            }
        },
        Err(_) => {
            t.errors += 1;
            return t;
        }
    };
    let Ok((mut driver, mut send)) = h3::client::new(h3_quinn::Connection::new(conn)).await else {
        t.errors += 1;
        return t;
    };
    tokio::task::spawn(async move {
        let _ = std::future::poll_fn(|cx| driver.poll_close(cx)).await;
    });
    let mut n = id;
    while !stop.load(Relaxed) {
        n += 1;
        let (kind, file, start) = pick(&a, &mut rng, n, ranges);
        let cold = kind == "cold";
        let req = http::Request::get(format!(
            "https://localhost:{}{}/{kind}-{file}.mp4",
            a.addr.port(),
            a.prefix
        ))
        .header(
            "range",
            format!("bytes={start}-{}", start + a.range_bytes - 1),
        )
        .body(())
        .expect("request");
        let began = Instant::now();
        let result: Result<u64, String> = async {
            let mut s = send.send_request(req).await.map_err(|e| e.to_string())?;
            s.finish().await.map_err(|e| e.to_string())?;
            let resp = s.recv_response().await.map_err(|e| e.to_string())?;
            if !resp.status().is_success() {
                return Err(format!("status {}", resp.status()));
            }
            let mut len = 0u64;
            while let Some(mut b) = s.recv_data().await.map_err(|e| e.to_string())? {
                len += b.remaining() as u64;
                b.advance(b.remaining());
            }
            Ok(len)
        }
        .await;
        match result {
            Ok(len) => {
                let us = began.elapsed().as_micros().min(u32::MAX as u128) as u32;
                if cold { &mut t.cold } else { &mut t.hot }.push(us);
                t.bytes += len;
            }
            Err(_) => {
                t.errors += 1;
                break;
            }
        }
    }
    t
}

/// What an idle connection keeps alive.
enum Held {
    H1(#[allow(dead_code)] TcpStream),
    H2(#[allow(dead_code)] h2::client::SendRequest<bytes::Bytes>),
}

/// Opens a connection, makes one small request on it, and returns it to be held idle.
async fn idle_connection(a: &Args) -> io::Result<Held> {
    let mut stream = TcpStream::connect(a.addr).await?;
    let path = format!("{}/hot-0.mp4", a.prefix);
    if a.proto == "h2" {
        let (send, conn) = h2::client::handshake(stream)
            .await
            .map_err(io::Error::other)?;
        tokio::task::spawn(async move {
            let _ = conn.await;
        });
        let mut send = send.ready().await.map_err(io::Error::other)?;
        let req = http::Request::get(format!("http://{}{path}", a.addr))
            .header("range", "bytes=0-99")
            .body(())
            .expect("request");
        let (resp, _) = send.send_request(req, true).map_err(io::Error::other)?;
        let mut body = resp.await.map_err(io::Error::other)?.into_body();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.map_err(io::Error::other)?;
            let _ = body.flow_control().release_capacity(chunk.len());
        }
        return Ok(Held::H2(send));
    }
    let req = format!("GET {path} HTTP/1.1\r\nHost: bench\r\nRange: bytes=0-99\r\n\r\n");
    let mut buf = Vec::new();
    request(&mut stream, req.as_bytes(), &mut buf).await?;
    Ok(Held::H1(stream))
}

/// `--idle N`: opens the connections, reports, holds them for `--secs`.
async fn idle(a: Arc<Args>) {
    let mut held = Vec::with_capacity(a.idle);
    let mut errors = 0u64;
    let batch = 200;
    for chunk in (0..a.idle).collect::<Vec<_>>().chunks(batch) {
        let tasks: Vec<_> = chunk
            .iter()
            .map(|_| {
                let a = a.clone();
                tokio::task::spawn(async move { idle_connection(&a).await })
            })
            .collect();
        for t in tasks {
            match t.await.expect("task") {
                Ok(h) => held.push(h),
                Err(_) => errors += 1,
            }
        }
    }
    println!("ready connected={} errors={errors}", held.len());
    use std::io::Write;
    let _ = std::io::stdout().flush();
    tokio::time::sleep(Duration::from_secs(a.secs)).await;
    drop(held);
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1000.0
}

fn evictor(dir: String, every: Duration, stop: Arc<AtomicBool>) {
    let files: Vec<std::fs::File> = std::fs::read_dir(&dir)
        .expect("--evict-dir")
        .filter_map(|e| {
            let e = e.ok()?;
            let name = e.file_name().into_string().ok()?;
            (name.starts_with("cold-") && name.ends_with(".mp4"))
                .then(|| std::fs::File::open(e.path()).ok())?
        })
        .collect();
    while !stop.load(Relaxed) {
        for f in &files {
            let _ = nix::fcntl::posix_fadvise(
                std::os::fd::AsFd::as_fd(f),
                0,
                0,
                nix::fcntl::PosixFadviseAdvice::POSIX_FADV_DONTNEED,
            );
        }
        std::thread::sleep(every);
    }
}

fn main() {
    let a = Arc::new(parse_args());
    let stop = Arc::new(AtomicBool::new(false));
    let evict = a.evict_dir.clone().map(|dir| {
        let (stop, every) = (stop.clone(), Duration::from_millis(a.evict_ms));
        std::thread::spawn(move || evictor(dir, every, stop))
    });
    // One thread: pin it with taskset, apart from the server's cores.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if a.idle > 0 {
        rt.block_on(idle(a.clone()));
        return;
    }
    let began = Instant::now();
    let tallies = rt.block_on(async {
        let quic = (a.proto == "h3").then(|| {
            let endpoint =
                quinn::Endpoint::client("127.0.0.1:0".parse().expect("addr")).expect("endpoint");
            let config = quic_config(a.ca.as_deref().expect("--proto h3 needs --ca"));
            (endpoint, config)
        });
        let tasks: Vec<_> = (0..a.conns as u64)
            .map(|id| match &quic {
                Some((endpoint, config)) => tokio::task::spawn(h3_connection(
                    a.clone(),
                    id,
                    stop.clone(),
                    endpoint.clone(),
                    config.clone(),
                )),
                None => tokio::task::spawn(connection(a.clone(), id, stop.clone())),
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(a.secs)).await;
        stop.store(true, Relaxed);
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.expect("connection task"));
        }
        out
    });
    let elapsed = began.elapsed().as_secs_f64();
    if let Some(e) = evict {
        let _ = e.join();
    }
    let mut all = Tally::default();
    for t in tallies {
        all.hot.extend(t.hot);
        all.cold.extend(t.cold);
        all.bytes += t.bytes;
        all.errors += t.errors;
    }
    all.hot.sort_unstable();
    all.cold.sort_unstable();
    let total = (all.hot.len() + all.cold.len()) as f64;
    println!(
        "rps={:.1} mbps={:.1} hot={} hot_p50={:.2} hot_p99={:.2} hot_p999={:.2} cold={} cold_p50={:.2} cold_p99={:.2} errors={}",
        total / elapsed,
        all.bytes as f64 / elapsed / 1_048_576.0,
        all.hot.len(),
        percentile(&all.hot, 0.50),
        percentile(&all.hot, 0.99),
        percentile(&all.hot, 0.999),
        all.cold.len(),
        percentile(&all.cold, 0.50),
        percentile(&all.cold, 0.99),
        all.errors,
    );
}
