package daemon

import (
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	blipexport "github.com/edged/edged/blip/export"
	"github.com/edged/edged/blip/spec"
	"github.com/edged/edged/bundle"
	clipspec "github.com/edged/edged/clip/spec"
	"github.com/edged/edged/hf"
	"github.com/edged/edged/hf/hub"
	"github.com/edged/edged/internal/bench"
	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/models"
	"github.com/edged/edged/runtime/tflite"
)

// The memory budget (runtime.memory_limit): the models a config names must fit in it, or
// edged refuses the config at start with the figures, rather than being killed by the OOM
// killer once the models are loaded. The figures are estimates of the anonymous memory
// (what the kernel cannot take back) each model holds, from its bundle's files; the model
// files' own pages come on top, and the kernel reclaims them under pressure.

// ByteSize is a number of bytes in the config: a plain number, or one with a unit (512MiB,
// 2GiB, 1.5GB, 800M).
type ByteSize int64

// UnmarshalYAML reads a plain number or a number with a unit.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseByteSize(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*b = v
	return nil
}

var byteUnits = []struct {
	suffix string
	size   float64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40}, {"b", 1},
}

func parseByteSize(s string) (ByteSize, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	unit := 1.0
	for _, u := range byteUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, unit = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.size
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || f*unit > math.MaxInt64/2 {
		return 0, fmt.Errorf("%q is not a size such as 1500000000, 512MiB or 2GiB", s)
	}
	return ByteSize(f * unit), nil
}

// Estimating what a model holds. Each worker's session has its own TFLite interpreters, and
// XNNPACK packs its own copy of the weights for each, so a model holds its per-session
// figure once per session. Per model file of a session: the weights as XNNPACK holds them
// (heldPerFileByte times the file) and the activations (activationsPerParam times the file's
// parameters). The factors are BENCHMARKS.md's measurements ("Memory and the hot path",
// "Where it goes": each base-size model file alone, anonymous memory at load and at the first
// Invoke, XNNPACK, amd64); a model of another size is taken to scale with its weights.

// processBase is edged itself without models: the Go runtime, TFLite's and OpenCV's
// libraries, the embedded broker, the frame and search buffers.
const processBase = 100 << 20

// heldPerFileByte is the anonymous memory per byte of a model file at each precision. Float
// weights are packed once (fp32: 1; BLIP decoder step 481 MiB for a 472 MiB file); full int8
// ones too, with float scales beside them (1.1: CLIP vision 94 MiB for 84); fp16 and
// int8-dynamic weights are dequantized to float32 at load and that copy stays beside the
// packed one (int8-dynamic 8: BLIP decoder step 951 MiB for 119, cross_kv 108 for 14; CLIP's
// text tower holds less, 296 for 61; fp16 4 by the same reading) unless edged's kernels run
// them (heldWeightOnly).
var heldPerFileByte = map[string]float64{"fp32": 1, "fp16": 4, "int8-dynamic": 8, "int8": 1.1}

// heldWeightOnly is int8-dynamic's figure when edged's kernels run the model (runtime/kernels,
// weight-only int8): the int8 weights packed once with their scales, no float copy (BLIP
// decoder step 133 MiB for 120, question encoder 171 for 133, cross_kv 17 for 14; CLIP's
// text tower 45 for 61, its embeddings read from the file).
const heldWeightOnly = 1.1

// weightOnlyKernels says whether edged's kernels run the int8-dynamic models of cfg
// (runtime.kernels as the runtime resolves it on this CPU).
func weightOnlyKernels(cfg *Config) bool {
	k, err := tflite.KernelOf(runOptions(cfg))
	return err == nil && k != ""
}

// bytesPerParam is the file bytes per weight at each precision.
var bytesPerParam = map[string]float64{"fp32": 4, "fp16": 2, "int8-dynamic": 1, "int8": 1}

