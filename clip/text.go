package clip

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"slices"
	"strings"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/tokenizer"
)

// tokenizer returns the bundle's tokenizer, loading it on first use: a bundle without one can
// still embed images.
func (m *Model) tokenizer() (*tokenizer.CLIP, error) {
	m.tokOnce.Do(func() {
		if !m.Bundle.HasFile(bundle.RoleTokenizer) && !(m.Bundle.HasFile(bundle.RoleVocab) && m.Bundle.HasFile(bundle.RoleMerges)) {
			m.tokErr = fmt.Errorf("clip: model %s has no tokenizer (tokenizer.json, or vocab.json and merges.txt, in the checkpoint it was converted from): it can embed images but not text", m.Bundle.Dir)
			return
		}
		tok, err := tokenizer.LoadCLIP(m.Bundle.Dir)
		if err != nil {
			m.tokErr = fmt.Errorf("clip: model %s: %w", m.Bundle.Dir, err)
			return
		}
		if tok.ContextLength() > m.context {
			m.tokErr = fmt.Errorf("clip: model %s: the tokenizer pads to %d tokens, the text tower takes %d", m.Bundle.Dir, tok.ContextLength(), m.context)
			return
		}
		if tok.VocabSize() > m.vocab {
			m.tokErr = fmt.Errorf("clip: model %s: the tokenizer has ids up to %d, the text tower knows %d tokens (vocab_size)", m.Bundle.Dir, tok.VocabSize()-1, m.vocab)
			return
		}
		m.tok = tok
	})
	return m.tok, m.tokErr
}

// Tokenize returns the token ids of text as the text tower takes them: start token, text,
// end token, padded to the context length (transformers' CLIPTokenizer with padding
// "max_length" and truncation).
func (m *Model) Tokenize(text string) ([]int32, error) {
	tok, err := m.tokenizer()
	if err != nil {
		return nil, err
	}
	ids, _ := tok.Encode(text)
	return ids, nil
}

// EmbedText returns the L2-normalised embedding of text, from the text cache when it has it.
func (m *Model) EmbedText(text string) ([]float32, error) {
	embs, err := m.EmbedTexts([]string{text})
	if err != nil {
		return nil, err
	}
	return embs[0], nil
}

// EmbedQuery returns the L2-normalised embedding of a one-off text, such as a search query,
// without the text cache: label prompts are few and come back, queries are as many as users
// type, and caching them would grow the cache without end.
func (m *Model) EmbedQuery(text string) ([]float32, error) {
	if strings.TrimSpace(text) == "" {
		return nil, errors.New("clip: text embedding: the text is empty")
	}
	ids, err := m.Tokenize(text)
	if err != nil {
		return nil, err
	}
	return m.EmbedTokens(ids)
}

// EmbedTexts returns the embeddings of texts, in order. Texts the cache lacks are embedded
// together (EmbedTokensBatch), then cached.
func (m *Model) EmbedTexts(texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	type pending struct {
		text string
		ids  []int32
	}
	var todo []pending
	queued := map[string]bool{}
	for i, t := range texts {
		if strings.TrimSpace(t) == "" {
			return nil, fmt.Errorf("clip: text embedding: text %d is empty", i)
		}
		if e, ok := m.cache.Get(t, m.dim); ok {
			out[i] = e
			continue
		}
		if queued[t] {
			continue
		}
		ids, err := m.Tokenize(t)
		if err != nil {
			return nil, err
		}
		queued[t] = true
		todo = append(todo, pending{t, ids})
	}
	ids := make([][]int32, len(todo))
	for i, p := range todo {
		ids[i] = p.ids
	}
	embs, err := m.EmbedTokensBatch(ids)
	if err != nil {
		return nil, err
	}
	var warned bool
	computed := make(map[string][]float32, len(todo))
	for i, e := range embs {
		computed[todo[i].text] = e
		if err := m.cache.Put(todo[i].text, e); err != nil && !warned {
			slog.Warn("clip: text embeddings are not kept on disk", "err", err)
			warned = true
		}
	}
	for i, t := range texts {
		if out[i] == nil {
			out[i] = slices.Clone(computed[t]) // a text given twice gets two slices, as cached ones do
		}
	}
	return out, nil
}

