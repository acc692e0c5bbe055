package convert

import (
	"errors"
	"fmt"
	"image"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/imageproc"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/shapes"
	"github.com/edged/edged/quant"
	"github.com/edged/edged/runtime/tflite"
)

// calibrationSource describes the images forEachCalibrationImage yields, for the manifest.
func calibrationSource(opts Options) string {
	if opts.CalibrationDir != "" {
		return opts.CalibrationDir
	}
	return CalibrationShapes
}

// Calibration sources the manifest names besides an image folder (bundle.CalibrationInfo).
const (
	// CalibrationShapes is rendered scenes of the shapes world.
	CalibrationShapes = "shapes"
	// CalibrationNone is no calibration: the bundle was written at SafePrecision.
	CalibrationNone = "none"
)

// SafePrecision is what a full-int8 conversion writes instead when it has no calibration data
// that fits the checkpoint (or the fidelity gate refuses the calibrated model): int8 weights
// and float activations, as Lowering writes Int8Dynamic. It needs no activation ranges, so no
// data can make it wrong; it is a quarter of fp32 on disk and computes fp32's results within
// the weights' rounding.
const SafePrecision = graph.Int8Dynamic

// planCalibration decides what a conversion of src calibrates on. Only full int8 without a
// calibration folder needs deciding: the shapes models (recognised by their content hash,
// shapes.Checkpoint) calibrate on rendered shapes scenes, their own data, and so do random
// weights, which know no data and are converted to measure speed; any other checkpoint is
// converted at SafePrecision, said once through opts.Log, and the returned info (for the
// manifest) says why.
func planCalibration(src *Source, opts Options) (Options, *bundle.CalibrationInfo) {
	if opts.Precision != graph.Int8Full || opts.CalibrationDir != "" {
		return opts, nil
	}
	if calibratesItself(src.Hash) || opts.RandomInit {
		opts.shapesScenes = true
		return opts, nil
	}
	reason := "full int8 needs calibration images like the ones the model will see, and none were given for this checkpoint " +
		"(rendered shapes scenes are calibration data for the shapes models only)"
	opts.Log.Warn("convert: "+reason+"; converting at "+SafePrecision.String()+" (int8 weights, float activations) instead. "+
		"For full int8 give frames from your cameras: edged convert --calibration DIR [--check DIR2]",
		"checkpoint", src.Dir)
	opts.Precision = SafePrecision
	return opts, &bundle.CalibrationInfo{Source: CalibrationNone, Fallback: reason}
}

// calibratesItself says whether edged has calibration data for the checkpoint of this hash:
// the shapes checkpoints, calibrated on rendered shapes scenes.
func calibratesItself(hash string) bool {
	_, ok := shapes.Checkpoint(hash)
	return ok
}

// CalibratesItself says whether a full-int8 conversion of the checkpoint in dir calibrates
// without images being given (planCalibration), rather than falling back to SafePrecision.
// memoDir is Open's cacheDir: the hash is remembered there for the conversion.
func CalibratesItself(dir, memoDir string) (bool, error) {
	h, err := memoHash(dir, memoDir)
	if err != nil {
		return false, err
	}
	return calibratesItself(h), nil
}

// calibrationCanvas is the size shapes scenes are rendered at: larger than the shapes models'
// 64-pixel input and smaller than most real ones, so preprocessing resizes in both directions.
const calibrationCanvas = 256

