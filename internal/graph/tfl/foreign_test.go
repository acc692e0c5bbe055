package tfl

import (
	"reflect"
	"strings"
	"testing"

	flatbuffers "github.com/google/flatbuffers/go"
)

// handMade writes a model table by table, the way other writers (older converters, other
// versions of the schema) may, which Marshal never does: build writes the operator codes,
// tensors and operators of one subgraph; handMade adds an empty sentinel buffer.
func handMade(build func(b *flatbuffers.Builder, w *writer) (codes, tensors, ops []offset)) []byte {
	b := flatbuffers.NewBuilder(0)
	w := &writer{b: b}
	c, ts, o := build(b, w)
	codes, tensors, ops := w.tables(c), w.tables(ts), w.tables(o)
	b.StartObject(subgraphNumFields)
	b.PrependUOffsetTSlot(subgraphOperators, ops, 0)
	b.PrependUOffsetTSlot(subgraphTensors, tensors, 0)
	sg := w.tables([]offset{b.EndObject()})
	b.StartObject(bufferNumFields)
	buffers := w.tables([]offset{b.EndObject()})
	b.StartObject(modelNumFields)
	b.PrependUOffsetTSlot(modelBuffers, buffers, 0)
	b.PrependUOffsetTSlot(modelSubgraphs, sg, 0)
	b.PrependUOffsetTSlot(modelOperatorCodes, codes, 0)
	b.PrependUint32Slot(modelVersion, SchemaVersion, 0)
	b.FinishWithFileIdentifier(b.EndObject(), []byte(Identifier))
	return b.FinishedBytes()
}

// oneOp is a handMade model of one operator code, one tensor and one operator, each written by
// the function given.
func oneOp(opcode, tensor, operator func(b *flatbuffers.Builder, w *writer) offset) []byte {
	return handMade(func(b *flatbuffers.Builder, w *writer) (codes, tensors, ops []offset) {
		return []offset{opcode(b, w)}, []offset{tensor(b, w)}, []offset{operator(b, w)}
	})
}

// The parts of handMade models.
func oldOpcode(code int8) func(*flatbuffers.Builder, *writer) offset {
	// Only the byte field of files written before builtin_code existed; no version (default 1).
	return func(b *flatbuffers.Builder, _ *writer) offset {
		b.StartObject(1)
		b.PrependInt8Slot(opcodeDeprecatedBuiltin, code, 0)
		return b.EndObject()
	}
}

func plainTensor(b *flatbuffers.Builder, w *writer) offset {
	shape := w.int32s([]int32{2})
	b.StartObject(tensorNumFields)
	b.PrependUOffsetTSlot(tensorShape, shape, 0)
	return b.EndObject()
}

// operatorWith is operator 0 on tensor 0 with options of union type typ, written by opts
// (none when nil).
func operatorWith(typ uint8, opts func(b *flatbuffers.Builder) offset) func(*flatbuffers.Builder, *writer) offset {
	return func(b *flatbuffers.Builder, w *writer) offset {
		in, out := w.int32s([]int32{0}), w.int32s([]int32{0})
		var o offset
		if opts != nil {
			o = opts(b)
		}
		b.StartObject(operatorNumFields)
		if o != 0 {
			b.PrependUOffsetTSlot(operatorOptions, o, 0)
		}
		b.PrependUOffsetTSlot(operatorOutputs, out, 0)
		b.PrependUOffsetTSlot(operatorInputs, in, 0)
		b.PrependUint8Slot(operatorOptionsType, typ, 0)
		return b.EndObject()
	}
}

func emptyTable(b *flatbuffers.Builder) offset {
	b.StartObject(0)
	return b.EndObject()
}

