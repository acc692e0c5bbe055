package tflite_test

import (
	"encoding/binary"
	"math"
	"testing"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/edged/edged/runtime/tflite"
)

// This file writes the small .tflite models the tests run, straight from TFLite's schema.fbs
// with the flatbuffers tflite. It is deliberately independent of package graph so that
// tflite's tests do not depend on the writer under test elsewhere, and so that it can write
// models a validating writer would refuse (unknown operators, bad versions).

// Schema TensorType values (they differ from TfLiteType, which tflite.DType mirrors).
var schemaType = map[tflite.DType]int8{
	tflite.Float32: 0, tflite.Float16: 1, tflite.Int32: 2, tflite.Uint8: 3,
	tflite.Int64: 4, tflite.Bool: 6, tflite.Int16: 7, tflite.Int8: 9,
}

// Builtin operator codes and builtin_options union types of the schema.
const (
	opAdd            = 0
	opDequantize     = 6
	opFullyConnected = 9
	opReshape        = 22
	opGather         = 36
	opCustom         = 32

	optFullyConnected = 8
	optAdd            = 11
	optReshape        = 17
	optGather         = 23
	optDequantize     = 38
)

type tmTensor struct {
	name  string
	dtype tflite.DType
	shape []int32
	data  []byte // constant data; nil for activations
	// Affine quantization; nil scale means none.
	scale []float32
	zero  []int64
	axis  int32
}

type tmOp struct {
	builtin int32
	custom  string // for opCustom
	version int32  // 0 means 1
	inputs  []int32
	outputs []int32
	optType uint8
	options func(b *flatbuffers.Builder) flatbuffers.UOffsetT // nil: no options table
}

type tmModel struct {
	tensors []tmTensor
	ops     []tmOp
	inputs  []int32
	outputs []int32
}

// add appends a tensor and returns its index.
func (m *tmModel) add(t tmTensor) int32 {
	m.tensors = append(m.tensors, t)
	return int32(len(m.tensors) - 1)
}

