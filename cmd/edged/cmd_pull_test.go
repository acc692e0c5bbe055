package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edged/edged/hf"
	"github.com/edged/edged/hf/hub/hubtest"
)

func runPullCmd(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = pull(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// edged pull prints one snapshot folder per repository, a checkpoint folder package hf opens,
// with the flags before or after the repositories; a failure is reported and the others are
// still pulled; a bad id is a usage error.
func TestPullCommand(t *testing.T) {
	srv := hubtest.New(t)
	srv.AddFolder(t, "shapes/clip", shapesCLIP, hubtest.RepoOptions{Tags: []string{"v1"}})
	for _, k := range []string{"HF_TOKEN", "HF_HUB_OFFLINE", "HF_HUB_CACHE"} {
		t.Setenv(k, "")
	}
	t.Setenv("HF_HOME", t.TempDir())
	t.Setenv("HF_ENDPOINT", srv.URL)
	cache := filepath.Join(t.TempDir(), "hub")

	code, stdout, stderr := runPullCmd("shapes/clip@v1", "shapes/missing", "--cache", cache)
	if code != 1 {
		t.Errorf("exit %d with a missing repository, want 1", code)
	}
	if !strings.Contains(stderr, "shapes/missing: repository not found") {
		t.Errorf("stderr does not name the missing repository:\n%s", stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], filepath.Join(cache, "models--shapes--clip", "snapshots")+string(filepath.Separator)) {
		t.Fatalf("stdout %q, want the snapshot folder", stdout)
	}
	ck, err := hf.Open(lines[0])
	if err != nil {
		t.Fatal(err)
	}
	ck.Close()

	t.Setenv("HF_HUB_OFFLINE", "1")
	if code, again, stderr := runPullCmd("--cache", cache, "shapes/clip@v1"); code != 0 || again != stdout {
		t.Errorf("offline: exit %d, %q, %s", code, again, stderr)
	}
	if code, _, stderr := runPullCmd("--cache", cache, "shapes/clip@main"); code != 1 || !strings.Contains(stderr, "HF_HUB_OFFLINE") {
		t.Errorf("offline, never pulled: exit %d, %s", code, stderr)
	}
	if code, _, stderr := runPullCmd("not-a-repo"); code != 2 || !strings.Contains(stderr, "not a repository id") {
		t.Errorf("bad id: exit %d, %s", code, stderr)
	}
	if code, _, _ := runPullCmd(); code != 2 {
		t.Errorf("no arguments: exit %d, want 2", code)
	}
	if _, err := os.Stat(filepath.Join(cache, "models--shapes--clip", "refs", "v1")); err != nil {
		t.Error(err)
	}
}
