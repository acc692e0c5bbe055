package clip

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	"github.com/edged/edged/internal/yamlerr"
	"gopkg.in/yaml.v3"
)

// LabelSet is a named list of labels for zero-shot classification, as written in
// configs/labels/*.yaml:
//
//	name: shapes
//	templates: ["a photo of a {}"]
//	threshold: 0.5          # default for every label
//	pairs: "{} and a {}"    # optional: how two labels are said together (search)
//	labels:
//	  - red circle
//	  - name: person
//	    prompts: ["a person", "someone walking"]
//	    threshold: 0.3
//
// A label's text embedding is the mean of its prompts' embeddings (CLIP's prompt ensembling):
// its own prompts when it has them, otherwise every template with "{}" replaced by its name.
type LabelSet struct {
	Name      string
	Templates []string
	Threshold float64
	Labels    []Label
	// Pair says two labels together, "{} and a {}"; empty when the set has no pairs. Search
	// ranks frames that show a label beside another with them (see PairSet).
	Pair string
	// Background are texts for what the camera shows when none of the labels is there ("a
	// photo of an empty street"), used as written and never paired: a contrast set's, and a
	// classified set's own, which its labels are told apart from too (see Contrast).
	Background []string
	// Source names where the set came from (a file path), for messages.
	Source string
}

// Label is one class of a label set.
type Label struct {
	Name      string
	Prompts   []string // the texts whose embeddings are averaged; never empty once loaded
	Threshold float64  // score at which an event opens for this label
}

// DefaultTemplate is used when a label set names no templates.
const DefaultTemplate = "a photo of a {}"

// DefaultThreshold is used when neither the set nor the label gives one.
const DefaultThreshold = 0.5

// LoadLabelSet reads and validates a label set file.
func LoadLabelSet(path string) (*LabelSet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("label set: %w", err)
	}
	return ParseLabelSet(data, path)
}

// NewLabelSet builds a label set from plain label names (the CLI's repeated --label flag).
func NewLabelSet(name string, labels []string, templates []string) (*LabelSet, error) {
	doc := labelSetDoc{Name: name, Templates: templates}
	for _, l := range labels {
		doc.Labels = append(doc.Labels, labelDoc{Name: l})
	}
	return doc.build("command line", nil)
}

// ParseLabelSet parses a label set; source names the file in error messages, which say the
// line and the field too ("label set home.yaml:7: labels[2].threshold: 1.5 is outside [0, 1]").
func ParseLabelSet(data []byte, source string) (*LabelSet, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, labelSetError(source, yamlerr.Explain(err, nil, nil))
	}
	if len(root.Content) == 0 {
		return nil, labelSetError(source, yamlerr.Problem{Msg: "empty file"})
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var doc labelSetDoc
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, labelSetError(source, yamlerr.Explain(err, root.Content[0], reflect.TypeFor[labelSetDoc]()))
	}
	return doc.build(source, root.Content[0])
}

func labelSetError(source string, p yamlerr.Problem) error {
	return errors.New("label set " + p.In(source))
}

// labelSetDoc is the YAML form.
type labelSetDoc struct {
	Name       string     `yaml:"name"`
	Templates  []string   `yaml:"templates"`
	Threshold  *float64   `yaml:"threshold"`
	Pairs      string     `yaml:"pairs"`
	Background []string   `yaml:"background"`
	Labels     []labelDoc `yaml:"labels"`
}

type labelDoc struct {
	Name      string   `yaml:"name"`
	Prompts   []string `yaml:"prompts"`
	Threshold *float64 `yaml:"threshold"`
}

// UnmarshalYAML accepts a label either as a plain string or as a mapping.
func (l *labelDoc) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = labelDoc{Name: n.Value}
		return nil
	}
	if err := yamlerr.CheckKeys(n, reflect.TypeFor[labelDoc]()); err != nil {
		return err
	}
	type plain labelDoc // no UnmarshalYAML: decode the mapping field by field
	return n.Decode((*plain)(l))
}

// DescribeYAML says what a label is written as, for error messages.
func (labelDoc) DescribeYAML() string {
	return "a label: its name, or a mapping of name, prompts, threshold"
}

