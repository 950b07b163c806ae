//! JSON-LD expansion (the subset ActivityPub documents use) into typed nodes, values and lists.
//!
//! Mirrors jsonld.js 8's `expand` so that the RDF built from the result is the one PeerTube
//! and Mastodon hash. Features outside that subset (`@graph`, `@reverse`, `@included`,
//! scoped contexts, …) are refused with [`LdError::Unsupported`] rather than guessed.

use super::context::{is_absolute_iri, is_keyword, ActiveContext, IriKind};
use super::LdError;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Deepest nesting of objects and arrays accepted.
const MAX_DEPTH: usize = 64;

/// One item of an expanded document.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Expanded {
    /// A node object (an `@id` reference is a node with no properties).
    Node(Node),
    /// A value object.
    Value(Literal),
    /// An `@list`.
    List(Vec<Expanded>),
}

/// An expanded node object.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct Node {
    /// `@id`, possibly a blank node (`_:x`) or a relative reference.
    pub id: Option<String>,
    /// Expanded `@type` values.
    pub types: Vec<String>,
    /// Expanded property IRI → values; a property may be present with no values.
    pub properties: BTreeMap<String, Vec<Expanded>>,
}

/// An expanded value object.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Literal {
    /// `@value`.
    pub value: Scalar,
    /// `@type` (a datatype IRI).
    pub datatype: Option<String>,
    /// `@language`, lower-cased.
    pub language: Option<String>,
}

/// A JSON scalar; numbers are doubles, as in JavaScript.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Scalar {
    /// A string.
    String(String),
    /// A number.
    Number(f64),
    /// A boolean.
    Bool(bool),
}

/// Expands a whole document.
pub(super) fn expand_document(doc: &Value) -> Result<Vec<Expanded>, LdError> {
    expand(&ActiveContext::default(), None, doc, false, 0)
}

fn expand(
    ctx: &ActiveContext,
    property: Option<&str>,
    element: &Value,
    inside_list: bool,
    depth: usize,
) -> Result<Vec<Expanded>, LdError> {
    if depth > MAX_DEPTH {
        return Err(LdError::Unsupported(format!(
            "documents nested more than {MAX_DEPTH} levels"
        )));
    }
    match element {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => {
            let inside_list = inside_list
                || property
                    .and_then(|p| ctx.term(p))
                    .is_some_and(|d| d.has_container("@list"));
            let mut out = Vec::new();
            for item in items {
                let expanded = expand(ctx, property, item, inside_list, depth + 1)?;
                if inside_list && item.is_array() {
                    out.push(Expanded::List(expanded));
                } else {
                    out.extend(expanded);
                }
            }
            Ok(out)
        }
        Value::Object(map) => expand_object(ctx, property, map, inside_list, depth),
        scalar => {
            let Some(property) = property else {
                return Ok(Vec::new());
            };
            Ok(expand_value(ctx, property, scalar)?.into_iter().collect())
        }
    }
}

fn scalar_of(value: &Value) -> Option<Scalar> {
    match value {
        Value::String(s) => Some(Scalar::String(s.clone())),
        Value::Number(n) => n.as_f64().map(Scalar::Number),
        Value::Bool(b) => Some(Scalar::Bool(*b)),
        _ => None,
    }
}

/// Expands a scalar under `property`, applying its type coercion or language.
fn expand_value(
    ctx: &ActiveContext,
    property: &str,
    value: &Value,
) -> Result<Option<Expanded>, LdError> {
    let def = ctx.term(property);
    let coercion = def.and_then(|d| d.type_mapping.as_deref());
    if let (Some(kind @ ("@id" | "@vocab")), Value::String(s)) = (coercion, value) {
        let kind = if kind == "@id" {
            IriKind::Document
        } else {
            IriKind::Vocab
        };
        return Ok(ctx.expand_iri(s, kind).map(|id| {
            Expanded::Node(Node {
                id: Some(id),
                ..Node::default()
            })
        }));
    }
    let scalar = scalar_of(value)
        .ok_or_else(|| LdError::InvalidDocument(format!("`{property}` has a non-scalar value")))?;
    let mut literal = Literal {
        value: scalar,
        datatype: None,
        language: None,
    };
    match coercion {
        Some(t) if !matches!(t, "@id" | "@vocab" | "@none") => {
            literal.datatype = Some(t.to_string())
        }
        _ => {
            if matches!(literal.value, Scalar::String(_)) {
                literal.language = match def.and_then(|d| d.language.clone()) {
                    Some(term_language) => term_language,
                    None => ctx.language().map(str::to_string),
                };
            }
        }
    }
    Ok(Some(Expanded::Value(literal)))
}

/// What the keys of one JSON object expanded to, before deciding what kind of object it is.
#[derive(Default)]
struct Collected {
    id: Option<String>,
    types: Vec<String>,
    has_type: bool,
    value: Option<Value>,
    language: Option<String>,
    has_index: bool,
    list: Option<Vec<Expanded>>,
    set: Option<Vec<Expanded>>,
    properties: BTreeMap<String, Vec<Expanded>>,
}

