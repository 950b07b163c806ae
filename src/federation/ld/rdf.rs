//! Expanded JSON-LD to RDF quads (jsonld.js's `toRDF`), and their N-Quads form.
//!
//! Only the default graph exists here (`@graph` is refused earlier). Blank nodes get
//! provisional labels (`_:b0`, …) that canonicalization replaces.

use super::context::is_absolute_iri;
use super::expand::{Expanded, Literal, Node, Scalar};
use std::collections::{HashMap, HashSet};

const RDF_TYPE: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type";
const RDF_FIRST: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#first";
const RDF_REST: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#rest";
const RDF_NIL: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#nil";
const RDF_LANGSTRING: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString";
const XSD_STRING: &str = "http://www.w3.org/2001/XMLSchema#string";
const XSD_BOOLEAN: &str = "http://www.w3.org/2001/XMLSchema#boolean";
const XSD_INTEGER: &str = "http://www.w3.org/2001/XMLSchema#integer";
const XSD_DOUBLE: &str = "http://www.w3.org/2001/XMLSchema#double";

/// An RDF term.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Term {
    /// An absolute IRI.
    Iri(String),
    /// A blank node label, with its `_:` prefix.
    Blank(String),
    /// A literal; `datatype` is `rdf:langString` exactly when `language` is set.
    Literal {
        /// Lexical form.
        value: String,
        /// Datatype IRI.
        datatype: String,
        /// Language tag.
        language: Option<String>,
    },
}

/// A triple of the default graph.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Quad {
    /// Subject: an IRI or blank node.
    pub subject: Term,
    /// Predicate IRI.
    pub predicate: String,
    /// Object.
    pub object: Term,
}

/// Converts an expanded document to its set of quads (duplicates removed, as jsonld.js's node
/// map does).
pub(super) fn to_rdf(items: &[Expanded]) -> Vec<Quad> {
    let mut builder = Builder::default();
    for item in items {
        builder.object(item);
    }
    builder.quads
}

#[derive(Default)]
struct Builder {
    quads: Vec<Quad>,
    seen: HashSet<Quad>,
    labels: HashMap<String, String>,
    next_blank: usize,
}

impl Builder {
    fn fresh_blank(&mut self) -> Term {
        let label = format!("_:b{}", self.next_blank);
        self.next_blank += 1;
        Term::Blank(label)
    }

    /// The same provisional label for every occurrence of a document's blank node label.
    fn relabel(&mut self, label: &str) -> Term {
        if let Some(mapped) = self.labels.get(label) {
            return Term::Blank(mapped.clone());
        }
        let Term::Blank(fresh) = self.fresh_blank() else {
            unreachable!("fresh_blank returns a blank node")
        };
        self.labels.insert(label.to_string(), fresh.clone());
        Term::Blank(fresh)
    }

    /// An IRI or blank node term for an identifier; `None` for a relative reference.
    fn resource(&mut self, id: &str) -> Option<Term> {
        if id.starts_with("_:") {
            Some(self.relabel(id))
        } else if is_absolute_iri(id) {
            Some(Term::Iri(id.to_string()))
        } else {
            None
        }
    }

    fn push(&mut self, subject: &Option<Term>, predicate: &str, object: Option<Term>) {
        let (Some(subject), Some(object)) = (subject.clone(), object) else {
            return;
        };
        let quad = Quad {
            subject,
            predicate: predicate.to_string(),
            object,
        };
        if self.seen.insert(quad.clone()) {
            self.quads.push(quad);
        }
    }

    /// Emits the quads of an item and returns the term that stands for it.
    fn object(&mut self, item: &Expanded) -> Option<Term> {
        match item {
            Expanded::Node(node) => self.node(node),
            Expanded::Value(literal) => Some(literal_term(literal)),
            Expanded::List(items) => self.list(items),
        }
    }

    fn node(&mut self, node: &Node) -> Option<Term> {
        let subject = match &node.id {
            Some(id) => self.resource(id),
            None => Some(self.fresh_blank()),
        };
        for t in &node.types {
            let object = self.resource(t);
            self.push(&subject, RDF_TYPE, object);
        }
        for (predicate, values) in &node.properties {
            // Values under a dropped predicate still describe their own nodes.
            let keep = is_absolute_iri(predicate) && !predicate.starts_with("_:");
            for value in values {
                let object = self.object(value);
                if keep {
                    self.push(&subject, predicate, object);
                }
            }
        }
        subject
    }

    fn list(&mut self, items: &[Expanded]) -> Option<Term> {
        if items.is_empty() {
            return Some(Term::Iri(RDF_NIL.to_string()));
        }
        let head = self.fresh_blank();
        let mut cell = Some(head.clone());
        for (i, item) in items.iter().enumerate() {
            let object = self.object(item);
            self.push(&cell, RDF_FIRST, object);
            let rest = if i + 1 == items.len() {
                Term::Iri(RDF_NIL.to_string())
            } else {
                self.fresh_blank()
            };
            self.push(&cell, RDF_REST, Some(rest.clone()));
            cell = Some(rest);
        }
        Some(head)
    }
}

