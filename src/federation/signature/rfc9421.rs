//! RFC 9421 HTTP message signatures on incoming requests (`Signature-Input` and `Signature`),
//! as Mastodon 4.5 and Fedify send them, beside the draft-cavage signatures of the parent
//! module.
//!
//! A request is accepted when its first signature (by label order in `Signature-Input`)
//! covers `@method`, the target (`@target-uri`, or `@authority` with `@path` or
//! `@request-target`), and `content-digest` when there is a body; has a `created` time within
//! the allowed clock skew and no past `expires`; its `Content-Digest` (RFC 9530, `sha-256` or
//! `sha-512`) matches the body; and the signature verifies over the signature base (§2.5)
//! with the key named by `keyid`: `rsa-v1_5-sha256` with an RSA key, `ed25519` with an Ed25519
//! key (`alg` may be left out; the key then decides). Other algorithms, component parameters
//! (`;sf`, `;key`, `;req`, …) and `@query-param` are refused with the reason.
//!
//! Structured fields are parsed and the `@signature-params` line re-serialized with the `sfv`
//! crate (RFC 8941/9651; the parser Firefox ships). The crates that implement RFC 9421 whole
//! were not taken: `httpsig` 0.0.x pulls in its own ECDSA/HMAC stack and hyper glue, and
//! `actpub-httpsig` needs aws-lc-rs; the signature base is short, and RSA and Ed25519 are
//! already here (`rsa`, `ring`).

use super::{header_str, verify_bytes, RequestHead, SignatureError};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use http::header::HeaderName;
use http::{HeaderMap, Method};
use rsa::RsaPublicKey;
use sfv::{BareItem, Dictionary, FieldType, List, ListEntry, Parser};
use sha2::{Digest as _, Sha256, Sha512};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The `Signature-Input` header name.
pub const SIGNATURE_INPUT: HeaderName = HeaderName::from_static("signature-input");

/// The `Content-Digest` header name (RFC 9530).
pub const CONTENT_DIGEST: HeaderName = HeaderName::from_static("content-digest");

/// Longest `Signature-Input` or `Signature` header parsed.
const MAX_HEADER_LEN: usize = 16 * 1024;

/// Most covered components.
const MAX_COMPONENTS: usize = 32;

/// Whether a request carries an RFC 9421 signature (a `Signature-Input` header).
pub fn is_present(headers: &HeaderMap) -> bool {
    headers.contains_key(SIGNATURE_INPUT)
}

/// A key that can verify an RFC 9421 signature.
#[derive(Debug, Clone)]
pub enum VerifyingKey {
    /// RSA, for `rsa-v1_5-sha256`.
    Rsa(RsaPublicKey),
    /// A raw Ed25519 public key, for `ed25519`: checked against RFC 9421's own test vectors;
    /// no actor key is read as one yet (remote actors publish RSA `publicKeyPem`s).
    #[allow(dead_code)]
    Ed25519([u8; 32]),
}

impl VerifyingKey {
    /// An Ed25519 key from its SPKI PEM (`BEGIN PUBLIC KEY`, as RFC 9421 B.1.4 prints it).
    #[allow(dead_code)]
    pub fn ed25519_from_pem(pem: &str) -> Result<VerifyingKey, SignatureError> {
        // SPKI of an Ed25519 key: this 12-byte header, then the 32-byte key (RFC 8410).
        const SPKI_PREFIX: [u8; 12] = [
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        let body: String = pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .map(str::trim)
            .collect();
        let der = BASE64
            .decode(body)
            .map_err(|e| SignatureError::Malformed(format!("Ed25519 key is not base64: {e}")))?;
        match der.strip_prefix(&SPKI_PREFIX[..]) {
            Some(raw) if raw.len() == 32 => {
                let mut key = [0u8; 32];
                key.copy_from_slice(raw);
                Ok(VerifyingKey::Ed25519(key))
            }
            _ => Err(SignatureError::Malformed(
                "not an Ed25519 SubjectPublicKeyInfo (44 bytes)".into(),
            )),
        }
    }
}

/// A parsed RFC 9421 signature of a request (one label of `Signature-Input`/`Signature`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageSignature {
    /// The label (`sig1`, …).
    pub label: String,
    /// `keyid`: usually `<actor>#main-key`.
    pub key_id: String,
    /// `alg`, when given.
    pub alg: Option<String>,
    /// The covered component names, in order (`@method`, `content-digest`, …).
    pub components: Vec<String>,
    /// `created` (Unix seconds).
    pub created: u64,
    /// `expires` (Unix seconds), when given.
    pub expires: Option<u64>,
    /// The decoded signature bytes.
    pub signature: Vec<u8>,
    /// The serialized signature parameters: the value of the `@signature-params` line.
    params: String,
}

