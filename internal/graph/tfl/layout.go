package tfl

// The order of the buffers' data in a written file. A delegate (XNNPACK, edged's kernels)
// copies the weights of the operators it takes into memory of its own when the interpreter is
// built, and runtime.Model.DropFilePages then takes the file's pages out of the process; what
// TFLite's own kernels read at every Invoke afterwards (shapes, permutations, the constants of
// elementwise operators) is faulted back in from the page cache. Linux maps a whole page-cache
// folio at a fault, up to 2 MiB on ext4 with large folios, so a small constant written between
// two weight matrices brought megabytes of weights back into the process (BENCHMARKS.md,
// "Memory and the hot path"). Laid out apart, those faults stay among the constants.

const (
	// weightsRegionAlign starts the weights on a page boundary of their own.
	weightsRegionAlign = 4096
	// weightAlign is the alignment of each weight's data: a cache line, for kernels that read a
	// weight in place (the rows of an embedding table).
	weightAlign = 64
)

// weightInputs names, for the operators whose constant inputs a delegate packs at load or reads
// only in part, which inputs those are: the filter of a matrix product or convolution, the
// input of a DEQUANTIZE (a constant's is converted once, at load), and the table of a GATHER
// (its rows are read one at a time, never the whole of it). Not the bias: edged's weight-only
// kernel reads it at every Invoke, and a bias beside its weight matrix brought the whole
// decoder step file back at each token.
var weightInputs = map[BuiltinOp][]int{
	OpFullyConnected:  {1},
	OpConv2D:          {1},
	opDepthwiseConv2D: {1},
	opTransposeConv:   {1},
	OpDequantize:      {0},
	OpGather:          {0},
}

const (
	opDepthwiseConv2D BuiltinOp = 4
	opTransposeConv   BuiltinOp = 67
)

// dataLayout splits the non-empty buffers into weights (every tensor on them is read only as
// one of weightInputs, and by at least one operator) and the constants read at run time (every
// other buffer, including those of metadata), each list in buffer order. The file holds the
// run-time constants first, after the tables, and the weights after them.
func dataLayout(m *Model) (weights, constants []int) {
	const (
		unread = iota
		weight
		readAtRunTime
	)
	use := make([]int, len(m.Buffers))
	mark := func(buf uint32, u int) {
		if buf != 0 && int(buf) < len(use) && use[buf] != readAtRunTime {
			use[buf] = u
		}
	}
	for si := range m.Subgraphs {
		sg := &m.Subgraphs[si]
		for _, op := range sg.Operators {
			code := m.OperatorCodes[op.OpcodeIndex].Builtin
			for k, in := range op.Inputs {
				if in < 0 {
					continue
				}
				u := readAtRunTime
				for _, wk := range weightInputs[code] {
					if k == wk {
						u = weight
					}
				}
				mark(sg.Tensors[in].Buffer, u)
			}
		}
		// A constant that is a subgraph's output, or that no operator reads, is read by the
		// caller or not at all: with the constants, where it costs nothing.
		for _, out := range sg.Outputs {
			mark(sg.Tensors[out].Buffer, readAtRunTime)
		}
	}
	for _, md := range m.Metadata {
		mark(md.Buffer, readAtRunTime)
	}
	for i, b := range m.Buffers {
		switch {
		case len(b.Data) == 0:
		case use[i] == weight:
			weights = append(weights, i)
		default:
			constants = append(constants, i)
		}
	}
	return weights, constants
}
