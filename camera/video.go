package camera

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"gocv.io/x/gocv"
)

// videoCapturer reads an OpenCV capture: a V4L2 device, a stream through FFmpeg, a GStreamer
// pipeline or a video file. Frames are grabbed at the source's own rate (so that no buffer
// lags behind), and only those that are delivered are converted to pictures.
type videoCapturer struct {
	spec    Spec
	display string
	every   time.Duration // at most one frame delivered per this; 0 delivers all
}

func newVideoCapturer(spec Spec) *videoCapturer {
	return &videoCapturer{spec: spec, display: spec.describe(), every: interval(spec.FPS)}
}

// Frame rates a file may claim; outside this its header is not believed.
const (
	fallbackFileFPS = 25
	maxFileFPS      = 1000
)

func (v *videoCapturer) session(ctx context.Context, out *feed) error {
	if v.spec.Kind != KindFile {
		vc, err := v.open(ctx)
		if err != nil {
			return err
		}
		defer vc.close()
		return v.read(ctx, out, vc, -1)
	}
	// A file is reopened for each pass: more dependable than seeking, and cheap.
	for {
		vc, err := v.open(ctx)
		if err != nil {
			return err
		}
		err = v.read(ctx, out, vc, 0)
		vc.close()
		if !errors.Is(err, errEnded) || !v.spec.Loop {
			return err
		}
	}
}

// open opens the capture, or says why it cannot in words a user can act on.
func (v *videoCapturer) open(ctx context.Context) (*cvCapture, error) {
	switch v.spec.Kind {
	case KindDevice:
		return v.openDevice()
	case KindStream:
		return v.openStream(ctx)
	case KindGStreamer:
		vc, err := openCapture(v.spec.Pipeline, 0, apiGStreamer, nil, "")
		if err != nil {
			return nil, v.openError(err, "OpenCV cannot start the pipeline (is OpenCV built with GStreamer, and are the pipeline's elements installed?)")
		}
		return vc, nil
	default:
		if err := statOpen(v.spec.Path); err != nil {
			return nil, err
		}
		vc, err := openCapture(v.spec.Path, 0, apiFFmpeg, nil, "")
		if err != nil {
			return nil, v.openError(err, "not a video OpenCV can decode")
		}
		return vc, nil
	}
}

// openError is a failed open: OpenCV's own message when it gave one, else hint.
func (v *videoCapturer) openError(err error, hint string) error {
	if msg := err.Error(); msg != "" {
		return fmt.Errorf("open %s: %s", v.display, msg)
	}
	return fmt.Errorf("open %s: %s", v.display, hint)
}

// fourCC packs a four-character code as OpenCV's CAP_PROP_FOURCC wants it.
func fourCC(s string) float64 {
	return float64(uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24)
}

func fourCCString(v float64) string {
	u := uint32(v)
	b := []byte{byte(u), byte(u >> 8), byte(u >> 16), byte(u >> 24)}
	return strings.TrimRight(string(b), "\x00 ")
}

// openDevice opens a V4L2 device and asks it for the Spec's format, size and rate; what the
// device really gives is logged when it starts streaming.
func (v *videoCapturer) openDevice() (*cvCapture, error) {
	var (
		vc  *cvCapture
		err error
	)
	if idx, aerr := strconv.Atoi(v.spec.Device); aerr == nil {
		vc, err = openCapture("", idx, apiV4L2, nil, "")
	} else {
		if serr := statOpen(v.spec.Device); serr != nil {
			return nil, serr
		}
		vc, err = openCapture(v.spec.Device, 0, apiV4L2, nil, "")
	}
	if err != nil {
		return nil, v.openError(err, "not a capture device, busy, or not permitted (is the user in group video?)")
	}
	// The format first: it decides which sizes and rates the device offers.
	switch v.spec.Format {
	case FormatMJPEG:
		vc.set(propFourCC, fourCC("MJPG"))
	case FormatYUYV:
		vc.set(propFourCC, fourCC("YUYV"))
	}
	if v.spec.Width > 0 {
		vc.set(propFrameWidth, float64(v.spec.Width))
	}
	if v.spec.Height > 0 {
		vc.set(propFrameHeight, float64(v.spec.Height))
	}
	if v.spec.FPS > 0 {
		vc.set(propFPS, v.spec.FPS)
	}
	return vc, nil
}

// ffmpegBaseOptions are the FFmpeg options every stream open gets, unless the user set
// OPENCV_FFMPEG_CAPTURE_OPTIONS: RTSP over TCP, and a second (rather than five) to look at
// the stream before the first frame, so a camera is back quickly after a reconnect.
const ffmpegBaseOptions = "rtsp_transport;tcp|analyzeduration;1000000"

