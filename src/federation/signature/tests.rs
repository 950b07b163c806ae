//! HTTP signature tests on PeerTube's and Mastodon's fixtures (see `../testdata/README.md`).

use super::*;
use crate::federation::keys::{parse_private_key_pem, parse_public_key_pem};
use serde_json::Value;

const PEERTUBE_KEYS: &str = include_str!("../testdata/peertube/keys.json");
const PEERTUBE_INVALID_KEYS: &str = include_str!("../testdata/peertube/invalid-keys.json");
const MASTODON_PUBLIC_KEY: &str = include_str!("../testdata/mastodon/public-key.json");
const MASTODON_BAD_BODY: &str = include_str!("../testdata/mastodon/bad-body-http-signature.json");

const KEY_ID: &str = "https://h.example/accounts/alice#main-key";
const BODY: &[u8] = br#"{"type":"Follow","actor":"https://h.example/accounts/alice"}"#;

fn json_field(text: &str, field: &str) -> String {
    let v: Value = serde_json::from_str(text).unwrap();
    v[field].as_str().unwrap().to_string()
}

fn peertube_private() -> RsaPrivateKey {
    parse_private_key_pem(&json_field(PEERTUBE_KEYS, "privateKey")).unwrap()
}

fn peertube_public() -> RsaPublicKey {
    parse_public_key_pem(&json_field(PEERTUBE_KEYS, "publicKey")).unwrap()
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// 2025-01-07T10:00:00Z, the signing time of the tests.
const NOW: u64 = 1_736_244_000;

fn base_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(HOST, HeaderValue::from_static("remote.example"));
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/activity+json"),
    );
    h
}

/// A POST to `/inbox` signed with PeerTube's test key: the headers as the receiver sees them.
fn signed_post(body: &[u8]) -> HeaderMap {
    let mut headers = base_headers();
    let head = RequestHead {
        method: &Method::POST,
        target: "/inbox",
        headers: &headers,
    };
    let added = sign_request(&head, Some(body), KEY_ID, &peertube_private(), at(NOW)).unwrap();
    headers.extend(added);
    headers
}

fn post_head(headers: &HeaderMap) -> RequestHead<'_> {
    RequestHead {
        method: &Method::POST,
        target: "/inbox",
        headers,
    }
}

fn verify_post(
    headers: &HeaderMap,
    body: &[u8],
    key: &RsaPublicKey,
    now: u64,
) -> Result<SignatureHeader, SignatureError> {
    verify_request(&post_head(headers), body, key, at(now), DEFAULT_MAX_SKEW)
}

#[test]
fn outgoing_post_has_peertube_shape() {
    let headers = signed_post(BODY);
    assert_eq!(headers["date"], "Tue, 07 Jan 2025 10:00:00 GMT");
    assert_eq!(headers["digest"].to_str().unwrap(), digest_header(BODY));
    let sig = headers["signature"].to_str().unwrap();
    assert!(
        sig.starts_with(
            "keyId=\"https://h.example/accounts/alice#main-key\",algorithm=\"rsa-sha256\",\
             headers=\"(request-target) host date digest content-type\",signature=\""
        ),
        "{sig}"
    );
    let parsed = SignatureHeader::parse(sig).unwrap();
    assert_eq!(parsed.signature.len(), 256, "RSA-2048 signature");
    let text = signing_string(&post_head(&headers), &parsed).unwrap();
    assert_eq!(
        text,
        format!(
            "(request-target): post /inbox\nhost: remote.example\n\
             date: Tue, 07 Jan 2025 10:00:00 GMT\ndigest: {}\n\
             content-type: application/activity+json",
            digest_header(BODY)
        )
    );
}

