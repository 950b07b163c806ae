//! The bounded run the test suite makes: every seed of a target's corpus, then a fixed number of
//! deterministic mutations of each ([`super::mutate`]). Bounded by count, not time, so it costs
//! the same on every machine and a failure reproduces from the seed alone.

use super::mutate::{mutate, Rng};
use super::Target;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// What a bounded run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Seeds read from the corpus.
    pub seeds: usize,
    /// Inputs run (seeds and mutations).
    pub executions: usize,
}

/// An input that made a target panic.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The target.
    pub target: &'static str,
    /// Which seed and mutation produced it.
    pub origin: String,
    /// The panic message.
    pub message: String,
    /// Where the input was saved (to replay with `scripts/fuzz.sh`), if it could be.
    pub saved: Option<PathBuf>,
    /// The input.
    pub input: Vec<u8>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = &self.input[..self.input.len().min(512)];
        write!(
            f,
            "fuzz target {} panicked on {} ({} bytes): {}\ninput: \"{}\"{}",
            self.target,
            self.origin,
            self.input.len(),
            self.message,
            shown.escape_ascii(),
            if shown.len() < self.input.len() {
                "…"
            } else {
                ""
            }
        )?;
        if let Some(path) = &self.saved {
            write!(f, "\nsaved to {}", path.display())?;
        }
        Ok(())
    }
}

/// The seeds of `dir`, sorted by file name.
pub fn corpus(dir: &Path) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut seeds = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            let name = entry.file_name().to_string_lossy().into_owned();
            seeds.push((name, std::fs::read(entry.path())?));
        }
    }
    seeds.sort();
    Ok(seeds)
}

/// Runs `target` over `<corpus_root>/<target>/` and its mutations from `seed`.
pub fn run(target: &Target, corpus_root: &Path, seed: u64) -> Result<Summary, Finding> {
    let seeds = corpus(&corpus_root.join(target.name)).map_err(|e| Finding {
        target: target.name,
        origin: "the corpus".into(),
        message: format!(
            "cannot read {}: {e}",
            corpus_root.join(target.name).display()
        ),
        saved: None,
        input: Vec::new(),
    })?;
    let inputs: Vec<Vec<u8>> = seeds.iter().map(|(_, bytes)| bytes.clone()).collect();
    let mut executions = 0;
    for (name, bytes) in &seeds {
        execute(target, bytes, || format!("seed {name}"))?;
        executions += 1;
    }
    let mut rng = Rng::new(seed ^ fnv(target.name));
    for (name, bytes) in &seeds {
        for i in 0..target.bounded_mutations {
            let input = mutate(&mut rng, bytes, &inputs);
            execute(target, &input, || {
                format!("mutation {i} of seed {name} (run seed {seed})")
            })?;
            executions += 1;
        }
    }
    Ok(Summary {
        seeds: seeds.len(),
        executions,
    })
}

fn execute(target: &Target, input: &[u8], origin: impl Fn() -> String) -> Result<(), Finding> {
    let Err(panic) = catch_unwind(AssertUnwindSafe(|| (target.run)(input))) else {
        return Ok(());
    };
    let message = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(non-text panic)".into());
    let path = std::env::temp_dir().join(format!("fleuve-fuzz-{}-finding", target.name));
    let saved = std::fs::write(&path, input).ok().map(|()| path);
    Err(Finding {
        target: target.name,
        origin: origin(),
        message,
        saved,
        input: input.to_vec(),
    })
}

/// FNV-1a of a name, so each target gets its own mutation stream from one run seed.
fn fnv(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
