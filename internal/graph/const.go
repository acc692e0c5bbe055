package graph

import (
	"fmt"

	"github.com/edged/edged/quant"
)

// Const adds a float32 constant. The graph keeps data without copying it: do not modify it
// afterwards. How the constant is stored in a model (float32, float16, int8) is decided at
// lowering from how operators use it.
func (g *Graph) Const(name string, data []float32, shape ...int) *Tensor {
	return g.constant(name, Float32, data, len(data), nil, shape)
}

// ConstInt32 adds an int32 constant (indices, shapes, axes).
func (g *Graph) ConstInt32(name string, data []int32, shape ...int) *Tensor {
	return g.constant(name, Int32, data, len(data), nil, shape)
}

// ConstInt64 adds an int64 constant.
func (g *Graph) ConstInt64(name string, data []int64, shape ...int) *Tensor {
	return g.constant(name, Int64, data, len(data), nil, shape)
}

// ConstFloat16 adds a constant stored as float16 (converted from data); operators other than
// DEQUANTIZE and CAST need it dequantized first.
func (g *Graph) ConstFloat16(name string, data []float32, shape ...int) *Tensor {
	if g.err != nil {
		return nil
	}
	bits, err := quant.Float16(data)
	if err != nil {
		g.failf("graph: constant %q: %w", name, err)
		return nil
	}
	return g.constant(name, Float16, fp16Data(bits), len(bits), nil, shape)
}

// QuantizedConst adds an already quantized constant: data is []int8, []uint8 or []int32 (an
// int32 bias of an int8 operator), with its quantization parameters.
func (g *Graph) QuantizedConst(name string, data any, q Quant, shape ...int) *Tensor {
	if g.err != nil {
		return nil
	}
	var dtype DType
	var n int
	switch d := data.(type) {
	case []int8:
		dtype, n = Int8, len(d)
	case []uint8:
		dtype, n = Uint8, len(d)
	case []int32:
		dtype, n = Int32, len(d)
	default:
		g.failf("graph: constant %q: quantized data of type %T, want []int8, []uint8 or []int32", name, data)
		return nil
	}
	if err := checkQuant(q, dtype, shape); err != nil {
		g.failf("graph: constant %q: %w", name, err)
		return nil
	}
	return g.constant(name, dtype, data, n, &q, shape)
}

func (g *Graph) constant(name string, dtype DType, data any, n int, q *Quant, shape []int) *Tensor {
	if g.err != nil {
		return nil
	}
	if err := checkShape(shape, false); err != nil {
		g.failf("graph: constant %q: %w", name, err)
		return nil
	}
	if want := numElements(shape); want != n {
		g.failf("graph: constant %q: %d values do not fill shape %v (%d elements)", name, n, shape, want)
		return nil
	}
	t := g.newTensor(name, dtype, shape, kindConst)
	t.data, t.quant = data, q
	return t
}

// Float32Data returns the values of a float32 constant (nil for any other tensor).
func (t *Tensor) Float32Data() []float32 {
	if t == nil {
		return nil
	}
	d, _ := t.data.([]float32)
	return d
}

// Int32Data returns the values of an int32 constant (nil for any other tensor).
func (t *Tensor) Int32Data() []int32 {
	if t == nil {
		return nil
	}
	d, _ := t.data.([]int32)
	return d
}

// checkQuant checks quantization parameters against a tensor's type and shape.
func checkQuant(q Quant, dtype DType, shape []int) error {
	switch dtype {
	case Int8, Uint8, Int16, Int32:
	default:
		return fmt.Errorf("quantization on a %v tensor", dtype)
	}
	if len(q.Scale) == 0 || len(q.Scale) != len(q.ZeroPoint) {
		return fmt.Errorf("quantization needs as many zero points as scales (got %d scales, %d zero points, want at least one)", len(q.Scale), len(q.ZeroPoint))
	}
	for i, s := range q.Scale {
		if !(s > 0) {
			return fmt.Errorf("quantization scale %d is %v, must be positive", i, s)
		}
	}
	if len(q.Scale) > 1 {
		if q.Axis < 0 || q.Axis >= len(shape) || shape[q.Axis] != len(q.Scale) {
			return fmt.Errorf("per-channel quantization: %d scales on axis %d of shape %v", len(q.Scale), q.Axis, shape)
		}
	}
	return nil
}
