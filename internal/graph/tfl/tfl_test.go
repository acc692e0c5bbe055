package tfl

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	flatbuffers "github.com/google/flatbuffers/go"
)

// sample is a model exercising every table and options type the package models.
func sample() *Model {
	f32 := func(v ...float32) []byte {
		b := make([]byte, 4*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
		}
		return b
	}
	ops := []Options{
		&Conv2DOptions{Padding: PaddingValid, StrideW: 2, StrideH: 3, Activation: ActRelu6, DilationW: 1, DilationH: 2},
		&FullyConnectedOptions{Activation: ActRelu, WeightsFormat: 0, KeepNumDims: true, AsymmetricQuantizeInputs: true},
		&SoftmaxOptions{Beta: 0.5},
		&ConcatenationOptions{Axis: -1, Activation: ActTanh},
		&AddOptions{Activation: ActRelu, NoPotScaleInt16: true},
		&L2NormOptions{},
		&ReshapeOptions{NewShape: []int32{1, -1, 8}},
		&MulOptions{Activation: ActReluN1To1},
		&GatherOptions{Axis: 1, BatchDims: 0},
		&TransposeOptions{},
		&ReducerOptions{KeepDims: true},
		&SubOptions{},
		&DivOptions{Activation: ActRelu},
		&StridedSliceOptions{BeginMask: 5, EndMask: 5, ShrinkAxisMask: 2},
		&CastOptions{In: Int32, Out: Float32},
		&DequantizeOptions{},
		&ArgMaxOptions{OutputType: Int64},
		&SquaredDifferenceOptions{},
		&QuantizeOptions{},
		&BatchMatMulOptions{AdjY: true},
		&GeluOptions{Approximate: true},
		&DynamicUpdateSliceOptions{},
		nil,
	}
	codes := []BuiltinOp{OpConv2D, OpFullyConnected, OpSoftmax, OpConcatenation, OpAdd, OpL2Normalization,
		OpReshape, OpMul, OpGather, OpTranspose, OpMean, OpSub, OpDiv, OpStridedSlice, OpCast, OpDequantize,
		OpArgMax, OpSquaredDifference, OpQuantize, OpBatchMatMul, OpGelu, OpDynamicUpdateSlice, OpRsqrt}
	m := &Model{
		Version:     SchemaVersion,
		Description: "sample",
		Buffers:     []Buffer{{}, {Data: f32(1, 2, 3, 4, 5, 6)}, {Data: []byte{1, 2, 3}}, {Data: []byte(`{"k":"v"}`)}},
		Metadata:    []Metadata{{Name: "edged_manifest", Buffer: 3}},
	}
	for i, c := range codes {
		m.OperatorCodes = append(m.OperatorCodes, OperatorCode{Builtin: c, Version: int32(1 + i%3)})
	}
	m.OperatorCodes = append(m.OperatorCodes, OperatorCode{Builtin: OpCustom, Custom: "MyOp", Version: 1})
	sg := Subgraph{
		Name: "main",
		Tensors: []Tensor{
			{Name: "x", Type: Float32, Shape: []int32{1, 1, 6}, ShapeSignature: []int32{1, -1, 6}},
			{Name: "w", Type: Float32, Shape: []int32{2, 3}, Buffer: 1},
			{Name: "q", Type: Int8, Shape: []int32{3}, Buffer: 2, Quantization: &Quantization{
				Min: []float32{-1, -2, -3}, Max: []float32{1, 2, 3},
				Scale: []float32{0.1, 0.2, 0.3}, ZeroPoint: []int64{0, 0, 0}, QuantizedDimension: 0,
			}},
			{Name: "s", Type: Int32, Shape: []int32{}},
			{Name: "v", Type: Float32, Shape: []int32{2}, IsVariable: true},
		},
		Inputs:  []int32{0},
		Outputs: []int32{3},
	}
	for i, o := range ops {
		sg.Operators = append(sg.Operators, Operator{OpcodeIndex: uint32(i), Inputs: []int32{0, -1}, Outputs: []int32{3}, Options: o})
	}
	m.Subgraphs = []Subgraph{sg}
	m.SignatureDefs = []SignatureDef{{Key: "serving_default", Inputs: []TensorMap{{"input", 0}}, Outputs: []TensorMap{{"output", 3}}}}
	return m
}