// activationsPerParam is the anonymous memory a model file's first Invoke adds, per weight
// of the file: XNNPACK gives each partition of a graph its own memory for its values, so a
// tower that runs in many partitions (BLIP's vision tower: 100 beside edged's kernels) holds
// far more than TFLite's one arena would.
func activationsPerParam(arch, role, precision string, weightOnly bool) float64 {
	full := precision == "int8"
	onKernels := weightOnly && precision == "int8-dynamic" // one partition of edged's kernels per few operators
	switch {
	case role == spec.RoleVision && arch != clipspec.Architecture:
		if full {
			return 4.3 // 380 MiB for 88 M weights, the DEQUANTIZE of activations on TFLite's kernel
		}
		return 3.8 // fp32: 308 MiB for 86 M weights
	case role == clipspec.RoleVisionTower:
		return 0.2 // CLIP vision, int8: 17 MiB for 88 M weights
	case role == clipspec.RoleTextTower:
		if onKernels {
			return 0.1 // 0 MiB measured
		}
		if precision == "int8-dynamic" {
			return 1.6 // 97 MiB for 64 M weights; 0 as an fp32 file
		}
		return 0.1
	case role == spec.RoleCrossKV:
		if onKernels {
			return 0.15 // 2 MiB for 14 M weights
		}
		return 3.3 // 44 MiB for 14 M weights
	case role == spec.RoleDecoderStep:
		return 0.01 // 1 MiB for 124 M weights
	}
	return 0.5 // the question encoder (63 MiB for 137 M weights; 48 on edged's kernels), and the text models not measured
}

// towerBytes is one model file's share of a session; weightOnly: edged's kernels run it.
func towerBytes(arch, role, precision string, fileBytes int64, weightOnly bool) float64 {
	held, ok := heldPerFileByte[precision]
	switch {
	case !ok:
		held = heldPerFileByte["int8-dynamic"] // the most a precision holds
	case precision == "int8-dynamic" && weightOnly:
		held = heldWeightOnly
	}
	perParam := bytesPerParam[precision]
	if perParam == 0 {
		perParam = 1
	}
	return float64(fileBytes)*held + float64(fileBytes)/perParam*activationsPerParam(arch, role, precision, weightOnly)
}

// bundleSessionBytes is what one session of a bundle's model holds; weightOnly: edged's
// kernels run its int8-dynamic models.
func bundleSessionBytes(m *bundle.Manifest, weightOnly bool) int64 {
	var n float64
	for _, f := range m.ModelFiles() {
		n += towerBytes(m.Architecture, f.Role, f.Precision, f.Size, weightOnly)
	}
	return int64(n)
}

// checkpointSessionBytes is what one session of a checkpoint's model will hold once converted
// at precision ("" the architecture's default): its weights split into the vision tower and
// the models that see text, each at the precision the converter writes it; and how many
// weights the checkpoint has.
func checkpointSessionBytes(dir, precision string, weightOnly bool) (n int64, from string, params int64, err error) {
	ck, err := hf.Open(dir)
	if err != nil {
		return 0, "", 0, err
	}
	defer ck.Close()
	arch, err := ck.Architecture()
	if err != nil {
		return 0, "", 0, err
	}
	if precision == "" {
		p, err := models.DefaultPrecision(dir)
		if err != nil {
			return 0, "", 0, err
		}
		precision = p.String()
	}
	var vision, text int64
	for _, name := range ck.Weights.Names() {
		t, err := ck.Weights.Info(name)
		if err != nil {
			return 0, "", 0, err
		}
		if strings.HasPrefix(name, "vision_model.") || strings.HasPrefix(name, "visual_projection.") {
			vision += int64(t.Len())
		} else {
			text += int64(t.Len())
		}
	}
	textPrecision, textRole := precision, spec.RoleQuestionEncoder
	switch {
	case arch == clipspec.Architecture:
		textRole = clipspec.RoleTextTower
		if precision == "int8" {
			textPrecision = "int8-dynamic" // clip/export.TextPrecision
		}
	case precision == "int8":
		textPrecision = blipexport.TextPrecision(graph.Int8Full).String()
	}
	fileBytes := func(params int64, p string) int64 { return int64(float64(params) * bytesPerParam[p]) }
	total := towerBytes(arch, spec.RoleVision, precision, fileBytes(vision, precision), weightOnly) +
		towerBytes(arch, textRole, textPrecision, fileBytes(text, textPrecision), weightOnly)
	return int64(total), fmt.Sprintf("checkpoint of %d M weights at %s", (vision+text+500_000)/1_000_000, precision), vision + text, nil
}

// A CLIP model the daemon calibrates on its cameras (calibrating.go), or checks against the
// safe model and calibrates again when the checks fail (shadow.go), holds more for a while
// than it does steadily: a child edged converts the checkpoint at full int8 (childConversion),
// with its float weights and the calibration's activations; a model that passes is loaded
// beside the one it replaces until that one's calls end; a batch of shadow checks loads the
// safe model's one session. Conversions take turns with the loader's, so these happen one at
// a time. They need not fit beside every model at start (edged warns): each asks for its
// memory when it is about to run, against what is loaded then (memory_wait.go).

