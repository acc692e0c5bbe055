package export

import (
	"fmt"
	"math"

	"github.com/edged/edged/blip/spec"
	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/graph/nn"
)

// Where the checkpoint keeps these weights.
const (
	textEncoderPrefix = "text_encoder."
	textDecoderPrefix = "text_decoder.bert."
	textLMHeadPrefix  = "text_decoder.cls.predictions."
)

// buildTextEncoder adds BlipTextModel (BERT with post-norm layers) over ids [1, T] with the
// additive padding bias [1, 1, 1, T]. With image non-nil every layer also cross-attends to it
// (BLIP's image-grounded text encoder); with nil it is the unimodal text encoder of ITC. It
// returns last_hidden_state [1, T, hidden].
func buildTextEncoder(g *graph.Graph, d textDims, l *convert.WeightReader, prefix string, T int, ids, bias, image *graph.Tensor) *graph.Tensor {
	D := d.Hidden
	p := prefix + "embeddings."
	table := g.Const(p+"word_embeddings.weight", l.Get(p+"word_embeddings.weight", d.Vocab, D), d.Vocab, D)
	h := g.Gather(table, ids, 0, graph.Named("text/word_embeddings"))
	// Positions 0..T-1 are fixed: take the first T rows of the table as a constant.
	posTable := l.Get(p+"position_embeddings.weight", d.MaxPositions, D)
	pos := g.Const(p+"position_embeddings.weight[:T]", rows(posTable, D, 0, T), 1, T, D)
	h = g.Add(h, pos, graph.Named("text/embeddings_sum"))
	h = l.LayerNorm(g, "text/embeddings", p+"LayerNorm", h, D, d.Eps)

	for i := 0; i < d.Layers; i++ {
		lp := fmt.Sprintf("%sencoder.layer.%d.", prefix, i)
		name := fmt.Sprintf("text/layer%d", i)
		h = bertAttention(g, d, l, name+"/self", lp+"attention", h, h, D, bias)
		if image != nil {
			h = bertAttention(g, d, l, name+"/cross", lp+"crossattention", h, image, image.Dim(-1), nil)
		}
		h = bertFeedForward(g, d, l, name, lp, h)
	}
	return h
}

// bertAttention is BlipTextAttention on full sequences: LayerNorm(x + dense(attention(x, ctx))).
// ctxWidth is the width of ctx (the encoder's for cross-attention).
func bertAttention(g *graph.Graph, d textDims, l *convert.WeightReader, name, ckpt string, x, ctx *graph.Tensor, ctxWidth int, bias *graph.Tensor) *graph.Tensor {
	D := d.Hidden
	q := queryLinear(g, d, l, name+"/q", ckpt+".self.query", x)
	k := linear(g, l, name+"/k", ckpt+".self.key", ctx, D, ctxWidth)
	v := linear(g, l, name+"/v", ckpt+".self.value", ctx, D, ctxWidth)
	a := nn.MultiHeadAttention(g, name, q, k, v, d.Heads, nn.AttentionOptions{Mask: bias, Scale: 1})
	a = linear(g, l, name+"/dense", ckpt+".output.dense", a, D, D)
	a = g.Add(a, x, graph.Named(name+"/residual"))
	return l.LayerNorm(g, name+"/ln", ckpt+".output.LayerNorm", a, D, d.Eps)
}

// queryLinear is the query projection with the 1/sqrt(head dim) attention scale folded into
// its weights and bias.
func queryLinear(g *graph.Graph, d textDims, l *convert.WeightReader, name, ckpt string, x *graph.Tensor) *graph.Tensor {
	D := d.Hidden
	s := float32(1 / math.Sqrt(float64(d.headDim())))
	w := scaled(l.Get(ckpt+".weight", D, D), s)
	b := scaled(l.Get(ckpt+".bias", D), s)
	return nn.NewLinear(g, ckpt, w, D, D, b).Apply(g, name, x)
}

// bertFeedForward is BlipTextIntermediate + BlipTextOutput: LayerNorm(x + dense2(gelu(dense1(x)))).
func bertFeedForward(g *graph.Graph, d textDims, l *convert.WeightReader, name, lp string, x *graph.Tensor) *graph.Tensor {
	h := linear(g, l, name+"/intermediate", lp+"intermediate.dense", x, d.Intermediate, d.Hidden)
	h = nn.GELU(g, name+"/gelu", h)
	h = linear(g, l, name+"/output", lp+"output.dense", h, d.Hidden, d.Intermediate)
	h = g.Add(h, x, graph.Named(name+"/ffn_residual"))
	return l.LayerNorm(g, name+"/ffn_ln", lp+"output.LayerNorm", h, d.Hidden, d.Eps)
}

// firstToken takes x[:, 0, :] of a [1, T, D] sequence as [1, D] (the [CLS] position).
func firstToken(g *graph.Graph, name string, x *graph.Tensor) *graph.Tensor {
	D := x.Dim(-1)
	return g.StridedSlice(x, []int{0, 0, 0}, []int{1, 1, D}, []int{1, 1, 1}, graph.SliceMasks{ShrinkAxis: 2}, graph.Named(name))
}

// textInputs declares the inputs every text encoder takes.
func textInputs(g *graph.Graph, T int) (ids, bias *graph.Tensor) {
	ids = g.Input(spec.InInputIDs, graph.Int32, 1, T)
	bias = g.Input(spec.InAttentionBias, graph.Float32, 1, 1, 1, T)
	return ids, bias
}
