#!/usr/bin/env bash
# Segment serving, Fleuve vs nginx, on the same files under the same paths, in one run.
#   benches/compare/serve-vs-nginx.sh [DURATION_SECONDS] [CONNECTIONS] [ROUNDS]
# nginx: sendfile on, one worker per core, access log off. Fleuve: one shard per core.
# wrk (2 threads, 32 connections by default) runs against each in turn:
#   1. hot 2 MiB byte ranges of a 32 MiB fMP4 rendition (wrk Lua script walks the 16 ranges)
#   2. a 1 KiB playlist
# Rounds alternate nginx and Fleuve (this machine is noisy); prints every run, then the median
# req/s and p99 of each server and the ratio Fleuve/nginx.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${1:-10}
CONNS=${2:-32}
ROUNDS=${3:-3}
. scripts/setup.sh >/dev/null
cargo build --release --quiet --bin fleuve
CORES=$(nproc)
WORK=$(mktemp -d /tmp/fleuve-bench.XXXXXX)
FLEUVE_PORT=${FLEUVE_PORT:-19080}
NGINX_PORT=${NGINX_PORT:-19081}
cleanup() {
  [ -n "${FPID:-}" ] && kill "$FPID" 2>/dev/null && wait "$FPID" 2>/dev/null || true
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

UUID=0f5c4e9b-0000-4000-8000-00000000be0c
HLS="$WORK/data/media/streaming-playlists/hls/$UUID"
mkdir -p "$HLS"
chmod 755 "$WORK"  # nginx workers run as www-data
head -c $((32 * 1024 * 1024)) /dev/urandom > "$HLS/bench-720-fragmented.mp4"
python3 - "$HLS/bench-720.m3u8" <<'PY'
import sys
lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-TARGETDURATION:4", "#EXT-X-MEDIA-SEQUENCE:0",
         "#EXT-X-PLAYLIST-TYPE:VOD", '#EXT-X-MAP:URI="bench-720-fragmented.mp4",BYTERANGE="1400@0"']
off = 1400
while sum(len(l) + 1 for l in lines) < 1000:
    lines += ["#EXTINF:4.000000,", f"#EXT-X-BYTERANGE:2097152@{off}", "bench-720-fragmented.mp4"]
    off += 2097152
lines.append("#EXT-X-ENDLIST")
text = "\n".join(lines) + "\n"
open(sys.argv[1], "w").write(text[:1024].ljust(1024, "\n"))
PY

cat > "$WORK/ranges.lua" <<'LUA'
local i = 0
request = function()
  local start = (i % 16) * 2097152
  i = i + 1
  return wrk.format("GET", wrk.path, { ["Range"] = "bytes=" .. start .. "-" .. (start + 2097151) })
end
LUA

cat > "$WORK/nginx.conf" <<NGX
worker_processes $CORES;
worker_cpu_affinity auto;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 1000000;
  keepalive_timeout 65;
  types { video/mp4 mp4; application/vnd.apple.mpegurl m3u8; }
  client_body_temp_path $WORK/nginx-tmp;
  proxy_temp_path $WORK/nginx-tmp;
  fastcgi_temp_path $WORK/nginx-tmp;
  uwsgi_temp_path $WORK/nginx-tmp;
  scgi_temp_path $WORK/nginx-tmp;
  server {
    listen 127.0.0.1:$NGINX_PORT reuseport;
    location /static/streaming-playlists/hls/ {
      alias $WORK/data/media/streaming-playlists/hls/;
      add_header Access-Control-Allow-Origin *;
      add_header Cache-Control "public, max-age=31536000, immutable";
    }
  }
}
NGX
mkdir -p "$WORK/nginx-tmp"
chmod -R a+rX "$WORK/data"
nginx -c "$WORK/nginx.conf"

FLEUVE_ROOT_PASSWORD=bench-password FLEUVE_LOG=info "$FLEUVE_BIN" serve --data-dir "$WORK/data" \
  --listen 127.0.0.1:$FLEUVE_PORT 2>"$WORK/fleuve.log" &
FPID=$!
for _ in $(seq 1 300); do [ -f "$WORK/data/fleuve.addr" ] && break; sleep 0.1; done
[ -f "$WORK/data/fleuve.addr" ] || { cat "$WORK/fleuve.log"; exit 1; }

# Both must serve identical bytes before we time them.
P="/static/streaming-playlists/hls/$UUID"
for port in $FLEUVE_PORT $NGINX_PORT; do
  curl -sf -r 2097152-4194303 "http://127.0.0.1:$port$P/bench-720-fragmented.mp4" | cmp - <(tail -c +2097153 "$HLS/bench-720-fragmented.mp4" | head -c 2097152)
  curl -sf "http://127.0.0.1:$port$P/bench-720.m3u8" | cmp - "$HLS/bench-720.m3u8"