impl MessageSignature {
    /// Parses the first signature of `Signature-Input` and its value in `Signature`.
    pub fn from_headers(headers: &HeaderMap) -> Result<MessageSignature, SignatureError> {
        let inputs = dictionary(headers, SIGNATURE_INPUT.as_str())?;
        let values = dictionary(headers, "signature")?;
        let (label, entry) = inputs.iter().next().ok_or_else(|| {
            SignatureError::Malformed("`Signature-Input` names no signature".into())
        })?;
        let ListEntry::InnerList(list) = entry else {
            return Err(SignatureError::Malformed(format!(
                "`Signature-Input` {label} is not an inner list of components"
            )));
        };
        let signature = match values.get(label) {
            Some(ListEntry::Item(item)) => item
                .bare_item
                .as_byte_sequence()
                .ok_or_else(|| {
                    SignatureError::Malformed(format!(
                        "`Signature` {label} is not a byte sequence (:base64:)"
                    ))
                })?
                .to_vec(),
            _ => {
                return Err(SignatureError::Malformed(format!(
                    "`Signature` has no value for label {label}"
                )))
            }
        };
        if list.items.len() > MAX_COMPONENTS {
            return Err(SignatureError::Malformed(format!(
                "{} covered components, more than {MAX_COMPONENTS}",
                list.items.len()
            )));
        }
        let mut components = Vec::with_capacity(list.items.len());
        for item in &list.items {
            let name = item.bare_item.as_string().ok_or_else(|| {
                SignatureError::Malformed("a covered component is not a quoted string".into())
            })?;
            if let Some((param, _)) = item.params.iter().next() {
                return Err(SignatureError::Malformed(format!(
                    "component \"{}\" has parameter `{}`, which is not supported",
                    name.as_str(),
                    param.as_str()
                )));
            }
            let name = name.as_str();
            if name != name.to_ascii_lowercase() {
                return Err(SignatureError::Malformed(format!(
                    "component \"{name}\" is not lower case"
                )));
            }
            if components.iter().any(|c| c == name) {
                return Err(SignatureError::Malformed(format!(
                    "component \"{name}\" is covered twice"
                )));
            }
            components.push(name.to_string());
        }
        let string_param = |key: &str| -> Result<Option<String>, SignatureError> {
            match list.params.get(key) {
                None => Ok(None),
                Some(BareItem::String(s)) => Ok(Some(s.as_str().to_string())),
                Some(_) => Err(SignatureError::Malformed(format!(
                    "parameter `{key}` is not a string"
                ))),
            }
        };
        let time_param = |key: &'static str| -> Result<Option<u64>, SignatureError> {
            match list.params.get(key) {
                None => Ok(None),
                Some(BareItem::Integer(i)) => u64::try_from(i64::from(*i))
                    .map(Some)
                    .map_err(|_| SignatureError::Malformed(format!("`{key}` is negative"))),
                Some(_) => Err(SignatureError::Malformed(format!(
                    "parameter `{key}` is not an integer"
                ))),
            }
        };
        let key_id = string_param("keyid")?
            .filter(|k| !k.is_empty())
            .ok_or(SignatureError::MissingParameter("keyid"))?;
        let params = List::from([ListEntry::InnerList(list.clone())])
            .serialize()
            .ok_or_else(|| SignatureError::Malformed("empty signature parameters".into()))?;
        Ok(MessageSignature {
            label: label.as_str().to_string(),
            key_id,
            alg: string_param("alg")?,
            components,
            created: time_param("created")?.ok_or(SignatureError::MissingParameter("created"))?,
            expires: time_param("expires")?,
            signature,
            params,
        })
    }

    /// The actor URL the key belongs to: `keyid` without its `#fragment`.
    pub fn actor_id(&self) -> &str {
        self.key_id
            .split_once('#')
            .map_or(self.key_id.as_str(), |(actor, _)| actor)
    }

    fn covers(&self, name: &str) -> bool {
        self.components.iter().any(|c| c == name)
    }

    /// The signature base (§2.5) of this signature over `head`, whose scheme is `scheme`.
    pub fn signature_base(
        &self,
        head: &RequestHead<'_>,
        scheme: &str,
    ) -> Result<String, SignatureError> {
        let mut base = String::new();
        for name in &self.components {
            let value = match name.as_str() {
                "@method" => head.method.as_str().to_string(),
                "@authority" => authority(head)?,
                "@scheme" => scheme.to_ascii_lowercase(),
                "@target-uri" => format!("{}://{}{}", scheme, authority(head)?, head.target),
                "@request-target" => head.target.to_string(),
                "@path" => path_and_query(head.target).0.to_string(),
                "@query" => format!("?{}", path_and_query(head.target).1.unwrap_or("")),
                "@signature-params" => {
                    return Err(SignatureError::Malformed(
                        "\"@signature-params\" cannot be covered".into(),
                    ))
                }
                derived if derived.starts_with('@') => {
                    return Err(SignatureError::Malformed(format!(
                        "derived component \"{derived}\" is not supported on a request"
                    )))
                }
                header => header_str(head.headers, header)?,
            };
            base.push_str(&format!("\"{name}\": {value}\n"));
        }
        base.push_str(&format!("\"@signature-params\": {}", self.params));
        Ok(base)
    }

    /// Verifies the signature over the request with `key`. Checks only the signature:
    /// coverage, times and digest are [`check_request`]'s job.
    pub fn verify(
        &self,
        head: &RequestHead<'_>,
        scheme: &str,
        key: &VerifyingKey,
    ) -> Result<(), SignatureError> {
        let base = self.signature_base(head, scheme)?;
        let ok = match (self.alg.as_deref(), key) {
            (None | Some("rsa-v1_5-sha256"), VerifyingKey::Rsa(rsa)) => {
                verify_bytes(base.as_bytes(), &self.signature, rsa)
            }
            (None | Some("ed25519"), VerifyingKey::Ed25519(raw)) => {
                ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, raw)
                    .verify(base.as_bytes(), &self.signature)
                    .is_ok()
            }
            (Some(alg), key) => {
                let kind = match key {
                    VerifyingKey::Rsa(_) => "an RSA key",
                    VerifyingKey::Ed25519(_) => "an Ed25519 key",
                };
                return Err(SignatureError::UnsupportedRfc9421Algorithm(format!(
                    "{alg} with {kind}"
                )));
            }
        };
        if ok {
            Ok(())
        } else {
            Err(SignatureError::BadSignature {
                key_id: self.key_id.clone(),
            })
        }
    }
}

