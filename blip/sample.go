package blip

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// SampleOptions are the settings of nucleus sampling, as transformers' generate does it with
// do_sample=True: the logits, after the same processors as greedy search (repetition
// penalty, n-gram ban, minimum length), are divided by Temperature, cut to the TopK likeliest
// tokens, then to the likeliest tokens whose probabilities add up to TopP, and the next token
// is drawn from what is left.
type SampleOptions struct {
	TopP        float64 // in (0, 1]; 1 keeps every token
	TopK        int     // 0 keeps every token
	Temperature float64 // > 0; 1 is the model's own distribution
}

// DefaultSampleOptions are BLIP's CapFilt settings (top_p 0.9) with transformers' top_k of 50
// and temperature 1.
func DefaultSampleOptions() SampleOptions {
	return SampleOptions{TopP: 0.9, TopK: 50, Temperature: 1}
}

func (so SampleOptions) check() error {
	switch {
	case !(so.TopP > 0 && so.TopP <= 1):
		return fmt.Errorf("sample: top_p %v must be in (0, 1]", so.TopP)
	case so.TopK < 0:
		return fmt.Errorf("sample: top_k %d is negative", so.TopK)
	case !(so.Temperature > 0) || math.IsInf(so.Temperature, 0):
		return fmt.Errorf("sample: temperature %v must be a positive number", so.Temperature)
	}
	return nil
}

// sample draws n sequences from prompt, decoded together as one batch, each until eos or the
// length limit. A sequence's score is as a finished beam's: the log-probability of its
// generated tokens (under the processed distribution, before temperature and truncation)
// divided by their number to the length penalty's power.
func sample(st stepper, prompt []int32, eos int32, o GenerateOptions, so SampleOptions, n int, rng *rand.Rand) ([]hypothesis, error) {
	if err := o.check(len(prompt)); err != nil {
		return nil, err
	}
	if err := so.check(); err != nil {
		return nil, err
	}
	switch {
	case n < 1:
		return nil, fmt.Errorf("sample: %d sequences", n)
	case rng == nil:
		return nil, errors.New("sample: no random source")
	}
	if err := checkCapacity(st, len(prompt), o); err != nil {
		return nil, err
	}
	max := o.maxLength(len(prompt))
	logits, err := prefill(st, prompt, n)
	if err != nil {
		return nil, err
	}
	V := st.vocab()
	hs := make([]hypothesis, n)
	logp := make([]float64, n)
	for b := range hs {
		hs[b].seq = append(make([]int32, 0, max), prompt...)
	}
	d := newDrawer(V)
	ids := make([]int32, n)
	done := make([]bool, n) // ended with eos or at the length limit
	for curLen := len(prompt); ; curLen++ {
		running := 0
		for b := range hs {
			if done[b] {
				continue // its row of the batch is ignored
			}
			h := &hs[b]
			copy(d.row, logits[b*V:(b+1)*V])
			o.process(d.row, h.seq, len(prompt), eos)
			logSoftmax(d.logp, d.row)
			next := d.draw(d.row, so, rng)
			logp[b] += float64(d.logp[next])
			h.seq = append(h.seq, next)
			done[b] = next == eos || len(h.seq) >= max
			if !done[b] {
				running++
			}
		}
		if running == 0 {
			break
		}
		for b, h := range hs {
			ids[b] = h.seq[len(h.seq)-1] // an ended sequence repeats its last token, unread
		}
		if logits, err = st.step(ids, curLen); err != nil {
			return nil, err
		}
	}
	for b := range hs {
		gen := float64(len(hs[b].seq) - len(prompt))
		hs[b].score = float32(logp[b] / math.Pow(gen, o.LengthPenalty))
		hs[b].finished = true
	}
	return hs, nil
}

// drawer holds the buffers of one sampling step.
type drawer struct {
	row, logp []float32
	probs     []float64
	order     []int
}

func newDrawer(vocab int) *drawer {
	return &drawer{row: make([]float32, vocab), logp: make([]float32, vocab), probs: make([]float64, vocab), order: make([]int, vocab)}
}

// draw picks a token from processed logits as transformers' TemperatureLogitsWarper,
// TopKLogitsWarper and TopPLogitsWarper followed by multinomial sampling do: ties in the
// cut keep the lower token id.
func (d *drawer) draw(logits []float32, so SampleOptions, rng *rand.Rand) int32 {
	for i := range d.order {
		d.order[i] = i
	}
	// Likeliest first; equal logits by token id.
	slices.SortStableFunc(d.order, func(a, b int) int {
		switch {
		case logits[a] > logits[b]:
			return -1
		case logits[a] < logits[b]:
			return 1
		}
		return 0
	})
	keep := len(d.order)
	if so.TopK > 0 && so.TopK < keep {
		keep = so.TopK
	}
	top := float64(logits[d.order[0]]) / so.Temperature
	var sum float64
	for j, i := range d.order[:keep] {
		p := 0.0
		if !math.IsInf(float64(logits[i]), -1) {
			p = math.Exp(float64(logits[i])/so.Temperature - top)
		}
		d.probs[j] = p
		sum += p
	}
	// The smallest head of the sorted tokens whose probability reaches top_p (at least one).
	cum, n := 0.0, 0
	for n < keep {
		cum += d.probs[n] / sum
		n++
		if cum >= so.TopP {
			break
		}
	}
	var mass float64
	for j := 0; j < n; j++ {
		mass += d.probs[j]
	}
	u := rng.Float64() * mass
	for j := 0; j < n; j++ {
		u -= d.probs[j]
		if u < 0 {
			return int32(d.order[j])
		}
	}
	return int32(d.order[n-1])
}
