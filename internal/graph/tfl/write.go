package tfl

import (
	"errors"
	"fmt"
	"math"
	"sort"

	flatbuffers "github.com/google/flatbuffers/go"
)

// maxFileSize is the flatbuffers limit: offsets are 32-bit and signed in places.
const maxFileSize = math.MaxInt32

// Marshal writes m as a .tflite file. It checks every index first (buffers, tensors, operator
// codes, signatures), so a model it accepts is structurally sound. The output depends only on m:
// the same model always gives the same bytes.
func Marshal(m *Model) ([]byte, error) {
	if err := Validate(m); err != nil {
		return nil, err
	}
	size := sizeEstimate(m)
	if size > maxFileSize {
		return nil, fmt.Errorf("tfl: model data is %d bytes, over the 2 GiB flatbuffers limit", size)
	}
	w := &writer{b: flatbuffers.NewBuilder(size)}
	return w.model(m)
}

// sizeEstimate is at least the size of m's file. The builder starts at this size: one that
// runs out of room doubles, copying everything written so far, and a real-size model's
// weights would then be held three times at once.
func sizeEstimate(m *Model) int {
	size := 1<<16 + weightsRegionAlign
	for _, b := range m.Buffers {
		size += len(b.Data) + weightAlign + 32
	}
	// Tables and vectors: a vtable, offsets and alignment padding for each, generously.
	for _, sg := range m.Subgraphs {
		size += 128 + len(sg.Name) + 8*(len(sg.Inputs)+len(sg.Outputs))
		for _, t := range sg.Tensors {
			size += 128 + len(t.Name) + 8*(len(t.Shape)+len(t.ShapeSignature))
			if q := t.Quantization; q != nil {
				size += 128 + 8*(len(q.Min)+len(q.Max)+len(q.Scale)) + 16*len(q.ZeroPoint)
			}
		}
		for _, op := range sg.Operators {
			size += 256 + 8*(len(op.Inputs)+len(op.Outputs))
		}
	}
	for _, sd := range m.SignatureDefs {
		size += 128 + len(sd.Key)
		for _, tm := range sd.Inputs {
			size += 64 + len(tm.Name)
		}
		for _, tm := range sd.Outputs {
			size += 64 + len(tm.Name)
		}
	}
	for _, md := range m.Metadata {
		size += 64 + len(md.Name)
	}
	size += 64*len(m.OperatorCodes) + len(m.Description)
	return size
}

// Validate checks the references inside m: buffer 0 is the empty sentinel, every tensor,
// operator code, buffer and subgraph index is in range, constant data matches its tensor's
// shape and type, and every options table can be written.
func Validate(m *Model) error { return check(m, true) }

