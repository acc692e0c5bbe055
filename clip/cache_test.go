package clip

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// dirBytes is the size of the .f32 files under dir, and their count.
func dirBytes(t *testing.T, dir string) (int64, int) {
	t.Helper()
	var total int64
	n := 0
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Ext(path) == ".f32" {
			fi, _ := d.Info()
			total += fi.Size()
			n++
		}
		return nil
	})
	return total, n
}

// The text cache stays within its bound on disk (the whole folder, every model's keys) and in
// memory, forgetting the least recently used embeddings first; a text used again survives.
func TestTextCacheEviction(t *testing.T) {
	dir := t.TempDir()
	const dim, max = 4, 16 * 10 // ten embeddings of 16 bytes
	other := NewTextCacheSize(dir, "other-model", max)
	for i := range 4 {
		if err := other.Put(fmt.Sprintf("old %d", i), []float32{1, 2, 3, 4}); err != nil {
			t.Fatal(err)
		}
	}
	c := NewTextCacheSize(dir, "model", max)
	keep := []float32{9, 9, 9, 9}
	if err := c.Put("kept", keep); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		if err := c.Put(fmt.Sprintf("text %d", i), []float32{float32(i), 0, 0, 0}); err != nil {
			t.Fatal(err)
		}
		// "kept" is used all along: from disk by a new process, from memory by this one.
		if _, ok := NewTextCacheSize(dir, "model", max).Get("kept", dim); !ok {
			t.Fatalf("after %d texts the embedding in use was evicted from disk", i+1)
		}
		if got, ok := c.Get("kept", dim); !ok || got[0] != 9 {
			t.Fatalf("after %d texts: kept is %v, %v", i+1, got, ok)
		}
		if size, _ := dirBytes(t, dir); size > max {
			t.Fatalf("after %d texts the folder holds %d bytes, over %d", i+1, size, max)
		}
	}
	if _, n := dirBytes(t, filepath.Join(dir, "other-model")); n != 0 {
		t.Errorf("%d of the other model's old embeddings are left: the least recently used go first", n)
	}
	if _, ok := NewTextCacheSize(dir, "model", max).Get("text 29", dim); !ok {
		t.Error("the newest embedding is not on disk")
	}
	if _, ok := NewTextCacheSize(dir, "model", max).Get("text 0", dim); ok {
		t.Error("the oldest embedding is still on disk")
	}
	if c.Len() > max/(4*dim) {
		t.Errorf("%d embeddings in memory, over the bound of %d", c.Len(), max/(4*dim))
	}
	if got, ok := c.Get("text 29", dim); !ok || got[0] != 29 {
		t.Errorf("the newest embedding in memory: %v, %v", got, ok)
	}
	// Other users of the cache (the service's group) read the files, as the umask allows.
	umask := syscall.Umask(0)
	syscall.Umask(umask)
	files, _ := filepath.Glob(filepath.Join(dir, "model", "*.f32"))
	for _, f := range files {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o644&^os.FileMode(umask) {
			t.Errorf("%s: %v, %v; want mode %v", f, fi.Mode(), err, 0o644&^os.FileMode(umask))
			break
		}
	}
}

// The cost of an eviction at the default bound: the folder holds 32768 embeddings of CLIP
// B/32 (2 KiB each, 64 MiB) and one more makes the cache scan it and remove a tenth.
func BenchmarkTextCacheEviction(b *testing.B) {
	emb := make([]float32, 512)
	for b.Loop() {
		b.StopTimer()
		dir := b.TempDir()
		c := NewTextCache(dir, "model")
		for i := range DefaultTextCacheBytes / (4 * 512) {
			if err := c.Put(fmt.Sprintf("prompt %d", i), emb); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		if err := c.Put("one more", emb); err != nil {
			b.Fatal(err)
		}
	}
}
