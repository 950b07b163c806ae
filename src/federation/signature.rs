//! draft-cavage HTTP signatures as PeerTube and Mastodon use them: `rsa-sha256` (and `hs2019`
//! with RSA keys) over `(request-target) host date digest`, with `Digest: SHA-256=<base64>`.
//!
//! Outgoing: [`sign_request`] returns the `Date`, `Digest` and `Signature` headers to add.
//! Incoming, in two steps so that the key is fetched only for plausible requests:
//! [`check_request`] parses the signature and checks coverage, date skew and digest (no key
//! needed), then [`SignatureHeader::verify`] checks the RSA signature with the signer's key;
//! [`verify_request`] does both. The returned [`SignatureHeader::key_id`] names the key to fetch,
//! and [`SignatureHeader::actor_id`] the actor that must also be the activity's `actor`.
//!
//! RFC 9421 message signatures (`Signature-Input`), which Mastodon 4.5 and Fedify send, are
//! read by [`rfc9421`].

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, DATE, HOST};
use http::{HeaderMap, Method};
use rsa::{Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha2::{Digest as _, Sha256};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The algorithm Fleuve signs with (`HTTP_SIGNATURE.ALGORITHM` in PeerTube).
pub const ALGORITHM: &str = "rsa-sha256";

/// Largest accepted distance between a request's `Date` and our clock (PeerTube's
/// `CLOCK_SKEW_SECONDS`).
pub const DEFAULT_MAX_SKEW: Duration = Duration::from_secs(1800);

/// The `Signature` header name.
pub const SIGNATURE: HeaderName = HeaderName::from_static("signature");

/// The `Digest` header name.
pub const DIGEST: HeaderName = HeaderName::from_static("digest");

/// Longest `Signature` header parsed; real ones are under 1 KiB.
const MAX_HEADER_LEN: usize = 16 * 1024;

/// Most entries in a `headers="…"` list.
const MAX_SIGNED_HEADERS: usize = 32;

/// Why a request could not be signed, or why an incoming signature is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The request has neither a `Signature` header nor `Authorization: Signature …`.
    #[error("no `Signature` header (nor `Authorization: Signature …`)")]
    NoSignature,
    /// The `Signature` header cannot be parsed.
    #[error("malformed Signature header: {0}")]
    Malformed(String),
    /// A required parameter (`keyId`, `signature`) is absent.
    #[error("Signature header lacks the `{0}` parameter")]
    MissingParameter(&'static str),
    /// The `algorithm` parameter names something other than `rsa-sha256` or `hs2019`.
    #[error("unsupported signature algorithm `{0}` (expected `rsa-sha256` or `hs2019`)")]
    UnsupportedAlgorithm(String),
    /// An RFC 9421 `alg` other than `rsa-v1_5-sha256` or `ed25519`, or one the key cannot do.
    #[error("unsupported RFC 9421 signature algorithm `{0}` (expected `rsa-v1_5-sha256` with an RSA key or `ed25519` with an Ed25519 key)")]
    UnsupportedRfc9421Algorithm(String),
    /// The `headers` parameter does not list a component the request must sign.
    #[error("the signature does not cover `{0}`, which is required")]
    NotCovered(&'static str),
    /// A header that must be signed is absent from the request.
    #[error("header `{0}` is missing from the request")]
    MissingHeader(String),
    /// A signed header's value is not visible ASCII, so it cannot be part of a signing string.
    #[error("header `{0}` has a value that is not visible ASCII")]
    InvalidHeader(String),
    /// The `Date` header is not an HTTP date.
    #[error("unparseable Date `{0}` (expected an HTTP date like `Tue, 07 Jan 2025 10:00:00 GMT`)")]
    BadDate(String),
    /// `Date` (or `(created)`) is too far from our clock.
    #[error(
        "stale or future date `{date}`: {skew_secs} s from now, more than the {max_secs} s allowed"
    )]
    StaleDate {
        /// The date as sent.
        date: String,
        /// Its distance from our clock.
        skew_secs: u64,
        /// The allowed distance.
        max_secs: u64,
    },
    /// The `(expires)` time of the signature has passed.
    #[error("the signature expired at {expires} (Unix time), it is now {now}")]
    Expired {
        /// The `expires` parameter.
        expires: u64,
        /// Our clock.
        now: u64,
    },
    /// `Digest` does not match the body.
    #[error("Digest `{header}` does not match the body, whose digest is `{computed}`")]
    DigestMismatch {
        /// The `Digest` header as sent.
        header: String,
        /// `SHA-256=…` of the body received.
        computed: String,
    },
    /// `Digest` carries no `SHA-256=` value.
    #[error("Digest `{0}` has no SHA-256 value")]
    UnsupportedDigest(String),
    /// The RSA signature does not verify with the given key.
    #[error("the signature does not verify with the key of `{key_id}`")]
    BadSignature {
        /// The `keyId` the request claimed.
        key_id: String,
    },
    /// The private key failed to sign (malformed key).
    #[error("cannot sign: {0}")]
    Sign(String),
}