fn literal_term(literal: &Literal) -> Term {
    let datatype = literal.datatype.as_deref();
    let (value, default_type) = match &literal.value {
        Scalar::Bool(b) => (b.to_string(), XSD_BOOLEAN),
        Scalar::Number(n) if is_js_double(*n) || datatype == Some(XSD_DOUBLE) => {
            (canonical_double(*n), XSD_DOUBLE)
        }
        Scalar::Number(n) => (js_to_fixed_0(*n), XSD_INTEGER),
        Scalar::String(s) if datatype == Some(XSD_DOUBLE) => (
            canonical_double(s.trim().parse().unwrap_or(f64::NAN)),
            XSD_DOUBLE,
        ),
        Scalar::String(s) if literal.language.is_some() => (s.clone(), RDF_LANGSTRING),
        Scalar::String(s) => (s.clone(), XSD_STRING),
    };
    Term::Literal {
        value,
        datatype: datatype.unwrap_or(default_type).to_string(),
        language: literal.language.clone(),
    }
}

/// jsonld.js's `isDouble`: JavaScript's `String(n)` has a `.`, or `|n| ≥ 1e21`.
fn is_js_double(n: f64) -> bool {
    if !n.is_finite() || n.abs() >= 1e21 {
        return true;
    }
    if n != 0.0 && n.abs() < 1e-6 {
        // JavaScript prints these in exponent form: `1e-7` has no `.`, `1.5e-7` has.
        return format!("{n:e}").contains('.');
    }
    n.fract() != 0.0
}

/// JavaScript's `n.toFixed(0)` for |n| < 1e21.
fn js_to_fixed_0(n: f64) -> String {
    if n == 0.0 {
        return "0".into();
    }
    format!("{n:.0}")
}

/// jsonld.js's canonical double: `n.toExponential(15)` with trailing zeros trimmed, `E`.
fn canonical_double(n: f64) -> String {
    if n.is_nan() {
        return "NaN".into();
    }
    if n.is_infinite() {
        return if n > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let formatted = format!("{n:.15e}");
    let (mantissa, exponent) = formatted.split_once('e').unwrap_or((&formatted, "0"));
    let mut mantissa = mantissa.trim_end_matches('0').to_string();
    if mantissa.ends_with('.') {
        mantissa.push('0');
    }
    format!("{mantissa}E{exponent}")
}

/// One N-Quads line (with its newline), escaping literals as rdf-canonize does.
pub(super) fn nquad(subject: &Term, predicate: &str, object: &Term) -> String {
    let mut line = String::new();
    write_term(&mut line, subject);
    line.push_str(" <");
    line.push_str(predicate);
    line.push_str("> ");
    write_term(&mut line, object);
    line.push_str(" .\n");
    line
}

fn write_term(out: &mut String, term: &Term) {
    match term {
        Term::Iri(iri) => {
            out.push('<');
            out.push_str(iri);
            out.push('>');
        }
        Term::Blank(label) => out.push_str(label),
        Term::Literal {
            value,
            datatype,
            language,
        } => {
            out.push('"');
            for c in value.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    c => out.push(c),
                }
            }
            out.push('"');
            if datatype == RDF_LANGSTRING {
                if let Some(language) = language.as_deref().filter(|l| !l.is_empty()) {
                    out.push('@');
                    out.push_str(language);
                }
            } else if datatype != XSD_STRING {
                out.push_str("^^<");
                out.push_str(datatype);
                out.push('>');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_javascript_does() {
        assert!(!is_js_double(42.0));
        assert!(is_js_double(1.5));
        assert!(is_js_double(1e21));
        assert!(!is_js_double(1e-7), "String(1e-7) is `1e-7`");
        assert!(is_js_double(1.5e-7));
        assert_eq!(js_to_fixed_0(-0.0), "0");
        assert_eq!(
            js_to_fixed_0(12345678901234567890.0),
            "12345678901234567168"
        );
        assert_eq!(canonical_double(1.7778), "1.7778E0");
        assert_eq!(canonical_double(0.1), "1.0E-1");
        assert_eq!(canonical_double(48.85), "4.885E1");
        assert_eq!(canonical_double(1e21), "1.0E21");
        assert_eq!(canonical_double(-2.5e30), "-2.5E30");
    }

    #[test]
    fn literals_are_escaped_like_rdf_canonize() {
        let line = nquad(
            &Term::Blank("_:c14n0".into()),
            "http://p",
            &Term::Literal {
                value: "a\"b\\c\nd\re\tf".into(),
                datatype: XSD_STRING.into(),
                language: None,
            },
        );
        assert_eq!(line, "_:c14n0 <http://p> \"a\\\"b\\\\c\\nd\\re\tf\" .\n");
    }
}
