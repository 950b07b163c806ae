//! Signatures on the wire, checked against independent implementations: an inbox POST signed
//! with an RFC 9421 message signature (by a signer written here from the RFC and checked
//! against the RFC's own `rsa-v1_5-sha256` example) is taken, a tampered one refused; the
//! `Create`, `Update` and `Delete` of a video that reach a follower carry a valid
//! `RsaSignature2017` by the video's account, as PeerTube's do.

mod common;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use common::*;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// RFC 9421 B.1.1 `test-key-rsa`: a published test key, used only to check the signer below.
const RFC_TEST_KEY_RSA: &str = "-----BEGIN RSA PRIVATE KEY-----
MIIEqAIBAAKCAQEAhAKYdtoeoy8zcAcR874L8cnZxKzAGwd7v36APp7Pv6Q2jdsP
BRrwWEBnez6d0UDKDwGbc6nxfEXAy5mbhgajzrw3MOEt8uA5txSKobBpKDeBLOsd
JKFqMGmXCQvEG7YemcxDTRPxAleIAgYYRjTSd/QBwVW9OwNFhekro3RtlinV0a75
jfZgkne/YiktSvLG34lw2zqXBDTC5NHROUqGTlML4PlNZS5Ri2U4aCNx2rUPRcKI
lE0PuKxI4T+HIaFpv8+rdV6eUgOrB2xeI1dSFFn/nnv5OoZJEIB+VmuKn3DCUcCZ
SFlQPSXSfBDiUGhwOw76WuSSsf1D4b/vLoJ10wIDAQABAoIBAG/JZuSWdoVHbi56
vjgCgkjg3lkO1KrO3nrdm6nrgA9P9qaPjxuKoWaKO1cBQlE1pSWp/cKncYgD5WxE
CpAnRUXG2pG4zdkzCYzAh1i+c34L6oZoHsirK6oNcEnHveydfzJL5934egm6p8DW
+m1RQ70yUt4uRc0YSor+q1LGJvGQHReF0WmJBZHrhz5e63Pq7lE0gIwuBqL8SMaA
yRXtK+JGxZpImTq+NHvEWWCu09SCq0r838ceQI55SvzmTkwqtC+8AT2zFviMZkKR
Qo6SPsrqItxZWRty2izawTF0Bf5S2VAx7O+6t3wBsQ1sLptoSgX3QblELY5asI0J
YFz7LJECgYkAsqeUJmqXE3LP8tYoIjMIAKiTm9o6psPlc8CrLI9CH0UbuaA2JCOM
cCNq8SyYbTqgnWlB9ZfcAm/cFpA8tYci9m5vYK8HNxQr+8FS3Qo8N9RJ8d0U5Csw
DzMYfRghAfUGwmlWj5hp1pQzAuhwbOXFtxKHVsMPhz1IBtF9Y8jvgqgYHLbmyiu1
mwJ5AL0pYF0G7x81prlARURwHo0Yf52kEw1dxpx+JXER7hQRWQki5/NsUEtv+8RT
qn2m6qte5DXLyn83b1qRscSdnCCwKtKWUug5q2ZbwVOCJCtmRwmnP131lWRYfj67
B/xJ1ZA6X3GEf4sNReNAtaucPEelgR2nsN0gKQKBiGoqHWbK1qYvBxX2X3kbPDkv
9C+celgZd2PW7aGYLCHq7nPbmfDV0yHcWjOhXZ8jRMjmANVR/eLQ2EfsRLdW69bn
f3ZD7JS1fwGnO3exGmHO3HZG+6AvberKYVYNHahNFEw5TsAcQWDLRpkGybBcxqZo
81YCqlqidwfeO5YtlO7etx1xLyqa2NsCeG9A86UjG+aeNnXEIDk1PDK+EuiThIUa
/2IxKzJKWl1BKr2d4xAfR0ZnEYuRrbeDQYgTImOlfW6/GuYIxKYgEKCFHFqJATAG
IxHrq1PDOiSwXd2GmVVYyEmhZnbcp8CxaEMQoevxAta0ssMK3w6UsDtvUvYvF22m
qQKBiD5GwESzsFPy3Ga0MvZpn3D6EJQLgsnrtUPZx+z2Ep2x0xc5orneB5fGyF1P
WtP+fG5Q6Dpdz3LRfm+KwBCWFKQjg7uTxcjerhBWEYPmEMKYwTJF5PBG9/ddvHLQ
EQeNC8fHGg4UXU8mhHnSBt3EA10qQJfRDs15M38eG2cYwB1PZpDHScDnDA0=
-----END RSA PRIVATE KEY-----";

