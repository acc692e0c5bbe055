package fidelity

import (
	"bytes"
	"strings"
	"testing"
)

// Judge fails on any bar missed, names each, does not judge what was not compared, and fails
// when nothing was compared at all.
func TestJudge(t *testing.T) {
	th := DefaultThresholds()
	tally := func(cosines []float64, top1 []bool, texts [][2]string) *Tally {
		var t Tally
		for _, c := range cosines {
			t.AddCosine(c)
		}
		for _, s := range top1 {
			t.AddTop1(s, "f.png", "shapes", "red circle", map[bool]string{true: "red circle", false: "red square"}[s])
		}
		for _, x := range texts {
			t.AddText("f.png", "caption", x[0], x[1])
		}
		return &t
	}
	same := make([]bool, 50)
	for i := range same {
		same[i] = true
	}
	oneOff := append([]bool{false}, same[1:]...) // 49/50 = 0.98: on the bar
	twoOff := append([]bool{false, false}, same[2:]...)
	for _, tc := range []struct {
		name     string
		t        *Tally
		passed   bool
		failures []string
	}{
		{"all agree", tally([]float64{0.999, 0.998}, same, [][2]string{{"a", "a"}}), true, nil},
		{"on the bars", tally([]float64{0.99, 0.99}, oneOff, nil), true, nil},
		{"mean cosine", tally([]float64{0.96, 0.99}, same, nil), false, []string{"mean cosine 0.9750 < 0.9900"}},
		{"worst cosine", tally([]float64{1, 1, 1, 1, 1, 1, 1, 1, 1, 0.94}, nil, nil), false, []string{"worst cosine 0.9400 < 0.9500"}},
		{"top-1", tally([]float64{1}, twoOff, nil), false, []string{"top-1 agreement 48/50 = 0.960 < 0.980"}},
		{"texts", tally([]float64{1}, nil, [][2]string{{"a", "a"}, {"a", "b"}}), false, []string{"identical captions/answers 1/2 = 0.500 < 0.950"}},
		{"nothing compared", &Tally{}, false, []string{"no frames were compared"}},
	} {
		r := Judge(tc.t, th, "frames/")
		if r.Passed != tc.passed || strings.Join(r.Failures, "|") != strings.Join(tc.failures, "|") {
			t.Errorf("%s: passed %v, failures %q; want %v, %q", tc.name, r.Passed, r.Failures, tc.passed, tc.failures)
		}
		var buf bytes.Buffer
		if err := WriteReport(&buf, r); err != nil || !strings.Contains(buf.String(), "gate: "+Why(r)) {
			t.Errorf("%s: report %q (%v)", tc.name, buf.String(), err)
		}
	}
	r := Judge(tally([]float64{1}, make([]bool, 10), [][2]string{{"a red circle", "a red square"}}), th, "")
	if len(r.Differences) != maxDifferences || !strings.Contains(r.Differences[0], `top-1 "red circle" (float) vs "red square"`) {
		t.Errorf("differences %q", r.Differences)
	}
}

// A merge of per-frame tallies judges as one tally of all those frames.
func TestMergeIsOneTally(t *testing.T) {
	var whole, merged Tally
	for i, c := range []float64{0.999, 0.93, 0.995} {
		var one Tally
		for _, tl := range []*Tally{&whole, &one} {
			tl.AddCosine(c)
			tl.AddTop1(i != 1, "f.png", "shapes", "red circle", "red square")
		}
		merged.Merge(&one)
	}
	merged.Merge(&Tally{}) // an empty tally changes nothing
	a, b := Judge(&whole, DefaultThresholds(), ""), Judge(&merged, DefaultThresholds(), "")
	if a.MeanCosine != b.MeanCosine || a.WorstCosine != b.WorstCosine || a.Top1Agreement != b.Top1Agreement ||
		a.Frames != b.Frames || Why(a) != Why(b) || len(a.Differences) != len(b.Differences) {
		t.Errorf("merged %+v, want %+v", b, a)
	}
	if b.WorstCosine != 0.93 || b.Frames != 3 || b.Passed {
		t.Errorf("merged report %+v: want worst 0.93 over 3 frames, refused", b)
	}
}