// convertPerParam is a calibrated full-int8 conversion's peak resident memory, less edged
// itself, per weight of the checkpoint, gated against the safe bundle as the daemon's child
// is (calibrator.gateReference): CLIP ViT-B/32's 151.3 M weights 1107-1108 MiB (BENCHMARKS.md,
// "What the daemon's child conversion of a CLIP model costs"; against the float model, which
// the child converted too, 1.5 GiB), BLIP base's 247 M 1.76 GiB (BENCHMARKS.md, "What the
// daemon's child conversion of a BLIP model costs").
const convertPerParam = 7.0

// textConvertPerParam is convertPerParam with models.calibration.text (edged convert
// --calibrate-text): the child also runs the float text tower on the label sets' prompts and
// converts the candidates each text gate compares. CLIP ViT-B/32 random-init peaked at
// 1.50 GiB against 1.08 GiB for the same conversion without it (BENCHMARKS.md, "CLIP's text
// tower at full int8"; both gated against the float model), less edged itself, per weight:
// 9.9; BLIP base captioning's 224.0 M weights (random) 2.27 GiB against 1.55 GiB without, gated
// against the safe bundle as the daemon's child is: 10.4 (BENCHMARKS.md, "What the daemon's
// child conversion of a BLIP model costs").
const textConvertPerParam = 10.5

// childPerParam is the child conversion's peak per weight for cfg's models.calibration.
func childPerParam(cfg *Config) float64 {
	if cfg.Models.Calibration.Text {
		return textConvertPerParam
	}
	return convertPerParam
}

// safeConvertPerParam is the same for a conversion at the safe precision (int8-dynamic, no
// calibration), which shadow checks run once when the safe bundle is not in the cache: CLIP
// ViT-B/32 638 MiB, BLIP base captioning 866, VQA 982 (BENCHMARKS.md, "Converting on a Pi"),
// less edged itself, per weight: 3.7, 3.6, 2.6.
const safeConvertPerParam = 3.7

// recalibration is why a model may be converted again while the daemon runs, and the
// setting that stops it.
type recalibration struct{ why, fix string }

var (
	cameraRecalibration = &recalibration{"calibration on the cameras' frames",
		"models.calibration: {camera: false} (models stay at the precision they were converted at, unchecked)"}
	shadowRecalibration = &recalibration{"shadow checks, which calibrate it again when they fail",
		"models.calibration: {shadow: false} (the full-int8 model runs unchecked)"}
)

// transient is memory a model holds for a while on top of the steady figures.
type transient struct {
	what  string
	bytes int64
	fix   string // the setting that avoids it
}

// peak is the largest transient of r for a checkpoint of params weights whose model holds
// modelBytes at the precision it runs at, or at the safe one (the model a swap brings in may
// be either), the child converting perParam bytes a weight (childPerParam); nil when r is.
func (r *recalibration) peak(params, modelBytes int64, perParam float64) *transient {
	if r == nil {
		return nil
	}
	t := &transient{what: r.why + ": a child edged converting it at full int8", fix: r.fix,
		bytes: processBase + int64(float64(params)*perParam)}
	if modelBytes > t.bytes {
		t.what, t.bytes = r.why+": the new model loaded beside the old one", modelBytes
	}
	return t
}

// calibratesOnCameras says whether the config lets the daemon calibrate its models on its
// cameras (and so check and calibrate again a full-int8 CLIP): models.calibration's camera,
// and cameras to calibrate on.
func calibratesOnCameras(cfg *Config) bool {
	return cfg.Models.Calibration.enabled() && len(cfg.Cameras) > 0
}

