package daemon

import (
	"image"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/edged/edged/imageproc"
	"github.com/edged/edged/internal/convert"
)

// A reservoir keeps at most Max frames, one in CheckEvery held aside, sampled over the whole
// time frames were offered (not only the first or the last), shrunk to Width; it takes up its
// frames after a restart, drops stray files, and goes with Remove.
func TestReservoir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "reservoir")
	opts := ReservoirOptions{Dir: dir, Max: 20, Every: 10 * time.Second, CheckEvery: 4, Width: 64, Seed: 7}
	r, err := OpenReservoir(opts)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	frame := image.NewRGBA(image.Rect(0, 0, 320, 240))
	for i := range frame.Pix {
		frame.Pix[i] = uint8(i)
	}
	kept := 0
	for s := 0; s < 2000; s++ { // a frame a second for 2000 s: 200 considered
		ok, err := r.Offer(start.Add(time.Duration(s)*time.Second), frame)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			kept++
		}
	}
	st := r.State()
	t.Logf("kept %d times; now %+v", kept, st)
	if st.Calibration != 15 || st.Check != 5 {
		t.Errorf("state %+v, want 15 calibration and 5 check frames", st)
	}
	if kept <= 20 || kept >= 200 {
		t.Errorf("kept %d of 200 frames considered: the sample does not refresh (or keeps all)", kept)
	}
	if r.Ready(21, 0) || !r.Ready(20, 1000*time.Second) || r.Ready(20, 2000*time.Second) {
		t.Errorf("Ready disagrees with %+v", st)
	}
	// Sampled over time: frames from both halves of the 2000 s.
	early := 0
	for _, tm := range r.times {
		if tm.Before(start.Add(1000 * time.Second)) {
			early++
		}
	}
	if early < 4 || early > 16 {
		t.Errorf("%d of 20 kept frames from the first half", early)
	}
	cal, check := r.Folders()
	for _, c := range []struct {
		dir  string
		want int
	}{{cal, 15}, {check, 5}} {
		n, err := convert.ForEachImageFile(c.dir, 0, func(path string, img image.Image) error {
			if w := img.Bounds().Dx(); w != 64 {
				t.Errorf("%s is %d wide, want 64", path, w)
			}
			return nil
		})
		if err != nil || n != c.want {
			t.Errorf("%s: %d frames (%v), want %d", c.dir, n, err, c.want)
		}
	}

	// A restart takes the frames up; a stray file is dropped.
	os.WriteFile(filepath.Join(check, "frame_0099.jpg"), []byte("stray"), 0o644)
	r2, err := OpenReservoir(opts)
	if err != nil {
		t.Fatal(err)
	}
	if st2 := r2.State(); st2 != st {
		t.Errorf("after a restart %+v, before %+v", st2, st)
	}
	if _, err := os.Stat(filepath.Join(check, "frame_0099.jpg")); !os.IsNotExist(err) {
		t.Errorf("the stray frame is still there: %v", err)
	}
	if _, err := imageproc.DecodeFile(filepath.Join(cal, "frame_0000.jpg")); err != nil {
		t.Error(err)
	}
	if err := r2.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the reservoir's folder outlives Remove: %v", err)
	}
}

// Frames closer together than Every are not considered.
func TestReservoirSamplesOverTime(t *testing.T) {
	r, err := OpenReservoir(ReservoirOptions{Dir: t.TempDir(), Every: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	sized := image.NewRGBA(image.Rect(0, 0, 8, 8))
	start := time.Now()
	for s := 0; s < 600; s++ { // ten minutes at a frame a second
		if _, err := r.Offer(start.Add(time.Duration(s)*time.Second), sized); err != nil {
			t.Fatal(err)
		}
	}
	if st := r.State(); st.Calibration+st.Check != 10 || st.Span != 9*time.Minute {
		t.Errorf("ten minutes at one a minute: %+v", st)
	}
}

// Carry keeps the frames across a replacement of the folder that holds them (a recalibrated
// bundle replacing the old one): they are in the new folder afterwards and the reservoir goes
// on from them; when the replacement fails they are back where they were.
func TestReservoirCarry(t *testing.T) {
	root := t.TempDir()
	old, next := filepath.Join(root, "bundle"), filepath.Join(root, ".bundle.partial")
	for _, d := range []string{old, next} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r, err := OpenReservoir(ReservoirOptions{Dir: filepath.Join(old, "frames"), Every: time.Second, Max: 8})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Unix(1000, 0)
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for i := range 4 {
		if _, err := r.Offer(start.Add(time.Duration(i)*time.Second), img); err != nil {
			t.Fatal(err)
		}
	}
	before := r.State()
	// A replacement that fails: the frames stay.
	err = r.Carry(filepath.Join(next, "frames"), func() error {
		if _, err := os.Stat(filepath.Join(next, "frames", "calibration", "frame_0000.jpg")); err != nil {
			t.Errorf("during the replacement the frames are not in the new folder: %v", err)
		}
		return os.ErrPermission
	})
	if err != os.ErrPermission || r.State() != before {
		t.Fatalf("failed replacement: %v, state %+v (was %+v)", err, r.State(), before)
	}
	if _, err := os.Stat(filepath.Join(old, "frames", "check", "frame_0003.jpg")); err != nil {
		t.Fatalf("the frames did not come back: %v", err)
	}
	// The replacement as publishing does it: the new folder takes the old one's place.
	err = r.Carry(filepath.Join(next, "frames"), func() error {
		if err := os.RemoveAll(old); err != nil {
			return err
		}
		return os.Rename(next, old)
	})
	if err != nil || r.State() != before {
		t.Fatalf("replacement: %v, state %+v (was %+v)", err, r.State(), before)
	}
	if _, err := r.Offer(start.Add(10*time.Second), img); err != nil {
		t.Fatal(err)
	}
	if s := r.State(); s.Calibration+s.Check != 5 {
		t.Errorf("after the replacement the reservoir holds %+v, want the 4 frames and a new one", s)
	}
	if _, err := os.Stat(filepath.Join(old, "frames", "calibration", "frame_0004.jpg")); err != nil {
		t.Errorf("a frame after the replacement is not in the new folder: %v", err)
	}
}
