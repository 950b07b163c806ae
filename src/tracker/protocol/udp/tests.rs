//! UDP tracker datagrams captured from libtorrent 2.1.1 (see `../testdata/README.md`; the
//! connection id 1122334455667788 came from the capturing fake tracker), packets assembled
//! field by field from BEP 15's layout, and malformed input.

use std::net::IpAddr;

use super::*;

fn unhex(text: &str) -> Vec<u8> {
    hex::decode(text).unwrap()
}

/// libtorrent's connect request.
const CONNECT_HEX: &str = "000004172710198000000000f8b27d8b";
/// The seeder's `started` announce: left 0, port 6882, BEP 41 URL option `/announce` after the
/// 98 fixed bytes.
const SEEDER_STARTED_HEX: &str = "112233445566778800000001189053502d5efef3a1b42502d1ae3119374bfa001ae865a52d4c54323131302d38212874454d583371646d4b000000000000000000000000000000000000000000000000000000020000000005980273000000c81ae202092f616e6e6f756e6365";
/// The leecher's `started`, `completed` and `stopped` announces.
const LEECHER_HEX: [&str; 3] = [
    "11223344556677880000000171bb1c3b2d5efef3a1b42502d1ae3119374bfa001ae865a52d4c54323131302d703847217450443462433351000000000000000000000000000493e000000000000000000000000200000000f70b4058000000c81ae102092f616e6e6f756e6365",
    "112233445566778800000001263a169e2d5efef3a1b42502d1ae3119374bfa001ae865a52d4c54323131302d70384721745044346243335100000000000493e0000000000000000000000000000000000000000100000000f70b4058000000c81ae102092f616e6e6f756e6365",
    "112233445566778800000001552424e12d5efef3a1b42502d1ae3119374bfa001ae865a52d4c54323131302d70384721745044346243335100000000000493e0000000000000000000000000000000000000000300000000f70b4058000000001ae102092f616e6e6f756e6365",
];
/// The leecher's scrape of the same torrent.
const SCRAPE_HEX: &str = "112233445566778800000002be09bf622d5efef3a1b42502d1ae3119374bfa001ae865a5";

const CAPTURED_HASH: &str = "2d5efef3a1b42502d1ae3119374bfa001ae865a5";
const CONNECTION: ConnectionId = ConnectionId([0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]);

fn parse(packet: &[u8]) -> Result<Request, ProtocolError> {
    Request::parse(packet, 70)
}

fn written(request: &Request) -> Vec<u8> {
    let mut out = Vec::new();
    request.write(&mut out);
    out
}

#[test]
fn parses_libtorrent_connect() {
    let packet = unhex(CONNECT_HEX);
    let request = parse(&packet).unwrap();
    assert_eq!(
        request,
        Request::Connect(ConnectRequest {
            transaction_id: TransactionId(0xf8b2_7d8b)
        })
    );
    assert_eq!(written(&request), packet);
}

#[test]
fn parses_libtorrent_announces() {
    let packet = unhex(SEEDER_STARTED_HEX);
    assert_eq!(packet.len(), ANNOUNCE_REQUEST_LEN + 11);
    let request = parse(&packet).unwrap();
    assert_eq!(
        request,
        Request::Announce(AnnounceRequest {
            connection_id: CONNECTION,
            transaction_id: TransactionId(0x1890_5350),
            info_hash: InfoHash::from_hex(CAPTURED_HASH).unwrap(),
            peer_id: PeerId(*b"-LT2110-8!(tEMX3qdmK"),
            downloaded: 0,
            left: 0,
            uploaded: 0,
            event: AnnounceEvent::Started,
            ip: None,
            key: 0x0598_0273,
            numwant: Some(200),
            port: 6882,
        })
    );
    // Written back without the BEP 41 option, byte for byte.
    assert_eq!(written(&request), packet[..ANNOUNCE_REQUEST_LEN]);

    let [started, completed, stopped] = LEECHER_HEX.map(|h| match parse(&unhex(h)) {
        Ok(Request::Announce(a)) => a,
        other => panic!("{other:?}"),
    });
    assert_eq!(started.peer_id, PeerId(*b"-LT2110-p8G!tPD4bC3Q"));
    assert_eq!(
        (started.event, started.left, started.port),
        (AnnounceEvent::Started, 300_000, 6881)
    );
    assert_eq!(
        (completed.event, completed.downloaded, completed.left),
        (AnnounceEvent::Completed, 300_000, 0)
    );
    assert_eq!(
        (stopped.event, stopped.numwant),
        (AnnounceEvent::Stopped, Some(0))
    );
    assert_eq!(stopped.key, 0xf70b_4058);
}

