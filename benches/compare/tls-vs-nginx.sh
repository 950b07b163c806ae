#!/usr/bin/env bash
# Hot 2 MiB byte ranges over TLS, Fleuve (rustls) vs nginx (OpenSSL), HTTP/1.1 keep-alive and
# HTTP/2, in one run: server CPU per request.
#   benches/compare/tls-vs-nginx.sh [DURATION_SECONDS] [CONNECTIONS] [ROUNDS]
#
# Files: one 32 MiB fMP4-sized file (random bytes), hot in the page cache. Certificate: a
# self-signed ECDSA P-256 one made here with openssl; both servers negotiate TLS 1.3 with the
# same client, so the same cipher (the run prints it). nginx: its best settings for this work
# (TLS 1.2/1.3, session cache and tickets, ssl_buffer_size 16k — full records — sendfile on, one
# worker per server core, access log off); Debian's nginx 1.22 has no kernel TLS here (this
# kernel has no `tls` ULP either). Fleuve: its defaults, one shard per server core.
#
# Load: HTTP/1.1 with wrk (CONNECTIONS keep-alive connections, a Lua script walking the 16
# ranges of the file); HTTP/2 with h2load (nghttp2-client; CONNECTIONS connections × 8 streams,
# one range). The server is pinned with taskset to SERVER_CPUS (default core 0), the load
# generator to CLIENT_CPUS (default core 1), so the generator's CPU is not counted and cannot take
# the server's. Server CPU per request = CPU time of the server's processes (utime + stime, all
# threads) over the run / requests completed. Rounds alternate the servers; medians and the ratio
# Fleuve/nginx are printed (target: <= 0.9).
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
SERVER_CORES=$(taskset -c "$SERVER_CPUS" nproc)
WORK=$(mktemp -d /tmp/fleuve-tls.XXXXXX)
FLEUVE_PORT=${FLEUVE_PORT:-19280}
NGINX_PORT=${NGINX_PORT:-19281}
cleanup() {
  [ -n "${FPID:-}" ] && kill "$FPID" 2>/dev/null && wait "$FPID" 2>/dev/null || true
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

UUID=0f5c4e9b-0000-4000-8000-00000000715c
HLS="$WORK/data/media/streaming-playlists/hls/$UUID"
mkdir -p "$HLS" "$WORK/nginx-tmp"
chmod 755 "$WORK"
head -c $((32 << 20)) /dev/urandom > "$HLS/bench-fragmented.mp4"
chmod -R a+rX "$WORK/data"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=localhost -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
chmod 644 "$WORK/key.pem"

cat > "$WORK/ranges.lua" <<'LUA'
local i = 0
request = function()
  local start = (i % 16) * 2097152
  i = i + 1
  return wrk.format("GET", wrk.path, { ["Range"] = "bytes=" .. start .. "-" .. (start + 2097151) })
end
LUA

cat > "$WORK/nginx.conf" <<NGX
worker_processes $SERVER_CORES;
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
  ssl_protocols TLSv1.2 TLSv1.3;
  ssl_session_cache shared:SSL:10m;
  ssl_session_tickets on;
  ssl_buffer_size 16k;
  types { video/mp4 mp4; }
  client_body_temp_path $WORK/nginx-tmp;
  proxy_temp_path $WORK/nginx-tmp;
  fastcgi_temp_path $WORK/nginx-tmp;
  uwsgi_temp_path $WORK/nginx-tmp;
  scgi_temp_path $WORK/nginx-tmp;
  server {
    listen 127.0.0.1:$NGINX_PORT ssl http2 reuseport;
    ssl_certificate $WORK/cert.pem;
    ssl_certificate_key $WORK/key.pem;
    location /static/streaming-playlists/hls/ {
      alias $WORK/data/media/streaming-playlists/hls/;
      add_header Access-Control-Allow-Origin *;
      add_header Cache-Control "public, max-age=31536000, immutable";
    }
  }
}
NGX

