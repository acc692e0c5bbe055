package graph

import (
	"fmt"
	"strings"

	"github.com/edged/edged/internal/graph/tfl"
)

// Option adjusts one operator application (its output name, quantization, fused activation...).
type Option func(*opConfig)

type opConfig struct {
	name        string
	quant       *Quant
	act         tfl.Activation
	keepNumDims *bool
	beta        float32
}

// Named names the operator's output tensor (made unique with a suffix if taken).
func Named(name string) Option { return func(c *opConfig) { c.name = name } }

// OutQuant sets the quantization of an int8/uint8 output. Operators whose TFLite kernels fix
// the output parameters (SOFTMAX, LOGISTIC, TANH, L2_NORMALIZATION) and those that only move
// data (RESHAPE, TRANSPOSE, GATHER, STRIDED_SLICE...) default them; arithmetic needs this.
func OutQuant(q Quant) Option { return func(c *opConfig) { c.quant = &q } }

// Fused fuses an activation into ADD, SUB, MUL, DIV, FULLY_CONNECTED, CONV_2D or CONCATENATION.
func Fused(a tfl.Activation) Option { return func(c *opConfig) { c.act = a } }

// KeepNumDims controls FULLY_CONNECTED's output rank: true keeps the input's leading dimensions
// ([B,S,K] -> [B,S,N], the default for inputs of rank > 2), false flattens them ([B*S,N]).
func KeepNumDims(keep bool) Option { return func(c *opConfig) { c.keepNumDims = &keep } }

// Beta scales SOFTMAX's logits (softmax(beta*x)); the default is 1.
func Beta(beta float32) Option { return func(c *opConfig) { c.beta = beta } }

// begin checks the sticky error and that every non-nil input belongs to g, and reads options.
func (g *Graph) begin(op tfl.BuiltinOp, inputs []*Tensor, opts []Option) (*opConfig, bool) {
	if g.err != nil {
		return nil, false
	}
	cfg := &opConfig{beta: 1}
	for _, o := range opts {
		o(cfg)
	}
	for i, t := range inputs {
		if t != nil && t.g != g {
			g.failf("graph: %v %s: input %d %q belongs to graph %q", op, cfg.label(op), i, t.name, t.g.name)
			return nil, false
		}
	}
	return cfg, true
}

// label names the op application in errors: its output name if given.
func (c *opConfig) label(op tfl.BuiltinOp) string {
	if c.name != "" {
		return fmt.Sprintf("%q", c.name)
	}
	return fmt.Sprintf("(output %q)", defaultName(op))
}

func defaultName(op tfl.BuiltinOp) string { return strings.ToLower(op.String()) }

// opError records an error naming the operator and its output.
func (g *Graph) opError(op tfl.BuiltinOp, cfg *opConfig, format string, args ...any) *Tensor {
	g.failf("graph: %v %s: %s", op, cfg.label(op), fmt.Sprintf(format, args...))
	return nil
}

// need checks that required inputs are present.
func (g *Graph) need(op tfl.BuiltinOp, cfg *opConfig, names []string, ts ...*Tensor) bool {
	for i, t := range ts {
		if t == nil {
			g.opError(op, cfg, "missing input %s", names[i])
			return false
		}
	}
	return true
}

// emit appends the node and creates its output tensor.
func (g *Graph) emit(op tfl.BuiltinOp, cfg *opConfig, opts tfl.Options, inputs []*Tensor, dtype DType, shape []int, q *Quant) *Tensor {
	if cfg.quant != nil {
		q = cfg.quant
	}
	if isQuantizedType(dtype) {
		if q == nil {
			return g.opError(op, cfg, "%v output needs quantization parameters (graph.OutQuant)", dtype)
		}
		if err := checkQuant(*q, dtype, shape); err != nil {
			return g.opError(op, cfg, "output %v", err)
		}
	}
	name := cfg.name
	if name == "" {
		name = defaultName(op)
	}
	out := g.newTensor(name, dtype, shape, kindActivation)
	if isQuantizedType(dtype) {
		qc := *q
		out.quant = &qc
	}
	g.nodes = append(g.nodes, &node{op: op, inputs: inputs, outputs: []*Tensor{out}, opts: opts})
	return out
}

func isQuantizedType(d DType) bool { return d == Int8 || d == Uint8 || d == Int16 }

// isFloat reports whether the type is float32 (the only float type activations take).
func isFloat(t *Tensor) bool { return t.dtype == Float32 }

