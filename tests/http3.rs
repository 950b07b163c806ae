//! HTTP/3 over real QUIC on loopback, with the Rust h3 client (h3 + h3-quinn): ranges, HEAD,
//! validators, errors and API requests as over TCP, `Alt-Svc` on the TCP responses, bad input
//! (a flood of initial packets and half-open handshakes, a stream reset mid-response, a client
//! that stops reading), clean shutdown; and Chromium forced onto QUIC playing a video whose
//! segments arrive over h3.

mod common;

use bytes::{Buf, Bytes};
use common::*;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const UUID: &str = "0f5c4e9b-0000-4000-8000-0000000000b3";

/// A server with TLS (so HTTP/3) and `env`, its base URL on https.
fn tls_server(cert: &Path, key: &Path, env: &[(&str, &str)]) -> Server {
    let mut o = with_env(env);
    o.env
        .push(("FLEUVE_TLS_CERT".into(), cert.display().to_string()));
    o.env
        .push(("FLEUVE_TLS_KEY".into(), key.display().to_string()));
    let mut s = Server::start_with(o);
    s.base = format!("https://{}", s.addr);
    s
}

fn media_file(s: &Server, name: &str, data: &[u8]) -> String {
    let dir = s.media().join(format!("streaming-playlists/hls/{UUID}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), data).unwrap();
    format!("/static/streaming-playlists/hls/{UUID}/{name}")
}

/// An HTTP/3 connection of the Rust h3 client.
struct H3 {
    _endpoint: quinn::Endpoint,
    conn: quinn::Connection,
    send: h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>,
    authority: String,
}

fn client_config(cert: &Path) -> quinn::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut std::io::BufReader::new(
        std::fs::File::open(cert).unwrap(),
    )) {
        roots.add(c.unwrap()).unwrap();
    }
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    tls.alpn_protocols = vec![b"h3".to_vec()];
    quinn::ClientConfig::new(Arc::new(
        quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap(),
    ))
}

async fn h3_connect(addr: SocketAddr, cert: &Path) -> H3 {
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let conn = tokio::time::timeout(
        Duration::from_secs(10),
        endpoint
            .connect_with(client_config(cert), addr, "localhost")
            .unwrap(),
    )
    .await
    .expect("QUIC handshake timed out")
    .expect("QUIC handshake");
    let (mut driver, send) = h3::client::new(h3_quinn::Connection::new(conn.clone()))
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = std::future::poll_fn(|cx| driver.poll_close(cx)).await;
    });
    H3 {
        _endpoint: endpoint,
        conn,
        send,
        authority: format!("localhost:{}", addr.port()),
    }
}

type ReqStream = h3::client::RequestStream<h3_quinn::BidiStream<Bytes>, Bytes>;

impl H3 {
    /// Sends a request (no body) and returns its stream, once the response head is in.
    async fn start(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (http::Response<()>, ReqStream) {
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("https://{}{path}", self.authority));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut stream = self.send.send_request(req.body(()).unwrap()).await.unwrap();
        stream.finish().await.unwrap();
        let resp = stream.recv_response().await.unwrap();
        (resp, stream)
    }

    async fn get(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (http::Response<()>, Vec<u8>) {
        let (resp, mut stream) = self.start(method, path, headers).await;
        (resp, read_all(&mut stream).await)
    }

    /// A POST with a form body.
    async fn post_form(&mut self, path: &str, form: &str) -> (http::Response<()>, Vec<u8>) {
        let req = http::Request::builder()
            .method("POST")
            .uri(format!("https://{}{path}", self.authority))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("content-length", form.len().to_string())
            .body(())
            .unwrap();
        let mut stream = self.send.send_request(req).await.unwrap();
        stream
            .send_data(Bytes::copy_from_slice(form.as_bytes()))
            .await
            .unwrap();
        stream.finish().await.unwrap();
        let resp = stream.recv_response().await.unwrap();
        let body = read_all(&mut stream).await;
        (resp, body)
    }
}

async fn read_all(stream: &mut ReqStream) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(mut chunk) = stream.recv_data().await.unwrap() {
        while chunk.has_remaining() {
            let c = chunk.chunk();
            body.extend_from_slice(c);
            let n = c.len();
            chunk.advance(n);
        }
    }
    body
}

fn header<'a>(r: &'a http::Response<()>, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

fn udp_addr(s: &Server) -> SocketAddr {
    s.addr.parse().unwrap()
}

