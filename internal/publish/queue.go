package publish

import "sync"

// message is one MQTT publication waiting to be sent.
type message struct {
	topic    string
	payload  []byte
	retain   bool
	attempts int // failed publish attempts so far
}

// queue is a bounded FIFO of messages, limited both in count and in payload bytes. When a
// new message does not fit, the oldest are dropped to make room: fresh results matter more
// than stale ones. It is safe for concurrent use.
type queue struct {
	mu       sync.Mutex
	items    []message // items[head:] are waiting, oldest first
	head     int
	bytes    int
	maxLen   int
	maxBytes int
}

func newQueue(maxLen, maxBytes int) *queue {
	return &queue{maxLen: maxLen, maxBytes: maxBytes}
}

// push appends m and returns how many older messages were dropped to make room. A message
// larger than the whole byte budget is not queued: it is dropped itself (counted as 1).
func (q *queue) push(m message) (dropped int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(m.payload) > q.maxBytes || q.maxLen == 0 {
		return 1
	}
	dropped = q.makeRoom(len(m.payload))
	if q.head > 0 && q.head >= len(q.items)/2 {
		// Compact so the backing array does not grow without bound.
		q.items = append(q.items[:0], q.items[q.head:]...)
		q.head = 0
	}
	q.items = append(q.items, m)
	q.bytes += len(m.payload)
	return dropped
}

// pushFront puts m back at the head (a retry keeps its place in the order). If the queue is
// full, m is the oldest message and is the one dropped; the return value says so.
func (q *queue) pushFront(m message) (dropped bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.len() >= q.maxLen || q.bytes+len(m.payload) > q.maxBytes {
		return true
	}
	if q.head > 0 {
		q.head--
		q.items[q.head] = m
	} else {
		q.items = append([]message{m}, q.items...)
	}
	q.bytes += len(m.payload)
	return false
}

// pop removes and returns the oldest message.
func (q *queue) pop() (message, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.len() == 0 {
		return message{}, false
	}
	m := q.items[q.head]
	q.items[q.head] = message{} // release the payload
	q.head++
	q.bytes -= len(m.payload)
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	}
	return m, true
}

// clear empties the queue and returns how many messages it held.
func (q *queue) clear() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := q.len()
	q.items, q.head, q.bytes = nil, 0, 0
	return n
}

// Len is the number of waiting messages.
func (q *queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.len()
}

func (q *queue) len() int { return len(q.items) - q.head }

// makeRoom drops the oldest messages until one of size n fits; the caller holds mu.
func (q *queue) makeRoom(n int) (dropped int) {
	for q.len() > 0 && (q.len() >= q.maxLen || q.bytes+n > q.maxBytes) {
		q.bytes -= len(q.items[q.head].payload)
		q.items[q.head] = message{}
		q.head++
		dropped++
	}
	return dropped
}
