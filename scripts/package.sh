#!/usr/bin/env bash
# Builds the Debian package of Fleuve from the existing release build (no second profile: a new
# profile would rebuild RocksDB): fleuve_<version>_<arch>.deb, and beside it the binary's debug
# symbols, fleuve_<version>_<arch>.debug (the packaged binary is stripped and names that file in
# its .gnu_debuglink; put it in /usr/lib/debug/.build-id/ or give it to gdb with
# `symbol-file`).
#
# Usage: scripts/package.sh [OUT_DIR]      (default: $CARGO_TARGET_DIR/debian, else target/debian)
# The binary: $FLEUVE_BIN, else $CARGO_TARGET_DIR/release/fleuve (built when missing). The
# player's assets come from web/dist (scripts/setup.sh fills it from npm).
# Prints the path of the .deb on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=${CARGO_TARGET_DIR:-target}
OUT=${1:-$TARGET/debian}
BIN=${FLEUVE_BIN:-$TARGET/release/fleuve}
if [ ! -x "$BIN" ]; then
  echo "package: building the release binary" >&2
  cargo build --release --bin fleuve >&2
fi
BIN=$(readlink -f "$BIN")
for tool in dpkg-deb dpkg-shlibdeps objcopy; do
  command -v "$tool" >/dev/null || { echo "package: $tool is missing (apt-get install dpkg-dev binutils)" >&2; exit 1; }
done
for f in hls.min.js p2p-media-loader-core.es.min.js p2p-media-loader-hlsjs.es.min.js; do
  [ -f "web/dist/$f" ] || { echo "package: web/dist/$f is missing: run scripts/setup.sh" >&2; exit 1; }
done

VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
# Who the package names as its maintainer (and in its changelog).
MAINTAINER=${FLEUVE_MAINTAINER:-Fleuve developers <packaging@fleuve.video>}
ARCH=$(dpkg --print-architecture)
VERSION_LINE=$("$BIN" --version)
case "$VERSION_LINE" in
  "fleuve $VERSION "*) ;;
  *) echo "package: $BIN says \"$VERSION_LINE\", not version $VERSION of Cargo.toml: rebuild it" >&2; exit 1 ;;
esac
NAME="fleuve_${VERSION}_${ARCH}"

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
ROOT="$STAGE/root"
umask 022
install -d "$ROOT/DEBIAN" "$ROOT/usr/bin" "$ROOT/lib/systemd/system" \
  "$ROOT/usr/lib/sysusers.d" "$ROOT/usr/lib/tmpfiles.d" "$ROOT/usr/lib/modules-load.d" "$ROOT/etc/fleuve" \
  "$ROOT/usr/share/fleuve/web" "$ROOT/usr/share/man/man1" "$ROOT/usr/share/doc/fleuve" \
  "$ROOT/usr/share/bash-completion/completions" "$ROOT/usr/share/zsh/vendor-completions" \
  "$ROOT/usr/share/fish/vendor_completions.d"

# The binary, stripped; its symbols beside the package.
objcopy --only-keep-debug --compress-debug-sections "$BIN" "$STAGE/$NAME.debug"
objcopy --strip-all --remove-section=.comment --add-gnu-debuglink="$STAGE/$NAME.debug" "$BIN" "$ROOT/usr/bin/fleuve"
chmod 0755 "$ROOT/usr/bin/fleuve"