// Files from older writers: a builtin code only in the byte field, no opcode version, options
// tables that leave fields out. Every absent field reads as the schema's default.
func TestUnmarshalOlderWriters(t *testing.T) {
	for _, tc := range []struct {
		name string
		code int8
		typ  uint8
		want Options
	}{
		// dilation_w/h_factor default to 1; stride and padding to 0.
		{"CONV_2D", int8(OpConv2D), (&Conv2DOptions{}).UnionType(), &Conv2DOptions{DilationW: 1, DilationH: 1}},
		// pot_scale_int16 defaults to true, which NoPotScaleInt16 reads as false.
		{"ADD", int8(OpAdd), (&AddOptions{}).UnionType(), &AddOptions{}},
		{"SOFTMAX", int8(OpSoftmax), (&SoftmaxOptions{}).UnionType(), &SoftmaxOptions{}},
	} {
		m, err := Unmarshal(oneOp(oldOpcode(tc.code), plainTensor, operatorWith(tc.typ, emptyTable)))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := m.OperatorCodes[0]; got.Builtin != BuiltinOp(tc.code) || got.Version != 1 {
			t.Errorf("%s: operator code %+v, want %v version 1", tc.name, got, BuiltinOp(tc.code))
		}
		if got := m.Subgraphs[0].Operators[0].Options; !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: options %+v, want the schema defaults %+v", tc.name, got, tc.want)
		}
	}
}

// What the reader does not model it says so, by name, rather than misread: sparse tensors,
// custom quantization, an options type without its table. An options table it does not model
// is kept as UnknownOptions, which reads but does not write.
func TestUnmarshalUnsupported(t *testing.T) {
	sparse := func(b *flatbuffers.Builder, w *writer) offset {
		sparsity := emptyTable(b)
		b.StartObject(tensorNumFields)
		b.PrependUOffsetTSlot(6, sparsity, 0)
		return b.EndObject()
	}
	customQuant := func(b *flatbuffers.Builder, w *writer) offset {
		details := emptyTable(b)
		b.StartObject(quantNumFields)
		b.PrependUOffsetTSlot(5, details, 0) // details
		b.PrependUint8Slot(quantDetailsType, 1, 0)
		q := b.EndObject()
		b.StartObject(tensorNumFields)
		b.PrependUOffsetTSlot(tensorQuantization, q, 0)
		return b.EndObject()
	}
	fc := oldOpcode(int8(OpFullyConnected))
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"sparse tensor", oneOp(fc, sparse, operatorWith(0, nil)), "sparse tensors are not supported"},
		{"custom quantization", oneOp(fc, customQuant, operatorWith(0, nil)), "custom quantization details are not supported"},
		{"options type without a table", oneOp(fc, plainTensor, operatorWith(8, nil)), "options type 8 without an options table"},
	} {
		_, err := Unmarshal(tc.data)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}

	m, err := Unmarshal(oneOp(fc, plainTensor, operatorWith(50, emptyTable)))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Subgraphs[0].Operators[0].Options; !reflect.DeepEqual(got, &UnknownOptions{Type: 50}) {
		t.Fatalf("an unmodelled options table read as %#v", got)
	}
	if _, err := Marshal(m); err == nil || !strings.Contains(err.Error(), "options table type 50 is not modelled") {
		t.Errorf("Marshal of unmodelled options: %v", err)
	}
}

func TestValidateNilAndSample(t *testing.T) {
	if err := Validate(nil); err == nil {
		t.Error("Validate(nil) passed")
	}
	if err := Validate(sample()); err != nil {
		t.Errorf("the sample model: %v", err)
	}
}

// Marshal's output depends only on the model: equal models give equal bytes, and a model is not
// changed by being written.
func TestMarshalDeterministic(t *testing.T) {
	a, err := Marshal(sample())
	if err != nil {
		t.Fatal(err)
	}
	m := sample()
	b, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != string(b) {
		t.Fatal("two equal models gave different bytes")
	}
	if !reflect.DeepEqual(m, sample()) {
		t.Fatal("Marshal changed the model it wrote")
	}
}
