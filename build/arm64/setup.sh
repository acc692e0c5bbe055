#!/usr/bin/env bash
# Installs on this Debian (bookworm) amd64 machine what the arm64 cross build and its qemu
# smoke run need: the aarch64 cross compilers (C and C++: gocv has C++ code), qemu-user-static,
# and mmdebstrap, which build/arm64/sysroot.sh uses to unpack an arm64 Debian sysroot with
# OpenCV 4.6 (libopencv-dev) and glibc.
#
# Why a sysroot and not `dpkg --add-architecture arm64` + `apt-get install libopencv-dev:arm64`:
# on bookworm that is not co-installable with the amd64 libopencv-dev the native build needs —
# libopencv-imgcodecs406:arm64 pulls libgdal32:arm64, and GDAL, VTK, HDF4, OpenMPI and OpenEXR's
# -dev are not Multi-Arch: same, so apt would remove the amd64 OpenCV (apt-get install -s shows
# it). The sysroot is a folder (build/arm64/sysroot, ignored by git): it changes nothing in the
# machine's dpkg database, and the same files serve the cross linker and qemu (-L).
#
# Safe to run again: it checks before it installs, and stops if apt would remove a package.
set -euo pipefail

say() { printf 'arm64 setup: %s\n' "$*"; }
die() { printf 'arm64 setup: %s\n' "$*" >&2; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

[ "$(uname -m)" = x86_64 ] || die "this set-up cross-builds from x86_64 (amd64); on an arm64 machine run 'make build' instead"
command -v apt-get >/dev/null || die "needs a Debian machine with apt (bookworm: the sysroot uses Debian's arm64 packages)"

PACKAGES=(gcc-aarch64-linux-gnu g++-aarch64-linux-gnu qemu-user-static mmdebstrap pkg-config file patchelf)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

missing=()
for p in "${PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then
  say "host packages present"
  exit 0
fi

policy=$(apt-cache policy "${missing[@]}" 2>/dev/null || true)
if ! grep -q "Candidate: [0-9]" <<<"$policy"; then
  say "apt-get update"
  as_root apt-get update -qq
fi
plan=$(as_root apt-get install -s --no-install-recommends "${missing[@]}" 2>&1) || {
  printf '%s\n' "$plan" | tail -20 >&2
  die "apt cannot install ${missing[*]} (see above)"
}
if removals=$(printf '%s\n' "$plan" | grep '^Remv '); then
  printf '%s\n' "$removals" >&2
  die "installing ${missing[*]} would remove the packages above; resolve that by hand"
fi
say "installing ${missing[*]}"
DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
for p in "${missing[@]}"; do installed "$p" || die "$p did not install"; done
say "done"
