package graph

import (
	"fmt"
	"math"

	"github.com/edged/edged/internal/graph/tfl"
	"github.com/edged/edged/quant"
)

// int8Kernels are the operators lowered to int8 at Int8Full: TFLite 2.9 has int8 kernels for
// all of them (DIV, DYNAMIC_UPDATE_SLICE and CAST stay float).
var int8Kernels = map[tfl.BuiltinOp]bool{
	tfl.OpFullyConnected: true, tfl.OpConv2D: true, tfl.OpBatchMatMul: true,
	tfl.OpAdd: true, tfl.OpSub: true, tfl.OpMul: true, tfl.OpSquaredDifference: true,
	tfl.OpMean: true, tfl.OpRsqrt: true, tfl.OpSoftmax: true, tfl.OpLogistic: true, tfl.OpTanh: true,
	tfl.OpGelu: true, tfl.OpL2Normalization: true, tfl.OpReshape: true, tfl.OpTranspose: true,
	tfl.OpConcatenation: true, tfl.OpGather: true, tfl.OpStridedSlice: true, tfl.OpArgMax: true,
}

// fixedParams are output parameters TFLite's int8 kernels require.
func fixedParams(op tfl.BuiltinOp) (quant.Params, bool) {
	switch op {
	case tfl.OpSoftmax, tfl.OpLogistic:
		return quant.Params{Scale: 1.0 / 256, ZeroPoint: -128, QMin: -128, QMax: 127}, true
	case tfl.OpTanh, tfl.OpL2Normalization:
		return quant.Params{Scale: 1.0 / 128, ZeroPoint: 0, QMin: -128, QMax: 127}, true
	}
	return quant.Params{}, false
}

// inheritsParams reports whether the op only moves values, so its output keeps the parameters
// of the given input (requantizing would only lose precision).
func inheritsParams(op tfl.BuiltinOp) (slot int, ok bool) {
	switch op {
	case tfl.OpReshape, tfl.OpTranspose, tfl.OpStridedSlice, tfl.OpGather:
		return 0, true
	}
	return 0, false
}

// int8Body lowers at Int8Full: each operator with an int8 kernel reads int8 views of its inputs
// (QUANTIZE inserted where a value is float) and writes int8; the others read float views
// (DEQUANTIZE inserted where a value is int8). Graph inputs and outputs stay as declared.
func (l *lowering) int8Body() error {
	g := l.g
	for _, t := range g.inputs {
		l.index[t] = l.add(t.name, t.dtype, t.shape, nil, quantization(t.quant, t.shape))
	}
	outputs := map[*Tensor]bool{}
	for _, o := range g.outputs {
		outputs[o.t] = true
	}
	for _, n := range g.nodes {
		var err error
		if l.wantInt8(n) {
			err = l.int8Node(n, outputs[n.outputs[0]])
		} else {
			err = l.floatNode(n)
		}
		if err != nil {
			return fmt.Errorf("%v %q: %w", n.op, n.outputs[0].name, err)
		}
	}
	for _, o := range g.outputs {
		if _, err := l.floatView(o.t, o.t.name); err != nil {
			return fmt.Errorf("output %q: %w", o.name, err)
		}
	}
	l.sg.Operators = l.ops
	return nil
}

// wantInt8 decides whether n runs on int8.
func (l *lowering) wantInt8(n *node) bool {
	out := n.outputs[0]
	if !int8Kernels[n.op] || (l.opts.KeepFloat != nil && l.opts.KeepFloat(out.name, n.op)) {
		return false
	}
	if out.dtype != Float32 && n.op != tfl.OpArgMax {
		return false
	}
	switch n.op {
	case tfl.OpFullyConnected, tfl.OpConv2D:
		// Weights must be float constants to be quantized here.
		return n.inputs[0].dtype == Float32 && n.inputs[1].kind == kindConst && n.inputs[1].dtype == Float32
	case tfl.OpGather, tfl.OpArgMax:
		return n.inputs[0].dtype == Float32
	}
	for _, t := range n.inputs {
		if t != nil && t.dtype != Float32 && t.dtype != Int32 {
			return false
		}
	}
	return n.inputs[0].dtype == Float32
}