done

to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us/,"",v); print v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v); print v} else if (v ~ /s$/) {sub(/s/,"",v); print v*1000} else print v}'; }
to_mb() { awk '{v=$1; if (v ~ /GB$/) {sub(/GB/,"",v); print v*1024} else if (v ~ /MB$/) {sub(/MB/,"",v); print v} else if (v ~ /KB$/) {sub(/KB/,"",v); print v/1024} else {sub(/B/,"",v); print v/1048576}}'; }

cpu_ticks() { # utime+stime of the server's processes (fleuve: one process; nginx: its workers)
  local pids
  if [ "$1" = fleuve ]; then pids=$FPID; else pids=$(pgrep -P "$(cat "$WORK/nginx.pid")" | tr '\n' ' '); fi
  for p in $pids; do awk '{print $14 + $15}' "/proc/$p/stat"; done | awk '{s += $1} END {print s}'
}

run_wrk() { # name port path [script]
  local out before after srv=${1#*/}
  before=$(cpu_ticks "$srv")
  if [ -n "${4:-}" ]; then
    out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -s "$4" "http://127.0.0.1:$2$3")
  else
    out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency "http://127.0.0.1:$2$3")
  fi
  after=$(cpu_ticks "$srv")
  local rps mbs p50 p99 errs cpu_us
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  mbs=$(echo "$out" | awk '/Transfer\/sec/ {print $2}' | to_mb)
  p50=$(echo "$out" | awk '$1=="50%" {print $2}' | to_ms)
  p99=$(echo "$out" | awk '$1=="99%" {print $2}' | to_ms)
  errs=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
  # Server CPU per request, in microseconds (clock ticks are 10 ms).
  cpu_us=$(awk -v t=$((after - before)) -v r="$rps" -v d="$DURATION" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.1f", t / hz * 1e6 / (r * d)}')
  echo "$1 $rps $mbs $p50 $p99 $cpu_us ${errs:-}"
}

echo "# serve-vs-nginx: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(awk '/model name/ {$1=$2=$3=""; print; exit}' /proc/cpuinfo | sed 's/^ *//'), ${DURATION}s per run, $CONNS connections, wrk -t2"
echo "# fleuve $("$FLEUVE_BIN" --version | awk '{print $2}') (io: $(grep -o 'io="[a-z_]*"' "$WORK/fleuve.log" | head -1 | tr -d '"' | cut -d= -f2)), $(nginx -v 2>&1 | sed 's/.*: //')"
printf "%-22s %10s %10s %9s %9s %14s\n" "workload/server" "req/s" "MB/s" "p50 ms" "p99 ms" "server CPU us/req"
declare -A RPS P99 CPU
for round in $(seq 1 "$ROUNDS"); do
  for w in range playlist; do
    for srv in nginx fleuve; do
      port=$NGINX_PORT; [ $srv = fleuve ] && port=$FLEUVE_PORT
      if [ $w = range ]; then
        line=$(run_wrk "$w/$srv" $port "$P/bench-720-fragmented.mp4" "$WORK/ranges.lua")
      else
        line=$(run_wrk "$w/$srv" $port "$P/bench-720.m3u8")
      fi
      read -r name rps mbs p50 p99 cpu rest <<<"$line"
      RPS[$w/$srv]="${RPS[$w/$srv]:-} $rps"; P99[$w/$srv]="${P99[$w/$srv]:-} $p99"; CPU[$w/$srv]="${CPU[$w/$srv]:-} $cpu"
      printf "%-22s %10s %10.1f %9s %9s %14s %s\n" "$name#$round" "$rps" "$mbs" "$p50" "$p99" "$cpu" "$rest"
    done
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
echo
printf "%-10s %12s %12s %7s %11s %11s %7s %13s %13s\n" workload "nginx req/s" "fleuve req/s" ratio "nginx p99" "fleuve p99" ratio "nginx CPU/req" "fleuve CPU/req"
for w in range playlist; do
  nr=$(echo "${RPS[$w/nginx]}" | median); fr=$(echo "${RPS[$w/fleuve]}" | median)
  np=$(echo "${P99[$w/nginx]}" | median); fp=$(echo "${P99[$w/fleuve]}" | median)
  nc=$(echo "${CPU[$w/nginx]}" | median); fc=$(echo "${CPU[$w/fleuve]}" | median)
  awk -v w=$w -v nr="$nr" -v fr="$fr" -v np="$np" -v fp="$fp" -v nc="$nc" -v fc="$fc" \
    'BEGIN {printf "%-10s %12.0f %12.0f %6.2fx %9.2fms %9.2fms %6.2fx %11.1fus %12.1fus\n", w, nr, fr, fr/nr, np, fp, fp/np, nc, fc}'
done
