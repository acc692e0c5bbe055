package clip

import (
	"fmt"
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
		{"unknown key", "name: s\ncolour: red\nlabels: [a]\n", "label set s.yaml:2: colour: unknown key (the keys here are name, templates, threshold, pairs, background, labels)"},
		{"unknown label key", "name: s\nlabels:\n  - name: a\n    promts: [x]\n", "label set s.yaml:4: labels[0].promts: unknown key (the keys here are name, prompts, threshold)"},
		{"label key at the top", "name: s\nlabel: [a]\n", "label set s.yaml:2: label: unknown key"},
		{"label as a list", "name: s\nlabels:\n  - [a, b]\n", "label set s.yaml:3: labels[0]: a list is not a label: its name, or a mapping of name, prompts, threshold"},
		{"threshold as text", "name: s\nthreshold: high\nlabels: [a]\n", `label set s.yaml:2: threshold: "high" is not a number`},
		{"label threshold as text", "name: s\nlabels:\n  - {name: a, threshold: high}\n", `label set s.yaml:3: labels[0].threshold: "high" is not a number`},
		{"templates as text", "name: s\ntemplates: a photo of a {}\nlabels: [a]\n", `label set s.yaml:2: templates: "a photo of a {}" is not a list`},
		{"empty label", "name: s\nlabels:\n  - a\n  - \"\"\n", `label set s.yaml:4: labels[1]: empty label`},
		{"no labels", "name: s\nlabels: []\n", "label set s.yaml:2: labels: no labels"},
		{"labels missing", "name: s\n", "label set s.yaml: labels: no labels"},
		{"template without braces", "name: s\ntemplates: [\"a {}\", \"a photo\"]\nlabels: [a]\n", `label set s.yaml:2: templates[1]: "a photo" has no {} for the label`},
		{"duplicate", "name: s\nlabels:\n  - a\n  - a\n", `label set s.yaml:4: labels[1]: label "a" is given already (labels[0], line 3)`},
		{"threshold range", "name: s\nlabels:\n  - name: a\n    threshold: 1.5\n", `label set s.yaml:4: labels[0].threshold: 1.5 is outside [0, 1]`},
		{"set threshold range", "name: s\nthreshold: 1.5\nlabels: [a]\n", `label set s.yaml:2: threshold: 1.5 is outside [0, 1]`},
		{"threshold NaN", "name: s\nthreshold: .nan\nlabels: [a]\n", `label set s.yaml:2: threshold: NaN is outside [0, 1]`},
		{"no name", "labels: [a]\n", "label set s.yaml: name: missing"},
		{"empty file", "", "label set s.yaml: empty file"},
		{"bad yaml", "name: [\n", "label set s.yaml:1: did not find expected node content"},
		{"pairs with one {}", "name: s\npairs: \"{} with\"\nlabels: [a, b]\n", `label set s.yaml:2: pairs: "{} with" needs two {}`},
		{"too many pairs", "name: s\npairs: \"{} and {}\"\ntemplates: [\"{}\", \"a {}\"]\nlabels: [" + manyLabels(46) + "]\n",
			"label set s.yaml:2: pairs: 46 labels and 2 templates make 4140 pair prompts, more than 4096"},
		// Bounds (README "Label sets"): a 400k-label set once stalled labelling for minutes.
		{"too many labels", "name: s\nlabels:\n" + labelLines(1001), "label set s.yaml:1003: labels[1000]: 1001 labels, more than the 1000 a set may have"},
		{"too many prompts", "name: s\ntemplates: [" + templates(20) + "]\nlabels:\n" + labelLines(600),
			`label set s.yaml:504: labels[500]: label "thing 500" brings the set to 10020 prompts, more than 10000`},
		{"too many templates", "name: s\ntemplates: [" + templates(101) + "]\nlabels: [a]\n", "label set s.yaml:2: templates: 101 templates, more than the 100 a label may have"},
		{"long label", "name: s\nlabels:\n  - " + strings.Repeat("x", 1001) + "\n", "label set s.yaml:3: labels[0]: label of 1001 bytes, more than 1000"},
		{"long prompt", "name: s\nlabels:\n  - name: a\n    prompts: [" + strings.Repeat("y", 1001) + "]\n", `label set s.yaml:4: labels[0].prompts[0]: a prompt of 1001 bytes, more than 1000`},
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

// labelLines is n labels as a YAML block list, one per line.
func labelLines(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "  - thing %d\n", i)
	}
	return b.String()
}

// templates is n distinct templates as a YAML flow list's items.
func templates(n int) string {
	t := make([]string, n)
	for i := range t {
		t[i] = fmt.Sprintf(`"{} %d"`, i)
	}
	return strings.Join(t, ", ")
}

func manyLabels(n int) string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("thing %d", i)
	}
	return strings.Join(names, ", ")
}

func TestPairSet(t *testing.T) {
	src := `name: home
templates: ["a photo of a {}", "a picture of a {}"]
pairs: "{} and a {}"
labels:
  - cat
  - name: person
    prompts: ["someone walking"]
  - dog
`
	set, err := ParseLabelSet([]byte(src), "home.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pairs, idx := set.PairSet()
	if len(pairs.Labels) != 6 || !reflect.DeepEqual(idx, [][2]int{{0, 1}, {0, 2}, {1, 0}, {1, 2}, {2, 0}, {2, 1}}) {
		t.Fatalf("pairs %v, indexes %v", pairs.Names(), idx)
	}
	// A label's own prompts are not paired: the pair is its name in the set's templates.
	want := Label{Name: "person and a dog", Prompts: []string{"a photo of a person and a dog", "a picture of a person and a dog"}, Threshold: DefaultThreshold}
	if !reflect.DeepEqual(pairs.Labels[3], want) {
		t.Fatalf("pair 3 is %+v, want %+v", pairs.Labels[3], want)
	}
	set.Pair = ""
	if p, i := set.PairSet(); p != nil || i != nil {
		t.Fatalf("a set without pairs gave %v %v", p, i)
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
