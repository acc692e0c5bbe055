package quant

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/x448/float16"
)

// Float16 converts xs to IEEE half precision (round to nearest even). A finite value beyond
// the float16 range (|x| > 65504) is an error rather than a silent infinity.
func Float16(xs []float32) ([]uint16, error) {
	out := make([]uint16, len(xs))
	for i, x := range xs {
		h := float16.Fromfloat32(x)
		if h.IsInf(0) && !math.IsInf(float64(x), 0) {
			return nil, fmt.Errorf("quant: value %d (%v) overflows float16", i, x)
		}
		out[i] = h.Bits()
	}
	return out, nil
}

// Float16Bytes converts xs to half precision as little-endian bytes, the layout of a TFLite
// FLOAT16 buffer.
func Float16Bytes(xs []float32) ([]byte, error) {
	bits, err := Float16(xs)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 2*len(bits))
	for i, b := range bits {
		binary.LittleEndian.PutUint16(out[2*i:], b)
	}
	return out, nil
}

// FromFloat16 converts half-precision bit patterns back to float32 (exactly).
func FromFloat16(bits []uint16) []float32 {
	out := make([]float32, len(bits))
	for i, b := range bits {
		out[i] = float16.Frombits(b).Float32()
	}
	return out
}