func TestRoundTripAllTables(t *testing.T) {
	m := sample()
	a, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if string(a[4:8]) != Identifier {
		t.Fatalf("file identifier %q", a[4:8])
	}
	back, err := Unmarshal(a)
	if err != nil {
		t.Fatal(err)
	}
	// The reader returns nil for absent vectors and the writer omits empty ones; otherwise the
	// values must be identical, options included.
	m.Subgraphs[0].Tensors[3].Shape = []int32{}
	if !reflect.DeepEqual(m, back) {
		for i := range m.Subgraphs[0].Operators {
			if !reflect.DeepEqual(m.Subgraphs[0].Operators[i], back.Subgraphs[0].Operators[i]) {
				t.Errorf("operator %d: wrote %+v, read %+v", i, m.Subgraphs[0].Operators[i].Options, back.Subgraphs[0].Operators[i].Options)
			}
		}
		t.Fatalf("read back a different model:\nwrote %+v\nread  %+v", m, back)
	}
	b, err := Marshal(back)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("write → read → write changed the bytes")
	}
	// Buffer data starts 16-byte aligned in the file (schema: force_align 16).
	for i, buf := range back.Buffers {
		if len(buf.Data) == 0 {
			continue
		}
		off := uintptr(unsafe.Pointer(&buf.Data[0])) - uintptr(unsafe.Pointer(&a[0]))
		if off%16 != 0 {
			t.Errorf("buffer %d data at offset %d, not 16-byte aligned", i, off)
		}
	}
}

