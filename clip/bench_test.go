package clip

import (
	"fmt"
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
// cached label embeddings (512 wide, as ViT-B/32): the cost per frame beyond the image
// embedding. With ClassifyInto it allocates nothing.
func BenchmarkClassify100Labels(b *testing.B) {
	names := make([]string, 100)
	embs := make([][]float32, 100)
	for i := range names {
		names[i] = fmt.Sprintf("label %d", i)
		embs[i] = make([]float32, 512)
		for j := range embs[i] {
			embs[i][j] = float32((i*31+j*7)%97) - 48
		}
		Normalize(embs[i])
	}
	set, err := NewLabelSet("bench", names, nil)
	if err != nil {
		b.Fatal(err)
	}
	cls, err := NewClassifier(set, embs, 100)
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