#[test]
fn parses_libtorrent_scrape() {
    let packet = unhex(SCRAPE_HEX);
    let request = parse(&packet).unwrap();
    assert_eq!(
        request,
        Request::Scrape(ScrapeRequest {
            connection_id: CONNECTION,
            transaction_id: TransactionId(0xbe09_bf62),
            info_hashes: vec![InfoHash::from_hex(CAPTURED_HASH).unwrap()],
        })
    );
    assert_eq!(written(&request), packet);
}

/// Requests assembled field by field from BEP 15's tables.
#[test]
fn parses_packets_built_from_bep15_layout() {
    let mut connect = Vec::new();
    connect.extend_from_slice(&0x41727101980u64.to_be_bytes()); // protocol_id
    connect.extend_from_slice(&0u32.to_be_bytes()); // action: connect
    connect.extend_from_slice(&0xdead_beefu32.to_be_bytes()); // transaction_id
    assert_eq!(connect[..8], [0, 0, 0x04, 0x17, 0x27, 0x10, 0x19, 0x80]);
    assert_eq!(
        parse(&connect).unwrap(),
        Request::Connect(ConnectRequest {
            transaction_id: TransactionId(0xdead_beef)
        })
    );

    let mut announce = Vec::new();
    announce.extend_from_slice(&[9; 8]); // connection_id
    announce.extend_from_slice(&1u32.to_be_bytes()); // action: announce
    announce.extend_from_slice(&7u32.to_be_bytes()); // transaction_id
    announce.extend_from_slice(&[0xab; 20]); // info_hash
    announce.extend_from_slice(b"-TR3000-0123456789ab"); // peer_id
    announce.extend_from_slice(&5i64.to_be_bytes()); // downloaded
    announce.extend_from_slice(&6i64.to_be_bytes()); // left
    announce.extend_from_slice(&7i64.to_be_bytes()); // uploaded
    announce.extend_from_slice(&0u32.to_be_bytes()); // event: none
    announce.extend_from_slice(&[192, 0, 2, 5]); // ip
    announce.extend_from_slice(&0x1234_5678u32.to_be_bytes()); // key
    announce.extend_from_slice(&(-1i32).to_be_bytes()); // num_want: default
    announce.extend_from_slice(&51413u16.to_be_bytes()); // port
    assert_eq!(announce.len(), ANNOUNCE_REQUEST_LEN);
    let Ok(Request::Announce(a)) = parse(&announce) else {
        panic!("announce refused");
    };
    assert_eq!((a.downloaded, a.left, a.uploaded), (5, 6, 7));
    assert_eq!(a.event, AnnounceEvent::None);
    assert_eq!(a.ip, Some(Ipv4Addr::new(192, 0, 2, 5)));
    assert_eq!((a.key, a.numwant, a.port), (0x1234_5678, None, 51413));
    assert_eq!(written(&Request::Announce(a)), announce);

    let mut scrape = Vec::new();
    scrape.extend_from_slice(&[9; 8]);
    scrape.extend_from_slice(&2u32.to_be_bytes());
    scrape.extend_from_slice(&8u32.to_be_bytes());
    for i in 0..74u8 {
        scrape.extend_from_slice(&[i; 20]);
    }
    let Ok(Request::Scrape(s)) = Request::parse(&scrape, 100) else {
        panic!("scrape refused");
    };
    assert_eq!(s.info_hashes.len(), 74);
    assert_eq!(s.info_hashes[73], InfoHash([73; 20]));
    // Beyond the limit, the first ones are kept in order.
    let Ok(Request::Scrape(s)) = Request::parse(&scrape, 70) else {
        panic!("scrape refused");
    };
    assert_eq!(s.info_hashes.len(), 70);
    assert_eq!(s.info_hashes[69], InfoHash([69; 20]));
}

