#!/usr/bin/env bash
# Installs what edged needs to build and test, and nothing that is already there:
# Debian packages, the TFLite 2.9 C library (from the npm package tfjs-tflite-node),
# and the Go modules. Safe to run again: every step checks before it acts.
set -euo pipefail
cd "$(dirname "$0")/.."

TFLITE_NPM=tfjs-tflite-node@0.0.2
TFLITE_SHA256=3be1632328a76a2475e5b6833253763c802c859433becb4d879ee1860e3b5284
TFLITE_DIR=third_party/tflite
APT_PACKAGES=(gcc g++ make pkg-config libopencv-dev mosquitto mosquitto-clients npm ca-certificates)

say() { printf 'deps: %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# npm only matters when the TFLite library still has to be fetched.
if [ -f "$TFLITE_DIR/.sha256" ] || command -v npm >/dev/null; then
  missing=("${missing[@]/npm}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then export PATH=$PATH:/usr/local/go/bin; fi
command -v go >/dev/null || { say "Go 1.22 or newer is needed: see README.md (Go toolchain)"; exit 1; }

if [ "$(cat "$TFLITE_DIR/.sha256" 2>/dev/null)" != "$TFLITE_SHA256" ]; then
  say "fetching the TFLite C library ($TFLITE_NPM) from the npm registry"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "$TFLITE_NPM" >/dev/null)
  tgz=$(ls "$tmp"/*.tgz)
  got=$(sha256sum "$tgz" | cut -d' ' -f1)
  if [ "$got" != "$TFLITE_SHA256" ]; then
    say "checksum mismatch for $TFLITE_NPM: got $got, want $TFLITE_SHA256"; exit 1
  fi
  tar -xzf "$tgz" -C "$tmp" package/cc_deps/include package/cc_deps/linux_amd64 package/cc_deps/linux_arm64
  rm -rf "$TFLITE_DIR"
  mkdir -p "$TFLITE_DIR/lib"
  cp -r "$tmp/package/cc_deps/include" "$TFLITE_DIR/include"
  cp -r "$tmp/package/cc_deps/linux_amd64" "$TFLITE_DIR/lib/linux_amd64"
  cp -r "$tmp/package/cc_deps/linux_arm64" "$TFLITE_DIR/lib/linux_arm64"
  echo "$TFLITE_SHA256" > "$TFLITE_DIR/.sha256"
  say "TFLite library in $TFLITE_DIR"
fi

go mod download