/// One RFC 9421 signature, made by hand from the RFC's §2.5 rules (no Fleuve code): returns
/// the `Signature-Input` and `Signature` values. `components` are (name, value) in order.
fn rfc9421_sign(
    components: &[(&str, &str)],
    params: &str,
    key: &RsaPrivateKey,
) -> (String, String) {
    let names: Vec<String> = components.iter().map(|(n, _)| format!("\"{n}\"")).collect();
    let sig_params = format!("({}){params}", names.join(" "));
    let mut base = String::new();
    for (name, value) in components {
        base.push_str(&format!("\"{name}\": {value}\n"));
    }
    base.push_str(&format!("\"@signature-params\": {sig_params}"));
    let signature = key
        .sign(
            Pkcs1v15Sign::new::<Sha256>(),
            &Sha256::digest(base.as_bytes()),
        )
        .unwrap();
    (
        format!("sig1={sig_params}"),
        format!("sig1=:{}:", BASE64.encode(signature)),
    )
}

#[test]
fn the_test_signer_reproduces_the_rfc_9421_rsa_example() {
    // RFC 9421 §4.3: the proxy's rsa-v1_5-sha256 signature of the B.2 test request.
    let key = RsaPrivateKey::from_pkcs1_pem(RFC_TEST_KEY_RSA).unwrap();
    let (input, signature) = rfc9421_sign(
        &[
            ("@method", "POST"),
            ("@authority", "origin.host.internal.example"),
            ("@path", "/foo"),
            ("content-digest", "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:"),
            ("content-type", "application/json"),
            ("content-length", "18"),
            ("forwarded", "for=192.0.2.123;host=example.com;proto=https"),
        ],
        ";created=1618884480;keyid=\"test-key-rsa\";alg=\"rsa-v1_5-sha256\";expires=1618884540",
        &key,
    );
    assert_eq!(
        input,
        r#"sig1=("@method" "@authority" "@path" "content-digest" "content-type" "content-length" "forwarded");created=1618884480;keyid="test-key-rsa";alg="rsa-v1_5-sha256";expires=1618884540"#
    );
    assert_eq!(signature, "sig1=:S6ZzPXSdAMOPjN/6KXfXWNO/f7V6cHm7BXYUh3YD/fRad4BCaRZxP+JH+8XY1I6+8Cy+CM5g92iHgxtRPz+MjniOaYmdkDcnL9cCpXJleXsOckpURl49GwiyUpZ10KHgOEe11sx3G2gxI8S0jnxQB+Pu68U9vVcasqOWAEObtNKKZd8tSFu7LB5YAv0RAGhB8tmpv7sFnIm9y+7X5kXQfi8NMaZaA8i2ZHwpBdg7a6CMfwnnrtflzvZdXAsD3LH2TwevU+/PBPv0B6NMNk93wUs/vfJvye+YuI87HU38lZHowtznbLVdp770I6VHR6WfgS9ddzirrswsE1w5o0LV/g==:");
}

/// A remote actor on a loopback port that serves its document to GETs and records the bodies
/// POSTed to it (its inbox). Returns its id, key and the recorded bodies.
fn recording_actor(name: &str) -> (String, RsaPrivateKey, Arc<Mutex<Vec<Value>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let key = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    let pem = fleuve::federation::keys::public_key_pem(&rsa::RsaPublicKey::from(&key)).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let id = format!("http://{}/accounts/{name}", listener.local_addr().unwrap());
    let doc = json!({
        "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
        "id": id, "type": "Person", "preferredUsername": name,
        "inbox": format!("{id}/inbox"), "outbox": format!("{id}/outbox"),
        "publicKey": {"id": format!("{id}#main-key"), "owner": id, "publicKeyPem": pem},
    })
    .to_string();
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = received.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let (doc, sink) = (doc.clone(), sink.clone());
            std::thread::spawn(move || {
                let mut r = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                if r.read_line(&mut line).is_err() {
                    return;
                }
                let mut length = 0usize;
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        if k.eq_ignore_ascii_case("content-length") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                }
                let mut w = conn;
                if line.starts_with("POST") {
                    let mut body = vec![0; length];
                    if r.read_exact(&mut body).is_ok() {
                        if let Ok(v) = serde_json::from_slice(&body) {
                            sink.lock().unwrap().push(v);
                        }
                    }
                    let _ = write!(
                        w,
                        "HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    );
                } else {
                    let _ = write!(
                        w,
                        "HTTP/1.1 200 OK\r\ncontent-type: application/activity+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{doc}",
                        doc.len()
                    );
                }
            });
        }
    });
    (id, key, received)
}