/// The parts of an HTTP request that a signature covers (the body is passed separately).
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    /// Request method.
    pub method: &'a Method,
    /// Path and query as sent on the request line, e.g. `/inbox` or `/videos?page=2`.
    pub target: &'a str,
    /// Request headers; `Host` must be among them.
    pub headers: &'a HeaderMap,
}

/// A parsed `Signature` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    /// `keyId` as sent: usually `<actor>#main-key`, sometimes the bare actor URL or `acct:…`.
    pub key_id: String,
    /// `algorithm`, lower-cased; `None` when absent (treated like `hs2019`).
    pub algorithm: Option<String>,
    /// The covered components in order, lower-cased (`(request-target)`, `host`, …).
    pub headers: Vec<String>,
    /// The decoded signature bytes.
    pub signature: Vec<u8>,
    /// `created` parameter (Unix seconds), when present.
    pub created: Option<u64>,
    /// `expires` parameter (Unix seconds), when present.
    pub expires: Option<u64>,
}

/// `SHA-256=<base64>` of a body, the value of the `Digest` header.
pub fn digest_header(body: &[u8]) -> String {
    format!("SHA-256={}", BASE64.encode(Sha256::digest(body)))
}

/// Signs an outgoing request. Covers `(request-target) host date`, plus `digest` (and
/// `content-type` when set) when there is a body, and returns the headers to set on the request
/// (`HeaderMap::extend` replaces same-named ones): `Date` (from `now`), `Digest` (with a body)
/// and `Signature`. `head.headers` must hold `Host`.
pub fn sign_request(
    head: &RequestHead<'_>,
    body: Option<&[u8]>,
    key_id: &str,
    key: &RsaPrivateKey,
    now: SystemTime,
) -> Result<HeaderMap, SignatureError> {
    sign_request_with(head, body, key_id, now, |data| sign_bytes(data, key))
}

/// [`sign_request`] with a [`SigningKey`] (what deliveries use: ring's RSA; moving signing and
/// verification from the `rsa` crate to ring took a 2,000-inbox delivery from 4.71 s to 2.57 s,
/// `cargo bench --bench federation_load -- 1000 2000`, docs/benchmarks.md).
pub fn sign_request_fast(
    head: &RequestHead<'_>,
    body: Option<&[u8]>,
    key_id: &str,
    key: &SigningKey,
    now: SystemTime,
) -> Result<HeaderMap, SignatureError> {
    sign_request_with(head, body, key_id, now, |data| key.sign(data))
}

fn sign_request_with(
    head: &RequestHead<'_>,
    body: Option<&[u8]>,
    key_id: &str,
    now: SystemTime,
    sign: impl Fn(&[u8]) -> Result<Vec<u8>, SignatureError>,
) -> Result<HeaderMap, SignatureError> {
    if !head.headers.contains_key(HOST) {
        return Err(SignatureError::MissingHeader("host".into()));
    }
    let mut added = HeaderMap::new();
    added.insert(DATE, header_value(&httpdate::fmt_http_date(now))?);
    let mut names = vec!["(request-target)", "host", "date"];
    if let Some(body) = body {
        added.insert(DIGEST, header_value(&digest_header(body))?);
        names.push("digest");
        if head.headers.contains_key(CONTENT_TYPE) {
            names.push("content-type");
        }
    }
    let mut all = head.headers.clone();
    for (name, value) in &added {
        all.insert(name, value.clone());
    }
    let sig = SignatureHeader {
        key_id: key_id.to_string(),
        algorithm: Some(ALGORITHM.to_string()),
        headers: names.iter().map(|s| s.to_string()).collect(),
        signature: Vec::new(),
        created: None,
        expires: None,
    };
    let text = signing_string(
        &RequestHead {
            headers: &all,
            ..*head
        },
        &sig,
    )?;
    let signed = SignatureHeader {
        signature: sign(text.as_bytes())?,
        ..sig
    };
    added.insert(SIGNATURE, header_value(&signed.to_header_value())?);
    Ok(added)
}

