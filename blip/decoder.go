package blip

import (
	"fmt"

	"github.com/edged/edged/runtime"
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
// The step model takes any batch, but the runtime resizes one input at a time and the batch
// must change on the token ids and every cache together, so the sequences of a batch run one
// after the other at batch 1 for now. The caches live in Go memory either way, so running
// them as one batch needs no other change (see stepSession.step).
type decoder struct {
	dims    decoderDims
	crossKV *session
	st      *stepSession

	// Cross-attention keys [heads, crossLen, headDim] and values [heads, headDim, crossLen]
	// of every layer, and the bias that masks padded encoder states.
	crossK, crossV [][]float32
	crossBias      []float32
}

func newDecoder(dims decoderDims, crossKV, step *runtime.Model, crossOpts, stepOpts runtime.Options) (*decoder, error) {
	s, err := newSession(RoleCrossKV, crossKV, crossOpts)
	if err != nil {
		return nil, err
	}
	st, err := newStepSession(dims, step, stepOpts)
	if err != nil {
		s.close()
		return nil, err
	}
	d := &decoder{dims: dims, crossKV: s, st: st}
	n := dims.heads * dims.crossLen * dims.headDim
	for i := 0; i < dims.layers; i++ {
		d.crossK = append(d.crossK, make([]float32, n))
		d.crossV = append(d.crossV, make([]float32, n))
	}
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
	in, err := d.crossKV.input(InEncoderStates)
	if err != nil {
		return err
	}
	if err := in.SetFloat32(states); err != nil {
		return fmt.Errorf("blip: cross_kv input: %w", err)
	}
	if err := d.crossKV.invoke(); err != nil {
		return err
	}
	for i := 0; i < d.dims.layers; i++ {
		for _, kv := range []struct {
			name string
			dst  []float32
		}{{crossKeyName(i), d.crossK[i]}, {crossValueName(i), d.crossV[i]}} {
			t, err := d.crossKV.output(kv.name)
			if err != nil {
				return err
			}
			if err := t.ReadFloat32(kv.dst); err != nil {
				return fmt.Errorf("blip: cross_kv output %s: %w", kv.name, err)
			}
		}
	}
	for j := range d.crossBias {
		d.crossBias[j] = 0
		if j >= valid {
			d.crossBias[j] = MaskBias
		}
	}
	return d.st.setCross(d)
}

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

	ids, position, selfBias, crossBias *runtime.Tensor
	pastK, pastV, newK, newV           []*runtime.Tensor
	crossK, crossV                     []*runtime.Tensor
	logits                             *runtime.Tensor
	crossSet                           bool

	cacheK, cacheV [][]float32
	row            []float32 // the new key or value of one sequence: [hidden]
	bias           []float32
	out            []float32 // logits of the batch: [batch, vocab]
	scratch        []float32
	pos, id        []int32
}

func newStepSession(dims decoderDims, m *runtime.Model, opts runtime.Options) (*stepSession, error) {
	s, err := newSession(RoleDecoderStep, m, opts)
	if err != nil {
		return nil, err
	}
	st := &stepSession{dims: dims, s: s}
	ts := &tensorSet{s: s}
	st.ids, st.position = ts.in(InTokenIDs), ts.in(InPosition)
	st.selfBias, st.crossBias = ts.in(InSelfBias), ts.in(InCrossBias)
	st.logits = ts.out(OutLogits)
	for i := 0; i < dims.layers; i++ {
		st.pastK = append(st.pastK, ts.in(pastKeyName(i)))
		st.pastV = append(st.pastV, ts.in(pastValueName(i)))
		st.newK = append(st.newK, ts.out(newKeyName(i)))
		st.newV = append(st.newV, ts.out(newValueName(i)))
		st.crossK = append(st.crossK, ts.in(crossKeyName(i)))
		st.crossV = append(st.crossV, ts.in(crossValueName(i)))
	}
	if ts.err != nil {
		s.close()
		return nil, ts.err
	}
	st.row = make([]float32, dims.hidden())
	st.bias = make([]float32, dims.cache+1)
	st.pos, st.id = make([]int32, 1), make([]int32, 1)
	return st, nil
}

// perSequence is the size of one sequence's cache of one layer.
func (st *stepSession) perSequence() int { return st.dims.heads * st.dims.cache * st.dims.headDim }

// setCross copies the decoder's cross-attention keys, values and bias into the inputs; they
// stay there for every step until the next attend.
func (st *stepSession) setCross(d *decoder) error {
	for i := 0; i < st.dims.layers; i++ {
		if err := st.crossK[i].SetFloat32(d.crossK[i]); err != nil {
			return fmt.Errorf("blip: decoder_step cross keys: %w", err)
		}
		if err := st.crossV[i].SetFloat32(d.crossV[i]); err != nil {
			return fmt.Errorf("blip: decoder_step cross values: %w", err)
		}
	}
	if err := st.crossBias.SetFloat32(d.crossBias); err != nil {
		return fmt.Errorf("blip: decoder_step cross bias: %w", err)
	}
	st.crossSet = true
	return nil
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
	n := batch * st.perSequence()
	if st.batch != batch {
		st.cacheK, st.cacheV = nil, nil
		for i := 0; i < st.dims.layers; i++ {
			st.cacheK = append(st.cacheK, make([]float32, n))
			st.cacheV = append(st.cacheV, make([]float32, n))
		}
		st.out = make([]float32, batch*st.dims.vocab)
		st.scratch = make([]float32, n)
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
		st.bias[j] = MaskBias
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
		if err := st.logits.ReadFloat32(st.out[b*d.vocab : (b+1)*d.vocab]); err != nil {
			return nil, fmt.Errorf("blip: decoder_step logits: %w", err)
		}
		for i := 0; i < d.layers; i++ {
			if err := st.store(st.newK[i], st.cacheK[i][b*per:(b+1)*per], pos, false); err != nil {
				return nil, err
			}
			if err := st.store(st.newV[i], st.cacheV[i][b*per:(b+1)*per], pos, true); err != nil {
				return nil, err
			}
		}
	}
	return st.out, nil
}

// store copies one sequence's new key or value row [hidden] into its cache at slot pos: head
// h's part of the row is the run h·headDim … (h+1)·headDim-1, a run of the key cache or, in
// the transposed value cache, a column.
func (st *stepSession) store(t *runtime.Tensor, cache []float32, pos int, transposed bool) error {
	if err := t.ReadFloat32(st.row); err != nil {
		return fmt.Errorf("blip: decoder_step new key/value: %w", err)
	}
	d := st.dims
	if !transposed {
		for h := 0; h < d.heads; h++ {
			copy(cache[(h*d.cache+pos)*d.headDim:][:d.headDim], st.row[h*d.headDim:][:d.headDim])
		}
		return nil
	}
	for j, v := range st.row { // j = h·headDim + e, stored at [h, e, pos]
		cache[j*d.cache+pos] = v
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
