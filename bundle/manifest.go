package bundle

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/edged/edged/runtime/tflite"
)

// ManifestName is the file name of a bundle's manifest.
const ManifestName = "manifest.json"

// ManifestFormat is the version of the manifest layout this package writes and reads.
const ManifestFormat = 1

// Manifest describes a bundle: which checkpoint it came from, how it was converted, and what
// each file is. It is written as manifest.json at the bundle's root.
type Manifest struct {
	Format       int    `json:"format"`
	Architecture string `json:"architecture"` // config.json's architectures[0], e.g. "CLIPModel"
	// Revision is the converter's Architecture.Revision that wrote the bundle.
	Revision  int    `json:"revision"`
	Precision string `json:"precision"` // as asked for: "fp32", "fp16", "int8-dynamic", "int8"
	// Source is the checkpoint: its folder as given (informational) and its content hash.
	Source SourceInfo `json:"source"`
	// Files are the bundle's files with their roles.
	Files []File `json:"files"`
	// Values are model-specific numbers and settings the inference code needs (e.g. CLIP's
	// "logit_scale"), keyed by name.
	Values map[string]any `json:"values,omitempty"`
	// Calibration says what full int8 calibrated on, or why a full-int8 conversion was written
	// at the safe precision instead; absent for other precisions.
	Calibration  *CalibrationInfo `json:"calibration,omitempty"`
	EdgedVersion string           `json:"edged_version"`

	// path is the manifest.json it was read from, for errors ("" for one made in memory).
	path string
}

// SourceInfo identifies the checkpoint a bundle was converted from.
type SourceInfo struct {
	Path       string `json:"path,omitempty"`
	Hash       string `json:"hash"`                  // checkpoint hash (see Source.Hash)
	RandomInit bool   `json:"random_init,omitempty"` // weights were random, not the checkpoint's
	Seed       uint64 `json:"seed,omitempty"`        // of the random weights
	// Parameters is how many weights the converter read from the checkpoint (or drew at
	// random): the checkpoint's size in parameters, less any tensor edged does not use.
	Parameters int64 `json:"parameters,omitempty"`
	Origin           // the Hugging Face repository, when the checkpoint was pulled from the hub
}

// Origin names where on the Hugging Face hub a checkpoint came from; its fields are empty for
// a checkpoint folder that was not pulled.
type Origin struct {
	Repo     string `json:"repo,omitempty"`     // "owner/name"
	Revision string `json:"revision,omitempty"` // as asked for: a branch, a tag or a commit
	Commit   string `json:"commit,omitempty"`   // the commit the revision resolved to
}

// CalibrationInfo records the data full-int8 activation ranges were observed on.
type CalibrationInfo struct {
	Source string `json:"source"` // "shapes", the image folder, or "none" (see Fallback)
	Images int    `json:"images"`
	Method string `json:"method,omitempty"` // the observer, e.g. "minmax"
	// Fallback says why full int8 was asked for and the bundle holds the safe precision
	// (int8 weights, float activations) instead; empty when the bundle is full int8.
	Fallback string `json:"fallback,omitempty"`
	// Text names the models that see text written at full int8 too, and what they were
	// calibrated on; empty when only the vision tower is.
	Text string `json:"text,omitempty"`
	// Check is the fidelity gate's verdict on the calibrated model, when one ran.
	Check *FidelityInfo `json:"check,omitempty"`
}

// FidelityInfo is a fidelity gate's verdict: how closely a full-int8 model agreed with the
// float model of the same checkpoint on frames held aside from calibration.
type FidelityInfo struct {
	Source string `json:"source,omitempty"` // where the frames came from (a folder, a camera)
	// Reference is the precision of the model compared with: the float model ("fp32"), or the
	// checkpoint's safe precision.
	Reference string `json:"reference,omitempty"`
	Frames    int    `json:"frames"` // frames compared
	// MeanCosine and WorstCosine compare the image embeddings (for BLIP, per frame the mean
	// over the vision tokens).
	MeanCosine  float64 `json:"mean_cosine"`
	WorstCosine float64 `json:"worst_cosine"`
	// Top1Agreement is the share of (frame, label set) pairs given the same top-1 label (CLIP);
	// Top1Compared how many pairs.
	Top1Agreement float64 `json:"top1_agreement,omitempty"`
	Top1Compared  int     `json:"top1_compared,omitempty"`
	// TextAgreement is the share of greedy captions or answers that are identical (BLIP);
	// TextCompared how many.
	TextAgreement float64 `json:"text_agreement,omitempty"`
	TextCompared  int     `json:"text_compared,omitempty"`
	// Differences are a few examples of what differed, for people.
	Differences []string `json:"differences,omitempty"`
	// Thresholds are the bars the verdict was judged against.
	Thresholds FidelityThresholds `json:"thresholds"`
	Passed     bool               `json:"passed"`
	// Failures name the bars that were missed.
	Failures []string `json:"failures,omitempty"`
}

