//! Linked-Data signatures (`RsaSignature2017`) as PeerTube and Mastodon make and check them.
//!
//! A relayed activity (the HTTP request signed by someone other than its `actor`) is trusted
//! only if its embedded `signature` verifies with the key of `signature.creator`. The signed
//! data is `sha256hex(options) + sha256hex(document)`, each the URDNA2015 canonical N-Quads of
//! a JSON-LD document: the signature options (`creator`, `created`, … under the security/v1
//! context) and the activity without its `signature` (PeerTube's `peertube-jsonld.ts`).
//!
//! That needs JSON-LD expansion and RDF canonicalization, implemented here for the JSON-LD
//! that ActivityPub software emits ([`context`], [`expand`], [`rdf`], [`urdna2015`]) and checked
//! against jsonld.js's output. Remote contexts other than ActivityStreams and security/v1 (both
//! built in) and JSON-LD features outside that subset give an error, never a pass.
//!
//! # Why not the `json-ld` and `ssi-rdf` crates
//!
//! Measured with `docs/ld-library-eval/` (`cargo run --release -- 8` there: the
//! same fixtures through `json-ld` 0.21.4, a local `HashMap` loader with the two built-in
//! contexts, `futures::executor::block_on`, and `ssi-rdf` 0.1.1's URDNA2015):
//! - **Output differs from jsonld.js**, so valid signatures would fail: the PeerTube `Create`
//!   fixture gives `"Description"@EN` where jsonld.js (and this module) give `@en`, so its
//!   PeerTube signature does not verify; `jsonld-features` differs in 24 lines (language-tag
//!   case, `12345678901234567890` as `xsd:double` instead of jsonld.js' `xsd:integer`,
//!   coerced numbers). Mastodon's `Create`, the collection page, the blank-node cycles and the
//!   signature options come out identical.
//! - **No work limit in canonicalization**: a clique of blank nodes takes 0.06–0.16 s (6
//!   nodes), 0.66 s (7) and 6.7 s (8) in `ssi-rdf`, growing factorially, so one small crafted
//!   activity could hold the inbox thread for minutes; [`urdna2015`] refuses it after 20,000
//!   N-degree steps ([`LdError::TooComplex`]).
//! - **Slower and heavier**: 0.7–1.4 ms per canonicalization of Mastodon's `Create` and
//!   1.0–2.2 ms for PeerTube's, against 0.41 ms and 0.82 ms here (`cargo bench --bench
//!   ld_signature`, same loaded 2-core machine); 95 crates that Fleuve does not already build,
//!   2 min 10 s of release build here, about 1.8 MB of binary.
//!
//! `sophia_c14n` (RDFC-1.0 with depth and permutation limits) could replace [`urdna2015`]
//! alone; it was not measured yet.

mod context;
mod expand;
mod rdf;
mod urdna2015;

use crate::federation::signature::{sign_bytes, verify_bytes};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::time::{SystemTime, UNIX_EPOCH};

/// The only LD signature type in use on the fediverse.
pub const SIGNATURE_TYPE: &str = "RsaSignature2017";

/// Why a document could not be canonicalized, signed or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LdError {
    /// The document has no `signature` object.
    #[error("the document has no `signature` object")]
    NoSignature,
    /// `signature.type` is not `RsaSignature2017`.
    #[error("unsupported LD signature type `{0}` (expected RsaSignature2017)")]
    UnsupportedType(String),
    /// A field of `signature` is missing or malformed.
    #[error("`signature.{field}` is {problem}")]
    BadField {
        /// The field: `creator`, `created` or `signatureValue`.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// The signature does not verify with the given key.
    #[error("the RsaSignature2017 signature by `{creator}` does not verify")]
    BadSignature {
        /// `signature.creator`.
        creator: String,
    },
    /// The document uses a remote context that is not built in (no fetching here).
    #[error(
        "remote JSON-LD context {0} is not built in (only ActivityStreams and security/v1 are)"
    )]
    UnknownContext(String),
    /// A `@context` is malformed.
    #[error("invalid JSON-LD context: {0}")]
    InvalidContext(String),
    /// The document is not valid JSON-LD.
    #[error("invalid JSON-LD document: {0}")]
    InvalidDocument(String),
    /// A JSON-LD feature this implementation does not handle.
    #[error("JSON-LD feature not supported: {0}")]
    Unsupported(String),
    /// Canonicalization needs more work than allowed (a crafted blank-node graph).
    #[error("blank node graph too symmetric to canonicalize: {0}")]
    TooComplex(String),
    /// The private key failed to sign.
    #[error("cannot sign: {0}")]
    Sign(String),
}

