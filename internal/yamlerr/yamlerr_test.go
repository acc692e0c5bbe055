package yamlerr

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

type doc struct {
	Name  string          `yaml:"name"`
	Every time.Duration   `yaml:"every"`
	Count int             `yaml:"count"`
	Ratio *float64        `yaml:"ratio"`
	Tags  []string        `yaml:"tags"`
	Items []item          `yaml:"items"`
	Users map[string]item `yaml:"users"`
	Pets  []pet           `yaml:"pets"`
}

type item struct {
	Name string `yaml:"name"`
	Size int    `yaml:"size"`
}

// pet is a name alone or a mapping, as a label of a label set is.
type pet struct {
	Name string `yaml:"name"`
	Legs int    `yaml:"legs"`
}

func (p *pet) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*p = pet{Name: n.Value}
		return nil
	}
	if err := CheckKeys(n, reflect.TypeFor[pet]()); err != nil {
		return err
	}
	type plain pet
	return n.Decode((*plain)(p))
}

func (pet) DescribeYAML() string { return "a name, or a mapping of name, legs" }

// explain decodes src as the config and the label sets do (known fields only) and explains
// the error.
func explain(t *testing.T, src string) Problem {
	t.Helper()
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(src), &root); err != nil {
		return Explain(err, nil, nil)
	}
	dec := yaml.NewDecoder(bytes.NewReader([]byte(src)))
	dec.KnownFields(true)
	var d doc
	err := dec.Decode(&d)
	if err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("%q decoded without an error", src)
	}
	return Explain(err, root.Content[0], reflect.TypeFor[doc]())
}

// Each of yaml.v3's messages becomes the line, the path of keys and what was expected, in
// words and without Go's type names.
func TestExplain(t *testing.T) {
	const duration = "a duration (a number and a unit: 500ms, 1s, 2m30s, 1h)"
	for _, c := range []struct {
		src  string
		want Problem
	}{
		{"name: a\nevery: 1 second\n", Problem{2, "every", `"1 second" is not ` + duration}},
		{"every: 5\n", Problem{1, "every", `"5" is not ` + duration}},
		{"name: a\ncount: many\n", Problem{2, "count", `"many" is not a whole number`}},
		{"ratio: high\n", Problem{1, "ratio", `"high" is not a number`}},
		{"tags: one\n", Problem{1, "tags", `"one" is not a list ([a, b], or one "- item" a line)`}},
		{"name: [a]\n", Problem{1, "name", "a list is not text"}},
		{"items:\n  - {name: a, size: 1}\n  - {name: b, size: big}\n", Problem{3, "items[1].size", `"big" is not a whole number`}},
		// The same value on one line twice: the field whose type the message names.
		{"items: [{name: '1s', size: '1s'}]\n", Problem{1, "items[0].size", `"1s" is not a whole number`}},
		{"items: [a]\n", Problem{1, "items[0]", `"a" is not a mapping of name, size`}},
		{"users:\n  ann: {name: a, size: x}\n", Problem{2, "users.ann.size", `"x" is not a whole number`}},
		{"devise: d\n", Problem{1, "devise", "unknown key (the keys here are name, every, count, ratio, tags, items, users, pets)"}},
		{"items:\n  - name: a\n    colour: red\n", Problem{3, "items[0].colour", "unknown key (the keys here are name, size)"}},
		// A key that is known in one mapping and unknown in another of the same line.
		{"{every: 1s, users: {ann: {name: b, every: 1s}}}\n", Problem{1, "users.ann.every", "unknown key (the keys here are name, size)"}},
		// Types that decode themselves: their own key check and their own words.
		{"pets:\n  - rex\n  - name: tom\n    lges: 4\n", Problem{4, "pets[1].lges", "unknown key (the keys here are name, legs)"}},
		{"pets:\n  - [rex]\n", Problem{2, "pets[0]", "a list is not a name, or a mapping of name, legs"}},
		{"pets:\n  - {name: tom, legs: four}\n", Problem{2, "pets[0].legs", `"four" is not a whole number`}},
		// Long values: yaml.v3 cuts them in its message; the whole value is said.
		{"count: a long value indeed\n", Problem{1, "count", `"a long value indeed" is not a whole number`}},
		// Not a document: yaml.v3's line and message.
		{"name: [\n", Problem{1, "", "did not find expected node content"}},
		{"name: a\nname: b\n", Problem{2, "", `mapping key "name" already defined at line 1`}},
	} {
		if got := explain(t, c.src); got != c.want {
			t.Errorf("%q:\n got %+v\nwant %+v", c.src, got, c.want)
		}
	}
}

func TestLineAndIn(t *testing.T) {
	var root yaml.Node
	if err := yaml.Unmarshal([]byte("name: a\nitems:\n  - name: b\n  - name: c\n    size: 3\n"), &root); err != nil {
		t.Fatal(err)
	}
	r := root.Content[0]
	for field, want := range map[string]int{"name": 1, "items": 3, "items[1]": 4, "items[1].size": 5, "items[1].colour": 4, "items[7]": 3, "tags": 0} {
		if got := Line(r, field); got != want {
			t.Errorf("Line(%q) = %d, want %d", field, got, want)
		}
	}
	if got := At(r, "items[1].size", "3 is too big").In("f.yaml"); got != "f.yaml:5: items[1].size: 3 is too big" {
		t.Errorf("In: %q", got)
	}
	if got := At(nil, "size", "3 is too big").In("command line"); got != "command line: size: 3 is too big" {
		t.Errorf("In without a document: %q", got)
	}
	if got := (Problem{Msg: "empty file"}).In("f.yaml"); got != "f.yaml: empty file" {
		t.Errorf("In without a line or field: %q", got)
	}
}
