#!/usr/bin/env bash
# Soak: two federating instances under a steady, moderate mix for a given time, with what they
# hold sampled and plotted.
#   benches/soak.sh DURATION_MINUTES [OUT_DIR]
# Builds nothing: runs $FLEUVE_BIN (default ${CARGO_TARGET_DIR:-target}/release/fleuve).
# Starts A and B on loopback (data dirs under OUT_DIR, logs beside them), makes them follow each
# other, then benches/soak/driver.py runs the mix (viewers fetching playlists and byte ranges
# over HTTP/1.1 and h2c, a resumable upload every SOAK_UPLOAD_SECS alternating A/B with the
# oldest of SOAK_KEEP_VIDEOS deleted, a rename every SOAK_UPDATE_SECS, tracker announces over
# HTTP, UDP and WebSocket) and samples every SOAK_SAMPLE_SECS (default 60): RSS, fds, threads,
# data-dir bytes, federation/transcode queue depths, driver requests and errors.
# Writes OUT_DIR/samples.csv, OUT_DIR/soak.png (gnuplot) and OUT_DIR/summary.md (printed too).
# Knobs (environment): SOAK_SAMPLE_SECS, SOAK_WARMUP_MIN (default 15 but at most a quarter of the
# run), SOAK_VIEW_RPS (30), SOAK_VIEWERS (3 connections per instance), SOAK_ANNOUNCE_RPS (6),
# SOAK_UPLOAD_SECS (300), SOAK_UPDATE_SECS (120), SOAK_KEEP_VIDEOS (6), SOAK_SEED (1),
# SOAK_KEEP_DATA=1 (keep the data dirs at the end).
# Exits non-zero if an instance died (or the driver failed); everything it started is stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${1:?usage: benches/soak.sh DURATION_MINUTES [OUT_DIR]}
OUT=${2:-/var/tmp/soak-$(date -u +%Y%m%d-%H%M%S)}
FLEUVE_BIN=${FLEUVE_BIN:-${CARGO_TARGET_DIR:-target}/release/fleuve}
[ -x "$FLEUVE_BIN" ] || { echo "soak: no binary at $FLEUVE_BIN (cargo build --release)" >&2; exit 2; }
for tool in ffmpeg curl gnuplot python3; do
  command -v "$tool" >/dev/null || { echo "soak: $tool is required (scripts/setup.sh installs it)" >&2; exit 2; }
done
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PASSWORD=soak-root-password
PIDS=()
DRIVER=
cleanup() {
  [ -n "$DRIVER" ] && kill "$DRIVER" 2>/dev/null || true
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 1 150); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$p" 2>/dev/null || true
  done
  if [ "${SOAK_KEEP_DATA:-0}" != 1 ]; then rm -rf "$OUT/a" "$OUT/b"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start() { # name -> pid in $PID
  local dir=$OUT/$1
  rm -rf "$dir"; mkdir -p "$dir"
  FLEUVE_ROOT_PASSWORD=$PASSWORD FLEUVE_LOG=${FLEUVE_LOG:-info} \
    FLEUVE_FEDERATION_ALLOW_PRIVATE_ADDRESSES=true \
    FLEUVE_TRACKER_UDP_LISTEN=127.0.0.1:0 \
    "$FLEUVE_BIN" serve --data-dir "$dir" --listen 127.0.0.1:0 </dev/null >/dev/null 2>"$OUT/$1.log" &
  PID=$!
  PIDS+=("$PID")
  for _ in $(seq 1 600); do
    [ -s "$dir/fleuve.addr" ] && return 0
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "soak: instance $1 did not start; log:" >&2; tail -50 "$OUT/$1.log" >&2; exit 1
}
start a; PID_A=$PID
start b; PID_B=$PID
echo "soak: A $(head -1 "$OUT/a/fleuve.addr") (pid $PID_A), B $(head -1 "$OUT/b/fleuve.addr") (pid $PID_B); output in $OUT"

# The clip every upload sends: 5 s of 640x360 testsrc2 with a tone.
ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=640x360:rate=25:duration=5 \
  -f lavfi -i sine=duration=5 -c:a aac -c:v libx264 -preset ultrafast -pix_fmt yuv420p "$OUT/clip.mp4"

rc=0
python3 benches/soak/driver.py run --out "$OUT" --minutes "$MINUTES" --password "$PASSWORD" \
  --clip "$OUT/clip.mp4" --a "$OUT/a:$PID_A" --b "$OUT/b:$PID_B" &
DRIVER=$!
wait "$DRIVER" || rc=$?
DRIVER=

for p in $PID_A $PID_B; do
  kill -0 "$p" 2>/dev/null || { echo "soak: instance pid $p died; see $OUT/a.log / b.log" >&2; [ "$rc" -ne 0 ] || rc=3; }
done

# Plot: RSS, fds, data dir, queue depths, driver rate and errors, tracker peers.
if [ -s "$OUT/samples.csv" ]; then
  gnuplot -e "csv='$OUT/samples.csv'; png='$OUT/soak.png'" benches/soak/plot.gp || echo "soak: gnuplot failed" >&2
  python3 benches/soak/driver.py summary --out "$OUT" ${SOAK_WARMUP_MIN:+--warmup-min "$SOAK_WARMUP_MIN"} | tee "$OUT/summary.md"
fi
[ "$rc" -eq 0 ] || echo "soak: FAILED (exit $rc)" >&2
exit "$rc"
