//! Targets for what other instances send: signed request heads, inbox bodies (activities, their
//! Linked-Data signatures, embedded objects and actors) and remote `Video` objects. Everything
//! here is the network-free part of the inbox; fetching keys and storing is not fuzzed.

use super::lines;
use crate::federation::signature::rfc9421::{self, MessageSignature, VerifyingKey};
use crate::federation::signature::{
    check_digest, check_request, signing_string, RequestHead, SignatureHeader,
};
use crate::federation::{id_of, inbox, keys, ld, remote, remote_videos};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use rsa::RsaPublicKey;
use serde_json::Value;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const PEERTUBE_KEYS: &str = include_str!("../federation/testdata/peertube/keys.json");

/// The public key of PeerTube's test fixtures (the corpus's signed seeds use its private key).
fn key() -> &'static RsaPublicKey {
    static KEY: OnceLock<RsaPublicKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let keys: Value = serde_json::from_str(PEERTUBE_KEYS).expect("fixture JSON");
        let pem = keys["publicKey"].as_str().expect("fixture publicKey");
        keys::parse_public_key_pem(pem).expect("fixture key")
    })
}

/// A signed request as text: `METHOD target`, header lines, a blank line, the body. `now` is
/// taken from the `Date` header (or the signature's `created`), so dates pass the skew check and
/// the fuzzer reaches the digest and signature checks.
pub fn http_signature(data: &[u8]) {
    let split = data
        .windows(2)
        .position(|w| w == b"\n\n")
        .map_or((data, &[][..]), |i| (&data[..i], &data[i + 2..]));
    let (head_bytes, body) = split;
    let head_lines = lines(head_bytes);
    let Some((request_line, header_lines)) = head_lines.split_first() else {
        return;
    };
    let (method, target) = request_line
        .split_once(' ')
        .unwrap_or((request_line.as_str(), "/"));
    let method = Method::from_bytes(method.as_bytes()).unwrap_or(Method::POST);
    let mut headers = HeaderMap::new();
    for line in header_lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_str(value.trim()),
        ) {
            headers.append(name, value);
        }
    }
    for value in headers.get_all("signature") {
        let Ok(text) = value.to_str() else { continue };
        if let Ok(sig) = SignatureHeader::parse(text) {
            let _ = sig.actor_id();
            let _ = sig.check_algorithm();
            // What we would send for it parses back the same.
            let written = sig.to_header_value();
            let again = SignatureHeader::parse(&written);
            assert!(
                matches!(&again, Ok(s) if *s == sig),
                "{written:?} parsed back as {again:?}"
            );
        }
    }
    let head = RequestHead {
        method: &method,
        target,
        headers: &headers,
    };
    let parsed = SignatureHeader::from_headers(&headers);
    if let Ok(sig) = &parsed {
        if let Ok(text) = signing_string(&head, sig) {
            // One `name: value` line per covered component.
            assert_eq!(text.split('\n').count(), sig.headers.len(), "{text:?}");
        }
    }
    let now = headers
        .get("date")
        .and_then(|d| d.to_str().ok())
        .and_then(|d| httpdate::parse_http_date(d).ok())
        .or_else(|| {
            let created = parsed.as_ref().ok()?.created?;
            UNIX_EPOCH.checked_add(Duration::from_secs(created))
        })
        .unwrap_or(UNIX_EPOCH + Duration::from_secs(1_736_244_000));
    if let Ok(sig) = check_request(&head, body, now, Duration::from_secs(3600)) {
        let _ = sig.verify(&head, key());
    }
    let _ = check_request(&head, body, SystemTime::now(), Duration::from_secs(30));
    // RFC 9421 (`Signature-Input`), dated by its own `created` so the checks run to the end.
    if let Ok(sig) = MessageSignature::from_headers(&headers) {
        if let Ok(base) = sig.signature_base(&head, "https") {
            // One line per covered component, then `@signature-params`.
            assert_eq!(
                base.split('\n').count(),
                sig.components.len() + 1,
                "{base:?}"
            );
        }
        let at = UNIX_EPOCH.checked_add(Duration::from_secs(sig.created.min(1 << 40)));
        if let Some(at) = at {
            if let Ok(sig) = rfc9421::check_request(&head, body, at, Duration::from_secs(60)) {
                let _ = sig.verify(&head, "https", &VerifyingKey::Rsa(key().clone()));
            }
        }
    }
    for value in headers.get_all("digest") {
        if let Ok(text) = value.to_str() {
            let _ = check_digest(text, body);
        }
    }
}