// build checks the set; root is its YAML document's (nil when it comes from no file), for
// the lines of messages.
func (d labelSetDoc) build(source string, root *yaml.Node) (*LabelSet, error) {
	fail := func(field, format string, args ...any) error {
		return labelSetError(source, yamlerr.At(root, field, fmt.Sprintf(format, args...)))
	}
	set := &LabelSet{Name: strings.TrimSpace(d.Name), Templates: d.Templates, Threshold: DefaultThreshold, Source: source}
	if set.Name == "" {
		return nil, fail("name", "missing: give the set a name (it goes into every labels message)")
	}
	if len(set.Templates) == 0 {
		set.Templates = []string{DefaultTemplate}
	}
	if len(set.Templates) > MaxPrompts {
		return nil, fail("templates", "%d templates, more than the %d a label may have", len(set.Templates), MaxPrompts)
	}
	for i, t := range set.Templates {
		if !strings.Contains(t, "{}") {
			return nil, fail(fmt.Sprintf("templates[%d]", i), "%q has no {} for the label (such as \"a photo of a {}\")", t)
		}
	}
	if set.Pair = d.Pairs; set.Pair != "" && strings.Count(set.Pair, "{}") != 2 {
		return nil, fail("pairs", "%q needs two {}, one for each label (such as \"{} and a {}\")", set.Pair)
	}
	for i, b := range d.Background {
		if strings.TrimSpace(b) == "" {
			return nil, fail(fmt.Sprintf("background[%d]", i), "empty prompt")
		}
		set.Background = append(set.Background, b)
	}
	if d.Threshold != nil {
		if err := checkThreshold(*d.Threshold); err != nil {
			return nil, fail("threshold", "%v", err)
		}
		set.Threshold = *d.Threshold
	}
	if len(d.Labels) == 0 {
		return nil, fail("labels", "no labels: give at least one")
	}
	if len(d.Labels) > MaxLabels {
		return nil, fail(fmt.Sprintf("labels[%d]", MaxLabels), "%d labels, more than the %d a set may have", len(d.Labels), MaxLabels)
	}
	prompts := 0
	seen := map[string]int{}
	for i, ld := range d.Labels {
		at := fmt.Sprintf("labels[%d]", i)
		name := strings.TrimSpace(ld.Name)
		if name == "" {
			return nil, fail(at, "empty label")
		}
		if len(name) > MaxTextBytes {
			return nil, fail(at, "label of %d bytes, more than %d", len(name), MaxTextBytes)
		}
		if first, dup := seen[name]; dup {
			firstAt := fmt.Sprintf("labels[%d]", first)
			if line := yamlerr.Line(root, firstAt); line > 0 {
				firstAt += fmt.Sprintf(", line %d", line)
			}
			return nil, fail(at, "label %q is given already (%s)", name, firstAt)
		}
		seen[name] = i
		l := Label{Name: name, Threshold: set.Threshold}
		if ld.Threshold != nil {
			if err := checkThreshold(*ld.Threshold); err != nil {
				return nil, fail(at+".threshold", "%v", err)
			}
			l.Threshold = *ld.Threshold
		}
		if len(ld.Prompts) > MaxPrompts {
			return nil, fail(at+".prompts", "%d prompts, more than %d", len(ld.Prompts), MaxPrompts)
		}
		for j, p := range ld.Prompts {
			if strings.TrimSpace(p) == "" {
				return nil, fail(fmt.Sprintf("%s.prompts[%d]", at, j), "empty prompt")
			}
			if len(p) > MaxTextBytes {
				return nil, fail(fmt.Sprintf("%s.prompts[%d]", at, j), "a prompt of %d bytes, more than %d", len(p), MaxTextBytes)
			}
			l.Prompts = append(l.Prompts, p)
		}
		if len(l.Prompts) == 0 {
			for _, t := range set.Templates {
				l.Prompts = append(l.Prompts, strings.ReplaceAll(t, "{}", name))
			}
		}
		if prompts += len(l.Prompts); prompts > MaxSetPrompts {
			return nil, fail(at, "label %q brings the set to %d prompts, more than %d; use fewer templates or prompts", name, prompts, MaxSetPrompts)
		}
		set.Labels = append(set.Labels, l)
	}
	if n := len(set.Labels) * (len(set.Labels) - 1) * len(set.Templates); set.Pair != "" && n > MaxPairPrompts {
		return nil, fail("pairs", "%d labels and %d templates make %d pair prompts, more than %d; use fewer templates or no pairs",
			len(set.Labels), len(set.Templates), n, MaxPairPrompts)
	}
	return set, nil
}

// Bounds of a label set (README, "Label sets"). Every label is scored on every frame and is a
// Home Assistant entity, and every prompt is embedded by the text tower and kept in the text
// cache: 1000 labels is ImageNet's, and 10000 prompts take the text tower of CLIP B/32 over a
// minute on a Pi the first time a set is loaded (the cache spares the next starts).
const (
	MaxLabels     = 1000  // labels in one set
	MaxPrompts    = 100   // templates of a set, prompts of a label
	MaxSetPrompts = 10000 // prompts of all the labels of a set
	MaxTextBytes  = 1000  // a label's name, a prompt (the tokenizer keeps a context's worth)
)

// MaxPairPrompts bounds the texts a label set's pairs make (every ordered pair of labels
// times every template), each embedded once by the text tower and kept in the text cache:
// about half a minute for 4096 at CLIP B/32 on a 2-core x86 (BENCHMARKS.md), more on a Pi.
const MaxPairPrompts = 4096

// PairSet returns the label set of every ordered pair of s's labels said together (the
// order matters to CLIP: "a red circle and a blue square" is a different picture from
// "a blue square and a red circle"), with the indexes of each pair's two labels; nil when s
// has no pairs. A pair's prompts are s's templates applied to the pair's words, whatever
// prompts its labels have of their own.
func (s *LabelSet) PairSet() (*LabelSet, [][2]int) {
	if s.Pair == "" {
		return nil, nil
	}
	pairs := &LabelSet{Name: s.Name + " pairs", Templates: s.Templates, Threshold: s.Threshold, Source: s.Source}
	var idx [][2]int
	for a, la := range s.Labels {
		for b, lb := range s.Labels {
			if a == b {
				continue
			}
			pairs.Labels = append(pairs.Labels, s.pairLabel(la.Name, lb.Name))
			idx = append(idx, [2]int{a, b})
		}
	}
	return pairs, idx
}

// pairLabel is labels a and b said together through the set's pair phrase and templates.
func (s *LabelSet) pairLabel(a, b string) Label {
	name := strings.Replace(strings.Replace(s.Pair, "{}", a, 1), "{}", b, 1)
	l := Label{Name: name, Threshold: s.Threshold}
	for _, t := range s.Templates {
		l.Prompts = append(l.Prompts, strings.ReplaceAll(t, "{}", name))
	}
	return l
}

func checkThreshold(v float64) error {
	if !(v >= 0 && v <= 1) { // NaN too
		return fmt.Errorf("%v is outside [0, 1]", v)
	}
	return nil
}

// Names returns the label names in file order.
func (s *LabelSet) Names() []string {
	names := make([]string, len(s.Labels))
	for i, l := range s.Labels {
		names[i] = l.Name
	}
	return names
}
