#!/usr/bin/env bash
# Tracker, Fleuve vs aquatic 0.9.0, with aquatic's own load testers, in one run.
#   benches/compare/tracker-vs-aquatic.sh [DURATION_SECONDS] [ROUNDS] [PROTOCOLS]
# DURATION: measured seconds per run (default 30); ROUNDS: runs per server and protocol, the
# order alternating, medians reported (default 1); PROTOCOLS: any of "ws ws-announce http udp"
# (default all).
#
# For each protocol the load tester runs for the same time against aquatic, then against Fleuve
# (open tracker: random info hashes), each server on its own fresh start:
#   ws   aquatic_ws_load_test, always over TLS (self-signed cert made here with openssl):
#        WS_CONNS connections, 10 offers per announce; counts announce + offer + answer + error
#        messages received per second. Each connection sends one message per message it reads
#        (an answer after an offer, else an announce with 10 offers), so the mix of messages a
#        tracker sends back decides the mix of work it gets: compare the "mix" lines.
#   ws-announce  the same with offers_per_request = 0: announce in, announce response out
#        (no relaying), the same work on both trackers.
#   http aquatic_http_load_test, plain HTTP/1.1 keep-alive, HTTP_CONNS connections, announces only
#        (random info hash from 10 000, random peer id and port).
#   udp  aquatic_udp_load_test, one worker with 4 sockets on 127.0.0.x; connect 50 / announce 50 /
#        scrape 1.
# Core split: the server (every thread of it) is pinned with taskset to SERVER_CPUS and the load
# tester to CLIENT_CPUS. Default on 2 cores: server on core 0, load tester on core 1. Same budget
# for both servers: Fleuve gets one shard per server core; aquatic_ws/aquatic_http one socket
# worker per server core plus one swarm worker (aquatic's advice below 8 cores), aquatic_udp one
# socket worker per server core, all confined to the same cores by taskset.
#
# The load testers are built from crates.io's 0.9.0 sources with one change each, because they
# hard-code aquatic's paths (WS upgrade on `/`, HTTP `GET /announce`) while Fleuve serves
# `/tracker/socket` and `/tracker/announce`:
#   ws:   the upgrade URL gets the path from $AQUATIC_LT_WS_PATH (aquatic_ws accepts any path, so
#         both servers get `/tracker/socket` from the same binary);
#   http: $AQUATIC_LT_HTTP_PATH_PREFIX is put before `/announce` (empty for aquatic_http,
#         `/tracker` for Fleuve; the same binary does the same copy for both).
# The unmodified testers are installed too (aquatic_*_load_test in $AQ_ROOT/bin); udp uses it.
#
# Prints each run's summary (responses/s, error responses/s, CPU of server / load tester / other
# processes in % of one core, server CPU us per response, the mix of response kinds, Fleuve's
# tracker counters from /metrics), then the medians: protocol, aquatic responses/s, Fleuve
# responses/s, ratio Fleuve/aquatic, and the CPU figures, so a tester-bound run can be told apart.
# Environment: SERVER_CPUS, CLIENT_CPUS (taskset lists), WS_CONNS, HTTP_CONNS, BASE_PORT (ports
# BASE..BASE+2 for aquatic, BASE+10/+11 for Fleuve), KEEP_WORK=1 keeps the logs and outputs.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${1:-30}
ROUNDS=${2:-1}
PROTOCOLS=${3:-ws ws-announce http udp}
SERVER_CPUS=${SERVER_CPUS:-0}
CLIENT_CPUS=${CLIENT_CPUS:-1}
WS_CONNS=${WS_CONNS:-64}
HTTP_CONNS=${HTTP_CONNS:-64}
AQ_ROOT=${AQ_ROOT:-/var/cache/fleuve/aquatic}
AQ_TARGET=${AQ_TARGET:-/var/cache/fleuve/aquatic-target}
AQ_VERSION=0.9.0
BASE_PORT=${BASE_PORT:-19300}

count_cpus() { # "0,2-3" -> 3
  tr ',' '\n' <<<"$1" | awk -F- '{n += (NF == 2) ? $2 - $1 + 1 : 1} END {print n}'
}
NSERVER=$(count_cpus "$SERVER_CPUS")
NCLIENT=$(count_cpus "$CLIENT_CPUS")
# Fleuve's engine.cores takes a plain list.
SERVER_CPU_LIST=$(tr ',' '\n' <<<"$SERVER_CPUS" | awk -F- '{if (NF == 2) for (i = $1; i <= $2; i++) print i; else print $1}' | paste -sd,)

