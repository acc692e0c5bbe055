// Package fidelity is the gate a full-int8 model passes before it replaces the safe one: on
// frames held aside from calibration it must agree with the float model of the same
// checkpoint, in image embeddings (mean and worst cosine), in the top-1 label of every label
// set (CLIP), and in greedy captions and answers (BLIP). Calibration data that does not fit a
// model (black frames, another world's scenes) gives int8 ranges that clip what the camera
// shows; this is where it shows, before anyone relies on the labels.
//
// A Pair runs both models of one checkpoint on a frame and adds what it saw to a Tally; Judge
// turns a Tally into a verdict against Thresholds. edged convert --check runs the gate on a
// folder (ConvertChecked); the daemon can run the same Pair on camera frames.
package fidelity

import (
	"fmt"
	"image"
	"io"
	"math"
	"strings"

	"github.com/edged/edged/bundle"
)

// Thresholds are the lowest figures the gate accepts (see DefaultThresholds).
type Thresholds = bundle.FidelityThresholds

// Report is the gate's verdict, as the manifest records it.
type Report = bundle.FidelityInfo

// DefaultThresholds are the gate's bars unless configured otherwise: a mean image-embedding
// cosine of 0.99 and no frame below 0.95, the same top-1 label on 98% of (frame, label set)
// pairs, and identical greedy captions and answers on 95% of those compared.
func DefaultThresholds() Thresholds {
	return Thresholds{MeanCosine: 0.99, WorstCosine: 0.95, Top1: 0.98, Text: 0.95}
}

// maxDifferences is how many examples of disagreement a Tally keeps for the report.
const maxDifferences = 5

// Tally accumulates the comparisons of a candidate model with its reference, frame by frame.
// The zero value is empty and ready.
type Tally struct {
	frames      int
	cosineSum   float64
	worstCosine float64
	top1Same    int
	top1Total   int
	textSame    int
	textTotal   int
	differences []string
}

// AddCosine records the image-embedding cosine of one frame.
func (t *Tally) AddCosine(c float64) {
	if t.frames == 0 || c < t.worstCosine {
		t.worstCosine = c
	}
	t.frames++
	t.cosineSum += c
}

// AddTop1 records whether both models gave a frame the same top-1 label of a label set.
func (t *Tally) AddTop1(same bool, frame, set, ref, got string) {
	t.top1Total++
	if same {
		t.top1Same++
		return
	}
	t.difference(fmt.Sprintf("%s: %s top-1 %q (float) vs %q", frame, set, ref, got))
}

// AddText records whether both models gave the same greedy caption or answer.
func (t *Tally) AddText(frame, what, ref, got string) {
	t.textTotal++
	if ref == got {
		t.textSame++
		return
	}
	t.difference(fmt.Sprintf("%s: %s %q (float) vs %q", frame, what, ref, got))
}

func (t *Tally) difference(s string) {
	if len(t.differences) < maxDifferences {
		t.differences = append(t.differences, s)
	}
}

// Merge adds what o saw to t: a running agreement kept as one Tally per frame, over a
// bounded window, is judged as their merge.
func (t *Tally) Merge(o *Tally) {
	if o.frames > 0 && (t.frames == 0 || o.worstCosine < t.worstCosine) {
		t.worstCosine = o.worstCosine
	}
	t.frames += o.frames
	t.cosineSum += o.cosineSum
	t.top1Same += o.top1Same
	t.top1Total += o.top1Total
	t.textSame += o.textSame
	t.textTotal += o.textTotal
	for _, d := range o.differences {
		t.difference(d)
	}
}

// Frames is how many frames have been compared.
func (t *Tally) Frames() int { return t.frames }

// TextCompared is how many captions and answers have been compared.
func (t *Tally) TextCompared() int { return t.textTotal }

