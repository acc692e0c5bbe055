package camera

import (
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The kinds of source a Spec can ask for.
const (
	KindDevice    = "device"    // a V4L2 (or other OpenCV) capture device, by index or path
	KindStream    = "stream"    // an RTSP or HTTP stream URL
	KindFile      = "file"      // a video file
	KindFolder    = "folder"    // a folder of PNG and JPEG images
	KindSynthetic = "synthetic" // scenes of the shapes world
)

var kinds = []string{KindDevice, KindStream, KindFile, KindFolder, KindSynthetic}

// Spec says where one camera's frames come from. Its fields mirror the daemon's YAML
// `source:` block; zero values take the defaults documented on each field.
type Spec struct {
	// Name identifies the camera in frames, logs and errors.
	Name string
	// Kind is one of KindDevice, KindStream, KindFile, KindFolder, KindSynthetic.
	Kind string
	// Device is a capture device index ("0") or path ("/dev/video0"), for KindDevice.
	Device string
	// URL is the stream to read, such as rtsp://user:pass@host/path, for KindStream.
	// Passwords are redacted in logs and errors.
	URL string
	// Path is the video file (KindFile) or image folder (KindFolder).
	Path string
	// Loop starts a file or folder again at its end; without it the source ends there.
	Loop bool
	// FPS caps how many frames a second are delivered. Devices and streams are still read at
	// their own rate so that their buffers do not lag; 0 delivers every frame. A file plays
	// at its own frame rate and FPS only caps it. A folder shows FPS images a second
	// (default 1); a synthetic source renders FPS frames a second (default 5).
	FPS float64
	// Width and Height are the synthetic canvas (default 320×240), or the capture size to
	// ask a device for (0 keeps the device's own).
	Width, Height int
	// SceneEvery is how often a synthetic source draws a new scene (default 4s).
	SceneEvery time.Duration
	// Seed makes a synthetic source's scenes reproducible.
	Seed int64
}

// Defaults of the fields a zero Spec leaves open.
const (
	DefaultFolderFPS       = 1.0
	DefaultSyntheticFPS    = 5.0
	DefaultSyntheticWidth  = 320
	DefaultSyntheticHeight = 240
	DefaultSceneEvery      = 4 * time.Second
)

// maxFPS bounds FPS: more is a typo, and a tighter loop would only burn the CPU.
const maxFPS = 1000

// withDefaults fills the fields left zero; it is the only place Spec defaults live.
func (s Spec) withDefaults() Spec {
	switch s.Kind {
	case KindFolder:
		if s.FPS == 0 {
			s.FPS = DefaultFolderFPS
		}
	case KindSynthetic:
		if s.FPS == 0 {
			s.FPS = DefaultSyntheticFPS
		}
		if s.Width == 0 {
			s.Width = DefaultSyntheticWidth
		}
		if s.Height == 0 {
			s.Height = DefaultSyntheticHeight
		}
		if s.SceneEvery == 0 {
			s.SceneEvery = DefaultSceneEvery
		}
	}
	return s
}

// SpecError is a problem with one field of a Spec.
type SpecError struct {
	Camera string // the Spec's Name, empty when that is what is missing
	Field  string // lower-case, as the daemon's YAML spells it: "url", "scene_every"
	Msg    string
}

func (e *SpecError) Error() string {
	return fmt.Sprintf("camera %q: %s: %s", e.Camera, e.Field, e.Msg)
}

// validate reports the first field of a defaulted Spec that cannot work. Whether a file,
// folder or device exists is not checked here: that is Run's business, which keeps retrying
// until it appears.
func (s Spec) validate(o Options) error {
	bad := func(field, format string, args ...any) error {
		return &SpecError{Camera: s.Name, Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	if strings.TrimSpace(s.Name) == "" {
		return bad("name", "missing: every camera needs a name")
	}
	if math.IsNaN(s.FPS) || s.FPS < 0 || s.FPS > maxFPS {
		return bad("fps", "%v is outside [0, %d]", s.FPS, maxFPS)
	}
	if s.Width < 0 || s.Height < 0 {
		return bad("width", "size %dx%d is negative", s.Width, s.Height)
	}
	switch s.Kind {
	case KindDevice:
		if s.Device == "" {
			return bad("device", "missing: give an index (0) or a path (/dev/video0)")
		}
		if _, err := strconv.Atoi(s.Device); err != nil && !strings.HasPrefix(s.Device, "/") {
			return bad("device", "%q is neither an index (0) nor an absolute path (/dev/video0)", s.Device)
		}
	case KindStream:
		u, err := url.Parse(s.URL)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return bad("url", "%q is not a stream URL such as rtsp://host/path", redactURL(s.URL))
		}
	case KindFile, KindFolder:
		if s.Path == "" {
			return bad("path", "missing: a %s source needs a path", s.Kind)
		}
	case KindSynthetic:
		if s.Width < 16 || s.Height < 16 {
			return bad("width", "synthetic canvas %dx%d is under 16 pixels a side", s.Width, s.Height)
		}
		if int64(s.Width)*int64(s.Height) > int64(o.MaxPixels) {
			return bad("width", "synthetic canvas %dx%d is over the frame limit of %d pixels", s.Width, s.Height, o.MaxPixels)
		}
		if s.FPS == 0 {
			return bad("fps", "a synthetic source needs a frame rate above 0")
		}
		if s.SceneEvery < 0 {
			return bad("scene_every", "%v is negative", s.SceneEvery)
		}
	case "":
		return bad("kind", "missing: one of %s", strings.Join(kinds, ", "))
	default:
		return bad("kind", "%q is not one of %s", s.Kind, strings.Join(kinds, ", "))
	}
	return nil
}

// describe names what a source reads, for logs and errors, without a stream's password.
func (s Spec) describe() string {
	switch s.Kind {
	case KindDevice:
		if _, err := strconv.Atoi(s.Device); err == nil {
			return "device " + s.Device
		}
		return s.Device
	case KindStream:
		return redactURL(s.URL)
	case KindFile, KindFolder:
		return s.Path
	default:
		return fmt.Sprintf("shapes seed %d", s.Seed)
	}
}

// redactURL hides the password of a URL; a string that does not parse is shown as it is.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Redacted()
}

// Backoff is how long a failed source waits before it is reopened: Initial after the first
// failure, then Factor times longer after each further one, never more than Max. A source
// that delivered frames before failing starts again from Initial.
type Backoff struct {
	Initial time.Duration // default 500ms
	Max     time.Duration // default 30s
	Factor  float64       // default 2
}

// Options are the knobs shared by every kind of source.
type Options struct {
	// Logger receives open failures, retries and skipped images; default slog.Default().
	Logger *slog.Logger
	// Backoff paces the reopening of a failed source.
	Backoff Backoff
	// MaxPixels rejects frames larger than this (width × height); default 4096×4096.
	MaxPixels int
	// PoolSize is how many released frame buffers a source keeps for reuse; default 4.
	PoolSize int
}

// DefaultMaxPixels is the default frame-size limit, 4096×4096: above 4K UHD, and still only
// 64 MiB as RGBA.
const DefaultMaxPixels = 4096 * 4096

// withDefaults fills the options left zero; it is the only place Options defaults live.
func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Backoff.Initial <= 0 {
		o.Backoff.Initial = 500 * time.Millisecond
	}
	if o.Backoff.Max <= 0 {
		o.Backoff.Max = 30 * time.Second
	}
	if o.Backoff.Max < o.Backoff.Initial {
		o.Backoff.Max = o.Backoff.Initial
	}
	if o.Backoff.Factor < 1 {
		o.Backoff.Factor = 2
	}
	if o.MaxPixels <= 0 {
		o.MaxPixels = DefaultMaxPixels
	}
	if o.PoolSize <= 0 {
		o.PoolSize = 4
	}
	return o
}
