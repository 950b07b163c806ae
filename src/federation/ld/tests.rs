//! LD signature tests: canonical N-Quads compared byte for byte with jsonld.js 8.3.3's, and
//! signatures from Mastodon (real capture) and PeerTube's algorithm (see `../testdata/README.md`).

use super::*;
use crate::federation::keys::{parse_private_key_pem, parse_public_key_pem};
use std::time::Duration;

macro_rules! testdata {
    ($path:literal) => {
        include_str!(concat!("../testdata/", $path))
    };
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn without_signature(mut doc: Value) -> Value {
    doc.as_object_mut().unwrap().remove("signature");
    doc
}

fn key_field(text: &str, field: &str) -> String {
    json(text)[field].as_str().unwrap().to_string()
}

fn mastodon_key() -> RsaPublicKey {
    parse_public_key_pem(&key_field(
        testdata!("mastodon/public-key.json"),
        "publicKey",
    ))
    .unwrap()
}

fn peertube_public() -> RsaPublicKey {
    parse_public_key_pem(&key_field(testdata!("peertube/keys.json"), "publicKey")).unwrap()
}

fn peertube_private() -> RsaPrivateKey {
    parse_private_key_pem(&key_field(testdata!("peertube/keys.json"), "privateKey")).unwrap()
}

/// The body of Mastodon's captured request: a `Create` with Mastodon 2.5's LD signature.
fn mastodon_create() -> Value {
    json(testdata!("mastodon/bad-body-http-signature.json"))["body"].clone()
}

fn peertube_video() -> Value {
    json(testdata!("generated/peertube-create-video-signed.json"))
}

#[track_caller]
fn assert_same_nquads(doc: &Value, expected: &str) {
    let ours = canonical_nquads(doc).unwrap();
    if ours != expected {
        let ours: Vec<&str> = ours.lines().collect();
        let theirs: Vec<&str> = expected.lines().collect();
        let missing: Vec<_> = theirs.iter().filter(|l| !ours.contains(l)).collect();
        let extra: Vec<_> = ours.iter().filter(|l| !theirs.contains(l)).collect();
        panic!("N-Quads differ from jsonld.js'\nmissing: {missing:#?}\nextra: {extra:#?}");
    }
}

#[test]
fn canonical_nquads_match_jsonld_js() {
    assert_same_nquads(
        &without_signature(mastodon_create()),
        testdata!("generated/mastodon-create.nquads"),
    );
    assert_same_nquads(
        &without_signature(peertube_video()),
        testdata!("generated/peertube-create-video.nquads"),
    );
    for (doc, nquads) in [
        (
            testdata!("generated/ordered-collection-page.json"),
            testdata!("generated/ordered-collection-page.nquads"),
        ),
        (
            testdata!("generated/blank-node-cycles.json"),
            testdata!("generated/blank-node-cycles.nquads"),
        ),
        (
            testdata!("generated/jsonld-features.json"),
            testdata!("generated/jsonld-features.nquads"),
        ),
    ] {
        assert_same_nquads(&json(doc), nquads);
    }
    let options = json!({
        "@context": [
            "https://w3id.org/security/v1",
            { "RsaSignature2017": "https://w3id.org/security#RsaSignature2017" }
        ],
        "creator": "http://localhost:3000/users/ronan2#main-key",
        "created": "2018-10-22T13:34:19Z"
    });
    assert_same_nquads(&options, testdata!("generated/signature-options.nquads"));
}

#[test]
fn mastodon_ld_signature_verifies() {
    let doc = mastodon_create();
    assert_eq!(
        signature_creator(&doc).unwrap(),
        "http://localhost:3000/users/ronan2#main-key"
    );
    assert_eq!(
        actor_of_creator(signature_creator(&doc).unwrap()),
        "http://localhost:3000/users/ronan2"
    );
    verify(&doc, &mastodon_key()).unwrap();
    assert!(matches!(
        verify(&doc, &peertube_public()),
        Err(LdError::BadSignature { .. })
    ));
}

#[test]
fn mastodon_create_bad_signature_is_rejected() {
    let doc = json(testdata!("mastodon/create-bad-signature.json"));
    assert_eq!(
        verify(&doc, &mastodon_key()),
        Err(LdError::BadSignature {
            creator: "http://localhost:3000/users/ronan2#main-key".into()
        })
    );
}

#[test]
fn peertube_signature_verifies_only_with_the_right_key() {
    let doc = peertube_video();
    verify(&doc, &peertube_public()).unwrap();
    let invalid = parse_public_key_pem(&key_field(
        testdata!("peertube/invalid-keys.json"),
        "publicKey",
    ))
    .unwrap();
    assert!(matches!(
        verify(&doc, &invalid),
        Err(LdError::BadSignature { .. })
    ));
}

#[test]
fn signing_matches_peertube_byte_for_byte() {
    // RSASSA-PKCS1-v1_5 is deterministic: same key, data and date give PeerTube's value.
    let expected = peertube_video();
    let created = UNIX_EPOCH + Duration::from_secs(1_736_244_000); // 2025-01-07T10:00:00.000Z
    let ours = sign(
        without_signature(expected.clone()),
        "https://peertube.example/accounts/alice",
        created,
        &peertube_private(),
    )
    .unwrap();
    assert_eq!(ours["signature"], expected["signature"]);
}

#[test]
fn sign_then_verify_and_tampering() {
    let doc = without_signature(mastodon_create());
    let signed = sign(
        doc,
        "https://h.example/accounts/alice",
        SystemTime::now(),
        &peertube_private(),
    )
    .unwrap();
    verify(&signed, &peertube_public()).unwrap();

    let mut tampered = signed.clone();
    tampered["object"]["content"] = "<p>forged</p>".into();
    assert!(matches!(
        verify(&tampered, &peertube_public()),
        Err(LdError::BadSignature { .. })
    ));
    let mut redated = signed.clone();
    redated["signature"]["created"] = "2030-01-01T00:00:00.000Z".into();
    assert!(matches!(
        verify(&redated, &peertube_public()),
        Err(LdError::BadSignature { .. })
    ));

    // Only the RDF meaning is signed: key order, whitespace, and terms the context does not
    // define (they expand to nothing) can change without breaking it. Consumers must read
    // only terms their context defines.
    let mut reordered: Value =
        serde_json::from_str(&serde_json::to_string_pretty(&signed).unwrap()).unwrap();
    reordered["undefinedTerm"] = "ignored by JSON-LD".into();
    verify(&reordered, &peertube_public()).unwrap();
}

#[test]
fn malformed_signatures_are_named() {
    let signed = mastodon_create();
    let key = mastodon_key();
    assert_eq!(
        verify(&without_signature(signed.clone()), &key),
        Err(LdError::NoSignature)
    );
    let mut other_type = signed.clone();
    other_type["signature"]["type"] = "Ed25519Signature2018".into();
    assert_eq!(
        verify(&other_type, &key),
        Err(LdError::UnsupportedType("Ed25519Signature2018".into()))
    );
    for (field, value, problem) in [
        ("creator", Value::Null, "null, not a string"),
        ("created", json!(""), "empty"),
        ("signatureValue", json!(42), "42, not a string"),
    ] {
        let mut bad = signed.clone();
        bad["signature"][field] = value;
        assert_eq!(
            verify(&bad, &key),
            Err(LdError::BadField {
                field,
                problem: problem.into()
            })
        );
    }
    let mut missing = signed.clone();
    missing["signature"]
        .as_object_mut()
        .unwrap()
        .remove("creator");
    assert!(matches!(
        verify(&missing, &key),
        Err(LdError::BadField {
            field: "creator",
            ..
        })
    ));
    let mut not_base64 = signed.clone();
    not_base64["signature"]["signatureValue"] = "!!!".into();
    assert!(matches!(
        verify(&not_base64, &key),
        Err(LdError::BadField {
            field: "signatureValue",
            ..
        })
    ));
}

#[test]
fn unsupported_json_ld_is_an_error_not_a_pass() {
    let key = mastodon_key();
    let mut remote = mastodon_create();
    remote["@context"][0] = "https://example.org/unknown-context".into();
    assert_eq!(
        verify(&remote, &key),
        Err(LdError::UnknownContext(
            "https://example.org/unknown-context".into()
        ))
    );
    let mut graph = mastodon_create();
    graph["@graph"] = json!([]);
    assert!(matches!(verify(&graph, &key), Err(LdError::Unsupported(_))));
    let mut included = mastodon_create();
    included["@included"] = json!([]);
    assert!(matches!(
        verify(&included, &key),
        Err(LdError::Unsupported(_))
    ));
    assert!(matches!(
        sign(
            json!([1]),
            "https://h.example/a",
            SystemTime::now(),
            &peertube_private()
        ),
        Err(LdError::InvalidDocument(_))
    ));
}
