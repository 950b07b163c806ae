#!/usr/bin/env bash
# Mixed cold/hot segment serving: Fleuve vs nginx with its defaults vs nginx with `aio threads`,
# on the same files under the same paths, in one run.
#   benches/compare/cold-vs-nginx.sh [DURATION_SECONDS] [CONNECTIONS] [ROUNDS] [COLD_EVERY]
#
# The catalogue: HOT_FILES (16) and COLD_FILES (128) files of 32 MiB (fMP4-sized renditions, the
# same random bytes copied: real blocks on disk, no sparse file), under a directory on disk (not
# tmpfs). The load generator (benches/compare/loadgen.rs) keeps CONNECTIONS (32) HTTP/1.1
# keep-alive connections busy with 2 MiB byte ranges at random offsets; every COLD_EVERY-th (10th)
# request of a connection goes to a random cold file, whose pages a thread of the generator
# evicts with posix_fadvise(DONTNEED) every 20 ms, so cold requests read the disk. It reports
# req/s and the latency of hot and cold requests apart.
#
# Same budget for all three: the server is pinned with taskset to SERVER_CPUS (default core 0)
# with one worker/shard per core there, the generator to CLIENT_CPUS (default core 1).
#   nginx default: sendfile on, tcp_nopush, no aio (Debian's nginx.conf has sendfile on);
#   nginx aio:     the same plus `aio threads` (the default pool of 32 threads; with sendfile on,
#                  Linux nginx offloads the sendfile of uncached data to the pool);
#   Fleuve:        its defaults (io_uring, cachestat, descriptor cache).
# Rounds alternate the servers; prints every run, then the medians and the ratios the issue asks
# for: Fleuve's hot p99 against nginx-default's (target <= 0.25) and its req/s (target >= 1.5),
# and both against nginx with aio threads (target: no worse).
# SERVERS="fleuve" runs only those named; FLEUVE_PERF=FILE records a perf profile (call graphs,
# 499 Hz) of Fleuve's first timed run; FLEUVE_BIN=PATH serves with another build (e.g. an older
# commit's, for a before/after profile).
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${1:-20}
CONNS=${2:-32}
ROUNDS=${3:-3}
COLD_EVERY=${4:-10}
HOT_FILES=${HOT_FILES:-16}
COLD_FILES=${COLD_FILES:-128}
SERVER_CPUS=${SERVER_CPUS:-0}
CLIENT_CPUS=${CLIENT_CPUS:-1}
# The disk the servers read from, emulated with cgroup v1 blkio throttling of the servers'
# processes (their I/O threads included) on the device under the files: by default a cloud block
# volume's baseline (AWS gp3: 125 MB/s, 3000 IOPS). DISK_READ_BPS=0 reads the real disk unthrottled
# (here a virtio disk backed by the host's cache: ~1.4 ms per cold 2 MiB range).
# Which servers run (all three by default; e.g. SERVERS=fleuve for a profile alone).
SERVERS=${SERVERS:-nginx-default nginx-aio fleuve}
DISK_READ_BPS=${DISK_READ_BPS:-125000000}
DISK_READ_IOPS=${DISK_READ_IOPS:-3000}
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
WORK=$(mktemp -d /var/tmp/fleuve-cold.XXXXXX)
FLEUVE_PORT=${FLEUVE_PORT:-19180}
NGINX_PORT=${NGINX_PORT:-19181}
cleanup() {
  [ -n "${FPID:-}" ] && kill "$FPID" 2>/dev/null && wait "$FPID" 2>/dev/null || true
  for v in default aio; do
    [ -f "$WORK/nginx-$v.pid" ] && kill "$(cat "$WORK/nginx-$v.pid")" 2>/dev/null || true
  done
  rm -rf "$WORK"
  [ -n "${CG:-}" ] && rmdir "$CG" 2>/dev/null || true
}
trap cleanup EXIT

UUID=0f5c4e9b-0000-4000-8000-0000000c01d0
HLS="$WORK/data/media/streaming-playlists/hls/$UUID"
mkdir -p "$HLS"
chmod 755 "$WORK"  # nginx workers run as www-data
head -c $((32 << 20)) /dev/urandom > "$WORK/seed.mp4"
for i in $(seq 0 $((HOT_FILES - 1))); do cp "$WORK/seed.mp4" "$HLS/hot-$i.mp4"; done
for i in $(seq 0 $((COLD_FILES - 1))); do cp "$WORK/seed.mp4" "$HLS/cold-$i.mp4"; done
sync
chmod -R a+rX "$WORK/data"

