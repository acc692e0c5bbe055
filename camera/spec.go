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
	KindDevice    = "device"    // a V4L2 capture device, by index or path
	KindStream    = "stream"    // a video stream URL that FFmpeg reads: rtsp://, rtsps://, http://
	KindMJPEG     = "mjpeg"     // multipart MJPEG over HTTP (ESP32-CAM and most IP cameras)
	KindSnapshot  = "snapshot"  // an HTTP URL that answers with one JPEG or PNG picture
	KindGStreamer = "gstreamer" // a GStreamer pipeline ending in appsink
	KindFile      = "file"      // a video file
	KindFolder    = "folder"    // a folder of PNG and JPEG images
	KindSynthetic = "synthetic" // scenes of the shapes world
)

// Kinds lists every kind of source, in the order documentation names them.
var Kinds = []string{KindStream, KindMJPEG, KindSnapshot, KindDevice, KindGStreamer, KindFile, KindFolder, KindSynthetic}

// Transports of an RTSP stream.
const (
	TransportTCP = "tcp" // RTP interleaved in the RTSP connection: through NAT and firewalls, no loss
	TransportUDP = "udp" // RTP over UDP: less latency on a clean network, frames lost to packet loss
)

// Device pixel formats a Spec can ask for.
const (
	FormatMJPEG = "mjpeg" // compressed: what a USB camera needs for large sizes at full rate
	FormatYUYV  = "yuyv"  // uncompressed 4:2:2
	FormatAny   = "any"   // whatever the device starts with
)

// Spec says where one camera's frames come from. Its fields mirror the daemon's YAML
// `source:` block; zero values take the defaults documented on each field.
type Spec struct {
	// Name identifies the camera in frames, logs and errors.
	Name string
	// Kind is one of Kinds.
	Kind string
	// Device is a capture device index ("0") or path ("/dev/video0"), for KindDevice.
	Device string
	// URL is what KindStream, KindMJPEG and KindSnapshot read, such as
	// rtsp://user:pass@host/path. Passwords are redacted in logs and errors.
	URL string
	// Transport is how an RTSP stream's video travels: TransportTCP (default) or
	// TransportUDP.
	Transport string
	// Username and PasswordFile are the credentials of a network source when they are not in
	// the URL: the file holds the password (surrounding white space is ignored) and is read
	// at every connection, so it may change while edged runs.
	Username     string
	PasswordFile string
	// Pipeline is a GStreamer pipeline for KindGStreamer, ending in an appsink, such as
	// "libcamerasrc ! video/x-raw,width=1280,height=720 ! videoconvert ! appsink".
	Pipeline string
	// Path is the video file (KindFile) or image folder (KindFolder).
	Path string
	// Loop starts a file or folder again at its end; without it the source ends there.
	Loop bool
	// FPS caps how many frames a second are delivered (converted to pictures). Devices and
	// streams are still read at their own rate so that their buffers do not lag, but frames
	// between deliveries are not converted; 0 delivers every frame. A file plays at its own
	// frame rate and FPS only caps it. A snapshot URL is fetched FPS times a second (default
	// 1), a folder shows FPS images a second (default 1), a synthetic source renders FPS
	// frames a second (default 5).
	FPS float64
	// Width and Height are the synthetic canvas (default 320×240), or the capture size to
	// ask a device for (0 keeps the device's own).
	Width, Height int
	// Format is the pixel format to ask a device for: FormatMJPEG (default), FormatYUYV or
	// FormatAny. A device that lacks it keeps its own.
	Format string
	// ReadTimeout bounds the wait for the next frame of a network source or a device
	// (default 5s): a source that sends nothing for this long without closing is stalled,
	// and is closed and reopened. Connecting may take twice as long. A snapshot URL must
	// answer within it.
	ReadTimeout time.Duration
	// SceneEvery is how often a synthetic source draws a new scene (default 4s).
	SceneEvery time.Duration
	// Seed makes a synthetic source's scenes reproducible.
	Seed int64
}

