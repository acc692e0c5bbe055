// Package confirm double-checks label events with BLIP image-text matching (ITM): when CLIP
// opens an event for a label whose config asks for it, the frame is scored against the
// label's prompts by ITM before the event is published, and the event says whether ITM
// confirmed it. CLIP compares one embedding of the whole picture with one of the text, so it
// can be fooled by a picture that has the right colour and the wrong shape (or the right
// things in the wrong place); ITM reads the text against the picture's patches, which costs
// more but errs less. Checking only event starts keeps that cost to a few calls a minute.
//
// A Checker remembers each open event's verdict so that its end carries the same one.
package confirm

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"sync"
)

// Matcher scores texts against a picture: the probability (0..1) that each text describes it,
// in order. BLIPMatcher is BLIP's ITM head; the picture is encoded once for all the texts.
type Matcher interface {
	Match(ctx context.Context, img image.Image, texts []string) ([]float64, error)
}

// Defaults of Options.
const (
	DefaultThreshold = 0.5  // ITM's own decision boundary: "match" more likely than not
	DefaultMaxOpen   = 1024 // far more events than labels × cameras are ever open at once
)

// Options configure a Checker; zero fields take the defaults.
type Options struct {
	// Threshold is the ITM probability at or above which an event is confirmed.
	Threshold float64
	// MaxOpen bounds the verdicts kept for events that have not ended; past it the oldest
	// are forgotten (their end is then published without a verdict).
	MaxOpen int
}

// Verdict is what ITM said about an event's first frame.
type Verdict struct {
	// Confirmed is true when the best prompt's probability reached the threshold.
	Confirmed bool
	// Score is the best ITM probability over the label's prompts, Prompt the text that got it.
	Score  float64
	Prompt string
}

// Checker confirms events. Safe for concurrent use.
type Checker struct {
	m    Matcher
	opts Options

	mu    sync.Mutex
	open  map[string]Verdict // by event id
	order []string           // event ids, oldest first, to bound open
}

// New makes a Checker that asks m.
func New(m Matcher, opts Options) (*Checker, error) {
	if m == nil {
		return nil, errors.New("confirm: no matcher (an ITM model)")
	}
	if opts.Threshold == 0 {
		opts.Threshold = DefaultThreshold
	}
	if opts.MaxOpen == 0 {
		opts.MaxOpen = DefaultMaxOpen
	}
	if !(opts.Threshold > 0 && opts.Threshold <= 1) {
		return nil, fmt.Errorf("confirm: threshold %v must be in (0, 1]", opts.Threshold)
	}
	if opts.MaxOpen < 0 {
		return nil, fmt.Errorf("confirm: max open %d must be positive", opts.MaxOpen)
	}
	return &Checker{m: m, opts: opts, open: map[string]Verdict{}}, nil
}

// Start checks the frame an event opened on against the label's prompts (clip.Label.Prompts:
// the texts CLIP matched, so ITM judges the same words) and remembers the verdict under the
// event's id for End. An error (the model failed, ctx ended) leaves the event unchecked: the
// caller publishes it without a verdict rather than dropping it.
func (c *Checker) Start(ctx context.Context, eventID string, img image.Image, prompts []string) (Verdict, error) {
	switch {
	case eventID == "":
		return Verdict{}, errors.New("confirm: event has no id")
	case len(prompts) == 0:
		return Verdict{}, fmt.Errorf("confirm: event %s: the label has no prompts", eventID)
	case img == nil || img.Bounds().Empty():
		return Verdict{}, fmt.Errorf("confirm: event %s: no picture", eventID)
	}
	if err := ctx.Err(); err != nil {
		return Verdict{}, fmt.Errorf("confirm: event %s: %w", eventID, err)
	}
	scores, err := c.m.Match(ctx, img, prompts)
	if err != nil {
		return Verdict{}, fmt.Errorf("confirm: event %s: ITM: %w", eventID, err)
	}
	if len(scores) != len(prompts) {
		return Verdict{}, fmt.Errorf("confirm: event %s: ITM gave %d scores for %d prompts", eventID, len(scores), len(prompts))
	}
	v := Verdict{Score: -1}
	for i, s := range scores {
		if math.IsNaN(s) || s < 0 || s > 1 {
			return Verdict{}, fmt.Errorf("confirm: event %s: ITM probability %v for %q is not in [0, 1]", eventID, s, prompts[i])
		}
		if s > v.Score {
			v.Score, v.Prompt = s, prompts[i]
		}
	}
	v.Confirmed = v.Score >= c.opts.Threshold
	c.remember(eventID, v)
	return v, nil
}

func (c *Checker) remember(id string, v Verdict) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.open[id]; !ok {
		c.order = append(c.order, id)
	}
	c.open[id] = v
	for len(c.open) > c.opts.MaxOpen {
		oldest := c.order[0]
		c.order = c.order[1:]
		delete(c.open, oldest)
	}
}

// End returns the verdict the event got when it started and forgets it; false when the event
// was not checked.
func (c *Checker) End(eventID string) (Verdict, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.open[eventID]
	if !ok {
		return Verdict{}, false
	}
	delete(c.open, eventID)
	for i, id := range c.order {
		if id == eventID {
			c.order = append(c.order[:i], c.order[i+1:]...)
			break
		}
	}
	return v, true
}

// Open is how many checked events have not ended.
func (c *Checker) Open() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.open)
}
