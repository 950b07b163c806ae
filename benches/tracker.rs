//! Hot functions of the tracker: parsing an announce on each protocol, encoding an HTTP compact
//! reply, and handling announces in the swarms. Inputs are the real captures under
//! `src/tracker/protocol/testdata/` and in the protocol tests.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use fleuve::tracker::protocol::{http, udp, ws, PeerId};

/// libtorrent 2.1.1's `started` announce with 10 WebRTC offers (7.3 KiB).
const WS_ANNOUNCE_OFFERS: &[u8] =
    include_bytes!("../src/tracker/protocol/testdata/libtorrent-ws-announce.json");
/// A periodic announce without offers (what p2p-media-loader peers send most).
const WS_ANNOUNCE_PLAIN: &[u8] = br#"{"action":"announce","info_hash":"-^\u00fe\u00f3\u00a1\u00b4%\u0002\u00d1\u00ae1\u00197K\u00fa\u0000\u001a\u00e8e\u00a5","peer_id":"-LT2110-p8G!tPD4bC3Q","uploaded":0,"downloaded":300000,"left":0,"numwant":0,"offers":[]}"#;
/// libtorrent 2.1.1's HTTP `started` announce.
const HTTP_ANNOUNCE: &[u8] = b"info_hash=-%5e%fe%f3%a1%b4%25%02%d1%ae1%197K%fa%00%1a%e8e%a5&peer_id=-LT2110-p8G!tPD4bC3Q&port=6881&uploaded=0&downloaded=0&left=300000&corrupt=0&key=F70B4058&event=started&numwant=200&compact=1&no_peer_id=1&supportcrypto=1&redundant=0";
/// libtorrent 2.1.1's UDP `started` announce (with its BEP 41 URL option).
const UDP_ANNOUNCE_HEX: &str = "11223344556677880000000171bb1c3b2d5efef3a1b42502d1ae3119374bfa001ae865a52d4c54323131302d703847217450443462433351000000000000000000000000000493e000000000000000000000000200000000f70b4058000000c81ae102092f616e6e6f756e6365";

fn parsing(c: &mut Criterion) {
    let limits = ws::WsLimits::default();
    c.bench_function("ws/parse_announce_10_offers", |b| {
        b.iter(|| ws::InMessage::parse(black_box(WS_ANNOUNCE_OFFERS), &limits))
    });
    c.bench_function("ws/parse_announce_plain", |b| {
        b.iter(|| ws::InMessage::parse(black_box(WS_ANNOUNCE_PLAIN), &limits))
    });
    c.bench_function("http/parse_announce", |b| {
        b.iter(|| http::AnnounceQuery::parse(black_box(HTTP_ANNOUNCE)))
    });
    let udp_packet = hex::decode(UDP_ANNOUNCE_HEX).expect("valid hex");
    c.bench_function("udp/parse_announce", |b| {
        b.iter(|| udp::Request::parse(black_box(&udp_packet), 70))
    });
}

fn encoding(c: &mut Criterion) {
    let reply = http::AnnounceResponse {
        interval: 120,
        min_interval: Some(60),
        complete: 20,
        incomplete: 30,
        peers: (0..50u8)
            .map(|i| http::Peer {
                peer_id: PeerId([i; 20]),
                addr: SocketAddr::V4(SocketAddrV4::new(
                    Ipv4Addr::new(10, 0, i, 1),
                    6881 + u16::from(i),
                )),
            })
            .collect(),
    };
    c.bench_function("http/encode_compact_50_peers", |b| {
        b.iter(|| black_box(&reply).encode(http::PeerForm::Compact))
    });
}

/// Announce handling in the swarms: a BitTorrent announce into a torrent of 1,000 peers (50 peers
/// sampled back), and a WebTorrent announce relaying 10 offers among 1,000 peers.
fn announcing(c: &mut Criterion) {
    use fleuve::tracker::protocol::{AnnounceEvent, InfoHash};
    use fleuve::tracker::swarm::{IpAnnounce, SwarmLimits, Swarms, WsAnnounce};
    use std::time::{Duration, Instant};
    let swarms = Swarms::new(SwarmLimits {
        max_peers: 10_000,
        peer_max_age: Duration::from_secs(300),
        default_numwant: 50,
        max_numwant: 100,
    });
    let h = InfoHash([7; 20]);
    let now = Instant::now();
    let ip = |i: u32| IpAnnounce {
        info_hash: h,
        peer_id: PeerId([(i % 251) as u8; 20]),
        addr: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(0x0a00_0000 + i), 6881)),
        seeder: i.is_multiple_of(3),
        event: AnnounceEvent::None,
        numwant: None,
    };
    for i in 0..1000 {
        swarms.announce_ip(ip(i), now);
    }
    let mut n = 0u32;
    c.bench_function("swarm/announce_ip_1000_peers", |b| {
        b.iter(|| {
            n = (n + 1) % 1000;
            swarms.announce_ip(black_box(ip(n)), now)
        })
    });
    let ws_hash = InfoHash([8; 20]);
    let (tx, mut rx) = tokio::sync::mpsc::channel(1 << 20);
    for i in 0..1000u32 {
        let mut id = [0u8; 20];
        id[..4].copy_from_slice(&i.to_be_bytes());
        swarms.announce_ws(
            WsAnnounce {
                info_hash: ws_hash,
                peer_id: PeerId(id),
                conn: u64::from(i),
                tx: &tx,
                seeder: Some(false),
                event: AnnounceEvent::None,
                offers: Vec::new(),
            },
            None,
            now,
        );
    }
    let offer = serde_json::json!({"type": "offer", "sdp": "v=0 ".repeat(200)});
    c.bench_function("swarm/announce_ws_10_offers_1000_peers", |b| {
        b.iter(|| {
            let r = swarms.announce_ws(
                WsAnnounce {
                    info_hash: ws_hash,
                    peer_id: PeerId([1; 20]),
                    conn: 1,
                    tx: &tx,
                    seeder: Some(false),
                    event: AnnounceEvent::None,
                    offers: (0..10u8)
                        .map(|i| (ws::OfferId([i; 20]), offer.clone()))
                        .collect(),
                },
                Some(10),
                now,
            );
            while rx.try_recv().is_ok() {}
            r
        })
    });
}

criterion_group!(benches, parsing, encoding, announcing);
criterion_main!(benches);