// check is Validate; forWriting adds the checks that only matter to the writer (options tables
// it cannot write, option values the runtime would reject).
func check(m *Model, forWriting bool) error {
	if m == nil {
		return errors.New("tfl: nil model")
	}
	if len(m.Buffers) == 0 || len(m.Buffers[0].Data) != 0 {
		return errors.New("tfl: buffer 0 must exist and be empty (the schema's sentinel)")
	}
	if len(m.Subgraphs) == 0 {
		return errors.New("tfl: model has no subgraph")
	}
	for i, oc := range m.OperatorCodes {
		if oc.Builtin < 0 {
			return fmt.Errorf("tfl: operator code %d: negative builtin code %d", i, oc.Builtin)
		}
		if oc.Version < 1 {
			return fmt.Errorf("tfl: operator code %d (%v): version %d, want at least 1", i, oc.Builtin, oc.Version)
		}
	}
	for si := range m.Subgraphs {
		sg := &m.Subgraphs[si]
		where := fmt.Sprintf("tfl: subgraph %d %q", si, sg.Name)
		nt := int32(len(sg.Tensors))
		for ti := range sg.Tensors {
			t := &sg.Tensors[ti]
			if err := validateTensor(t, m.Buffers); err != nil {
				return fmt.Errorf("%s: tensor %d %q: %w", where, ti, t.Name, err)
			}
		}
		for _, idx := range [][]int32{sg.Inputs, sg.Outputs} {
			for _, i := range idx {
				if i < 0 || i >= nt {
					return fmt.Errorf("%s: input/output tensor index %d out of range [0,%d)", where, i, nt)
				}
			}
		}
		for oi, op := range sg.Operators {
			if int(op.OpcodeIndex) >= len(m.OperatorCodes) {
				return fmt.Errorf("%s: operator %d: opcode index %d out of range [0,%d)", where, oi, op.OpcodeIndex, len(m.OperatorCodes))
			}
			name := m.OperatorCodes[op.OpcodeIndex].Builtin
			for _, i := range op.Inputs {
				if i < -1 || i >= nt {
					return fmt.Errorf("%s: operator %d (%v): input tensor index %d out of range", where, oi, name, i)
				}
			}
			for _, i := range op.Outputs {
				if i < 0 || i >= nt {
					return fmt.Errorf("%s: operator %d (%v): output tensor index %d out of range", where, oi, name, i)
				}
			}
			if !forWriting {
				continue
			}
			if u, ok := op.Options.(*UnknownOptions); ok {
				return fmt.Errorf("%s: operator %d (%v): options table type %d is not modelled and cannot be written", where, oi, name, u.Type)
			}
			if v, ok := op.Options.(interface{ validate() error }); ok {
				if err := v.validate(); err != nil {
					return fmt.Errorf("%s: operator %d (%v): %w", where, oi, name, err)
				}
			}
		}
	}
	for i, md := range m.Metadata {
		if int(md.Buffer) >= len(m.Buffers) {
			return fmt.Errorf("tfl: metadata %d %q: buffer %d out of range", i, md.Name, md.Buffer)
		}
	}
	for i, sd := range m.SignatureDefs {
		if int(sd.SubgraphIndex) >= len(m.Subgraphs) {
			return fmt.Errorf("tfl: signature %d %q: subgraph %d out of range", i, sd.Key, sd.SubgraphIndex)
		}
		nt := len(m.Subgraphs[sd.SubgraphIndex].Tensors)
		for _, tm := range append(append([]TensorMap(nil), sd.Inputs...), sd.Outputs...) {
			if int(tm.TensorIndex) >= nt {
				return fmt.Errorf("tfl: signature %d %q: %q names tensor %d, out of range", i, sd.Key, tm.Name, tm.TensorIndex)
			}
		}
	}
	return nil
}

func validateTensor(t *Tensor, buffers []Buffer) error {
	if int(t.Buffer) >= len(buffers) {
		return fmt.Errorf("buffer %d out of range [0,%d)", t.Buffer, len(buffers))
	}
	if t.ShapeSignature != nil && len(t.ShapeSignature) != len(t.Shape) {
		return fmt.Errorf("shape signature %v has rank %d, shape %v has rank %d", t.ShapeSignature, len(t.ShapeSignature), t.Shape, len(t.Shape))
	}
	n := int64(1)
	for _, d := range t.Shape {
		if d < 0 {
			return fmt.Errorf("negative dimension in shape %v", t.Shape)
		}
		n *= int64(d)
	}
	if data := buffers[t.Buffer].Data; len(data) > 0 && t.Type.Size() > 0 && int64(len(data)) != n*int64(t.Type.Size()) {
		return fmt.Errorf("buffer %d holds %d bytes, shape %v of %v needs %d", t.Buffer, len(data), t.Shape, t.Type, n*int64(t.Type.Size()))
	}
	if q := t.Quantization; q != nil {
		if len(q.ZeroPoint) != 0 && len(q.ZeroPoint) != len(q.Scale) {
			return fmt.Errorf("quantization has %d scales and %d zero points", len(q.Scale), len(q.ZeroPoint))
		}
		if len(q.Scale) > 1 {
			ax := q.QuantizedDimension
			if ax < 0 || int(ax) >= len(t.Shape) || int(t.Shape[ax]) != len(q.Scale) {
				return fmt.Errorf("per-channel quantization: %d scales along dimension %d of shape %v", len(q.Scale), ax, t.Shape)
			}
		}
	}
	return nil
}

// writer builds the flatbuffer bottom-up: leaves (data, strings, vectors) before the tables
// that point to them, in a fixed order so the output is reproducible.
type writer struct {
	b *flatbuffers.Builder
}

