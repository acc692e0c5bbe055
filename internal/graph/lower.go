package graph

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

	"github.com/edged/edged/internal/graph/tfl"
	"github.com/edged/edged/quant"
)

// Precision selects how a graph's float32 weights are stored in the model. Activations stay
// float32 in all of them; fully integer models are built from quantized tensors directly.
type Precision int

const (
	// FP32 stores every constant as float32.
	FP32 Precision = iota
	// FP16 stores weights (constants used as FULLY_CONNECTED/CONV_2D weights, BATCH_MATMUL
	// operands and GATHER tables) as float16, each followed by a DEQUANTIZE to float32 that the
	// runtime evaluates once. Half the size; XNNPACK reads the pattern natively.
	FP16
	// Int8Dynamic stores weights as symmetric int8: CONV_2D filters, GATHER tables and
	// BATCH_MATMUL operands with one scale per output channel (slice of axis 0),
	// FULLY_CONNECTED weights with one scale per tensor (see LowerOptions.PerChannelFC).
	// FULLY_CONNECTED and CONV_2D run TFLite's hybrid kernels (float activations quantized on
	// the fly); other uses of a weight get a DEQUANTIZE. A quarter of the size.
	Int8Dynamic
	// Int8Full runs the operators that have int8 kernels on int8 activations, with parameters
	// from calibration ranges (LowerOptions.Ranges): weights symmetric int8, biases int32.
	// Inputs and outputs stay float32 (QUANTIZE/DEQUANTIZE at the edges and around operators
	// kept in float, see LowerOptions.KeepFloat).
	Int8Full
)

var precisionNames = map[Precision]string{FP32: "fp32", FP16: "fp16", Int8Dynamic: "int8-dynamic", Int8Full: "int8"}

// String returns the name used on the command line and in manifests, e.g. "int8-dynamic".
func (p Precision) String() string {
	if s, ok := precisionNames[p]; ok {
		return s
	}
	return fmt.Sprintf("Precision(%d)", int(p))
}

// ParsePrecision parses "fp32", "fp16", "int8-dynamic" or "int8".
func ParsePrecision(s string) (Precision, error) {
	for p, name := range precisionNames {
		if name == s {
			return p, nil
		}
	}
	return 0, fmt.Errorf("graph: unknown precision %q (want fp32, fp16, int8-dynamic or int8)", s)
}

// Role is what a constant is used for, as seen from the operators that read it.
type Role int

// Roles of constants.
const (
	RoleNone   Role = iota // not a constant, or unused
	RoleWeight             // a FULLY_CONNECTED/CONV_2D weight, a BATCH_MATMUL operand or a GATHER table
	RoleBias               // a FULLY_CONNECTED/CONV_2D bias
	RoleParam              // any other constant (layer norm gains, shapes, axes, scalars)
)

// String names the role.
func (r Role) String() string {
	return [...]string{"none", "weight", "bias", "param"}[r]
}

// use is one place a tensor is read: node n, input slot.
type use struct {
	n    *node
	slot int
}

// isWeightUse reports whether reading t at this slot makes it a weight.
func (u use) isWeightUse() bool {
	switch u.n.op {
	case tfl.OpFullyConnected, tfl.OpConv2D:
		return u.slot == 1
	case tfl.OpBatchMatMul:
		return true
	case tfl.OpGather:
		return u.slot == 0
	}
	return false
}

// isHybridUse reports whether the op can read an int8 weight directly at this slot with float
// activations (TFLite's hybrid kernels).
func (u use) isHybridUse() bool {
	return (u.n.op == tfl.OpFullyConnected || u.n.op == tfl.OpConv2D) && u.slot == 1 && u.n.inputs[0].dtype == Float32
}

func (g *Graph) uses() map[*Tensor][]use {
	m := map[*Tensor][]use{}
	for _, n := range g.nodes {
		for i, t := range n.inputs {
			if t != nil {
				m[t] = append(m[t], use{n, i})
			}
		}
	}
	return m
}

// Role returns how the constant is used (RoleNone for non-constants and unused constants). A
// weight use wins over a bias use, which wins over any other.
func (t *Tensor) Role() Role {
	if t == nil || t.kind != kindConst {
		return RoleNone
	}
	return roleOf(t.g.uses()[t])
}

