package camera

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"time"

	"gocv.io/x/gocv"
)

// videoCapturer reads an OpenCV VideoCapture: a device, a stream or a video file.
type videoCapturer struct {
	kind    string
	target  string // what OpenCV opens: a device index or path, a URL, a file path
	display string // target as logs and errors show it (password redacted)
	loop    bool
	every   time.Duration // at most one frame delivered per this; 0 delivers all
	width   int           // capture size to ask a device for; 0 keeps its own
	height  int
}

func newVideoCapturer(spec Spec) *videoCapturer {
	target := spec.Device
	switch spec.Kind {
	case KindStream:
		target = spec.URL
	case KindFile:
		target = spec.Path
	}
	return &videoCapturer{
		kind:    spec.Kind,
		target:  target,
		display: spec.describe(),
		loop:    spec.Loop,
		every:   interval(spec.FPS),
		width:   spec.Width,
		height:  spec.Height,
	}
}

// Frame rates a file may claim; outside this its header is not believed.
const (
	fallbackFileFPS = 25
	maxFileFPS      = 1000
)

func (v *videoCapturer) session(ctx context.Context, out *source) error {
	if v.kind != KindFile {
		vc, err := v.open()
		if err != nil {
			return err
		}
		defer vc.Close()
		return v.read(ctx, out, vc, -1)
	}
	// A file is reopened for each pass: more dependable than seeking, and cheap.
	for {
		vc, err := v.open()
		if err != nil {
			return err
		}
		err = v.read(ctx, out, vc, 0)
		vc.Close()
		if !errors.Is(err, errEnded) || !v.loop {
			return err
		}
	}
}

// open opens the capture, or says why it cannot in words a user can act on.
func (v *videoCapturer) open() (*gocv.VideoCapture, error) {
	var (
		vc   *gocv.VideoCapture
		err  error
		hint string
	)
	switch {
	case v.kind == KindDevice:
		hint = "not a capture device, busy, or not permitted"
		if idx, aerr := strconv.Atoi(v.target); aerr == nil {
			vc, err = gocv.VideoCaptureDevice(idx)
			break
		}
		if serr := statOpen(v.target); serr != nil {
			return nil, serr
		}
		vc, err = gocv.VideoCaptureFileWithAPI(v.target, gocv.VideoCaptureV4L2)
	case v.kind == KindStream:
		hint = "unreachable, wrong path or credentials, or a codec OpenCV lacks"
		vc, err = gocv.VideoCaptureFile(v.target)
	default:
		hint = "not a video OpenCV can decode"
		if serr := statOpen(v.target); serr != nil {
			return nil, serr
		}
		vc, err = gocv.VideoCaptureFile(v.target)
	}
	if err != nil || !vc.IsOpened() {
		if vc != nil {
			vc.Close()
		}
		return nil, fmt.Errorf("open %s: OpenCV cannot open it (%s)", v.display, hint)
	}
	if v.kind == KindDevice {
		if v.width > 0 {
			vc.Set(gocv.VideoCaptureFrameWidth, float64(v.width))
		}
		if v.height > 0 {
			vc.Set(gocv.VideoCaptureFrameHeight, float64(v.height))
		}
	}
	return vc, nil
}

// statOpen gives a missing or unreadable path its plain error before OpenCV's vaguer one.
func statOpen(path string) error {
	f, err := os.Open(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("open %s: %w", path, err)
	}
	return f.Close()
}

// read delivers frames until ctx ends or the capture fails. For a file, index counts frames
// from the start (and reaching its end is errEnded); for live sources it is -1.
func (v *videoCapturer) read(ctx context.Context, out *source, vc *gocv.VideoCapture, index int) error {
	mat := gocv.NewMat()
	defer mat.Close()
	conv := newMatConverter()
	defer conv.close()

	// A file has no clock of its own: play it at its frame rate so it behaves like a camera.
	var pace time.Duration
	if v.kind == KindFile {
		fps := vc.Get(gocv.VideoCaptureFPS)
		if !(fps > 0 && fps <= maxFileFPS) {
			fps = fallbackFileFPS
		}
		pace = interval(fps)
	}
	var nextRead, nextDeliver time.Time
	for {
		if pace > 0 {
			if !sleep(ctx, time.Until(nextRead)) {
				return ctx.Err()
			}
			nextRead = later(nextRead, pace)
		} else if ctx.Err() != nil {
			return ctx.Err()
		}
		if !vc.Read(&mat) || mat.Empty() {
			switch {
			case v.kind != KindFile:
				return fmt.Errorf("read %s: no frame (stream ended or device lost)", v.display)
			case index <= 0:
				return fmt.Errorf("read %s: no frame could be decoded", v.display)
			default:
				return errEnded
			}
		}
		at := time.Now()
		frameIndex := index
		if index >= 0 {
			index++
		}
		if v.every > 0 {
			if at.Before(nextDeliver) {
				continue // read to keep the device's buffer fresh, but not delivered
			}
			nextDeliver = later(nextDeliver, v.every)
		}
		img, err := out.buffer(mat.Cols(), mat.Rows())
		if err != nil {
			return fmt.Errorf("read %s: %w", v.display, err)
		}
		if err := conv.toRGBA(mat, img); err != nil {
			out.pool.put(img)
			return fmt.Errorf("read %s: %w", v.display, err)
		}
		out.deliver(&Frame{Time: at, Image: img, Index: frameIndex}, true)
	}
}

// later advances a schedule by one step; a schedule that fell behind restarts from now
// rather than bursting to catch up.
func later(next time.Time, step time.Duration) time.Time {
	now := time.Now()
	next = next.Add(step)
	if next.Before(now) {
		return now.Add(step)
	}
	return next
}
