//! WebTorrent tracker messages, carried as JSON in WebSocket frames (tracker-p2p.md §2): what
//! browsers and libtorrent send ([`InMessage`]) and what the tracker answers or relays
//! ([`OutMessage`]).
//!
//! The 20-byte ids (`info_hash`, `peer_id`, `to_peer_id`, `offer_id`) travel as JSON strings
//! of exactly 20 characters U+0000..U+00FF, one per byte (§2.2); [`Latin1`] writes them and
//! the parser reads them back, refusing other lengths and wider characters. WebRTC offers and
//! answers are relayed unchanged, so they stay opaque [`serde_json::Value`]s.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{AnnounceEvent, InfoHash, PeerId, ProtocolError, ScrapeStats};

/// The id an offerer gives one WebRTC offer; the answer carries it back (§2.3).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct OfferId(pub [u8; 20]);

impl fmt::Debug for OfferId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OfferId({})", hex::encode(self.0))
    }
}

/// Bounds applied while parsing, so that one message costs a bounded amount of work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WsLimits {
    /// Largest message accepted, in bytes of JSON (aquatic: 64 KiB; §2.7).
    pub max_message_bytes: usize,
    /// Offers kept from one announce; the rest are dropped (see [`InMessage::parse`]).
    pub max_offers: usize,
    /// Info-hashes kept from one scrape; the rest are dropped (aquatic_ws: 255, §1.3).
    pub max_scrape_hashes: usize,
}

impl Default for WsLimits {
    fn default() -> Self {
        WsLimits {
            max_message_bytes: 64 * 1024,
            max_offers: 10,
            max_scrape_hashes: 255,
        }
    }
}

/// A message from a client.
#[derive(Debug, Clone, PartialEq)]
pub enum InMessage {
    /// `"action":"announce"`, possibly with offers or an answer.
    Announce(AnnounceRequest),
    /// `"action":"scrape"`.
    Scrape(ScrapeRequest),
}

/// An announce: the peer's state in one swarm, plus the offers it wants sent to other peers
/// or the answer it sends back to one.
#[derive(Debug, Clone, PartialEq)]
pub struct AnnounceRequest {
    /// The swarm.
    pub info_hash: InfoHash,
    /// The announcing peer.
    pub peer_id: PeerId,
    /// Absent and `"update"` read as [`AnnounceEvent::None`].
    pub event: AnnounceEvent,
    /// Bytes uploaded, when sent.
    pub uploaded: Option<u64>,
    /// Bytes downloaded, when sent.
    pub downloaded: Option<u64>,
    /// Bytes left; absent when unknown (magnets, p2p-media-loader), which means leecher (§2.7).
    pub left: Option<u64>,
    /// Peers wanted, when sent (the JS client sends it with `offers`).
    pub numwant: Option<usize>,
    /// Offers to relay to other peers, at most [`WsLimits::max_offers`].
    pub offers: Vec<Offer>,
    /// An answer to relay back to the peer that offered.
    pub answer: Option<Answer>,
}

impl AnnounceRequest {
    /// Whether the peer has the whole torrent (`left` is 0; an absent `left` is a leecher).
    pub fn is_seeder(&self) -> bool {
        self.left == Some(0)
    }
}

/// One WebRTC offer to hand to another peer of the swarm.
#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    /// Chosen by the offerer, echoed by the answerer.
    pub offer_id: OfferId,
    /// `{"type":"offer","sdp":…}`, relayed as received.
    pub offer: Value,
}

/// A WebRTC answer to hand back to the peer whose offer it answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The offerer.
    pub to_peer_id: PeerId,
    /// The offer answered.
    pub offer_id: OfferId,
    /// `{"type":"answer","sdp":…}`, relayed as received.
    pub answer: Value,
}

/// Which torrents a scrape asks about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScrapeRequest {
    /// No `info_hash`: every torrent. bittorrent-tracker answers it; aquatic refuses (§2.3).
    Full,
    /// These torrents, at most [`WsLimits::max_scrape_hashes`] of them.
    Torrents(Vec<InfoHash>),
}

const BINARY_STRING: &str = "a string of 20 characters U+0000..U+00FF, one per byte";

