//! The tracker with real clients: libtorrent (HTTP, UDP and WebSocket trackers with WebRTC
//! peers, and the webseed) and aria2c downloading a published video's file, the npm
//! `bittorrent-tracker` client signalling through the WebSocket tracker; private mode, limits
//! and malformed input on every protocol.

mod common;

use common::*;
use serde_json::Value;
use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

async fn fetch(url: &str) -> Vec<u8> {
    let r = client().get(url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "{url}");
    r.bytes().await.unwrap().to_vec()
}

fn metric(text: &str, series: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A published file: its torrent and bytes saved in `dir`.
struct Published {
    torrent: std::path::PathBuf,
    file: std::path::PathBuf,
    info_hash: String,
}

fn publish(s: &Server) -> Published {
    let mut opts_token = None;
    let (torrent, file, info_hash) = rt().block_on(async {
        let token = login(s).await.0;
        let v = publish_clip(s, &token, "640x360", 2).await;
        opts_token = Some(token);
        let f = &v["streamingPlaylists"][0]["files"][0];
        let torrent = fetch(f["torrentUrl"].as_str().unwrap()).await;
        let file = fetch(f["fileUrl"].as_str().unwrap()).await;
        (torrent, file, f["infoHash"].as_str().unwrap().to_string())
    });
    let p = Published {
        torrent: s.dir.join("file.torrent"),
        file: s.dir.join("file.mp4"),
        info_hash,
    };
    std::fs::write(&p.torrent, torrent).unwrap();
    std::fs::write(&p.file, file).unwrap();
    p
}

fn tracker_server() -> Server {
    let mut opts = Options::default();
    opts.env
        .push(("FLEUVE_TRANSCODE_RESOLUTIONS".into(), "240".into()));
    Server::start_with(opts)
}

/// Runs tests/clients/libtorrent_swarm.py; returns its JSON report.
fn libtorrent(s: &Server, p: &Published, mode: &str, tracker: Option<&str>) -> Value {
    let work = tempfile::tempdir().unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/libtorrent_swarm.py"
    );
    let mut cmd = Command::new("python3");
    cmd.args(["-W", "ignore", script])
        .arg(&p.torrent)
        .arg(&p.file)
        .arg(work.path())
        .arg(mode);
    if let Some(t) = tracker {
        cmd.arg(t);
    }
    let out = cmd
        .output()
        .expect("python3 with libtorrent is required (scripts/setup.sh installs it)");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "{}\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            s.log()
        )
    });
    assert!(out.status.success(), "{mode} {tracker:?}: {report}");
    report
}

#[test]
fn libtorrent_downloads_through_each_tracker_and_from_the_webseed() {
    let s = tracker_server();
    let p = publish(&s);
    // The webseed alone (BEP 19 url-list pointing at our media server).
    let r = libtorrent(&s, &p, "webseed", None);
    assert_eq!(r["same"], true, "{r}");
    // A seeder and a leecher find each other through each of our trackers, web seeds removed.
    let http = s.url("/tracker/announce");
    let udp = format!("udp://{}/announce", s.udp_addr());
    let ws = s.url("/tracker/socket").replace("http://", "ws://");
    for tracker in [&http, &udp] {
        let r = libtorrent(&s, &p, "swarm", Some(tracker));
        assert_eq!(
            (r["same"].clone(), r["tracker_ok"].clone()),
            (Value::Bool(true), Value::Bool(true)),
            "{tracker}: {r}"
        );
        // Web seeds were removed: the bytes can only have come from the seeder the tracker named.
    }
    let r = libtorrent(&s, &p, "swarm", Some(&ws));
    assert_eq!(r["same"], true, "{r}");
    let m = rt().block_on(metrics_text(&s));
    // WebRTC: the only way in was an offer and an answer relayed by our WebSocket tracker.
    assert!(
        metric(&m, "fleuve_tracker_offers_relayed_total") >= 1,
        "{m}"
    );
    assert!(
        metric(&m, "fleuve_tracker_answers_relayed_total") >= 1,
        "{m}"
    );
    for proto in ["ws", "http", "udp"] {
        let n = metric(
            &m,
            &format!("fleuve_tracker_announces_total{{protocol=\"{proto}\"}}"),
        );
        assert!(n >= 2, "{proto}: {m}");
    }
}

