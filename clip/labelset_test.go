package clip

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseLabelSet(t *testing.T) {
	src := `name: home
templates: ["a photo of a {}", "a picture of a {}"]
threshold: 0.4
labels:
  - red circle
  - name: person
    prompts: ["a person", "someone walking"]
    threshold: 0.3
`
	set, err := ParseLabelSet([]byte(src), "home.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := []Label{
		{Name: "red circle", Prompts: []string{"a photo of a red circle", "a picture of a red circle"}, Threshold: 0.4},
		{Name: "person", Prompts: []string{"a person", "someone walking"}, Threshold: 0.3},
	}
	if set.Name != "home" || !reflect.DeepEqual(set.Labels, want) {
		t.Fatalf("got %+v", set)
	}
}

func TestParseLabelSetDefaults(t *testing.T) {
	set, err := ParseLabelSet([]byte("name: s\nlabels: [cat]\n"), "s.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := set.Labels[0]; got.Threshold != DefaultThreshold || !reflect.DeepEqual(got.Prompts, []string{"a photo of a cat"}) {
		t.Fatalf("got %+v", got)
	}
}

func TestParseLabelSetErrors(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"unknown key", "name: s\ncolour: red\nlabels: [a]\n", "s.yaml: yaml: unmarshal errors:\n  line 2: field colour not found"},
		{"unknown label key", "name: s\nlabels:\n  - name: a\n    promts: [x]\n", "line 4: field promts not found"},
		{"empty label", "name: s\nlabels:\n  - a\n  - \"\"\n", `s.yaml:4: empty label`},
		{"no labels", "name: s\nlabels: []\n", "s.yaml: no labels"},
		{"template without braces", "name: s\ntemplates: [\"a photo\"]\nlabels: [a]\n", `template "a photo" has no {}`},
		{"duplicate", "name: s\nlabels:\n  - a\n  - a\n", `s.yaml:4: label "a" already given at line 3`},
		{"threshold range", "name: s\nlabels:\n  - name: a\n    threshold: 1.5\n", `s.yaml:3: label "a": threshold: 1.5 is outside [0, 1]`},
		{"no name", "labels: [a]\n", "s.yaml: name is missing"},
		{"empty file", "", "s.yaml: empty file"},
		{"bad yaml", "name: [\n", "label set s.yaml: yaml:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseLabelSet([]byte(c.src), "s.yaml")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
}

// The shipped label sets must load.
func TestShippedLabelSets(t *testing.T) {
	files, _ := filepath.Glob("../configs/labels/*.yaml")
	if len(files) == 0 {
		t.Fatal("no label sets in configs/labels")
	}
	for _, f := range files {
		if _, err := LoadLabelSet(f); err != nil {
			t.Error(err)
		}
	}
	if _, err := LoadLabelSet(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("missing file: %v", err)
	}
}
