package hf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"
)

// A restricted pickle reader for PyTorch state dicts. It runs no Python: it interprets only
// the opcodes that torch.save writes for a dict of tensors, and resolves only the globals
// such a dict names (allowedGlobals). Anything else, a GLOBAL os.system or an opcode that
// builds arbitrary objects (INST, OBJ, NEWOBJ, EXT*), stops the reader with an error naming
// it and where it is. Every length read from the data is checked against what remains, so a
// corrupt or hostile file cannot make it allocate more than the file's size.

// The Python values a state dict is made of.
type (
	pyTuple []any
	pyList  struct{ items []any }
	// pyDict keeps insertion order, as OrderedDict does and as tensor order should be kept.
	pyDict struct {
		keys []any
		vals []any
	}
	// pyGlobal is a class or function that allowedGlobals let through.
	pyGlobal struct{ module, name string }
)

func (g pyGlobal) String() string { return g.module + "." + g.name }

// allowedGlobals are the only classes and functions a state dict may name. The storage
// types appear inside persistent ids (see torchStorageTypes); the others are called by REDUCE.
var allowedGlobals = map[string]bool{
	"collections.OrderedDict":                    true,
	"torch._utils._rebuild_tensor_v2":            true,
	"torch._utils._rebuild_parameter":            true,
	"torch._utils._rebuild_parameter_with_state": true,
}

func init() {
	for name := range torchStorageTypes {
		allowedGlobals["torch."+name] = true
	}
}

// picklePlan is what the reader needs from its caller: what a REDUCE of an allowed function
// builds, and what a persistent id (a tensor's storage in torch's zip format) stands for.
type picklePlan struct {
	call           func(fn pyGlobal, args pyTuple) (any, error)
	persistentLoad func(pid any) (any, error)
}

type unpickler struct {
	data  []byte
	pos   int
	stack []any
	marks []int
	memo  map[uint32]any
	plan  picklePlan
}

// Pickle opcodes (Python's Lib/pickle.py names), the subset state dicts use.
const (
	opMark           = '('
	opStop           = '.'
	opBinInt         = 'J'
	opBinInt1        = 'K'
	opBinInt2        = 'M'
	opNone           = 'N'
	opBinPersID      = 'Q'
	opReduce         = 'R'
	opShortBinString = 'U'
	opBinString      = 'T'
	opBinUnicode     = 'X'
	opAppend         = 'a'
	opBuild          = 'b'
	opGlobal         = 'c'
	opDict           = 'd'
	opEmptyDict      = '}'
	opAppends        = 'e'
	opBinGet         = 'h'
	opLongBinGet     = 'j'
	opList           = 'l'
	opEmptyList      = ']'
	opBinPut         = 'q'
	opLongBinPut     = 'r'
	opSetItem        = 's'
	opTuple          = 't'
	opEmptyTuple     = ')'
	opSetItems       = 'u'
	opBinFloat       = 'G'
	opProto          = 0x80
	opTuple1         = 0x85
	opTuple2         = 0x86
	opTuple3         = 0x87
	opNewTrue        = 0x88
	opNewFalse       = 0x89
	opLong1          = 0x8a
	opShortBinUni    = 0x8c
	opBinUnicode8    = 0x8d
	opStackGlobal    = 0x93
	opMemoize        = 0x94
	opFrame          = 0x95
)

// unpickle runs the pickle in data and returns the value it builds.
func unpickle(data []byte, plan picklePlan) (any, error) {
	u := &unpickler{data: data, memo: map[uint32]any{}, plan: plan}
	for {
		at := u.pos
		op, err := u.byte()
		if err != nil {
			return nil, err
		}
		done, err := u.step(op)
		if err != nil {
			return nil, fmt.Errorf("pickle byte %d (opcode 0x%02x): %w", at, op, err)
		}
		if done {
			if len(u.stack) != 1 {
				return nil, fmt.Errorf("pickle byte %d: STOP with %d values on the stack, want 1", at, len(u.stack))
			}
			return u.stack[0], nil
		}
	}
}

var errTruncated = errors.New("pickle ends early")

func (u *unpickler) bytes(n int) ([]byte, error) {
	if n < 0 || n > len(u.data)-u.pos {
		return nil, errTruncated
	}
	b := u.data[u.pos : u.pos+n]
	u.pos += n
	return b, nil
}

