package export

import (
	"fmt"

	"github.com/edged/edged/blip/spec"
	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/graph/nn"
)

// The text decoder runs as two models:
//
//   - cross_kv: the keys and values every decoder layer's cross-attention reads, computed once
//     from the encoder states (the image for captions, the encoded question for VQA);
//   - decoder_step: one new token for each of B sequences (greedy: 1, beam search: the beams)
//     at one position. Self-attention keys and values of the earlier tokens come in as a cache
//     of a fixed number of slots, and the step returns only the new token's key and value
//     [B, hidden] for the caller to store at the position. The new key is appended after the
//     cache (CONCATENATION), and self_bias masks the cache slots not yet filled, so the cost
//     of a step is the same at every position: nothing is recomputed for the prefix.
//
// A head-split key of one token is a plain reshape of its [hidden] vector (head h holds
// elements h·head_dim … (h+1)·head_dim-1), so storing a returned row into the cache is a copy
// of head_dim-long runs.
//
// Values, of the cache and of the cross-attention, are kept transposed, [heads, head dim,
// length]: TFLite's BATCH_MATMUL transposes a right-hand side that is not marked adj_y on
// every call, which for the image's values of BLIP base would be 5 million floats per token.

// buildCrossKV adds the cross-attention keys and values of every decoder layer for encoder
// states [1, n, width]: keys [heads, n, head dim], values [heads, head dim, n].
func buildCrossKV(g *graph.Graph, d textDims, l *convert.WeightReader, n, width int) {
	D, H, hd := d.Hidden, d.Heads, d.headDim()
	states := g.Input(spec.InEncoderStates, graph.Float32, 1, n, width)
	for i := 0; i < d.Layers; i++ {
		p := fmt.Sprintf("%sencoder.layer.%d.crossattention.self.", textDecoderPrefix, i)
		name := fmt.Sprintf("cross_kv/layer%d", i)
		for _, kv := range []struct {
			ckpt, out string
			perm      []int
		}{{"key", spec.CrossKeyName(i), []int{1, 0, 2}}, {"value", spec.CrossValueName(i), []int{1, 2, 0}}} {
			x := linear(g, l, name+"/"+kv.ckpt, p+kv.ckpt, states, D, width)
			x = g.Reshape(x, []int{n, H, hd}, graph.Named(name+"/"+kv.ckpt+"_heads"))
			g.Output(kv.out, g.Transpose(x, kv.perm, graph.Named(name+"/"+kv.ckpt+"_by_head")))
		}
	}
}

