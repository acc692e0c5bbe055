package clip

import (
	"fmt"
	"image"
	"slices"
	"sync"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/clip/spec"
	"github.com/edged/edged/imageproc"
	"github.com/edged/edged/runtime/tflite"
)

// RunOptions say how the towers run: the interpreter options of package tflite (threads, the
// delegate with its library and options, edged's int8 kernels), as blip.Options.Runtime. Each
// tower adapts them to its file (XNNPACK's int8 flag for a full-int8 tower).
type RunOptions = tflite.Options

// tower is an interpreter of one of the bundle's models. Its mutex makes each call (set
// inputs, invoke, read outputs) one unit: an interpreter is used by one goroutine at a time
// (uncontended inside a Session; it serialises the Model's own methods).
type tower struct {
	mu   sync.Mutex
	ip   *tflite.Interpreter
	path string
}

// loadedModel is one of the bundle's .tflite files, memory-mapped once and shared by every
// interpreter made from it.
type loadedModel struct {
	m    *tflite.Model
	path string
	file bundle.File
}

func loadModel(b *bundle.Bundle, role string) (*loadedModel, error) {
	path, err := b.Path(role)
	if err != nil {
		return nil, fmt.Errorf("clip: %w", err)
	}
	f, _ := b.Manifest.File(role)
	m, err := tflite.LoadModel(path)
	if err != nil {
		return nil, fmt.Errorf("clip: load %s tower %s: %w", role, path, err)
	}
	return &loadedModel{m: m, path: path, file: f}, nil
}

func (l *loadedModel) close() error {
	if l == nil {
		return nil
	}
	return l.m.Close()
}

// newTower makes an interpreter of l.
func (l *loadedModel) newTower(opts RunOptions) (*tower, error) {
	ip, err := tflite.NewInterpreter(l.m, l.file.RuntimeOptions(opts))
	if err != nil {
		return nil, fmt.Errorf("clip: %s tower %s: %w", l.file.Role, l.path, err)
	}
	return &tower{ip: ip, path: l.path}, nil
}

func (t *tower) close() error {
	if t == nil {
		return nil
	}
	return t.ip.Close()
}

// imageTower runs the vision tower on preprocessed pixels.
type imageTower struct {
	*tower
	height, width int
	in, out       *tflite.Tensor // kept: a frame then allocates nothing
	pixels        []float32      // preprocessing's output, reused under mu
}

func newImageTower(t *tower, height, width int) *imageTower {
	return &imageTower{tower: t, height: height, width: width, in: t.ip.Input(0), out: t.ip.Output(0)}
}

// embedImageInto preprocesses img with proc into the tower's pixel buffer and writes its
// embedding into dst.
func (t *imageTower) embedImageInto(dst []float32, img image.Image, proc *imageproc.Processor) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pixels == nil {
		t.pixels = make([]float32, t.height*t.width*3)
	}
	if _, err := proc.Process(img, t.pixels); err != nil {
		return fmt.Errorf("clip: image embedding: %w", err)
	}
	return t.embedLocked(dst, t.pixels)
}

