package export

import (
	"fmt"

	"github.com/edged/edged/clip/spec"
	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/graph/nn"
	"github.com/edged/edged/internal/graph/tfl"
)

// encoderDims are the sizes of one transformer tower.
type encoderDims struct {
	Hidden, Intermediate, Layers, Heads int
	Eps                                 float32
	Act                                 string // config's hidden_act
}

type visionDims struct {
	encoderDims
	ImageSize, Patch, Channels int
}

type textDims struct {
	encoderDims
	Vocab, Context int
}

// params reads weights with a sticky error, as graph does, so that building code reads like
// the model and checks once.
type params struct {
	w   convert.Weights
	err error
}

func (p *params) get(name string, shape ...int) []float32 {
	if p.err != nil {
		return nil
	}
	v, err := p.w.Float32(name, shape...)
	if err != nil {
		p.err = err
		return nil
	}
	return v
}

// linear adds a dense layer from prefix.weight [out, in] and, if withBias, prefix.bias [out].
func (p *params) linear(g *graph.Graph, prefix string, out, in int, withBias bool) nn.Linear {
	w := p.get(prefix+".weight", out, in)
	var b []float32
	if withBias {
		b = p.get(prefix+".bias", out)
	}
	if p.err != nil {
		return nn.Linear{}
	}
	return nn.NewLinear(g, prefix, w, out, in, b)
}

// layerNorm applies the layer norm prefix.weight / prefix.bias to x.
func (p *params) layerNorm(g *graph.Graph, prefix string, x *graph.Tensor, dim int, eps float32) *graph.Tensor {
	gamma, beta := p.get(prefix+".weight", dim), p.get(prefix+".bias", dim)
	if p.err != nil {
		return nil
	}
	return nn.LayerNorm(g, prefix, x, g.Const(prefix+".weight", gamma, dim), g.Const(prefix+".bias", beta, dim), eps)
}

// activation applies a transformers hidden_act.
func activation(g *graph.Graph, name, act string, x *graph.Tensor) *graph.Tensor {
	switch act {
	case "quick_gelu":
		return nn.QuickGELU(g, name, x)
	case "gelu":
		return nn.GELU(g, name, x)
	case "gelu_new", "gelu_pytorch_tanh", "gelu_fast":
		return g.Gelu(x, true, graph.Named(name))
	}
	g.Fail(fmt.Errorf("clip: %s: activation %q is not supported (quick_gelu, gelu, gelu_new)", name, act))
	return nil
}

// encoder applies the layers of a CLIP encoder (pre-norm residual blocks, as CLIPEncoderLayer):
// x + attn(ln1(x)), then + mlp(ln2(x)).
func (p *params) encoder(g *graph.Graph, prefix string, x *graph.Tensor, d encoderDims, mask *graph.Tensor, progress func(layer int)) *graph.Tensor {
	for i := 0; i < d.Layers; i++ {
		l := fmt.Sprintf("%s.layers.%d", prefix, i)
		h := p.layerNorm(g, l+".layer_norm1", x, d.Hidden, d.Eps)
		att := nn.AttentionWeights{
			Q:   p.linear(g, l+".self_attn.q_proj", d.Hidden, d.Hidden, true),
			K:   p.linear(g, l+".self_attn.k_proj", d.Hidden, d.Hidden, true),
			V:   p.linear(g, l+".self_attn.v_proj", d.Hidden, d.Hidden, true),
			Out: p.linear(g, l+".self_attn.out_proj", d.Hidden, d.Hidden, true),
		}
		if p.err != nil {
			return nil
		}
		h = nn.Attention(g, l+".self_attn", h, h, att, d.Heads, nn.AttentionOptions{Mask: mask})
		x = g.Add(x, h, graph.Named(l+".attn_residual"))
		h = p.layerNorm(g, l+".layer_norm2", x, d.Hidden, d.Eps)
		fc1 := p.linear(g, l+".mlp.fc1", d.Intermediate, d.Hidden, true)
		fc2 := p.linear(g, l+".mlp.fc2", d.Hidden, d.Intermediate, true)
		if p.err != nil {
			return nil
		}
		h = activation(g, l+".mlp.act", d.Act, fc1.Apply(g, l+".mlp.fc1", h))
		x = g.Add(x, fc2.Apply(g, l+".mlp.fc2", h), graph.Named(l+".mlp_residual"))
		if progress != nil {
			progress(i + 1)
		}
	}
	return x
}