// FidelityThresholds are the lowest figures a fidelity gate accepts.
type FidelityThresholds struct {
	MeanCosine  float64 `json:"mean_cosine"`
	WorstCosine float64 `json:"worst_cosine"`
	Top1        float64 `json:"top1_agreement"`
	Text        float64 `json:"text_agreement"`
}

// File is one file of a bundle.
type File struct {
	Path string `json:"path"` // relative to the bundle folder
	Role string `json:"role"` // e.g. "vision", "text", "tokenizer", "preprocessor_config"
	// Precision of a model file; it may differ from the bundle's (a tower kept at
	// int8-dynamic in an int8 bundle).
	Precision string   `json:"precision,omitempty"`
	Inputs    []Tensor `json:"inputs,omitempty"`
	Outputs   []Tensor `json:"outputs,omitempty"`
	Size      int64    `json:"size"`
	SHA256    string   `json:"sha256"`
}

// Tensor is an input or output of a model file. Shape uses -1 for a dimension the caller sets
// at run time (resizing the input).
type Tensor struct {
	Name  string `json:"name"`
	DType string `json:"dtype"`
	Shape []int  `json:"shape"`
}

// Roles of files that every bundle may carry.
const (
	RoleConfig             = "config"              // config.json of the checkpoint
	RolePreprocessorConfig = "preprocessor_config" // preprocessor_config.json
	RoleTokenizer          = "tokenizer"           // tokenizer.json
	RoleTokenizerConfig    = "tokenizer_config"    // tokenizer_config.json
	RoleVocab              = "vocab"               // vocab.json or vocab.txt
	RoleMerges             = "merges"              // merges.txt
	RoleSpecialTokens      = "special_tokens_map"  // special_tokens_map.json
	RoleGenerationConfig   = "generation_config"   // generation_config.json
	RoleContrast           = "contrast"            // ContrastFile: what a CLIP model's labels are told apart from
)

// ContrastFile is the file of a checkpoint (and of the bundles converted from it) that holds
// its CLIP contrast set: a label set, in JSON, of what the model's cameras may show (see
// clip.Contrast).
const ContrastFile = "edged_contrast.json"

// File returns the file with the given role.
func (m *Manifest) File(role string) (File, bool) {
	for _, f := range m.Files {
		if f.Role == role {
			return f, true
		}
	}
	return File{}, false
}

// ModelFiles lists the bundle's model files (those with inputs, or a precision of their own),
// each with the precision it is written at: its own, else the bundle's.
func (m *Manifest) ModelFiles() []File {
	var out []File
	for _, f := range m.Files {
		if f.Precision == "" && len(f.Inputs) == 0 { // not a model file
			continue
		}
		if f.Precision == "" {
			f.Precision = m.Precision
		}
		out = append(out, f)
	}
	return out
}

// Float returns a numeric value of the manifest.
func (m *Manifest) Float(name string) (float64, error) {
	v, ok := m.Values[name]
	if !ok {
		return 0, m.errorf("no value %q", name)
	}
	f, ok := v.(float64)
	if !ok {
		return 0, m.errorf("value %q is %T, want a number", name, v)
	}
	return f, nil
}

// FloatIn returns a numeric value of the manifest that must lie in [lo, hi].
func (m *Manifest) FloatIn(name string, lo, hi float64) (float64, error) {
	f, err := m.Float(name)
	if err != nil {
		return 0, err
	}
	if !(f >= lo && f <= hi) {
		return 0, m.errorf("value %q is %v, want %v to %v", name, f, lo, hi)
	}
	return f, nil
}

// maxExactInt is the largest integer a JSON number (float64) holds exactly.
const maxExactInt = 1 << 53

// Int returns an integer value of the manifest.
func (m *Manifest) Int(name string) (int, error) {
	f, err := m.Float(name)
	if err != nil {
		return 0, err
	}
	if f != math.Trunc(f) || math.Abs(f) > maxExactInt {
		return 0, m.errorf("value %q is %v, want an integer", name, f)
	}
	return int(f), nil
}

// IntIn returns an integer value of the manifest that must lie in [lo, hi]: model code reads
// sizes with it, so that a damaged or hand-edited manifest is an error naming the file and
// the value rather than an allocation that kills the process.
func (m *Manifest) IntIn(name string, lo, hi int) (int, error) {
	v, err := m.Int(name)
	if err != nil {
		return 0, err
	}
	if v < lo || v > hi {
		return 0, m.errorf("value %q is %d, want %d to %d", name, v, lo, hi)
	}
	return v, nil
}

