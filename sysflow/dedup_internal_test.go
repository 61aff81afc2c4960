package sysflow

import (
	"fmt"
	"reflect"
	"testing"
)

// decodeAll decodes the datums of data one after the other until the first
// error or the end, returning the records and the error text.
func decodeAll(p *program, d *dec, data []byte) ([]Record, string) {
	d.reset(data)
	var out []Record
	for d.p < len(d.b) {
		var r Record
		ok := p.decodeOne(d, &r)
		if d.err != nil {
			return out, d.err.Error()
		}
		if ok {
			out = append(out, r)
		}
	}
	return out, ""
}

// FuzzDedup feeds arbitrary runs of datums to a decoder with the entity
// cache and to one without: the records and the errors must be the same,
// the second time over too, when the cache holds what the first one built.
func FuzzDedup(f *testing.F) {
	poid := OID{CreateTS: 1, Hpid: 2}
	cid := "c1"
	seed := []Record{
		{Kind: KindProcess, Process: &Process{OID: OID{CreateTS: 3, Hpid: 4}, POID: &poid, TS: 5, Exe: "/bin/sh",
			ExeArgs: "-c x", ContainerID: &cid, Cwd: "/", Env: []string{"A=1", "", "PATH=/bin"}}},
		{Kind: KindProcess, Process: &Process{OID: OID{CreateTS: 3, Hpid: 5}, TS: 6, Exe: "/bin/ls", Env: []string{"A=1", "", "PATH=/bin"}}},
		{Kind: KindFile, File: &File{OID: FOID{1, 2}, TS: 7, Restype: 102, Path: "/etc/passwd", ContainerID: &cid}},
		{Kind: KindProcessEvent, ProcessEvent: &ProcessEvent{ProcOID: poid, TS: 8, Args: []string{"a", "b"}}},
	}
	var all []byte
	for i := range seed {
		b, err := AppendDatum(nil, &seed[i])
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		all = append(all, b...)
	}
	f.Add(append(append([]byte{}, all...), all...))
	f.Add(all[:len(all)-3])
	p, err := compileProgram(SchemaV5())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cached, plain := &dec{}, &dec{}
		plain.cache.off = true
		for round := range 2 {
			want, werr := decodeAll(p, plain, data)
			got, gerr := decodeAll(p, cached, data)
			if gerr != werr {
				t.Fatalf("round %d: error %q with the cache, %q without", round, gerr, werr)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round %d: records differ:\n cache %s\n plain %s", round, dumpAll(got), dumpAll(want))
			}
		}
	})
}

func dumpAll(recs []Record) string {
	s := ""
	for _, r := range recs {
		switch {
		case r.Process != nil:
			s += fmt.Sprintf("%+v; ", *r.Process)
		case r.File != nil:
			s += fmt.Sprintf("%+v; ", *r.File)
		default:
			s += fmt.Sprintf("%v; ", r.Kind)
		}
	}
	return s
}

// TestDedupTable checks the table's rules: a value is found by equal bytes
// only, growing keeps every entry, the budget bounds what is held, and keys
// over the size limit are never remembered.
func TestDedupTable(t *testing.T) {
	tab := newDedupTable[int](1024, 10_000, 64)
	key := func(i int) []byte { return []byte(fmt.Sprintf("key-%04d", i)) }
	stored := 0
	for i := range 600 {
		_, slot, ok := tab.lookup(key(i))
		if ok {
			t.Fatalf("key %d found before it was stored", i)
		}
		tab.store(slot, key(i), i, 0)
		stored++
	}
	if len(tab.slots) <= dedupFirstSlots {
		t.Fatalf("table did not grow: %d slots after %d stores", len(tab.slots), stored)
	}
	found := 0
	for i := range 600 {
		v, _, ok := tab.lookup(key(i))
		if ok {
			found++
			if v != i {
				t.Fatalf("key %d gives value %d", i, v)
			}
		}
	}
	// direct-mapped: collisions replace, so not all are there, but most
	if found < 300 {
		t.Fatalf("only %d of 600 entries found", found)
	}
	if tab.used > tab.budget {
		t.Fatalf("%d bytes held over a budget of %d", tab.used, tab.budget)
	}
	big := make([]byte, 100)
	_, slot, _ := tab.lookup(big)
	tab.store(slot, big, 1, 0)
	if _, _, ok := tab.lookup(big); ok {
		t.Fatal("a key over the size limit was remembered")
	}
	small := newDedupTable[int](16, 100, 64)
	for i := range 16 {
		_, slot, _ := small.lookup(key(i))
		small.store(slot, key(i), i, 40)
	}
	if small.used > 100 {
		t.Fatalf("%d bytes held over a budget of 100", small.used)
	}
}

// TestDedupTablePrefix checks lookupPrefix: an entry is found when the
// input starts with its whole key and its head matches the head passed,
// whatever follows it; a differing byte past the head, input shorter than
// the key, or another head length is a miss.
func TestDedupTablePrefix(t *testing.T) {
	tab := newDedupTable[string](64, 1<<20, 1<<10)
	key := []byte("HEAD:tail-of-the-datum")
	_, _, slot, ok := tab.lookupPrefix(key, 5)
	if ok {
		t.Fatal("found before it was stored")
	}
	tab.storePrefix(slot, key, 5, "v", 0)
	next := append(append([]byte{}, key...), "next datum"...)
	v, n, _, ok := tab.lookupPrefix(next, 5)
	if !ok || v != "v" || n != len(key) {
		t.Fatalf("lookupPrefix(key+more) = %q, %d, %v; want v, %d, true", v, n, ok, len(key))
	}
	changed := append([]byte{}, next...)
	changed[len(key)-1] ^= 1
	if _, _, _, ok := tab.lookupPrefix(changed, 5); ok {
		t.Fatal("a datum differing past the head was found")
	}
	if _, _, _, ok := tab.lookupPrefix(key[:len(key)-1], 5); ok {
		t.Fatal("input shorter than the key was found")
	}
	if _, _, _, ok := tab.lookupPrefix(next, 6); ok {
		t.Fatal("found under another head length")
	}
	if _, _, ok := tab.lookup(next); ok {
		t.Fatal("lookup (whole keys) matched a key that is only a prefix")
	}
	// growing rehashes by the head: the entry is still found
	for i := range 200 {
		k := []byte(fmt.Sprintf("k%03d:rest", i))
		_, _, s, _ := tab.lookupPrefix(k, 4)
		tab.storePrefix(s, k, 4, "x", 0)
	}
	found := 0
	for i := range 200 {
		k := []byte(fmt.Sprintf("k%03d:rest+", i))
		if v, n, _, ok := tab.lookupPrefix(k, 4); ok {
			found++
			if v != "x" || n != len(k)-1 {
				t.Fatalf("entry %d after growth: %q, %d", i, v, n)
			}
		}
	}
	if len(tab.slots) != 64 || found < 30 {
		t.Fatalf("%d of 200 entries found in %d slots after growth", found, len(tab.slots))
	}
}
