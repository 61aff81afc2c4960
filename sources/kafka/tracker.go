package kafka

import "sync"

// tracker decides which offsets may be committed: per partition, the
// highest offset whose message and every earlier fetched message were acked.
// Delivery runs ahead of acks (several batches in flight), acks arrive in any
// order, and commits still never skip an unacked message.
//
// All methods are safe for concurrent use; one mutex guards everything,
// held only for slice and map operations.
type tracker struct {
	mu    sync.Mutex
	parts map[tp]*partition
}

type tp struct {
	topic     string
	partition int
}

// partition tracks one partition's fetched, not yet committable offsets.
// When a partition is fetched again from an earlier offset (after a
// rebalance gave it back), it is replaced: entries of the old one are stale,
// their acks ignored, since the messages will be delivered again.
type partition struct {
	pending []*entry // in fetch order; a prefix of acked entries is popped
	last    int64    // the last offset fetched
}

type entry struct {
	p      *partition
	offset int64
	acked  bool
}

func newTracker() *tracker { return &tracker{parts: map[tp]*partition{}} }

// add registers a fetched message and returns its entry.
func (t *tracker) add(topic string, part int, offset int64) *entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := tp{topic, part}
	p := t.parts[k]
	if p == nil || offset <= p.last {
		p = &partition{}
		t.parts[k] = p
	}
	p.last = offset
	e := &entry{p: p, offset: offset}
	p.pending = append(p.pending, e)
	return e
}

// ack marks entries acked and returns, per partition, the offset that may
// now be committed (the last of the acked prefix), if it advanced.
func (t *tracker) ack(entries []*entry, commit func(k tp, offset int64)) {
	t.mu.Lock()
	type adv struct {
		k      tp
		offset int64
	}
	var advanced []adv
	for _, e := range entries {
		e.acked = true
	}
	seen := map[*partition]bool{}
	for _, e := range entries {
		p := e.p
		if seen[p] {
			continue
		}
		seen[p] = true
		n := 0
		for n < len(p.pending) && p.pending[n].acked {
			n++
		}
		if n == 0 {
			continue
		}
		off := p.pending[n-1].offset
		p.pending = append(p.pending[:0], p.pending[n:]...)
		for k, cur := range t.parts {
			if cur == p { // stale partitions are no longer in the map: never committed
				advanced = append(advanced, adv{k, off})
				break
			}
		}
	}
	t.mu.Unlock()
	for _, a := range advanced {
		commit(a.k, a.offset)
	}
}
