package sysflow_test

import (
	"bytes"
	"os"
	"reflect"
	"testing"

	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv/shared"
)

// TestRoundTrip re-encodes every record of every trace as a v5 file (each
// codec) and as single datums, decodes the result and wants the same records.
func TestRoundTrip(t *testing.T) {
	for _, path := range shared.Traces(t) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		orig := readAll(t, data, path)
		for _, codec := range []string{"deflate", "snappy", "null"} {
			t.Run(shared.TraceName(path)+"/ocf-"+codec, func(t *testing.T) {
				var buf bytes.Buffer
				w, err := sysflow.NewWriter(&buf, sysflow.WriterOptions{Codec: codec, BlockRecords: 97})
				if err != nil {
					t.Fatal(err)
				}
				for i := range orig {
					if err := w.Write(&orig[i]); err != nil {
						t.Fatalf("write record %d: %v", i, err)
					}
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				got := readAll(t, buf.Bytes(), "roundtrip")
				compareRecords(t, orig, got)
				// goavro, independently, must read what we wrote.
				if want, g := kindCounts(orig), goavroKinds(t, buf.Bytes()); !reflect.DeepEqual(want, g) {
					t.Fatalf("goavro reads %v, want %v", g, want)
				}
			})
		}
		t.Run(shared.TraceName(path)+"/datum", func(t *testing.T) {
			dd := sysflow.NewDatumDecoder()
			var b []byte
			for i := range orig {
				b, err = sysflow.AppendDatum(b[:0], &orig[i])
				if err != nil {
					t.Fatalf("encode record %d: %v", i, err)
				}
				var got sysflow.Record
				if err := dd.Decode(b, &got); err != nil {
					t.Fatalf("decode record %d: %v", i, err)
				}
				if !reflect.DeepEqual(orig[i], got) {
					t.Fatalf("record %d differs:\n orig %s\n got  %s", i, dump(&orig[i]), dump(&got))
				}
			}
		})
	}
}

func compareRecords(t *testing.T, want, got []sysflow.Record) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(want[i], got[i]) {
			t.Fatalf("record %d differs:\n want %s\n got  %s", i, dump(&want[i]), dump(&got[i]))
		}
	}
}
