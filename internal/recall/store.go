package recall

import (
	"errors"
	"fmt"
	"image"
	"math"
	"sort"
	"sync"
	"time"
)

// Frame is what the caller hands to Store.Add: a frame's identity, its picture (made into a
// thumbnail) and the CLIP image embedding it already computed.
type Frame struct {
	Camera string
	Seq    uint64    // the source's frame number; strictly increasing per camera
	Time   time.Time // when the frame was captured
	Image  image.Image
	// Embedding is the frame's CLIP image embedding. The store keeps a normalised copy, so the
	// caller may reuse the slice.
	Embedding []float32
	// Annotations are the camera's notes about the frame (a synthetic frame's truth), nil for
	// real cameras. Kept as they are and handed back with hits: read-only.
	Annotations map[string]string
}

// entry is one remembered frame.
type entry struct {
	seq       uint64
	time      time.Time
	embedding []float32 // unit length
	thumb     []byte    // JPEG, never modified once stored
	notes     map[string]string
	bytes     int64 // what this entry counts against MaxBytes
}

// ring is one camera's frames, oldest first (so also in increasing Seq).
type ring struct {
	entries []*entry
	bytes   int64
}

func (r *ring) popOldest() *entry {
	e := r.entries[0]
	r.entries[0] = nil // let the collector have it before append reallocates
	r.entries = r.entries[1:]
	r.bytes -= e.bytes
	return e
}

// Store is the rings of every camera. Its methods are safe for concurrent use.
type Store struct {
	opts Options

	mu      sync.Mutex
	rings   map[string]*ring
	dim     int // embedding length, fixed by the first frame
	bytes   int64
	added   uint64
	evicted map[EvictReason]uint64
}

// EvictReason says why a frame was forgotten.
type EvictReason string

// The reasons a frame leaves its ring.
const (
	EvictCount EvictReason = "count" // its camera had MaxFrames newer frames
	EvictAge   EvictReason = "age"   // it was older than MaxAge
	EvictBytes EvictReason = "bytes" // the store needed room and its camera held the most
)

// New makes an empty store.
func New(opts Options) (*Store, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	return &Store{opts: opts, rings: map[string]*ring{}, evicted: map[EvictReason]uint64{}}, nil
}

// Options returns the store's options with their defaults filled in.
func (s *Store) Options() Options { return s.opts }

