package stages

import (
	"image"
	"os"
	"path/filepath"
	"testing"

	clipspec "github.com/edged/edged/clip/spec"

	"github.com/edged/edged/clip"
	"github.com/edged/edged/internal/bench"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/runtime/tflite"
)

// tinyCLIP is a CLIPModel config small enough to convert in a test (the sizes of the golden
// clip_tiny, image 224 so that preprocessing does the real work of a frame).
const tinyCLIP = `{"architectures": ["CLIPModel"], "projection_dim": 32, "logit_scale_init_value": 2.6592,
 "text_config": {"vocab_size": 49408, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
   "num_attention_heads": 4, "max_position_embeddings": 77, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5,
   "bos_token_id": 49406, "eos_token_id": 49407, "pad_token_id": 1, "projection_dim": 32},
 "vision_config": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
   "image_size": 224, "patch_size": 32, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5, "projection_dim": 32}}`

func tinyCLIPModel(tb testing.TB, p graph.Precision) *clip.Model {
	tb.Helper()
	dir := tb.TempDir()
	cfg := filepath.Join(dir, "tiny-clip.json")
	if err := os.WriteFile(cfg, []byte(tinyCLIP), 0o644); err != nil {
		tb.Fatal(err)
	}
	b, _, err := RandomInitBundle(cfg, p, filepath.Join(dir, "cache"), 2)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := clip.Load(b, clip.Options{RunOptions: clip.RunOptions{Threads: 1}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	return m
}

// TestStagesOnTinyBundle runs every CLIP stage of edged bench once on a tiny random-init
// bundle, as a check that the stages work end to end (the figures are not looked at).
func TestStagesOnTinyBundle(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tiny-clip.json")
	if err := os.WriteFile(cfg, []byte(tinyCLIP), 0o644); err != nil {
		t.Fatal(err)
	}
	b, name, err := RandomInitBundle(cfg, graph.FP32, filepath.Join(dir, "cache"), 2)
	if err != nil {
		t.Fatal(err)
	}
	if name != "tiny-clip" {
		t.Errorf("model name %q", name)
	}
	again, _, err := RandomInitBundle(cfg, graph.FP32, filepath.Join(dir, "cache"), 2)
	if err != nil || again.Dir != b.Dir {
		t.Errorf("second call should reuse %s: %v, %v", b.Dir, again, err)
	}
	var out recorder
	r := &bench.Runner{Options: bench.Options{Warmup: -1, Runs: 1}, Out: &out, Log: discardLog()}
	s := Setup{Runner: r, Model: name, Delegate: bench.DelegateXNNPack, Threads: 1, Want: func(string) bool { return true }}
	if err := FileSizes(s, b); err != nil {
		t.Fatal(err)
	}
	if err := Run(s, b); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, rec := range out.records {
		got[rec.Stage]++
		if rec.Stage != "model.file_size" && (rec.Runs != 1 || rec.P50Ms <= 0) {
			t.Errorf("%+v: want one timed run", rec)
		}
	}
	for _, stage := range []string{"model.file_size", "clip.image_embed", "clip.text_embed", "clip.zero_shot_cold", "clip.zero_shot_cached"} {
		if got[stage] == 0 {
			t.Errorf("no %s record in %v", stage, got)
		}
	}
	if r.Failures != 0 {
		t.Errorf("%d failures", r.Failures)
	}
}

// The hot path of a labelled frame: preprocessing into a reused buffer, the image tower, and
// scoring 100 cached labels. Run with
//
//	go test ./bench/stages -run '^$' -bench HotPath -benchmem
//
// allocs/op shows what each piece allocates per frame.
func BenchmarkHotPath(b *testing.B) {
	m := tinyCLIPModel(b, graph.FP32)
	frame := SyntheticFrame()
	proc := m.Processor()
	h, w := m.PixelSize()
	px := make([]float32, h*w*3)
	set, err := clip.NewLabelSet("bench", Labels, []string{clip.DefaultTemplate})
	if err != nil {
		b.Fatal(err)
	}
	embeds := make([][]float32, len(Labels))
	for i := range embeds {
		embeds[i] = clip.Normalize(randomFloats(m.Dim(), 1, uint64(i)))
	}
	c, err := selfContrasted(set, embeds, m.LogitScale())
	if err != nil {
		b.Fatal(err)
	}
	scores := make([]clip.Score, len(Labels))
	embedding, err := m.EmbedPixels(px)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("preprocess", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := proc.ProcessFrame(frame, px); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("image_embed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := m.EmbedPixelsInto(embedding, px); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("classify_100_labels", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := c.ClassifyInto(embedding, scores); err != nil {
				b.Fatal(err)
			}
		}
	})
	rgba := image.NewRGBA(image.Rect(0, 0, frame.Width, frame.Height)) // what cameras deliver
	for i := range frame.Width * frame.Height {
		copy(rgba.Pix[4*i:], []byte{frame.Pix[3*i+2], frame.Pix[3*i+1], frame.Pix[3*i], 255})
	}
	b.Run("embed_image", func(b *testing.B) { // the daemon's call: preprocessing and the tower
		b.ReportAllocs()
		for b.Loop() {
			if err := m.EmbedImageInto(embedding, rgba); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("frame", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := proc.ProcessFrame(frame, px); err != nil {
				b.Fatal(err)
			}
			if err := m.EmbedPixelsInto(embedding, px); err != nil {
				b.Fatal(err)
			}
			if err := c.ClassifyInto(embedding, scores); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkInvokeRaw is the runtime alone on the same tower: inputs copied in, Invoke,
// outputs copied out into reused buffers, to separate the runtime's allocations from the
// clip package's.
func BenchmarkInvokeRaw(b *testing.B) {
	m := tinyCLIPModel(b, graph.FP32)
	path, err := m.Bundle.Path(clipspec.RoleVisionTower)
	if err != nil {
		b.Fatal(err)
	}
	model, err := tflite.LoadModel(path)
	if err != nil {
		b.Fatal(err)
	}
	defer model.Close()
	ip, err := tflite.NewInterpreter(model, tflite.Options{Threads: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer ip.Close()
	in, out := ip.Input(0), ip.Output(0)
	px := make([]float32, in.NumElements())
	dst := make([]float32, out.NumElements())
	b.ReportAllocs()
	for b.Loop() {
		if err := in.SetFloat32(px); err != nil {
			b.Fatal(err)
		}
		if err := ip.Invoke(); err != nil {
			b.Fatal(err)
		}
		if err := out.ReadFloat32(dst); err != nil {
			b.Fatal(err)
		}
	}
}
