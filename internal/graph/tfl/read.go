package tfl

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Unmarshal parses a .tflite file. Every offset is checked against the data before it is
// followed, so a truncated, corrupt or foreign file gives an error, never a panic. Buffer data
// in the result aliases data (no copy): do not modify data while the model is in use.
func Unmarshal(data []byte) (m *Model, err error) {
	if len(data) < 8 {
		return nil, fmt.Errorf("tfl: not a TFLite model: %d bytes is too short", len(data))
	}
	if id := string(data[4:8]); id != Identifier {
		return nil, fmt.Errorf("tfl: not a TFLite model: file identifier %q, want %q", id, Identifier)
	}
	// The checks below should make a panic impossible; this turns any that slipped through into
	// an error rather than a crash of the caller.
	defer func() {
		if rec := recover(); rec != nil {
			m, err = nil, fmt.Errorf("tfl: malformed model: %v", rec)
		}
	}()
	r := &reader{buf: data, budget: 4*len(data) + 1<<16}
	m = r.model(r.table(int(r.u32(0)), "model"))
	if r.err != nil {
		return nil, fmt.Errorf("tfl: malformed model: %w", r.err)
	}
	if err := check(m, false); err != nil {
		return nil, err
	}
	return m, nil
}

// reader decodes flatbuffer tables with bounds checks. The first problem is kept in err and
// every later read returns zero values, so the decoding code reads straight through.
type reader struct {
	buf []byte
	err error
	// budget bounds the elements decoded. Offsets may point many times at the same vector, so
	// a small crafted file could otherwise expand into gigabytes; a real model decodes fewer
	// elements than it has bytes.
	budget int
}

// spend takes n decoded elements from the budget.
func (r *reader) spend(n int, what string) bool {
	if r.err != nil {
		return false
	}
	r.budget -= n
	if r.budget < 0 {
		r.fail("%s: the file decodes into far more elements than it has bytes (shared or cyclic offsets)", what)
		return false
	}
	return true
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
}

// in reports whether n bytes at pos are inside the buffer, recording an error if not.
func (r *reader) in(pos, n int, what string) bool {
	if r.err != nil {
		return false
	}
	if pos < 0 || n < 0 || pos > len(r.buf) || n > len(r.buf)-pos {
		r.fail("%s: %d bytes at offset %d are outside the %d-byte file", what, n, pos, len(r.buf))
		return false
	}
	return true
}

func (r *reader) u16(pos int) uint16 {
	if !r.in(pos, 2, "uint16") {
		return 0
	}
	return binary.LittleEndian.Uint16(r.buf[pos:])
}

func (r *reader) u32(pos int) uint32 {
	if !r.in(pos, 4, "uint32") {
		return 0
	}
	return binary.LittleEndian.Uint32(r.buf[pos:])
}

// table is a decoded table header: its position and its vtable.
type table struct {
	r    *reader
	what string // for error messages, e.g. "subgraph 0 tensor 3"
	pos  int
	vt   int
	vlen int // vtable size in bytes
	size int // inline object size in bytes
}

func (r *reader) table(pos int, what string) table {
	t := table{r: r, what: what}
	if r.err != nil || !r.in(pos, 4, what) {
		return t
	}
	vt := pos - int(int32(r.u32(pos)))
	vlen, size := int(r.u16(vt)), int(r.u16(vt+2))
	if r.err != nil {
		return t
	}
	if vlen < 4 || vlen%2 != 0 || !r.in(vt, vlen, what+" vtable") || size < 4 || !r.in(pos, size, what) {
		r.fail("%s: bad vtable at offset %d (size %d, object size %d)", what, vt, vlen, size)
		return t
	}
	t.pos, t.vt, t.vlen, t.size = pos, vt, vlen, size
	return t
}

// field returns the absolute position of a field and whether it is present and n bytes fit
// inside the table's inline data.
func (t table) field(slot, n int) (int, bool) {
	if t.r.err != nil || t.vlen == 0 {
		return 0, false
	}
	vo := 4 + 2*slot
	if vo+2 > t.vlen {
		return 0, false // an older writer: the field is absent and takes its default
	}
	off := int(t.r.u16(t.vt + vo))
	if off == 0 {
		return 0, false
	}
	if off+n > t.size {
		t.r.fail("%s: field %d (offset %d, %d bytes) lies outside the %d-byte table", t.what, slot, off, n, t.size)
		return 0, false
	}
	return t.pos + off, true
}

