package daemon

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/clip"
	"github.com/edged/edged/internal/fidelity"
)

// A CLIP checkpoint that edged has no calibration data for runs at the safe precision (int8
// weights, float activations): no data can make it wrong. The daemon then earns full int8 on
// what its own cameras see: a reservoir keeps frames sampled over time, and once it holds
// enough a child edged converts the checkpoint at full int8 on them (calibrationRun), gated
// against the safe model on the frames held aside (calibrator.gateReference); a model that passes replaces the safe one
// in the cache and in the running daemon, a refused one is dropped and the safe one kept.

// CalibrationOptions say when the daemon converts and what the gate demands.
type CalibrationOptions struct {
	// Reservoir keeps the frames to calibrate and check on; its Dir is set by the loader.
	Reservoir ReservoirOptions
	// MinFrames and MinSpan: a conversion starts once the reservoir holds this many frames
	// spanning this long (64 frames over 5 minutes when 0).
	MinFrames int
	MinSpan   time.Duration
	// Retry is how long after a refused or failed conversion the next one waits, so that the
	// reservoir has newer frames (MinSpan when 0).
	Retry time.Duration
	// Thresholds of the fidelity gate; a zero field takes fidelity's default.
	Thresholds fidelity.Thresholds
	// TextFrames: frames held aside whose greedy captions or answers the gate compares (BLIP;
	// fidelity.DefaultTextFrames when 0).
	TextFrames int
	// Text: the conversion calibrates the models that see text too, each kept at full int8
	// where its gate holds (edged convert --calibrate-text).
	Text bool
	// Shadow says how often a full-int8 model is checked against the safe one while it labels.
	Shadow ShadowOptions
}

func (o CalibrationOptions) withDefaults() CalibrationOptions {
	o.Reservoir = o.Reservoir.withDefaults()
	o.Shadow = o.Shadow.withDefaults()
	if o.MinFrames <= 0 {
		o.MinFrames = 64
	}
	if o.MinSpan <= 0 {
		o.MinSpan = 5 * time.Minute
	}
	if o.Retry <= 0 {
		o.Retry = o.MinSpan
	}
	d := fidelity.DefaultThresholds()
	for _, f := range []struct{ v, def *float64 }{{&o.Thresholds.MeanCosine, &d.MeanCosine},
		{&o.Thresholds.WorstCosine, &d.WorstCosine}, {&o.Thresholds.Top1, &d.Top1}, {&o.Thresholds.Text, &d.Text}} {
		if *f.v == 0 {
			*f.v = *f.def
		}
	}
	return o
}

// Calibration states, in /healthz.
const (
	calCollecting = "collecting" // keeping frames until there are enough
	calConverting = "converting" // a child edged converts and gates the model
	calRefused    = "refused"    // the gate refused the last model; the safe one labels
	calFailed     = "failed"     // the last conversion failed; tried again later
	calCalibrated = "calibrated" // the full-int8 model labels
	// calWaitingMemory: ready to convert, but the conversion does not fit in
	// runtime.memory_limit beside what is loaded now (memory_wait.go).
	calWaitingMemory = "waiting_for_memory"
)

const (
	precisionInt8 = "int8"   // full int8, calibrated
	cameraSource  = "camera" // the calibration source a camera-calibrated manifest records
	// frameSubfolder is the reservoir's folder in the safe bundle's: deleted with the model.
	frameSubfolder = "frames"
	maxReportBytes = 64 << 10 // of a child's output kept for the log
	defaultNice    = 10       // a conversion's niceness: labels and captions go first
	// statusNoSets is why a ready reservoir does not convert yet: the gate compares top-1
	// labels on the label sets in use.
	statusNoSets = "no label set prepared yet"
)

// CalibrationStatus is where the calibration of a model stands (/healthz, metrics).
type CalibrationStatus struct {
	State string `json:"state"`
	// Frames kept, and the time they span, against what a conversion needs.
	Frames    int     `json:"frames"`
	SpanS     float64 `json:"span_s"`
	MinFrames int     `json:"min_frames"`
	MinSpanS  float64 `json:"min_span_s"`
	// Conversions started, and how many the gate refused or failed.
	Conversions int `json:"conversions"`
	Refused     int `json:"refused"`
	Failed      int `json:"failed"`
	// Gate is the last verdict ("passed", or the bars missed), Check its figures; Error the
	// last failure.
	Gate  string           `json:"gate,omitempty"`
	Check *fidelity.Report `json:"check,omitempty"`
	Error string           `json:"error,omitempty"`
	// Memory is what the conversion waits for in waiting_for_memory.
	Memory *MemoryWait `json:"memory,omitempty"`
	// Shadow is the running agreement of the full-int8 model with the safe one, when shadow
	// checks run.
	Shadow *ShadowStatus `json:"shadow,omitempty"`
}

