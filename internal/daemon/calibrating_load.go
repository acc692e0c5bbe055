package daemon

import (
	"context"
	"fmt"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/clip"
	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/fidelity"
	"github.com/edged/edged/models"
)

// calibrationExecutable is the edged that converts on the cameras' frames: this one.
var calibrationExecutable = os.Executable

// recalibration is why field's model of bundle b will be converted again while the daemon
// runs (nil: it will not), for the memory budget.
func (l *loader) recalibration(field string, b *bundle.Bundle) *recalibration {
	switch {
	case field == fieldBLIPITM: // image-text matching is not calibrated on the cameras
		return nil
	case l.needsCameraCalibration(b):
		return cameraRecalibration
	case l.needsShadowChecks(b): // CLIP, BLIP captioning or VQA
		return shadowRecalibration
	}
	return nil
}

// needsCameraCalibration says whether the bundle b (CLIP, or BLIP captioning or VQA) is one
// the daemon calibrates on its cameras: full int8 was asked for (the default), the checkpoint had no calibration data so it
// was written at the safe precision, it is the cache's conversion (which a calibrated one
// replaces), and calibrating on the cameras is not turned off.
func (l *loader) needsCameraCalibration(b *bundle.Bundle) bool {
	cal := b.Manifest.Calibration
	return calibratesOnCameras(l.cfg) &&
		(l.cfg.Runtime.Precision == "" || l.cfg.Runtime.Precision == precisionInt8) &&
		b.Manifest.Precision == convert.SafePrecision.String() &&
		cal != nil && cal.Source == convert.CalibrationNone && cal.Fallback != "" &&
		filepath.Dir(filepath.Clean(b.Dir)) == filepath.Clean(models.BundlesDir(l.cache))
}

// needsShadowChecks says whether the bundle b (CLIP, or BLIP captioning or VQA) is a full-int8 model the daemon keeps
// checking against the safe one: shadow checks and calibrating on the cameras are on, and b is
// the cache's conversion of a checkpoint that is still there (whoever calibrated it: the
// daemon on its cameras, or edged convert on images that may not fit). A bundle named
// directly is the user's and runs as it is.
func (l *loader) needsShadowChecks(b *bundle.Bundle) bool {
	cc := l.cfg.Models.Calibration
	_, err := os.Stat(filepath.Join(b.Manifest.Source.Path, "config.json"))
	return calibratesOnCameras(l.cfg) && !cc.options().Shadow.Off && b.Manifest.Precision == precisionInt8 &&
		filepath.Dir(filepath.Clean(b.Dir)) == filepath.Clean(models.BundlesDir(l.cache)) &&
		b.Manifest.Source.Path != "" && err == nil
}

// calibrating wraps the CLIP model m of bundle b in a calibratingLabeler: the safe model
// (calibrated false), or a full-int8 one that shadow checks watch. Its frames are kept in b's
// folder (deleted with the model), and a model that passes the gate replaces b in the cache.
func (l *loader) calibrating(b *bundle.Bundle, m *clipLabeler, calibrated bool, opts clip.Options) (*calibratingLabeler, error) {
	parts, child, co, err := l.calibrationParts(fieldCLIP, b)
	if err != nil {
		return nil, err
	}
	parts.load = func(nb *bundle.Bundle) (swappableCLIP, error) { return newCLIPLabeler(nb, opts, l.labelWorkers) }
	ref := &safeReference{safeBundle: newSafeBundle(fieldCLIP, child, b), opts: opts, workers: l.labelWorkers}
	parts.ref = ref
	parts.unload = l.prep.unload
	parts.swapped = func(man *bundle.Manifest) { l.reportParts(fieldCLIP, man) }
	if calibrated {
		l.log.Info("models.clip runs at full int8; shadow checks compare it with the safe precision (int8 weights, float activations) on the cameras' frames",
			"every_frames", co.Shadow.Every, "interval", co.Shadow.Interval, "window", co.Shadow.Window)
	} else {
		l.log.Info("models.clip runs at the safe precision (int8 weights, float activations) until it is calibrated to full int8 on the cameras' frames",
			"text_tower_too", co.Text, "min_frames", co.MinFrames, "min_span", co.MinSpan, "frames_kept", parts.res.State().Calibration+parts.res.State().Check)
	}
	c := newCalibratingLabeler(m, calibrated, parts, co, l.log)
	if c.shadow != nil {
		c.shadow.convertsSafe = ref.needsConversion
	}
	return c, nil
}