// buildDecoderStep adds BlipTextLMHeadModel for one token of B sequences (B dynamic, set by
// resizing token_ids and the past caches) with a self-attention cache of cache slots and
// cross-attention to crossLen precomputed keys and values.
func buildDecoderStep(g *graph.Graph, d textDims, l *convert.WeightReader, cache, crossLen int) {
	D, H, hd := d.Hidden, d.Heads, d.headDim()
	B := graph.Dynamic
	ids := g.Input(spec.InTokenIDs, graph.Int32, B)
	pos := g.Input(spec.InPosition, graph.Int32, 1)
	selfBias := g.Input(spec.InSelfBias, graph.Float32, 1, 1, 1, cache+1)
	crossBias := g.Input(spec.InCrossBias, graph.Float32, 1, 1, crossLen)

	p := textDecoderPrefix + "embeddings."
	table := g.Const(p+"word_embeddings.weight", l.Get(p+"word_embeddings.weight", d.Vocab, D), d.Vocab, D)
	posTable := g.Const(p+"position_embeddings.weight", l.Get(p+"position_embeddings.weight", d.MaxPositions, D), d.MaxPositions, D)
	x := g.Add(g.Gather(table, ids, 0, graph.Named("step/word_embeddings")),
		g.Gather(posTable, pos, 0, graph.Named("step/position_embedding")), graph.Named("step/embeddings_sum"))
	x = l.LayerNorm(g, "step/embeddings", p+"LayerNorm", x, D, d.Eps)

	for i := 0; i < d.Layers; i++ {
		lp := fmt.Sprintf("%sencoder.layer.%d.", textDecoderPrefix, i)
		name := fmt.Sprintf("step/layer%d", i)

		// Self-attention over the cache and the new token.
		sp := lp + "attention."
		q := queryLinear(g, d, l, name+"/self/q", sp+"self.query", x)
		k := linear(g, l, name+"/self/k", sp+"self.key", x, D, D)
		v := linear(g, l, name+"/self/v", sp+"self.value", x, D, D)
		g.Output(spec.NewKeyName(i), k)
		g.Output(spec.NewValueName(i), v)
		pastK := g.Input(spec.PastKeyName(i), graph.Float32, B, H, cache, hd)
		pastV := g.Input(spec.PastValueName(i), graph.Float32, B, H, hd, cache)
		split := func(t *graph.Tensor, what string) *graph.Tensor {
			return g.Reshape(t, []int{-1, H, 1, hd}, graph.Named(name+"/self/"+what+"_heads"))
		}
		keys := g.Concat([]*graph.Tensor{pastK, split(k, "k")}, 2, graph.Named(name+"/self/keys"))
		vT := g.Reshape(v, []int{-1, H, hd, 1}, graph.Named(name+"/self/v_heads"))
		values := g.Concat([]*graph.Tensor{pastV, vT}, 3, graph.Named(name+"/self/values"))
		s := g.BatchMatMul(split(q, "q"), keys, false, true, graph.Named(name+"/self/scores"))
		s = g.Add(s, selfBias, graph.Named(name+"/self/masked"))
		c := g.BatchMatMul(g.Softmax(s, graph.Named(name+"/self/probs")), values, false, true, graph.Named(name+"/self/context_heads"))
		c = g.Reshape(c, []int{-1, D}, graph.Named(name+"/self/context"))
		x = attentionOutput(g, d, l, name+"/self", sp, c, x)

		// Cross-attention: the B queries of a head attend together to that head's keys, so
		// the precomputed keys and values serve every sequence without copies.
		cp := lp + "crossattention."
		ck := g.Input(spec.CrossKeyName(i), graph.Float32, H, crossLen, hd)
		cv := g.Input(spec.CrossValueName(i), graph.Float32, H, hd, crossLen)
		q = queryLinear(g, d, l, name+"/cross/q", cp+"self.query", x)
		q = g.Transpose(g.Reshape(q, []int{-1, H, hd}, graph.Named(name+"/cross/q_heads")), []int{1, 0, 2}, graph.Named(name+"/cross/q_hbd"))
		s = g.BatchMatMul(q, ck, false, true, graph.Named(name+"/cross/scores"))
		s = g.Add(s, crossBias, graph.Named(name+"/cross/masked"))
		c = g.BatchMatMul(g.Softmax(s, graph.Named(name+"/cross/probs")), cv, false, true, graph.Named(name+"/cross/context_hbd"))
		c = g.Reshape(g.Transpose(c, []int{1, 0, 2}, graph.Named(name+"/cross/context_bhd")), []int{-1, D}, graph.Named(name+"/cross/context"))
		x = attentionOutput(g, d, l, name+"/cross", cp, c, x)

		x = bertFeedForward(g, d, l, name, lp, x)
	}
	g.Output(spec.OutLogits, lmHead(g, d, l, x, table))
}

// attentionOutput is BlipTextSelfOutput: LayerNorm(x + dense(context)).
func attentionOutput(g *graph.Graph, d textDims, l *convert.WeightReader, name, ckpt string, ctx, x *graph.Tensor) *graph.Tensor {
	a := linear(g, l, name+"/dense", ckpt+"output.dense", ctx, d.Hidden, d.Hidden)
	a = g.Add(a, x, graph.Named(name+"/residual"))
	return l.LayerNorm(g, name+"/ln", ckpt+"output.LayerNorm", a, d.Hidden, d.Eps)
}

// lmHead is BlipTextLMPredictionHead: dense, GELU, layer norm, then the vocabulary projection,
// whose weight is the word embedding table (tied, as in every BLIP checkpoint) unless the
// config unties it.
func lmHead(g *graph.Graph, d textDims, l *convert.WeightReader, x, table *graph.Tensor) *graph.Tensor {
	D := d.Hidden
	h := linear(g, l, "lm_head/transform", textLMHeadPrefix+"transform.dense", x, D, D)
	h = nn.GELU(g, "lm_head/gelu", h)
	h = l.LayerNorm(g, "lm_head/ln", textLMHeadPrefix+"transform.LayerNorm", h, D, d.Eps)
	w := table
	if !d.TiedLMHead {
		name := textLMHeadPrefix + "decoder.weight"
		w = g.Const(name, l.Get(name, d.Vocab, D), d.Vocab, D)
	}
	biasName := l.First(textLMHeadPrefix+"bias", textLMHeadPrefix+"decoder.bias")
	b := g.Const(textLMHeadPrefix+"bias", l.Get(biasName, d.Vocab), d.Vocab)
	return g.FullyConnected(h, w, b, graph.Named("lm_head/logits"))
}
