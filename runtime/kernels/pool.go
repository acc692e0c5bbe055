package kernels

/*
#include "kernels.h"
*/
import "C"

import (
	"errors"
	"time"
)

// pool is the C thread pool the delegate runs its operators on, for the tests.
type pool struct{ p *C.kn_pool }

func newPool(threads int, spin time.Duration) (pool, error) {
	p := C.kn_pool_create(C.int(threads), C.long(spin.Nanoseconds()))
	if p == nil {
		return pool{}, errors.New("kernels: cannot create the pool")
	}
	return pool{p}, nil
}

func (p pool) close() { C.kn_pool_destroy(p.p) }

// check runs jobs jobs of tasks tasks back to back and returns how many tasks did not run
// exactly once (-1: a task was given a thread index out of range).
func (p pool) check(jobs, tasks int) int { return int(C.kn_pool_check(p.p, C.int(jobs), C.int(tasks))) }

// sleeping is how many workers sleep on the condition variable now.
func (p pool) sleeping() int { return int(C.kn_pool_sleeping(p.p)) }

// calmAfter ends one spin per element of preempted (true: the spin was preempted) and says
// which of them made the pool stop spinning for a while, judging the cores contended.
func (p pool) calmAfter(preempted []bool) []bool {
	in := make([]C.int, len(preempted))
	for i, v := range preempted {
		if v {
			in[i] = 1
		}
	}
	out := make([]C.int, len(preempted))
	C.kn_pool_calm_check(p.p, &in[0], C.int(len(in)), &out[0])
	calm := make([]bool, len(out))
	for i, v := range out {
		calm[i] = v != 0
	}
	return calm
}