// sameType checks that activations agree in type; quantized ones may differ in parameters.
func (g *Graph) sameType(op tfl.BuiltinOp, cfg *opConfig, ts ...*Tensor) bool {
	for _, t := range ts[1:] {
		if t.dtype != ts[0].dtype {
			g.opError(op, cfg, "inputs %s and %s differ in type", ts[0], t)
			return false
		}
	}
	switch ts[0].dtype {
	case Float32, Int8, Uint8, Int16, Int32, Int64:
		return true
	}
	g.opError(op, cfg, "input %s: type %v not supported (dequantize float16 constants first)", ts[0], ts[0].dtype)
	return false
}

// errPerChannelFC explains a limit of the TFLite 2.9 kernels, found by test: a
// FULLY_CONNECTED with per-channel int8 weights (hybrid or fully integer) reads only the
// per-tensor scale, which is 0 for per-channel tensors, and outputs zeros.
const errPerChannelFC = "TFLite 2.9's FULLY_CONNECTED takes per-tensor int8 weight scales only " +
	"(with per-channel scales it outputs zeros); quantize per tensor, or dequantize per-channel weights to float32"

// FullyConnected computes x · wᵀ + b with w of shape [out, in] (PyTorch's nn.Linear layout)
// and b of shape [out] or nil. With float x and float w it is a float op; with float x and a
// per-tensor int8 w it is TFLite's hybrid (dynamic-range) kernel, quantizing each input row on
// the fly (asymmetric_quantize_inputs); with int8 x, per-tensor int8 w and an int32 b it is the
// full-integer kernel (output parameters via OutQuant).
func (g *Graph) FullyConnected(x, w, b *Tensor, opts ...Option) *Tensor {
	const op = tfl.OpFullyConnected
	cfg, ok := g.begin(op, []*Tensor{x, w, b}, opts)
	if !ok || !g.need(op, cfg, []string{"x", "weight"}, x, w) {
		return nil
	}
	if w.Rank() != 2 {
		return g.opError(op, cfg, "weight %s must have rank 2 [out, in]", w)
	}
	n, k := w.shape[0], w.shape[1]
	if x.Rank() < 1 || !sameDim(x.Dim(-1), k) {
		return g.opError(op, cfg, "input %s: last dimension must be %d to match weight %s", x, k, w)
	}
	if b != nil && (b.Rank() != 1 || b.shape[0] != n) {
		return g.opError(op, cfg, "bias %s must have shape [%d]", b, n)
	}
	outType := x.dtype
	switch {
	case isFloat(x) && w.dtype == Float32:
		if b != nil && b.dtype != Float32 {
			return g.opError(op, cfg, "bias %s must be FLOAT32 for a float op", b)
		}
	case isFloat(x) && w.dtype == Int8:
		if w.kind != kindConst || w.quant == nil {
			return g.opError(op, cfg, "hybrid weight %s must be a quantized constant", w)
		}
		if len(w.quant.Scale) > 1 {
			return g.opError(op, cfg, "weight %s: %s", w, errPerChannelFC)
		}
		if b != nil && b.dtype != Float32 {
			return g.opError(op, cfg, "bias %s must be FLOAT32 for a hybrid op", b)
		}
	case x.dtype == Int8 && w.dtype == Int8:
		if w.quant == nil || len(w.quant.Scale) > 1 {
			return g.opError(op, cfg, "weight %s: %s", w, errPerChannelFC)
		}
		if b != nil && b.dtype != Int32 {
			return g.opError(op, cfg, "bias %s must be INT32 for an int8 op", b)
		}
	default:
		return g.opError(op, cfg, "input %s with weight %s: unsupported type combination", x, w)
	}
	keep := x.Rank() > 2
	if cfg.keepNumDims != nil {
		keep = *cfg.keepNumDims
	}
	var shape []int
	if keep {
		shape = append(x.Shape()[:x.Rank()-1], n)
	} else {
		rows := Dynamic
		if e := numElements(x.shape); e != Dynamic && k > 0 {
			rows = e / k
		}
		shape = []int{rows, n}
	}
	o := &tfl.FullyConnectedOptions{
		Activation:               cfg.act,
		KeepNumDims:              keep,
		AsymmetricQuantizeInputs: isFloat(x) && w.dtype == Int8,
	}
	return g.emit(op, cfg, o, []*Tensor{x, w, b}, outType, shape, nil)
}