/// RSASSA-PKCS1-v1_5 with SHA-256 over `data` (blinded, so its timing does not leak the key;
/// the signature is the same as unblinded).
pub fn sign_bytes(data: &[u8], key: &RsaPrivateKey) -> Result<Vec<u8>, SignatureError> {
    key.sign_with_rng(
        &mut rand::thread_rng(),
        Pkcs1v15Sign::new::<Sha256>(),
        &Sha256::digest(data),
    )
    .map_err(|e| SignatureError::Sign(e.to_string()))
}

/// A private key ready to sign many requests: ring's RSA (constant-time assembly) when the key
/// is one ring takes (2048 to 4096 bits), the `rsa` crate otherwise.
pub struct SigningKey {
    rsa: RsaPrivateKey,
    ring: Option<ring::rsa::KeyPair>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("ring", &self.ring.is_some())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Prepares `key`.
    pub fn new(key: RsaPrivateKey) -> SigningKey {
        use rsa::pkcs8::EncodePrivateKey;
        let ring = key
            .to_pkcs8_der()
            .ok()
            .and_then(|der| ring::rsa::KeyPair::from_pkcs8(der.as_bytes()).ok());
        SigningKey { rsa: key, ring }
    }

    /// The `rsa` crate's key.
    pub fn rsa(&self) -> &RsaPrivateKey {
        &self.rsa
    }

    /// RSASSA-PKCS1-v1_5 SHA-256 signature of `data`.
    pub fn sign(&self, data: &[u8]) -> Result<Vec<u8>, SignatureError> {
        match &self.ring {
            Some(kp) => {
                let mut sig = vec![0u8; kp.public().modulus_len()];
                kp.sign(
                    &ring::signature::RSA_PKCS1_SHA256,
                    &ring::rand::SystemRandom::new(),
                    data,
                    &mut sig,
                )
                .map_err(|_| SignatureError::Sign("ring refused to sign".into()))?;
                Ok(sig)
            }
            None => sign_bytes(data, &self.rsa),
        }
    }
}

/// Whether `signature` is a valid RSASSA-PKCS1-v1_5 SHA-256 signature of `data` by `key`
/// (ring for 2048-bit and larger keys, the `rsa` crate for the small keys of test instances).
pub fn verify_bytes(data: &[u8], signature: &[u8], key: &RsaPublicKey) -> bool {
    use rsa::traits::PublicKeyParts;
    if key.size() >= 256 {
        let components = ring::rsa::PublicKeyComponents {
            n: key.n().to_bytes_be(),
            e: key.e().to_bytes_be(),
        };
        return components
            .verify(
                &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                data,
                signature,
            )
            .is_ok();
    }
    key.verify(
        Pkcs1v15Sign::new::<Sha256>(),
        &Sha256::digest(data),
        signature,
    )
    .is_ok()
}

/// Checks an incoming request fully: [`check_request`], then the signature with `key`.
/// Returns the parsed signature (its `key_id` names the signer).
pub fn verify_request(
    head: &RequestHead<'_>,
    body: &[u8],
    key: &RsaPublicKey,
    now: SystemTime,
    max_skew: Duration,
) -> Result<SignatureHeader, SignatureError> {
    let sig = check_request(head, body, now, max_skew)?;
    sig.verify(head, key)?;
    Ok(sig)
}