impl InMessage {
    /// Parses one text (or binary) frame's JSON.
    ///
    /// Offers beyond [`WsLimits::max_offers`] are dropped, not refused: every tracker in the
    /// reference forwards only `min(offers, its limit)` of them (aquatic 10, bittorrent-tracker
    /// 82, wt-tracker `maxOffers`; tracker-p2p.md §2.6) and the client times out the unused
    /// ones after 50 s (§2.3), so dropping keeps the announce working where refusing would
    /// break a client that merely asks for many peers. Scrape hashes beyond
    /// [`WsLimits::max_scrape_hashes`] are dropped for the same reason (aquatic takes the first
    /// `max_scrape_torrents`). A message over [`WsLimits::max_message_bytes`] is refused whole.
    /// Dropped entries are not validated.
    pub fn parse(json: &[u8], limits: &WsLimits) -> Result<InMessage, ProtocolError> {
        if json.len() > limits.max_message_bytes {
            return Err(ProtocolError::TooLarge {
                what: "message bytes",
                len: json.len(),
                max: limits.max_message_bytes,
            });
        }
        let wire: WireIn<'_> =
            serde_json::from_slice(json).map_err(|e| ProtocolError::Malformed {
                format: "JSON",
                detail: e.to_string(),
            })?;
        let action = wire
            .action
            .as_ref()
            .ok_or(ProtocolError::Missing { field: "action" })?;
        match &*action.0 {
            "announce" => wire.into_announce(limits).map(InMessage::Announce),
            "scrape" => Ok(InMessage::Scrape(wire.into_scrape(limits)?)),
            other => Err(ProtocolError::invalid(
                "action",
                other.as_bytes(),
                "\"announce\" or \"scrape\"",
            )),
        }
    }
}

/// Every field any client message may carry; unknown ones (`key`, `corrupt`, `trackerid`) are
/// ignored. Strings borrow from the input unless they hold escapes.
#[derive(Deserialize)]
struct WireIn<'a> {
    #[serde(borrow)]
    action: Option<Text<'a>>,
    #[serde(borrow)]
    info_hash: Option<OneOrMany<'a>>,
    #[serde(borrow)]
    peer_id: Option<Text<'a>>,
    #[serde(borrow)]
    event: Option<Text<'a>>,
    uploaded: Option<u64>,
    downloaded: Option<u64>,
    left: Option<u64>,
    numwant: Option<u64>,
    #[serde(borrow)]
    offers: Option<Vec<WireOffer<'a>>>,
    answer: Option<Value>,
    #[serde(borrow)]
    to_peer_id: Option<Text<'a>>,
    #[serde(borrow)]
    offer_id: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct WireOffer<'a> {
    #[serde(borrow)]
    offer_id: Option<Text<'a>>,
    offer: Option<Value>,
}

impl WireIn<'_> {
    fn into_announce(self, limits: &WsLimits) -> Result<AnnounceRequest, ProtocolError> {
        let info_hash = match self.info_hash {
            Some(OneOrMany::One(text)) => InfoHash(binary20("info_hash", &text.0)?),
            Some(OneOrMany::Many(_)) => {
                return Err(ProtocolError::invalid(
                    "info_hash",
                    b"[...]",
                    "one binary string in an announce",
                ))
            }
            None => return Err(ProtocolError::Missing { field: "info_hash" }),
        };
        let peer_id = PeerId(required_binary20("peer_id", self.peer_id)?);
        let event = match self.event.as_ref().map(|t| &*t.0) {
            None | Some("update") | Some("") => AnnounceEvent::None,
            Some("started") => AnnounceEvent::Started,
            Some("stopped") => AnnounceEvent::Stopped,
            Some("completed") => AnnounceEvent::Completed,
            Some(other) => {
                return Err(ProtocolError::invalid(
                    "event",
                    other.as_bytes(),
                    "\"started\", \"stopped\", \"completed\", \"update\" or nothing",
                ))
            }
        };
        let mut wire_offers = self.offers.unwrap_or_default();
        wire_offers.truncate(limits.max_offers);
        let offers = wire_offers
            .into_iter()
            .map(|o| {
                Ok(Offer {
                    offer_id: OfferId(required_binary20("offers[].offer_id", o.offer_id)?),
                    offer: required_object("offers[].offer", o.offer)?,
                })
            })
            .collect::<Result<Vec<_>, ProtocolError>>()?;
        // `to_peer_id` and `offer_id` mean something only with an answer (bittorrent-tracker
        // checks `params.answer` alone), so without one they are ignored, not validated.
        let answer = match self.answer {
            None => None,
            Some(answer) => Some(Answer {
                to_peer_id: PeerId(required_binary20("to_peer_id", self.to_peer_id)?),
                offer_id: OfferId(required_binary20("offer_id", self.offer_id)?),
                answer: required_object("answer", Some(answer))?,
            }),
        };
        Ok(AnnounceRequest {
            info_hash,
            peer_id,
            event,
            uploaded: self.uploaded,
            downloaded: self.downloaded,
            left: self.left,
            numwant: self
                .numwant
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            offers,
            answer,
        })
    }

    fn into_scrape(self, limits: &WsLimits) -> Result<ScrapeRequest, ProtocolError> {
        let texts = match self.info_hash {
            None => return Ok(ScrapeRequest::Full),
            Some(OneOrMany::One(text)) => vec![text],
            Some(OneOrMany::Many(mut texts)) => {
                texts.truncate(limits.max_scrape_hashes);
                texts
            }
        };
        texts
            .iter()
            .map(|t| binary20("info_hash", &t.0).map(InfoHash))
            .collect::<Result<Vec<_>, _>>()
            .map(ScrapeRequest::Torrents)
    }
}

