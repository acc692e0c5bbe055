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
