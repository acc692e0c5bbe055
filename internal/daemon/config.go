package daemon

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/edged/edged/camera"
	"github.com/edged/edged/clip"
	"github.com/edged/edged/internal/confirm"
	"github.com/edged/edged/internal/listenaddr"
	"github.com/edged/edged/internal/publish"
	"github.com/edged/edged/internal/recall"
	"github.com/edged/edged/internal/userfile"
	"github.com/edged/edged/internal/yamlerr"
	"github.com/edged/edged/runtime/kernels"
)

// Config is the daemon's whole configuration, as read from edged.yaml. Once loaded it is
// treated as immutable: a reload builds a new Config and swaps it in.
type Config struct {
	Device   string        `yaml:"device"`
	HTTP     HTTPConfig    `yaml:"http"`
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

// HTTPConfig is where the live page, /metrics and /healthz are served, and who may use them.
// In the YAML it is an address alone (`http: 127.0.0.1:8080`) or a mapping with listen.
type HTTPConfig struct {
	Listen string `yaml:"listen"`
	// UsersFile holds basic-auth users (`edged passwd FILE USER`); TokenFile a bearer token.
	UsersFile string `yaml:"users_file"`
	TokenFile string `yaml:"token_file"`
	// AllowAnonymous lets the server listen beyond loopback without users or token.
	AllowAnonymous bool `yaml:"allow_anonymous"`
	// AllowedHosts are host names requests may be addressed to, besides IP addresses,
	// localhost, the machine's name and the listen host (a check against DNS rebinding).
	AllowedHosts []string `yaml:"allowed_hosts"`
}

// UnmarshalYAML reads an address alone, or the mapping (unknown keys are errors, as in the
// rest of the file).
func (h *HTTPConfig) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*h = HTTPConfig{Listen: n.Value}
		return nil
	}
	if err := yamlerr.CheckKeys(n, reflect.TypeFor[HTTPConfig]()); err != nil {
		return err
	}
	type plain HTTPConfig
	return n.Decode((*plain)(h))
}

// DescribeYAML says what http is written as, for error messages.
func (HTTPConfig) DescribeYAML() string {
	return "an address (host:port) or a mapping of listen, users_file, token_file, allow_anonymous, allowed_hosts"
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
	// ReplyPrefixes are topic prefixes an ask's reply_to may name, besides
	// <prefix>/<device>/reply/.
	ReplyPrefixes []string `yaml:"reply_prefixes"`
	// Server is the embedded broker's security and limits (broker: embedded only).
	Server BrokerServerConfig `yaml:"server"`
}

// BrokerServerConfig is the embedded broker's users, permissions, TLS listener and limits.
type BrokerServerConfig struct {
	UsersFile      string                    `yaml:"users_file"`
	AllowAnonymous bool                      `yaml:"allow_anonymous"`
	Users          map[string]BrokerUserConf `yaml:"users"`
	TLS            struct {
		Cert string `yaml:"cert"`
		Key  string `yaml:"key"`
	} `yaml:"tls"`
	MaxPacketBytes int `yaml:"max_packet_bytes"`
	MaxClients     int `yaml:"max_clients"`
}

// BrokerUserConf is what one user of the embedded broker may do (publish.Permissions).
type BrokerUserConf struct {
	Read     []string `yaml:"read"`
	Write    []string `yaml:"write"`
	Requests *bool    `yaml:"requests"` // ask and search; default true
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
	Kernels         string            `yaml:"kernels"` // edged's int8 kernels: auto, off or a kernel name; -bmm after auto or a name leaves BATCH_MATMUL out
	DelegateLibrary string            `yaml:"delegate_library"`
	DelegateOptions map[string]string `yaml:"delegate_options"`
	Precision       string            `yaml:"precision"`
	Workers         int               `yaml:"workers"`
	// MemoryLimit is the memory the models may take (memory.go); 0: what the machine has.
	MemoryLimit ByteSize `yaml:"memory_limit"`
}