CG=
if [ "$DISK_READ_BPS" != 0 ]; then
  DEV=$(lsblk -no MAJ:MIN "$(findmnt -no SOURCE -T "$WORK")" | head -1 | tr -d ' ')
  CG=/sys/fs/cgroup/blkio/fleuve-bench-$$
  mkdir "$CG"
  echo "$DEV $DISK_READ_BPS" > "$CG/blkio.throttle.read_bps_device"
  echo "$DEV $DISK_READ_IOPS" > "$CG/blkio.throttle.read_iops_device"
  DISK="device $DEV throttled to $((DISK_READ_BPS / 1000000)) MB/s and $DISK_READ_IOPS IOPS"
else
  DISK="$(findmnt -no SOURCE -T "$WORK"), not throttled"
fi
# Becomes a command inside the throttled cgroup (when there is one), pinned to the server's
# cores (it execs: call it in a subshell or in the background).
in_server_cg() {
  if [ -n "$CG" ]; then
    exec sh -c 'echo $$ > "$0/cgroup.procs"; shift; exec "$@"' "$CG" -- taskset -c "$SERVER_CPUS" "$@"
  else
    exec taskset -c "$SERVER_CPUS" "$@"
  fi
}

nginx_conf() { # variant extra-directives
  cat > "$WORK/nginx-$1.conf" <<NGX
worker_processes $SERVER_CORES;
pid $WORK/nginx-$1.pid;
error_log $WORK/nginx-$1-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  $2
  keepalive_requests 1000000;
  keepalive_timeout 65;
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
      add_header Access-Control-Allow-Origin *;
      add_header Cache-Control "public, max-age=31536000, immutable";
    }
  }
}
NGX
}
mkdir -p "$WORK/nginx-tmp"
nginx_conf default ""
nginx_conf aio "aio threads;"