// swappableCLIP is a loaded CLIP model as the daemon uses it (clipLabeler).
type swappableCLIP interface {
	Labeler
	TextEmbedder
	Match(ctx context.Context, img image.Image, texts []string) ([]float64, error)
	// OpenText and CloseText open and close the model's text tower; the idle unloader
	// calls them on the model labelling now.
	textTower
	// guardText makes every use of the model's text tower go through idle (nil: none), the
	// labeler's, which it hands from model to model as it swaps them.
	guardText(idle *idleModel)
	// manifest is the manifest of the model's bundle (nil when it has none).
	manifest() *bundle.Manifest
	close() error
}

// calibratingLabeler labels with the safe model until a full-int8 model calibrated on the
// cameras' frames passes the gate, then with that one, which shadow checks keep comparing
// with the safe model (shadow.go): when their running agreement fails, the safe model labels
// again until a recalibrated model passes. It is the models.clip Labeler the daemon holds
// throughout (search, caption ranking and jobs keep it), so a swap is one pointer under a
// read-write lock: every call runs wholly on one model, and the old model is closed once the
// calls on it are done. An image embedded by the old model scores the same on the new one:
// both bundles write the text tower at int8-dynamic from the same weights, so the label
// embeddings (cached by the text tower's hash) are the same.
//
// models.idle_unload closes the text tower of the model labelling now (text): every model
// the labeler swaps in runs its text through that one idleModel, and a swap leaves the new
// model's text tower as the old one's was, open or closed (replace).
type calibratingLabeler struct {
	calibrator
	hotSwap[swappableCLIP] // active is written holding swap and text's lock: either one keeps it
	load                   func(*bundle.Bundle) (swappableCLIP, error)
	ref                    shadowReference        // nil: no shadow checks
	swapped                func(*bundle.Manifest) // told the manifest of each model swapped in
	// text closes the text tower of the model labelling now when idle; nil keeps it.
	text *idleModel

	shadow *shadowChecks[swappableCLIP, shadowFrame] // nil: no shadow checks

	// Under calibrator.mu:
	sets map[string]*clip.LabelSet // by file, the newest of each
}

// calibrationParts are what a calibrator works with besides its options (load and ref are
// CLIP's: a BLIP model loads its own pools, and has no shadow checks).
type calibrationParts struct {
	res     *Reservoir
	run     calibrationRun
	load    func(*bundle.Bundle) (swappableCLIP, error)
	publish func(tmp string, res *Reservoir) (*bundle.Bundle, error)
	report  func(precision string, s CalibrationStatus)
	ref     shadowReference // nil, or opts.Shadow.Off: no shadow checks
	unload  *idleUnload     // closes CLIP's text tower when idle; nil keeps it
	memory  *memoryGate     // nil: no memory budget
	// safeInCache and safeBeside: the calibrator's (gateReference); "" compares with the
	// float model.
	safeInCache, safeBeside string
	swapped                 func(*bundle.Manifest)
}

// newCalibratingLabeler labels with m: the safe model (calibrated false), or a full-int8 one
// that shadow checks watch (calibrated true).
func newCalibratingLabeler(m swappableCLIP, calibrated bool, p calibrationParts, opts CalibrationOptions, log *slog.Logger) *calibratingLabeler {
	c := &calibratingLabeler{load: p.load, swapped: p.swapped, sets: map[string]*clip.LabelSet{}}
	c.active = m
	if c.text = p.unload.unloadableText(c); c.text != nil {
		m.guardText(c.text)
	}
	c.initCalibrator(fieldCLIP, "labelling", calibrated, p, opts, log)
	c.gateInputs, c.install = c.labelSetsToGate, c.swapInModel
	if p.ref != nil && !c.opts.Shadow.Off {
		c.ref = p.ref
		c.shadow = newShadowChecks(&c.calibrator, c.compareShadow, c.fallBackToSafe)
	}
	c.mu.Lock()
	c.reportLocked()
	c.mu.Unlock()
	return c
}

