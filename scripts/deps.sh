#!/usr/bin/env bash
# Installs what edged needs to build and test, and nothing that is already there:
# Debian packages, the TFLite 2.9 C library (from the npm package tfjs-tflite-node),
# and the Go modules. Safe to run again: every step checks before it acts.
set -euo pipefail
cd "$(dirname "$0")/.."

TFLITE_NPM=tfjs-tflite-node@0.0.2
TFLITE_SHA256=3be1632328a76a2475e5b6833253763c802c859433becb4d879ee1860e3b5284
TFLITE_DIR=third_party/tflite
# python3-gi, gir1.2-gst-rtsp-server-1.0 and the GStreamer plugins: the RTSP server the camera tests
# start (x264enc is in -ugly, avdec_h264 in -libav for the gstreamer source test).
APT_PACKAGES=(gcc g++ make pkg-config libopencv-dev mosquitto mosquitto-clients npm ca-certificates chromium patchelf systemd
  python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-libav)

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

# Go: use the machine's Go when it is new enough, else the official toolchain module from the
# Go module proxy (what GOTOOLCHAIN=auto fetches), unpacked into third_party/go.
GO_MIN=1.24
GO_BOOTSTRAP=1.26.8
declare -A GO_SHA256=(
  [amd64]=30c2b1bf7dcc88d3eb0a1364e47ddd9128edb3110a30e8a0ef61cd5856b31de7
  [arm64]=02b36b6787b3ac767668f630e2998df45a3b1f9ffee08d1bf3ef6487cd658d99
)
export PATH=$PWD/third_party/go/bin:$PATH:/usr/local/go/bin
go_ok() {
  local v
  v=$(go env GOVERSION 2>/dev/null) || return 1
  v=${v#go}
  [ "$(printf '%s\n%s\n' "$GO_MIN" "$v" | sort -V | head -1)" = "$GO_MIN" ]
}
if ! go_ok; then
  case "$(uname -m)" in x86_64) arch=amd64 ;; aarch64|arm64) arch=arm64 ;; *) say "no Go toolchain for $(uname -m)"; exit 1 ;; esac
  for p in curl unzip; do command -v $p >/dev/null || { as_root apt-get update -qq; DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq curl unzip; break; }; done
  say "installing Go $GO_BOOTSTRAP into third_party/go (from the Go module proxy)"
  proxy=$(go env GOPROXY 2>/dev/null | cut -d, -f1); proxy=${proxy:-https://proxy.golang.org}
  case "$proxy" in off|direct) proxy=https://proxy.golang.org ;; esac
  tmp=$(mktemp -d)
  curl -fsSL -o "$tmp/go.zip" "$proxy/golang.org/toolchain/@v/v0.0.1-go$GO_BOOTSTRAP.linux-$arch.zip"
  echo "${GO_SHA256[$arch]}  $tmp/go.zip" | sha256sum -c --quiet
  unzip -q "$tmp/go.zip" -d "$tmp"
  rm -rf third_party/go && mkdir -p third_party
  mv "$tmp/golang.org/toolchain@v0.0.1-go$GO_BOOTSTRAP.linux-$arch" third_party/go
  chmod +x third_party/go/bin/* third_party/go/pkg/tool/*/* 2>/dev/null || true
  rm -rf "$tmp"
  go_ok || { say "Go in third_party/go does not run"; exit 1; }
fi

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
