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

// activation returns the function of a transformers hidden_act.
func activation(act string) (func(g *graph.Graph, name string, x *graph.Tensor) *graph.Tensor, error) {
	switch act {
	case "quick_gelu":
		return nn.QuickGELU, nil
	case "gelu":
		return nn.GELU, nil
	case "gelu_new", "gelu_pytorch_tanh", "gelu_fast":
		return func(g *graph.Graph, name string, x *graph.Tensor) *graph.Tensor {
			return g.Gelu(x, true, graph.Named(name))
		}, nil
	}
	return nil, fmt.Errorf("clip: activation %q is not supported (quick_gelu, gelu, gelu_new)", act)
}

// encoder applies the layers of a CLIP encoder (pre-norm residual blocks, as CLIPEncoderLayer).
func encoder(g *graph.Graph, r *convert.WeightReader, prefix string, x *graph.Tensor, d encoderDims, mask *graph.Tensor, progress func(layer int)) *graph.Tensor {
	act, err := activation(d.Act)
	if err != nil {
		g.Fail(err)
		return nil
	}
	opts := nn.EncoderOptions{Heads: d.Heads, Eps: d.Eps, Activation: act, Attention: nn.AttentionOptions{Mask: mask}}
	for i := 0; i < d.Layers; i++ {
		l := fmt.Sprintf("%s.layers.%d", prefix, i)
		layer := nn.EncoderLayer{
			LN1: r.Norm(g, l+".layer_norm1", d.Hidden),
			Attention: nn.AttentionWeights{
				Q:   r.Linear(g, l+".self_attn.q_proj", d.Hidden, d.Hidden, true),
				K:   r.Linear(g, l+".self_attn.k_proj", d.Hidden, d.Hidden, true),
				V:   r.Linear(g, l+".self_attn.v_proj", d.Hidden, d.Hidden, true),
				Out: r.Linear(g, l+".self_attn.out_proj", d.Hidden, d.Hidden, true),
			},
			LN2: r.Norm(g, l+".layer_norm2", d.Hidden),
			FC1: r.Linear(g, l+".mlp.fc1", d.Intermediate, d.Hidden, true),
			FC2: r.Linear(g, l+".mlp.fc2", d.Hidden, d.Intermediate, true),
		}
		if r.Err() != nil {
			return nil
		}
		x = layer.Apply(g, l, x, opts)
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
	r := convert.NewWeightReader(w)
	grid := d.ImageSize / d.Patch
	tokens := grid*grid + 1
	const pre = "vision_model"

	x := g.Input(spec.InputPixels, graph.Float32, 1, d.ImageSize, d.ImageSize, d.Channels)
	filter := r.Get(pre+".embeddings.patch_embedding.weight", d.Hidden, d.Channels, d.Patch, d.Patch)
	cls := r.Get(pre+".embeddings.class_embedding", d.Hidden)
	pos := r.Get(pre+".embeddings.position_embedding.weight", tokens, d.Hidden)
	if r.Err() != nil {
		return nil, r.Err()
	}
	seq := nn.ViTEmbeddings(g, pre+".embeddings", x,
		g.Const(pre+".embeddings.patch_embedding.weight", nn.OHWIFromOIHW(filter, d.Hidden, d.Channels, d.Patch, d.Patch), d.Hidden, d.Patch, d.Patch, d.Channels),
		nil, // CLIP's patch embedding has no bias
		g.Const(pre+".embeddings.class_embedding", cls, 1, 1, d.Hidden),
		g.Const(pre+".embeddings.position_embedding.weight", pos, 1, tokens, d.Hidden))
	h := r.LayerNorm(g, pre+".pre_layrnorm", pre+".pre_layrnorm", seq, d.Hidden, d.Eps)
	h = encoder(g, r, pre+".encoder", h, d.encoderDims, nil, progress)
	// transformers pools the [CLS] token and layer-norms it (post_layernorm).
	clsOut := g.StridedSlice(h, []int{0, 0, 0}, []int{1, 1, d.Hidden}, []int{1, 1, 1}, graph.SliceMasks{ShrinkAxis: 1 << 1}, graph.Named(pre+".pooled"))
	pooled := r.LayerNorm(g, pre+".post_layernorm", pre+".post_layernorm", clsOut, d.Hidden, d.Eps)
	proj := r.Linear(g, "visual_projection", projection, d.Hidden, false)
	if r.Err() != nil {
		return nil, r.Err()
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
	r := convert.NewWeightReader(w)
	const pre = "text_model"

	tokens := g.Input(spec.InputTokens, graph.Int32, spec.TextRows, graph.Dynamic)
	row := func(i int, name string) *graph.Tensor {
		return g.StridedSlice(tokens, []int{i, 0}, []int{i + 1, 0}, []int{1, 1}, graph.SliceMasks{End: 1 << 1}, graph.Named(pre+"."+name))
	}
	ids, positions, segments := row(spec.RowIDs, "input_ids"), row(spec.RowPositions, "position_ids"), row(spec.RowSegments, "segment_ids")
	pool := g.Reshape(row(spec.RowPool, "pool_rows"), []int{-1}, graph.Named(pre+".pool_index"))
	tok := r.Get(pre+".embeddings.token_embedding.weight", d.Vocab, d.Hidden)
	pos := r.Get(pre+".embeddings.position_embedding.weight", d.Context, d.Hidden)
	if r.Err() != nil {
		return nil, r.Err()
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

	h := encoder(g, r, pre+".encoder", x, d.encoderDims, mask, progress)
	rows := g.Reshape(h, []int{-1, d.Hidden}, graph.Named(pre+".tokens"))
	last := g.Gather(rows, pool, 0, graph.Named(pre+".pooled"))
	// The final layer norm acts on each token alone: normalising only the pooled ones is the same.
	pooled := r.LayerNorm(g, pre+".final_layer_norm", pre+".final_layer_norm", last, d.Hidden, d.Eps)
	proj := r.Linear(g, "text_projection", projection, d.Hidden, false)
	if r.Err() != nil {
		return nil, r.Err()
	}
	g.Output(spec.OutputText, g.L2Normalize(proj.Apply(g, "text_projection", pooled)))
	if err := g.Err(); err != nil {
		return nil, err
	}
	return g, nil
}