fn expand_object(
    outer: &ActiveContext,
    property: Option<&str>,
    map: &Map<String, Value>,
    inside_list: bool,
    depth: usize,
) -> Result<Vec<Expanded>, LdError> {
    let local;
    let ctx = match map.get("@context") {
        Some(c) => {
            local = outer.with(c)?;
            &local
        }
        None => outer,
    };
    let mut c = Collected::default();
    // serde_json's map iterates in sorted key order, as jsonld.js does.
    for (key, value) in map {
        if key == "@context" {
            continue;
        }
        let Some(expanded) = ctx.expand_iri(key, IriKind::Vocab) else {
            continue;
        };
        if is_keyword(&expanded) {
            expand_keyword(ctx, property, &expanded, value, &mut c, depth)?;
            continue;
        }
        if !is_absolute_iri(&expanded) {
            continue;
        }
        let def = ctx.term(key);
        let has = |name: &str| def.is_some_and(|d| d.has_container(name));
        let mut items = match value {
            Value::Object(lang_map) if has("@language") => expand_language_map(ctx, lang_map)?,
            Value::Object(index_map) if has("@index") => {
                let mut out = Vec::new();
                for item in index_map.values() {
                    out.extend(expand(ctx, Some(key), item, false, depth + 1)?);
                }
                out
            }
            _ => {
                if value.is_null() {
                    continue;
                }
                expand(ctx, Some(key), value, false, depth + 1)?
            }
        };
        let already_list = value.is_object() && matches!(items.as_slice(), [Expanded::List(_)]);
        if has("@list") && !already_list {
            items = vec![Expanded::List(items)];
        }
        c.properties.entry(expanded).or_default().extend(items);
    }
    finish_object(c, property, inside_list)
}

fn expand_keyword(
    ctx: &ActiveContext,
    property: Option<&str>,
    keyword: &str,
    value: &Value,
    c: &mut Collected,
    depth: usize,
) -> Result<(), LdError> {
    let invalid = |what: String| Err(LdError::InvalidDocument(what));
    match keyword {
        "@id" => {
            let Value::String(id) = value else {
                return invalid(format!("@id must be a string, not {value}"));
            };
            if c.id.is_some() {
                return invalid("two keys expand to @id".into());
            }
            c.id = ctx.expand_iri(id, IriKind::Document);
        }
        "@type" => {
            c.has_type = true;
            let values: Vec<&Value> = match value {
                Value::Array(items) => items.iter().collect(),
                single => vec![single],
            };
            for t in values {
                let Value::String(t) = t else {
                    return invalid(format!("@type values must be strings, not {t}"));
                };
                if let Some(expanded) = ctx.expand_iri(t, IriKind::Vocab) {
                    c.types.push(expanded);
                }
            }
        }
        "@value" => {
            if value.is_array() || value.is_object() {
                return invalid(format!("@value must be a scalar or null, not {value}"));
            }
            c.value = Some(value.clone());
        }
        "@language" => {
            let Value::String(l) = value else {
                return invalid(format!("@language must be a string, not {value}"));
            };
            c.language = Some(l.to_lowercase());
        }
        "@index" => {
            if !value.is_string() {
                return invalid(format!("@index must be a string, not {value}"));
            }
            c.has_index = true;
        }
        "@list" => c.list = Some(expand(ctx, property, value, true, depth + 1)?),
        "@set" => c.set = Some(expand(ctx, property, value, false, depth + 1)?),
        other => return Err(LdError::Unsupported(format!("{other} in a document"))),
    }
    Ok(())
}

fn expand_language_map(
    ctx: &ActiveContext,
    map: &Map<String, Value>,
) -> Result<Vec<Expanded>, LdError> {
    let mut out = Vec::new();
    for (language, values) in map {
        let none = ctx.expand_iri(language, IriKind::Vocab).as_deref() == Some("@none");
        let values: Vec<&Value> = match values {
            Value::Array(items) => items.iter().collect(),
            single => vec![single],
        };
        for value in values {
            match value {
                Value::Null => {}
                Value::String(s) => out.push(Expanded::Value(Literal {
                    value: Scalar::String(s.clone()),
                    datatype: None,
                    language: (!none).then(|| language.to_lowercase()),
                })),
                other => {
                    return Err(LdError::InvalidDocument(format!(
                        "language map values must be strings, not {other}"
                    )))
                }
            }
        }
    }
    Ok(out)
}

