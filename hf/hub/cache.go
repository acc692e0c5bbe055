package hub

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/edged/edged/hf"
)

// cache is one repository's folder in the hub cache, laid out as huggingface_hub lays it:
//
//	models--owner--name/blobs/<etag>                    each file's content, once
//	models--owner--name/snapshots/<commit>/<file>       -> ../../blobs/<etag>
//	models--owner--name/refs/<branch or tag>            the commit it resolved to
//	.locks/models--owner--name/<etag>.lock              held while a blob downloads
type cache struct {
	root string
	repo string
}

var commitHash = regexp.MustCompile(`^[0-9a-f]{40}$`)

func (c *cache) folderName() string { return "models--" + strings.ReplaceAll(c.repo, "/", "--") }
func (c *cache) dir() string        { return filepath.Join(c.root, c.folderName()) }
func (c *cache) blob(etag string) string {
	return filepath.Join(c.dir(), "blobs", etag)
}
func (c *cache) snapshot(commit string) string {
	return filepath.Join(c.dir(), "snapshots", commit)
}
func (c *cache) ref(revision string) string {
	return filepath.Join(c.dir(), "refs", filepath.FromSlash(revision))
}
func (c *cache) lock(etag string) string {
	return filepath.Join(c.root, ".locks", c.folderName(), etag+".lock")
}

// resolveCached is the commit revision stands for in the cache: itself when it is a commit
// hash, else what refs/<revision> says.
func (c *cache) resolveCached(revision string) (string, error) {
	if commitHash.MatchString(revision) {
		return revision, nil
	}
	data, err := os.ReadFile(c.ref(revision))
	if err != nil {
		return "", fmt.Errorf("%s@%s was never pulled into %s (no %s)", c.repo, revision, c.root, c.ref(revision))
	}
	commit := strings.TrimSpace(string(data))
	if !commitHash.MatchString(commit) {
		return "", fmt.Errorf("%s: %q is not a commit hash", c.ref(revision), commit)
	}
	return commit, nil
}

// cachedSnapshot returns the snapshot revision resolves to in the cache, if it holds a
// checkpoint (config.json and complete weights); the error names what is missing.
func (c *cache) cachedSnapshot(revision string) (string, error) {
	commit, err := c.resolveCached(revision)
	if err != nil {
		return "", err
	}
	dir := c.snapshot(commit)
	if missing := missingFiles(dir); len(missing) > 0 {
		return "", fmt.Errorf("%s@%s: the cached snapshot %s lacks %s", c.repo, revision, dir, strings.Join(missing, ", "))
	}
	return dir, nil
}

// missingFiles lists what a checkpoint folder lacks to be converted: config.json and its
// weights (the file hf.OpenWeights opens, and the shards its index names).
func missingFiles(dir string) []string {
	exists := func(name string) bool {
		_, err := os.Stat(filepath.Join(dir, name)) // follows the link to its blob
		return err == nil
	}
	var missing []string
	if !exists("config.json") {
		missing = append(missing, "config.json")
	}
	weights := hf.PickWeights(exists)
	if weights == "" {
		return append(missing, "weights (model.safetensors or pytorch_model.bin, or a sharded index)")
	}
	if strings.HasSuffix(weights, ".index.json") {
		shards, err := hf.IndexShards(filepath.Join(dir, weights))
		if err != nil {
			return append(missing, fmt.Sprintf("a readable %s (%v)", weights, err))
		}
		for _, s := range shards {
			if !exists(s) {
				missing = append(missing, s)
			}
		}
	}
	return missing
}

// link points snapshots/<commit>/<file> at its blob with a relative link, as huggingface_hub
// does (the cache can be moved whole), replacing a link that points elsewhere.
func (c *cache) link(commit, file, etag string) error {
	pointer := filepath.Join(c.snapshot(commit), filepath.FromSlash(file))
	target, err := filepath.Rel(filepath.Dir(pointer), c.blob(etag))
	if err != nil {
		return err
	}
	if have, err := os.Readlink(pointer); err == nil && have == target {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(pointer), 0o755); err != nil {
		return err
	}
	os.Remove(pointer)
	if err := os.Symlink(target, pointer); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}

// writeRef records the commit a branch or tag resolved to; a commit needs no ref.
func (c *cache) writeRef(revision, commit string) error {
	if revision == commit {
		return nil
	}
	path := c.ref(revision)
	if data, err := os.ReadFile(path); err == nil && string(data) == commit {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(commit), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// lockBlob takes the lock huggingface_hub takes on a blob while it downloads (flock on
// .locks/models--owner--name/<etag>.lock), waiting for another process that holds it, and
// returns its release.
func (c *cache) lockBlob(ctx context.Context, etag string, waiting func()) (func(), error) {
	path := c.lock(etag)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	told := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !told {
			waiting()
			told = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}
