package quant

import (
	"fmt"
	"math"
)

// WeightQMax is the largest magnitude of a symmetric int8 weight. TFLite keeps weights in
// [-127, 127] (not -128) so that negation never overflows in its kernels.
const WeightQMax = 127

// ChannelWeights are symmetric int8 weights with one scale per slice along Axis:
// real[i] = Scales[channel(i)] * Values[i].
type ChannelWeights struct {
	Values []int8
	Scales []float32
	Axis   int
}

// SymmetricPerChannel quantizes w (row-major, of the given shape) to int8 with one scale per
// index of axis: scale = max|w| / 127 over that slice. For a FULLY_CONNECTED weight [out, in]
// and a CONV_2D filter [out, h, w, in] the axis is 0, the output channel. A slice of zeros gets
// scale 1 (any positive scale represents it exactly).
func SymmetricPerChannel(w []float32, shape []int, axis int) (ChannelWeights, error) {
	n, err := elements(shape)
	if err != nil {
		return ChannelWeights{}, err
	}
	if n != len(w) {
		return ChannelWeights{}, fmt.Errorf("quant: %d weights do not fill shape %v (%d elements)", len(w), shape, n)
	}
	if axis < 0 || axis >= len(shape) {
		return ChannelWeights{}, fmt.Errorf("quant: channel axis %d out of range for shape %v", axis, shape)
	}
	channels := shape[axis]
	inner := 1 // elements between two consecutive indices of axis
	for _, d := range shape[axis+1:] {
		inner *= d
	}
	channelOf := func(i int) int { return (i / inner) % channels }
	maxAbs := make([]float64, channels)
	for i, x := range w {
		if !finite(x) {
			return ChannelWeights{}, fmt.Errorf("quant: weight %d is %v", i, x)
		}
		c := channelOf(i)
		maxAbs[c] = math.Max(maxAbs[c], math.Abs(float64(x)))
	}
	cw := ChannelWeights{Values: make([]int8, len(w)), Scales: make([]float32, channels), Axis: axis}
	for c, m := range maxAbs {
		cw.Scales[c] = symmetricScale(m)
	}
	for i, x := range w {
		cw.Values[i] = symmetricQuantize(x, cw.Scales[channelOf(i)])
	}
	return cw, nil
}

// SymmetricPerTensor quantizes w to int8 with a single scale max|w| / 127.
func SymmetricPerTensor(w []float32) (values []int8, scale float32, err error) {
	m := 0.0
	for i, x := range w {
		if !finite(x) {
			return nil, 0, fmt.Errorf("quant: weight %d is %v", i, x)
		}
		m = math.Max(m, math.Abs(float64(x)))
	}
	scale = symmetricScale(m)
	values = make([]int8, len(w))
	for i, x := range w {
		values[i] = symmetricQuantize(x, scale)
	}
	return values, scale, nil
}

// Dequantize maps the weights back to real numbers, for tests and reference maths.
func (cw ChannelWeights) Dequantize(shape []int) ([]float32, error) {
	n, err := elements(shape)
	if err != nil {
		return nil, err
	}
	if n != len(cw.Values) || cw.Axis < 0 || cw.Axis >= len(shape) || shape[cw.Axis] != len(cw.Scales) {
		return nil, fmt.Errorf("quant: %d weights with %d scales on axis %d do not match shape %v", len(cw.Values), len(cw.Scales), cw.Axis, shape)
	}
	inner := 1
	for _, d := range shape[cw.Axis+1:] {
		inner *= d
	}
	out := make([]float32, n)
	for i, q := range cw.Values {
		out[i] = cw.Scales[(i/inner)%len(cw.Scales)] * float32(q)
	}
	return out, nil
}

func symmetricScale(maxAbs float64) float32 {
	if maxAbs == 0 {
		return 1
	}
	return float32(maxAbs / WeightQMax)
}

func symmetricQuantize(x, scale float32) int8 {
	q := math.Round(float64(x) / float64(scale))
	return int8(math.Min(math.Max(q, -WeightQMax), WeightQMax))
}

// Bias quantizes the bias of an int8 FULLY_CONNECTED or CONV_2D to int32 with zero point 0 and
// scale inputScale * weightScales[c] per output channel (weightScales has one entry for
// per-tensor weights, or one per bias element). It returns the values and the scales.
func Bias(bias []float32, inputScale float32, weightScales []float32) ([]int32, []float32, error) {
	if !(inputScale > 0) || !finite(inputScale) {
		return nil, nil, fmt.Errorf("quant: bias: input scale %v must be positive", inputScale)
	}
	if len(weightScales) != 1 && len(weightScales) != len(bias) {
		return nil, nil, fmt.Errorf("quant: bias: %d weight scales for %d bias values", len(weightScales), len(bias))
	}
	values := make([]int32, len(bias))
	scales := make([]float32, len(bias))
	for i, b := range bias {
		ws := weightScales[0]
		if len(weightScales) > 1 {
			ws = weightScales[i]
		}
		if !(ws > 0) || !finite(ws) {
			return nil, nil, fmt.Errorf("quant: bias: weight scale %d is %v, must be positive", i, ws)
		}
		if !finite(b) {
			return nil, nil, fmt.Errorf("quant: bias %d is %v", i, b)
		}
		s := float64(inputScale) * float64(ws)
		scales[i] = float32(s)
		q := math.Round(float64(b) / float64(scales[i]))
		values[i] = int32(math.Min(math.Max(q, math.MinInt32), math.MaxInt32))
	}
	return values, scales, nil
}

func elements(shape []int) (int, error) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("quant: negative dimension in shape %v", shape)
		}
		n *= d
	}
	return n, nil
}