/// Turns the collected keys into a value, list, set or node, with jsonld.js's checks and its
/// dropping of empty top-level objects.
fn finish_object(
    c: Collected,
    property: Option<&str>,
    inside_list: bool,
) -> Result<Vec<Expanded>, LdError> {
    let top_level = property.is_none() && !inside_list;
    if let Some(value) = c.value {
        if c.id.is_some() || !c.properties.is_empty() || c.list.is_some() || c.set.is_some() {
            return Err(LdError::InvalidDocument(
                "a value object has keys other than @value, @type, @language, @index".into(),
            ));
        }
        if c.has_type && c.language.is_some() {
            return Err(LdError::InvalidDocument(
                "a value object has both @type and @language".into(),
            ));
        }
        if value.is_null() {
            return Ok(Vec::new());
        }
        let datatype = match c.types.as_slice() {
            [] => None,
            [t] if is_absolute_iri(t) && !t.starts_with("_:") => Some(t.clone()),
            _ => {
                return Err(LdError::InvalidDocument(format!(
                    "the @type of a value object must be one absolute IRI, not {:?}",
                    c.types
                )))
            }
        };
        let value = scalar_of(&value)
            .ok_or_else(|| LdError::InvalidDocument("@value must be a scalar".into()))?;
        if c.language.is_some() && !matches!(value, Scalar::String(_)) {
            return Err(LdError::InvalidDocument(
                "only strings may be language-tagged".into(),
            ));
        }
        if top_level {
            return Ok(Vec::new());
        }
        return Ok(vec![Expanded::Value(Literal {
            value,
            datatype,
            language: c.language,
        })]);
    }
    if c.list.is_some() || c.set.is_some() {
        if c.id.is_some() || c.has_type || !c.properties.is_empty() || c.language.is_some() {
            return Err(LdError::InvalidDocument(
                "@list or @set with keys other than @index".into(),
            ));
        }
        if let Some(items) = c.set {
            return Ok(items);
        }
        if top_level {
            return Ok(Vec::new());
        }
        return Ok(vec![Expanded::List(c.list.unwrap_or_default())]);
    }
    // The number of keys of jsonld.js's expanded object decides which top-level nodes drop.
    let key_count = usize::from(c.id.is_some())
        + usize::from(c.has_type)
        + usize::from(c.language.is_some())
        + usize::from(c.has_index)
        + c.properties.len();
    if key_count == 1 && c.language.is_some() {
        return Ok(Vec::new());
    }
    if top_level && (key_count == 0 || (key_count == 1 && c.id.is_some())) {
        return Ok(Vec::new());
    }
    Ok(vec![Expanded::Node(Node {
        id: c.id,
        types: c.types,
        properties: c.properties,
    })])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn aliases_coercion_and_language_maps() {
        let doc = json!({
            "@context": ["https://www.w3.org/ns/activitystreams", {"@language": "EN"}],
            "id": "https://h.example/n/1",
            "type": "Note",
            "to": "as:Public",
            "contentMap": {"FR": "bonjour"},
            "name": "hello",
            "published": "2025-01-01T00:00:00Z",
            "unknown": "dropped later"
        });
        let out = expand_document(&doc).unwrap();
        let [Expanded::Node(node)] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert_eq!(node.id.as_deref(), Some("https://h.example/n/1"));
        assert_eq!(node.types, ["https://www.w3.org/ns/activitystreams#Note"]);
        let as_ = |p: &str| &node.properties[&format!("https://www.w3.org/ns/activitystreams#{p}")];
        assert!(matches!(&as_("to")[0], Expanded::Node(n)
            if n.id.as_deref() == Some("https://www.w3.org/ns/activitystreams#Public")));
        assert!(
            matches!(&as_("content")[0], Expanded::Value(l) if l.language.as_deref() == Some("fr"))
        );
        assert!(
            matches!(&as_("name")[0], Expanded::Value(l) if l.language.as_deref() == Some("en"))
        );
        assert!(matches!(&as_("published")[0], Expanded::Value(l)
            if l.datatype.as_deref() == Some("http://www.w3.org/2001/XMLSchema#dateTime")));
        assert!(node.properties.contains_key("_:unknown"));
    }

    #[test]
    fn unsupported_features_are_refused() {
        for doc in [
            json!({"@context": {"x": "http://x/"}, "@graph": []}),
            json!({"@context": {"x": "http://x/"}, "@reverse": {}}),
            json!({"@context": {"x": "http://x/"}, "@included": []}),
            json!({"@context": {"x": {"@id": "http://x/", "@context": {}}}, "x": 1}),
        ] {
            assert!(
                matches!(expand_document(&doc), Err(LdError::Unsupported(_))),
                "{doc}"
            );
        }
    }

    #[test]
    fn invalid_documents_are_errors() {
        let ctx = json!("https://www.w3.org/ns/activitystreams");
        for doc in [
            json!({"@context": ctx, "id": 5}),
            json!({"@context": ctx, "type": [1]}),
            json!({"@context": ctx, "name": {"@value": [1]}}),
            json!({"@context": ctx, "name": {"@value": 1, "@language": "en"}}),
            json!({"@context": ctx, "name": {"@value": "x", "@type": "relative"}}),
            json!({"@context": ctx, "contentMap": {"en": 5}}),
        ] {
            assert!(
                matches!(expand_document(&doc), Err(LdError::InvalidDocument(_))),
                "{doc}"
            );
        }
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut doc = json!("leaf");
        for _ in 0..100 {
            doc = json!({"@context": {"p": "http://x/p"}, "p": [doc]});
        }
        assert!(matches!(
            expand_document(&doc),
            Err(LdError::Unsupported(_))
        ));
    }
}
