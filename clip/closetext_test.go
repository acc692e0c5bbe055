package clip

import (
	"slices"
	"testing"

	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/runtime/tflite"
)

// CloseText frees the text tower's interpreter, and the next text embedding makes it again
// and computes the same embedding, bit for bit (same file, same options).
func TestCloseTextFreesAndRemakesTheTextTower(t *testing.T) {
	m := testModel(t, shapesModel, graph.FP32)
	if err := m.CloseText(); err != nil { // never made: nothing to do
		t.Fatal(err)
	}
	const query = "a photo of a red circle"
	before, err := m.EmbedQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	open := tflite.LiveHandles().Interpreters
	if err := m.CloseText(); err != nil {
		t.Fatal(err)
	}
	if n := tflite.LiveHandles().Interpreters; n != open-1 {
		t.Fatalf("%d interpreters open after CloseText, want %d", n, open-1)
	}
	if err := m.OpenText(); err != nil {
		t.Fatal(err)
	}
	if n := tflite.LiveHandles().Interpreters; n != open {
		t.Fatalf("%d interpreters open after OpenText, want %d", n, open)
	}
	if err := m.OpenText(); err != nil { // made already: kept
		t.Fatal(err)
	}
	if n := tflite.LiveHandles().Interpreters; n != open {
		t.Fatalf("%d interpreters open after a second OpenText, want %d", n, open)
	}
	m.CloseText()
	after, err := m.EmbedQuery(query) // made again by the embedding itself
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(before, after) {
		t.Errorf("embedding after CloseText differs: %v, before %v", after[:4], before[:4])
	}
}
