package convert

import (
	"fmt"
	"strings"

	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/graph/nn"
)

// WeightReader reads an architecture's weights with a sticky first error, as graph.Graph
// builds: graph-building code asks for every tensor it needs, reads like the model, and checks
// Err once at the end. After an error every method returns nil or zero values.
type WeightReader struct {
	w   Weights
	err error
}

// NewWeightReader reads from w.
func NewWeightReader(w Weights) *WeightReader { return &WeightReader{w: w} }

// Err is the first error met, naming the weight.
func (r *WeightReader) Err() error { return r.err }

// Get returns the tensor called name, checked to have the given shape.
func (r *WeightReader) Get(name string, shape ...int) []float32 {
	if r.err != nil {
		return nil
	}
	v, err := r.w.Float32(name, shape...)
	if err != nil {
		r.err = fmt.Errorf("weight %s: %w", name, err)
		return nil
	}
	want := 1
	for _, d := range shape {
		want *= d
	}
	if len(v) != want {
		r.err = fmt.Errorf("weight %s: %d values, want %d for shape %v", name, len(v), want, shape)
		return nil
	}
	return v
}

// First returns the first of names the checkpoint has (checkpoints of different ages spell
// some tensors differently), or "" after recording an error naming them all.
func (r *WeightReader) First(names ...string) string {
	if r.err != nil {
		return ""
	}
	for _, n := range names {
		if r.w.Has(n) {
			return n
		}
	}
	r.err = fmt.Errorf("missing weight: none of %s", strings.Join(names, ", "))
	return ""
}

// Linear adds the dense layer ckpt: ckpt.weight [out, in] and, withBias, ckpt.bias [out].
func (r *WeightReader) Linear(g *graph.Graph, ckpt string, out, in int, withBias bool) nn.Linear {
	w := r.Get(ckpt+".weight", out, in)
	var b []float32
	if withBias {
		b = r.Get(ckpt+".bias", out)
	}
	if r.err != nil {
		return nn.Linear{}
	}
	return nn.NewLinear(g, ckpt, w, out, in, b)
}

// Norm adds the layer norm ckpt: ckpt.weight and ckpt.bias, each [width].
func (r *WeightReader) Norm(g *graph.Graph, ckpt string, width int) nn.Norm {
	gamma, beta := r.Get(ckpt+".weight", width), r.Get(ckpt+".bias", width)
	if r.err != nil {
		return nn.Norm{}
	}
	return nn.Norm{Gamma: g.Const(ckpt+".weight", gamma, width), Beta: g.Const(ckpt+".bias", beta, width)}
}

// LayerNorm applies the layer norm ckpt to x [..., width], naming it name.
func (r *WeightReader) LayerNorm(g *graph.Graph, name, ckpt string, x *graph.Tensor, width int, eps float32) *graph.Tensor {
	n := r.Norm(g, ckpt, width)
	if r.err != nil {
		return nil
	}
	return nn.LayerNorm(g, name, x, n.Gamma, n.Beta, eps)
}