// BatchMatMul multiplies the last two axes of x and y, broadcasting the leading (batch) axes.
// adjX/adjY transpose the last two axes of x/y first.
func (g *Graph) BatchMatMul(x, y *Tensor, adjX, adjY bool, opts ...Option) *Tensor {
	const op = tfl.OpBatchMatMul
	cfg, ok := g.begin(op, []*Tensor{x, y}, opts)
	if !ok || !g.need(op, cfg, []string{"x", "y"}, x, y) || !g.sameType(op, cfg, x, y) {
		return nil
	}
	if x.Rank() < 2 || y.Rank() < 2 || x.Rank() > 5 || y.Rank() > 5 {
		return g.opError(op, cfg, "inputs %s and %s must have rank 2 to 5", x, y)
	}
	m, kx := x.Dim(-2), x.Dim(-1)
	if adjX {
		m, kx = kx, m
	}
	ky, n := y.Dim(-2), y.Dim(-1)
	if adjY {
		ky, n = n, ky
	}
	if !sameDim(kx, ky) {
		return g.opError(op, cfg, "inner dimensions differ: %s (adj_x=%v) and %s (adj_y=%v)", x, adjX, y, adjY)
	}
	batch, err := broadcast(x.shape[:x.Rank()-2], y.shape[:y.Rank()-2])
	if err != nil {
		return g.opError(op, cfg, "batch dimensions: %v", err)
	}
	return g.emit(op, cfg, &tfl.BatchMatMulOptions{AdjX: adjX, AdjY: adjY}, []*Tensor{x, y}, x.dtype, append(batch, m, n), nil)
}

// Conv2DParams are a CONV_2D's strides, padding and dilations (zero strides and dilations
// mean 1).
type Conv2DParams struct {
	StrideH, StrideW     int
	Padding              tfl.Padding
	DilationH, DilationW int
}

// Conv2D convolves x [N,H,W,C] with filter [O,KH,KW,C] and adds bias [O]. A nil bias of a float
// op becomes zeros (TFLite's kernel wants one).
func (g *Graph) Conv2D(x, filter, bias *Tensor, p Conv2DParams, opts ...Option) *Tensor {
	const op = tfl.OpConv2D
	cfg, ok := g.begin(op, []*Tensor{x, filter, bias}, opts)
	if !ok || !g.need(op, cfg, []string{"x", "filter"}, x, filter) {
		return nil
	}
	one := func(v int) int {
		if v == 0 {
			return 1
		}
		return v
	}
	sh, sw, dh, dw := one(p.StrideH), one(p.StrideW), one(p.DilationH), one(p.DilationW)
	if sh < 0 || sw < 0 || dh < 0 || dw < 0 {
		return g.opError(op, cfg, "negative stride or dilation in %+v", p)
	}
	if x.Rank() != 4 || filter.Rank() != 4 {
		return g.opError(op, cfg, "input %s must be [N,H,W,C] and filter %s [O,KH,KW,C]", x, filter)
	}
	if !sameDim(x.shape[3], filter.shape[3]) {
		return g.opError(op, cfg, "input channels of %s do not match filter %s", x, filter)
	}
	o := filter.shape[0]
	switch {
	case isFloat(x) && (filter.dtype == Float32 || filter.dtype == Int8 && filter.kind == kindConst && filter.quant != nil):
		if bias == nil {
			bias = g.Const(cfgName(cfg, op)+"/zero_bias", make([]float32, o), o)
		} else if bias.dtype != Float32 {
			return g.opError(op, cfg, "bias %s must be FLOAT32", bias)
		}
	case x.dtype == Int8 && filter.dtype == Int8:
		if bias == nil || bias.dtype != Int32 {
			return g.opError(op, cfg, "an int8 convolution needs an INT32 bias")
		}
	default:
		return g.opError(op, cfg, "input %s with filter %s: unsupported type combination", x, filter)
	}
	if bias.Rank() != 1 || bias.shape[0] != o {
		return g.opError(op, cfg, "bias %s must have shape [%d]", bias, o)
	}
	outDim := func(in, k, s, d int) int {
		if in == Dynamic {
			return Dynamic
		}
		if p.Padding == tfl.PaddingSame {
			return (in + s - 1) / s
		}
		eff := (k-1)*d + 1
		if in < eff {
			return -2 // marks an error below
		}
		return (in-eff)/s + 1
	}
	h, w := outDim(x.shape[1], filter.shape[1], sh, dh), outDim(x.shape[2], filter.shape[2], sw, dw)
	if h == -2 || w == -2 {
		return g.opError(op, cfg, "input %s is smaller than filter %s with VALID padding", x, filter)
	}
	opts2 := &tfl.Conv2DOptions{
		Padding: p.Padding, StrideH: int32(sh), StrideW: int32(sw),
		DilationH: int32(dh), DilationW: int32(dw), Activation: cfg.act,
	}
	return g.emit(op, cfg, opts2, []*Tensor{x, filter, bias}, x.dtype, []int{x.shape[0], h, w, o}, nil)
}

