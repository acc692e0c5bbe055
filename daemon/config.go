package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/edged/edged/confirm"
	"github.com/edged/edged/recall"
	"github.com/edged/edged/runtime/kernels"
)

// Config is the daemon's whole configuration, as read from edged.yaml. Once loaded it is
// treated as immutable: a reload builds a new Config and swaps it in.
type Config struct {
	Device   string        `yaml:"device"`
	HTTP     string        `yaml:"http"`
	CacheDir string        `yaml:"cache_dir"`
	LogLevel string        `yaml:"log_level"`
	MQTT     MQTTConfig    `yaml:"mqtt"`
	Runtime  RuntimeConfig `yaml:"runtime"`
	Models   ModelsConfig  `yaml:"models"`
	Cameras  []Camera      `yaml:"cameras"`
	Search   SearchConfig  `yaml:"search"`

	// Path is the file the config came from; relative paths in it are resolved against its folder.
	Path string `yaml:"-"`
	// root is the parsed YAML, for finding the line of a field in later messages.
	root *yaml.Node
}

// MQTTConfig says where and how results are published.
type MQTTConfig struct {
	Broker        string            `yaml:"broker"` // "embedded" or tcp://, ssl://, ws:// URL
	Listen        string            `yaml:"listen"` // embedded broker address
	ClientID      string            `yaml:"client_id"`
	Username      string            `yaml:"username"`
	Password      string            `yaml:"password"`
	PasswordFile  string            `yaml:"password_file"`
	TLS           TLSConfig         `yaml:"tls"`
	QoS           int               `yaml:"qos"`
	TopicPrefix   string            `yaml:"topic_prefix"`
	Retain        RetainConfig      `yaml:"retain"`
	QueueSize     int               `yaml:"queue_size"`
	MaxAskBytes   int               `yaml:"max_ask_bytes"`
	HomeAssistant HomeAssistantConf `yaml:"home_assistant"`
}

