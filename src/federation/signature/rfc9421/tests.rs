//! RFC 9421's own test vectors (Appendix B.1 keys, B.2 test request): the Ed25519 signature of
//! B.2.6 and the `rsa-v1_5-sha256` signature of §4.3 (the proxy's `proxy_sig`, here labelled
//! `sig1`), then what the inbox refuses.

use super::*;
use http::header::HeaderValue;

/// RFC 9421 B.1.1 `test-key-rsa` (public part, PKCS#1).
const TEST_KEY_RSA: &str = "-----BEGIN RSA PUBLIC KEY-----
MIIBCgKCAQEAhAKYdtoeoy8zcAcR874L8cnZxKzAGwd7v36APp7Pv6Q2jdsPBRrw
WEBnez6d0UDKDwGbc6nxfEXAy5mbhgajzrw3MOEt8uA5txSKobBpKDeBLOsdJKFq
MGmXCQvEG7YemcxDTRPxAleIAgYYRjTSd/QBwVW9OwNFhekro3RtlinV0a75jfZg
kne/YiktSvLG34lw2zqXBDTC5NHROUqGTlML4PlNZS5Ri2U4aCNx2rUPRcKIlE0P
uKxI4T+HIaFpv8+rdV6eUgOrB2xeI1dSFFn/nnv5OoZJEIB+VmuKn3DCUcCZSFlQ
PSXSfBDiUGhwOw76WuSSsf1D4b/vLoJ10wIDAQAB
-----END RSA PUBLIC KEY-----";

/// RFC 9421 B.1.4 `test-key-ed25519`.
const TEST_KEY_ED25519: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=
-----END PUBLIC KEY-----";

/// The body of the B.2 test request.
const BODY: &[u8] = br#"{"hello": "world"}"#;

/// The §4.3 request as the origin receives it from the proxy.
const RSA_INPUT: &str = r#"sig1=("@method" "@authority" "@path" "content-digest" "content-type" "content-length" "forwarded");created=1618884480;keyid="test-key-rsa";alg="rsa-v1_5-sha256";expires=1618884540"#;
const RSA_SIGNATURE: &str = "sig1=:S6ZzPXSdAMOPjN/6KXfXWNO/f7V6cHm7BXYUh3YD/fRad4BCaRZxP+JH+8XY1I6+8Cy+CM5g92iHgxtRPz+MjniOaYmdkDcnL9cCpXJleXsOckpURl49GwiyUpZ10KHgOEe11sx3G2gxI8S0jnxQB+Pu68U9vVcasqOWAEObtNKKZd8tSFu7LB5YAv0RAGhB8tmpv7sFnIm9y+7X5kXQfi8NMaZaA8i2ZHwpBdg7a6CMfwnnrtflzvZdXAsD3LH2TwevU+/PBPv0B6NMNk93wUs/vfJvye+YuI87HU38lZHowtznbLVdp770I6VHR6WfgS9ddzirrswsE1w5o0LV/g==:";

fn rsa_headers() -> HeaderMap {
    headers(&[
        ("host", "origin.host.internal.example"),
        ("date", "Tue, 20 Apr 2021 02:07:56 GMT"),
        ("content-type", "application/json"),
        (
            "content-digest",
            "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:",
        ),
        ("content-length", "18"),
        ("forwarded", "for=192.0.2.123;host=example.com;proto=https"),
        ("signature-input", RSA_INPUT),
        ("signature", RSA_SIGNATURE),
    ])
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        map.append(*k, HeaderValue::from_str(v).unwrap());
    }
    map
}

fn head<'a>(headers: &'a HeaderMap, target: &'a str) -> RequestHead<'a> {
    RequestHead {
        method: &Method::POST,
        target,
        headers,
    }
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

const SKEW: Duration = Duration::from_secs(300);

fn rsa_key() -> VerifyingKey {
    VerifyingKey::Rsa(crate::federation::keys::parse_public_key_pem(TEST_KEY_RSA).unwrap())
}

#[test]
fn verifies_the_rfc_rsa_v1_5_sha256_example() {
    let h = rsa_headers();
    let sig = check_request(&head(&h, "/foo"), BODY, at(1618884539), SKEW).unwrap();
    assert_eq!(sig.key_id, "test-key-rsa");
    assert_eq!(sig.created, 1618884480);
    assert_eq!(sig.expires, Some(1618884540));
    assert_eq!(
        sig.signature_base(&head(&h, "/foo"), "https").unwrap(),
        "\"@method\": POST\n\"@authority\": origin.host.internal.example\n\"@path\": /foo\n\
         \"content-digest\": sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:\n\
         \"content-type\": application/json\n\"content-length\": 18\n\
         \"forwarded\": for=192.0.2.123;host=example.com;proto=https\n\
         \"@signature-params\": (\"@method\" \"@authority\" \"@path\" \"content-digest\" \"content-type\" \"content-length\" \"forwarded\");created=1618884480;keyid=\"test-key-rsa\";alg=\"rsa-v1_5-sha256\";expires=1618884540"
    );
    sig.verify(&head(&h, "/foo"), "https", &rsa_key()).unwrap();
    // Another path, another key: no.
    assert!(matches!(
        sig.verify(&head(&h, "/bar"), "https", &rsa_key()),
        Err(SignatureError::BadSignature { .. })
    ));
    let other = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 1024).unwrap();
    assert!(sig
        .verify(
            &head(&h, "/foo"),
            "https",
            &VerifyingKey::Rsa(RsaPublicKey::from(&other))
        )
        .is_err());
    // `alg` says RSA: an Ed25519 key is refused with the reason.
    let ed = VerifyingKey::ed25519_from_pem(TEST_KEY_ED25519).unwrap();
    assert!(matches!(
        sig.verify(&head(&h, "/foo"), "https", &ed),
        Err(SignatureError::UnsupportedRfc9421Algorithm(_))
    ));
}

