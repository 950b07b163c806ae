//! URDNA2015 RDF dataset canonicalization, as rdf-canonize 3 (used by jsonld.js) computes it.
//!
//! Blank nodes get labels `_:c14n0`, `_:c14n1`, … derived from what surrounds them, so that
//! the sorted N-Quads of a dataset do not depend on how its blank nodes were first named.
//! The N-degree step is exponential for adversarial graphs, so work is capped.

use super::rdf::{nquad, Quad, Term};
use super::LdError;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};

/// Most N-degree hash computations and permutations one canonicalization may do. ActivityPub
/// documents need a handful; crafted graphs would need millions.
const MAX_WORK: usize = 20_000;

/// Deepest N-degree recursion (long chains of look-alike blank nodes, such as a list of equal
/// items, recurse once per node); keeps the stack small on async worker threads.
const MAX_RECURSION: usize = 128;

/// Hands out `prefix0`, `prefix1`, … and remembers them, in order of issue.
#[derive(Clone)]
struct Issuer {
    prefix: &'static str,
    issued: HashMap<String, String>,
    order: Vec<String>,
}

impl Issuer {
    fn new(prefix: &'static str) -> Self {
        Self {
            prefix,
            issued: HashMap::new(),
            order: Vec::new(),
        }
    }

    fn get(&self, old: &str) -> Option<&str> {
        self.issued.get(old).map(String::as_str)
    }

    fn issue(&mut self, old: &str) -> String {
        if let Some(id) = self.issued.get(old) {
            return id.clone();
        }
        let id = format!("{}{}", self.prefix, self.order.len());
        self.issued.insert(old.to_string(), id.clone());
        self.order.push(old.to_string());
        id
    }
}

struct State<'a> {
    quads: &'a [Quad],
    /// Blank node → indices of the quads that mention it.
    mentions: HashMap<&'a str, Vec<usize>>,
    first_degree: HashMap<&'a str, String>,
    canonical: Issuer,
    work: usize,
}

fn sha256_hex(data: &str) -> String {
    hex::encode(Sha256::digest(data.as_bytes()))
}

fn blank(term: &Term) -> Option<&str> {
    match term {
        Term::Blank(label) => Some(label),
        _ => None,
    }
}

/// The canonical N-Quads of a set of quads: canonical blank labels, lines sorted.
pub(super) fn canonicalize(quads: &[Quad]) -> Result<String, LdError> {
    let mut state = State {
        quads,
        mentions: HashMap::new(),
        first_degree: HashMap::new(),
        canonical: Issuer::new("_:c14n"),
        work: 0,
    };
    let mut blank_order: Vec<&str> = Vec::new();
    for (i, quad) in quads.iter().enumerate() {
        for label in [blank(&quad.subject), blank(&quad.object)]
            .into_iter()
            .flatten()
        {
            let entry = state.mentions.entry(label).or_default();
            if entry.is_empty() {
                blank_order.push(label);
            }
            if entry.last() != Some(&i) {
                entry.push(i);
            }
        }
    }
    let mut by_hash: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for &label in &blank_order {
        let hash = state.hash_first_degree(label);
        state.first_degree.insert(label, hash.clone());
        by_hash.entry(hash).or_default().push(label);
    }
    let mut shared = Vec::new();
    for labels in by_hash.values() {
        if let [only] = labels.as_slice() {
            state.canonical.issue(only);
        } else {
            shared.push(labels.clone());
        }
    }
    for labels in shared {
        let mut paths = Vec::new();
        for label in labels {
            if state.canonical.get(label).is_some() {
                continue;
            }
            let mut issuer = Issuer::new("_:b");
            issuer.issue(label);
            paths.push(state.hash_n_degree(label, issuer, 0)?);
        }
        // Stable, like JavaScript's sort: equal hashes keep their order.
        paths.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, issuer) in paths {
            for old in &issuer.order {
                state.canonical.issue(old);
            }
        }
    }
    let mut lines: Vec<String> = quads
        .iter()
        .map(|q| {
            let relabel = |t: &Term| match t {
                Term::Blank(label) => Term::Blank(state.canonical.issue_copy(label)),
                other => other.clone(),
            };
            nquad(&relabel(&q.subject), &q.predicate, &relabel(&q.object))
        })
        .collect();
    lines.sort();
    Ok(lines.concat())
}

impl Issuer {
    /// The issued label; every blank node has one once canonicalization has run.
    fn issue_copy(&self, old: &str) -> String {
        self.get(old)
            .map_or_else(|| old.to_string(), str::to_string)
    }
}

impl<'a> State<'a> {
    fn hash_first_degree(&self, label: &str) -> String {
        let mut lines: Vec<String> = self.mentions[label]
            .iter()
            .map(|&i| {
                let q = &self.quads[i];
                let mask = |t: &Term| match t {
                    Term::Blank(l) if l == label => Term::Blank("_:a".into()),
                    Term::Blank(_) => Term::Blank("_:z".into()),
                    other => other.clone(),
                };
                nquad(&mask(&q.subject), &q.predicate, &mask(&q.object))
            })
            .collect();
        lines.sort();
        sha256_hex(&lines.concat())
    }

    fn hash_related(&self, related: &str, quad: &Quad, issuer: &Issuer, position: &str) -> String {
        let id = self
            .canonical
            .get(related)
            .or_else(|| issuer.get(related))
            .unwrap_or_else(|| self.first_degree[related].as_str());
        sha256_hex(&format!("{position}<{}>{id}", quad.predicate))
    }

    fn spend(&mut self) -> Result<(), LdError> {
        self.work += 1;
        if self.work > MAX_WORK {
            return Err(LdError::TooComplex(format!(
                "more than {MAX_WORK} N-degree hashing steps"
            )));
        }
        Ok(())
    }