#[test]
fn refuses_malformed_requests() {
    let announce = unhex(SEEDER_STARTED_HEX);
    let with = |at: usize, bytes: &[u8]| {
        let mut p = announce.clone();
        p[at..at + bytes.len()].copy_from_slice(bytes);
        p
    };
    let mut wrong_magic = unhex(CONNECT_HEX);
    wrong_magic[7] ^= 1;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (vec![], "request"),
        (unhex(CONNECT_HEX)[..15].to_vec(), "request"),
        (wrong_magic, "protocol_id"),
        (vec![0; 16], "protocol_id"),
        (with(8, &3u32.to_be_bytes()), "action"),
        (with(8, &4u32.to_be_bytes()), "action"),
        (with(8, &u32::MAX.to_be_bytes()), "action"),
        (
            announce[..ANNOUNCE_REQUEST_LEN - 1].to_vec(),
            "announce request",
        ),
        (announce[..16].to_vec(), "announce request"),
        (with(56, &(-1i64).to_be_bytes()), "downloaded"),
        (with(64, &i64::MIN.to_be_bytes()), "left"),
        (with(72, &(-5i64).to_be_bytes()), "uploaded"),
        (with(80, &4u32.to_be_bytes()), "event"),
        (unhex(SCRAPE_HEX)[..16].to_vec(), "info_hash"),
        (unhex(SCRAPE_HEX)[..35].to_vec(), "scrape request"),
        ([unhex(SCRAPE_HEX), vec![0; 19]].concat(), "scrape request"),
    ];
    for (packet, what) in cases {
        let err = parse(&packet).expect_err(&hex::encode(&packet));
        let named = match &err {
            ProtocolError::Truncated { what, .. } => *what,
            ProtocolError::Missing { field } | ProtocolError::Invalid { field, .. } => field,
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(named, what, "{}: {err}", hex::encode(&packet));
    }
    let err = parse(&with(8, &9u32.to_be_bytes())).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid `action` \"9\": expected 0 (connect), 1 (announce) or 2 (scrape)"
    );
}

#[test]
fn no_prefix_or_garbage_panics() {
    let mut packets: Vec<Vec<u8>> = [CONNECT_HEX, SEEDER_STARTED_HEX, SCRAPE_HEX]
        .iter()
        .map(|h| unhex(h))
        .collect();
    // Deterministic pseudo-random garbage, some of it with valid action codes.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for len in 0..300 {
        let mut p: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        if len >= 12 {
            p[11] = (len % 4) as u8;
            p[3] = (len % 4) as u8;
        }
        packets.push(p);
    }
    for packet in &packets {
        for end in 0..=packet.len() {
            let _ = parse(&packet[..end]);
            let _ = Response::parse(&packet[..end], IpFamily::V4);
            let _ = Response::parse(&packet[..end], IpFamily::V6);
            let _ = transaction_id_of(&packet[..end]);
        }
    }
}

#[test]
fn finds_transaction_id_of_broken_requests() {
    let mut broken = unhex(SEEDER_STARTED_HEX);
    broken.truncate(40);
    assert!(parse(&broken).is_err());
    assert_eq!(transaction_id_of(&broken), Some(TransactionId(0x1890_5350)));
    assert_eq!(transaction_id_of(&broken[..15]), None);
}

fn response_bytes(response: &Response) -> Vec<u8> {
    let mut out = Vec::new();
    response.write(&mut out);
    out
}

