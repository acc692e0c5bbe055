#!/bin/bash
# Prints the long tests `make test` runs: every test or helper that `go test -short` skips
# (found by its testing.Short() check and the reason it gives), and whether the browser tests
# will run here. `make test-short` leaves all of them out.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "make test: long tests in this run (skipped by make test-short):"
git ls-files -- '*_test.go' | xargs awk '
  FNR == 1 { fn = "" }
  /^func / { fn = $2; sub(/\(.*/, "", fn) }
  /testing\.Short\(\)/ { want = 1; next }
  want && /t\.Skip\(/ {
    reason = $0; sub(/.*t\.Skip\("/, "", reason); sub(/".*/, "", reason)
    pkg = FILENAME; sub(/\/[^\/]*$/, "", pkg)
    kind = (fn ~ /^Test/) ? fn : "tests calling " fn "()"
    printf "  %-18s %-45s %s\n", pkg, kind, reason
    want = 0
  }' | sort -u
if command -v chromium >/dev/null || command -v chromium-browser >/dev/null || [ -n "${CHROMIUM:-}" ]; then
  echo "  browser tests (internal/web): chromium found, they run"
elif [ "${EDGED_BROWSER_TESTS:-}" = 1 ]; then
  echo "  browser tests (internal/web): chromium missing and EDGED_BROWSER_TESTS=1: they fail"
else
  echo "  browser tests (internal/web): chromium missing, skipped (EDGED_BROWSER_TESTS=1 makes that a failure)"
fi
