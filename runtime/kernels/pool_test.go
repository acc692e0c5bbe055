package kernels

import (
	"testing"
	"time"
)

// TestPoolRunsEveryTaskOnce: jobs back to back, as an Invoke's layers come, with workers that
// spin between them (catching each job while it is published) and with workers that only
// sleep; every task of every job runs exactly once, on a thread index in range.
func TestPoolRunsEveryTaskOnce(t *testing.T) {
	for _, c := range []struct {
		threads int
		spin    time.Duration
	}{{2, DefaultSpin}, {2, -1}, {3, DefaultSpin}, {4, time.Millisecond}, {1, DefaultSpin}} {
		p, err := newPool(c.threads, max(c.spin, 0))
		if err != nil {
			t.Fatal(err)
		}
		for _, tasks := range []int{1, 2, 7, 64} {
			if wrong := p.check(2000, tasks); wrong != 0 {
				t.Errorf("%d threads, spin %v, %d tasks: %d tasks not run exactly once (-1: bad thread index)", c.threads, c.spin, tasks, wrong)
			}
		}
		p.close()
	}
}

// TestPoolSleepsWhenIdle: after the last job the workers spin at most their bound and then
// sleep on the condition variable, so an idle process does not spin. The deadline is far
// above the bound: only a worker that never stops spinning fails it.
func TestPoolSleepsWhenIdle(t *testing.T) {
	const threads = 3
	p, err := newPool(threads, DefaultSpin)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	for range 3 {
		if wrong := p.check(100, 16); wrong != 0 {
			t.Fatalf("%d tasks not run exactly once", wrong)
		}
		deadline := time.Now().Add(10 * time.Second)
		for p.sleeping() != threads-1 {
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d workers asleep 10 s after the last job", p.sleeping(), threads-1)
			}
			time.Sleep(time.Millisecond)
		}
	}
}