func roleOf(us []use) Role {
	r := RoleNone
	for _, u := range us {
		switch {
		case u.isWeightUse():
			return RoleWeight
		case (u.n.op == tfl.OpFullyConnected || u.n.op == tfl.OpConv2D) && u.slot == 2:
			r = RoleBias
		case r == RoleNone:
			r = RoleParam
		}
	}
	return r
}

// LowerOptions choose how a graph becomes a model.
type LowerOptions struct {
	Precision Precision
	// PerChannelFC, at Int8Dynamic, stores FULLY_CONNECTED weights with one scale per output
	// channel and DEQUANTIZEs them to float32 at load, instead of per-tensor weights read by the
	// hybrid kernel (TFLite 2.9's hybrid FULLY_CONNECTED cannot take per-channel scales). More
	// accurate, and the float FULLY_CONNECTED can run in XNNPACK; the dequantized copy costs
	// float32 memory at run time (the file stays a quarter of fp32).
	PerChannelFC bool

	// Ranges are the calibrated ranges of activation tensors by name (graph inputs included),
	// required at Int8Full for every tensor an int8 operator reads or writes, except outputs
	// whose parameters the kernel fixes (SOFTMAX, LOGISTIC, TANH, L2_NORMALIZATION) or copies
	// from its input (RESHAPE, TRANSPOSE, STRIDED_SLICE, GATHER).
	Ranges map[string]quant.Range
	// KeepFloat, at Int8Full, keeps an operator in float32 when it returns true for the
	// operator's output tensor name (e.g. every layer norm, or attention softmax: regions where
	// int8 costs accuracy). Nil quantizes every operator that has an int8 kernel.
	KeepFloat func(output string, op tfl.BuiltinOp) bool

	// ObserveAll adds every float32 activation as an extra output named after its tensor, for
	// calibration: run the model on sample inputs and feed each output to a quant.Observer.
	// Not with Int8Full.
	ObserveAll bool
	// Observe, with ObserveAll, narrows the extra outputs to the activations it accepts (by
	// name; see Observable): an output stays in memory for the whole run, so a large model's
	// activations are observed in several passes, each holding its part only. Nil observes
	// every one.
	Observe func(name string) bool
}

// Observable is a float32 activation that ObserveAll adds as an output, and its size.
type Observable struct {
	Name  string
	Bytes int64 // a dimension set at run time counts as 1
}

// Observable lists the activations ObserveAll adds as outputs, in the graph's order.
func (g *Graph) Observable() []Observable {
	var out []Observable
	for _, t := range g.observable() {
		n := int64(4)
		for _, d := range t.shape {
			n *= int64(max(d, 1))
		}
		out = append(out, Observable{Name: t.name, Bytes: n})
	}
	return out
}

// observable are the float32 activations that are not declared outputs.
func (g *Graph) observable() []*Tensor {
	declared := map[*Tensor]bool{}
	for _, o := range g.outputs {
		declared[o.t] = true
	}
	var out []*Tensor
	for _, t := range g.tensors {
		if t.kind == kindActivation && t.dtype == Float32 && !declared[t] {
			out = append(out, t)
		}
	}
	return out
}

// Marshal lowers the graph at FP32 and writes it as a .tflite file.
func (g *Graph) Marshal() ([]byte, error) { return g.MarshalWith(LowerOptions{Precision: FP32}) }

// MarshalAs lowers the graph at precision p and writes it as a .tflite file. The same graph
// always gives the same bytes.
func (g *Graph) MarshalAs(p Precision) ([]byte, error) {
	return g.MarshalWith(LowerOptions{Precision: p})
}

// MarshalWith lowers the graph with opts and writes it as a .tflite file.
func (g *Graph) MarshalWith(opts LowerOptions) ([]byte, error) {
	m, err := g.Lower(opts)
	if err != nil {
		return nil, err
	}
	b, err := tfl.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("graph %q: %w", g.name, err)
	}
	return b, nil
}