# --- aquatic: servers and load testers (idempotent) ---------------------------------------------
export CARGO_TARGET_DIR=$AQ_TARGET
mkdir -p "$AQ_ROOT"
if [ ! -x "$AQ_ROOT/bin/aquatic_ws_load_test" ] || [ ! -x "$AQ_ROOT/bin/aquatic_http_load_test" ] \
  || [ ! -x "$AQ_ROOT/bin/aquatic_udp_load_test" ]; then
  echo "installing aquatic load testers $AQ_VERSION into $AQ_ROOT (minutes)" >&2
  cargo install --quiet --locked --root "$AQ_ROOT" \
    aquatic_ws_load_test@$AQ_VERSION aquatic_http_load_test@$AQ_VERSION aquatic_udp_load_test@$AQ_VERSION
fi
if [ ! -x "$AQ_ROOT/bin/aquatic_ws" ] || [ ! -x "$AQ_ROOT/bin/aquatic_http" ] \
  || [ ! -x "$AQ_ROOT/bin/aquatic_udp" ]; then
  # Default features pull metrics 0.22.3, which no longer compiles on recent rustc (E0521);
  # --no-default-features drops the prometheus endpoint and mimalloc.
  echo "installing aquatic servers $AQ_VERSION into $AQ_ROOT (minutes)" >&2
  cargo install --quiet --locked --no-default-features --root "$AQ_ROOT" \
    aquatic_ws@$AQ_VERSION aquatic_http@$AQ_VERSION aquatic_udp@$AQ_VERSION
fi
PATCHED=$AQ_ROOT/patched
if [ ! -x "$PATCHED/bin/aquatic_ws_load_test" ] || [ ! -x "$PATCHED/bin/aquatic_http_load_test" ]; then
  echo "building the path-configurable ws/http load testers into $PATCHED" >&2
  SRC=$AQ_ROOT/src
  rm -rf "$SRC" && mkdir -p "$SRC"
  for c in aquatic_ws_load_test aquatic_http_load_test; do
    crate=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/$c-$AQ_VERSION.crate 2>/dev/null | head -1 || true)
    if [ -z "$crate" ]; then # cargo's download cache was cleaned: let cargo fetch it again
      cargo install --quiet --locked --force --root "$AQ_ROOT" $c@$AQ_VERSION
      crate=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/$c-$AQ_VERSION.crate | head -1)
    fi
    tar -xzf "$crate" -C "$SRC"
  done
  python3 - "$SRC" "$AQ_VERSION" <<'PY'
import sys
src, v = sys.argv[1], sys.argv[2]
def patch(path, old, new):
    text = open(path).read()
    assert text.count(old) == 1, (path, old)
    open(path, "w").write(text.replace(old, new))
patch(f"{src}/aquatic_ws_load_test-{v}/src/network.rs",
      '''            "ws://{}:{}",
            config.server_address.ip(),
            config.server_address.port()
        );''',
      '''            "ws://{}:{}{}",
            config.server_address.ip(),
            config.server_address.port(),
            std::env::var("AQUATIC_LT_WS_PATH").unwrap_or_default()
        );''')
patch(f"{src}/aquatic_http_load_test-{v}/src/network.rs",
      '''        let bytes_sent = self
            .stream
            .write(&cursor.into_inner()[..cursor_position])
            .await?;''',
      '''        // Fleuve patch: "GET " + $AQUATIC_LT_HTTP_PATH_PREFIX + "/announce?...".
        static PREFIX: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        let prefix = PREFIX.get_or_init(|| {
            std::env::var("AQUATIC_LT_HTTP_PATH_PREFIX").unwrap_or_default().into_bytes()
        });
        let written = &cursor.into_inner()[..cursor_position];
        let mut request = Vec::with_capacity(written.len() + prefix.len());
        request.extend_from_slice(&written[..4]);
        request.extend_from_slice(prefix);
        request.extend_from_slice(&written[4..]);

        let bytes_sent = self.stream.write(&request).await?;''')
PY
  for c in aquatic_ws_load_test aquatic_http_load_test; do
    cargo install --quiet --locked --force --root "$PATCHED" --path "$SRC/$c-$AQ_VERSION"
  done
fi
AQB=$AQ_ROOT/bin
unset CARGO_TARGET_DIR

# --- Fleuve (release) ------------------------------------------------------------------------
export CARGO_TARGET_DIR=/var/cache/fleuve/target
. scripts/setup.sh >/dev/null
cargo build --release --quiet --bin fleuve