// Defaults of the fields a zero Spec leaves open.
const (
	DefaultFolderFPS       = 1.0
	DefaultSnapshotFPS     = 1.0
	DefaultReadTimeout     = 5 * time.Second
	DefaultSyntheticFPS    = 5.0
	DefaultSyntheticWidth  = 320
	DefaultSyntheticHeight = 240
	DefaultSceneEvery      = 4 * time.Second
)

// maxFPS bounds FPS: more is a typo, and a tighter loop would only burn the CPU.
const maxFPS = 1000

// withDefaults fills the fields left zero; it is the only place Spec defaults live.
func (s Spec) withDefaults() Spec {
	if s.live() && s.ReadTimeout == 0 {
		s.ReadTimeout = DefaultReadTimeout
	}
	switch s.Kind {
	case KindStream:
		if s.Transport == "" {
			s.Transport = TransportTCP
		}
	case KindDevice:
		if s.Format == "" {
			s.Format = FormatMJPEG
		}
	case KindSnapshot:
		if s.FPS == 0 {
			s.FPS = DefaultSnapshotFPS
		}
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

// live says whether the source is a camera that can stall: a network source, a device or a
// GStreamer pipeline, as opposed to files and the synthetic world.
func (s Spec) live() bool {
	switch s.Kind {
	case KindDevice, KindStream, KindMJPEG, KindSnapshot, KindGStreamer:
		return true
	}
	return false
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
	if s.ReadTimeout < 0 {
		return bad("read_timeout", "%v is negative", s.ReadTimeout)
	}
	if s.Username != "" || s.PasswordFile != "" {
		switch s.Kind {
		case KindStream, KindMJPEG, KindSnapshot:
		default:
			return bad("username", "credentials are for stream, mjpeg and snapshot sources, not %s", s.Kind)
		}
		if u, err := url.Parse(s.URL); err == nil && u.User != nil {
			return bad("username", "the URL holds credentials already; give them in one place")
		}
	}
	switch s.Kind {
	case KindDevice:
		if s.Device == "" {
			return bad("device", "missing: give an index (0) or a path (/dev/video0)")
		}
		if _, err := strconv.Atoi(s.Device); err != nil && !strings.HasPrefix(s.Device, "/") {
			return bad("device", "%q is neither an index (0) nor an absolute path (/dev/video0)", s.Device)
		}
		switch s.Format {
		case FormatMJPEG, FormatYUYV, FormatAny:
		default:
			return bad("format", "%q is not one of %s, %s, %s", s.Format, FormatMJPEG, FormatYUYV, FormatAny)
		}
	case KindStream:
		u, err := url.Parse(s.URL)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return bad("url", "%q is not a stream URL such as rtsp://host/path", redactURL(s.URL))
		}
		if s.Transport != TransportTCP && s.Transport != TransportUDP {
			return bad("transport", "%q is not %s or %s", s.Transport, TransportTCP, TransportUDP)
		}
	case KindMJPEG, KindSnapshot:
		u, err := url.Parse(s.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("url", "%q is not an http:// or https:// URL", redactURL(s.URL))
		}
	case KindGStreamer:
		if !strings.Contains(s.Pipeline, "appsink") {
			return bad("pipeline", "%q does not end in an appsink, where OpenCV takes the frames", s.Pipeline)
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
		return bad("kind", "missing: one of %s", strings.Join(Kinds, ", "))
	default:
		return bad("kind", "%q is not one of %s", s.Kind, strings.Join(Kinds, ", "))
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
	case KindStream, KindMJPEG, KindSnapshot:
		return redactURL(s.URL)
	case KindGStreamer:
		return "gstreamer: " + s.Pipeline
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
// failure, then Factor times longer after each further one, never more than Max, each wait
// moved by up to ±20% at random so that cameras that failed together (a switch rebooted) do
// not come back in lockstep. A source that delivered frames before failing starts again
// from Initial.
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
	// StateChanged, when set, is called with the source's name and stats whenever its State
	// changes, on the source's goroutine: it must return quickly.
	StateChanged func(camera string, st Stats)
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
