package tflite_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/edged/edged/runtime/tflite"
)

// Several goroutines hammer one interpreter without any locking of their own (run with
// -race). Each call is atomic, so whatever interleaving happens, an output read is the whole
// result of one Invoke on whole inputs: every element equals the same a+b, with a and b each
// some goroutine's constant. Closing mid-way makes the other goroutines' calls fail with
// ErrClosed and nothing else.
func TestConcurrentUseOfOneInterpreter(t *testing.T) {
	noLeaks(t)
	const n, workers, rounds = 64, 6, 150
	ip := newInterpreter(t, addModel(t, n), tflite.Options{Threads: 1})

	var wg sync.WaitGroup
	errs := make(chan error, workers)
	closed := make(chan struct{})
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := float32(w + 1)
			in := make([]float32, n)
			for i := range in {
				in[i] = k
			}
			out := make([]float32, n)
			for r := 0; ; r++ {
				if r == rounds/2 && w == 0 {
					ip.Close() // the others are still going
					close(closed)
				}
				if r >= rounds {
					errs <- nil
					return
				}
				err := errors.Join(ip.Input(0).SetFloat32(in), ip.Input(1).SetFloat32(in), ip.Invoke(), ip.Output(0).ReadFloat32(out))
				_ = ip.Input(r % 2).Shape()
				_ = ip.Delegation()
				if err != nil {
					// ErrClosed is expected once worker 0 has closed the interpreter, which it
					// may have done an instant before it closes the channel: wait for that.
					if errors.Is(err, tflite.ErrClosed) {
						<-closed
						continue
					}
					errs <- err
					return
				}
				for i := range out {
					if out[i] != out[0] || out[0] < 2 || out[0] > 2*workers {
						errs <- fmt.Errorf("torn output: element %d is %v, element 0 is %v", i, out[i], out[0])
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// Many interpreters from one model, created and closed concurrently while the model is
// closed: each either works or reports ErrClosed; the model's memory goes with the last one.
func TestConcurrentInterpretersOfOneModel(t *testing.T) {
	noLeaks(t)
	m, err := tflite.NewModel(addModel(t, 8))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if w == 4 {
				m.Close()
			}
			ip, err := tflite.NewInterpreter(m, tflite.Options{Threads: 1})
			if err != nil {
				if !errors.Is(err, tflite.ErrClosed) {
					t.Error(err)
				}
				return
			}
			defer ip.Close()
			a := []float32{1, 2, 3, 4, 5, 6, 7, 8}
			if err := errors.Join(ip.Input(0).SetFloat32(a), ip.Input(1).SetFloat32(a), ip.Invoke()); err != nil {
				t.Error(err)
				return
			}
			out, err := ip.Output(0).Float32()
			if err != nil || out[7] != 16 {
				t.Errorf("out = %v, %v", out, err)
			}
		}()
	}
	wg.Wait()
	m.Close()
}
