package pool

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestLendsEachValueToOneCallerAtATime(t *testing.T) {
	next := 0
	p, err := New(2, func() (*int, error) { next++; v := next; return &v, nil }, func(*int) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	inUse := map[*int]bool{}
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := p.With(context.Background(), func(v *int) error {
				mu.Lock()
				if inUse[v] {
					t.Errorf("value %d lent twice at once", *v)
				}
				inUse[v] = true
				mu.Unlock()
				mu.Lock()
				inUse[v] = false
				mu.Unlock()
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if p.Size() != 2 {
		t.Errorf("Size = %d, want 2", p.Size())
	}
}

func TestWithGivesUpWhenTheContextEnds(t *testing.T) {
	p, err := New(1, func() (int, error) { return 1, nil }, func(int) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan struct{})
	release := make(chan struct{})
	go p.With(context.Background(), func(int) error { close(held); <-release; return nil })
	<-held
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := p.With(ctx, func(int) error { t.Error("ran without a free value"); return nil }); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("With on a full pool = %v, want the context's error", err)
	}
	close(release)
}

func TestNewClosesWhatItMadeWhenOneFails(t *testing.T) {
	made, closed := 0, 0
	_, err := New(3, func() (int, error) {
		if made == 2 {
			return 0, errors.New("no more interpreters")
		}
		made++
		return made, nil
	}, func(int) error { closed++; return nil })
	if err == nil || closed != 2 {
		t.Errorf("New = %v with %d of %d closed, want the error and both closed", err, closed, made)
	}
	if _, err := New(0, func() (int, error) { return 0, nil }, func(int) error { return nil }); err == nil {
		t.Error("New(0) made an empty pool")
	}
}
