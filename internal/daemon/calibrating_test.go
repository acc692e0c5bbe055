package daemon

import (
	"context"
	"errors"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/clip"
	"github.com/edged/edged/internal/fidelity"
)

// fakeCLIP labels everything with its own name, and fails every call after close: a call on a
// closed model is what the swap must never let happen. Its text tower opens and closes as
// clip.Model's does (a text call opens a closed one), and its text calls go through its guard
// as clipLabeler's do; closing the text tower under a running text call is a fault, as it
// would fail that call on a real model.
type fakeCLIP struct {
	name     string
	closed   atomic.Bool
	busy     atomic.Int32 // calls running now
	textOpen atomic.Bool
	textBusy atomic.Int32 // text calls running now
	textUses atomic.Int32
	text     *idleModel // guardText's

	mu     sync.Mutex
	faults []string
}

func (f *fakeCLIP) fault(what string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, f.name+": "+what)
}

func (f *fakeCLIP) faultList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.faults...)
}

// withText runs a text call, through the guard when there is one (clipLabeler's withText).
func (f *fakeCLIP) withText() error {
	if f.text == nil {
		return f.textCall()
	}
	_, err := withIdle(f.text, func(*Models) (struct{}, error) { return struct{}{}, f.textCall() })
	return err
}

func (f *fakeCLIP) textCall() error {
	done, err := f.call()
	if err != nil {
		return err
	}
	defer done()
	f.textBusy.Add(1)
	defer f.textBusy.Add(-1)
	f.textOpen.Store(true)
	f.textUses.Add(1)
	time.Sleep(50 * time.Microsecond) // a call that takes a while, so unloads and swaps meet it
	return nil
}

func (f *fakeCLIP) OpenText() error {
	if f.closed.Load() {
		f.fault("text tower opened on a closed model")
	}
	f.textOpen.Store(true)
	return nil
}

func (f *fakeCLIP) CloseText() error {
	if f.closed.Load() {
		f.fault("text tower closed on a closed model")
	}
	if f.textBusy.Load() != 0 {
		f.fault("text tower closed under a running text call")
	}
	f.textOpen.Store(false)
	return nil
}

func (f *fakeCLIP) guardText(idle *idleModel) { f.text = idle }

func (f *fakeCLIP) manifest() *bundle.Manifest { return nil }

var errClosedModel = errors.New("model used after close")

func (f *fakeCLIP) call() (func(), error) {
	f.busy.Add(1)
	if f.closed.Load() {
		f.busy.Add(-1)
		return nil, errClosedModel
	}
	return func() { f.busy.Add(-1) }, nil
}

func (f *fakeCLIP) EmbedImage(context.Context, image.Image) ([]float32, error) {
	done, err := f.call()
	if err != nil {
		return nil, err
	}
	defer done()
	time.Sleep(100 * time.Microsecond) // a call that takes a while, so swaps meet calls
	return []float32{1, 0}, nil
}

// PrepareLabels embeds the labels, as a clipLabeler's classifier does.
func (f *fakeCLIP) PrepareLabels(context.Context, *clip.LabelSet) error {
	return f.withText()
}

func (f *fakeCLIP) Classify(_ context.Context, _ []float32, _ *clip.LabelSet) ([]clip.Score, error) {
	done, err := f.call()
	if err != nil {
		return nil, err
	}
	defer done()
	return []clip.Score{{Label: f.name, Score: 1}}, nil
}

func (f *fakeCLIP) EmbedText(context.Context, string) ([]float32, error) {
	return []float32{1, 0}, f.withText()
}
func (f *fakeCLIP) LabelEmbeddings(context.Context, *clip.LabelSet) ([][]float32, error) {
	return [][]float32{{1, 0}}, f.withText()
}
func (f *fakeCLIP) LogitScale() float64 { return 100 }
func (f *fakeCLIP) Match(context.Context, image.Image, []string) ([]float64, error) {
	return []float64{1}, f.withText()
}

