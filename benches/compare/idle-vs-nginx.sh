#!/usr/bin/env bash
# Memory per idle keep-alive connection, Fleuve vs nginx, HTTP/1.1 and HTTP/2 (plain; h2 with
# prior knowledge), in one run.
#   benches/compare/idle-vs-nginx.sh [CONNECTIONS] [ROUNDS]
#
# For each server and protocol: start the server fresh (pinned to SERVER_CPUS, one
# worker/shard per core there), make one request, read its resident memory (RSS: Fleuve's
# process; nginx's master and workers summed), then open CONNECTIONS (10 000) connections with
# benches/compare/loadgen.rs --idle (one 100-byte range request on each, then nothing), read the
# RSS again once all are open and quiet, and report (after - before) / CONNECTIONS. Kernel socket
# buffers are not in either figure (they are the kernel's, the same for both).
# Fleuve runs with its per-address cap raised (the generator is one address) and nginx with
# worker_connections and worker_rlimit_nofile to match; both with keep-alive timeouts well
# beyond the hold time.
set -euo pipefail
cd "$(dirname "$0")/../.."
CONNS=${1:-10000}
ROUNDS=${2:-3}
SERVER_CPUS=${SERVER_CPUS:-0}
CLIENT_CPUS=${CLIENT_CPUS:-1}
HOLD=${HOLD:-8}
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
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -gt $((CONNS + 200)) ] || { echo "open-file limit $(ulimit -n) too low for $CONNS connections" >&2; exit 1; }
WORK=$(mktemp -d /tmp/fleuve-idle.XXXXXX)
FLEUVE_PORT=${FLEUVE_PORT:-19480}
NGINX_PORT=${NGINX_PORT:-19481}
cleanup() {
  [ -n "${FPID:-}" ] && kill "$FPID" 2>/dev/null && wait "$FPID" 2>/dev/null || true
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

UUID=0f5c4e9b-0000-4000-8000-0000000001d1
HLS="$WORK/data/media/streaming-playlists/hls/$UUID"
mkdir -p "$HLS" "$WORK/nginx-tmp"
chmod 755 "$WORK"
head -c $((1 << 20)) /dev/urandom > "$HLS/hot-0.mp4"
chmod -R a+rX "$WORK/data"
cat > "$WORK/nginx.conf" <<NGX
worker_processes $SERVER_CORES;
worker_rlimit_nofile $(ulimit -n);
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections $(( $(ulimit -n) - 100 )); }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 1000000;
  keepalive_timeout 300;

  types { video/mp4 mp4; }
  client_body_temp_path $WORK/nginx-tmp;
  proxy_temp_path $WORK/nginx-tmp;
  fastcgi_temp_path $WORK/nginx-tmp;
  uwsgi_temp_path $WORK/nginx-tmp;
  scgi_temp_path $WORK/nginx-tmp;
  server {
    listen 127.0.0.1:$NGINX_PORT reuseport;
    location /static/streaming-playlists/hls/ {
      alias $WORK/data/media/streaming-playlists/hls/;
    }
  }
  server {
    listen 127.0.0.1:$((NGINX_PORT + 1)) http2 reuseport;
    location /static/streaming-playlists/hls/ {
      alias $WORK/data/media/streaming-playlists/hls/;
    }
  }
}
NGX
P="/static/streaming-playlists/hls/$UUID"

