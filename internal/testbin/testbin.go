// Package testbin gives the tests that run the edged binary (the daemon's end-to-end tests, the
// browser test, the release install tests) one binary, so that a test run links the cgo binary
// at most once instead of once per test package.
//
// Edged returns the binary named by the environment variable EDGED_BIN (`make test` sets it to
// the bin/edged it has just built) when that file is newer than every file it is built from:
// the Go, cgo and embedded files of every package of the module that cmd/edged imports, go.mod
// and go.sum. Otherwise, as under a plain `go test`, it builds cmd/edged once per test binary
// into a temporary folder; call Cleanup from TestMain to remove it.
package testbin

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
)

// EnvVar names the prebuilt binary to use when it is fresh.
const EnvVar = "EDGED_BIN"

var built struct {
	once sync.Once
	dir  string // the temporary folder of a binary built here
	bin  string
	how  string // what Edged logs: which binary and why
	err  error
}

// told holds the tests that were told which binary they run.
var told sync.Map

// Edged returns the path of an edged binary built from this checkout's current sources (see
// the package documentation), failing the test if there is none and it cannot be built.
func Edged(t testing.TB) string {
	t.Helper()
	built.once.Do(func() { built.bin, built.how, built.err = find() })
	if built.err != nil {
		t.Fatal(built.err)
	}
	if _, said := told.LoadOrStore(t.Name(), true); !said {
		t.Log(built.how)
	}
	return built.bin
}

// Cleanup removes a binary Edged built. Call it from TestMain after m.Run.
func Cleanup() {
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
}

// find chooses EDGED_BIN when it is fresh, or builds.
func find() (bin, how string, err error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", "", err
	}
	why := EnvVar + " is not set"
	if prebuilt := os.Getenv(EnvVar); prebuilt != "" {
		stale, err := newerSource(root, prebuilt, sourceFiles)
		switch {
		case err != nil:
			why = fmt.Sprintf("%s=%s cannot be used: %v", EnvVar, prebuilt, err)
		case stale != "":
			why = fmt.Sprintf("%s=%s is older than %s", EnvVar, prebuilt, stale)
		default:
			return prebuilt, fmt.Sprintf("testbin: using %s (%s, newer than its sources)", prebuilt, EnvVar), nil
		}
	}
	built.dir, err = os.MkdirTemp("", "edged-testbin-")
	if err != nil {
		return "", "", err
	}
	bin = filepath.Join(built.dir, "edged")
	cmd := exec.Command(goTool(), "build", "-o", bin, "./cmd/edged")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("testbin: go build ./cmd/edged: %v\n%s", err, out)
	}
	return bin, fmt.Sprintf("testbin: built %s (%s)", bin, why), nil
}

// newerSource returns a source file of cmd/edged newer than the binary at bin, or "" when
// there is none.
func newerSource(root, bin string, sources func(root string) ([]string, error)) (string, error) {
	fi, err := os.Stat(bin)
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("not an executable file")
	}
	files, err := sources(root)
	if err != nil {
		return "", err
	}
	for _, f := range files {
		sf, err := os.Stat(f)
		if err != nil {
			return "", err
		}
		if sf.ModTime().After(fi.ModTime()) {
			return f, nil
		}
	}
	return "", nil
}

// sourceFiles lists what cmd/edged is built from inside the module: go.mod, go.sum, and the
// Go, cgo and embedded files of every package of the module it imports (go list).
func sourceFiles(root string) ([]string, error) {
	const format = `{{if .Module}}{{if .Module.Main}}{{$d := .Dir}}` +
		`{{range .GoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{range .CgoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}` +
		`{{range .CFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{range .HFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}` +
		`{{range .EmbedFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{end}}{{end}}`
	cmd := exec.Command(goTool(), "list", "-deps", "-f", format, "./cmd/edged")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list ./cmd/edged: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	files := []string{filepath.Join(root, "go.mod"), filepath.Join(root, "go.sum")}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			files = append(files, line)
		}
	}
	if len(files) < 10 {
		return nil, fmt.Errorf("go list ./cmd/edged found only %d source files", len(files))
	}
	return files, sc.Err()
}

// ModuleRoot is the folder of the module's go.mod (found from this file's place).
func ModuleRoot() (string, error) {
	_, self, _, ok := goruntime.Caller(0)
	if !ok {
		return "", fmt.Errorf("testbin: cannot locate the source folder")
	}
	root := filepath.Join(filepath.Dir(self), "..", "..")
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return "", fmt.Errorf("testbin: no go.mod at %s: %w", root, err)
	}
	return filepath.Clean(root), nil
}

// goTool is the go command: the one on PATH, as for the tests themselves (the Makefile puts
// the Go it installed first).
func goTool() string { return "go" }
