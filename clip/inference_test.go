package clip

import (
	"encoding/binary"
	"image"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/clip/spec"
	"github.com/edged/edged/internal/graph"
)

func TestPoolIndex(t *testing.T) {
	cases := []struct {
		ids  []int32
		rule string
		eos  int
		want int
	}{
		{[]int32{712, 5, 9, 713, 713, 713}, "argmax", 2, 3},  // first of the largest id
		{[]int32{49406, 320, 49407, 0, 0}, "eos", 49407, 2},  // first eos
		{[]int32{49406, 320, 1125, 0}, "eos", 49407, 0},      // no eos: argmax of all-false is 0
		{[]int32{49406, 49407, 320, 49407}, "eos", 49407, 1}, // the first one
		{[]int32{7}, "argmax", 2, 0},
	}
	for _, c := range cases {
		if got := poolIndex(c.ids, c.rule, c.eos); got != c.want {
			t.Errorf("poolIndex(%v, %s, %d) = %d, want %d", c.ids, c.rule, c.eos, got, c.want)
		}
	}
}

// TestPaddingDoesNotChangeTextEmbedding: ids padded after the end token, or cut right after
// it, embed the same (the tower runs on the ids up to the pooled position).
func TestPaddingDoesNotChangeTextEmbedding(t *testing.T) {
	m := testModel(t, shapesModel, graph.FP32)
	ids, err := m.Tokenize("a photo of a red circle")
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 32 {
		t.Fatalf("%d ids, want the context length 32", len(ids))
	}
	full, err := m.EmbedTokens(ids)
	if err != nil {
		t.Fatal(err)
	}
	end := poolIndex(ids, "argmax", 2)
	cut, err := m.EmbedTokens(ids[:end+1])
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(full, cut); d != 0 {
		t.Errorf("padded and cut ids differ by %g", d)
	}
	text, err := m.EmbedText("a photo of a red circle")
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(full, text); d != 0 {
		t.Errorf("EmbedText differs from EmbedTokens by %g", d)
	}
}