// EmbedImage embeds img, offers it to the reservoir, and starts a conversion or a shadow check
// when one is due. Most frames are neither: they take no lock but the model's read lock.
func (c *calibratingLabeler) EmbedImage(ctx context.Context, img image.Image) ([]float32, error) {
	m := c.model()
	emb, err := m.EmbedImage(ctx, img)
	c.swap.RUnlock()
	if err != nil {
		return nil, err
	}
	if c.shadow.due() {
		c.shadow.keep(m, func() (shadowFrame, error) { return c.ref.keep(m, img, emb) })
	}
	c.see(img)
	return emb, nil
}

// labelSetsToGate are the label sets' files the gate compares top-1 labels on (the
// calibrator's gateInputs): none prepared yet is why a ready reservoir waits.
func (c *calibratingLabeler) labelSetsToGate() (gateInputs, string) {
	var in gateInputs
	for file := range c.sets {
		in.LabelSets = append(in.LabelSets, file)
	}
	if len(in.LabelSets) == 0 {
		return in, statusNoSets
	}
	return in, ""
}

// swapInModel loads the bundle that passed the gate and makes it the model that labels (the
// calibrator's install).
func (c *calibratingLabeler) swapInModel(b *bundle.Bundle) error {
	next, err := c.load(b)
	if err != nil {
		return fmt.Errorf("load %s: %w", b.Dir, err)
	}
	return c.replace(next, "the safe model")
}

// replace prepares the label sets on next and makes it the model that labels; the one it
// replaces (called what in the log) is closed once its calls are done, its text tower with
// it. next's text tower is left as the idle unloader has the old one's: open, or closed
// while no search or ask needs it. Its calls' text goes through the same idleModel, and the
// swap holds its lock, so no unload or reload runs across the swap.
func (c *calibratingLabeler) replace(next swappableCLIP, what string) error {
	for _, s := range c.labelSets() {
		if err := next.PrepareLabels(c.ctx, s); err != nil {
			next.close()
			return fmt.Errorf("label set %s on the new model: %w", s.Source, err)
		}
	}
	// Opening takes long: not under the write lock, which stops labelling.
	if c.text.loaded() {
		if err := next.OpenText(); err != nil {
			c.log.Warn("calibration: opening the new model's text tower; it opens on its next use", "err", err)
		}
	}
	c.swap.Lock() // no call runs on the old model from here
	old := c.active
	c.text.exclusive(func(loaded bool) {
		c.active = next
		if c.text == nil {
			return
		}
		old.guardText(nil)
		next.guardText(c.text)
		if loaded { // a no-op unless a reload ran since the look above
			if err := next.OpenText(); err != nil {
				c.log.Warn("calibration: opening the new model's text tower; it opens on its next use", "err", err)
			}
		} else if err := next.CloseText(); err != nil { // preparing the labels may have opened it
			c.log.Warn("calibration: closing the idle text tower of the new model", "err", err)
		}
	})
	c.swap.Unlock()
	if man := next.manifest(); man != nil && c.swapped != nil {
		c.swapped(man)
	}
	if err := old.close(); err != nil {
		c.log.Warn("calibration: closing "+what, "err", err)
	}
	releaseFreedMemory() // the old model's
	return nil
}

// OpenText and CloseText open and close the text tower of the model labelling now: the idle
// unloader calls them (unloadableText), holding the lock replace holds while it swaps.
func (c *calibratingLabeler) OpenText() error  { return c.active.OpenText() }
func (c *calibratingLabeler) CloseText() error { return c.active.CloseText() }

// labelSets are the label sets the gate and the shadow checks compare top-1 labels on.
func (c *calibratingLabeler) labelSets() []*clip.LabelSet {
	c.mu.Lock()
	defer c.mu.Unlock()
	sets := make([]*clip.LabelSet, 0, len(c.sets))
	for _, s := range c.sets {
		sets = append(sets, s)
	}
	return sets
}