func init() {
	if _, ok := os.LookupEnv("OPENCV_FFMPEG_CAPTURE_OPTIONS"); !ok {
		os.Setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", ffmpegBaseOptions)
	}
}

// openStream opens a stream through FFmpeg with the read timeout, and when that fails asks
// the server itself what is wrong.
func (v *videoCapturer) openStream(ctx context.Context) (*cvCapture, error) {
	u, creds, err := v.spec.target()
	if err != nil {
		return nil, err
	}
	ms := int(v.spec.ReadTimeout / time.Millisecond)
	params := []int{propOpenTimeout, 2 * ms, propReadTimeout, ms}
	var options string // "": the process's OPENCV_FFMPEG_CAPTURE_OPTIONS
	if v.spec.Transport == TransportUDP {
		// The last value of a key wins.
		options = os.Getenv("OPENCV_FFMPEG_CAPTURE_OPTIONS") + "|rtsp_transport;udp"
	}
	vc, err := openCapture(withCredentials(u, creds), 0, apiFFmpeg, params, options)
	if err == nil {
		return vc, nil
	}
	if msg := err.Error(); msg != "" {
		return nil, fmt.Errorf("open %s: %s", v.display, msg)
	}
	var why error
	switch u.Scheme {
	case "rtsp", "rtsps":
		why = probeRTSP(ctx, u, creds, 2*v.spec.ReadTimeout)
	case "http", "https":
		h := newHTTPReader(v.spec)
		resp, err := h.get(ctx)
		if err == nil {
			drain(resp)
		}
		why = err
	default:
		why = errors.New("FFmpeg cannot open it (unreachable, or a protocol or codec it lacks)")
	}
	if why == nil {
		why = errors.New("the camera answers, but FFmpeg cannot read the stream (a codec it lacks?)")
	}
	return nil, fmt.Errorf("open %s: %w", v.display, why)
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
func (v *videoCapturer) read(ctx context.Context, out *feed, vc *cvCapture, index int) error {
	mat := gocv.NewMat()
	defer mat.Close()
	conv := newMatConverter()
	defer conv.close()

	// A file has no clock of its own: play it at its frame rate so it behaves like a camera.
	var pace time.Duration
	if v.spec.Kind == KindFile {
		fps := vc.get(propFPS)
		if !(fps > 0 && fps <= maxFileFPS) {
			fps = fallbackFileFPS
		}
		pace = interval(fps)
	}
	if v.spec.Kind == KindDevice {
		out.note = fmt.Sprintf("%s %s %.0fx%.0f at %.4g fps", vc.backend(), fourCCString(vc.get(propFourCC)),
			vc.get(propFrameWidth), vc.get(propFrameHeight), vc.get(propFPS))
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
		grabbed := time.Now()
		ok, err := vc.grab()
		if err != nil {
			return fmt.Errorf("read %s: %w", v.display, err)
		}
		took := time.Since(grabbed)
		if !ok {
			return v.noFrame(ctx, took, index)
		}
		if v.stalled(took) {
			// FFmpeg's read timed out, and the frame is one its decoder still held, decoded
			// from what arrived before the stall: not a current frame.
			return v.noFrame(ctx, took, index)
		}
		at := time.Now()
		out.markAlive()
		frameIndex := index
		if index >= 0 {
			index++
		}
		if v.every > 0 {
			if at.Before(nextDeliver) {
				continue // grabbed to keep the source's buffer fresh, but not converted
			}
			nextDeliver = later(nextDeliver, v.every)
		}
		if ok, err := vc.retrieve(&mat); !ok {
			if err == nil {
				err = errors.New("the frame could not be decoded")
			}
			return fmt.Errorf("read %s: %w", v.display, err)
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

// noFrame says why a grab that waited took found no frame.
func (v *videoCapturer) noFrame(ctx context.Context, took time.Duration, index int) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case v.spec.Kind == KindFile && index <= 0:
		return fmt.Errorf("read %s: no frame could be decoded", v.display)
	case v.spec.Kind == KindFile:
		return errEnded
	case v.stalled(took):
		return &stallError{fmt.Sprintf("stalled: no frame for %v (read_timeout)", v.spec.ReadTimeout)}
	}
	return fmt.Errorf("read %s: no frame (the stream ended or the device was lost)", v.display)
}

// stalled says whether a grab of a live source that waited took hit FFmpeg's read timeout,
// which runs from the start of each grab.
func (v *videoCapturer) stalled(took time.Duration) bool {
	return v.spec.Kind != KindFile && v.spec.ReadTimeout > 0 && took >= v.spec.ReadTimeout*9/10
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