/// An inbox POST body: one activity or a collection of them, as the inbox reads it before any
/// fetch: activity fields, LD signatures (verified against the fixture key, which runs JSON-LD
/// expansion and URDNA2015 canonicalization), embedded `Video` objects and actor documents.
pub fn activitypub_inbox(data: &[u8]) {
    let Ok(doc) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let _ = ld::canonical_nquads(&doc);
    for activity in inbox::activities_of(doc) {
        let actor = activity.get("actor").and_then(id_of).unwrap_or_default();
        let _ = remote_videos::object_id(&activity);
        if let Ok(creator) = ld::signature_creator(&activity) {
            let _ = ld::actor_of_creator(creator);
            let _ = ld::verify(&activity, key());
        }
        if let Some(object) = activity.get("object") {
            if object.get("type").and_then(Value::as_str) == Some("Video") {
                check_video(object, actor);
            }
        }
        if let Some(id) = activity.get("id").and_then(Value::as_str) {
            // An actor document where an activity was expected (or a fetched actor).
            let _ = remote::parse_actor(&activity, id);
        }
    }
}

/// A remote `Video` object, as a Create/Update/Announce carries it or a fetch returns it.
pub fn remote_video(data: &[u8]) {
    if let Ok(object) = serde_json::from_slice::<Value>(data) {
        check_video(&object, "https://peertube.example/accounts/root");
    }
}

/// What [`remote_videos::parse`] accepts is what the rest of Fleuve relies on.
fn check_video(object: &Value, sender: &str) {
    let Ok(video) = remote_videos::parse(object, sender) else {
        return;
    };
    let name_len = video.name.chars().count();
    assert!((3..=120).contains(&name_len), "name of {name_len} chars");
    assert!(matches!(
        video.privacy,
        crate::video::Privacy::Public | crate::video::Privacy::Unlisted
    ));
    assert!(
        video.duration.is_finite() && video.duration >= 0.0,
        "duration {}",
        video.duration
    );
    assert!(uuid::Uuid::parse_str(&video.uuid).is_ok());
    let files = &video.remote.files;
    assert!(files.windows(2).all(|w| w[0].resolution >= w[1].resolution));
    for h in video
        .remote
        .infohashes
        .iter()
        .chain(files.iter().filter_map(|f| f.info_hash.as_ref()))
    {
        assert!(h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    }
    assert!(
        !files.is_empty() || video.remote.playlist_url.is_some(),
        "nothing playable"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(target: &str, name: &str) -> Vec<u8> {
        let path = format!("{}/fuzz/corpus/{target}/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// The hand-made signed seed gets past every check, so mutations start from a valid request.
    #[test]
    fn the_signed_seed_verifies() {
        let data = seed("http_signature", "peertube-post.txt");
        let text = String::from_utf8(data).unwrap();
        let (head, body) = text.split_once("\n\n").unwrap();
        let mut lines = head.lines();
        let target = lines.next().unwrap().split_once(' ').unwrap().1;
        let mut headers = HeaderMap::new();
        for l in lines {
            let (n, v) = l.split_once(": ").unwrap();
            headers.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        let head = RequestHead {
            method: &Method::POST,
            target,
            headers: &headers,
        };
        let now = UNIX_EPOCH + Duration::from_secs(1_736_244_000);
        let sig = check_request(&head, body.as_bytes(), now, Duration::from_secs(60)).unwrap();
        sig.verify(&head, key()).unwrap();
    }

    #[test]
    fn the_video_seeds_are_accepted() {
        for name in ["peertube-video.json", "web-videos-unlisted.json"] {
            let object: Value = serde_json::from_slice(&seed("remote_video", name)).unwrap();
            let video = remote_videos::parse(&object, "https://peertube.example/a").unwrap();
            assert!(!video.remote.files.is_empty() || video.remote.playlist_url.is_some());
        }
        let create: Value = serde_json::from_slice(&seed(
            "activitypub_inbox",
            "peertube-create-video-signed.json",
        ))
        .unwrap();
        ld::verify(&create, key()).unwrap();
    }
}
