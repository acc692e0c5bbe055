package tflite

/*
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"unsafe"
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

// CheckFinite is ReadFiniteFloat32's check on a float32 tensor's data where it lies: for an
// output handed on with SetFloat32From instead of read.
func (t *Tensor) CheckFinite() error {
	ct, err := t.lock()
	if err != nil {
		return err
	}
	n := numElements(ct)
	if err := t.check(ct, "CheckFinite", Float32, n, 4); err != nil {
		t.ip.mu.Unlock()
		return err
	}
	i, x := -1, float32(0)
	if n > 0 {
		v := unsafe.Slice((*float32)(C.TfLiteTensorData(ct)), n)
		if i = firstNotFinite(v); i >= 0 {
			x = v[i]
		}
	}
	t.ip.mu.Unlock()
	return t.notFinite(i, x)
}

func (t *Tensor) finite(v []float32) error {
	i := firstNotFinite(v)
	if i < 0 {
		return nil
	}
	return t.notFinite(i, v[i])
}

// notFinite is the error for value i, x, of the tensor; nil for i < 0.
func (t *Tensor) notFinite(i int, x float32) error {
	if i < 0 {
		return nil
	}
	return fmt.Errorf("runtime: %s: value %d is %v: %w", t, i, x, ErrNotFinite)
}

// firstNotFinite is the index of the first NaN or infinity of v, or -1.
func firstNotFinite(v []float32) int {
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return i
		}
	}
	return -1
}
