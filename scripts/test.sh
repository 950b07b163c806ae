#!/usr/bin/env bash
# Quick start: installs what is missing and runs the whole test suite (formatting, lints, unit
# and integration tests). CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== module graph (no import cycle between feature modules)"
bash scripts/module-graph.sh
echo "== cargo clippy"
cargo clippy --release --workspace --all-targets --quiet -- -D warnings
echo "== cargo test"
# One optimised profile for tests, benches and the server: RocksDB's C++ is built once.
cargo test --release --workspace --no-fail-fast 2>&1
