//! HTTP tracker queries captured from libtorrent 2.1.1 and aria2 1.36.0 (see
//! `../testdata/README.md`), the reply aquatic_http sent (tracker-p2p.md §4.2), and malformed
//! input.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV6};

use super::*;

/// libtorrent 2.1.1 seeding: its `started` announce.
const LIBTORRENT_SEEDER: &[u8] = b"info_hash=-%5e%fe%f3%a1%b4%25%02%d1%ae1%197K%fa%00%1a%e8e%a5&peer_id=-LT2110-8!(tEMX3qdmK&port=6882&uploaded=0&downloaded=0&left=0&corrupt=0&key=05980273&event=started&numwant=200&compact=1&no_peer_id=1&supportcrypto=1&redundant=0";
/// libtorrent 2.1.1 leeching the same torrent: `started`, `completed`, `stopped`.
const LIBTORRENT_LEECHER: [&[u8]; 3] = [
    b"info_hash=-%5e%fe%f3%a1%b4%25%02%d1%ae1%197K%fa%00%1a%e8e%a5&peer_id=-LT2110-p8G!tPD4bC3Q&port=6881&uploaded=0&downloaded=0&left=300000&corrupt=0&key=F70B4058&event=started&numwant=200&compact=1&no_peer_id=1&supportcrypto=1&redundant=0",
    b"info_hash=-%5e%fe%f3%a1%b4%25%02%d1%ae1%197K%fa%00%1a%e8e%a5&peer_id=-LT2110-p8G!tPD4bC3Q&port=6881&uploaded=0&downloaded=300000&left=0&corrupt=0&key=F70B4058&event=completed&numwant=200&compact=1&no_peer_id=1&supportcrypto=1&redundant=0",
    b"info_hash=-%5e%fe%f3%a1%b4%25%02%d1%ae1%197K%fa%00%1a%e8e%a5&peer_id=-LT2110-p8G!tPD4bC3Q&port=6881&uploaded=0&downloaded=300000&left=0&corrupt=0&key=F70B4058&event=stopped&numwant=0&compact=1&no_peer_id=1&supportcrypto=1&redundant=0",
];
/// aria2 1.36.0: `started`, then a periodic announce (no `event`). Binary peer_id and key,
/// upper-case escapes.
const ARIA2: [&[u8]; 2] = [
    b"info_hash=%8A%AF%7B%B5%3A%27y%F1%A9%BC~%A9j%A4%CE%9D%F1%96e%B1&peer_id=A2-1-36-0-%93%E1u%25%EFO%CD%18%DEm&uploaded=0&downloaded=0&left=300000&compact=1&key=u%25%EFO%CD%18%DEm&numwant=50&no_peer_id=1&port=16882&event=started&supportcrypto=1",
    b"info_hash=%8A%AF%7B%B5%3A%27y%F1%A9%BC~%A9j%A4%CE%9D%F1%96e%B1&peer_id=A2-1-36-0-%93%E1u%25%EFO%CD%18%DEm&uploaded=0&downloaded=0&left=300000&compact=1&key=u%25%EFO%CD%18%DEm&numwant=50&no_peer_id=1&port=16882&supportcrypto=1",
];
const CAPTURED_HASH: &str = "2d5efef3a1b42502d1ae3119374bfa001ae865a5";

fn hash(hex_text: &str) -> InfoHash {
    InfoHash::from_hex(hex_text).unwrap()
}

#[test]
fn parses_libtorrent_announces() {
    let seeder = AnnounceQuery::parse(LIBTORRENT_SEEDER).unwrap();
    assert_eq!(
        seeder,
        AnnounceQuery {
            info_hash: hash(CAPTURED_HASH),
            peer_id: PeerId(*b"-LT2110-8!(tEMX3qdmK"),
            port: 6882,
            uploaded: 0,
            downloaded: 0,
            left: Some(0),
            event: AnnounceEvent::Started,
            compact: true,
            no_peer_id: true,
            numwant: Some(200),
            ip: None,
            key: Some(b"05980273".to_vec()),
        }
    );
    assert!(seeder.is_seeder());
    assert_eq!(seeder.peer_form(), PeerForm::Compact);

    let [started, completed, stopped] =
        LIBTORRENT_LEECHER.map(|q| AnnounceQuery::parse(q).unwrap());
    assert_eq!(started.peer_id, PeerId(*b"-LT2110-p8G!tPD4bC3Q"));
    assert_eq!(
        (started.event, started.left),
        (AnnounceEvent::Started, Some(300_000))
    );
    assert!(!started.is_seeder());
    assert_eq!(
        (completed.event, completed.downloaded, completed.left),
        (AnnounceEvent::Completed, 300_000, Some(0))
    );
    assert_eq!(
        (stopped.event, stopped.numwant),
        (AnnounceEvent::Stopped, Some(0))
    );
    assert_eq!(stopped.info_hash, hash(CAPTURED_HASH));
}