func (l *lowering) int8Node(n *node, isOutput bool) error {
	op := tfl.Operator{OpcodeIndex: l.code(n.op), Options: n.opts}
	op.Inputs = make([]int32, len(n.inputs))
	// Activations first: the parameters of constants may depend on them (ADD/SUB) and a bias
	// depends on the input and weight scales.
	for pass := 0; pass < 2; pass++ {
		for i, t := range n.inputs {
			if t == nil {
				op.Inputs[i] = -1
				continue
			}
			isConst := t.kind == kindConst
			if (pass == 0) == isConst {
				continue
			}
			idx, err := l.int8Input(n, i, t)
			if err != nil {
				return err
			}
			op.Inputs[i] = idx
		}
	}
	if fc, ok := n.opts.(*tfl.FullyConnectedOptions); ok {
		c := *fc
		c.AsymmetricQuantizeInputs = false
		op.Options = &c
	}
	out := n.outputs[0]
	name := out.name
	if isOutput {
		name = l.unique(out.name + "/int8") // the float output keeps the name
	}
	if n.op == tfl.OpArgMax {
		l.index[out] = l.add(out.name, out.dtype, out.shape, nil, nil)
		op.Outputs = []int32{l.index[out]}
		l.ops = append(l.ops, op)
		return nil
	}
	p, ok := fixedParams(n.op)
	if n.op == tfl.OpConcatenation {
		p, ok = l.concatParams[n], true
	}
	if slot, inherit := inheritsParams(n.op); inherit {
		p, ok = l.qp[n.inputs[slot]], true
	}
	if !ok {
		var err error
		if p, err = l.rangeParams(out); err != nil {
			return err
		}
	}
	idx := l.add(name, Int8, out.shape, nil, perTensorQuant(p))
	l.q[out], l.qp[out] = idx, p
	op.Outputs = []int32{idx}
	l.ops = append(l.ops, op)
	return nil
}

// int8Input returns the tensor slot i of int8 operator n reads.
func (l *lowering) int8Input(n *node, i int, t *Tensor) (int32, error) {
	switch {
	case (n.op == tfl.OpFullyConnected || n.op == tfl.OpConv2D) && i == 2:
		w := n.inputs[1]
		ws := l.sg.Tensors[l.weightIndex(n.op, w)].Quantization.Scale
		return l.int32Bias(n, t, l.qp[n.inputs[0]].Scale, ws)
	case n.op == tfl.OpFullyConnected && i == 1:
		idx, _, err := l.perTensorWeight(t)
		return idx, err
	case n.op == tfl.OpConv2D && i == 1:
		idx, _, err := l.perChannelWeight(t)
		return idx, err
	case t.dtype != Float32:
		return l.plain(t) // shapes, axes, indices
	case n.op == tfl.OpConcatenation:
		return l.concatInput(n, t)
	case t.kind == kindConst && (n.op == tfl.OpAdd || n.op == tfl.OpSub):
		// A constant added to an activation shares a range with it: quantized on its own, a
		// tiny constant (a layer norm's epsilon) gets a scale thousands of times smaller than
		// the other input's, which XNNPACK's int8 ADD rejects and which buys nothing.
		other := n.inputs[1-i]
		if other.kind == kindConst {
			return l.affineConst(t, nil)
		}
		p := l.qp[other]
		return l.affineConst(t, &p)
	case t.kind == kindConst:
		return l.affineConst(t, nil)
	}
	return l.int8View(t)
}

// weightIndex returns the already emitted int8 weight of an int8 FULLY_CONNECTED or CONV_2D.
func (l *lowering) weightIndex(op tfl.BuiltinOp, w *Tensor) int32 {
	if op == tfl.OpConv2D {
		return l.chw[w]
	}
	return l.int8[w]
}

// floatNode emits n on float views of its inputs. A FULLY_CONNECTED or CONV_2D weight becomes
// a hybrid int8 weight, as at Int8Dynamic, so float islands do not bring back float32 weights.
func (l *lowering) floatNode(n *node) error {
	op := tfl.Operator{OpcodeIndex: l.code(n.op), Options: n.opts}
	for i, t := range n.inputs {
		var idx int32
		var err error
		u := use{n, i}
		switch {
		case t == nil:
			idx = -1
		case t.kind == kindConst && t.dtype == Float32 && u.isHybridUse() && n.op == tfl.OpFullyConnected:
			idx, _, err = l.perTensorWeight(t)
			if fc, ok := n.opts.(*tfl.FullyConnectedOptions); ok {
				c := *fc
				c.AsymmetricQuantizeInputs = true
				op.Options = &c
			}
		case t.kind == kindConst && t.dtype == Float32 && u.isHybridUse():
			idx, _, err = l.perChannelWeight(t)
		case t.kind == kindConst:
			idx, err = l.plain(t)
		default:
			idx, err = l.floatView(t, "")
		}
		if err != nil {
			return err
		}
		op.Inputs = append(op.Inputs, idx)
	}
	for _, out := range n.outputs {
		l.index[out] = l.add(out.name, out.dtype, out.shape, nil, quantization(out.quant, out.shape))
		op.Outputs = append(op.Outputs, l.index[out])
	}
	l.ops = append(l.ops, op)
	return nil
}

