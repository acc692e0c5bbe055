#!/usr/bin/env bash
# Cross-builds edged for linux/arm64 (driven by `make arm64`):
#   OUT/bin/edged   an aarch64 ELF, runpath $ORIGIN/../lib only
#   OUT/lib/        the linux_arm64 TFLite 2.9 C library (and its external-delegate plugin)
# OUT defaults to dist/linux_arm64. cgo compiles with aarch64-linux-gnu-gcc/g++ against the arm64
# sysroot from sysroot.sh (glibc and OpenCV 4.6 via its opencv4.pc) and links the TFLite library
# from third_party/tflite/lib/linux_arm64 (runtime/tflite's cgo flags). LDFLAGS (environment) carries the
# Makefile's -X version/commit flags.
#
#   build/arm64/build.sh --tests PKG...   instead compiles the tests of these packages into
#                                         OUT/tests/PKG.test (make test-arm64 runs them in qemu)
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=$PWD/third_party/go/bin:$PATH:/usr/local/go/bin

OUT=${OUT:-dist/linux_arm64}
SYSROOT=$(realpath -m "${SYSROOT:-.cache/arm64-sysroot}")
GO=${GO:-go}
LDFLAGS=${LDFLAGS:-}

die() { printf 'arm64 build: %s\n' "$*" >&2; exit 1; }
command -v aarch64-linux-gnu-gcc >/dev/null || die "aarch64-linux-gnu-gcc is missing: run build/arm64/setup.sh"
[ -f "$SYSROOT/usr/lib/aarch64-linux-gnu/pkgconfig/opencv4.pc" ] || die "no arm64 sysroot in $SYSROOT: run build/arm64/sysroot.sh"
TFLITE=third_party/tflite/lib/linux_arm64
[ -f "$TFLITE/libtensorflowlite_c.so" ] || die "$TFLITE/libtensorflowlite_c.so is missing: run make deps"

export CGO_ENABLED=1 GOOS=linux GOARCH=arm64
export CC="aarch64-linux-gnu-gcc --sysroot=$SYSROOT" CXX="aarch64-linux-gnu-g++ --sysroot=$SYSROOT"
export PKG_CONFIG_SYSROOT_DIR=$SYSROOT
export PKG_CONFIG_LIBDIR=$SYSROOT/usr/lib/aarch64-linux-gnu/pkgconfig:$SYSROOT/usr/share/pkgconfig
unset PKG_CONFIG_PATH

start=$SECONDS
if [ "${1:-}" = --tests ]; then
  shift
  rm -rf "$OUT/tests"   # exactly these packages run in make test-arm64
  mkdir -p "$OUT/tests"
  for pkg in "$@"; do
    "$GO" test -c -o "$OUT/tests/${pkg//\//__}.test" "./$pkg"   # runtime/tflite -> runtime__tflite.test
  done
  printf 'arm64 build: test binaries for %s in %s/tests (%d s)\n' "$*" "$OUT" $((SECONDS - start))
  exit 0
fi
mkdir -p "$OUT/bin" "$OUT/lib"
"$GO" build -trimpath -ldflags "$LDFLAGS" -o "$OUT/bin/edged.tmp" ./cmd/edged
# runtime/tflite's cgo flags put the checkout's third_party path first in the runpath (for go test);
# the built edged must find only the lib/ beside it.
patchelf --set-rpath '$ORIGIN/../lib' "$OUT/bin/edged.tmp"
mv "$OUT/bin/edged.tmp" "$OUT/bin/edged"
install -m 0755 "$TFLITE"/*.so "$OUT/lib/"

info=$(file -b "$OUT/bin/edged")
case "$info" in *"ELF 64-bit LSB"*"ARM aarch64"*"interpreter /lib/ld-linux-aarch64.so.1"*) ;; *) die "$OUT/bin/edged is not an aarch64 Linux executable: $info" ;; esac
glibc=$(aarch64-linux-gnu-objdump -T "$OUT/bin/edged" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
printf 'arm64 build: %s (%s, needs %s; runpath %s) in %d s\n' "$OUT/bin/edged" \
  "$(du -h "$OUT/bin/edged" | cut -f1)" "$glibc" "$(patchelf --print-rpath "$OUT/bin/edged")" $((SECONDS - start))
