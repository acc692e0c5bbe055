package models

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/edged/edged/bundle"
)

// Entry is one converted bundle of the cache.
type Entry struct {
	Name     string // its folder's name in BundlesDir, what Remove takes
	Bundle   *bundle.Bundle
	Size     int64     // bytes on disk
	LastUsed time.Time // when Open last returned it (the folder's modification time)
}

// List returns the bundles of cacheDir's models folder, most recently used first. Folders
// that are not whole bundles (a conversion in progress, the checkpoint hash memos) are left
// out; a cache that does not exist yet is empty.
func List(cacheDir string) ([]Entry, error) {
	dir := BundlesDir(cacheDir)
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("model cache: %w", err)
	}
	var out []Entry
	for _, de := range des {
		if !de.IsDir() || strings.HasPrefix(de.Name(), ".") {
			continue
		}
		path := filepath.Join(dir, de.Name())
		b, err := bundle.Read(path)
		if err != nil {
			continue
		}
		fi, err := os.Stat(path)
		if err != nil {
			continue
		}
		out = append(out, Entry{Name: de.Name(), Bundle: b, Size: diskUsage(path), LastUsed: fi.ModTime()})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].LastUsed.After(out[j].LastUsed) })
	return out, nil
}

// Remove deletes the cache entries that name matches: an entry's folder name, or a
// repository id ("owner/name", every entry converted from it; "owner/name@revision", those of
// that revision or commit). It returns what it removed; no match is an error.
func Remove(cacheDir, name string) ([]Entry, error) {
	entries, err := List(cacheDir)
	if err != nil {
		return nil, err
	}
	var removed []Entry
	for _, e := range entries {
		if !e.matches(name) {
			continue
		}
		if err := os.RemoveAll(e.Bundle.Dir); err != nil {
			return removed, fmt.Errorf("model cache: remove %s: %w", e.Name, err)
		}
		removed = append(removed, e)
	}
	if len(removed) == 0 {
		return nil, fmt.Errorf("model cache %s: nothing called %q (edged models lists the entries)", BundlesDir(cacheDir), name)
	}
	return removed, nil
}

// matches says whether name (see Remove) names the entry.
func (e Entry) matches(name string) bool {
	if name == e.Name {
		return true
	}
	o := e.Bundle.Manifest.Source.Origin
	repo, revision, hasRevision := strings.Cut(name, "@")
	if o.Repo == "" || !strings.EqualFold(repo, o.Repo) {
		return false
	}
	return !hasRevision || revision == o.Revision || revision == o.Commit
}

// convertedFrom finds, for a repository that cannot be pulled now, the most recently used
// bundle converted from it at ref's revision (or commit), at the precision o asks for (else
// the architecture's default), by the converter revision this edged writes.
func convertedFrom(o Options, ref Ref) (*bundle.Bundle, bool) {
	entries, err := List(o.CacheDir)
	if err != nil {
		return nil, false
	}
	for _, e := range entries {
		m := e.Bundle.Manifest
		if m.Source.Origin.Repo != ref.Repo || m.Source.RandomInit || (ref.Revision != m.Source.Origin.Revision && ref.Revision != m.Source.Origin.Commit) {
			continue
		}
		arch, err := Architectures.Lookup(m.Architecture)
		if err != nil || arch.Revision != m.Revision {
			continue
		}
		want := o.Precision
		if want == "" {
			want = arch.DefaultPrecision.String()
		}
		if m.Precision == want {
			return e.Bundle, true
		}
	}
	return nil, false
}

// inCache says whether dir is a folder of cacheDir's models folder.
func inCache(cacheDir, dir string) bool {
	rel, err := filepath.Rel(BundlesDir(cacheDir), dir)
	return err == nil && filepath.IsLocal(rel) && !strings.Contains(rel, string(filepath.Separator))
}

// touch records that the bundle in dir was used now (List's LastUsed). A cache on a
// read-only disk only loses the date.
func touch(dir string) {
	now := time.Now()
	_ = os.Chtimes(dir, now, now)
}

// diskUsage is the bytes the files under dir take.
func diskUsage(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			n += fi.Size()
		}
		return nil
	})
	return n
}