// Judge measures the tally against th. The gate fails on any bar missed, and when nothing
// was compared; a figure with nothing to compare (top-1 without label sets, text for CLIP) is
// not judged.
func Judge(t *Tally, th Thresholds, source string) Report {
	r := Report{Source: source, Frames: t.frames, Thresholds: th, Differences: append([]string(nil), t.differences...)}
	if t.frames == 0 {
		r.Failures = []string{"no frames were compared"}
		return r
	}
	r.MeanCosine = t.cosineSum / float64(t.frames)
	r.WorstCosine = t.worstCosine
	fail := func(format string, args ...any) { r.Failures = append(r.Failures, fmt.Sprintf(format, args...)) }
	if r.MeanCosine < th.MeanCosine {
		fail("mean cosine %.4f < %.4f", r.MeanCosine, th.MeanCosine)
	}
	if r.WorstCosine < th.WorstCosine {
		fail("worst cosine %.4f < %.4f", r.WorstCosine, th.WorstCosine)
	}
	if t.top1Total > 0 {
		r.Top1Compared = t.top1Total
		r.Top1Agreement = float64(t.top1Same) / float64(t.top1Total)
		if r.Top1Agreement < th.Top1 {
			fail("top-1 agreement %d/%d = %.3f < %.3f", t.top1Same, t.top1Total, r.Top1Agreement, th.Top1)
		}
	}
	if t.textTotal > 0 {
		r.TextCompared = t.textTotal
		r.TextAgreement = float64(t.textSame) / float64(t.textTotal)
		if r.TextAgreement < th.Text {
			fail("identical captions/answers %d/%d = %.3f < %.3f", t.textSame, t.textTotal, r.TextAgreement, th.Text)
		}
	}
	r.Passed = len(r.Failures) == 0
	return r
}

// Why is the verdict in one line: "passed", or the bars missed.
func Why(r Report) string {
	if r.Passed {
		return "passed"
	}
	return "failed: " + strings.Join(r.Failures, "; ")
}

// WriteReport prints r for people, one figure a line.
func WriteReport(w io.Writer, r Report) error {
	var b strings.Builder
	against := "the float model"
	if r.Reference != "" && r.Reference != "fp32" {
		against = "the " + r.Reference + " model"
	}
	fmt.Fprintf(&b, "fidelity of full int8 against %s, on %d frames held aside", against, r.Frames)
	if r.Source != "" {
		fmt.Fprintf(&b, " (%s)", r.Source)
	}
	b.WriteString(":\n")
	fmt.Fprintf(&b, "  image embeddings: mean cosine %.4f (≥ %.4f), worst %.4f (≥ %.4f)\n", r.MeanCosine, r.Thresholds.MeanCosine, r.WorstCosine, r.Thresholds.WorstCosine)
	if r.Top1Compared > 0 {
		fmt.Fprintf(&b, "  top-1 labels: %d/%d the same, %.1f%% (≥ %.1f%%)\n", int(math.Round(r.Top1Agreement*float64(r.Top1Compared))), r.Top1Compared, 100*r.Top1Agreement, 100*r.Thresholds.Top1)
	}
	if r.TextCompared > 0 {
		fmt.Fprintf(&b, "  greedy captions/answers: %d/%d identical, %.1f%% (≥ %.1f%%)\n", int(math.Round(r.TextAgreement*float64(r.TextCompared))), r.TextCompared, 100*r.TextAgreement, 100*r.Thresholds.Text)
	}
	for _, d := range r.Differences {
		fmt.Fprintf(&b, "  differs: %s\n", d)
	}
	fmt.Fprintf(&b, "  gate: %s\n", Why(r))
	_, err := io.WriteString(w, b.String())
	return err
}

// Pair runs the float model and the full-int8 model of one checkpoint on the same frames.
type Pair interface {
	// Compare runs both models on img (called frame in messages) and adds what it saw to t.
	Compare(frame string, img image.Image, t *Tally) error
	Close() error
}

// cosine is the cosine of two vectors of the same length (0 when either is zero).
func cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		dot += x * y
		na += x * x
		nb += y * y
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return dot / math.Sqrt(na*nb)
}
