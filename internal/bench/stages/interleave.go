package stages

import (
	"fmt"
	"strings"

	"github.com/edged/edged/blip"
	"github.com/edged/edged/bundle"
	"github.com/edged/edged/clip"
	"github.com/edged/edged/internal/bench"
)

// Job is one bundle to time, with the model name records carry.
type Job struct {
	Bundle *bundle.Bundle
	Name   string
}

// EffectiveDelegate is the configuration a delegate name gives for a bundle: clip and blip
// turn XNNPACK's QS8 flag on for full-int8 files themselves (and it changes nothing for float
// files), so xnnpack and xnnpack+qs8 are one configuration.
func EffectiveDelegate(b *bundle.Bundle, d string) string {
	_, eff := clipDelegate(d, b.Manifest.Precision)
	return eff
}

// VisionInterleaved times the image towers (clip.image_embed, blip.vision) of every job under
// every delegate and thread count round-robin (bench.Interleave): all of them are loaded first,
// then run in turn, so that their ratios hold on a busy machine.
func VisionInterleaved(r *bench.Runner, jobs []Job, delegates []string, threads []int) error {
	var recs []bench.Record
	var fns []func() error
	var closers []func() error
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}()
	for _, j := range jobs {
		b, precision := j.Bundle, j.Bundle.Manifest.Precision
		seen := map[string]bool{}
		for _, d := range delegates {
			for _, n := range threads {
				eff := EffectiveDelegate(b, d)
				if key := fmt.Sprint(eff, n); seen[key] {
					continue
				} else {
					seen[key] = true
				}
				rec := bench.Record{Model: j.Name, Precision: precision, Delegate: eff, Threads: n}
				var fn func() error
				switch b.Manifest.Architecture {
				case clip.Architecture:
					run, _ := clipDelegate(d, precision)
					run.Threads = n
					m, err := clip.Load(b, clip.Options{RunOptions: run})
					if err != nil {
						r.Fail(rec, err)
						continue
					}
					closers = append(closers, m.Close)
					px, err := pixels(m.Processor())
					if err != nil {
						return err
					}
					rec.Stage = "clip.image_embed"
					fn = func() error { _, err := m.EmbedPixels(px); return err }
				case blip.ArchCaption, blip.ArchVQA, blip.ArchRetrieval:
					if b.Manifest.Architecture != jobs[0].Bundle.Manifest.Architecture && b.Manifest.Architecture == blip.ArchVQA {
						continue // the same vision tower as the caption bundle's
					}
					opts, err := bench.RuntimeOptions(eff, n)
					if err != nil {
						return err
					}
					m, err := blip.Load(b, blip.Options{Runtime: opts})
					if err != nil {
						r.Fail(rec, err)
						continue
					}
					closers = append(closers, m.Close)
					sess, err := m.NewSession()
					if err != nil {
						r.Fail(rec, err)
						continue
					}
					closers = append(closers, sess.Close)
					size, err := b.Manifest.Int("image_size")
					if err != nil || size <= 0 {
						size = 384
					}
					px := randomFloats(size*size*3, 1.8, 1)
					rec.Stage = "blip.vision"
					fn = func() error { _, err := sess.EncodePixels(px); return err }
				default:
					continue
				}
				recs, fns = append(recs, rec), append(fns, fn)
			}
		}
	}
	if len(fns) == 0 {
		return nil
	}
	r.Log.Info("timing image towers round-robin", "configurations", len(fns))
	stats, err := bench.Interleave(r.Options, fns)
	if err != nil {
		return err
	}
	for i, rec := range recs {
		rec.SetStats(stats[i])
		if len(fns) > 1 {
			rec.Note = "interleaved with the other image-tower rows of this run"
		}
		if err := r.Emit(rec); err != nil {
			return err
		}
	}
	return nil
}

// ModelsMemory loads every job's models at once, as the daemon does (CLIP towers, BLIP
// models with a session), with one thread each, runs each once (an image embedding and a
// label's text embedding; a BLIP image encoding and a 20-token caption), and reports the peak
// resident memory of the process since the last bench.ResetPeakRSS as memory.models_rss, under
// delegate d (a delegate name, optionally with edged's kernels: bench.WithKernels).
func ModelsMemory(r *bench.Runner, jobs []Job, d string) error {
	var closers []func() error
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}()
	var names, precisions []string
	delegate := d
	for _, j := range jobs {
		b := j.Bundle
		names, precisions = append(names, j.Name), append(precisions, b.Manifest.Precision)
		switch b.Manifest.Architecture {
		case clip.Architecture:
			run, name := clipDelegate(d, b.Manifest.Precision)
			run.Threads, delegate = 1, name
			m, err := clip.Load(b, clip.Options{RunOptions: run})
			if err != nil {
				return err
			}
			closers = append(closers, m.Close)
			px, err := pixels(m.Processor())
			if err != nil {
				return err
			}
			if _, err := m.EmbedPixels(px); err != nil {
				return err
			}
			if _, err := m.EmbedTokens(photoOfADog); err != nil {
				return err
			}
		default:
			delegate = EffectiveDelegate(b, d)
			opts, err := bench.RuntimeOptions(delegate, 1)
			if err != nil {
				return err
			}
			m, err := blip.Load(b, blip.Options{Runtime: opts})
			if err != nil {
				return err
			}
			closers = append(closers, m.Close)
			sess, err := m.NewSession()
			if err != nil {
				return err
			}
			closers = append(closers, sess.Close)
			size, err := b.Manifest.Int("image_size")
			if err != nil || size <= 0 {
				size = 384
			}
			im, err := sess.EncodePixels(randomFloats(size*size*3, 1.8, 1))
			if err != nil {
				return err
			}
			o := m.GenerateDefaults()
			o.NumBeams, o.MaxNewTokens, o.MinNewTokens, o.MaxLength, o.MinLength = 1, CaptionTokens, CaptionTokens, 0, 0
			if m.Architecture == blip.ArchVQA {
				o.MaxNewTokens, o.MinNewTokens = AnswerTokens, AnswerTokens
				if _, err := sess.AnswerIDs(im, whatColorIsTheCar, o); err != nil {
					return err
				}
			} else if m.Architecture == blip.ArchCaption {
				if _, err := sess.CaptionIDs(im, nil, o); err != nil {
					return err
				}
			}
		}
	}
	peak, err := bench.PeakRSS()
	if err != nil {
		return err
	}
	rss, _ := bench.RSS()
	note := fmt.Sprintf("all loaded at once and run once; resident now %s", bench.FormatBytes(rss))
	if anon, file, _, err := bench.RSSSplit(); err == nil {
		note += fmt.Sprintf(" (anonymous %s, file-backed %s)", bench.FormatBytes(anon), bench.FormatBytes(file))
	}
	return r.Emit(bench.Record{Stage: "memory.models_rss", Model: strings.Join(names, "+"), Precision: strings.Join(precisions, "+"),
		Delegate: delegate, Threads: 1, PeakRSS: peak, Note: note})
}
