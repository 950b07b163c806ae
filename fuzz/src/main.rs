//! libFuzzer entry point for every target of `fleuve::fuzz`; the target is chosen by the
//! `FLEUVE_FUZZ_TARGET` environment variable (`scripts/fuzz.sh` sets it).

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn target() -> &'static fleuve::fuzz::Target {
    static TARGET: OnceLock<&'static fleuve::fuzz::Target> = OnceLock::new();
    TARGET.get_or_init(|| {
        let name = std::env::var("FLEUVE_FUZZ_TARGET").unwrap_or_default();
        fleuve::fuzz::target(&name).unwrap_or_else(|| {
            let names: Vec<&str> = fleuve::fuzz::TARGETS.iter().map(|t| t.name).collect();
            eprintln!(
                "set FLEUVE_FUZZ_TARGET to one of: {} (got {name:?})",
                names.join(", ")
            );
            std::process::exit(2)
        })
    })
}

fuzz_target!(|data: &[u8]| {
    (target().run)(data);
});
