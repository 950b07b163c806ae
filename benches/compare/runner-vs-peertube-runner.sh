#!/usr/bin/env bash
# Remote-runner transcoding, two ways, on the same runner jobs, in one run:
#   (a) `fleuve runner`: the jobs of one video (every rung as `vod-hls-transcoding`, plus the
#       storyboard) accepted together, the input downloaded once, decoded once, every rung encoded
#       from the same frames (libx264 here: no NVENC on this machine)
#   (b) PeerTube's runner's way (benches/compare/peertube_runner.py): one download and one ffmpeg
#       per job with PeerTube's VOD HLS options (libx264 veryfast, -threads 2 = the runner's
#       default `ffmpeg.threads`, nice 20) and PeerTube's storyboard filter
# Both at the same concurrency (every job of the video at once), against the same Fleuve server
# in remote-runner mode (`transcode.remote_runners.enabled`), each on its own upload of the same
# source. Prints the runner's CPU-seconds (user+sys, children included), the wall time from upload
# to publication, the ratios (a)/(b), and the PSNR of every rung against the source scaled to it.
#   benches/compare/runner-vs-peertube-runner.sh [i|ii|both] [SECONDS]
#     i:  1080p30 H.264 with motion and noise, ladder 1080/720/480/360 (default 60 s)
#     ii: 2160p30 HEVC "phone" clip, full ladder 2160…144 (default 10 s)
set -euo pipefail
cd "$(dirname "$0")/../.."
WHICH=${1:-both}
SECS=${2:-}
. scripts/setup.sh >/dev/null
cargo build --release --quiet --bin fleuve
WORK=$(mktemp -d /tmp/fleuve-runners.XXXXXX)
SERVER_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
PW=bench-root-password
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT

api() { # METHOD PATH [curl args...]
  local m=$1 p=$2; shift 2
  curl -fsS -X "$m" -H "Authorization: Bearer $TOKEN" "$URL$p" "$@"
}
json() { python3 -c "import json,sys; v=json.load(sys.stdin); print($1)"; }

start_server() { # resolutions(csv)
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" && wait "$SERVER_PID" 2>/dev/null || true
  rm -rf "$WORK/srv" && mkdir -p "$WORK/srv"
  FLEUVE_ROOT_PASSWORD=$PW FLEUVE_TRANSCODE_REMOTE_RUNNERS_ENABLED=true \
    FLEUVE_TRANSCODE_RESOLUTIONS=$1 FLEUVE_TRACKER_UDP_LISTEN=127.0.0.1:0 FLEUVE_LOG=warn \
    "$FLEUVE_BIN" serve --data-dir "$WORK/srv" --listen "127.0.0.1:$PORT" --public-url "$URL" \
    2> "$WORK/srv.log" &
  SERVER_PID=$!
  for _ in $(seq 1 300); do [ -s "$WORK/srv/fleuve.addr" ] && break; sleep 0.1; done
  local client
  client=$(curl -fsS "$URL/api/v1/oauth-clients/local")
  TOKEN=$(curl -fsS "$URL/api/v1/users/token" \
    --data-urlencode "client_id=$(echo "$client" | json 'v["client_id"]')" \
    --data-urlencode "client_secret=$(echo "$client" | json 'v["client_secret"]')" \
    --data-urlencode grant_type=password --data-urlencode username=root \
    --data-urlencode "password=$PW" | json 'v["access_token"]')
  api POST /api/v1/runners/registration-tokens/generate
  REG=$(api GET /api/v1/runners/registration-tokens | json 'v["data"][0]["registrationToken"]')
  CHANNEL=$(api GET /api/v1/users/me | json 'v["videoChannels"][0]["id"]')
}

upload() { # file name -> uuid
  api POST /api/v1/videos/upload -F "videofile=@$1" -F "channelId=$CHANNEL" -F "name=$2" -F privacy=1 \
    | json 'v["video"]["uuid"]'
}

wait_published() { # uuid -> seconds waited
  local t0 state
  t0=$(date +%s.%N)
  while :; do
    state=$(api GET "/api/v1/videos/$1" | json 'v["state"]["id"]')
    [ "$state" = 1 ] && break
    [ "$state" = 7 ] && { echo "transcoding failed: $(tail -5 "$WORK/srv.log")" >&2; exit 1; }
    sleep 0.2
  done
  awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}'
}

cpu() { tail -1 "$1" | awk -F: '{printf "%.1f", $2 + $3}'; }

