#!/usr/bin/env bash
# GPU paths on an NVIDIA machine (issue 3's device check), in one short run:
#   1. `fleuve probe-hw` sees the GPU and its NVDEC/NVENC engines;
#   2. the planner picks NVDEC (cuda) for an H.264 and an HEVC source;
#   3. a transcode decodes on the GPU (decoder "… on Cuda …") and, where the GPU has no NVENC
#      (H100/H200), every rung falls back cleanly to libx264 with the reason recorded.
# Needs the fleuve binary ($FLEUVE_BIN or target/release/fleuve) and Debian's ffmpeg CLI.
# Prints a summary; exit status 0 only when every check held.
set -uo pipefail
BIN=${FLEUVE_BIN:-${CARGO_TARGET_DIR:-target}/release/fleuve}
OUT=${OUT:-$(mktemp -d)}; mkdir -p "$OUT"
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
"$BIN" probe-hw | tee "$OUT/probe-hw.txt"
for codec in libx264 libx265; do
  ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=1920x1080:rate=30:duration=4 \
    -f lavfi -i sine=duration=4 -c:v "$codec" -preset ultrafast -pix_fmt yuv420p -c:a aac "$OUT/src-$codec.mp4"
  FLEUVE_TRANSCODE_RESOLUTIONS=720,360 "$BIN" plan "$OUT/src-$codec.mp4" --json > "$OUT/plan-$codec.json"
  check "$codec source: planner picks NVDEC" "grep -q '\"hwaccel\": \"cuda\"' $OUT/plan-$codec.json"
  FLEUVE_TRANSCODE_RESOLUTIONS=720,360 FLEUVE_TRANSCODE_ENCODERS=h264_nvenc,libx264 \
    "$BIN" transcode "$OUT/src-$codec.mp4" "$OUT/out-$codec" --json > "$OUT/transcode-$codec.json" 2> "$OUT/transcode-$codec.log"
  cat "$OUT/transcode-$codec.json"
  check "$codec source: decoded on the GPU" "grep -q '\"decoder\": \"[a-z0-9]* on Cuda' $OUT/transcode-$codec.json"
  check "$codec source: 120 frames decoded" "grep -q '\"decodedFrames\": 120' $OUT/transcode-$codec.json"
  if grep -q 'nvenc.*available' "$OUT/probe-hw.txt" && ! grep -qi 'no nvenc\|nvenc: unavailable\|NVENC count 0' "$OUT/probe-hw.txt"; then
    check "$codec source: rungs encoded by NVENC" "grep -q '\"encoder\": \"h264_nvenc\"' $OUT/transcode-$codec.json"
  else
    check "$codec source: no NVENC, every rung on libx264" "! grep -q '\"encoder\": \"h264_nvenc\"' $OUT/transcode-$codec.json"
    check "$codec source: fallbackReason names h264_nvenc" "grep -q 'h264_nvenc' $OUT/transcode-$codec.json"
  fi
done
echo "outputs in $OUT"
exit $fail