WORK=$(mktemp -d /tmp/fleuve-tracker-bench.XXXXXX)
PIDS=()
cleanup() {
  # Every process this script started (by id: the servers, `timeout` in front of each load
  # tester, which passes the signal on).
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -n "${KEEP_WORK:-}" ]; then echo "logs kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# A copy, so a concurrent build in the shared target dir cannot swap the binary mid-run.
cp "$FLEUVE_BIN" "$WORK/fleuve" && FLEUVE_BIN=$WORK/fleuve

# Self-signed P-256 certificate, as aquatic's scripts/gen-tls.sh makes it; PKCS#8 key for both.
openssl ecparam -genkey -name prime256v1 -out "$WORK/key.pem" 2>/dev/null
openssl req -new -x509 -key "$WORK/key.pem" -out "$WORK/cert.pem" -days 2 -subj /CN=example.com 2>/dev/null
openssl pkcs8 -in "$WORK/key.pem" -topk8 -nocrypt -out "$WORK/key.pk8"

AQ_WS_PORT=$BASE_PORT AQ_HTTP_PORT=$((BASE_PORT + 1)) AQ_UDP_PORT=$((BASE_PORT + 2))
FL_PORT=$((BASE_PORT + 10)) FL_UDP_PORT=$((BASE_PORT + 11))

cat > "$WORK/aquatic_ws.toml" <<EOF
socket_workers = $NSERVER
swarm_workers = 1
log_level = "warn"
[network]
address = "127.0.0.1:$AQ_WS_PORT"
enable_tls = true
tls_certificate_path = "$WORK/cert.pem"
tls_private_key_path = "$WORK/key.pk8"
[access_list]
mode = "off"
EOF
cat > "$WORK/aquatic_http.toml" <<EOF
socket_workers = $NSERVER
swarm_workers = 1
log_level = "warn"
[network]
address = "127.0.0.1:$AQ_HTTP_PORT"
[access_list]
mode = "off"
EOF
cat > "$WORK/aquatic_udp.toml" <<EOF
socket_workers = $NSERVER
log_level = "warn"
[network]
address = "127.0.0.1:$AQ_UDP_PORT"
[access_list]
mode = "off"
EOF

lt_config() { # protocol port -> load tester config on stdout
  case $1 in
    ws | ws-announce)
      cat <<EOF
server_address = "127.0.0.1:$2"
num_workers = $NCLIENT
num_connections_per_worker = $WS_CONNS
duration = $DURATION
EOF
      if [ "$1" = ws-announce ]; then printf '[torrents]\noffers_per_request = 0\n'; fi ;;
    http) cat <<EOF ;;
server_address = "127.0.0.1:$2"
num_workers = $NCLIENT
num_connections = $HTTP_CONNS
duration = $DURATION
keep_alive = true
enable_tls = false
EOF
    udp) cat <<EOF ;;
server_address = "127.0.0.1:$2"
workers = $NCLIENT
duration = $DURATION
extra_statistics = false
EOF
  esac
}

cpu_ticks() { # utime+stime of every thread of a process, in clock ticks
  awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0
}
busy_ticks() { # user+nice+system+irq+softirq of every core, in clock ticks
  awk '$1 ~ /^cpu[0-9]+$/ {s += $2 + $3 + $4 + $7 + $8} END {print s}' /proc/stat
}

start_fleuve() { # protocol -> sets FPID
  local data=$WORK/fleuve-$1 tls=()
  rm -rf "$data"
  [ "$1" = ws ] && tls=(FLEUVE_TLS_CERT="$WORK/cert.pem" FLEUVE_TLS_KEY="$WORK/key.pk8")
  env "${tls[@]}" FLEUVE_ROOT_PASSWORD=bench-password FLEUVE_LOG=${FLEUVE_LOG:-warn} \
    FLEUVE_ENGINE_SHARDS="$NSERVER" FLEUVE_ENGINE_CORES="$SERVER_CPU_LIST" \
    FLEUVE_ENGINE_DRAIN_TIMEOUT_SECS=1 \
    FLEUVE_TRACKER_PRIVATE=false FLEUVE_TRACKER_MAX_CONNECTIONS_PER_IP=100000 \
    FLEUVE_TRACKER_ANNOUNCES_PER_IP_PER_HASH=0 FLEUVE_TRACKER_UDP_LISTEN=127.0.0.1:$FL_UDP_PORT \
    taskset -c "$SERVER_CPUS" "$FLEUVE_BIN" serve --data-dir "$data" --listen 127.0.0.1:$FL_PORT \
    2>"$WORK/fleuve-$1.log" &
  FPID=$!
  PIDS+=("$FPID")
  for _ in $(seq 1 300); do [ -f "$data/fleuve.addr" ] && return 0; sleep 0.1; done
  cat "$WORK/fleuve-$1.log" >&2
  return 1
}

