// Package graph builds TensorFlow Lite models in Go: a small IR of tensors and TFLite builtin
// operators with shape inference, lowered to the flatbuffer format of package graph/tfl at a
// chosen precision (fp32, fp16 weights, dynamic-range int8 weights, or full int8 from
// calibration ranges). Package graph/nn builds transformer blocks from these operators.
//
// Building reads like the model it describes:
//
//	g := graph.New("clip_vision")
//	x := g.Input("pixel_values", graph.Float32, 1, 224, 224, 3)
//	w := g.Const("proj.weight", data, 512, 768)
//	y := g.FullyConnected(x, w, nil)
//	g.Output("image_embeds", y)
//	model, err := g.Marshal()
//
// Errors are sticky: the first mistake (a shape that does not fit, a tensor from another
// graph) is kept on the graph with the operator and tensor names, every later call is a no-op
// returning nil, and Marshal returns that error. Graph-building code therefore needs no error
// check per line, only one at the end (or Err at any point).
//
// Constants stay float32 in the IR. Their role (a matmul weight, a bias, a parameter) follows
// from the operators that use them, so one graph lowers to every precision (see Precision and
// LowerOptions). Calibration for full int8 lowers the float graph with ObserveAll, runs it on
// sample inputs and feeds every output to a quant.Observer; the ranges go to LowerOptions.Ranges.
//
// Limits of the TFLite 2.9 runtime that the builder and the lowering respect (found by test):
// FULLY_CONNECTED takes per-tensor int8 weights only (with per-channel scales it outputs zeros,
// so the builder refuses them); int8 CONCATENATION needs one set of parameters on all inputs.
package graph

import (
	"errors"
	"fmt"

	"github.com/edged/edged/internal/graph/tfl"
)

// DType is a tensor element type; the values are TFLite's.
type DType = tfl.TensorType

// Element types used by edged graphs.
const (
	Float32 = tfl.Float32
	Float16 = tfl.Float16
	Int32   = tfl.Int32
	Int64   = tfl.Int64
	Int8    = tfl.Int8
	Uint8   = tfl.Uint8
	Int16   = tfl.Int16
	Bool    = tfl.Bool
)

// Dynamic marks a dimension whose size is set at run time (by resizing the input), e.g. the
// token count of a text tower. It is written as -1 in the tensor's shape signature.
const Dynamic = -1

// Quant is the affine quantization of a tensor: real = Scale * (q - ZeroPoint). One scale is
// per-tensor; several are per-channel along Axis.
type Quant struct {
	Scale     []float32
	ZeroPoint []int64
	Axis      int
}

// PerTensor returns per-tensor quantization parameters.
func PerTensor(scale float32, zeroPoint int64) Quant {
	return Quant{Scale: []float32{scale}, ZeroPoint: []int64{zeroPoint}}
}

// Graph is a model under construction. It is not safe for concurrent use.
type Graph struct {
	name        string
	description string
	tensors     []*Tensor
	nodes       []*node
	inputs      []*Tensor
	outputs     []namedTensor
	metadata    []metadataEntry
	names       map[string]bool
	err         error
}

type namedTensor struct {
	name string
	t    *Tensor
}

type metadataEntry struct {
	name string
	data []byte
}

// node is one operator application.
type node struct {
	op      tfl.BuiltinOp
	inputs  []*Tensor // a nil entry is an omitted optional input
	outputs []*Tensor
	opts    tfl.Options
}

type tensorKind int

const (
	kindActivation tensorKind = iota // produced by an operator
	kindInput
	kindConst
)

// Tensor is a value in a graph: a graph input, a constant or an operator's output. Methods on
// a nil *Tensor (what builders return after an error) return zero values.
type Tensor struct {
	g     *Graph
	name  string
	dtype DType
	shape []int // Dynamic (-1) for a run-time dimension
	kind  tensorKind
	data  any // constants: []float32, []int32, []int64, []int8, []uint8, or fp16Data
	quant *Quant
}

// fp16Data is a constant stored as IEEE half-precision bit patterns.
type fp16Data []uint16

// New starts an empty graph; name becomes the subgraph name in the file.
func New(name string) *Graph {
	return &Graph{name: name, description: "edged graph " + name, names: map[string]bool{}}
}

// Err returns the first error met while building, or nil.
func (g *Graph) Err() error { return g.err }

// Name returns the graph's name.
func (g *Graph) Name() string { return g.name }

// SetDescription sets the model description written in the file.
func (g *Graph) SetDescription(s string) { g.description = s }

// SetMetadata attaches a named metadata buffer (e.g. edged's manifest as JSON). Setting the same
// name again replaces the data.
func (g *Graph) SetMetadata(name string, data []byte) {
	if g.err != nil {
		return
	}
	if name == "" {
		g.fail(errors.New("graph: metadata needs a name"))
		return
	}
	for i := range g.metadata {
		if g.metadata[i].name == name {
			g.metadata[i].data = append([]byte(nil), data...)
			return
		}
	}
	g.metadata = append(g.metadata, metadataEntry{name, append([]byte(nil), data...)})
}

