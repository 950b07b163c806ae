//! Targets for the wire formats without I/O: byte ranges, bencode, the three tracker protocols,
//! HLS media playlists and the resumable upload's headers.

use super::lines;
use crate::bencode::Value as Bencode;
use crate::client::protocol::{content_range, next_offset, parse_size, status_query_range};
use crate::media::range::{parse_range, ByteRange};
use crate::tracker::protocol::http::{
    encode_failure, AnnounceQuery, AnnounceResponse as HttpAnnounceResponse, Peer, PeerForm,
    ScrapeQuery, ScrapeResponse as HttpScrapeResponse, MAX_KEY_BYTES,
};
use crate::tracker::protocol::udp::{transaction_id_of, IpFamily, Request, Response};
use crate::tracker::protocol::ws::{
    AnswerMessage, InMessage, Latin1, OfferMessage, OutMessage, ScrapeRequest, WsLimits,
};
use crate::tracker::protocol::{InfoHash, ScrapeStats};
use crate::transcode::hls::MediaPlaylist;
use crate::uploads::resumable::{parse_content_range, ContentRange};
use crate::uploads::UploadMeta;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// `Range` header values against file sizes from empty to the largest.
pub fn range(data: &[u8]) {
    let derived = u64::try_from(data.len()).unwrap_or(0).wrapping_mul(7919);
    for size in [0, 1, 2, 999, 1000, 1 << 20, derived, u64::MAX - 1, u64::MAX] {
        if let ByteRange::Partial { start, end } = parse_range(data, size) {
            assert!(
                start <= end && end < size,
                "range {start}-{end} outside a {size}-byte file"
            );
        }
    }
}

/// Strict bencode: whatever decodes re-encodes to exactly the bytes it came from.
pub fn bencode(data: &[u8]) {
    if let Ok(value) = Bencode::decode(data) {
        assert_eq!(value.encode(), data, "decode → encode changed the bytes");
    }
    if let Ok((value, len)) = Bencode::decode_prefix(data) {
        assert!(len <= data.len());
        assert_eq!(
            value.encode(),
            &data[..len],
            "prefix re-encodes differently"
        );
    }
}

/// WebTorrent messages, and the relays the tracker builds from them: ids survive the trip.
pub fn tracker_ws(data: &[u8]) {
    let limits = WsLimits {
        max_message_bytes: 64 * 1024,
        max_offers: 3,
        max_scrape_hashes: 4,
    };
    let message = match InMessage::parse(data, &limits) {
        Ok(m) => m,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    match message {
        InMessage::Announce(a) => {
            assert!(a.offers.len() <= limits.max_offers);
            for offer in &a.offers {
                let relay = OutMessage::Offer(OfferMessage {
                    info_hash: a.info_hash,
                    peer_id: a.peer_id,
                    offer_id: offer.offer_id,
                    offer: offer.offer.clone(),
                });
                relayed_ids_survive(&relay.to_json(), a.info_hash, a.peer_id.0);
            }
            if let Some(answer) = &a.answer {
                let relay = OutMessage::Answer(AnswerMessage {
                    info_hash: a.info_hash,
                    peer_id: a.peer_id,
                    offer_id: answer.offer_id,
                    answer: answer.answer.clone(),
                });
                relayed_ids_survive(&relay.to_json(), a.info_hash, a.peer_id.0);
            }
        }
        InMessage::Scrape(ScrapeRequest::Torrents(hashes)) => {
            assert!(hashes.len() <= limits.max_scrape_hashes);
            // The client's form of the same scrape parses back to the same hashes.
            let texts: Vec<String> = hashes.iter().map(|h| latin1_text(&h.0)).collect();
            let json = serde_json::json!({"action": "scrape", "info_hash": texts}).to_string();
            match InMessage::parse(json.as_bytes(), &limits) {
                Ok(InMessage::Scrape(ScrapeRequest::Torrents(again))) => assert_eq!(again, hashes),
                other => panic!("re-encoded scrape parsed as {other:?}"),
            }
        }
        InMessage::Scrape(ScrapeRequest::Full) => {}
    }
}

fn latin1_text(bytes: &[u8; 20]) -> String {
    match serde_json::to_value(Latin1(bytes)) {
        Ok(serde_json::Value::String(s)) => s,
        other => panic!("Latin1 serialised as {other:?}"),
    }
}

/// A relayed offer or answer, as the receiving client reads it, names the same swarm and peer:
/// the 20-byte ids survive the Latin-1 string form.
fn relayed_ids_survive(json: &str, info_hash: InfoHash, peer_id: [u8; 20]) {
    let value: serde_json::Value =
        serde_json::from_str(json).unwrap_or_else(|e| panic!("relay {json} is not JSON: {e}"));
    let bytes = |field: &str| -> Vec<u8> {
        let text = value[field]
            .as_str()
            .unwrap_or_else(|| panic!("relay without {field}"));
        text.chars()
            .map(|c| u8::try_from(u32::from(c)).expect("a Latin-1 char"))
            .collect()
    };
    assert_eq!(bytes("info_hash"), info_hash.0);
    assert_eq!(bytes("peer_id"), peer_id);
}

/// HTTP tracker queries, and the bencoded replies made for them (which must decode).
pub fn tracker_http(data: &[u8]) {
    if let Ok(q) = AnnounceQuery::parse(data) {
        assert!(q.key.as_ref().is_none_or(|k| k.len() <= MAX_KEY_BYTES));
        let reply = HttpAnnounceResponse {
            interval: 120,
            min_interval: Some(60),
            complete: 1,
            incomplete: 2,
            peers: vec![
                Peer {
                    peer_id: q.peer_id,
                    addr: SocketAddr::new(q.ip.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)), q.port),
                },
                Peer {
                    peer_id: q.peer_id,
                    addr: SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), q.port),
                },
            ],
        };
        let body = reply.encode(q.peer_form());
        let decoded = Bencode::decode(&body).expect("our announce reply is valid bencode");
        if q.peer_form() == PeerForm::Compact {
            match (decoded.get("peers"), decoded.get("peers6")) {
                (Some(Bencode::Bytes(v4)), Some(Bencode::Bytes(v6))) => {
                    assert_eq!(v4.len() % 6, 0);
                    assert_eq!(v6.len() % 18, 0);
                    assert_eq!(v4.len() / 6 + v6.len() / 18, 2);
                }
                other => panic!("compact reply without peers/peers6: {other:?}"),
            }
        }
    }
    let max = 3;
    if let Ok(s) = ScrapeQuery::parse(data, max) {
        assert!(s.info_hashes.len() <= max);
        let reply = HttpScrapeResponse {
            files: s
                .info_hashes
                .iter()
                .map(|h| (*h, ScrapeStats::default()))
                .collect(),
        };
        Bencode::decode(&reply.encode()).expect("our scrape reply is valid bencode");
    }
    let reason = String::from_utf8_lossy(data);
    Bencode::decode(&encode_failure(&reason)).expect("our failure reply is valid bencode");
}

