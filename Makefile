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

.PHONY: all deps build run test test-short vet bench clean
all: build

deps:
	@scripts/deps.sh

build: deps
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/edged ./cmd/edged
	@mkdir -p lib && cp -f $(TFLITE_LIB) lib/

# The main job: the daemon with its embedded defaults.
run: build
	bin/edged version

test: build
	@readelf -d bin/edged | grep -q 'RUNPATH.*[$$]ORIGIN/../lib' || { echo 'make: bin/edged lacks the $$ORIGIN/../lib runpath'; exit 1; }
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 40m ./...

test-short: deps
	$(GO) test -short ./...

bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin lib dist
