#!/usr/bin/env bash
# Unpacks an arm64 Debian bookworm sysroot for the cross build and the qemu run: glibc and
# OpenCV 4.6 (libopencv-dev, what gocv v0.31 links) with all their dependencies, from Debian's
# own arm64 packages — the same OpenCV that 64-bit Raspberry Pi OS bookworm installs.
#
# mmdebstrap --variant=extract downloads the packages with their dependencies and unpacks them
# without running any maintainer script (so no emulation and nothing touches this machine's
# dpkg). Two things those scripts would have done are done here: absolute symlinks are made
# relative (so they resolve inside the sysroot for the linker and for qemu -L), and the
# BLAS/LAPACK alternatives (libblas.so.3, liblapack.so.3, needed by OpenCV) are linked.
#
# Usage: build/arm64/sysroot.sh [DIR]   (default .cache/arm64-sysroot: ignored by git and, as
# its path starts with a dot, skipped by go's ./... patterns)
# Safe to run again: a stamp records what the sysroot was made from; if it matches, nothing is
# done. Set MIRROR to use another Debian mirror.
set -euo pipefail
cd "$(dirname "$0")/../.."

SYSROOT=${1:-.cache/arm64-sysroot}
SUITE=bookworm
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY=${SECURITY:-http://deb.debian.org/debian-security}
PACKAGES=libc6-dev,libopencv-dev
STAMP="$SYSROOT/.edged-sysroot"
want="suite=$SUITE packages=$PACKAGES mirror=$MIRROR security=$SECURITY format=2"

say() { printf 'arm64 sysroot: %s\n' "$*"; }
die() { printf 'arm64 sysroot: %s\n' "$*" >&2; exit 1; }

if [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ] && [ -f "$SYSROOT/usr/lib/aarch64-linux-gnu/pkgconfig/opencv4.pc" ]; then
  say "$SYSROOT is up to date"
  exit 0
fi
command -v mmdebstrap >/dev/null || die "mmdebstrap is missing: run build/arm64/setup.sh first"

tmp="$SYSROOT.new"
rm -rf "$tmp"
mkdir -p "$(dirname "$SYSROOT")"
say "unpacking $SUITE arm64 with $PACKAGES into $SYSROOT (about 1 GB)"
start=$SECONDS
mmdebstrap --quiet --variant=extract --architectures=arm64 --include="$PACKAGES" \
  --format=directory "$SUITE" "$tmp" \
  "deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" "deb $SECURITY $SUITE-security main" \
  || die "mmdebstrap failed (see above)"

# Absolute symlinks (libm.so -> /lib/aarch64-linux-gnu/libm.so.6, ...) would point into this
# machine's root; make them relative so they resolve inside the sysroot.
n=0
while IFS= read -r -d '' link; do
  target=$(readlink "$link")
  ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$tmp$target")" "$link"
  n=$((n + 1))
done < <(find "$tmp" -path "$tmp/dev" -prune -o -type l -lname '/*' -print0)

# update-alternatives would have made these (libblas3/liblapack3 postinst).
lib="$tmp/usr/lib/aarch64-linux-gnu"
for alt in blas/libblas.so.3 lapack/liblapack.so.3; do
  [ -e "$lib/$alt" ] || die "expected $lib/$alt (a BLAS/LAPACK package changed?)"
  ln -sfn "$alt" "$lib/$(basename "$alt")"
done

[ -f "$lib/pkgconfig/opencv4.pc" ] || die "no opencv4.pc in the unpacked sysroot"
[ -e "$tmp/lib/ld-linux-aarch64.so.1" ] || die "no arm64 dynamic loader in the unpacked sysroot"
echo "$want" > "$tmp/.edged-sysroot"
rm -rf "$SYSROOT"
mv "$tmp" "$SYSROOT"
say "done in $((SECONDS - start)) s ($n symlinks made relative; OpenCV $(PKG_CONFIG_SYSROOT_DIR=$SYSROOT PKG_CONFIG_LIBDIR=$SYSROOT/usr/lib/aarch64-linux-gnu/pkgconfig pkg-config --modversion opencv4))"
