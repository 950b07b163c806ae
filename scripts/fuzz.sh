#!/usr/bin/env bash
# Long, coverage-guided fuzzing of Fleuve's parsers with libFuzzer, on stable Rust.
#
#   scripts/fuzz.sh [TARGET|all] [SECONDS]     fuzz each target for SECONDS (default: all, 300)
#   scripts/fuzz.sh --replay TARGET FILE...    run inputs once (a crash, a finding of the tests)
#   scripts/fuzz.sh --list                     the targets
#
# Builds `fuzz/` (one libFuzzer binary for every target of `src/fuzz/`) with sanitizer-coverage,
# debug assertions and overflow checks, into $FLEUVE_FUZZ_TARGET_DIR (default
# /var/cache/fleuve/target-fuzzer; the first build compiles RocksDB's C++, unless ROCKSDB_LIB_DIR
# names a directory with a built librocksdb.a and ROCKSDB_STATIC=1 is set). Each target starts
# from the repository's seeds (fuzz/corpus/<target>/, never written to) and grows its own corpus
# under $FLEUVE_FUZZ_WORK (default /tmp/fleuve-fuzz/<target>/); crashes, timeouts and
# out-of-memory inputs land in .../artifacts/. Prints one line per target: executions, corpus,
# findings. Exit status 1 when any target found something.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET_DIR=${FLEUVE_FUZZ_TARGET_DIR:-/var/cache/fleuve/target-fuzzer}
WORK=${FLEUVE_FUZZ_WORK:-/tmp/fleuve-fuzz}
TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
BIN=$TARGET_DIR/$TRIPLE/release/fleuve-fuzz
TARGETS=$(sed -n 's/^ *name: "\([a-z_0-9]*\)",$/\1/p' src/fuzz/mod.rs)

if [ "${1:-}" = "--list" ]; then
  echo "$TARGETS"
  exit 0
fi

build() {
  echo "== building the libFuzzer binary ($BIN)" >&2
  # --target keeps build scripts and proc macros uninstrumented; the flags are cargo-fuzz's
  # (minus the address sanitizer, which needs nightly).
  RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cllvm-args=-sanitizer-coverage-stack-depth \
-Cdebug-assertions -Coverflow-checks" \
    CARGO_TARGET_DIR=$TARGET_DIR \
    cargo build --release --quiet --manifest-path fuzz/Cargo.toml --target "$TRIPLE"
}

# Per-target limits: the media probe runs libav on each input.
options() {
  case $1 in
    media_probe) echo "-max_len=131072 -timeout=20 -rss_limit_mb=2048 -malloc_limit_mb=1024" ;;
    activitypub_inbox | remote_video) echo "-max_len=65536 -timeout=10 -rss_limit_mb=2048" ;;
    *) echo "-max_len=16384 -timeout=5 -rss_limit_mb=2048" ;;
  esac
}

if [ "${1:-}" = "--replay" ]; then
  target=${2:?usage: scripts/fuzz.sh --replay TARGET FILE...}
  shift 2
  build
  # shellcheck disable=SC2046
  FLEUVE_FUZZ_TARGET=$target "$BIN" $(options "$target") -runs=1 "$@"
  exit
fi

which=${1:-all}
seconds=${2:-300}
if [ "$which" = all ]; then selected=$TARGETS; else selected=$which; fi
for t in $selected; do
  echo "$TARGETS" | grep -qx "$t" || { echo "unknown target $t (scripts/fuzz.sh --list)" >&2; exit 2; }
done
build

status=0
summary=()
for t in $selected; do
  dir=$WORK/$t
  mkdir -p "$dir/corpus" "$dir/artifacts"
  log=$dir/fuzz-$(date +%Y%m%d-%H%M%S).log
  echo "== $t for ${seconds}s (log: $log)" >&2
  before=$(find "$dir/artifacts" -type f | wc -l)
  # The first corpus directory receives new inputs; the repository's seeds are only read.
  # shellcheck disable=SC2046
  FLEUVE_FUZZ_TARGET=$t "$BIN" $(options "$t") -max_total_time="$seconds" \
    -print_final_stats=1 -artifact_prefix="$dir/artifacts/" \
    "$dir/corpus" "fuzz/corpus/$t" >"$log" 2>&1 || true
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  units=$(find "$dir/corpus" -type f | wc -l)
  found=$(( $(find "$dir/artifacts" -type f | wc -l) - before ))
  line=$(printf '%-18s %10s execs %7s/s  corpus %5s  findings %s' "$t" "${execs:-?}" "${rate:-?}" "$units" "$found")
  if [ "$found" -gt 0 ]; then
    status=1
    line="$line  ($(grep -m1 -E 'panicked at|ERROR: libFuzzer' "$log" | cut -c1-160))"
  fi
  echo "$line" >&2
  summary+=("$line")
done
echo "== summary (${seconds}s per target; artifacts under $WORK/<target>/artifacts)"
printf '%s\n' "${summary[@]}"
exit $status