func (m *tmModel) bytes(t testing.TB) []byte {
	t.Helper()
	b := flatbuffers.NewBuilder(1024)

	// Buffers: 0 is the empty sentinel; one per constant tensor.
	bufIndex := make([]uint32, len(m.tensors))
	bufOffsets := []flatbuffers.UOffsetT{emptyTable(b)}
	for i, tt := range m.tensors {
		if tt.data == nil {
			continue
		}
		b.StartVector(1, len(tt.data), 16) // aligned so kernels may read weights in place
		for k := len(tt.data) - 1; k >= 0; k-- {
			b.PrependByte(tt.data[k])
		}
		vec := b.EndVector(len(tt.data))
		b.StartObject(3)
		b.PrependUOffsetTSlot(0, vec, 0)
		bufOffsets = append(bufOffsets, b.EndObject())
		bufIndex[i] = uint32(len(bufOffsets) - 1)
	}

	tensorOffsets := make([]flatbuffers.UOffsetT, len(m.tensors))
	for i, tt := range m.tensors {
		st, ok := schemaType[tt.dtype]
		if !ok {
			t.Fatalf("test model: no schema type for %s", tt.dtype)
		}
		shape := int32Vector(b, tt.shape)
		name := b.CreateString(tt.name)
		var quant flatbuffers.UOffsetT
		if tt.scale != nil {
			b.StartVector(4, len(tt.scale), 4)
			for k := len(tt.scale) - 1; k >= 0; k-- {
				b.PrependFloat32(tt.scale[k])
			}
			scales := b.EndVector(len(tt.scale))
			b.StartVector(8, len(tt.zero), 8)
			for k := len(tt.zero) - 1; k >= 0; k-- {
				b.PrependInt64(tt.zero[k])
			}
			zeros := b.EndVector(len(tt.zero))
			b.StartObject(7)
			b.PrependUOffsetTSlot(2, scales, 0)
			b.PrependUOffsetTSlot(3, zeros, 0)
			b.PrependInt32Slot(6, tt.axis, 0)
			quant = b.EndObject()
		}
		b.StartObject(8)
		b.PrependUOffsetTSlot(0, shape, 0)
		b.PrependInt8Slot(1, st, 0)
		b.PrependUint32Slot(2, bufIndex[i], 0)
		b.PrependUOffsetTSlot(3, name, 0)
		if quant != 0 {
			b.PrependUOffsetTSlot(4, quant, 0)
		}
		tensorOffsets[i] = b.EndObject()
	}

	// Operator codes: one per distinct (builtin, custom, version).
	type codeKey struct {
		builtin int32
		custom  string
		version int32
	}
	codeIndex := map[codeKey]uint32{}
	var codes []codeKey
	opOffsets := make([]flatbuffers.UOffsetT, len(m.ops))
	for i, op := range m.ops {
		k := codeKey{op.builtin, op.custom, max(op.version, 1)}
		if _, ok := codeIndex[k]; !ok {
			codeIndex[k] = uint32(len(codes))
			codes = append(codes, k)
		}
		ins, outs := int32Vector(b, op.inputs), int32Vector(b, op.outputs)
		var opts flatbuffers.UOffsetT
		if op.options != nil {
			opts = op.options(b)
		}
		b.StartObject(9)
		b.PrependUint32Slot(0, codeIndex[k], 0)
		b.PrependUOffsetTSlot(1, ins, 0)
		b.PrependUOffsetTSlot(2, outs, 0)
		if opts != 0 {
			b.PrependByteSlot(3, op.optType, 0)
			b.PrependUOffsetTSlot(4, opts, 0)
		}
		opOffsets[i] = b.EndObject()
	}
	codeOffsets := make([]flatbuffers.UOffsetT, len(codes))
	for i, k := range codes {
		var custom flatbuffers.UOffsetT
		if k.custom != "" {
			custom = b.CreateString(k.custom)
		}
		b.StartObject(4)
		b.PrependInt8Slot(0, int8(min(k.builtin, 127)), 0) // deprecated_builtin_code
		if custom != 0 {
			b.PrependUOffsetTSlot(1, custom, 0)
		}
		b.PrependInt32Slot(2, k.version, 1)
		b.PrependInt32Slot(3, k.builtin, 0)
		codeOffsets[i] = b.EndObject()
	}

	tensors := offsetVector(b, tensorOffsets)
	ins, outs := int32Vector(b, m.inputs), int32Vector(b, m.outputs)
	ops := offsetVector(b, opOffsets)
	sgName := b.CreateString("main")
	b.StartObject(5)
	b.PrependUOffsetTSlot(0, tensors, 0)
	b.PrependUOffsetTSlot(1, ins, 0)
	b.PrependUOffsetTSlot(2, outs, 0)
	b.PrependUOffsetTSlot(3, ops, 0)
	b.PrependUOffsetTSlot(4, sgName, 0)
	subgraph := b.EndObject()

	codesVec := offsetVector(b, codeOffsets)
	subgraphs := offsetVector(b, []flatbuffers.UOffsetT{subgraph})
	buffers := offsetVector(b, bufOffsets)
	desc := b.CreateString("edged runtime test model")
	b.StartObject(8)
	b.PrependUint32Slot(0, 3, 0)
	b.PrependUOffsetTSlot(1, codesVec, 0)
	b.PrependUOffsetTSlot(2, subgraphs, 0)
	b.PrependUOffsetTSlot(3, desc, 0)
	b.PrependUOffsetTSlot(4, buffers, 0)
	b.FinishWithFileIdentifier(b.EndObject(), []byte("TFL3"))
	return b.FinishedBytes()
}

func emptyTable(b *flatbuffers.Builder) flatbuffers.UOffsetT {
	b.StartObject(0)
	return b.EndObject()
}

func int32Vector(b *flatbuffers.Builder, v []int32) flatbuffers.UOffsetT {
	b.StartVector(4, len(v), 4)
	for k := len(v) - 1; k >= 0; k-- {
		b.PrependInt32(v[k])
	}
	return b.EndVector(len(v))
}

func offsetVector(b *flatbuffers.Builder, v []flatbuffers.UOffsetT) flatbuffers.UOffsetT {
	b.StartVector(4, len(v), 4)
	for k := len(v) - 1; k >= 0; k-- {
		b.PrependUOffsetT(v[k])
	}
	return b.EndVector(len(v))
}

// ---- options tables ----

func addOptions(b *flatbuffers.Builder) flatbuffers.UOffsetT {
	b.StartObject(2)
	b.PrependInt8Slot(0, 0, 0) // fused_activation_function NONE
	return b.EndObject()
}

func fullyConnectedOptions(b *flatbuffers.Builder) flatbuffers.UOffsetT {
	b.StartObject(4)
	b.PrependInt8Slot(0, 0, 0) // fused_activation_function NONE
	b.PrependInt8Slot(1, 0, 0) // weights_format DEFAULT
	return b.EndObject()
}

func reshapeOptions(newShape []int32) func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
	return func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
		v := int32Vector(b, newShape)
		b.StartObject(1)
		b.PrependUOffsetTSlot(0, v, 0)
		return b.EndObject()
	}
}

// ---- data helpers ----

func f32Bytes(v []float32) []byte {
	out := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(x))
	}
	return out
}

func i32Bytes(v []int32) []byte {
	out := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(out[4*i:], uint32(x))
	}
	return out
}

func i8Bytes(v []int8) []byte {
	out := make([]byte, len(v))
	for i, x := range v {
		out[i] = byte(x)
	}
	return out
}

