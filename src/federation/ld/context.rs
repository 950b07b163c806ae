//! JSON-LD active contexts: term definitions built from `@context` values, and IRI expansion.
//!
//! Follows jsonld.js 8 (the library PeerTube signs and verifies with) in JSON-LD 1.1 mode for
//! the features ActivityPub contexts use: prefixes, `@vocab`, `@language`, keyword aliases,
//! `@type` coercion, `@list`/`@set`/`@language`/`@index` containers and embedded contexts.
//! Remote contexts come only from the built-in copies; anything else is an error.

use super::LdError;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::OnceLock;

/// The W3C ActivityStreams context, as vendored by PeerTube.
const ACTIVITYSTREAMS: &str = include_str!("contexts/activitystreams.json");
/// The W3C CCG security v1 context, as vendored by PeerTube.
const SECURITY_V1: &str = include_str!("contexts/security-v1.json");

/// Nesting limit for remote contexts that reference others.
const MAX_CONTEXT_DEPTH: usize = 8;

const KEYWORDS: &[&str] = &[
    "@base",
    "@container",
    "@context",
    "@default",
    "@direction",
    "@embed",
    "@explicit",
    "@graph",
    "@id",
    "@import",
    "@included",
    "@index",
    "@json",
    "@language",
    "@list",
    "@nest",
    "@none",
    "@omitDefault",
    "@prefix",
    "@preserve",
    "@propagate",
    "@protected",
    "@requireAll",
    "@reverse",
    "@set",
    "@type",
    "@value",
    "@version",
    "@vocab",
];

/// Whether `s` is a JSON-LD keyword.
pub(super) fn is_keyword(s: &str) -> bool {
    KEYWORDS.contains(&s)
}

/// `@` followed by letters only: reserved for future keywords, ignored by processors.
fn has_keyword_form(s: &str) -> bool {
    s.len() > 1 && s.starts_with('@') && s[1..].bytes().all(|b| b.is_ascii_alphabetic())
}

/// jsonld.js's `isAbsolute`: a scheme (or `_` for blank nodes), a colon, no whitespace.
pub(super) fn is_absolute_iri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut bytes = scheme.bytes();
    let scheme_ok = scheme == "_"
        || (bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
            && bytes.all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)));
    scheme_ok && !rest.chars().any(char::is_whitespace)
}

/// The built-in copy of a remote context document, by URL (http or https, with or without
/// `.jsonld` or a fragment), parsed once.
fn builtin_context(url: &str) -> Option<&'static Value> {
    static PARSED: OnceLock<[Value; 2]> = OnceLock::new();
    let bare = url.split('#').next().unwrap_or(url);
    let bare = bare
        .strip_prefix("https://")
        .or_else(|| bare.strip_prefix("http://"))?;
    let index = match bare.trim_end_matches(".jsonld") {
        "www.w3.org/ns/activitystreams" => 0,
        "w3id.org/security/v1" => 1,
        _ => return None,
    };
    let parsed = PARSED.get_or_init(|| {
        // Both are constants of this crate, parsed by the tests.
        [ACTIVITYSTREAMS, SECURITY_V1].map(|text| serde_json::from_str(text).unwrap_or(Value::Null))
    });
    Some(&parsed[index])
}

/// One term's definition.
#[derive(Debug, Clone, Default)]
pub(super) struct TermDef {
    /// The IRI (or keyword) the term expands to; `None` for a term mapped to `null`.
    pub id: Option<String>,
    /// `@type` coercion: `@id`, `@vocab`, `@none` or a datatype IRI.
    pub type_mapping: Option<String>,
    /// `@container` values.
    pub container: Vec<String>,
    /// `@language`: `Some(None)` when explicitly `null`.
    pub language: Option<Option<String>>,
    /// May be used as the prefix of a compact IRI.
    prefix: bool,
}

impl TermDef {
    pub(super) fn has_container(&self, c: &str) -> bool {
        self.container.iter().any(|x| x == c)
    }
}

/// The context in force at one point of a document.
#[derive(Debug, Clone, Default)]
pub(super) struct ActiveContext {
    terms: HashMap<String, TermDef>,
    vocab: Option<String>,
    language: Option<String>,
}

/// How an IRI is being expanded.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum IriKind {
    /// A property name or `@type` value: terms and `@vocab` apply.
    Vocab,
    /// An `@id` value: only compact IRIs apply; a relative IRI stays relative (no base).
    Document,
}

/// Terms of a local context being defined: `false` while in progress (cycle detection).
type Defined = HashMap<String, bool>;

impl ActiveContext {
    pub(super) fn term(&self, term: &str) -> Option<&TermDef> {
        self.terms.get(term)
    }

    /// The default language, used by strings without a term-level `@language`.
    pub(super) fn language(&self) -> Option<&str> {
        self.language.as_deref()
    }

