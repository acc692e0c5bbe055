package clip

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

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
	return doc.build("command line")
}

// ParseLabelSet parses a label set; source names the file in error messages.
func ParseLabelSet(data []byte, source string) (*LabelSet, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var doc labelSetDoc
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("label set %s: empty file", source)
		}
		return nil, fmt.Errorf("label set %s: %w", source, err)
	}
	return doc.build(source)
}

// labelSetDoc is the YAML form; line numbers are kept for messages.
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
	line      int
}

// UnmarshalYAML accepts a label either as a plain string or as a mapping.
func (l *labelDoc) UnmarshalYAML(n *yaml.Node) error {
	l.line = n.Line
	if n.Kind == yaml.ScalarNode {
		l.Name = n.Value
		return nil
	}
	if n.Kind == yaml.MappingNode {
		// Node.Decode does not inherit the decoder's KnownFields: check the keys here.
		for i := 0; i < len(n.Content); i += 2 {
			switch k := n.Content[i]; k.Value {
			case "name", "prompts", "threshold":
			default:
				return fmt.Errorf("line %d: field %s not found in a label (name, prompts, threshold)", k.Line, k.Value)
			}
		}
	}
	type plain labelDoc // no UnmarshalYAML: decode the mapping field by field
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	p.line = n.Line
	*l = labelDoc(p)
	return nil
}

func (d labelSetDoc) build(source string) (*LabelSet, error) {
	at := func(line int) string {
		if line > 0 {
			return fmt.Sprintf("%s:%d", source, line)
		}
		return source
	}
	set := &LabelSet{Name: strings.TrimSpace(d.Name), Templates: d.Templates, Threshold: DefaultThreshold, Source: source}
	if set.Name == "" {
		return nil, fmt.Errorf("label set %s: name is missing", source)
	}
	if len(set.Templates) == 0 {
		set.Templates = []string{DefaultTemplate}
	}
	for _, t := range set.Templates {
		if !strings.Contains(t, "{}") {
			return nil, fmt.Errorf("label set %s: template %q has no {} for the label", source, t)
		}
	}
	if set.Pair = d.Pairs; set.Pair != "" && strings.Count(set.Pair, "{}") != 2 {
		return nil, fmt.Errorf("label set %s: pairs %q needs two {}, one for each label", source, set.Pair)
	}
	for _, b := range d.Background {
		if strings.TrimSpace(b) == "" {
			return nil, fmt.Errorf("label set %s: background: empty prompt", source)
		}
		set.Background = append(set.Background, b)
	}
	if d.Threshold != nil {
		if err := checkThreshold(*d.Threshold); err != nil {
			return nil, fmt.Errorf("label set %s: threshold: %w", source, err)
		}
		set.Threshold = *d.Threshold
	}
	if len(d.Labels) == 0 {
		return nil, fmt.Errorf("label set %s: no labels", source)
	}
	if len(d.Labels) > MaxLabels {
		return nil, fmt.Errorf("label set %s: %d labels, more than the %d a set may have (this is label %d)", at(d.Labels[MaxLabels].line), len(d.Labels), MaxLabels, MaxLabels+1)
	}
	if len(set.Templates) > MaxPrompts {
		return nil, fmt.Errorf("label set %s: %d templates, more than the %d a label may have", source, len(set.Templates), MaxPrompts)
	}
	prompts := 0
	seen := map[string]int{}
	for _, ld := range d.Labels {
		name := strings.TrimSpace(ld.Name)
		if name == "" {
			return nil, fmt.Errorf("label set %s: empty label", at(ld.line))
		}
		if len(name) > MaxTextBytes {
			return nil, fmt.Errorf("label set %s: label of %d bytes, more than %d", at(ld.line), len(name), MaxTextBytes)
		}
		if first, dup := seen[name]; dup {
			return nil, fmt.Errorf("label set %s: label %q already given at line %d", at(ld.line), name, first)
		}
		seen[name] = ld.line
		l := Label{Name: name, Threshold: set.Threshold}
		if ld.Threshold != nil {
			if err := checkThreshold(*ld.Threshold); err != nil {
				return nil, fmt.Errorf("label set %s: label %q: threshold: %w", at(ld.line), name, err)
			}
			l.Threshold = *ld.Threshold
		}
		if len(ld.Prompts) > MaxPrompts {
			return nil, fmt.Errorf("label set %s: label %q: %d prompts, more than %d", at(ld.line), name, len(ld.Prompts), MaxPrompts)
		}
		for _, p := range ld.Prompts {
			if strings.TrimSpace(p) == "" {
				return nil, fmt.Errorf("label set %s: label %q: empty prompt", at(ld.line), name)
			}
			if len(p) > MaxTextBytes {
				return nil, fmt.Errorf("label set %s: label %q: a prompt of %d bytes, more than %d", at(ld.line), name, len(p), MaxTextBytes)
			}
			l.Prompts = append(l.Prompts, p)
		}
		if len(l.Prompts) == 0 {
			for _, t := range set.Templates {
				l.Prompts = append(l.Prompts, strings.ReplaceAll(t, "{}", name))
			}
		}
		if prompts += len(l.Prompts); prompts > MaxSetPrompts {
			return nil, fmt.Errorf("label set %s: label %q brings the set to %d prompts, more than %d; use fewer templates or prompts", at(ld.line), name, prompts, MaxSetPrompts)
		}
		set.Labels = append(set.Labels, l)
	}
	if n := len(set.Labels) * (len(set.Labels) - 1) * len(set.Templates); set.Pair != "" && n > MaxPairPrompts {
		return nil, fmt.Errorf("label set %s: pairs: %d labels and %d templates make %d pair prompts, more than %d; use fewer templates or no pairs",
			source, len(set.Labels), len(set.Templates), n, MaxPairPrompts)
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
	if v < 0 || v > 1 {
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