run_case() { # name source resolutions(csv)
  local name=$1 src=$2 res=$3
  echo "## source $name: $(ffprobe -v error -select_streams v:0 -show_entries stream=codec_name,width,height,r_frame_rate -of csv=p=0 "$src"), $(ffprobe -v error -show_entries format=duration -of csv=p=0 "$src") s"
  FLEUVE_TRANSCODE_RESOLUTIONS=$res FLEUVE_TRANSCODE_ENCODERS=libx264 "$FLEUVE_BIN" plan --json "$src" > "$WORK/$name-plan.json"
  local jobs
  jobs=$(( $(echo "$res" | tr ',' '\n' | wc -l) + 1 ))
  start_server "$res"

  # (a) fleuve runner, every job of the video at once
  local st="$WORK/$name-ra"
  "$FLEUVE_BIN" runner --state-dir "$st" register --url "$URL" --registration-token "$REG" --name "fleuve-$name" >/dev/null
  python3 - "$st/config.toml" "$jobs" <<'PY'
import re, sys
p, n = sys.argv[1], sys.argv[2]
text = open(p).read()
text, k = re.subn(r"(?m)^concurrency = \d+", f"concurrency = {n}", text)
assert k == 1, text
open(p, "w").write(text)
PY
  local ua
  ua=$(upload "$src" "$name a")
  FLEUVE_LOG=warn /usr/bin/time -f %e:%U:%S -o "$WORK/$name-a.time" "$FLEUVE_BIN" runner --state-dir "$st" run 2> "$WORK/$name-ra.log" &
  local rpid=$!
  local awall
  awall=$(wait_published "$ua")
  # SIGTERM to the runner itself (not to `time`, which would die without its report).
  pkill -TERM -P "$rpid" 2>/dev/null || true
  wait "$rpid" 2>/dev/null || true

  # (b) PeerTube's way
  local ub
  ub=$(upload "$src" "$name b")
  local t0
  t0=$(date +%s.%N)
  /usr/bin/time -f %e:%U:%S -o "$WORK/$name-b.time" python3 benches/compare/peertube_runner.py "$URL" "$REG" \
    --plan "$WORK/$name-plan.json" --concurrency "$jobs" --threads 2 --idle 2 2> "$WORK/$name-rb.log" &
  local ppid=$!
  local bwall
  bwall=$(wait_published "$ub")
  wait "$ppid" || true

  local acpu bcpu
  acpu=$(cpu "$WORK/$name-a.time")
  bcpu=$(cpu "$WORK/$name-b.time")
  printf "%-44s %10s %12s %12s %12s\n" method "CPU s" "wall s" "CPU vs (b)" "wall vs (b)"
  for m in "a fleuve runner (one decode, $jobs jobs)|$acpu|$awall" "b PeerTube runner's way (ffmpeg per job)|$bcpu|$bwall"; do
    IFS='|' read -r label c w <<<"$m"
    awk -v l="$label" -v c="$c" -v w="$w" -v bc="$bcpu" -v bw="$bwall" 'BEGIN {printf "(%-42s %10.1f %12.1f %11.2fx %11.2fx\n", l")", c, w, c/bc, w/bw}'
  done
  echo "PSNR (dB, vs the source scaled to the rung) and size: rung: a / b"
  local hls="$WORK/srv/media/streaming-playlists/hls"
  for r in $(echo "$res" | tr ',' '\n' | sort -n); do
    local line="  ${r}p:"
    for u in "$ua" "$ub"; do
      local f
      f=$(ls "$hls/$u/"*"-$r-fragmented.mp4" 2>/dev/null | head -1)
      local wh
      wh=$(ffprobe -v error -select_streams v:0 -show_entries stream=width,height -of csv=p=0 "$f" | tr , :)
      local psnr
      psnr=$(ffmpeg -nostdin -hide_banner -nostats -i "$f" -i "$src" -lavfi "[1:v]scale=${wh},fps=30[ref];[0:v][ref]psnr" -f null - 2>&1 | grep -o 'average:[0-9.inf]*' | tail -1 | cut -d: -f2)
      line="$line ${psnr:-?} ($(( $(stat -c %s "$f") / 1024 )) KiB)"
    done
    echo "$line"
  done
  echo
}

echo "# runner-vs-peertube-runner: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(awk '/model name/ {$1=$2=$3=""; print; exit}' /proc/cpuinfo | sed 's/^ *//'), $(ffmpeg -version | head -1 | cut -d' ' -f1-3)"
if [ "$WHICH" = i ] || [ "$WHICH" = both ]; then
  D=${SECS:-60}
  ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc2=size=1920x1080:rate=30:duration=$D,noise=alls=12:allf=t+u" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=$D" -c:v libx264 -preset veryfast -crf 18 -pix_fmt yuv420p \
    -c:a aac -b:a 128k "$WORK/src-i.mp4"
  run_case i "$WORK/src-i.mp4" 360,480,720,1080
fi
if [ "$WHICH" = ii ] || [ "$WHICH" = both ]; then
  D=${SECS:-10}
  ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc2=size=3840x2160:rate=30:duration=$D,noise=alls=8:allf=t" \
    -f lavfi -i "sine=frequency=880:sample_rate=48000:duration=$D" -c:v libx265 -preset ultrafast -x265-params log-level=error \
    -pix_fmt yuv420p -tag:v hvc1 -c:a aac -b:a 128k "$WORK/src-ii.mp4"
  run_case ii "$WORK/src-ii.mp4" 144,240,360,480,720,1080,1440,2160
fi
