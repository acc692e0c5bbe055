package daemon

import (
	"errors"
	"fmt"
	"image"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edged/edged/internal/recall"
)

// ReservoirOptions shape a frame reservoir (see Reservoir).
type ReservoirOptions struct {
	// Dir holds the frames: calibration/ and check/ under it. It belongs to the model the
	// frames calibrate, and goes with it (Remove).
	Dir string
	// Max is how many frames are kept on disk at most, both folders together (256 when 0).
	Max int
	// Every is the shortest time between two frames offered that are considered, so that a
	// busy camera's frames are sampled over time rather than all from one minute (10 s when 0).
	Every time.Duration
	// CheckEvery holds one slot in CheckEvery aside for the fidelity gate (4 when 0): those
	// frames are never calibrated on.
	CheckEvery int
	// Width is the widest a kept frame is stored (512 when 0): large enough for the models'
	// inputs (224 to 384), small on disk.
	Width int
	// Seed of the sampling (tests).
	Seed uint64
}

func (o ReservoirOptions) withDefaults() ReservoirOptions {
	if o.Max <= 0 {
		o.Max = 256
	}
	if o.Every <= 0 {
		o.Every = 10 * time.Second
	}
	if o.CheckEvery <= 1 {
		o.CheckEvery = 4
	}
	if o.Width <= 0 {
		o.Width = 512
	}
	return o
}

// Reservoir keeps a bounded, uniform sample over time of a camera's frames as small JPEGs, for
// calibrating a full-int8 model on what the camera really sees and for checking it on frames
// it was not calibrated on. Frames are considered at most once per Every; each one considered
// replaces a random kept one with the probability that keeps the sample uniform over all
// frames considered (reservoir sampling), so the sample keeps refreshing as scenes change
// while old ones stay represented. Slot i's frame is for checking when i % CheckEvery is
// CheckEvery-1, for calibration otherwise. Safe for concurrent use.
type Reservoir struct {
	opts ReservoirOptions
	mu   sync.Mutex
	rng  *rand.Rand
	// seen counts the frames considered (restored as the frames on disk after a restart);
	// times holds each slot's capture time.
	seen  int
	times []time.Time
	last  time.Time
}

// Frame folders under ReservoirOptions.Dir.
const (
	reservoirCalibration = "calibration"
	reservoirCheck       = "check"
)

// OpenReservoir opens the reservoir in opts.Dir, taking up the frames a previous run kept.
func OpenReservoir(opts ReservoirOptions) (*Reservoir, error) {
	opts = opts.withDefaults()
	if opts.Dir == "" {
		return nil, errors.New("frame reservoir: no folder")
	}
	r := &Reservoir{opts: opts, rng: rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x5851f42d4c957f2d))}
	for _, sub := range []string{reservoirCalibration, reservoirCheck} {
		if err := os.MkdirAll(filepath.Join(opts.Dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("frame reservoir: %w", err)
		}
	}
	// Slots are filled in order, so the frames on disk are slots 0..n-1; anything else (a
	// half-written file, a slot beyond a smaller Max) is dropped.
	for slot := 0; slot < opts.Max; slot++ {
		fi, err := os.Stat(r.path(slot))
		if err != nil {
			break
		}
		r.times = append(r.times, fi.ModTime())
	}
	r.seen = len(r.times)
	for _, sub := range []string{reservoirCalibration, reservoirCheck} {
		entries, _ := os.ReadDir(filepath.Join(opts.Dir, sub))
		for _, e := range entries {
			if slot, ok := slotOf(e.Name()); !ok || slot >= len(r.times) {
				os.Remove(filepath.Join(opts.Dir, sub, e.Name()))
			}
		}
	}
	return r, nil
}

// slotOf reads a frame file's slot number ("frame_0042.jpg" is 42).
func slotOf(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, "frame_")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, ".jpg")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0
}

// path is where slot's frame lives.
func (r *Reservoir) path(slot int) string {
	sub := reservoirCalibration
	if slot%r.opts.CheckEvery == r.opts.CheckEvery-1 {
		sub = reservoirCheck
	}
	return filepath.Join(r.opts.Dir, sub, fmt.Sprintf("frame_%04d.jpg", slot))
}

// Offer considers a frame captured at t: kept reports whether it went into the sample. A frame
// within Every of the last one considered is skipped without a look.
func (r *Reservoir) Offer(t time.Time, img image.Image) (kept bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.last.IsZero() && t.Sub(r.last) < r.opts.Every {
		return false, nil
	}
	r.last = t
	r.seen++
	slot := len(r.times)
	if slot >= r.opts.Max {
		if slot = r.rng.IntN(r.seen); slot >= r.opts.Max {
			return false, nil
		}
	}
	data, err := recall.Thumbnail(img, r.opts.Width, 85)
	if err != nil {
		return false, fmt.Errorf("frame reservoir: %w", err)
	}
	path := r.path(slot)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return false, fmt.Errorf("frame reservoir: %w", err)
	}
	if err := os.Chtimes(tmp, t, t); err != nil {
		os.Remove(tmp)
		return false, fmt.Errorf("frame reservoir: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return false, fmt.Errorf("frame reservoir: %w", err)
	}
	if slot == len(r.times) {
		r.times = append(r.times, t)
	} else {
		r.times[slot] = t
	}
	return true, nil
}

// ReservoirState is what a reservoir holds.
type ReservoirState struct {
	Calibration, Check int           // frames in each folder
	Span               time.Duration // from the oldest kept frame to the newest
}

// State counts the kept frames and the time they span.
func (r *Reservoir) State() ReservoirState {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s ReservoirState
	if len(r.times) == 0 {
		return s
	}
	times := append([]time.Time(nil), r.times...)
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	s.Span = times[len(times)-1].Sub(times[0])
	s.Check = len(r.times) / r.opts.CheckEvery
	s.Calibration = len(r.times) - s.Check
	return s
}

// Ready reports whether the reservoir holds at least minFrames frames (both folders) spanning
// at least minSpan: enough, and not all from one moment, to calibrate on.
func (r *Reservoir) Ready(minFrames int, minSpan time.Duration) bool {
	s := r.State()
	return s.Calibration+s.Check >= minFrames && s.Span >= minSpan && s.Check > 0
}

// Folders are the calibration and the held-aside frames, for edged convert's --calibration
// and --check.
func (r *Reservoir) Folders() (calibration, check string) {
	return filepath.Join(r.opts.Dir, reservoirCalibration), filepath.Join(r.opts.Dir, reservoirCheck)
}

// Remove deletes the frames and their folder, with the model they were for.
func (r *Reservoir) Remove() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.times, r.seen = nil, 0
	return os.RemoveAll(r.opts.Dir)
}

// Carry keeps the frames across replace, which replaces the folder that holds the reservoir's
// Dir by a new one (a recalibrated bundle replacing the one the frames were kept in): the
// frames move to into (the same place in the new folder, before replace moves it into place)
// and no frame is written meanwhile. When replace fails they move back.
func (r *Reservoir) Carry(into string, replace func() error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := os.Rename(r.opts.Dir, into); err != nil {
		return fmt.Errorf("frame reservoir: %w", err)
	}
	if err := replace(); err != nil {
		if rerr := os.Rename(into, r.opts.Dir); rerr != nil {
			r.times, r.seen = nil, 0 // the frames are lost with into; start again
			for _, sub := range []string{reservoirCalibration, reservoirCheck} {
				os.MkdirAll(filepath.Join(r.opts.Dir, sub), 0o755)
			}
		}
		return err
	}
	return nil
}
