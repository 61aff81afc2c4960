package sysflow_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv/shared"
)

// ocfBlock is one block of a container file, located by the test's own
// walk of the container framing (independent of the Reader).
type ocfBlock struct {
	start, end int // byte range, sync marker included
	records    int // records before this block
	count      int
}

func uvarint(t testing.TB, b []byte, p *int) int64 {
	t.Helper()
	var u uint64
	for shift := uint(0); ; shift += 7 {
		c := b[*p]
		*p++
		u |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return int64(u>>1) ^ -int64(u&1)
		}
	}
}

// walkOCF returns the header's length and the blocks of a well-formed file.
func walkOCF(t testing.TB, b []byte) (int, []ocfBlock) {
	t.Helper()
	p := 4
	for {
		n := uvarint(t, b, &p)
		if n == 0 {
			break
		}
		if n < 0 {
			n = -n
			uvarint(t, b, &p)
		}
		for range n {
			k := uvarint(t, b, &p)
			p += int(k)
			v := uvarint(t, b, &p)
			p += int(v)
		}
	}
	p += 16
	header := p
	var blocks []ocfBlock
	recs := 0
	for p < len(b) {
		start := p
		count := uvarint(t, b, &p)
		size := uvarint(t, b, &p)
		p += int(size) + 16
		blocks = append(blocks, ocfBlock{start: start, end: p, records: recs, count: int(count)})
		recs += int(count)
	}
	return header, blocks
}

// readDamaged decodes data to the end or the first error, never failing.
func readDamaged(data []byte, name string) ([]sysflow.Record, error) {
	r, err := sysflow.NewReader(bytes.NewReader(data), name)
	if err != nil {
		return nil, err
	}
	var recs []sysflow.Record
	for {
		recs, err = r.Next(recs)
		if err != nil {
			if err == io.EOF {
				return recs, nil
			}
			// The error is sticky.
			if _, err2 := r.Next(nil); err2 != err {
				return recs, errors.New("error not sticky: " + err2.Error())
			}
			return recs, err
		}
	}
}

func damageTraces(t *testing.T) []string {
	var out []string
	for _, p := range shared.Traces(t) {
		// A multi-block trace, a v1 trace and a v5 trace cover the cases.
		switch shared.TraceName(p) {
		case "k8s_small", "tcp", "collector-namespaces-setns":
			out = append(out, p)
		}
	}
	if len(out) != 3 {
		t.Fatalf("damage traces missing: %v", out)
	}
	return out
}

func checkDecodeError(t *testing.T, err error, name string) *sysflow.DecodeError {
	t.Helper()
	var de *sysflow.DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T) is not a *DecodeError", err, err)
	}
	if de.File != name || !strings.Contains(err.Error(), name) {
		t.Fatalf("error %q does not name the file %s", err, name)
	}
	if de.Err == nil || errors.Unwrap(err) != de.Err {
		t.Fatalf("DecodeError does not unwrap: %v", err)
	}
	return de
}

func TestReaderTruncated(t *testing.T) {
	for _, path := range damageTraces(t) {
		t.Run(shared.TraceName(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			full := readAll(t, data, path)
			header, blocks := walkOCF(t, data)
			if len(blocks) == 0 {
				t.Fatal("no blocks")
			}
			ends := map[int]int{header: 0} // clean cut offset -> records before it
			for _, b := range blocks {
				ends[b.end] = b.records + b.count
			}
			step := max(1, len(data)/500)
			for cut := 0; cut < len(data); cut += step {
				recs, err := readDamaged(data[:cut], "cut.sf")
				if n, clean := ends[cut]; clean {
					if err != nil || len(recs) != n {
						t.Fatalf("cut at block boundary %d: %d records, %v; want %d, no error", cut, len(recs), err, n)
					}
					continue
				}
				if err == nil {
					t.Fatalf("cut at %d of %d: no error (%d records)", cut, len(data), len(recs))
				}
				de := checkDecodeError(t, err, "cut.sf")
				if cut < header {
					if de.Block != -1 {
						t.Fatalf("cut at %d inside the header: error %v", cut, err)
					}
					continue
				}
				// Every complete block before the cut must have been returned.
				want := 0
				for i, b := range blocks {
					if b.end <= cut {
						want = b.records + b.count
					} else if b.start < cut {
						if de.Block != i || de.Offset != int64(b.start) {
							t.Fatalf("cut at %d in block %d (at %d): error %v", cut, i, b.start, err)
						}
					}
				}
				if len(recs) != want || want > 0 && !reflect.DeepEqual(recs, full[:want]) {
					t.Fatalf("cut at %d: got %d records, want the first %d", cut, len(recs), want)
				}
			}
		})
	}
}