// forEachCalibrationImage calls fn with each calibration image in turn, at most
// opts.CalibrationImages of them (64 by default): the images of opts.CalibrationDir in name
// order (imageproc.Formats; other files are skipped), or, where planCalibration allowed them,
// scenes of the shapes world rendered with the training's colour jitter and noise, from a
// fixed seed. It returns the number of images used.
func forEachCalibrationImage(opts Options, fn func(name string, img image.Image) error) (int, error) {
	opts = opts.withDefaults()
	if opts.CalibrationDir == "" {
		if !opts.shapesScenes {
			return 0, errors.New("calibration: no calibration images (shapes scenes calibrate the shapes models only)")
		}
		rng := rand.New(rand.NewPCG(1, 2))
		for i := 0; i < opts.CalibrationImages; i++ {
			scene := shapes.Random(rng).Jittered(rng, 15)
			img, err := shapes.Render(scene, calibrationCanvas, calibrationCanvas, shapes.Options{Noise: 6 * rng.Float64(), Rand: rng})
			if err != nil {
				return i, fmt.Errorf("calibration: render scene %d: %w", i, err)
			}
			if err := fn(fmt.Sprintf("shapes scene %d", i), img); err != nil {
				return i, fmt.Errorf("calibration images: %w", err)
			}
		}
		return opts.CalibrationImages, nil
	}
	n, err := ForEachImageFile(opts.CalibrationDir, opts.CalibrationImages, fn)
	if err != nil {
		return n, fmt.Errorf("calibration images: %w", err)
	}
	return n, nil
}

// ForEachImageFile calls fn with the images of dir in name order (imageproc.Formats; other
// files are skipped), at most limit of them (all when limit ≤ 0), decoding one at a time so that a
// folder of large photos does not fill memory. It returns the number of images fn was given
// without an error; a folder with no images is an error.
func ForEachImageFile(dir string, limit int, fn func(path string, img image.Image) error) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var names []string
	for _, e := range entries {
		if imageproc.IsImageName(e.Name()) && !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return 0, fmt.Errorf("no image files (%s) in %s", imageproc.Formats, dir)
	}
	if limit > 0 && len(names) > limit {
		names = names[:limit]
	}
	for i, name := range names {
		path := filepath.Join(dir, name)
		img, err := imageproc.DecodeFile(path)
		if err != nil {
			return i, err
		}
		if err := fn(path, img); err != nil {
			return i, err
		}
	}
	return len(names), nil
}

// Calibrator observes the activation ranges of a float model lowered with
// graph.LowerOptions{ObserveAll: true}, where every activation is an output: set the inputs
// through Interpreter, call Run once per sample, then take Ranges for
// graph.LowerOptions.Ranges. Float inputs are observed too (their ranges are needed).
type Calibrator struct {
	ip  *tflite.Interpreter
	obs *ActivationObserver
}

// Observers for calibration (Options.Observer).
const (
	// ObserverMinMax covers every value seen (quant.MinMax).
	ObserverMinMax = "minmax"
	// ObserverPercentile clips to the 0.01% and 99.99% percentiles (quant.Percentile), ignoring
	// rare outliers.
	ObserverPercentile = "percentile"
	// ObserverMovingAverage follows each image's range with an exponential moving average
	// (quant.MovingAverage).
	ObserverMovingAverage = "moving-average"
)

// newObserver returns the observer constructor called name.
func newObserver(name string) (func() quant.Observer, error) {
	switch name {
	case ObserverMinMax, "":
		return func() quant.Observer { return &quant.MinMax{} }, nil
	case ObserverPercentile:
		return func() quant.Observer { return &quant.Percentile{Percent: 99.99} }, nil
	case ObserverMovingAverage:
		return func() quant.Observer { return &quant.MovingAverage{} }, nil
	}
	return nil, fmt.Errorf("calibration: unknown observer %q (minmax, percentile, moving-average)", name)
}

// NewCalibrator loads model and gives every float input and output its own observer from
// newObserver (a quant.MinMax when nil).
func NewCalibrator(model []byte, opts tflite.Options, newObserver func() quant.Observer) (*Calibrator, error) {
	if newObserver == nil {
		newObserver = func() quant.Observer { return &quant.MinMax{} }
	}
	m, err := tflite.NewModel(model)
	if err != nil {
		return nil, fmt.Errorf("calibration model: %w", err)
	}
	return newCalibrator(m, opts, newObserver)
}

// newCalibrator takes ownership of m.
func newCalibrator(m *tflite.Model, opts tflite.Options, newObserver func() quant.Observer) (*Calibrator, error) {
	defer m.Close() // the interpreter keeps what it needs
	ip, err := tflite.NewInterpreter(m, opts)
	if err != nil {
		return nil, fmt.Errorf("calibration model: %w", err)
	}
	return &Calibrator{ip: ip, obs: &ActivationObserver{newObserver: newObserver}}, nil
}

