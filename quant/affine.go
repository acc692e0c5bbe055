// Package quant is the arithmetic of TFLite quantization, with no I/O: affine int8/uint8
// parameters from a value range, symmetric per-channel int8 weights, int32 biases, float16
// weights, and range observers for calibration.
//
// Conventions are TFLite's: a quantized value q stands for real = Scale * (q - ZeroPoint);
// zero is always exactly representable; weights are symmetric (zero point 0) with values in
// [-127, 127]; a bias of an int8 matmul is int32 with scale input_scale * weight_scale.
package quant

import (
	"fmt"
	"math"
)

// Params are affine quantization parameters together with the integer range they map into.
type Params struct {
	Scale     float32
	ZeroPoint int32
	QMin      int32 // smallest quantized value, e.g. -128 for int8
	QMax      int32 // largest quantized value, e.g. 127 for int8
}

// Int8Params returns int8 parameters (range [-128, 127]) covering [min, max].
func Int8Params(min, max float32) (Params, error) { return AffineParams(min, max, -128, 127) }

// Uint8Params returns uint8 parameters (range [0, 255]) covering [min, max].
func Uint8Params(min, max float32) (Params, error) { return AffineParams(min, max, 0, 255) }

// AffineParams returns parameters that map [min, max] onto [qmin, qmax]. The range is first
// widened to contain 0, and the zero point is rounded to an integer (nudged) so that 0.0 is
// represented exactly, as TFLite's quantizer does: padding and masks rely on an exact zero.
func AffineParams(min, max float32, qmin, qmax int32) (Params, error) {
	if !finite(min) || !finite(max) {
		return Params{}, fmt.Errorf("quant: range [%v, %v] is not finite", min, max)
	}
	if min > max {
		return Params{}, fmt.Errorf("quant: range [%v, %v] has min above max", min, max)
	}
	if qmin >= qmax {
		return Params{}, fmt.Errorf("quant: integer range [%d, %d] is empty", qmin, qmax)
	}
	lo, hi := math.Min(float64(min), 0), math.Max(float64(max), 0)
	if lo == hi { // the range is {0}: any scale represents it; 1 keeps later divisions finite
		return Params{Scale: 1, ZeroPoint: clampZero(0, qmin, qmax), QMin: qmin, QMax: qmax}, nil
	}
	fqmin, fqmax := float64(qmin), float64(qmax)
	scale := (hi - lo) / (fqmax - fqmin)
	// Derive the zero point from whichever end loses less precision in the division.
	fromMin, fromMax := fqmin-lo/scale, fqmax-hi/scale
	zp := fromMax
	if math.Abs(fqmin)+math.Abs(lo/scale) < math.Abs(fqmax)+math.Abs(hi/scale) {
		zp = fromMin
	}
	var nudged int32
	switch {
	case zp <= fqmin:
		nudged = qmin
	case zp >= fqmax:
		nudged = qmax
	default:
		nudged = int32(math.Round(zp))
	}
	return Params{Scale: float32(scale), ZeroPoint: nudged, QMin: qmin, QMax: qmax}, nil
}

func clampZero(zp, qmin, qmax int32) int32 {
	return min(max(zp, qmin), qmax)
}

// Quantize maps x to the nearest quantized value (ties away from zero, as TFLite rounds),
// clamped to [QMin, QMax].
func (p Params) Quantize(x float32) int32 {
	q := math.Round(float64(x)/float64(p.Scale)) + float64(p.ZeroPoint)
	return int32(math.Min(math.Max(q, float64(p.QMin)), float64(p.QMax)))
}

// Dequantize maps a quantized value back to a real number.
func (p Params) Dequantize(q int32) float32 {
	return p.Scale * float32(q-p.ZeroPoint)
}

// QuantizeInt8 quantizes xs with int8 parameters.
func (p Params) QuantizeInt8(xs []float32) ([]int8, error) {
	if p.QMin < math.MinInt8 || p.QMax > math.MaxInt8 {
		return nil, fmt.Errorf("quant: parameters for range [%d, %d] do not fit int8", p.QMin, p.QMax)
	}
	out := make([]int8, len(xs))
	for i, x := range xs {
		out[i] = int8(p.Quantize(x))
	}
	return out, nil
}

// QuantizeUint8 quantizes xs with uint8 parameters.
func (p Params) QuantizeUint8(xs []float32) ([]uint8, error) {
	if p.QMin < 0 || p.QMax > math.MaxUint8 {
		return nil, fmt.Errorf("quant: parameters for range [%d, %d] do not fit uint8", p.QMin, p.QMax)
	}
	out := make([]uint8, len(xs))
	for i, x := range xs {
		out[i] = uint8(p.Quantize(x))
	}
	return out, nil
}

// DequantizeInt8 maps int8 values back to real numbers.
func (p Params) DequantizeInt8(qs []int8) []float32 {
	out := make([]float32, len(qs))
	for i, q := range qs {
		out[i] = p.Dequantize(int32(q))
	}
	return out
}

func finite(x float32) bool {
	return !math.IsNaN(float64(x)) && !math.IsInf(float64(x), 0)
}
