#!/usr/bin/env bash
# Packs what the device check needs into .gpu/bundle.tar.xz (ignored through .git/info/exclude):
# the stripped fleuve binary, Debian's ffmpeg/ffprobe, the shared libraries they need (big
# codec/filter libraries we never call replaced by stubs, see gpu-bundle.py) and generated
# sources, so `scripts/gpu-check.sh` can run on a machine that has an NVIDIA driver but no
# Debian FFmpeg. Send it along (the device tool's carry: [".gpu"]), then there:
#   tar -xJf .gpu/bundle.tar.xz -C /tmp && source /tmp/gpu/env && bash scripts/gpu-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${FLEUVE_BIN:-${CARGO_TARGET_DIR:-target}/release/fleuve}
STAGE=$(mktemp -d)/gpu
mkdir -p "$STAGE/bin" "$STAGE/lib" "$STAGE/src" .gpu
strip -o "$STAGE/bin/fleuve" "$BIN"
cp "$(command -v ffmpeg)" "$(command -v ffprobe)" "$STAGE/bin/"
python3 scripts/gpu-bundle.py "$STAGE/lib" "$BIN" "$(command -v ffmpeg)" "$(command -v ffprobe)" \
  /lib/x86_64-linux-gnu/libavfilter.so.8 /lib/x86_64-linux-gnu/libavdevice.so.59
cp -L /lib/x86_64-linux-gnu/libavfilter.so.8 /lib/x86_64-linux-gnu/libavdevice.so.59 "$STAGE/lib/"
gen() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }
gen -f lavfi -i testsrc2=size=1920x1080:rate=30:duration=4 -f lavfi -i sine=duration=4 \
  -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac "$STAGE/src/src-libx264.mp4"
gen -f lavfi -i testsrc2=size=1920x1080:rate=30:duration=4 -f lavfi -i sine=duration=4 \
  -c:v libx265 -preset ultrafast -pix_fmt yuv420p -c:a aac -tag:v hvc1 "$STAGE/src/src-libx265.mp4"
cat > "$STAGE/env" <<'ENV'
export PATH=/tmp/gpu/bin:$PATH LD_LIBRARY_PATH=/tmp/gpu/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export FLEUVE_BIN=/tmp/gpu/bin/fleuve GPU_SRC_DIR=/tmp/gpu/src
ENV
tar -C "$(dirname "$STAGE")" -cf - gpu | xz -T2 -6 > .gpu/bundle.tar.xz
ls -la .gpu/bundle.tar.xz
