//! WebTorrent messages against bytes captured from libtorrent 2.1.1 and Node's JSON.stringify
//! (see `../testdata/README.md`), the reference transcript (tracker-p2p.md §2.5), and
//! malformed input.

use super::*;

/// A leecher's `started` announce with its ten WebRTC offers (7.3 KiB, real control-char
/// escapes and C1 characters in the binary strings).
const LIBTORRENT_ANNOUNCE: &[u8] = include_bytes!("../testdata/libtorrent-ws-announce.json");
/// The seeder's answer to the first of those offers.
const LIBTORRENT_ANSWER: &[u8] = include_bytes!("../testdata/libtorrent-ws-answer.json");
/// `JSON.stringify` of an announce response for the §2.2 example hash (Node 20).
const NODE_ANNOUNCE_RESPONSE: &[u8] = include_bytes!("../testdata/node-announce-response.json");

const CAPTURED_HASH: &str = "2d5efef3a1b42502d1ae3119374bfa001ae865a5";
const LEECHER: &[u8; 20] = b"-LT2110-p8G!tPD4bC3Q";
const SEEDER: &[u8; 20] = b"-LT2110-8!(tEMX3qdmK";
const FIRST_OFFER_ID: &str = "6787874429a0390df8eb435d7ce2be6f8fe5727e";

fn parse(json: &[u8]) -> Result<InMessage, ProtocolError> {
    InMessage::parse(json, &WsLimits::default())
}

fn announce(json: &[u8]) -> AnnounceRequest {
    match parse(json) {
        Ok(InMessage::Announce(a)) => a,
        other => panic!("not an announce: {other:?}"),
    }
}

fn offer_id(hex_text: &str) -> OfferId {
    OfferId(InfoHash::from_hex(hex_text).unwrap().0)
}

/// The JSON string literal (quotes included) that carries `bytes` on the wire.
fn wire(bytes: &[u8; 20]) -> String {
    serde_json::to_string(&Latin1(bytes)).unwrap()
}

#[test]
fn parses_libtorrent_announce_with_offers() {
    let a = announce(LIBTORRENT_ANNOUNCE);
    assert_eq!(a.info_hash, InfoHash::from_hex(CAPTURED_HASH).unwrap());
    assert_eq!(a.peer_id, PeerId(*LEECHER));
    assert_eq!(a.event, AnnounceEvent::Started);
    assert_eq!(
        (a.uploaded, a.downloaded, a.left),
        (Some(0), Some(0), Some(300_000))
    );
    assert!(!a.is_seeder());
    assert_eq!(a.numwant, Some(10));
    assert_eq!(a.offers.len(), 10);
    assert_eq!(a.offers[0].offer_id, offer_id(FIRST_OFFER_ID));
    assert_eq!(a.offers[0].offer["type"], "offer");
    let sdp = a.offers[0].offer["sdp"].as_str().unwrap();
    assert!(
        sdp.starts_with("v=0\r\no=rtc 3352354807 0 IN IP4 127.0.0.1\r\n"),
        "{sdp}"
    );
    assert_eq!(a.answer, None);
}

#[test]
fn keeps_only_max_offers() {
    let limits = WsLimits {
        max_offers: 3,
        ..WsLimits::default()
    };
    let Ok(InMessage::Announce(a)) = InMessage::parse(LIBTORRENT_ANNOUNCE, &limits) else {
        panic!("announce refused");
    };
    assert_eq!(a.offers.len(), 3);
    assert_eq!(a.offers[0].offer_id, offer_id(FIRST_OFFER_ID));
    // Dropped offers are not validated: a bad eleventh offer does not sink the announce.
    let json = format!(
        r#"{{"action":"announce","info_hash":{ih},"peer_id":{pid},"offers":[
            {{"offer_id":{ih},"offer":{{"type":"offer","sdp":"v=0"}}}},
            {{"offer_id":"short","offer":7}}]}}"#,
        ih = wire(&[7; 20]),
        pid = wire(LEECHER)
    );
    let one = WsLimits {
        max_offers: 1,
        ..WsLimits::default()
    };
    let Ok(InMessage::Announce(a)) = InMessage::parse(json.as_bytes(), &one) else {
        panic!("announce refused");
    };
    assert_eq!(a.offers.len(), 1);
    assert!(parse(json.as_bytes()).is_err());
}