type offset = flatbuffers.UOffsetT

func (w *writer) model(m *Model) (out []byte, err error) {
	// The builder panics on misuse; Validate should make that unreachable, but a panic here
	// must still not take the caller down.
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("tfl: write model: %v", r)
		}
	}()
	b := w.b
	// Data first: it lands at the end of the file, the small tables in front. The builder
	// writes back to front, so the weights written first end up last (see dataLayout).
	buffers := make([]offset, len(m.Buffers))
	weights, constants := dataLayout(m)
	for _, i := range weights {
		buffers[i] = w.data(m.Buffers[i].Data, weightAlign)
	}
	if len(weights) > 0 && len(constants) > 0 {
		// The weights start on a page of their own: a page (or folio) the kernels fault in for
		// a constant below them holds none of theirs.
		b.Prep(weightsRegionAlign, 0)
	}
	for _, i := range constants {
		buffers[i] = w.data(m.Buffers[i].Data, bufferAlign)
	}
	for i, data := range buffers {
		b.StartObject(bufferNumFields)
		if data != 0 {
			b.PrependUOffsetTSlot(bufferData, data, 0)
		}
		buffers[i] = b.EndObject()
	}
	buffersVec := w.tables(buffers)

	codes := make([]offset, len(m.OperatorCodes))
	for i, oc := range m.OperatorCodes {
		codes[i] = w.operatorCode(oc)
	}
	codesVec := w.tables(codes)

	subgraphs := make([]offset, len(m.Subgraphs))
	for i := range m.Subgraphs {
		subgraphs[i] = w.subgraph(&m.Subgraphs[i])
	}
	subgraphsVec := w.tables(subgraphs)

	var desc offset
	if m.Description != "" {
		desc = b.CreateString(m.Description)
	}
	var metaVec offset
	if len(m.Metadata) > 0 {
		metas := make([]offset, len(m.Metadata))
		for i, md := range m.Metadata {
			name := b.CreateString(md.Name)
			b.StartObject(metadataNumFields)
			b.PrependUint32Slot(metadataBuffer, md.Buffer, 0)
			b.PrependUOffsetTSlot(metadataName, name, 0)
			metas[i] = b.EndObject()
		}
		metaVec = w.tables(metas)
	}
	var sigVec offset
	if len(m.SignatureDefs) > 0 {
		sigs := make([]offset, len(m.SignatureDefs))
		for i := range m.SignatureDefs {
			sigs[i] = w.signature(&m.SignatureDefs[i])
		}
		sigVec = w.tables(sigs)
	}

	b.StartObject(modelNumFields)
	if sigVec != 0 {
		b.PrependUOffsetTSlot(modelSignatureDefs, sigVec, 0)
	}
	if metaVec != 0 {
		b.PrependUOffsetTSlot(modelMetadata, metaVec, 0)
	}
	b.PrependUOffsetTSlot(modelBuffers, buffersVec, 0)
	if desc != 0 {
		b.PrependUOffsetTSlot(modelDescription, desc, 0)
	}
	b.PrependUOffsetTSlot(modelSubgraphs, subgraphsVec, 0)
	b.PrependUOffsetTSlot(modelOperatorCodes, codesVec, 0)
	b.PrependUint32Slot(modelVersion, m.Version, 0)
	root := b.EndObject()
	b.FinishWithFileIdentifier(root, []byte(Identifier))
	out = b.FinishedBytes()
	if len(out) > maxFileSize {
		return nil, fmt.Errorf("tfl: model is %d bytes, over the 2 GiB flatbuffers limit", len(out))
	}
	return out, nil
}

// data writes one buffer's bytes with their start (not the length prefix) aligned to align
// bytes. Alignment counts from the end of the buffer, and Finish pads the front to the largest
// alignment used, so this is also align from the start of the file.
func (w *writer) data(data []byte, align int) offset {
	if len(data) == 0 {
		return 0
	}
	w.b.Prep(align, len(data))
	return w.b.CreateByteVector(data)
}