#[test]
fn writes_responses_in_bep15_layout() {
    let tid = TransactionId(0x0102_0304);
    let connect = Response::Connect(ConnectResponse {
        transaction_id: tid,
        connection_id: CONNECTION,
    });
    assert_eq!(
        response_bytes(&connect),
        unhex("00000000010203041122334455667788")
    );

    let v4 = Response::Announce(AnnounceResponse {
        transaction_id: tid,
        interval: 900,
        leechers: 2,
        seeders: 1,
        peers: ResponsePeers::V4(vec![
            "127.0.0.1:6881".parse().unwrap(),
            "192.0.2.9:51413".parse().unwrap(),
        ]),
    });
    assert_eq!(
        response_bytes(&v4),
        unhex(concat!(
            "00000001", "01020304", "00000384", "00000002", "00000001", "7f000001", "1ae1",
            "c0000209", "c8d5"
        ))
    );

    let v6 = Response::Announce(AnnounceResponse {
        transaction_id: tid,
        interval: 900,
        leechers: 0,
        seeders: u32::MAX,
        peers: ResponsePeers::V6(vec!["[2001:db8::1]:6881".parse().unwrap()]),
    });
    assert_eq!(
        response_bytes(&v6),
        unhex(concat!(
            "00000001",
            "01020304",
            "00000384",
            "00000000",
            "7fffffff",
            "20010db8000000000000000000000001",
            "1ae1"
        ))
    );

    let scrape = Response::Scrape(ScrapeResponse {
        transaction_id: tid,
        stats: vec![ScrapeStats {
            complete: 5,
            incomplete: 7,
            downloaded: 6,
        }],
    });
    assert_eq!(
        response_bytes(&scrape),
        // action, transaction_id, then seeders, completed, leechers
        unhex(concat!(
            "00000002", "01020304", "00000005", "00000006", "00000007"
        ))
    );

    let error = Response::Error(ErrorResponse {
        transaction_id: tid,
        message: "unknown info_hash".into(),
    });
    assert_eq!(
        response_bytes(&error),
        [&unhex("0000000301020304")[..], b"unknown info_hash"].concat()
    );

    // And they read back.
    for (response, family) in [
        (connect, IpFamily::V4),
        (v4, IpFamily::V4),
        (scrape, IpFamily::V4),
        (error, IpFamily::V6),
    ] {
        assert_eq!(
            Response::parse(&response_bytes(&response), family).unwrap(),
            response
        );
    }
    let Ok(Response::Announce(back)) = Response::parse(&response_bytes(&v6), IpFamily::V6) else {
        panic!("v6 reply unreadable");
    };
    assert_eq!(back.seeders, i32::MAX.unsigned_abs());
    assert_eq!(
        back.peers,
        ResponsePeers::V6(vec!["[2001:db8::1]:6881".parse().unwrap()])
    );
}

#[test]
fn refuses_malformed_responses() {
    let v4_reply = unhex("000000010102030400000384000000000000000112345678");
    assert!(matches!(
        Response::parse(&v4_reply[..22], IpFamily::V4),
        Err(ProtocolError::Truncated { .. })
    ));
    // Six bytes of peers do not fit the 18-byte IPv6 layout.
    assert!(Response::parse(&[&v4_reply[..], &[0x1a, 0xe1]].concat(), IpFamily::V6).is_err());
    assert!(Response::parse(&unhex("0000000001020304112233"), IpFamily::V4).is_err());
    assert!(Response::parse(&unhex("000000020102030400000001"), IpFamily::V4).is_err());
    assert!(Response::parse(&unhex("0000000701020304"), IpFamily::V4).is_err());
    assert!(Response::parse(&unhex("00000001"), IpFamily::V4).is_err());
}

#[test]
fn issues_and_checks_connection_ids_for_connect() {
    // The flow a front end follows: connect → issue, announce → check.
    let keys = ConnectionIdKeys::new(&[3; 32]);
    let client: IpAddr = "198.51.100.4".parse().unwrap();
    let now = std::time::SystemTime::now();
    let Ok(Request::Connect(c)) = parse(&unhex(CONNECT_HEX)) else {
        panic!("connect refused");
    };
    let reply = ConnectResponse {
        transaction_id: c.transaction_id,
        connection_id: keys.issue(client, now),
    };
    let mut announce = unhex(SEEDER_STARTED_HEX);
    announce[..8].copy_from_slice(&reply.connection_id.0);
    let Ok(Request::Announce(a)) = parse(&announce) else {
        panic!("announce refused");
    };
    assert!(keys.is_valid(a.connection_id, client, now));
    assert!(!keys.is_valid(CONNECTION, client, now));
}
