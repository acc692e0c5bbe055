# edged — the two commands a new user runs are `make run` and `make test`;
# both install what they need first (scripts/deps.sh, safe to run again).
SHELL := /bin/bash
# A Go fetched by scripts/deps.sh (third_party/go) comes first: it is there only when the
# machine had none new enough.
export PATH := $(CURDIR)/third_party/go/bin:$(PATH):/usr/local/go/bin
GO ?= go

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
# $ORIGIN/../lib: an installed edged (bin/ + lib/) finds libtensorflowlite_c.so beside it.
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT) -extldflags '-Wl,-rpath,\$$ORIGIN/../lib'
GOARCH_HOST := $(subst aarch64,arm64,$(subst x86_64,amd64,$(shell uname -m)))
TFLITE_LIB := third_party/tflite/lib/linux_$(GOARCH_HOST)/libtensorflowlite_c.so

.PHONY: all deps build run test test-short fuzz vet bench clean
all: build

deps:
	@scripts/deps.sh

build: deps
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/edged ./cmd/edged
	@mkdir -p lib && cp --remove-destination $(TFLITE_LIB) lib/  # a new inode: a running edged keeps its mapping

# The main job: the daemon with its embedded defaults (embedded MQTT broker on 127.0.0.1:1883,
# a synthetic camera, the shapes models converted on the first run). Ctrl-C stops it.
run: build
	bin/edged run -c configs/edged.yaml

# The tests that run edged itself (daemon end to end, browser, release install) use the bin/edged
# built here (EDGED_BIN, package internal/testbin) instead of linking their own.
test: build
	@readelf -d bin/edged | grep -q 'RUNPATH.*[$$]ORIGIN/../lib' || { echo 'make: bin/edged lacks the $$ORIGIN/../lib runpath'; exit 1; }
	@scripts/long-tests.sh
	$(GO) vet ./...
	EDGED_BIN=$(CURDIR)/bin/edged $(GO) test -count=1 -timeout 40m ./...
	$(MAKE) --no-print-directory fuzz

# Fuzz targets of input parsers: `package:target:executions`, each count 5-25 s of a quiet
# 2-core x86 machine. A finding is saved under the package's testdata/fuzz and fails the run
# (then it is a regression test). Counts rather than a duration: Go 1.26's fuzzing coordinator
# can fail a target with a bare "context deadline exceeded" when a -fuzztime duration ends while
# a worker is mid-call (golang/go#75804, fixed in Go 1.27; seen here on FuzzManifest and
# FuzzConfig, nothing found); a count has no deadline to race, and a busy machine only takes
# longer. FUZZTIME (a duration or Nx) overrides every count.
FUZZ ?= internal/publish:FuzzParseAsk:150000 internal/publish:FuzzParseSearch:100000 \
	internal/web:FuzzParseAskBody:200000 bundle:FuzzManifest:600000 tokenizer:FuzzTokenizerJSON:800000 \
	hf:FuzzConfig:480000
FUZZTIME ?=
fuzz: deps
	@set -e; for t in $(FUZZ); do \
		pkg=$${t%%:*}; rest=$${t#*:}; name=$${rest%%:*}; budget=$(or $(FUZZTIME),$${rest#*:}x); \
		echo "fuzz $$name ($$pkg, $$budget)"; \
		$(GO) test -run '^$$' -fuzz="^$$name$$" -fuzztime=$$budget ./$$pkg; \
	done

# The edit-test loop: every test but the long ones scripts/long-tests.sh lists (no model
# conversions at real size, no edged binary, no browser); results of unchanged packages come
# from Go's test cache.
test-short: deps
	$(GO) test -short ./...

bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin lib dist

# ---- 64-bit Arm, release archives (build/; README "Release and install") ----------------------
# make arm64: cross build on a Debian amd64 machine into dist/linux_arm64/{bin,lib}. The set-up
# (cross compilers, qemu, an arm64 sysroot with OpenCV in .cache/arm64-sysroot) checks first.
ARM64_OUT := dist/linux_arm64
# Fixed when make starts, as LDFLAGS is, so archive names match the version built in.
RELEASE_VERSION := $(VERSION)
.PHONY: arm64 test-arm64 dist release
arm64: deps
	@build/arm64/setup.sh
	@build/arm64/sysroot.sh
	LDFLAGS="$(LDFLAGS)" OUT=$(ARM64_OUT) GO=$(GO) build/arm64/build.sh

# The arm64 release archive run under qemu-aarch64-static: edged version, classify and caption on
# the shapes scenes, and runtime/tflite's and graph's tests. Not part of `make test` (README: how long).
ARM64_TESTS := runtime/tflite runtime/kernels internal/graph
test-arm64: arm64
	VERSION=$(RELEASE_VERSION) build/dist.sh arm64 $(ARM64_OUT)/bin/edged
	OUT=$(ARM64_OUT) GO=$(GO) build/arm64/build.sh --tests $(ARM64_TESTS)
	EDGED_ARM64_RELEASE=$(CURDIR)/dist/edged-$(RELEASE_VERSION)-linux-arm64.tar.gz EDGED_ARM64_TESTS=$(CURDIR)/$(ARM64_OUT)/tests \
	  $(GO) test -count=1 -tags arm64smoke -run Arm64 -v -timeout 60m ./build

# dist/edged-<version>-linux-<this machine's arch>.tar.gz
dist: build
	VERSION=$(RELEASE_VERSION) build/dist.sh $(GOARCH_HOST) bin/edged

# Both archives (amd64 built here, arm64 cross-built) and their SHA256SUMS.
release: dist arm64
	VERSION=$(RELEASE_VERSION) build/dist.sh arm64 $(ARM64_OUT)/bin/edged
	cd dist && sha256sum edged-$(RELEASE_VERSION)-linux-*.tar.gz >SHA256SUMS && cat SHA256SUMS

# The PyTorch peer of BENCHMARKS.md: Debian's python3-torch (eager, fp32 on OpenBLAS and
# quantize_dynamic int8) on the same ViT towers, 2 threads. OPENBLAS_CORETYPE, which the machine
# may set, slows OpenBLAS: it is unset for this command only. PEER_FLAGS adds flags.
PEER_FLAGS ?=
.PHONY: bench-peer
bench-peer:
	@dpkg -s python3-torch libopenblas0-pthread >/dev/null 2>&1 || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-torch libopenblas0-pthread; }
	env -u OPENBLAS_CORETYPE /usr/bin/python3 scripts/peer/vit_peer.py --threads 2 --floor $(PEER_FLAGS)
