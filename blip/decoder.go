package blip

import (
	"errors"
	"fmt"

	"github.com/edged/edged/blip/spec"
	"github.com/edged/edged/runtime/tflite"
)

// decoderDims are the sizes the decoder's runtime side needs; they come from the manifest.
type decoderDims struct {
	layers, heads, headDim int
	vocab                  int
	cache                  int // self-attention cache slots: the longest sequence
	crossLen               int // encoder states cross-attention reads
}

func (d decoderDims) hidden() int { return d.heads * d.headDim }

// decoder runs the text decoder for one conversation at a time: the cross-attention keys and
// values of one encoder output, and the token steps of a batch of sequences with their
// self-attention caches. It implements stepper. Not safe for concurrent use.
//
// The step model takes any batch: with batchBeams the sequences of a batch (beam search's
// beams) run as one invoke, the token ids and every cache resized together; otherwise one
// after the other at batch 1. The caches live in Go memory, laid out by batch, either way
// (see stepSession.step).
type decoder struct {
	dims    decoderDims
	crossKV *session
	st      *stepSession

	// The cross_kv model's outputs, cross-attention keys [heads, crossLen, headDim] and values
	// [heads, headDim, crossLen] of every layer: the step model's inputs are copied from them
	// where they lie (42 MiB for BLIP base at 384², which a copy in Go memory would hold
	// once more per session). crossBias masks the padded encoder states.
	crossK, crossV []*tflite.Tensor
	crossBias      []float32
}

func newDecoder(dims decoderDims, crossKV, step *tflite.Model, crossOpts, stepOpts tflite.Options) (*decoder, error) {
	s, err := newSession(spec.RoleCrossKV, crossKV, crossOpts)
	if err != nil {
		return nil, err
	}
	st, err := newStepSession(dims, step, stepOpts)
	if err != nil {
		s.close()
		return nil, err
	}
	ts := &tensorSet{s: s}
	var crossK, crossV []*tflite.Tensor
	for i := 0; i < dims.layers; i++ {
		crossK = append(crossK, ts.out(spec.CrossKeyName(i)))
		crossV = append(crossV, ts.out(spec.CrossValueName(i)))
	}
	c := &shapeCheck{s: s}
	c.count(1, 2*dims.layers)
	c.in(spec.InEncoderStates, 1, dims.crossLen, -1)
	for i := 0; i < dims.layers; i++ {
		c.out(spec.CrossKeyName(i), dims.heads, dims.crossLen, dims.headDim)
		c.out(spec.CrossValueName(i), dims.heads, dims.headDim, dims.crossLen)
	}
	if err := errors.Join(ts.err, c.err); err != nil {
		s.close()
		st.s.close()
		return nil, err
	}
	d := &decoder{dims: dims, crossKV: s, st: st, crossK: crossK, crossV: crossV}
	d.crossBias = make([]float32, dims.crossLen)
	return d, nil
}

func (d *decoder) vocab() int    { return d.dims.vocab }
func (d *decoder) capacity() int { return d.dims.cache }

// attend computes the cross-attention keys and values of encoder states [crossLen, width];
// valid says how many leading states are real (the rest is padding, masked out).
func (d *decoder) attend(states []float32, valid int) error {
	if valid < 1 || valid > d.dims.crossLen {
		return fmt.Errorf("blip: decoder: %d valid encoder states, want 1 to %d", valid, d.dims.crossLen)
	}
	d.st.crossSet = false // the outputs the step model's inputs come from change now
	in, err := d.crossKV.input(spec.InEncoderStates)
	if err != nil {
		return err
	}
	if err := in.SetFloat32(states); err != nil {
		return fmt.Errorf("blip: cross_kv input: %w", err)
	}
	if err := d.crossKV.invoke(); err != nil {
		return err
	}
	for _, layers := range [][]*tflite.Tensor{d.crossK, d.crossV} {
		for _, t := range layers {
			if err := t.CheckFinite(); err != nil {
				return fmt.Errorf("blip: cross_kv output: %w", err)
			}
		}
	}
	for j := range d.crossBias {
		d.crossBias[j] = 0
		if j >= valid {
			d.crossBias[j] = spec.MaskBias
		}
	}
	return d.st.setCross(d)
}

// batchBeams is whether a decoder runs the sequences of a batch as one invoke (true) or one
// after the other at batch 1. Batched, each step reads the weights once for all beams instead
// of once per beam, which BenchmarkBeamBatch finds faster for BLIP base and the shapes model
// alike (BENCHMARKS.md, "Beams as one batch"). Changing the batch re-applies the delegate
// (XNNPACK re-packs its weights), so a session that alternates greedy and beam captions pays
// that per change.
const batchBeams = true

