package convert

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
)

// Init says how --random-init draws one tensor: normal values with mean Mean and standard
// deviation Std (Std 0 gives the constant Mean), as transformers' _init_weights would.
type Init struct {
	Mean, Std float32
}

// randomWeights stands in for a checkpoint's weights: every tensor is drawn from its own
// generator, seeded by the seed and the tensor's name, so a tensor does not depend on the
// order in which an architecture asks for tensors.
type randomWeights struct {
	src  *Source
	seed uint64
	init func(src *Source, name string, shape []int) Init
}

func (r *randomWeights) Has(string) bool { return true }

func (r *randomWeights) Float32(name string, shape ...int) ([]float32, error) {
	n := 1
	for _, d := range shape {
		if d <= 0 {
			return nil, fmt.Errorf("random weights: tensor %q: bad shape %v", name, shape)
		}
		n *= d
	}
	in := r.init(r.src, name, shape)
	out := make([]float32, n)
	if in.Std == 0 {
		for i := range out {
			out[i] = in.Mean
		}
		return out, nil
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	rng := rand.New(rand.NewPCG(r.seed, h.Sum64()))
	for i := range out {
		out[i] = in.Mean + in.Std*float32(rng.NormFloat64())
	}
	return out, nil
}

func (r *randomWeights) Close() error { return nil }