func (t table) u8(slot int, def uint8) uint8 {
	p, ok := t.field(slot, 1)
	if !ok {
		return def
	}
	return t.r.buf[p]
}

func (t table) i8(slot int, def int8) int8 { return int8(t.u8(slot, uint8(def))) }

func (t table) boolean(slot int, def bool) bool {
	d := uint8(0)
	if def {
		d = 1
	}
	return t.u8(slot, d) != 0
}

func (t table) u32(slot int, def uint32) uint32 {
	p, ok := t.field(slot, 4)
	if !ok {
		return def
	}
	return t.r.u32(p)
}

func (t table) i32(slot int, def int32) int32 { return int32(t.u32(slot, uint32(def))) }

func (t table) f32(slot int, def float32) float32 {
	return math.Float32frombits(t.u32(slot, math.Float32bits(def)))
}

// ref follows an offset field to the object it points to; 0 when absent.
func (t table) ref(slot int) int {
	p, ok := t.field(slot, 4)
	if !ok {
		return 0
	}
	target := p + int(t.r.u32(p))
	if !t.r.in(target, 4, t.what) {
		return 0
	}
	return target
}

// vector returns the position of the first element and the length of a vector field,
// checking that all elements fit in the file.
func (t table) vector(slot, elemSize int) (start, n int, present bool) {
	p := t.ref(slot)
	if p == 0 {
		return 0, 0, false
	}
	n = int(t.r.u32(p))
	if n > len(t.r.buf) || !t.r.in(p+4, n*elemSize, fmt.Sprintf("%s field %d vector of %d", t.what, slot, n)) {
		t.r.fail("%s: field %d: vector of %d elements does not fit in the file", t.what, slot, n)
		return 0, 0, false
	}
	if !t.r.spend(n+1, t.what) {
		return 0, 0, false
	}
	return p + 4, n, true
}

func (t table) str(slot int) string {
	start, n, ok := t.vector(slot, 1)
	if !ok {
		return ""
	}
	return string(t.r.buf[start : start+n])
}

func (t table) bytes(slot int) []byte {
	start, n, ok := t.vector(slot, 1)
	if !ok || n == 0 {
		return nil
	}
	return t.r.buf[start : start+n : start+n]
}

func (t table) int32s(slot int) []int32 {
	start, n, ok := t.vector(slot, 4)
	if !ok {
		return nil
	}
	v := make([]int32, n)
	for i := range v {
		v[i] = int32(binary.LittleEndian.Uint32(t.r.buf[start+4*i:]))
	}
	return v
}

func (t table) float32s(slot int) []float32 {
	start, n, ok := t.vector(slot, 4)
	if !ok || n == 0 {
		return nil
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.r.buf[start+4*i:]))
	}
	return v
}

func (t table) int64s(slot int) []int64 {
	start, n, ok := t.vector(slot, 8)
	if !ok || n == 0 {
		return nil
	}
	v := make([]int64, n)
	for i := range v {
		v[i] = int64(binary.LittleEndian.Uint64(t.r.buf[start+8*i:]))
	}
	return v
}

// tables decodes a vector of tables, naming each for error messages.
func (t table) tables(slot int, what string) []table {
	start, n, ok := t.vector(slot, 4)
	if !ok {
		return nil
	}
	out := make([]table, 0, n)
	for i := 0; i < n && t.r.err == nil; i++ {
		p := start + 4*i
		out = append(out, t.r.table(p+int(t.r.u32(p)), fmt.Sprintf("%s %d", what, i)))
	}
	return out
}