func (w *writer) operatorCode(oc OperatorCode) offset {
	b := w.b
	var custom offset
	if oc.Custom != "" {
		custom = b.CreateString(oc.Custom)
	}
	deprecated := int8(builtinCodeLimit)
	if oc.Builtin < builtinCodeLimit {
		deprecated = int8(oc.Builtin)
	}
	b.StartObject(opcodeNumFields)
	b.PrependInt32Slot(opcodeBuiltin, int32(oc.Builtin), 0)
	b.PrependInt32Slot(opcodeVersion, oc.Version, 1)
	if custom != 0 {
		b.PrependUOffsetTSlot(opcodeCustom, custom, 0)
	}
	b.PrependInt8Slot(opcodeDeprecatedBuiltin, deprecated, 0)
	return b.EndObject()
}

func (w *writer) subgraph(sg *Subgraph) offset {
	b := w.b
	tensors := make([]offset, len(sg.Tensors))
	for i := range sg.Tensors {
		tensors[i] = w.tensor(&sg.Tensors[i])
	}
	tensorsVec := w.tables(tensors)
	inputs := w.int32s(sg.Inputs)
	outputs := w.int32s(sg.Outputs)
	ops := make([]offset, len(sg.Operators))
	for i := range sg.Operators {
		ops[i] = w.operator(&sg.Operators[i])
	}
	opsVec := w.tables(ops)
	var name offset
	if sg.Name != "" {
		name = b.CreateString(sg.Name)
	}
	b.StartObject(subgraphNumFields)
	if name != 0 {
		b.PrependUOffsetTSlot(subgraphName, name, 0)
	}
	b.PrependUOffsetTSlot(subgraphOperators, opsVec, 0)
	b.PrependUOffsetTSlot(subgraphOutputs, outputs, 0)
	b.PrependUOffsetTSlot(subgraphInputs, inputs, 0)
	b.PrependUOffsetTSlot(subgraphTensors, tensorsVec, 0)
	return b.EndObject()
}

func (w *writer) tensor(t *Tensor) offset {
	b := w.b
	shape := w.int32s(t.Shape)
	var sig offset
	if t.ShapeSignature != nil {
		sig = w.int32s(t.ShapeSignature)
	}
	var name offset
	if t.Name != "" {
		name = b.CreateString(t.Name)
	}
	var quant offset
	if t.Quantization != nil {
		quant = w.quantization(t.Quantization)
	}
	b.StartObject(tensorNumFields)
	if sig != 0 {
		b.PrependUOffsetTSlot(tensorShapeSignature, sig, 0)
	}
	if quant != 0 {
		b.PrependUOffsetTSlot(tensorQuantization, quant, 0)
	}
	if name != 0 {
		b.PrependUOffsetTSlot(tensorName, name, 0)
	}
	b.PrependUint32Slot(tensorBuffer, t.Buffer, 0)
	b.PrependUOffsetTSlot(tensorShape, shape, 0)
	b.PrependBoolSlot(tensorIsVariable, t.IsVariable, false)
	b.PrependInt8Slot(tensorType, int8(t.Type), 0)
	return b.EndObject()
}

func (w *writer) quantization(q *Quantization) offset {
	b := w.b
	var min, max, scale, zp offset
	if len(q.Min) > 0 {
		min = w.float32s(q.Min)
	}
	if len(q.Max) > 0 {
		max = w.float32s(q.Max)
	}
	if len(q.Scale) > 0 {
		scale = w.float32s(q.Scale)
	}
	if len(q.ZeroPoint) > 0 {
		b.StartVector(8, len(q.ZeroPoint), 8)
		for i := len(q.ZeroPoint) - 1; i >= 0; i-- {
			b.PrependInt64(q.ZeroPoint[i])
		}
		zp = b.EndVector(len(q.ZeroPoint))
	}
	b.StartObject(quantNumFields)
	b.PrependInt32Slot(quantQuantizedDimension, q.QuantizedDimension, 0)
	for _, f := range []struct {
		slot int
		off  offset
	}{{quantZeroPoint, zp}, {quantScale, scale}, {quantMax, max}, {quantMin, min}} {
		if f.off != 0 {
			b.PrependUOffsetTSlot(f.slot, f.off, 0)
		}
	}
	return b.EndObject()
}