func cfgName(cfg *opConfig, op tfl.BuiltinOp) string {
	if cfg.name != "" {
		return cfg.name
	}
	return defaultName(op)
}

// binary is ADD, SUB, MUL, DIV and SQUARED_DIFFERENCE: numpy broadcasting, equal types.
func (g *Graph) binary(op tfl.BuiltinOp, x, y *Tensor, opts []Option, mk func(tfl.Activation) tfl.Options) *Tensor {
	cfg, ok := g.begin(op, []*Tensor{x, y}, opts)
	if !ok || !g.need(op, cfg, []string{"x", "y"}, x, y) || !g.sameType(op, cfg, x, y) {
		return nil
	}
	shape, err := broadcast(x.shape, y.shape)
	if err != nil {
		return g.opError(op, cfg, "%v", err)
	}
	return g.emit(op, cfg, mk(cfg.act), []*Tensor{x, y}, x.dtype, shape, nil)
}

// Add returns x + y (broadcasting).
func (g *Graph) Add(x, y *Tensor, opts ...Option) *Tensor {
	return g.binary(tfl.OpAdd, x, y, opts, func(a tfl.Activation) tfl.Options { return &tfl.AddOptions{Activation: a} })
}

// Sub returns x - y (broadcasting).
func (g *Graph) Sub(x, y *Tensor, opts ...Option) *Tensor {
	return g.binary(tfl.OpSub, x, y, opts, func(a tfl.Activation) tfl.Options { return &tfl.SubOptions{Activation: a} })
}

// Mul returns x * y (broadcasting).
func (g *Graph) Mul(x, y *Tensor, opts ...Option) *Tensor {
	return g.binary(tfl.OpMul, x, y, opts, func(a tfl.Activation) tfl.Options { return &tfl.MulOptions{Activation: a} })
}

// Div returns x / y (broadcasting).
func (g *Graph) Div(x, y *Tensor, opts ...Option) *Tensor {
	return g.binary(tfl.OpDiv, x, y, opts, func(a tfl.Activation) tfl.Options { return &tfl.DivOptions{Activation: a} })
}

// SquaredDifference returns (x - y)² (broadcasting).
func (g *Graph) SquaredDifference(x, y *Tensor, opts ...Option) *Tensor {
	return g.binary(tfl.OpSquaredDifference, x, y, opts, func(tfl.Activation) tfl.Options { return &tfl.SquaredDifferenceOptions{} })
}

// Scalar adds a float32 constant of shape [1], for broadcasting arithmetic.
func (g *Graph) Scalar(name string, v float32) *Tensor { return g.Const(name, []float32{v}, 1) }

// Mean averages x over axes (negative axes count from the end).
func (g *Graph) Mean(x *Tensor, axes []int, keepDims bool, opts ...Option) *Tensor {
	const op = tfl.OpMean
	cfg, ok := g.begin(op, []*Tensor{x}, opts)
	if !ok || !g.need(op, cfg, []string{"x"}, x) || !g.sameType(op, cfg, x) {
		return nil
	}
	if len(axes) == 0 {
		return g.opError(op, cfg, "no axes")
	}
	reduced := make([]bool, x.Rank())
	ax := make([]int32, len(axes))
	for i, a := range axes {
		n, err := normAxis(a, x.Rank())
		if err != nil {
			return g.opError(op, cfg, "%v", err)
		}
		if reduced[n] {
			return g.opError(op, cfg, "axis %d listed twice", a)
		}
		reduced[n], ax[i] = true, int32(n)
	}
	var shape []int
	for i, d := range x.shape {
		switch {
		case !reduced[i]:
			shape = append(shape, d)
		case keepDims:
			shape = append(shape, 1)
		}
	}
	axesT := g.ConstInt32(cfgName(cfg, op)+"/axes", ax, len(ax))
	return g.emit(op, cfg, &tfl.ReducerOptions{KeepDims: keepDims}, []*Tensor{x, axesT}, x.dtype, shape, nil)
}

