//! Hot functions of the tracker's wire protocols: parsing an announce on each protocol, and
//! encoding an HTTP compact reply. Inputs are the real captures under
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

criterion_group!(benches, parsing, encoding);
criterion_main!(benches);
