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