// Text returns a string value of the manifest.
func (m *Manifest) Text(name string) (string, error) {
	v, ok := m.Values[name]
	if !ok {
		return "", m.errorf("no value %q", name)
	}
	s, ok := v.(string)
	if !ok {
		return "", m.errorf("value %q is %T, want a string", name, v)
	}
	return s, nil
}

// errorf makes an error about the manifest, naming its file when it was read from one.
func (m *Manifest) errorf(format string, args ...any) error {
	if m.path == "" {
		return fmt.Errorf("manifest: "+format, args...)
	}
	return fmt.Errorf("bundle manifest %s: "+format, append([]any{m.path}, args...)...)
}

// ReadManifest reads and checks the manifest.json of the bundle in dir.
func ReadManifest(dir string) (*Manifest, error) {
	path := filepath.Join(dir, ManifestName)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bundle manifest: %w", err)
	}
	return ParseManifest(data, path)
}

// ParseManifest parses and checks manifest bytes; path names the file in errors.
func ParseManifest(data []byte, path string) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("bundle manifest %s: %w", path, err)
	}
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("bundle manifest %s: %w", path, err)
	}
	m.path = path
	return &m, nil
}

// Bounds of a manifest's file list: far above what a bundle holds, low enough that nothing
// sized by them can exhaust memory.
const (
	maxFiles     = 64
	maxTensors   = 1024    // inputs or outputs of one model file
	maxRank      = 8       // dimensions of a tensor
	maxDimension = 1 << 24 // one dimension of a tensor
)

func (m *Manifest) validate() error {
	switch {
	case m.Format != ManifestFormat:
		return fmt.Errorf("format %d, this edged reads format %d", m.Format, ManifestFormat)
	case m.Architecture == "":
		return fmt.Errorf("no architecture")
	case m.Precision == "":
		return fmt.Errorf("no precision")
	case len(m.Files) == 0:
		return fmt.Errorf("no files")
	case len(m.Files) > maxFiles:
		return fmt.Errorf("%d files, more than the %d a bundle may have", len(m.Files), maxFiles)
	}
	seen := map[string]bool{}
	for i, f := range m.Files {
		if f.Path == "" || f.Role == "" {
			return fmt.Errorf("file %d has no path or no role", i)
		}
		// A bundle names its own files only: no absolute paths, no way out of the folder.
		if filepath.IsAbs(f.Path) || !filepath.IsLocal(f.Path) {
			return fmt.Errorf("file %q is outside the bundle", f.Path)
		}
		if seen[f.Role] {
			return fmt.Errorf("role %q appears twice", f.Role)
		}
		seen[f.Role] = true
		if f.Size < 0 {
			return fmt.Errorf("file %q has size %d", f.Path, f.Size)
		}
		if len(f.SHA256) != 64 {
			return fmt.Errorf("file %q has no SHA-256 (64 hex digits)", f.Path)
		}
		if err := checkTensors(f); err != nil {
			return fmt.Errorf("file %q: %w", f.Path, err)
		}
	}
	return nil
}

// checkTensors bounds the inputs and outputs a file lists: each dimension is -1 (set at run
// time) or a size.
func checkTensors(f File) error {
	if len(f.Inputs) > maxTensors || len(f.Outputs) > maxTensors {
		return fmt.Errorf("%d inputs and %d outputs, more than %d", len(f.Inputs), len(f.Outputs), maxTensors)
	}
	for _, t := range append(slices.Clip(f.Inputs), f.Outputs...) {
		if len(t.Shape) > maxRank {
			return fmt.Errorf("tensor %q has %d dimensions, more than %d", t.Name, len(t.Shape), maxRank)
		}
		for _, d := range t.Shape {
			if d < -1 || d > maxDimension {
				return fmt.Errorf("tensor %q has shape %v: a dimension is -1 or 0 to %d", t.Name, t.Shape, maxDimension)
			}
		}
	}
	return nil
}

// Write stores the manifest as indented JSON in dir, flushed to disk.
func (m *Manifest) Write(dir string) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	return WriteFileSync(filepath.Join(dir, ManifestName), append(data, '\n'))
}

// PrecisionInt8 is the precision name of a full-int8 model file (int8 weights and activations).
const PrecisionInt8 = "int8"

// RuntimeOptions adapts interpreter options to this file: a full-int8 file under XNNPACK gets
// the QS8 flag (without it TFLite 2.9 leaves int8 operators on its slower kernels, see package
// tflite); with any other delegate the flag is left off, since tflite refuses XNNPACK flags
// there.
func (f File) RuntimeOptions(o tflite.Options) tflite.Options {
	xnnpack := o.Delegate == tflite.DelegateDefault || o.Delegate == tflite.DelegateXNNPack
	o.XNNPackQS8 = xnnpack && f.Precision == PrecisionInt8
	return o
}

// HasRole reports whether the manifest lists a file with the given role.
func (m *Manifest) HasRole(role string) bool {
	_, ok := m.File(role)
	return ok
}