#[test]
fn parses_aria2_announces() {
    let [started, periodic] = ARIA2.map(|q| AnnounceQuery::parse(q).unwrap());
    assert_eq!(
        started.info_hash,
        hash("8aaf7bb53a2779f1a9bc7ea96aa4ce9df19665b1")
    );
    let peer_id = *b"A2-1-36-0-\x93\xe1u%\xefO\xcd\x18\xdem";
    assert_eq!(started.peer_id, PeerId(peer_id));
    assert_eq!(started.key.as_deref(), Some(&peer_id[12..]));
    assert_eq!((started.port, started.numwant), (16882, Some(50)));
    assert_eq!(started.event, AnnounceEvent::Started);
    assert_eq!(periodic.event, AnnounceEvent::None);
    assert_eq!(periodic.peer_id, started.peer_id);
}

#[test]
fn reads_optional_parameters() {
    let base = "info_hash=%00%01%02%03%04%05%06%07%08%09%0a%0b%0c%0d%0e%0f%10%11%12%13&peer_id=-qB4520-abcdefghijkl&port=1";
    let parse = |extra: &str| AnnounceQuery::parse(format!("{base}{extra}").as_bytes()).unwrap();
    let minimal = parse("");
    assert_eq!(
        (minimal.uploaded, minimal.left, minimal.numwant),
        (0, None, None)
    );
    assert!(minimal.compact && !minimal.no_peer_id);
    assert_eq!(minimal.info_hash.0[19], 0x13);
    assert_eq!(
        parse("&ip=192.0.2.7").ip,
        Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)))
    );
    assert_eq!(
        parse("&ip=%5B2001%3Adb8%3A%3A1%5D").ip,
        Some("2001:db8::1".parse().unwrap())
    );
    assert_eq!(parse("&ip=peer.example.org").ip, None);
    assert_eq!(parse("&numwant=-1").numwant, None);
    assert_eq!(parse("&numwant=99999999999").numwant, Some(u32::MAX));
    assert_eq!(parse("&event=&event=empty").event, AnnounceEvent::None);
    assert_eq!(parse("&event=paused").event, AnnounceEvent::None);
    assert_eq!(parse("&compact=0").peer_form(), PeerForm::Dictionaries);
    assert_eq!(
        parse("&compact=0&no_peer_id=1").peer_form(),
        PeerForm::DictionariesWithoutIds
    );
    assert_eq!(parse("&&port=2&flag&").port, 2);
    assert_eq!(parse("&key=").key, Some(vec![]));
}