/// Everything about an incoming RFC 9421 signed request that needs no key: the signature
/// parses, names a supported algorithm, covers the method, the target and (with a body) the
/// content digest; `created` is within `max_skew` of `now` and `expires` has not passed;
/// `Content-Digest` matches `body`.
pub fn check_request(
    head: &RequestHead<'_>,
    body: &[u8],
    now: SystemTime,
    max_skew: Duration,
) -> Result<MessageSignature, SignatureError> {
    let sig = MessageSignature::from_headers(head.headers)?;
    if let Some(alg) = sig.alg.as_deref() {
        if !matches!(alg, "rsa-v1_5-sha256" | "ed25519") {
            return Err(SignatureError::UnsupportedRfc9421Algorithm(alg.to_string()));
        }
    }
    if !sig.covers("@method") {
        return Err(SignatureError::NotCovered("@method"));
    }
    let target = sig.covers("@target-uri")
        || (sig.covers("@authority") && (sig.covers("@path") || sig.covers("@request-target")));
    if !target {
        return Err(SignatureError::NotCovered(
            "@target-uri (or @authority and @path)",
        ));
    }
    let has_body = !body.is_empty() || head.method == Method::POST;
    if has_body && !sig.covers("content-digest") {
        return Err(SignatureError::NotCovered("content-digest"));
    }
    let now_secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let skew = sig.created.abs_diff(now_secs);
    if skew > max_skew.as_secs() {
        return Err(SignatureError::StaleDate {
            date: format!("created={}", sig.created),
            skew_secs: skew,
            max_secs: max_skew.as_secs(),
        });
    }
    if let Some(expires) = sig.expires {
        if expires < now_secs {
            return Err(SignatureError::Expired {
                expires,
                now: now_secs,
            });
        }
    }
    if head.headers.contains_key(CONTENT_DIGEST) {
        check_content_digest(head.headers, body)?;
    } else if has_body {
        return Err(SignatureError::MissingHeader("content-digest".into()));
    }
    Ok(sig)
}

