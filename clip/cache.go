package clip

import (
	"container/list"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/clip/spec"
)

// TextCache keeps text embeddings so that a label set is embedded once: in memory, and on
// disk when it has a folder, keyed by the model (the text tower file's SHA-256) and the exact
// prompt text. On disk each embedding is one small file,
// <dir>/<model key>/<sha256 of the text>.f32 (little-endian float32), written atomically, so
// several processes may share the folder.
//
// Both copies are bounded (DefaultTextCacheBytes unless told otherwise) and forget the least
// recently used embeddings first: label sets come and go with reloads, and a folder shared by
// every model must not grow without end. On disk a file's modification time is its last use;
// the whole folder (every model's keys) counts against the bound.
type TextCache struct {
	root string // the cache folder ("" for memory only)
	dir  string // root/key
	key  string
	max  int64 // bytes, in memory and on disk each

	mu       sync.Mutex
	mem      map[string]*list.Element // of *cached
	lru      *list.List               // most recently used first
	memBytes int64

	diskMu    sync.Mutex
	diskBytes int64 // the folder's size as this process last counted it; -1 before the first count
	lastTime  time.Time
}

// cached is one embedding in memory, with when its disk copy's time was last set.
type cached struct {
	text    string
	emb     []float32
	touched time.Time
}

// DefaultTextCacheBytes bounds the text cache in memory and on disk: 64 MiB hold about 30000
// embeddings of CLIP B/32 (512 values), three times the prompts of the largest label set
// (MaxSetPrompts).
const DefaultTextCacheBytes = 64 << 20

// touchEvery is how often an embedding used from memory renews its disk copy's time: often
// enough that a set in use is never the least recently used, rarely enough to cost nothing.
const touchEvery = time.Hour

// NewTextCache returns a cache for the model identified by key of at most
// DefaultTextCacheBytes; dir "" keeps it in memory.
func NewTextCache(dir, key string) *TextCache {
	return NewTextCacheSize(dir, key, DefaultTextCacheBytes)
}

// NewTextCacheSize is NewTextCache with a bound of maxBytes in memory and on disk (0: the
// default).
func NewTextCacheSize(dir, key string, maxBytes int64) *TextCache {
	if maxBytes <= 0 {
		maxBytes = DefaultTextCacheBytes
	}
	c := &TextCache{root: dir, key: key, max: maxBytes, mem: map[string]*list.Element{}, lru: list.New(), diskBytes: -1}
	if dir != "" {
		c.dir = filepath.Join(dir, key)
	}
	return c
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

func (c *TextCache) path(text string) string { return filepath.Join(c.dir, hashText(text)+".f32") }

// Get returns the cached embedding of text (a copy), from memory or disk.
func (c *TextCache) Get(text string, dim int) ([]float32, bool) {
	c.mu.Lock()
	if e, ok := c.mem[text]; ok {
		c.lru.MoveToFront(e)
		en := e.Value.(*cached)
		v := slices.Clone(en.emb)
		touch := c.dir != "" && time.Since(en.touched) > touchEvery
		if touch {
			en.touched = time.Now()
		}
		c.mu.Unlock()
		if touch {
			c.touch(c.path(text))
		}
		return v, true
	}
	c.mu.Unlock()
	if c.dir == "" {
		return nil, false
	}
	path := c.path(text)
	data, err := os.ReadFile(path)
	if err != nil || len(data) != 4*dim {
		return nil, false // absent, or written by something else: recompute
	}
	v := make([]float32, dim)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
		if math.IsNaN(float64(v[i])) || math.IsInf(float64(v[i]), 0) {
			return nil, false // damaged: recompute
		}
	}
	c.touch(path)
	c.remember(text, v)
	return slices.Clone(v), true
}

// Put stores the embedding of text. A failure to write the disk copy is returned but the
// memory copy is kept: the cache only saves work.
func (c *TextCache) Put(text string, emb []float32) error {
	v := slices.Clone(emb)
	c.remember(text, v)
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
	// Not os.CreateTemp, whose files are 0600: other users of the cache (the service's group)
	// read these, with the umask's say.
	tmp, err := os.OpenFile(filepath.Join(c.dir, fmt.Sprintf(".tmp-%x", rand.Uint64())), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("clip: text cache: %w", err)
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("clip: text cache: %w", err)
	}
	path := c.path(text)
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("clip: text cache: %w", err)
	}
	c.touch(path)
	return c.grew(int64(len(data)))
}

// remember puts an embedding in memory, most recently used, forgetting the least recently
// used ones past the bound.
func (c *TextCache) remember(text string, v []float32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.mem[text]; ok {
		c.memBytes -= int64(4 * len(e.Value.(*cached).emb))
		c.lru.Remove(e)
	}
	c.mem[text] = c.lru.PushFront(&cached{text: text, emb: v, touched: time.Now()})
	c.memBytes += int64(4 * len(v))
	for c.memBytes > c.max && c.lru.Len() > 1 {
		old := c.lru.Remove(c.lru.Back()).(*cached)
		delete(c.mem, old.text)
		c.memBytes -= int64(4 * len(old.emb))
	}
}

// touch sets a file's time to now, its last use. Times are set by the process rather than
// left to the file system, whose clock may give files written in one tick the same time.
func (c *TextCache) touch(path string) {
	c.diskMu.Lock()
	now := time.Now()
	if !now.After(c.lastTime) {
		now = c.lastTime.Add(time.Microsecond)
	}
	c.lastTime = now
	c.diskMu.Unlock()
	_ = os.Chtimes(path, now, now) // a lost time only makes the file look older
}

// grew counts n new bytes on disk and, past the bound, removes the least recently used files
// of the whole folder until it holds at most nine tenths of it (so that eviction runs once
// in a while, not at every write).
func (c *TextCache) grew(n int64) error {
	c.diskMu.Lock()
	defer c.diskMu.Unlock()
	if c.diskBytes >= 0 {
		c.diskBytes += n
		if c.diskBytes <= c.max {
			return nil
		}
	}
	files, total, err := c.scan()
	if err != nil {
		return fmt.Errorf("clip: text cache: %w", err)
	}
	if total > c.max {
		slices.SortFunc(files, func(a, b cacheFile) int { return a.mod.Compare(b.mod) })
		for _, f := range files {
			if total <= c.max*9/10 {
				break
			}
			if err := os.Remove(f.path); err == nil || errors.Is(err, fs.ErrNotExist) {
				total -= f.size
			}
		}
	}
	c.diskBytes = total
	return nil
}

type cacheFile struct {
	path string
	size int64
	mod  time.Time
}

// scan lists the embedding files of every model in the cache folder, and their total size.
func (c *TextCache) scan() ([]cacheFile, int64, error) {
	var files []cacheFile
	var total int64
	err := filepath.WalkDir(c.root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed meanwhile, by another process
			}
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".f32") {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		files = append(files, cacheFile{path: path, size: fi.Size(), mod: fi.ModTime()})
		total += fi.Size()
		return nil
	})
	return files, total, err
}

// Len is the number of embeddings held in memory.
func (c *TextCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.mem)
}