#[test]
fn refuses_malformed_announces() {
    let ih = "info_hash=%00%01%02%03%04%05%06%07%08%09%0a%0b%0c%0d%0e%0f%10%11%12%13";
    let pid = "peer_id=-qB4520-abcdefghijkl";
    let ok = format!("{ih}&{pid}&port=6881");
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "info_hash"),
        (format!("{pid}&port=6881"), "info_hash"),
        (format!("{ih}&port=6881"), "peer_id"),
        (format!("{ih}&{pid}"), "port"),
        (format!("{ih}&{pid}&port=0"), "port"),
        (format!("info_hash=%00%01&{pid}&port=1"), "info_hash"),
        (
            format!("info_hash={}&{pid}&port=1", "a".repeat(21)),
            "info_hash",
        ),
        (
            format!("info_hash={}%&{pid}&port=1", "a".repeat(19)),
            "info_hash",
        ),
        (
            format!("info_hash={}%4&{pid}&port=1", "a".repeat(19)),
            "info_hash",
        ),
        (
            format!("info_hash={}%zz&{pid}&port=1", "a".repeat(19)),
            "info_hash",
        ),
        (
            format!("info_hash={}%%41&{pid}&port=1", "a".repeat(19)),
            "info_hash",
        ),
        (format!("{ok}&{ih}"), "info_hash"),
        (format!("{ih}&peer_id=-qB4520-&port=1"), "peer_id"),
        (
            format!("{ih}&peer_id=-qB4520-abcdefghij%GG&port=1"),
            "peer_id",
        ),
        (format!("{ih}&{pid}&port=65536"), "port"),
        (format!("{ih}&{pid}&port=-1"), "port"),
        (format!("{ih}&{pid}&port="), "port"),
        (format!("{ih}&{pid}&port=6881x"), "port"),
        (format!("{ok}&left=-1"), "left"),
        (format!("{ok}&left=18446744073709551616"), "left"),
        (format!("{ok}&uploaded=1e3"), "uploaded"),
        (format!("{ok}&downloaded=%31"), "downloaded"),
        (format!("{ok}&event=begun"), "event"),
        (format!("{ok}&event=Started"), "event"),
        (format!("{ok}&numwant=lots"), "numwant"),
        (format!("{ok}&ip=%zz"), "ip"),
        (format!("{ok}&key={}", "k".repeat(65)), "key"),
        (format!("{ok}&key=%"), "key"),
    ];
    for (query, field) in cases {
        let err = AnnounceQuery::parse(query.as_bytes()).expect_err(&query);
        let named = match &err {
            ProtocolError::Missing { field } | ProtocolError::Invalid { field, .. } => *field,
            other => panic!("{query}: unexpected {other:?}"),
        };
        assert_eq!(named, field, "{query}: {err}");
    }
    // Binary garbage is an error, not a panic.
    let garbage: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    assert!(AnnounceQuery::parse(&garbage).is_err());
    let err = AnnounceQuery::parse(format!("{ok}&port=99999").as_bytes()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid `port` \"99999\": expected a port number 1-65535"
    );
}

/// A form-encoded query (`URLSearchParams`, Python's `urlencode`) sends byte 0x20 as `+`; PeerTube's
/// tracker (`bittorrent-tracker`, Node's `querystring.parse`) reads it back as a space, and a
/// literal `+` travels as `%2B`.
#[test]
fn reads_plus_as_a_space_as_form_encoding_does() {
    // 0x20 0x2b then 18 bytes: as `urllib.parse.urlencode({'info_hash': bytes})` writes them.
    let mut expected = [0x41u8; 20];
    expected[0] = 0x20;
    expected[1] = 0x2b;
    expected[19] = 0x20;
    let encoded = "+%2BAAAAAAAAAAAAAAAAA+";
    let query = format!("info_hash={encoded}&peer_id=-FL0001-+peer+id+123&port=6881&key=a+b");
    let announce = AnnounceQuery::parse(query.as_bytes()).unwrap();
    assert_eq!(announce.info_hash, InfoHash(expected));
    assert_eq!(&announce.peer_id.0, b"-FL0001- peer id 123");
    assert_eq!(announce.key.as_deref(), Some(&b"a b"[..]));
    let scrape = ScrapeQuery::parse(format!("info_hash={encoded}").as_bytes(), 10).unwrap();
    assert_eq!(scrape.info_hashes, [InfoHash(expected)]);
}

#[test]
fn parses_scrapes() {
    let one = "info_hash=-%5e%fe%f3%a1%b4%25%02%d1%ae1%197K%fa%00%1a%e8e%a5";
    let two = "info_hash=%8A%AF%7B%B5%3A%27y%F1%A9%BC~%A9j%A4%CE%9D%F1%96e%B1";
    let query = format!("{one}&{two}&peer_id=ignored");
    assert_eq!(
        ScrapeQuery::parse(query.as_bytes(), 100)
            .unwrap()
            .info_hashes,
        [
            hash(CAPTURED_HASH),
            hash("8aaf7bb53a2779f1a9bc7ea96aa4ce9df19665b1")
        ]
    );
    assert!(ScrapeQuery::parse(b"", 100).unwrap().info_hashes.is_empty());
    // Beyond the limit hashes are dropped unread.
    let over = format!("{one}&info_hash=short");
    assert_eq!(
        ScrapeQuery::parse(over.as_bytes(), 1)
            .unwrap()
            .info_hashes
            .len(),
        1
    );
    assert!(matches!(
        ScrapeQuery::parse(over.as_bytes(), 100),
        Err(ProtocolError::Invalid {
            field: "info_hash",
            ..
        })
    ));
    assert!(ScrapeQuery::parse(format!("{one}%").as_bytes(), 100).is_err());
}