func (f *fakeCLIP) close() error {
	if f.busy.Load() != 0 {
		return errors.New("closed under a running call")
	}
	f.closed.Store(true)
	return nil
}

// statusLog keeps the calibration statuses a calibratingLabeler reports: the states in turn
// (a repeated one once), and the last status with its precision.
type statusLog struct {
	mu        sync.Mutex
	states    []string
	last      CalibrationStatus
	precision string
}

func (l *statusLog) report(precision string, s CalibrationStatus) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.states) == 0 || l.states[len(l.states)-1] != s.State {
		l.states = append(l.states, s.State)
	}
	l.last, l.precision = s, precision
}

func (l *statusLog) get() (states []string, last CalibrationStatus, precision string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.states...), l.last, l.precision
}

// callers are goroutines that call a model until stopped (or until a call fails).
type callers struct {
	stop  chan struct{}
	wg    sync.WaitGroup
	calls atomic.Int32 // calls that succeeded
}

// callUntilStopped starts n goroutines calling call over and over.
func callUntilStopped(n int, call func() error) *callers {
	c := &callers{stop: make(chan struct{})}
	for range n {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			for {
				select {
				case <-c.stop:
					return
				default:
				}
				if call() != nil {
					return
				}
				c.calls.Add(1)
			}
		}()
	}
	return c
}

// stopAll stops the callers and waits for them.
func (c *callers) stopAll() {
	close(c.stop)
	c.wg.Wait()
}