// ModelsConfig names a bundle or Hugging Face checkpoint folder per model; empty means unused.
type ModelsConfig struct {
	CLIP        string `yaml:"clip"`
	BLIPCaption string `yaml:"blip_caption"`
	BLIPVQA     string `yaml:"blip_vqa"`
	BLIPITM     string `yaml:"blip_itm"`
	// CLIPContrast is a label set file of what the camera may show, which labels are told
	// apart from (clip.Contrast); empty: the CLIP model's own, or clip's default.
	CLIPContrast string `yaml:"clip_contrast"`
	// Calibration is when a CLIP model, or a BLIP captioning or VQA model's vision tower, at
	// the safe precision is calibrated to full int8 on the cameras' frames
	// (config_calibration.go).
	Calibration CalibrationConfig `yaml:"calibration"`
	// IdleUnload is how long a model no camera's schedule uses stays loaded without use
	// (idle.go); 0 keeps it; absent: DefaultIdleUnload (ModelsConfig.idleUnload).
	IdleUnload *time.Duration `yaml:"idle_unload"`
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

// Source describes where frames come from; the fields are camera.Spec's (see there and the
// README's Cameras section).
type Source struct {
	Kind         string        `yaml:"kind"`   // stream | mjpeg | snapshot | device | gstreamer | file | folder | synthetic
	Device       string        `yaml:"device"` // index ("0") or path ("/dev/video0")
	URL          string        `yaml:"url"`
	Transport    string        `yaml:"transport"` // RTSP: tcp (default) or udp
	Username     string        `yaml:"username"`
	PasswordFile string        `yaml:"password_file"`
	Pipeline     string        `yaml:"pipeline"`
	Path         string        `yaml:"path"`
	Loop         bool          `yaml:"loop"`
	Width        int           `yaml:"width"`
	Height       int           `yaml:"height"`
	Format       string        `yaml:"format"` // device: mjpeg (default), yuyv, any
	FPS          float64       `yaml:"fps"`
	ReadTimeout  time.Duration `yaml:"read_timeout"`
	// MaxFrameAge is how old the newest frame may be and still be labelled, captioned or
	// asked about as the camera's current view (default: read_timeout plus one frame
	// interval for cameras, no bound for files, folders and the synthetic world).
	MaxFrameAge time.Duration `yaml:"max_frame_age"`
	SceneEvery  time.Duration `yaml:"scene_every"`
	Seed        int64         `yaml:"seed"`
}

// live says whether the source is a camera (network or device) rather than a file, a
// folder or the synthetic world.
func (s Source) live() bool {
	switch s.Kind {
	case camera.KindStream, camera.KindMJPEG, camera.KindSnapshot, camera.KindDevice, camera.KindGStreamer:
		return true
	}
	return false
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
	// Candidates > 1 is CapFilt: the decoder proposes that many captions, Samples of them by
	// nucleus sampling and the others by beam search, and Rank picks the one that fits the
	// frame best: BLIP's image-text matching (itm, models.blip_itm), CLIP (clip) or both.
	// The payload carries the chosen caption's score and RunnersUp of the others.
	Candidates int    `yaml:"candidates"`
	Samples    int    `yaml:"samples"`
	Rank       string `yaml:"rank"`
	RunnersUp  int    `yaml:"runners_up"`
}

// MaxCaptionCandidates bounds caption.candidates: each candidate is one sequence of the
// decoder's batch and one score per ranking model.
const MaxCaptionCandidates = 16

// ranks says whether the camera's captions are ranked, and by which models.
func (c CaptionSchedule) ranks() (itm, clip bool) {
	if c.Candidates <= 1 {
		return false, false
	}
	return c.Rank == "itm" || c.Rank == "both", c.Rank == "clip" || c.Rank == "both"
}

// options are the captioner's options for these settings.
func (c CaptionSchedule) options() CaptionOptions {
	return CaptionOptions{Beams: c.Beams, MaxTokens: c.MaxTokens, Prompt: c.Prompt,
		Candidates: c.Candidates, Samples: c.Samples, Rank: c.Rank}
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
	return "config " + yamlerr.Problem{Line: e.Line, Field: e.Field, Msg: e.Msg}.In(e.File)
}

// problemError is the ConfigError of a problem of file.
func problemError(file string, p yamlerr.Problem) *ConfigError {
	return &ConfigError{File: file, Line: p.Line, Field: p.Field, Msg: p.Msg}
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
		return nil, problemError(path, yamlerr.Explain(err, nil, nil))
	}
	if len(root.Content) == 0 {
		return nil, &ConfigError{File: path, Msg: "empty file"}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, problemError(path, yamlerr.Explain(err, root.Content[0], reflect.TypeFor[Config]()))
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
		if cam.Caption.Candidates == 0 {
			cam.Caption.Candidates = 1
		}
		if cam.Caption.Rank == "" {
			cam.Caption.Rank = "itm"
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
		// The camera package fills in the rest of a source's defaults.
		s := &cam.Source
		if s.FPS == 0 {
			s.FPS = 5
			if s.live() {
				s.FPS = scheduleFPS(cam)
			}
		}
		if s.live() {
			if s.ReadTimeout == 0 {
				s.ReadTimeout = camera.DefaultReadTimeout
			}
			if s.MaxFrameAge == 0 {
				s.MaxFrameAge = s.ReadTimeout + time.Duration(float64(time.Second)/s.FPS)
			}
		}
	}
}

// scheduleFPS is the frame rate a camera's schedule needs, for a camera that does not say:
// one frame for each run of its most frequent work, so that frames nobody looks at are not
// decoded; between one every 5 seconds and 5 a second, and 1 without any work.
func scheduleFPS(cam *Camera) float64 {
	var fastest time.Duration
	for _, every := range []time.Duration{cam.Labels.Every, cam.Caption.Every, cam.Questions.Every} {
		if every > 0 && (fastest == 0 || every < fastest) {
			fastest = every
		}
	}
	if fastest == 0 {
		return 1
	}
	return min(5, max(0.2, float64(time.Second)/float64(fastest)))
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
	v.err = problemError(v.file, yamlerr.At(v.root, field, fmt.Sprintf(format, args...)))
}

func (c *Config) validate(v *validator) {
	if !idPattern.MatchString(c.Device) {
		v.fail("device", "%q may hold only letters, digits, '_' and '-' (it is an MQTT topic level)", c.Device)
	}
	c.validateHTTP(v)
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		v.fail("log_level", "%q is not one of debug, info, warn, error", c.LogLevel)
	}
	c.validateMQTT(v)
	c.validateRuntime(v)
	c.validateBounds(v)
	c.validateModels(v)
	c.validateCalibration(v)
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
		c.validateSource(v, at+".source", cam)
		c.validateSchedule(v, at, cam)
	}
}