P="/static/streaming-playlists/hls/$UUID"
start_server() { # name
  case $1 in
    fleuve)
      FLEUVE_ROOT_PASSWORD=bench-password FLEUVE_LOG=info FLEUVE_ENGINE_SHARDS=$SERVER_CORES \
        in_server_cg "$FLEUVE_BIN" serve --data-dir "$WORK/data" \
        --listen 127.0.0.1:$FLEUVE_PORT 2>>"$WORK/fleuve.log" &
      FPID=$!
      for _ in $(seq 1 300); do [ -f "$WORK/data/fleuve.addr" ] && break; sleep 0.1; done
      [ -f "$WORK/data/fleuve.addr" ] || { cat "$WORK/fleuve.log"; exit 1; }
      PORT=$FLEUVE_PORT;;
    nginx-*)
      (in_server_cg nginx -c "$WORK/$1.conf")
      for _ in $(seq 1 50); do [ -f "$WORK/$1.pid" ] && break; sleep 0.1; done
      PORT=$NGINX_PORT;;
  esac
  # Identical bytes before timing, and the hot set in the page cache.
  curl -sf -r 2097152-4194303 "http://127.0.0.1:$PORT$P/cold-3.mp4" \
    | cmp - <(tail -c +2097153 "$WORK/seed.mp4" | head -c 2097152)
  cat "$HLS"/hot-*.mp4 > /dev/null
}
stop_server() { # name
  case $1 in
    fleuve) kill "$FPID"; wait "$FPID" 2>/dev/null || true; FPID=;;
    nginx-*) kill "$(cat "$WORK/$1.pid")"; for _ in $(seq 1 50); do [ -f "$WORK/$1.pid" ] || break; sleep 0.1; done;;
  esac
}
cpu_ticks() { # utime+stime of the server's processes (all threads)
  local pids
  if [ "$1" = fleuve ]; then pids=$FPID; else pids="$(cat "$WORK/$1.pid") $(pgrep -P "$(cat "$WORK/$1.pid")" | tr '\n' ' ')"; fi
  for p in $pids; do awk '{print $14 + $15}' "/proc/$p/stat"; done | awk '{s += $1} END {print s}'
}
get() { echo "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k {print $2}'; }

echo "# cold-vs-nginx: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(awk '/model name/ {$1=$2=$3=""; print; exit}' /proc/cpuinfo | sed 's/^ *//'), $(uname -r)"
echo "# ${DURATION}s per run, $CONNS connections, 2 MiB ranges, 1 request in $COLD_EVERY cold ($COLD_FILES cold + $HOT_FILES hot files of 32 MiB; $DISK); server on cores $SERVER_CPUS, load generator on $CLIENT_CPUS"
echo "# fleuve $("$FLEUVE_BIN" --version | cut -d' ' -f2-), $(nginx -v 2>&1 | sed 's/.*: //')"
printf "%-15s %8s %8s %9s %9s %10s %7s %9s %9s %7s %8s\n" server "req/s" "MB/s" "hot p50" "hot p99" "hot p99.9" "cold" "cold p50" "cold p99" errors "CPU %"
declare -A RPS HP99 HP50 CP99
for round in $(seq 1 "$ROUNDS"); do
  order="$SERVERS"
  [ $((round % 2)) = 0 ] && order="$(echo "$SERVERS" | tr ' ' '\n' | tac | tr '\n' ' ')"
  for srv in $order; do
    start_server "$srv"
    perf_pid=
    # FLEUVE_PERF=FILE: a perf profile (call graphs) of Fleuve's first timed run, for `perf report`.
    if [ "$srv" = fleuve ] && [ -n "${FLEUVE_PERF:-}" ] && [ ! -e "$FLEUVE_PERF" ]; then
      perf record -q -F 499 -g -p "$FPID" -o "$FLEUVE_PERF" -- sleep "$DURATION" 2>/dev/null &
      perf_pid=$!
    fi
    before=$(cpu_ticks "$srv")
    out=$(taskset -c "$CLIENT_CPUS" "$LOADGEN" --addr "127.0.0.1:$PORT" --prefix "$P" \
      --hot "$HOT_FILES" --cold "$COLD_FILES" --file-bytes $((32 << 20)) --range-bytes $((2 << 20)) \
      --cold-every "$COLD_EVERY" --conns "$CONNS" --secs "$DURATION" --evict-dir "$HLS" --evict-ms 20)
    after=$(cpu_ticks "$srv")
    [ -n "$perf_pid" ] && wait "$perf_pid"
    stop_server "$srv"
    cpu=$(awk -v t=$((after - before)) -v d="$DURATION" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.0f", t / hz / d * 100}')
    printf "%-15s %8s %8s %9s %9s %10s %7s %9s %9s %7s %8s\n" "$srv" "$(get "$out" rps)" "$(get "$out" mbps)" \
      "$(get "$out" hot_p50)" "$(get "$out" hot_p99)" "$(get "$out" hot_p999)" "$(get "$out" cold)" \
      "$(get "$out" cold_p50)" "$(get "$out" cold_p99)" "$(get "$out" errors)" "$cpu"
    RPS[$srv]+="$(get "$out" rps) "
    HP50[$srv]+="$(get "$out" hot_p50) "
    HP99[$srv]+="$(get "$out" hot_p99) "
    CP99[$srv]+="$(get "$out" cold_p99) "
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
echo
echo "# medians of $ROUNDS rounds"
printf "%-15s %8s %9s %9s %9s\n" server "req/s" "hot p50" "hot p99" "cold p99"
for srv in $SERVERS; do
  printf "%-15s %8s %9s %9s %9s\n" "$srv" "$(echo "${RPS[$srv]}" | median)" "$(echo "${HP50[$srv]}" | median)" \
    "$(echo "${HP99[$srv]}" | median)" "$(echo "${CP99[$srv]}" | median)"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0) ? a / b : 0}'; }
f_rps=$(echo "${RPS[fleuve]:-}" | median); f_p99=$(echo "${HP99[fleuve]:-}" | median)
for base in $SERVERS; do
  [ "$base" = fleuve ] && continue
  echo "fleuve/$base: req/s x$(ratio "$f_rps" "$(echo "${RPS[$base]}" | median)"), hot p99 x$(ratio "$f_p99" "$(echo "${HP99[$base]}" | median)")"
done