// Lower turns the graph into a TFLite model. The model's float32 buffers may share memory
// with the graph's constants.
func (g *Graph) Lower(opts LowerOptions) (*tfl.Model, error) {
	if g.err != nil {
		return nil, g.err
	}
	p := opts.Precision
	if _, ok := precisionNames[p]; !ok {
		return nil, fmt.Errorf("graph %q: unknown precision %d", g.name, int(p))
	}
	if opts.ObserveAll && p == Int8Full {
		return nil, fmt.Errorf("graph %q: ObserveAll is for calibrating a float model, not with precision %v", g.name, p)
	}
	if len(g.outputs) == 0 {
		return nil, fmt.Errorf("graph %q: no outputs declared", g.name)
	}
	l := &lowering{
		g:     g,
		opts:  opts,
		m:     &tfl.Model{Version: tfl.SchemaVersion, Description: g.description, Buffers: []tfl.Buffer{{}}},
		index: map[*Tensor]int32{},
		int8:  map[*Tensor]int32{},
		codes: map[tfl.BuiltinOp]int{},
		names: map[string]bool{},
		q:     map[*Tensor]int32{},
		qp:    map[*Tensor]quant.Params{},
		bias:  map[*node]int32{},
		aff:   map[affineKey]int32{},
		chw:   map[*Tensor]int32{},

		concatParams: map[*node]quant.Params{},
	}
	if err := l.run(); err != nil {
		return nil, fmt.Errorf("graph %q: lower to %v: %w", g.name, p, err)
	}
	return l.m, nil
}

// lowering turns the IR into a tfl.Model, choosing the storage of each constant.
type lowering struct {
	g     *Graph
	opts  LowerOptions
	m     *tfl.Model
	sg    tfl.Subgraph
	index map[*Tensor]int32 // the float (or as-is) view of each graph tensor
	int8  map[*Tensor]int32 // the int8 view of a weight, for hybrid consumers
	pre   []tfl.Operator    // DEQUANTIZE of constants, run before everything else
	codes map[tfl.BuiltinOp]int
	names map[string]bool

	// Int8Full state: int8 views of tensors and their parameters, int32 biases per operator,
	// per-tensor affine int8 constants, per-channel int8 filters.
	q    map[*Tensor]int32
	qp   map[*Tensor]quant.Params
	bias map[*node]int32
	aff  map[affineKey]int32
	chw  map[*Tensor]int32
	ops  []tfl.Operator // operators in order (Int8Full emits conversions between them)

	concatParams map[*node]quant.Params // the shared parameters of an int8 CONCATENATION
}

func (l *lowering) run() error {
	g := l.g
	for _, t := range g.tensors {
		l.names[t.name] = true
	}
	var err error
	if l.opts.Precision == Int8Full {
		err = l.int8Body()
	} else {
		err = l.weightsBody()
	}
	if err != nil {
		return err
	}
	l.sg.Name = g.name
	sig := tfl.SignatureDef{Key: "serving_default"}
	for _, t := range g.inputs {
		l.sg.Inputs = append(l.sg.Inputs, l.index[t])
		sig.Inputs = append(sig.Inputs, tfl.TensorMap{Name: t.name, TensorIndex: uint32(l.index[t])})
	}
	outputs := append([]namedTensor(nil), g.outputs...)
	if l.opts.ObserveAll {
		for _, t := range g.observable() {
			if l.opts.Observe == nil || l.opts.Observe(t.name) {
				outputs = append(outputs, namedTensor{t.name, t})
			}
		}
	}
	for _, o := range outputs {
		idx, ok := l.index[o.t]
		if !ok {
			return fmt.Errorf("output %q was not lowered", o.name)
		}
		l.sg.Outputs = append(l.sg.Outputs, idx)
		sig.Outputs = append(sig.Outputs, tfl.TensorMap{Name: o.name, TensorIndex: uint32(idx)})
	}
	l.m.Subgraphs = []tfl.Subgraph{l.sg}
	l.m.SignatureDefs = []tfl.SignatureDef{sig}
	for _, md := range g.metadata {
		l.m.Metadata = append(l.m.Metadata, tfl.Metadata{Name: md.name, Buffer: l.buffer(md.data)})
	}
	return l.versions()
}

// weightsBody lowers at FP32, FP16 or Int8Dynamic: activations stay as built, weights take the
// precision's storage.
func (l *lowering) weightsBody() error {
	uses := l.g.uses()
	for _, t := range l.g.tensors {
		us := uses[t]
		if t.kind == kindConst && len(us) == 0 {
			continue // e.g. a weight only some precisions need; nothing reads it
		}
		if err := l.tensor(t, us); err != nil {
			return err
		}
	}
	ops := append([]tfl.Operator(nil), l.pre...)
	for _, n := range l.g.nodes {
		op, err := l.node(n)
		if err != nil {
			return err
		}
		ops = append(ops, op)
	}
	l.sg.Operators = ops
	return nil
}

