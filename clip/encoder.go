package clip

import (
	"fmt"
	"image"
	"sync"

	"github.com/edged/edged/convert"
	"github.com/edged/edged/imageproc"
	"github.com/edged/edged/runtime"
)

// RunOptions say how the towers run.
type RunOptions struct {
	// Threads per interpreter; 0 means one per CPU.
	Threads int
	// Delegate runs the towers on XNNPACK (the default), TFLite's own kernels ("none"), or
	// another runtime.DelegateKind.
	Delegate runtime.DelegateKind
}

// tower is one loaded .tflite model with its interpreter. Its mutex makes each call (set
// inputs, invoke, read outputs) one unit: an interpreter is used by one goroutine at a time.
type tower struct {
	mu   sync.Mutex
	ip   *runtime.Interpreter
	path string
}

// loadTower memory-maps the model of role in b and makes its interpreter.
func loadTower(b *convert.Bundle, role string, opts RunOptions) (*tower, error) {
	path, err := b.Path(role)
	if err != nil {
		return nil, fmt.Errorf("clip: %w", err)
	}
	f, _ := b.Manifest.File(role)
	m, err := runtime.LoadModel(path)
	if err != nil {
		return nil, fmt.Errorf("clip: load %s tower %s: %w", role, path, err)
	}
	defer m.Close() // the interpreter keeps the model alive
	ip, err := runtime.NewInterpreter(m, f.RuntimeOptions(runtime.Options{Threads: opts.Threads, Delegate: opts.Delegate}))
	if err != nil {
		return nil, fmt.Errorf("clip: %s tower %s: %w", role, path, err)
	}
	return &tower{ip: ip, path: path}, nil
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
	in, out       *runtime.Tensor // kept: a frame then allocates nothing
	pixels        []float32       // preprocessing's output, reused under mu
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
	if err := t.out.ReadFloat32(dst); err != nil {
		return fmt.Errorf("clip: image embedding: %w", err)
	}
	return nil
}

// textTower runs the text tower at the length of each call's tokens.
type textTower struct {
	*tower
	context int
	buf     []int32
}

// embed runs the text tower on ids (already cut after the pooled token, see poolIndex) and
// returns a new embedding.
func (t *textTower) embed(ids []int32) ([]float32, error) {
	n := len(ids)
	if n == 0 || n > t.context {
		return nil, fmt.Errorf("clip: text embedding: %d tokens, the text tower takes 1 to %d", n, t.context)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	// Resizing re-plans the graph (and re-packs XNNPACK's weights): callers batching many
	// texts sort them by length so that it happens once per length.
	if err := t.ip.ResizeInput(0, []int{2, n}); err != nil {
		return nil, fmt.Errorf("clip: text embedding: %w", err)
	}
	t.buf = append(append(t.buf[:0], ids...), make([]int32, n)...)
	for i := 0; i < n; i++ {
		t.buf[n+i] = int32(i)
	}
	if err := t.ip.Input(0).SetInt32(t.buf); err != nil {
		return nil, fmt.Errorf("clip: text embedding: %w", err)
	}
	if err := t.ip.Invoke(); err != nil {
		return nil, fmt.Errorf("clip: text embedding: %w", err)
	}
	out, err := t.ip.Output(0).Float32()
	if err != nil {
		return nil, fmt.Errorf("clip: text embedding: %w", err)
	}
	return out, nil
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