// TLSConfig names the files for an ssl:// broker.
type TLSConfig struct {
	CA                 string `yaml:"ca"`
	Cert               string `yaml:"cert"`
	Key                string `yaml:"key"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// RetainConfig chooses which state topics the broker keeps for late subscribers.
type RetainConfig struct {
	Labels  bool `yaml:"labels"`
	Caption bool `yaml:"caption"`
	Answer  bool `yaml:"answer"`
}

// HomeAssistantConf controls MQTT discovery.
type HomeAssistantConf struct {
	Enabled         bool   `yaml:"enabled"`
	DiscoveryPrefix string `yaml:"discovery_prefix"`
}

// RuntimeConfig is how TFLite runs the models.
type RuntimeConfig struct {
	Threads         int               `yaml:"threads"`
	Delegate        string            `yaml:"delegate"`
	Kernels         string            `yaml:"kernels"` // edged's int8 kernels: auto, off or a kernel name
	DelegateLibrary string            `yaml:"delegate_library"`
	DelegateOptions map[string]string `yaml:"delegate_options"`
	Precision       string            `yaml:"precision"`
	Workers         int               `yaml:"workers"`
}

// ModelsConfig names a bundle or Hugging Face checkpoint folder per model; empty means unused.
type ModelsConfig struct {
	CLIP        string `yaml:"clip"`
	BLIPCaption string `yaml:"blip_caption"`
	BLIPVQA     string `yaml:"blip_vqa"`
	BLIPITM     string `yaml:"blip_itm"`
}

// SearchConfig bounds the memory of recent frames that text search looks at (package
// recall); zero fields take recall's defaults. Search is on whenever models.clip is set: every
// labelled frame is remembered.
type SearchConfig struct {
	MaxFrames    int           `yaml:"max_frames"`    // per camera
	MaxAge       time.Duration `yaml:"max_age"`       // how long a frame is remembered
	MaxBytes     int64         `yaml:"max_bytes"`     // thumbnails and embeddings of every camera
	ThumbWidth   int           `yaml:"thumb_width"`   // pixels
	ThumbQuality int           `yaml:"thumb_quality"` // JPEG quality of thumbnails
	// Rerank rescores the best RerankDepth hits of every search with BLIP image-text matching
	// (models.blip_itm) on their thumbnails.
	Rerank      bool `yaml:"rerank"`
	RerankDepth int  `yaml:"rerank_depth"`
}

// recallOptions are the store's options (without the Reranker, which needs the ITM model).
func (s SearchConfig) recallOptions() recall.Options {
	return recall.Options{MaxFrames: s.MaxFrames, MaxAge: s.MaxAge, MaxBytes: s.MaxBytes,
		ThumbWidth: s.ThumbWidth, ThumbQuality: s.ThumbQuality, RerankDepth: s.RerankDepth}
}

// Camera is one frame source and what to do with its frames.
type Camera struct {
	Name      string          `yaml:"name"`
	Source    Source          `yaml:"source"`
	Labels    LabelsSchedule  `yaml:"labels"`
	Caption   CaptionSchedule `yaml:"caption"`
	Questions QuestionsConfig `yaml:"questions"`
	Snapshot  SnapshotConfig  `yaml:"snapshot"`
	Motion    MotionConfig    `yaml:"motion"`
}

// Source describes where frames come from.
type Source struct {
	Kind       string        `yaml:"kind"`   // device | stream | file | folder | synthetic
	Device     string        `yaml:"device"` // index ("0") or path ("/dev/video0")
	URL        string        `yaml:"url"`
	Path       string        `yaml:"path"`
	Loop       bool          `yaml:"loop"`
	Width      int           `yaml:"width"`
	Height     int           `yaml:"height"`
	FPS        float64       `yaml:"fps"`
	SceneEvery time.Duration `yaml:"scene_every"`
	Seed       int64         `yaml:"seed"`
}

// LabelsSchedule is zero-shot labelling of a camera's frames.
type LabelsSchedule struct {
	Sets        []string      `yaml:"sets"`
	Every       time.Duration `yaml:"every"`
	TopK        int           `yaml:"top_k"`
	Hysteresis  float64       `yaml:"hysteresis"`
	MinDuration time.Duration `yaml:"min_duration"`
	Confirm     ConfirmConfig `yaml:"confirm"`
}

// ConfirmConfig has BLIP image-text matching (models.blip_itm) check the events of some
// labels before they are published (package confirm): the frame an event starts on is scored
// against the label's prompts, and the event's payload says whether ITM confirmed it.
type ConfirmConfig struct {
	// Labels are the labels whose events are checked, by name, from the camera's label
	// sets; "*" checks every label.
	Labels []string `yaml:"labels"`
	// Threshold is the ITM probability at or above which an event is confirmed (default 0.5).
	Threshold float64 `yaml:"threshold"`
}

// checks says whether events of label are ITM-checked.
func (c ConfirmConfig) checks(label string) bool {
	for _, l := range c.Labels {
		if l == "*" || l == label {
			return true
		}
	}
	return false
}

// CaptionSchedule is BLIP captioning of a camera's frames.
type CaptionSchedule struct {
	Every     time.Duration `yaml:"every"`
	Beams     int           `yaml:"beams"`
	MaxTokens int           `yaml:"max_tokens"`
	Prompt    string        `yaml:"prompt"`
}

// QuestionsConfig is standing visual questions asked of a camera's frames.
type QuestionsConfig struct {
	Every time.Duration `yaml:"every"`
	Ask   []string      `yaml:"ask"`
}

// SnapshotConfig publishes a JPEG when an event starts.
type SnapshotConfig struct {
	OnEvents bool `yaml:"on_events"`
	MaxWidth int  `yaml:"max_width"`
	Quality  int  `yaml:"quality"`
}

// MotionConfig skips inference while the picture does not change.
type MotionConfig struct {
	Enabled   bool          `yaml:"enabled"`
	Threshold float64       `yaml:"threshold"`
	MaxSkip   time.Duration `yaml:"max_skip"`
}

// ConfigError is a configuration problem at a known place: the daemon prints it and exits
// with status 2 before touching anything.
type ConfigError struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *ConfigError) Error() string {
	where := e.File
	if e.Line > 0 {
		where = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Field == "" {
		return fmt.Sprintf("config %s: %s", where, e.Msg)
	}
	return fmt.Sprintf("config %s: %s: %s", where, e.Field, e.Msg)
}

// LoadConfig reads, defaults and validates a config file.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &ConfigError{File: path, Msg: err.Error()}
	}
	return ParseConfig(data, path)
}

// ParseConfig parses config bytes; path names the file in messages and anchors relative paths.
func ParseConfig(data []byte, path string) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &ConfigError{File: path, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	if len(root.Content) == 0 {
		return nil, &ConfigError{File: path, Msg: "empty file"}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlError(path, err)
	}
	c.Path, c.root = path, root.Content[0]
	c.fillDefaults()
	v := validator{file: path, root: root.Content[0]}
	c.validate(&v)
	if v.err != nil {
		return nil, v.err
	}
	return &c, nil
}

// yamlError turns yaml.v3's "line N: ..." messages into ConfigErrors.
func yamlError(path string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		line, msg := 0, te.Errors[0]
		if _, scanErr := fmt.Sscanf(msg, "line %d:", &line); scanErr == nil {
			msg = strings.TrimSpace(msg[strings.Index(msg, ":")+1:])
		}
		return &ConfigError{File: path, Line: line, Msg: msg}
	}
	return &ConfigError{File: path, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
}

// fillDefaults is the one place defaults live.
func (c *Config) fillDefaults() {
	if c.Device == "" {
		if h, err := os.Hostname(); err == nil {
			c.Device = sanitizeID(h)
		} else {
			c.Device = "edged"
		}
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	// The other MQTT defaults (listen address, client id, topic prefix, queue and ask sizes,
	// discovery prefix) are publish.Options': one place for them.
	if c.MQTT.Broker == "" {
		c.MQTT.Broker = "embedded"
	}
	if c.Runtime.Delegate == "" {
		c.Runtime.Delegate = "xnnpack"
	}
	if c.Runtime.Kernels == "" {
		c.Runtime.Kernels = kernels.Auto
	}
	if c.Runtime.Workers == 0 {
		// One per two cores, and at least one for each lane (labels, BLIP).
		c.Runtime.Workers = max(2, runtime.NumCPU()/2)
	}
	for i := range c.Cameras {
		cam := &c.Cameras[i]
		if cam.Labels.TopK == 0 {
			cam.Labels.TopK = 3
		}
		if cam.Labels.Hysteresis == 0 {
			cam.Labels.Hysteresis = 0.1
		}
		if cam.Labels.Confirm.Threshold == 0 {
			cam.Labels.Confirm.Threshold = confirm.DefaultThreshold
		}
		if cam.Caption.Beams == 0 {
			cam.Caption.Beams = 1
		}
		if cam.Caption.MaxTokens == 0 {
			cam.Caption.MaxTokens = 20
		}
		if cam.Snapshot.Quality == 0 {
			cam.Snapshot.Quality = 80
		}
		if cam.Snapshot.MaxWidth == 0 {
			cam.Snapshot.MaxWidth = 640
		}
		if cam.Motion.Threshold == 0 {
			cam.Motion.Threshold = 0.02
		}
		if cam.Motion.MaxSkip == 0 {
			cam.Motion.MaxSkip = 30 * time.Second
		}
		s := &cam.Source
		if s.Kind == "synthetic" {
			if s.Width == 0 {
				s.Width = 320
			}
			if s.Height == 0 {
				s.Height = 240
			}
			if s.SceneEvery == 0 {
				s.SceneEvery = 4 * time.Second
			}
		}
		if s.FPS == 0 {
			s.FPS = 5
		}
	}
}

// Resolve makes a path from the config absolute, relative to the config file's folder.
func (c *Config) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(c.Path), p)
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func sanitizeID(s string) string {
	return regexp.MustCompile(`[^A-Za-z0-9_-]+`).ReplaceAllString(s, "_")
}

// validator records the first problem, with the line of the YAML node it concerns.
type validator struct {
	file string
	root *yaml.Node
	err  error
}

// fail records a problem at a field path such as "cameras[0].caption.every".
func (v *validator) fail(field string, format string, args ...any) {
	if v.err != nil {
		return
	}
	v.err = &ConfigError{File: v.file, Line: v.line(field), Field: field, Msg: fmt.Sprintf(format, args...)}
}

// line finds the line of a field path in the YAML tree (0 when the field is absent).
func (v *validator) line(field string) int {
	n, line := v.root, 0
	for _, part := range strings.Split(field, ".") {
		key, index := part, -1
		if i := strings.IndexByte(part, '['); i >= 0 {
			key = part[:i]
			fmt.Sscanf(part[i:], "[%d]", &index)
		}
		n = mappingValue(n, key)
		if n == nil {
			return line
		}
		line = n.Line
		if index >= 0 {
			if n.Kind != yaml.SequenceNode || index >= len(n.Content) {
				return line
			}
			n = n.Content[index]
			line = n.Line
		}
	}
	return line
}

func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func (c *Config) validate(v *validator) {
	if !idPattern.MatchString(c.Device) {
		v.fail("device", "%q may hold only letters, digits, '_' and '-' (it is an MQTT topic level)", c.Device)
	}
	if c.HTTP != "" {
		if _, _, err := net.SplitHostPort(c.HTTP); err != nil {
			v.fail("http", "%q is not host:port", c.HTTP)
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		v.fail("log_level", "%q is not one of debug, info, warn, error", c.LogLevel)
	}
	c.validateMQTT(v)
	c.validateRuntime(v)
	c.validateModels(v)
	c.validateSearch(v)
	if len(c.Cameras) == 0 {
		v.fail("cameras", "at least one camera is needed")
	}
	names := map[string]bool{}
	for i := range c.Cameras {
		cam := &c.Cameras[i]
		at := fmt.Sprintf("cameras[%d]", i)
		if !idPattern.MatchString(cam.Name) {
			v.fail(at+".name", "%q must be non-empty and hold only letters, digits, '_' and '-'", cam.Name)
		}
		if names[cam.Name] {
			v.fail(at+".name", "camera %q is named twice", cam.Name)
		}
		names[cam.Name] = true
		c.validateSource(v, at+".source", &cam.Source)
		c.validateSchedule(v, at, cam)
	}
}

func (c *Config) validateMQTT(v *validator) {
	m := &c.MQTT
	if m.Broker == "embedded" {
		if _, _, err := net.SplitHostPort(m.Listen); m.Listen != "" && err != nil {
			v.fail("mqtt.listen", "%q is not host:port", m.Listen)
		}
	} else {
		u, err := url.Parse(m.Broker)
		if err != nil || u.Host == "" {
			v.fail("mqtt.broker", "%q is neither \"embedded\" nor a URL such as tcp://host:1883", m.Broker)
		} else {
			switch u.Scheme {
			case "tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss":
			default:
				v.fail("mqtt.broker", "scheme %q is not tcp, ssl, ws or wss", u.Scheme)
			}
		}
	}
	if m.QoS < 0 || m.QoS > 2 {
		v.fail("mqtt.qos", "%d is not 0, 1 or 2", m.QoS)
	}
	if strings.ContainsAny(m.TopicPrefix, "#+") || strings.HasPrefix(m.TopicPrefix, "/") || strings.HasSuffix(m.TopicPrefix, "/") {
		v.fail("mqtt.topic_prefix", "%q may not hold wildcards or start or end with '/'", m.TopicPrefix)
	}
	if m.QueueSize < 0 {
		v.fail("mqtt.queue_size", "%d is negative", m.QueueSize)
	}
	if m.Password != "" && m.PasswordFile != "" {
		v.fail("mqtt.password_file", "give password or password_file, not both")
	}
	for field, p := range map[string]string{"mqtt.password_file": m.PasswordFile, "mqtt.tls.ca": m.TLS.CA, "mqtt.tls.cert": m.TLS.Cert, "mqtt.tls.key": m.TLS.Key} {
		if p != "" {
			if _, err := os.Stat(c.Resolve(p)); err != nil {
				v.fail(field, "%v", err)
			}
		}
	}
	if (m.TLS.Cert == "") != (m.TLS.Key == "") {
		v.fail("mqtt.tls", "cert and key go together")
	}
}

func (c *Config) validateRuntime(v *validator) {
	r := &c.Runtime
	if r.Threads < 0 {
		v.fail("runtime.threads", "%d is negative", r.Threads)
	}
	if r.Workers < 0 {
		v.fail("runtime.workers", "%d is negative", r.Workers)
	}
	switch r.Delegate {
	case "xnnpack", "none", "gpu":
	case "external":
		if r.DelegateLibrary == "" {
			v.fail("runtime.delegate_library", "the external delegate needs the path of its .so")
		}
	default:
		v.fail("runtime.delegate", "%q is not one of xnnpack, none, gpu, external", r.Delegate)
	}
	if _, _, err := kernels.Resolve(r.Kernels); err != nil {
		v.fail("runtime.kernels", "%v", err)
	}
	switch r.Precision {
	case "", "fp32", "fp16", "int8-dynamic", "int8": // "": each architecture's own default
	default:
		v.fail("runtime.precision", "%q is not one of fp32, fp16, int8-dynamic, int8", r.Precision)
	}
}

func (c *Config) validateModels(v *validator) {
	for field, p := range map[string]string{"models.clip": c.Models.CLIP, "models.blip_caption": c.Models.BLIPCaption, "models.blip_vqa": c.Models.BLIPVQA, "models.blip_itm": c.Models.BLIPITM} {
		if p == "" {
			continue
		}
		if fi, err := os.Stat(c.Resolve(p)); err != nil {
			v.fail(field, "%v", err)
		} else if !fi.IsDir() {
			v.fail(field, "%s is not a folder (a model bundle or a Hugging Face checkpoint)", c.Resolve(p))
		}
	}
}

func (c *Config) validateSearch(v *validator) {
	s := &c.Search
	for field, n := range map[string]int64{"search.max_frames": int64(s.MaxFrames), "search.max_bytes": s.MaxBytes,
		"search.thumb_width": int64(s.ThumbWidth), "search.rerank_depth": int64(s.RerankDepth), "search.max_age": int64(s.MaxAge)} {
		if n < 0 {
			v.fail(field, "is negative (leave it out for the default)")
		}
	}
	if s.ThumbQuality < 0 || s.ThumbQuality > 100 {
		v.fail("search.thumb_quality", "%d is outside [1, 100] (leave it out for the default)", s.ThumbQuality)
	}
	if s.Rerank && c.Models.BLIPITM == "" {
		v.fail("search.rerank", "re-ranking needs models.blip_itm")
	}
	if _, err := recall.New(s.recallOptions()); err != nil {
		v.fail("search", "%v", err)
	}
}

func (c *Config) validateSource(v *validator, at string, s *Source) {
	switch s.Kind {
	case "device":
		if s.Device == "" {
			v.fail(at+".device", "a device source needs an index (0) or a path (/dev/video0)")
		}
	case "stream":
		if u, err := url.Parse(s.URL); err != nil || u.Scheme == "" || u.Host == "" {
			v.fail(at+".url", "%q is not a stream URL such as rtsp://host/path", s.URL)
		}
	case "file", "folder":
		if s.Path == "" {
			v.fail(at+".path", "a %s source needs a path", s.Kind)
		} else if _, err := os.Stat(c.Resolve(s.Path)); err != nil {
			v.fail(at+".path", "%v", err)
		}
	case "synthetic":
		if s.Width < 16 || s.Height < 16 || s.Width > 8192 || s.Height > 8192 {
			v.fail(at, "synthetic frames must be between 16 and 8192 pixels a side, not %dx%d", s.Width, s.Height)
		}
	case "":
		v.fail(at+".kind", "missing: one of device, stream, file, folder, synthetic")
	default:
		v.fail(at+".kind", "%q is not one of device, stream, file, folder, synthetic", s.Kind)
	}
	if s.FPS <= 0 || s.FPS > 120 {
		v.fail(at+".fps", "%v is outside (0, 120]", s.FPS)
	}
}

func (c *Config) validateSchedule(v *validator, at string, cam *Camera) {
	l := &cam.Labels
	if len(l.Sets) > 0 {
		if c.Models.CLIP == "" {
			v.fail(at+".labels.sets", "labels need models.clip")
		}
		if l.Every <= 0 {
			v.fail(at+".labels.every", "give how often to label, e.g. 1s")
		}
		for i, s := range l.Sets {
			if _, err := os.Stat(c.Resolve(s)); err != nil {
				v.fail(fmt.Sprintf("%s.labels.sets[%d]", at, i), "%v", err)
			}
		}
	}
	if l.TopK < 1 {
		v.fail(at+".labels.top_k", "%d is less than 1", l.TopK)
	}
	if l.Hysteresis < 0 || l.Hysteresis >= 1 {
		v.fail(at+".labels.hysteresis", "%v is outside [0, 1)", l.Hysteresis)
	}
	if len(l.Confirm.Labels) > 0 {
		if c.Models.BLIPITM == "" {
			v.fail(at+".labels.confirm.labels", "ITM-checked events need models.blip_itm")
		}
		for i, name := range l.Confirm.Labels {
			if strings.TrimSpace(name) == "" {
				v.fail(fmt.Sprintf("%s.labels.confirm.labels[%d]", at, i), "empty label name")
			}
		}
	}
	if l.Confirm.Threshold <= 0 || l.Confirm.Threshold >= 1 {
		v.fail(at+".labels.confirm.threshold", "%v is outside (0, 1)", l.Confirm.Threshold)
	}
	if cam.Caption.Every < 0 {
		v.fail(at+".caption.every", "is negative")
	}
	if cam.Caption.Every > 0 && c.Models.BLIPCaption == "" {
		v.fail(at+".caption.every", "captions need models.blip_caption")
	}
	if cam.Caption.Beams < 1 || cam.Caption.Beams > 8 {
		v.fail(at+".caption.beams", "%d is outside [1, 8]", cam.Caption.Beams)
	}
	if cam.Caption.MaxTokens < 1 || cam.Caption.MaxTokens > 128 {
		v.fail(at+".caption.max_tokens", "%d is outside [1, 128]", cam.Caption.MaxTokens)
	}
	q := &cam.Questions
	if len(q.Ask) > 0 {
		if c.Models.BLIPVQA == "" {
			v.fail(at+".questions.ask", "questions need models.blip_vqa")
		}
		if q.Every <= 0 {
			v.fail(at+".questions.every", "give how often to ask, e.g. 10s")
		}
	}
	for i, s := range q.Ask {
		if strings.TrimSpace(s) == "" {
			v.fail(fmt.Sprintf("%s.questions.ask[%d]", at, i), "empty question")
		}
	}
	if cam.Snapshot.Quality < 1 || cam.Snapshot.Quality > 100 {
		v.fail(at+".snapshot.quality", "%d is outside [1, 100]", cam.Snapshot.Quality)
	}
	if cam.Motion.Threshold <= 0 || cam.Motion.Threshold >= 1 {
		v.fail(at+".motion.threshold", "%v is outside (0, 1)", cam.Motion.Threshold)
	}
}
