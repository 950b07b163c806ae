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
}
