package publish

import (
	"fmt"
	"slices"
	"testing"
)

func msg(s string) message { return message{topic: "t", payload: []byte(s)} }

func drainQueue(q *queue) []string {
	var out []string
	for {
		m, ok := q.pop()
		if !ok {
			return out
		}
		out = append(out, string(m.payload))
	}
}

func TestQueueFIFOAndDropOldest(t *testing.T) {
	q := newQueue(3, 1<<20)
	dropped := 0
	for i := range 5 {
		dropped += q.push(msg(fmt.Sprint(i)))
	}
	if dropped != 2 {
		t.Errorf("dropped %d, want 2", dropped)
	}
	if got, want := drainQueue(q), []string{"2", "3", "4"}; !slices.Equal(got, want) {
		t.Errorf("queue = %v, want %v (oldest dropped first)", got, want)
	}
	if q.Len() != 0 || q.bytes != 0 {
		t.Errorf("after draining: len %d, bytes %d; want 0, 0", q.Len(), q.bytes)
	}
}

func TestQueueByteBudget(t *testing.T) {
	q := newQueue(100, 10)
	q.push(msg("aaaa"))
	q.push(msg("bbbb"))
	if d := q.push(msg("cccc")); d != 1 {
		t.Errorf("dropped %d to fit 12 bytes in 10, want 1", d)
	}
	if d := q.push(msg("this is too big")); d != 1 {
		t.Errorf("a message over the whole budget: dropped %d, want 1 (itself)", d)
	}
	if got, want := drainQueue(q), []string{"bbbb", "cccc"}; !slices.Equal(got, want) {
		t.Errorf("queue = %v, want %v", got, want)
	}
}

func TestQueuePushFrontKeepsOrder(t *testing.T) {
	q := newQueue(3, 1<<20)
	q.push(msg("a"))
	q.push(msg("b"))
	m, _ := q.pop()
	if q.pushFront(m) {
		t.Fatal("pushFront into a queue with room dropped the message")
	}
	q.push(msg("c"))
	m, _ = q.pop() // "a" in flight; the queue fills up meanwhile
	q.push(msg("d"))
	if !q.pushFront(m) {
		t.Error("pushFront into a full queue: want the retried (oldest) message dropped")
	}
	if got, want := drainQueue(q), []string{"b", "c", "d"}; !slices.Equal(got, want) {
		t.Errorf("queue = %v, want %v", got, want)
	}
}

func TestQueueLongRunDoesNotGrow(t *testing.T) {
	q := newQueue(4, 1<<20)
	for i := range 10000 {
		q.push(msg(fmt.Sprint(i)))
		if i%3 == 1 {
			q.pop()
		}
	}
	if q.Len() != 4 {
		t.Errorf("len %d, want 4", q.Len())
	}
	if cap(q.items) > 64 {
		t.Errorf("backing array grew to %d for a queue of 4", cap(q.items))
	}
}
