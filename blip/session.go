package blip

import (
	"fmt"

	"github.com/edged/edged/runtime/tflite"
)

// session is one interpreter of one of a bundle's models, with its tensors looked up by name
// once (per-call lookups would cost a string search per tensor per token).
type session struct {
	role string
	ip   *tflite.Interpreter
	// after is Options.AfterRun.
	after func(role string, ip *tflite.Interpreter) error
}

func newSession(role string, m *tflite.Model, opts tflite.Options) (*session, error) {
	ip, err := tflite.NewInterpreter(m, opts)
	if err != nil {
		return nil, fmt.Errorf("blip: %s model: %w", role, err)
	}
	return &session{role: role, ip: ip}, nil
}

func (s *session) input(name string) (*tflite.Tensor, error) {
	t, err := s.ip.InputByName(name)
	if err != nil {
		return nil, fmt.Errorf("blip: %s model: %w", s.role, err)
	}
	return t, nil
}

func (s *session) output(name string) (*tflite.Tensor, error) {
	t, err := s.ip.OutputByName(name)
	if err != nil {
		return nil, fmt.Errorf("blip: %s model: %w", s.role, err)
	}
	return t, nil
}

// resize gives the named input a new shape (a no-op when it already has it).
func (s *session) resize(name string, shape []int) error {
	for i := 0; i < s.ip.InputCount(); i++ {
		if s.ip.Input(i).Name() == name {
			if err := s.ip.ResizeInput(i, shape); err != nil {
				return fmt.Errorf("blip: %s model: resize %s to %v: %w", s.role, name, shape, err)
			}
			return nil
		}
	}
	return fmt.Errorf("blip: %s model has no input %q", s.role, name)
}

func (s *session) invoke() error {
	if err := s.ip.Invoke(); err != nil {
		return fmt.Errorf("blip: run %s model: %w", s.role, err)
	}
	if s.after != nil {
		if err := s.after(s.role, s.ip); err != nil {
			return fmt.Errorf("blip: after running the %s model: %w", s.role, err)
		}
	}
	return nil
}

func (s *session) close() error {
	if s == nil {
		return nil
	}
	return s.ip.Close()
}

// tensorSet looks up several tensors, keeping the first error.
type tensorSet struct {
	s   *session
	err error
}

func (ts *tensorSet) in(name string) *tflite.Tensor {
	if ts.err != nil {
		return nil
	}
	t, err := ts.s.input(name)
	ts.err = err
	return t
}

func (ts *tensorSet) out(name string) *tflite.Tensor {
	if ts.err != nil {
		return nil
	}
	t, err := ts.s.output(name)
	ts.err = err
	return t
}

// shapeCheck holds the models' tensors against the sizes the manifest gives, keeping the
// first mismatch. Run before anything is allocated from those sizes: the model files are
// checked against their SHA-256, the manifest's numbers are not.
type shapeCheck struct {
	s   *session
	err error
}

// count compares the numbers of inputs and outputs (which follow from the layers). A model
// may have more outputs than the manifest gives: calibration's observed models expose every
// activation as one, and outputs are only ever read by name.
func (c *shapeCheck) count(inputs, outputs int) {
	if c.err != nil {
		return
	}
	if in, out := c.s.ip.InputCount(), c.s.ip.OutputCount(); in != inputs || out < outputs {
		c.err = fmt.Errorf("blip: %s model has %d inputs and %d outputs, the bundle's manifest gives %d and %d", c.s.role, in, out, inputs, outputs)
	}
}

// in and out compare a tensor's shape with want, where -1 matches any size (a batch set at
// run time).
func (c *shapeCheck) in(name string, want ...int)  { c.check(name, false, want) }
func (c *shapeCheck) out(name string, want ...int) { c.check(name, true, want) }

func (c *shapeCheck) check(name string, output bool, want []int) {
	if c.err != nil {
		return
	}
	var t *tflite.Tensor
	if output {
		t, c.err = c.s.output(name)
	} else {
		t, c.err = c.s.input(name)
	}
	if c.err != nil {
		return
	}
	got := t.Shape()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = want[i] == -1 || got[i] == want[i]
	}
	if !ok {
		c.err = fmt.Errorf("blip: %s model's %s is %v, the bundle's manifest gives %v (-1: any)", c.s.role, name, got, want)
	}
}