func TestExtendedBuiltinCode(t *testing.T) {
	m := sample()
	a, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	// GELU (150) does not fit the old byte field: it must hold the placeholder 127 and the
	// extended field the real code. Read the raw fields back with the table reader.
	r := &reader{buf: a, budget: 1 << 20}
	root := r.table(int(r.u32(0)), "model")
	for _, ct := range root.tables(modelOperatorCodes, "code") {
		dep, ext := ct.i8(opcodeDeprecatedBuiltin, 0), ct.i32(opcodeBuiltin, 0)
		switch {
		case ext == int32(OpGelu) && dep != 127:
			t.Fatalf("GELU: deprecated_builtin_code %d, want 127", dep)
		case ext < 127 && int32(dep) != ext:
			t.Fatalf("code %d: deprecated_builtin_code %d, want the same", ext, dep)
		}
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	// (Files from before the extended field: TestUnmarshalOlderWriters.)
	back, _ := Unmarshal(a)
	if back.OperatorCodes[len(back.OperatorCodes)-1].Custom != "MyOp" {
		t.Fatal("custom code lost")
	}
}

func TestUnmarshalRejectsForeignFiles(t *testing.T) {
	good, err := Marshal(sample())
	if err != nil {
		t.Fatal(err)
	}
	wrongID := append([]byte(nil), good...)
	copy(wrongID[4:8], "TFL2")
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"seven bytes", []byte("1234TFL"), "too short"},
		{"wrong identifier", wrongID, `file identifier "TFL2"`},
		{"text file", []byte("hello, this is not a model at all\n"), "file identifier"},
		{"root offset past the end", append([]byte{0xff, 0xff, 0xff, 0x7f}, "TFL3"...), "outside"},
	} {
		_, err := Unmarshal(tc.data)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestUnmarshalTruncated(t *testing.T) {
	good, err := Marshal(sample())
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(good); n++ {
		m, err := Unmarshal(good[:n])
		if err == nil {
			// Only the alignment padding after the last object may go unnoticed: then the model
			// read is the whole model.
			again, err := Marshal(m)
			if err != nil || !bytes.Equal(again, good) {
				t.Fatalf("a file truncated to %d of %d bytes was accepted", n, len(good))
			}
		}
	}
}

// TestUnmarshalCorrupt flips random bytes of a valid model and feeds random data with a valid
// identifier: every case must return (an error or a model), never panic or hang.
func TestUnmarshalCorrupt(t *testing.T) {
	good, err := Marshal(sample())
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 3000; i++ {
		bad := append([]byte(nil), good...)
		for j := 0; j < 1+r.Intn(4); j++ {
			bad[r.Intn(len(bad))] = byte(r.Intn(256))
		}
		if m, err := Unmarshal(bad); err == nil {
			// Some flips hit data or padding; then the model must still be consistent.
			if err := check(m, false); err != nil {
				t.Fatalf("accepted an inconsistent model: %v", err)
			}
		}
	}
	for i := 0; i < 2000; i++ {
		junk := make([]byte, 8+r.Intn(512))
		r.Read(junk)
		copy(junk[4:], Identifier)
		binary.LittleEndian.PutUint32(junk, uint32(r.Intn(len(junk)))) // a plausible root offset
		_, _ = Unmarshal(junk)
	}
}

// TestUnmarshalSharedOffsets: 5000 tensor entries all pointing at one tensor with a 2000-entry
// shape would decode into 10 million ints from a 30 kB file; the reader stops it.
func TestUnmarshalSharedOffsets(t *testing.T) {
	data := handMade(func(b *flatbuffers.Builder, w *writer) (codes, tensors, ops []offset) {
		shapeVec := w.int32s(make([]int32, 2000))
		b.StartObject(tensorNumFields)
		b.PrependUOffsetTSlot(tensorShape, shapeVec, 0)
		tensor := b.EndObject()
		same := make([]offset, 5000)
		for i := range same {
			same[i] = tensor
		}
		return nil, same, nil
	})
	_, err := Unmarshal(data)
	if err == nil || !strings.Contains(err.Error(), "far more elements") {
		t.Fatalf("%d-byte file: error %v, want the decode budget to stop it", len(data), err)
	}
}

func FuzzUnmarshal(f *testing.F) {
	good, err := Marshal(sample())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte("0000TFL3"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Unmarshal(data)
		if err != nil {
			return
		}
		// Whatever parses must write back without error unless it holds unknown options.
		if _, err := Marshal(m); err != nil && !strings.Contains(err.Error(), "not modelled") &&
			!strings.Contains(err.Error(), "must be at least 1") && !strings.Contains(err.Error(), "version") {
			t.Fatalf("parsed model does not write back: %v", err)
		}
	})
}

