package sysflow

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Hostile but legal writer schemas must compile and decode in bounded time.
func TestRecursiveWriterSchemas(t *testing.T) {
	tests := []struct {
		name   string
		schema string
		datum  []byte
		want   string // error substring; "" for success
	}{
		{
			// An unknown branch whose record nests itself twice over: 70
			// levels of "left" overflow the nesting bound.
			name: "deep unknown branch",
			schema: `[{"type":"record","name":"Tree","fields":[{"name":"left","type":["null","Tree"]},{"name":"right","type":["null","Tree"]}]},
				{"type":"record","name":"SFHeader","fields":[{"name":"version","type":"long"}]}]`,
			datum: append(append([]byte{0}, strings.Repeat("\x02", 70)...), 0),
			want:  "nested too deeply",
		},
		{
			// A record that contains itself without an escape can never be
			// encoded; its size must still not take exponential time.
			name: "self-contained record",
			schema: `[{"type":"record","name":"R","fields":[{"name":"a","type":"R"},{"name":"b","type":"R"},{"name":"c","type":{"type":"array","items":"R"}}]},
				{"type":"record","name":"SFHeader","fields":[{"name":"version","type":"long"}]}]`,
			datum: []byte{0, 0},
			want:  "nested too deeply",
		},
		{
			name:   "known branch after an unknown one",
			schema: `[{"type":"record","name":"Other","fields":[{"name":"x","type":{"type":"array","items":"null"}}]},{"type":"record","name":"SFHeader","fields":[{"name":"version","type":"long"}]}]`,
			datum:  []byte{2, 10},
		},
		{
			name:   "huge array of zero-size items",
			schema: `[{"type":"record","name":"Other","fields":[{"name":"x","type":{"type":"array","items":"null"}}]},{"type":"record","name":"SFHeader","fields":[{"name":"version","type":"long"}]}]`,
			datum:  []byte{0, 0x80, 0x80, 0x80, 0x10},
			want:   "too large",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			p, err := compileProgram(tc.schema)
			if err != nil {
				t.Fatal(err)
			}
			d := &dec{}
			d.reset(tc.datum)
			var r Record
			p.decodeOne(d, &r)
			if tc.want == "" {
				if d.err != nil || r.Kind != KindHeader || r.Header.Version != 5 || r.Header.IP != "NA" {
					t.Fatalf("got %+v, %v", r, d.err)
				}
			} else if d.err == nil || !strings.Contains(d.err.Error(), tc.want) {
				t.Fatalf("got error %v, want %q", d.err, tc.want)
			}
			if el := time.Since(start); el > time.Second {
				t.Fatalf("took %v", el)
			}
		})
	}
}

// FuzzWriterSchema feeds arbitrary writer schemas and datums to the plan
// compiler and the plan: no panic, a schema that does not resolve is a
// SchemaError with a reason, and a schema error met while decoding names
// the SysFlow type.
func FuzzWriterSchema(f *testing.F) {
	v5 := SchemaV5()
	datum, err := AppendDatum(nil, &Record{Kind: KindFileFlow, FileFlow: &FileFlow{TS: 5, EndTS: 6, FD: 3}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(v5, datum)
	f.Add(strings.Replace(v5, `{"name":"endTs","type":"long"},{"name":"fileOID"`,
		`{"name":"endTs","type":["null","int","boolean"]},{"name":"fileOID"`, 1), datum)
	f.Add(`[{"type":"record","name":"K8sEvent","fields":[{"name":"kind","type":{"type":"enum","name":"K","symbols":["K8S_NEW","K8S_PODS"]}},{"name":"x","type":{"type":"map","values":["null","bytes"]}}]}]`,
		[]byte{0, 2, 2, 2, 2, 0, 0}) // K8S_PODS, one null value
	f.Add(`[{"type":"record","name":"Process","fields":[{"name":"env","type":{"type":"array","items":["null","bytes"]}},{"name":"poid","type":[{"type":"record","name":"X","fields":[{"name":"hpid","type":"int"}]},"null"]}]}]`,
		[]byte{0, 4, 0, 2, 2, 'a', 0, 0, 6}) // env ["", "a"], poid {hpid 3}
	f.Fuzz(func(t *testing.T, schema string, datum []byte) {
		p, err := compileProgram(schema)
		if err != nil {
			var se *SchemaError
			if errors.As(err, &se) && se.Reason == "" {
				t.Fatalf("schema error without a reason: %v", err)
			}
			return
		}
		d := &dec{}
		d.reset(datum)
		var r Record
		if p.decodeOne(d, &r) && r.Kind == KindUnknown {
			t.Fatal("a decoded datum without a kind")
		}
		var se *SchemaError
		if errors.As(d.err, &se) && (se.Type == "" || se.Reason == "") {
			t.Fatalf("decode-time schema error without a type or reason: %v", d.err)
		}
	})
}
