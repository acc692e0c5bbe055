package clip

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/runtime/tflite"
)

// BenchmarkShapesImageEmbed times the vision tower of the shapes model per precision and
// delegate (one thread), on a preprocessed reference scene.
func BenchmarkShapesImageEmbed(b *testing.B) {
	for _, p := range []graph.Precision{graph.FP32, graph.FP16, graph.Int8Dynamic, graph.Int8Full} {
		for _, d := range []tflite.DelegateKind{tflite.DelegateNone, tflite.DelegateXNNPack} {
			b.Run(p.String()+"/"+string(d), func(b *testing.B) {
				m, err := Load(testBundle(b, shapesModel, p), Options{RunOptions: RunOptions{Threads: 1, Delegate: d}})
				if err != nil {
					b.Fatal(err)
				}
				defer m.Close()
				px, err := m.Processor().Process(decodePNG(b, "testdata/shapes/scenes/scene_00.png"), nil)
				if err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := m.EmbedPixels(px); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkViTB32ImageEmbed times the vision tower of CLIP ViT-B/32 (random weights from
// --random-init of CLIPConfig()) per precision and delegate. Set EDGED_B32_BUNDLES to a folder
// holding bundles named b32-<precision> (edged convert --random-init) to skip converting.
func BenchmarkViTB32ImageEmbed(b *testing.B) {
	for _, p := range []graph.Precision{graph.FP32, graph.FP16, graph.Int8Dynamic, graph.Int8Full} {
		for _, d := range []tflite.DelegateKind{tflite.DelegateNone, tflite.DelegateXNNPack} {
			for _, threads := range []int{1, 2} {
				b.Run(fmt.Sprintf("%v/%s/threads=%d", p, d, threads), func(b *testing.B) {
					m, err := Load(b32Bundle(b, p), Options{RunOptions: RunOptions{Threads: threads, Delegate: d}})
					if err != nil {
						b.Fatal(err)
					}
					defer m.Close()
					h, w := m.PixelSize()
					px := make([]float32, h*w*3)
					for i := range px {
						px[i] = float32(i%255)/128 - 1
					}
					if _, err := m.EmbedPixels(px); err != nil { // warm-up: weight packing
						b.Fatal(err)
					}
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						if _, err := m.EmbedPixels(px); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

// b32Bundle returns a random-init ViT-B/32 bundle at p.
func b32Bundle(b *testing.B, p graph.Precision) *bundle.Bundle {
	if dir := os.Getenv("EDGED_B32_BUNDLES"); dir != "" {
		bundle, err := bundle.Read(filepath.Join(dir, "b32-"+p.String()))
		if err != nil {
			b.Fatal(err)
		}
		return bundle
	}
	return testBundleWith(b, b32Checkpoint, p, convert.Options{RandomInit: true})
}

// BenchmarkViTB32TextEmbed times the text tower of CLIP ViT-B/32 at a label's real token
// length (8 tokens: start, six words, end) per precision, one thread, XNNPACK.
func BenchmarkViTB32TextEmbed(b *testing.B) {
	for _, p := range []graph.Precision{graph.FP32, graph.FP16, graph.Int8Dynamic, graph.Int8Full} {
		b.Run(p.String(), func(b *testing.B) {
			m, err := Load(b32Bundle(b, p), Options{RunOptions: RunOptions{Threads: 1}})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			ids := []int32{49406, 320, 1125, 539, 320, 736, 2866, 49407}
			if _, err := m.EmbedTokens(ids); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := m.EmbedTokens(ids); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkClassify100Labels times zero-shot scoring of one image embedding against 100
// cached label embeddings (512 wide, as ViT-B/32) told apart from a contrast the size of
// DefaultContrastSet (its labels, their pairs, its background), none of them a contrast
// label, so each is also said beside every contrast label: the cost per frame beyond the
// image embedding. With ClassifyInto it allocates nothing.
func BenchmarkClassify100Labels(b *testing.B) {
	embed := func(i int) []float32 {
		rng := rand.New(rand.NewPCG(uint64(i), 1))
		e := make([]float32, 512)
		for j := range e {
			e[j] = float32(rng.NormFloat64())
		}
		return Normalize(e)
	}
	names := make([]string, 100)
	embs := make([][]float32, 100)
	for i := range names {
		names[i] = fmt.Sprintf("label %d", i)
		embs[i] = embed(i)
	}
	set, err := NewLabelSet("bench", names, nil)
	if err != nil {
		b.Fatal(err)
	}
	cset := DefaultContrastSet()
	con, err := NewContrast(cset, embedMany(embed, 1000, len(cset.Labels)), embedMany(embed, 2000, len(cset.Labels)*(len(cset.Labels)-1)),
		embedMany(embed, 3000, len(cset.Background)), 100)
	if err != nil {
		b.Fatal(err)
	}
	pairs := make([][][]float32, len(names))
	for i := range pairs {
		pairs[i] = embedMany(embed, 5000+100*i, 2*len(cset.Labels))
	}
	cls, err := NewClassifier(set, embs, con, pairs, nil)
	if err != nil {
		b.Fatal(err)
	}
	img := append([]float32(nil), embs[42]...)
	dst := make([]Score, 100)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := cls.ClassifyInto(img, dst); err != nil {
			b.Fatal(err)
		}
	}
	if dst[0].Label != "label 42" {
		b.Fatalf("top label %s", dst[0].Label)
	}
}

// embedMany is n embeddings of embed from seed on.
func embedMany(embed func(int) []float32, seed, n int) [][]float32 {
	out := make([][]float32, n)
	for i := range out {
		out[i] = embed(seed + i)
	}
	return out
}