// ---- the models ----

// addModel: out = a + b, float32 [1,n] each.
func addModel(t testing.TB, n int32) []byte {
	m := &tmModel{}
	a := m.add(tmTensor{name: "a", dtype: tflite.Float32, shape: []int32{1, n}})
	b := m.add(tmTensor{name: "b", dtype: tflite.Float32, shape: []int32{1, n}})
	out := m.add(tmTensor{name: "sum", dtype: tflite.Float32, shape: []int32{1, n}})
	m.ops = []tmOp{{builtin: opAdd, inputs: []int32{a, b}, outputs: []int32{out}, optType: optAdd, options: addOptions}}
	m.inputs, m.outputs = []int32{a, b}, []int32{out}
	return m.bytes(t)
}

// fcModel: y = x·Wᵀ + bias with x [1,k], W [n,k], bias [n], all float32 constants given.
func fcModel(t testing.TB, k, n int, w, bias []float32) []byte {
	m := &tmModel{}
	x := m.add(tmTensor{name: "x", dtype: tflite.Float32, shape: []int32{1, int32(k)}})
	wt := m.add(tmTensor{name: "w", dtype: tflite.Float32, shape: []int32{int32(n), int32(k)}, data: f32Bytes(w)})
	bt := m.add(tmTensor{name: "bias", dtype: tflite.Float32, shape: []int32{int32(n)}, data: f32Bytes(bias)})
	y := m.add(tmTensor{name: "y", dtype: tflite.Float32, shape: []int32{1, int32(n)}})
	m.ops = []tmOp{{builtin: opFullyConnected, inputs: []int32{x, wt, bt}, outputs: []int32{y},
		optType: optFullyConnected, options: fullyConnectedOptions}}
	m.inputs, m.outputs = []int32{x}, []int32{y}
	return m.bytes(t)
}

// reshapeModel flattens an input of any dtype: x [2,3] → y [6]. RESHAPE only moves bytes, so
// it carries every element type and makes a round trip through Invoke.
func reshapeModel(t testing.TB, dtype tflite.DType) []byte {
	m := &tmModel{}
	x := m.add(tmTensor{name: "x", dtype: dtype, shape: []int32{2, 3}})
	shape := m.add(tmTensor{name: "new_shape", dtype: tflite.Int32, shape: []int32{1}, data: i32Bytes([]int32{-1})})
	y := m.add(tmTensor{name: "y", dtype: dtype, shape: []int32{6}})
	m.ops = []tmOp{{builtin: opReshape, inputs: []int32{x, shape}, outputs: []int32{y},
		optType: optReshape, options: reshapeOptions([]int32{-1})}}
	m.inputs, m.outputs = []int32{x}, []int32{y}
	return m.bytes(t)
}

// dequantizeModel: y = scale[c] * (x - zero[c]) with x of dtype (int8 or uint8) [2,3].
func dequantizeModel(t testing.TB, dtype tflite.DType, scale []float32, zero []int64, axis int32) []byte {
	m := &tmModel{}
	x := m.add(tmTensor{name: "q", dtype: dtype, shape: []int32{2, 3}, scale: scale, zero: zero, axis: axis})
	y := m.add(tmTensor{name: "real", dtype: tflite.Float32, shape: []int32{2, 3}})
	m.ops = []tmOp{{builtin: opDequantize, inputs: []int32{x}, outputs: []int32{y},
		optType: optDequantize, options: emptyTable}}
	m.inputs, m.outputs = []int32{x}, []int32{y}
	return m.bytes(t)
}

// quantFCParams describe a fully quantized FULLY_CONNECTED: x, weights and y of dtype (int8 or
// uint8) with affine parameters, and an int32 bias with scale xScale*wScale and zero point 0.
type quantFCParams struct {
	dtype      tflite.DType
	k, n       int
	xScale     float32
	xZero      int32
	wScale     []float32 // one scale (per-tensor) or n (per-channel)
	wZero      int32
	w          []int32 // [n,k] quantized weights
	bias       []int32 // [n]
	yScale     float32
	yZero      int32
	qmin, qmax int32 // range of dtype
}

func quantBytes(dtype tflite.DType, v []int32) []byte {
	out := make([]byte, len(v))
	for i, x := range v {
		if dtype == tflite.Int8 {
			out[i] = byte(int8(x))
		} else {
			out[i] = byte(uint8(x))
		}
	}
	return out
}