// calibrationFixture is a label set file of one label, and a reservoir in a new folder (set
// in opts).
func calibrationFixture(t *testing.T, opts *CalibrationOptions) (setFile string, set *clip.LabelSet, res *Reservoir) {
	t.Helper()
	dir := t.TempDir()
	setFile = filepath.Join(dir, "set.yaml")
	if err := os.WriteFile(setFile, []byte("name: s\nlabels: [a]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := clip.LoadLabelSet(setFile)
	if err != nil {
		t.Fatal(err)
	}
	opts.Reservoir.Dir = filepath.Join(dir, "frames")
	if res, err = OpenReservoir(opts.Reservoir); err != nil {
		t.Fatal(err)
	}
	return setFile, set, res
}

// The calibration's course with a conversion that is first refused, then fails, then passes:
// labelling stays on the safe model until the pass, every call during the swap runs wholly on
// one model (none on a closed one), the old model is closed after, the status says each step,
// and, without shadow checks, no frame is kept after the swap.
func TestCalibratingLabelerRefusedFailedThenSwapped(t *testing.T) {
	opts := CalibrationOptions{Reservoir: ReservoirOptions{Every: time.Nanosecond, Max: 16},
		MinFrames: 8, MinSpan: time.Nanosecond, Retry: time.Nanosecond}
	setFile, set, res := calibrationFixture(t, &opts)
	safe, calibrated := &fakeCLIP{name: "safe"}, &fakeCLIP{name: "int8"}
	var runs atomic.Int32
	var gotSets [][]string
	var mu sync.Mutex
	run := func(ctx context.Context, r *Reservoir, in gateInputs) (string, *fidelity.Report, error) {
		mu.Lock()
		gotSets = append(gotSets, in.LabelSets)
		mu.Unlock()
		if in.Thresholds != fidelity.DefaultThresholds() {
			t.Errorf("thresholds %+v, want the defaults", in.Thresholds)
		}
		switch runs.Add(1) {
		case 1:
			return "", &fidelity.Report{Failures: []string{"mean cosine 0.3 < 0.99"}}, nil
		case 2:
			return "", nil, errors.New("out of memory")
		}
		return t.TempDir(), &fidelity.Report{Passed: true, Frames: 2}, nil
	}
	publish := func(string, *Reservoir) (*bundle.Bundle, error) { return &bundle.Bundle{}, nil }
	load := func(*bundle.Bundle) (swappableCLIP, error) { return calibrated, nil }
	var log statusLog
	c := newCalibratingLabeler(safe, false, calibrationParts{res: res, run: run, load: load, publish: publish, report: log.report}, opts, discardLogger())
	if err := c.PrepareLabels(context.Background(), set); err != nil {
		t.Fatal(err)
	}

	img := image.NewRGBA(image.Rect(0, 0, 32, 32))
	img.Set(1, 1, color.White)
	ctx := context.Background()
	callers := callUntilStopped(4, func() error {
		emb, err := c.EmbedImage(ctx, img)
		if err == nil {
			_, err = c.Classify(ctx, emb, set)
		}
		if err != nil {
			t.Errorf("a label job failed across the swap: %v", err)
		}
		return err
	})
	eventually(t, "the calibrated model labelling, and saying so", func() bool {
		s, _ := c.Classify(ctx, []float32{1, 0}, set)
		_, last, _ := log.get()
		return len(s) > 0 && s[0].Label == "int8" && last.State == calCalibrated
	})
	callers.stopAll()
	if !safe.closed.Load() || calibrated.closed.Load() {
		t.Errorf("after the swap: safe closed %v, calibrated closed %v; want only the safe one closed", safe.closed.Load(), calibrated.closed.Load())
	}
	states, last, lastPrecision := log.get()
	want := []string{calCollecting, calConverting, calRefused, calConverting, calFailed, calConverting, calCalibrated}
	if strings.Join(states, ",") != strings.Join(want, ",") {
		t.Errorf("states %v, want %v", states, want)
	}
	if lastPrecision != "int8" || last.Conversions != 3 || last.Refused != 1 || last.Failed != 1 || last.Gate != "passed" || last.Error != "" {
		t.Errorf("last status %+v at %s", last, lastPrecision)
	}
	mu.Lock()
	if len(gotSets) != 3 || len(gotSets[0]) != 1 || gotSets[0][0] != setFile {
		t.Errorf("label sets handed to the conversions: %v, want [%s] each", gotSets, setFile)
	}
	mu.Unlock()
	before := res.State()
	if _, err := c.EmbedImage(ctx, img); err != nil {
		t.Fatal(err)
	}
	if after := res.State(); after != before {
		t.Errorf("a frame was kept after the swap: %+v, then %+v", before, after)
	}
	if err := c.close(); err != nil || !calibrated.closed.Load() {
		t.Errorf("close: %v, calibrated closed %v", err, calibrated.closed.Load())
	}
}

// Closing during a conversion cancels it (the child is killed through its context) and waits
// for it; the safe model is closed, and the conversion's verdict is not reported.
func TestCalibratingLabelerCloseCancelsTheConversion(t *testing.T) {
	opts := CalibrationOptions{Reservoir: ReservoirOptions{Every: time.Nanosecond},
		MinFrames: 4, MinSpan: time.Nanosecond}
	_, set, res := calibrationFixture(t, &opts)
	started := make(chan struct{})
	var cancelled atomic.Bool
	run := func(ctx context.Context, _ *Reservoir, _ gateInputs) (string, *fidelity.Report, error) {
		close(started)
		<-ctx.Done()
		cancelled.Store(true)
		return "", nil, ctx.Err()
	}
	var log statusLog
	safe := &fakeCLIP{name: "safe"}
	c := newCalibratingLabeler(safe, false, calibrationParts{res: res, run: run, report: log.report}, opts, discardLogger())
	if err := c.PrepareLabels(context.Background(), set); err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := 0; ; i++ {
		if _, err := c.EmbedImage(context.Background(), img); err != nil {
			t.Fatal(err)
		}
		select {
		case <-started:
		default:
			if i > 1000 {
				t.Fatal("no conversion started")
			}
			continue
		}
		break
	}
	if err := c.close(); err != nil {
		t.Fatal(err)
	}
	_, last, _ := log.get()
	if !cancelled.Load() || !safe.closed.Load() || last.State != calConverting || last.Failed != 0 {
		t.Errorf("after close: cancelled %v, safe closed %v, status %+v", cancelled.Load(), safe.closed.Load(), last)
	}
}
