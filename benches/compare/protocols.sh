#!/usr/bin/env bash
# Fleuve against itself: hot 2 MiB byte ranges over HTTP/1.1 (TLS), HTTP/2 (TLS) and HTTP/3
# (QUIC), server CPU per byte, in one run. Debian's nginx 1.22 has no HTTP/3, so there is no
# outside anchor here: this says what HTTP/3 costs against the TCP protocols on the same server.
#   benches/compare/protocols.sh [DURATION_SECONDS] [CONNECTIONS] [ROUNDS]
#
# One 32 MiB file (random bytes), hot. Self-signed ECDSA P-256 certificate (TLS 1.3 everywhere).
# Load: HTTP/1.1 with wrk (CONNECTIONS keep-alive connections, the 16 ranges in turn), HTTP/2 with
# h2load (CONNECTIONS connections x 8 streams, one range), HTTP/3 with benches/compare/loadgen.rs
# (quinn + h3, CONNECTIONS connections, one request at a time each, random ranges). The server is
# pinned to SERVER_CPUS (default core 0, one shard), the generator to CLIENT_CPUS (core 1).
# Prints req/s, MB/s, server CPU % and server CPU seconds per GB sent, then the medians.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${1:-15}
CONNS=${2:-16}
ROUNDS=${3:-3}
SERVER_CPUS=${SERVER_CPUS:-0}
CLIENT_CPUS=${CLIENT_CPUS:-1}
. scripts/setup.sh >/dev/null
cargo build --release --quiet --bin fleuve
FLEUVE_BIN=${FLEUVE_BIN:-${CARGO_TARGET_DIR:-target}/release/fleuve}
LOADGEN=$(cargo build --release --bench loadgen --message-format=json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "loadgen" and m.get("executable"):
        print(m["executable"])')
SERVER_CORES=$(taskset -c "$SERVER_CPUS" nproc)
WORK=$(mktemp -d /tmp/fleuve-proto.XXXXXX)
PORT=${FLEUVE_PORT:-19380}
cleanup() {
  [ -n "${FPID:-}" ] && kill "$FPID" 2>/dev/null && wait "$FPID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

UUID=0f5c4e9b-0000-4000-8000-0000000000b3
HLS="$WORK/data/media/streaming-playlists/hls/$UUID"
mkdir -p "$HLS"
head -c $((32 << 20)) /dev/urandom > "$HLS/hot-0.mp4"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -addext "basicConstraints=critical,CA:FALSE" -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
cat > "$WORK/ranges.lua" <<'LUA'
local i = 0
request = function()
  local start = (i % 16) * 2097152
  i = i + 1
  return wrk.format("GET", wrk.path, { ["Range"] = "bytes=" .. start .. "-" .. (start + 2097151) })
end
LUA

FLEUVE_ROOT_PASSWORD=bench-password FLEUVE_LOG=info FLEUVE_ENGINE_SHARDS=$SERVER_CORES \
FLEUVE_TLS_CERT=$WORK/cert.pem FLEUVE_TLS_KEY=$WORK/key.pem \
  taskset -c "$SERVER_CPUS" "$FLEUVE_BIN" serve --data-dir "$WORK/data" \
  --listen 127.0.0.1:$PORT 2>"$WORK/fleuve.log" &
FPID=$!
for _ in $(seq 1 300); do [ -f "$WORK/data/fleuve.addr" ] && break; sleep 0.1; done
[ -f "$WORK/data/fleuve.addr" ] || { cat "$WORK/fleuve.log"; exit 1; }
P="/static/streaming-playlists/hls/$UUID"
URL="https://127.0.0.1:$PORT$P/hot-0.mp4"
curl -skf -r 2097152-4194303 "$URL" | cmp - <(tail -c +2097153 "$HLS/hot-0.mp4" | head -c 2097152)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$FPID/stat"; }
load() { # proto -> "requests bytes"
  local out
  case $1 in
    h1)
      out=$(taskset -c "$CLIENT_CPUS" wrk -t1 -c"$CONNS" -d"${DURATION}s" -s "$WORK/ranges.lua" "$URL")
      echo "$out" | awk '/requests in/ {printf "%.0f %.0f\n", $1, $1 * 2097152}';;
    h2)
      out=$(taskset -c "$CLIENT_CPUS" h2load -D "$DURATION" -c "$CONNS" -m 8 -t 1 -H "range: bytes=2097152-4194303" "$URL" 2>&1)
      echo "$out" | awk '/^requests:/ {printf "%.0f %.0f\n", $8, $8 * 2097152}';;
    h3)
      out=$(taskset -c "$CLIENT_CPUS" "$LOADGEN" --proto h3 --ca "$WORK/cert.pem" --addr "127.0.0.1:$PORT" \
        --prefix "$P" --hot 1 --file-bytes $((32 << 20)) --range-bytes $((2 << 20)) --conns "$CONNS" --secs "$DURATION")
      echo "$out" | tr ' ' '\n' | awk -F= -v d="$DURATION" '$1 == "rps" {r = $2 * d} $1 == "mbps" {b = $2 * d * 1048576} END {printf "%.0f %.0f\n", r, b}';;
  esac
}

echo "# protocols: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(awk '/model name/ {$1=$2=$3=""; print; exit}' /proc/cpuinfo | sed 's/^ *//'), $(uname -r)"
echo "# fleuve $("$FLEUVE_BIN" --version | cut -d' ' -f2-), one shard on cores $SERVER_CPUS, load generator on $CLIENT_CPUS; ${DURATION}s per run, $CONNS connections; hot 2 MiB ranges"
printf "%-6s %9s %9s %7s %18s\n" proto "req/s" "MB/s" "CPU %" "CPU s per GB sent"
declare -A PER_GB
hz=$(getconf CLK_TCK)
for round in $(seq 1 "$ROUNDS"); do
  for proto in h1 h2 h3; do
    before=$(cpu_ticks)
    read -r reqs bytes < <(load "$proto")
    after=$(cpu_ticks)
    line=$(awk -v t=$((after - before)) -v r="$reqs" -v b="$bytes" -v d="$DURATION" -v hz="$hz" \
      'BEGIN {printf "%9.1f %9.1f %7.0f %18.3f", r / d, b / d / 1048576, t / hz / d * 100, (b > 0) ? t / hz / (b / 1e9) : 0}')
    printf "%-6s %s\n" "$proto" "$line"
    PER_GB[$proto]+="$(echo "$line" | awk '{print $4}') "
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
echo
echo "# medians of $ROUNDS rounds: server CPU seconds per GB sent"
h1=$(echo "${PER_GB[h1]}" | median)
for proto in h1 h2 h3; do
  m=$(echo "${PER_GB[$proto]}" | median)
  echo "$proto $m (x$(awk -v a="$m" -v b="$h1" 'BEGIN {printf "%.2f", a / b}') of HTTP/1.1)"
done
