package blip

import (
	"errors"
	"fmt"
	"math"
)

// GenerateOptions are the settings of transformers' generate that BLIP decoding follows. Start
// from Model.GenerateDefaults (the checkpoint's generation_config.json) and change what you
// need: every field is read as it is, so a zero NumBeams or RepetitionPenalty is an error, not
// a default.
type GenerateOptions struct {
	// MaxNewTokens bounds the generated tokens; when 0, MaxLength bounds prompt and generated
	// tokens together (transformers' max_length, 20 by default).
	MaxNewTokens int
	MaxLength    int
	// MinLength is the length (prompt included) before which the end token is forbidden;
	// MinNewTokens the same counted in generated tokens only.
	MinLength    int
	MinNewTokens int
	// NumBeams is the beam width; 1 is greedy search.
	NumBeams int
	// LengthPenalty divides a finished beam's log-probability by its generated length to
	// this power (1 by default).
	LengthPenalty float64
	// RepetitionPenalty (CTRL's) divides the positive scores of tokens already in the sequence
	// by it and multiplies the negative ones; 1 is none.
	RepetitionPenalty float64
	// NoRepeatNgramSize forbids repeating any n-gram of this size; 0 is off.
	NoRepeatNgramSize int
	// EarlyStopping is beam search's stopping rule: "false" (transformers' default), "true"
	// or "never".
	EarlyStopping string
}

// maxLength is the longest sequence (prompt included) the options allow.
func (o GenerateOptions) maxLength(prompt int) int {
	if o.MaxNewTokens > 0 {
		return prompt + o.MaxNewTokens
	}
	return o.MaxLength
}

func (o GenerateOptions) check(prompt int) error {
	switch {
	case prompt == 0:
		return errors.New("generate: empty prompt (decoding starts from at least the [DEC] token)")
	case o.NumBeams < 1:
		return fmt.Errorf("generate: num_beams %d must be at least 1", o.NumBeams)
	case o.MaxNewTokens < 0:
		return fmt.Errorf("generate: max_new_tokens %d is negative", o.MaxNewTokens)
	case o.maxLength(prompt) <= prompt:
		return fmt.Errorf("generate: max_length %d leaves no room for new tokens after a prompt of %d", o.maxLength(prompt), prompt)
	case o.RepetitionPenalty <= 0:
		return fmt.Errorf("generate: repetition_penalty %v must be positive", o.RepetitionPenalty)
	case o.NoRepeatNgramSize < 0:
		return fmt.Errorf("generate: no_repeat_ngram_size %d is negative", o.NoRepeatNgramSize)
	}
	switch o.EarlyStopping {
	case "false", "true", "never":
	default:
		return fmt.Errorf("generate: early_stopping %q, want false, true or never", o.EarlyStopping)
	}
	return nil
}

// stepper runs a decoder one token at a time for a batch of sequences that advance together.
type stepper interface {
	// begin starts batch empty sequences.
	begin(batch int) error
	// step feeds ids[b] to sequence b at position pos and returns the next-token logits,
	// [batch · vocab], valid until the next call.
	step(ids []int32, pos int) ([]float32, error)
	// reorder makes sequence b continue what sequence from[b] was (beam search).
	reorder(from []int) error
	vocab() int
	// capacity is the longest sequence the decoder holds.
	capacity() int
}

// generate decodes from prompt until eos or the length limit, as transformers' generate does
// with do_sample=False: greedy search for one beam, beam search otherwise. The result starts
// with the prompt and includes the final eos, if one was generated.
func generate(st stepper, prompt []int32, eos int32, o GenerateOptions) ([]int32, error) {
	if err := o.check(len(prompt)); err != nil {
		return nil, err
	}
	if err := checkCapacity(st, len(prompt), o); err != nil {
		return nil, err
	}
	hs, err := search(st, prompt, eos, o)
	if err != nil {
		return nil, err
	}
	return hs[0].seq, nil
}

// search is greedy search for one beam, beam search otherwise; it returns the finished
// hypotheses, best first.
func search(st stepper, prompt []int32, eos int32, o GenerateOptions) ([]hypothesis, error) {
	if o.NumBeams == 1 {
		h, err := greedy(st, prompt, eos, o)
		return []hypothesis{h}, err
	}
	return beamSearch(st, prompt, eos, o)
}

// checkCapacity refuses options whose longest sequence the decoder cannot hold.
func checkCapacity(st stepper, prompt int, o GenerateOptions) error {
	if max := o.maxLength(prompt); max > st.capacity() {
		return fmt.Errorf("generate: %d tokens (prompt %d + new) exceed the decoder's %d positions; ask for fewer new tokens or a shorter prompt", max, prompt, st.capacity())
	}
	return nil
}