/// UDP datagrams both ways: writing what was parsed and parsing it again is stable.
pub fn tracker_udp(data: &[u8]) {
    let _ = transaction_id_of(data);
    if let Ok(request) = Request::parse(data, 8) {
        let mut out = Vec::new();
        request.write(&mut out);
        let again = Request::parse(&out, 8).expect("a written request parses");
        assert_eq!(again, request);
    }
    for family in [IpFamily::V4, IpFamily::V6] {
        if let Ok(response) = Response::parse(data, family) {
            let mut first = Vec::new();
            response.write(&mut first);
            let again = Response::parse(&first, family).expect("a written response parses");
            let mut second = Vec::new();
            again.write(&mut second);
            assert_eq!(first, second, "write → parse → write is not stable");
        }
    }
}

/// Media playlists: what parses is well-formed, renders, and reads back the same.
pub fn hls_playlist(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(playlist) = MediaPlaylist::parse(text) else {
        return;
    };
    for s in &playlist.segments {
        assert!(
            s.duration.is_finite() && s.duration >= 0.0,
            "segment duration {}",
            s.duration
        );
        assert!(
            s.range.len > 0 && s.range.offset.checked_add(s.range.len).is_some(),
            "segment range {}@{}",
            s.range.len,
            s.range.offset
        );
    }
    let _ = playlist.target_duration();
    let rendered = playlist.render();
    let again = MediaPlaylist::parse(&rendered)
        .unwrap_or_else(|e| panic!("our rendering does not parse ({e}):\n{rendered}"));
    // The same playlist, up to the six decimals durations are written with.
    assert_eq!((&again.file, again.init), (&playlist.file, playlist.init));
    assert_eq!(again.segments.len(), playlist.segments.len());
    for (a, b) in again.segments.iter().zip(&playlist.segments) {
        assert_eq!(a.range, b.range);
        assert!((a.duration - b.duration).abs() <= 5e-7 * b.duration.max(1.0));
    }
    let settled = again.render();
    let third = MediaPlaylist::parse(&settled).expect("a rendered playlist parses");
    assert_eq!(third.render(), settled, "render → parse → render differs");
    let mut file = std::io::Cursor::new(vec![0u8; 4096]);
    let _ = playlist.segment_hashes(&mut file);
}

/// Resumable upload headers, server side (`Content-Range`) and client side (`Range`, sizes):
/// what one side writes, the other reads back.
pub fn resumable_headers(data: &[u8]) {
    let all = lines(data);
    let blank = all.iter().position(|l| l.is_empty()).unwrap_or(all.len());
    for line in &all[..blank] {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        match name.trim().to_ascii_lowercase().as_str() {
            "content-range" => match parse_content_range(value) {
                Some(ContentRange::Chunk(start, end, total)) => {
                    assert!(start <= end && end < total, "{start}-{end}/{total}");
                    let header = content_range(start, end - start + 1, total);
                    assert_eq!(
                        parse_content_range(&header),
                        Some(ContentRange::Chunk(start, end, total)),
                        "client's {header:?}"
                    );
                }
                Some(ContentRange::Query(total)) => {
                    let header = status_query_range(total);
                    assert_eq!(
                        parse_content_range(&header),
                        Some(ContentRange::Query(total))
                    );
                }
                None => {}
            },
            "range" => {
                if let Ok(next) = next_offset(Some(value)) {
                    // A non-empty `Range: bytes=0-<last>` means at least one byte arrived.
                    if !value.trim().is_empty() {
                        assert!(next > 0, "Range {value:?} read as offset 0");
                    }
                    // What the server writes for that offset reads back the same.
                    if next > 0 {
                        let written = format!("bytes=0-{}", next - 1);
                        assert_eq!(next_offset(Some(&written)), Ok(next));
                    }
                }
            }
            "x-upload-content-length" | "chunk-size" => {
                if let Ok(n) = parse_size(value) {
                    assert!(n > 0);
                }
            }
            _ => {}
        }
    }
    let body = all.get(blank + 1..).unwrap_or_default().join("\n");
    let _ = serde_json::from_str::<UploadMeta>(&body);
}