#[tokio::test]
async fn http3_serves_ranges_validators_api_and_is_announced() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key, _) = self_signed_cert(certs.path());
    let s = tls_server(&cert, &key, &[]);
    let data = pattern(3 * 1024 * 1024 + 17);
    let path = media_file(&s, "v-fragmented.mp4", &data);
    let port = udp_addr(&s).port();

    // Announced on every TCP response (HTTP/1.1 and HTTP/2 over TLS).
    let tcp = client().get(s.url(&path)).send().await.unwrap();
    assert_eq!(
        tcp.headers()["alt-svc"],
        format!("h3=\":{port}\"; ma=86400").as_str()
    );
    drop(tcp);
    let api = client().get(s.url("/api/v1/config")).send().await.unwrap();
    assert!(api.headers().contains_key("alt-svc"));
    drop(api);

    let mut h3 = h3_connect(udp_addr(&s), &cert).await;
    let (r, body) = h3.get("GET", &path, &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-length"), data.len().to_string());
    assert_eq!(header(&r, "access-control-allow-origin"), "*");
    assert!(body == data, "full body differs");
    let etag = header(&r, "etag").to_string();

    for (range, start, end) in [
        ("bytes=0-99", 0usize, 99usize),
        ("bytes=1048570-2100000", 1_048_570, 2_100_000),
        ("bytes=-5000", data.len() - 5000, data.len() - 1),
    ] {
        let (r, body) = h3.get("GET", &path, &[("range", range)]).await;
        assert_eq!(r.status(), 206, "{range}");
        assert_eq!(
            header(&r, "content-range"),
            format!("bytes {start}-{end}/{}", data.len())
        );
        assert!(body[..] == data[start..=end], "{range}: bytes differ");
    }
    let (r, body) = h3.get("HEAD", &path, &[]).await;
    assert_eq!((r.status().as_u16(), body.len()), (200, 0));
    assert_eq!(header(&r, "content-length"), data.len().to_string());
    let (r, body) = h3.get("GET", &path, &[("if-none-match", &etag)]).await;
    assert_eq!((r.status().as_u16(), body.len()), (304, 0));
    let (r, _) = h3.get("GET", &path, &[("range", "bytes=99999999-")]).await;
    assert_eq!(r.status(), 416);
    let (r, _) = h3
        .get(
            "GET",
            &format!("/static/streaming-playlists/hls/{UUID}/nope.mp4"),
            &[],
        )
        .await;
    assert_eq!(r.status(), 404);
    let (r, _) = h3
        .get("GET", "/static/streaming-playlists/hls/../../meta/x", &[])
        .await;
    assert!(r.status() == 400 || r.status() == 404, "{}", r.status());

    // The API, a body included (the login form).
    let (r, body) = h3.get("GET", "/api/v1/config", &[]).await;
    assert_eq!(r.status(), 200);
    let config: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(config["instance"].is_object(), "{config}");
    let (id, secret) = oauth_client(&s).await;
    let form = format!(
        "client_id={id}&client_secret={secret}&grant_type=password&username=root&password={ROOT_PASSWORD}"
    );
    let (r, body) = h3.post_form("/api/v1/users/token", &form).await;
    assert_eq!(r.status(), 200, "{}", String::from_utf8_lossy(&body));
    let token: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(token["access_token"].is_string(), "{token}");

    // Counted as a connection; the requests in the media and API classes.
    let metrics = metrics_text(&s).await;
    assert!(
        metrics.contains("fleuve_http_requests_total{route=\"media\",status=\"206\"}"),
        "{metrics}"
    );

    // Clean shutdown with the HTTP/3 connection still open (the runtime keeps running meanwhile,
    // so the clients' connections answer the server's GOAWAYs).
    let began = Instant::now();
    let stopping = std::thread::spawn(move || {
        let mut s = s;
        let status = s.stop();
        (s, status)
    });
    while !stopping.is_finished() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (s, status) = stopping.join().unwrap();
    assert!(status.success(), "{}", s.log());
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "shutdown waited on the open HTTP/3 connection:\n{}",
        s.log()
    );
    assert!(s.log().contains("stopped cleanly"), "{}", s.log());
    drop(h3.conn);
}

/// Relays each client's first datagram to `server` from a socket of its own, then drops
/// everything: the server sees a real Initial from a client that never answers again.
async fn half_open_handshakes(server: SocketAddr, cert: &Path, n: usize) {
    let mut keep = Vec::new();
    for _ in 0..n {
        let relay = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let relay_addr = relay.local_addr().unwrap();
        let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        let connecting = endpoint
            .connect_with(client_config(cert), relay_addr, "localhost")
            .unwrap();
        let mut buf = vec![0u8; 65_536];
        let (len, _) = relay.recv_from(&mut buf).await.unwrap();
        relay.send_to(&buf[..len], server).await.unwrap();
        keep.push((relay, endpoint, connecting));
    }
    // Hold them (silent) while the caller checks the server.
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(keep);
}