// unary is an elementwise op with one input and an output of the same shape and type.
func (g *Graph) unary(op tfl.BuiltinOp, x *Tensor, opts []Option, o tfl.Options, fixed *Quant) *Tensor {
	cfg, ok := g.begin(op, []*Tensor{x}, opts)
	if !ok || !g.need(op, cfg, []string{"x"}, x) || !g.sameType(op, cfg, x) {
		return nil
	}
	if x.dtype == Int32 || x.dtype == Int64 {
		return g.opError(op, cfg, "input %s must be float or quantized", x)
	}
	var q *Quant
	if x.dtype == Int8 && fixed != nil {
		q = fixed
	}
	return g.emit(op, cfg, o, []*Tensor{x}, x.dtype, x.Shape(), q)
}

// TFLite's int8 kernels for these ops require these output parameters.
var (
	quantUnitInterval = PerTensor(1.0/256, -128) // SOFTMAX, LOGISTIC: [0, 1)
	quantSymmetric    = PerTensor(1.0/128, 0)    // TANH, L2_NORMALIZATION: [-1, 1)
)

// Rsqrt returns 1/√x elementwise.
func (g *Graph) Rsqrt(x *Tensor, opts ...Option) *Tensor {
	return g.unary(tfl.OpRsqrt, x, opts, nil, nil)
}

// Logistic returns the sigmoid 1/(1+e^-x).
func (g *Graph) Logistic(x *Tensor, opts ...Option) *Tensor {
	return g.unary(tfl.OpLogistic, x, opts, nil, &quantUnitInterval)
}

// Tanh returns tanh(x).
func (g *Graph) Tanh(x *Tensor, opts ...Option) *Tensor {
	return g.unary(tfl.OpTanh, x, opts, nil, &quantSymmetric)
}

// Gelu returns GELU(x): x·Φ(x) exactly (erf) or with the tanh approximation.
func (g *Graph) Gelu(x *Tensor, approximate bool, opts ...Option) *Tensor {
	return g.unary(tfl.OpGelu, x, opts, &tfl.GeluOptions{Approximate: approximate}, nil)
}

// Softmax normalises the last axis: softmax(beta·x), beta 1 unless set with Beta.
func (g *Graph) Softmax(x *Tensor, opts ...Option) *Tensor {
	cfg := &opConfig{beta: 1}
	for _, o := range opts {
		o(cfg)
	}
	return g.unary(tfl.OpSoftmax, x, opts, &tfl.SoftmaxOptions{Beta: cfg.beta}, &quantUnitInterval)
}

// L2Normalize divides x by its L2 norm over the last axis.
func (g *Graph) L2Normalize(x *Tensor, opts ...Option) *Tensor {
	cfg := &opConfig{}
	for _, o := range opts {
		o(cfg)
	}
	return g.unary(tfl.OpL2Normalization, x, opts, &tfl.L2NormOptions{Activation: cfg.act}, &quantSymmetric)
}

// Reshape gives x a new shape with the same elements; one entry may be -1 (inferred).
func (g *Graph) Reshape(x *Tensor, shape []int, opts ...Option) *Tensor {
	const op = tfl.OpReshape
	cfg, ok := g.begin(op, []*Tensor{x}, opts)
	if !ok || !g.need(op, cfg, []string{"x"}, x) {
		return nil
	}
	out := append([]int(nil), shape...)
	infer, known := -1, 1
	for i, d := range shape {
		switch {
		case d == -1 && infer >= 0:
			return g.opError(op, cfg, "shape %v has more than one -1", shape)
		case d == -1:
			infer = i
		case d < 0:
			return g.opError(op, cfg, "bad dimension %d in shape %v", d, shape)
		default:
			known *= d
		}
	}
	n := numElements(x.shape)
	switch {
	case n == Dynamic && infer < 0:
		return g.opError(op, cfg, "input %s has a dynamic dimension: the new shape %v needs a -1 for it", x, shape)
	case n == Dynamic:
		out[infer] = Dynamic
	case infer >= 0:
		if known == 0 || n%known != 0 {
			return g.opError(op, cfg, "cannot reshape %s (%d elements) to %v", x, n, shape)
		}
		out[infer] = n / known
	case known != n:
		return g.opError(op, cfg, "cannot reshape %s (%d elements) to %v (%d elements)", x, n, shape, known)
	}
	s32 := make([]int32, len(shape))
	for i, d := range shape {
		s32[i] = int32(d)
	}
	shapeT := g.ConstInt32(cfgName(cfg, op)+"/shape", s32, len(s32))
	return g.emit(op, cfg, &tfl.ReshapeOptions{NewShape: s32}, []*Tensor{x, shapeT}, x.dtype, out, x.quant)
}