/// URDNA2015 canonical N-Quads of a JSON-LD document (what gets hashed).
pub fn canonical_nquads(doc: &Value) -> Result<String, LdError> {
    let expanded = expand::expand_document(doc)?;
    let quads = rdf::to_rdf(&expanded);
    urdna2015::canonicalize(&quads)
}

/// `signature.creator` of a signed document: the key (or actor) whose public key verifies it.
/// [`actor_of_creator`] gives the actor URL to look the key up by.
pub fn signature_creator(doc: &Value) -> Result<&str, LdError> {
    let sig = signature_object(doc)?;
    string_field(sig, "creator")
}

/// The actor URL of a `creator` (or HTTP `keyId`): everything before `#`.
pub fn actor_of_creator(creator: &str) -> &str {
    creator.split_once('#').map_or(creator, |(actor, _)| actor)
}

/// Verifies the `RsaSignature2017` of `doc` with the public key of its creator.
pub fn verify(doc: &Value, key: &RsaPublicKey) -> Result<(), LdError> {
    let sig = signature_object(doc)?;
    match sig.get("type") {
        Some(Value::String(t)) if t == SIGNATURE_TYPE => {}
        Some(Value::String(t)) => return Err(LdError::UnsupportedType(t.clone())),
        other => {
            return Err(LdError::BadField {
                field: "type",
                problem: format!("{other:?}, not a string"),
            })
        }
    }
    let creator = string_field(sig, "creator")?;
    string_field(sig, "created")?;
    let value = string_field(sig, "signatureValue")?;
    let signature = BASE64.decode(value).map_err(|e| LdError::BadField {
        field: "signatureValue",
        problem: format!("not base64 ({e})"),
    })?;
    let data = signed_data(doc, sig)?;
    if verify_bytes(data.as_bytes(), &signature, key) {
        Ok(())
    } else {
        Err(LdError::BadSignature {
            creator: creator.to_string(),
        })
    }
}

/// Adds an `RsaSignature2017` signature by `creator` (the actor URL, as PeerTube writes it)
/// to `doc`, dated `created`. Any existing `signature` is replaced.
pub fn sign(
    mut doc: Value,
    creator: &str,
    created: SystemTime,
    key: &RsaPrivateKey,
) -> Result<Value, LdError> {
    let Value::Object(map) = &mut doc else {
        return Err(LdError::InvalidDocument(
            "only a JSON object can be signed".into(),
        ));
    };
    map.remove("signature");
    let secs = created
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut sig = Map::new();
    sig.insert("type".into(), SIGNATURE_TYPE.into());
    sig.insert("creator".into(), creator.into());
    sig.insert("created".into(), crate::time::iso8601(secs).into());
    let data = signed_data(&doc, &sig)?;
    let value = sign_bytes(data.as_bytes(), key).map_err(|e| LdError::Sign(e.to_string()))?;
    sig.insert("signatureValue".into(), BASE64.encode(value).into());
    if let Value::Object(map) = &mut doc {
        map.insert("signature".into(), Value::Object(sig));
    }
    Ok(doc)
}

/// `sha256hex(canonical(options)) + sha256hex(canonical(document without signature))`.
fn signed_data(doc: &Value, sig: &Map<String, Value>) -> Result<String, LdError> {
    let mut options = Map::new();
    options.insert(
        "@context".into(),
        json!([
            "https://w3id.org/security/v1",
            { "RsaSignature2017": "https://w3id.org/security#RsaSignature2017" }
        ]),
    );
    for (k, v) in sig {
        if !matches!(k.as_str(), "type" | "id" | "signatureValue" | "@context") {
            options.insert(k.clone(), v.clone());
        }
    }
    let mut unsigned = doc.clone();
    if let Value::Object(map) = &mut unsigned {
        map.remove("signature");
    }
    let options_hash = Sha256::digest(canonical_nquads(&Value::Object(options))?.as_bytes());
    let doc_hash = Sha256::digest(canonical_nquads(&unsigned)?.as_bytes());
    Ok(format!(
        "{}{}",
        hex::encode(options_hash),
        hex::encode(doc_hash)
    ))
}

fn signature_object(doc: &Value) -> Result<&Map<String, Value>, LdError> {
    doc.get("signature")
        .and_then(Value::as_object)
        .ok_or(LdError::NoSignature)
}

fn string_field<'a>(sig: &'a Map<String, Value>, field: &'static str) -> Result<&'a str, LdError> {
    match sig.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::String(_)) => Err(LdError::BadField {
            field,
            problem: "empty".into(),
        }),
        Some(other) => Err(LdError::BadField {
            field,
            problem: format!("{other}, not a string"),
        }),
        None => Err(LdError::BadField {
            field,
            problem: "missing".into(),
        }),
    }
}

#[cfg(test)]
mod tests;