#[tokio::test]
async fn http3_bad_input_leaves_the_shard_serving() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key, _) = self_signed_cert(certs.path());
    let s = tls_server(
        &cert,
        &key,
        &[
            ("FLEUVE_ENGINE_SHARDS", "1"),
            ("FLEUVE_HTTP3_MAX_HANDSHAKES_PER_SHARD", "4"),
            ("FLEUVE_ENGINE_SEND_TIMEOUT_SECS", "2"),
            ("FLEUVE_ENGINE_HEADER_READ_TIMEOUT_SECS", "1"),
        ],
    );
    let data = pattern(8 * 1024 * 1024);
    let path = media_file(&s, "big-fragmented.mp4", &data);
    let server = udp_addr(&s);

    // 1. A flood: 3000 datagrams shaped like Initial packets (long header, version 1, random
    //    rest), and 100 real Initials from clients that never answer.
    let flood = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut junk = vec![0u8; 1200];
    for i in 0..3000u32 {
        junk[0] = 0xC3;
        junk[1..5].copy_from_slice(&1u32.to_be_bytes());
        junk[5] = 8;
        junk[6..14].copy_from_slice(&(i as u64).to_be_bytes());
        for (j, b) in junk[14..].iter_mut().enumerate() {
            *b = (i as usize * 31 + j * 7) as u8;
        }
        let _ = flood.send_to(&junk, server).await;
    }
    half_open_handshakes(server, &cert, 100).await;
    // The shard still serves: a new HTTP/3 client (it may be asked for a Retry first) and TCP.
    let mut h3 = tokio::time::timeout(Duration::from_secs(20), h3_connect(server, &cert))
        .await
        .expect("no HTTP/3 connection after the flood");
    let (r, body) = h3.get("GET", &path, &[("range", "bytes=0-99")]).await;
    assert_eq!(r.status(), 206);
    assert!(body[..] == data[..100]);
    let tcp = client()
        .get(s.url(&path))
        .header("range", "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(tcp.status(), 206);

    // 2. A stream reset mid-response: the connection and the shard go on.
    let (r, mut stream) = h3.start("GET", &path, &[]).await;
    assert_eq!(r.status(), 200);
    let first = stream.recv_data().await.unwrap().expect("some body");
    assert!(first.remaining() > 0);
    stream.stop_sending(h3::error::Code::H3_REQUEST_CANCELLED);
    drop(stream);
    let (r, body) = h3.get("GET", &path, &[("range", "bytes=1000-1999")]).await;
    assert_eq!(r.status(), 206);
    assert!(body[..] == data[1000..2000]);

    // 3. A stream whose request head never completes is dropped after the header timeout (1 s
    //    here), counted as an idle timeout; the connection goes on.
    let idle_timeouts = || async {
        metrics_text(&s)
            .await
            .lines()
            .find(|l| l.starts_with("fleuve_connection_timeouts_total{timeout=\"idle\"}"))
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let idle_before = idle_timeouts().await;
    let (mut req_send, mut req_recv) = h3.conn.open_bi().await.unwrap();
    // A HEADERS frame announcing 16 bytes, of which 3 come.
    req_send
        .write_all(&[0x01, 0x40, 0x10, 0, 0, 0])
        .await
        .unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(10), req_recv.read_to_end(1024)).await;
    assert!(
        ended.is_ok(),
        "a stream with half a request head was kept open"
    );
    assert!(
        idle_timeouts().await > idle_before,
        "the head timeout was not counted"
    );
    let (r, _) = h3.get("GET", &path, &[("range", "bytes=0-9")]).await;
    assert_eq!(r.status(), 206);

    // 4. A client that stops reading an 8 MiB response: others are served meanwhile, and the
    //    stuck response is given up after the send timeout.
    let mut stalled = h3_connect(server, &cert).await;
    let (r, stuck) = stalled.start("GET", &path, &[]).await;
    assert_eq!(r.status(), 200);
    let began = Instant::now();
    let mut other = h3_connect(server, &cert).await;
    let (r, body) = tokio::time::timeout(Duration::from_secs(10), other.get("GET", &path, &[]))
        .await
        .expect("another client waited on the stalled one");
    assert_eq!(r.status(), 200);
    assert!(body == data);
    assert!(began.elapsed() < Duration::from_secs(10));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let metrics = metrics_text(&s).await;
        let send_timeouts: u64 = metrics
            .lines()
            .find(|l| l.starts_with("fleuve_connection_timeouts_total{timeout=\"send\"}"))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0);
        if send_timeouts >= 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stalled response was never given up:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(stuck);
    // Still serving.
    let (r, _) = other.get("GET", &path, &[("range", "bytes=5-9")]).await;
    assert_eq!(r.status(), 206);
}

#[test]
fn chromium_plays_a_video_over_http3() {
    common::browser::require_browser();
    let certs = tempfile::tempdir().unwrap();
    let (cert, key, spki) = self_signed_cert(certs.path());
    let s = tls_server(&cert, &key, &[("FLEUVE_ENGINE_SHARDS", "1")]);
    let rt = common::rt();
    let video = rt.block_on(async {
        let (token, _) = login(&s).await;
        publish_clip(&s, &token, "320x240", 8).await
    });
    let port = udp_addr(&s).port();
    let out = common::browser::artifacts();
    let r = common::browser::scenario(
        "h3",
        serde_json::json!({
            "base": s.base,
            "short": video["shortUUID"],
            "out": out,
            "quicOrigin": format!("127.0.0.1:{port}"),
            "spki": spki,
        }),
    );
    assert_eq!(r["ok"], true, "{r:#}\n{}", s.log());
    let protocols = r["segmentProtocols"]
        .as_object()
        .expect("segment protocols");
    assert!(
        protocols.get("h3").and_then(|n| n.as_u64()).unwrap_or(0) >= 1,
        "no segment over h3: {r:#}"
    );
    assert_eq!(
        protocols.keys().filter(|k| *k != "h3").count(),
        0,
        "segments over other protocols: {r:#}"
    );
}