/// Everything about an incoming signed request that needs no key: the signature parses, uses a
/// supported algorithm, covers `(request-target)`, `host`, `date` or `(created)`, and `digest`
/// for a POST or a body; the date is within `max_skew` of `now`; `Digest` matches `body`.
pub fn check_request(
    head: &RequestHead<'_>,
    body: &[u8],
    now: SystemTime,
    max_skew: Duration,
) -> Result<SignatureHeader, SignatureError> {
    let sig = SignatureHeader::from_headers(head.headers)?;
    sig.check_algorithm()?;
    let covers = |name: &str| sig.headers.iter().any(|h| h == name);
    for required in ["(request-target)", "host"] {
        if !covers(required) {
            return Err(SignatureError::NotCovered(required));
        }
    }
    if !covers("date") && !covers("(created)") {
        return Err(SignatureError::NotCovered("date"));
    }
    if (head.method == Method::POST || !body.is_empty()) && !covers("digest") {
        return Err(SignatureError::NotCovered("digest"));
    }
    let now_secs = unix_secs(now);
    if covers("date") {
        let raw = header_str(head.headers, "date")?;
        let date =
            httpdate::parse_http_date(&raw).map_err(|_| SignatureError::BadDate(raw.clone()))?;
        check_skew(&raw, unix_secs(date), now_secs, max_skew)?;
    }
    if covers("(created)") {
        let created = sig
            .created
            .ok_or(SignatureError::MissingParameter("created"))?;
        check_skew(&created.to_string(), created, now_secs, max_skew)?;
    }
    if covers("(expires)") {
        let expires = sig
            .expires
            .ok_or(SignatureError::MissingParameter("expires"))?;
        if expires < now_secs {
            return Err(SignatureError::Expired {
                expires,
                now: now_secs,
            });
        }
    }
    if head.headers.contains_key(DIGEST) {
        check_digest(&header_str(head.headers, "digest")?, body)?;
    } else if !body.is_empty() {
        return Err(SignatureError::MissingHeader("digest".into()));
    }
    Ok(sig)
}

/// Checks a `Digest` header (`SHA-256=<base64>`, possibly among other algorithms) against a body.
pub fn check_digest(header: &str, body: &[u8]) -> Result<(), SignatureError> {
    let sent = header
        .split(',')
        .filter_map(|part| part.trim().split_once('='))
        .find(|(alg, _)| alg.trim().eq_ignore_ascii_case("sha-256"))
        .map(|(_, value)| value.trim())
        .ok_or_else(|| SignatureError::UnsupportedDigest(header.to_string()))?;
    let computed = Sha256::digest(body);
    match BASE64.decode(sent) {
        Ok(bytes) if bytes.as_slice() == computed.as_slice() => Ok(()),
        _ => Err(SignatureError::DigestMismatch {
            header: header.to_string(),
            computed: digest_header(body),
        }),
    }
}

fn check_skew(shown: &str, at: u64, now: u64, max_skew: Duration) -> Result<(), SignatureError> {
    let skew = at.abs_diff(now);
    if skew > max_skew.as_secs() {
        return Err(SignatureError::StaleDate {
            date: shown.to_string(),
            skew_secs: skew,
            max_secs: max_skew.as_secs(),
        });
    }
    Ok(())
}

impl SignatureHeader {
    /// Finds and parses the signature of a request: the `Signature` header (with or without a
    /// leading `Signature ` as some senders add), else `Authorization: Signature …`.
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, SignatureError> {
        if let Some(value) = headers.get(SIGNATURE) {
            let text = value
                .to_str()
                .map_err(|_| SignatureError::InvalidHeader("signature".into()))?;
            return Self::parse(strip_scheme(text).unwrap_or(text));
        }
        if let Some(value) = headers.get(AUTHORIZATION) {
            let text = value
                .to_str()
                .map_err(|_| SignatureError::InvalidHeader("authorization".into()))?;
            if let Some(params) = strip_scheme(text) {
                return Self::parse(params);
            }
        }
        Err(SignatureError::NoSignature)
    }

