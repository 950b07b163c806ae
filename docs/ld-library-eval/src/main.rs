//! Evaluates json-ld 0.21 + ssi-rdf 0.1 against the jsonld.js fixtures of src/federation/testdata
//! (see docs/benchmarks.md, "Libraries considered"). Usage: cargo run --release -- CLIQUE_SIZE
use json_ld::{JsonLdProcessor, RemoteDocument};
use rdf_types::{generator, LexicalQuad, Quad};
use std::collections::HashMap;
use std::time::Instant;

const TD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../src/federation/testdata");
const CX: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../src/federation/ld/contexts"
);

fn loader() -> HashMap<iref::IriBuf, RemoteDocument> {
    let mut m = HashMap::new();
    for (file, urls) in [
        (
            "activitystreams.json",
            [
                "https://www.w3.org/ns/activitystreams",
                "http://www.w3.org/ns/activitystreams",
            ],
        ),
        (
            "security-v1.json",
            [
                "https://w3id.org/security/v1",
                "http://w3id.org/security/v1",
            ],
        ),
    ] {
        let text = std::fs::read_to_string(format!("{CX}/{file}")).unwrap();
        for url in urls {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            let iri = iref::IriBuf::new(url.to_string()).unwrap();
            m.insert(
                iri.clone(),
                RemoteDocument::new(Some(iri), None, json_syntax::Value::from_serde_json(v)),
            );
        }
    }
    m
}

fn nquads(
    doc: &serde_json::Value,
    l: &HashMap<iref::IriBuf, RemoteDocument>,
) -> Result<String, String> {
    let input = RemoteDocument::new(None, None, json_syntax::Value::from_serde_json(doc.clone()));
    let mut blank_gen = generator::Blank::new();
    let mut rdf = futures::executor::block_on(input.to_rdf(&mut blank_gen, l))
        .map_err(|e| format!("{e:?}"))?;
    let quads: Vec<LexicalQuad> = rdf
        .cloned_quads()
        .map(|Quad(s, p, o, g)| Quad(s, p.into_iri().unwrap(), o, g))
        .collect();
    Ok(ssi_rdf::urdna2015::normalize(quads.iter().map(|q| q.as_lexical_quad_ref())).into_nquads())
}

fn time(label: &str, n: u32, mut f: impl FnMut()) {
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    println!("{label}: {:?}/iter", t.elapsed() / n);
}

fn main() {
    let l = loader();
    let read = |p: &str| std::fs::read_to_string(format!("{TD}/{p}")).unwrap();
    let json = |p: &str| -> serde_json::Value { serde_json::from_str(&read(p)).unwrap() };
    let strip = |mut v: serde_json::Value| {
        v.as_object_mut().unwrap().remove("signature");
        v
    };
    let cases: Vec<(&str, serde_json::Value, String)> = vec![
        (
            "mastodon-create",
            strip(json("mastodon/bad-body-http-signature.json")["body"].clone()),
            read("generated/mastodon-create.nquads"),
        ),
        (
            "peertube-video",
            strip(json("generated/peertube-create-video-signed.json")),
            read("generated/peertube-create-video.nquads"),
        ),
        (
            "ordered-collection-page",
            json("generated/ordered-collection-page.json"),
            read("generated/ordered-collection-page.nquads"),
        ),
        (
            "blank-node-cycles",
            json("generated/blank-node-cycles.json"),
            read("generated/blank-node-cycles.nquads"),
        ),
        (
            "jsonld-features",
            json("generated/jsonld-features.json"),
            read("generated/jsonld-features.nquads"),
        ),
        (
            "signature-options",
            serde_json::json!({
            "@context": ["https://w3id.org/security/v1", { "RsaSignature2017": "https://w3id.org/security#RsaSignature2017" }],
            "creator": "http://localhost:3000/users/ronan2#main-key",
            "created": "2018-10-22T13:34:19Z"}),
            read("generated/signature-options.nquads"),
        ),
    ];
    for (name, doc, expected) in &cases {
        match nquads(doc, &l) {
            Ok(ours) if &ours == expected => println!("{name}: SAME as jsonld.js"),
            Ok(ours) => {
                println!("{name}: DIFFERS");
                for line in ours.lines().filter(|x| !expected.lines().any(|e| e == *x)) {
                    println!("  extra   {line}");
                }
                for line in expected.lines().filter(|x| !ours.lines().any(|e| e == *x)) {
                    println!("  missing {line}");
                }
            }
            Err(e) => println!("{name}: ERROR {e}"),
        }
    }
    for (name, doc, _) in &cases[..2] {
        time(
            &format!("json-ld+ssi-rdf canonical_nquads {name}"),
            200,
            || {
                let _ = nquads(doc, &l);
            },
        );
    }
    // Adversarial: the unit tests' 9-clique of blank nodes, via JSON-LD.
    let mut graph = Vec::new();
    let n: usize = std::env::args().nth(1).map_or(6, |a| a.parse().unwrap());
    for i in 0..n {
        let links: Vec<_> = (0..n)
            .filter(|j| *j != i)
            .map(|j| serde_json::json!({"@id": format!("_:n{j}")}))
            .collect();
        graph.push(serde_json::json!({"@id": format!("_:n{i}"), "http://ex/p": links}));
    }
    let doc = serde_json::json!({"@context": {}, "@graph": graph});
    let t = Instant::now();
    let r = nquads(&doc, &l);
    println!(
        "clique of {n} blank nodes: {:?} in {:?}",
        r.map(|s| s.len()),
        t.elapsed()
    );
}
