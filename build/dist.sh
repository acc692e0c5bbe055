#!/usr/bin/env bash
# Makes the release archive dist/edged-<version>-linux-<arch>.tar.gz from a built edged:
#
#   edged-<version>-linux-<arch>/
#     bin/edged                 runpath $ORIGIN/../lib only (the checkout's path is removed)
#     lib/libtensorflowlite_c.so, lib/libexternal_delegate_obj.so   TFLite 2.9 (tfjs-tflite-node)
#     configs/                  edged.yaml (demo), pi5.yaml, pi4.yaml, jetson.yaml, labels/
#     models/shapes/            the shapes demo checkpoints (converted on first use)
#     systemd/edged.service, install.sh, README.md, VERSION, ARCH
#
# Usage: build/dist.sh ARCH BINARY [--stage-only DIR]
#   VERSION (environment) names the release; the Makefile passes its own. --stage-only lays the
#   tree out in DIR without packing it (the tests install from such a tree).
# The archive is reproducible: sorted names, owner root, times from the last commit, gzip -n.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { printf 'dist: %s\n' "$*" >&2; exit 1; }
[ $# -ge 2 ] || die "usage: build/dist.sh amd64|arm64 BINARY [--stage-only DIR]"
ARCH=$1 BIN=$2 STAGE_ONLY=
if [ "${3:-}" = --stage-only ]; then
  [ $# -ge 4 ] || die "--stage-only needs a folder"
  STAGE_ONLY=$4
fi
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
case "$ARCH" in amd64) MACHINE="X86-64" ;; arm64) MACHINE="AArch64" ;; *) die "unknown arch $ARCH (amd64 or arm64)" ;; esac
[ -f "$BIN" ] || die "$BIN does not exist (make build, or make arm64)"
machine=$(LC_ALL=C readelf -h "$BIN" 2>/dev/null | sed -n 's/^ *Machine: *//p')
case "$machine" in *"$MACHINE") ;; *) die "$BIN is not a linux-$ARCH executable (ELF machine: ${machine:-none})" ;; esac
TFLITE=third_party/tflite/lib/linux_$ARCH
[ -f "$TFLITE/libtensorflowlite_c.so" ] || die "$TFLITE/libtensorflowlite_c.so is missing (make deps)"
if ! command -v patchelf >/dev/null; then
  # Installed the way scripts/deps.sh installs the rest: once, when missing.
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "dist: installing patchelf"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends patchelf >/dev/null
  fi
  command -v patchelf >/dev/null || die "patchelf is missing: apt-get install patchelf"
fi

NAME=edged-$VERSION-linux-$ARCH
if [ -n "$STAGE_ONLY" ]; then
  root=$STAGE_ONLY
else
  mkdir -p dist
  root=dist/$NAME
fi
rm -rf "$root"
mkdir -p "$root"/{bin,lib,configs/labels,models/shapes,systemd}

install -m 0755 "$BIN" "$root/bin/edged"
# The build links with the checkout's third_party path first in the runpath (runtime/tflite's cgo
# flags, for go test); an installed edged must find only its own lib/.
patchelf --set-rpath '$ORIGIN/../lib' "$root/bin/edged"
[ "$(patchelf --print-rpath "$root/bin/edged")" = '$ORIGIN/../lib' ] || die "runpath not set"
install -m 0755 "$TFLITE"/*.so "$root/lib/"
install -m 0644 configs/*.yaml "$root/configs/"
install -m 0644 configs/labels/*.yaml "$root/configs/labels/"
for m in clip blip_caption blip_vqa blip_itm; do
  [ -f "models/shapes/$m/model.safetensors" ] || die "models/shapes/$m is incomplete"
  cp -R "models/shapes/$m" "$root/models/shapes/"
done
[ ! -f models/shapes/README.md ] || install -m 0644 models/shapes/README.md "$root/models/shapes/"
install -m 0644 build/package/edged.service "$root/systemd/edged.service"
install -m 0755 build/package/install.sh "$root/install.sh"
install -m 0644 README.md "$root/README.md"
echo "$VERSION" >"$root/VERSION"
echo "$ARCH" >"$root/ARCH"
chmod -R u=rwX,go=rX "$root"

[ -z "$STAGE_ONLY" ] || exit 0
mtime=$(git log -1 --format=%cI 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="$mtime" -C dist -cf - "$NAME" | gzip -n -9 >"dist/$NAME.tar.gz"
(cd dist && sha256sum "$NAME.tar.gz" >"$NAME.tar.gz.sha256")
printf 'dist: dist/%s.tar.gz (%s)\n' "$NAME" "$(du -h "dist/$NAME.tar.gz" | cut -f1)"