#[test]
fn verifies_the_rfc_ed25519_example_b_2_6() {
    let h = headers(&[
        ("host", "example.com"),
        ("date", "Tue, 20 Apr 2021 02:07:55 GMT"),
        ("content-type", "application/json"),
        ("content-length", "18"),
        (
            "signature-input",
            r#"sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519""#,
        ),
        (
            "signature",
            "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:",
        ),
    ]);
    let target = "/foo?param=Value&Pet=dog";
    let sig = MessageSignature::from_headers(&h).unwrap();
    assert_eq!(sig.label, "sig-b26");
    assert_eq!(
        sig.signature_base(&head(&h, target), "https").unwrap(),
        "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n\"@method\": POST\n\"@path\": /foo\n\
         \"@authority\": example.com\n\"content-type\": application/json\n\"content-length\": 18\n\
         \"@signature-params\": (\"date\" \"@method\" \"@path\" \"@authority\" \"content-type\" \"content-length\");created=1618884473;keyid=\"test-key-ed25519\""
    );
    let key = VerifyingKey::ed25519_from_pem(TEST_KEY_ED25519).unwrap();
    sig.verify(&head(&h, target), "https", &key).unwrap();
    assert!(sig.verify(&head(&h, "/foo?x"), "https", &key).is_ok());
    assert!(sig.verify(&head(&h, "/other"), "https", &key).is_err());
    // The inbox wants the body covered: this example does not cover content-digest.
    assert_eq!(
        check_request(&head(&h, target), BODY, at(1618884474), SKEW),
        Err(SignatureError::NotCovered("content-digest"))
    );
}

#[test]
fn refuses_what_the_inbox_must_not_take() {
    let now = at(1618884539);
    // A changed body: the digest no longer matches.
    let h = rsa_headers();
    assert!(matches!(
        check_request(&head(&h, "/foo"), br#"{"hello": "mallory"}"#, now, SKEW),
        Err(SignatureError::DigestMismatch { .. })
    ));
    // Past `expires`, or `created` beyond the allowed skew.
    assert!(matches!(
        check_request(&head(&h, "/foo"), BODY, at(1618884541), SKEW),
        Err(SignatureError::Expired { .. })
    ));
    assert!(matches!(
        check_request(&head(&h, "/foo"), BODY, at(1618884000), SKEW),
        Err(SignatureError::StaleDate { .. })
    ));
    let with_input = |input: &str| {
        let mut h = rsa_headers();
        h.insert(SIGNATURE_INPUT, HeaderValue::from_str(input).unwrap());
        h
    };
    let refused = |input: &str| {
        let h = with_input(input);
        check_request(&head(&h, "/foo"), BODY, now, SKEW).unwrap_err()
    };
    // Coverage: the method, the target and the body's digest.
    assert_eq!(
        refused(r#"sig1=("@authority" "@path" "content-digest");created=1618884480;keyid="k""#),
        SignatureError::NotCovered("@method")
    );
    assert_eq!(
        refused(r#"sig1=("@method" "@path" "content-digest");created=1618884480;keyid="k""#),
        SignatureError::NotCovered("@target-uri (or @authority and @path)")
    );
    assert_eq!(
        refused(r#"sig1=("@method" "@target-uri");created=1618884480;keyid="k""#),
        SignatureError::NotCovered("content-digest")
    );
    // Parameters.
    assert_eq!(
        refused(r#"sig1=("@method" "@target-uri" "content-digest");keyid="k""#),
        SignatureError::MissingParameter("created")
    );
    assert_eq!(
        refused(r#"sig1=("@method" "@target-uri" "content-digest");created=1618884480"#),
        SignatureError::MissingParameter("keyid")
    );
    assert!(matches!(
        refused(r#"sig1=("@method" "@target-uri" "content-digest");created=1618884480;keyid="k";alg="hmac-sha256""#),
        SignatureError::UnsupportedRfc9421Algorithm(a) if a == "hmac-sha256"
    ));
    assert!(matches!(
        refused(r#"sig1=("@method" "@target-uri" "content-digest";sf);created=1618884480;keyid="k""#),
        SignatureError::Malformed(m) if m.contains("parameter `sf`")
    ));
    assert!(matches!(
        refused("sig1=nonsense("),
        SignatureError::Malformed(_)
    ));
    // A label in Signature-Input without a value in Signature.
    assert!(matches!(
        refused(r#"other=("@method" "@target-uri" "content-digest");created=1618884480;keyid="k""#),
        SignatureError::Malformed(m) if m.contains("no value for label other")
    ));
    // No digest we know, or none at all.
    let mut h = rsa_headers();
    h.insert(CONTENT_DIGEST, HeaderValue::from_static("md5=:AAAA:"));
    assert!(matches!(
        check_request(&head(&h, "/foo"), BODY, now, SKEW),
        Err(SignatureError::UnsupportedDigest(_))
    ));
    h.remove(CONTENT_DIGEST);
    assert!(matches!(
        check_request(&head(&h, "/foo"), BODY, now, SKEW),
        Err(SignatureError::MissingHeader(_))
    ));
}

#[test]
fn checks_sha_256_content_digests() {
    // RFC 9530's example digest of the B.2 body.
    let h = headers(&[(
        "content-digest",
        "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:",
    )]);
    check_content_digest(&h, BODY).unwrap();
    assert!(check_content_digest(&h, b"{}").is_err());
}