// Transpose permutes the axes of x: output axis i is input axis perm[i].
func (g *Graph) Transpose(x *Tensor, perm []int, opts ...Option) *Tensor {
	const op = tfl.OpTranspose
	cfg, ok := g.begin(op, []*Tensor{x}, opts)
	if !ok || !g.need(op, cfg, []string{"x"}, x) {
		return nil
	}
	if len(perm) != x.Rank() {
		return g.opError(op, cfg, "permutation %v for input %s of rank %d", perm, x, x.Rank())
	}
	seen := make([]bool, len(perm))
	shape := make([]int, len(perm))
	p32 := make([]int32, len(perm))
	for i, p := range perm {
		if p < 0 || p >= len(perm) || seen[p] {
			return g.opError(op, cfg, "%v is not a permutation of 0..%d", perm, len(perm)-1)
		}
		seen[p], shape[i], p32[i] = true, x.shape[p], int32(p)
	}
	permT := g.ConstInt32(cfgName(cfg, op)+"/perm", p32, len(p32))
	return g.emit(op, cfg, &tfl.TransposeOptions{}, []*Tensor{x, permT}, x.dtype, shape, x.quant)
}

// Concat joins tensors along axis; the other dimensions must agree.
func (g *Graph) Concat(xs []*Tensor, axis int, opts ...Option) *Tensor {
	const op = tfl.OpConcatenation
	cfg, ok := g.begin(op, xs, opts)
	if !ok {
		return nil
	}
	if len(xs) == 0 {
		return g.opError(op, cfg, "no inputs")
	}
	for i, x := range xs {
		if x == nil {
			return g.opError(op, cfg, "input %d is nil", i)
		}
	}
	if !g.sameType(op, cfg, xs...) {
		return nil
	}
	ax, err := normAxis(axis, xs[0].Rank())
	if err != nil {
		return g.opError(op, cfg, "%v", err)
	}
	shape := xs[0].Shape()
	for _, x := range xs[1:] {
		if x.Rank() != len(shape) {
			return g.opError(op, cfg, "inputs %s and %s differ in rank", xs[0], x)
		}
		for i, d := range x.shape {
			if i == ax {
				if shape[i] == Dynamic || d == Dynamic {
					shape[i] = Dynamic
				} else {
					shape[i] += d
				}
			} else if !sameDim(shape[i], d) {
				return g.opError(op, cfg, "inputs %s and %s differ in dimension %d", xs[0], x, i)
			}
		}
	}
	o := &tfl.ConcatenationOptions{Axis: int32(ax), Activation: cfg.act}
	return g.emit(op, cfg, o, append([]*Tensor(nil), xs...), xs[0].dtype, shape, xs[0].quant)
}

// Gather takes slices of params along axis at the given int32 indices:
// output shape = params[:axis] + indices + params[axis+1:]. An embedding lookup is
// Gather(table, ids, 0).
func (g *Graph) Gather(params, indices *Tensor, axis int, opts ...Option) *Tensor {
	const op = tfl.OpGather
	cfg, ok := g.begin(op, []*Tensor{params, indices}, opts)
	if !ok || !g.need(op, cfg, []string{"params", "indices"}, params, indices) {
		return nil
	}
	if indices.dtype != Int32 && indices.dtype != Int64 {
		return g.opError(op, cfg, "indices %s must be INT32 or INT64", indices)
	}
	if params.dtype == Float16 {
		return g.opError(op, cfg, "params %s: dequantize float16 constants first", params)
	}
	ax, err := normAxis(axis, params.Rank())
	if err != nil {
		return g.opError(op, cfg, "%v", err)
	}
	shape := append(append(append([]int(nil), params.shape[:ax]...), indices.shape...), params.shape[ax+1:]...)
	return g.emit(op, cfg, &tfl.GatherOptions{Axis: int32(ax)}, []*Tensor{params, indices}, params.dtype, shape, params.quant)
}

