// Package yamlerr says what is wrong with a YAML file in its author's words: the line, the
// path of keys to the field ("cameras[0].caption.every") and what was expected (a duration,
// a whole number, a list; the keys a mapping knows), never a Go type. The daemon's config and
// the label sets share it.
package yamlerr

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Problem is one thing wrong with a YAML file.
type Problem struct {
	Line  int    // 0 when the problem has no line
	Field string // the path of keys, "" when the problem is the file's
	Msg   string
}

// In says the problem of file as "file:line: field: msg", leaving out what is unknown.
func (p Problem) In(file string) string {
	where := file
	if p.Line > 0 {
		where = fmt.Sprintf("%s:%d", file, p.Line)
	}
	if p.Field == "" {
		return where + ": " + p.Msg
	}
	return where + ": " + p.Field + ": " + p.Msg
}

// At is the problem msg of a field path ("cameras[0].labels.sets[1]") of the document whose
// root mapping is root (nil for a document that is not a file), with the field's line.
func At(root *yaml.Node, field, msg string) Problem {
	return Problem{Line: Line(root, field), Field: field, Msg: msg}
}

// Line is the line of the node a field path names in the document's root mapping: the
// deepest node of the path that is there (0 when none is).
func Line(root *yaml.Node, field string) int {
	if n, _ := walk(root, field); n != nil {
		return n.Line
	}
	return 0
}

// walk follows a field path from root: the deepest node of the path that is there (nil when
// none is) and whether that is the whole path.
func walk(root *yaml.Node, field string) (deepest *yaml.Node, whole bool) {
	n := root
	for _, part := range strings.Split(field, ".") {
		key, index := part, -1
		if i := strings.IndexByte(part, '['); i >= 0 {
			key = part[:i]
			fmt.Sscanf(part[i:], "[%d]", &index)
		}
		if key != "" {
			if n = mappingValue(n, key); n == nil {
				return deepest, false
			}
			deepest = n
		}
		if index >= 0 {
			if n.Kind != yaml.SequenceNode || index >= len(n.Content) {
				return deepest, false
			}
			n = n.Content[index]
			deepest = n
		}
	}
	return deepest, true
}

// mappingValue is the value of key in mapping node n; nil when n is no mapping or lacks it.
func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// CheckKeys refuses the keys of mapping node n that a value of struct type t has no field
// for, as the decoder's KnownFields does (which Node.Decode, used by custom unmarshalers, does
// not inherit), in yaml.v3's words so that Explain reads it like the decoder's own.
func CheckKeys(n *yaml.Node, t reflect.Type) error {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; !slices.Contains(keys(t), k.Value) {
			return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: field %s not found in type %s", k.Line, k.Value, t)}}
		}
	}
	return nil
}

// yaml.v3's messages, one per problem: "line 7: field captoin not found in type daemon.Camera",
// "line 7: cannot unmarshal !!str `1 sec...` into time.Duration", "line 3: mapping key ...".
var (
	lineRE    = regexp.MustCompile(`(?s)^line (\d+): (.*)$`)
	unknownRE = regexp.MustCompile(`^field (.+) not found in `)
	kindRE    = regexp.MustCompile("(?s)^cannot unmarshal !!(\\w+)(?: `(.*)`)? into (.+)$")
)

// Explain turns an error of decoding the document whose root mapping is root into a value of
// type target (yaml.v3's error, or a custom unmarshaler's "line N: ..." one) into the first
// problem it reports. root may be nil (the document did not parse): then the problem has
// the line yaml.v3 gives, and no field.
func Explain(err error, root *yaml.Node, target reflect.Type) Problem {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	m := lineRE.FindStringSubmatch(msg)
	if m == nil {
		return Problem{Msg: msg}
	}
	line, _ := strconv.Atoi(m[1])
	p := Problem{Line: line, Msg: m[2]}
	if root == nil {
		return p
	}
	if u := unknownRE.FindStringSubmatch(m[2]); u != nil {
		key := u[1]
		field := find(root, "", func(n *yaml.Node, path string, isKey bool) bool {
			if !isKey || n.Line != line || n.Value != key {
				return false
			}
			_, known := fieldByKey(typeAt(target, parentOf(path)), key)
			return !known
		})
		if field == "" {
			return p
		}
		p.Field, p.Msg = field, "unknown key"
		if known := keys(typeAt(target, parentOf(field))); len(known) > 0 {
			p.Msg += " (the keys here are " + strings.Join(known, ", ") + ")"
		}
		return p
	}
	if k := kindRE.FindStringSubmatch(m[2]); k != nil {
		tag, value, into := k[1], strings.TrimSuffix(k[2], "..."), k[3]
		var node *yaml.Node
		field := find(root, "", func(n *yaml.Node, path string, isKey bool) bool {
			if isKey || n.Line != line || shortTag(n) != tag || !strings.HasPrefix(n.Value, value) {
				return false
			}
			if t := typeAt(target, path); t != nil && t.String() != into && !isUnmarshaler(t) {
				return false
			}
			node = n
			return true
		})
		if field == "" {
			return p
		}
		got := "a list"
		switch node.Kind {
		case yaml.MappingNode:
			got = "a mapping"
		case yaml.ScalarNode:
			got = strconv.Quote(node.Value)
		}
		p.Field, p.Msg = field, fmt.Sprintf("%s is not %s", got, Describe(typeAt(target, field)))
	}
	return p
}