fn required_binary20(
    field: &'static str,
    text: Option<Text<'_>>,
) -> Result<[u8; 20], ProtocolError> {
    let text = text.ok_or(ProtocolError::Missing { field })?;
    binary20(field, &text.0)
}

fn required_object(field: &'static str, value: Option<Value>) -> Result<Value, ProtocolError> {
    match value {
        Some(v) if v.is_object() => Ok(v),
        Some(v) => Err(ProtocolError::invalid(
            field,
            v.to_string().as_bytes(),
            "an object {\"type\", \"sdp\"}",
        )),
        None => Err(ProtocolError::Missing { field }),
    }
}

/// Reads a 20-byte id from its JSON string form: one char per byte, each at most U+00FF.
fn binary20(field: &'static str, text: &str) -> Result<[u8; 20], ProtocolError> {
    let bad = || ProtocolError::invalid(field, text.as_bytes(), BINARY_STRING);
    let mut bytes = [0u8; 20];
    let mut chars = text.chars();
    for slot in &mut bytes {
        let c = chars.next().ok_or_else(bad)?;
        *slot = u8::try_from(u32::from(c)).map_err(|_| bad())?;
    }
    match chars.next() {
        None => Ok(bytes),
        Some(_) => Err(bad()),
    }
}

/// A JSON string, borrowed from the input when it has no escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(TextVisitor(std::marker::PhantomData))
    }
}

struct TextVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for TextVisitor<'a> {
    type Value = Text<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'a>, E> {
        Ok(Text(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'a>, E> {
        Ok(Text(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Text<'a>, E> {
        Ok(Text(Cow::Owned(v)))
    }
}

/// A scrape's `info_hash`: one string or an array of them (§2.3).
enum OneOrMany<'a> {
    One(Text<'a>),
    Many(Vec<Text<'a>>),
}

impl<'de: 'a, 'a> Deserialize<'de> for OneOrMany<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(OneOrManyVisitor(std::marker::PhantomData))
    }
}

struct OneOrManyVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for OneOrManyVisitor<'a> {
    type Value = OneOrMany<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a binary string or an array of them")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<OneOrMany<'a>, E> {
        Ok(OneOrMany::One(Text(Cow::Borrowed(v))))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<OneOrMany<'a>, E> {
        Ok(OneOrMany::One(Text(Cow::Owned(v.to_owned()))))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<OneOrMany<'a>, E> {
        Ok(OneOrMany::One(Text(Cow::Owned(v))))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany<'a>, A::Error> {
        let mut texts = Vec::new();
        while let Some(text) = seq.next_element::<Text<'a>>()? {
            texts.push(text);
        }
        Ok(OneOrMany::Many(texts))
    }
}

/// A message from the tracker to a client.
#[derive(Debug, Clone, PartialEq)]
pub enum OutMessage {
    /// The reply to an announce.
    Announce(AnnounceResponse),
    /// Another peer's offer, relayed.
    Offer(OfferMessage),
    /// The answer to one of this peer's offers, relayed.
    Answer(AnswerMessage),
    /// The reply to a scrape.
    Scrape(ScrapeResponse),
    /// A refusal.
    Error(ErrorResponse),
}

impl OutMessage {
    /// The JSON text to send in a text frame.
    pub fn to_json(&self) -> String {
        // Serialising these types cannot fail: every map key is a string and no Serialize
        // impl here returns an error for valid data (Latin1 always produces UTF-8).
        serde_json::to_string(self).expect("tracker messages always serialise")
    }
}

impl Serialize for OutMessage {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            OutMessage::Announce(m) => m.serialize(s),
            OutMessage::Offer(m) => m.serialize(s),
            OutMessage::Answer(m) => m.serialize(s),
            OutMessage::Scrape(m) => m.serialize(s),
            OutMessage::Error(m) => m.serialize(s),
        }
    }
}

/// `{"action":"announce","info_hash":…,"complete":N,"incomplete":N,"interval":S}` (§2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnnounceResponse {
    /// The swarm announced to.
    pub info_hash: InfoHash,
    /// Seeders.
    pub complete: u32,
    /// Leechers.
    pub incomplete: u32,
    /// Seconds until the next announce.
    pub interval: u32,
}

