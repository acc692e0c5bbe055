package bundle

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

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
	// Calibration says what full int8 calibrated on; absent for other precisions.
	Calibration  *CalibrationInfo `json:"calibration,omitempty"`
	EdgedVersion string           `json:"edged_version"`
}

// SourceInfo identifies the checkpoint a bundle was converted from.
type SourceInfo struct {
	Path       string `json:"path,omitempty"`
	Hash       string `json:"hash"`                  // checkpoint hash (see Source.Hash)
	RandomInit bool   `json:"random_init,omitempty"` // weights were random, not the checkpoint's
	Seed       uint64 `json:"seed,omitempty"`        // of the random weights
}

// CalibrationInfo records the data full-int8 activation ranges were observed on.
type CalibrationInfo struct {
	Source string `json:"source"` // "shapes" or the image folder
	Images int    `json:"images"`
	Method string `json:"method"` // the observer, e.g. "minmax"
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

// Float returns a numeric value of the manifest.
func (m *Manifest) Float(name string) (float64, error) {
	v, ok := m.Values[name]
	if !ok {
		return 0, fmt.Errorf("manifest has no value %q", name)
	}
	f, ok := v.(float64)
	if !ok {
		return 0, fmt.Errorf("manifest value %q is %T, want a number", name, v)
	}
	return f, nil
}

// Int returns an integer value of the manifest.
func (m *Manifest) Int(name string) (int, error) {
	f, err := m.Float(name)
	if err != nil {
		return 0, err
	}
	if f != float64(int(f)) {
		return 0, fmt.Errorf("manifest value %q is %v, want an integer", name, f)
	}
	return int(f), nil
}

// Text returns a string value of the manifest.
func (m *Manifest) Text(name string) (string, error) {
	v, ok := m.Values[name]
	if !ok {
		return "", fmt.Errorf("manifest has no value %q", name)
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("manifest value %q is %T, want a string", name, v)
	}
	return s, nil
}

// ReadManifest reads and checks the manifest.json of the bundle in dir.
func ReadManifest(dir string) (*Manifest, error) {
	path := filepath.Join(dir, ManifestName)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bundle manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("bundle manifest %s: %w", path, err)
	}
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("bundle manifest %s: %w", path, err)
	}
	return &m, nil
}

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