// embedInto runs the vision tower on NHWC pixels [1, H, W, 3] and writes the embedding into
// dst.
func (t *imageTower) embedInto(dst, pixels []float32) error {
	if want := t.height * t.width * 3; len(pixels) != want {
		return fmt.Errorf("clip: image embedding: %d pixel values, the vision tower takes 1x%dx%dx3 = %d", len(pixels), t.height, t.width, want)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.embedLocked(dst, pixels)
}

func (t *imageTower) embedLocked(dst, pixels []float32) error {
	if err := t.in.SetFloat32(pixels); err != nil {
		return fmt.Errorf("clip: image embedding: %w", err)
	}
	if err := t.ip.Invoke(); err != nil {
		return fmt.Errorf("clip: image embedding: %w", err)
	}
	if err := t.out.ReadFiniteFloat32(dst); err != nil {
		return fmt.Errorf("clip: image embedding: %w", err)
	}
	return nil
}

// textTower runs the text tower on one or more texts packed into one run.
type textTower struct {
	*tower
	context int
	vocab   int                                           // ids are below it
	dim     int                                           // of an embedding
	buf     []int32                                       // the input, reused
	out     []float32                                     // the output, reused
	after   func(ip *tflite.Interpreter, texts int) error // Options.AfterTextRun, or nil
}

// embed runs the text tower once on texts (each already cut after its pooled token, see
// poolIndex), packed one after another and padded to at least minTokens tokens, and returns
// their embeddings, new slices. Resizing re-plans the graph (and re-packs XNNPACK's
// weights): callers give many texts a constant minTokens, so that the run keeps its shape.
func (t *textTower) embed(texts [][]int32, minTokens int) ([][]float32, error) {
	n := 0
	for i, ids := range texts {
		if len(ids) == 0 || len(ids) > t.context {
			return nil, fmt.Errorf("clip: text embedding: text %d has %d tokens, the text tower takes 1 to %d", i, len(ids), t.context)
		}
		for _, id := range ids {
			if id < 0 || int(id) >= t.vocab {
				return nil, fmt.Errorf("clip: text embedding: text %d has token id %d, outside the vocabulary of %d", i, id, t.vocab)
			}
		}
		n += len(ids)
	}
	if len(texts) == 0 {
		return nil, nil
	}
	n = max(n, minTokens)
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.ip.ResizeInput(0, []int{spec.TextRows, n}); err != nil {
		return nil, fmt.Errorf("clip: text embedding: %w", err)
	}
	t.buf = slices.Grow(t.buf[:0], spec.TextRows*n)[:spec.TextRows*n]
	clear(t.buf)
	ids, positions, segments, pool := t.buf[:n], t.buf[n:2*n], t.buf[2*n:3*n], t.buf[3*n:]
	at := 0
	for k, text := range texts {
		for i, id := range text {
			ids[at], positions[at], segments[at] = id, int32(i), int32(k)
			at++
		}
		pool[k] = int32(at - 1)
	}
	for ; at < n; at++ { // padding: a text of its own that nothing reads
		segments[at] = int32(len(texts))
	}
	for k := len(texts); k < n; k++ {
		pool[k] = pool[0]
	}
	if err := t.ip.Input(0).SetInt32(t.buf); err != nil {
		return nil, fmt.Errorf("clip: text embedding: %w", err)
	}
	if err := t.ip.Invoke(); err != nil {
		return nil, fmt.Errorf("clip: text embedding: %w", err)
	}
	if t.after != nil {
		if err := t.after(t.ip, len(texts)); err != nil {
			return nil, fmt.Errorf("clip: text embedding: %w", err)
		}
	}
	out := t.ip.Output(0)
	if shape := out.Shape(); !slices.Equal(shape, []int{n, t.dim}) {
		return nil, fmt.Errorf("clip: text tower %s gives %v for %d tokens, the manifest's projection_dim says [%d %d]", t.path, shape, n, n, t.dim)
	}
	dim := t.dim
	t.out = slices.Grow(t.out[:0], n*dim)[:n*dim]
	if err := out.ReadFiniteFloat32(t.out); err != nil {
		return nil, fmt.Errorf("clip: text embedding: %w", err)
	}
	embs := make([][]float32, len(texts))
	for k := range embs {
		embs[k] = slices.Clone(t.out[k*dim : (k+1)*dim])
	}
	return embs, nil
}

// poolIndex is where transformers' CLIPTextTransformer pools: with eos_token_id 2 (rule
// "argmax", the released OpenAI configs) the first position of the largest id (the end token
// has the largest id); otherwise (rule "eos") the first position of eos_token_id, or 0 when
// there is none, as argmax over an all-false mask gives.
func poolIndex(ids []int32, rule string, eos int) int {
	best := 0
	switch rule {
	case "argmax":
		for i, id := range ids {
			if id > ids[best] {
				best = i
			}
		}
	default:
		// transformers takes argmax over (ids == eos): the first match, or 0 without one.
		for i, id := range ids {
			if int(id) == eos {
				return i
			}
		}
	}
	return best
}
