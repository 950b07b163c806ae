#!/usr/bin/env bash
# Uploading a published ladder to object storage: Fleuve's move (`fleuve storage move --to
# object-storage`: MD5-checked PUTs, multipart in parallel parts for big files, files one after
# another in PeerTube's order) vs `aws s3 cp --recursive` (awscli, its defaults: 8 MiB multipart
# threshold, 10 requests in flight) of the same files to the same single-node Garage, in one run.
#   benches/compare/upload-vs-awscli.sh [SOURCE_SECONDS] [ROUNDS]
# The ladder comes from a real transcode of a generated 1080p clip (object storage off), then
# each round times awscli into one prefix and Fleuve's move (the server restarted with object
# storage on), moving the video back to disk between rounds.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-60}
ROUNDS=${2:-3}
. scripts/setup.sh >/dev/null
cargo build --release --quiet --bin fleuve
command -v aws >/dev/null || { echo "awscli is needed (pip install awscli)"; exit 1; }
G="$FLEUVE_GARAGE_BIN"
WORK=$(mktemp -d /tmp/fleuve-upload-bench.XXXXXX)
PORT=19280; S3_PORT=19290; RPC_PORT=19291; ADMIN_PORT=19293
cleanup() {
  [ -n "${FPID:-}" ] && kill "$FPID" 2>/dev/null && wait "$FPID" 2>/dev/null || true
  [ -n "${GPID:-}" ] && kill "$GPID" 2>/dev/null && wait "$GPID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
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
[admin]
api_bind_addr = "127.0.0.1:$ADMIN_PORT"
TOML
"$G" -c "$WORK/garage.toml" server > "$WORK/garage.log" 2>&1 &
GPID=$!
for _ in $(seq 100); do "$G" -c "$WORK/garage.toml" status >/dev/null 2>&1 && break; sleep 0.2; done
gc() { "$G" -c "$WORK/garage.toml" "$@"; }
gc layout assign -z dc1 -c 10G "$(gc node id -q | cut -d@ -f1)" >/dev/null
gc layout apply --version 1 >/dev/null
gc bucket create media >/dev/null
KEYS=$(gc key create bench)
export AWS_ACCESS_KEY_ID=$(echo "$KEYS" | awk 'tolower($0) ~ /key id/ {print $NF; exit}')
export AWS_SECRET_ACCESS_KEY=$(echo "$KEYS" | awk 'tolower($0) ~ /secret key/ {print $NF; exit}')
export AWS_DEFAULT_REGION=garage
gc bucket allow --read --write --owner media --key bench >/dev/null

export FLEUVE_ROOT_PASSWORD=bench-password
start_fleuve() { # object storage on|off
  local extra=()
  if [ "$1" = on ]; then
    extra=(env FLEUVE_OBJECT_STORAGE_ENABLED=true FLEUVE_OBJECT_STORAGE_ENDPOINT="http://127.0.0.1:$S3_PORT"
      FLEUVE_OBJECT_STORAGE_REGION=garage FLEUVE_OBJECT_STORAGE_FORCE_PATH_STYLE=true
      FLEUVE_OBJECT_STORAGE_STREAMING_PLAYLISTS_BUCKET_NAME=media)
  fi
  rm -f "$WORK/data/fleuve.addr"
  "${extra[@]}" "$FLEUVE_BIN" serve --data-dir "$WORK/data" --listen 127.0.0.1:$PORT 2>>"$WORK/fleuve.log" &
  FPID=$!
  for _ in $(seq 1 300); do [ -f "$WORK/data/fleuve.addr" ] && break; sleep 0.1; done
}
stop_fleuve() { kill "$FPID"; wait "$FPID" 2>/dev/null || true; FPID=; }

ffmpeg -loglevel error -f lavfi -i "testsrc2=size=1920x1080:rate=30:duration=$SECS" \
  -f lavfi -i "sine=frequency=440:duration=$SECS" -c:v libx264 -preset veryfast -crf 18 -c:a aac "$WORK/src.mp4"
start_fleuve off
"$FLEUVE_BIN" ingest "$WORK/src.mp4" --wait --json --data-dir "$WORK/data" > "$WORK/video.json" 2>/dev/null
UUID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["uuid"])' "$WORK/video.json")
HLS="$WORK/data/media/streaming-playlists/hls/$UUID"
BYTES=$(du -sb --exclude='*.torrent' "$HLS" | cut -f1)
FILES=$(ls "$HLS" | grep -vc '\.torrent$')
stop_fleuve
start_fleuve on

echo "# upload-vs-awscli: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, Garage $("$G" --version | awk '{print $2}') on loopback, $(aws --version 2>&1 | cut -d' ' -f1)"
echo "# ladder of a ${SECS}s 1080p clip: $FILES files, $((BYTES / 1048576)) MiB"
# fleuve: the CLI's wall time (login, queue, polls every 0.5 s) and, in brackets, the move's
# own time as the server logs it ("video files moved … secs=").
printf "%-10s %9s %9s\n" "tool" "seconds" "MiB/s"
for round in $(seq 1 "$ROUNDS"); do
  t0=$(date +%s.%N)
  aws --endpoint-url "http://127.0.0.1:$S3_PORT" s3 cp --recursive --quiet --exclude '*.torrent' "$HLS" "s3://media/awscli-$round/"
  t1=$(date +%s.%N)
  printf "%-10s %9.2f %9.1f\n" "awscli#$round" "$(echo "$t1 - $t0" | bc)" "$(echo "$BYTES / 1048576 / ($t1 - $t0)" | bc -l)"
  t0=$(date +%s.%N)
  "$FLEUVE_BIN" storage move --to object-storage --all --wait-secs 600 --data-dir "$WORK/data" >/dev/null
  t1=$(date +%s.%N)
  own=$(grep 'video files moved' "$WORK/fleuve.log" | grep -o 'to=ObjectStorage secs=[0-9.]*' | tail -1 | cut -d= -f3)
  printf "%-10s %9.2f %9.1f   [move %.2f s, %.1f MiB/s]\n" "fleuve#$round" "$(echo "$t1 - $t0" | bc)" "$(echo "$BYTES / 1048576 / ($t1 - $t0)" | bc -l)" "$own" "$(echo "$BYTES / 1048576 / $own" | bc -l)"
  "$FLEUVE_BIN" storage move --to file-system --all --wait-secs 600 --data-dir "$WORK/data" >/dev/null
done
