//! Chromium driven by playwright-core (`tests/clients/browser.mjs`) for the browser tests: one
//! scenario per run, its JSON result checked, screenshots in `target/test-artifacts/`.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Where the screenshots go (git-ignored).
pub fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&dir).expect("artifacts folder");
    dir
}

pub fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// Chromium and playwright-core are installed by `scripts/setup.sh`; without them the browser
/// tests cannot say anything, so they fail with the way out.
pub fn require_browser() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: run scripts/setup.sh (apt-get install chromium)"
    );
    assert!(
        clients_dir().join("node_modules/playwright-core").is_dir(),
        "tests/clients/node_modules lacks playwright-core: run scripts/setup.sh"
    );
    assert!(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("web/dist/hls.min.js")
            .is_file(),
        "web/dist lacks the player's npm files: run scripts/setup.sh"
    );
}

/// Runs one browser scenario and returns its JSON result (the process has its own deadline;
/// this one is a backstop that kills it).
pub fn scenario(name: &str, opts: Value) -> Value {
    let out_file = tempfile::NamedTempFile::new().expect("temp file");
    let err_file = tempfile::NamedTempFile::new().expect("temp file");
    let mut child = Command::new("node")
        .arg("browser.mjs")
        .arg(name)
        .arg(opts.to_string())
        .current_dir(clients_dir())
        .stdin(Stdio::null())
        .stdout(out_file.reopen().expect("stdout file"))
        .stderr(err_file.reopen().expect("stderr file"))
        .spawn()
        .expect("node is required (scripts/setup.sh installs it)");
    let deadline = Instant::now() + Duration::from_secs(240);
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for node") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("browser scenario {name} did not stop within 240 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = std::fs::read_to_string(out_file.path()).unwrap_or_default();
    let stderr = std::fs::read_to_string(err_file.path()).unwrap_or_default();
    let line = stdout.lines().rev().find(|l| l.starts_with('{'));
    let result: Value = line
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| {
            panic!("scenario {name} printed no result ({status}); stdout:\n{stdout}\nstderr:\n{stderr}")
        });
    assert_eq!(
        result["ok"],
        true,
        "scenario {name} failed: {}\nstderr:\n{stderr}",
        serde_json::to_string_pretty(&result).unwrap_or_default()
    );
    // The pages' Content-Security-Policy must not be blocking anything they use.
    let blocked: Vec<&Value> = result["log"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter(|m| {
                    m.as_str()
                        .is_some_and(|m| m.contains("Content Security Policy"))
                })
                .collect()
        })
        .unwrap_or_default();
    assert!(
        blocked.is_empty(),
        "scenario {name}: CSP violations {blocked:?}"
    );
    result
}
