package convert

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/edged/edged/bundle"
)

// restart forgets what this process verified and cleaned, as a new start of edged would.
func restart() {
	verified.Clear()
	cleaned.Clear()
}

// A cached bundle whose bytes were overwritten (same sizes) is found out when first opened
// after a start, and converted again; a bundle given by the user is refused with the file
// named. Within one run a verified bundle is not hashed again.
func TestDamagedCacheIsConvertedAgain(t *testing.T) {
	ck := checkpoint(t, testArch)
	cache := t.TempDir()
	b1, err := testArchitectures.Open(ck, cache, "fp32", Options{})
	if err != nil {
		t.Fatal(err)
	}
	model, _ := b1.Path("dense")
	data, err := os.ReadFile(model)
	if err != nil {
		t.Fatal(err)
	}
	damaged := append([]byte(nil), data...)
	for i := len(damaged) / 2; i < len(damaged)/2+16; i++ {
		damaged[i] ^= 0xff
	}
	if err := os.WriteFile(model, damaged, 0o644); err != nil {
		t.Fatal(err)
	}

	n := testConversions.Load()
	if _, err := testArchitectures.Open(ck, cache, "fp32", Options{}); err != nil || testConversions.Load() != n {
		t.Fatalf("within one run a verified bundle is trusted: %v, %d conversions", err, testConversions.Load()-n)
	}
	restart()
	b2, err := testArchitectures.Open(ck, cache, "fp32", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if testConversions.Load() != n+1 || b2.Dir != b1.Dir {
		t.Errorf("the damaged entry was not converted again in its place: %d conversions, %s", testConversions.Load()-n, b2.Dir)
	}
	if err := b2.Verify(); err != nil {
		t.Errorf("the new entry: %v", err)
	}

	// The user's own bundle: an error that names the file and says what to do.
	mine := filepath.Join(t.TempDir(), "mine")
	if err := os.CopyFS(mine, os.DirFS(b2.Dir)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mine, filepath.Base(model)), damaged, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = testArchitectures.Open(mine, cache, "", Options{})
	if err == nil || !strings.Contains(err.Error(), filepath.Base(model)+" does not match its checksum") || !strings.Contains(err.Error(), "convert its checkpoint again") {
		t.Errorf("a damaged bundle of the user's: %v", err)
	}
}

// A conversion killed with SIGKILL leaves its partial folder; the first open after a start
// removes it, but not the folder of a conversion still running (it holds a lock).
func TestKilledConversionIsCleanedUp(t *testing.T) {
	if os.Getenv("EDGED_TEST_PARTIAL_PARENT") != "" {
		return // the child's own run of this test: see killedConversionChild
	}
	cache := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledConversionChild$")
	cmd.Env = append(os.Environ(), "EDGED_TEST_PARTIAL_PARENT="+cache)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	var stale string
	for sc.Scan() {
		if s, ok := strings.CutPrefix(sc.Text(), "partial "); ok {
			stale = s
		}
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the child was not killed: %v", err)
	}
	if fi, err := os.Stat(stale); err != nil || !fi.IsDir() {
		t.Fatalf("the killed conversion's folder %q: %v", stale, err)
	}
	running, unlock, err := partialDir(cache, "other-bundle")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()

	restart()
	ck := checkpoint(t, testArch)
	if _, err := testArchitectures.Open(ck, cache, "fp32", Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the killed conversion's folder is still there: %v", err)
	}
	if _, err := os.Stat(running); err != nil {
		t.Errorf("the running conversion's folder was removed: %v", err)
	}
}

// TestKilledConversionChild is the conversion TestKilledConversionIsCleanedUp kills: it makes
// its partial folder, writes into it, says where, and is killed.
func TestKilledConversionChild(t *testing.T) {
	cache := os.Getenv("EDGED_TEST_PARTIAL_PARENT")
	if cache == "" {
		t.Skip("run by TestKilledConversionIsCleanedUp")
	}
	dir, _, err := partialDir(cache, "edgedtestdense-abc-fp32")
	if err != nil {
		t.Fatal(err)
	}
	if err := bundle.WriteFileSync(filepath.Join(dir, "dense.tflite"), []byte("half a model")); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("partial " + dir + "\n")
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

// A bundle's folder and files take the umask's say, not 0700 or 0600: the service's group (an
// administrator) can read the cache.
func TestBundleModes(t *testing.T) {
	umask := syscall.Umask(0)
	syscall.Umask(umask)
	b, err := testArchitectures.Convert(checkpoint(t, testArch), filepath.Join(t.TempDir(), "b"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	check := func(path string, want os.FileMode) {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want&^os.FileMode(umask) {
			t.Errorf("%s: mode %v, want %v", path, got, want&^os.FileMode(umask))
		}
	}
	check(b.Dir, 0o755)
	for _, f := range b.Manifest.Files {
		check(filepath.Join(b.Dir, f.Path), 0o644)
	}
	check(filepath.Join(b.Dir, bundle.ManifestName), 0o644)
}