// Add remembers a frame, forgetting older ones as the bounds require. The thumbnail is made
// before the store is locked, so searches do not wait for JPEG encoding.
func (s *Store) Add(f Frame) error {
	if f.Camera == "" {
		return errors.New("recall: frame has no camera name")
	}
	emb, err := unitCopy(f.Embedding)
	if err != nil {
		return fmt.Errorf("recall: camera %q frame %d: embedding %w", f.Camera, f.Seq, err)
	}
	now := s.opts.Now()
	if age := now.Sub(f.Time); age > s.opts.MaxAge {
		return fmt.Errorf("recall: camera %q frame %d was captured %v ago, over max_age %v", f.Camera, f.Seq, age.Round(time.Second), s.opts.MaxAge)
	}
	thumb, err := Thumbnail(f.Image, s.opts.ThumbWidth, s.opts.ThumbQuality)
	if err != nil {
		return fmt.Errorf("recall: camera %q frame %d: %w", f.Camera, f.Seq, err)
	}
	e := &entry{seq: f.Seq, time: f.Time, embedding: emb, thumb: thumb, notes: f.Annotations}
	e.bytes = int64(cap(thumb)) + 4*int64(cap(emb)) + entryOverhead + annotationBytes(f.Annotations)
	if e.bytes > s.opts.MaxBytes {
		return fmt.Errorf("recall: camera %q frame %d needs %d bytes, over max_bytes %d", f.Camera, f.Seq, e.bytes, s.opts.MaxBytes)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dim != 0 && len(emb) != s.dim {
		return fmt.Errorf("recall: camera %q frame %d: embedding has %d values, the store holds %d-value embeddings (one CLIP model per store)", f.Camera, f.Seq, len(emb), s.dim)
	}
	r := s.rings[f.Camera]
	if r == nil {
		r = &ring{}
		s.rings[f.Camera] = r
	}
	if n := len(r.entries); n > 0 && r.entries[n-1].seq >= f.Seq {
		return fmt.Errorf("recall: camera %q frame %d is not newer than frame %d, already held", f.Camera, f.Seq, r.entries[n-1].seq)
	}
	s.dim = len(emb)
	r.entries = append(r.entries, e)
	r.bytes += e.bytes
	s.bytes += e.bytes
	s.added++
	for len(r.entries) > s.opts.MaxFrames {
		s.evict(r, EvictCount)
	}
	s.pruneAge(now)
	for s.bytes > s.opts.MaxBytes {
		s.evict(s.largestRing(), EvictBytes)
	}
	return nil
}

// evict forgets the oldest frame of r. The caller holds s.mu.
func (s *Store) evict(r *ring, why EvictReason) {
	e := r.popOldest()
	s.bytes -= e.bytes
	s.evicted[why]++
}

// pruneAge forgets every frame older than MaxAge. The caller holds s.mu.
func (s *Store) pruneAge(now time.Time) {
	cutoff := now.Add(-s.opts.MaxAge)
	for _, r := range s.rings {
		for len(r.entries) > 0 && r.entries[0].time.Before(cutoff) {
			s.evict(r, EvictAge)
		}
	}
}

// largestRing is the ring holding the most bytes; of equals, the one with the older oldest
// frame. The caller holds s.mu and knows some ring holds bytes.
func (s *Store) largestRing() *ring {
	var best *ring
	for _, r := range s.rings {
		if len(r.entries) == 0 {
			continue
		}
		if best == nil || r.bytes > best.bytes ||
			(r.bytes == best.bytes && r.entries[0].time.Before(best.entries[0].time)) {
			best = r
		}
	}
	return best
}

// Get returns a remembered frame (with its thumbnail) by camera and frame number; its Score
// and Cosine are zero.
func (s *Store) Get(camera string, seq uint64) (Hit, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruneAge(s.opts.Now())
	r := s.rings[camera]
	if r == nil {
		return Hit{}, false
	}
	i := sort.Search(len(r.entries), func(i int) bool { return r.entries[i].seq >= seq })
	if i == len(r.entries) || r.entries[i].seq != seq {
		return Hit{}, false
	}
	return r.entries[i].hit(camera, 0), true
}

// Stats are a store's counters and holdings.
type Stats struct {
	Frames  int                    // frames held, every camera together
	Bytes   int64                  // bytes held (as counted against MaxBytes)
	Added   uint64                 // frames added since the store was made
	Evicted map[EvictReason]uint64 // frames forgotten, by reason
	Cameras map[string]CameraStats
}

// CameraStats are one camera's holdings.
type CameraStats struct {
	Frames         int
	Bytes          int64
	Oldest, Newest time.Time // capture times; zero when the camera holds nothing
}

// Stats returns a snapshot of the store's counters. Frames past MaxAge are forgotten first.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruneAge(s.opts.Now())
	st := Stats{Bytes: s.bytes, Added: s.added, Evicted: map[EvictReason]uint64{}, Cameras: map[string]CameraStats{}}
	for k, v := range s.evicted {
		st.Evicted[k] = v
	}
	for name, r := range s.rings {
		cs := CameraStats{Frames: len(r.entries), Bytes: r.bytes}
		if n := len(r.entries); n > 0 {
			cs.Oldest, cs.Newest = r.entries[0].time, r.entries[n-1].time
		}
		st.Cameras[name] = cs
		st.Frames += cs.Frames
	}
	return st
}

// unitCopy returns v scaled to unit length, or an error naming what is wrong with it.
func unitCopy(v []float32) ([]float32, error) {
	if len(v) == 0 {
		return nil, errors.New("is empty")
	}
	if len(v) > maxEmbeddingDim {
		return nil, fmt.Errorf("has %d values, over the %d limit", len(v), maxEmbeddingDim)
	}
	var ss float64
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, fmt.Errorf("has a non-finite value (%v) at index %d", x, i)
		}
		ss += float64(x) * float64(x)
	}
	if ss == 0 {
		return nil, errors.New("is all zeros")
	}
	inv := 1 / math.Sqrt(ss)
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(float64(x) * inv)
	}
	return out, nil
}

// annotationBytes estimates the memory of the annotations a frame keeps alive: the map's
// header and per-entry overhead, and the strings.
func annotationBytes(m map[string]string) int64 {
	if m == nil {
		return 0
	}
	n := int64(48)
	for k, v := range m {
		n += 48 + int64(len(k)+len(v))
	}
	return n
}