impl Serialize for AnnounceResponse {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(5))?;
        m.serialize_entry("action", "announce")?;
        m.serialize_entry("info_hash", &Latin1(&self.info_hash.0))?;
        m.serialize_entry("complete", &self.complete)?;
        m.serialize_entry("incomplete", &self.incomplete)?;
        m.serialize_entry("interval", &self.interval)?;
        m.end()
    }
}

/// An offer relayed to a chosen peer: `peer_id` is the offerer's (§2.4).
#[derive(Debug, Clone, PartialEq)]
pub struct OfferMessage {
    /// The swarm.
    pub info_hash: InfoHash,
    /// The offering peer.
    pub peer_id: PeerId,
    /// The offerer's id for this offer.
    pub offer_id: OfferId,
    /// The offer as the offerer sent it.
    pub offer: Value,
}

impl Serialize for OfferMessage {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(5))?;
        m.serialize_entry("action", "announce")?;
        m.serialize_entry("info_hash", &Latin1(&self.info_hash.0))?;
        m.serialize_entry("peer_id", &Latin1(&self.peer_id.0))?;
        m.serialize_entry("offer_id", &Latin1(&self.offer_id.0))?;
        m.serialize_entry("offer", &self.offer)?;
        m.end()
    }
}

/// An answer relayed to the offerer: `peer_id` is the answerer's (§2.4).
#[derive(Debug, Clone, PartialEq)]
pub struct AnswerMessage {
    /// The swarm.
    pub info_hash: InfoHash,
    /// The answering peer.
    pub peer_id: PeerId,
    /// The offer answered.
    pub offer_id: OfferId,
    /// The answer as the answerer sent it.
    pub answer: Value,
}

impl Serialize for AnswerMessage {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(5))?;
        m.serialize_entry("action", "announce")?;
        m.serialize_entry("info_hash", &Latin1(&self.info_hash.0))?;
        m.serialize_entry("peer_id", &Latin1(&self.peer_id.0))?;
        m.serialize_entry("offer_id", &Latin1(&self.offer_id.0))?;
        m.serialize_entry("answer", &self.answer)?;
        m.end()
    }
}

/// `{"action":"scrape","files":{<info_hash>:{"complete","incomplete","downloaded"}}}` (§2.4).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScrapeResponse {
    /// One entry per torrent asked about (a repeated hash repeats its key; keep them unique).
    pub files: Vec<(InfoHash, ScrapeStats)>,
}

impl Serialize for ScrapeResponse {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Files<'a>(&'a [(InfoHash, ScrapeStats)]);
        impl Serialize for Files<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(self.0.len()))?;
                for (hash, stats) in self.0 {
                    m.serialize_entry(&Latin1(&hash.0), &Stats(stats))?;
                }
                m.end()
            }
        }
        struct Stats<'a>(&'a ScrapeStats);
        impl Serialize for Stats<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(3))?;
                m.serialize_entry("complete", &self.0.complete)?;
                m.serialize_entry("incomplete", &self.0.incomplete)?;
                m.serialize_entry("downloaded", &self.0.downloaded)?;
                m.end()
            }
        }
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("action", "scrape")?;
        m.serialize_entry("files", &Files(&self.files))?;
        m.end()
    }
}

/// Which request an error answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// An announce.
    Announce,
    /// A scrape.
    Scrape,
}

/// `{"failure reason":…}`, with the `action` and `info_hash` it concerns when known (§2.4;
/// the JS client shows it as a warning for that torrent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorResponse {
    /// Human-readable reason.
    pub failure_reason: Cow<'static, str>,
    /// The request refused, when known.
    pub action: Option<Action>,
    /// The torrent concerned, when known.
    pub info_hash: Option<InfoHash>,
}

impl Serialize for ErrorResponse {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        if let Some(action) = self.action {
            let action = match action {
                Action::Announce => "announce",
                Action::Scrape => "scrape",
            };
            m.serialize_entry("action", action)?;
        }
        if let Some(hash) = &self.info_hash {
            m.serialize_entry("info_hash", &Latin1(&hash.0))?;
        }
        m.serialize_entry("failure reason", &self.failure_reason)?;
        m.end()
    }
}

/// Serialises 20 bytes as the JSON string the JS client's `hex2bin` would make: each byte as
/// the char with the same code point (§2.2). Never hex on the WS wire.
pub struct Latin1<'a>(pub &'a [u8; 20]);

impl Serialize for Latin1<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // At most two UTF-8 bytes per char: no allocation.
        let mut buf = [0u8; 40];
        let mut len = 0;
        for &byte in self.0 {
            len += char::from(byte).encode_utf8(&mut buf[len..]).len();
        }
        let text = std::str::from_utf8(&buf[..len]).map_err(serde::ser::Error::custom)?;
        s.serialize_str(text)
    }
}

#[cfg(test)]
mod tests;