    /// The context after applying a `@context` value (string, object, array or null).
    pub(super) fn with(&self, local: &Value) -> Result<ActiveContext, LdError> {
        let mut result = self.clone();
        result.apply(local, 0)?;
        Ok(result)
    }

    fn apply(&mut self, local: &Value, depth: usize) -> Result<(), LdError> {
        if depth > MAX_CONTEXT_DEPTH {
            return Err(LdError::Unsupported(
                "remote contexts nested too deeply".into(),
            ));
        }
        match local {
            Value::Array(items) => {
                for item in items {
                    self.apply(item, depth)?;
                }
                Ok(())
            }
            Value::Null => {
                *self = ActiveContext::default();
                Ok(())
            }
            Value::String(url) => {
                let doc =
                    builtin_context(url).ok_or_else(|| LdError::UnknownContext(url.clone()))?;
                let inner = doc
                    .get("@context")
                    .ok_or_else(|| LdError::InvalidContext(format!("{url} has no @context")))?;
                self.apply(inner, depth + 1)
            }
            Value::Object(map) => self.apply_object(map),
            other => Err(LdError::InvalidContext(format!(
                "a @context must be a string, object, array or null, not {other}"
            ))),
        }
    }

    fn apply_object(&mut self, local: &Map<String, Value>) -> Result<(), LdError> {
        for unsupported in ["@base", "@import", "@direction", "@propagate"] {
            if local.get(unsupported).is_some_and(|v| !v.is_null()) {
                return Err(LdError::Unsupported(format!("{unsupported} in a @context")));
            }
        }
        if let Some(version) = local.get("@version") {
            if version.as_f64() != Some(1.1) {
                return Err(LdError::InvalidContext(format!(
                    "@version must be 1.1, not {version}"
                )));
            }
        }
        match local.get("@vocab") {
            None => {}
            Some(Value::Null) => self.vocab = None,
            Some(Value::String(v)) => {
                let vocab = self
                    .expand_iri(v, IriKind::Vocab)
                    .filter(|v| is_absolute_iri(v))
                    .ok_or_else(|| {
                        LdError::Unsupported(format!("relative or null @vocab `{v}`"))
                    })?;
                self.vocab = Some(vocab);
            }
            Some(other) => {
                return Err(LdError::InvalidContext(format!(
                    "@vocab must be a string or null, not {other}"
                )))
            }
        }
        match local.get("@language") {
            None => {}
            Some(Value::Null) => self.language = None,
            Some(Value::String(l)) => self.language = Some(l.to_lowercase()),
            Some(other) => {
                return Err(LdError::InvalidContext(format!(
                    "@language must be a string or null, not {other}"
                )))
            }
        }
        let mut defined = Defined::new();
        for term in local.keys() {
            if matches!(
                term.as_str(),
                "@base"
                    | "@version"
                    | "@vocab"
                    | "@language"
                    | "@protected"
                    | "@import"
                    | "@direction"
                    | "@propagate"
            ) {
                continue;
            }
            self.define(local, term, &mut defined)?;
        }
        Ok(())
    }