start_server() { # name -> PORT (h1), PORT2 (h2)
  case $1 in
    fleuve)
      FLEUVE_ROOT_PASSWORD=bench-password FLEUVE_LOG=warn FLEUVE_ENGINE_SHARDS=$SERVER_CORES \
      FLEUVE_ENGINE_MAX_CONNECTIONS_PER_IP=100000 FLEUVE_ENGINE_IDLE_TIMEOUT_SECS=300 \
        taskset -c "$SERVER_CPUS" "$FLEUVE_BIN" serve --data-dir "$WORK/data" \
        --listen 127.0.0.1:$FLEUVE_PORT 2>>"$WORK/fleuve.log" &
      FPID=$!
      for _ in $(seq 1 300); do [ -f "$WORK/data/fleuve.addr" ] && break; sleep 0.1; done
      [ -f "$WORK/data/fleuve.addr" ] || { cat "$WORK/fleuve.log"; exit 1; }
      PORT=$FLEUVE_PORT; PORT2=$FLEUVE_PORT;;
    nginx)
      taskset -c "$SERVER_CPUS" nginx -c "$WORK/nginx.conf"
      for _ in $(seq 1 50); do [ -f "$WORK/nginx.pid" ] && break; sleep 0.1; done
      PORT=$NGINX_PORT; PORT2=$((NGINX_PORT + 1));;
  esac
  curl -sf -r 0-99 "http://127.0.0.1:$PORT$P/hot-0.mp4" > /dev/null
  curl -sf --http2-prior-knowledge -r 0-99 "http://127.0.0.1:$PORT2$P/hot-0.mp4" > /dev/null
  sleep 1
}
stop_server() {
  case $1 in
    fleuve) kill "$FPID"; wait "$FPID" 2>/dev/null || true; FPID=;;
    nginx) kill "$(cat "$WORK/nginx.pid")"; for _ in $(seq 1 50); do [ -f "$WORK/nginx.pid" ] || break; sleep 0.1; done;;
  esac
}
rss_kb() { # the server's resident memory, all its processes
  local pids
  if [ "$1" = fleuve ]; then pids=$FPID; else pids="$(cat "$WORK/nginx.pid") $(pgrep -P "$(cat "$WORK/nginx.pid")" | tr '\n' ' ')"; fi
  for p in $pids; do awk '/^VmRSS:/ {print $2}' "/proc/$p/status"; done | awk '{s += $1} END {print s}'
}

echo "# idle-vs-nginx: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r); $CONNS idle connections, held ${HOLD}s; server on cores $SERVER_CPUS"
echo "# fleuve $("$FLEUVE_BIN" --version | cut -d' ' -f2-), $(nginx -v 2>&1 | sed 's/.*: //')"
printf "%-12s %10s %12s %12s %14s\n" run connected "RSS before" "RSS with" "bytes/conn"
declare -A PER
for round in $(seq 1 "$ROUNDS"); do
  for srv in nginx fleuve; do
    for proto in h1 h2; do
      start_server "$srv"
      before=$(rss_kb "$srv")
      port=$PORT; [ "$proto" = h2 ] && port=$PORT2
      taskset -c "$CLIENT_CPUS" "$LOADGEN" --idle "$CONNS" --proto "$proto" --addr "127.0.0.1:$port" \
        --prefix "$P" --secs "$HOLD" > "$WORK/idle.out" &
      LPID=$!
      for _ in $(seq 1 600); do grep -q '^ready' "$WORK/idle.out" 2>/dev/null && break; sleep 0.1; done
      sleep 2
      with=$(rss_kb "$srv")
      connected=$(awk -F'connected=' '/^ready/ {split($2, a, " "); print a[1]}' "$WORK/idle.out")
      wait "$LPID" || true
      stop_server "$srv"
      per=$(awk -v a="$before" -v b="$with" -v n="${connected:-0}" 'BEGIN {printf "%.0f", (n > 0) ? (b - a) * 1024 / n : 0}')
      printf "%-12s %10s %10s kB %10s kB %14s\n" "$proto/$srv" "${connected:-0}" "$before" "$with" "$per"
      PER[$proto/$srv]+="$per "
    done
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
echo
echo "# medians of $ROUNDS rounds: resident bytes per idle connection"
for proto in h1 h2; do
  n=$(echo "${PER[$proto/nginx]}" | median); f=$(echo "${PER[$proto/fleuve]}" | median)
  echo "$proto nginx $n fleuve $f ratio fleuve/nginx $(awk -v a="$f" -v b="$n" 'BEGIN {printf "%.2f", (b > 0) ? a / b : 0}')"
done