func (r *reader) model(t table) *Model {
	m := &Model{
		Version:     t.u32(modelVersion, 0),
		Description: t.str(modelDescription),
	}
	for _, ct := range t.tables(modelOperatorCodes, "operator code") {
		code := BuiltinOp(ct.i32(opcodeBuiltin, 0))
		if dep := BuiltinOp(ct.i8(opcodeDeprecatedBuiltin, 0)); dep > code {
			code = dep // files written before the extended field existed
		}
		m.OperatorCodes = append(m.OperatorCodes, OperatorCode{
			Builtin: code,
			Custom:  ct.str(opcodeCustom),
			Version: ct.i32(opcodeVersion, 1),
		})
	}
	for i, st := range t.tables(modelSubgraphs, "subgraph") {
		m.Subgraphs = append(m.Subgraphs, r.subgraph(st, i))
	}
	for _, bt := range t.tables(modelBuffers, "buffer") {
		m.Buffers = append(m.Buffers, Buffer{Data: bt.bytes(bufferData)})
	}
	for _, mt := range t.tables(modelMetadata, "metadata") {
		m.Metadata = append(m.Metadata, Metadata{Name: mt.str(metadataName), Buffer: mt.u32(metadataBuffer, 0)})
	}
	for _, st := range t.tables(modelSignatureDefs, "signature") {
		sd := SignatureDef{Key: st.str(signatureKey), SubgraphIndex: st.u32(signatureSubgraph, 0)}
		for _, mt := range st.tables(signatureInputs, st.what+" input") {
			sd.Inputs = append(sd.Inputs, TensorMap{Name: mt.str(tensorMapName), TensorIndex: mt.u32(tensorMapIndex, 0)})
		}
		for _, mt := range st.tables(signatureOutputs, st.what+" output") {
			sd.Outputs = append(sd.Outputs, TensorMap{Name: mt.str(tensorMapName), TensorIndex: mt.u32(tensorMapIndex, 0)})
		}
		m.SignatureDefs = append(m.SignatureDefs, sd)
	}
	return m
}

func (r *reader) subgraph(t table, index int) Subgraph {
	sg := Subgraph{
		Name:    t.str(subgraphName),
		Inputs:  t.int32s(subgraphInputs),
		Outputs: t.int32s(subgraphOutputs),
	}
	for _, tt := range t.tables(subgraphTensors, fmt.Sprintf("subgraph %d tensor", index)) {
		sg.Tensors = append(sg.Tensors, r.tensor(tt))
	}
	for _, ot := range t.tables(subgraphOperators, fmt.Sprintf("subgraph %d operator", index)) {
		sg.Operators = append(sg.Operators, r.operator(ot))
	}
	return sg
}

func (r *reader) tensor(t table) Tensor {
	tn := Tensor{
		Name:           t.str(tensorName),
		Type:           TensorType(t.i8(tensorType, 0)),
		Shape:          t.int32s(tensorShape),
		ShapeSignature: t.int32s(tensorShapeSignature),
		Buffer:         t.u32(tensorBuffer, 0),
		IsVariable:     t.boolean(tensorIsVariable, false),
	}
	if _, ok := t.field(6, 4); ok {
		r.fail("%s: sparse tensors are not supported", t.what)
	}
	if p := t.ref(tensorQuantization); p != 0 {
		qt := r.table(p, t.what+" quantization")
		if qt.u8(quantDetailsType, 0) != 0 {
			r.fail("%s: custom quantization details are not supported", t.what)
		}
		tn.Quantization = &Quantization{
			Min:                qt.float32s(quantMin),
			Max:                qt.float32s(quantMax),
			Scale:              qt.float32s(quantScale),
			ZeroPoint:          qt.int64s(quantZeroPoint),
			QuantizedDimension: qt.i32(quantQuantizedDimension, 0),
		}
	}
	return tn
}

func (r *reader) operator(t table) Operator {
	op := Operator{
		OpcodeIndex: t.u32(operatorOpcodeIndex, 0),
		Inputs:      t.int32s(operatorInputs),
		Outputs:     t.int32s(operatorOutputs),
	}
	if typ := t.u8(operatorOptionsType, 0); typ != 0 {
		p := t.ref(operatorOptions)
		if p == 0 {
			r.fail("%s: options type %d without an options table", t.what, typ)
			return op
		}
		o := newOptions(typ)
		if o == nil {
			op.Options = &UnknownOptions{Type: typ}
			return op
		}
		ot := r.table(p, t.what+" "+OptionsName(o))
		for _, f := range o.fields() {
			switch v := f.ptr.(type) {
			case *[]int32:
				*v = ot.int32s(f.slot)
			case *int32:
				*v = ot.i32(f.slot, f.def.(int32))
			case *float32:
				*v = ot.f32(f.slot, f.def.(float32))
			case *int8:
				*v = ot.i8(f.slot, f.def.(int8))
			case *bool:
				*v = ot.boolean(f.slot, f.def.(bool))
			case *notBool:
				*v = notBool(!ot.boolean(f.slot, f.def.(bool)))
			}
		}
		op.Options = o
	}
	return op
}
