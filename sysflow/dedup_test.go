package sysflow_test

import (
	"bytes"
	"io"
	"os"
	"reflect"
	"testing"

	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv/shared"
	"github.com/sfconnector/sfconnector/transforms/flatten"
)

// decodeWith reads every record of data with the decoder's entity cache on
// or off, batch by batch as the file source does.
func decodeWith(t *testing.T, data []byte, dedup bool) []sysflow.Record {
	t.Helper()
	r, err := sysflow.NewReader(bytes.NewReader(data), "trace")
	if err != nil {
		t.Fatal(err)
	}
	sysflow.SetDedupForTest(r, dedup)
	var all []sysflow.Record
	for {
		all, err = r.Next(all)
		if err == io.EOF {
			return all
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// repeated writes the records of data n times over into one file, as the
// benchmark inputs are made: every copy re-sends the trace's entities.
func repeated(t *testing.T, recs []sysflow.Record, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := sysflow.NewWriter(&buf, sysflow.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		for i := range recs {
			if err := w.Write(&recs[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestDedupMatchesPlainDecode decodes every real trace, and each trace
// repeated three times in one file, with the entity cache and without it,
// and checks that the records and the flattened events are the same, one
// by one; and that on the repeated traces the cache did share entities.
func TestDedupMatchesPlainDecode(t *testing.T) {
	sharedTotal := 0
	for _, path := range shared.Traces(t) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		name := shared.TraceName(path)
		plain := decodeWith(t, data, false)
		inputs := map[string][]byte{"": data, "x3": repeated(t, plain, 3)}
		for suffix, in := range inputs {
			t.Run(name+suffix, func(t *testing.T) {
				want := decodeWith(t, in, false)
				got := decodeWith(t, in, true)
				if len(got) != len(want) {
					t.Fatalf("%d records with the cache, %d without", len(got), len(want))
				}
				seen := map[any]bool{}
				for i := range want {
					if !reflect.DeepEqual(got[i], want[i]) {
						t.Fatalf("record %d differs:\n cache %+v\n plain %+v", i, got[i], want[i])
					}
					var p any
					switch {
					case got[i].Process != nil:
						p = got[i].Process
					case got[i].File != nil:
						p = got[i].File
					}
					if p != nil {
						if seen[p] {
							sharedTotal++
						}
						seen[p] = true
					}
				}
				fw, fg := flatten.New(flatten.Config{}), flatten.New(flatten.Config{})
				const batch = 1000
				for lo := 0; lo < len(want); lo += batch {
					hi := min(lo+batch, len(want))
					ew := fw.Flatten(want[lo:hi], nil)
					eg := fg.Flatten(got[lo:hi], nil)
					if len(ew) != len(eg) {
						t.Fatalf("records %d-%d: %d events with the cache, %d without", lo, hi, len(eg), len(ew))
					}
					for j := range ew {
						if !reflect.DeepEqual(eg[j], ew[j]) {
							t.Fatalf("records %d-%d: event %d differs:\n cache %+v\n plain %+v", lo, hi, j, eg[j], ew[j])
						}
					}
				}
				if !reflect.DeepEqual(fg.Stats(), fw.Stats()) {
					t.Fatalf("flattener stats differ: cache %+v, plain %+v", fg.Stats(), fw.Stats())
				}
			})
		}
	}
	if sharedTotal == 0 {
		t.Fatal("the cache never shared an entity between records: the fast path was not exercised")
	}
}
