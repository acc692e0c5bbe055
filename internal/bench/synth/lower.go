package synth

import (
	"fmt"
	"math/rand/v2"

	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/graph/tfl"
	"github.com/edged/edged/quant"
	"github.com/edged/edged/runtime/tflite"
)

// Inputs are the values of a model's inputs, in order: []float32 or []int32.
type Inputs []any

// Set copies the inputs into an interpreter.
func (in Inputs) Set(ip *tflite.Interpreter) error {
	if ip.InputCount() != len(in) {
		return fmt.Errorf("synth: model has %d inputs, %d given", ip.InputCount(), len(in))
	}
	for i, v := range in {
		var err error
		switch v := v.(type) {
		case []float32:
			err = ip.Input(i).SetFloat32(v)
		case []int32:
			err = ip.Input(i).SetInt32(v)
		default:
			err = fmt.Errorf("unsupported input type %T", v)
		}
		if err != nil {
			return fmt.Errorf("synth: input %d: %w", i, err)
		}
	}
	return nil
}

// PixelInputs are n random images of size×size in the normalised range of CLIP and BLIP.
func PixelInputs(size, n int, seed uint64) []Inputs {
	rng := rand.New(rand.NewPCG(seed, 3))
	out := make([]Inputs, n)
	for i := range out {
		px := make([]float32, size*size*3)
		for j := range px {
			px[j] = float32(rng.Float64()*3.6 - 1.8)
		}
		out[i] = Inputs{px}
	}
	return out
}

// TokenInputs are n random token sequences of the given length.
func TokenInputs(vocab, tokens, n int, seed uint64) []Inputs {
	rng := rand.New(rand.NewPCG(seed, 4))
	out := make([]Inputs, n)
	for i := range out {
		ids := make([]int32, tokens)
		for j := range ids {
			ids[j] = int32(rng.IntN(vocab))
		}
		out[i] = Inputs{ids}
	}
	return out
}

// Calibrate runs the float graph with every activation exposed on each input set and returns
// min/max ranges by tensor name (graph inputs included), for Int8Full: convert's calibrator,
// on inputs given rather than images.
func Calibrate(g *graph.Graph, sets []Inputs, threads int) (map[string]quant.Range, error) {
	data, err := g.MarshalWith(graph.LowerOptions{Precision: graph.FP32, ObserveAll: true})
	if err != nil {
		return nil, fmt.Errorf("synth: calibration model: %w", err)
	}
	cal, err := convert.NewCalibrator(data, tflite.Options{Threads: threads}, nil)
	if err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	defer cal.Close()
	for _, in := range sets {
		if err := in.Set(cal.Interpreter()); err != nil {
			return nil, err
		}
		if err := cal.Run(); err != nil {
			return nil, fmt.Errorf("synth: %w", err)
		}
	}
	return cal.Ranges()
}

// Lower writes g at precision p. Int8Full is calibrated on calib, keeping the operators that
// keep says in float (nil: KeepLayerNormFloat).
func Lower(g *graph.Graph, p graph.Precision, calib []Inputs, keep func(string, tfl.BuiltinOp) bool, threads int) ([]byte, error) {
	if p != graph.Int8Full {
		return g.MarshalAs(p)
	}
	ranges, err := Calibrate(g, calib, threads)
	if err != nil {
		return nil, err
	}
	if keep == nil {
		keep = KeepLayerNormFloat
	}
	return g.MarshalWith(graph.LowerOptions{Precision: graph.Int8Full, Ranges: ranges, KeepFloat: keep})
}
