// Package pool lends a fixed set of values to one goroutine at a time: model sessions, whose
// interpreters run one call at a time, shared by a lane's workers.
package pool

import (
	"context"
	"errors"
	"fmt"
)

// Pool holds n values; With lends one, waiting while all are lent.
type Pool[T any] struct {
	free  chan T
	all   []T
	close func(T) error
}

// New makes n values with newValue; close frees one (by Close, and here if a later one fails).
func New[T any](n int, newValue func() (T, error), close func(T) error) (*Pool[T], error) {
	if n < 1 {
		return nil, fmt.Errorf("pool: %d values; at least one is needed", n)
	}
	p := &Pool[T]{free: make(chan T, n), close: close}
	for range n {
		v, err := newValue()
		if err != nil {
			p.Close()
			return nil, err
		}
		p.all = append(p.all, v)
		p.free <- v
	}
	return p, nil
}

// With runs fn on a free value, waiting for one until ctx ends.
func (p *Pool[T]) With(ctx context.Context, fn func(T) error) error {
	var v T
	select {
	case v = <-p.free:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { p.free <- v }()
	return fn(v)
}

// Size is the number of values.
func (p *Pool[T]) Size() int { return len(p.all) }

// Close frees every value. Call it once no With runs.
func (p *Pool[T]) Close() error {
	var errs []error
	for _, v := range p.all {
		errs = append(errs, p.close(v))
	}
	p.all = nil
	return errors.Join(errs...)
}