// Fail records err as the graph's error unless one is already set. Helpers that build on
// the graph (like package nn) use it so that their checks are sticky too.
func (g *Graph) Fail(err error) {
	if err != nil {
		g.fail(err)
	}
}

// fail records the first error.
func (g *Graph) fail(err error) {
	if g.err == nil {
		g.err = err
	}
}

func (g *Graph) failf(format string, args ...any) { g.fail(fmt.Errorf(format, args...)) }

// uniqueName returns name, or name_2, name_3... if it is taken, so tensor names are unique.
func (g *Graph) uniqueName(name string) string {
	if !g.names[name] {
		g.names[name] = true
		return name
	}
	for i := 2; ; i++ {
		n := fmt.Sprintf("%s_%d", name, i)
		if !g.names[n] {
			g.names[n] = true
			return n
		}
	}
}

func (g *Graph) newTensor(name string, dtype DType, shape []int, kind tensorKind) *Tensor {
	t := &Tensor{g: g, name: g.uniqueName(name), dtype: dtype, shape: append([]int{}, shape...), kind: kind}
	g.tensors = append(g.tensors, t)
	return t
}

// Input declares a graph input. Use Dynamic for dimensions that are resized at run time.
func (g *Graph) Input(name string, dtype DType, shape ...int) *Tensor {
	if g.err != nil {
		return nil
	}
	if err := checkShape(shape, true); err != nil {
		g.failf("graph: input %q: %w", name, err)
		return nil
	}
	if g.names[name] {
		g.failf("graph: input %q: name already used", name)
		return nil
	}
	t := g.newTensor(name, dtype, shape, kindInput)
	g.inputs = append(g.inputs, t)
	return t
}

// QuantizedInput declares an int8 or uint8 graph input with its quantization parameters.
func (g *Graph) QuantizedInput(name string, dtype DType, q Quant, shape ...int) *Tensor {
	t := g.Input(name, dtype, shape...)
	if t == nil {
		return nil
	}
	if err := checkQuant(q, dtype, shape); err != nil {
		g.failf("graph: input %q: %w", name, err)
		return nil
	}
	t.quant = &q
	return t
}

// Output declares t as a graph output under name (the tensor is renamed to it). Outputs are
// listed in the order they are declared.
func (g *Graph) Output(name string, t *Tensor) {
	if g.err != nil {
		return
	}
	if err := g.own(t, "output "+name); err != nil {
		g.fail(err)
		return
	}
	if t.kind != kindActivation {
		g.failf("graph: output %q: tensor %q is a graph input or constant, not computed by an operator", name, t.name)
		return
	}
	for _, o := range g.outputs {
		if o.name == name {
			g.failf("graph: output %q declared twice", name)
			return
		}
		if o.t == t {
			g.failf("graph: output %q: tensor is already output %q", name, o.name)
			return
		}
	}
	if t.name != name {
		if g.names[name] {
			g.failf("graph: output %q: name already used by another tensor", name)
			return
		}
		delete(g.names, t.name)
		g.names[name] = true
		t.name = name
	}
	g.outputs = append(g.outputs, namedTensor{name, t})
}

// own checks that t is a tensor of this graph.
func (g *Graph) own(t *Tensor, what string) error {
	if t == nil {
		return fmt.Errorf("graph: %s: nil tensor", what)
	}
	if t.g != g {
		return fmt.Errorf("graph: %s: tensor %q belongs to graph %q, not %q", what, t.name, t.g.name, g.name)
	}
	return nil
}

// Name returns the tensor's name ("" for nil).
func (t *Tensor) Name() string {
	if t == nil {
		return ""
	}
	return t.name
}

// DType returns the element type.
func (t *Tensor) DType() DType {
	if t == nil {
		return 0
	}
	return t.dtype
}

// Shape returns a copy of the shape; Dynamic (-1) marks run-time dimensions.
func (t *Tensor) Shape() []int {
	if t == nil {
		return nil
	}
	return append([]int(nil), t.shape...)
}

// Rank returns the number of dimensions.
func (t *Tensor) Rank() int {
	if t == nil {
		return 0
	}
	return len(t.shape)
}

// Dim returns dimension i; negative i counts from the end (-1 is the last).
func (t *Tensor) Dim(i int) int {
	if t == nil {
		return 0
	}
	if i < 0 {
		i += len(t.shape)
	}
	if i < 0 || i >= len(t.shape) {
		return 0
	}
	return t.shape[i]
}

// Quant returns the tensor's quantization parameters, or nil for a float tensor.
func (t *Tensor) Quant() *Quant {
	if t == nil || t.quant == nil {
		return nil
	}
	q := *t.quant
	return &q
}

// IsConst reports whether the tensor is a constant.
func (t *Tensor) IsConst() bool { return t != nil && t.kind == kindConst }

// String describes the tensor, e.g. `"x" FLOAT32[1 -1 512]`.
func (t *Tensor) String() string {
	if t == nil {
		return "<nil tensor>"
	}
	return fmt.Sprintf("%q %v%v", t.name, t.dtype, t.shape)
}
