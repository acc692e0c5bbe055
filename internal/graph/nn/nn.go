// Package nn builds the blocks of ViT and BERT style transformers from graph operators:
// linear layers, layer norm, GELU variants and multi-head attention. Each helper only adds
// operators to a graph.Graph; errors stay sticky on the graph like any other operator.
//
// The blocks are written for the TFLite 2.9 runtime edged ships, from measurements
// (graph.BenchmarkEncoderCompare, BenchmarkBlocks here; figures in BENCHMARKS.md, "Graph
// forms"): the dense layers take most of an encoder's time, the rest is mostly BATCH_MATMUL on
// TFLite's kernels (XNNPACK 2.9 has none), and forms that moved more work into XNNPACK were
// not faster; each block's comment says what was tried. At graph.Int8Full, keep the layer
// norms, SOFTMAX and the residual ADDs in float (KeepFloat with FloatOps): as fast as
// quantizing them, and an order of magnitude more accurate.
package nn

import (
	"fmt"
	"math"

	"github.com/edged/edged/internal/graph"
)

// Linear is a dense layer y = x·Wᵀ + b with W stored [out, in] as PyTorch does.
type Linear struct {
	W, B *graph.Tensor // B may be nil
}

// NewLinear adds the constants of a dense layer named name (name+".weight", name+".bias").
// bias may be nil.
func NewLinear(g *graph.Graph, name string, weight []float32, out, in int, bias []float32) Linear {
	l := Linear{W: g.Const(name+".weight", weight, out, in)}
	if bias != nil {
		l.B = g.Const(name+".bias", bias, out)
	}
	return l
}

// Apply runs the layer on x (any rank, features last) and names the output name.
func (l Linear) Apply(g *graph.Graph, name string, x *graph.Tensor) *graph.Tensor {
	return g.FullyConnected(x, l.W, l.B, graph.Named(name))
}

// LayerNorm normalises the last axis: (x - mean) / sqrt(var + eps) · gamma + beta.
//
// The means are MEAN over the last axis, which XNNPACK (TFLite 2.9) does not take but TFLite's
// own kernel computes faster than the forms XNNPACK does take (a 4-D MEAN, a FULLY_CONNECTED
// with a constant 1/D weight; BenchmarkBlocks/layer_norm).
// Everything else is SUB, MUL, ADD, SQRT and DIV, which XNNPACK runs in float32: dividing by
// sqrt(var + eps) replaces the converter's RSQRT (TFLite-only, and at Int8Full an int8 kernel
// with a coarse lookup), so SQUARED_DIFFERENCE and RSQRT are gone and the norm splits the
// delegated graph once instead of twice. Every operator's output is named name/..., so a
// KeepFloat rule on the name (or on MEAN) keeps the whole norm in float at Int8Full; SQRT and
// DIV have no int8 kernel and stay float in any case.
func LayerNorm(g *graph.Graph, name string, x, gamma, beta *graph.Tensor, eps float32) *graph.Tensor {
	mean := g.Mean(x, []int{-1}, true, graph.Named(name+"/mean"))
	centered := g.Sub(x, mean, graph.Named(name+"/centered"))
	variance := g.Mean(g.Mul(centered, centered, graph.Named(name+"/squared")), []int{-1}, true, graph.Named(name+"/variance"))
	std := g.Sqrt(g.Add(variance, g.Scalar(name+"/eps", eps), graph.Named(name+"/variance_eps")), graph.Named(name+"/std"))
	normed := g.Div(centered, std, graph.Named(name+"/normalized"))
	return g.Add(g.Mul(normed, gamma, graph.Named(name+"/scaled")), beta, graph.Named(name))
}

// GELU is the exact (erf) GELU of BERT/BLIP and ViT, as TFLite's GELU kernel. XNNPACK 2.9 does
// not take it, but the kernel is fast and exact; an erf-accurate form from operators XNNPACK
// takes (Abramowitz-Stegun erfc with ELU for exp, 21 operators) is slower
// (BenchmarkBlocks/gelu). At Int8Full it is TFLite's int8 lookup table.
func GELU(g *graph.Graph, name string, x *graph.Tensor) *graph.Tensor {
	return g.Gelu(x, false, graph.Named(name))
}

// QuickGELU is CLIP's activation x·σ(1.702x): MUL, LOGISTIC and MUL, all taken by XNNPACK
// in float32 and, with QS8, in int8.
func QuickGELU(g *graph.Graph, name string, x *graph.Tensor) *graph.Tensor {
	s := g.Logistic(g.Mul(x, g.Scalar(name+"/alpha", 1.702), graph.Named(name+"/scaled")), graph.Named(name+"/sigmoid"))
	return g.Mul(x, s, graph.Named(name))
}

// AttentionOptions configure MultiHeadAttention.
type AttentionOptions struct {
	// Mask is an additive mask broadcastable to [batch, heads, query, key]: 0 where attention
	// is allowed and a large negative value where it is not (e.g. [batch, 1, 1, key] from a
	// padding mask). Nil for none.
	Mask *graph.Tensor
	// Causal lets query i attend only to keys 0..i+(key-query), as a decoder does; needs fixed
	// sequence lengths.
	Causal bool
	// Scale multiplies the scores; 0 means 1/sqrt(head dim).
	Scale float32
}