// SliceMasks are STRIDED_SLICE's bit masks: bit i of Begin/End ignores begin[i]/end[i] (takes
// the whole range), bit i of ShrinkAxis drops dimension i (taking the single index begin[i]).
type SliceMasks struct {
	Begin, End, ShrinkAxis int
}

// StridedSlice takes x[begin:end:strides] per dimension, with TensorFlow's semantics
// (negative indices count from the end; masks as in SliceMasks).
func (g *Graph) StridedSlice(x *Tensor, begin, end, strides []int, m SliceMasks, opts ...Option) *Tensor {
	const op = tfl.OpStridedSlice
	cfg, ok := g.begin(op, []*Tensor{x}, opts)
	if !ok || !g.need(op, cfg, []string{"x"}, x) {
		return nil
	}
	r := x.Rank()
	if len(begin) != r || len(end) != r || len(strides) != r {
		return g.opError(op, cfg, "begin %v, end %v and strides %v must each have %d entries for %s", begin, end, strides, r, x)
	}
	var shape []int
	for i := 0; i < r; i++ {
		s := strides[i]
		if s == 0 {
			return g.opError(op, cfg, "stride %d is zero", i)
		}
		shrink := m.ShrinkAxis&(1<<i) != 0
		d := x.shape[i]
		if d == Dynamic {
			if !shrink {
				shape = append(shape, Dynamic)
			}
			continue
		}
		if shrink {
			b := begin[i]
			if b < 0 {
				b += d
			}
			if b < 0 || b >= d {
				return g.opError(op, cfg, "index %d out of range for dimension %d of %s", begin[i], i, x)
			}
			continue
		}
		shape = append(shape, sliceLen(d, begin[i], end[i], s, m.Begin&(1<<i) != 0, m.End&(1<<i) != 0))
	}
	b32, e32, s32 := toInt32(begin), toInt32(end), toInt32(strides)
	name := cfgName(cfg, op)
	bt := g.ConstInt32(name+"/begin", b32, r)
	et := g.ConstInt32(name+"/end", e32, r)
	st := g.ConstInt32(name+"/strides", s32, r)
	o := &tfl.StridedSliceOptions{BeginMask: int32(m.Begin), EndMask: int32(m.End), ShrinkAxisMask: int32(m.ShrinkAxis)}
	return g.emit(op, cfg, o, []*Tensor{x, bt, et, st}, x.dtype, shape, x.quant)
}

// sliceLen is the length of d[begin:end:stride] with TensorFlow's clamping.
func sliceLen(d, begin, end, stride int, fullBegin, fullEnd bool) int {
	clamp := func(v, lo, hi int) int { return min(max(v, lo), hi) }
	var b, e int
	if stride > 0 {
		b, e = 0, d
		if !fullBegin {
			if begin < 0 {
				begin += d
			}
			b = clamp(begin, 0, d)
		}
		if !fullEnd {
			if end < 0 {
				end += d
			}
			e = clamp(end, 0, d)
		}
		if e <= b {
			return 0
		}
		return (e - b + stride - 1) / stride
	}
	b, e = d-1, -1
	if !fullBegin {
		if begin < 0 {
			begin += d
		}
		b = clamp(begin, -1, d-1)
	}
	if !fullEnd {
		if end < 0 {
			end += d
		}
		e = clamp(end, -1, d-1)
	}
	if b <= e {
		return 0
	}
	return (b - e - stride - 1) / -stride
}

func toInt32(v []int) []int32 {
	out := make([]int32, len(v))
	for i, x := range v {
		out[i] = int32(x)
	}
	return out
}

// DynamicUpdateSlice writes update into operand at the int32 start indices (one per axis) and
// returns the result, e.g. a new key/value row into a cache.
func (g *Graph) DynamicUpdateSlice(operand, update, start *Tensor, opts ...Option) *Tensor {
	const op = tfl.OpDynamicUpdateSlice
	cfg, ok := g.begin(op, []*Tensor{operand, update, start}, opts)
	if !ok || !g.need(op, cfg, []string{"operand", "update", "start indices"}, operand, update, start) || !g.sameType(op, cfg, operand, update) {
		return nil
	}
	if update.Rank() != operand.Rank() {
		return g.opError(op, cfg, "update %s and operand %s differ in rank", update, operand)
	}
	for i, d := range update.shape {
		if d != Dynamic && operand.shape[i] != Dynamic && d > operand.shape[i] {
			return g.opError(op, cfg, "update %s is larger than operand %s in dimension %d", update, operand, i)
		}
	}
	if start.dtype != Int32 || start.Rank() != 1 || start.shape[0] != operand.Rank() {
		return g.opError(op, cfg, "start indices %s must be INT32 [%d]", start, operand.Rank())
	}
	return g.emit(op, cfg, &tfl.DynamicUpdateSliceOptions{}, []*Tensor{operand, update, start}, operand.dtype, operand.Shape(), operand.quant)
}