#[test]
fn parses_libtorrent_answer() {
    let a = announce(LIBTORRENT_ANSWER);
    assert_eq!(a.info_hash, InfoHash::from_hex(CAPTURED_HASH).unwrap());
    assert_eq!(a.peer_id, PeerId(*SEEDER));
    assert_eq!(a.event, AnnounceEvent::None);
    assert_eq!(a.left, None);
    assert!(a.offers.is_empty());
    let answer = a.answer.expect("answer");
    assert_eq!(answer.to_peer_id, PeerId(*LEECHER));
    assert_eq!(answer.offer_id, offer_id(FIRST_OFFER_ID));
    assert_eq!(answer.answer["type"], "answer");
}

#[test]
fn relays_libtorrent_offer_and_answer_losslessly() {
    let a = announce(LIBTORRENT_ANNOUNCE);
    let relayed = OutMessage::Offer(OfferMessage {
        info_hash: a.info_hash,
        peer_id: a.peer_id,
        offer_id: a.offers[0].offer_id,
        offer: a.offers[0].offer.clone(),
    })
    .to_json();
    let back: serde_json::Value = serde_json::from_str(&relayed).unwrap();
    let original: serde_json::Value = serde_json::from_slice(LIBTORRENT_ANNOUNCE).unwrap();
    assert_eq!(back["action"], "announce");
    assert_eq!(back["info_hash"], original["info_hash"]);
    assert_eq!(back["peer_id"], original["peer_id"]);
    assert_eq!(back["offer_id"], original["offers"][0]["offer_id"]);
    assert_eq!(back["offer"], original["offers"][0]["offer"]);

    let b = announce(LIBTORRENT_ANSWER);
    let answer = b.answer.unwrap();
    let relayed = OutMessage::Answer(AnswerMessage {
        info_hash: b.info_hash,
        peer_id: b.peer_id,
        offer_id: answer.offer_id,
        answer: answer.answer,
    })
    .to_json();
    let back: serde_json::Value = serde_json::from_str(&relayed).unwrap();
    let original: serde_json::Value = serde_json::from_slice(LIBTORRENT_ANSWER).unwrap();
    for key in ["info_hash", "peer_id", "offer_id", "answer"] {
        assert_eq!(back[key], original[key], "{key}");
    }
    assert!(back.get("to_peer_id").is_none());
}

#[test]
fn writes_binary_strings_as_node_does() {
    let response = OutMessage::Announce(AnnounceResponse {
        info_hash: InfoHash::from_hex("c0ffee00112233445566778899aabbccddeeff01").unwrap(),
        complete: 0,
        incomplete: 1,
        interval: 120,
    });
    assert_eq!(response.to_json().as_bytes(), NODE_ANNOUNCE_RESPONSE);
    // Every byte value survives the trip through JSON text.
    let mut all = [0u8; 20];
    for start in (0..=255u8).step_by(20) {
        for (i, b) in all.iter_mut().enumerate() {
            *b = start.wrapping_add(i as u8);
        }
        let text: String = serde_json::from_str(&wire(&all)).unwrap();
        assert_eq!(binary20("info_hash", &text).unwrap(), all);
    }
}

