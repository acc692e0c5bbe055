package synth

import (
	"fmt"
	"sort"
	"strings"

	"github.com/edged/edged/internal/bench"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/graph/tfl"
	"github.com/edged/edged/runtime/tflite"
)

// Tower is a synthetic model to time.
type Tower struct {
	Name  string // e.g. "clip-b32-vision"
	Stage string // the stage it stands for, e.g. "synth.image_embed"
	Build func(Variant) (*graph.Graph, error)
	// Calib are the calibration inputs for Int8Full; Run the input timed.
	Calib []Inputs
	Run   Inputs
	MACs  int64
}

// TowerNames lists the towers Towers knows.
var TowerNames = []string{"clip-b32-vision", "clip-b32-text", "blip-base-vision", "fc-stack"}

// NewTower returns the named tower. textTokens is the CLIP text length (SOT + words + EOT).
func NewTower(name string, textTokens int) (Tower, error) {
	switch name {
	case "clip-b32-vision", "blip-base-vision":
		c := CLIPB32Vision()
		stage := "synth.clip_image"
		if name == "blip-base-vision" {
			c, stage = BLIPBaseVision(), "synth.blip_vision"
		}
		in := PixelInputs(c.ImageSize, 5, 1)
		return Tower{Name: name, Stage: stage, Build: func(v Variant) (*graph.Graph, error) { return BuildViT(c, v, 42) },
			Calib: in[:4], Run: in[4], MACs: c.MACs()}, nil
	case "fc-stack":
		in := make([]Inputs, 5)
		for i, p := range PixelInputs(160, 5, 7) { // 160·160·3 = 50·1536 values
			in[i] = Inputs{p[0].([]float32)[:50*768]}
		}
		return Tower{Name: name, Stage: "synth.fc_stack", Build: func(Variant) (*graph.Graph, error) { return BuildFCStack(50, 768, 3072, 12, 42) },
			Calib: in[:4], Run: in[4], MACs: 12 * 50 * (4*768*768 + 2*768*3072)}, nil
	case "clip-b32-text":
		c := CLIPB32Text()
		in := TokenInputs(c.Vocab, textTokens, 5, 1)
		s, d, m := int64(textTokens), int64(c.Width), int64(c.MLP)
		macs := int64(c.Layers)*(s*4*d*d+s*2*d*m+2*s*s*d) + d*int64(c.Projection)
		return Tower{Name: name, Stage: "synth.clip_text", Build: func(v Variant) (*graph.Graph, error) { return BuildText(c, v, textTokens, 42) },
			Calib: in[:4], Run: in[4], MACs: macs}, nil
	}
	return Tower{}, fmt.Errorf("synth: unknown tower %q (want %s)", name, strings.Join(TowerNames, ", "))
}

// OpCounts lists the operator kinds of a .tflite file with their counts, most frequent first,
// e.g. "FULLY_CONNECTED×73 ADD×50 ...", with the kinds XNNPACK cannot take marked by a star.
func OpCounts(model []byte) (string, error) {
	m, err := tfl.Unmarshal(model)
	if err != nil {
		return "", err
	}
	counts := map[string]int{}
	for _, sg := range m.Subgraphs {
		for _, op := range sg.Operators {
			code := m.OperatorCodes[op.OpcodeIndex].Builtin
			name := code.String()
			if len(op.Outputs) > 0 && op.Outputs[0] >= 0 {
				if t := sg.Tensors[op.Outputs[0]]; t.Type == tfl.Int8 {
					name += "/i8"
				}
			}
			counts[name]++
		}
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if counts[keys[i]] != counts[keys[j]] {
			return counts[keys[i]] > counts[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s×%d", k, counts[k])
	}
	return strings.Join(parts, " "), nil
}

// Run times t's forward pass at each precision, delegate and thread count. All
// configurations are loaded first and timed round-robin (bench.Interleave), so that their
// ratios hold on a busy machine.
func Run(r *bench.Runner, t Tower, v Variant, variantName string, precisions []graph.Precision, delegates []string, threads []int, keep func(string, tfl.BuiltinOp) bool) error {
	g, err := t.Build(v)
	if err != nil {
		return err
	}
	model := t.Name
	if variantName != "" {
		model += "[" + variantName + "]"
	}
	var recs []bench.Record
	var fns []func() error
	var closers []func() error
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}()
	for _, p := range precisions {
		data, err := Lower(g, p, t.Calib, keep, threads[len(threads)-1])
		if err != nil {
			r.Fail(bench.Record{Stage: t.Stage, Model: model, Precision: p.String()}, err)
			continue
		}
		ops, _ := OpCounts(data)
		r.Log.Info("model", "tower", model, "precision", p, "bytes", len(data), "ops", ops)
		if err := r.Emit(bench.Record{Stage: "model.file_size", Model: model, Precision: p.String(), FileBytes: int64(len(data))}); err != nil {
			return err
		}
		m, err := tflite.NewModel(data)
		if err != nil {
			r.Fail(bench.Record{Stage: t.Stage, Model: model, Precision: p.String()}, err)
			continue
		}
		closers = append(closers, m.Close)
		for _, d := range delegates {
			for _, n := range threads {
				rec := bench.Record{Stage: t.Stage, Model: model, Precision: p.String(), Delegate: d, Threads: n}
				fn, err := prepare(m, &rec, t, &closers)
				if err != nil {
					r.Fail(rec, err)
					continue
				}
				recs, fns = append(recs, rec), append(fns, fn)
			}
		}
	}
	if len(fns) == 0 {
		return nil
	}
	stats, err := bench.Interleave(r.Options, fns)
	if err != nil {
		return err
	}
	for i, rec := range recs {
		rec.SetStats(stats[i])
		note := fmt.Sprintf("%.1f GMAC/s", float64(t.MACs)/stats[i].P50.Seconds()/1e9)
		if len(fns) > 1 {
			note += "; interleaved with the other rows"
		}
		rec.Note = note
		if err := r.Emit(rec); err != nil {
			return err
		}
	}
	return nil
}

// prepare makes the interpreter of one configuration, sets its inputs and returns Invoke.
func prepare(m *tflite.Model, rec *bench.Record, t Tower, closers *[]func() error) (func() error, error) {
	opts, err := bench.RuntimeOptions(rec.Delegate, rec.Threads)
	if err != nil {
		return nil, err
	}
	ip, err := tflite.NewInterpreter(m, opts)
	if err != nil {
		return nil, err
	}
	*closers = append(*closers, ip.Close)
	if err := t.Run.Set(ip); err != nil {
		return nil, err
	}
	if rec.Delegate != bench.DelegateNone {
		rec.Delegation = ip.Delegation().String()
	}
	return ip.Invoke, nil
}
