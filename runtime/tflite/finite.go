package tflite

import (
	"errors"
	"fmt"
	"math"
)

// ErrNotFinite marks an output holding NaN or an infinity. No sound model computes one from
// finite inputs: the model itself is broken (a damaged checkpoint, or a config such as a
// negative layer_norm_eps), and its results must not be used.
var ErrNotFinite = errors.New("the model computes numbers that are not finite (NaN or infinity): its checkpoint or config.json is broken")

// ReadFiniteFloat32 is ReadFloat32 for an output whose values are used as numbers: NaN or an
// infinity in it is an error wrapping ErrNotFinite.
func (t *Tensor) ReadFiniteFloat32(dst []float32) error {
	if err := t.ReadFloat32(dst); err != nil {
		return err
	}
	return t.finite(dst)
}

// FiniteFloat32 is Float32 with the check of ReadFiniteFloat32.
func (t *Tensor) FiniteFloat32() ([]float32, error) {
	v, err := t.Float32()
	if err != nil {
		return nil, err
	}
	return v, t.finite(v)
}

func (t *Tensor) finite(v []float32) error {
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("runtime: %s: value %d is %v: %w", t, i, x, ErrNotFinite)
		}
	}
	return nil
}