#[test]
fn aria2c_downloads_with_the_webseed_and_our_http_tracker() {
    let s = tracker_server();
    let p = publish(&s);
    let out_dir = tempfile::tempdir().unwrap();
    // aria2 has no WebSocket tracker support; left first in the list, it would give up on the
    // tier before reaching our HTTP tracker.
    let ws = s.url("/tracker/socket").replace("http://", "ws://");
    let out = Command::new("aria2c")
        .args([
            "--seed-time=0",
            "--enable-dht=false",
            "--bt-enable-lpd=false",
            "--enable-peer-exchange=false",
            "--bt-stop-timeout=60",
            "--summary-interval=0",
            "--console-log-level=warn",
            "--allow-overwrite=true",
        ])
        .arg(format!("--bt-exclude-tracker={ws}"))
        .arg(format!("--dir={}", out_dir.path().display()))
        .arg(&p.torrent)
        .output()
        .expect("aria2c is required (apt-get install aria2)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let name = fleuve::bencode::Value::decode(&std::fs::read(&p.torrent).unwrap())
        .ok()
        .and_then(|t| match t.get("info").and_then(|i| i.get("name")) {
            Some(fleuve::bencode::Value::Bytes(b)) => Some(String::from_utf8(b.clone()).unwrap()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        std::fs::read(out_dir.path().join(name)).unwrap(),
        std::fs::read(&p.file).unwrap()
    );
    let m = rt().block_on(metrics_text(&s));
    assert!(
        metric(&m, "fleuve_tracker_announces_total{protocol=\"http\"}") >= 1,
        "{m}"
    );
}

#[test]
fn bittorrent_tracker_npm_client_gets_offers_relayed() {
    let clients = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients");
    assert!(
        std::path::Path::new(clients)
            .join("node_modules/bittorrent-tracker")
            .is_dir(),
        "tests/clients/node_modules lacks the bittorrent-tracker npm package: run scripts/setup.sh"
    );
    let s = tracker_server();
    let p = publish(&s);
    let ws = s.url("/tracker/socket").replace("http://", "ws://");
    // Seeder A announces, then leecher B with offers; B's offer is relayed to A, A's answer
    // back to B, then A scrapes (tests/clients/bittorrent_tracker_ws.mjs).
    let out = Command::new("node")
        .arg(format!("{clients}/bittorrent_tracker_ws.mjs"))
        .arg(&ws)
        .arg(&p.info_hash)
        .output()
        .expect("node is required (scripts/setup.sh installs it)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let r: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "{}\n{stderr}\n{}",
            String::from_utf8_lossy(&out.stdout),
            s.log()
        )
    });
    assert!(out.status.success(), "{r}\n{stderr}");
    let (a, b) = (&r["a"], &r["b"]);
    // The peer ids (NUL, quote, backslash, bytes >= 0x80) came back byte for byte.
    assert_eq!(a["offers_from"], serde_json::json!([b["peer_id"]]), "{r}");
    assert_eq!(b["answers_from"], serde_json::json!([a["peer_id"]]), "{r}");
    // B's SDP offer reached A and A's answer reached B unchanged.
    assert_eq!(
        r["sdp_received"],
        serde_json::json!(["offer", "answer"]),
        "{r}"
    );
    assert_eq!(r["sdp_intact"], true, "{r}");
    // A announced `left: 0`, B no `left` (as browsers do): one seeder, one leecher, and
    // relaying A's answer (which carries no `left`) leaves A a seeder.
    let counts = serde_json::json!({"complete": 1, "incomplete": 1});
    assert_eq!(b["updates"][0], counts, "{r}");
    assert_eq!(r["scrape"], counts, "{r}");
    let m = rt().block_on(metrics_text(&s));
    assert!(
        metric(&m, "fleuve_tracker_offers_relayed_total") >= 1,
        "{m}"
    );
    assert!(
        metric(&m, "fleuve_tracker_answers_relayed_total") >= 1,
        "{m}"
    );
}

/// A BEP 15 connect, then `body` with that connection id; returns the reply.
fn udp_exchange(addr: &str, build: impl Fn([u8; 8]) -> Vec<u8>) -> Vec<u8> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut connect = 0x0417_2710_1980u64.to_be_bytes().to_vec();
    connect.extend_from_slice(&0u32.to_be_bytes());
    connect.extend_from_slice(&7u32.to_be_bytes());
    sock.send_to(&connect, addr).unwrap();
    let mut buf = [0u8; 2048];
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!((n, &buf[..8]), (16, &[0, 0, 0, 0, 0, 0, 0, 7][..]));
    let id: [u8; 8] = buf[8..16].try_into().unwrap();
    sock.send_to(&build(id), addr).unwrap();
    let n = sock.recv(&mut buf).unwrap();
    buf[..n].to_vec()
}