// tensor emits graph tensor t, in the storage the precision asks for.
func (l *lowering) tensor(t *Tensor, us []use) error {
	if t.kind != kindConst || t.dtype != Float32 || roleOf(us) != RoleWeight || l.opts.Precision == FP32 {
		data, err := encode(t.data)
		if err != nil {
			return fmt.Errorf("constant %q: %w", t.name, err)
		}
		l.index[t] = l.add(t.name, t.dtype, t.shape, data, quantization(t.quant, t.shape))
		return nil
	}
	values := t.data.([]float32)
	if l.opts.Precision == FP16 {
		bits, err := quant.Float16Bytes(values)
		if err != nil {
			return fmt.Errorf("weight %q to float16: %w", t.name, err)
		}
		l.index[t] = l.dequantized(t, l.add(t.name, Float16, t.shape, bits, nil))
		return nil
	}
	// Int8Dynamic. Hybrid kernels read the int8 tensor directly; every other use reads a
	// DEQUANTIZE of it. A FULLY_CONNECTED weight is per-tensor unless PerChannelFC (then
	// dequantized): the 2.9 hybrid FULLY_CONNECTED cannot take per-channel scales.
	var hybridFC, hybridConv, other bool
	for _, u := range us {
		switch {
		case u.isHybridUse() && u.n.op == tfl.OpFullyConnected && !l.opts.PerChannelFC:
			hybridFC = true
		case u.isHybridUse() && u.n.op == tfl.OpConv2D:
			hybridConv = true
		default:
			other = true
		}
	}
	var q *tfl.Quantization
	var data []byte
	if hybridFC {
		v, scale, err := quant.SymmetricPerTensor(values)
		if err != nil {
			return fmt.Errorf("weight %q to int8: %w", t.name, err)
		}
		q, data = &tfl.Quantization{Scale: []float32{scale}, ZeroPoint: []int64{0}}, int8Bytes(v)
	} else {
		// One scale per slice of axis 0: the output channel of a [out, in] or [out, kh, kw, in]
		// weight, a row of a GATHER table, the first axis of a BATCH_MATMUL operand.
		cw, err := quant.SymmetricPerChannel(values, t.shape, 0)
		if err != nil {
			return fmt.Errorf("weight %q to int8: %w", t.name, err)
		}
		q = &tfl.Quantization{Scale: cw.Scales, ZeroPoint: make([]int64, len(cw.Scales))}
		data = int8Bytes(cw.Values)
	}
	i8 := l.add(t.name, Int8, t.shape, data, q)
	if hybridFC || hybridConv {
		l.int8[t] = i8
	}
	if other {
		l.index[t] = l.dequantized(t, i8)
	}
	return nil
}

// dequantized adds DEQUANTIZE(src) -> float32 to the constant prologue and returns its output.
func (l *lowering) dequantized(t *Tensor, src int32) int32 {
	out := l.add(l.unique(t.name+"/dequantized"), Float32, t.shape, nil, nil)
	l.pre = append(l.pre, tfl.Operator{
		OpcodeIndex: l.code(tfl.OpDequantize),
		Inputs:      []int32{src},
		Outputs:     []int32{out},
		Options:     &tfl.DequantizeOptions{},
	})
	return out
}

