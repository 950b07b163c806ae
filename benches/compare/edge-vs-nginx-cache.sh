#!/usr/bin/env bash
# Serving a bucket: Fleuve (object storage on; per-shard chunk cache in front of the bucket) vs
# nginx with proxy_cache (slice 1m, the range-caching setup nginx documents) in front of the
# same Garage, on the same 32 MiB object, in one run.
#   benches/compare/edge-vs-nginx-cache.sh [DURATION_SECONDS] [CONNECTIONS] [ROUNDS]
# Fleuve runs as an edge (`fleuve serve --edge`); FLEUVE_MODE=primary runs the full server
# (which looks on its disk before the bucket).
# Garage: one node on loopback (scripts/setup.sh builds it); the object is uploaded once. nginx
# reads it through Garage's web endpoint (the bucket is made a website for nginx only; Fleuve
# signs its requests). Both are warmed, then wrk walks hot 2 MiB ranges. Prints req/s, p50/p99
# and server CPU per request of each, and the medians.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${1:-10}
CONNS=${2:-32}
ROUNDS=${3:-3}
MODE=${FLEUVE_MODE:-edge}
EDGE_FLAG=""; [ "$MODE" = edge ] && EDGE_FLAG=--edge
. scripts/setup.sh >/dev/null
cargo build --release --quiet --bin fleuve
G="$FLEUVE_GARAGE_BIN"
CORES=$(nproc)
WORK=$(mktemp -d /tmp/fleuve-edge-bench.XXXXXX)
FLEUVE_PORT=${FLEUVE_PORT:-19180}
NGINX_PORT=${NGINX_PORT:-19181}
S3_PORT=19190; RPC_PORT=19191; WEB_PORT=19192; ADMIN_PORT=19193
cleanup() {
  [ -n "${FPID:-}" ] && kill "$FPID" 2>/dev/null && wait "$FPID" 2>/dev/null || true
  [ -n "${GPID:-}" ] && kill "$GPID" 2>/dev/null && wait "$GPID" 2>/dev/null || true
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
chmod 755 "$WORK"

cat > "$WORK/garage.toml" <<TOML
metadata_dir = "$WORK/garage/meta"
data_dir = "$WORK/garage/data"
db_engine = "lmdb"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$RPC_PORT"
rpc_public_addr = "127.0.0.1:$RPC_PORT"
rpc_secret = "$(openssl rand -hex 32)"
[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$S3_PORT"
root_domain = ".s3.localhost"
[s3_web]
bind_addr = "127.0.0.1:$WEB_PORT"
root_domain = ".web.localhost"
[admin]
api_bind_addr = "127.0.0.1:$ADMIN_PORT"
TOML
"$G" -c "$WORK/garage.toml" server > "$WORK/garage.log" 2>&1 &
GPID=$!
for _ in $(seq 100); do "$G" -c "$WORK/garage.toml" status >/dev/null 2>&1 && break; sleep 0.2; done
gc() { "$G" -c "$WORK/garage.toml" "$@"; }
ID=$(gc node id -q | cut -d@ -f1)
gc layout assign -z dc1 -c 1G "$ID" >/dev/null
gc layout apply --version 1 >/dev/null
gc bucket create media >/dev/null
KEYS=$(gc key create bench)
KEY=$(echo "$KEYS" | awk 'tolower($0) ~ /key id/ {print $NF; exit}')
SECRET=$(echo "$KEYS" | awk 'tolower($0) ~ /secret key/ {print $NF; exit}')
gc bucket allow --read --write --owner media --key bench >/dev/null
gc bucket website --allow media >/dev/null

UUID=0f5c4e9b-0000-4000-8000-00000000be0c
KEYPATH="hls/$UUID/bench-720-fragmented.mp4"
head -c $((32 * 1024 * 1024)) /dev/urandom > "$WORK/object.mp4"
curl -sSf --aws-sigv4 "aws:amz:garage:s3" --user "$KEY:$SECRET" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
  -T "$WORK/object.mp4" "http://127.0.0.1:$S3_PORT/media/$KEYPATH"

cat > "$WORK/ranges.lua" <<'LUA'
local i = 0
request = function()
  local start = (i % 16) * 2097152
  i = i + 1
  return wrk.format("GET", wrk.path, { ["Range"] = "bytes=" .. start .. "-" .. (start + 2097151) })
end
LUA

mkdir -p "$WORK/nginx-tmp" "$WORK/nginx-cache"
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
  client_body_temp_path $WORK/nginx-tmp;
  proxy_temp_path $WORK/nginx-tmp;
  fastcgi_temp_path $WORK/nginx-tmp;
  uwsgi_temp_path $WORK/nginx-tmp;
  scgi_temp_path $WORK/nginx-tmp;
  proxy_cache_path $WORK/nginx-cache levels=1:2 keys_zone=media:64m max_size=4g inactive=1h use_temp_path=off;
  upstream garage { server 127.0.0.1:$WEB_PORT; keepalive 32; }
  server {
    listen 127.0.0.1:$NGINX_PORT reuseport;
    location /static/streaming-playlists/hls/ {
      slice 1m;
      proxy_cache media;
      proxy_cache_key \$uri\$slice_range;
      proxy_set_header Range \$slice_range;
      proxy_set_header Host media.web.localhost;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache_valid 200 206 1h;
      proxy_cache_lock on;
      rewrite ^/static/streaming-playlists/(.*)\$ /\$1 break;
      proxy_pass http://garage;
      add_header Access-Control-Allow-Origin *;
    }
  }
}
NGX
nginx -c "$WORK/nginx.conf"

FLEUVE_ROOT_PASSWORD=bench-password FLEUVE_LOG=info \
  FLEUVE_OBJECT_STORAGE_ENABLED=true FLEUVE_OBJECT_STORAGE_ENDPOINT="http://127.0.0.1:$S3_PORT" \
  FLEUVE_OBJECT_STORAGE_REGION=garage FLEUVE_OBJECT_STORAGE_FORCE_PATH_STYLE=true \
  FLEUVE_OBJECT_STORAGE_STREAMING_PLAYLISTS_BUCKET_NAME=media \
  AWS_ACCESS_KEY_ID="$KEY" AWS_SECRET_ACCESS_KEY="$SECRET" \
  "$FLEUVE_BIN" serve $EDGE_FLAG --data-dir "$WORK/data" --listen 127.0.0.1:$FLEUVE_PORT 2>"$WORK/fleuve.log" &
FPID=$!
for _ in $(seq 1 300); do [ -f "$WORK/data/fleuve.addr" ] && break; sleep 0.1; done
[ -f "$WORK/data/fleuve.addr" ] || { cat "$WORK/fleuve.log"; exit 1; }

P="/static/streaming-playlists/hls/$UUID/bench-720-fragmented.mp4"
# Identical bytes from both (this also warms both caches with every range the run asks for).
for port in $FLEUVE_PORT $NGINX_PORT; do
  for i in $(seq 0 15); do
    s=$((i * 2097152))
    for _ in 1 2 3 4; do # every shard / worker
      curl -sf -r "$s-$((s + 2097151))" "http://127.0.0.1:$port$P" | cmp - <(tail -c +$((s + 1)) "$WORK/object.mp4" | head -c 2097152)
    done
  done
done

to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us/,"",v); print v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v); print v} else if (v ~ /s$/) {sub(/s/,"",v); print v*1000} else print v}'; }
cpu_ticks() {
  local pids
  if [ "$1" = fleuve ]; then pids=$FPID; else pids=$(pgrep -P "$(cat "$WORK/nginx.pid")" | tr '\n' ' '); fi
  for p in $pids; do awk '{print $14 + $15}' "/proc/$p/stat"; done | awk '{s += $1} END {print s}'
}
upstream_before=$(curl -s "http://127.0.0.1:$FLEUVE_PORT/metrics" | awk '$1=="fleuve_object_storage_upstream_requests_total" {print $2}')
run_wrk() { # server port
  local out before after perf_pid=""
  # FLEUVE_PERF=FILE: a perf profile (call graphs) of Fleuve's first timed run, for `perf report`.
  if [ "$1" = fleuve ] && [ -n "${FLEUVE_PERF:-}" ] && [ ! -e "$FLEUVE_PERF" ]; then
    perf record -q -F 999 -g -p "$FPID" -o "$FLEUVE_PERF" -- sleep "$DURATION" 2>/dev/null &
    perf_pid=$!
  fi
  before=$(cpu_ticks "$1")
  out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -s "$WORK/ranges.lua" "http://127.0.0.1:$2$P")
  after=$(cpu_ticks "$1")
  [ -n "$perf_pid" ] && wait "$perf_pid"
  local rps p50 p99 errs cpu_us
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}' | to_ms)
  p99=$(echo "$out" | awk '$1=="99%" {print $2}' | to_ms)
  errs=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
  cpu_us=$(awk -v t=$((after - before)) -v r="$rps" -v d="$DURATION" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.1f", t / hz * 1e6 / (r * d)}')
  echo "$rps $p50 $p99 $cpu_us ${errs:-}"
}
echo "# edge-vs-nginx-cache: $(date -u +%Y-%m-%dT%H:%MZ), $CORES cores, $(awk '/model name/ {$1=$2=$3=""; print; exit}' /proc/cpuinfo | sed 's/^ *//'), ${DURATION}s per run, $CONNS connections, wrk -t2, fleuve as $MODE, hot 2 MiB ranges of a 32 MiB object in Garage $("$G" --version | awk '{print $2}')"
printf "%-14s %10s %9s %9s %18s\n" "server" "req/s" "p50 ms" "p99 ms" "server CPU us/req"
declare -A RPS CPU
for round in $(seq 1 "$ROUNDS"); do
  for srv in nginx fleuve; do
    port=$NGINX_PORT; [ $srv = fleuve ] && port=$FLEUVE_PORT
    read -r rps p50 p99 cpu rest <<<"$(run_wrk $srv $port)"
    RPS[$srv]="${RPS[$srv]:-} $rps"; CPU[$srv]="${CPU[$srv]:-} $cpu"
    printf "%-14s %10s %9s %9s %18s %s\n" "$srv#$round" "$rps" "$p50" "$p99" "$cpu" "$rest"
  done
done
upstream_after=$(curl -s "http://127.0.0.1:$FLEUVE_PORT/metrics" | awk '$1=="fleuve_object_storage_upstream_requests_total" {print $2}')
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
echo
fr=$(echo "${RPS[fleuve]}" | median); nr=$(echo "${RPS[nginx]}" | median)
fc=$(echo "${CPU[fleuve]}" | median); nc=$(echo "${CPU[nginx]}" | median)
echo "median req/s: fleuve $fr, nginx $nr, ratio $(awk -v a="$fr" -v b="$nr" 'BEGIN {printf "%.2f", a / b}')"
echo "median server CPU us/req: fleuve $fc, nginx $nc, ratio $(awk -v a="$fc" -v b="$nc" 'BEGIN {printf "%.2f", a / b}')"
echo "fleuve upstream requests during the timed runs: $(awk -v a="$upstream_before" -v b="$upstream_after" 'BEGIN {print b - a}')"
