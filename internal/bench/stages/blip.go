package stages

import (
	"fmt"
	"math/rand/v2"
	"strings"

	blipspec "github.com/edged/edged/blip/spec"

	"github.com/edged/edged/blip"
	"github.com/edged/edged/bundle"
	"github.com/edged/edged/internal/bench"
	"github.com/edged/edged/runtime/tflite"
)

// DecodePositions are the positions blip.decode_token is timed at.
var DecodePositions = []int{1, 10, 30}

// CaptionTokens is the length of the timed captions, what transformers' default max_length of
// 20 allows. With
// random weights the end token may come at any step, so the length is forced with
// min_new_tokens = max_new_tokens.
const CaptionTokens = 20

// AnswerTokens is the forced length of the timed VQA answer: real answers are one to three
// word pieces ("yes", "2", "red car").
const AnswerTokens = 3

// BERT ids of "[CLS] what color is the car? [SEP]" (bert-base-uncased's vocabulary, BLIP's).
var whatColorIsTheCar = []int32{101, 2054, 3609, 2003, 1996, 2482, 1029, 102}

// A caption's worth of BERT ids for blip.itm: [CLS], 12 word pieces, [SEP] (the time depends
// on the length, not on which words).
var aCaption = []int32{101, 1037, 2417, 2482, 9083, 2006, 1037, 2346, 1999, 2392, 1997, 1037, 2160, 102}

// CandidateCounts are the numbers of candidate captions blip.candidates is timed at.
var CandidateCounts = []int{3, 5, 8}

