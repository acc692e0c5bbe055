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

// TestPoolCalmsOnlyWhenContended: the pool stops spinning when its spins are preempted in a
// row (the machine has more runnable threads than cores), not for the single preempted spins
// a quiet virtual machine gives now and then (about one in 80 measured here: BENCHMARKS.md,
// "The spin that never ran"), and tries again after its calm.
func TestPoolCalmsOnlyWhenContended(t *testing.T) {
	p, err := newPool(1, DefaultSpin)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	quiet := make([]bool, 2000)
	for i := 0; i < len(quiet); i += 10 {
		quiet[i] = true // one spin in ten preempted: eight times the quiet machine's rate
	}
	for i, calm := range p.calmAfter(quiet) {
		if calm {
			t.Fatalf("quiet: the pool calmed after spin %d; one preempted spin in ten must not calm it", i)
		}
	}
	calm := p.calmAfter([]bool{true, true, true})
	if calm[0] || calm[1] || !calm[2] {
		t.Fatalf("three preempted spins in a row: calm after each %v, want [false false true]", calm)
	}
	if again := p.calmAfter([]bool{true}); !again[0] {
		t.Fatal("under steady load, one more preempted spin after a calm must calm the pool again")
	}
	settle := make([]bool, 20) // unpreempted spins: the machine is quiet again
	p.calmAfter(settle)
	if c := p.calmAfter([]bool{true}); c[0] {
		t.Fatal("after 20 unpreempted spins one preempted spin calmed the pool")
	}
}
