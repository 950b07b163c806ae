//! Records the git commit the binary is built from (`fleuve --version` names it); `unknown` when
//! the sources are not a git checkout. Rerun when the checked-out commit changes.

use std::path::Path;
use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=FLEUVE_GIT_COMMIT={commit}");
    // HEAD names a branch whose ref file (or packed-refs) moves at each commit.
    // (Only files that exist: a missing one would rerun this, and rebuild the crate, every time.)
    let git = Path::new(".git");
    let mut watched = vec!["HEAD".to_string(), "packed-refs".to_string()];
    if let Ok(head) = std::fs::read_to_string(git.join("HEAD")) {
        if let Some(r) = head.trim().strip_prefix("ref: ") {
            watched.push(r.to_string());
        }
    }
    for f in watched {
        if git.join(&f).exists() {
            println!("cargo:rerun-if-changed=.git/{f}");
        }
    }
    println!("cargo:rerun-if-env-changed=FLEUVE_GIT_COMMIT");
}
