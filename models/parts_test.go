package models

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/edged/edged/blip/spec"
	"github.com/edged/edged/bundle"
	"github.com/edged/edged/clip"
	clipspec "github.com/edged/edged/clip/spec"
	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/textcal"
	"github.com/edged/edged/quant"
	"github.com/edged/edged/runtime/tflite"
)

// Converted at full int8, the shapes CLIP and BLIP VQA list their parts at the precisions
// their converters write (CLIP's text tower and BLIP's text models int8-dynamic, revision 3;
// CLIP's text tower int8 when it is given calibrated ranges, as edged convert
// --calibrate-text does), and what Parts says runs each file is what an interpreter made with
// the same options runs: the kernel that took operators of it, and the delegate.
func TestPartsOfConvertedBundles(t *testing.T) {
	if testing.Short() {
		t.Skip("converts three shapes models")
	}
	dir := t.TempDir()
	labels, err := clip.LoadLabelSet("../configs/labels/shapes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	textRanges, _, err := textcal.CLIPRanges(Architectures, "shapes/clip", convert.Options{}, []*clip.LabelSet{labels})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{
		"clip":         {clipspec.RoleVisionTower: "int8", clipspec.RoleTextTower: "int8-dynamic"},
		"clip+textcal": {clipspec.RoleVisionTower: "int8", clipspec.RoleTextTower: "int8"},
		"blip_vqa":     {spec.RoleVision: "int8", spec.RoleQuestionEncoder: "int8-dynamic", spec.RoleCrossKV: "int8-dynamic", spec.RoleDecoderStep: "int8-dynamic"},
	}
	for name, roles := range want {
		opts := convert.Options{Precision: graph.Int8Full}
		ck, calibrated := strings.CutSuffix(name, "+textcal")
		if calibrated {
			opts.Ranges = map[string]map[string]quant.Range{clipspec.RoleTextTower: textRanges}
		}
		b, err := Convert(filepath.Join("shapes", ck), filepath.Join(dir, name), opts)
		if err != nil {
			t.Fatalf("convert %s: %v", name, err)
		}
		for _, opts := range []tflite.Options{{Threads: 1}, {Threads: 1, Kernels: "off"}, {Threads: 1, Delegate: tflite.DelegateNone}} {
			parts, err := Parts(b.Manifest, opts)
			if err != nil {
				t.Fatal(err)
			}
			if s := PartsString(parts); calibrated && (!strings.Contains(s, "text int8") || strings.Contains(s, "text int8-dynamic")) {
				t.Errorf("%s: parts %q, want the text tower at int8", name, s)
			}
			got := map[string]string{}
			for _, p := range parts {
				got[p.Role] = p.Precision
				ip := interpreter(t, filepath.Join(b.Dir, fileOf(t, b.Manifest.ModelFiles(), p.Role)), opts)
				d := ip.Delegation()
				if p.Kernels != d.Kernels || p.Delegate != string(d.Delegate) {
					t.Errorf("%s %s with kernels %q, delegate %q: Parts says kernels %q on %s, the interpreter runs %s",
						name, p.Role, opts.Kernels, opts.Delegate, p.Kernels, p.Delegate, d)
				}
				ip.Close()
			}
			if len(got) != len(roles) {
				t.Errorf("%s parts %v, want %v", name, parts, roles)
			}
			for role, precision := range roles {
				if got[role] != precision {
					t.Errorf("%s %s at %q, want %s (parts %v)", name, role, got[role], precision, parts)
				}
			}
			if k, _ := tflite.KernelOf(opts); k != "" {
				t.Logf("%s with kernels %q: %s", name, opts.Kernels, PartsString(parts))
				if s := PartsString(parts); !calibrated && !strings.Contains(s, "int8-dynamic ("+k+" kernels)") {
					t.Errorf("%s: %q does not say the kernels run the int8-dynamic parts", name, s)
				}
			}
		}
	}
}

func fileOf(t *testing.T, files []bundle.File, role string) string {
	t.Helper()
	for _, f := range files {
		if f.Role == role {
			return f.Path
		}
	}
	t.Fatalf("no file of role %s", role)
	return ""
}

func interpreter(t *testing.T, path string, opts tflite.Options) *tflite.Interpreter {
	t.Helper()
	m, err := tflite.LoadModel(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	ip, err := tflite.NewInterpreter(m, opts)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return ip
}