// prefill feeds the prompt to every sequence and returns the logits after its last token.
func prefill(st stepper, prompt []int32, batch int) ([]float32, error) {
	if err := st.begin(batch); err != nil {
		return nil, err
	}
	ids := make([]int32, batch)
	var logits []float32
	for pos, t := range prompt {
		for b := range ids {
			ids[b] = t
		}
		var err error
		if logits, err = st.step(ids, pos); err != nil {
			return nil, err
		}
	}
	return logits, nil
}

// greedy is greedy search; the hypothesis is scored as a finished beam would be.
func greedy(st stepper, prompt []int32, eos int32, o GenerateOptions) (hypothesis, error) {
	max := o.maxLength(len(prompt))
	logits, err := prefill(st, prompt, 1)
	if err != nil {
		return hypothesis{}, err
	}
	seq := append([]int32(nil), prompt...)
	scores := make([]float32, st.vocab())
	logp := make([]float32, st.vocab())
	var sum float64
	for {
		copy(scores, logits)
		o.process(scores, seq, len(prompt), eos)
		next := int32(argmax(scores))
		logSoftmax(logp, scores)
		sum += float64(logp[next])
		seq = append(seq, next)
		if next == eos || len(seq) >= max {
			gen := float64(len(seq) - len(prompt))
			return hypothesis{seq: seq, score: float32(sum / math.Pow(gen, o.LengthPenalty)), finished: true}, nil
		}
		if logits, err = st.step([]int32{next}, len(seq)-1); err != nil {
			return hypothesis{}, err
		}
	}
}

// process applies transformers' logits processors for these options to the scores of the
// next token of seq (raw logits in greedy search, log-probabilities in beam search).
func (o GenerateOptions) process(scores []float32, seq []int32, prompt int, eos int32) {
	if o.RepetitionPenalty != 1 {
		p := float32(o.RepetitionPenalty)
		seen := make(map[int32]bool, len(seq))
		for _, t := range seq {
			if seen[t] || int(t) >= len(scores) || t < 0 {
				continue
			}
			seen[t] = true
			if s := scores[t]; s < 0 {
				scores[t] = s * p
			} else {
				scores[t] = s / p
			}
		}
	}
	if n := o.NoRepeatNgramSize; n > 0 && len(seq)+1 >= n {
		// Ban every token that would complete an n-gram already in seq.
		tail := seq[len(seq)-(n-1):]
		for i := 0; i+n <= len(seq); i++ {
			if equal(seq[i:i+n-1], tail) && int(seq[i+n-1]) < len(scores) {
				scores[seq[i+n-1]] = float32(math.Inf(-1))
			}
		}
	}
	if int(eos) < len(scores) && (len(seq) < o.MinLength || len(seq)-prompt < o.MinNewTokens) {
		scores[eos] = float32(math.Inf(-1))
	}
}