// concatInput returns an input of an int8 CONCATENATION with the output's parameters: TFLite
// 2.9's kernel requires every input to share them, so inputs are quantized (or requantized)
// to the output's calibrated range.
func (l *lowering) concatInput(n *node, t *Tensor) (int32, error) {
	p, ok := l.concatParams[n]
	if !ok {
		var err error
		if p, err = l.rangeParams(n.outputs[0]); err != nil {
			return 0, err
		}
		l.concatParams[n] = p
	}
	var src int32
	var err error
	if _, isInt8 := l.q[t]; isInt8 || t.kind == kindConst {
		if t.kind == kindConst {
			src, err = l.affineConst(t, nil)
		} else {
			src = l.q[t]
		}
		if err != nil {
			return 0, err
		}
		if l.qp[t].Scale == p.Scale && l.qp[t].ZeroPoint == p.ZeroPoint {
			return src, nil
		}
	} else if src, ok = l.index[t]; !ok {
		return 0, fmt.Errorf("tensor %q is used before it is computed", t.name)
	}
	idx := l.add(l.unique(t.name+"/requantized"), Int8, t.shape, nil, perTensorQuant(p))
	l.ops = append(l.ops, tfl.Operator{OpcodeIndex: l.code(tfl.OpQuantize), Inputs: []int32{src}, Outputs: []int32{idx}, Options: &tfl.QuantizeOptions{}})
	return idx, nil
}

// plain emits a constant or input as built (once).
func (l *lowering) plain(t *Tensor) (int32, error) {
	if idx, ok := l.index[t]; ok {
		return idx, nil
	}
	if t.kind != kindConst {
		return 0, fmt.Errorf("tensor %q is used before it is computed", t.name)
	}
	data, err := encode(t.data)
	if err != nil {
		return 0, fmt.Errorf("constant %q: %w", t.name, err)
	}
	l.index[t] = l.add(t.name, t.dtype, t.shape, data, quantization(t.quant, t.shape))
	return l.index[t], nil
}

// int8View returns the int8 version of an activation, quantizing it with its calibrated range
// if it was computed in float.
func (l *lowering) int8View(t *Tensor) (int32, error) {
	if idx, ok := l.q[t]; ok {
		return idx, nil
	}
	src, ok := l.index[t]
	if !ok {
		return 0, fmt.Errorf("tensor %q is used before it is computed", t.name)
	}
	if t.dtype != Float32 {
		return 0, fmt.Errorf("tensor %q is %v, not float32", t.name, t.dtype)
	}
	p, err := l.rangeParams(t)
	if err != nil {
		return 0, err
	}
	idx := l.add(l.unique(t.name+"/quantized"), Int8, t.shape, nil, perTensorQuant(p))
	l.ops = append(l.ops, tfl.Operator{OpcodeIndex: l.code(tfl.OpQuantize), Inputs: []int32{src}, Outputs: []int32{idx}, Options: &tfl.QuantizeOptions{}})
	l.q[t], l.qp[t] = idx, p
	return idx, nil
}

// floatView returns the float version of a value, dequantizing its int8 version if needed.
// name names the new tensor ("" for a default).
func (l *lowering) floatView(t *Tensor, name string) (int32, error) {
	if idx, ok := l.index[t]; ok {
		return idx, nil
	}
	src, ok := l.q[t]
	if !ok {
		return 0, fmt.Errorf("tensor %q is used before it is computed", t.name)
	}
	if name == "" {
		name = l.unique(t.name + "/dequantized")
	}
	idx := l.add(name, Float32, t.shape, nil, nil)
	l.ops = append(l.ops, tfl.Operator{OpcodeIndex: l.code(tfl.OpDequantize), Inputs: []int32{src}, Outputs: []int32{idx}, Options: &tfl.DequantizeOptions{}})
	l.index[t] = idx
	return idx, nil
}

// rangeParams returns int8 parameters for an activation from its calibrated range.
func (l *lowering) rangeParams(t *Tensor) (quant.Params, error) {
	r, ok := l.opts.Ranges[t.name]
	if !ok {
		return quant.Params{}, fmt.Errorf("no calibration range for tensor %q (LowerOptions.Ranges)", t.name)
	}
	p, err := quant.Int8Params(r.Min, r.Max)
	if err != nil {
		return quant.Params{}, fmt.Errorf("tensor %q: %w", t.name, err)
	}
	return p, nil
}

