package graph

import "github.com/edged/edged/internal/graph/tfl"

// opVersion returns the kernel version an operator needs: the highest version among the
// features it uses, following TFLite's op_version.cc for the types and options edged writes.
// The runtime refuses a model whose operator code asks for a version it does not register, so
// asking for the least that works keeps models loadable by older runtimes (2.9 here).
func opVersion(op tfl.BuiltinOp, sg *tfl.Subgraph, o tfl.Operator) int32 {
	typ := func(i int) DType {
		if i < len(o.Inputs) && o.Inputs[i] >= 0 {
			return sg.Tensors[o.Inputs[i]].Type
		}
		return -1
	}
	rank := func(i int) int {
		if i < len(o.Inputs) && o.Inputs[i] >= 0 {
			return len(sg.Tensors[o.Inputs[i]].Shape)
		}
		return 0
	}
	outType := sg.Tensors[o.Outputs[0]].Type
	perChannel := func(i int) bool {
		if i < len(o.Inputs) && o.Inputs[i] >= 0 {
			q := sg.Tensors[o.Inputs[i]].Quantization
			return q != nil && len(q.Scale) > 1
		}
		return false
	}
	broadcast5D := func() bool {
		return rank(0) != rank(1) && max(rank(0), rank(1)) > 4 ||
			rank(0) > 4 && !sameShape(sg.Tensors[o.Inputs[0]].Shape, sg.Tensors[o.Inputs[1]].Shape)
	}
	v := int32(1)
	need := func(cond bool, version int32) {
		if cond && version > v {
			v = version
		}
	}
	x := typ(0)
	switch op {
	case tfl.OpFullyConnected:
		opts, _ := o.Options.(*tfl.FullyConnectedOptions)
		hybrid := x == Float32 && typ(1) == Int8
		need(len(o.Inputs) == 2, 6)
		need(opts != nil && opts.KeepNumDims, 5)
		need(x == Int8 && typ(1) == Int8, 4)
		need(hybrid, 3)
		need(hybrid && opts != nil && opts.AsymmetricQuantizeInputs, 9)
		need(x == Int16, 7)
	case tfl.OpConv2D:
		need(x == Int8 && typ(1) == Int8, 3)
		need(x == Float32 && typ(1) == Int8, 2)
		need(x == Float32 && typ(1) == Int8 && perChannel(1), 5)
	case tfl.OpBatchMatMul:
		opts, _ := o.Options.(*tfl.BatchMatMulOptions)
		need(x == Int8, 2)
		need(x == Int16, 3)
		need(x == Float32 && typ(1) == Int8 && opts != nil && opts.AsymmetricQuantizeInputs, 4)
	case tfl.OpAdd:
		need(x == Int8, 2)
		need(x == Int64, 4)
	case tfl.OpSub:
		need(x == Int8, 2)
		need(broadcast5D(), 3)
		need(x == Int64, 4)
	case tfl.OpMul:
		need(x == Int8, 2)
		if x == Int8 && outType == Int8 {
			in1, in2, out := scaleOf(sg, o.Inputs[0]), scaleOf(sg, o.Inputs[1]), scaleOf(sg, o.Outputs[0])
			need(in1 != 0 && in2 != 0 && out != 0 && in1*in2/out >= 1, 3)
		}
		need(x == Int16, 4)
		need(x == Int64, 5)
	case tfl.OpDiv:
		need(broadcast5D(), 2)
	case tfl.OpMean, tfl.OpSoftmax, tfl.OpRsqrt:
		need(x == Int8, 2)
		need(x == Int16, 3)
	case tfl.OpSquaredDifference:
		need(x == Int8, 2)
	case tfl.OpGelu:
		need(x == Int8 || x == Uint8, 2)
	case tfl.OpLogistic, tfl.OpTanh:
		need(x == Int8, 2)
		need(x == Int16 && outType == Int16, 3)
	case tfl.OpTranspose:
		need(x == Int8, 2)
		need(x == Bool, 3)
		need(rank(0) > 4, 4)
	case tfl.OpConcatenation:
		need(x == Int8, 2)
		need(x == Int16, 3)
	case tfl.OpGather:
		opts, _ := o.Options.(*tfl.GatherOptions)
		need(x == Int8, 2)
		need(x == Bool, 3)
		need(x == Int16, 4)
		need(opts != nil && opts.BatchDims != 0, 5)
	case tfl.OpStridedSlice:
		opts, _ := o.Options.(*tfl.StridedSliceOptions)
		need(x == Int8, 2)
		need(x == Bool, 3)
		need(rank(0) > 4, 4)
		need(opts != nil && (opts.EllipsisMask != 0 || opts.NewAxisMask != 0), 6)
	case tfl.OpArgMax:
		need(x == Int8, 2)
		need(x == Bool, 3)
	case tfl.OpL2Normalization:
		need(outType == Int8, 2)
	case tfl.OpDequantize:
		need(x == Int8, 2)
		need(x == Int16 || x == Float16, 3)
		need(x == Int8 && perChannel(0), 5)
	case tfl.OpQuantize:
		need(outType == Int16, 2)
	case tfl.OpCast:
		need(x == Int8 || outType == Int8, 3)
		need(x == tfl.Uint16 || outType == tfl.Uint16, 4)
	}
	return v
}

func scaleOf(sg *tfl.Subgraph, i int32) float32 {
	if q := sg.Tensors[i].Quantization; q != nil && len(q.Scale) == 1 {
		return q.Scale[0]
	}
	return 0
}

func sameShape(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
