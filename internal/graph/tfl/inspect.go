package tfl

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// InspectOptions choose what Inspect prints.
type InspectOptions struct {
	// Tensors lists every tensor, not only inputs, outputs and operator operands.
	Tensors bool
	// Operators lists every operator with its operands (the default summary only counts them).
	Operators bool
}

// Inspect writes a human-readable description of m: description, metadata, signatures, and per
// subgraph the inputs, outputs, operator kinds with versions and counts, constant data sizes by
// type, and optionally every operator and tensor. fileSize is shown when positive.
func Inspect(w io.Writer, m *Model, fileSize int, opts InspectOptions) error {
	p := &printer{w: w}
	if fileSize > 0 {
		p.printf("size: %s\n", bytesText(fileSize))
	}
	p.printf("schema version: %d\n", m.Version)
	if m.Description != "" {
		p.printf("description: %s\n", m.Description)
	}
	for _, md := range m.Metadata {
		n := 0
		if int(md.Buffer) < len(m.Buffers) {
			n = len(m.Buffers[md.Buffer].Data)
		}
		p.printf("metadata: %s (%s)\n", md.Name, bytesText(n))
	}
	for _, sd := range m.SignatureDefs {
		p.printf("signature %q (subgraph %d):\n", sd.Key, sd.SubgraphIndex)
		for _, tm := range sd.Inputs {
			p.printf("  input  %-20s -> tensor %d\n", tm.Name, tm.TensorIndex)
		}
		for _, tm := range sd.Outputs {
			p.printf("  output %-20s -> tensor %d\n", tm.Name, tm.TensorIndex)
		}
	}
	for si := range m.Subgraphs {
		p.subgraph(m, si, opts)
	}
	return p.err
}

type printer struct {
	w   io.Writer
	err error
}

func (p *printer) printf(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

func (p *printer) subgraph(m *Model, si int, opts InspectOptions) {
	sg := &m.Subgraphs[si]
	p.printf("subgraph %d %q: %d tensors, %d operators\n", si, sg.Name, len(sg.Tensors), len(sg.Operators))
	p.printf("inputs:\n")
	for _, i := range sg.Inputs {
		p.printf("  %s\n", tensorText(m, sg, i))
	}
	p.printf("outputs:\n")
	for _, i := range sg.Outputs {
		p.printf("  %s\n", tensorText(m, sg, i))
	}

	// Operator kinds in order of first use, with counts.
	counts := map[uint32]int{}
	var order []uint32
	for _, op := range sg.Operators {
		if counts[op.OpcodeIndex] == 0 {
			order = append(order, op.OpcodeIndex)
		}
		counts[op.OpcodeIndex]++
	}
	p.printf("operators:\n")
	for _, ci := range order {
		p.printf("  %-28s %5d\n", codeText(m, ci), counts[ci])
	}

	// Constant data by element type.
	bytesByType := map[TensorType]int{}
	tensorsByType := map[TensorType]int{}
	for _, t := range sg.Tensors {
		if int(t.Buffer) < len(m.Buffers) && len(m.Buffers[t.Buffer].Data) > 0 {
			bytesByType[t.Type] += len(m.Buffers[t.Buffer].Data)
			tensorsByType[t.Type]++
		}
	}
	types := make([]TensorType, 0, len(bytesByType))
	total := 0
	for typ, n := range bytesByType {
		types = append(types, typ)
		total += n
	}
	sort.Slice(types, func(i, j int) bool { return bytesByType[types[i]] > bytesByType[types[j]] })
	p.printf("constants: %s\n", bytesText(total))
	for _, typ := range types {
		p.printf("  %-8v %5d tensors %12s\n", typ, tensorsByType[typ], bytesText(bytesByType[typ]))
	}

	if opts.Operators {
		p.printf("operator list:\n")
		for oi, op := range sg.Operators {
			p.printf("  %4d %s%s\n", oi, codeText(m, op.OpcodeIndex), optionsText(op.Options))
			for _, i := range op.Inputs {
				p.printf("         in  %s\n", tensorText(m, sg, i))
			}
			for _, i := range op.Outputs {
				p.printf("         out %s\n", tensorText(m, sg, i))
			}
		}
	}
	if opts.Tensors {
		p.printf("tensors:\n")
		for i := range sg.Tensors {
			p.printf("  %s\n", tensorText(m, sg, int32(i)))
		}
	}
}

func codeText(m *Model, ci uint32) string {
	if int(ci) >= len(m.OperatorCodes) {
		return fmt.Sprintf("<opcode %d>", ci)
	}
	oc := m.OperatorCodes[ci]
	name := oc.Builtin.String()
	if oc.Builtin == OpCustom {
		name = "CUSTOM " + oc.Custom
	}
	return fmt.Sprintf("%s v%d", name, oc.Version)
}

// optionsText shows an options table's fields, e.g. " {KeepNumDims:true}".
func optionsText(o Options) string {
	if o == nil {
		return ""
	}
	if u, ok := o.(*UnknownOptions); ok {
		return fmt.Sprintf(" {options type %d}", u.Type)
	}
	s := fmt.Sprintf("%+v", o)
	s = strings.TrimPrefix(s, "&")
	if s == "{}" {
		return ""
	}
	return " " + s
}

// tensorText describes one tensor: index, name, type, shape (with the signature's dynamic
// dimensions), constant size and quantization.
func tensorText(m *Model, sg *Subgraph, i int32) string {
	if i < 0 {
		return "-1 (omitted)"
	}
	if int(i) >= len(sg.Tensors) {
		return fmt.Sprintf("%d <out of range>", i)
	}
	t := sg.Tensors[i]
	shape := t.Shape
	if t.ShapeSignature != nil {
		shape = t.ShapeSignature
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s %v%v", i, t.Name, t.Type, shape)
	if int(t.Buffer) < len(m.Buffers) && len(m.Buffers[t.Buffer].Data) > 0 {
		fmt.Fprintf(&b, " const %s", bytesText(len(m.Buffers[t.Buffer].Data)))
	}
	if t.IsVariable {
		b.WriteString(" variable")
	}
	if q := t.Quantization; q != nil && len(q.Scale) > 0 {
		if len(q.Scale) == 1 {
			zp := int64(0)
			if len(q.ZeroPoint) > 0 {
				zp = q.ZeroPoint[0]
			}
			fmt.Fprintf(&b, " q(scale %.6g, zero %d)", q.Scale[0], zp)
		} else {
			lo, hi := q.Scale[0], q.Scale[0]
			for _, s := range q.Scale {
				lo, hi = min(lo, s), max(hi, s)
			}
			fmt.Fprintf(&b, " q(per-channel axis %d, %d scales %.3g..%.3g)", q.QuantizedDimension, len(q.Scale), lo, hi)
		}
	}
	return b.String()
}

func bytesText(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