func TestPromptEnsembling(t *testing.T) {
	m := testModel(t, shapesModel, graph.FP32)
	set, err := ParseLabelSet([]byte(`
name: test
labels:
  - name: warm
    prompts: ["a photo of a red circle", "a photo of a yellow square"]
  - blue triangle
`), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	embs, err := m.LabelEmbeddings(set)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := m.EmbedText("a photo of a red circle")
	b, _ := m.EmbedText("a photo of a yellow square")
	want := make([]float32, len(a))
	for i := range a {
		want[i] = (a[i] + b[i]) / 2
	}
	Normalize(want)
	if d := maxAbsDiff(embs[0], want); d > 1e-6 {
		t.Errorf("ensembled label differs from the normalised mean by %g", d)
	}
	c, _ := m.EmbedText("a photo of a blue triangle") // the default template
	if d := maxAbsDiff(embs[1], c); d > 1e-6 {
		t.Errorf("single-prompt label differs from its prompt by %g", d)
	}

	cls, err := m.Classifier(set)
	if err != nil {
		t.Fatal(err)
	}
	img, err := m.EmbedImage(decodePNG(t, "testdata/shapes/scenes/scene_00.png")) // a yellow circle
	if err != nil {
		t.Fatal(err)
	}
	scores, err := cls.Classify(img)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for i, s := range scores {
		sum += s.Share
		if i > 0 && s.Score > scores[i-1].Score {
			t.Errorf("scores not sorted: %v", scores)
		}
		sim := Dot(img, embs[map[string]int{"warm": 0, "blue triangle": 1}[s.Label]])
		if math.Abs(float64(s.Similarity-sim)) > 1e-6 {
			t.Errorf("%s: similarity %v, want %v", s.Label, s.Similarity, sim)
		}
	}
	if math.Abs(sum-1) > 1e-5 || scores[0].Label != "warm" {
		t.Errorf("scores %v (sum %v)", scores, sum)
	}
	if got := TopK(scores, 1); len(got) != 1 || got[0] != scores[0] {
		t.Errorf("TopK(1) = %v", got)
	}
	if got := TopK(scores, 0); len(got) != 2 {
		t.Errorf("TopK(0) = %v", got)
	}
	sims, err := m.TextSimilarities(img, []string{"a photo of a yellow circle", "a photo of a blue square"})
	if err != nil {
		t.Fatal(err)
	}
	if sims[0] <= sims[1] {
		t.Errorf("retrieval: a yellow circle's image is closer to %q (%v)", "a blue square", sims)
	}
}

func TestTextCacheOnDisk(t *testing.T) {
	dir := t.TempDir()
	b := testBundle(t, shapesModel, graph.FP32)
	m1, err := Load(b, Options{RunOptions: RunOptions{Threads: 1}, TextCacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer m1.Close()
	e1, err := m1.EmbedText("a photo of a green square")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "clip-text-*", "*.f32"))
	if len(files) != 1 {
		t.Fatalf("%d cache files, want 1", len(files))
	}
	// Plant a recognisable vector: a new model of the same bundle must read it from disk
	// instead of running the text tower.
	planted := make([]byte, 4*len(e1))
	binary.LittleEndian.PutUint32(planted, math.Float32bits(0.5))
	os.WriteFile(files[0], planted, 0o644)
	m2, err := Load(b, Options{RunOptions: RunOptions{Threads: 1}, TextCacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	e2, err := m2.EmbedText("a photo of a green square")
	if err != nil {
		t.Fatal(err)
	}
	if e2[0] != 0.5 || e2[1] != 0 {
		t.Errorf("the second model did not read the disk cache: %v", e2[:2])
	}
	// A file of the wrong size is ignored and recomputed.
	os.WriteFile(files[0], planted[:8], 0o644)
	c := NewTextCache(dir, textModelKey(b))
	if _, ok := c.Get("a photo of a green square", len(e1)); ok {
		t.Error("a truncated cache file was used")
	}
	// Another precision of the same checkpoint has its own key.
	if textModelKey(b) == textModelKey(testBundle(t, shapesModel, graph.FP16)) {
		t.Error("fp32 and fp16 text towers share a cache key")
	}
	// A query is embedded as the cached text is, and kept nowhere.
	q, err := m2.EmbedQuery("a photo of a red circle")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := m1.EmbedText("a photo of a red circle")
	if !slices.Equal(q, want) {
		t.Errorf("query embedding %v, text embedding %v", q[:2], want[:2])
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "clip-text-*", "*.f32")); len(files) != 2 || m2.cache.Len() != 1 {
		t.Errorf("after a query: %d cache files (want 2: the green square, m1's red circle) and %d in memory (want 1)", len(files), m2.cache.Len())
	}
	if _, err := m2.EmbedQuery("  "); err == nil {
		t.Error("an empty query was embedded")
	}
	// Memory only: nothing on disk.
	mem := NewTextCache("", "k")
	if err := mem.Put("x", []float32{1, 2}); err != nil {
		t.Fatal(err)
	}
	if v, ok := mem.Get("x", 2); !ok || v[1] != 2 || mem.Len() != 1 {
		t.Errorf("memory cache: %v %v", v, ok)
	}
}

func TestBadInput(t *testing.T) {
	tiny := testModel(t, tinyCheckpoint, graph.FP32) // clip_tiny has no tokenizer
	if _, err := tiny.EmbedText("a photo of a cat"); err == nil || !strings.Contains(err.Error(), "no tokenizer") {
		t.Errorf("missing tokenizer: %v", err)
	}
	set, _ := NewLabelSet("x", []string{"cat"}, nil)
	if _, err := tiny.Classifier(set); err == nil || !strings.Contains(err.Error(), "no tokenizer") {
		t.Errorf("classifier without tokenizer: %v", err)
	}

	m := testModel(t, shapesModel, graph.FP32)
	if _, err := NewLabelSet("empty", nil, nil); err == nil || !strings.Contains(err.Error(), "no labels") {
		t.Errorf("empty label set: %v", err)
	}
	if _, err := m.Classifier(&LabelSet{Name: "empty"}); err == nil || !strings.Contains(err.Error(), "empty label set") {
		t.Errorf("classifier of an empty set: %v", err)
	}
	if _, err := m.EmbedText("   "); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty text: %v", err)
	}
	if _, err := m.EmbedPixels(make([]float32, 10)); err == nil || !strings.Contains(err.Error(), "1x64x64x3") {
		t.Errorf("wrong pixel count: %v", err)
	}
	if _, err := m.EmbedImage(nil); err == nil {
		t.Error("nil image accepted")
	}
	if _, err := m.EmbedImage(image.NewRGBA(image.Rect(0, 0, 0, 0))); err == nil {
		t.Error("empty image accepted")
	}
	long := make([]int32, 40)
	for i := range long {
		long[i] = 5
	}
	long[39] = 713
	if _, err := m.EmbedTokens(long); err == nil || !strings.Contains(err.Error(), "1 to 32") {
		t.Errorf("too many tokens: %v", err)
	}
	if _, err := m.EmbedTokens(nil); err == nil {
		t.Error("no tokens accepted")
	}
	cls, err := m.Classifier(set)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cls.Classify(make([]float32, 3)); err == nil || !strings.Contains(err.Error(), "3 wide") {
		t.Errorf("wrong embedding width: %v", err)
	}

	// A bundle whose model file is damaged, or of another architecture, is refused clearly.
	src := testBundle(t, shapesModel, graph.FP32)
	dir := t.TempDir()
	for _, f := range src.Manifest.Files {
		data, _ := os.ReadFile(filepath.Join(src.Dir, f.Path))
		if f.Role == spec.RoleVisionTower {
			for i := 8; i < len(data) && i < 4096; i++ {
				data[i] = 0xff
			}
		}
		os.WriteFile(filepath.Join(dir, f.Path), data, 0o644)
	}
	man, _ := os.ReadFile(filepath.Join(src.Dir, bundle.ManifestName))
	os.WriteFile(filepath.Join(dir, bundle.ManifestName), man, 0o644)
	b, err := bundle.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load(b, Options{}); err == nil || !strings.Contains(err.Error(), "vision.tflite") {
		t.Errorf("damaged vision tower: %v", err)
	}
	b.Manifest.Architecture = "BlipForConditionalGeneration"
	if _, err := Load(b, Options{}); err == nil || !strings.Contains(err.Error(), "not a CLIPModel") {
		t.Errorf("other architecture: %v", err)
	}
}

// The frame path's Into forms give EmbedImage's embedding and allocate nothing (a GC that
// empties preprocessing's scratch pool costs a few allocations, averaged away over 100 runs).
func TestEmbedIntoAllocatesNothing(t *testing.T) {
	m := testModel(t, shapesModel, graph.FP32)
	img := image.NewRGBA(image.Rect(0, 0, 320, 240))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
		if i%4 == 3 {
			img.Pix[i] = 255 // opaque, as camera frames are
		}
	}
	want, err := m.EmbedImage(img)
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]float32, m.Dim())
	if err := m.EmbedImageInto(dst, img); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dst, want) {
		t.Fatalf("EmbedImageInto gave %v, EmbedImage %v", dst, want)
	}
	px, err := m.Processor().Process(img, nil)
	if err != nil {
		t.Fatal(err)
	}
	clear(dst)
	if err := m.EmbedPixelsInto(dst, px); err != nil || !slices.Equal(dst, want) {
		t.Fatalf("EmbedPixelsInto gave %v (%v), EmbedImage %v", dst, err, want)
	}
	if allocs := testing.AllocsPerRun(100, func() {
		if err := m.EmbedImageInto(dst, img); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Errorf("EmbedImageInto allocates %v times a frame", allocs)
	}
	if allocs := testing.AllocsPerRun(100, func() {
		if err := m.EmbedPixelsInto(dst, px); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Errorf("EmbedPixelsInto allocates %v times a frame", allocs)
	}
	if err := m.EmbedPixelsInto(make([]float32, 3), px); err == nil || !strings.Contains(err.Error(), "3") {
		t.Errorf("a 3-value destination: %v", err)
	}
}

// Packing texts into shared runs of the text tower (EmbedTexts) gives each text the
// embedding it has alone (EmbedTokens): every token sees only its own text. Tolerance 2e-5
// per value: the dense layers sum in another order on more rows.
func TestBatchedTextsMatchAlone(t *testing.T) {
	for _, p := range []graph.Precision{graph.FP32, graph.Int8Full} {
		t.Run(p.String(), func(t *testing.T) {
			m := testModel(t, shapesModel, p)
			set, err := LoadLabelSet("../configs/labels/shapes.yaml")
			if err != nil {
				t.Fatal(err)
			}
			pairs, _ := set.PairSet()
			var texts []string
			for _, l := range append(set.Labels, pairs.Labels...) {
				texts = append(texts, l.Prompts...)
			}
			texts = append(texts, "a", "red") // the shortest texts fill the runs' ends
			batched, err := m.EmbedTexts(texts)
			if err != nil {
				t.Fatal(err)
			}
			worst := 0.0
			for i, text := range texts {
				ids, err := m.Tokenize(text)
				if err != nil {
					t.Fatal(err)
				}
				alone, err := m.EmbedTokens(ids)
				if err != nil {
					t.Fatal(err)
				}
				for j := range alone {
					worst = max(worst, math.Abs(float64(alone[j]-batched[i][j])))
				}
			}
			t.Logf("%d texts in runs of %d tokens: largest difference %.2g", len(texts), BatchTokens, worst)
			if worst > 2e-5 {
				t.Fatalf("batched embeddings differ from single ones by %g", worst)
			}
		})
	}
}