// checkpointRecalibration is why the checkpoint in dir of field's model will be converted
// again while the daemon runs (nil: it will not): converted at the safe precision it is
// calibrated on the cameras (CLIP, BLIP captioning and VQA); converted at full int8 on
// edged's own calibration data, shadow checks may calibrate it again. Telling the two apart hashes the checkpoint (once: the hash is kept for
// the conversion), which a large one on a slow card takes seconds to: exact false does not,
// and takes the first (the same figure; counted with shadow checks off too).
func checkpointRecalibration(cfg *Config, field, dir string, exact bool) (*recalibration, error) {
	if field == fieldBLIPITM || !calibratesOnCameras(cfg) || (cfg.Runtime.Precision != "" && cfg.Runtime.Precision != precisionInt8) {
		return nil, nil
	}
	if !exact {
		return cameraRecalibration, nil
	}
	memo := ""
	if cache, err := cacheDir(cfg); err == nil {
		memo = models.BundlesDir(cache)
	}
	own, err := convert.CalibratesItself(dir, memo)
	switch {
	case err != nil:
		return nil, err
	case !own:
		return cameraRecalibration, nil
	case cfg.Models.Calibration.options().Shadow.Off:
		return nil, nil
	}
	return shadowRecalibration, nil
}

// safeVariant is man with its full-int8 files at the safe precision: the model a CLIP under
// shadow checks falls back to (the converter writes every other file the same).
func safeVariant(man *bundle.Manifest) *bundle.Manifest {
	safe := *man
	safe.Precision = convert.SafePrecision.String()
	safe.Files = man.ModelFiles()
	for i := range safe.Files {
		if safe.Files[i].Precision == precisionInt8 {
			safe.Files[i].Precision = safe.Precision
		}
	}
	return &safe
}

// bundleParams is how many weights the checkpoint of a bundle has: what its converter read,
// else what its model files hold.
func bundleParams(m *bundle.Manifest) int64 {
	if m.Source.Parameters > 0 {
		return m.Source.Parameters
	}
	var n float64
	for _, f := range m.ModelFiles() {
		if b := bytesPerParam[f.Precision]; b > 0 {
			n += float64(f.Size) / b
		}
	}
	return int64(n)
}

// modelSize is the estimate of one configured model.
type modelSize struct {
	field, name string
	perSession  int64
	safeSession int64 // a session of the model at the safe precision: a shadow checks' batch loads one
	params      int64 // the checkpoint's weights (0: not known)
	sessions    int
	from        string     // what the figure is made from
	transient   *transient // what it holds for a while on top; nil: nothing
}

func (m modelSize) bytes() int64 { return int64(m.sessions) * m.perSession }

// modelSessions is how many sessions the daemon opens of field's model.
func modelSessions(cfg *Config, field string) int {
	labels, blipWorkers := laneWorkers(cfg.Runtime.Workers)
	if field == fieldCLIP || field == fieldBLIPITM {
		return labels
	}
	return blipWorkers
}

// estimateModel is m's size when it can be told before the model is prepared: a bundle
// folder, a checkpoint folder, or a repository whose checkpoint is in the hub cache. ok is
// false for a repository not pulled yet: its bundle is checked once it is ready. exact is
// checkpointRecalibration's.
func estimateModel(cfg *Config, m configuredModel, exact bool) (size modelSize, ok bool, err error) {
	size = modelSize{field: m.field, name: m.name, sessions: modelSessions(cfg, m.field)}
	dir := cfg.ResolveModel(m.name)
	if _, err := os.Stat(dir); err != nil {
		// A repository id: its snapshot, if the hub cache has it, without the network.
		d, _, err := models.Checkpoint(context.Background(), m.name, hub.Options{Offline: true})
		if err != nil {
			return size, false, nil
		}
		dir = d
	}
	if _, err := os.Stat(dir + "/" + bundle.ManifestName); err == nil {
		man, err := bundle.ReadManifest(dir)
		if err != nil {
			return size, false, err
		}
		size.perSession, size.from = bundleSessionBytes(man, weightOnlyKernels(cfg)), "bundle at "+man.Precision
		return size, true, nil
	}
	var params int64
	size.perSession, size.from, params, err = checkpointSessionBytes(dir, cfg.Runtime.Precision, weightOnlyKernels(cfg))
	if err != nil {
		return size, false, err
	}
	if m.field != fieldBLIPITM {
		r, err := checkpointRecalibration(cfg, m.field, dir, exact)
		if err != nil {
			return size, false, err
		}
		safe, _, _, err := checkpointSessionBytes(dir, convert.SafePrecision.String(), weightOnlyKernels(cfg))
		if err != nil {
			return size, false, err
		}
		size.safeSession, size.params = safe, params
		size.transient = r.peak(params, int64(size.sessions)*max(size.perSession, safe), childPerParam(cfg))
	}
	return size, true, nil
}

