package daemon

import (
	"fmt"
	"slices"
	"sync"

	"github.com/edged/edged/blip"
	"github.com/edged/edged/bundle"
)

// A BLIP captioning or VQA checkpoint without calibration data runs at the safe precision
// too, and earns full int8 the way CLIP does (calibrator): on the frames it captions or answers
// about. Only the vision tower changes precision (it is where the time goes); the text models
// stay as the bundle writes them. The gate compares the calibrated model with the safe one on
// frames held aside: the vision outputs' cosine, and identical greedy captions (captioning)
// or answers to the cameras' standing questions (VQA) on a sample of them. It compares with the
// safe model, not the float one: they share the text models, so the gate judges only what
// calibrating changed, and the child converts nothing else (a float BLIP base doubled the
// child's memory).

// calibratingBLIP is the calibrator of one BLIP model. The model's pool is swapped in its
// captioner or answerer (target), which is nil while an idle VQA model is unloaded: the cache
// then holds the calibrated bundle, which its next load reads.
type calibratingBLIP struct {
	calibrator
	questions func() []string // the standing questions the gate asks a VQA model (nil: fidelity's)
	load      func(*bundle.Bundle) (*blipPool, error)
	swapped   func(*bundle.Manifest) // told the manifest of the model swapped in

	ref    blipReference                             // nil: no shadow checks
	shadow *shadowChecks[*blipPool, blipShadowFrame] // nil: no shadow checks

	tmu    sync.Mutex
	target *hotSwap[*blipPool]
	// fellBack is the safe bundle's folder while the safe model runs after a fallback: a
	// load reads it, not the cache's full-int8 bundle ("": the cache's).
	fellBack string
}

// blipTask is what field's model does, in the log.
func blipTask(field string) string {
	if field == fieldBLIPVQA {
		return "answering"
	}
	return "captioning"
}

// calibratingBLIP starts calibrating field's model of bundle b on the frames it runs on: the
// safe model (calibrated false), or a full-int8 one that shadow checks watch (calibrated true).
func (l *loader) calibratingBLIP(field string, b *bundle.Bundle, calibrated bool) (*calibratingBLIP, error) {
	parts, child, co, err := l.calibrationParts(field, b)
	if err != nil {
		return nil, err
	}
	arch := b.Manifest.Architecture
	c := &calibratingBLIP{load: func(nb *bundle.Bundle) (*blipPool, error) { return newBLIPPool(nb, l.run, l.blipWorkers, arch) },
		swapped: func(man *bundle.Manifest) { l.reportParts(field, man) }}
	if field == fieldBLIPVQA {
		// The running config's, at each gate: a reload changes them without loading the model.
		c.questions = func() []string { return standingQuestions(l.runningConfig()) }
	}
	c.initCalibrator(field, blipTask(field), calibrated, parts, co, l.log)
	// The gate compares with the safe model in the cache (calibrator.gateReference): the text
	// models are the same files, so a caption or answer that differs is the calibrated vision
	// tower's doing (with models.calibration.text, each text model written at full int8 has
	// passed its own gate first, in the child). A model calibrated on the cameras is checked from then on, as one loaded
	// at full int8.
	ref := &safeBLIP{safeBundle: newSafeBundle(field, child, b), run: l.run}
	c.install = c.swapInPool
	if !c.opts.Shadow.Off {
		c.watch(ref)
		c.shadow.convertsSafe = ref.needsConversion
	}
	if calibrated {
		l.log.Info(fmt.Sprintf("models.%s runs at full int8; shadow checks compare it with the safe precision (int8 weights, float activations) on the cameras' frames", field),
			"every_frames", co.Shadow.Every, "interval", co.Shadow.Interval, "batch", co.Shadow.Batch, "window", co.Shadow.Window)
	} else {
		text := "its text models stay as they are"
		if co.Text {
			text = "its text models are calibrated then too, each kept at full int8 only where its own gate holds (models.calibration.text)"
		}
		l.log.Info(fmt.Sprintf("models.%s runs at the safe precision (int8 weights, float activations) until its vision tower is calibrated to full int8 on the cameras' frames; %s", field, text),
			"min_frames", co.MinFrames, "min_span", co.MinSpan, "frames_kept", parts.res.State().Calibration+parts.res.State().Check)
	}
	c.gateInputs = func() (gateInputs, string) { // c.mu held
		var in gateInputs
		if c.questions != nil {
			in.Questions = c.questions()
		}
		return in, ""
	}
	c.mu.Lock()
	c.reportLocked()
	c.mu.Unlock()
	return c, nil
}

