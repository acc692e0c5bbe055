package camera

/*
#cgo !windows pkg-config: opencv4
#cgo CXXFLAGS: --std=c++17
#cgo LDFLAGS: -ldl
#include <stdlib.h>
#include "capture.h"
*/
import "C"

import (
	"errors"
	"os"
	"strings"
	"unsafe"

	"gocv.io/x/gocv"
)

// OpenCV's capture backends (cv::VideoCaptureAPIs) and properties (cv::VideoCaptureProperties)
// this package uses.
const (
	apiV4L2      = 200
	apiGStreamer = 1800
	apiFFmpeg    = 1900

	propFrameWidth  = 3
	propFrameHeight = 4
	propFPS         = 5
	propFourCC      = 6
	propOpenTimeout = 53 // ms, FFmpeg only, at open only
	propReadTimeout = 54 // ms, FFmpeg only, at open only
)

// cvCapture is an open cv::VideoCapture. It is used by one goroutine at a time.
type cvCapture struct {
	p C.EdgedCapture
}

// errBuf is room for a C++ exception's message.
type errBuf [512]byte

func (b *errBuf) ptr() *C.char { return (*C.char)(unsafe.Pointer(&b[0])) }

func (b *errBuf) String() string {
	s := string(b[:])
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

// openCapture opens target with the backend api (or the device index when target is ""), with
// OpenCV property/value pairs given at open and, when ffmpegOptions is not "", FFmpeg options
// ("key;value|key;value") for this open alone. A nil error means the capture is open. The
// error says nothing when OpenCV says nothing: the caller knows better what to tell the user.
func openCapture(target string, index, api int, params []int, ffmpegOptions string) (*cvCapture, error) {
	var ct, co *C.char
	if target != "" {
		ct = C.CString(target)
		defer C.free(unsafe.Pointer(ct))
	}
	if ffmpegOptions != "" {
		co = C.CString(ffmpegOptions)
		defer C.free(unsafe.Pointer(co))
	}
	cparams := make([]C.int, len(params)+1) // +1: never index an empty slice
	for i, v := range params {
		cparams[i] = C.int(v)
	}
	var eb errBuf
	p := C.edged_capture_open(ct, C.int(index), C.int(api), &cparams[0], C.int(len(params)), co, eb.ptr(), C.int(len(eb)))
	if p == nil {
		return nil, errors.New(eb.String())
	}
	return &cvCapture{p: p}, nil
}

// grab takes the next frame from the source without converting it.
func (c *cvCapture) grab() (bool, error) {
	var eb errBuf
	if C.edged_capture_grab(c.p, eb.ptr(), C.int(len(eb))) != 0 {
		return true, nil
	}
	if msg := eb.String(); msg != "" {
		return false, errors.New(msg)
	}
	return false, nil
}

// retrieve converts the grabbed frame into m (BGR, as OpenCV delivers it).
func (c *cvCapture) retrieve(m *gocv.Mat) (bool, error) {
	var eb errBuf
	if C.edged_capture_retrieve(c.p, unsafe.Pointer(m.Ptr()), eb.ptr(), C.int(len(eb))) != 0 {
		return true, nil
	}
	if msg := eb.String(); msg != "" {
		return false, errors.New(msg)
	}
	return false, nil
}

func (c *cvCapture) get(prop int) float64 { return float64(C.edged_capture_get(c.p, C.int(prop))) }

func (c *cvCapture) set(prop int, v float64) bool {
	return C.edged_capture_set(c.p, C.int(prop), C.double(v)) != 0
}

// backend names the OpenCV backend that opened the capture.
func (c *cvCapture) backend() string {
	var b errBuf
	C.edged_capture_backend(c.p, b.ptr(), C.int(len(b)))
	return b.String()
}

func (c *cvCapture) close() {
	if c.p != nil {
		C.edged_capture_close(c.p)
		c.p = nil
	}
}

// OpenCV's log levels (cv::utils::logging::LogLevel).
const (
	cvLogSilent  = 0
	cvLogWarning = 3
)

func init() {
	// FFmpeg's own messages (a refused connection, a corrupt packet) would go to stderr once
	// per retry; OpenCV reads this once, when its FFmpeg backend first opens something. The
	// failures themselves reach the log as errors of the camera. A user who sets it keeps it.
	if _, ok := os.LookupEnv("OPENCV_FFMPEG_LOGLEVEL"); !ok {
		os.Setenv("OPENCV_FFMPEG_LOGLEVEL", "-8") // AV_LOG_QUIET
	}
	if _, ok := os.LookupEnv("OPENCV_LOG_LEVEL"); !ok {
		C.edged_opencv_log_level(cvLogSilent)
	}
	// GStreamer's CRITICALs and WARNINGs (a pipeline that does not parse makes OpenCV's
	// backend cast a NULL bin: four lines per retry) go through GLib's logging.
	C.edged_glib_log(0)
}

// SetNativeLogging lets OpenCV and GStreamer print their own warnings (to stderr, in their
// own formats) when verbose, and silences them otherwise (the default). Failures reach the
// log as camera errors either way. OpenCV's level is left alone when the OPENCV_LOG_LEVEL
// environment variable is set.
func SetNativeLogging(verbose bool) {
	print := 0
	if verbose {
		print = 1
	}
	C.edged_glib_log(C.int(print))
	if _, ok := os.LookupEnv("OPENCV_LOG_LEVEL"); ok {
		return
	}
	level := cvLogSilent
	if verbose {
		level = cvLogWarning
	}
	C.edged_opencv_log_level(C.int(level))
}
