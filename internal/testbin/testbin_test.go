package testbin

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The sources are what the binary is built from: the command, the cgo binding, files embedded
// in the binary, go.mod; not tests, and nothing outside the module.
func TestSourceFiles(t *testing.T) {
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, err := sourceFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"go.mod", "go.sum", "cmd/edged/main.go", "runtime/tflite/cgo.go", "internal/web/static/index.html"} {
		if !slices.Contains(files, filepath.Join(root, want)) {
			t.Errorf("%s is not among the %d sources", want, len(files))
		}
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || !strings.HasPrefix(f, root+string(filepath.Separator)) {
			t.Errorf("%s is not a source of the binary in the module", f)
		}
	}
}

// A binary older than one of its sources is stale and names that source; a newer one is fresh;
// a missing or non-executable file is an error.
func TestNewerSource(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	bin := filepath.Join(dir, "edged")
	for _, f := range []string{src, bin} {
		if err := os.WriteFile(f, []byte("x"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sources := func(string) ([]string, error) { return []string{src}, nil }
	now := time.Now()
	if err := os.Chtimes(src, now, now); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(bin, now.Add(-time.Hour), now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if stale, err := newerSource(dir, bin, sources); err != nil || stale != src {
		t.Errorf("a binary older than its source: stale %q, %v; want %s", stale, err, src)
	}
	if err := os.Chtimes(bin, now.Add(time.Hour), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if stale, err := newerSource(dir, bin, sources); err != nil || stale != "" {
		t.Errorf("a binary newer than its source: stale %q, %v; want fresh", stale, err)
	}
	if err := os.Chmod(bin, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := newerSource(dir, bin, sources); err == nil {
		t.Error("a file that is not executable was accepted")
	}
	if _, err := newerSource(dir, filepath.Join(dir, "missing"), sources); err == nil {
		t.Error("a missing binary was accepted")
	}
}
