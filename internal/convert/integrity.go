package convert

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/edged/edged/bundle"
)

// verified holds the bundles whose files were checked against their manifest's SHA-256 since
// this process started, by folder and manifest stamp: a bundle is hashed when first opened
// after a start (a few seconds at real size on a Pi), not at every open, and again when its
// manifest changes (a new conversion in its place).
var verified sync.Map

func verifiedKey(b *bundle.Bundle) (string, bool) {
	fi, err := os.Stat(filepath.Join(b.Dir, bundle.ManifestName))
	if err != nil {
		return "", false
	}
	return fmt.Sprintf("%s\x00%d\x00%d", b.Dir, fi.Size(), fi.ModTime().UnixNano()), true
}

// verifyOnce is b.Verify, once per bundle per process.
func verifyOnce(b *bundle.Bundle) error {
	key, ok := verifiedKey(b)
	if ok {
		if _, done := verified.Load(key); done {
			return nil
		}
	}
	if err := b.Verify(); err != nil {
		return err
	}
	if ok {
		verified.Store(key, true)
	}
	return nil
}

// markVerified records b, just written, as verified.
func markVerified(b *bundle.Bundle) {
	if key, ok := verifiedKey(b); ok {
		verified.Store(key, true)
	}
}

// partialMark is in the name of a conversion's folder until it is published (renamed to its
// bundle's name).
const partialMark = ".partial-"

// partialDir makes the folder a conversion into parent/name is built in,
// parent/.name.partial-RANDOM, and locks it (flock) for as long as the conversion runs, so
// that cleanPartials in another process leaves it alone. Its mode is 0755 less the umask, as
// every folder and file of a bundle is, so that the service's group (an administrator) can
// read the cache.
func partialDir(parent, name string) (dir string, unlock func(), err error) {
	for range 10 {
		var r [8]byte
		if _, err := rand.Read(r[:]); err != nil {
			return "", nil, err
		}
		dir = filepath.Join(parent, "."+name+partialMark+hex.EncodeToString(r[:]))
		if err = os.Mkdir(dir, 0o755); err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", nil, err
		}
	}
	if err != nil {
		return "", nil, err
	}
	f, err := os.Open(dir)
	if err != nil {
		os.Remove(dir)
		return "", nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		os.Remove(dir)
		return "", nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return dir, func() { f.Close() }, nil
}

// cleaned holds the cache folders cleanPartials has run on in this process.
var cleaned sync.Map

// cleanPartialsOnce runs cleanPartials on dir once per process: at the first model opened
// after a start.
func cleanPartialsOnce(dir string) {
	if _, done := cleaned.LoadOrStore(dir, true); !done {
		cleanPartials(dir)
	}
}

// cleanPartials removes the folders of conversions that did not finish (a process killed
// mid-way: kill -9, power loss) from the cache folder dir: every .NAME.partial-* folder that
// no running conversion holds locked.
func cleanPartials(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), ".") || !strings.Contains(e.Name(), partialMark) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			start := time.Now()
			if err := os.RemoveAll(path); err == nil {
				slog.Info("convert: removed an unfinished conversion", "folder", path, "took", time.Since(start).Round(time.Millisecond))
			}
		}
		f.Close()
	}
}
