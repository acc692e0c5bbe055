package blip

import (
	"os"
	"testing"
)

func makeTempDir() (string, error) { return os.MkdirTemp("", "blip-test-") }

// TestMain removes the bundles the tests converted.
func TestMain(m *testing.M) {
	code := m.Run()
	if cacheDir != "" {
		os.RemoveAll(cacheDir)
	}
	os.Exit(code)
}