func (u *unpickler) byte() (byte, error) {
	b, err := u.bytes(1)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

func (u *unpickler) uint(n int) (uint64, error) {
	b, err := u.bytes(n)
	if err != nil {
		return 0, err
	}
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v, nil
}

// line reads up to the next newline (GLOBAL's text arguments).
func (u *unpickler) line() (string, error) {
	for i := u.pos; i < len(u.data); i++ {
		if u.data[i] == '\n' {
			s := string(u.data[u.pos:i])
			u.pos = i + 1
			return s, nil
		}
	}
	return "", errTruncated
}

// text reads a string whose length takes n bytes.
func (u *unpickler) text(n int) (string, error) {
	size, err := u.uint(n)
	if err != nil {
		return "", err
	}
	if size > uint64(len(u.data)-u.pos) {
		return "", fmt.Errorf("string of %d bytes runs past the end of the pickle", size)
	}
	b, _ := u.bytes(int(size))
	return string(b), nil
}

func (u *unpickler) push(v any) { u.stack = append(u.stack, v) }

func (u *unpickler) pop() (any, error) {
	if len(u.stack) == 0 || len(u.marks) > 0 && len(u.stack) == u.marks[len(u.marks)-1] {
		return nil, errors.New("stack underflow")
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

func (u *unpickler) top() (any, error) {
	if len(u.stack) == 0 {
		return nil, errors.New("stack underflow")
	}
	return u.stack[len(u.stack)-1], nil
}

// popMark pops the values pushed since the last MARK.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, errors.New("no MARK to pop to")
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := append([]any(nil), u.stack[m:]...)
	u.stack = u.stack[:m]
	return items, nil
}

// popItems pops the last n values (for the one-item opcodes: APPEND, SETITEM, TUPLE1-3)
// or, when single is false, every value since the last MARK.
func (u *unpickler) popItems(single bool, n int) ([]any, error) {
	if !single {
		return u.popMark()
	}
	bottom := 0
	if len(u.marks) > 0 {
		bottom = u.marks[len(u.marks)-1]
	}
	if len(u.stack)-n < bottom {
		return nil, errors.New("stack underflow")
	}
	items := append([]any(nil), u.stack[len(u.stack)-n:]...)
	u.stack = u.stack[:len(u.stack)-n]
	return items, nil
}

// step runs one opcode; it reports true at STOP.
func (u *unpickler) step(op byte) (bool, error) {
	switch op {
	case opProto:
		v, err := u.byte()
		if err != nil {
			return false, err
		}
		if v > 5 {
			return false, fmt.Errorf("pickle protocol %d is unknown", v)
		}
	case opFrame:
		if _, err := u.uint(8); err != nil { // a frame's length: the data is all in memory
			return false, err
		}
	case opStop:
		return true, nil
	case opMark:
		u.marks = append(u.marks, len(u.stack))
	case opNone:
		u.push(nil)
	case opNewTrue:
		u.push(true)
	case opNewFalse:
		u.push(false)
	case opBinInt:
		v, err := u.uint(4)
		if err != nil {
			return false, err
		}
		u.push(int64(int32(uint32(v))))
	case opBinInt1:
		v, err := u.uint(1)
		if err != nil {
			return false, err
		}
		u.push(int64(v))
	case opBinInt2:
		v, err := u.uint(2)
		if err != nil {
			return false, err
		}
		u.push(int64(v))
	case opLong1:
		n, err := u.byte()
		if err != nil {
			return false, err
		}
		if n > 8 {
			return false, fmt.Errorf("integer of %d bytes is too large", n)
		}
		v, err := u.uint(int(n))
		if err != nil {
			return false, err
		}
		if n > 0 && n < 8 && v&(1<<(8*n-1)) != 0 { // two's complement sign
			v |= ^uint64(0) << (8 * n)
		}
		u.push(int64(v))
	case opBinFloat:
		b, err := u.bytes(8)
		if err != nil {
			return false, err
		}
		u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
	case opShortBinUni, opShortBinString:
		return false, u.pushText(1)
	case opBinUnicode, opBinString:
		return false, u.pushText(4)
	case opBinUnicode8:
		return false, u.pushText(8)
	case opEmptyTuple:
		u.push(pyTuple{})
	case opTuple1, opTuple2, opTuple3:
		items, err := u.popItems(true, int(op-opTuple1)+1)
		if err != nil {
			return false, err
		}
		u.push(pyTuple(items))
	case opTuple:
		items, err := u.popMark()
		if err != nil {
			return false, err
		}
		u.push(pyTuple(items))
	case opEmptyList:
		u.push(&pyList{})
	case opList:
		items, err := u.popMark()
		if err != nil {
			return false, err
		}
		u.push(&pyList{items: items})
	case opAppend, opAppends:
		items, err := u.popItems(op == opAppend, 1)
		if err != nil {
			return false, err
		}
		t, err := u.top()
		if err != nil {
			return false, err
		}
		l, ok := t.(*pyList)
		if !ok {
			return false, fmt.Errorf("APPEND to a %s, not a list", typeName(t))
		}
		l.items = append(l.items, items...)
	case opEmptyDict:
		u.push(&pyDict{})
	case opDict:
		items, err := u.popMark()
		if err != nil {
			return false, err
		}
		d := &pyDict{}
		u.push(d)
		return false, d.setItems(items)
	case opSetItem, opSetItems:
		items, err := u.popItems(op == opSetItem, 2)
		if err != nil {
			return false, err
		}
		t, err := u.top()
		if err != nil {
			return false, err
		}
		d, ok := t.(*pyDict)
		if !ok {
			return false, fmt.Errorf("SETITEM on a %s, not a dict", typeName(t))
		}
		return false, d.setItems(items)
	case opBinPut, opLongBinPut:
		n := 1
		if op == opLongBinPut {
			n = 4
		}
		i, err := u.uint(n)
		if err != nil {
			return false, err
		}
		t, err := u.top()
		if err != nil {
			return false, err
		}
		u.memo[uint32(i)] = t
	case opMemoize:
		t, err := u.top()
		if err != nil {
			return false, err
		}
		u.memo[uint32(len(u.memo))] = t
	case opBinGet, opLongBinGet:
		n := 1
		if op == opLongBinGet {
			n = 4
		}
		i, err := u.uint(n)
		if err != nil {
			return false, err
		}
		v, ok := u.memo[uint32(i)]
		if !ok {
			return false, fmt.Errorf("memo entry %d was never stored", i)
		}
		u.push(v)
	case opGlobal:
		module, err := u.line()
		if err != nil {
			return false, err
		}
		name, err := u.line()
		if err != nil {
			return false, err
		}
		return false, u.pushGlobal(module, name)
	case opStackGlobal:
		name, err := u.pop()
		if err != nil {
			return false, err
		}
		module, err := u.pop()
		if err != nil {
			return false, err
		}
		m, ok1 := module.(string)
		n, ok2 := name.(string)
		if !ok1 || !ok2 {
			return false, errors.New("STACK_GLOBAL with a module or name that is not a string")
		}
		return false, u.pushGlobal(m, n)
	case opReduce:
		args, err := u.pop()
		if err != nil {
			return false, err
		}
		fn, err := u.pop()
		if err != nil {
			return false, err
		}
		g, ok := fn.(pyGlobal)
		if !ok {
			return false, fmt.Errorf("REDUCE calls a %s", typeName(fn))
		}
		t, ok := args.(pyTuple)
		if !ok {
			return false, fmt.Errorf("REDUCE of %s with a %s for arguments", g, typeName(args))
		}
		v, err := u.plan.call(g, t)
		if err != nil {
			return false, err
		}
		u.push(v)
	case opBinPersID:
		pid, err := u.pop()
		if err != nil {
			return false, err
		}
		v, err := u.plan.persistentLoad(pid)
		if err != nil {
			return false, err
		}
		u.push(v)
	case opBuild:
		// nn.Module.state_dict() sets OrderedDict._metadata (module versions); it is state
		// that changes nothing about the tensors, so it is dropped. Nothing else is built.
		if _, err := u.pop(); err != nil {
			return false, err
		}
		t, err := u.top()
		if err != nil {
			return false, err
		}
		if _, ok := t.(*pyDict); !ok {
			return false, fmt.Errorf("BUILD on a %s: only an OrderedDict's attributes are accepted", typeName(t))
		}
	default:
		return false, fmt.Errorf("opcode 0x%02x (%q) is not allowed in a state dict", op, rune(op))
	}
	return false, nil
}

func (u *unpickler) pushText(n int) error {
	s, err := u.text(n)
	if err != nil {
		return err
	}
	if !utf8.ValidString(s) {
		return errors.New("a string is not valid UTF-8")
	}
	u.push(s)
	return nil
}

func (u *unpickler) pushGlobal(module, name string) error {
	g := pyGlobal{module, name}
	if !allowedGlobals[g.String()] {
		return fmt.Errorf("global %s is not allowed: a state dict names only collections.OrderedDict, torch._utils._rebuild_tensor_v2 and torch storage types (this file may run code when Python loads it)", g)
	}
	u.push(g)
	return nil
}

func (d *pyDict) setItems(items []any) error {
	if len(items)%2 != 0 {
		return errors.New("SETITEMS with an odd number of values")
	}
	for i := 0; i < len(items); i += 2 {
		switch items[i].(type) {
		case string, int64, bool, nil:
		default:
			return fmt.Errorf("a dict key is a %s", typeName(items[i]))
		}
		d.keys = append(d.keys, items[i])
		d.vals = append(d.vals, items[i+1])
	}
	return nil
}

// typeName names a value's Python type, for errors.
func typeName(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case string:
		return "str"
	case int64:
		return "int"
	case float64:
		return "float"
	case bool:
		return "bool"
	case pyTuple:
		return "tuple"
	case *pyList:
		return "list"
	case *pyDict:
		return "dict"
	case pyGlobal:
		return v.String()
	default:
		return fmt.Sprintf("%T", v)
	}
}
