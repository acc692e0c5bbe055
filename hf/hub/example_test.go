package hub_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/edged/edged/hf/hub"
	"github.com/edged/edged/hf/hub/hubtest"
)

// Pull a repository into a hub cache: here from a test hub on loopback; with a zero Options,
// from huggingface.co (or $HF_ENDPOINT) into ~/.cache/huggingface/hub (or $HF_HUB_CACHE).
func ExamplePull() {
	srv := hubtest.Start()
	defer srv.Close()
	srv.AddFiles("owner/tiny", map[string][]byte{
		"config.json":       []byte(`{"architectures": ["CLIPModel"]}`),
		"model.safetensors": []byte("weights"),
		"tf_model.h5":       []byte("not needed"),
		"README.md":         []byte("# tiny"),
	}, hubtest.RepoOptions{})
	cache, err := os.MkdirTemp("", "hub-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(cache)

	dir, err := hub.Pull(context.Background(), "owner/tiny", "main", hub.Options{Endpoint: srv.URL, CacheDir: cache, Token: "unused"})
	if err != nil {
		fmt.Println(err)
		return
	}
	rel, _ := filepath.Rel(cache, dir)
	fmt.Println(filepath.Dir(rel))
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		target, _ := os.Readlink(filepath.Join(dir, e.Name()))
		fmt.Println(e.Name(), "->", target)
	}
	// The blob of config.json is named by its git blob id (what `git hash-object` prints),
	// that of the LFS file model.safetensors by its sha256 (what sha256sum prints).

	// Output:
	// models--owner--tiny/snapshots
	// config.json -> ../../blobs/9e22d80db3b441c4ce188f21cf267d82fb3ec961
	// model.safetensors -> ../../blobs/9a129038d9a00aed0cf6a7ea059ca50a813449061ab87848cf1a13eafdf33b2c
}