// ArgMax returns the index of the largest value along axis (the axis is removed), as INT32 or
// INT64.
func (g *Graph) ArgMax(x *Tensor, axis int, outType DType, opts ...Option) *Tensor {
	const op = tfl.OpArgMax
	cfg, ok := g.begin(op, []*Tensor{x}, opts)
	if !ok || !g.need(op, cfg, []string{"x"}, x) || !g.sameType(op, cfg, x) {
		return nil
	}
	if outType != Int32 && outType != Int64 {
		return g.opError(op, cfg, "output type %v, want INT32 or INT64", outType)
	}
	ax, err := normAxis(axis, x.Rank())
	if err != nil {
		return g.opError(op, cfg, "%v", err)
	}
	shape := append(append([]int(nil), x.shape[:ax]...), x.shape[ax+1:]...)
	axT := g.ConstInt32(cfgName(cfg, op)+"/axis", []int32{int32(ax)}, 1)
	return g.emit(op, cfg, &tfl.ArgMaxOptions{OutputType: outType}, []*Tensor{x, axT}, outType, shape, nil)
}

// Dequantize converts an int8/uint8/int16 or float16 tensor to float32.
func (g *Graph) Dequantize(x *Tensor, opts ...Option) *Tensor {
	const op = tfl.OpDequantize
	cfg, ok := g.begin(op, []*Tensor{x}, opts)
	if !ok || !g.need(op, cfg, []string{"x"}, x) {
		return nil
	}
	if x.dtype != Float16 && !(isQuantizedType(x.dtype) && x.quant != nil) {
		return g.opError(op, cfg, "input %s must be FLOAT16 or quantized", x)
	}
	return g.emit(op, cfg, &tfl.DequantizeOptions{}, []*Tensor{x}, Float32, x.Shape(), nil)
}

// Quantize converts a float32 tensor to dtype (int8, uint8 or int16) with parameters q, or
// requantizes a quantized tensor to new parameters.
func (g *Graph) Quantize(x *Tensor, dtype DType, q Quant, opts ...Option) *Tensor {
	const op = tfl.OpQuantize
	cfg, ok := g.begin(op, []*Tensor{x}, opts)
	if !ok || !g.need(op, cfg, []string{"x"}, x) {
		return nil
	}
	if !isFloat(x) && !(isQuantizedType(x.dtype) && x.quant != nil) {
		return g.opError(op, cfg, "input %s must be FLOAT32 or quantized", x)
	}
	if !isQuantizedType(dtype) {
		return g.opError(op, cfg, "output type %v, want INT8, UINT8 or INT16", dtype)
	}
	cfg.quant = &q
	return g.emit(op, cfg, &tfl.QuantizeOptions{}, []*Tensor{x}, dtype, x.Shape(), nil)
}

// Cast converts the element type (e.g. INT32 token ids to FLOAT32, INT64 to INT32).
func (g *Graph) Cast(x *Tensor, to DType, opts ...Option) *Tensor {
	const op = tfl.OpCast
	cfg, ok := g.begin(op, []*Tensor{x}, opts)
	if !ok || !g.need(op, cfg, []string{"x"}, x) {
		return nil
	}
	switch to {
	case Float32, Int32, Int64, Int16, Uint8, Int8, Bool:
	default:
		return g.opError(op, cfg, "cannot cast to %v", to)
	}
	if isQuantizedType(to) {
		// CAST converts values, it does not quantize: the output carries no parameters.
		cfg.quant = nil
	}
	return g.emitCast(op, cfg, x, to)
}

func (g *Graph) emitCast(op tfl.BuiltinOp, cfg *opConfig, x *Tensor, to DType) *Tensor {
	name := cfgName(cfg, op)
	out := g.newTensor(name, to, x.shape, kindActivation)
	g.nodes = append(g.nodes, &node{op: op, inputs: []*Tensor{x}, outputs: []*Tensor{out}, opts: &tfl.CastOptions{In: x.dtype, Out: to}})
	return out
}
