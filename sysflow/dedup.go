package sysflow

import (
	"bytes"
	"hash/maphash"
)

// Collectors re-send their entities: a process record comes again with
// every state change, after a restart, or when state is re-sent, and most
// processes of a host share one environment. Decoding and detaching the
// same process again (its Env is often hundreds of strings) was most of the
// cost of reading such traces. So the decoder remembers, by the exact Avro
// bytes they were decoded from, the detached processes, files and process
// environments it built recently, and hands out the same immutable value
// when the same bytes come again. Decoding is a pure function of the bytes
// and the (per-decoder) program, so the value handed out is equal to the one
// a fresh decode would give; records are immutable, so sharing it is safe.
//
// A dedupTable is direct-mapped: a hash of the bytes picks one slot, and a
// colliding entry replaces the one there. Its memory is bounded by a byte
// budget counting the keys and the values' sizes; an entry that does not
// fit is not remembered.
type dedupTable[V any] struct {
	seed   maphash.Seed
	slots  []dedupSlot[V]
	nslots int
	stores int // since the table last grew
	used   int // bytes held, counted as the entries' sizes
	budget int
	maxKey int
}

type dedupSlot[V any] struct {
	key  []byte
	val  V
	size int
	full bool
}

func newDedupTable[V any](nslots, budget, maxKey int) dedupTable[V] {
	return dedupTable[V]{nslots: nslots, budget: budget, maxKey: maxKey}
}

// lookup returns the value remembered for raw, if any, and the slot raw
// maps to, for store.
func (t *dedupTable[V]) lookup(raw []byte) (v V, slot int, ok bool) {
	if len(raw) > t.maxKey {
		return v, -1, false
	}
	if t.slots == nil {
		t.seed = maphash.MakeSeed()
		t.slots = make([]dedupSlot[V], min(dedupFirstSlots, t.nslots))
	}
	slot = int(maphash.Bytes(t.seed, raw) % uint64(len(t.slots)))
	s := &t.slots[slot]
	if s.full && bytes.Equal(s.key, raw) {
		return s.val, slot, true
	}
	return v, slot, false
}

// store remembers v, of about size bytes besides the key, as decoded from
// raw, in the slot lookup returned.
func (t *dedupTable[V]) store(slot int, raw []byte, v V, size int) {
	if slot < 0 {
		return
	}
	t.stores++
	if t.stores > len(t.slots) && len(t.slots) < t.nslots {
		t.grow()
		slot = int(maphash.Bytes(t.seed, raw) % uint64(len(t.slots)))
	}
	s := &t.slots[slot]
	if s.full {
		t.used -= s.size
		var zero V
		s.val, s.full, s.size = zero, false, 0
	}
	size += len(raw)
	if t.used+size > t.budget {
		s.key = nil
		return
	}
	s.key = append(s.key[:0], raw...)
	s.val, s.size, s.full = v, size, true
	t.used += size
}

// A table starts small, so that a decoder reading a short trace pays
// little for it, and doubles (up to nslots) once it has stored as many
// entries as it has slots.
const dedupFirstSlots = 256

func (t *dedupTable[V]) grow() {
	old := t.slots
	t.slots = make([]dedupSlot[V], min(2*len(old), t.nslots))
	t.stores = 0
	for i := range old {
		if o := &old[i]; o.full {
			t.slots[maphash.Bytes(t.seed, o.key)%uint64(len(t.slots))] = *o
		}
	}
	t.used = 0
	for i := range t.slots {
		if t.slots[i].full {
			t.used += t.slots[i].size
		}
	}
}

// decoderCache holds a decoder's tables. Budgets: a few MB in all, next to
// the flattener's tables, which hold the same entities anyway.
type decoderCache struct {
	off  bool // the plain path: no remembering (tests compare the two)
	proc dedupTable[*Process]
	file dedupTable[*File]
	env  dedupTable[[]string]
	init bool
}

func (c *decoderCache) tables() *decoderCache {
	if !c.init {
		c.proc = newDedupTable[*Process](4096, 6<<20, 256<<10)
		c.file = newDedupTable[*File](4096, 1<<20, 4<<10)
		c.env = newDedupTable[[]string](512, 4<<20, 256<<10)
		c.init = true
	}
	return c
}