/// An inbox POST to `s` signed with an RFC 9421 message signature, as Mastodon 4.5 sends it:
/// `@method`, `@target-uri` and `content-digest` covered, `created` and `keyid` given.
fn rfc9421_inbox_post(
    s: &Server,
    body: &[u8],
    key_id: &str,
    key: &RsaPrivateKey,
    created: u64,
) -> reqwest::RequestBuilder {
    let digest = format!("sha-256=:{}:", BASE64.encode(Sha256::digest(body)));
    let target = s.url("/inbox");
    let (input, signature) = rfc9421_sign(
        &[
            ("@method", "POST"),
            ("@target-uri", &target),
            ("content-digest", &digest),
        ],
        &format!(";created={created};keyid=\"{key_id}\";alg=\"rsa-v1_5-sha256\""),
        key,
    );
    client()
        .post(target)
        .header("content-type", "application/activity+json")
        .header("content-digest", digest)
        .header("signature-input", input)
        .header("signature", signature)
        .body(body.to_vec())
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Waits (90 s at most) for an activity of `kind` among those `received`.
async fn delivered(s: &Server, received: &Arc<Mutex<Vec<Value>>>, kind: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(a) = received.lock().unwrap().iter().find(|a| a["type"] == kind) {
            return a.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no {kind} delivered; got {:?}\n{}",
            received.lock().unwrap(),
            s.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Checks the `RsaSignature2017` of a delivered activity with the public key its creator
/// (our account) publishes, and that a changed copy does not verify.
async fn assert_ld_signed(s: &Server, activity: &Value) {
    let sig = &activity["signature"];
    assert_eq!(sig["type"], "RsaSignature2017", "{activity}");
    let creator = sig["creator"].as_str().expect("signature.creator");
    assert_eq!(creator, activity["actor"], "{activity}");
    let path = creator.strip_prefix(&s.url("")).expect("our own actor");
    let actor = get_ap_json(s, path).await;
    let key = fleuve::federation::keys::parse_public_key_pem(
        actor["publicKey"]["publicKeyPem"].as_str().unwrap(),
    )
    .unwrap();
    fleuve::federation::ld::verify(activity, &key).unwrap_or_else(|e| panic!("{e}: {activity}"));
    let mut forged = activity.clone();
    forged["id"] = json!(format!("{}/forged", activity["id"].as_str().unwrap()));
    assert!(fleuve::federation::ld::verify(&forged, &key).is_err());
}

#[test]
fn rfc9421_signed_follow_is_taken_and_video_activities_arrive_ld_signed() {
    rt().block_on(async {
        let mut opts = Options::default();
        opts.env.extend([
            (
                "FLEUVE_FEDERATION_ALLOW_PRIVATE_ADDRESSES".into(),
                "true".into(),
            ),
            ("FLEUVE_TRANSCODE_RESOLUTIONS".into(), "240".into()),
        ]);
        let s = Server::start_with(opts);
        let (token, _) = login(&s).await;
        let (actor, key, received) = recording_actor("bob");
        let key_id = format!("{actor}#main-key");
        let follow = serde_json::to_vec(&json!({
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": format!("{actor}/follows/1"), "type": "Follow", "actor": actor,
            "object": s.url("/accounts/peertube"),
        }))
        .unwrap();

        // Tampered after signing (another body, same headers): refused, nothing stored.
        let other = serde_json::to_vec(&json!({
            "id": format!("{actor}/follows/2"), "type": "Follow", "actor": actor,
            "object": s.url("/accounts/peertube"),
        }))
        .unwrap();
        let signed = rfc9421_inbox_post(&s, &follow, &key_id, &key, now_secs())
            .build()
            .unwrap();
        let mut tampered = signed.try_clone().unwrap();
        *tampered.body_mut() = Some(other.clone().into());
        tampered
            .headers_mut()
            .insert("content-length", other.len().into());
        let r = client().execute(tampered).await.unwrap();
        assert_eq!(r.status().as_u16(), 401);
        assert!(r.text().await.unwrap().contains("RFC 9421"));
        // Signed by another key than the actor's.
        let wrong = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
        let r = rfc9421_inbox_post(&s, &follow, &key_id, &wrong, now_secs())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401);
        // Created an hour ago: stale.
        let r = rfc9421_inbox_post(&s, &follow, &key_id, &key, now_secs() - 3600)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401);
        assert_eq!(get_json(&s, "/api/v1/server/followers").await["total"], 0);

        // The real one is taken: the follow is accepted and answered.
        let r = client().execute(signed).await.unwrap();
        assert_eq!(r.status().as_u16(), 204, "{}", r.text().await.unwrap());
        let accept = delivered(&s, &received, "Accept").await;
        assert!(
            accept.to_string().contains(&format!("{actor}/follows/1")),
            "{accept}"
        );
        assert_eq!(get_json(&s, "/api/v1/server/followers").await["total"], 1);

        // Our video's Create, Update and Delete reach the follower LD-signed by its account.
        let video = publish_clip(&s, &token, "320x240", 2).await;
        let uuid = video["uuid"].as_str().unwrap();
        let create = delivered(&s, &received, "Create").await;
        assert_eq!(create["object"]["uuid"], uuid, "{create}");
        assert_ld_signed(&s, &create).await;
        let r = client()
            .put(s.url(&format!("/api/v1/videos/{uuid}")))
            .bearer_auth(&token)
            .json(&json!({"name": "Renamed clip"}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        let update = delivered(&s, &received, "Update").await;
        assert_eq!(update["object"]["name"], "Renamed clip", "{update}");
        assert_ld_signed(&s, &update).await;
        let r = client()
            .delete(s.url(&format!("/api/v1/videos/{uuid}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        let delete = delivered(&s, &received, "Delete").await;
        assert_ld_signed(&s, &delete).await;
    });
}