func (d *decoder) begin(batch int) error                        { return d.st.begin(batch) }
func (d *decoder) step(ids []int32, pos int) ([]float32, error) { return d.st.step(ids, pos) }
func (d *decoder) reorder(from []int) error                     { return d.st.reorder(from) }

func (d *decoder) close() error {
	err := d.crossKV.close()
	if e := d.st.s.close(); err == nil {
		err = e
	}
	return err
}

// stepSession is the decoder_step interpreter with the self-attention caches of a batch of
// sequences, kept in Go memory per layer as keys [batch, heads, cache, headDim] and values
// [batch, heads, headDim, cache] (see export_decoder.go).
type stepSession struct {
	dims  decoderDims
	batch int
	s     *session

	ids, position, selfBias, crossBias *tflite.Tensor
	pastK, pastV, newK, newV           []*tflite.Tensor
	crossK, crossV                     []*tflite.Tensor
	logits                             *tflite.Tensor
	crossSet                           bool
	// batched runs a batch as one invoke; rows is the batch the interpreter's inputs have now.
	batched bool
	rows    int
	// Indices of the inputs whose first dimension is the batch, and the cross-attention data
	// set last (the cross_kv model's outputs, the bias), put back after a resize (which may
	// move the inputs' memory).
	idsIndex, kIndex, vIndex []int
	crossKFrom, crossVFrom   []*tflite.Tensor
	crossBiasData            []float32

	cacheK, cacheV [][]float32
	rowsBuf        []float32 // the new keys or values of the batch: [batch, hidden]
	bias           []float32
	out            []float32 // logits of the batch: [batch, vocab]
	scratch        []float32
	pos, id        []int32
}

func newStepSession(dims decoderDims, m *tflite.Model, opts tflite.Options) (*stepSession, error) {
	s, err := newSession(spec.RoleDecoderStep, m, opts)
	if err != nil {
		return nil, err
	}
	st := &stepSession{dims: dims, s: s}
	ts := &tensorSet{s: s}
	st.ids, st.position = ts.in(spec.InTokenIDs), ts.in(spec.InPosition)
	st.selfBias, st.crossBias = ts.in(spec.InSelfBias), ts.in(spec.InCrossBias)
	st.logits = ts.out(spec.OutLogits)
	for i := 0; i < dims.layers; i++ {
		st.pastK = append(st.pastK, ts.in(spec.PastKeyName(i)))
		st.pastV = append(st.pastV, ts.in(spec.PastValueName(i)))
		st.newK = append(st.newK, ts.out(spec.NewKeyName(i)))
		st.newV = append(st.newV, ts.out(spec.NewValueName(i)))
		st.crossK = append(st.crossK, ts.in(spec.CrossKeyName(i)))
		st.crossV = append(st.crossV, ts.in(spec.CrossValueName(i)))
	}
	if ts.err != nil {
		s.close()
		return nil, ts.err
	}
	c := &shapeCheck{s: s}
	c.count(4+4*dims.layers, 1+2*dims.layers) // per layer: past and cross keys and values in, a new key and value out
	c.in(spec.InSelfBias, 1, 1, 1, dims.cache+1)
	c.in(spec.InCrossBias, 1, 1, dims.crossLen)
	c.out(spec.OutLogits, -1, dims.vocab)
	for i := 0; i < dims.layers; i++ {
		c.in(spec.PastKeyName(i), -1, dims.heads, dims.cache, dims.headDim)
		c.in(spec.PastValueName(i), -1, dims.heads, dims.headDim, dims.cache)
		c.in(spec.CrossKeyName(i), dims.heads, dims.crossLen, dims.headDim)
	}
	if c.err != nil {
		s.close()
		return nil, c.err
	}
	index := map[string]int{}
	for i := 0; i < s.ip.InputCount(); i++ {
		index[s.ip.Input(i).Name()] = i
	}
	st.idsIndex = []int{index[spec.InTokenIDs]}
	for i := 0; i < dims.layers; i++ {
		st.kIndex = append(st.kIndex, index[spec.PastKeyName(i)])
		st.vIndex = append(st.vIndex, index[spec.PastValueName(i)])
	}
	if sh := st.ids.Shape(); len(sh) == 1 {
		st.rows = sh[0]
	}
	st.batched = batchBeams
	st.bias = make([]float32, dims.cache+1)
	st.pos, st.id = make([]int32, 1), make([]int32, 1)
	return st, nil
}

// perSequence is the size of one sequence's cache of one layer.
func (st *stepSession) perSequence() int { return st.dims.heads * st.dims.cache * st.dims.headDim }

