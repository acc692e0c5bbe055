package recall

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string // "" for valid
	}{
		{"defaults", Options{}, ""},
		{"negative frames", Options{MaxFrames: -1}, "max_frames is -1"},
		{"negative age", Options{MaxAge: -time.Second}, "max_age is -1s"},
		{"age of a century", Options{MaxAge: 100 * 365 * 24 * time.Hour}, "at most 720h"},
		{"tiny byte budget", Options{MaxBytes: 1000}, "max_bytes is 1000"},
		{"huge thumbnails", Options{ThumbWidth: 4000}, "thumb_width is 4000"},
		{"quality over 100", Options{ThumbQuality: 101}, "thumb_quality is 101"},
		{"negative depth", Options{RerankDepth: -3}, "rerank_depth is -3"},
		{"two problems", Options{MaxFrames: -1, ThumbQuality: -1}, "thumb_quality is -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.opts)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want == "" && s.Options().MaxFrames != DefaultMaxFrames:
				t.Fatalf("defaults not filled: %+v", s.Options())
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestAddRejectsBadFrames(t *testing.T) {
	clk := newClock()
	s := newStore(t, Options{Now: clk.Now})
	good := func() Frame {
		return Frame{Camera: "door", Seq: 10, Time: clk.Now(), Image: solid(64, 48), Embedding: []float32{1, 2, 2}}
	}
	if err := s.Add(good()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(*Frame)
		want   string
	}{
		{"no camera", func(f *Frame) { f.Camera = "" }, "no camera name"},
		{"no embedding", func(f *Frame) { f.Embedding = nil }, "embedding is empty"},
		{"NaN", func(f *Frame) { f.Embedding = []float32{1, float32(math.NaN()), 0} }, "non-finite value (NaN) at index 1"},
		{"infinity", func(f *Frame) { f.Embedding = []float32{float32(math.Inf(1)), 0, 0} }, "non-finite"},
		{"zeros", func(f *Frame) { f.Embedding = []float32{0, 0, 0} }, "all zeros"},
		{"huge", func(f *Frame) { f.Embedding = make([]float32, 1<<17) }, "over the 65536 limit"},
		{"other model", func(f *Frame) { f.Embedding = []float32{1, 0} }, "has 2 values, the store holds 3-value"},
		{"no picture", func(f *Frame) { f.Image = nil }, "no picture"},
		{"empty picture", func(f *Frame) { f.Image = image.NewRGBA(image.Rect(0, 0, 0, 5)) }, "picture is empty (0x5)"},
		{"same frame again", func(f *Frame) {}, "frame 10 is not newer than frame 10"},
		{"older frame", func(f *Frame) { f.Seq = 3 }, "frame 3 is not newer than frame 10"},
		{"too old", func(f *Frame) { f.Seq = 11; f.Time = clk.Now().Add(-2 * time.Hour) }, "captured 2h0m0s ago, over max_age 1h0m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := good()
			tt.change(&f)
			err := s.Add(f)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	if st := s.Stats(); st.Frames != 1 || st.Added != 1 {
		t.Fatalf("rejected frames changed the store: %+v", st)
	}
}

func TestAddKeepsANormalisedCopy(t *testing.T) {
	s := newStore(t, Options{})
	emb := []float32{3, 0, 4}
	if err := s.Add(Frame{Camera: "c", Seq: 1, Time: time.Now(), Image: solid(8, 8), Embedding: emb}); err != nil {
		t.Fatal(err)
	}
	emb[0] = -100 // the caller reuses its slice
	hits, err := s.Search(context.Background(), Query{Embedding: []float32{0.6, 0, 0.8}, K: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 1 || math.Abs(hits[0].Cosine-1) > 1e-6 {
		t.Fatalf("hits %+v, want one with cosine 1", hits)
	}
}

func TestMaxFramesPerCamera(t *testing.T) {
	clk := newClock()
	s := newStore(t, Options{MaxFrames: 5, Now: clk.Now})
	rng := rand.New(rand.NewPCG(1, 2))
	for seq := uint64(1); seq <= 12; seq++ {
		for _, cam := range []string{"a", "b"} {
			if cam == "b" && seq > 3 {
				continue
			}
			if err := s.Add(Frame{Camera: cam, Seq: seq, Time: clk.Advance(time.Second), Image: solid(16, 16), Embedding: randomUnit(rng, 8)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	st := s.Stats()
	if st.Cameras["a"].Frames != 5 || st.Cameras["b"].Frames != 3 || st.Evicted[EvictCount] != 7 {
		t.Fatalf("stats %+v; want a=5, b=3 and 7 count evictions", st)
	}
	// The five newest of camera a remain: 8..12.
	for seq := uint64(1); seq <= 12; seq++ {
		_, ok := s.Get("a", seq)
		if ok != (seq >= 8) {
			t.Errorf("frame %d held: %v", seq, ok)
		}
	}
}

func TestMaxAge(t *testing.T) {
	clk := newClock()
	s := newStore(t, Options{MaxAge: time.Minute, Now: clk.Now})
	rng := rand.New(rand.NewPCG(3, 4))
	start := clk.Now()
	for seq := uint64(1); seq <= 10; seq++ { // one frame every 10 s: 0s .. 90s
		if err := s.Add(Frame{Camera: "c", Seq: seq, Time: start.Add(time.Duration(seq-1) * 10 * time.Second), Image: solid(16, 16), Embedding: randomUnit(rng, 8)}); err != nil {
			t.Fatal(err)
		}
		clk.Advance(10 * time.Second)
	}
	// Now is 100 s after the first frame: frames captured before 40 s (1..4) are gone.
	st := s.Stats()
	if st.Frames != 6 || st.Evicted[EvictAge] != 4 || !st.Cameras["c"].Oldest.Equal(start.Add(40*time.Second)) {
		t.Fatalf("stats %+v; want 6 frames from 40 s on, 4 evicted by age", st)
	}
	// With no new frames, time alone forgets them: searches never return stale frames.
	clk.Advance(45 * time.Second)
	hits, err := s.Search(context.Background(), Query{Embedding: randomUnit(rng, 8), K: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 1 || hits[0].Seq != 10 {
		t.Fatalf("%d hits (first %+v); want only frame 10 within the minute", len(hits), hits)
	}
	clk.Advance(time.Hour)
	if st := s.Stats(); st.Frames != 0 || st.Bytes != 0 {
		t.Fatalf("after an hour: %+v", st)
	}
}

// The byte budget is shared: the camera holding the most gives up its oldest frame, so a busy
// camera cannot push a quiet one out.
func TestMaxBytesIsSharedFairly(t *testing.T) {
	clk := newClock()
	s := newStore(t, Options{MaxBytes: minMaxBytes, MaxFrames: 10000, Now: clk.Now})
	rng := rand.New(rand.NewPCG(5, 6))
	img, _ := render(t, rng, 160, 120) // thumbnail-sized: the test is about bytes, not shrinking
	add := func(cam string, seq uint64) {
		t.Helper()
		if err := s.Add(Frame{Camera: cam, Seq: seq, Time: clk.Advance(time.Millisecond), Image: img, Embedding: randomUnit(rng, 512)}); err != nil {
			t.Fatal(err)
		}
	}
	for seq := uint64(1); seq <= 3; seq++ {
		add("quiet", seq)
	}
	for seq := uint64(1); seq <= 500; seq++ {
		add("busy", seq)
		if st := s.Stats(); st.Bytes > minMaxBytes {
			t.Fatalf("after frame %d: %d bytes held, over %d", seq, st.Bytes, minMaxBytes)
		}
	}
	st := s.Stats()
	if st.Cameras["quiet"].Frames != 3 {
		t.Fatalf("the quiet camera lost frames to the busy one: %+v", st.Cameras)
	}
	if st.Evicted[EvictBytes] == 0 || st.Cameras["busy"].Frames < 3 {
		t.Fatalf("stats %+v", st)
	}
	if got := s.Stats().Cameras["busy"].Bytes + s.Stats().Cameras["quiet"].Bytes; got != st.Bytes {
		t.Fatalf("camera bytes add up to %d, store says %d", got, st.Bytes)
	}
}

func TestFrameLargerThanTheBudget(t *testing.T) {
	s := newStore(t, Options{MaxBytes: minMaxBytes, ThumbWidth: 1024, ThumbQuality: 100})
	rng := rand.New(rand.NewPCG(7, 8))
	img, _ := render(t, rng, 1024, 768) // noisy: far over 64 KiB at quality 100
	err := s.Add(Frame{Camera: "c", Seq: 1, Time: time.Now(), Image: img, Embedding: randomUnit(rng, 4)})
	if err == nil || !strings.Contains(err.Error(), "over max_bytes 65536") {
		t.Fatalf("error %v", err)
	}
}

// A long run: many frames from several cameras. The count and the bytes held stay within
// their bounds after every frame, the bytes counted cover what is really held, and the Go
// heap does not grow past the budget.
func TestLongRunStaysWithinBounds(t *testing.T) {
	const (
		maxBytes  = 512 << 10
		maxFrames = 100
		frames    = 2000
		dim       = 512
	)
	clk := newClock()
	s := newStore(t, Options{MaxBytes: maxBytes, MaxFrames: maxFrames, MaxAge: 10 * time.Minute, Now: clk.Now})
	rng := rand.New(rand.NewPCG(9, 10))
	// A few distinct noisy pictures, so the test spends its time in the store, not rendering.
	var pics []*image.RGBA
	for range 8 {
		img, _ := render(t, rng, 160, 120)
		pics = append(pics, img)
	}
	cams := []string{"front", "back", "garage"}
	for i := range frames {
		cam := cams[i%len(cams)]
		f := Frame{Camera: cam, Seq: uint64(i/len(cams) + 1), Time: clk.Advance(100 * time.Millisecond),
			Image: pics[i%len(pics)], Embedding: randomUnit(rng, dim)}
		if err := s.Add(f); err != nil {
			t.Fatal(err)
		}
		st := s.Stats()
		if st.Bytes > maxBytes {
			t.Fatalf("frame %d: %d bytes held, over %d", i, st.Bytes, maxBytes)
		}
		for name, cs := range st.Cameras {
			if cs.Frames > maxFrames {
				t.Fatalf("frame %d: camera %s holds %d frames, over %d", i, name, cs.Frames, maxFrames)
			}
		}
	}
	st := s.Stats()
	if st.Added != frames || uint64(st.Frames)+st.Evicted[EvictCount]+st.Evicted[EvictAge]+st.Evicted[EvictBytes] != frames {
		t.Fatalf("frames added %d, held %d, evicted %v: they do not add up", st.Added, st.Frames, st.Evicted)
	}
	if st.Bytes < maxBytes*9/10 {
		t.Errorf("only %d of %d bytes used after %d frames", st.Bytes, maxBytes, frames)
	}
	// What is counted covers what is held.
	s.mu.Lock()
	var real int64
	for _, r := range s.rings {
		for _, e := range r.entries {
			real += int64(cap(e.thumb)) + 4*int64(cap(e.embedding))
		}
	}
	s.mu.Unlock()
	if real > st.Bytes {
		t.Fatalf("thumbnails and embeddings take %d bytes, only %d counted", real, st.Bytes)
	}
	// What the store really keeps alive on the heap: the heap with it, minus without it.
	withStore := heapAfterGC()
	runtime.KeepAlive(s)
	s = nil
	held := withStore - heapAfterGC()
	t.Logf("%d frames added; %d held in %d counted bytes (%d in thumbnails and embeddings); the store keeps %d heap bytes; evicted %v",
		frames, st.Frames, st.Bytes, real, held, st.Evicted)
	if held > maxBytes || held > st.Bytes*21/20 {
		t.Fatalf("the store keeps %d heap bytes; it counts %d, its bound is %d", held, st.Bytes, maxBytes)
	}
}

func heapAfterGC() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

func TestThumbnails(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	noisy, _ := render(t, rng, 640, 480)
	var png bytes.Buffer // a JPEG decoded is YCbCr, not RGBA: the slow path
	if err := jpeg.Encode(&png, noisy, nil); err != nil {
		t.Fatal(err)
	}
	ycc, err := jpeg.Decode(&png)
	if err != nil {
		t.Fatal(err)
	}
	offset := noisy.SubImage(image.Rect(100, 50, 500, 350)) // bounds not at the origin
	tests := []struct {
		name         string
		img          image.Image
		width        int
		wantW, wantH int
	}{
		{"shrunk", noisy, 160, 160, 120},
		{"odd ratio", noisy, 100, 100, 75},
		{"narrow kept", solid(90, 200), 160, 90, 200},
		{"YCbCr", ycc, 160, 160, 120},
		{"sub-image", offset, 200, 200, 150},
		{"one pixel high", solid(1000, 1), 160, 160, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := Thumbnail(tt.img, tt.width, 75)
			if err != nil {
				t.Fatal(err)
			}
			got, err := jpeg.Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if b := got.Bounds(); b.Dx() != tt.wantW || b.Dy() != tt.wantH {
				t.Fatalf("thumbnail %dx%d, want %dx%d", b.Dx(), b.Dy(), tt.wantW, tt.wantH)
			}
		})
	}
	for _, bad := range []struct{ w, q int }{{0, 75}, {160, 0}, {160, 101}} {
		if _, err := Thumbnail(solid(8, 8), bad.w, bad.q); err == nil || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("width %d quality %d: %v", bad.w, bad.q, err)
		}
	}
	// The picture survives shrinking: a solid colour stays that colour.
	data, err := Thumbnail(solid(640, 480), 160, 95)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := jpeg.Decode(bytes.NewReader(data))
	r, g, b, _ := got.At(80, 60).RGBA()
	if d := math.Abs(float64(r>>8)-40) + math.Abs(float64(g>>8)-80) + math.Abs(float64(b>>8)-120); d > 6 {
		t.Fatalf("solid (40,80,120) came back as (%d,%d,%d)", r>>8, g>>8, b>>8)
	}
}

func TestConcurrentAddAndSearch(t *testing.T) {
	s := newStore(t, Options{MaxFrames: 50})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 99))
			cam := fmt.Sprintf("cam%d", w)
			for seq := uint64(1); seq <= 200; seq++ {
				if err := s.Add(Frame{Camera: cam, Seq: seq, Time: time.Now(), Image: solid(32, 24), Embedding: randomUnit(rng, 16)}); err != nil {
					t.Error(err)
					return
				}
				if _, err := s.Search(context.Background(), Query{Embedding: randomUnit(rng, 16), K: 5}); err != nil {
					t.Error(err)
					return
				}
				s.Get(cam, seq/2)
			}
		}()
	}
	wg.Wait()
	if st := s.Stats(); st.Frames != 200 || st.Added != 800 {
		t.Fatalf("stats %+v", st)
	}
}