// BLIP times the BLIP stages of bundle b: vision for every class; cross-attention keys and
// values, decoder steps, captions and CapFilt's candidates for captioning; answers for VQA;
// the ITM head for retrieval.
func BLIP(s Setup, b *bundle.Bundle) error {
	precision := b.Manifest.Precision
	s.Delegate = EffectiveDelegate(b, s.Delegate)
	opts, err := bench.RuntimeOptions(s.Delegate, s.Threads)
	if err != nil {
		return err
	}
	m, err := blip.Load(b, blip.Options{Runtime: opts})
	if err != nil {
		return err
	}
	defer m.Close()
	sess, err := m.NewSession()
	if err != nil {
		return err
	}
	defer sess.Close()
	size, err := b.Manifest.Int("image_size")
	if err != nil || size <= 0 {
		size = 384
	}
	px := randomFloats(size*size*3, 1.8, 1)
	r := s.Runner
	if s.Want("blip.vision") {
		r.Time(s.record("blip.vision", precision), func() error {
			_, err := sess.EncodePixels(px)
			return err
		})
	}
	// Two images, used in turn: the session keeps the cross-attention keys and values of the
	// last image it decoded for, so captioning the same image again would skip cross_kv. A new
	// camera frame pays for it; alternating makes every timed caption pay too.
	var ims [2]*blip.Image
	for i := range ims {
		if ims[i], err = sess.EncodePixels(randomFloats(size*size*3, 1.8, uint64(i+1))); err != nil {
			return err
		}
	}
	turn := 0
	next := func() *blip.Image { turn++; return ims[turn%2] }
	if b.HasFile(blipspec.RoleCrossKV) && m.Architecture == blip.ArchCaption {
		if s.Want("blip.cross_kv") {
			if err := timeModel(s, b, blipspec.RoleCrossKV, precision, "blip.cross_kv", opts, -1); err != nil {
				r.Fail(s.record("blip.cross_kv", precision), err)
			}
		}
		if s.Want("blip.decode_token") {
			if err := timeSteps(s, b, precision, opts); err != nil {
				r.Fail(s.record("blip.decode_token", precision), err)
			}
		}
	}
	gen := m.GenerateDefaults()
	if m.Architecture == blip.ArchCaption && s.Want("blip.caption") {
		for _, beams := range []int{1, 3} {
			o := gen
			o.NumBeams, o.MaxNewTokens, o.MinNewTokens, o.MaxLength, o.MinLength = beams, CaptionTokens, CaptionTokens, 0, 0
			rec := s.record("blip.caption", precision)
			rec.Tokens, rec.Beams = CaptionTokens, beams
			rec.Note = "a new image: cross_kv, then one decoder step per token (and beam)"
			r.Time(rec, func() error {
				ids, err := sess.CaptionIDs(next(), nil, o)
				if err == nil && len(ids) != CaptionTokens+1 {
					err = fmt.Errorf("caption of %d ids, want %d", len(ids), CaptionTokens+1)
				}
				return err
			})
		}
	}
	if m.Architecture == blip.ArchCaption && s.Want("blip.candidates") {
		for _, n := range CandidateCounts {
			o := gen
			o.MaxNewTokens, o.MinNewTokens, o.MaxLength, o.MinLength = CaptionTokens, CaptionTokens, 0, 0
			rec := s.record("blip.candidates", precision)
			rec.Tokens, rec.Beams = CaptionTokens, n
			rec.Note = "CapFilt's decoder part: a new image's cross_kv, an N-beam search kept whole"
			r.Time(rec, func() error {
				cands, err := sess.CaptionCandidateIDs(next(), nil, o, blip.CandidateOptions{Beams: n})
				if err == nil && len(cands) == 0 {
					err = fmt.Errorf("no candidates")
				}
				return err
			})
		}
	}
	if m.Architecture == blip.ArchRetrieval && s.Want("blip.itm") {
		rec := s.record("blip.itm", precision)
		rec.Tokens = len(aCaption)
		rec.Note = "one text against an encoded image: the ITM head (CapFilt pays it per candidate)"
		r.Time(rec, func() error {
			_, err := sess.ITMIDs(next(), aCaption)
			return err
		})
	}
	if m.Architecture == blip.ArchVQA && s.Want("blip.vqa_answer") {
		o := gen
		o.NumBeams, o.MaxNewTokens, o.MinNewTokens, o.MaxLength, o.MinLength = 1, AnswerTokens, AnswerTokens, 0, 0
		rec := s.record("blip.vqa_answer", precision)
		rec.Tokens = AnswerTokens
		rec.Note = "question encoder, cross_kv, greedy answer; image already encoded"
		r.Time(rec, func() error {
			_, err := sess.AnswerIDs(next(), whatColorIsTheCar, o)
			return err
		})
	}
	return nil
}

// timeModel times one model file of b directly: every input gets values (random floats,
// zero ids), and for the decoder step the position and self-attention bias of position pos
// (pos < 0: not a step model). Each timed call copies in the inputs that blip's session sets
// per call (for a step: the self-attention caches, the bias, the token and position; the
// cross-attention keys and values stay from the caption's start), invokes, and reads the
// first output (the logits of a step).
func timeModel(s Setup, b *bundle.Bundle, role, precision, stage string, opts tflite.Options, pos int) error {
	rec, fn, done, err := prepareModel(s, b, role, precision, stage, opts, pos)
	if err != nil {
		return err
	}
	defer done()
	_, err = s.Runner.Time(rec, fn)
	return err
}

// timeSteps times the decoder step at every position of DecodePositions round-robin
// (bench.Interleave, one interpreter per position), so that load from elsewhere does not
// pass for a difference between positions.
func timeSteps(s Setup, b *bundle.Bundle, precision string, opts tflite.Options) error {
	var recs []bench.Record
	var fns []func() error
	for _, p := range DecodePositions {
		rec, fn, done, err := prepareModel(s, b, blipspec.RoleDecoderStep, precision, "blip.decode_token", opts, p)
		if err != nil {
			return err
		}
		defer done()
		rec.Note = "positions interleaved"
		recs, fns = append(recs, rec), append(fns, fn)
	}
	stats, err := bench.Interleave(s.Runner.Options, fns)
	if err != nil {
		return err
	}
	for i, rec := range recs {
		rec.SetStats(stats[i])
		if err := s.Runner.Emit(rec); err != nil {
			return err
		}
	}
	return nil
}