// setCross copies the decoder's cross-attention keys, values and bias into the inputs; they
// stay there for every step until the next attend.
func (st *stepSession) setCross(d *decoder) error {
	st.crossKFrom, st.crossVFrom, st.crossBiasData = d.crossK, d.crossV, d.crossBias
	if err := st.putCross(); err != nil {
		return err
	}
	st.crossSet = true
	return nil
}

// putCross copies the cross-attention keys and values from the cross_kv model's outputs,
// and the bias, into the inputs.
func (st *stepSession) putCross() error {
	for i := 0; i < st.dims.layers; i++ {
		if err := st.crossK[i].SetFloat32From(st.crossKFrom[i]); err != nil {
			return fmt.Errorf("blip: decoder_step cross keys: %w", err)
		}
		if err := st.crossV[i].SetFloat32From(st.crossVFrom[i]); err != nil {
			return fmt.Errorf("blip: decoder_step cross values: %w", err)
		}
	}
	if err := st.crossBias.SetFloat32(st.crossBiasData); err != nil {
		return fmt.Errorf("blip: decoder_step cross bias: %w", err)
	}
	return nil
}

// setRows gives the token ids and every cache input a batch of n rows, in one resize, and
// puts the cross-attention inputs back.
func (st *stepSession) setRows(n int) error {
	if st.rows == n {
		return nil
	}
	d := st.dims
	shapes := map[int][]int{st.idsIndex[0]: {n}}
	for i := 0; i < d.layers; i++ {
		shapes[st.kIndex[i]] = []int{n, d.heads, d.cache, d.headDim}
		shapes[st.vIndex[i]] = []int{n, d.heads, d.headDim, d.cache}
	}
	if err := st.s.ip.ResizeInputs(shapes); err != nil {
		st.rows = 0 // unknown: resize again next time
		return fmt.Errorf("blip: decoder_step batch of %d: %w", n, err)
	}
	st.rows = n
	return st.putCross()
}

// begin starts batch empty sequences. Emptying the caches is tidiness: slots at or after
// the position are masked, but zeros keep an earlier caption's values out of reach of any
// masking mistake.
func (st *stepSession) begin(batch int) error {
	if batch < 1 {
		return fmt.Errorf("blip: decoder batch %d", batch)
	}
	if !st.crossSet {
		return fmt.Errorf("blip: decoder started before its encoder states were set")
	}
	rows := 1
	if st.batched {
		rows = batch
	}
	if err := st.setRows(rows); err != nil {
		return err
	}
	n := batch * st.perSequence()
	if st.batch != batch {
		st.cacheK, st.cacheV = nil, nil
		for i := 0; i < st.dims.layers; i++ {
			st.cacheK = append(st.cacheK, make([]float32, n))
			st.cacheV = append(st.cacheV, make([]float32, n))
		}
		st.out = make([]float32, batch*st.dims.vocab)
		st.scratch = make([]float32, n)
		st.rowsBuf = make([]float32, batch*st.dims.hidden())
		st.batch = batch
		return nil
	}
	for i := range st.cacheK {
		clear(st.cacheK[i])
		clear(st.cacheV[i])
	}
	return nil
}

// step runs one token of every sequence at pos, storing the new keys and values in the
// caches, and returns the logits [batch, vocab].
func (st *stepSession) step(ids []int32, pos int) ([]float32, error) {
	d := st.dims
	if st.batch == 0 {
		return nil, fmt.Errorf("blip: decoder step before begin")
	}
	if len(ids) != st.batch {
		return nil, fmt.Errorf("blip: decoder step with %d tokens for %d sequences", len(ids), st.batch)
	}
	if pos < 0 || pos >= d.cache {
		return nil, fmt.Errorf("blip: decoder position %d outside its %d cache slots", pos, d.cache)
	}
	for _, id := range ids {
		if id < 0 || int(id) >= d.vocab {
			return nil, fmt.Errorf("blip: token id %d outside the vocabulary of %d", id, d.vocab)
		}
	}
	// Slots 0..pos-1 hold the earlier tokens; the new token's own key comes last.
	for j := range st.bias {
		st.bias[j] = spec.MaskBias
		if j < pos || j == d.cache {
			st.bias[j] = 0
		}
	}
	st.pos[0] = int32(pos)
	if err := st.position.SetInt32(st.pos); err != nil {
		return nil, fmt.Errorf("blip: decoder_step position: %w", err)
	}
	if err := st.selfBias.SetFloat32(st.bias); err != nil {
		return nil, fmt.Errorf("blip: decoder_step self bias: %w", err)
	}
	per := st.perSequence()
	if st.rows == st.batch && st.batch > 1 {
		return st.stepBatch(ids, pos)
	}
	if st.rows != 1 {
		return nil, fmt.Errorf("blip: decoder_step inputs hold %d rows, want 1 or %d", st.rows, st.batch)
	}
	for b, id := range ids {
		st.id[0] = id
		if err := st.ids.SetInt32(st.id); err != nil {
			return nil, fmt.Errorf("blip: decoder_step token ids: %w", err)
		}
		for i := 0; i < d.layers; i++ {
			if err := st.pastK[i].SetFloat32(st.cacheK[i][b*per : (b+1)*per]); err != nil {
				return nil, fmt.Errorf("blip: decoder_step cache: %w", err)
			}
			if err := st.pastV[i].SetFloat32(st.cacheV[i][b*per : (b+1)*per]); err != nil {
				return nil, fmt.Errorf("blip: decoder_step cache: %w", err)
			}
		}
		if err := st.s.invoke(); err != nil {
			return nil, err
		}
		if err := st.logits.ReadFiniteFloat32(st.out[b*d.vocab : (b+1)*d.vocab]); err != nil {
			return nil, fmt.Errorf("blip: decoder_step logits: %w", err)
		}
		for i := 0; i < d.layers; i++ {
			if err := st.store(st.newK[i], st.cacheK[i][b*per:(b+1)*per], 1, pos, false); err != nil {
				return nil, err
			}
			if err := st.store(st.newV[i], st.cacheV[i][b*per:(b+1)*per], 1, pos, true); err != nil {
				return nil, err
			}
		}
	}
	return st.out, nil
}