// EmbedTokensBatch returns the embeddings of many token id lists (as Tokenize gives them), in
// order, as EmbedTokens would one by one but packed into runs of the text tower of
// BatchTokens tokens (one run alone runs at its own length).
func (m *Model) EmbedTokensBatch(texts [][]int32) ([][]float32, error) {
	order := make([]int, len(texts))
	cut := make([][]int32, len(texts))
	total := 0
	for i, ids := range texts {
		if len(ids) == 0 {
			return nil, fmt.Errorf("clip: text embedding: text %d has no tokens", i)
		}
		order[i], cut[i] = i, ids[:poolIndex(ids, m.pooling, m.eos)+1]
		total += len(cut[i])
	}
	// Longest first, so that each run is filled up with the shorter texts.
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(len(cut[b]), len(cut[a])) })
	capacity := max(BatchTokens, m.context)
	minTokens := 0 // one run alone runs at its own length; several share one shape
	if total > capacity {
		minTokens = capacity
	}
	text, err := m.textTower()
	if err != nil {
		return nil, err
	}
	out := make([][]float32, len(texts))
	for len(order) > 0 {
		var batch [][]int32
		n, k := 0, 0
		for ; k < len(order) && n+len(cut[order[k]]) <= capacity; k++ {
			batch = append(batch, cut[order[k]])
			n += len(cut[order[k]])
		}
		embs, err := text.embed(batch, minTokens)
		if err != nil {
			return nil, err
		}
		for i, e := range embs {
			out[order[i]] = e
		}
		order = order[k:]
	}
	return out, nil
}

// BatchTokens is how many tokens one run of the text tower takes when there are many texts
// to embed (at least the model's context): longer runs let the dense layers work on more rows
// at once, and pay more for attention across texts that the mask then drops; 128 is the
// fastest of the lengths tried (BENCHMARKS.md, "CLIP text embedding and zero-shot").
const BatchTokens = 128

// LabelEmbeddings returns one embedding per label of set, in order: the mean of the label's
// prompt embeddings, normalised (CLIP's prompt ensembling).
func (m *Model) LabelEmbeddings(set *LabelSet) ([][]float32, error) {
	if set == nil || len(set.Labels) == 0 {
		return nil, errors.New("clip: label embeddings: empty label set")
	}
	var prompts []string
	for _, l := range set.Labels {
		prompts = append(prompts, l.Prompts...)
	}
	embs, err := m.EmbedTexts(prompts)
	if err != nil {
		return nil, fmt.Errorf("label set %s: %w", set.Name, err)
	}
	out := make([][]float32, len(set.Labels))
	k := 0
	for i, l := range set.Labels {
		if out[i], err = MeanEmbedding(embs[k : k+len(l.Prompts)]); err != nil {
			return nil, fmt.Errorf("label set %s: label %q: %w", set.Name, l.Name, err)
		}
		k += len(l.Prompts)
	}
	return out, nil
}

// Classifier embeds the labels of set (through the text cache), and the texts that show
// each beside the model's contrast labels (Contrast), and returns a classifier for image
// embeddings of this model.
func (m *Model) Classifier(set *LabelSet) (*Classifier, error) {
	embs, err := m.LabelEmbeddings(set)
	if err != nil {
		return nil, err
	}
	con, err := m.Contrast()
	if err != nil {
		return nil, err
	}
	// Every label's pairs with the contrast, embedded together.
	pairs := &LabelSet{Name: set.Name + " with the contrast"}
	var counts []int
	for i, l := range set.Labels {
		var with []Label
		if con.Find(l.Name, embs[i]) < 0 {
			with = con.PairsWith(l.Name)
		}
		pairs.Labels = append(pairs.Labels, with...)
		counts = append(counts, len(with))
	}
	var pairEmbs [][]float32
	if len(pairs.Labels) > 0 {
		if pairEmbs, err = m.LabelEmbeddings(pairs); err != nil {
			return nil, err
		}
	}
	perLabel := make([][][]float32, len(set.Labels))
	for i, n := range counts {
		perLabel[i], pairEmbs = pairEmbs[:n:n], pairEmbs[n:]
	}
	var background [][]float32
	if len(set.Background) > 0 {
		if background, err = m.EmbedTexts(set.Background); err != nil {
			return nil, fmt.Errorf("label set %s: background: %w", set.Name, err)
		}
	}
	return NewClassifier(set, embs, con, perLabel, background)
}

// Contrast returns what the model's labels are told apart from, embedded on first use: the
// contrast set of Options.Contrast, else the one the bundle carries (ContrastFile in the
// checkpoint it was converted from), else DefaultContrastSet.
func (m *Model) Contrast() (*Contrast, error) {
	m.contrastMu.Lock()
	defer m.contrastMu.Unlock()
	if m.contrast != nil {
		return m.contrast, nil
	}
	set, err := m.contrastSet()
	if err != nil {
		return nil, err
	}
	c, err := m.NewContrast(set)
	if err != nil {
		return nil, err
	}
	m.contrast = c
	return c, nil
}

