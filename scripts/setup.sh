#!/usr/bin/env bash
# Installs what Fleuve needs to build, run and test on Debian 12, and nothing when it is all
# there (idempotent, quiet). Sourced by run.sh and test.sh; safe to run on its own.
set -euo pipefail

APT_PACKAGES=(
  build-essential pkg-config clang libclang-dev          # RocksDB (C++), bindgen
  libavcodec-dev libavformat-dev libavfilter-dev libavdevice-dev libswscale-dev libswresample-dev libavutil-dev ffmpeg
  systemd                                                 # systemd-analyze verify in the tests
  openssl curl ca-certificates                            # test certificates, rustup
  python3 python3-pip                                     # real clients in the tests (libtorrent)
  aria2                                                   # real BitTorrent client (webseed + HTTP tracker test)
  nginx-light wrk time nghttp2-client                     # benches/compare/*.sh (h2load: HTTP/2 load)
  gnuplot-nox                                             # benches/soak.sh plots
  chromium fonts-dejavu-core                              # browser tests of the pages (tests/web.rs)
  dpkg-dev binutils lintian                               # scripts/package.sh and its test (tests/package.rs)
  qemu-system-x86 busybox-static                          # tests/kernel_tls.rs: a VM with Debian's kernel (tls module)
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm (the npm bittorrent-tracker client in tests/clients), unless an npm is there:
# NodeSource's nodejs bundles npm and conflicts with Debian's npm package.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # nginx-light starts a default site on port 80; the benchmark runs its own instance.
  if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now nginx >/dev/null 2>&1 || true; fi
fi

# Real BitTorrent clients for the tests (libtorrent's Python bindings, from PyPI).
if ! python3 -c 'import libtorrent' >/dev/null 2>&1; then
  echo "setup: installing the libtorrent Python package" >&2
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore libtorrent \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages libtorrent
fi

# The npm test clients, pinned by tests/clients/package-lock.json: bittorrent-tracker (WebSocket
# tracker test), playwright-core (browser tests), peertube-cli and PeerTube's TypeScript types
# with the TypeScript compiler (REST conformance). No install scripts: they would build node-datachannel
# (WebRTC), which the test replaces with a stand-in.
ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLIENTS_DIR="$ROOT_DIR/tests/clients"
if [ ! -d "$CLIENTS_DIR/node_modules/bittorrent-tracker" ] || [ ! -d "$CLIENTS_DIR/node_modules/playwright-core" ] \
  || [ ! -d "$CLIENTS_DIR/node_modules/@peertube/peertube-types" ] || [ ! -d "$CLIENTS_DIR/node_modules/@peertube/peertube-cli" ] \
  || [ ! -d "$CLIENTS_DIR/node_modules/typescript" ]; then
  echo "setup: installing the npm test clients (tests/clients)" >&2
  (cd "$CLIENTS_DIR" && npm ci --ignore-scripts --no-audit --no-fund --silent)
fi

# The player's npm packages (web/package-lock.json), copied into the served, git-ignored
# web/dist (web.assets_dir) with gzip twins. Re-copied whenever the lockfile changes.
WEB_DIR="$ROOT_DIR/web"
if [ ! -d "$WEB_DIR/node_modules/hls.js" ] || [ "$WEB_DIR/package-lock.json" -nt "$WEB_DIR/node_modules/.package-lock.json" ]; then
  echo "setup: installing the player's npm packages (web)" >&2
  (cd "$WEB_DIR" && npm ci --ignore-scripts --no-audit --no-fund --silent)
fi
if [ ! -f "$WEB_DIR/dist/hls.min.js" ] || [ "$WEB_DIR/node_modules/.package-lock.json" -nt "$WEB_DIR/dist/hls.min.js" ]; then
  mkdir -p "$WEB_DIR/dist"
  for f in hls.js/dist/hls.min.js \
           p2p-media-loader-core/dist/p2p-media-loader-core.es.min.js \
           p2p-media-loader-hlsjs/dist/p2p-media-loader-hlsjs.es.min.js; do
    cp "$WEB_DIR/node_modules/$f" "$WEB_DIR/dist/"
    gzip -9 -k -f -n "$WEB_DIR/dist/$(basename "$f")"
  done
  cp "$WEB_DIR/node_modules/hls.js/LICENSE" "$WEB_DIR/dist/LICENSE.hls.js.txt"
  cp "$WEB_DIR/node_modules/p2p-media-loader-core/LICENSE" "$WEB_DIR/dist/LICENSE.p2p-media-loader.txt"
  touch "$WEB_DIR/dist/hls.min.js"
fi

# Rust: Debian 12's rustc is too old; use rustup's stable toolchain.
if ! command -v cargo >/dev/null 2>&1; then
  [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: installing the Rust toolchain with rustup" >&2
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c clippy -c rustfmt >/dev/null
  . "$HOME/.cargo/env"
fi

# One persistent target directory outside the clone, so every clone (and CI) builds warm.
if [ -z "${CARGO_TARGET_DIR:-}" ]; then
  if [ -w /var/cache ] || [ "$(id -u)" -eq 0 ]; then
    export CARGO_TARGET_DIR=/var/cache/fleuve/target
  else
    export CARGO_TARGET_DIR="$HOME/.cache/fleuve/target"
  fi
fi
mkdir -p "$CARGO_TARGET_DIR"
# The binary the tests and benchmarks run (an explicit FLEUVE_BIN wins: comparing two builds).
export FLEUVE_BIN="${FLEUVE_BIN:-$CARGO_TARGET_DIR/release/fleuve}"

# Garage (crates.io), the S3 server the object-storage tests run on loopback: built once into
# the persistent cache beside the target directory (about 11 minutes on 2 cores), like RocksDB.
GARAGE_VERSION=2.5.0
GARAGE_ROOT="$(dirname "$CARGO_TARGET_DIR")/garage"
export FLEUVE_GARAGE_BIN="${FLEUVE_GARAGE_BIN:-$GARAGE_ROOT/bin/garage}"
if ! "$FLEUVE_GARAGE_BIN" --version 2>/dev/null | grep -q "cargo:$GARAGE_VERSION"; then
  echo "setup: building Garage $GARAGE_VERSION for the object-storage tests (once; about 11 minutes)" >&2
  CARGO_TARGET_DIR="$(dirname "$CARGO_TARGET_DIR")/garage-target" \
    cargo install --locked --quiet garage --version "$GARAGE_VERSION" --root "$GARAGE_ROOT"
fi

# Debian's own kernel, for tests/kernel_tls.rs: where the running kernel has no `tls` module (a
# container or micro-VM kernel), that test boots this one in QEMU with this machine's file
# system shared read-only. Unpacked (not installed) beside the target directory.
export FLEUVE_TEST_KERNEL_DIR="${FLEUVE_TEST_KERNEL_DIR:-$(dirname "$CARGO_TARGET_DIR")/test-kernel}"
if ! ls "$FLEUVE_TEST_KERNEL_DIR"/root/boot/vmlinuz-* >/dev/null 2>&1; then
  kpkg="$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')"
  echo "setup: unpacking Debian's kernel ${kpkg:-?} for the kernel TLS test" >&2
  rm -rf "$FLEUVE_TEST_KERNEL_DIR" && mkdir -p "$FLEUVE_TEST_KERNEL_DIR"
  (cd "$FLEUVE_TEST_KERNEL_DIR" && apt-get download -qq "$kpkg" 2>/dev/null \
    && dpkg-deb -x ./*.deb root && rm -f ./*.deb)
fi