// MaskValue is the additive mask value for a masked position: large enough to zero its
// softmax weight, small enough that adding two of them stays finite in float32.
const MaskValue = -1e9

// MultiHeadAttention is softmax(q·kᵀ·scale + mask)·v over heads heads, with q [B, Sq, D] and
// k, v [B, Sk, D] already projected. It returns [B, Sq, D] (before the output projection).
//
// XNNPACK 2.9 takes neither BATCH_MATMUL nor TRANSPOSE, so the core runs on TFLite's kernels
// between the delegated projections; the SOFTMAX (beta 1) and the MUL scaling q run in
// XNNPACK. The alternatives measured were not faster (BenchmarkBlocks/attention): the scale as
// SOFTMAX's beta keeps the softmax on TFLite's slower kernel; one fused q/k/v projection cut up
// with STRIDED_SLICE, or v transposed for an adj_y BATCH_MATMUL, changed nothing beyond noise.
// At Int8Full keep the softmax in float (KeepFloat on name/probs or on SOFTMAX): TFLite's int8
// softmax is the slow part of int8 attention (BenchmarkBlocks/attention_int8).
func MultiHeadAttention(g *graph.Graph, name string, q, k, v *graph.Tensor, heads int, opts AttentionOptions) *graph.Tensor {
	if g.Err() != nil {
		return nil
	}
	if q.Rank() != 3 || k.Rank() != 3 || v.Rank() != 3 {
		return fail(g, name, "q %s, k %s and v %s must be [batch, seq, dim]", q, k, v)
	}
	d := q.Dim(-1)
	if heads <= 0 || d == graph.Dynamic || d%heads != 0 {
		return fail(g, name, "model dimension %d does not split into %d heads", d, heads)
	}
	if k.Dim(-1) != d || v.Dim(-1) != d {
		return fail(g, name, "q %s, k %s and v %s differ in model dimension", q, k, v)
	}
	batch, dh := q.Dim(0), d/heads
	scale := opts.Scale
	if scale == 0 {
		scale = float32(1 / math.Sqrt(float64(dh)))
	}
	// [B, S, D] -> [B, S, H, Dh] -> [B, H, S, Dh]; the sequence dimension may be dynamic.
	split := func(x *graph.Tensor, what string) *graph.Tensor {
		r := g.Reshape(x, []int{batch, -1, heads, dh}, graph.Named(name+"/"+what+"_heads"))
		return g.Transpose(r, []int{0, 2, 1, 3}, graph.Named(name+"/"+what+"_bhsd"))
	}
	// Scaling q (B·Sq·D values) is cheaper than scaling the scores (B·H·Sq·Sk).
	qs := split(g.Mul(q, g.Scalar(name+"/scale", scale), graph.Named(name+"/q_scaled")), "q")
	ks, vs := split(k, "k"), split(v, "v")
	scores := g.BatchMatMul(qs, ks, false, true, graph.Named(name+"/scores"))
	if opts.Mask != nil {
		scores = g.Add(scores, opts.Mask, graph.Named(name+"/masked"))
	}
	if opts.Causal {
		sq, sk := q.Dim(1), k.Dim(1)
		if sq == graph.Dynamic || sk == graph.Dynamic {
			return fail(g, name, "a causal mask needs fixed sequence lengths, got query %d and key %d", sq, sk)
		}
		scores = g.Add(scores, g.Const(name+"/causal_mask", CausalMask(sq, sk), 1, 1, sq, sk), graph.Named(name+"/causal"))
	}
	probs := g.Softmax(scores, graph.Named(name+"/probs"))
	ctx := g.BatchMatMul(probs, vs, false, false, graph.Named(name+"/context_bhsd"))
	merged := g.Transpose(ctx, []int{0, 2, 1, 3}, graph.Named(name+"/context_bshd"))
	return g.Reshape(merged, []int{batch, -1, d}, graph.Named(name+"/context"))
}

// CausalMask returns the [query, key] additive mask that lets query i see keys up to
// i + key - query (the last query sees every key).
func CausalMask(query, key int) []float32 {
	m := make([]float32, query*key)
	for i := 0; i < query; i++ {
		for j := 0; j < key; j++ {
			if j > i+key-query {
				m[i*key+j] = MaskValue
			}
		}
	}
	return m
}

// AttentionWeights are the four projections of an attention block.
type AttentionWeights struct {
	Q, K, V, Out Linear
}

// Attention projects x into queries and context into keys and values, attends, and projects
// the result: self-attention when context is x, cross-attention otherwise.
func Attention(g *graph.Graph, name string, x, context *graph.Tensor, w AttentionWeights, heads int, opts AttentionOptions) *graph.Tensor {
	q := w.Q.Apply(g, name+"/q_proj", x)
	k := w.K.Apply(g, name+"/k_proj", context)
	v := w.V.Apply(g, name+"/v_proj", context)
	ctx := MultiHeadAttention(g, name, q, k, v, heads, opts)
	return w.Out.Apply(g, name+"/out_proj", ctx)
}

// fail records an error on the graph, sticky like any builder error.
func fail(g *graph.Graph, name, format string, args ...any) *graph.Tensor {
	g.Fail(fmt.Errorf("nn: %s: %s", name, fmt.Sprintf(format, args...)))
	return nil
}