    fn hash_n_degree(
        &mut self,
        label: &'a str,
        mut issuer: Issuer,
        depth: usize,
    ) -> Result<(String, Issuer), LdError> {
        self.spend()?;
        if depth > MAX_RECURSION {
            return Err(LdError::TooComplex(format!(
                "N-degree hashing deeper than {MAX_RECURSION} blank nodes"
            )));
        }
        let mut related: BTreeMap<String, Vec<&'a str>> = BTreeMap::new();
        for &i in &self.mentions[label] {
            let quad = &self.quads[i];
            for (term, position) in [(&quad.subject, "s"), (&quad.object, "o")] {
                if let Some(other) = blank(term).filter(|&b| b != label) {
                    let hash = self.hash_related(other, quad, &issuer, position);
                    related.entry(hash).or_default().push(other);
                }
            }
        }
        let mut data = String::new();
        for (hash, mut nodes) in related {
            data.push_str(&hash);
            let mut chosen: Option<(String, Issuer)> = None;
            nodes.sort_unstable();
            loop {
                self.spend()?;
                if let Some(candidate) =
                    self.try_permutation(&nodes, &issuer, chosen.as_ref(), depth)?
                {
                    chosen = Some(candidate);
                }
                if !next_permutation(&mut nodes) {
                    break;
                }
            }
            let (path, chosen_issuer) = chosen.expect("the first permutation is always chosen");
            data.push_str(&path);
            issuer = chosen_issuer;
        }
        Ok((sha256_hex(&data), issuer))
    }

    /// The path of one permutation, or `None` when it cannot beat the chosen one.
    fn try_permutation(
        &mut self,
        nodes: &[&'a str],
        issuer: &Issuer,
        chosen: Option<&(String, Issuer)>,
        depth: usize,
    ) -> Result<Option<(String, Issuer)>, LdError> {
        let beaten = |path: &str| chosen.is_some_and(|(best, _)| path > best.as_str());
        let mut copy = issuer.clone();
        let mut path = String::new();
        let mut recursion = Vec::new();
        for &node in nodes {
            if let Some(id) = self.canonical.get(node) {
                path.push_str(id);
            } else {
                if copy.get(node).is_none() {
                    recursion.push(node);
                }
                path.push_str(&copy.issue(node));
            }
            if beaten(&path) {
                return Ok(None);
            }
        }
        for node in recursion {
            let (hash, result_issuer) = self.hash_n_degree(node, copy.clone(), depth + 1)?;
            path.push_str(&copy.issue(node));
            path.push('<');
            path.push_str(&hash);
            path.push('>');
            copy = result_issuer;
            if beaten(&path) {
                return Ok(None);
            }
        }
        if chosen.is_some_and(|(best, _)| path.as_str() >= best.as_str()) {
            return Ok(None);
        }
        Ok(Some((path, copy)))
    }
}

/// Rearranges `items` into the next lexicographic permutation; `false` after the last one.
fn next_permutation<T: Ord>(items: &mut [T]) -> bool {
    let Some(i) = items.windows(2).rposition(|w| w[0] < w[1]) else {
        return false;
    };
    let j = items
        .iter()
        .rposition(|x| *x > items[i])
        .expect("an element after i is greater");
    items.swap(i, j);
    items[i + 1..].reverse();
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn triple(s: &str, o: &str) -> Quad {
        let term = |t: &str| {
            if t.starts_with("_:") {
                Term::Blank(t.into())
            } else {
                Term::Iri(t.into())
            }
        };
        Quad {
            subject: term(s),
            predicate: "http://example.org/p".into(),
            object: term(o),
        }
    }

    #[test]
    fn permutations_cover_every_order() {
        let mut items = [1, 2, 3];
        let mut seen = vec![items];
        while next_permutation(&mut items) {
            seen.push(items);
        }
        assert_eq!(seen.len(), 6);
        assert_eq!(seen.last(), Some(&[3, 2, 1]));
    }

    #[test]
    fn labels_do_not_matter() {
        let a = [
            triple("_:x", "_:y"),
            triple("_:y", "http://o"),
            triple("http://s", "_:x"),
        ];
        let b = [
            triple("_:q", "_:p"),
            triple("_:p", "http://o"),
            triple("http://s", "_:q"),
        ];
        assert_eq!(canonicalize(&a).unwrap(), canonicalize(&b).unwrap());
    }

    #[test]
    fn symmetric_cliques_hit_the_work_cap() {
        // A complete graph of blank nodes makes every permutation worth trying.
        let n = 9;
        let mut quads = Vec::new();
        for i in 0..n {
            for j in 0..n {
                if i != j {
                    quads.push(triple(&format!("_:n{i}"), &format!("_:n{j}")));
                }
            }
        }
        assert!(matches!(canonicalize(&quads), Err(LdError::TooComplex(_))));
    }

    #[test]
    fn long_look_alike_chains_are_refused_without_deep_recursion() {
        // Two equal chains of 5,000 blank nodes: every inner node has the same first-degree
        // hash, and N-degree hashing would recurse along the chain.
        let mut quads = Vec::new();
        for chain in ["a", "b"] {
            quads.push(triple("http://s", &format!("_:{chain}0")));
            for i in 0..5000 {
                quads.push(triple(
                    &format!("_:{chain}{i}"),
                    &format!("_:{chain}{}", i + 1),
                ));
            }
        }
        // Run on a small stack, like an async worker thread's.
        let result = std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(move || canonicalize(&quads))
            .unwrap()
            .join()
            .unwrap();
        assert!(matches!(result, Err(LdError::TooComplex(_))), "{result:?}");
    }
}