// memoryBudget holds the models' estimates against the limit while they are prepared: a
// model whose size is known only once its bundle is ready is admitted then, or refused. Only
// the models themselves must fit: what a model holds for a while on top (a calibration's child
// conversion, a swap, a batch of shadow checks) is asked for at run time (memory_wait.go),
// against what is loaded then.
type memoryBudget struct {
	limit    int64
	explicit bool // set in the config, rather than what the machine has
	mu       sync.Mutex
	sizes    map[string]modelSize
	order    []string
	warned   bool // a transientWarning was logged: once is enough (the figures move a little as bundles are admitted)
	// At run time (memory_wait.go), under mu: the models the idle unloader closed, the
	// transients reserved now, and who waits for memory to be freed.
	unloaded map[string]bool
	reserved map[*reservation]bool
	waiters  map[any]func()
}

// newMemoryBudget estimates the config's models and refuses the config (a *ConfigError) when
// those known already cannot fit together. Estimates that do not fit are made again exactly
// (checkpointRecalibration) before the config is refused or a transient is warned of: the
// message names the right setting.
func newMemoryBudget(cfg *Config) (*memoryBudget, error) {
	b, err := estimateBudget(cfg, false)
	if err == nil && (b.overBudget() != "" || b.transientWarning() != "") {
		b, err = estimateBudget(cfg, true)
	}
	if err != nil {
		return nil, err
	}
	if msg := b.overBudget(); msg != "" {
		return nil, configErrorAt(cfg, "runtime.memory_limit", "%s", msg)
	}
	return b, nil
}

func estimateBudget(cfg *Config, exact bool) (*memoryBudget, error) {
	b := &memoryBudget{limit: int64(cfg.Runtime.MemoryLimit), explicit: cfg.Runtime.MemoryLimit > 0, sizes: map[string]modelSize{}}
	if !b.explicit {
		var err error
		if b.limit, err = machineMemory(); err != nil {
			return nil, configErrorAt(cfg, "runtime.memory_limit", "cannot tell the machine's memory (%v): set it", err)
		}
	}
	for _, m := range configuredModels(cfg) {
		b.order = append(b.order, m.field)
		size, ok, err := estimateModel(cfg, m, exact)
		if err != nil {
			// The loader reports a model it cannot open; its size is checked once it is ready.
			continue
		}
		if ok {
			b.sizes[m.field] = size
		}
	}
	return b, nil
}

// admit records the size of field's model, whose bundle is now ready, and refuses it when the
// models no longer fit together; r is why the model will be converted again while the daemon
// runs (nil: it will not). warning is transientWarning's, for the log, when none was logged yet.
func (b *memoryBudget) admit(cfg *Config, field, name string, man *bundle.Manifest, r *recalibration) (warning string, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	weightOnly := weightOnlyKernels(cfg)
	size := modelSize{field: field, name: name, sessions: modelSessions(cfg, field),
		perSession: bundleSessionBytes(man, weightOnly), safeSession: bundleSessionBytes(safeVariant(man), weightOnly),
		params: bundleParams(man), from: "bundle at " + man.Precision}
	size.transient = r.peak(bundleParams(man), int64(size.sessions)*max(size.perSession, size.safeSession), childPerParam(cfg))
	prev, had := b.sizes[field]
	b.sizes[field] = size
	if msg := b.overBudget(); msg != "" {
		if had {
			b.sizes[field] = prev
		} else {
			delete(b.sizes, field)
		}
		return "", fmt.Errorf("runtime.memory_limit: %s", msg)
	}
	return b.newWarningLocked(), nil
}

// newWarning is transientWarning when none was logged yet ("": nothing to log).
func (b *memoryBudget) newWarning() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.newWarningLocked()
}

func (b *memoryBudget) newWarningLocked() string {
	if b.warned {
		return ""
	}
	w := b.transientWarning()
	b.warned = w != ""
	return w
}

// steadyBytes is what the known models hold together, with edged itself.
func (b *memoryBudget) steadyBytes() int64 {
	steady := int64(processBase)
	for _, s := range b.sizes {
		steady += s.bytes()
	}
	return steady
}

// limitText names the limit in messages.
func (b *memoryBudget) limitText() string {
	if !b.explicit {
		return bench.FormatBytes(b.limit) + ", what this machine has less a margin"
	}
	return "the " + bench.FormatBytes(b.limit) + " allowed"
}