// quantFCModel writes the model described by p.
func quantFCModel(t testing.TB, p quantFCParams) []byte {
	m := &tmModel{}
	x := m.add(tmTensor{name: "x", dtype: p.dtype, shape: []int32{1, int32(p.k)},
		scale: []float32{p.xScale}, zero: []int64{int64(p.xZero)}})
	wZero := make([]int64, len(p.wScale))
	bScale := make([]float32, len(p.wScale))
	for i, s := range p.wScale {
		wZero[i] = int64(p.wZero)
		bScale[i] = p.xScale * s
	}
	wt := m.add(tmTensor{name: "w", dtype: p.dtype, shape: []int32{int32(p.n), int32(p.k)},
		data: quantBytes(p.dtype, p.w), scale: p.wScale, zero: wZero})
	bt := m.add(tmTensor{name: "bias", dtype: tflite.Int32, shape: []int32{int32(p.n)},
		data: i32Bytes(p.bias), scale: bScale, zero: make([]int64, len(bScale))})
	y := m.add(tmTensor{name: "y", dtype: p.dtype, shape: []int32{1, int32(p.n)},
		scale: []float32{p.yScale}, zero: []int64{int64(p.yZero)}})
	m.ops = []tmOp{{builtin: opFullyConnected, inputs: []int32{x, wt, bt}, outputs: []int32{y},
		optType: optFullyConnected, options: fullyConnectedOptions}}
	m.inputs, m.outputs = []int32{x}, []int32{y}
	return m.bytes(t)
}

// reference computes the quantized output in plain Go: integer accumulation, then the real
// rescale in float64 and round-half-away-from-zero.
func (p quantFCParams) reference(x []int32) []int32 {
	y := make([]int32, p.n)
	for n := range p.n {
		acc := int64(p.bias[n])
		for k := range p.k {
			acc += int64(x[k]-p.xZero) * int64(p.w[n*p.k+k]-p.wZero)
		}
		ws := p.wScale[0]
		if len(p.wScale) > 1 {
			ws = p.wScale[n]
		}
		real := float64(acc) * float64(p.xScale) * float64(ws)
		q := int32(math.Round(real/float64(p.yScale))) + p.yZero
		y[n] = min(max(q, p.qmin), p.qmax)
	}
	return y
}

// gatherModel: rows = table[indices] with a constant float32 table [4,2] and int32 indices
// [2]; an index outside [0,4) makes Invoke fail inside the kernel.
func gatherModel(t testing.TB, table []float32) []byte {
	m := &tmModel{}
	tab := m.add(tmTensor{name: "table", dtype: tflite.Float32, shape: []int32{4, 2}, data: f32Bytes(table)})
	idx := m.add(tmTensor{name: "indices", dtype: tflite.Int32, shape: []int32{2}})
	out := m.add(tmTensor{name: "rows", dtype: tflite.Float32, shape: []int32{2, 2}})
	m.ops = []tmOp{{builtin: opGather, inputs: []int32{tab, idx}, outputs: []int32{out}, optType: optGather,
		options: func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
			b.StartObject(2)
			b.PrependInt32Slot(0, 0, 0) // axis
			return b.EndObject()
		}}}
	m.inputs, m.outputs = []int32{idx}, []int32{out}
	return m.bytes(t)
}

// dynamicReshapeModel: y = reshape(x, shape) with both x (float32 [6]) and shape (int32 [2])
// as inputs, so y's shape is only known at Invoke, and a shape whose product is not 6 makes
// Invoke fail inside the kernel.
func dynamicReshapeModel(t testing.TB) []byte {
	m := &tmModel{}
	x := m.add(tmTensor{name: "x", dtype: tflite.Float32, shape: []int32{6}})
	shape := m.add(tmTensor{name: "shape", dtype: tflite.Int32, shape: []int32{2}})
	y := m.add(tmTensor{name: "y", dtype: tflite.Float32, shape: []int32{2, 3}})
	m.ops = []tmOp{{builtin: opReshape, inputs: []int32{x, shape}, outputs: []int32{y}}}
	m.inputs, m.outputs = []int32{x, shape}, []int32{y}
	return m.bytes(t)
}

// unknownOpModel is addModel with its operator replaced: a builtin code that TFLite 2.9 does not
// have, an ADD of a kernel version it does not have, or a custom op nobody registered.
func unknownOpModel(t testing.TB, builtin int32, custom string, version int32) []byte {
	m := &tmModel{}
	a := m.add(tmTensor{name: "a", dtype: tflite.Float32, shape: []int32{1, 4}})
	b := m.add(tmTensor{name: "b", dtype: tflite.Float32, shape: []int32{1, 4}})
	out := m.add(tmTensor{name: "sum", dtype: tflite.Float32, shape: []int32{1, 4}})
	op := tmOp{builtin: builtin, custom: custom, version: version, inputs: []int32{a, b}, outputs: []int32{out}}
	if builtin == opAdd {
		op.optType, op.options = optAdd, addOptions
	}
	m.ops = []tmOp{op}
	m.inputs, m.outputs = []int32{a, b}, []int32{out}
	return m.bytes(t)
}