#[test]
fn digest_matches_a_known_value() {
    // sha256("") in base64, as any implementation computes it.
    assert_eq!(
        digest_header(b""),
        "SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    );
}

#[test]
fn peertube_keys_sign_then_verify() {
    let headers = signed_post(BODY);
    let sig = verify_post(&headers, BODY, &peertube_public(), NOW + 60).unwrap();
    assert_eq!(sig.key_id, KEY_ID);
    assert_eq!(sig.actor_id(), "https://h.example/accounts/alice");
}

#[test]
fn peertube_invalid_public_key_fails() {
    let headers = signed_post(BODY);
    let invalid = parse_public_key_pem(&json_field(PEERTUBE_INVALID_KEYS, "publicKey")).unwrap();
    assert_eq!(
        verify_post(&headers, BODY, &invalid, NOW),
        Err(SignatureError::BadSignature {
            key_id: KEY_ID.into()
        })
    );
}

#[test]
fn signed_get_covers_request_target_host_date() {
    let mut headers = HeaderMap::new();
    headers.insert(HOST, HeaderValue::from_static("remote.example"));
    let head = RequestHead {
        method: &Method::GET,
        target: "/accounts/bob?page=2",
        headers: &headers,
    };
    let bare_key_id = "https://h.example/accounts/peertube";
    let added = sign_request(&head, None, bare_key_id, &peertube_private(), at(NOW)).unwrap();
    assert!(!added.contains_key(DIGEST));
    headers.extend(added);
    let head = RequestHead {
        method: &Method::GET,
        target: "/accounts/bob?page=2",
        headers: &headers,
    };
    let sig = verify_request(&head, b"", &peertube_public(), at(NOW), DEFAULT_MAX_SKEW).unwrap();
    assert_eq!(sig.headers, ["(request-target)", "host", "date"]);
    assert_eq!(sig.actor_id(), bare_key_id, "keyId without #main-key");
    // The same signature does not hold for another path.
    let other = RequestHead {
        target: "/accounts/bob?page=3",
        ..head
    };
    assert!(matches!(
        verify_request(&other, b"", &peertube_public(), at(NOW), DEFAULT_MAX_SKEW),
        Err(SignatureError::BadSignature { .. })
    ));
}

/// JSON.stringify of a parsed document: the text without insignificant whitespace, key order
/// kept (serde_json would sort keys).
fn minify(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

/// Mastodon's captured request: headers, and the body as JSON.stringify sent it.
fn mastodon_request() -> (HeaderMap, Vec<u8>) {
    let fixture: Value = serde_json::from_str(MASTODON_BAD_BODY).unwrap();
    let mut headers = HeaderMap::new();
    for (name, value) in fixture["headers"].as_object().unwrap() {
        headers.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value.as_str().unwrap()).unwrap(),
        );
    }
    let compact = minify(MASTODON_BAD_BODY);
    let body = compact
        .split_once(r#""body":"#)
        .unwrap()
        .1
        .strip_suffix('}')
        .unwrap();
    (headers, body.as_bytes().to_vec())
}

fn mastodon_key() -> RsaPublicKey {
    parse_public_key_pem(&json_field(MASTODON_PUBLIC_KEY, "publicKey")).unwrap()
}

/// Mon, 22 Oct 2018 13:34:22 GMT, the capture's Date.
const MASTODON_DATE: u64 = 1_540_215_262;

#[test]
fn mastodon_bad_body_is_rejected_for_its_digest() {
    let (headers, body) = mastodon_request();
    // PeerTube's test posts it to /accounts/ronan/inbox.
    let head = RequestHead {
        method: &Method::POST,
        target: "/accounts/ronan/inbox",
        headers: &headers,
    };
    let err = verify_request(
        &head,
        &body,
        &mastodon_key(),
        at(MASTODON_DATE),
        DEFAULT_MAX_SKEW,
    )
    .unwrap_err();
    assert_eq!(
        err,
        SignatureError::DigestMismatch {
            header: "SHA-256=FEr5j2WSSfdEMcG3NTOXuGU0lUchfTJx4+BtUlWOwDk=".into(),
            computed: "SHA-256=e/FgsTVsp7o6+JBrJfMHN+oafMmX6o5Pezh7ounEOgc=".into(),
        }
    );
    // The body is not the one that was signed (2655 bytes here, Content-Length says 2815), but
    // the signature itself is Mastodon's: it verifies over the headers, Digest included.
    assert_eq!(body.len(), 2655);
    assert_eq!(headers["content-length"], "2815");
    let sig = SignatureHeader::from_headers(&headers).unwrap();
    assert_eq!(
        sig.headers,
        ["(request-target)", "host", "date", "digest", "content-type"]
    );
    assert_eq!(sig.actor_id(), "http://localhost:3000/users/ronan2");
    sig.verify(&head, &mastodon_key()).unwrap();
    // …and only for the path it was sent to, and only with Mastodon's key.
    let elsewhere = RequestHead {
        target: "/inbox",
        ..head
    };
    assert!(sig.verify(&elsewhere, &mastodon_key()).is_err());
    assert!(sig.verify(&head, &peertube_public()).is_err());
    // With today's clock the capture is also far too old.
    assert!(matches!(
        check_request(&head, &body, SystemTime::now(), DEFAULT_MAX_SKEW),
        Err(SignatureError::StaleDate { .. })
    ));
}

#[test]
fn stale_and_future_dates_are_rejected() {
    let headers = signed_post(BODY);
    let key = peertube_public();
    assert!(verify_post(&headers, BODY, &key, NOW + 1800).is_ok());
    assert!(verify_post(&headers, BODY, &key, NOW - 1800).is_ok());
    assert_eq!(
        verify_post(&headers, BODY, &key, NOW + 1801),
        Err(SignatureError::StaleDate {
            date: "Tue, 07 Jan 2025 10:00:00 GMT".into(),
            skew_secs: 1801,
            max_secs: 1800
        })
    );
    assert!(matches!(
        verify_post(&headers, BODY, &key, NOW - 3600),
        Err(SignatureError::StaleDate {
            skew_secs: 3600,
            ..
        })
    ));
    // The allowed skew is a parameter.
    let head = post_head(&headers);
    assert!(check_request(&head, BODY, at(NOW + 120), Duration::from_secs(60)).is_err());
}

#[test]
fn tampered_body_and_headers_are_rejected() {
    let headers = signed_post(BODY);
    let key = peertube_public();
    let tampered = br#"{"type":"Follow","actor":"https://evil.example/accounts/mallory"}"#;
    assert!(matches!(
        verify_post(&headers, tampered, &key, NOW),
        Err(SignatureError::DigestMismatch { .. })
    ));
    // A forger who recomputes the digest breaks the signature instead.
    let mut forged = headers.clone();
    forged.insert(DIGEST, digest_header(tampered).parse().unwrap());
    assert!(matches!(
        verify_post(&forged, tampered, &key, NOW),
        Err(SignatureError::BadSignature { .. })
    ));
    // Same for a Date moved within the allowed skew, or another Host.
    let mut moved = headers.clone();
    moved.insert(DATE, "Tue, 07 Jan 2025 10:05:00 GMT".parse().unwrap());
    assert!(matches!(
        verify_post(&moved, BODY, &key, NOW),
        Err(SignatureError::BadSignature { .. })
    ));
    let mut rehosted = headers.clone();
    rehosted.insert(HOST, "other.example".parse().unwrap());
    assert!(matches!(
        verify_post(&rehosted, BODY, &key, NOW),
        Err(SignatureError::BadSignature { .. })
    ));
}

/// Re-signs `headers` with a hand-made signature header covering `names` and `algorithm`.
fn resign(headers: &mut HeaderMap, names: &[&str], algorithm: Option<&str>) {
    let mut sig = SignatureHeader {
        key_id: KEY_ID.into(),
        algorithm: algorithm.map(str::to_string),
        headers: names.iter().map(|s| s.to_string()).collect(),
        signature: Vec::new(),
        created: Some(NOW),
        expires: Some(NOW + 300),
    };
    let text = signing_string(&post_head(headers), &sig).unwrap();
    sig.signature = sign_bytes(text.as_bytes(), &peertube_private()).unwrap();
    headers.insert(SIGNATURE, sig.to_header_value().parse().unwrap());
}

#[test]
fn required_components_must_be_signed_and_present() {
    let key = peertube_public();
    for (names, missing) in [
        (&["host", "date", "digest"][..], "(request-target)"),
        (&["(request-target)", "date", "digest"][..], "host"),
        (&["(request-target)", "host", "digest"][..], "date"),
        (&["(request-target)", "host", "date"][..], "digest"),
    ] {
        let mut headers = signed_post(BODY);
        resign(&mut headers, names, Some("rsa-sha256"));
        assert_eq!(
            verify_post(&headers, BODY, &key, NOW),
            Err(SignatureError::NotCovered(missing)),
            "{names:?}"
        );
    }
    // A header listed as signed but absent from the request.
    let mut headers = signed_post(BODY);
    headers.remove(HOST);
    assert_eq!(
        verify_post(&headers, BODY, &key, NOW),
        Err(SignatureError::MissingHeader("host".into()))
    );
    let mut headers = signed_post(BODY);
    headers.remove(DIGEST);
    assert_eq!(
        verify_post(&headers, BODY, &key, NOW),
        Err(SignatureError::MissingHeader("digest".into()))
    );
    let mut headers = signed_post(BODY);
    headers.remove(SIGNATURE);
    assert_eq!(
        verify_post(&headers, BODY, &key, NOW),
        Err(SignatureError::NoSignature)
    );
    // Signing needs a Host to sign.
    let empty = HeaderMap::new();
    let head = post_head(&empty);
    assert_eq!(
        sign_request(&head, Some(BODY), KEY_ID, &peertube_private(), at(NOW)),
        Err(SignatureError::MissingHeader("host".into()))
    );
}

#[test]
fn hs2019_created_and_expires_are_accepted() {
    let key = peertube_public();
    let mut headers = signed_post(BODY);
    headers.remove(DATE);
    resign(
        &mut headers,
        &[
            "(request-target)",
            "host",
            "(created)",
            "(expires)",
            "digest",
        ],
        Some("hs2019"),
    );
    let sig = verify_post(&headers, BODY, &key, NOW + 10).unwrap();
    assert_eq!(sig.created, Some(NOW));
    assert_eq!(
        verify_post(&headers, BODY, &key, NOW + 301),
        Err(SignatureError::Expired {
            expires: NOW + 300,
            now: NOW + 301
        })
    );
    // No algorithm parameter at all: the key decides (RSA).
    let mut headers = signed_post(BODY);
    resign(
        &mut headers,
        &["(request-target)", "host", "date", "digest"],
        None,
    );
    assert!(verify_post(&headers, BODY, &key, NOW).is_ok());
}

#[test]
fn unsupported_algorithms_are_named() {
    let key = peertube_public();
    for alg in ["rsa-sha512", "hmac-sha256", "ed25519", "ecdsa-sha256"] {
        let mut headers = signed_post(BODY);
        resign(
            &mut headers,
            &["(request-target)", "host", "date", "digest"],
            Some(alg),
        );
        assert_eq!(
            verify_post(&headers, BODY, &key, NOW),
            Err(SignatureError::UnsupportedAlgorithm(alg.into()))
        );
    }
}

#[test]
fn authorization_header_and_signature_prefix_are_accepted() {
    let key = peertube_public();
    let headers = signed_post(BODY);
    let value = headers["signature"].to_str().unwrap().to_string();
    let mut auth = headers.clone();
    auth.remove(SIGNATURE);
    auth.insert(AUTHORIZATION, format!("Signature {value}").parse().unwrap());
    assert!(verify_post(&auth, BODY, &key, NOW).is_ok());
    let mut prefixed = headers.clone();
    prefixed.insert(SIGNATURE, format!("signature {value}").parse().unwrap());
    assert!(verify_post(&prefixed, BODY, &key, NOW).is_ok());
    // Other Authorization schemes are not signatures.
    let mut bearer = headers;
    bearer.remove(SIGNATURE);
    bearer.insert(AUTHORIZATION, "Bearer abc".parse().unwrap());
    assert_eq!(
        verify_post(&bearer, BODY, &key, NOW),
        Err(SignatureError::NoSignature)
    );
}

#[test]
fn header_values_read_back_whatever_was_parsed() {
    // An unquoted `headers` holding a quote came back unparseable (found by fuzzing).
    for value in [
        r#"keyId="k",algorithm="rsa-sha256",headers=*(request-target) host date",signature="AAAA""#,
        r#"keyId="a\\b\"c",algorithm=x"y\z,headers="date",signature="AAAA""#,
    ] {
        let sig = SignatureHeader::parse(value).unwrap();
        let written = sig.to_header_value();
        assert_eq!(SignatureHeader::parse(&written), Ok(sig), "{written}");
    }
}

#[test]
fn garbage_signature_headers_give_errors_not_panics() {
    let long = "a".repeat(MAX_HEADER_LEN + 1);
    let many = format!(
        "keyId=\"k\",headers=\"{}\",signature=\"AAAA\"",
        "date ".repeat(MAX_SIGNED_HEADERS + 1)
    );
    type Check = fn(&SignatureError) -> bool;
    let cases: &[(&str, Check)] = &[
        ("", |e| matches!(e, SignatureError::Malformed(_))),
        ("garbage", |e| matches!(e, SignatureError::Malformed(_))),
        (",,, ,", |e| matches!(e, SignatureError::Malformed(_))),
        ("keyId", |e| matches!(e, SignatureError::Malformed(_))),
        ("=\"x\"", |e| matches!(e, SignatureError::Malformed(_))),
        ("keyId=\"unterminated", |e| {
            matches!(e, SignatureError::Malformed(_))
        }),
        ("keyId=\"a\"x,signature=\"AAAA\"", |e| {
            matches!(e, SignatureError::Malformed(_))
        }),
        ("key Id=\"a\"", |e| {
            matches!(e, SignatureError::Malformed(_))
        }),
        ("kéy=\"a\"", |e| matches!(e, SignatureError::Malformed(_))),
        ("signature=\"AAAA\"", |e| {
            *e == SignatureError::MissingParameter("keyId")
        }),
        ("keyId=\"\",signature=\"AAAA\"", |e| {
            *e == SignatureError::MissingParameter("keyId")
        }),
        ("keyId=\"k\"", |e| {
            *e == SignatureError::MissingParameter("signature")
        }),
        (
            "keyId=\"k\",signature=\"!!not base64!!\"",
            |e| matches!(e, SignatureError::Malformed(m) if m.contains("base64")),
        ),
        (
            "keyId=\"k\",keyId=\"j\",signature=\"AAAA\"",
            |e| matches!(e, SignatureError::Malformed(m) if m.contains("twice")),
        ),
        ("keyId=\"k\",headers=\"\",signature=\"AAAA\"", |e| {
            matches!(e, SignatureError::Malformed(_))
        }),
        (
            "keyId=\"k\",created=yesterday,signature=\"AAAA\"",
            |e| matches!(e, SignatureError::Malformed(m) if m.contains("created")),
        ),
        (
            &long,
            |e| matches!(e, SignatureError::Malformed(m) if m.contains("bytes long")),
        ),
        (
            &many,
            |e| matches!(e, SignatureError::Malformed(m) if m.contains("entries")),
        ),
    ];
    for (value, expected) in cases {
        let err = SignatureHeader::parse(value).unwrap_err();
        assert!(expected(&err), "{value:?} gave {err:?}");
    }
    // Escapes and unquoted numbers parse.
    let sig = SignatureHeader::parse(
        "keyId=\"a\\\"b\" , algorithm=\"RSA-SHA256\",created=1736244000.5,signature=\"AAAA\"",
    )
    .unwrap();
    assert_eq!(sig.key_id, "a\"b");
    let round_trip = SignatureHeader::parse(&sig.to_header_value()).unwrap();
    assert_eq!(round_trip, sig);
    assert_eq!(sig.algorithm.as_deref(), Some("rsa-sha256"));
    assert_eq!(sig.created, Some(1_736_244_000));
    assert_eq!(sig.headers, ["date"], "draft-cavage default");
    // A well-formed header whose signature is junk bytes fails verification, not parsing.
    let mut headers = signed_post(BODY);
    headers.insert(
        SIGNATURE,
        format!("keyId=\"{KEY_ID}\",algorithm=\"rsa-sha256\",headers=\"(request-target) host date digest\",signature=\"AAAA\"")
            .parse()
            .unwrap(),
    );
    assert!(matches!(
        verify_post(&headers, BODY, &peertube_public(), NOW),
        Err(SignatureError::BadSignature { .. })
    ));
    // Non-ASCII bytes in a header value.
    let mut headers = signed_post(BODY);
    headers.insert(
        SIGNATURE,
        HeaderValue::from_bytes(b"keyId=\"\xff\"").unwrap(),
    );
    assert_eq!(
        verify_post(&headers, BODY, &peertube_public(), NOW),
        Err(SignatureError::InvalidHeader("signature".into()))
    );
    let mut headers = signed_post(BODY);
    headers.insert(DATE, "yesterday".parse().unwrap());
    assert_eq!(
        verify_post(&headers, BODY, &peertube_public(), NOW),
        Err(SignatureError::BadDate("yesterday".into()))
    );
}

#[test]
fn digest_header_variants() {
    let body = b"hello";
    let good = digest_header(body);
    assert!(check_digest(&good, body).is_ok());
    assert!(check_digest(&good.replace("SHA-256", "sha-256"), body).is_ok());
    assert!(check_digest(&format!("SHA-512=abc, {good}"), body).is_ok());
    assert_eq!(
        check_digest("SHA-512=abc", body),
        Err(SignatureError::UnsupportedDigest("SHA-512=abc".into()))
    );
    assert!(matches!(
        check_digest("SHA-256=not base64", body),
        Err(SignatureError::DigestMismatch { .. })
    ));
}