# Units (the binary is /usr/bin/fleuve here), the user, the directories.
for unit in systemd/*.service; do
  sed -e 's|/usr/local/bin/fleuve|/usr/bin/fleuve|g' \
      -e '/^# Fleuve: install the binary/,/^#   systemd-sysusers/d' "$unit" \
      > "$ROOT/lib/systemd/system/$(basename "$unit")"
done
grep -v '^#' systemd/fleuve.sysusers > "$ROOT/usr/lib/sysusers.d/fleuve.conf"
grep -v '^#' systemd/fleuve.tmpfiles > "$ROOT/usr/lib/tmpfiles.d/fleuve.conf"
grep -v '^#' systemd/fleuve.modules-load > "$ROOT/usr/lib/modules-load.d/fleuve.conf"

# The configuration: every key with its default, commented out (a conffile: dpkg keeps the
# operator's changes on upgrades).
{
  cat <<'EOF'
# Fleuve's configuration (/etc/fleuve/fleuve.toml). Every key is optional: the values below,
# commented out, are the embedded defaults (`fleuve config --print` shows the effective ones).
# Keys and variables are documented in /usr/share/doc/fleuve/configuration.md.
#
# Before the first start, set the public URL of this instance (its ActivityPub ids and every
# link depend on it), then: systemctl enable --now fleuve
#public_url = "https://videos.example.org"
#
# The service runs as user fleuve with data_dir /var/lib/fleuve (FLEUVE_DATA_DIR in the unit).

EOF
  # Run where no fleuve.toml is, without FLEUVE_* variables: the embedded defaults.
  (cd "$STAGE" && env -i PATH=/usr/bin:/bin HOME="$STAGE" "$BIN" config --print) \
    | grep -v '^public_url = ' | sed -e '/^$/!s/^/#/'
} > "$ROOT/etc/fleuve/fleuve.toml"
echo "/etc/fleuve/fleuve.toml" > "$ROOT/DEBIAN/conffiles"

# The player's assets (the server looks in /usr/share/fleuve/web).
for f in web/dist/*; do
  install -m 0644 "$f" "$ROOT/usr/share/fleuve/web/"
done

# Man pages and completions, from the command line's own definitions.
"$BIN" manual "$STAGE/manual"
for page in "$STAGE"/manual/man1/*.1; do
  gzip -9n < "$page" > "$ROOT/usr/share/man/man1/$(basename "$page").gz"
done
install -m 0644 "$STAGE/manual/completions/fleuve.bash" "$ROOT/usr/share/bash-completion/completions/fleuve"
install -m 0644 "$STAGE/manual/completions/_fleuve" "$ROOT/usr/share/zsh/vendor-completions/_fleuve"
install -m 0644 "$STAGE/manual/completions/fleuve.fish" "$ROOT/usr/share/fish/vendor_completions.d/fleuve.fish"

# Documentation.
DOC="$ROOT/usr/share/doc/fleuve"
install -m 0644 README.md docs/configuration.md docs/operations.md "$DOC/"
DATE=$(date -R -d "@$(git log -1 --format=%ct 2>/dev/null || date +%s)")
COMMIT=${VERSION_LINE##*git }
COMMIT=${COMMIT%)}
printf 'fleuve (%s) unstable; urgency=medium\n\n  * Built from commit %s.\n\n -- %s  %s\n' \
  "$VERSION" "$COMMIT" "$MAINTAINER" "$DATE" | gzip -9n > "$DOC/changelog.gz"
cat > "$DOC/copyright" <<'EOF'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: fleuve

Files: *
Copyright: 2025-2026 Fleuve developers
License: AGPL-3.0-or-later
 On Debian systems, the full text of the GNU Affero General Public License version 3 can be
 found at https://www.gnu.org/licenses/agpl-3.0.txt.

Files: usr/share/fleuve/web/hls.min.js
Copyright: 2017-2026 hls.js contributors
License: Apache-2.0
 On Debian systems, the full text of the Apache License version 2.0 can be found in
 /usr/share/common-licenses/Apache-2.0.

Files: usr/share/fleuve/web/p2p-media-loader-*
Copyright: 2018-2026 Novage LLC
License: Apache-2.0
 On Debian systems, the full text of the Apache License version 2.0 can be found in
 /usr/share/common-licenses/Apache-2.0.
EOF
# Depends: the shared libraries the binary links (FFmpeg's libav*, libc…), as dpkg-shlibdeps
# maps them to packages.
mkdir -p "$STAGE/debian"
printf 'Source: fleuve\n\nPackage: fleuve\nArchitecture: any\n' > "$STAGE/debian/control"
DEPENDS=$(cd "$STAGE" && dpkg-shlibdeps -O root/usr/bin/fleuve 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$DEPENDS" ] || { echo "package: dpkg-shlibdeps found no dependency" >&2; exit 1; }
rm -rf "$STAGE/debian"

# Maintainer scripts.
cat > "$ROOT/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = "configure" ]; then
    if command -v systemd-sysusers >/dev/null && command -v systemd-tmpfiles >/dev/null; then
        systemd-sysusers fleuve.conf
        systemd-tmpfiles --create fleuve.conf
    else
        # Without systemd (a container): the same user and directories by hand.
        getent group fleuve >/dev/null || groupadd --system fleuve
        getent passwd fleuve >/dev/null || useradd --system --gid fleuve \
            --home-dir /var/lib/fleuve --no-create-home --shell /usr/sbin/nologin \
            --comment "Fleuve video appliance" fleuve
        install -d -m 0750 -o fleuve -g fleuve /var/lib/fleuve /var/lib/fleuve/tmp
        install -d -m 0755 -o fleuve -g fleuve /var/lib/fleuve/media
    fi
    if [ -d /run/systemd/system ]; then
        systemctl --system daemon-reload >/dev/null || true
    fi
    # Kernel TLS now rather than at the next boot (modules-load.d); a kernel without the module
    # (a container's) keeps TLS in user space.
    modprobe -q tls 2>/dev/null || true
    if grep -Eq '^[[:space:]]*public_url[[:space:]]*=[[:space:]]*"[^"]+' /etc/fleuve/fleuve.toml; then
        # An upgrade: a running service takes the new binary.
        if [ -d /run/systemd/system ]; then
            deb-systemd-invoke try-restart fleuve.service >/dev/null || true
        fi
    else
        echo "fleuve: not started: set public_url in /etc/fleuve/fleuve.toml, then run: systemctl enable --now fleuve"
    fi
fi
exit 0
EOF
cat > "$ROOT/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = "remove" ] && [ -d /run/systemd/system ]; then
    deb-systemd-invoke stop fleuve.service fleuve-edge.service fleuve-runner.service >/dev/null 2>&1 || true
fi
exit 0
EOF
cat > "$ROOT/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
case "$1" in
    remove)
        # Nothing of the operator's is deleted: /var/lib/fleuve (videos, database) and
        # /etc/fleuve stay until the package is purged.
        if [ -d /run/systemd/system ]; then
            systemctl --system daemon-reload >/dev/null || true
        fi
        ;;
    purge)
        echo "fleuve: purge: deleting /var/lib/fleuve (the videos and the database), /var/lib/fleuve-runner and /etc/fleuve"
        rm -rf /var/lib/fleuve /var/lib/fleuve-runner /var/lib/fleuve-edge /etc/fleuve
        if [ -d /run/systemd/system ]; then
            systemctl --system daemon-reload >/dev/null || true
        fi
        ;;
esac
exit 0
EOF
chmod 0755 "$ROOT/DEBIAN/postinst" "$ROOT/DEBIAN/prerm" "$ROOT/DEBIAN/postrm"

(cd "$ROOT" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum) > "$ROOT/DEBIAN/md5sums"
SIZE=$(du -sk --exclude=DEBIAN "$ROOT" | cut -f1)
cat > "$ROOT/DEBIAN/control" <<EOF
Package: fleuve
Version: $VERSION
Architecture: $ARCH
Maintainer: $MAINTAINER
Installed-Size: $SIZE
Depends: $DEPENDS
Section: video
Priority: optional
Homepage: https://joinpeertube.org/
Description: video storage and transcoding appliance speaking PeerTube's protocols
 Fleuve ingests videos, transcodes them once into an adaptive HLS ladder on
 hardware encoders (NVENC, VAAPI) or libx264, stores them on disk or an S3
 cluster, serves them from a thread-per-core engine, tracks their WebTorrent
 swarms and federates with PeerTube instances over ActivityPub.
EOF

mkdir -p "$OUT"
dpkg-deb --root-owner-group -Zxz --build "$ROOT" "$OUT/$NAME.deb" >&2
cp "$STAGE/$NAME.debug" "$OUT/$NAME.debug"
echo "package: $(du -h "$OUT/$NAME.deb" | cut -f1) $OUT/$NAME.deb; binary $(du -h "$ROOT/usr/bin/fleuve" | cut -f1) stripped; symbols $(du -h "$OUT/$NAME.debug" | cut -f1) in $NAME.debug" >&2
echo "$OUT/$NAME.deb"