fn udp_announce(id: [u8; 8], info_hash: &[u8; 20]) -> Vec<u8> {
    let mut p = id.to_vec();
    p.extend_from_slice(&1u32.to_be_bytes()); // announce
    p.extend_from_slice(&9u32.to_be_bytes()); // transaction
    p.extend_from_slice(info_hash);
    p.extend_from_slice(b"-XX0001-abcdefghijkl");
    p.extend_from_slice(&[0; 24]); // downloaded, left, uploaded
    p.extend_from_slice(&2u32.to_be_bytes()); // started
    p.extend_from_slice(&[0; 8]); // ip, key
    p.extend_from_slice(&(-1i32).to_be_bytes());
    p.extend_from_slice(&6881u16.to_be_bytes());
    p
}

fn ws_connect(
    s: &Server,
) -> tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>> {
    let url = s.url("/tracker/socket").replace("http://", "ws://");
    let (ws, _) = tungstenite::connect(url).expect("websocket upgrade");
    if let tungstenite::stream::MaybeTlsStream::Plain(t) = ws.get_ref() {
        t.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    }
    ws
}

fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| b as char).collect()
}

fn ws_announce(info_hash: &[u8; 20], peer: &str) -> String {
    serde_json::json!({
        "action": "announce", "info_hash": latin1(info_hash), "peer_id": peer,
        "event": "started", "numwant": 1, "offers": []
    })
    .to_string()
}

