#!/usr/bin/env bash
# Transcoding a whole ladder, three ways, on the same generated source, in one run:
#   (a) Fleuve: `fleuve transcode` (decode once, one thread per rung, libx264)
#   (b) PeerTube's way: one ffmpeg per rung, each decoding the source, PeerTube's options, -threads 0
#   (c) one ffmpeg with `split`, all rungs from one decode
# Same encoder settings for everyone (libx264 veryfast, PeerTube's maxrate/bufsize per rung from
# `fleuve plan`, 2 s GOP, -bf 16, AAC 48 kHz stereo), HLS fMP4 single-file output.
# Prints CPU-seconds (user+sys) and wall time of each, the ratios to (b), and the PSNR of every
# rung against the source scaled to that rung.
#   benches/compare/ladder-vs-ffmpeg.sh [i|ii|both] [SECONDS]
#     i:  1080p30 H.264 with motion and noise, ladder 1080/720/480/360 (default 60 s)
#     ii: 2160p30 HEVC "phone" clip, full ladder 2160…144 (default 10 s)
set -euo pipefail
cd "$(dirname "$0")/../.."
WHICH=${1:-both}
SECS=${2:-}
. scripts/setup.sh >/dev/null
cargo build --release --quiet --bin fleuve
WORK=$(mktemp -d /tmp/fleuve-ladder.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
TIME="/usr/bin/time -f %e:%U:%S -o"

cpu() { awk -F: '{printf "%.1f %.1f", $2 + $3, $1}' "$1"; }

run_case() { # name source resolutions(csv)
  local name=$1 src=$2 res=$3
  echo "## source $name: $(ffprobe -v error -select_streams v:0 -show_entries stream=codec_name,width,height,r_frame_rate -of csv=p=0 "$src"), $(ffprobe -v error -show_entries format=duration -of csv=p=0 "$src") s"
  local plan="$WORK/$name-plan.json"
  FLEUVE_TRANSCODE_RESOLUTIONS=$res FLEUVE_TRANSCODE_ENCODERS=libx264 "$FLEUVE_BIN" plan --json "$src" > "$plan"
  # rung lines: resolution width height fps maxrate gop ; audio bitrate
  python3 - "$plan" > "$WORK/$name-rungs.txt" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))["ladder"]
for r in p["rungs"]:
    print(r["resolution"], r["width"], r["height"], r["fps"], r["targetBitrate"], r["gop"])
PY
  local abr
  abr=$(python3 -c 'import json,sys; a=json.load(open(sys.argv[1]))["ladder"]["audio"]; print(a["bitrate"] if a else 0)' "$plan")
  local hls="-f hls -hls_time 4 -hls_playlist_type vod -hls_segment_type fmp4 -hls_flags single_file"
  local aopt="-c:a aac -b:a $abr -ac 2 -ar 48000"

  # (a) Fleuve
  mkdir -p "$WORK/$name-a"
  FLEUVE_TRANSCODE_RESOLUTIONS=$res FLEUVE_TRANSCODE_ENCODERS=libx264 FLEUVE_LOG=warn \
    $TIME "$WORK/$name-a.time" "$FLEUVE_BIN" transcode "$src" "$WORK/$name-a" --prefix a >/dev/null

  # (b) PeerTube: one ffmpeg per rung
  mkdir -p "$WORK/$name-b"
  : > "$WORK/$name-b.cmds"
  while read -r r w h fps t gop; do
    echo "ffmpeg -hide_banner -loglevel error -y -i $src -vf scale=w=-2:h=$h -r $fps -c:v libx264 -preset veryfast -maxrate $t -bufsize $((2 * t)) -b_strategy 1 -bf 16 -g $gop -flags +cgop -pix_fmt yuv420p $aopt -threads 0 -max_muxing_queue_size 1024 -map_metadata -1 $hls -hls_segment_filename $WORK/$name-b/b-$r-fragmented.mp4 $WORK/$name-b/b-$r.m3u8" >> "$WORK/$name-b.cmds"
  done < "$WORK/$name-rungs.txt"
  $TIME "$WORK/$name-b.time" bash "$WORK/$name-b.cmds"

  # (c) one ffmpeg, split
  mkdir -p "$WORK/$name-c"
  local n graph="" outs=() i=0
  n=$(wc -l < "$WORK/$name-rungs.txt")
  graph="[0:v]split=$n"
  for j in $(seq 1 "$n"); do graph="$graph[s$j]"; done
  graph="$graph;"
  while read -r r w h fps t gop; do
    i=$((i + 1))
    graph="$graph[s$i]scale=w=-2:h=$h,fps=$fps[o$i];"
    outs+=(-map "[o$i]" -map 0:a? -c:v libx264 -preset veryfast -maxrate "$t" -bufsize $((2 * t)) -b_strategy 1 -bf 16 -g "$gop" -flags +cgop -pix_fmt yuv420p $aopt $hls -hls_segment_filename "$WORK/$name-c/c-$r-fragmented.mp4" "$WORK/$name-c/c-$r.m3u8")
  done < "$WORK/$name-rungs.txt"
  $TIME "$WORK/$name-c.time" ffmpeg -hide_banner -loglevel error -y -i "$src" -filter_complex "${graph%;}" "${outs[@]}"

  read -r acpu awall <<<"$(cpu "$WORK/$name-a.time")"
  read -r bcpu bwall <<<"$(cpu "$WORK/$name-b.time")"
  read -r ccpu cwall <<<"$(cpu "$WORK/$name-c.time")"
  printf "%-34s %10s %9s %12s %12s\n" method "CPU s" "wall s" "CPU vs (b)" "wall vs (b)"
  for m in "a Fleuve (decode once)|$acpu|$awall" "b PeerTube (ffmpeg per rung)|$bcpu|$bwall" "c ffmpeg split (one process)|$ccpu|$cwall"; do
    IFS='|' read -r label c w <<<"$m"
    awk -v l="$label" -v c="$c" -v w="$w" -v bc="$bcpu" -v bw="$bwall" 'BEGIN {printf "(%-32s %10.1f %9.1f %11.2fx %11.2fx\n", l")", c, w, c/bc, w/bw}'
  done
  printf "PSNR (dB, vs source scaled to the rung): %s\n" "rung: a / b / c"
  while read -r r w h fps t gop; do
    line="  ${r}p:"
    for m in a b c; do
      f="$WORK/$name-$m/$m-$r-fragmented.mp4"
      psnr=$(ffmpeg -nostdin -hide_banner -nostats -i "$f" -i "$src" -lavfi "[1:v]scale=$w:$h,fps=$fps[ref];[0:v][ref]psnr" -f null - 2>&1 | grep -o 'average:[0-9.inf]*' | tail -1 | cut -d: -f2)
      line="$line ${psnr:-?}"
    done
    echo "$line"
  done < "$WORK/$name-rungs.txt"
  echo
}

echo "# ladder-vs-ffmpeg: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(awk '/model name/ {$1=$2=$3=""; print; exit}' /proc/cpuinfo | sed 's/^ *//'), $(ffmpeg -version | head -1 | cut -d' ' -f1-3)"
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
