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
// A dedupTable is direct-mapped: a hash of the bytes (or of a head of them,
// see lookupPrefix) picks one slot, and a colliding entry replaces the one
// there. Its memory is bounded by a byte
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
	head int // the slot is picked by a hash of key[:head]
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
	v, n, slot, ok := t.lookupPrefix(raw, len(raw))
	return v, slot, ok && n == len(raw)
}

// lookupPrefix looks for a remembered datum that data starts with, among
// those whose first head bytes hash like data[:head] (the caller passes the
// extent of the datum's leading fields). On a hit it returns the value and
// the length of the datum's bytes. A key is always the whole encoding of a
// datum that decoded without error, and a decoder reads its input strictly
// in order, so data starting with those bytes decodes to the same value and
// ends at the same place: equal bytes are the whole test, no skip of the
// datum's tail (a process environment of hundreds of strings) is needed to
// find its extent first.
func (t *dedupTable[V]) lookupPrefix(data []byte, head int) (v V, n, slot int, ok bool) {
	if head > t.maxKey || head > len(data) {
		return v, 0, -1, false
	}
	if t.slots == nil {
		t.seed = maphash.MakeSeed()
		t.slots = make([]dedupSlot[V], min(dedupFirstSlots, t.nslots))
	}
	slot = int(maphash.Bytes(t.seed, data[:head]) % uint64(len(t.slots)))
	s := &t.slots[slot]
	if s.full && s.head == head && len(s.key) <= len(data) && bytes.Equal(s.key, data[:len(s.key)]) {
		return s.val, len(s.key), slot, true
	}
	return v, 0, slot, false
}

// store remembers v, of about size bytes besides the key, as decoded from
// raw, in the slot lookup returned.
func (t *dedupTable[V]) store(slot int, raw []byte, v V, size int) {
	t.storePrefix(slot, raw, len(raw), v, size)
}

// storePrefix is store for a slot lookupPrefix returned, head the length
// it was passed.
func (t *dedupTable[V]) storePrefix(slot int, raw []byte, head int, v V, size int) {
	if slot < 0 || head > len(raw) || len(raw) > t.maxKey {
		return
	}
	t.stores++
	if t.stores > len(t.slots) && len(t.slots) < t.nslots {
		t.grow()
		slot = int(maphash.Bytes(t.seed, raw[:head]) % uint64(len(t.slots)))
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
	s.head, s.val, s.size, s.full = head, v, size, true
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
			t.slots[maphash.Bytes(t.seed, o.key[:o.head])%uint64(len(t.slots))] = *o
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