// NewContrast embeds a contrast set (through the text cache).
func (m *Model) NewContrast(set *LabelSet) (*Contrast, error) {
	items, err := m.LabelEmbeddings(set)
	if err != nil {
		return nil, fmt.Errorf("contrast: %w", err)
	}
	var pairs, background [][]float32
	if ps, _ := set.PairSet(); ps != nil {
		if pairs, err = m.LabelEmbeddings(ps); err != nil {
			return nil, fmt.Errorf("contrast: %w", err)
		}
	}
	if len(set.Background) > 0 {
		if background, err = m.EmbedTexts(set.Background); err != nil {
			return nil, fmt.Errorf("contrast %s: background: %w", set.Name, err)
		}
	}
	return NewContrast(set, items, pairs, background, m.logitScale)
}

// contrastSet is the contrast set Contrast embeds.
func (m *Model) contrastSet() (*LabelSet, error) {
	if m.contrastOpt != nil {
		return m.contrastOpt, nil
	}
	if m.Bundle.HasFile(bundle.RoleContrast) {
		path, err := m.Bundle.Path(bundle.RoleContrast)
		if err != nil {
			return nil, fmt.Errorf("clip: %w", err)
		}
		return LoadLabelSet(path)
	}
	return DefaultContrastSet(), nil
}

// TextSimilarities returns the cosine of an image embedding with each text's embedding
// (retrieval: which description fits the image best).
func (m *Model) TextSimilarities(imageEmbed []float32, texts []string) ([]float32, error) {
	embs, err := m.EmbedTexts(texts)
	if err != nil {
		return nil, err
	}
	return Cosines(imageEmbed, embs)
}

// MatchTexts returns CLIP's probability that img shows each of texts, in order: the softmax
// over the texts of logit scale × cosine, as zero-shot classification with the texts as its
// labels (so the values add up to one, and say how the texts compare, not how well any one
// fits). The texts are embedded together and not cached: they are one-off texts, such as the
// candidate captions of a picture. It implements blip.Scorer with Matcher.
func (m *Model) MatchTexts(img image.Image, texts []string) ([]float64, error) {
	s, err := m.session()
	if err != nil {
		return nil, err
	}
	return s.MatchTexts(img, texts)
}

// MatchTexts is Model.MatchTexts with the picture embedded on this session.
func (s *Session) MatchTexts(img image.Image, texts []string) ([]float64, error) {
	m := s.m
	if len(texts) == 0 {
		return nil, errors.New("clip: match: no texts")
	}
	ids := make([][]int32, len(texts))
	for i, t := range texts {
		if strings.TrimSpace(t) == "" {
			return nil, fmt.Errorf("clip: match: text %d is empty", i)
		}
		var err error
		if ids[i], err = m.Tokenize(t); err != nil {
			return nil, err
		}
	}
	embs, err := m.EmbedTokensBatch(ids)
	if err != nil {
		return nil, err
	}
	image, err := s.EmbedImage(img)
	if err != nil {
		return nil, err
	}
	sims, err := Cosines(image, embs)
	if err != nil {
		return nil, err
	}
	scores := make([]Score, len(texts))
	for i, sim := range sims {
		scores[i] = Score{Label: texts[i], Similarity: sim}
	}
	softmax(scores, m.logitScale)
	out := make([]float64, len(scores))
	for i, sc := range scores {
		out[i] = sc.Share
	}
	return out, nil
}

// Matcher is MatchTexts with a context, as the callers that rank texts (blip.Scorer) take it.
type Matcher struct{ Model *Model }

// Match returns MatchTexts(img, texts); ctx is checked before the model runs.
func (c Matcher) Match(ctx context.Context, img image.Image, texts []string) ([]float64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.Model.MatchTexts(img, texts)
}

// Cosines returns the cosine of query with each of items, all L2-normalised (as the towers'
// embeddings are): e.g. one text against many stored image embeddings.
func Cosines(query []float32, items [][]float32) ([]float32, error) {
	out := make([]float32, len(items))
	for i, it := range items {
		if len(it) != len(query) {
			return nil, fmt.Errorf("clip: cosine of a %d-wide and a %d-wide embedding (item %d)", len(query), len(it), i)
		}
		out[i] = Dot(query, it)
	}
	return out, nil
}