func (c *Config) validateMQTT(v *validator) {
	m := &c.MQTT
	if m.Broker == "embedded" {
		if _, _, err := net.SplitHostPort(m.Listen); m.Listen != "" && err != nil {
			v.fail("mqtt.listen", "%q is not host:port", m.Listen)
		}
	} else if _, err := publish.BrokerAddress(m.Broker); err != nil {
		v.fail("mqtt.broker", "%v (or \"embedded\")", err)
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
	for i, prefix := range m.ReplyPrefixes {
		o := publish.Options{Device: c.Device, TopicPrefix: m.TopicPrefix, ReplyPrefixes: []string{prefix},
			HomeAssistant: publish.HomeAssistant{DiscoveryPrefix: m.HomeAssistant.DiscoveryPrefix}}
		if err := o.Check(); err != nil {
			v.fail(fmt.Sprintf("mqtt.reply_prefixes[%d]", i), "%s", strings.TrimPrefix(err.Error(), "publish: option reply_prefixes: "))
		}
	}
	c.validateBroker(v)
}

// validateBroker checks the embedded broker's section: its files, its users and filters, and
// that it does not listen beyond loopback without passwords unless told to.
func (c *Config) validateBroker(v *validator) {
	m := &c.MQTT
	s := &m.Server
	if m.Broker != "embedded" {
		if !reflect.DeepEqual(*s, BrokerServerConfig{}) {
			v.fail("mqtt.server", "is the embedded broker's section, and mqtt.broker is %q", m.Broker)
		}
		return
	}
	var users userfile.Users
	if s.UsersFile != "" {
		var err error
		if users, err = userfile.Read(c.Resolve(s.UsersFile)); err != nil {
			v.fail("mqtt.server.users_file", "%v", err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(s.Users)) {
		at := "mqtt.server.users." + name
		if s.UsersFile == "" {
			v.fail(at, "permissions for a user, but no users_file")
		} else if _, ok := users[name]; !ok && users != nil {
			v.fail(at, "user %q is not in %s", name, s.UsersFile)
		}
		u := s.Users[name]
		for i, f := range u.Read {
			if err := publish.CheckFilter(f); err != nil {
				v.fail(fmt.Sprintf("%s.read[%d]", at, i), "%v", err)
			}
		}
		for i, f := range u.Write {
			if err := publish.CheckFilter(f); err != nil {
				v.fail(fmt.Sprintf("%s.write[%d]", at, i), "%v", err)
			}
		}
	}
	if (s.TLS.Cert == "") != (s.TLS.Key == "") {
		v.fail("mqtt.server.tls", "cert and key go together")
	} else if s.TLS.Cert != "" {
		if _, err := tls.LoadX509KeyPair(c.Resolve(s.TLS.Cert), c.Resolve(s.TLS.Key)); err != nil {
			v.fail("mqtt.server.tls", "%v", err)
		}
	}
	if s.MaxPacketBytes != 0 && (s.MaxPacketBytes < 1<<10 || s.MaxPacketBytes > 256<<20) {
		v.fail("mqtt.server.max_packet_bytes", "%d is outside [1024, 268435456] (leave it out for %d)", s.MaxPacketBytes, publish.DefaultMaxPacketBytes)
	}
	if s.MaxClients != 0 && (s.MaxClients < 1 || s.MaxClients > 10000) {
		v.fail("mqtt.server.max_clients", "%d is outside [1, 10000] (leave it out for %d)", s.MaxClients, publish.DefaultMaxClients)
	}
	listen := m.Listen
	if listen == "" {
		listen = publish.DefaultListen
	}
	if err := c.brokerConfig().CheckExposure(listen); err != nil {
		v.fail("mqtt.listen", "%v", err)
	}
}

// brokerConfig is the embedded broker's section as the publisher takes it.
func (c *Config) brokerConfig() publish.BrokerConfig {
	s := c.MQTT.Server
	bc := publish.BrokerConfig{UsersFile: c.Resolve(s.UsersFile), AllowAnonymous: s.AllowAnonymous,
		TLSCert: c.Resolve(s.TLS.Cert), TLSKey: c.Resolve(s.TLS.Key), MaxPacketBytes: s.MaxPacketBytes, MaxClients: s.MaxClients}
	if len(s.Users) > 0 {
		bc.Users = map[string]publish.Permissions{}
		for name, u := range s.Users {
			bc.Users[name] = publish.Permissions{Read: u.Read, Write: u.Write, NoRequests: u.Requests != nil && !*u.Requests}
		}
	}
	return bc
}

// validateHTTP checks the address, the credentials files, and that the server does not
// listen beyond loopback without credentials unless told to.
func (c *Config) validateHTTP(v *validator) {
	h := &c.HTTP
	if h.Listen == "" {
		if h.UsersFile != "" || h.TokenFile != "" || h.AllowAnonymous || len(h.AllowedHosts) > 0 {
			v.fail("http.listen", "missing: the address to serve on, e.g. 127.0.0.1:8080")
		}
		return
	}
	if _, _, err := net.SplitHostPort(h.Listen); err != nil {
		v.fail("http", "%q is not host:port", h.Listen)
	}
	if h.UsersFile != "" {
		if _, err := userfile.Read(c.Resolve(h.UsersFile)); err != nil {
			v.fail("http.users_file", "%v", err)
		}
	}
	if h.TokenFile != "" {
		if _, err := c.httpToken(); err != nil {
			v.fail("http.token_file", "%v", err)
		}
	}
	for i, host := range h.AllowedHosts {
		if host == "" || strings.ContainsAny(host, "/ \t@") {
			v.fail(fmt.Sprintf("http.allowed_hosts[%d]", i), "%q is not a host name", host)
		}
	}
	if h.UsersFile == "" && h.TokenFile == "" && !h.AllowAnonymous && !listenaddr.IsLoopback(h.Listen) {
		v.fail("http", "%s is beyond loopback and neither users_file nor token_file is set: anyone on the network "+
			"could watch the cameras; add users (`edged passwd FILE USER`, then http.users_file) or a token_file, "+
			"or set http.allow_anonymous: true", h.Listen)
	}
}

// minTokenBytes is the shortest bearer token accepted: a guessable one protects nothing.
const minTokenBytes = 16

// httpToken reads the bearer token file (surrounding whitespace removed).
func (c *Config) httpToken() (string, error) {
	if c.HTTP.TokenFile == "" {
		return "", nil
	}
	data, err := os.ReadFile(c.Resolve(c.HTTP.TokenFile))
	if err != nil {
		return "", err
	}
	token := strings.TrimSpace(string(data))
	switch {
	case len(token) < minTokenBytes:
		return "", fmt.Errorf("%s: the token is %d bytes; use at least %d (e.g. `openssl rand -hex 32`)", c.HTTP.TokenFile, len(token), minTokenBytes)
	case strings.ContainsAny(token, " \t\r\n"):
		return "", fmt.Errorf("%s: the token is one line without spaces", c.HTTP.TokenFile)
	}
	return token, nil
}

func (c *Config) validateRuntime(v *validator) {
	r := &c.Runtime
	if r.Threads < 0 {
		v.fail("runtime.threads", "%d is negative", r.Threads)
	}
	if r.Workers < 0 {
		v.fail("runtime.workers", "%d is negative", r.Workers)
	}
	if r.MemoryLimit < 0 {
		v.fail("runtime.memory_limit", "%d is negative", r.MemoryLimit)
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
		if p != "" {
			c.checkModel(v, field, p)
		}
	}
	if d := c.Models.idleUnload(); d < 0 || d > MaxEvery {
		v.fail("models.idle_unload", "%v is outside [0, %v] (0 keeps every model loaded)", d, MaxEvery)
	}
	if c.Models.CLIPContrast != "" {
		if c.Models.CLIP == "" {
			v.fail("models.clip_contrast", "is set without models.clip")
		} else if _, err := clip.LoadLabelSet(c.Resolve(c.Models.CLIPContrast)); err != nil {
			v.fail("models.clip_contrast", "%v", err)
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

// validateCapFilt checks a camera's caption ranking (caption.candidates and what goes with it).
func (c *Config) validateCapFilt(v *validator, at string, cs CaptionSchedule) {
	if cs.Candidates < 1 || cs.Candidates > MaxCaptionCandidates {
		v.fail(at+".candidates", "%d is outside [1, %d]", cs.Candidates, MaxCaptionCandidates)
		return
	}
	if cs.Samples < 0 || cs.Samples > cs.Candidates {
		v.fail(at+".samples", "%d is outside [0, candidates %d]", cs.Samples, cs.Candidates)
	}
	if cs.RunnersUp < 0 || cs.RunnersUp > cs.Candidates-1 {
		v.fail(at+".runners_up", "%d is outside [0, candidates - 1 = %d]", cs.RunnersUp, cs.Candidates-1)
	}
	switch cs.Rank {
	case "itm", "clip", "both":
	default:
		v.fail(at+".rank", "%q is not one of itm, clip, both", cs.Rank)
		return
	}
	if cs.Candidates == 1 {
		return
	}
	if cs.Beams > 1 {
		v.fail(at+".beams", "%d beams and %d candidates: the candidates are the beams; give one of them", cs.Beams, cs.Candidates)
	}
	itm, clip := cs.ranks()
	if itm && c.Models.BLIPITM == "" {
		v.fail(at+".rank", "%q needs models.blip_itm", cs.Rank)
	}
	if clip && c.Models.CLIP == "" {
		v.fail(at+".rank", "%q needs models.clip", cs.Rank)
	}
}

// usesITM says whether anything in the config needs models.blip_itm: ITM-checked events,
// re-ranked searches or captions ranked by ITM. The model is loaded only then.
func (c *Config) usesITM() bool {
	if c.Search.Rerank {
		return true
	}
	for _, cam := range c.Cameras {
		if itm, _ := cam.Caption.ranks(); itm || len(cam.Labels.Confirm.Labels) > 0 {
			return true
		}
	}
	return false
}

func (c *Config) validateSource(v *validator, at string, cam *Camera) {
	s := &cam.Source
	// The camera package knows what each kind needs; the files must exist now.
	if err := camera.Check(cameraSpec(c, *cam), camera.Options{}); err != nil {
		field := at
		var se *camera.SpecError
		if errors.As(err, &se) {
			field += "." + se.Field
			err = errors.New(se.Msg)
		}
		v.fail(field, "%v", err)
		return
	}
	for _, f := range []struct{ field, path string }{{"path", s.Path}, {"password_file", s.PasswordFile}} {
		if f.path != "" {
			if _, err := os.Stat(c.Resolve(f.path)); err != nil {
				v.fail(at+"."+f.field, "%v", err)
			}
		}
	}
	if s.Kind == camera.KindSynthetic && (s.Width > 8192 || s.Height > 8192) {
		v.fail(at, "synthetic frames must be between 16 and 8192 pixels a side, not %dx%d", s.Width, s.Height)
	}
	if s.FPS <= 0 || s.FPS > 120 {
		v.fail(at+".fps", "%v is outside (0, 120]", s.FPS)
	}
	if s.MaxFrameAge < 0 {
		v.fail(at+".max_frame_age", "is negative")
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
	c.validateCapFilt(v, at+".caption", cam.Caption)
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