// Interpreter is where the caller sets the inputs of the next Run.
func (c *Calibrator) Interpreter() *tflite.Interpreter { return c.ip }

// Run invokes the model and feeds every observed tensor to its observer.
func (c *Calibrator) Run() error {
	if err := c.ip.Invoke(); err != nil {
		return fmt.Errorf("calibration run: %w", err)
	}
	return c.obs.Observe(c.ip)
}

// Ranges returns the observed range of every tensor by name.
func (c *Calibrator) Ranges() (map[string]quant.Range, error) { return c.obs.Ranges() }

// Close frees the interpreter.
func (c *Calibrator) Close() error { return c.ip.Close() }

// ActivationObserver observes the float inputs and outputs of the runs of one model (an
// ObserveAll model: every activation is an output), whoever runs it: Calibrator feeds it
// images one by one, and a text model is observed while its inference code runs it (a
// decoder step by step through a caption). The tensors are those of the first interpreter
// observed; later ones must be of the same model.
type ActivationObserver struct {
	newObserver func() quant.Observer
	names       []string
	observers   []quant.Observer
	buf         []float32
	runs        int
}

// NewActivationObserver observes with the observer called method (Options.Observer: "" or
// ObserverMinMax, ObserverPercentile, ObserverMovingAverage).
func NewActivationObserver(method string) (*ActivationObserver, error) {
	obs, err := newObserver(method)
	if err != nil {
		return nil, err
	}
	return &ActivationObserver{newObserver: obs}, nil
}

// Observe feeds every float input and output of ip, as they are after a run, to its observer.
func (a *ActivationObserver) Observe(ip *tflite.Interpreter) error {
	var tensors []*tflite.Tensor
	for i := 0; i < ip.InputCount(); i++ {
		tensors = append(tensors, ip.Input(i))
	}
	for i := 0; i < ip.OutputCount(); i++ {
		tensors = append(tensors, ip.Output(i))
	}
	k := 0
	for _, t := range tensors {
		if t.Type() != tflite.Float32 {
			continue
		}
		if a.runs == 0 {
			a.names = append(a.names, t.Name())
			a.observers = append(a.observers, a.newObserver())
		} else if k >= len(a.names) || a.names[k] != t.Name() {
			return fmt.Errorf("calibration: observing %s, another model than the first run's", t.Name())
		}
		n := t.NumElements()
		if cap(a.buf) < n {
			a.buf = make([]float32, n)
		}
		buf := a.buf[:n]
		if err := t.ReadFloat32(buf); err != nil {
			return fmt.Errorf("calibration: read %s: %w", t.Name(), err)
		}
		if err := a.observers[k].Observe(buf); err != nil {
			return fmt.Errorf("calibration: observe %s: %w", t.Name(), err)
		}
		k++
	}
	a.runs++
	return nil
}

// Runs is how many runs have been observed.
func (a *ActivationObserver) Runs() int { return a.runs }

// Ranges returns the observed range of every tensor by name.
func (a *ActivationObserver) Ranges() (map[string]quant.Range, error) {
	if a.runs == 0 {
		return nil, errors.New("calibration: no samples were run")
	}
	out := make(map[string]quant.Range, len(a.names))
	for i, name := range a.names {
		r, err := a.observers[i].Range()
		if err != nil {
			return nil, fmt.Errorf("calibration: range of %s: %w", name, err)
		}
		out[name] = r
	}
	return out, nil
}