func equal(a, b []int32) bool {
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

// argmax is the index of the largest value, the first one on ties (as torch.argmax).
func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// logSoftmax writes log(softmax(x)) into dst in float32, as torch does for float32 logits.
func logSoftmax(dst, x []float32) {
	m := x[0]
	for _, v := range x {
		if v > m {
			m = v
		}
	}
	var sum float64
	for _, v := range x {
		sum += math.Exp(float64(v - m))
	}
	lse := float32(math.Log(sum))
	for i, v := range x {
		dst[i] = v - m - lse
	}
}

// hypothesis is a beam: its tokens and score.
type hypothesis struct {
	seq      []int32
	score    float32
	finished bool
}

// beamSearch is transformers' beam search (GenerationMixin._beam_search, batch size 1,
// do_sample=False). Each step takes the 2·beams best continuations of all beams; those
// ending in eos or at the length limit, if among the first beams of them, become finished
// hypotheses scored by log-probability / generated length^length_penalty (the best beams of
// them are kept); the best beams that did not end continue. It stops when no running beam
// can beat the worst finished one (early_stopping), or at the length limit, and returns the
// finished hypotheses, best first: transformers returns the first, and the first k with
// num_return_sequences k.
func beamSearch(st stepper, prompt []int32, eos int32, o GenerateOptions) ([]hypothesis, error) {
	const masked = -1e9 // what transformers adds to exclude a candidate
	nb, V := o.NumBeams, st.vocab()
	max := o.maxLength(len(prompt))
	promptLen := len(prompt)

	logits, err := prefill(st, prompt, nb)
	if err != nil {
		return nil, err
	}
	running := make([]hypothesis, nb)
	finished := make([]hypothesis, nb)
	for b := range running {
		running[b] = hypothesis{seq: append([]int32(nil), prompt...)}
		finished[b] = hypothesis{score: masked}
		if b > 0 {
			running[b].score = masked // only the first beam's tokens count at the first step
		}
	}
	unsatisfied := true // the early-stop heuristic still sees room for improvement
	scores := make([]float32, nb*V)
	k := 2 * nb // one end token: keep enough candidates for nb of them not to end
	order := make([]int, 0, k)
	ids := make([]int32, nb)
	from := make([]int, nb)

	for curLen := promptLen; ; curLen++ {
		for b := 0; b < nb; b++ {
			row := scores[b*V : (b+1)*V]
			logSoftmax(row, logits[b*V:(b+1)*V])
			o.process(row, running[b].seq, promptLen, eos)
			for i := range row {
				row[i] += running[b].score
			}
		}
		top := topK(scores, k, order)

		cands := make([]hypothesis, k)
		hits := make([]bool, k)
		origin := make([]int, k)
		allHit := true
		for j, idx := range top {
			b, tok := idx/V, int32(idx%V)
			origin[j] = b
			cands[j] = hypothesis{seq: append(append(make([]int32, 0, curLen+1), running[b].seq...), tok), score: scores[idx]}
			hits[j] = tok == eos || curLen+1 >= max
			allHit = allHit && hits[j]
		}

		// Running beams for the next step: the best candidates that did not end.
		adjusted := make([]float32, k)
		for j := range cands {
			adjusted[j] = cands[j].score
			if hits[j] {
				adjusted[j] += masked
			}
		}
		next := topK(adjusted, nb, make([]int, 0, nb))
		newRunning := make([]hypothesis, nb)
		for b, j := range next {
			newRunning[b] = hypothesis{seq: cands[j].seq, score: adjusted[j]}
			from[b] = origin[j]
		}

		// Finished hypotheses: merge the ones that just ended among the first nb candidates.
		allFinished := true
		for _, f := range finished {
			allFinished = allFinished && f.finished
		}
		norm := float32(math.Pow(float64(curLen+1-promptLen), o.LengthPenalty))
		merged := append([]hypothesis(nil), finished...)
		for j := range cands {
			s := cands[j].score / norm
			if allFinished && o.EarlyStopping == "true" {
				s += masked
			}
			if !unsatisfied {
				s += masked
			}
			done := hits[j] && j < nb
			if !done {
				s += masked
			}
			merged = append(merged, hypothesis{seq: cands[j].seq, score: s, finished: done})
		}
		mscores := make([]float32, len(merged))
		for i, h := range merged {
			mscores[i] = h.score
		}
		for i, j := range topK(mscores, nb, make([]int, 0, nb)) {
			finished[i] = merged[j]
		}
		running = newRunning

		// Early-stop heuristic (transformers' _check_early_stop_heuristic) with curLen+1 as
		// the new current length.
		best := float64(curLen + 1 - promptLen)
		if o.EarlyStopping == "never" && o.LengthPenalty > 0 {
			best = float64(max - promptLen)
		}
		bestRunning := running[0].score / float32(math.Pow(best, o.LengthPenalty))
		worst := finished[0].score
		for _, f := range finished {
			worst = min(worst, f.score)
		}
		improvable := false
		for _, f := range finished {
			// An open slot counts as the worst possible finished score.
			w := float32(masked)
			if f.finished {
				w = worst
			}
			improvable = improvable || bestRunning > w
		}
		unsatisfied = unsatisfied && improvable
		allFinished = true
		for _, f := range finished {
			allFinished = allFinished && f.finished
		}
		if !unsatisfied || (allFinished && o.EarlyStopping == "true") || allHit {
			break
		}

		if err := st.reorder(from); err != nil {
			return nil, err
		}
		for b := range running {
			ids[b] = running[b].seq[len(running[b].seq)-1]
		}
		if logits, err = st.step(ids, curLen); err != nil {
			return nil, err
		}
	}
	out := finished[:1] // the best slot even if nothing finished, as transformers returns it
	for _, f := range finished[1:] {
		if f.finished {
			out = append(out, f)
		}
	}
	return out, nil
}

// topK returns the indices of the k largest values of v in descending order; equal values
// keep their index order. One pass with a sorted window of k: the vocabulary is large and k
// small.
func topK(v []float32, k int, scratch []int) []int {
	top := scratch[:0]
	for i, x := range v {
		if len(top) == k && x <= v[top[k-1]] {
			continue
		}
		// Insert after every kept value that is >= x (stable for ties).
		j := len(top)
		if j < k {
			top = append(top, i)
		} else {
			j = k - 1
		}
		for j > 0 && v[top[j-1]] < x {
			top[j] = top[j-1]
			j--
		}
		top[j] = i
	}
	return append([]int(nil), top...)
}