#[test]
fn writes_aquatic_compact_reply() {
    let reply = AnnounceResponse {
        interval: 120,
        min_interval: None,
        complete: 0,
        incomplete: 1,
        peers: vec![Peer {
            peer_id: PeerId([b'p'; 20]),
            addr: "127.0.0.1:6881".parse().unwrap(),
        }],
    };
    assert_eq!(
        reply.encode(PeerForm::Compact),
        b"d8:completei0e10:incompletei1e8:intervali120e5:peers6:\x7f\x00\x00\x01\x1a\xe16:peers60:e"
    );
}

#[test]
fn writes_ipv6_peers_as_peers6() {
    let v6: Ipv6Addr = "2001:db8::1".parse().unwrap();
    let mapped = Ipv4Addr::new(192, 0, 2, 9).to_ipv6_mapped();
    let reply = AnnounceResponse {
        interval: 1800,
        min_interval: Some(900),
        complete: 2,
        incomplete: 3,
        peers: vec![
            Peer {
                peer_id: PeerId([1; 20]),
                addr: SocketAddr::V6(SocketAddrV6::new(v6, 51413, 0, 0)),
            },
            Peer {
                peer_id: PeerId([2; 20]),
                addr: SocketAddr::V6(SocketAddrV6::new(mapped, 6881, 0, 0)),
            },
        ],
    };
    let encoded = reply.encode(PeerForm::Compact);
    let decoded = Value::decode(&encoded).unwrap();
    assert_eq!(decoded.get("min interval"), Some(&Value::Int(900)));
    assert_eq!(decoded.get("interval"), Some(&Value::Int(1800)));
    assert_eq!(
        decoded.get("peers"),
        Some(&Value::Bytes(vec![192, 0, 2, 9, 0x1a, 0xe1]))
    );
    let mut peers6 = v6.octets().to_vec();
    peers6.extend_from_slice(&51413u16.to_be_bytes());
    assert_eq!(decoded.get("peers6"), Some(&Value::Bytes(peers6)));
}

#[test]
fn writes_dictionary_peers() {
    let reply = AnnounceResponse {
        interval: 1800,
        min_interval: None,
        complete: 1,
        incomplete: 0,
        peers: vec![
            Peer {
                peer_id: PeerId(*b"-LT2110-8!(tEMX3qdmK"),
                addr: "127.0.0.1:6882".parse().unwrap(),
            },
            Peer {
                peer_id: PeerId([0xff; 20]),
                addr: "[2001:db8::1]:6881".parse().unwrap(),
            },
        ],
    };
    let with_ids = reply.encode(PeerForm::Dictionaries);
    assert!(with_ids.starts_with(
        b"d8:completei1e10:incompletei0e8:intervali1800e5:peersld2:ip9:127.0.0.17:peer id20:-LT2110-8!(tEMX3qdmK4:porti6882eed2:ip11:2001:db8::17:peer id20:\xff"
    ));
    Value::decode(&with_ids).unwrap();
    let without = Value::decode(&reply.encode(PeerForm::DictionariesWithoutIds)).unwrap();
    let Some(Value::List(peers)) = without.get("peers") else {
        panic!("no peer list");
    };
    assert_eq!(peers.len(), 2);
    assert!(peers
        .iter()
        .all(|p| p.get("peer id").is_none() && p.get("port").is_some()));
}

#[test]
fn writes_bep48_scrape_and_failure() {
    let reply = ScrapeResponse {
        files: vec![(
            InfoHash(*b"AAAAAAAAAAAAAAAAAAAA"),
            ScrapeStats {
                complete: 1,
                incomplete: 3,
                downloaded: 2,
            },
        )],
    };
    assert_eq!(
        reply.encode(),
        b"d5:filesd20:AAAAAAAAAAAAAAAAAAAAd8:completei1e10:downloadedi2e10:incompletei3eeee"
    );
    assert_eq!(ScrapeResponse::default().encode(), b"d5:filesdee");
    assert_eq!(
        encode_failure("unknown info_hash"),
        b"d14:failure reason17:unknown info_hashe"
    );
}