// compareShadow compares the safe model with m on a batch of kept frames (shadowChecks'
// compare), holding m: its text tower makes the label sets' classifiers.
func (c *calibratingLabeler) compareShadow(m swappableCLIP, batch []shadowFrame) ([]fidelity.Tally, bool, error) {
	if err := c.ref.prepare(c.ctx); err != nil {
		return nil, false, err
	}
	sets := c.labelSets()
	c.swap.RLock()
	defer c.swap.RUnlock()
	if c.active != m { // swapped since: the frames say nothing of the new model
		return nil, true, nil
	}
	tallies, err := c.ref.compare(c.ctx, m, batch, sets)
	return tallies, false, err
}

// fallBackToSafe makes the safe model label (shadowChecks' safe).
func (c *calibratingLabeler) fallBackToSafe() error {
	safe, err := c.ref.safe(c.ctx)
	if err != nil {
		return err
	}
	return c.replace(safe, "the full-int8 model")
}

// PrepareLabels prepares set on the model labelling now; the gate compares top-1 labels on
// every set prepared.
func (c *calibratingLabeler) PrepareLabels(ctx context.Context, set *clip.LabelSet) error {
	m := c.model()
	err := m.PrepareLabels(ctx, set)
	c.swap.RUnlock()
	if err != nil {
		return err
	}
	if set.Source != "" {
		if _, err := os.Stat(set.Source); err == nil {
			c.mu.Lock()
			c.sets[set.Source] = set
			if c.status.Error == statusNoSets {
				c.status.Error = ""
			}
			c.mu.Unlock()
		}
	}
	return nil
}

func (c *calibratingLabeler) Classify(ctx context.Context, emb []float32, set *clip.LabelSet) ([]clip.Score, error) {
	m := c.model()
	defer c.swap.RUnlock()
	return m.Classify(ctx, emb, set)
}

func (c *calibratingLabeler) EmbedText(ctx context.Context, text string) ([]float32, error) {
	m := c.model()
	defer c.swap.RUnlock()
	return m.EmbedText(ctx, text)
}

func (c *calibratingLabeler) LabelEmbeddings(ctx context.Context, set *clip.LabelSet) ([][]float32, error) {
	m := c.model()
	defer c.swap.RUnlock()
	return m.LabelEmbeddings(ctx, set)
}

func (c *calibratingLabeler) LogitScale() float64 {
	m := c.model()
	defer c.swap.RUnlock()
	return m.LogitScale()
}

// Match ranks captions (blip.Scorer) with the model labelling now.
func (c *calibratingLabeler) Match(ctx context.Context, img image.Image, texts []string) ([]float64, error) {
	m := c.model()
	defer c.swap.RUnlock()
	return m.Match(ctx, img, texts)
}

// close stops a running conversion (its child process is killed), waits for it, and closes
// the model labelling now.
func (c *calibratingLabeler) close() error {
	c.stop()
	c.swap.Lock()
	defer c.swap.Unlock()
	var textErr error
	if c.text != nil {
		textErr = c.text.close()
		c.active.guardText(nil)
	}
	return errors.Join(textErr, c.active.close())
}

// --- the conversion, in a child edged ---

// calibrationRun converts the checkpoint at full int8 on the reservoir's frames and gates it
// as in says: the folder of the converted bundle (removed by the caller) and the gate's report.
type calibrationRun func(ctx context.Context, res *Reservoir, in gateInputs) (tmp string, report *fidelity.Report, err error)

// childConversion is a calibrationRun by `edged convert` in a child process of the daemon's
// own executable: the conversion's memory goes with the child, it runs niced below labels and
// captions, and it is killed when the daemon stops. Conversions take turns with the loader's
// (turn) so that two never hold their memory at once.
type childConversion struct {
	exe        string         // the edged executable
	checkpoint string         // the checkpoint folder
	safe       *bundle.Bundle // in the cache: the new bundle replaces it
	turn       *sync.Mutex
	log        *slog.Logger
}

