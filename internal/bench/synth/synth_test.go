package synth

import (
	"math"
	"testing"

	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/graph/tfl"
	"github.com/edged/edged/internal/testutil"
	"github.com/edged/edged/runtime/tflite"
)

func tinyViT() ViTConfig {
	return ViTConfig{Name: "tiny", ImageSize: 32, PatchSize: 8, Width: 32, Layers: 2, Heads: 4, MLP: 64, Act: GELU, Eps: 1e-5, PreLN: true, Projection: 16}
}

// The graph forms compared by edged bench compute the same function: layer norm through
// FULLY_CONNECTED equals nn.LayerNorm to float rounding, and the sigmoid form of GELU stays
// within the tanh approximation's error of the exact GELU.
func TestVariantsAgree(t *testing.T) {
	c := tinyViT()
	in := PixelInputs(c.ImageSize, 1, 9)[0]
	opts := tflite.Options{Threads: 1, Delegate: tflite.DelegateNone}
	ref, err := BuildViT(c, Variant{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	refData, err := ref.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := testutil.Run(t, refData, opts, in...)
	for _, tc := range []struct {
		name string
		v    Variant
		tol  float64
	}{
		{"ln=fc", Variant{LayerNorm: LayerNormFC}, 1e-5},
		{"act=sigmoid", Variant{Act: GELUSigmoid}, 2e-3},
	} {
		g, err := BuildViT(c, tc.v, 1)
		if err != nil {
			t.Fatal(err)
		}
		data, err := g.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range []tflite.Options{opts, {Threads: 1}} {
			got := testutil.Run(t, data, o, in...)
			if d := testutil.MaxAbsDiff(got, want); d > tc.tol {
				t.Errorf("%s (%s): max |diff| %.3g > %.3g", tc.name, o.Delegate, d, tc.tol)
			}
		}
	}
}

// Every precision lowers and runs; int8 (calibrated, layer norms in float) stays close.
func TestPrecisions(t *testing.T) {
	c := tinyViT()
	ins := PixelInputs(c.ImageSize, 5, 3)
	g, err := BuildViT(c, Variant{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	fp32, err := g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := testutil.Run(t, fp32, tflite.Options{Threads: 1}, ins[4]...)
	for _, p := range []graph.Precision{graph.FP16, graph.Int8Dynamic, graph.Int8Full} {
		data, err := Lower(g, p, ins[:4], nil, 1)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		got := testutil.Run(t, data, tflite.Options{Threads: 1, XNNPackQS8: true}, ins[4]...)
		if cs := testutil.Cosine(got, want); cs < 0.98 {
			t.Errorf("%s: cosine %.4f with fp32", p, cs)
		}
	}
}

func TestTextAndFCStack(t *testing.T) {
	tc := TextConfig{Name: "tiny-text", Vocab: 50, Width: 32, Layers: 2, Heads: 4, MLP: 64, Eps: 1e-5, Projection: 16}
	g, err := BuildText(tc, Variant{}, 5, 1)
	if err != nil {
		t.Fatal(err)
	}
	data, err := g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	out := testutil.Run(t, data, tflite.Options{Threads: 1}, TokenInputs(tc.Vocab, 5, 1, 1)[0]...)
	if len(out) != 16 {
		t.Fatalf("text embedding has %d values", len(out))
	}
	if g, err = BuildFCStack(4, 8, 16, 2, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Marshal(); err != nil {
		t.Fatal(err)
	}
}

func TestMACs(t *testing.T) {
	// CLIP ViT-B/32's image tower is 4.41 GMAC (patch embedding, 12 layers, projection).
	if got := float64(CLIPB32Vision().MACs()) / 1e9; math.Abs(got-4.41) > 0.01 {
		t.Errorf("CLIP B/32 vision: %.3f GMAC, want 4.41", got)
	}
	if got := CLIPB32Vision().Tokens(); got != 50 {
		t.Errorf("CLIP B/32 tokens %d", got)
	}
	if got := BLIPBaseVision().Tokens(); got != 577 {
		t.Errorf("BLIP base tokens %d", got)
	}
}

// The keep-in-float rules find the layer norms by the names the towers give them, and
// nothing else.
func TestKeepLayerNormFloat(t *testing.T) {
	for name, want := range map[string]bool{
		"layer3/ln1/mean": true, "layer3/ln2": true, "post_ln": true, "pre_ln/rsqrt": true, "final_ln/variance": true,
		"layer0/attn/probs": false, "layer1/fc1": false, "layer1/attn_residual": false, "embeddings/patch_tokens": false,
	} {
		if KeepLayerNormFloat(name, tfl.OpMul) != want {
			t.Errorf("KeepLayerNormFloat(%s): want %v", name, want)
		}
	}
	if !KeepLayerNormAndSoftmaxFloat("layer0/attn/probs", tfl.OpSoftmax) || KeepLayerNormAndSoftmaxFloat("layer0/attn/scores", tfl.OpBatchMatMul) {
		t.Error("KeepLayerNormAndSoftmaxFloat keeps the softmax and nothing else of attention")
	}
}