    /// Parses the parameters of a signature: `keyId="…",algorithm="…",headers="…",signature="…"`.
    pub fn parse(value: &str) -> Result<Self, SignatureError> {
        if value.len() > MAX_HEADER_LEN {
            return Err(SignatureError::Malformed(format!(
                "{} bytes long, more than {MAX_HEADER_LEN}",
                value.len()
            )));
        }
        let mut key_id = None;
        let mut algorithm = None;
        let mut headers = None;
        let mut signature = None;
        let mut created = None;
        let mut expires = None;
        for (name, val) in parse_params(value)? {
            let slot = match name.to_ascii_lowercase().as_str() {
                "keyid" => &mut key_id,
                "algorithm" => &mut algorithm,
                "headers" => &mut headers,
                "signature" => &mut signature,
                "created" => &mut created,
                "expires" => &mut expires,
                _ => continue,
            };
            if slot.replace(val).is_some() {
                return Err(SignatureError::Malformed(format!(
                    "parameter `{name}` appears twice"
                )));
            }
        }
        let key_id = key_id
            .filter(|k| !k.is_empty())
            .ok_or(SignatureError::MissingParameter("keyId"))?;
        let signature = signature
            .filter(|s| !s.is_empty())
            .ok_or(SignatureError::MissingParameter("signature"))?;
        let signature = BASE64
            .decode(signature.as_bytes())
            .map_err(|e| SignatureError::Malformed(format!("`signature` is not base64: {e}")))?;
        // draft-cavage: without `headers`, only `date` is signed.
        let headers: Vec<String> = headers
            .as_deref()
            .unwrap_or("date")
            .split_ascii_whitespace()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        if headers.is_empty() || headers.len() > MAX_SIGNED_HEADERS {
            return Err(SignatureError::Malformed(format!(
                "`headers` lists {} entries (expected 1 to {MAX_SIGNED_HEADERS})",
                headers.len()
            )));
        }
        Ok(Self {
            key_id,
            algorithm: algorithm.map(|a| a.to_ascii_lowercase()),
            headers,
            signature,
            created: created.map(|c| parse_time("created", &c)).transpose()?,
            expires: expires.map(|e| parse_time("expires", &e)).transpose()?,
        })
    }

    /// The actor URL the key belongs to: `keyId` without its `#fragment`.
    pub fn actor_id(&self) -> &str {
        self.key_id
            .split_once('#')
            .map_or(self.key_id.as_str(), |(actor, _)| actor)
    }

    /// Checks the algorithm: `rsa-sha256`, `hs2019` or none (the key decides: RSA here).
    pub fn check_algorithm(&self) -> Result<(), SignatureError> {
        match self.algorithm.as_deref() {
            None | Some("rsa-sha256") | Some("hs2019") => Ok(()),
            Some(other) => Err(SignatureError::UnsupportedAlgorithm(other.to_string())),
        }
    }

    /// Verifies the RSA signature over the request's signing string with the signer's key.
    /// Checks only the signature: date, coverage and digest are [`check_request`]'s job.
    pub fn verify(&self, head: &RequestHead<'_>, key: &RsaPublicKey) -> Result<(), SignatureError> {
        self.check_algorithm()?;
        let text = signing_string(head, self)?;
        if verify_bytes(text.as_bytes(), &self.signature, key) {
            Ok(())
        } else {
            Err(SignatureError::BadSignature {
                key_id: self.key_id.clone(),
            })
        }
    }

    /// The header value: `keyId="…",algorithm="…",headers="…",signature="…"`.
    pub fn to_header_value(&self) -> String {
        // Every quoted value escaped, so that whatever [`Self::parse`] accepted reads back.
        let quoted = |v: &str| v.replace('\\', "\\\\").replace('"', "\\\"");
        let mut out = format!("keyId=\"{}\"", quoted(&self.key_id));
        if let Some(alg) = &self.algorithm {
            out.push_str(&format!(",algorithm=\"{}\"", quoted(alg)));
        }
        if let Some(created) = self.created {
            out.push_str(&format!(",created={created}"));
        }
        if let Some(expires) = self.expires {
            out.push_str(&format!(",expires={expires}"));
        }
        out.push_str(&format!(
            ",headers=\"{}\",signature=\"{}\"",
            quoted(&self.headers.join(" ")),
            BASE64.encode(&self.signature)
        ));
        out
    }
}

