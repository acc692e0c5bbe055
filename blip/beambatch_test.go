package blip

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/runtime/tflite"
)

// setBatched switches a session's decoder between one invoke per step for the whole batch
// and one per sequence.
func setBatched(s *Session, on bool) { s.dec.st.batched = on }

// The batched step (one invoke for every beam, caches as they are laid out) gives the logits
// of the one-by-one step, row by row, through reorders as beam search makes them.
func TestBatchedStepMatchesOneByOne(t *testing.T) {
	b := tinyBundle(t, "blip_caption_tiny", graph.FP32)
	ref := openReference(t, "blip_caption_tiny")
	var runs [2][][]float32
	for k, batched := range []bool{false, true} {
		m, s := openSession(t, b)
		setBatched(s, batched)
		im, err := s.EncodePixels(ref.pixels())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.dec.attend(im.embeds, m.visionTokens); err != nil {
			t.Fatal(err)
		}
		const batch = 3
		if err := s.dec.begin(batch); err != nil {
			t.Fatal(err)
		}
		if want := map[bool]int{false: 1, true: batch}[batched]; s.dec.st.rows != want {
			t.Fatalf("batched=%v: interpreter holds %d rows, want %d", batched, s.dec.st.rows, want)
		}
		V := m.dec.vocab
		steps := [][]int32{{m.bos, m.bos, m.bos}, {100, 101, 102}, {7, 8, 9}, {150, 150, 17}, {5, 6, 7}}
		reorders := [][]int{nil, {2, 0, 1}, {0, 0, 2}, {1, 2, 2}, nil}
		for pos, ids := range steps {
			logits, err := s.dec.step(ids, pos)
			if err != nil {
				t.Fatal(err)
			}
			if len(logits) != batch*V {
				t.Fatalf("%d logits, want %d", len(logits), batch*V)
			}
			runs[k] = append(runs[k], slices.Clone(logits))
			if r := reorders[pos]; r != nil {
				if err := s.dec.reorder(r); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for pos := range runs[0] {
		one, all := runs[0][pos], runs[1][pos]
		var maxDiff, rowsApart float64
		V := len(one) / 3
		for i := range one {
			maxDiff = max(maxDiff, math.Abs(float64(one[i]-all[i])))
			rowsApart = max(rowsApart, math.Abs(float64(one[i]-one[V+i%V])))
		}
		if maxDiff > 1e-4 {
			t.Errorf("step %d: batched logits differ from one-by-one by %.3g", pos, maxDiff)
		}
		if pos > 0 && rowsApart == 0 {
			t.Errorf("step %d: rows 0 and 1 have the same logits; the test cannot tell them apart", pos)
		}
	}
}

// Beam search gives transformers' tokens whether the beams run as one batch or one by one,
// with greedy captions (batch 1) in between, so the interpreter's batch changes back and forth.
func TestBeamModesMatchTransformers(t *testing.T) {
	for _, batched := range []bool{false, true} {
		t.Run(fmt.Sprintf("batched=%v", batched), func(t *testing.T) {
			ref := openReference(t, "blip_caption_tiny")
			m, s := openSession(t, tinyBundle(t, "blip_caption_tiny", graph.FP32))
			setBatched(s, batched)
			im, err := s.EncodePixels(ref.pixels())
			if err != nil {
				t.Fatal(err)
			}
			o := m.GenerateDefaults()
			o.MaxNewTokens, o.NumBeams, o.MinLength = 10, 3, 5
			got, err := s.CaptionIDs(im, nil, o)
			if err != nil {
				t.Fatal(err)
			}
			checkIDs(t, "beam3_min5_ids", got, ref.ids("beam3_min5_ids"))

			for _, p := range []graph.Precision{graph.FP32, graph.Int8Full} {
				m, s := openSession(t, shapesBundle(t, "blip_caption", p))
				setBatched(s, batched)
				greedyOK, beamOK := 0, 0
				for _, c := range shapesCases(t) {
					im, err := s.EncodeImage(loadScene(t, c.Image))
					if err != nil {
						t.Fatal(err)
					}
					o := m.GenerateDefaults()
					o.MaxNewTokens = 20
					o.NumBeams = 3
					got, err := s.CaptionIDs(im, nil, o)
					if err != nil {
						t.Fatal(err)
					}
					if slices.Equal(got, c.CaptionBeam3IDs) {
						beamOK++
					} else {
						t.Logf("%v %s 3 beams: got %v, transformers %v", p, c.Image, got, c.CaptionBeam3IDs)
					}
					o.NumBeams = 1
					if got, err = s.CaptionIDs(im, nil, o); err != nil {
						t.Fatal(err)
					}
					if slices.Equal(got, c.CaptionGreedyIDs) {
						greedyOK++
					}
				}
				if bar := shapesBar(p, 24); greedyOK < bar || beamOK < bar {
					t.Errorf("%v: greedy %d/24 and 3 beams %d/24 identical, want at least %d", p, greedyOK, beamOK, bar)
				}
			}
		})
	}
}

// BenchmarkBeamBatch times 3-beam captions with the beams run as one batch and one by one,
// interleaved so that load from other processes falls on both alike: on the BLIP base decoder
// (random weights, 577 made-up image states, 10 new tokens, XNNPACK at 1 and 2 threads) and
// on the shapes model (a real scene, up to 20 new tokens). It reports the median ms per
// caption of each mode (ms/batched, ms/one-by-one) and their ratio (one-by-one/batched: above 1
// means batching is faster). Switching modes resizes the step model outside the timing.
func BenchmarkBeamBatch(b *testing.B) {
	type target struct {
		name    string
		st      *stepSession
		caption func() error
	}
	var targets []target
	base := baseModel(b, graph.FP32)
	for _, threads := range []int{1, 2} {
		d := newBaseDecoder(b, base, tflite.Options{Threads: threads})
		o := GenerateOptions{MaxNewTokens: 10, NumBeams: 3, LengthPenalty: 1, RepetitionPenalty: 1, EarlyStopping: "false"}
		targets = append(targets, target{fmt.Sprintf("base/fp32/threads=%d", threads), d.st, func() error {
			_, err := generate(d, []int32{30522}, 102, o)
			return err
		}})
	}
	for _, p := range []graph.Precision{graph.FP32, graph.Int8Full} {
		m, se := openSession(b, shapesBundle(b, "blip_caption", p))
		im, err := se.EncodeImage(loadScene(b, shapesCases(b)[0].Image))
		if err != nil {
			b.Fatal(err)
		}
		o := m.GenerateDefaults()
		o.MaxNewTokens, o.NumBeams = 20, 3
		targets = append(targets, target{"shapes/" + p.String(), se.dec.st, func() error {
			_, err := se.CaptionIDs(im, nil, o)
			return err
		}})
	}
	for _, tg := range targets {
		if err := tg.caption(); err != nil { // attends to the image; warms the interpreter up
			b.Fatal(err)
		}
		b.Run(tg.name, func(b *testing.B) {
			modes := []bool{true, false}
			times := make([][]float64, len(modes))
			for i := 0; i < b.N; i++ {
				for j, batched := range modes {
					b.StopTimer()
					tg.st.batched = batched
					if err := tg.st.begin(3); err != nil { // the resize, untimed
						b.Fatal(err)
					}
					b.StartTimer()
					t0 := time.Now()
					if err := tg.caption(); err != nil {
						b.Fatal(err)
					}
					times[j] = append(times[j], float64(time.Since(t0).Microseconds())/1000)
				}
			}
			batched, oneByOne := median(times[0]), median(times[1])
			b.ReportMetric(batched, "ms/batched")
			b.ReportMetric(oneByOne, "ms/one-by-one")
			b.ReportMetric(oneByOne/batched, "one-by-one/batched")
		})
	}
}
