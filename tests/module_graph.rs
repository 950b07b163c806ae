//! The feature modules of `src/` import each other without a cycle (api, federation, web,
//! transcode, media, engine, uploads, tracker, …): `scripts/module-graph.sh` prints the graph
//! and fails on a cycle.

use std::process::Command;

#[test]
fn feature_modules_have_no_import_cycle() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/module-graph.sh");
    let out = Command::new("bash")
        .arg(script)
        .output()
        .expect("run scripts/module-graph.sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "import cycle:\n{text}");
    assert!(text.contains("cycles: none"), "{text}");
    // The graph is read, not empty: the edges the layering relies on are seen.
    assert!(text.contains("engine      -> api"), "{text}");
    // The video domain is plain data below the store: the store uses it, never the reverse.
    let uses = |m: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(&format!("{m} ")))
            .unwrap_or_default()
            .to_string()
    };
    assert!(uses("store").contains("video"), "{text}");
    assert!(!uses("video").contains("store"), "{text}");
}