// stepBatch runs every sequence's token as one invoke: the caches, laid out by batch, are
// the inputs as they are.
func (st *stepSession) stepBatch(ids []int32, pos int) ([]float32, error) {
	d := st.dims
	if err := st.ids.SetInt32(ids); err != nil {
		return nil, fmt.Errorf("blip: decoder_step token ids: %w", err)
	}
	for i := 0; i < d.layers; i++ {
		if err := st.pastK[i].SetFloat32(st.cacheK[i]); err != nil {
			return nil, fmt.Errorf("blip: decoder_step cache: %w", err)
		}
		if err := st.pastV[i].SetFloat32(st.cacheV[i]); err != nil {
			return nil, fmt.Errorf("blip: decoder_step cache: %w", err)
		}
	}
	if err := st.s.invoke(); err != nil {
		return nil, err
	}
	if err := st.logits.ReadFiniteFloat32(st.out); err != nil {
		return nil, fmt.Errorf("blip: decoder_step logits: %w", err)
	}
	for i := 0; i < d.layers; i++ {
		if err := st.store(st.newK[i], st.cacheK[i], st.batch, pos, false); err != nil {
			return nil, err
		}
		if err := st.store(st.newV[i], st.cacheV[i], st.batch, pos, true); err != nil {
			return nil, err
		}
	}
	return st.out, nil
}

// store copies the new key or value rows [rows, hidden] of rows sequences into their caches
// (cache holds rows sequences, laid out by batch) at slot pos: head h's part of a row is the
// run h·headDim … (h+1)·headDim-1, a run of the key cache or, in the transposed value cache,
// a column.
func (st *stepSession) store(t *tflite.Tensor, cache []float32, rows, pos int, transposed bool) error {
	d := st.dims
	hidden, per := d.hidden(), st.perSequence()
	buf := st.rowsBuf[:rows*hidden]
	if err := t.ReadFiniteFloat32(buf); err != nil {
		return fmt.Errorf("blip: decoder_step new key/value: %w", err)
	}
	for b := 0; b < rows; b++ {
		row, c := buf[b*hidden:(b+1)*hidden], cache[b*per:(b+1)*per]
		if !transposed {
			for h := 0; h < d.heads; h++ {
				copy(c[(h*d.cache+pos)*d.headDim:][:d.headDim], row[h*d.headDim:][:d.headDim])
			}
			continue
		}
		for j, v := range row { // j = h·headDim + e, stored at [h, e, pos]
			c[j*d.cache+pos] = v
		}
	}
	return nil
}

// reorder makes sequence b's cache a copy of sequence from[b]'s.
func (st *stepSession) reorder(from []int) error {
	if len(from) != st.batch {
		return fmt.Errorf("blip: decoder reorder of %d sequences for %d", len(from), st.batch)
	}
	identity := true
	for b, f := range from {
		if f < 0 || f >= st.batch {
			return fmt.Errorf("blip: decoder reorder from sequence %d of %d", f, st.batch)
		}
		identity = identity && f == b
	}
	if identity {
		return nil
	}
	per := st.perSequence()
	for _, caches := range [][][]float32{st.cacheK, st.cacheV} {
		for _, c := range caches {
			copy(st.scratch, c)
			for b, f := range from {
				copy(c[b*per:(b+1)*per], st.scratch[f*per:(f+1)*per])
			}
		}
	}
	return nil
}