fn read_json(
    ws: &mut tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>,
) -> Option<Value> {
    loop {
        match ws.read() {
            Ok(tungstenite::Message::Text(t)) => return serde_json::from_str(t.as_str()).ok(),
            Ok(tungstenite::Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

#[test]
fn private_mode_refuses_unknown_torrents_on_every_protocol_and_limits_hold() {
    let mut opts = Options::default();
    opts.env.extend([
        (
            "FLEUVE_TRANSCODE_RESOLUTIONS".to_string(),
            "240".to_string(),
        ),
        (
            "FLEUVE_TRACKER_ANNOUNCES_PER_IP_PER_HASH".into(),
            "3".into(),
        ),
        ("FLEUVE_TRACKER_MAX_CONNECTIONS_PER_IP".into(), "3".into()),
    ]);
    let s = Server::start_with(opts);
    let p = publish(&s);
    let ours: [u8; 20] = hex::decode(&p.info_hash).unwrap().try_into().unwrap();
    let unknown = [0xab; 20];
    let pct = |h: &[u8; 20]| h.iter().map(|b| format!("%{b:02x}")).collect::<String>();
    // WebSocket: ours answered; malformed → failure reason; oversized → closed.
    let mut ws = ws_connect(&s);
    ws.send(tungstenite::Message::text(ws_announce(
        &ours,
        "-WW0001-aaaaaaaaaaaa",
    )))
    .unwrap();
    let v = read_json(&mut ws).expect("announce reply");
    assert_eq!(v["action"], "announce", "{v}");
    for bad in [
        "{\"action\":\"announce\"",
        "[1,2,3]",
        "{\"action\":\"announce\",\"info_hash\":\"short\",\"peer_id\":\"x\"}",
    ] {
        ws.send(tungstenite::Message::text(bad)).unwrap();
        let v = read_json(&mut ws).expect("error reply");
        assert!(v["failure reason"].is_string(), "{bad}: {v}");
    }
    ws.send(tungstenite::Message::binary(vec![0xffu8; 100]))
        .unwrap();
    assert!(read_json(&mut ws).unwrap()["failure reason"].is_string());
    // An oversized message closes the connection.
    ws.send(tungstenite::Message::text("x".repeat(70_000)))
        .unwrap();
    assert!(read_json(&mut ws).is_none(), "closed");
    // Connections per IP (3).
    let held: Vec<_> = (0..3).map(|_| ws_connect(&s)).collect();
    let url = s.url("/tracker/socket").replace("http://", "ws://");
    assert!(
        tungstenite::connect(&url).is_err(),
        "a fourth connection is refused"
    );
    drop(held);
    std::thread::sleep(Duration::from_millis(300));
    rt().block_on(async {
        let announce = |h: &[u8; 20]| {
            s.url(&format!(
                "/tracker/announce?info_hash={}&peer_id=-XX0001-abcdefghijkl&port=6881&left=0&compact=1",
                pct(h)
            ))
        };
        // HTTP: ours is answered with a bencoded dictionary, unknown gets a failure reason.
        let ok = fetch(&announce(&ours)).await;
        let ok = fleuve::bencode::Value::decode(&ok).expect("bencoded reply");
        assert!(ok.get("interval").is_some(), "{ok:?}");
        let refused = fleuve::bencode::Value::decode(&fetch(&announce(&unknown)).await).unwrap();
        let reason = match refused.get("failure reason") {
            Some(fleuve::bencode::Value::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
            other => panic!("{other:?}"),
        };
        assert!(reason.contains("unregistered torrent"), "{reason}");
        // The per-IP per-torrent limit (3 per window, across protocols: the WebSocket announce
        // above and the HTTP one counted): one more passes, the next is refused.
        fetch(&announce(&ours)).await;
        let limited = fleuve::bencode::Value::decode(&fetch(&announce(&ours)).await).unwrap();
        assert!(limited.get("failure reason").is_some(), "{limited:?}");
        // Malformed HTTP announces: a failure reason, never a crash.
        for q in ["", "info_hash=short", "info_hash=%zz&peer_id=x&port=1", "port=99999"] {
            let body = fetch(&s.url(&format!("/tracker/announce?{q}"))).await;
            let v = fleuve::bencode::Value::decode(&body).expect("bencoded failure");
            assert!(v.get("failure reason").is_some(), "{q}");
        }
    });

    // UDP: unknown torrent → error action (3) with the reason; garbage → error or silence.
    let udp = s.udp_addr();
    let reply = udp_exchange(&udp, |id| udp_announce(id, &unknown));
    assert_eq!(&reply[..8], &[0, 0, 0, 3, 0, 0, 0, 9], "{reply:?}");
    assert!(String::from_utf8_lossy(&reply[8..]).contains("unregistered"));
    let reply = udp_exchange(&udp, |id| {
        let mut p = udp_announce(id, &ours);
        p.truncate(40);
        p
    });
    assert_eq!(&reply[..4], &[0, 0, 0, 3], "truncated announce: error");
    let reply = udp_exchange(&udp, |_| udp_announce([1; 8], &ours));
    assert_eq!(&reply[..4], &[0, 0, 0, 3], "forged connection id: error");
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.send_to(&[0xff; 3], &udp).unwrap();
    sock.send_to(&[0x00; 1400], &udp).unwrap();

    // Unknown torrent over WebSocket: error and close, then the IP is blocked for a while.
    let mut ws = ws_connect(&s);
    ws.send(tungstenite::Message::text(ws_announce(
        &unknown,
        "-WW0001-bbbbbbbbbbbb",
    )))
    .unwrap();
    let v = read_json(&mut ws).expect("error reply");
    assert!(
        v["failure reason"]
            .as_str()
            .unwrap()
            .contains("unregistered"),
        "{v}"
    );
    assert!(
        read_json(&mut ws).is_none(),
        "closed after an unknown torrent"
    );
    assert!(
        tungstenite::connect(&url).is_err(),
        "blocked after an unknown torrent"
    );

    // Every shard still serves, and the refusals are counted.
    rt().block_on(async {
        let m = metrics_text(&s).await;
        for series in [
            "fleuve_tracker_refusals_total{protocol=\"http\",reason=\"unknown_hash\"}",
            "fleuve_tracker_refusals_total{protocol=\"udp\",reason=\"unknown_hash\"}",
            "fleuve_tracker_refusals_total{protocol=\"ws\",reason=\"unknown_hash\"}",
            "fleuve_tracker_refusals_total{protocol=\"http\",reason=\"rate_limited\"}",
            "fleuve_tracker_refusals_total{protocol=\"ws\",reason=\"malformed\"}",
            "fleuve_tracker_refusals_total{protocol=\"udp\",reason=\"malformed\"}",
        ] {
            assert!(metric(&m, series) >= 1, "{series}: {m}");
        }
        for _ in 0..4 {
            assert_eq!(status_of(&s, "/api/v1/config").await, 200);
        }
    });
}

#[test]
fn ipv6_peers_are_tracked_over_http_udp_and_websocket() {
    let s = Server::start_with(Options {
        env: vec![
            ("FLEUVE_ENGINE_SHARDS".into(), "2".into()),
            ("FLEUVE_TRACKER_PRIVATE".into(), "false".into()),
            ("FLEUVE_TRACKER_UDP_LISTEN".into(), "[::1]:0".into()),
        ],
        args: vec!["--listen".into(), "[::1]:0".into()],
    });
    assert!(s.addr.starts_with("[::1]:"), "{}", s.addr);
    let h = [0x42u8; 20];
    let pct: String = h.iter().map(|b| format!("%{b:02x}")).collect();
    rt().block_on(async {
        // Two peers announce from ::1; the second gets the first in `peers6` (BEP 7).
        let announce = |port: u16| {
            s.url(&format!(
                "/tracker/announce?info_hash={pct}&peer_id=-XX0001-{port:0>12}&port={port}&left=10&compact=1"
            ))
        };
        fetch(&announce(7001)).await;
        let reply = fleuve::bencode::Value::decode(&fetch(&announce(7002)).await).unwrap();
        let peers6 = match reply.get("peers6") {
            Some(fleuve::bencode::Value::Bytes(b)) => b.clone(),
            other => panic!("peers6: {other:?} in {reply:?}"),
        };
        let mut want = std::net::Ipv6Addr::LOCALHOST.octets().to_vec();
        want.extend_from_slice(&7001u16.to_be_bytes());
        assert_eq!(peers6, want);
    });
    // UDP over IPv6: the reply's peers are 18-byte IPv6 entries.
    let udp = s.udp_addr();
    assert!(udp.starts_with("[::1]:"), "{udp}");
    let exchange = |port: u16| {
        let sock = UdpSocket::bind("[::1]:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut connect = 0x0417_2710_1980u64.to_be_bytes().to_vec();
        connect.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
        sock.send_to(&connect, &udp).unwrap();
        let mut buf = [0u8; 512];
        let n = sock.recv(&mut buf).unwrap();
        assert_eq!(n, 16);
        let id: [u8; 8] = buf[8..16].try_into().unwrap();
        let mut p = udp_announce(id, &h);
        // A leecher (left = 100): seeders are not sent other seeders.
        p[64..72].copy_from_slice(&100u64.to_be_bytes());
        let len = p.len();
        p[len - 2..].copy_from_slice(&port.to_be_bytes());
        sock.send_to(&p, &udp).unwrap();
        let n = sock.recv(&mut buf).unwrap();
        buf[..n].to_vec()
    };
    exchange(7101);
    let reply = exchange(7102);
    assert_eq!(&reply[..4], &[0, 0, 0, 1], "announce reply: {reply:?}");
    let peers = &reply[20..];
    assert_eq!(peers.len() % 18, 0, "IPv6 entries: {reply:?}");
    assert!(peers
        .chunks(18)
        .any(|p| p[..16] == std::net::Ipv6Addr::LOCALHOST.octets()
            && p[16..] == 7101u16.to_be_bytes()));
    // WebSocket over IPv6.
    let mut ws = ws_connect(&s);
    ws.send(tungstenite::Message::text(ws_announce(
        &h,
        "-WW0001-cccccccccccc",
    )))
    .unwrap();
    assert_eq!(read_json(&mut ws).unwrap()["action"], "announce");
}

/// A form-encoded query (`URLSearchParams`, Python's `urlencode`) sends byte 0x20 of an
/// info-hash as `+`; PeerTube's tracker (`bittorrent-tracker`, Node's `querystring`) reads it
/// as a space, and so does ours: the announce lands in the same swarm a `%20` scrape names.
#[test]
fn a_form_encoded_info_hash_with_a_space_is_one_swarm() {
    let s = Server::start_with(Options {
        env: vec![("FLEUVE_TRACKER_PRIVATE".into(), "false".into())],
        args: vec![],
    });
    let mut h = [0x41u8; 20];
    h[0] = b' ';
    h[7] = b'+';
    h[19] = b' ';
    let form: String = h
        .iter()
        .map(|b| match b {
            b' ' => "+".to_string(),
            b'A' => "A".to_string(),
            other => format!("%{other:02X}"),
        })
        .collect();
    let strict: String = h.iter().map(|b| format!("%{b:02x}")).collect();
    assert!(form.starts_with('+') && form.contains("%2B"), "{form}");
    rt().block_on(async {
        let reply = fetch(&s.url(&format!(
            "/tracker/announce?info_hash={form}&peer_id=-XX0001-+form+peers+&port=7201&left=0&compact=1"
        )))
        .await;
        let reply = fleuve::bencode::Value::decode(&reply).unwrap();
        assert!(reply.get("failure reason").is_none(), "{reply:?}");
        let scrape = fetch(&s.url(&format!("/tracker/scrape?info_hash={strict}"))).await;
        let scrape = fleuve::bencode::Value::decode(&scrape).unwrap();
        let files = match scrape.get("files") {
            Some(fleuve::bencode::Value::Dict(d)) => d.clone(),
            other => panic!("files: {other:?}"),
        };
        let entry = files
            .get(&h[..])
            .unwrap_or_else(|| panic!("no swarm for the hash in {files:?}"));
        assert_eq!(entry.get("complete"), Some(&fleuve::bencode::Value::Int(1)));
    });
}