/// The §2.5 probe, with its 20-char placeholders filled in.
#[test]
fn follows_reference_transcript() {
    let ih = r#""AAAAAAAAAAAAAAAAAAAA""#;
    let pa = r#""-WW0001-aaaaaaaaaaaa""#;
    let pb = r#""-WW0001-bbbbbbbbbbbb""#;
    let oid = r#""oooooooooooooooooooo""#;
    let info_hash = InfoHash(*b"AAAAAAAAAAAAAAAAAAAA");

    let b1 = announce(format!(r#"{{"action":"announce","info_hash":{ih},"peer_id":{pb},"event":"started","uploaded":0,"downloaded":0,"numwant":5,"offers":[]}}"#).as_bytes());
    assert_eq!(b1.peer_id, PeerId(*b"-WW0001-bbbbbbbbbbbb"));
    assert!(b1.offers.is_empty());
    let reply = OutMessage::Announce(AnnounceResponse {
        info_hash,
        complete: 0,
        incomplete: 1,
        interval: 120,
    });
    assert_eq!(
        reply.to_json(),
        format!(
            r#"{{"action":"announce","info_hash":{ih},"complete":0,"incomplete":1,"interval":120}}"#
        )
    );

    let a1 = announce(format!(r#"{{"action":"announce","info_hash":{ih},"peer_id":{pa},"event":"started","uploaded":0,"downloaded":0,"numwant":1,"offers":[{{"offer_id":{oid},"offer":{{"type":"offer","sdp":"v=0 fake-offer"}}}}]}}"#).as_bytes());
    assert_eq!(a1.offers.len(), 1);
    let relayed = OutMessage::Offer(OfferMessage {
        info_hash,
        peer_id: a1.peer_id,
        offer_id: a1.offers[0].offer_id,
        offer: a1.offers[0].offer.clone(),
    });
    let expected: serde_json::Value = serde_json::from_str(&format!(r#"{{"action":"announce","peer_id":{pa},"info_hash":{ih},"offer":{{"type":"offer","sdp":"v=0 fake-offer"}},"offer_id":{oid}}}"#)).unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&relayed.to_json()).unwrap(),
        expected
    );

    let b2 = announce(format!(r#"{{"action":"announce","info_hash":{ih},"peer_id":{pb},"to_peer_id":{pa},"offer_id":{oid},"answer":{{"type":"answer","sdp":"v=0 fake-answer"}}}}"#).as_bytes());
    let answer = b2.answer.unwrap();
    assert_eq!(answer.to_peer_id, a1.peer_id);
    let relayed = OutMessage::Answer(AnswerMessage {
        info_hash,
        peer_id: b2.peer_id,
        offer_id: answer.offer_id,
        answer: answer.answer,
    });
    let expected: serde_json::Value = serde_json::from_str(&format!(r#"{{"action":"announce","peer_id":{pb},"info_hash":{ih},"answer":{{"type":"answer","sdp":"v=0 fake-answer"}},"offer_id":{oid}}}"#)).unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&relayed.to_json()).unwrap(),
        expected
    );

    let scrape = parse(format!(r#"{{"action":"scrape","info_hash":[{ih}]}}"#).as_bytes()).unwrap();
    assert_eq!(
        scrape,
        InMessage::Scrape(ScrapeRequest::Torrents(vec![info_hash]))
    );
    let reply = OutMessage::Scrape(ScrapeResponse {
        files: vec![(
            info_hash,
            ScrapeStats {
                complete: 0,
                incomplete: 2,
                downloaded: 0,
            },
        )],
    });
    assert_eq!(
        reply.to_json(),
        format!(
            r#"{{"action":"scrape","files":{{{ih}:{{"complete":0,"incomplete":2,"downloaded":0}}}}}}"#
        )
    );

    let bad =
        parse(format!(r#"{{"action":"announce","info_hash":"short","peer_id":{pa}}}"#).as_bytes());
    assert!(
        matches!(
            bad,
            Err(ProtocolError::Invalid {
                field: "info_hash",
                ..
            })
        ),
        "{bad:?}"
    );
    let reply = OutMessage::Error(ErrorResponse {
        failure_reason: "Invalid request".into(),
        action: None,
        info_hash: None,
    });
    assert_eq!(reply.to_json(), r#"{"failure reason":"Invalid request"}"#);
}

#[test]
fn error_names_action_and_torrent() {
    let reply = OutMessage::Error(ErrorResponse {
        failure_reason: "Full scrapes are not allowed".into(),
        action: Some(Action::Scrape),
        info_hash: Some(InfoHash(*b"AAAAAAAAAAAAAAAAAAAA")),
    });
    assert_eq!(
        reply.to_json(),
        r#"{"action":"scrape","info_hash":"AAAAAAAAAAAAAAAAAAAA","failure reason":"Full scrapes are not allowed"}"#
    );
}

#[test]
fn reads_every_scrape_shape() {
    let ih = wire(&[0xff; 20]);
    let one = parse(format!(r#"{{"action":"scrape","info_hash":{ih}}}"#).as_bytes());
    assert_eq!(
        one,
        Ok(InMessage::Scrape(ScrapeRequest::Torrents(vec![InfoHash(
            [0xff; 20]
        )])))
    );
    let full = parse(br#"{"action":"scrape"}"#);
    assert_eq!(full, Ok(InMessage::Scrape(ScrapeRequest::Full)));
    let none = parse(br#"{"action":"scrape","info_hash":[]}"#);
    assert_eq!(none, Ok(InMessage::Scrape(ScrapeRequest::Torrents(vec![]))));

    // Beyond the limit, hashes are dropped unread (the bad third one is never looked at).
    let many = format!(r#"{{"action":"scrape","info_hash":[{ih},{ih},"bad"]}}"#);
    let limits = WsLimits {
        max_scrape_hashes: 2,
        ..WsLimits::default()
    };
    let Ok(InMessage::Scrape(ScrapeRequest::Torrents(hashes))) =
        InMessage::parse(many.as_bytes(), &limits)
    else {
        panic!("scrape refused");
    };
    assert_eq!(hashes.len(), 2);
    assert!(parse(many.as_bytes()).is_err());
}

#[test]
fn reads_optional_announce_fields() {
    let base = format!(
        r#""action":"announce","info_hash":{},"peer_id":{}"#,
        wire(&[1; 20]),
        wire(LEECHER)
    );
    let minimal = announce(format!("{{{base}}}").as_bytes());
    assert_eq!(minimal.event, AnnounceEvent::None);
    assert_eq!(
        (minimal.uploaded, minimal.left, minimal.numwant),
        (None, None, None)
    );
    let null_left = announce(format!(r#"{{{base},"left":null,"event":"update"}}"#).as_bytes());
    assert_eq!(null_left.left, None);
    let seeder = announce(format!(r#"{{{base},"left":0,"event":"completed"}}"#).as_bytes());
    assert!(seeder.is_seeder());
    assert_eq!(seeder.event, AnnounceEvent::Completed);
    let stopped = announce(format!(r#"{{{base},"event":"stopped","trackerid":"x"}}"#).as_bytes());
    assert_eq!(stopped.event, AnnounceEvent::Stopped);
    // `to_peer_id`/`offer_id` without an answer mean nothing and are not checked.
    let stray = announce(format!(r#"{{{base},"to_peer_id":"x","offer_id":"y"}}"#).as_bytes());
    assert_eq!(stray.answer, None);
}

#[test]
fn refuses_malformed_messages() {
    let ih = wire(&[1; 20]);
    let pid = wire(LEECHER);
    let base = format!(r#""action":"announce","info_hash":{ih},"peer_id":{pid}"#);
    let answer = r#""answer":{"type":"answer","sdp":"v=0"}"#;
    let too_wide = format!("\"{}\u{100}\"", "a".repeat(19));
    let emoji = format!("\"{}\u{1F600}\"", "a".repeat(19));
    let escaped_wide = format!("\"{}\\u0100\"", "a".repeat(19));
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "JSON"),
        ("{".into(), "JSON"),
        (
            String::from_utf8_lossy(&LIBTORRENT_ANNOUNCE[..3000]).into_owned(),
            "JSON",
        ),
        ("[]".into(), "JSON"),
        ("42".into(), "JSON"),
        ("\"announce\"".into(), "JSON"),
        ("null".into(), "JSON"),
        ("{}".into(), "action"),
        (r#"{"action":7}"#.into(), "JSON"),
        (r#"{"action":"announcer"}"#.into(), "action"),
        (
            format!(r#"{{"action":"announce","peer_id":{pid}}}"#),
            "info_hash",
        ),
        (
            format!(r#"{{"action":"announce","info_hash":{ih}}}"#),
            "peer_id",
        ),
        (
            format!(r#"{{"action":"announce","info_hash":"","peer_id":{pid}}}"#),
            "info_hash",
        ),
        (
            format!(
                r#"{{"action":"announce","info_hash":"{}","peer_id":{pid}}}"#,
                "a".repeat(21)
            ),
            "info_hash",
        ),
        (
            format!(r#"{{"action":"announce","info_hash":{too_wide},"peer_id":{pid}}}"#),
            "info_hash",
        ),
        (
            format!(r#"{{"action":"announce","info_hash":{emoji},"peer_id":{pid}}}"#),
            "info_hash",
        ),
        (
            format!(r#"{{"action":"announce","info_hash":{escaped_wide},"peer_id":{pid}}}"#),
            "info_hash",
        ),
        (
            format!(r#"{{"action":"announce","info_hash":[{ih}],"peer_id":{pid}}}"#),
            "info_hash",
        ),
        (
            format!(r#"{{"action":"announce","info_hash":{ih},"peer_id":{too_wide}}}"#),
            "peer_id",
        ),
        (
            format!(r#"{{"action":"announce","info_hash":5,"peer_id":{pid}}}"#),
            "JSON",
        ),
        (
            format!(
                r#"{{"action":"announce","info_hash":"\ud800aaaaaaaaaaaaaaaaaaa","peer_id":{pid}}}"#
            ),
            "JSON",
        ),
        (format!(r#"{{{base},"left":-1}}"#), "JSON"),
        (format!(r#"{{{base},"left":"1000"}}"#), "JSON"),
        (format!(r#"{{{base},"uploaded":1.5}}"#), "JSON"),
        (format!(r#"{{{base},"event":"paused"}}"#), "event"),
        (format!(r#"{{{base},"offers":{{}}}}"#), "JSON"),
        (
            format!(r#"{{{base},"offers":[{{"offer":{{"type":"offer"}}}}]}}"#),
            "offers[].offer_id",
        ),
        (
            format!(r#"{{{base},"offers":[{{"offer_id":{ih}}}]}}"#),
            "offers[].offer",
        ),
        (
            format!(r#"{{{base},"offers":[{{"offer_id":{ih},"offer":"v=0"}}]}}"#),
            "offers[].offer",
        ),
        (
            format!(r#"{{{base},"offers":[{{"offer_id":"x","offer":{{}}}}]}}"#),
            "offers[].offer_id",
        ),
        (
            format!(r#"{{{base},{answer},"offer_id":{ih}}}"#),
            "to_peer_id",
        ),
        (
            format!(r#"{{{base},{answer},"to_peer_id":{pid}}}"#),
            "offer_id",
        ),
        (
            format!(r#"{{{base},{answer},"to_peer_id":{pid},"offer_id":"x"}}"#),
            "offer_id",
        ),
        (
            format!(r#"{{{base},"answer":[],"to_peer_id":{pid},"offer_id":{ih}}}"#),
            "answer",
        ),
        (format!(r#"{{{base},"peer_id":{pid}}}"#), "JSON"),
        (
            format!(r#"{{"action":"scrape","info_hash":[{ih},"short"]}}"#),
            "info_hash",
        ),
        (
            format!(r#"{{"action":"scrape","info_hash":[{ih},5]}}"#),
            "JSON",
        ),
        (r#"{"action":"scrape","info_hash":{}}"#.into(), "JSON"),
        (format!("{}{{{base}}}", "[".repeat(200)), "JSON"),
        (
            format!("{{{base},\"offers\":[{}]}}", "[".repeat(10_000)),
            "JSON",
        ),
    ];
    for (json, field) in cases {
        let err = parse(json.as_bytes()).expect_err(&json);
        let named = match &err {
            ProtocolError::Malformed { format, .. } => *format,
            ProtocolError::Missing { field } | ProtocolError::Invalid { field, .. } => field,
            other => panic!("{json}: unexpected {other:?}"),
        };
        assert_eq!(named, field, "{json}: {err}");
    }
    // Not UTF-8 at all.
    assert!(matches!(
        parse(b"{\"action\":\"announce\",\"info_hash\":\"\xff\"}"),
        Err(ProtocolError::Malformed { .. })
    ));
}

#[test]
fn bad_values_are_named_in_the_message() {
    let err = parse(br#"{"action":"announce","info_hash":"short","peer_id":"x"}"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid `info_hash` \"short\": expected a string of 20 characters U+0000..U+00FF, one per byte"
    );
}

#[test]
fn refuses_oversized_messages_before_parsing() {
    let limits = WsLimits {
        max_message_bytes: 1024,
        ..WsLimits::default()
    };
    assert_eq!(
        InMessage::parse(LIBTORRENT_ANNOUNCE, &limits),
        Err(ProtocolError::TooLarge {
            what: "message bytes",
            len: LIBTORRENT_ANNOUNCE.len(),
            max: 1024
        })
    );
    assert!(InMessage::parse(LIBTORRENT_ANSWER, &limits).is_ok());
}
