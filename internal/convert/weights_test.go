package convert

import (
	"fmt"
	"strings"
	"testing"

	"github.com/edged/edged/internal/graph"
)

// mapWeights are weights by name with their shapes, checked as a checkpoint checks them.
type mapWeights map[string][]float32

func (m mapWeights) Has(name string) bool { _, ok := m[name]; return ok }

func (m mapWeights) Float32(name string, shape ...int) ([]float32, error) {
	v, ok := m[name]
	if !ok {
		return nil, fmt.Errorf("no tensor %q", name)
	}
	return v, nil
}

func TestWeightReader(t *testing.T) {
	w := mapWeights{
		"fc.weight": {1, 2, 3, 4, 5, 6}, "fc.bias": {7, 8},
		"ln.weight": {1, 1}, "ln.bias": {0, 0},
		"new.name": {1},
	}
	r := NewWeightReader(w)
	if v := r.Get("fc.weight", 2, 3); len(v) != 6 || r.Err() != nil {
		t.Fatalf("Get(fc.weight, 2, 3) = %v, %v", v, r.Err())
	}
	if got := r.First("old.name", "new.name"); got != "new.name" {
		t.Errorf("First picked %q, want the spelling the checkpoint has", got)
	}
	g := graph.New("w")
	if l := r.Linear(g, "fc", 2, 3, true); l.W == nil || l.B == nil {
		t.Error("Linear with bias: missing constants")
	}
	if l := r.Linear(g, "fc", 2, 3, false); l.W == nil || l.B != nil {
		t.Error("Linear without bias: want a weight and no bias")
	}
	if n := r.Norm(g, "ln", 2); n.Gamma == nil || n.Beta == nil {
		t.Error("Norm: missing constants")
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}

	// A wrong size is an error naming the weight; it sticks, and later reads give nothing.
	r = NewWeightReader(w)
	if v := r.Get("fc.bias", 3); v != nil {
		t.Errorf("fc.bias as [3]: got %v", v)
	}
	want := "weight fc.bias: 2 values, want 3 for shape [3]"
	if err := r.Err(); err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
	if v := r.Get("fc.weight", 2, 3); v != nil || r.Err().Error() != want {
		t.Errorf("after an error: Get gave %v and the error became %v", v, r.Err())
	}
	if l := r.Linear(g, "fc", 2, 3, true); l.W != nil {
		t.Error("Linear after an error built a layer")
	}
	if x := r.LayerNorm(g, "ln", "ln", g.Input("x", graph.Float32, 1, 2), 2, 1e-5); x != nil {
		t.Error("LayerNorm after an error built a norm")
	}

	// Missing weights: the checkpoint's error, with the name; First names every spelling.
	r = NewWeightReader(w)
	r.Get("nope", 1)
	if err := r.Err(); err == nil || !strings.Contains(err.Error(), "weight nope: ") {
		t.Errorf("missing weight: %v", err)
	}
	r = NewWeightReader(w)
	if got := r.First("a.bias", "b.bias"); got != "" || r.Err() == nil || r.Err().Error() != "missing weight: none of a.bias, b.bias" {
		t.Errorf("First of absent names = %q, %v", got, r.Err())
	}
}