// shortTag is a node's tag as yaml.v3's messages write it ("str", "seq", "map", "int").
func shortTag(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "seq"
	case yaml.MappingNode:
		return "map"
	}
	return strings.TrimPrefix(n.ShortTag(), "!!")
}

// find walks the tree from n (at path) and returns the path of the first node match accepts
// (keys are tried as keys, values as values); "" when it accepts none.
func find(n *yaml.Node, path string, match func(n *yaml.Node, path string, isKey bool) bool) string {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			at := join(path, k.Value)
			if match(k, at, true) || match(v, at, false) {
				return at
			}
			if f := find(v, at, match); f != "" {
				return f
			}
		}
	case yaml.SequenceNode:
		for i, v := range n.Content {
			at := fmt.Sprintf("%s[%d]", path, i)
			if match(v, at, false) {
				return at
			}
			if f := find(v, at, match); f != "" {
				return f
			}
		}
	}
	return ""
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// parentOf is the path of the mapping holding the last key of path.
func parentOf(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}

// typeAt is the Go type a field path of a document decoded into t lands in; nil when the
// path leaves the types.
func typeAt(t reflect.Type, field string) reflect.Type {
	t = deref(t)
	if field == "" {
		return t
	}
	for _, part := range strings.Split(field, ".") {
		key, brackets, _ := strings.Cut(part, "[")
		if key != "" {
			switch {
			case t == nil:
				return nil
			case t.Kind() == reflect.Struct:
				f, ok := fieldByKey(t, key)
				if !ok {
					return nil
				}
				t = deref(f.Type)
			case t.Kind() == reflect.Map:
				t = deref(t.Elem())
			default:
				return nil
			}
		}
		if brackets != "" {
			for range strings.Count(part, "[") {
				if t == nil || (t.Kind() != reflect.Slice && t.Kind() != reflect.Array) {
					return nil
				}
				t = deref(t.Elem())
			}
		}
	}
	return t
}

func deref(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// fieldByKey is the field of struct type t whose YAML key is key (the tag's name, or the
// field's name in lower case, as yaml.v3 has it); inlined structs are searched too.
func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	if t == nil || t.Kind() != reflect.Struct {
		return reflect.StructField{}, false
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if strings.Contains(opts, "inline") {
			if g, ok := fieldByKey(deref(f.Type), key); ok {
				return g, true
			}
			continue
		}
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		if name == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// keys are the YAML keys of struct type t, in order; none for other types.
func keys(t reflect.Type) []string {
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if strings.Contains(opts, "inline") {
			out = append(out, keys(deref(f.Type))...)
			continue
		}
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out = append(out, name)
	}
	return out
}

// Describer is a type that reads more than one form of YAML (a label's name alone, or a
// mapping): it says what it accepts (with a value receiver: Describe calls it on a zero value).
type Describer interface {
	DescribeYAML() string
}

var (
	durationType  = reflect.TypeFor[time.Duration]()
	describerType = reflect.TypeFor[Describer]()
)

// isUnmarshaler says whether values of t decode themselves: yaml.v3's messages then name
// the types they decode into, not t.
func isUnmarshaler(t reflect.Type) bool {
	return reflect.PointerTo(t).Implements(reflect.TypeFor[yaml.Unmarshaler]())
}

// Describe says in words what a value of type t is written as.
func Describe(t reflect.Type) string {
	if t == nil {
		return "what belongs here"
	}
	if t.Implements(describerType) {
		return reflect.Zero(t).Interface().(Describer).DescribeYAML()
	}
	if t == durationType {
		return "a duration (a number and a unit: 500ms, 1s, 2m30s, 1h)"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number of 0 or more"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "text"
	case reflect.Slice, reflect.Array:
		return "a list ([a, b], or one \"- item\" a line)"
	case reflect.Struct:
		if k := keys(t); len(k) > 0 {
			return "a mapping of " + strings.Join(k, ", ")
		}
	case reflect.Map:
		return "a mapping (key: value)"
	}
	return "what belongs here"
}
