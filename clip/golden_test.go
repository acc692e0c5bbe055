package clip

import (
	"testing"

	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/graph"
)

// TestTinyMatchesTransformers: the fp32 bundle of clip_tiny reproduces transformers'
// image_embeds, text_embeds and logits_per_image within 1e-4 (pixel_values fed directly,
// transposed to NHWC; input_ids padded with EOT as the tokenizer pads them).
func TestTinyMatchesTransformers(t *testing.T) {
	m := testModel(t, tinyCheckpoint, graph.FP32)
	images, texts, _ := tinyEmbeddings(t, m)
	wantImg, _ := readF32(t, tinyIO, "image_embeds")
	wantTxt, _ := readF32(t, tinyIO, "text_embeds")
	wantLogits, _ := readF32(t, tinyIO, "logits_per_image")
	const tol = 1e-4
	var worst float64
	defer func() { t.Logf("largest difference from transformers: %.2g (tolerance %g)", worst, tol) }()
	for i, e := range images {
		want := wantImg[i*m.Dim() : (i+1)*m.Dim()]
		d := maxAbsDiff(e, want)
		worst = max(worst, d)
		if d > tol {
			t.Errorf("image %d: image_embeds differ by %.3g > %g", i, d, tol)
		}
	}
	for j, e := range texts {
		want := wantTxt[j*m.Dim() : (j+1)*m.Dim()]
		d := maxAbsDiff(e, want)
		worst = max(worst, d)
		if d > tol {
			t.Errorf("text %d: text_embeds differ by %.3g > %g", j, d, tol)
		}
	}
	for i := range images {
		for j := range texts {
			got := m.LogitScale() * Dot(images[i], texts[j])
			d := maxAbsDiff([]float32{got}, wantLogits[i*len(texts)+j:i*len(texts)+j+1])
			worst = max(worst, d)
			if d > tol {
				t.Errorf("logits_per_image[%d][%d] = %v, transformers %v", i, j, got, wantLogits[i*len(texts)+j])
			}
		}
	}
}

// TestTinyQuantizedEmbeddings: int8-dynamic and int8 (and fp16) embeddings stay within cosine 0.99 of
// transformers'.
func TestTinyQuantizedEmbeddings(t *testing.T) {
	wantImg, _ := readF32(t, tinyIO, "image_embeds")
	wantTxt, _ := readF32(t, tinyIO, "text_embeds")
	for _, p := range []graph.Precision{graph.FP16, graph.Int8Dynamic, graph.Int8Full} {
		t.Run(p.String(), func(t *testing.T) {
			var opts convert.Options
			if p == graph.Int8Full {
				opts.CalibrationDir = sceneFolder(t, 16) // without images it would be int8-dynamic
			}
			b := testBundleWith(t, tinyCheckpoint, p, opts)
			if b.Manifest.Precision != p.String() {
				t.Fatalf("the bundle is %s, want %v", b.Manifest.Precision, p)
			}
			m := loadTestModel(t, b)
			images, texts, _ := tinyEmbeddings(t, m)
			d := m.Dim()
			for i, e := range images {
				if c := cosine(e, wantImg[i*d:(i+1)*d]); c < 0.99 {
					t.Errorf("image %d: cosine %.5f < 0.99", i, c)
				} else {
					t.Logf("image %d: cosine %.5f", i, c)
				}
			}
			for j, e := range texts {
				if c := cosine(e, wantTxt[j*d:(j+1)*d]); c < 0.99 {
					t.Errorf("text %d: cosine %.5f < 0.99", j, c)
				} else {
					t.Logf("text %d: cosine %.5f", j, c)
				}
			}
		})
	}
}

// tinyEmbeddings embeds io.safetensors' two images and three texts.
func tinyEmbeddings(t *testing.T, m *Model) (images, texts [][]float32, _ struct{}) {
	t.Helper()
	px, pxShape := readF32(t, tinyIO, "pixel_values")
	for i := 0; i < pxShape[0]; i++ {
		e, err := m.EmbedPixels(nchwToNHWC(px, pxShape, i))
		if err != nil {
			t.Fatal(err)
		}
		images = append(images, e)
	}
	ids, idShape := readI32(t, tinyIO, "input_ids")
	for j := 0; j < idShape[0]; j++ {
		e, err := m.EmbedTokens(ids[j*idShape[1] : (j+1)*idShape[1]])
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, e)
	}
	return images, texts, struct{}{}
}