/// The string a signature is computed over: one `name: value` line per covered component.
pub fn signing_string(
    head: &RequestHead<'_>,
    sig: &SignatureHeader,
) -> Result<String, SignatureError> {
    let mut lines = Vec::with_capacity(sig.headers.len());
    for name in &sig.headers {
        let value = match name.as_str() {
            "(request-target)" => format!(
                "{} {}",
                head.method.as_str().to_ascii_lowercase(),
                head.target
            ),
            "(created)" => sig
                .created
                .ok_or(SignatureError::MissingParameter("created"))?
                .to_string(),
            "(expires)" => sig
                .expires
                .ok_or(SignatureError::MissingParameter("expires"))?
                .to_string(),
            header => header_str(head.headers, header)?,
        };
        lines.push(format!("{name}: {value}"));
    }
    Ok(lines.join("\n"))
}

/// All values of a header, trimmed and joined with `, ` as draft-cavage says.
fn header_str(headers: &HeaderMap, name: &str) -> Result<String, SignatureError> {
    let mut values = Vec::new();
    for value in headers.get_all(name) {
        let text = value
            .to_str()
            .map_err(|_| SignatureError::InvalidHeader(name.to_string()))?;
        values.push(text.trim());
    }
    if values.is_empty() {
        return Err(SignatureError::MissingHeader(name.to_string()));
    }
    Ok(values.join(", "))
}

fn header_value(text: &str) -> Result<HeaderValue, SignatureError> {
    HeaderValue::from_str(text)
        .map_err(|_| SignatureError::Sign(format!("`{text}` is not a valid header value")))
}

/// `params` after a leading `Signature ` (any case), if there is one.
fn strip_scheme(value: &str) -> Option<&str> {
    let value = value.trim_start();
    let (scheme, rest) = value.split_at_checked(10)?;
    (scheme.eq_ignore_ascii_case("signature ")).then_some(rest)
}

fn parse_time(name: &str, value: &str) -> Result<u64, SignatureError> {
    // Some senders put sub-second precision on `created`/`expires`.
    let whole = value.split_once('.').map_or(value, |(int, _)| int);
    whole
        .parse()
        .map_err(|_| SignatureError::Malformed(format!("`{name}` is not a Unix time: `{value}`")))
}

/// Splits `name="value", name=value, …` into pairs; quoted values may hold `\"` escapes.
fn parse_params(text: &str) -> Result<Vec<(String, String)>, SignatureError> {
    let malformed = |what: String| SignatureError::Malformed(what);
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    loop {
        while chars
            .next_if(|&(_, c)| c == ',' || c.is_whitespace())
            .is_some()
        {}
        let Some(&(start, _)) = chars.peek() else {
            break;
        };
        let mut name_end = text.len();
        let mut found_eq = false;
        for (i, c) in chars.by_ref() {
            if c == '=' {
                name_end = i;
                found_eq = true;
                break;
            }
            if !(c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return Err(malformed(format!(
                    "unexpected `{c}` in parameter name at byte {i}"
                )));
            }
        }
        let name = &text[start..name_end];
        if !found_eq || name.is_empty() {
            return Err(malformed(format!("parameter `{name}` has no `=value`")));
        }
        let mut value = String::new();
        if chars.next_if(|&(_, c)| c == '"').is_some() {
            let mut closed = false;
            while let Some((_, c)) = chars.next() {
                match c {
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\\' => match chars.next() {
                        Some((_, escaped)) => value.push(escaped),
                        None => break,
                    },
                    c => value.push(c),
                }
            }
            if !closed {
                return Err(malformed(format!("unterminated quoted value of `{name}`")));
            }
            if let Some(&(i, c)) = chars.peek() {
                if c != ',' && !c.is_whitespace() {
                    return Err(malformed(format!(
                        "expected `,` after the value of `{name}`, found `{c}` at byte {i}"
                    )));
                }
            }
        } else {
            while let Some((_, c)) = chars.next_if(|&(_, c)| c != ',') {
                value.push(c);
            }
            value = value.trim().to_string();
        }
        out.push((name.to_string(), value));
    }
    if out.is_empty() {
        return Err(malformed("no parameters".into()));
    }
    Ok(out)
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

pub(crate) mod rfc9421;

#[cfg(test)]
mod tests;