func (w *writer) operator(op *Operator) offset {
	b := w.b
	inputs := w.int32s(op.Inputs)
	outputs := w.int32s(op.Outputs)
	var opts offset
	if op.Options != nil {
		opts = w.options(op.Options)
	}
	b.StartObject(operatorNumFields)
	if opts != 0 {
		b.PrependUOffsetTSlot(operatorOptions, opts, 0)
	}
	b.PrependUOffsetTSlot(operatorOutputs, outputs, 0)
	b.PrependUOffsetTSlot(operatorInputs, inputs, 0)
	b.PrependUint32Slot(operatorOpcodeIndex, op.OpcodeIndex, 0)
	if op.Options != nil {
		b.PrependUint8Slot(operatorOptionsType, op.Options.UnionType(), 0)
	}
	return b.EndObject()
}

// options writes any options table from its field list: vectors first (they must precede the
// table), then the scalars from the widest to the narrowest to keep padding small.
func (w *writer) options(o Options) offset {
	b := w.b
	fields := o.fields()
	vectors := make(map[int]offset)
	for _, f := range fields {
		if p, ok := f.ptr.(*[]int32); ok && *p != nil {
			vectors[f.slot] = w.int32s(*p)
		}
	}
	sort.SliceStable(fields, func(i, j int) bool { return fieldWidth(fields[i]) > fieldWidth(fields[j]) })
	b.StartObject(maxSlot(fields) + 1)
	for _, f := range fields {
		switch p := f.ptr.(type) {
		case *[]int32:
			if off, ok := vectors[f.slot]; ok {
				b.PrependUOffsetTSlot(f.slot, off, 0)
			}
		case *int32:
			b.PrependInt32Slot(f.slot, *p, f.def.(int32))
		case *float32:
			b.PrependFloat32Slot(f.slot, *p, f.def.(float32))
		case *int8:
			b.PrependInt8Slot(f.slot, *p, f.def.(int8))
		case *bool:
			b.PrependBoolSlot(f.slot, *p, f.def.(bool))
		case *notBool:
			b.PrependBoolSlot(f.slot, !bool(*p), f.def.(bool))
		default:
			panic(fmt.Sprintf("options field of type %T", f.ptr))
		}
	}
	return b.EndObject()
}

func fieldWidth(f field) int {
	switch f.ptr.(type) {
	case *[]int32, *int32, *float32:
		return 4
	}
	return 1
}

func maxSlot(fields []field) int {
	m := -1
	for _, f := range fields {
		if f.slot > m {
			m = f.slot
		}
	}
	return m
}

func (w *writer) signature(sd *SignatureDef) offset {
	b := w.b
	maps := func(tms []TensorMap) offset {
		offs := make([]offset, len(tms))
		for i, tm := range tms {
			name := b.CreateString(tm.Name)
			b.StartObject(tensorMapNumFields)
			b.PrependUint32Slot(tensorMapIndex, tm.TensorIndex, 0)
			b.PrependUOffsetTSlot(tensorMapName, name, 0)
			offs[i] = b.EndObject()
		}
		return w.tables(offs)
	}
	inputs := maps(sd.Inputs)
	outputs := maps(sd.Outputs)
	key := b.CreateString(sd.Key)
	b.StartObject(signatureNumFields)
	b.PrependUint32Slot(signatureSubgraph, sd.SubgraphIndex, 0)
	b.PrependUOffsetTSlot(signatureKey, key, 0)
	b.PrependUOffsetTSlot(signatureOutputs, outputs, 0)
	b.PrependUOffsetTSlot(signatureInputs, inputs, 0)
	return b.EndObject()
}

func (w *writer) tables(offs []offset) offset {
	return w.b.CreateVectorOfTables(offs)
}

func (w *writer) int32s(v []int32) offset {
	b := w.b
	b.StartVector(4, len(v), 4)
	for i := len(v) - 1; i >= 0; i-- {
		b.PrependInt32(v[i])
	}
	return b.EndVector(len(v))
}

func (w *writer) float32s(v []float32) offset {
	b := w.b
	b.StartVector(4, len(v), 4)
	for i := len(v) - 1; i >= 0; i-- {
		b.PrependFloat32(v[i])
	}
	return b.EndVector(len(v))
}