// buildVision builds the vision tower: NHWC pixels → patch CONV_2D → [CLS] + patches +
// positions → pre-LN → encoder → post-LN of [CLS] → visual projection → L2 normalisation.
func buildVision(w convert.Weights, d visionDims, projection int, progress func(layer int)) (*graph.Graph, error) {
	if d.Patch <= 0 || d.ImageSize%d.Patch != 0 {
		return nil, fmt.Errorf("clip: image size %d is not a multiple of the patch size %d", d.ImageSize, d.Patch)
	}
	g := graph.New("clip_vision")
	g.SetDescription("edged CLIP vision tower")
	p := &params{w: w}
	grid := d.ImageSize / d.Patch
	tokens := grid*grid + 1
	const pre = "vision_model"

	x := g.Input(spec.InputPixels, graph.Float32, 1, d.ImageSize, d.ImageSize, d.Channels)
	// PyTorch's filter is [out, in, kh, kw]; TFLite's CONV_2D wants [out, kh, kw, in].
	filter := p.get(pre+".embeddings.patch_embedding.weight", d.Hidden, d.Channels, d.Patch, d.Patch)
	cls := p.get(pre+".embeddings.class_embedding", d.Hidden)
	pos := p.get(pre+".embeddings.position_embedding.weight", tokens, d.Hidden)
	if p.err != nil {
		return nil, p.err
	}
	f := g.Const(pre+".embeddings.patch_embedding.weight", ochwToOhwc(filter, d.Hidden, d.Channels, d.Patch, d.Patch), d.Hidden, d.Patch, d.Patch, d.Channels)
	patches := g.Conv2D(x, f, nil, graph.Conv2DParams{StrideH: d.Patch, StrideW: d.Patch, Padding: tfl.PaddingValid}, graph.Named(pre+".embeddings.patches"))
	seq := g.Reshape(patches, []int{1, grid * grid, d.Hidden}, graph.Named(pre+".embeddings.patch_tokens"))
	seq = g.Concat([]*graph.Tensor{g.Const(pre+".embeddings.class_embedding", cls, 1, 1, d.Hidden), seq}, 1, graph.Named(pre+".embeddings.tokens"))
	seq = g.Add(seq, g.Const(pre+".embeddings.position_embedding.weight", pos, 1, tokens, d.Hidden), graph.Named(pre+".embeddings"))
	h := p.layerNorm(g, pre+".pre_layrnorm", seq, d.Hidden, d.Eps)
	h = p.encoder(g, pre+".encoder", h, d.encoderDims, nil, progress)
	// transformers pools the [CLS] token and layer-norms it (post_layernorm).
	clsOut := g.StridedSlice(h, []int{0, 0, 0}, []int{1, 1, d.Hidden}, []int{1, 1, 1}, graph.SliceMasks{ShrinkAxis: 1 << 1}, graph.Named(pre+".pooled"))
	pooled := p.layerNorm(g, pre+".post_layernorm", clsOut, d.Hidden, d.Eps)
	proj := p.linear(g, "visual_projection", projection, d.Hidden, false)
	if p.err != nil {
		return nil, p.err
	}
	emb := proj.Apply(g, "visual_projection", pooled)
	g.Output(spec.OutputImage, g.L2Normalize(emb))
	if err := g.Err(); err != nil {
		return nil, err
	}
	return g, nil
}