func TestMarshalValidates(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modify func(m *Model)
		want   string
	}{
		{"no sentinel buffer", func(m *Model) { m.Buffers[0].Data = []byte{1} }, "buffer 0"},
		{"tensor buffer out of range", func(m *Model) { m.Subgraphs[0].Tensors[1].Buffer = 99 }, `tensor 1 "w": buffer 99 out of range`},
		{"data size mismatch", func(m *Model) { m.Subgraphs[0].Tensors[1].Shape = []int32{2, 2} }, "holds 24 bytes"},
		{"opcode out of range", func(m *Model) { m.Subgraphs[0].Operators[0].OpcodeIndex = 999 }, "opcode index 999"},
		{"input out of range", func(m *Model) { m.Subgraphs[0].Operators[1].Inputs = []int32{7} }, "input tensor index 7"},
		{"unknown options", func(m *Model) { m.Subgraphs[0].Operators[1].Options = &UnknownOptions{Type: 50} }, "not modelled"},
		{"zero stride", func(m *Model) { m.Subgraphs[0].Operators[0].Options.(*Conv2DOptions).StrideW = 0 }, "at least 1"},
		{"per-channel scales off axis", func(m *Model) { m.Subgraphs[0].Tensors[2].Quantization.Scale = []float32{1, 2} }, "zero points"},
		{"signature tensor", func(m *Model) { m.SignatureDefs[0].Outputs[0].TensorIndex = 42 }, "names tensor 42"},
		{"version 0", func(m *Model) { m.OperatorCodes[0].Version = 0 }, "version 0"},
		{"no subgraph", func(m *Model) { m.Subgraphs = nil }, "no subgraph"},
		{"negative builtin", func(m *Model) { m.OperatorCodes[0].Builtin = -3 }, "negative builtin code -3"},
		{"graph output out of range", func(m *Model) { m.Subgraphs[0].Outputs = []int32{5} }, "input/output tensor index 5"},
		{"operator output out of range", func(m *Model) { m.Subgraphs[0].Operators[0].Outputs = []int32{-1} }, "output tensor index -1"},
		{"negative dimension", func(m *Model) { m.Subgraphs[0].Tensors[0].Shape = []int32{1, -1, 6} }, "negative dimension"},
		{"signature rank", func(m *Model) { m.Subgraphs[0].Tensors[0].ShapeSignature = []int32{-1, 6} }, "shape signature [-1 6] has rank 2"},
		{"per-channel axis", func(m *Model) { m.Subgraphs[0].Tensors[2].Quantization.QuantizedDimension = 1 }, "3 scales along dimension 1"},
		{"metadata buffer", func(m *Model) { m.Metadata[0].Buffer = 9 }, `metadata 0 "edged_manifest": buffer 9 out of range`},
		{"signature subgraph", func(m *Model) { m.SignatureDefs[0].SubgraphIndex = 1 }, "subgraph 1 out of range"},
	} {
		m := sample()
		tc.modify(m)
		_, err := Marshal(m)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestNames(t *testing.T) {
	for op, want := range map[BuiltinOp]string{OpAdd: "ADD", OpGelu: "GELU", OpBatchMatMul: "BATCH_MATMUL",
		OpDynamicUpdateSlice: "DYNAMIC_UPDATE_SLICE", OpSquaredDifference: "SQUARED_DIFFERENCE", 9999: "BUILTIN_9999"} {
		if got := op.String(); got != want {
			t.Errorf("%d: %q, want %q", int32(op), got, want)
		}
	}
	if Int8.String() != "INT8" || Float16.String() != "FLOAT16" || TensorType(99).String() != "TensorType(99)" {
		t.Error("tensor type names")
	}
	if OptionsName(&FullyConnectedOptions{}) != "FullyConnectedOptions" || OptionsName(nil) != "NONE" {
		t.Error("options names")
	}
}

// The builder starts large enough for the whole file: one that grew would copy the weights
// written so far and hold them twice (a real-size model's conversion would need twice the
// memory). Checked on a model of many small tables, where a size counted from the buffers
// alone falls short.
func TestMarshalNeverGrowsTheBuilder(t *testing.T) {
	for _, copies := range []int{1, 50, 2000} {
		m := sample()
		sg := &m.Subgraphs[0]
		tensors, ops := sg.Tensors, sg.Operators
		for i := 1; i < copies; i++ {
			for _, tn := range tensors {
				tn.Name = fmt.Sprintf("%s/a_rather_long_layer_name_%d", tn.Name, i)
				sg.Tensors = append(sg.Tensors, tn)
			}
			sg.Operators = append(sg.Operators, ops...)
		}
		size := sizeEstimate(m)
		w := &writer{b: flatbuffers.NewBuilder(size)}
		out, err := w.model(m)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(w.b.Bytes); got != size {
			t.Errorf("%d copies: the builder grew from %d to %d bytes for a %d-byte file", copies, size, got, len(out))
		}
	}
}