// CalibrateImages observes the activation ranges of g on the calibration images that opts
// choose (see forEachCalibrationImage): g is lowered at FP32 with its activations as outputs,
// feed puts each image into the interpreter's inputs (preprocessing it as the model wants), and
// the model runs once per image. The ranges are what graph.LowerOptions.Ranges needs at
// Int8Full; the info goes to the manifest (Writer.SetCalibration).
//
// An output stays in memory for the whole run, so every activation observed at once would
// hold the whole forward pass: over a gigabyte for BLIP base's vision tower (its attention
// maps alone are 16 MB a layer). The activations are observed in passes of at most
// ObserveBudget bytes each, every pass running the images again. The float models of all
// passes are written before the first runs, so g is not needed while they run: a caller that
// drops its own reference (and builds the graph again for its int8 lowering) lets its weights
// go too.
func CalibrateImages(g *graph.Graph, opts Options, step string, feed func(ip *tflite.Interpreter, img image.Image) error) (map[string]quant.Range, bundle.CalibrationInfo, error) {
	opts = opts.withDefaults()
	info := bundle.CalibrationInfo{Source: calibrationSource(opts), Method: opts.Observer}
	obs, err := newObserver(opts.Observer)
	if err != nil {
		return nil, info, err
	}
	passes := observePasses(g.Observable(), opts.observeBudget)
	files := make([]string, len(passes))
	defer func() {
		for _, f := range files {
			if f != "" {
				os.Remove(f)
			}
		}
	}()
	for i, pass := range passes {
		if files[i], err = writeCalibrationModel(g, pass); err != nil {
			return nil, info, err
		}
	}
	g = nil
	debug.FreeOSMemory()
	ranges := map[string]quant.Range{}
	for i, file := range files {
		name := step
		if len(files) > 1 {
			name = fmt.Sprintf("%s (pass %d of %d)", step, i+1, len(files))
		}
		n, err := calibratePass(file, opts, obs, name, feed, ranges)
		tflite.ReleaseFreedMemory() // the pass's activations, before the next pass or model
		if err != nil {
			return nil, info, err
		}
		info.Images = n
	}
	return ranges, info, nil
}

// ObserveBudget bounds the bytes of the activations one calibration pass observes: a part of
// what a 4 GB board has beside the daemon.
const ObserveBudget = 768 << 20

// observePasses splits the activations, in order, into groups of at most budget bytes (an
// activation larger than the budget is a group of its own); at least one group.
func observePasses(acts []graph.Observable, budget int64) []map[string]bool {
	passes := []map[string]bool{{}}
	var used int64
	for _, a := range acts {
		if used > 0 && used+a.Bytes > budget {
			passes = append(passes, map[string]bool{})
			used = 0
		}
		passes[len(passes)-1][a.Name] = true
		used += a.Bytes
	}
	return passes
}

// writeCalibrationModel writes g at FP32 with the activations of pass as outputs into a
// temporary file: the interpreter maps it rather than holding a copy in C memory.
func writeCalibrationModel(g *graph.Graph, pass map[string]bool) (string, error) {
	model, err := g.MarshalWith(graph.LowerOptions{Precision: graph.FP32, ObserveAll: true, Observe: func(name string) bool { return pass[name] }})
	if err != nil {
		return "", fmt.Errorf("calibration: %w", err)
	}
	tmp, err := os.CreateTemp("", "edged-calibration-*.tflite")
	if err != nil {
		return "", fmt.Errorf("calibration: %w", err)
	}
	_, werr := tmp.Write(model)
	if err := errors.Join(werr, tmp.Close()); err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("calibration: %w", err)
	}
	return tmp.Name(), nil
}

// calibratePass runs the calibration images through the model in file and adds the ranges it
// observes to ranges; it returns how many images ran.
func calibratePass(file string, opts Options, obs func() quant.Observer, step string, feed func(ip *tflite.Interpreter, img image.Image) error, ranges map[string]quant.Range) (int, error) {
	m, err := tflite.LoadModel(file)
	if err != nil {
		return 0, fmt.Errorf("calibration model: %w", err)
	}
	cal, err := newCalibrator(m, tflite.Options{Threads: opts.Threads}, obs)
	if err != nil {
		return 0, err
	}
	defer cal.Close()
	total := opts.CalibrationImages
	opts.Progress.Step(step, 0, total)
	n, err := forEachCalibrationImage(opts, func(name string, img image.Image) error {
		if err := feed(cal.Interpreter(), img); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := cal.Run(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		opts.Progress.Step(step, min(cal.obs.Runs(), total), total)
		return nil
	})
	if err != nil {
		return 0, err
	}
	opts.Progress.Step(step, total, total)
	got, err := cal.Ranges()
	if err != nil {
		return 0, err
	}
	maps.Copy(ranges, got) // the inputs and declared outputs are observed in every pass, alike
	return n, nil
}
