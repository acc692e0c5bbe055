package blip

import (
	"testing"

	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/runtime/tflite"
)

// A full-int8 bundle runs with every delegate choice: XNNPACK's QS8 flag only goes with XNNPACK
// (the runtime refuses XNNPACK flags with delegate none), and the caption is transformers'.
func TestFullInt8BundleWithoutDelegate(t *testing.T) {
	b := shapesBundle(t, "blip_caption", graph.Int8Full)
	c := shapesCases(t)[0]
	for _, d := range []tflite.DelegateKind{tflite.DelegateNone, tflite.DelegateXNNPack} {
		m, err := Load(b, Options{Runtime: tflite.Options{Threads: 1, Delegate: d}})
		if err != nil {
			t.Fatalf("delegate %s: %v", d, err)
		}
		s, err := m.NewSession()
		if err != nil {
			m.Close()
			t.Fatalf("delegate %s: %v", d, err)
		}
		im, err := s.EncodeImage(loadScene(t, c.Image))
		if err == nil {
			o := m.GenerateDefaults()
			o.MaxNewTokens = 20
			var got string
			got, err = s.Caption(im, "", o)
			if err == nil && got != c.CaptionGreedy {
				t.Errorf("delegate %s: caption %q, want transformers' %q", d, got, c.CaptionGreedy)
			}
		}
		s.Close()
		m.Close()
		if err != nil {
			t.Fatalf("delegate %s: %v", d, err)
		}
	}
}
