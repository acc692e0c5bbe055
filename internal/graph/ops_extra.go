package graph

import "github.com/edged/edged/internal/graph/tfl"

// Elementwise operators beyond those of ops.go. XNNPACK (TFLite 2.9) runs all of them in
// float32 (TestXNNPackTakes), where it runs neither RSQRT nor GELU: nn.LayerNorm divides by a
// SQRT instead of multiplying by an RSQRT. Int8Full leaves them in float.

// Builtin codes of the schema not named in package tfl.
const (
	opRelu tfl.BuiltinOp = 19
	opSqrt tfl.BuiltinOp = 75
	opAbs  tfl.BuiltinOp = 101
	opElu  tfl.BuiltinOp = 111
)

// Sqrt returns √x elementwise.
func (g *Graph) Sqrt(x *Tensor, opts ...Option) *Tensor { return g.unary(opSqrt, x, opts, nil, nil) }

// Abs returns |x| elementwise.
func (g *Graph) Abs(x *Tensor, opts ...Option) *Tensor { return g.unary(opAbs, x, opts, nil, nil) }

// Relu returns max(x, 0) elementwise.
func (g *Graph) Relu(x *Tensor, opts ...Option) *Tensor { return g.unary(opRelu, x, opts, nil, nil) }

// Elu returns eˣ - 1 for x < 0 and x otherwise.
func (g *Graph) Elu(x *Tensor, opts ...Option) *Tensor { return g.unary(opElu, x, opts, nil, nil) }