func (l *lowering) unique(name string) string {
	base := name
	for i := 2; l.names[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	l.names[name] = true
	return name
}

// add appends a tensor (with its data in a new buffer if data is non-nil).
func (l *lowering) add(name string, dtype DType, shape []int, data []byte, q *tfl.Quantization) int32 {
	t := tfl.Tensor{Name: name, Type: dtype, Quantization: q}
	t.Shape = make([]int32, len(shape))
	for i, d := range shape {
		if d == Dynamic {
			// The static shape holds 1; the signature marks the dimension as resizable.
			t.Shape[i] = 1
		} else {
			t.Shape[i] = int32(d)
		}
	}
	if hasDynamic(shape) {
		t.ShapeSignature = toInt32(shape)
	}
	if data != nil {
		t.Buffer = l.buffer(data)
	}
	l.sg.Tensors = append(l.sg.Tensors, t)
	return int32(len(l.sg.Tensors) - 1)
}

func (l *lowering) buffer(data []byte) uint32 {
	l.m.Buffers = append(l.m.Buffers, tfl.Buffer{Data: data})
	return uint32(len(l.m.Buffers) - 1)
}

// code returns the operator-code index of op, adding it on first use.
func (l *lowering) code(op tfl.BuiltinOp) uint32 {
	if i, ok := l.codes[op]; ok {
		return uint32(i)
	}
	l.m.OperatorCodes = append(l.m.OperatorCodes, tfl.OperatorCode{Builtin: op, Version: 1})
	l.codes[op] = len(l.m.OperatorCodes) - 1
	return uint32(len(l.m.OperatorCodes) - 1)
}

// node converts one operator, pointing hybrid-capable weight inputs at the int8 view.
func (l *lowering) node(n *node) (tfl.Operator, error) {
	op := tfl.Operator{OpcodeIndex: l.code(n.op), Options: n.opts}
	for i, t := range n.inputs {
		if t == nil {
			op.Inputs = append(op.Inputs, -1)
			continue
		}
		u := use{n, i}
		if i8, ok := l.int8[t]; ok && u.isHybridUse() && !(n.op == tfl.OpFullyConnected && l.opts.PerChannelFC) {
			op.Inputs = append(op.Inputs, i8)
			if fc, ok := n.opts.(*tfl.FullyConnectedOptions); ok {
				c := *fc
				c.AsymmetricQuantizeInputs = true
				op.Options = &c
			}
			continue
		}
		idx, ok := l.index[t]
		if !ok {
			return op, fmt.Errorf("%v: input %q was not lowered", n.op, t.name)
		}
		op.Inputs = append(op.Inputs, idx)
	}
	for _, t := range n.outputs {
		idx, ok := l.index[t]
		if !ok {
			return op, fmt.Errorf("%v: output %q was not lowered", n.op, t.name)
		}
		op.Outputs = append(op.Outputs, idx)
	}
	return op, nil
}

// versions sets each operator code's version to the highest any of its operators needs.
func (l *lowering) versions() error {
	sg := &l.m.Subgraphs[0]
	for _, op := range sg.Operators {
		oc := &l.m.OperatorCodes[op.OpcodeIndex]
		v := opVersion(oc.Builtin, sg, op)
		if v > oc.Version {
			oc.Version = v
		}
	}
	return nil
}

func quantization(q *Quant, shape []int) *tfl.Quantization {
	if q == nil {
		return nil
	}
	return &tfl.Quantization{
		Scale:              append([]float32(nil), q.Scale...),
		ZeroPoint:          append([]int64(nil), q.ZeroPoint...),
		QuantizedDimension: int32(q.Axis),
	}
}

// littleEndian is true on the hosts edged runs on (amd64, arm64): there float32 and int32
// constants are handed to the writer without a copy.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// encode returns the little-endian bytes of constant data (nil for non-constants).
func encode(data any) ([]byte, error) {
	switch d := data.(type) {
	case nil:
		return nil, nil
	case []float32:
		if littleEndian && len(d) > 0 {
			return unsafe.Slice((*byte)(unsafe.Pointer(&d[0])), 4*len(d)), nil
		}
		out := make([]byte, 4*len(d))
		for i, v := range d {
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
		}
		return out, nil
	case []int32:
		if littleEndian && len(d) > 0 {
			return unsafe.Slice((*byte)(unsafe.Pointer(&d[0])), 4*len(d)), nil
		}
		out := make([]byte, 4*len(d))
		for i, v := range d {
			binary.LittleEndian.PutUint32(out[4*i:], uint32(v))
		}
		return out, nil
	case []int64:
		out := make([]byte, 8*len(d))
		for i, v := range d {
			binary.LittleEndian.PutUint64(out[8*i:], uint64(v))
		}
		return out, nil
	case []int8:
		return int8Bytes(d), nil
	case []uint8:
		return d, nil
	case fp16Data:
		out := make([]byte, 2*len(d))
		for i, v := range d {
			binary.LittleEndian.PutUint16(out[2*i:], v)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported constant data %T", data)
}

func int8Bytes(v []int8) []byte {
	out := make([]byte, len(v))
	for i, x := range v {
		out[i] = byte(x)
	}
	return out
}