start_aquatic() { # protocol -> sets APID
  taskset -c "$SERVER_CPUS" "$AQB/aquatic_$1" -c "$WORK/aquatic_$1.toml" >"$WORK/aquatic-$1.log" 2>&1 &
  APID=$!
  PIDS+=("$APID")
  sleep 1
  kill -0 "$APID" 2>/dev/null || { cat "$WORK/aquatic-$1.log" >&2; return 1; }
}

stop() { # pid
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

child_secs() { # CHILD_SECS = user+sys of this shell's reaped children (not in $(...): a subshell has its own)
  times > "$WORK/times"
  CHILD_SECS=$(tail -1 "$WORK/times" | awk '{s = 0; for (i = 1; i <= 2; i++) {split($i, a, /[ms]/); s += a[1] * 60 + a[2]} print s}')
}

# Runs in the main shell (not in $(...)), with the tester in the background and `wait`, so that
# INT/TERM reach the trap at once. Sets LINE="responses/s errors/s server% tester% others% us/resp".
run_lt() { # protocol server port pid round
  local proto=$1 srv=$2 port=$3 pid=$4 bin out before after t0 t1 b0 b1 c0 c1 ltpid
  bin=$PATCHED/bin/aquatic_${proto%%-*}_load_test
  [ "$proto" = udp ] && bin=$AQB/aquatic_udp_load_test
  lt_config "$proto" "$port" > "$WORK/lt-$proto-$srv.toml"
  out=$WORK/lt-$proto-$srv-$5.out
  child_secs; c0=$CHILD_SECS; before=$(cpu_ticks "$pid"); b0=$(busy_ticks); t0=$(date +%s.%N)
  # Bounded: the ws tester only starts its clock once all connections are open.
  AQUATIC_LT_WS_PATH=/tracker/socket AQUATIC_LT_HTTP_PATH_PREFIX=$([ "$srv" = fleuve ] && echo /tracker) \
    timeout $((DURATION + 60)) taskset -c "$CLIENT_CPUS" "$bin" -c "$WORK/lt-$proto-$srv.toml" >"$out" 2>&1 &
  ltpid=$!
  PIDS+=("$ltpid")
  wait "$ltpid" || true
  after=$(cpu_ticks "$pid"); b1=$(busy_ticks); t1=$(date +%s.%N); child_secs; c1=$CHILD_SECS
  local rps errs cpu
  rps=$(awk '/Average responses per second/ {v = $5} END {print v + 0}' "$out")
  # Error/failure responses per second, averaged over the intervals printed.
  errs=$(awk '/Error responses|Failure responses/ {s += $NF; n++} END {printf "%.0f", n ? s / n : 0}' "$out")
  # CPU as % of one core over the run: server, load tester, everything else on the machine
  # (this box is shared: a busy neighbour shows up in the last figure).
  cpu=$(awk -v t=$((after - before)) -v b=$((b1 - b0)) -v hz="$(getconf CLK_TCK)" -v s="$t0" -v e="$t1" \
    -v c="$(awk -v a="$c0" -v b="$c1" 'BEGIN {print b - a}')" \
    -v r="$rps" \
    'BEGIN {w = e - s; printf "%.0f %.0f %.0f %.1f", t / hz / w * 100, c / w * 100, (b / hz - t / hz - c) / w * 100, (r > 0 ? t / hz / w / r * 1e6 : 0)}')
  LINE="$rps $errs $cpu"
}

mix() { # protocol server round -> average of each response kind over the printed intervals
  awk '/^  - [A-Za-z]+ responses:/ {k = $2; v[k] += $NF; n[k]++; if (!(k in seen)) {seen[k] = 1; order[++m] = k}}
       /^Active connections:/ {c = $3; lo = (lo == "" || c < lo) ? c : lo; hi = (c > hi) ? c : hi}
       END {for (i = 1; i <= m; i++) printf "%s %.0f/s, ", tolower(order[i]), v[order[i]] / n[order[i]];
            if (hi != "") printf "active connections %s..%s", lo, hi; print ""}' "$WORK/lt-$1-$2-$3.out"
}

metrics_summary() { # scheme -> one line of Fleuve's tracker counters
  curl -sk "$1://127.0.0.1:$FL_PORT/metrics" | awk '/^fleuve_tracker_(announces|scrapes|offers|answers|refusals|swarms|peers)/ && $NF != 0 {printf "%s=%s ", $1, $NF}'
}

echo "# tracker-vs-aquatic: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($(awk '/model name/ {$1=$2=$3=""; print; exit}' /proc/cpuinfo | sed 's/^ *//')), ${DURATION}s per run"
echo "# server on cpus $SERVER_CPUS ($NSERVER core(s): Fleuve $NSERVER shard(s); aquatic ws/http $NSERVER socket + 1 swarm worker, udp $NSERVER socket worker(s)); load tester on cpus $CLIENT_CPUS ($NCLIENT worker(s))"
echo "# fleuve $("$FLEUVE_BIN" --version | awk '{print $2}') ($(git describe --always --dirty 2>/dev/null || echo unknown)), aquatic $AQ_VERSION; ws: TLS, $WS_CONNS conns/worker, 10 offers/announce; http: keep-alive, no TLS, $HTTP_CONNS conns; udp: 4 sockets/worker"
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
declare -A RES
run_server() { # protocol server round
  local proto=$1 srv=$2 round=$3 kind=${1%%-*} aport fport line
  case $kind in ws) aport=$AQ_WS_PORT; fport=$FL_PORT ;; http) aport=$AQ_HTTP_PORT; fport=$FL_PORT ;; udp) aport=$AQ_UDP_PORT; fport=$FL_UDP_PORT ;; esac
  if [ "$srv" = aquatic ]; then
    start_aquatic "$kind"
    run_lt "$proto" aquatic "$aport" "$APID" "$round"; line=$LINE
    kill -0 "$APID" 2>/dev/null || echo "!! aquatic_$kind exited during the run" >&2
    stop "$APID"
  else
    start_fleuve "$kind"
    run_lt "$proto" fleuve "$fport" "$FPID" "$round"; line=$LINE
    if kill -0 "$FPID" 2>/dev/null; then
      local scheme=http; [ "$kind" = ws ] && scheme=https
      echo "  fleuve /metrics: $(metrics_summary $scheme)"
    else
      echo "!! fleuve exited during the $proto run; log tail:" >&2; tail -20 "$WORK/fleuve-$kind.log" >&2
    fi
    stop "$FPID"
    if grep -qiE 'warn|error' "$WORK/fleuve-$kind.log"; then
      echo "  fleuve log (warnings and errors, last 5):"; grep -iE 'warn|error' "$WORK/fleuve-$kind.log" | tail -5 | cut -c1-300
    fi
  fi
  RES[$proto/$srv]="${RES[$proto/$srv]:-}|$line"
  read -r rps errs c1 c2 c3 us <<<"$line"
  printf "%-11s %-7s #%s %10.0f resp/s, %s err/s, CPU server/tester/others %s/%s/%s %%, server %s us/resp\n" "$proto" "$srv" "$round" "$rps" "$errs" "$c1" "$c2" "$c3" "$us"
  echo "  mix: $(mix "$proto" "$srv" "$round")"
}
for proto in $PROTOCOLS; do
  for round in $(seq 1 "$ROUNDS"); do
    # Alternate which server goes first, so a drift in the neighbours' load hits both alike.
    if [ $((round % 2)) = 1 ]; then order="aquatic fleuve"; else order="fleuve aquatic"; fi
    for srv in $order; do run_server "$proto" "$srv" "$round"; done
  done
