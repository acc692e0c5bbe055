package export

import (
	"fmt"
	"strings"
)

// Weights gives a checkpoint's tensors as float32 by their Hugging Face names, checking the
// shape. A checkpoint read through convert, and its random stand-in for --random-init, both
// satisfy it.
type Weights interface {
	Has(name string) bool
	Float32(name string, shape ...int) ([]float32, error)
}

// loader reads weights with a sticky first error, like graph.Graph: graph-building code asks
// for every tensor it needs and checks the error once at the end.
type loader struct {
	w   Weights
	err error
}

// get returns the tensor called name with the given shape, or nil after the first error.
func (l *loader) get(name string, shape ...int) []float32 {
	if l.err != nil {
		return nil
	}
	v, err := l.w.Float32(name, shape...)
	if err != nil {
		l.err = fmt.Errorf("weight %s: %w", name, err)
		return nil
	}
	if want := product(shape); len(v) != want {
		l.err = fmt.Errorf("weight %s: %d values, want %d for shape %v", name, len(v), want, shape)
		return nil
	}
	return v
}

// first returns the first of names the checkpoint has (older checkpoints spell some tensors
// differently), or "" after recording an error naming them all.
func (l *loader) first(names ...string) string {
	if l.err != nil {
		return ""
	}
	for _, n := range names {
		if l.w.Has(n) {
			return n
		}
	}
	l.err = fmt.Errorf("missing weight: none of %s", strings.Join(names, ", "))
	return ""
}

func product(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// rows returns rows [from, to) of a row-major [n, cols] matrix (a copy-free view).
func rows(m []float32, cols, from, to int) []float32 {
	if m == nil {
		return nil
	}
	return m[from*cols : to*cols]
}

// scaled returns a copy of v multiplied by s.
func scaled(v []float32, s float32) []float32 {
	if v == nil {
		return nil
	}
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = x * s
	}
	return out
}
