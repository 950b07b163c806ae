#!/usr/bin/env bash
# Quick start: installs what is missing, builds, and runs `fleuve serve` on the embedded
# defaults (data in ./data, http://127.0.0.1:9000). Ctrl-C stops it cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
cargo build --release --quiet --bin fleuve
echo
echo "Fleuve is starting on http://127.0.0.1:9000 (data in ./data)."
echo "Log in as 'root' with the password in ./data/root-password (or set FLEUVE_ROOT_PASSWORD)."
echo "Status: curl http://127.0.0.1:9000/api/v1/config   Metrics: http://127.0.0.1:9000/metrics"
echo
exec "$FLEUVE_BIN" serve "$@"
