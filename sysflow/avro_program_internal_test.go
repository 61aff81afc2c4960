package sysflow

import (
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
