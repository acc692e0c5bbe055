// Package build holds no code for edged itself: it is where the release is made and tested.
//
//   - arm64/: the cross build for 64-bit Arm (setup.sh, sysroot.sh, build.sh; `make arm64`)
//   - dist.sh: the release archive edged-<version>-linux-<arch>.tar.gz (`make dist`, `make release`)
//   - package/: what the archive adds to the binary: install.sh and the systemd unit
//
// Its tests check the shipped configs, install.sh in a throw-away root and the unit with
// systemd-analyze (part of `make test`), and, with the arm64smoke build tag, the arm64 release
// under qemu (`make test-arm64`).
package build