    /// The Create Term Definition algorithm, for `term` of `local`.
    fn define(
        &mut self,
        local: &Map<String, Value>,
        term: &str,
        defined: &mut Defined,
    ) -> Result<(), LdError> {
        match defined.get(term) {
            Some(true) => return Ok(()),
            Some(false) => {
                return Err(LdError::InvalidContext(format!(
                    "cyclic IRI mapping involving term `{term}`"
                )))
            }
            None => {}
        }
        if term.is_empty() {
            return Err(LdError::InvalidContext("empty term".into()));
        }
        if is_keyword(term) {
            return Err(LdError::Unsupported(format!("redefining keyword {term}")));
        }
        if has_keyword_form(term) {
            // Reserved: jsonld.js warns and ignores it.
            defined.insert(term.to_string(), true);
            return Ok(());
        }
        defined.insert(term.to_string(), false);
        let value = local.get(term).cloned().unwrap_or(Value::Null);
        let previous = self.terms.remove(term);
        let (simple, def) = match &value {
            Value::Null => (true, Map::from_iter([("@id".to_string(), Value::Null)])),
            Value::String(s) => (
                true,
                Map::from_iter([("@id".to_string(), Value::String(s.clone()))]),
            ),
            Value::Object(m) => (false, m.clone()),
            other => {
                return Err(LdError::InvalidContext(format!(
                    "term `{term}` must map to a string, object or null, not {other}"
                )))
            }
        };
        for key in def.keys() {
            match key.as_str() {
                "@id" | "@type" | "@container" | "@language" | "@prefix" | "@protected" => {}
                "@reverse" | "@context" | "@nest" | "@index" | "@direction" => {
                    return Err(LdError::Unsupported(format!(
                        "{key} in the definition of `{term}`"
                    )))
                }
                other => {
                    return Err(LdError::InvalidContext(format!(
                        "the definition of `{term}` has an unknown key `{other}`"
                    )))
                }
            }
        }
        let colon = term.find(':').filter(|&i| i > 0);
        let mut mapping = TermDef::default();
        let mut has_id = false;
        match def.get("@id") {
            None => {}
            Some(Value::Null) => has_id = true,
            Some(Value::String(id)) if !is_keyword(id) && has_keyword_form(id) => {
                // Reserved value: the term is ignored, as jsonld.js does.
                if let Some(previous) = previous {
                    self.terms.insert(term.to_string(), previous);
                }
                defined.insert(term.to_string(), true);
                return Ok(());
            }
            Some(Value::String(id)) if id != term => {
                let expanded = self
                    .expand_iri_defining(id, IriKind::Vocab, local, defined)?
                    .filter(|e| is_absolute_iri(e) || is_keyword(e))
                    .ok_or_else(|| {
                        LdError::InvalidContext(format!(
                            "term `{term}` maps to `{id}`, not an absolute IRI or keyword"
                        ))
                    })?;
                mapping.prefix = simple
                    && colon.is_none()
                    && expanded.ends_with([':', '/', '?', '#', '[', ']', '@']);
                mapping.id = Some(expanded);
                has_id = true;
            }
            Some(Value::String(_)) => {}
            Some(other) => {
                return Err(LdError::InvalidContext(format!(
                    "@id of `{term}` must be a string, not {other}"
                )))
            }
        }
        if !has_id {
            mapping.id = Some(if let Some(colon) = colon {
                let (prefix, suffix) = (&term[..colon], &term[colon + 1..]);
                if local.contains_key(prefix) {
                    self.define(local, prefix, defined)?;
                }
                match self.terms.get(prefix).and_then(|d| d.id.as_deref()) {
                    Some(base) => format!("{base}{suffix}"),
                    None => term.to_string(),
                }
            } else if let Some(vocab) = &self.vocab {
                format!("{vocab}{term}")
            } else {
                return Err(LdError::InvalidContext(format!(
                    "term `{term}` has no @id and there is no @vocab"
                )));
            });
        }
        defined.insert(term.to_string(), true);
        match def.get("@type") {
            None => {}
            Some(Value::String(t)) => {
                let t = match t.as_str() {
                    "@id" | "@vocab" | "@none" => t.clone(),
                    "@json" => return Err(LdError::Unsupported(format!("@json type of `{term}`"))),
                    _ => self
                        .expand_iri_defining(t, IriKind::Vocab, local, defined)?
                        .filter(|e| is_absolute_iri(e) && !e.starts_with("_:"))
                        .ok_or_else(|| {
                            LdError::InvalidContext(format!(
                                "@type `{t}` of `{term}` is not an absolute IRI"
                            ))
                        })?,
                };
                mapping.type_mapping = Some(t);
            }
            Some(other) => {
                return Err(LdError::InvalidContext(format!(
                    "@type of `{term}` must be a string, not {other}"
                )))
            }
        }
        if let Some(container) = def.get("@container") {
            let list: Vec<String> = match container {
                Value::String(c) => vec![c.clone()],
                Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().map(str::to_string))
                    .collect::<Option<_>>()
                    .ok_or_else(|| {
                        LdError::InvalidContext(format!("@container of `{term}` is not strings"))
                    })?,
                Value::Null => Vec::new(),
                other => {
                    return Err(LdError::InvalidContext(format!(
                        "@container of `{term}` must be a string or array, not {other}"
                    )))
                }
            };
            for c in &list {
                match c.as_str() {
                    "@list" | "@set" | "@language" | "@index" => {}
                    "@graph" | "@id" | "@type" => {
                        return Err(LdError::Unsupported(format!("@container {c} on `{term}`")))
                    }
                    other => {
                        return Err(LdError::InvalidContext(format!(
                            "unknown @container `{other}` on `{term}`"
                        )))
                    }
                }
            }
            if list.iter().any(|c| c == "@list") && list.len() > 1 {
                return Err(LdError::InvalidContext(format!(
                    "@list container of `{term}` combined with others"
                )));
            }
            mapping.container = list;
        }
        if !def.contains_key("@type") {
            match def.get("@language") {
                None => {}
                Some(Value::Null) => mapping.language = Some(None),
                Some(Value::String(l)) => mapping.language = Some(Some(l.to_lowercase())),
                Some(other) => {
                    return Err(LdError::InvalidContext(format!(
                        "@language of `{term}` must be a string or null, not {other}"
                    )))
                }
            }
        }
        if let Some(prefix) = def.get("@prefix") {
            mapping.prefix = prefix.as_bool().ok_or_else(|| {
                LdError::InvalidContext(format!("@prefix of `{term}` must be a boolean"))
            })?;
        }
        self.terms.insert(term.to_string(), mapping);
        Ok(())
    }

    /// Expands a term, compact IRI or IRI. `None` means "explicitly not mapped": the
    /// property or value is dropped.
    pub(super) fn expand_iri(&self, value: &str, kind: IriKind) -> Option<String> {
        if is_keyword(value) {
            return Some(value.to_string());
        }
        if has_keyword_form(value) {
            return None;
        }
        if kind == IriKind::Vocab {
            if let Some(def) = self.terms.get(value) {
                return def.id.clone();
            }
        }
        if let Some(colon) = value.find(':').filter(|&i| i > 0) {
            let (prefix, suffix) = (&value[..colon], &value[colon + 1..]);
            if prefix == "_" || suffix.starts_with("//") {
                return Some(value.to_string());
            }
            if let Some(TermDef {
                id: Some(base),
                prefix: true,
                ..
            }) = self.terms.get(prefix)
            {
                return Some(format!("{base}{suffix}"));
            }
            if is_absolute_iri(value) {
                return Some(value.to_string());
            }
        }
        if kind == IriKind::Vocab {
            if let Some(vocab) = &self.vocab {
                return Some(format!("{vocab}{value}"));
            }
        }
        // No base IRI: a relative reference stays relative and is dropped from the RDF.
        Some(value.to_string())
    }

    /// [`Self::expand_iri`] while a local context is being defined: terms it uses are defined
    /// first.
    fn expand_iri_defining(
        &mut self,
        value: &str,
        kind: IriKind,
        local: &Map<String, Value>,
        defined: &mut Defined,
    ) -> Result<Option<String>, LdError> {
        if !is_keyword(value) && !has_keyword_form(value) {
            if local.contains_key(value) && defined.get(value) != Some(&true) {
                self.define(local, value, defined)?;
            }
            if let Some(colon) = value.find(':').filter(|&i| i > 0) {
                let prefix = &value[..colon];
                if prefix != "_" && local.contains_key(prefix) {
                    self.define(local, prefix, defined)?;
                }
            }
        }
        Ok(self.expand_iri(value, kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builtin_contexts_parse() {
        let ctx = ActiveContext::default()
            .with(&json!([
                "https://www.w3.org/ns/activitystreams",
                "https://w3id.org/security/v1"
            ]))
            .unwrap();
        let iri = |s| ctx.expand_iri(s, IriKind::Vocab);
        assert_eq!(
            iri("Create").as_deref(),
            Some("https://www.w3.org/ns/activitystreams#Create")
        );
        assert_eq!(
            iri("publicKeyPem").as_deref(),
            Some("https://w3id.org/security#publicKeyPem")
        );
        assert_eq!(
            iri("as:Public").as_deref(),
            Some("https://www.w3.org/ns/activitystreams#Public")
        );
        assert_eq!(iri("unknownTerm").as_deref(), Some("_:unknownTerm"));
        assert_eq!(iri("id").as_deref(), Some("@id"));
        assert_eq!(ctx.term("orderedItems").unwrap().container, ["@list"]);
    }

    #[test]
    fn unknown_remote_context_is_named() {
        let err = ActiveContext::default()
            .with(&json!("https://example.org/ctx.jsonld"))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "remote JSON-LD context https://example.org/ctx.jsonld is not built in \
             (only ActivityStreams and security/v1 are)"
        );
    }

    #[test]
    fn prefix_only_for_simple_terms_ending_in_a_delimiter() {
        let ctx = ActiveContext::default()
            .with(&json!({
                "ex": "http://example.org/ns#",
                "typed": {"@id": "http://example.org/typed#", "@type": "@id"},
                "explicit": {"@id": "http://example.org/explicit", "@prefix": true},
                "noDelim": "http://example.org/nodelim"
            }))
            .unwrap();
        let iri = |s| ctx.expand_iri(s, IriKind::Document).unwrap();
        assert_eq!(iri("ex:a"), "http://example.org/ns#a");
        assert_eq!(iri("typed:a"), "typed:a");
        assert_eq!(iri("explicit:a"), "http://example.org/explicita");
        assert_eq!(iri("noDelim:a"), "noDelim:a");
        assert_eq!(iri("relative"), "relative");
    }

    #[test]
    fn cyclic_and_invalid_definitions_are_errors() {
        let base = ActiveContext::default();
        assert!(base.with(&json!({"a": "b:x", "b": "a:y"})).is_err());
        assert!(base.with(&json!({"a": {"@reverse": "http://x"}})).is_err());
        assert!(base.with(&json!({"a": 5})).is_err());
        assert!(base.with(&json!({"a": "relative"})).is_err());
        assert!(base.with(&json!(42)).is_err());
        assert!(base.with(&json!({"@base": "http://example.org/"})).is_err());
    }
}
