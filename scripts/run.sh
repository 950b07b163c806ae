#!/usr/bin/env bash
# Quick start: installs what is missing, builds, runs `fleuve serve` on the embedded defaults
# (data in ./data, http://127.0.0.1:9000), and on the first run ingests a generated 20 s demo
# clip with `fleuve ingest --wait` and prints where to watch it. Ctrl-C stops the server cleanly.
# Arguments go to `fleuve serve` (e.g. --data-dir DIR, --listen HOST:PORT).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
cargo build --release --quiet --bin fleuve

# The data directory the server will use (the same arguments decide it); ./data by default.
data=$("$FLEUVE_BIN" config --print "$@" 2>/dev/null | sed -n 's/^data_dir = "\(.*\)"$/\1/p') || true
data=${data:-./data}
mkdir -p "$data"
addr_file="$data/fleuve.addr"
demo="$data/demo.mp4"
marker="$data/demo-ingested"

if [ ! -s "$demo" ]; then
  echo "Generating the demo clip $demo (20 s, 720p, ffmpeg testsrc2 + 440 Hz tone)..."
  if ffmpeg -hide_banner -loglevel error -y \
    -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine=frequency=440:sample_rate=48000 \
    -t 20 -c:v libx264 -preset veryfast -pix_fmt yuv420p -c:a aac -shortest "$demo.tmp.mp4"; then
    mv "$demo.tmp.mp4" "$demo"
  else
    rm -f "$demo.tmp.mp4"
    echo "run.sh: ffmpeg could not generate $demo; serving without the demo" >&2
  fi
fi

# A fleuve.addr left by a server that died without cleaning up would be taken for ours; it is
# stale when nobody holds the data dir's lock.
if [ -e "$addr_file" ] && flock -n "$data/fleuve.lock" true 2>/dev/null; then
  rm -f "$addr_file"
fi

echo "Fleuve is starting (data in $data)..."
"$FLEUVE_BIN" serve "$@" &
server=$!
# Background jobs of a script ignore the terminal's SIGINT: hand Ctrl-C and TERM to the server.
stopping=
trap 'stopping=1; kill -INT "$server" 2>/dev/null || true' INT
trap 'stopping=1; kill -TERM "$server" 2>/dev/null || true' TERM

# Waits for the server to exit (again after each forwarded signal) and returns its status.
wait_server() {
  local status=0
  while :; do
    wait "$server" && status=0 || status=$?
    kill -0 "$server" 2>/dev/null || return "$status"
  done
}

deadline=$((SECONDS + 120))
while [ ! -s "$addr_file" ]; do
  if ! kill -0 "$server" 2>/dev/null; then
    wait_server && exit 0 || exit $?
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "run.sh: the server did not write $addr_file within 120 s; not ingesting the demo" >&2
    break
  fi
  sleep 0.2
done

if [ -s "$addr_file" ]; then
  url=$(sed -n 2p "$addr_file")
  url=${url:-http://$(sed -n 1p "$addr_file")}
  echo
  echo "Fleuve is serving at $url (data in $data)."
  echo "Log in as 'root' with the password in $data/root-password (or set FLEUVE_ROOT_PASSWORD)."
  echo "Status: curl $url/api/v1/config   Metrics: $url/metrics"
  echo
fi

if [ -s "$addr_file" ] && [ -s "$demo" ] && [ ! -e "$marker" ] && [ -z "$stopping" ]; then
  echo "Ingesting the demo clip (upload, then transcoding)..."
  if out=$("$FLEUVE_BIN" ingest "$demo" --data-dir "$data" --title "Fleuve demo" --wait); then
    printf '%s\n' "$out" > "$marker"
    watch=$(printf '%s\n' "$out" | sed -n 's/^ *watch *//p')
    echo
    printf '%s\n' "$out"
    echo
    hls=$(printf '%s\n' "$out" | sed -n 's/^ *hls *//p')
    echo "Watch the demo at ${watch:-the URL above} (this is recorded in $marker)."
    [ -n "$hls" ] && echo "Or play its HLS master playlist in mpv/VLC/ffplay: $hls"
  elif [ -z "$stopping" ]; then
    echo "run.sh: ingesting the demo failed (see above); the server keeps running." >&2
  fi
elif [ -e "$marker" ]; then
  echo "The demo was ingested earlier: $(sed -n 's/^ *watch *//p' "$marker")"
fi

wait_server && exit 0 || exit $?