P="/static/streaming-playlists/hls/$UUID/bench-fragmented.mp4"
start_server() {
  case $1 in
    fleuve)
      FLEUVE_ROOT_PASSWORD=bench-password FLEUVE_LOG=info FLEUVE_ENGINE_SHARDS=$SERVER_CORES \
      FLEUVE_TLS_CERT=$WORK/cert.pem FLEUVE_TLS_KEY=$WORK/key.pem \
        taskset -c "$SERVER_CPUS" "$FLEUVE_BIN" serve --data-dir "$WORK/data" \
        --listen 127.0.0.1:$FLEUVE_PORT 2>>"$WORK/fleuve.log" &
      FPID=$!
      for _ in $(seq 1 300); do [ -f "$WORK/data/fleuve.addr" ] && break; sleep 0.1; done
      [ -f "$WORK/data/fleuve.addr" ] || { cat "$WORK/fleuve.log"; exit 1; }
      PORT=$FLEUVE_PORT;;
    nginx)
      taskset -c "$SERVER_CPUS" nginx -c "$WORK/nginx.conf"
      for _ in $(seq 1 50); do [ -f "$WORK/nginx.pid" ] && break; sleep 0.1; done
      PORT=$NGINX_PORT;;
  esac
  for http in --http1.1 --http2; do
    curl -skf $http -r 2097152-4194303 "https://127.0.0.1:$PORT$P" \
      | cmp - <(tail -c +2097153 "$HLS/bench-fragmented.mp4" | head -c 2097152)
  done
}
stop_server() {
  case $1 in
    fleuve) kill "$FPID"; wait "$FPID" 2>/dev/null || true; FPID=;;
    nginx) kill "$(cat "$WORK/nginx.pid")"; for _ in $(seq 1 50); do [ -f "$WORK/nginx.pid" ] || break; sleep 0.1; done;;
  esac
}
cpu_ticks() {
  local pids
  if [ "$1" = fleuve ]; then pids=$FPID; else pids="$(cat "$WORK/nginx.pid") $(pgrep -P "$(cat "$WORK/nginx.pid")" | tr '\n' ' ')"; fi
  for p in $pids; do awk '{print $14 + $15}' "/proc/$p/stat"; done | awk '{s += $1} END {print s}'
}

load() { # proto port -> "requests seconds"
  local url="https://127.0.0.1:$2$P" out
  if [ "$1" = h1 ]; then
    out=$(taskset -c "$CLIENT_CPUS" wrk -t1 -c"$CONNS" -d"${DURATION}s" -s "$WORK/ranges.lua" "$url")
    echo "$(echo "$out" | awk '/requests in/ {print $1}') $DURATION $(echo "$out" | awk '/Non-2xx|Socket errors/' | tr '\n' ' ')"
  else
    out=$(taskset -c "$CLIENT_CPUS" h2load -D "$DURATION" -c "$CONNS" -m 8 -t 1 \
      -H "range: bytes=2097152-4194303" "$url" 2>&1)
    echo "$(echo "$out" | awk '/^requests:/ {print $8}') $DURATION $(echo "$out" | awk '/^requests:/ && $14 != "0" {print "errored:", $14}')"
  fi
}

echo "# tls-vs-nginx: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(awk '/model name/ {$1=$2=$3=""; print; exit}' /proc/cpuinfo | sed 's/^ *//'), $(uname -r)"
echo "# ${DURATION}s per run, $CONNS connections (h2: x8 streams), hot 2 MiB ranges; server on cores $SERVER_CPUS, load generator on $CLIENT_CPUS; kernel TLS ULP: $(grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp && echo yes || echo no)"
echo "# fleuve $("$FLEUVE_BIN" --version | cut -d' ' -f2-), $(nginx -v 2>&1 | sed 's/.*: //'), $(openssl version)"
printf "%-12s %9s %9s %9s %16s  %s\n" run "req/s" "MB/s" "CPU %" "CPU us/request" "cipher"
declare -A US
for round in $(seq 1 "$ROUNDS"); do
  order="nginx fleuve"
  [ $((round % 2)) = 0 ] && order="fleuve nginx"
  for srv in $order; do
    start_server "$srv"
    cipher=$(echo | openssl s_client -connect "127.0.0.1:$PORT" -tls1_3 2>/dev/null | awk '/Cipher is/ {print $NF; exit}')
    for proto in h1 h2; do
      before=$(cpu_ticks "$srv")
      read -r reqs secs errs < <(load "$proto" "$PORT")
      after=$(cpu_ticks "$srv")
      hz=$(getconf CLK_TCK)
      line=$(awk -v t=$((after - before)) -v r="$reqs" -v d="$secs" -v hz="$hz" \
        'BEGIN {printf "%9.1f %9.1f %9.0f %16.1f", r / d, r * 2 / d, t / hz / d * 100, (r > 0) ? t / hz * 1e6 / r : 0}')
      printf "%-12s %s  %s %s\n" "$proto/$srv" "$line" "$cipher" "${errs:-}"
      US[$proto/$srv]+="$(echo "$line" | awk '{print $4}') "
    done
    stop_server "$srv"
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
echo
echo "# medians of $ROUNDS rounds: server CPU us per request"
for proto in h1 h2; do
  n=$(echo "${US[$proto/nginx]}" | median); f=$(echo "${US[$proto/fleuve]}" | median)
  echo "$proto nginx $n fleuve $f ratio fleuve/nginx $(awk -v a="$f" -v b="$n" 'BEGIN {printf "%.2f", a / b}')"
done