// standingQuestions are the questions the cameras ask on their schedules, each once.
func standingQuestions(cfg *Config) []string {
	var qs []string
	for _, cam := range cfg.Cameras {
		for _, q := range cam.Questions.Ask {
			if !slices.Contains(qs, q) {
				qs = append(qs, q)
			}
		}
	}
	return qs
}

// attach makes h, the pool of the loaded model, the one a passed model is swapped into;
// detach forgets it (the model is being closed).
func (c *calibratingBLIP) attach(h *hotSwap[*blipPool]) {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	c.target = h
}

func (c *calibratingBLIP) detach(h *hotSwap[*blipPool]) {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	if c.target == h {
		c.target = nil
	}
}

// swapInPool loads the bundle that passed the gate into the loaded model (the calibrator's
// install).
func (c *calibratingBLIP) swapInPool(b *bundle.Bundle) error { return c.runOn(b, "", "the safe model") }

// runOn loads b into the loaded model, closing the one it replaces (called what in the log);
// a later load reads fellBack ("": the cache's bundle).
func (c *calibratingBLIP) runOn(b *bundle.Bundle, fellBack, what string) error {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	if c.target != nil { // else unloaded while idle: its next load reads b
		next, err := c.load(b)
		if err != nil {
			return fmt.Errorf("load %s: %w", b.Dir, err)
		}
		if err := c.target.exchange(next).close(); err != nil {
			c.log.Warn("calibration: closing "+what, "model", c.field, "err", err)
		}
		releaseFreedMemory() // the old model's
	}
	c.fellBack = fellBack
	if c.swapped != nil {
		c.swapped(b.Manifest)
	}
	return nil
}

// blipModels puts the BLIP pool p of field's model behind its contract (a captioner or an
// answerer) in a hotSwap that cal (nil: not calibrating) swaps a calibrated pool into.
func blipModels(field string, p *blipPool, cal *calibratingBLIP) (*Models, *blipCaptioner) {
	h := &hotSwap[*blipPool]{active: p}
	if cal != nil {
		cal.attach(h)
	}
	close := func() error {
		if cal != nil {
			cal.detach(h)
		}
		return h.closeActive()
	}
	if field == fieldBLIPVQA {
		return &Models{Answerer: &blipAnswerer{pool: h, cal: cal}, Close: close}, nil
	}
	c := &blipCaptioner{pool: h, cal: cal}
	return &Models{Captioner: c, Close: close}, c
}

// openBLIP opens field's model of bundle b (of architecture arch) as blipModels puts it.
// A calibrating model is read from the cache each time: after a swap-in the calibrated bundle
// has taken b's place there, and after a shadow checks' fallback the safe one runs.
func (l *loader) openBLIP(field, arch string, b *bundle.Bundle, cal *calibratingBLIP) (*Models, *blipCaptioner, error) {
	if cal != nil {
		cur, err := bundle.Read(cal.bundleDir(b.Dir))
		if err != nil {
			return nil, nil, err
		}
		b = cur
	}
	p, err := newBLIPPool(b, l.run, l.blipWorkers, arch)
	if err != nil {
		return nil, nil, err
	}
	part, c := blipModels(field, p, cal)
	return part, c, nil
}

// blipArch is the architecture field's model must be.
func blipArch(field string) string {
	if field == fieldBLIPVQA {
		return blip.ArchVQA
	}
	return blip.ArchCaption
}

// bundleDir is the folder of the bundle the model runs now, the cache's (dir) unless the
// safe one took over after a fallback.
func (c *calibratingBLIP) bundleDir(dir string) string {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	if c.fellBack != "" {
		return c.fellBack
	}
	return dir
}