/// Checks `Content-Digest` (RFC 9530): at least one of `sha-256`/`sha-512`, each one given
/// matching `body`; other algorithms are ignored.
pub fn check_content_digest(headers: &HeaderMap, body: &[u8]) -> Result<(), SignatureError> {
    let raw = header_str(headers, CONTENT_DIGEST.as_str())?;
    let digests = dictionary(headers, CONTENT_DIGEST.as_str())?;
    let mut checked = 0;
    for (alg, entry) in &digests {
        let computed: Vec<u8> = match alg.as_str() {
            "sha-256" => Sha256::digest(body).to_vec(),
            "sha-512" => Sha512::digest(body).to_vec(),
            _ => continue,
        };
        let sent = match entry {
            ListEntry::Item(item) => item.bare_item.as_byte_sequence(),
            ListEntry::InnerList(_) => None,
        };
        if sent != Some(computed.as_slice()) {
            return Err(SignatureError::DigestMismatch {
                header: raw,
                computed: format!("{}=:{}:", alg.as_str(), BASE64.encode(&computed)),
            });
        }
        checked += 1;
    }
    if checked == 0 {
        return Err(SignatureError::UnsupportedDigest(raw));
    }
    Ok(())
}

/// A dictionary header (all its lines), bounded in size.
fn dictionary(headers: &HeaderMap, name: &str) -> Result<Dictionary, SignatureError> {
    let text = header_str(headers, name)?;
    if text.len() > MAX_HEADER_LEN {
        return Err(SignatureError::Malformed(format!(
            "`{name}` is {} bytes long, more than {MAX_HEADER_LEN}",
            text.len()
        )));
    }
    Parser::new(&text).parse::<Dictionary>().map_err(|e| {
        SignatureError::Malformed(format!("`{name}` is not a structured dictionary: {e}"))
    })
}

/// `@authority`: the `Host` header, lower-cased.
fn authority(head: &RequestHead<'_>) -> Result<String, SignatureError> {
    Ok(header_str(head.headers, "host")?.to_ascii_lowercase())
}

fn path_and_query(target: &str) -> (&str, Option<&str>) {
    match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    }
}

#[cfg(test)]
mod tests;
