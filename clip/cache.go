package clip

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/clip/spec"
)

// TextCache keeps text embeddings so that a label set is embedded once: in memory, and on
// disk when it has a folder, keyed by the model (the text tower file's SHA-256) and the exact
// prompt text. On disk each embedding is one small file,
// <dir>/<model key>/<sha256 of the text>.f32 (little-endian float32), written atomically, so
// several processes may share the folder.
type TextCache struct {
	dir string // "" for memory only
	key string

	mu  sync.Mutex
	mem map[string][]float32
}

// NewTextCache returns a cache for the model identified by key; dir "" keeps it in memory.
func NewTextCache(dir, key string) *TextCache {
	if dir != "" {
		dir = filepath.Join(dir, key)
	}
	return &TextCache{dir: dir, key: key, mem: map[string][]float32{}}
}

// textModelKey identifies the text tower whose embeddings are cached: its file hash, which
// changes with the checkpoint, the precision and the exporter.
func textModelKey(b *bundle.Bundle) string {
	if f, ok := b.Manifest.File(spec.RoleTextTower); ok && len(f.SHA256) >= 32 {
		return "clip-text-" + f.SHA256[:32]
	}
	return "clip-text-" + hashText(b.Manifest.Source.Hash+b.Manifest.Precision)
}

func hashText(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

// Get returns the cached embedding of text (a copy), from memory or disk.
func (c *TextCache) Get(text string, dim int) ([]float32, bool) {
	c.mu.Lock()
	v, ok := c.mem[text]
	c.mu.Unlock()
	if ok {
		return append([]float32(nil), v...), true
	}
	if c.dir == "" {
		return nil, false
	}
	data, err := os.ReadFile(filepath.Join(c.dir, hashText(text)+".f32"))
	if err != nil || len(data) != 4*dim {
		return nil, false // absent, or written by something else: recompute
	}
	v = make([]float32, dim)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
		if math.IsNaN(float64(v[i])) || math.IsInf(float64(v[i]), 0) {
			return nil, false // damaged: recompute
		}
	}
	c.mu.Lock()
	c.mem[text] = v
	c.mu.Unlock()
	return append([]float32(nil), v...), true
}

// Put stores the embedding of text. A failure to write the disk copy is returned but the
// memory copy is kept: the cache only saves work.
func (c *TextCache) Put(text string, emb []float32) error {
	v := append([]float32(nil), emb...)
	c.mu.Lock()
	c.mem[text] = v
	c.mu.Unlock()
	if c.dir == "" {
		return nil
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return fmt.Errorf("clip: text cache: %w", err)
	}
	data := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(x))
	}
	tmp, err := os.CreateTemp(c.dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("clip: text cache: %w", err)
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("clip: text cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(c.dir, hashText(text)+".f32")); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("clip: text cache: %w", err)
	}
	return nil
}

// Len is the number of embeddings held in memory.
func (c *TextCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.mem)
}