func TestReaderCorrupted(t *testing.T) {
	for _, path := range damageTraces(t) {
		t.Run(shared.TraceName(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			full := readAll(t, data, path)
			header, blocks := walkOCF(t, data)
			step := max(1, len(data)/250)
			errs := 0
			for off := 0; off < len(data); off += step {
				for _, mask := range []byte{0x01, 0x80, 0xff} {
					bad := bytes.Clone(data)
					bad[off] ^= mask
					recs, err := readDamaged(bad, "bad.sf")
					if err == nil {
						continue // e.g. a changed timestamp: undetectable, fine
					}
					errs++
					de := checkDecodeError(t, err, "bad.sf")
					if off < header {
						// A damaged header can still parse (a metadata key
						// or an enum symbol changed): the damage then shows
						// in a later block, if ever. Any DecodeError will do.
						continue
					}
					k := 0
					for i, b := range blocks {
						if off >= b.start && off < b.end {
							k = i
						}
					}
					if de.Block != k {
						t.Fatalf("flip at %d in block %d: error names block %d: %v", off, k, de.Block, err)
					}
					before := blocks[k].records
					if len(recs) < before || before > 0 && !reflect.DeepEqual(recs[:before], full[:before]) {
						t.Fatalf("flip at %d in block %d: the %d records before it were not returned intact (got %d)", off, k, before, len(recs))
					}
				}
			}
			if errs == 0 {
				t.Fatal("no corruption was detected at all")
			}
		})
	}
}

func TestReaderRejectsNonOCF(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"text", []byte("hello, this is not avro\n")},
		{"json", []byte(`{"type":"record"}`)},
		{"short magic", []byte("Obj")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sysflow.NewReader(bytes.NewReader(tc.data), tc.name+".sf")
			if !errors.Is(err, sysflow.ErrNotOCF) {
				t.Fatalf("got %v, want ErrNotOCF", err)
			}
			if !strings.Contains(err.Error(), "not an Avro object container file") || !strings.Contains(err.Error(), tc.name+".sf") {
				t.Fatalf("unclear error: %v", err)
			}
		})
	}
}

func TestReaderRejectsBadHeaders(t *testing.T) {
	header := func(codec, schema string) []byte {
		b := []byte("Obj\x01")
		b = append(b, 4) // two entries
		b = appendStr(b, "avro.codec")
		b = appendStr(b, codec)
		b = appendStr(b, "avro.schema")
		b = appendStr(b, schema)
		b = append(b, 0)
		return append(b, make([]byte, 16)...)
	}
	tests := []struct {
		name, codec, schema, want string
	}{
		{"codec", "zstd", sysflow.SchemaV5(), "unsupported codec"},
		{"not json", "null", "{", "invalid writer schema"},
		{"not sysflow", "null", `"long"`, "not a SysFlow schema"},
		{"no sysflow records", "null", `["null","string"]`, "not a SysFlow schema"},
		{"wrong field type", "null", `{"type":"record","name":"SysFlow","fields":[{"name":"rec","type":[{"type":"record","name":"FileFlow","fields":[{"name":"ts","type":"string"}]}]}]}`, "type FileFlow field ts"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sysflow.NewReader(bytes.NewReader(header(tc.codec, tc.schema)), "h.sf")
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "h.sf") {
				t.Fatalf("got %v, want an error naming h.sf and saying %q", err, tc.want)
			}
		})
	}
}

func appendStr(b []byte, s string) []byte {
	n := uint64(len(s)) << 1
	for n >= 0x80 {
		b = append(b, byte(n)|0x80)
		n >>= 7
	}
	return append(append(b, byte(n)), s...)
}

func TestDatumDecoderRejectsMalformed(t *testing.T) {
	path := shared.Path(t, "traces", "k8s_small.sf")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recs := readAll(t, data, path)
	dd := sysflow.NewDatumDecoder()
	seen := map[sysflow.RecordKind]bool{}
	for i := range recs {
		if seen[recs[i].Kind] {
			continue
		}
		seen[recs[i].Kind] = true
		datum, err := sysflow.AppendDatum(nil, &recs[i])
		if err != nil {
			t.Fatal(err)
		}
		var got sysflow.Record
		// Every strict prefix is truncated and must be rejected.
		for n := 0; n < len(datum); n++ {
			if err := dd.Decode(datum[:n], &got); err == nil {
				t.Fatalf("%s: prefix of %d/%d bytes accepted", recs[i].Kind, n, len(datum))
			}
		}
		if err := dd.Decode(append(bytes.Clone(datum), 0), &got); err == nil || !strings.Contains(err.Error(), "trailing") {
			t.Fatalf("%s: trailing byte: %v", recs[i].Kind, err)
		}
	}
	tests := []struct {
		name  string
		datum []byte
		want  string
	}{
		{"union index", []byte{24}, "union index"},
		{"negative union index", []byte{1}, "union index"},
		{"negative string length", []byte{0, 2, 3}, "negative length"},
		{"huge string length", []byte{0, 2, 0xfe, 0xff, 0xff, 0xff, 0x0f}, "truncated"},
		{"bad boolean", []byte{2, 0, 0, 0, 0, 0, 5, 0}, "boolean"}, // a container: 4 empty strings, type, privileged=5
		{"bad enum", []byte{2, 0, 0, 0, 0, 40, 0, 0}, "enum"},
		{"overlong varint", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, "variable-length"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got sysflow.Record
			err := dd.Decode(tc.datum, &got)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestAppendDatumRejectsInvalid(t *testing.T) {
	tests := []struct {
		name string
		rec  *sysflow.Record
	}{
		{"nil", nil},
		{"unknown kind", &sysflow.Record{}},
		{"missing struct", &sysflow.Record{Kind: sysflow.KindFileFlow}},
		{"bad state", &sysflow.Record{Kind: sysflow.KindProcess, Process: &sysflow.Process{State: 7}}},
		{"bad container type", &sysflow.Record{Kind: sysflow.KindContainer, Container: &sysflow.Container{Type: -1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := sysflow.AppendDatum(nil, tc.rec); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