// prepareModel loads one model file of b for timeModel and returns its record, the function
// to time and what frees the interpreter.
func prepareModel(s Setup, b *bundle.Bundle, role, precision, stage string, opts tflite.Options, pos int) (bench.Record, func() error, func(), error) {
	var rec bench.Record
	path, err := b.Path(role)
	if err != nil {
		return rec, nil, nil, err
	}
	if f, ok := b.Manifest.File(role); ok {
		if f.Precision != "" {
			precision = f.Precision // an int8 bundle keeps its text models at int8-dynamic
		}
		if opts.Delegate != tflite.DelegateNone {
			opts.XNNPackQS8 = precision == "int8" // as blip does per file
			s.Delegate = bench.DelegateName(opts)
		}
	}
	model, err := tflite.LoadModel(path)
	if err != nil {
		return rec, nil, nil, err
	}
	defer model.Close() // the interpreter keeps it alive
	ip, err := tflite.NewInterpreter(model, opts)
	if err != nil {
		return rec, nil, nil, err
	}
	done := func() { ip.Close() }
	fail := func(err error) (bench.Record, func() error, func(), error) {
		done()
		return rec, nil, nil, err
	}
	type floatIn struct {
		t *tflite.Tensor
		v []float32
	}
	var floats []floatIn
	var ints []*tflite.Tensor
	var intVals [][]int32
	cache := -1
	for i := 0; i < ip.InputCount(); i++ {
		t := ip.Input(i)
		switch t.Type() {
		case tflite.Float32:
			v := randomFloats(t.NumElements(), 1, uint64(i))
			if t.Name() == blipspec.InSelfBias {
				cache = t.NumElements() - 1
				for j := range v {
					v[j] = 0
					if j >= pos && j < cache {
						v[j] = blipspec.MaskBias
					}
				}
			}
			if t.Name() == blipspec.InCrossBias {
				clear(v)
			}
			if err := t.SetFloat32(v); err != nil {
				return fail(err)
			}
			if pos < 0 || strings.HasPrefix(t.Name(), "past_") || t.Name() == blipspec.InSelfBias {
				floats = append(floats, floatIn{t, v})
			}
		case tflite.Int32:
			v := make([]int32, t.NumElements())
			if t.Name() == blipspec.InPosition {
				v[0] = int32(pos)
			}
			if t.Name() == blipspec.InTokenIDs {
				for j := range v {
					v[j] = 1037 // "a"
				}
			}
			if err := t.SetInt32(v); err != nil {
				return fail(err)
			}
			ints, intVals = append(ints, t), append(intVals, v)
		default:
			return fail(fmt.Errorf("%s input %s: unexpected type %s", role, t.Name(), t.Type()))
		}
	}
	if pos >= 0 && pos >= cache {
		return fail(fmt.Errorf("position %d outside the decoder's %d cache slots", pos, cache))
	}
	out := ip.Output(0)
	buf := make([]float32, out.NumElements())
	rec = s.record(stage, precision)
	if pos >= 0 {
		rec.Position = pos
	}
	if s.Delegate != bench.DelegateNone {
		rec.Delegation = ip.Delegation().String()
	}
	fn := func() error {
		for _, f := range floats {
			if err := f.t.SetFloat32(f.v); err != nil {
				return err
			}
		}
		for i, t := range ints {
			if err := t.SetInt32(intVals[i]); err != nil {
				return err
			}
		}
		if err := ip.Invoke(); err != nil {
			return err
		}
		return out.ReadFloat32(buf)
	}
	return rec, fn, done, nil
}

func randomFloats(n int, scale float64, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 11))
	v := make([]float32, n)
	for i := range v {
		v[i] = float32((rng.Float64()*2 - 1) * scale)
	}
	return v
}