// calibrationParts are what calibrating field's model of bundle b on the cameras' frames
// works with, whatever the model: the reservoir in b's folder (deleted with the model), a
// child edged that converts b's checkpoint (its run and publish), and the status reported to
// /healthz and the metrics; with the child and the options.
func (l *loader) calibrationParts(field string, b *bundle.Bundle) (calibrationParts, childConversion, CalibrationOptions, error) {
	exe, err := calibrationExecutable()
	if err != nil {
		return calibrationParts{}, childConversion{}, CalibrationOptions{}, fmt.Errorf("calibration: this executable: %w", err)
	}
	checkpoint := b.Manifest.Source.Path
	if _, err := os.Stat(filepath.Join(checkpoint, "config.json")); err != nil {
		return calibrationParts{}, childConversion{}, CalibrationOptions{}, fmt.Errorf("calibration: the checkpoint %q the model was converted from is gone: %w", checkpoint, err)
	}
	co := l.cfg.Models.Calibration.optionsFor(field)
	co.Reservoir.Dir = filepath.Join(b.Dir, frameSubfolder)
	res, err := OpenReservoir(co.Reservoir)
	if err != nil {
		return calibrationParts{}, childConversion{}, CalibrationOptions{}, err
	}
	child := childConversion{exe: exe, checkpoint: checkpoint, safe: b, turn: &l.turn, log: l.log}
	report := func(precision string, s CalibrationStatus) {
		l.prep.update(field, func(m *ModelStatus) { m.Precision, m.Calibration = precision, &s })
	}
	var memory *memoryGate
	if l.prep.budget != nil {
		memory = &memoryGate{budget: l.prep.budget, field: field}
	}
	return calibrationParts{res: res, run: child.run, publish: child.publishInto, report: report, memory: memory,
		safeInCache: b.Dir, safeBeside: newSafeBundle(field, child, b).dir}, child, co, nil
}

// safeBundle is the checkpoint at the safe precision, in the cache next to the full-int8
// bundle (where Open puts a conversion at that precision): what shadow checks compare with and
// the daemon falls back to. A niced child edged converts it the first time a check needs it.
type safeBundle struct {
	field string          // models.<field>, in the log
	child childConversion // the full-int8 model's: executable, checkpoint, turns
	dir   string

	mu sync.Mutex
	b  *bundle.Bundle
}

// newSafeBundle is the safe bundle of the full-int8 bundle b's checkpoint.
func newSafeBundle(field string, child childConversion, b *bundle.Bundle) safeBundle {
	return safeBundle{field: field, child: child,
		dir: filepath.Join(filepath.Dir(b.Dir), convert.CacheName(b.Manifest.Architecture, b.Manifest.Source.Hash, convert.SafePrecision))}
}

// safeReference is CLIP's safe bundle as shadow checks use it. It is loaded for each batch of
// checks and closed after it: a second CLIP kept in memory would cost a 4 GB device hundreds
// of MB all day, and one load (dequantizing and packing the image tower's weights) costs the
// CPU of tens of frames, shared by the batch.
type safeReference struct {
	safeBundle
	opts    clip.Options // of the labelling model
	workers int
}

// prepare finds the safe bundle in the cache, or converts it.
func (r *safeBundle) prepare(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.readLocked() {
		return nil
	}
	want := r.child.safe.Manifest.Source.Hash
	r.child.turn.Lock()
	defer r.child.turn.Unlock()
	tmp, err := os.MkdirTemp(filepath.Dir(r.dir), "."+filepath.Base(r.dir)+".partial-safe-")
	if err != nil {
		return fmt.Errorf("shadow checks: %w", err)
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "bundle")
	r.child.log.Info("shadow checks: converting models."+r.field+" at the safe precision to check the full-int8 model against, at low priority",
		"checkpoint", r.child.checkpoint, "bundle", r.dir)
	args := []string{"convert", "--from", r.child.checkpoint, "--out", out, "--precision", convert.SafePrecision.String(), "--threads", "1"}
	if _, err := runNiced(ctx, r.child.exe, args, defaultNice); err != nil {
		return fmt.Errorf("shadow checks: the safe model: %w", err)
	}
	b, err := fidelityPublish(out, r.dir)
	if err != nil {
		return fmt.Errorf("shadow checks: the safe model: %w", err)
	}
	if b.Manifest.Source.Hash != want {
		return fmt.Errorf("shadow checks: the checkpoint %s changed since the model was loaded (hash %s, was %s)", r.child.checkpoint, b.Manifest.Source.Hash, want)
	}
	b.Manifest.Source.Origin = r.child.safe.Manifest.Source.Origin
	if err := b.Manifest.Write(b.Dir); err != nil {
		return fmt.Errorf("shadow checks: %w", err)
	}
	r.b = b
	return nil
}