// overBudget says, when the known models do not fit together, what each needs and which
// settings would make them fit; "" when they fit.
func (b *memoryBudget) overBudget() string {
	steady, sessions := b.steadyBytes(), 0
	if steady <= b.limit {
		return ""
	}
	var parts []string
	for _, f := range b.order {
		s, ok := b.sizes[f]
		if !ok {
			continue
		}
		sessions = max(sessions, s.sessions)
		parts = append(parts, fmt.Sprintf("models.%s %s (%s: %s per session × %d)", f, bench.FormatBytes(s.bytes()), s.from, bench.FormatBytes(s.perSession), s.sessions))
	}
	msg := fmt.Sprintf("the models need about %s with edged itself (%s), more than %s: %s. To fit: ",
		bench.FormatBytes(steady), bench.FormatBytes(processBase), b.limitText(), strings.Join(parts, ", "))
	var fixes []string
	for _, f := range b.order {
		if s, ok := b.sizes[f]; ok && steady-s.bytes() <= b.limit {
			fixes = append(fixes, "leave out models."+f)
		}
	}
	if sessions > 1 {
		one := int64(processBase)
		for _, s := range b.sizes {
			one += s.perSession
		}
		fixes = append(fixes, fmt.Sprintf("runtime.workers: 2 (one session of each model: %s)", bench.FormatBytes(one)))
	}
	for _, s := range b.sizes {
		if !strings.HasSuffix(s.from, "int8") {
			fixes = append(fixes, "int8 models (runtime.precision: int8, or bundles converted at int8: the least memory)")
			break
		}
	}
	fixes = append(fixes, "fewer models", "runtime.memory_limit above "+bench.FormatBytes(steady)+" on a machine that has it")
	return msg + strings.Join(fixes, "; or ")
}

// transientWarning says, when the largest transient does not fit beside all the models loaded
// at once, what it needs and what happens then (it waits for memory at run time) and which
// setting avoids it; "" when it fits.
func (b *memoryBudget) transientWarning() string {
	steady := b.steadyBytes()
	f, peak := b.largestTransient("")
	if peak == 0 || steady+peak <= b.limit {
		return ""
	}
	t := b.sizes[f].transient
	return fmt.Sprintf("runtime.memory_limit: the models need about %s with edged itself, and %s at times: %s more during models.%s's %s, more than %s. "+
		"edged starts: such work waits until what is loaded then leaves room for it (a model unloaded when idle, a conversion ended; "+
		"calibration state waiting_for_memory in /healthz). To run it at once: %s, or runtime.memory_limit above %s on a machine that has it",
		bench.FormatBytes(steady), bench.FormatBytes(steady+peak), bench.FormatBytes(peak), f, t.what, b.limitText(), t.fix, bench.FormatBytes(steady+peak))
}

// largestTransient is the largest transient of the models but skip (none: ""), and whose.
func (b *memoryBudget) largestTransient(skip string) (field string, bytes int64) {
	for _, f := range b.order {
		if s, ok := b.sizes[f]; ok && f != skip && s.transient != nil && s.transient.bytes > bytes {
			field, bytes = f, s.transient.bytes
		}
	}
	return field, bytes
}

// machineMemory is the default limit: the memory available now (MemAvailable, or MemTotal on
// kernels without it), at most the cgroup's limit, less a margin for the OS and the camera's
// decoder.
func machineMemory() (int64, error) {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	avail := meminfoBytes(string(data), "MemAvailable")
	if avail <= 0 {
		avail = meminfoBytes(string(data), "MemTotal")
	}
	if avail <= 0 {
		return 0, fmt.Errorf("/proc/meminfo has neither MemAvailable nor MemTotal")
	}
	if c := cgroupLimit(); c > 0 && c < avail {
		avail = c
	}
	margin := max(256<<20, avail/10)
	return max(0, avail-margin), nil
}

// meminfoBytes reads a "Key:   123 kB" line of /proc/meminfo.
func meminfoBytes(meminfo, key string) int64 {
	for _, line := range strings.Split(meminfo, "\n") {
		rest, ok := strings.CutPrefix(line, key+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0
		}
		if len(f) > 1 && f[1] == "kB" {
			n <<= 10
		}
		return n
	}
	return 0
}

// cgroupLimit is the memory limit of edged's cgroup (v2 memory.max, else v1
// memory.limit_in_bytes), 0 when there is none.
func cgroupLimit() int64 {
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		if err != nil || n <= 0 || n >= 1<<60 { // "max", or v1's "no limit"
			continue
		}
		return n
	}
	return 0
}