done

col() { # "|a b c|a b c" field -> median of that field
  tr '|' '\n' <<<"$1" | awk -v f="$2" 'NF {print $f}' | median
}
echo
echo "# medians over $ROUNDS round(s); CPU: % of one core over the run, server / load tester / other processes;"
echo "# us/resp: server CPU time per response (server CPU share over the run / responses per second)"
printf "%-11s %15s %15s %7s %13s %12s %15s %15s %11s %11s\n" protocol "aquatic resp/s" "Fleuve resp/s" ratio "aquatic err/s" "Fleuve err/s" "aquatic CPU" "Fleuve CPU" "aq us/resp" "Fl us/resp"
for proto in $PROTOCOLS; do
  a=${RES[$proto/aquatic]} f=${RES[$proto/fleuve]}
  awk -v p="$proto" -v ar="$(col "$a" 1)" -v fr="$(col "$f" 1)" -v ae="$(col "$a" 2)" -v fe="$(col "$f" 2)" \
    -v ac="$(col "$a" 3)/$(col "$a" 4)/$(col "$a" 5)" -v fc="$(col "$f" 3)/$(col "$f" 4)/$(col "$f" 5)" \
    -v au="$(col "$a" 6)" -v fu="$(col "$f" 6)" \
    'BEGIN {printf "%-11s %15.0f %15.0f %6.2fx %13.0f %12.0f %15s %15s %11.1f %11.1f\n", p, ar, fr, (ar > 0 ? fr / ar : 0), ae, fe, ac, fc, au, fu}'
done