// perTensorWeight returns a FULLY_CONNECTED weight as symmetric per-tensor int8 (shared by the
// int8 and the hybrid kernel) and its scale.
func (l *lowering) perTensorWeight(t *Tensor) (int32, []float32, error) {
	if idx, ok := l.int8[t]; ok {
		return idx, l.sg.Tensors[idx].Quantization.Scale, nil
	}
	v, scale, err := quant.SymmetricPerTensor(t.data.([]float32))
	if err != nil {
		return 0, nil, fmt.Errorf("weight %q to int8: %w", t.name, err)
	}
	idx := l.add(t.name, Int8, t.shape, int8Bytes(v), &tfl.Quantization{Scale: []float32{scale}, ZeroPoint: []int64{0}})
	l.int8[t] = idx
	return idx, []float32{scale}, nil
}

// perChannelWeight returns a CONV_2D filter as symmetric int8 per output channel.
func (l *lowering) perChannelWeight(t *Tensor) (int32, []float32, error) {
	if idx, ok := l.chw[t]; ok {
		return idx, l.sg.Tensors[idx].Quantization.Scale, nil
	}
	cw, err := quant.SymmetricPerChannel(t.data.([]float32), t.shape, 0)
	if err != nil {
		return 0, nil, fmt.Errorf("weight %q to int8: %w", t.name, err)
	}
	q := &tfl.Quantization{Scale: cw.Scales, ZeroPoint: make([]int64, len(cw.Scales))}
	idx := l.add(t.name, Int8, t.shape, int8Bytes(cw.Values), q)
	l.chw[t] = idx
	return idx, cw.Scales, nil
}

// int32Bias quantizes the bias of an int8 FULLY_CONNECTED or CONV_2D with scale
// input_scale·weight_scale (per output channel when the weights are per channel).
func (l *lowering) int32Bias(n *node, t *Tensor, inScale float32, weightScales []float32) (int32, error) {
	if idx, ok := l.bias[n]; ok {
		return idx, nil
	}
	if t.kind != kindConst || t.dtype != Float32 {
		return 0, fmt.Errorf("bias %q must be a float32 constant", t.name)
	}
	v, scales, err := quant.Bias(t.data.([]float32), inScale, weightScales)
	if err != nil {
		return 0, fmt.Errorf("bias %q: %w", t.name, err)
	}
	q := &tfl.Quantization{Scale: scales, ZeroPoint: make([]int64, len(scales))}
	if len(weightScales) == 1 {
		q = &tfl.Quantization{Scale: scales[:1], ZeroPoint: []int64{0}}
	}
	data, _ := encode(v)
	idx := l.add(l.unique(t.name+"/int32"), Int32, t.shape, append([]byte(nil), data...), q)
	l.bias[n] = idx
	return idx, nil
}

// affineConst quantizes any other float constant (a gain, a scalar, an embedding table) to
// int8 with parameters covering its own values, and those of with when given.
func (l *lowering) affineConst(t *Tensor, with *quant.Params) (int32, error) {
	key := affineKey{t: t}
	if with != nil {
		key.scale, key.zero = with.Scale, with.ZeroPoint
	}
	if idx, ok := l.aff[key]; ok {
		return idx, nil
	}
	values := t.data.([]float32)
	lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
	for _, v := range values {
		lo, hi = min(lo, v), max(hi, v)
	}
	if with != nil {
		lo = min(lo, with.Dequantize(with.QMin))
		hi = max(hi, with.Dequantize(with.QMax))
	}
	p, err := quant.Int8Params(lo, hi)
	if err != nil {
		return 0, fmt.Errorf("constant %q: %w", t.name, err)
	}
	v, err := p.QuantizeInt8(values)
	if err != nil {
		return 0, fmt.Errorf("constant %q: %w", t.name, err)
	}
	idx := l.add(l.unique(t.name+"/int8"), Int8, t.shape, int8Bytes(v), perTensorQuant(p))
	l.aff[key] = idx
	if with == nil {
		l.q[t], l.qp[t] = idx, p
	} else if _, ok := l.q[t]; !ok {
		l.q[t], l.qp[t] = idx, p
	}
	return idx, nil
}

// affineKey identifies an int8 copy of a constant: its own range, or shared with parameters.
type affineKey struct {
	t     *Tensor
	scale float32
	zero  int32
}

func perTensorQuant(p quant.Params) *tfl.Quantization {
	return &tfl.Quantization{Scale: []float32{p.Scale}, ZeroPoint: []int64{int64(p.ZeroPoint)}}
}