func (cc childConversion) run(ctx context.Context, res *Reservoir, in gateInputs) (string, *fidelity.Report, error) {
	cc.turn.Lock()
	defer cc.turn.Unlock()
	// The partial mark makes a folder left by a killed daemon one the next start removes.
	tmp, err := os.MkdirTemp(filepath.Dir(cc.safe.Dir), "."+filepath.Base(cc.safe.Dir)+".partial-camera-")
	if err != nil {
		return "", nil, fmt.Errorf("calibration: %w", err)
	}
	// A copy of the frames: the reservoir keeps changing while the child runs.
	calDir, checkDir := res.Folders()
	frames := filepath.Join(tmp, "frames")
	cal, check := filepath.Join(frames, reservoirCalibration), filepath.Join(frames, reservoirCheck)
	n, err := copyFrames(calDir, cal)
	if err == nil {
		_, err = copyFrames(checkDir, check)
	}
	if err != nil {
		return tmp, nil, fmt.Errorf("calibration: copy the frames: %w", err)
	}
	out := filepath.Join(tmp, "bundle")
	args := append([]string{"convert", "--from", cc.checkpoint, "--out", out, "--precision", precisionInt8,
		"--calibration", cal, "--calibration-images", fmt.Sprint(n), "--check", check, "--threads", "1"}, in.gateArgs()...)
	stdout, err := runNiced(ctx, cc.exe, args, defaultNice)
	if err != nil {
		return tmp, nil, err
	}
	b, err := bundle.Read(out)
	if err != nil {
		return tmp, nil, fmt.Errorf("calibration: the converted bundle: %w", err)
	}
	if b.Manifest.Source.Hash != cc.safe.Manifest.Source.Hash {
		return tmp, nil, fmt.Errorf("calibration: the checkpoint %s changed since the model was loaded (hash %s, was %s)",
			cc.checkpoint, b.Manifest.Source.Hash, cc.safe.Manifest.Source.Hash)
	}
	cal0 := b.Manifest.Calibration
	if cal0 == nil || cal0.Check == nil {
		return tmp, nil, fmt.Errorf("calibration: edged convert ran no fidelity gate:\n%s", stdout)
	}
	report := *cal0.Check
	if !report.Passed {
		return tmp, &report, nil
	}
	if b.Manifest.Precision != precisionInt8 {
		return tmp, nil, fmt.Errorf("calibration: the model passed the gate but was written at %s", b.Manifest.Precision)
	}
	// What the manifest records: the camera, with the frames; where the checkpoint came from.
	cal0.Source, cal0.Check.Source = cameraSource, cameraSource
	b.Manifest.Source.Origin = cc.safe.Manifest.Source.Origin
	if err := b.Manifest.Write(b.Dir); err != nil {
		return tmp, nil, fmt.Errorf("calibration: %w", err)
	}
	cc.log.Info("calibration: edged convert's report\n" + stdout)
	return tmp, &report, nil
}

// gateArgs are edged convert's flags for the gate in asks for: the bars, and what it compares
// on (label sets for CLIP; captions, or answers to the questions, for BLIP).
func (in gateInputs) gateArgs() []string {
	th := in.Thresholds
	args := []string{"--min-mean-cosine", fmt.Sprint(th.MeanCosine), "--min-worst-cosine", fmt.Sprint(th.WorstCosine),
		"--min-top1", fmt.Sprint(th.Top1), "--min-text", fmt.Sprint(th.Text)}
	if len(in.LabelSets) > 0 {
		args = append(args, "--labels", strings.Join(in.LabelSets, ","))
	}
	if in.TextFrames > 0 {
		args = append(args, "--check-texts", fmt.Sprint(in.TextFrames))
	}
	for _, q := range in.Questions {
		args = append(args, "--question", q)
	}
	if in.Text {
		args = append(args, "--calibrate-text")
	}
	if in.Reference != "" {
		args = append(args, "--check-reference", in.Reference)
	}
	return args
}

// publishInto is the childConversion's publish: the bundle under tmp replaces the one in the
// cache, and takes the reservoir's frames with it.
func (cc childConversion) publishInto(tmp string, res *Reservoir) (*bundle.Bundle, error) {
	next := filepath.Join(tmp, "bundle")
	var b *bundle.Bundle
	err := res.Carry(filepath.Join(next, frameSubfolder), func() (err error) {
		b, err = fidelityPublish(next, cc.safe.Dir)
		return err
	})
	return b, err
}

// copyFrames copies the frame files of src into a new folder dst, skipping files that are
// being replaced (the reservoir writes NAME.tmp and renames it): how many it copied.
func copyFrames(src, dst string) (int, error) {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return 0, err
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		if _, ok := slotOf(e.Name()); !ok || e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return n, err
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
