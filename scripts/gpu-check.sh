#!/usr/bin/env bash
# GPU paths on an NVIDIA machine (issue 3's device check), in one short run:
#   1. `fleuve probe-hw` sees the GPU and its NVDEC/NVENC engines;
#   2. the planner picks NVDEC (cuda) for an H.264 and an HEVC source;
#   3. a transcode decodes on the GPU (decoder "… on Cuda …") and, where the GPU has no NVENC
#      (H100/H200), every rung falls back cleanly to libx264 with the reason recorded;
#   4. NVENC tried anyway (FLEUVE_PLAN_TRY_ENCODERS) fails to open on device frames and falls back;
#   5. with transcode.device_scaling = always every rung is scaled by scale_cuda on the GPU, has
#      its size, and its PSNR against the CPU-scaled source is within 2 dB of the CPU path's.
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
  # Sources made by scripts/gpu-bundle.sh travel with it ($GPU_SRC_DIR); else make them here.
  if [ -f "${GPU_SRC_DIR:-/nonexistent}/src-$codec.mp4" ]; then cp "$GPU_SRC_DIR/src-$codec.mp4" "$OUT/"; else
  ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=1920x1080:rate=30:duration=4 \
    -f lavfi -i sine=duration=4 -c:v "$codec" -preset ultrafast -pix_fmt yuv420p -c:a aac "$OUT/src-$codec.mp4"; fi
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
  # NVENC tried anyway (as on a GPU the probe misjudged): the real open fails, every rung falls
  # back to libx264 with the library's reason, and decoding stays on the GPU.
  FLEUVE_PLAN_TRY_ENCODERS=h264_nvenc FLEUVE_TRANSCODE_RESOLUTIONS=720,360 FLEUVE_TRANSCODE_ENCODERS=h264_nvenc,libx264 \
    "$BIN" transcode "$OUT/src-$codec.mp4" "$OUT/try-$codec" --json > "$OUT/try-$codec.json" 2> "$OUT/try-$codec.log"
  check "$codec source: NVENC tried, open failed, fell back" "grep -q 'h264_nvenc: cannot open' $OUT/try-$codec.json && ! grep -q '\"encoder\": \"h264_nvenc\"' $OUT/try-$codec.json && grep -q '\"decoder\": \"[a-z0-9]* on Cuda' $OUT/try-$codec.json"
  grep -o '"fallbackReason": "[^"]*"' "$OUT/try-$codec.json" | head -1
  # Scaling on the GPU for every rung (device_scaling = always): decode and scale on the GPU,
  # libx264 on the downloaded rung frames; the rungs have their sizes and the quality of the CPU path.
  FLEUVE_TRANSCODE_DEVICE_SCALING=always FLEUVE_TRANSCODE_RESOLUTIONS=720,360 FLEUVE_TRANSCODE_ENCODERS=libx264 \
    "$BIN" transcode "$OUT/src-$codec.mp4" "$OUT/gpuscale-$codec" --json > "$OUT/gpuscale-$codec.json" 2> "$OUT/gpuscale-$codec.log"
  check "$codec source: every rung scaled by scale_cuda" "[ \$(grep -c '\"scaler\": \"scale_cuda' $OUT/gpuscale-$codec.json) = 3 ]"
  for r in 1080:1920x1080 720:1280x720 360:640x360; do
    res=${r%%:*}; size=${r#*:}; f="$OUT/gpuscale-$codec/video-$res-fragmented.mp4"
    got=$(ffprobe -v error -select_streams v:0 -show_entries stream=codec_name,width,height -of csv=p=0 "$f" | tr ',' ' ')
    check "$codec source: ${res}p rung is h264 ${size}" "[ '$got' = 'h264 ${size%x*} ${size#*x}' ]"
    for m in out gpuscale; do
      p=$(ffmpeg -nostdin -hide_banner -i "$OUT/$m-$codec/video-$res-fragmented.mp4" -i "$OUT/src-$codec.mp4" \
        -lavfi "[1:v]scale=${size%x*}:${size#*x}:flags=bicubic[r];[0:v][r]psnr" -f null - 2>&1 | grep -o 'average:[0-9.inf]*' | cut -d: -f2)
      echo "psnr $codec ${res}p $m: $p"; eval "psnr_$m=$p"
    done
    check "$codec source: ${res}p PSNR with GPU scaling within 2 dB of CPU scaling" "awk -v a=$psnr_gpuscale -v b=$psnr_out 'BEGIN{exit !(a >= b - 2)}'"
  done
done
echo "outputs in $OUT"
exit $fail