// readLocked finds the safe bundle in the cache (true), unless prepare found it already; r.mu
// is held.
func (r *safeBundle) readLocked() bool {
	if r.b != nil {
		return true
	}
	if b, err := bundle.Read(r.dir); err == nil && b.Manifest.Source.Hash == r.child.safe.Manifest.Source.Hash &&
		b.Manifest.Precision == convert.SafePrecision.String() {
		r.b = b
		return true
	}
	return false
}

// needsConversion says whether prepare would convert the safe bundle (not in the cache).
func (r *safeBundle) needsConversion() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.readLocked()
}

func (r *safeBundle) bundle() *bundle.Bundle {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.b
}

// keep preprocesses img as cand does (both bundles come from one checkpoint, with one
// preprocessor): the safe model's input, far smaller than a camera's frame.
func (r *safeReference) keep(cand swappableCLIP, img image.Image, emb []float32) (shadowFrame, error) {
	cl, ok := cand.(*clipLabeler)
	if !ok {
		return shadowFrame{}, fmt.Errorf("shadow checks: cannot check a %T", cand)
	}
	pixels, err := cl.model.Processor().Process(img, nil)
	if err != nil {
		return shadowFrame{}, err
	}
	return shadowFrame{pixels: pixels, emb: append([]float32(nil), emb...)}, nil
}

// compare loads the safe model on one thread (checks are background work), embeds the frames
// and compares them with their int8 embeddings as the fidelity gate does.
func (r *safeReference) compare(_ context.Context, cand swappableCLIP, frames []shadowFrame, sets []*clip.LabelSet) ([]fidelity.Tally, error) {
	cl, ok := cand.(*clipLabeler)
	if !ok {
		return nil, fmt.Errorf("shadow checks: cannot compare a %T", cand)
	}
	opts := r.opts
	opts.Threads = 1
	m, err := clip.Load(r.bundle(), opts)
	if err != nil {
		return nil, fmt.Errorf("shadow checks: the safe model: %w", err)
	}
	defer m.Close()
	// The int8 model's classifiers come through its text tower, which may be idle.
	pair, err := withText(cl, func() (*fidelity.CLIPPair, error) { return fidelity.NewCLIPPair(m, cl.model, sets) })
	if err != nil {
		return nil, err
	}
	tallies := make([]fidelity.Tally, len(frames))
	for i, f := range frames {
		ref, err := m.EmbedPixels(f.pixels)
		if err != nil {
			return nil, fmt.Errorf("shadow checks: the safe model: %w", err)
		}
		if err := pair.CompareEmbeddings(fmt.Sprintf("frame %d of the batch", i+1), ref, f.emb, &tallies[i]); err != nil {
			return nil, err
		}
	}
	return tallies, nil
}

// safe loads the safe model to label with.
func (r *safeReference) safe(ctx context.Context) (swappableCLIP, error) {
	if err := r.prepare(ctx); err != nil {
		return nil, err
	}
	return newCLIPLabeler(r.bundle(), r.opts, r.workers)
}

// fidelityPublish moves the finished bundle dir to out (replacing the bundle there) and reads it.
func fidelityPublish(dir, out string) (*bundle.Bundle, error) {
	if err := convert.Publish(dir, out); err != nil {
		return nil, err
	}
	return bundle.Read(out)
}

// runNiced runs exe with args at the given niceness (through nice(1) when there is one, else
// by setting the child's priority after it started), killed when ctx ends; its stdout.
func runNiced(ctx context.Context, exe string, args []string, nice int) (string, error) {
	name, full := exe, args
	if n, err := exec.LookPath("nice"); err == nil {
		name, full = n, append([]string{"-n", fmt.Sprint(nice), exe}, args...)
	}
	cmd := exec.CommandContext(ctx, name, full...)
	var stdout, stderr boundedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("calibration: start %s: %w", exe, err)
	}
	if name == exe {
		_ = syscall.Setpriority(syscall.PRIO_PROCESS, cmd.Process.Pid, nice)
	}
	err := cmd.Wait()
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	if err != nil {
		return "", fmt.Errorf("calibration: edged convert: %v: %s", err, stderr.String())
	}
	return stdout.String(), nil
}

// boundedBuffer keeps the last maxReportBytes written to it.
type boundedBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > maxReportBytes {
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-maxReportBytes:]...)
	}
	return len(p), nil
}

func (b *boundedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
