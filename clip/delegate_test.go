package clip

import (
	"testing"

	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/testutil"
	"github.com/edged/edged/runtime/tflite"
	"github.com/edged/edged/runtime/tflite/tflitetest"
)

// CLIP takes every interpreter option BLIP does: an external delegate is loaded from its
// library with its options (the test plugin refuses an unknown one, so the error shows they
// reach it), and both towers give through it what they give on XNNPACK. Tolerance: the plugin
// hands out XNNPACK, so the embeddings are the same computation; 1e-6 allows for threads.
func TestExternalDelegate(t *testing.T) {
	plugin := tflitetest.BuildLibrary(t, tflitetest.Plugin, "libedged_test_delegate.so")
	b := testBundle(t, shapesModel, graph.FP32)
	img := decodePNG(t, "testdata/shapes/scenes/scene_00.png")
	embed := func(o RunOptions) ([]float32, []float32, error) {
		m, err := Load(b, Options{RunOptions: o})
		if err != nil {
			return nil, nil, err
		}
		defer m.Close()
		ie, err := m.EmbedImage(img)
		if err != nil {
			return nil, nil, err
		}
		te, err := m.EmbedQuery("a photo of a yellow circle")
		return ie, te, err
	}
	wantImage, wantText, err := embed(RunOptions{Threads: 1, Delegate: tflite.DelegateXNNPack})
	if err != nil {
		t.Fatal(err)
	}
	ext := RunOptions{Threads: 1, Delegate: tflite.DelegateExternal, DelegateLibrary: plugin, DelegateOptions: map[string]string{"num_threads": "1"}}
	gotImage, gotText, err := embed(ext)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(gotImage, wantImage); d > 1e-6 {
		t.Errorf("image embedding through the external delegate differs by %g", d)
	}
	if d := maxAbsDiff(gotText, wantText); d > 1e-6 {
		t.Errorf("text embedding through the external delegate differs by %g", d)
	}
	ext.DelegateOptions = map[string]string{"colour": "red"}
	if _, _, err := embed(ext); err == nil {
		t.Error("an option the plugin refuses was not an error: the options do not reach it")
	} else {
		testutil.WantError(t, "refused option", err, "external", "colour")
	}
}
