package clip

import (
	"math"
	"os"
	"testing"

	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/shapes"
	"github.com/edged/edged/models"
)

// TestRandomInitViTB32 converts CLIPConfig() (ViT-B/32 with its text tower) with random
// weights at every precision and runs both towers; the int8 files are about a quarter of
// fp32, and every precision's embeddings stay close to fp32's. Slow (a minute, 1.6 GB at the
// peak of a conversion): skipped with -short. One bundle exists at a time.
func TestRandomInitViTB32(t *testing.T) {
	if testing.Short() {
		t.Skip("converts ViT-B/32 four times")
	}
	ids := []int32{49406, 320, 1125, 539, 320, 736, 2866, 49407, 49407, 49407}
	var px []float32
	var ref struct{ image, text []float32 }
	sizes := map[graph.Precision]map[string]int64{}
	for _, p := range []graph.Precision{graph.FP32, graph.FP16, graph.Int8Dynamic, graph.Int8Full} {
		dir := t.TempDir()
		b, err := models.Convert(b32Checkpoint, dir+"/bundle", convert.Options{Precision: p, RandomInit: true})
		if err != nil {
			t.Fatalf("%v: %v", p, err)
		}
		sizes[p] = map[string]int64{}
		for _, f := range b.Manifest.Files {
			sizes[p][f.Role] = f.Size
		}
		m, err := Load(b, Options{RunOptions: RunOptions{Threads: 1}})
		if err != nil {
			t.Fatalf("%v: %v", p, err)
		}
		if h, w := m.PixelSize(); h != 224 || w != 224 || m.Dim() != 512 {
			t.Fatalf("%v: input %dx%d, embeddings %d wide; want 224x224 and 512", p, h, w, m.Dim())
		}
		if px == nil {
			// A scene like those full int8 calibrates on by default (random weights have no
			// notion of natural images either).
			scene, err := shapes.Render(shapes.Scene{Background: "gray", Objects: []shapes.Object{{Color: "red", Shape: "circle", X: 0.4, Y: 0.5, Size: 0.2}}}, 320, 240, shapes.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if px, err = m.Processor().Process(scene, nil); err != nil {
				t.Fatal(err)
			}
		}
		img, err := m.EmbedPixels(px)
		if err != nil {
			t.Fatalf("%v: %v", p, err)
		}
		txt, err := m.EmbedTokens(ids)
		if err != nil {
			t.Fatalf("%v: %v", p, err)
		}
		m.Close()
		os.RemoveAll(dir)
		for _, e := range [][]float32{img, txt} {
			if n := norm(e); math.Abs(n-1) > 1e-3 {
				t.Errorf("%v: embedding norm %.4f, want 1", p, n)
			}
		}
		if p == graph.FP32 {
			ref.image, ref.text = img, txt
			continue
		}
		ci, ct := cosine(img, ref.image), cosine(txt, ref.text)
		t.Logf("%v: cosine with fp32: image %.5f, text %.5f; files: vision %d, text %d bytes", p, ci, ct, sizes[p]["vision"], sizes[p]["text"])
		if ci < 0.99 || ct < 0.99 {
			t.Errorf("%v: embeddings drift from fp32's: image cosine %.4f, text %.4f", p, ci, ct)
		}
	}
	for _, p := range []graph.Precision{graph.Int8Dynamic, graph.Int8Full} {
		for _, role := range []string{"vision", "text"} {
			r := float64(sizes[p][role]) / float64(sizes[graph.FP32][role])
			t.Logf("%v %s: %.3f of fp32", p, role, r)
			if r < 0.24 || r > 0.27 {
				t.Errorf("%v %s tower is %.3f of fp32's size, want about a quarter", p, role, r)
			}
		}
	}
}

func norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}
