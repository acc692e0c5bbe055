package web

import (
	"os"
	"sync"
	"testing"

	"github.com/edged/edged/internal/testbin"
)

// Folders made for the whole test run (converted models) are removed when it ends.
var atExit struct {
	sync.Mutex
	dirs []string
}

func tempDirRemovedAtExit(prefix string) (string, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", err
	}
	atExit.Lock()
	atExit.dirs = append(atExit.dirs, dir)
	atExit.Unlock()
	return dir, nil
}

func TestMain(m *testing.M) {
	code := m.Run()
	atExit.Lock()
	for _, d := range atExit.dirs {
		os.RemoveAll(d)
	}
	atExit.Unlock()
	testbin.Cleanup()
	os.Exit(code)
}
