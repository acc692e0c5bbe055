package convert

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/internal/graph/tfl"
)

// Writer collects the files of a bundle under construction, in a temporary folder that becomes
// the bundle only when everything is written (see Convert).
type Writer struct {
	dir      string
	manifest *bundle.Manifest
	progress Progress
}

// Dir is the folder files are being written to (not the final bundle folder).
func (w *Writer) Dir() string { return w.dir }

// Progress is where the converter reports its steps.
func (w *Writer) Progress() Progress { return w.progress }

// AddModel writes a .tflite model as <role>.tflite, recording its precision and its inputs and
// outputs (read back from the file's signature) in the manifest.
func (w *Writer) AddModel(role, precision string, model []byte) error {
	m, err := tfl.Unmarshal(model)
	if err != nil {
		return fmt.Errorf("bundle: model %s: %w", role, err)
	}
	f := bundle.File{Path: role + ".tflite", Role: role, Precision: precision}
	if len(m.Subgraphs) == 0 {
		return fmt.Errorf("bundle: model %s has no subgraph", role)
	}
	sg := m.Subgraphs[0]
	describe := func(idx []int32) ([]bundle.Tensor, error) {
		var ts []bundle.Tensor
		for _, i := range idx {
			if i < 0 || int(i) >= len(sg.Tensors) {
				return nil, fmt.Errorf("bundle: model %s: tensor index %d out of range", role, i)
			}
			t := sg.Tensors[i]
			shape := t.ShapeSignature
			if shape == nil {
				shape = t.Shape
			}
			ts = append(ts, bundle.Tensor{Name: t.Name, DType: strings.ToLower(t.Type.String()), Shape: intsOf(shape)})
		}
		return ts, nil
	}
	if f.Inputs, err = describe(sg.Inputs); err != nil {
		return err
	}
	if f.Outputs, err = describe(sg.Outputs); err != nil {
		return err
	}
	return w.add(f, model)
}

// AddFile writes an auxiliary file (a tokenizer, a config) under name with the given role.
func (w *Writer) AddFile(role, name string, data []byte) error {
	return w.add(bundle.File{Path: name, Role: role}, data)
}

// SetValue records a model-specific value in the manifest (e.g. "logit_scale").
func (w *Writer) SetValue(name string, v any) {
	if w.manifest.Values == nil {
		w.manifest.Values = map[string]any{}
	}
	w.manifest.Values[name] = v
}

// SetCalibration records what full-int8 ranges were observed on.
func (w *Writer) SetCalibration(c bundle.CalibrationInfo) { w.manifest.Calibration = &c }

func (w *Writer) add(f bundle.File, data []byte) error {
	if !filepath.IsLocal(f.Path) {
		return fmt.Errorf("bundle: file name %q is not a plain relative name", f.Path)
	}
	if _, dup := w.manifest.File(f.Role); dup {
		return fmt.Errorf("bundle: role %q written twice", f.Role)
	}
	sum := sha256.Sum256(data)
	f.Size, f.SHA256 = int64(len(data)), hex.EncodeToString(sum[:])
	if err := bundle.WriteFileSync(filepath.Join(w.dir, f.Path), data); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	w.manifest.Files = append(w.manifest.Files, f)
	return nil
}

func intsOf(v []int32) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}