// buildText builds the text tower over N tokens (N dynamic), which hold one or more texts
// one after another: token + position embeddings → causal encoder, each text seeing only its
// own earlier tokens → final LN of each text's pooled token → text projection → L2
// normalisation.
//
// A text's pooled token is its last: the caller passes the ids up to and including the token
// transformers pools at (see poolIndex). With causal attention no token sees a later one, so
// this gives the embedding of the full padded context, at a fraction of the cost; and packing
// many texts into one run (EmbedTexts) lets the dense layers work on many rows at once, which
// they do far faster per row than on one short text.
//
// The input spec.InputTokens is int32 [4, N]: token ids; positions, 0 at each text's start (they
// index the position embeddings); the segment of each token, one number per text; and in its
// first entries the index of each text's pooled token (the rest repeat one of them). The
// mask is made in the graph: mask[i][j] = MaskValue · (max(pos_j - pos_i, 0) + |seg_j - seg_i|),
// so it fits any N. The output is [N, projection]: row k is text k's embedding for k below
// the number of texts, and a repeat after. One input rather than four, because the runtime
// resizes one input at a time and re-allocates after each: inputs would disagree in between.
func buildText(w convert.Weights, d textDims, projection int, progress func(layer int)) (*graph.Graph, error) {
	g := graph.New("clip_text")
	g.SetDescription("edged CLIP text tower")
	p := &params{w: w}
	const pre = "text_model"

	tokens := g.Input(spec.InputTokens, graph.Int32, spec.TextRows, graph.Dynamic)
	row := func(i int, name string) *graph.Tensor {
		return g.StridedSlice(tokens, []int{i, 0}, []int{i + 1, 0}, []int{1, 1}, graph.SliceMasks{End: 1 << 1}, graph.Named(pre+"."+name))
	}
	ids, positions, segments := row(spec.RowIDs, "input_ids"), row(spec.RowPositions, "position_ids"), row(spec.RowSegments, "segment_ids")
	pool := g.Reshape(row(spec.RowPool, "pool_rows"), []int{-1}, graph.Named(pre+".pool_index"))
	tok := p.get(pre+".embeddings.token_embedding.weight", d.Vocab, d.Hidden)
	pos := p.get(pre+".embeddings.position_embedding.weight", d.Context, d.Hidden)
	if p.err != nil {
		return nil, p.err
	}
	x := g.Add(
		g.Gather(g.Const(pre+".embeddings.token_embedding.weight", tok, d.Vocab, d.Hidden), ids, 0, graph.Named(pre+".embeddings.tokens")),
		g.Gather(g.Const(pre+".embeddings.position_embedding.weight", pos, d.Context, d.Hidden), positions, 0, graph.Named(pre+".embeddings.positions")),
		graph.Named(pre+".embeddings"))

	// Query i and key j as float columns and rows of [1, 1, N, N].
	pairwise := func(v *graph.Tensor, name string) (query, key *graph.Tensor) {
		f := g.Cast(v, graph.Float32, graph.Named(pre+".mask."+name))
		return g.Reshape(f, []int{1, 1, -1, 1}, graph.Named(pre+".mask."+name+"_query")),
			g.Reshape(f, []int{1, 1, 1, -1}, graph.Named(pre+".mask."+name+"_key"))
	}
	pq, pk := pairwise(positions, "positions")
	sq, sk := pairwise(segments, "segments")
	relu := graph.Fused(tfl.ActRelu)
	ahead := g.Sub(pk, pq, relu, graph.Named(pre+".mask.ahead")) // max(j-i, 0)
	other := g.Add(g.Sub(sk, sq, relu, graph.Named(pre+".mask.later_text")), g.Sub(sq, sk, relu, graph.Named(pre+".mask.earlier_text")),
		graph.Named(pre+".mask.other_text")) // |seg_j - seg_i|
	mask := g.Mul(g.Add(ahead, other, graph.Named(pre+".mask.blocked")), g.Scalar(pre+".mask.value", nn.MaskValue), graph.Named(pre+".mask"))

	h := p.encoder(g, pre+".encoder", x, d.encoderDims, mask, progress)
	rows := g.Reshape(h, []int{-1, d.Hidden}, graph.Named(pre+".tokens"))
	last := g.Gather(rows, pool, 0, graph.Named(pre+".pooled"))
	// The final layer norm acts on each token alone: normalising only the pooled ones is the same.
	pooled := p.layerNorm(g, pre+".final_layer_norm", last, d.Hidden, d.Eps)
	proj := p.linear(g, "text_projection", projection, d.Hidden, false)
	if p.err != nil {
		return nil, p.err
	}
	g.Output(spec.OutputText, g.L2Normalize(proj.Apply(g, "text_projection", pooled)))
	if err := g.Err(); err != nil {
		return nil, err
	}
	return g, nil
}

// ochwToOhwc reorders a PyTorch conv filter [o, c, h, w] into TFLite's [o, h, w, c].
func ochwToOhwc(src []float32, o, c, h, w int) []float32 {
	dst := make([]float32, len(src))
	for oi := 0; oi < o; oi++ {
		for ci := 0; ci < c; ci++ {
			for hi := 0; hi < h; hi++ {
				for wi := 0; wi < w; wi++ {
					dst[((oi*h+hi)*w+wi)*c+ci] = src[((oi*c+ci)*h+hi)*w+wi]
				}
			}
		}
	}
	return dst
}
