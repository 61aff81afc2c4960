package flatten

import "github.com/sfconnector/sfconnector/sysflow"

// fifo remembers the order in which table entries were inserted or
// updated, for oldest-first eviction. An update pushes the key again with
// its new sequence number; the older item becomes stale and is skipped
// when popped. compact drops stale items, so the queue stays within a
// constant factor of the table it serves.
type fifo[K comparable] struct {
	items []fifoItem[K]
	head  int
}

type fifoItem[K comparable] struct {
	key K
	seq uint64
}

func (q *fifo[K]) push(k K, seq uint64) { q.items = append(q.items, fifoItem[K]{k, seq}) }

func (q *fifo[K]) peek() (fifoItem[K], bool) {
	if q.head >= len(q.items) {
		return fifoItem[K]{}, false
	}
	return q.items[q.head], true
}

func (q *fifo[K]) pop() (fifoItem[K], bool) {
	it, ok := q.peek()
	if ok {
		var zero fifoItem[K]
		q.items[q.head] = zero // release the key (strings) for the collector
		q.head++
		if q.head == len(q.items) {
			q.items, q.head = q.items[:0], 0
		}
	}
	return it, ok
}

func (q *fifo[K]) len() int { return len(q.items) - q.head }

// compact rebuilds the queue without stale items once they outnumber the
// live entries (plus some slack, so that it runs rarely).
func (q *fifo[K]) compact(live int, alive func(K, uint64) bool) {
	if q.len() <= 2*live+64 {
		return
	}
	n := 0
	for _, it := range q.items[q.head:] {
		if alive(it.key, it.seq) {
			q.items[n] = it
			n++
		}
	}
	clear(q.items[n:])
	q.items, q.head = q.items[:n], 0
}

func (q *fifo[K]) reset() {
	clear(q.items)
	q.items, q.head = q.items[:0], 0
}

// loggedIDs remembers which missing references were already logged, one
// bounded set per kind: when a set is full it is cleared, so an id may be
// logged again on a long stream but memory stays bounded.
type loggedIDs struct {
	procs   idSet[sysflow.OID]
	parents idSet[sysflow.OID]
	conts   idSet[string]
	pods    idSet[string]
	files   idSet[sysflow.FOID]
}

func newLoggedIDs(max int) loggedIDs {
	return loggedIDs{
		procs: idSet[sysflow.OID]{max: max}, parents: idSet[sysflow.OID]{max: max},
		conts: idSet[string]{max: max}, pods: idSet[string]{max: max}, files: idSet[sysflow.FOID]{max: max},
	}
}

type idSet[K comparable] struct {
	m   map[K]struct{}
	max int
}

// add reports whether k was not in the set, adding it.
func (s *idSet[K]) add(k K) bool {
	if _, ok := s.m[k]; ok {
		return false
	}
	if s.m == nil {
		s.m = make(map[K]struct{})
	}
	if len(s.m) >= s.max {
		clear(s.m)
	}
	s.m[k] = struct{}{}
	return true
}
